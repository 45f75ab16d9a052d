/* Unit tests of late interaction's inference path: late_score_pairs (each distinct text
 * encoded once, windows of queries, passages a batch at a time) against late_scores (every
 * query against every passage through op_maxsim) on the same tiny model; duplicates, any
 * pair order, batch sizes, windows of one query, threads, bf16; bad arguments. Training
 * (late_scores + MNRL) is covered end to end by tests/cli/test_late_interaction.sh, the
 * MaxSim op by tests/torch/test_ops.py and tests/ops/test_ops_grad.c. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/tape.h"
#include "model/late_interaction.h"

#include "test_util.h"

enum { NQ = 4, NP = 5, MAXQ = 8, MAXP = 16 };
static const char *k_queries[NQ] = {"the cat", "a dog runs fast", "red mat", "x"};
static const char *k_passages[NP] = {"the cat sat on the mat", "dog", "big blue x x", "a slow red cat runs",
                                     "the the the dog sat"};

static bienc_biencoder *tiny_late(void)
{
    bienc_encoder_config c = tiny_cfg();
    c.hidden_dropout = 0;
    c.attention_dropout = 0;
    bienc_biencoder_opts o;
    biencoder_opts_default(&o);
    o.max_query_len = MAXQ;
    o.max_passage_len = MAXP;
    o.late_interaction = 1;
    bienc_biencoder *bi = NULL;
    assert_int_equal(biencoder_new(&bi, &c, 5, tiny_tok(), &o), 0);
    return bi;
}

/* texts packed as one batch, as the trainer packs them */
static bienc_batch_ids pack(const bienc_biencoder *bi, const char *const *t, int n, int max_len, int32_t *ids,
                            int *off)
{
    off[0] = 0;
    for (int i = 0; i < n; i++) {
        int got = 0;
        assert_int_equal(tokenizer_encode(bi->tok, t[i], strlen(t[i]), 1, max_len, ids + off[i], max_len, &got), 0);
        off[i + 1] = off[i] + got;
    }
    return (bienc_batch_ids){.ids = ids, .type_ids = NULL, .seqs = {.n = n, .offsets = off}};
}

/* ref[i * NP + j]: late_scores of every query against every passage on a no-grad tape */
static void reference(bienc_biencoder *bi, bienc_precision prec, float *ref)
{
    int32_t qids[NQ * MAXQ], pids[NP * MAXP];
    int qoff[NQ + 1], poff[NP + 1];
    bienc_batch_ids qb = pack(bi, k_queries, NQ, MAXQ, qids, qoff), pb = pack(bi, k_passages, NP, MAXP, pids, poff);
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    tape_set_grad_enabled(tape, 0);
    tape_set_precision(tape, prec);
    bienc_tensor *s;
    assert_int_equal(late_scores(bi, tape, &qb, &pb, 0, 0, 1.0f, &s), 0);
    memcpy(ref, s->data, sizeof(float) * NQ * NP);
    tape_free(tape);
}

enum { NPAIRS = 37 };

/* A candidate-list-like order (runs of one query) with passages repeated across queries,
 * then scattered pairs, and one query text at a second address (a distinct text). */
static void make_pairs(const char **q, const char **p, int *qi, int *pj, char *copy)
{
    for (int k = 0; k < NPAIRS; k++) {
        qi[k] = k < 20 ? k / 5 % NQ : (k * 7) % NQ;
        pj[k] = k < 20 ? (k * 3 + k / 5) % NP : (k * 11 + 2) % NP;
        q[k] = k_queries[qi[k]];
        p[k] = k_passages[pj[k]];
    }
    strcpy(copy, k_queries[1]);
    q[NPAIRS - 1] = copy;
    qi[NPAIRS - 1] = 1;
}

