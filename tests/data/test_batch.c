/* Tuples, the epoch sampler (determinism, no-duplicates property, exact resume) and the
 * tokenized packed batches (layout, truncation, thread-count independence). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/batch.h"
#include "core/error.h"

static char tmpdir[256];

static const char *write_text(const char *name, const char *content)
{
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return p;
}

static void assert_error_has(const char *needle)
{
    const char *msg = bienc_last_error();
    if (!strstr(msg, needle)) fail_msg("error '%s' lacks '%s'", msg, needle);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bienc-test-batch-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* 200 text triples with many repeated texts: 50 queries (some differing only in case and
 * surrounding spaces), 80 positives, unique negatives. */
#define N_TRIPLES 200
static bienc_triples *make_triples(void)
{
    static char buf[N_TRIPLES * 64];
    size_t n = 0;
    for (int i = 0; i < N_TRIPLES; i++) {
        int q = i % 50;
        const char *fmt = i % 3 == 0 ? "Q%d \tp%d\tn%d\n" : "q%d\tp%d\tn%d\n";
        n += (size_t)sprintf(buf + n, fmt, q, i % 80, i);
    }
    bienc_triples *t;
    assert_int_equal(triples_load(&t, write_text("triples.tsv", buf), 0, NULL, NULL), 0);
    assert_int_equal(triples_count(t), N_TRIPLES);
    return t;
}

/* strip().lower() of a text, into buf. */
static void norm(const char *s, size_t len, char *buf)
{
    while (len && *s == ' ') s++, len--;
    while (len && s[len - 1] == ' ') len--;
    for (size_t i = 0; i < len; i++) buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    buf[len] = '\0';
}

/* 1 when some text occurs twice among the batch's tuples (all slots). */
static int batch_has_duplicate(const bienc_tuples *t, const int64_t *idx, int n)
{
    static char texts[256][4096];
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int s = 0; s < 2 + tuples_n_neg(t); s++) {
            const char *p;
            size_t len;
            assert_int_equal(tuples_text(t, idx[i], s, &p, &len), 0);
            assert_true(len < 4096 && k < 256);
            norm(p, len, texts[k]);
            for (int j = 0; j < k; j++)
                if (strcmp(texts[j], texts[k]) == 0) return 1;
            k++;
        }
    return 0;
}

static void test_sampler_no_duplicates(void **state)
{
    bienc_triples *tr = make_triples();
    bienc_tuples *t;
    assert_int_equal(tuples_from_triples(&t, tr), 0);
    assert_int_equal(tuples_count(t), N_TRIPLES);
    assert_int_equal(tuples_n_neg(t), 1);
    int64_t idx[32];
    int n;
    for (int nodup = 0; nodup < 2; nodup++) {
        bienc_sampler *s;
        assert_int_equal(sampler_new(&s, t, 32, nodup, 1, 0, 1234), 0);
        int dup_batches = 0;
        for (int64_t epoch = 0; epoch < 3; epoch++) {
            int seen[N_TRIPLES] = {0};
            int64_t nb = sampler_batches_per_epoch(s);
            for (int64_t b = 0; b < nb; b++) {
                int64_t e;
                assert_int_equal(sampler_next(s, idx, &n, &e), 0);
                assert_int_equal(e, epoch);
                assert_true(n > 0 && n <= 32);
                dup_batches += batch_has_duplicate(t, idx, n);
                for (int i = 0; i < n; i++) seen[idx[i]]++;
            }
            /* Every tuple exactly once an epoch: deferred, never dropped. */
            for (int i = 0; i < N_TRIPLES; i++) assert_int_equal(seen[i], 1);
        }
        if (nodup)
            assert_int_equal(dup_batches, 0);
        else
            assert_true(dup_batches > 0); /* the data does have duplicates to avoid */
        sampler_free(s);
    }
    /* drop_last: only full batches. */
    bienc_sampler *s;
    assert_int_equal(sampler_new(&s, t, 32, 1, 1, 1, 99), 0);
    for (int b = 0; b < 20; b++) {
        assert_int_equal(sampler_next(s, idx, &n, NULL), 0);
        assert_int_equal(n, 32);
        assert_false(batch_has_duplicate(t, idx, n));
    }
    sampler_free(s);
    assert_int_equal(sampler_new(&s, t, 0, 1, 1, 1, 99), BIENC_EINVAL);
    assert_int_equal(sampler_new(&s, t, 500, 1, 1, 1, 99), BIENC_EINVAL);
    tuples_free(t);
    triples_free(tr);
}

