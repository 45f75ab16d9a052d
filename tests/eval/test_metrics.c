/* Retrieval metrics on hand-computed cases (the arithmetic is in the comments), the qrels and
 * run readers on every accepted format and on malformed input, and teacher agreement. */
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

#define EPS 1e-12

static char tmpdir[] = "/tmp/bienc_test_metrics_XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[4][512];
    static int slot;
    char *p = path[slot++ & 3];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static bienc_qrels *qrels_from(const char *text)
{
    bienc_qrels *q = NULL;
    int rc = qrels_read(write_file("q.txt", text), &q);
    if (rc < 0) fail_msg("qrels_read: %s", bienc_last_error());
    return q;
}

static bienc_run *run_from(const char *text)
{
    bienc_run *r = NULL;
    int rc = run_read(write_file("r.trec", text), &r);
    if (rc < 0) fail_msg("run_read: %s", bienc_last_error());
    return r;
}

static const bienc_query_metrics *find_query(const bienc_eval_result *res, const char *qid)
{
    for (size_t i = 0; i < res->num_queries; i++)
        if (strcmp(res->per_query[i].qid, qid) == 0) return &res->per_query[i];
    fail_msg("query %s not evaluated", qid);
    return NULL;
}

/* Graded qrels, unjudged documents, a relevant document never retrieved.
 *   qrels q1: d1=1 d2=0 d3=1 d4=2      run q1 (by score): d5 d1 d2 d4 d6
 *   grades by rank: 1:d5 unjudged  2:d1 g1  3:d2 g0  4:d4 g2  5:d6 unjudged
 * relevant (grade >= 1) = {d1,d3,d4}: 3.
 *   MRR@10 = 1/2.
 *   DCG@10 = 1/log2(3) + 2/log2(5) = 0.63092975 + 0.86135312 = 1.49228287
 *   IDCG@10 (grades 2,1,1 from all judged docs) = 2/log2(2) + 1/log2(3) + 1/log2(4) = 3.13092975
 *   nDCG@10 = 1.49228287 / 3.13092975 = 0.47662611
 *   MAP@100 = (1/2 + 2/4) / 3 = 1/3          recall@1 = 0, recall@5 = recall@10 = 2/3
 *   accuracy@1 = 0, accuracy@3 = 1            precision@1 = 0, @3 = 1/3, @5 = 2/5, @10 = 2/10
 * With --min-relevant-grade 2, relevant = {d4}: MRR@10 = 1/4, MAP@100 = (1/4)/1, recall@5 = 1,
 * precision@5 = 1/5, nDCG unchanged (its gains are the grades). */
