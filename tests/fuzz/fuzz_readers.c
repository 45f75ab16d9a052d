/* libFuzzer harness for the data readers. The first byte picks the reader and the
 * skip_malformed / numeric_ids flags; the rest is the file content, served from a memfd
 * so that the readers run their real open + mmap path. After a successful load every
 * accessor is exercised and invariants are checked (a violation aborts = a finding).
 *
 *   CC=clang cmake -S . -B build-fuzz -DBIENC_FUZZ=ON -DBIENC_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_readers && build-fuzz/tests/fuzz/fuzz_readers -max_total_time=120 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "data/batch.h"
#include "data/data.h"
#include "data/debian_internal.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

static void check_texts(const bienc_texts *t)
{
    for (int64_t i = 0; i < texts_count(t); i++) {
        const char *id, *text;
        size_t il, tl;
        CHECK(texts_get(t, i, &id, &il, &text, &tl) == 0);
        CHECK(il > 0 && il <= DATA_MAX_ID_LEN);
        CHECK(texts_find(t, id, il) == i);
        volatile char sink = 0;
        for (size_t k = 0; k < tl; k++) sink ^= text[k]; /* every byte readable */
        (void)sink;
    }
}

static void check_triples(const bienc_triples *t)
{
    for (int64_t i = 0; i < triples_count(t); i++)
        for (int k = 0; k < 3; k++) {
            const char *s;
            size_t len;
            CHECK(triples_get(t, i, k, &s, &len) == 0);
            CHECK(memchr(s, '\t', len) == NULL && memchr(s, '\n', len) == NULL);
        }
    /* teacher margins, when the rows carry scores, are finite */
    for (int64_t i = 0; triples_has_margins(t) && i < triples_count(t); i++) CHECK(isfinite(triples_margin(t, i)));
    /* The sampler over whatever tuples came out: each tuple once an epoch. */
    bienc_tuples *tu;
    if (triples_count(t) == 0 || tuples_from_triples(&tu, t) != 0) return;
    bienc_sampler *s;
    int64_t n = tuples_count(tu);
    if (sampler_new(&s, tu, 4, 1, 1, 0, 1) == 0) {
        int64_t idx[4], seen = 0;
        int m;
        int64_t nb = sampler_batches_per_epoch(s);
        for (int64_t b = 0; b < nb; b++) {
            CHECK(sampler_next(s, idx, &m, NULL) == 0);
            for (int k = 0; k < m; k++) CHECK(idx[k] >= 0 && idx[k] < n);
            seen += m;
        }
        CHECK(seen == n);
        sampler_free(s);
    }
    tuples_free(tu);
}

static void check_hardnegs(const bienc_hardnegs *h)
{
    for (int64_t i = 0; i < hardnegs_count(h); i++) {
        bienc_hardneg_row r;
        CHECK(hardnegs_get(h, i, &r) == 0);
        CHECK(r.n_pos > 0 && r.n_neg >= 0 && r.qid.len > 0);
        for (int k = 0; k < r.n_neg; k++)
            for (int j = 0; j < k; j++)
                CHECK(r.neg[j].len != r.neg[k].len || memcmp(r.neg[j].s, r.neg[k].s, r.neg[k].len) != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t sel = data[0];
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) return 0;
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    bienc_read_opts o = {.skip_malformed = (sel >> 4) & 1, .numeric_ids = (sel >> 5) & 1};
    bienc_read_report rep;
    switch (sel % 6) {
    case 0:
    case 1: {
        bienc_texts *t = NULL;
        int rc = sel % 6 == 0 ? texts_load_tsv(&t, path, &o, &rep) : texts_load_jsonl(&t, path, &o, &rep);
        if (rc == 0) {
            CHECK(texts_count(t) == rep.n_rows);
            check_texts(t);
        } else {
            CHECK(t == NULL && !o.skip_malformed);
        }
        texts_free(t);
        break;
    }
    case 2:
    case 3: {
        bienc_triples *t = NULL;
        if (triples_load(&t, path, sel % 6 == 3, &o, &rep) == 0) check_triples(t);
        triples_free(t);
        break;
    }
    case 4: {
        bienc_hardnegs *h = NULL;
        if (hardnegs_load(&h, path, (sel >> 6) & 1 ? "bm25" : NULL, &o, &rep) == 0) check_hardnegs(h);
        hardnegs_free(h);
        break;
    }
    case 5: {
        deb_entries es;
        deb_entries_init(&es);
        bienc_debian_stats st;
        memset(&st, 0, sizeof st);
        if (deb_read_file(&es, path) == 0 && deb_select(&es, &st) == 0) {
            int64_t kept = 0;
            for (int64_t i = 0; i < es.n; i++) {
                if (es.e[i].split < 0) continue;
                kept++;
                CHECK(es.e[i].pid >= 0 && es.e[i].pid < st.n_passages);
                CHECK(!strchr(es.e[i].passage, '\t') && !strchr(es.e[i].passage, '\n') && es.e[i].passage[0]);
                CHECK(!strchr(es.e[i].query, '\t') && !strchr(es.e[i].query, '\n'));
            }
            CHECK(kept == st.n_passages);
        }
        deb_entries_free(&es);
        break;
    }
    }
    close(fd);
    return 0;
}
