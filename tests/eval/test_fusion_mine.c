/* Run fusion (RRF and linear, hand-computed scores) and hard-negative mining (positives never
 * mined, rank range, dedup across runs, sampling, the false-negative guard, bad options). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "eval/metrics.h"

static char tmpdir[] = "/tmp/bienc_test_fusion_XXXXXX";

static bienc_run *run_of(const char *name, const char *spec)
{
    /* spec: "q d score;q d score;..." */
    bienc_run *r = NULL;
    assert_int_equal(run_new(&r, name), 0);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ";"); tok; tok = strtok(NULL, ";")) {
        char q[64], d[64];
        double s;
        assert_int_equal(sscanf(tok, "%63s %63s %lf", q, d, &s), 3);
        assert_int_equal(run_add(r, q, d, s), 0);
    }
    assert_int_equal(run_sort(r), 0);
    return r;
}

static double score_of(bienc_run *r, const char *q, const char *d)
{
    long qi = run_find_query(r, q);
    assert_true(qi >= 0);
    for (size_t j = 0; j < run_query_size(r, (size_t)qi); j++)
        if (strcmp(run_doc_id(r, (size_t)qi, j), d) == 0) return run_doc_score(r, (size_t)qi, j);
    fail_msg("%s not ranked for %s", d, q);
    return NAN;
}

static void test_rrf(void **state)
{
    (void)state;
    bienc_run *a = run_of("a", "q1 x 3;q1 y 2;q1 z 1");
    bienc_run *b = run_of("b", "q1 z 9;q1 w 8;q2 u 1");
    bienc_run *runs[2] = {a, b}, *f = NULL;
    bienc_fusion_opts o = fusion_default_opts();
    assert_int_equal(run_fuse(runs, 2, &o, "fused", &f), 0);
    /* z: rank 3 in a, rank 1 in b -> 1/63 + 1/61; x: 1/61; y: 1/62; w: 1/62 */
    assert_true(fabs(score_of(f, "q1", "z") - (1.0 / 63 + 1.0 / 61)) < 1e-12);
    assert_true(fabs(score_of(f, "q1", "x") - 1.0 / 61) < 1e-12);
    assert_true(fabs(score_of(f, "q1", "w") - 1.0 / 62) < 1e-12);
    assert_true(fabs(score_of(f, "q2", "u") - 1.0 / 61) < 1e-12);
    assert_string_equal(run_doc_id(f, (size_t)run_find_query(f, "q1"), 0), "z");
    assert_int_equal(run_num_queries(f), 2);
    assert_int_equal(run_num_entries(f), 5);
    run_free(f);

    /* weights and k: b counts double, one document written per query */
    double w[2] = {1, 2};
    o.weights = w;
    o.k = 1;
    assert_int_equal(run_fuse(runs, 2, &o, "fused", &f), 0);
    assert_int_equal(run_num_entries(f), 2);
    assert_true(fabs(score_of(f, "q1", "z") - (1.0 / 63 + 2.0 / 61)) < 1e-12);
    run_free(f);

    /* depth 1: only each run's top document */
    o = fusion_default_opts();
    o.depth = 1;
    assert_int_equal(run_fuse(runs, 2, &o, "fused", &f), 0);
    assert_int_equal(run_query_size(f, (size_t)run_find_query(f, "q1")), 2);
    run_free(f);

    o.rrf_k = -1;
    assert_true(run_fuse(runs, 2, &o, "fused", &f) < 0);
    assert_non_null(strstr(bienc_last_error(), "rrf_k"));
    run_free(a);
    run_free(b);
}

static void test_linear(void **state)
{
    (void)state;
    bienc_run *a = run_of("a", "q1 x 10;q1 y 6;q1 z 2");
    bienc_run *b = run_of("b", "q1 z 0.5;q1 y 0.3;q1 x 0.1");
    bienc_run *runs[2] = {a, b}, *f = NULL;
    bienc_fusion_opts o = fusion_default_opts();
    o.method = BIENC_FUSION_LINEAR;
    double w[2] = {1, 3};
    o.weights = w;
    assert_int_equal(run_fuse(runs, 2, &o, "lin", &f), 0);
    /* a: x 1, y .5, z 0; b: z 1, y .5, x 0 -> x 1, y .5 + 1.5 = 2, z 3 */
    assert_true(fabs(score_of(f, "q1", "x") - 1.0) < 1e-12);
    assert_true(fabs(score_of(f, "q1", "y") - 2.0) < 1e-12);
    assert_true(fabs(score_of(f, "q1", "z") - 3.0) < 1e-12);
    run_free(f);
    run_free(a);
    run_free(b);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static bienc_qrels *qrels_of(const char *spec)
{
    bienc_qrels *q = NULL;
    assert_int_equal(qrels_new(&q), 0);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ";"); tok; tok = strtok(NULL, ";")) {
        char qid[64], d[64];
        int g;
        assert_int_equal(sscanf(tok, "%63s %63s %d", qid, d, &g), 3);
        assert_int_equal(qrels_add(q, qid, d, g), 0);
    }
    return q;
}

