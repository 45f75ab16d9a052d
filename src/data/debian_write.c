/* The Debian data set: choosing the entries (deduplication, splits, ids) and writing the
 * MS MARCO style files. Everything here is a pure function of the entries read and the
 * seed, independent of file order: entries are sorted by package name first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/atomic_file.h"
#include "data/data_internal.h"
#include "data/debian_internal.h"

/* Fixed keys: the split and the pid order must not change with --seed, so that dev/test
 * stay comparable across runs. */
#define SPLIT_KEY 0x73706c6974ull  /* "split" */
#define PID_KEY 0x706964ull        /* "pid" */
#define QID_BASE 1000000           /* qids and pids never coincide: a mix-up cannot go unnoticed */

int deb_split_of(const char *pkg)
{
    uint64_t h = data_hash_bytes(pkg, strlen(pkg), SPLIT_KEY) % 100;
    return h < 80 ? 0 : h < 90 ? 1 : 2;
}

/* A set of 64-bit hashes (open addressing, 0 marks an empty slot). */
typedef struct hset {
    uint64_t *s;
    uint64_t mask;
} hset;

static int hset_init(hset *h, int64_t n)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2 + 2) cap *= 2;
    h->s = calloc(cap, sizeof *h->s);
    h->mask = cap - 1;
    return h->s ? 0 : bienc_error(BIENC_ENOMEM, "out of memory");
}

/* 1 when x was already present, else inserts it and returns 0. */
static int hset_add(hset *h, uint64_t x)
{
    if (x == 0) x = 1;
    uint64_t i = x & h->mask;
    while (h->s[i]) {
        if (h->s[i] == x) return 1;
        i = (i + 1) & h->mask;
    }
    h->s[i] = x;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const deb_entry *x = a, *y = b;
    int c = strcmp(x->pkg, y->pkg);
    if (!c) c = strcmp(x->query, y->query);
    if (!c) c = strcmp(x->passage, y->passage);
    return c;
}

static uint64_t hash_lower(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        h = (h ^ c) * 0x100000001B3ull;
    }
    return data_hash_bytes((const char *)&h, sizeof h, 0x71);
}

typedef struct pid_key {
    uint64_t h;
    int64_t entry;
} pid_key;

static const deb_entries *pid_sort_entries;

static int cmp_pid(const void *a, const void *b)
{
    const pid_key *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return strcmp(pid_sort_entries->e[x->entry].pkg, pid_sort_entries->e[y->entry].pkg);
}

int deb_select(deb_entries *es, bienc_debian_stats *st)
{
    st->n_entries = es->n;
    if (es->n > 1) qsort(es->e, (size_t)es->n, sizeof *es->e, cmp_entry);
    hset desc = {0}, passage = {0}, query = {0};
    int rc = hset_init(&desc, es->n);
    if (rc == 0) rc = hset_init(&passage, es->n);
    if (rc == 0) rc = hset_init(&query, es->n);
    pid_key *keys = rc == 0 ? malloc((size_t)(es->n + 1) * sizeof *keys) : NULL;
    if (rc == 0 && !keys) rc = bienc_error(BIENC_ENOMEM, "out of memory");
    int64_t kept = 0;
    const char *prev_pkg = NULL;
    for (int64_t i = 0; rc == 0 && i < es->n; i++) {
        deb_entry *e = &es->e[i];
        e->split = -1;
        if (hset_add(&desc, e->desc_hash)) {
            st->n_dup_description++;
        } else if (prev_pkg && strcmp(prev_pkg, e->pkg) == 0) {
            st->n_dup_package++;
        } else if (e->passage[0] == '\0') {
            st->n_empty++;
        } else if (hset_add(&passage, data_hash_bytes(e->passage, strlen(e->passage), 0x70))) {
            st->n_dup_passage++;
        } else if (hset_add(&query, hash_lower(e->query))) {
            st->n_dup_query++;
        } else {
            prev_pkg = e->pkg;
            e->split = deb_split_of(e->pkg);
            e->qid = QID_BASE + kept;
            st->n_queries[e->split]++;
            keys[kept].h = data_hash_bytes(e->pkg, strlen(e->pkg), PID_KEY);
            keys[kept].entry = i;
            kept++;
        }
    }
    if (rc == 0) {
        /* pids follow a hash of the name, so neighbours in the collection are unrelated. */
        pid_sort_entries = es;
        if (kept > 1) qsort(keys, (size_t)kept, sizeof *keys, cmp_pid);
        for (int64_t p = 0; p < kept; p++) es->e[keys[p].entry].pid = p;
        st->n_passages = kept;
    }
    free(keys);
    free(desc.s);
    free(passage.s);
    free(query.s);
    return rc;
}

