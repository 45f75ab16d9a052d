/* GradCache (CachedMultipleNegativesRankingLoss): on the same batch, the loss and every
 * parameter gradient equal plain MNRL's (dropout off), for several mini-batch sizes
 * including ones that do not divide the batch; with dropout on too, since every mini-batch
 * draws the masks its sequences get in the whole batch; and the activation memory of the
 * caller's tape does not grow with the batch. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/biencoder.h"
#include "core/error.h"
#include "ops/loss.h"
#include "core/rng.h"
#include "model/test_util.h"
#include "train/gradcache.h"

#define NQ 9 /* queries; passages: positive + 1 hard negative each */

typedef struct packed {
    int32_t ids[NQ * 2 * 12];
    int offsets[NQ * 2 + 1];
    bienc_batch_ids b;
} packed;

/* n random sequences of 3..11 tokens ([CLS] ... [SEP]) */
static void make_batch(packed *p, int n, uint64_t seed)
{
    bienc_rng r;
    rng_seed(&r, seed);
    int t = 0;
    p->offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        int len = 3 + (int)rng_below(&r, 9);
        p->ids[t++] = 2;
        for (int j = 0; j < len - 2; j++) p->ids[t++] = 5 + (int)rng_below(&r, NV - 5);
        p->ids[t++] = 3;
        p->offsets[i + 1] = t;
    }
    p->b = (bienc_batch_ids){.ids = p->ids, .seqs = {.n = n, .offsets = p->offsets}};
}

static bienc_biencoder *make_bi(float dropout)
{
    bienc_encoder_config c = tiny_cfg();
    c.hidden_dropout = dropout;
    c.attention_dropout = dropout;
    bienc_biencoder_opts o;
    biencoder_opts_default(&o);
    o.max_query_len = 12;
    o.max_passage_len = 12;
    bienc_biencoder *bi = NULL;
    assert_int_equal(biencoder_new(&bi, &c, 3, tiny_tok(), &o), 0);
    assert_int_equal(encoder_set_trainable(bi->enc, 1), 0);
    return bi;
}

/* MNRL loss and backward; mini = 0: plain. Returns the loss, gradients into g. */
static float run(bienc_biencoder *bi, bienc_tape *tape, bienc_tape *scratch, const packed *q, const packed *p, int mini,
                 float *g, size_t *tape_bytes)
{
    encoder_zero_grad(bi->enc);
    tape_reset(tape);
    bienc_tensor *qe, *pe, *loss;
    uint64_t kq = 101, kp = 202;
    if (mini > 0) {
        bienc_tensor *param = encoder_params(bi->enc)[0];
        assert_int_equal(gradcache_embed(bi, tape, scratch, &q->b, mini, kq, param, &qe), 0);
        assert_int_equal(gradcache_embed(bi, tape, scratch, &p->b, mini, kp, param, &pe), 0);
    } else {
        assert_int_equal(biencoder_embed(bi, tape, &q->b, 1, rng_hash_u64(kq, 0), &qe), 0);
        assert_int_equal(biencoder_embed(bi, tape, &p->b, 1, rng_hash_u64(kp, 0), &pe), 0);
    }
    assert_int_equal(loss_mnrl(tape, qe, pe, 20.0f, 0, &loss), 0);
    float v = loss->data[0];
    if (tape_bytes) *tape_bytes = tape_bytes_used(tape);
    assert_int_equal(tape_backward(tape, loss), 0);
    int64_t o = 0;
    for (int i = 0; i < bi->enc->n_params; i++) {
        memcpy(g + o, bi->enc->params[i]->grad, bi->enc->params[i]->size * sizeof(float));
        o += bi->enc->params[i]->size;
    }
    return v;
}

static double max_rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > num) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return den > 0 ? num / den : num;
}

