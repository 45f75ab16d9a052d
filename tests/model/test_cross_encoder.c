/* Unit tests of the cross-encoder: tanh op gradients, pair layout and truncation, head
 * gradients by finite differences, batched scoring (order restored, batch-size independent),
 * construction errors. Parity with PyTorch: tests/torch/test_cross_encoder.py. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/cross_encoder.h"
#include "core/error.h"
#include "ops/grad_check.h"
#include "core/cpu.h"

#include "test_util.h"

/* Dropout off: scores and finite differences need a deterministic forward. */
static bienc_encoder_config tiny_ce_cfg(void)
{
    bienc_encoder_config c = tiny_cfg();
    c.hidden_dropout = 0;
    c.attention_dropout = 0;
    return c;
}

static bienc_cross_encoder *tiny_ce(int max_len, int max_q)
{
    bienc_encoder_config c = tiny_ce_cfg();
    bienc_cross_encoder *ce = NULL;
    assert_int_equal(cross_encoder_new(&ce, &c, 11, tiny_tok(), max_len, max_q), 0);
    return ce;
}

static int build_tanh(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    (void)arg;
    return op_tanh(tape, in[0], out);
}

static void test_tanh(void **state)
{
    (void)state;
    bienc_rng rng;
    rng_seed(&rng, 3);
    bienc_tensor *x = gc_param(2, (int64_t[]){5, 7}, &rng, -3, 3);
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *y;
    assert_int_equal(op_tanh(tape, x, &y), 0);
    for (int64_t i = 0; i < x->size; i++) assert_true(fabsf(y->data[i] - tanhf(x->data[i])) < 1e-7f);
    tape_free(tape);
    assert_true(gc_check("tanh", build_tanh, &x, 1, NULL, 1e-3, 8, 5) < 1e-2);
    tensor_free(x);
}

static void test_pair_layout(void **state)
{
    (void)state;
    bienc_cross_encoder *ce = tiny_ce(10, 4);
    int32_t ids[16], types[16]; /* room for the larger max_len below */
    int n = 0;
    /* query "the cat sat" is cut to 2 pieces (max_query_len 4 with [CLS] [SEP]) */
    assert_int_equal(cross_encoder_tokenize_pair(ce, "the cat sat", 11, "a dog runs fast on the mat", 26, ids, types, &n), 0);
    assert_int_equal(n, 10);
    int32_t want[] = {2, 5, 7, 3, 6, 8, 12, 13, 14, 3};    /* [CLS] the cat [SEP] a dog run ##s fast [SEP] */
    int32_t wtyp[] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < n; i++) {
        assert_int_equal(ids[i], want[i]);
        assert_int_equal(types[i], wtyp[i]);
    }
    /* short texts: no truncation, empty passage keeps both [SEP] */
    assert_int_equal(cross_encoder_tokenize_pair(ce, "dog", 3, "", 0, ids, types, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 8);
    assert_int_equal(ids[2], 3);
    assert_int_equal(ids[3], 3);
    assert_int_equal(types[3], 1);
    cross_encoder_free(ce);

    /* three token types: passage pieces found in the query are type 2 */
    bienc_encoder_config c3 = tiny_ce_cfg();
    c3.type_vocab_size = 3;
    assert_int_equal(cross_encoder_new(&ce, &c3, 11, tiny_tok(), 12, 6), 0);
    assert_int_equal(cross_encoder_tokenize_pair(ce, "the cat", 7, "a cat sat on the mat", 20, ids, types, &n), 0);
    assert_int_equal(n, 11);  /* [CLS] the cat [SEP] a cat sat on the mat [SEP] */
    int32_t wtyp3[] = {0, 0, 0, 0, 1, 2, 1, 1, 2, 1, 1};
    for (int i = 0; i < n; i++) assert_int_equal(types[i], wtyp3[i]);
    cross_encoder_free(ce);
}

typedef struct ce_arg {
    bienc_cross_encoder *ce;
    bienc_batch_ids *batch;
} ce_arg;