/* dir/name through the atomic writer: a failure never leaves a cut-off file behind. */
static FILE *open_out(atomic_file *a, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return atomic_file_open(a, path) == 0 ? a->f : NULL;
}

int deb_write(const deb_entries *es, const char *dir, uint64_t seed, bienc_debian_stats *st)
{
    static const char *split_names[3] = {"train", "dev", "test"};
    int64_t n = st->n_passages;
    /* Entries by pid, and the training passages (the pool of random negatives). */
    int64_t *by_pid = malloc((size_t)(n + 1) * sizeof *by_pid);
    int64_t *train = malloc((size_t)(n + 1) * sizeof *train);
    if (!by_pid || !train) {
        free(by_pid);
        free(train);
        return bienc_error(BIENC_ENOMEM, "out of memory");
    }
    int64_t n_train = 0;
    for (int64_t i = 0; i < es->n; i++) {
        if (es->e[i].split < 0) continue;
        by_pid[es->e[i].pid] = i;
        if (es->e[i].split == 0) train[n_train++] = i;
    }
    int rc = 0;
    atomic_file out, out2;
    FILE *f = open_out(&out, dir, "collection.tsv");
    if (!f) rc = BIENC_EIO;
    for (int64_t p = 0; f && p < n; p++) fprintf(f, "%lld\t%s\n", (long long)p, es->e[by_pid[p]].passage);
    if (f) rc = atomic_file_commit(&out);

    /* Entries are in qid order already (sorted by name), so one pass per split. */
    for (int s = 0; s < 3 && rc == 0; s++) {
        char name[64];
        snprintf(name, sizeof name, "queries.%s.tsv", split_names[s]);
        FILE *q = open_out(&out, dir, name);
        if (!q) {
            rc = BIENC_EIO;
            break;
        }
        snprintf(name, sizeof name, "qrels.%s.tsv", split_names[s]);
        FILE *r = open_out(&out2, dir, name);
        if (!r) {
            atomic_file_abort(&out);
            rc = BIENC_EIO;
            break;
        }
        for (int64_t i = 0; i < es->n; i++) {
            const deb_entry *e = &es->e[i];
            if (e->split != s) continue;
            fprintf(q, "%lld\t%s\n", (long long)e->qid, e->query);
            fprintf(r, "%lld 0 %lld 1\n", (long long)e->qid, (long long)e->pid);
        }
        rc = atomic_file_commit(&out);
        rc = atomic_file_finish(&out2, rc);
    }

    /* One random negative per training query, drawn from the other training passages. */
    if (rc == 0) {
        f = open_out(&out, dir, "triples.train.tsv");
        if (!f) rc = BIENC_EIO;
        bienc_rng rng;
        rng_seed(&rng, seed);
        for (int64_t k = 0; f && n_train > 1 && k < n_train; k++) {
            const deb_entry *e = &es->e[train[k]];
            int64_t j = (int64_t)rng_below(&rng, (uint64_t)(n_train - 1));
            if (j >= k) j++; /* skip the positive itself without a retry loop */
            fprintf(f, "%s\t%s\t%s\n", e->query, e->passage, es->e[train[j]].passage);
            st->n_triples++;
        }
        if (f) rc = atomic_file_commit(&out);
    }
    free(by_pid);
    free(train);
    return rc;
}