static void test_mine(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/negs.jsonl", tmpdir);
    bienc_run *bm25 = run_of("bm25", "q1 p1 9;q1 n1 8;q1 n2 7;q1 n3 6;q2 n1 5;q2 p3 4;q3 n9 1");
    bienc_run *dense = run_of("dense", "q1 n2 0.9;q1 n4 0.8;q1 p1 0.7");
    /* q1: positive p1, judged non-relevant n3 (grade 0 is still a negative); q2: p2 relevant,
     * p3 relevant; q4 has no run entries; q5 only non-relevant */
    bienc_qrels *qr = qrels_of("q1 p1 1;q1 n3 0;q2 p2 1;q2 p3 2;q4 p4 1;q5 x 0");
    bienc_run *runs[2] = {bm25, dense};
    bienc_mine_opts o = mine_default_opts();
    o.num_negatives = 2;
    int64_t rows = -1, negs = -1;
    assert_int_equal(mine_hard_negatives(runs, 2, qr, &o, NULL, NULL, path, &rows, &negs), 0);
    assert_int_equal(rows, 2);
    assert_int_equal(negs, 4);
    assert_string_equal(slurp(path), "{\"qid\": \"q1\", \"pos\": [\"p1\"], \"neg\": {\"bm25\": [\"n1\", \"n2\"], \"dense\": [\"n4\"]}}\n"
                                     "{\"qid\": \"q2\", \"pos\": [\"p2\", \"p3\"], \"neg\": {\"bm25\": [\"n1\"]}}\n");

    /* range: skip the top 2 ranks, then all candidates */
    o.range_min = 2;
    o.num_negatives = 0;
    assert_int_equal(mine_hard_negatives(runs, 1, qr, &o, NULL, NULL, path, &rows, &negs), 0);
    assert_string_equal(slurp(path), "{\"qid\": \"q1\", \"pos\": [\"p1\"], \"neg\": {\"bm25\": [\"n2\", \"n3\"]}}\n");

    /* random sampling: a subset of the candidates, the same for the same seed */
    o = mine_default_opts();
    o.num_negatives = 1;
    o.random = 1;
    assert_int_equal(mine_hard_negatives(runs, 1, qr, &o, NULL, NULL, path, &rows, &negs), 0);
    char first[8192];
    snprintf(first, sizeof first, "%s", slurp(path));
    assert_int_equal(negs, 2);
    assert_int_equal(mine_hard_negatives(runs, 1, qr, &o, NULL, NULL, path, &rows, &negs), 0);
    assert_string_equal(first, slurp(path));

    /* bad ranges are errors, and the old file stays */
    o = mine_default_opts();
    o.range_min = 5;
    o.range_max = 5;
    assert_true(mine_hard_negatives(runs, 1, qr, &o, NULL, NULL, path, &rows, &negs) < 0);
    assert_non_null(strstr(bienc_last_error(), "range"));
    assert_string_equal(first, slurp(path));
    run_free(bm25);
    run_free(dense);
    qrels_free(qr);
}

/* A guard that scores documents by name: "n1" high (a false negative), others low. */
static int fake_scorer(void *ctx, const char *qid, const char *const *pids, int n, float *scores)
{
    int *calls = ctx;
    (*calls)++;
    for (int i = 0; i < n; i++) scores[i] = strcmp(pids[i], "p1") == 0 ? 5.0f : strcmp(pids[i], "n1") == 0 ? 4.5f : 0.0f;
    return 0;
}

static void test_mine_guard(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/guard.jsonl", tmpdir);
    bienc_run *bm25 = run_of("bm25", "q1 n1 9;q1 n2 8");
    bienc_qrels *qr = qrels_of("q1 p1 1");
    bienc_run *runs[1] = {bm25};
    bienc_mine_opts o = mine_default_opts();
    int calls = 0;
    /* margin 0: n1 (4.5) is below the positive's 5 and stays */
    assert_int_equal(mine_hard_negatives(runs, 1, qr, &o, fake_scorer, &calls, path, NULL, NULL), 0);
    assert_string_equal(slurp(path), "{\"qid\": \"q1\", \"pos\": [\"p1\"], \"neg\": {\"bm25\": [\"n1\", \"n2\"]}}\n");
    assert_int_equal(calls, 2);
    /* margin 1: anything above 4 is a likely false negative */
    o.margin = 1;
    assert_int_equal(mine_hard_negatives(runs, 1, qr, &o, fake_scorer, &calls, path, NULL, NULL), 0);
    assert_string_equal(slurp(path), "{\"qid\": \"q1\", \"pos\": [\"p1\"], \"neg\": {\"bm25\": [\"n2\"]}}\n");
    run_free(bm25);
    qrels_free(qr);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rrf),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_mine),
        cmocka_unit_test(test_mine_guard),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) return 1;
    return rc;
}