static int build_ce(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    (void)in;
    ce_arg *a = arg;
    return cross_encoder_forward(a->ce, tape, a->batch, 0, 0, out);
}

static void test_head_gradients(void **state)
{
    (void)state;
    bienc_cross_encoder *ce = tiny_ce(16, 6);
    /* larger weights than the 0.02 init so the tanh is not in its linear range */
    bienc_rng rng;
    rng_seed(&rng, 9);
    for (int i = 0; i < ce->n_params; i++)
        if (ce->params[i]->ndim == 2)
            for (int64_t j = 0; j < ce->params[i]->size; j++) ce->params[i]->data[j] = 0.5f * rng_normal(&rng);
    int32_t ids[48], types[48];
    int offs[4] = {0};
    const char *q[3] = {"the cat", "dog", "big red x"}, *p[3] = {"sat on the mat", "a dog runs", "blue"};
    for (int i = 0; i < 3; i++) {
        int n;
        assert_int_equal(cross_encoder_tokenize_pair(ce, q[i], strlen(q[i]), p[i], strlen(p[i]), ids + offs[i],
                                                     types + offs[i], &n), 0);
        offs[i + 1] = offs[i] + n;
    }
    bienc_batch_ids batch = {.ids = ids, .type_ids = types, .seqs = {.n = 3, .offsets = offs}};
    ce_arg a = {ce, &batch};
    bienc_tensor *in[] = {ce->cls_w, ce->cls_b, ce->pooler_w, ce->pooler_b,
                          cross_encoder_find_param(ce, "embeddings.token_type_embeddings.weight"),
                          cross_encoder_find_param(ce, "encoder.layer.1.output.dense.weight")};
    for (int i = 0; i < 6; i++) assert_non_null(in[i]);
    assert_true(gc_check("cross_encoder", build_ce, in, 6, &a, 1e-2, 6, 21) < 2e-2);
    cross_encoder_free(ce);
}

static void test_score(void **state)
{
    (void)state;
    bienc_cross_encoder *ce = tiny_ce(16, 6);
    const char *q[5] = {"the cat", "dog", "big red x", "a", "slow blue dog runs fast"};
    const char *p[5] = {"sat on the mat", "a dog runs", "blue", "the big big big red red cat sat on a mat", "x"};
    float s1[5], s3[5], one;
    assert_int_equal(cross_encoder_score(ce, NULL, q, NULL, p, NULL, 5, 1, s1), 0);
    assert_int_equal(cross_encoder_score(ce, NULL, q, NULL, p, NULL, 5, 3, s3), 0);
    for (int i = 0; i < 5; i++) {
        assert_true(isfinite(s1[i]));
        assert_true(fabsf(s1[i] - s3[i]) <= 1e-6f * (1 + fabsf(s1[i])));
        assert_int_equal(cross_encoder_score(ce, NULL, q + i, NULL, p + i, NULL, 1, 8, &one), 0);
        assert_true(fabsf(one - s1[i]) <= 1e-6f * (1 + fabsf(one)));
    }
    /* the pair order matters: (q, p) and (p, q) give different token types */
    float sw;
    assert_int_equal(cross_encoder_score(ce, NULL, p, NULL, q, NULL, 1, 8, &sw), 0);
    assert_true(sw != s1[0]);
    cross_encoder_free(ce);
}

/* bf16 scoring: the same pairs through a bf16 tape, on the CPU's bf16 kernel and on the
 * fallback, against fp32. The head is scaled so that the logits spread over O(1), as a
 * trained reranker's do (a fresh head's logits are ~0.01 apart, which no tolerance would
 * tell from noise). Tolerance: every product's inputs lose all but 8 significant bits
 * (relative error <= 2^-9 each, ~2^-8 per product), and the error of the 2 layers' ~10
 * products adds up, damped by LayerNorm and tanh; a logit moves by well under 2% of the
 * logits' scale (measured: ~0.3%), so 2% of max |logit| is the bound. The scores must
 * also differ from fp32's somewhere: equal bits would mean the bf16 path never ran. */
