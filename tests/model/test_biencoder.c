/* Unit tests of the bi-encoder: construction checks, shared-weight twin towers on one tape,
 * and inference over many texts (input order restored after sorting by length, independence
 * from batch size and thread count, the caller's tape left reset and in its grad mode). */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <omp.h>

#include "model/biencoder.h"
#include "core/error.h"
#include "ops/loss.h"

#include "test_util.h"

static bienc_biencoder *tiny_bi(int pool, int normalize)
{
    bienc_encoder_config c = tiny_cfg();
    bienc_biencoder_opts o;
    biencoder_opts_default(&o);
    o.pool = (bienc_pool_mode)pool;
    o.normalize = normalize;
    o.max_query_len = 6;
    o.max_passage_len = 20;
    bienc_biencoder *bi = NULL;
    assert_int_equal(biencoder_new(&bi, &c, 7, tiny_tok(), &o), 0);
    return bi;
}

static void test_new_errors(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_cfg();
    bienc_biencoder_opts o;
    biencoder_opts_default(&o);
    o.max_query_len = 6; /* passage 128 > max positions 24 */
    bienc_biencoder *bi = (bienc_biencoder *)1;
    assert_int_equal(biencoder_new(&bi, &c, 1, tiny_tok(), &o), BIENC_EINVAL);
    assert_null(bi);
    assert_non_null(strstr(bienc_last_error(), "max passage length 128"));
    o.max_passage_len = 20;
    c.vocab_size = 10; /* tokenizer has 20 tokens */
    assert_int_equal(biencoder_new(&bi, &c, 1, tiny_tok(), &o), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "vocab_size"));
    c = tiny_cfg();
    bienc_tokenizer *nocls = NULL;
    const char *v[] = {"[PAD]", "[UNK]", "cat"};
    assert_int_equal(tokenizer_from_vocab_lines(&nocls, v, 3, 1, "t"), 0);
    assert_int_equal(biencoder_new(&bi, &c, 1, nocls, &o), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "[CLS]"));
    assert_int_equal(biencoder_new(&bi, NULL, 1, NULL, &o), BIENC_EINVAL);
    biencoder_free(NULL);
}

static const char *k_texts[] = {"the cat sat on the mat", "dog", "", "a big red dog runs fast on the blue mat x x",
                                "cats", "slow slow slow", "the the the the the the the the the the the the the the "
                                "the the the the the the the the the the the the",
                                "blue", "red cat", "zebra unknown words"};
#define NT ((int64_t)(sizeof k_texts / sizeof *k_texts))

static void test_encode_order_and_batching(void **state)
{
    (void)state;
    bienc_biencoder *bi = tiny_bi(BIENC_POOL_MEAN, 1);
    int C = biencoder_dim(bi);
    assert_int_equal(C, 16);
    float *all = malloc(NT * C * sizeof(float)), *one = malloc(C * sizeof(float)), *b3 = malloc(NT * C * sizeof(float));
    assert_int_equal(biencoder_encode_texts(bi, NULL, k_texts, NULL, NT, BIENC_SIDE_PASSAGE, 64, all), 0);
    assert_int_equal(biencoder_encode_texts(bi, NULL, k_texts, NULL, NT, BIENC_SIDE_PASSAGE, 3, b3), 0);
    for (int64_t i = 0; i < NT; i++) {
        /* each text alone must give its row: the order is restored after sorting */
        assert_int_equal(biencoder_encode_texts(bi, NULL, &k_texts[i], NULL, 1, BIENC_SIDE_PASSAGE, 1, one), 0);
        double norm = 0;
        for (int c = 0; c < C; c++) {
            assert_true(fabsf(one[c] - all[i * C + c]) < 1e-5f);
            assert_true(fabsf(b3[i * C + c] - all[i * C + c]) < 1e-5f);
            norm += (double)all[i * C + c] * all[i * C + c];
        }
        assert_true(fabs(norm - 1.0) < 1e-5); /* normalize = 1 */
    }
    /* distinct texts give distinct embeddings (not all rows the same) */
    double d = 0;
    for (int c = 0; c < C; c++) d += fabsf(all[c] - all[C + c]);
    assert_true(d > 1e-3);
    /* the query side truncates at 6 tokens: the long text differs between sides, "dog" does not */
    float *q = malloc(NT * C * sizeof(float));
    assert_int_equal(biencoder_encode_texts(bi, NULL, k_texts, NULL, NT, BIENC_SIDE_QUERY, 4, q), 0);
    double dq_long = 0, dq_short = 0;
    for (int c = 0; c < C; c++) {
        dq_long += fabsf(q[3 * C + c] - all[3 * C + c]);
        dq_short += fabsf(q[1 * C + c] - all[1 * C + c]);
    }
    assert_true(dq_long > 1e-3);
    assert_true(dq_short < 1e-5);
    /* explicit lengths: a prefix of a text */
    size_t len = 3;
    const char *t = "dogs and cats";
    assert_int_equal(biencoder_encode_texts(bi, NULL, &t, &len, 1, BIENC_SIDE_QUERY, 8, one), 0);
    for (int c = 0; c < C; c++) assert_true(fabsf(one[c] - all[1 * C + c]) < 1e-5f);
    free(q);
    free(all);
    free(one);
    free(b3);
    biencoder_free(bi);
}