static void test_sampler_determinism_and_resume(void **state)
{
    bienc_triples *tr = make_triples();
    bienc_tuples *t;
    assert_int_equal(tuples_from_triples(&t, tr), 0);
    bienc_sampler *a, *b, *c;
    assert_int_equal(sampler_new(&a, t, 16, 1, 1, 0, 42), 0);
    assert_int_equal(sampler_new(&b, t, 16, 1, 1, 0, 42), 0);
    assert_int_equal(sampler_new(&c, t, 16, 1, 1, 0, 43), 0);
    int64_t ia[16], ib[16], ic[16];
    int na, nb, nc, differs = 0;
    for (int k = 0; k < 40; k++) {
        assert_int_equal(sampler_next(a, ia, &na, NULL), 0);
        assert_int_equal(sampler_next(b, ib, &nb, NULL), 0);
        assert_int_equal(sampler_next(c, ic, &nc, NULL), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(ia, ib, (size_t)na * sizeof *ia);
        differs |= na != nc || memcmp(ia, ic, (size_t)na * sizeof *ia) != 0;
    }
    assert_true(differs); /* another seed, other batches */

    /* Save after a few batches (state = 3 integers), restore into a fresh sampler:
     * the same next batches, across epoch boundaries. */
    bienc_sampler_state st;
    sampler_get_state(a, &st);
    assert_true(st.epoch >= 1);
    int64_t expect[30][16];
    int expect_n[30];
    for (int k = 0; k < 30; k++) assert_int_equal(sampler_next(a, expect[k], &expect_n[k], NULL), 0);
    bienc_sampler *r;
    assert_int_equal(sampler_new(&r, t, 16, 1, 1, 0, 7), 0); /* the seed comes from the state */
    bienc_sampler_state saved = {st.seed, st.epoch, st.batch};
    assert_int_equal(sampler_set_state(r, &saved), 0);
    for (int k = 0; k < 30; k++) {
        int64_t got[16];
        int n;
        assert_int_equal(sampler_next(r, got, &n, NULL), 0);
        assert_int_equal(n, expect_n[k]);
        assert_memory_equal(got, expect[k], (size_t)n * sizeof *got);
    }
    bienc_sampler_state bad = {42, 0, 1000};
    assert_int_equal(sampler_set_state(r, &bad), BIENC_ERANGE);
    bad.batch = -1;
    assert_int_equal(sampler_set_state(r, &bad), BIENC_ERANGE);
    sampler_free(a);
    sampler_free(b);
    sampler_free(c);
    sampler_free(r);
    sampler_free(NULL);
    tuples_free(t);
    triples_free(tr);
}

static void test_tuples_from_ids(void **state)
{
    bienc_texts *q, *c;
    assert_int_equal(texts_load_tsv(&q, write_text("queries.tsv", "1\tfirst query\n2\tsecond query\n"), NULL, NULL), 0);
    assert_int_equal(texts_load_tsv(&c, write_text("collection.tsv", "10\tpassage ten\n11\tpassage eleven\n12\tp12\n"),
                                    NULL, NULL), 0);
    bienc_triples *tr;
    const char *p = write_text("ids.tsv", "1\t10\t11\n2\t12\t99\n2\t11\t10\n");
    assert_int_equal(triples_load(&tr, p, 1, NULL, NULL), 0);
    bienc_tuples *t = (bienc_tuples *)1;
    assert_int_equal(tuples_from_id_triples(&t, tr, q, c, 0, NULL), BIENC_ENOTFOUND);
    assert_null(t);
    assert_error_has("ids.tsv:2: pid '99' is not in");
    int64_t skipped;
    assert_int_equal(tuples_from_id_triples(&t, tr, q, c, 1, &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(tuples_count(t), 2);
    const char *s;
    size_t len;
    assert_int_equal(tuples_text(t, 1, 0, &s, &len), 0);
    assert_true(len == 12 && memcmp(s, "second query", 12) == 0);
    assert_int_equal(tuples_text(t, 1, 2, &s, &len), 0);
    assert_true(len == 11 && memcmp(s, "passage ten", 11) == 0);
    assert_int_equal(tuples_text(t, 1, 3, &s, &len), BIENC_ERANGE);
    tuples_free(t);
    triples_free(tr);

    const char *qids[] = {"1", "2", "3"}, *pids[] = {"11", "12", "10"};
    assert_int_equal(tuples_from_pairs(&t, q, c, qids, pids, 3, 0, NULL), BIENC_ENOTFOUND);
    assert_error_has("qid '3'");
    assert_int_equal(tuples_from_pairs(&t, q, c, qids, pids, 3, 1, &skipped), 0);
    assert_int_equal(tuples_count(t), 2);
    assert_int_equal(tuples_n_neg(t), 0);
    tuples_free(t);

    bienc_hardnegs *h;
    p = write_text("hn.jsonl", "{\"qid\": 1, \"pos\": [10], \"neg\": {\"a\": [10, 98, 11], \"b\": [12]}}\n"
                               "{\"qid\": 2, \"pos\": [12], \"neg\": {\"a\": [11]}}\n");
    assert_int_equal(hardnegs_load(&h, p, NULL, NULL, NULL), 0);
    assert_int_equal(tuples_from_hardnegs(&t, h, q, c, 2, 0, NULL), BIENC_ENOTFOUND);
    assert_error_has("hn.jsonl:2: only 1 of 2 negatives");
    assert_int_equal(tuples_from_hardnegs(&t, h, q, c, 2, 1, &skipped), 0);
    assert_int_equal(tuples_count(t), 1);
    assert_int_equal(skipped, 1);
    assert_int_equal(tuples_text(t, 0, 2, &s, &len), 0); /* 10 is the positive, 98 unknown: 11, 12 */
    assert_true(len == 14 && memcmp(s, "passage eleven", 14) == 0);
    assert_int_equal(tuples_text(t, 0, 3, &s, &len), 0);
    assert_true(len == 3 && memcmp(s, "p12", 3) == 0);
    tuples_free(t);
    hardnegs_free(h);
    texts_free(q);
    texts_free(c);
}

/* Triples with teacher scores (MarginMSELoss): a margin column, or the two scores; the
 * margins follow the tuples through skipped rows and truncation; malformed scores and
 * rows whose column count changes are errors naming the line and field. */
static void test_scored_triples(void **state)
{
    bienc_texts *q, *c;
    assert_int_equal(texts_load_tsv(&q, write_text("queries.tsv", "1\tfirst query\n2\tsecond query\n"), NULL, NULL), 0);
    assert_int_equal(texts_load_tsv(&c, write_text("collection.tsv", "10\tpassage ten\n11\tpassage eleven\n12\tp12\n"),
                                    NULL, NULL), 0);
    bienc_triples *tr;
    /* two scores: margin = pos - neg; the row with the unknown pid 99 is skipped */
    assert_int_equal(triples_load(&tr, write_text("s5.tsv", "1\t10\t11\t9.5\t2.25\n2\t12\t99\t1\t0\n2\t11\t10\t-1e1\t3\n"), 1,
                                  NULL, NULL), 0);
    assert_true(triples_has_margins(tr));
    assert_true(triples_margin(tr, 0) == 7.25f);
    bienc_tuples *t;
    int64_t skipped;
    assert_int_equal(tuples_from_id_triples(&t, tr, q, c, 1, &skipped), 0);
    assert_int_equal(tuples_count(t), 2);
    assert_true(tuples_has_margins(t));
    assert_true(tuples_margin(t, 0) == 7.25f);
    assert_true(tuples_margin(t, 1) == -13.0f); /* the third row's */
    tuples_keep_first(t, 1);
    assert_int_equal(tuples_count(t), 1);
    tuples_free(t);
    triples_free(tr);

    /* one column: the margin itself; text triples too */
    assert_int_equal(triples_load(&tr, write_text("s4.tsv", "a query\tgood\tbad\t0.75\nq2\tp\tn\t-2\n"), 0, NULL, NULL), 0);
    assert_int_equal(tuples_from_triples(&t, tr), 0);
    assert_true(tuples_has_margins(t) && tuples_margin(t, 0) == 0.75f && tuples_margin(t, 1) == -2.0f);
    const char *s;
    size_t len;
    assert_int_equal(tuples_text(t, 0, 2, &s, &len), 0);
    assert_true(len == 3 && memcmp(s, "bad", 3) == 0);
    tuples_free(t);
    triples_free(tr);

    /* plain triples have none */
    assert_int_equal(triples_load(&tr, write_text("s3.tsv", "a\tb\tc\n"), 0, NULL, NULL), 0);
    assert_false(triples_has_margins(tr));
    triples_free(tr);

    assert_int_equal(triples_load(&tr, write_text("bad1.tsv", "a\tb\tc\t1.5\nd\te\tf\n"), 0, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("bad1.tsv:2: 3 fields, but the rows before have 4");
    assert_int_equal(triples_load(&tr, write_text("bad2.tsv", "a\tb\tc\t1.5x\n"), 0, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("bad2.tsv:1: teacher score in field 4 '1.5x': not a number");
    assert_int_equal(triples_load(&tr, write_text("bad3.tsv", "a\tb\tc\t1\tnan\n"), 0, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("field 5 'nan': not a finite number within +-1e6");
    assert_int_equal(triples_load(&tr, write_text("bad5.tsv", "a\tb\tc\t2e6\n"), 0, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("bad5.tsv:1: teacher score in field 4 '2e6'");
    assert_int_equal(triples_load(&tr, write_text("bad4.tsv", "a\tb\tc\t1\t2\t3\n"), 0, NULL, NULL), BIENC_EFORMAT);
    assert_error_has("found 6");
    texts_free(q);
    texts_free(c);
}

static bienc_tokenizer *small_tokenizer(void)
{
    static const char *vocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "q", "p", "n", "##0", "##1",
                                  "##2", "##3", "##4", "##5", "##6", "##7", "##8", "##9", "long", "text"};
    bienc_tokenizer *tok;
    assert_int_equal(tokenizer_from_vocab_lines(&tok, vocab, 20, 1, "test vocab"), 0);
    return tok;
}

static void test_batch_build(void **state)
{
    bienc_triples *tr = make_triples();
    bienc_tuples *t;
    assert_int_equal(tuples_from_triples(&t, tr), 0);
    bienc_tokenizer *tok = small_tokenizer();
    int64_t idx[5] = {3, 17, 0, 199, 42};
    bienc_batch b = {0};
    bienc_batch_opts o = {.max_query_len = 4, .max_passage_len = 16, .n_neg = 1};
    assert_int_equal(batch_build(&b, t, idx, 5, tok, &o), 0);
    assert_int_equal(b.n, 5);
    assert_int_equal(b.n_neg, 1);
    assert_int_equal(b.queries.n, 5);
    assert_int_equal(b.passages.n, 10);
    assert_int_equal(b.queries.offsets[5], b.queries.T);
    assert_int_equal(b.passages.offsets[10], b.passages.T);
    /* Each sequence equals the text encoded alone; passage j*n+i is slot j+1 of tuple i. */
    for (int s = 0; s < 15; s++) {
        int i = s < 5 ? s : (s - 5) % 5, slot = s < 5 ? 0 : 1 + (s - 5) / 5;
        const bienc_token_batch *tb = s < 5 ? &b.queries : &b.passages;
        int k = s < 5 ? s : s - 5;
        const char *text;
        size_t len;
        assert_int_equal(tuples_text(t, idx[i], slot, &text, &len), 0);
        int32_t want[32];
        int nw;
        assert_int_equal(tokenizer_encode(tok, text, len, 1, slot == 0 ? 4 : 16, want, 32, &nw), 0);
        assert_int_equal(tb->offsets[k + 1] - tb->offsets[k], nw);
        assert_memory_equal(tb->ids + tb->offsets[k], want, (size_t)nw * sizeof *want);
        assert_int_equal(tb->ids[tb->offsets[k]], tokenizer_cls_id(tok));
        assert_int_equal(tb->ids[tb->offsets[k + 1] - 1], tokenizer_sep_id(tok));
        for (int j = tb->offsets[k]; j < tb->offsets[k + 1]; j++) assert_int_equal(tb->type_ids[j], 0);
    }
    /* Tuple 199's query "q49" is [CLS] q ##4 ##9 [SEP]: 5 ids, truncated to 4. */
    assert_int_equal(b.queries.offsets[4] - b.queries.offsets[3], 4);

    /* Same bytes with 1 and 2 threads, and when the buffers are reused for a bigger batch. */
    int64_t many[64];
    for (int i = 0; i < 64; i++) many[i] = (i * 37) % N_TRIPLES;
    omp_set_num_threads(1);
    assert_int_equal(batch_build(&b, t, many, 64, tok, &o), 0);
    int64_t T1 = b.passages.T;
    int32_t *ids1 = malloc((size_t)T1 * sizeof *ids1);
    memcpy(ids1, b.passages.ids, (size_t)T1 * sizeof *ids1);
    bienc_batch b2 = {0};
    omp_set_num_threads(2);
    assert_int_equal(batch_build(&b2, t, many, 64, tok, &o), 0);
    assert_int_equal(b2.passages.T, T1);
    assert_memory_equal(b2.passages.ids, ids1, (size_t)T1 * sizeof *ids1);
    assert_memory_equal(b2.passages.offsets, b.passages.offsets, 129 * sizeof(int));
    free(ids1);

    /* Without negatives: only the positives. */
    o.n_neg = 0;
    assert_int_equal(batch_build(&b2, t, idx, 5, tok, &o), 0);
    assert_int_equal(b2.passages.n, 5);

    o.n_neg = 2;
    assert_int_equal(batch_build(&b2, t, idx, 5, tok, &o), BIENC_EINVAL);
    o.n_neg = 1;
    int64_t bad_idx[1] = {N_TRIPLES};
    assert_int_equal(batch_build(&b2, t, bad_idx, 1, tok, &o), BIENC_ERANGE);
    o.max_query_len = 0;
    assert_int_equal(batch_build(&b2, t, idx, 5, tok, &o), BIENC_EINVAL);
    batch_free(&b);
    batch_free(&b2);
    batch_free(NULL);
    tokenizer_free(tok);
    tuples_free(t);
    triples_free(tr);
}

/* The real MS MARCO triples sample through the whole path with the BERT vocabulary. */
static void test_real_triples_batches(void **state)
{
    const char *root = getenv("BIENC_SHARED_DATA");
    char tp[1024], vp[1024];
    snprintf(tp, sizeof tp, "%s/msmarco-triples-sample/triples.tsv", root ? root : "");
    snprintf(vp, sizeof vp, "%s/bert-base-uncased/vocab.txt", root ? root : "");
    if (!root || access(tp, R_OK) != 0 || access(vp, R_OK) != 0) {
        print_message("skipped: $BIENC_SHARED_DATA (msmarco-triples-sample, bert-base-uncased) absent\n");
        skip();
    }
    bienc_triples *tr;
    bienc_tuples *t;
    bienc_tokenizer *tok;
    assert_int_equal(triples_load(&tr, tp, 0, NULL, NULL), 0);
    assert_int_equal(tuples_from_triples(&t, tr), 0);
    assert_int_equal(tokenizer_load(&tok, vp, 1), 0);
    bienc_sampler *s;
    assert_int_equal(sampler_new(&s, t, 32, 1, 1, 1, 5), 0);
    /* 100 tuples, drop_last: 3 batches of 32 at most; the sample repeats some passages
     * (one 10 times), so the no-duplicates sampler can fill only 2. */
    assert_int_equal(sampler_batches_per_epoch(s), 2);
    bienc_batch b = {0};
    bienc_batch_opts o = {.max_query_len = 32, .max_passage_len = 128, .n_neg = 1};
    int64_t idx[32];
    int n;
    for (int k = 0; k < 4; k++) {
        assert_int_equal(sampler_next(s, idx, &n, NULL), 0);
        assert_int_equal(batch_build(&b, t, idx, n, tok, &o), 0);
        assert_int_equal(b.passages.n, 64);
        assert_false(batch_has_duplicate(t, idx, n));
        for (int i = 0; i < 64; i++) {
            int len = b.passages.offsets[i + 1] - b.passages.offsets[i];
            assert_true(len >= 2 && len <= 128);
        }
        for (int64_t j = 0; j < b.queries.T; j++)
            assert_true(b.queries.ids[j] >= 0 && b.queries.ids[j] < tokenizer_vocab_size(tok));
    }
    batch_free(&b);
    sampler_free(s);
    tokenizer_free(tok);
    tuples_free(t);
    triples_free(tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampler_no_duplicates),
        cmocka_unit_test(test_sampler_determinism_and_resume),
        cmocka_unit_test(test_tuples_from_ids),
        cmocka_unit_test(test_scored_triples),
        cmocka_unit_test(test_batch_build),
        cmocka_unit_test(test_real_triples_batches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