static void test_graded_hand_case(void **state)
{
    (void)state;
    bienc_qrels *q = qrels_from("q1 0 d1 1\nq1 0 d2 0\nq1 0 d3 1\nq1 0 d4 2\n");
    bienc_run *r = run_from("q1 Q0 d4 4 0.6 t\nq1 Q0 d5 1 0.9 t\nq1 Q0 d1 2 0.8 t\nq1 Q0 d6 5 0.5 t\n"
                            "q1 Q0 d2 3 0.7 t\n");
    bienc_eval_result res;
    bienc_eval_options o = metrics_default_options();
    assert_int_equal(metrics_evaluate(r, q, &o, &res), 0);
    assert_int_equal(res.num_queries, 1);
    const double *m = res.mean;
    assert_true(fabs(m[BIENC_METRIC_MRR10] - 0.5) < EPS);
    assert_true(fabs(m[BIENC_METRIC_NDCG10] - 0.47662611018851303) < 1e-12);
    assert_true(fabs(m[BIENC_METRIC_MAP100] - 1.0 / 3.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_RECALL1] - 0.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_RECALL5] - 2.0 / 3.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_RECALL10] - 2.0 / 3.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_RECALL1000] - 2.0 / 3.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_ACCURACY1] - 0.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_ACCURACY3] - 1.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_PRECISION1] - 0.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_PRECISION3] - 1.0 / 3.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_PRECISION5] - 0.4) < EPS);
    assert_true(fabs(m[BIENC_METRIC_PRECISION10] - 0.2) < EPS);
    assert_int_equal(res.per_query[0].num_relevant, 3);
    assert_int_equal(res.per_query[0].num_retrieved, 5);
    metrics_result_free(&res);

    o.min_relevant_grade = 2;
    assert_int_equal(metrics_evaluate(r, q, &o, &res), 0);
    m = res.mean;
    assert_true(fabs(m[BIENC_METRIC_MRR10] - 0.25) < EPS);
    assert_true(fabs(m[BIENC_METRIC_MAP100] - 0.25) < EPS);
    assert_true(fabs(m[BIENC_METRIC_RECALL5] - 1.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_RECALL1] - 0.0) < EPS);
    assert_true(fabs(m[BIENC_METRIC_PRECISION5] - 0.2) < EPS);
    assert_true(fabs(m[BIENC_METRIC_NDCG10] - 0.47662611018851303) < 1e-12);
    metrics_result_free(&res);

    o.min_relevant_grade = 0; /* grade 0 means judged non-relevant: refused */
    assert_int_equal(metrics_evaluate(r, q, &o, &res), BIENC_EINVAL);
    run_free(r);
    qrels_free(q);
}

/* Position of the high grade matters: qrels d1=3 d2=1, run d2 then d1.
 *   DCG = 1/log2(2) + 3/log2(3) = 1 + 1.89278926 = 2.89278926
 *   IDCG = 3/log2(2) + 1/log2(3) = 3.63092975     nDCG = 0.79670758
 * (sentence-transformers' binary nDCG would give 1.0 here: both relevant docs are retrieved.) */
static void test_ndcg_graded_order(void **state)
{
    (void)state;
    bienc_qrels *q = qrels_from("7 0 1 3\n7 0 2 1\n");
    bienc_run *r = run_from("7 Q0 2 1 5 t\n7 Q0 1 2 4 t\n");
    bienc_eval_result res;
    assert_int_equal(metrics_evaluate(r, q, NULL, &res), 0);
    assert_true(fabs(res.mean[BIENC_METRIC_NDCG10] - 0.7967075809905066) < 1e-12);
    assert_true(fabs(res.mean[BIENC_METRIC_MRR10] - 1.0) < EPS);
    metrics_result_free(&res);
    run_free(r);
    qrels_free(q);
}

/* Ties: equal scores are ordered by document id descending (trec_eval), whatever the file's
 * rank column or line order says. Scores: a=1.0, b=1.0, "9"=0.5, "10"=0.5, c=0.1.
 *   order: b, a ("b" > "a"), then "9", "10" ("9" > "10" as strings), then c.
 * qrels: a relevant (1) -> rank 2 -> MRR@10 = 1/2 (1.0 if ties kept file order);
 *        "10" relevant too -> ranks 2 and 4: MAP = (1/2 + 2/4)/2 = 1/2. */
static void test_ties(void **state)
{
    (void)state;
    bienc_qrels *q = qrels_from("q\t0\ta\t1\nq\t0\t10\t1\n");
    bienc_run *r = run_from("q Q0 a 1 1.0 t\nq Q0 10 2 0.5 t\nq Q0 b 3 1.0 t\nq Q0 c 4 0.1 t\nq Q0 9 5 0.5 t\n");
    const char *expect[] = {"b", "a", "9", "10", "c"};
    assert_int_equal(run_query_size(r, 0), 5);
    for (size_t i = 0; i < 5; i++) assert_string_equal(run_doc_id(r, 0, i), expect[i]);
    bienc_eval_result res;
    assert_int_equal(metrics_evaluate(r, q, NULL, &res), 0);
    assert_true(fabs(res.mean[BIENC_METRIC_MRR10] - 0.5) < EPS);
    assert_true(fabs(res.mean[BIENC_METRIC_MAP100] - 0.5) < EPS);
    metrics_result_free(&res);
    run_free(r);
    qrels_free(q);
}