static void test_pairs_match_all_pairs(void **state)
{
    (void)state;
    bienc_biencoder *bi = tiny_late();
    float ref[NQ * NP];
    reference(bi, BIENC_PRECISION_FP32, ref);
    const char *q[NPAIRS], *p[NPAIRS];
    int qi[NPAIRS], pj[NPAIRS];
    char copy[64];
    make_pairs(q, p, qi, pj, copy);
    float first[NPAIRS], got[NPAIRS];
    int saved = omp_get_max_threads();
    const int batches[] = {1, 3, 128};
    /* the default budget (one window), then windows of one and of two queries */
    const int64_t budgets[] = {0, (int64_t)MAXQ * 16, (int64_t)MAXQ * 16 * 2};
    for (int b = 0; b < 3; b++)
        for (int w = 0; w < 3; w++)
            for (int t = 1; t <= 2; t++) {
                omp_set_num_threads(t);
                int64_t old = late_set_query_budget(budgets[w]);
                memset(got, 0, sizeof got);
                assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_FP32, q, NULL, p, NULL, NPAIRS, batches[b], got), 0);
                late_set_query_budget(old);
                for (int k = 0; k < NPAIRS; k++) assert_true(fabsf(got[k] - ref[qi[k] * NP + pj[k]]) < 1e-6f);
                if (t == 1) memcpy(first, got, sizeof got);
                else assert_memory_equal(first, got, sizeof got); /* threads never change the bits */
            }
    omp_set_num_threads(saved);
    /* lengths given: a prefix of a text is another text */
    size_t ql[NPAIRS], pl[NPAIRS];
    for (int k = 0; k < NPAIRS; k++) {
        ql[k] = strlen(q[k]);
        pl[k] = strlen(p[k]);
    }
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_FP32, q, ql, p, pl, NPAIRS, 4, got), 0);
    for (int k = 0; k < NPAIRS; k++) assert_true(fabsf(got[k] - ref[qi[k] * NP + pj[k]]) < 1e-6f);
    pl[0] = 3; /* "the" of passage pj[0] = 0, beside the whole passage 0 at pairs 5 and 15 */
    assert_int_equal(pj[0], 0);
    float part;
    const char *only_q[1] = {q[0]}, *only_p[1] = {p[0]};
    size_t only_ql[1] = {ql[0]}, only_pl[1] = {3};
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_FP32, only_q, only_ql, only_p, only_pl, 1, 4, &part), 0);
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_FP32, q, ql, p, pl, NPAIRS, 4, got), 0);
    assert_true(fabsf(got[0] - part) < 1e-6f);
    assert_true(fabsf(got[0] - ref[qi[0] * NP + 0]) > 1e-4f);
    for (int k = 1; k < NPAIRS; k++) assert_true(fabsf(got[k] - ref[qi[k] * NP + pj[k]]) < 1e-6f);
    biencoder_free(bi);
}

static void test_pairs_bf16(void **state)
{
    (void)state;
    bienc_biencoder *bi = tiny_late();
    float ref32[NQ * NP], ref16[NQ * NP];
    reference(bi, BIENC_PRECISION_FP32, ref32);
    reference(bi, BIENC_PRECISION_BF16, ref16);
    const char *q[NPAIRS], *p[NPAIRS];
    int qi[NPAIRS], pj[NPAIRS];
    char copy[64];
    make_pairs(q, p, qi, pj, copy);
    float got[NPAIRS];
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_BF16, q, NULL, p, NULL, NPAIRS, 3, got), 0);
    for (int k = 0; k < NPAIRS; k++) {
        float r16 = ref16[qi[k] * NP + pj[k]], r32 = ref32[qi[k] * NP + pj[k]];
        /* the same bf16 products as op_maxsim's on a bf16 tape, added in another order */
        assert_true(fabsf(got[k] - r16) < 1e-5f);
        /* and bf16's rounding (8 bits) away from fp32 */
        assert_true(fabsf(got[k] - r32) < 2e-2f * fabsf(r32) + 1e-3f);
    }
    biencoder_free(bi);
}

static void test_pairs_errors(void **state)
{
    (void)state;
    bienc_biencoder *bi = tiny_late();
    const char *q[1] = {"cat"}, *p[1] = {"dog"};
    float s = 7.0f;
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_AUTO, q, NULL, p, NULL, 1, 4, &s), BIENC_EINVAL);
    assert_int_equal(late_score_pairs(NULL, BIENC_PRECISION_FP32, q, NULL, p, NULL, 1, 4, &s), BIENC_EINVAL);
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_FP32, q, NULL, p, NULL, -1, 4, &s), BIENC_EINVAL);
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_FP32, NULL, NULL, p, NULL, 1, 4, &s), BIENC_EINVAL);
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_FP32, q, NULL, p, NULL, 0, 4, &s), 0);
    assert_true(s == 7.0f); /* nothing to score, nothing written */
    /* an empty text is [CLS] [SEP]: scored, not an error */
    const char *e[1] = {""};
    assert_int_equal(late_score_pairs(bi, BIENC_PRECISION_FP32, e, NULL, e, NULL, 1, 4, &s), 0);
    assert_true(isfinite(s) && fabsf(s) <= 1.0f + 1e-5f);
    biencoder_free(bi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_match_all_pairs),
        cmocka_unit_test(test_pairs_bf16),
        cmocka_unit_test(test_pairs_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