static void check_equals_plain_mnrl(float dropout)
{
    bienc_biencoder *bi = make_bi(dropout);
    packed q, p;
    make_batch(&q, NQ, 1);
    make_batch(&p, 2 * NQ, 2);
    bienc_tape *tape, *scratch;
    assert_int_equal(tape_new(&tape), 0);
    assert_int_equal(tape_new(&scratch), 0);
    int64_t tot = encoder_num_scalars(bi->enc);
    float *g0 = malloc(tot * sizeof(float)), *g1 = malloc(tot * sizeof(float));
    float l0 = run(bi, tape, NULL, &q, &p, 0, g0, NULL);
    double gnorm = 0;
    for (int64_t i = 0; i < tot; i++) gnorm += fabsf(g0[i]);
    assert_true(gnorm > 0 && l0 > 0);
    int minis[] = {1, 2, 4, 5, 64};
    for (size_t m = 0; m < sizeof minis / sizeof *minis; m++) {
        float l1 = run(bi, tape, scratch, &q, &p, minis[m], g1, NULL);
        assert_true(fabsf(l1 - l0) <= 1e-5f * fabsf(l0));
        double e = max_rel_err(g1, g0, tot);
        if (e > 1e-5) fail_msg("dropout %g, mini %d: gradient rel err %g", dropout, minis[m], e);
    }
    free(g0);
    free(g1);
    tape_free(tape);
    tape_free(scratch);
    biencoder_free(bi);
}

static void test_equals_plain_mnrl(void **state)
{
    (void)state;
    check_equals_plain_mnrl(0.0f);
}

/* Dropout on: the masks follow each sequence's place in the whole batch, so a mini-batch
 * draws what plain MNRL draws for its sequences (before, each mini-batch drew its own and
 * only a mini-batch covering the batch matched). Without that this fails by O(1). */
static void test_equals_plain_mnrl_dropout(void **state)
{
    (void)state;
    check_equals_plain_mnrl(0.2f);
}

/* With dropout both passes draw the same masks:
 * the loss GradCache reports is the loss of exactly the embeddings its gradient belongs to.
 * Checked by finite differences along the gradient. */
static void test_dropout_consistent(void **state)
{
    (void)state;
    bienc_biencoder *bi = make_bi(0.2f);
    packed q, p;
    make_batch(&q, NQ, 5);
    make_batch(&p, 2 * NQ, 6);
    bienc_tape *tape, *scratch;
    assert_int_equal(tape_new(&tape), 0);
    assert_int_equal(tape_new(&scratch), 0);
    int64_t tot = encoder_num_scalars(bi->enc);
    float *g = malloc(tot * sizeof(float)), *tmp = malloc(tot * sizeof(float));
    float l = run(bi, tape, scratch, &q, &p, 4, g, NULL);
    /* the same call twice: identical bits */
    assert_true(run(bi, tape, scratch, &q, &p, 4, tmp, NULL) == l);
    assert_memory_equal(g, tmp, tot * sizeof(float));
    /* L(w - eps g) ~ L(w) - eps |g|^2 */
    double g2 = 0;
    for (int64_t i = 0; i < tot; i++) g2 += (double)g[i] * g[i];
    float eps = 1e-3f / (float)sqrt(g2);
    int64_t o = 0;
    for (int i = 0; i < bi->enc->n_params; i++) {
        for (int64_t j = 0; j < bi->enc->params[i]->size; j++) bi->enc->params[i]->data[j] -= eps * g[o + j];
        o += bi->enc->params[i]->size;
    }
    float l2 = run(bi, tape, scratch, &q, &p, 4, tmp, NULL);
    double expect = eps * g2, got = (double)l - l2;
    if (fabs(got - expect) > 0.05 * expect) fail_msg("loss decrease %g, first order %g", got, expect);
    free(g);
    free(tmp);
    tape_free(tape);
    tape_free(scratch);
    biencoder_free(bi);
}

/* The caller's tape holds the embeddings and the loss only: its size does not depend on
 * how long the sequences are, unlike plain MNRL's. */
static void test_memory(void **state)
{
    (void)state;
    bienc_biencoder *bi = make_bi(0.0f);
    packed q, p;
    make_batch(&q, NQ, 9);
    make_batch(&p, 2 * NQ, 10);
    bienc_tape *tape, *scratch;
    assert_int_equal(tape_new(&tape), 0);
    assert_int_equal(tape_new(&scratch), 0);
    float *g = malloc(encoder_num_scalars(bi->enc) * sizeof(float));
    size_t plain, cached;
    run(bi, tape, NULL, &q, &p, 0, g, &plain);
    run(bi, tape, scratch, &q, &p, 2, g, &cached);
    if (!(cached * 4 < plain)) fail_msg("GradCache tape %zu bytes vs plain %zu", cached, plain);
    free(g);
    tape_free(tape);
    tape_free(scratch);
    biencoder_free(bi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equals_plain_mnrl),
        cmocka_unit_test(test_equals_plain_mnrl_dropout),
        cmocka_unit_test(test_dropout_consistent),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