/* Query sets, as trec_eval:
 *   qrels: A (d1=1), B (only d2=0: judged, nothing relevant), C (d3=1, absent from the run)
 *   run:   A (d1 first), B (d2), Z (not judged)
 * default: A and B averaged: MRR = (1 + 0)/2 = 0.5, nDCG = (1 + 0)/2, recall@10 = (1 + 0)/2;
 *   Z ignored, C skipped.  complete: A, B, C averaged: MRR = 1/3. */
static void test_query_sets(void **state)
{
    (void)state;
    bienc_qrels *q = qrels_from("A 0 d1 1\nB 0 d2 0\nC 0 d3 1\n");
    bienc_run *r = run_from("A Q0 d1 1 3 t\nA Q0 d9 2 2 t\nB Q0 d2 1 3 t\nZ Q0 d1 1 3 t\n");
    bienc_eval_result res;
    bienc_eval_options o = metrics_default_options();
    assert_int_equal(metrics_evaluate(r, q, &o, &res), 0);
    assert_int_equal(res.num_queries, 2);
    assert_int_equal(res.num_missing_from_run, 1);
    assert_int_equal(res.num_unjudged_run_queries, 1);
    assert_int_equal(res.num_without_relevant, 1);
    assert_true(fabs(res.mean[BIENC_METRIC_MRR10] - 0.5) < EPS);
    assert_true(fabs(res.mean[BIENC_METRIC_NDCG10] - 0.5) < EPS);
    assert_true(fabs(res.mean[BIENC_METRIC_RECALL10] - 0.5) < EPS);
    const bienc_query_metrics *b = find_query(&res, "B");
    for (int k = 0; k < BIENC_METRIC_COUNT; k++) assert_true(b->values[k] == 0.0);
    assert_int_equal(b->num_relevant, 0);
    metrics_result_free(&res);

    o.complete = 1;
    assert_int_equal(metrics_evaluate(r, q, &o, &res), 0);
    assert_int_equal(res.num_queries, 3);
    assert_true(fabs(res.mean[BIENC_METRIC_MRR10] - 1.0 / 3.0) < EPS);
    assert_int_equal(find_query(&res, "C")->num_retrieved, 0);
    assert_int_equal(find_query(&res, "C")->num_relevant, 1);
    metrics_result_free(&res);
    run_free(r);
    qrels_free(q);
}

/* An empty run: no query in common -> 0 queries, means 0; complete -> every qrels query is 0. */
static void test_empty_run(void **state)
{
    (void)state;
    bienc_qrels *q = qrels_from("A 0 d1 1\nB 0 d2 2\n");
    bienc_run *r = run_from("# nothing retrieved\n\n");
    assert_int_equal(run_num_queries(r), 0);
    bienc_eval_result res;
    bienc_eval_options o = metrics_default_options();
    assert_int_equal(metrics_evaluate(r, q, &o, &res), 0);
    assert_int_equal(res.num_queries, 0);
    assert_int_equal(res.num_missing_from_run, 2);
    for (int k = 0; k < BIENC_METRIC_COUNT; k++) assert_true(res.mean[k] == 0.0);
    metrics_result_free(&res);
    o.complete = 1;
    assert_int_equal(metrics_evaluate(r, q, &o, &res), 0);
    assert_int_equal(res.num_queries, 2);
    for (int k = 0; k < BIENC_METRIC_COUNT; k++) assert_true(res.mean[k] == 0.0);
    metrics_result_free(&res);
    run_free(r);
    qrels_free(q);
}

