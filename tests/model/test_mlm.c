/* Unit tests of the MLM head and masking: head gradients by finite differences (alone, and
 * through a whole encoder with the tied decoder), BERT's 15% / 80-10-10 masking statistics
 * with the specials never chosen, head construction. Parity with PyTorch: the mlm cases of
 * tests/torch/test_heads.py. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "model/mlm.h"
#include "ops/grad_check.h"

#include "test_util.h"

static const int32_t k_pos[] = {0, 2, 3, 6, 9, 10};
static const int32_t k_lab[] = {5, 7, 7, 19, 0, 12};
#define NM 6

/* in: hidden, word_emb, then the head's five parameters */
static int build_head(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    bienc_mlm_head h = {.dense_w = in[2], .dense_b = in[3], .ln_w = in[4], .ln_b = in[5], .bias = in[6],
                        .activation = *(bienc_gelu_kind *)arg, .eps = 1e-12f};
    return mlm_loss(tape, &h, in[1], in[0], k_pos, k_lab, NM, out);
}

static void test_head_grad(void **state)
{
    (void)state;
    bienc_rng rng;
    rng_seed(&rng, 11);
    int64_t T = 12, C = 8, V = NV;
    bienc_tensor *in[7] = {
        gc_param(2, (int64_t[]){T, C}, &rng, -1, 1),  gc_param(2, (int64_t[]){V, C}, &rng, -0.5f, 0.5f),
        gc_param(2, (int64_t[]){C, C}, &rng, -0.4f, 0.4f), gc_param(1, (int64_t[]){C}, &rng, -0.1f, 0.1f),
        gc_param(1, (int64_t[]){C}, &rng, 0.8f, 1.2f),  gc_param(1, (int64_t[]){C}, &rng, -0.1f, 0.1f),
        gc_param(1, (int64_t[]){V}, &rng, -0.1f, 0.1f)};
    for (int kind = 0; kind < 2; kind++) {
        bienc_gelu_kind act = kind ? BIENC_GELU_TANH : BIENC_GELU_ERF;
        assert_true(gc_check(kind ? "mlm head (gelu_new)" : "mlm head (gelu)", build_head, in, 7, &act, 1e-2, 8, 3) <
                    1e-2);
    }
    for (int i = 0; i < 7; i++) tensor_free(in[i]);
}

/* The whole model: encoder states -> head, the decoder tied to the encoder's embeddings
 * (the word embeddings get both paths: input lookup and decoder). */
typedef struct {
    bienc_encoder *enc;
    bienc_mlm_head *head;
    bienc_batch_ids batch;
} model_arg;

static int build_model(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    (void)in;
    model_arg *a = arg;
    bienc_tensor *hidden;
    BIENC_TRY(encoder_forward(a->enc, tape, &a->batch, 0, 0, &hidden));
    return mlm_loss(tape, a->head, encoder_find_param(a->enc, "embeddings.word_embeddings.weight"), hidden, k_pos, k_lab,
                    NM, out);
}

static void test_model_grad(void **state)
{
    (void)state;
    bienc_encoder_config cfg = tiny_cfg();
    cfg.hidden_dropout = cfg.attention_dropout = 0;
    model_arg a;
    assert_int_equal(encoder_new(&a.enc, &cfg, 5), 0);
    assert_int_equal(mlm_head_new(&a.head, &cfg, 5), 0);
    static const int32_t ids[12] = {2, 4, 7, 4, 3, 2, 8, 9, 10, 4, 4, 3};
    static const int offsets[3] = {0, 5, 12};
    a.batch = (bienc_batch_ids){.ids = ids, .type_ids = NULL, .seqs = {2, offsets}};
    bienc_tensor *word = encoder_find_param(a.enc, "embeddings.word_embeddings.weight");
    bienc_tensor *in[4] = {word, encoder_find_param(a.enc, "encoder.layer.1.output.LayerNorm.weight"),
                           a.head->dense_w, a.head->bias};
    assert_non_null(word);
    assert_non_null(in[1]);
    assert_true(gc_check("encoder + mlm head", build_model, in, 4, &a, 1e-2, 6, 9) < 2e-2);
    mlm_head_free(a.head);
    encoder_free(a.enc);
}