static void test_encode_threads_and_tape(void **state)
{
    (void)state;
    bienc_biencoder *bi = tiny_bi(BIENC_POOL_MAX, 0);
    int C = biencoder_dim(bi);
    float *a = malloc(NT * C * sizeof(float)), *b = malloc(NT * C * sizeof(float));
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(biencoder_encode_texts(bi, NULL, k_texts, NULL, NT, BIENC_SIDE_PASSAGE, 4, a), 0);
    omp_set_num_threads(2);
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    assert_int_equal(tape_grad_enabled(tape), 1);
    assert_int_equal(biencoder_encode_texts(bi, tape, k_texts, NULL, NT, BIENC_SIDE_PASSAGE, 4, b), 0);
    omp_set_num_threads(saved);
    assert_memory_equal(a, b, NT * C * sizeof(float));
    assert_int_equal(tape_bytes_used(tape), 0);   /* reset after the last batch */
    assert_int_equal(tape_grad_enabled(tape), 1); /* grad mode restored */
    assert_int_equal(tape_node_count(tape), 0);
    /* parameters got no gradient from inference */
    for (int i = 0; i < bi->enc->n_params; i++)
        for (int64_t j = 0; j < bi->enc->params[i]->size; j++) assert_true(bi->enc->params[i]->grad[j] == 0.0f);
    tape_free(tape);
    assert_int_equal(biencoder_encode_texts(bi, NULL, NULL, NULL, 3, BIENC_SIDE_QUERY, 4, a), BIENC_EINVAL);
    assert_int_equal(biencoder_encode_texts(bi, NULL, k_texts, NULL, 0, BIENC_SIDE_QUERY, 4, a), 0);
    free(a);
    free(b);
    biencoder_free(bi);
}

/* Both towers on one tape: the gradient of lq(queries) + lp(passages) equals the sum of the
 * gradients of lq alone and lp alone (shared weights accumulate both towers). */
static void grads_of(bienc_biencoder *bi, bienc_tape *tape, const bienc_batch_ids *qb, const bienc_batch_ids *pb,
                     int which, float *g)
{
    encoder_zero_grad(bi->enc);
    tape_reset(tape);
    bienc_tensor *q = NULL, *p = NULL, *lq = NULL, *lp = NULL, *l, *zq, *zp;
    if (which & 1) {
        assert_int_equal(biencoder_embed(bi, tape, qb, 1, 11, &q), 0);
        assert_int_equal(tape_tensor_zeros(tape, 2, q->shape, &zq), 0);
        assert_int_equal(loss_mse(tape, q, zq, &lq), 0);
    }
    if (which & 2) {
        assert_int_equal(biencoder_embed(bi, tape, pb, 1, 12, &p), 0);
        assert_int_equal(tape_tensor_zeros(tape, 2, p->shape, &zp), 0);
        assert_int_equal(loss_mse(tape, p, zp, &lp), 0);
    }
    if (which == 3) {
        bienc_tensor *ls[2] = {lq, lp};
        float w[2] = {1.0f, 1.0f};
        assert_int_equal(op_weighted_sum(tape, 2, ls, w, &l), 0);
    } else {
        l = which == 1 ? lq : lp;
    }
    assert_int_equal(tape_backward(tape, l), 0);
    int64_t o = 0;
    for (int i = 0; i < bi->enc->n_params; i++) {
        memcpy(g + o, bi->enc->params[i]->grad, bi->enc->params[i]->size * sizeof(float));
        o += bi->enc->params[i]->size;
    }
}

static void test_twin_towers_share_grads(void **state)
{
    (void)state;
    bienc_biencoder *bi = tiny_bi(BIENC_POOL_MEAN, 0);
    int32_t qids[] = {2, 7, 3, 2, 8, 3}, pids[] = {2, 7, 9, 10, 11, 3, 2, 8, 12, 13, 3};
    int qoff[] = {0, 3, 6}, poff[] = {0, 6, 11};
    bienc_batch_ids qb = {.ids = qids, .seqs = {.n = 2, .offsets = qoff}};
    bienc_batch_ids pb = {.ids = pids, .seqs = {.n = 2, .offsets = poff}};
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    int64_t tot = encoder_num_scalars(bi->enc);
    float *gq = calloc(tot, sizeof(float)), *gp = calloc(tot, sizeof(float)), *gb = calloc(tot, sizeof(float));
    grads_of(bi, tape, &qb, &pb, 1, gq);
    grads_of(bi, tape, &qb, &pb, 2, gp);
    grads_of(bi, tape, &qb, &pb, 3, gb);
    double nq = 0, np = 0, err = 0;
    for (int64_t j = 0; j < tot; j++) {
        nq += fabsf(gq[j]);
        np += fabsf(gp[j]);
        double e = fabs((double)gb[j] - ((double)gq[j] + gp[j]));
        if (e > err) err = e;
    }
    assert_true(nq > 0 && np > 0);
    assert_true(err < 1e-6);
    free(gq);
    free(gp);
    free(gb);
    tape_free(tape);
    biencoder_free(bi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_encode_order_and_batching),
        cmocka_unit_test(test_encode_threads_and_tape),
        cmocka_unit_test(test_twin_towers_share_grads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