/* Cutoffs: 150 documents, relevant ones at ranks 50 and 120 (2 relevant).
 *   MRR@10 = 0 (first hit at 50), MAP@100 = (1/50)/2 = 0.01 (rank 120 is past the cut),
 *   recall@10 = 0, recall@100 = 1/2, recall@1000 = 2/2, accuracy@10 = 0. */
static void test_cutoffs(void **state)
{
    (void)state;
    bienc_qrels *q;
    bienc_run *r;
    assert_int_equal(qrels_new(&q), 0);
    assert_int_equal(run_new(&r, "deep"), 0);
    assert_int_equal(qrels_add(q, "q", "doc50", 1), 0);
    assert_int_equal(qrels_add(q, "q", "doc120", 1), 0);
    assert_int_equal(qrels_add(q, "q", "doc50", 2), BIENC_EINVAL); /* repeated judgment */
    for (int i = 1; i <= 150; i++) {
        char id[32];
        snprintf(id, sizeof id, "doc%d", i);
        assert_int_equal(run_add(r, "q", id, 1000.0 - i), 0); /* rank i */
    }
    bienc_eval_result res;
    assert_int_equal(metrics_evaluate(r, q, NULL, &res), 0);
    assert_true(res.mean[BIENC_METRIC_MRR10] == 0.0);
    assert_true(fabs(res.mean[BIENC_METRIC_MAP100] - 0.01) < EPS);
    assert_true(res.mean[BIENC_METRIC_RECALL10] == 0.0);
    assert_true(fabs(res.mean[BIENC_METRIC_RECALL100] - 0.5) < EPS);
    assert_true(fabs(res.mean[BIENC_METRIC_RECALL1000] - 1.0) < EPS);
    assert_true(res.mean[BIENC_METRIC_ACCURACY10] == 0.0);
    metrics_result_free(&res);
    run_free(r);
    qrels_free(q);
}

/* Duplicates: a run listing a document twice is refused, in memory and in a file (naming both lines). */
static void test_duplicates(void **state)
{
    (void)state;
    bienc_run *r;
    bienc_qrels *q = qrels_from("q 0 a 1\n");
    assert_int_equal(run_new(&r, "dup"), 0);
    assert_int_equal(run_add(r, "q", "a", 1.0), 0);
    assert_int_equal(run_add(r, "q", "b", 0.5), 0);
    assert_int_equal(run_add(r, "q", "a", 0.2), 0);
    bienc_eval_result res;
    assert_int_equal(metrics_evaluate(r, q, NULL, &res), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "document a twice"));
    run_free(r);

    const char *p = write_file("dup.trec", "q Q0 a 1 1 t\nq Q0 b 2 0.5 t\nq2 Q0 a 1 1 t\nq Q0 a 3 0.2 t\n");
    assert_int_equal(run_read(p, &r), BIENC_EFORMAT);
    assert_null(r);
    assert_non_null(strstr(bienc_last_error(), "line 4"));
    assert_non_null(strstr(bienc_last_error(), "first at line 1"));
    assert_int_equal(run_add(NULL, "q", "a", 1.0), BIENC_EINVAL);

    const char *qp = write_file("dupq.txt", "q 0 a 1\nq 0 b 0\nq 0 a 2\n");
    bienc_qrels *q2;
    assert_int_equal(qrels_read(qp, &q2), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "line 3"));
    assert_non_null(strstr(bienc_last_error(), "first at line 1"));
    qrels_free(q);
}