static void test_head_new(void **state)
{
    (void)state;
    bienc_encoder_config cfg = tiny_cfg();
    bienc_mlm_head *h = NULL;
    assert_int_equal(mlm_head_new(&h, &cfg, 1), 0);
    const char *names[BIENC_MLM_N_PARAMS] = {"cls.predictions.transform.dense.weight",
                                             "cls.predictions.transform.dense.bias",
                                             "cls.predictions.transform.LayerNorm.weight",
                                             "cls.predictions.transform.LayerNorm.bias", "cls.predictions.bias"};
    for (int i = 0; i < BIENC_MLM_N_PARAMS; i++) assert_string_equal(h->params[i]->name, names[i]);
    assert_int_equal(h->bias->shape[0], NV);
    assert_true(h->ln_w->data[0] == 1.0f && h->ln_b->data[0] == 0.0f && h->bias->data[NV - 1] == 0.0f);
    double s2 = 0;
    for (int64_t i = 0; i < h->dense_w->size; i++) s2 += (double)h->dense_w->data[i] * h->dense_w->data[i];
    double sd = sqrt(s2 / (double)h->dense_w->size);
    assert_true(fabs(sd - cfg.initializer_range) < 0.25 * cfg.initializer_range);
    mlm_head_free(h);
    cfg.hidden_size = 0;
    assert_true(mlm_head_new(&h, &cfg, 1) < 0);
    assert_null(h);
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *loss;
    assert_int_equal(mlm_loss(tape, NULL, NULL, NULL, k_pos, k_lab, 1, &loss), BIENC_EINVAL);
    tape_free(tape);
}

/* 15% chosen among the non-special tokens, of them 80% [MASK] / 10% random / 10% kept. */
static void test_mask_stats(void **state)
{
    (void)state;
    enum { T = 200000 };
    int32_t *ids = malloc(T * sizeof *ids), *orig = malloc(T * sizeof *orig);
    int32_t *pos = malloc(T * sizeof *pos), *lab = malloc(T * sizeof *lab);
    const int32_t special[3] = {2, 3, 0}; /* [CLS] [SEP] [PAD] */
    bienc_rng rng;
    rng_seed(&rng, 7);
    int64_t n_normal = 0;
    for (int t = 0; t < T; t++) {
        ids[t] = t % 50 == 0 ? 2 : t % 50 == 49 ? 3 : t % 97 == 5 ? 0 : 5 + (int32_t)rng_below(&rng, NV - 5);
        orig[t] = ids[t];
        n_normal += ids[t] != 2 && ids[t] != 3 && ids[t] != 0;
    }
    int64_t M;
    mlm_mask(ids, T, special, 3, 0.15f, 4, NV, &rng, pos, lab, &M);
    int64_t masked = 0, kept = 0, random = 0, changed_elsewhere = 0;
    for (int64_t i = 0; i < M; i++) {
        int32_t o = orig[pos[i]], now = ids[pos[i]];
        assert_int_equal(lab[i], o);
        assert_true(o != 2 && o != 3 && o != 0);
        if (now == 4) masked++;
        else if (now == o) kept++;
        else random++;
        if (i) assert_true(pos[i] > pos[i - 1]);
    }
    int64_t j = 0;
    for (int t = 0; t < T; t++) {
        if (j < M && pos[j] == t) {
            j++;
            continue;
        }
        changed_elsewhere += ids[t] != orig[t];
    }
    double chosen = (double)M / n_normal;
    /* a random token equal to the original counts as kept: 10% * (1 + 1/NV) kept */
    printf("  chosen %.4f of %lld maskable; [MASK] %.4f random %.4f kept %.4f\n", chosen, (long long)n_normal,
           (double)masked / M, (double)random / M, (double)kept / M);
    assert_int_equal(changed_elsewhere, 0);
    assert_true(fabs(chosen - 0.15) < 0.005);
    assert_true(fabs((double)masked / M - 0.8) < 0.01);
    assert_true(fabs((double)random / M - 0.1 * (1 - 1.0 / NV)) < 0.01);
    assert_true(fabs((double)kept / M - 0.1 * (1 + 1.0 / NV)) < 0.01);

    /* a short sequence where nothing is drawn still gets one target, never a special */
    int32_t few[3] = {2, 9, 3};
    for (int k = 0; k < 50; k++) {
        few[1] = 9;
        mlm_mask(few, 3, special, 3, 0.0f, 4, NV, &rng, pos, lab, &M);
        assert_int_equal(M, 1);
        assert_int_equal(pos[0], 1);
        assert_int_equal(lab[0], 9);
    }
    int32_t only[2] = {2, 3};
    mlm_mask(only, 2, special, 3, 1.0f, 4, NV, &rng, pos, lab, &M);
    assert_int_equal(M, 0);
    free(ids);
    free(orig);
    free(pos);
    free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_head_grad), cmocka_unit_test(test_model_grad),
                                       cmocka_unit_test(test_head_new), cmocka_unit_test(test_mask_stats)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