static void test_score_bf16(void **state)
{
    (void)state;
    bienc_cross_encoder *ce = tiny_ce(16, 6);
    for (int64_t i = 0; i < ce->cls_w->size; i++) ce->cls_w->data[i] *= 100;
    const char *q[6] = {"the cat", "dog", "big red x", "a", "slow blue dog runs fast", "the cat sat"};
    const char *p[6] = {"sat on the mat", "a dog runs", "blue", "the big big big red red cat sat on a mat", "x",
                        "a dog runs fast on the mat"};
    float fp[6], own[6], bf[6];
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    /* an fp32 tape gives exactly the scores of the default (NULL) tape */
    assert_int_equal(cross_encoder_score(ce, NULL, q, NULL, p, NULL, 6, 4, fp), 0);
    assert_int_equal(cross_encoder_score(ce, tape, q, NULL, p, NULL, 6, 4, own), 0);
    assert_memory_equal(fp, own, sizeof fp);
    double scale = 0;
    for (int i = 0; i < 6; i++) scale = fmax(scale, fabs(fp[i]));
    assert_true(scale > 0.5); /* the scaled head spreads the logits */
    bienc_bf16_path before = cpu_bf16_path();
    bienc_bf16_path paths[2] = {before, BIENC_BF16_FALLBACK};
    for (int k = 0; k < 2; k++) {
        cpu_bf16_set_path(paths[k]);
        tape_set_precision(tape, BIENC_PRECISION_BF16);
        assert_int_equal(cross_encoder_score(ce, tape, q, NULL, p, NULL, 6, 4, bf), 0);
        assert_int_equal(tape_precision(tape), BIENC_PRECISION_BF16); /* kept */
        double worst = 0;
        int same = 0;
        for (int i = 0; i < 6; i++) {
            assert_true(isfinite(bf[i]));
            worst = fmax(worst, fabs(bf[i] - fp[i]));
            same += bf[i] == fp[i];
        }
        printf("  bf16 (%s) vs fp32 logits: max |diff| %.3g, %.2f%% of max |logit| %.3g; %d of 6 equal\n",
               cpu_bf16_path_name(cpu_bf16_path()), worst, 100 * worst / scale, scale, same);
        assert_true(worst <= 0.02 * scale);
        assert_true(same < 6);
    }
    cpu_bf16_set_path(before);
    tape_free(tape);
    cross_encoder_free(ce);
}

static void test_new_errors(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_ce_cfg();
    bienc_cross_encoder *ce = NULL;
    assert_int_equal(cross_encoder_new(&ce, &c, 1, tiny_tok(), 3, 2), BIENC_EINVAL);
    assert_int_equal(cross_encoder_new(&ce, &c, 1, tiny_tok(), 25, 4), BIENC_EINVAL);
    assert_int_equal(cross_encoder_new(&ce, &c, 1, tiny_tok(), 10, 9), BIENC_EINVAL);
    c.type_vocab_size = 1;
    assert_int_equal(cross_encoder_new(&ce, &c, 1, tiny_tok(), 10, 4), BIENC_EINVAL);
    assert_null(ce);
    assert_int_equal(cross_encoder_new(&ce, NULL, 1, NULL, 10, 4), BIENC_EINVAL);
    cross_encoder_free(NULL);
    c = tiny_ce_cfg();
    assert_int_equal(cross_encoder_new(&ce, &c, 1, tiny_tok(), 10, 4), 0);
    assert_int_equal(ce->n_params, ce->enc->n_params + 4);
    assert_string_equal(ce->params[ce->n_params - 1]->name, "classifier.bias");
    assert_int_equal(ce->cls_w->shape[0], 1);
    assert_int_equal(ce->cls_w->shape[1], 16);
    assert_null(cross_encoder_find_param(ce, "nope"));
    cross_encoder_free(ce);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tanh),          cmocka_unit_test(test_pair_layout), cmocka_unit_test(test_head_gradients),
        cmocka_unit_test(test_score),         cmocka_unit_test(test_score_bf16),  cmocka_unit_test(test_new_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