/* Every qrels form gives the same judgments. */
static void test_qrels_formats(void **state)
{
    (void)state;
    const char *forms[] = {
        "1 0 31715818 1\n1 0 99 0\n3\t0\t14717500 2\r\n",             /* TREC, spaces, tab, CRLF */
        "query-id\tcorpus-id\tscore\n1\t31715818\t1\n1\t99\t0\n\n3\t14717500\t2\n", /* BEIR */
        "1\t31715818\t1\n1\t99\t0\n3\t14717500\t2\n",                 /* 3 columns */
    };
    for (int i = 0; i < 3; i++) {
        bienc_qrels *q = qrels_from(forms[i]);
        int g = -5;
        assert_int_equal(qrels_num_queries(q), 2);
        assert_int_equal(qrels_num_judgments(q), 3);
        assert_string_equal(qrels_query_id(q, 0), "1");
        assert_int_equal(qrels_lookup(q, "1", "31715818", &g), 1);
        assert_int_equal(g, 1);
        assert_int_equal(qrels_lookup(q, "3", "14717500", &g), 1);
        assert_int_equal(g, 2);
        assert_int_equal(qrels_lookup(q, "1", "99", &g), 1);
        assert_int_equal(g, 0);
        assert_int_equal(qrels_lookup(q, "1", "14717500", &g), 0);
        assert_int_equal(qrels_count_relevant(q, "1", 1), 1);
        assert_int_equal(qrels_count_relevant(q, "3", 2), 1);
        assert_int_equal(qrels_count_relevant(q, "3", 3), 0);
        qrels_free(q);
    }
    bienc_qrels *q = qrels_from("a\tx\na\ty\nb\tx\n"); /* 2 columns: grade 1 */
    int g = 0;
    assert_int_equal(qrels_num_judgments(q), 3);
    assert_int_equal(qrels_lookup(q, "a", "y", &g), 1);
    assert_int_equal(g, 1);
    qrels_free(q);
    /* Negative grades are judged non-relevant: no gain, not relevant. */
    q = qrels_from("q 0 a -1\nq 0 b 1\n");
    bienc_run *r = run_from("q Q0 a 1 2 t\nq Q0 b 2 1 t\n");
    bienc_eval_result res;
    assert_int_equal(metrics_evaluate(r, q, NULL, &res), 0);
    assert_true(fabs(res.mean[BIENC_METRIC_MRR10] - 0.5) < EPS);
    /* DCG = 1/log2(3), IDCG = 1 */
    assert_true(fabs(res.mean[BIENC_METRIC_NDCG10] - 1.0 / log2(3.0)) < EPS);
    metrics_result_free(&res);
    run_free(r);
    qrels_free(q);
}

static void expect_qrels_error(const char *text, const char *needle)
{
    bienc_qrels *q = (bienc_qrels *)1;
    const char *p = write_file("bad_qrels.txt", text);
    assert_int_equal(qrels_read(p, &q), BIENC_EFORMAT);
    assert_null(q);
    if (!strstr(bienc_last_error(), needle) || !strstr(bienc_last_error(), "bad_qrels.txt"))
        fail_msg("message '%s' lacks '%s' or the file name", bienc_last_error(), needle);
}

static void expect_run_error(const char *text, const char *needle)
{
    bienc_run *r = (bienc_run *)1;
    const char *p = write_file("bad_run.trec", text);
    assert_int_equal(run_read(p, &r), BIENC_EFORMAT);
    assert_null(r);
    if (!strstr(bienc_last_error(), needle) || !strstr(bienc_last_error(), "bad_run.trec"))
        fail_msg("message '%s' lacks '%s' or the file name", bienc_last_error(), needle);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_qrels_error("1 0 a 1\n1 0 b\n", "line 2");             /* 3 fields in a TREC file */
    expect_qrels_error("1 0 a 1\n1 0 b x\n", "line 2");           /* grade not a number */
    expect_qrels_error("1 0 a 1\n1 0 b 1.5\n", "line 2");         /* grade not an integer */
    expect_qrels_error("1\ta\t1\n1\tb\n", "line 2");              /* field count changes */
    expect_qrels_error("1\t\t1\n", "line 1");                     /* empty document id */
    expect_qrels_error("1\ta\t1\t2\t3\n", "line 1");              /* 5 tab fields */
    expect_qrels_error("1 0 a 1 extra\n", "line 1");
    expect_qrels_error("only-one-field\n", "line 1");
    expect_qrels_error("1 0 a 99999999999\n", "line 1");          /* absurd grade */
    expect_run_error("q Q0 a 1 0.5 t\nq Q0 b 2 0.4\n", "line 2"); /* 5 fields */
    expect_run_error("q Q0 a 1 0.5 t x\n", "line 1");             /* 7 fields */
    expect_run_error("q Q0 a one 0.5 t\n", "line 1");             /* rank */
    expect_run_error("q Q0 a 1 -2 t\nq Q0 b -1 0.5 t\n", "line 2"); /* negative rank */
    expect_run_error("q Q0 a 1 high t\n", "line 1");              /* score */
    expect_run_error("q Q0 a 1 nan t\n", "line 1");
    expect_run_error("q Q0 a 1 inf t\n", "line 1");
    expect_run_error("q Q0 a 1 1e999 t\n", "line 1");
    /* A NUL byte inside a line. */
    char path[600];
    snprintf(path, sizeof path, "%s/nul.txt", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite("1 0 a 1\n1 0 b\0 1\n", 1, 17, f);
    fclose(f);
    bienc_run *r;
    bienc_qrels *q;
    assert_int_equal(qrels_read(path, &q), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "line 2"));
    assert_int_equal(run_read("/nonexistent/run.trec", &r), BIENC_EIO);
    assert_non_null(strstr(bienc_last_error(), "/nonexistent/run.trec"));
    assert_int_equal(qrels_read("/nonexistent/qrels.txt", &q), BIENC_EIO);
    assert_int_equal(run_add(NULL, "q", "d", 0.0), BIENC_EINVAL);
    run_free(NULL);
    qrels_free(NULL);
    metrics_result_free(NULL);
}

/* Written runs read back identically: order, ranks 1..n, exact doubles, the name. */
static void test_run_write_roundtrip(void **state)
{
    (void)state;
    bienc_run *r;
    assert_int_equal(run_new(&r, "my run"), 0); /* blank replaced: the name is one field */
    const double scores[] = {0.1, -3.5, 1e-300, 0.30000000000000004, 2.0 / 3.0, 0.1};
    const char *docs[] = {"p1", "p2", "p3", "p4", "p5", "p0"};
    for (int i = 0; i < 6; i++) assert_int_equal(run_add(r, i < 3 ? "q2" : "q1", docs[i], scores[i]), 0);
    const char *p = write_file("out.trec", "");
    assert_int_equal(run_write(r, p), 0);
    bienc_run *b;
    assert_int_equal(run_read(p, &b), 0);
    assert_string_equal(run_name(b), "my_run");
    assert_int_equal(run_num_queries(b), 2);
    assert_int_equal(run_num_entries(b), 6);
    for (size_t qi = 0; qi < 2; qi++) {
        long bi = run_find_query(b, run_query_id(r, qi));
        assert_true(bi >= 0);
        assert_int_equal(run_query_size(b, (size_t)bi), run_query_size(r, qi));
        for (size_t k = 0; k < run_query_size(r, qi); k++) {
            assert_string_equal(run_doc_id(b, (size_t)bi, k), run_doc_id(r, qi, k));
            double x = run_doc_score(b, (size_t)bi, k), y = run_doc_score(r, qi, k);
            assert_memory_equal(&x, &y, sizeof x);
        }
    }
    /* q2's order: 0.1 (p1), 1e-300 (p3), -3.5 (p2); ranks written 1, 2, 3 */
    FILE *f = fopen(p, "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "q2 Q0 p1 1 0.1 my_run\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "q2 Q0 p3 2 1e-300 my_run\n");
    fclose(f);
    assert_int_equal(run_find_query(b, "nope"), -1);
    assert_null(run_doc_id(b, 9, 0));
    run_free(b);
    run_free(r);
}

/* Agreement with a reference run.
 *   reference q1: a(3) b(2) c(1)        run q1: b x a
 *   k=1: ref {a}, run {b} -> 0/1;  k=10: ref {a,b,c}, run {b,x,a} -> 2/3;  k=100: same 2/3.
 *   reference q2: d(1); run q2: d -> 1 for every k.      reference q3 missing from the run.
 * default (q3 skipped): k=1 (0+1)/2 = 1/2, k=10 (2/3+1)/2 = 5/6.   complete: k=10 (2/3+1+0)/3 = 5/9. */
static void test_agreement(void **state)
{
    (void)state;
    bienc_run *ref = run_from("q1 Q0 a 1 3 T\nq1 Q0 b 2 2 T\nq1 Q0 c 3 1 T\nq2 Q0 d 1 1 T\nq3 Q0 e 1 1 T\n");
    bienc_run *run;
    assert_int_equal(run_new(&run, "student"), 0);
    assert_int_equal(run_add(run, "q1", "b", 0.9), 0);
    assert_int_equal(run_add(run, "q1", "x", 0.8), 0);
    assert_int_equal(run_add(run, "q1", "a", 0.7), 0);
    assert_int_equal(run_add(run, "q2", "d", 0.1), 0);
    bienc_agreement a;
    assert_int_equal(metrics_agreement(run, ref, 0, &a), 0);
    assert_int_equal(a.num_queries, 2);
    assert_int_equal(a.num_missing_from_run, 1);
    assert_true(fabs(a.recall[0] - 0.5) < EPS);
    assert_true(fabs(a.recall[1] - 5.0 / 6.0) < EPS);
    assert_true(fabs(a.recall[2] - 5.0 / 6.0) < EPS);
    assert_int_equal(metrics_agreement(run, ref, 1, &a), 0);
    assert_int_equal(a.num_queries, 3);
    assert_true(fabs(a.recall[1] - 5.0 / 9.0) < EPS);
    /* A run agrees fully with itself. */
    assert_int_equal(metrics_agreement(ref, ref, 0, &a), 0);
    for (int j = 0; j < BIENC_AGREEMENT_NK; j++) assert_true(a.recall[j] == 1.0);
    run_free(run);
    run_free(ref);
}

/* The JSON report holds every metric name and the per-query block when asked. */
static void test_json(void **state)
{
    (void)state;
    bienc_qrels *q = qrels_from("q\"1 0 a 1\n");
    bienc_run *r = run_from("q\"1 Q0 a 1 1 t\n");
    bienc_eval_result res;
    assert_int_equal(metrics_evaluate(r, q, NULL, &res), 0);
    const char *p = write_file("m.json", "");
    bienc_agreement a = {{0.25, 0.5, 0.75}, 1, 0};
    assert_int_equal(metrics_write_json(p, &res, &a, 1), 0);
    FILE *f = fopen(p, "r");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    for (int k = 0; k < BIENC_METRIC_COUNT; k++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\": 1", metrics_name(k));
        if (k >= BIENC_METRIC_PRECISION3) snprintf(key, sizeof key, "\"%s\": 0.", metrics_name(k));
        if (!strstr(buf, key)) fail_msg("'%s' not in JSON:\n%s", key, buf);
    }
    assert_non_null(strstr(buf, "\"q\\\"1\": {"));
    assert_non_null(strstr(buf, "\"recall@10\": 0.5"));
    metrics_result_free(&res);
    run_free(r);
    qrels_free(q);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graded_hand_case), cmocka_unit_test(test_ndcg_graded_order),
        cmocka_unit_test(test_ties),             cmocka_unit_test(test_query_sets),
        cmocka_unit_test(test_empty_run),        cmocka_unit_test(test_cutoffs),
        cmocka_unit_test(test_duplicates),       cmocka_unit_test(test_qrels_formats),
        cmocka_unit_test(test_malformed),        cmocka_unit_test(test_run_write_roundtrip),
        cmocka_unit_test(test_agreement),        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
