/* Unit tests of the BERT-style encoder: parameter names and init, config and input
 * validation, determinism (seed, thread count), padding invariance, dropout keys and
 * constant memory over training steps. Numerical parity is tests/torch/test_encoder.py. */
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

#include "model/encoder.h"
#include "core/error.h"
#include "core/rng.h"
#include "expect_abort.h"

static bienc_encoder_config tiny_config(void)
{
    bienc_encoder_config c;
    encoder_config_default(&c);
    c.vocab_size = 50;
    c.hidden_size = 16;
    c.num_layers = 2;
    c.num_heads = 4;
    c.intermediate_size = 32;
    c.max_position_embeddings = 20;
    c.type_vocab_size = 2;
    c.hidden_dropout = c.attention_dropout = 0.0f;
    return c;
}

/* Three sequences of lengths 3, 7 and 5 with fixed pseudo-random ids. */
static int32_t g_ids[15];
static int g_offsets[4] = {0, 3, 10, 15};
static bienc_batch_ids tiny_batch(void)
{
    bienc_rng rng;
    rng_seed(&rng, 99);
    for (int i = 0; i < 15; i++) g_ids[i] = (int32_t)rng_below(&rng, 50);
    return (bienc_batch_ids){g_ids, NULL, {.n = 3, .offsets = g_offsets}};
}

static void test_param_names_shapes(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    bienc_encoder *enc = NULL;
    assert_int_equal(encoder_new(&enc, &c, 1), 0);
    assert_int_equal(encoder_param_count(enc), 5 + 16 * 2);
    bienc_tensor **p = encoder_params(enc);
    assert_string_equal(p[0]->name, "embeddings.word_embeddings.weight");
    assert_int_equal(p[0]->shape[0], 50);
    assert_int_equal(p[0]->shape[1], 16);
    assert_string_equal(p[1]->name, "embeddings.position_embeddings.weight");
    assert_int_equal(p[1]->shape[0], 20);
    assert_string_equal(p[2]->name, "embeddings.token_type_embeddings.weight");
    assert_string_equal(p[3]->name, "embeddings.LayerNorm.weight");
    assert_string_equal(p[4]->name, "embeddings.LayerNorm.bias");
    static const char *layer[] = {
        "attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight",
        "attention.self.key.bias", "attention.self.value.weight", "attention.self.value.bias",
        "attention.output.dense.weight", "attention.output.dense.bias", "attention.output.LayerNorm.weight",
        "attention.output.LayerNorm.bias", "intermediate.dense.weight", "intermediate.dense.bias",
        "output.dense.weight", "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias"};
    char name[128];
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 16; i++) {
            snprintf(name, sizeof name, "encoder.layer.%d.%s", l, layer[i]);
            assert_string_equal(p[5 + 16 * l + i]->name, name);
            assert_ptr_equal(encoder_find_param(enc, name), p[5 + 16 * l + i]);
        }
    bienc_tensor *w = encoder_find_param(enc, "encoder.layer.1.intermediate.dense.weight");
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 32);
    assert_int_equal(w->shape[1], 16);
    w = encoder_find_param(enc, "encoder.layer.1.output.dense.weight");
    assert_int_equal(w->shape[0], 16);
    assert_int_equal(w->shape[1], 32);
    assert_int_equal(encoder_find_param(enc, "encoder.layer.1.attention.self.query.bias")->ndim, 1);
    assert_ptr_equal(enc->layers[1].inter_w, encoder_find_param(enc, "encoder.layer.1.intermediate.dense.weight"));
    assert_null(encoder_find_param(enc, "pooler.dense.weight"));
    assert_non_null(strstr(bienc_last_error(), "pooler.dense.weight"));
    /* V C + P C + Y C + 2 C + L (4 (C C + C) + 4 C + I C + I + C I + C) */
    int64_t per_layer = 4 * (16 * 16 + 16) + 4 * 16 + 32 * 16 + 32 + 16 * 32 + 16;
    assert_int_equal(encoder_num_scalars(enc), 50 * 16 + 20 * 16 + 2 * 16 + 2 * 16 + 2 * per_layer);
    for (int i = 0; i < encoder_param_count(enc); i++) {
        assert_true(p[i]->requires_grad);
        assert_non_null(p[i]->grad);
    }
    encoder_free(enc);
    encoder_free(NULL);
}

static void test_init_statistics(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    c.vocab_size = 2000;  /* 32000 draws: mean and std well determined */
    bienc_encoder *enc = NULL;
    assert_int_equal(encoder_new(&enc, &c, 5), 0);
    bienc_tensor *w = enc->word_emb;
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < w->size; i++) s += w->data[i], s2 += (double)w->data[i] * w->data[i];
    double mean = s / w->size, std = sqrt(s2 / w->size - mean * mean);
    assert_true(fabs(mean) < 0.001);
    assert_true(fabs(std - 0.02) < 0.0005);
    for (int l = 0; l < 2; l++) {
        bienc_encoder_layer *L = &enc->layers[l];
        for (int i = 0; i < 16; i++) {
            assert_true(L->query_b->data[i] == 0.0f && L->out_b->data[i] == 0.0f);
            assert_true(L->attn_ln_w->data[i] == 1.0f && L->attn_ln_b->data[i] == 0.0f);
            assert_true(L->out_ln_w->data[i] == 1.0f && L->out_ln_b->data[i] == 0.0f);
        }
        double q2 = 0;
        for (int64_t i = 0; i < L->query_w->size; i++) q2 += (double)L->query_w->data[i] * L->query_w->data[i];
        assert_true(fabs(sqrt(q2 / L->query_w->size) - 0.02) < 0.004);
    }
    assert_true(enc->emb_ln_w->data[3] == 1.0f && enc->emb_ln_b->data[3] == 0.0f);
    encoder_free(enc);
}

static void test_config_errors(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    assert_int_equal(encoder_config_check(&c), 0);
    bienc_encoder_config d;
    encoder_config_default(&d);
    assert_int_equal(encoder_config_check(&d), 0);
    assert_true(d.layer_norm_eps == 1e-12f && d.vocab_size == 30522 && d.hidden_size == 768);
    encoder_config_minilm_l6(&d);
    assert_int_equal(encoder_config_check(&d), 0);
    assert_true(d.hidden_size == 384 && d.num_layers == 6 && d.intermediate_size == 1536 && d.num_heads == 12);

    struct { const char *field; bienc_encoder_config c; } bad[8];
    for (int i = 0; i < 8; i++) bad[i].c = c;
    bad[0].field = "hidden_size"; bad[0].c.hidden_size = 18;  /* not a multiple of 4 heads */
    bad[1].field = "vocab_size"; bad[1].c.vocab_size = 0;
    bad[2].field = "num_layers"; bad[2].c.num_layers = -1;
    bad[3].field = "hidden_dropout"; bad[3].c.hidden_dropout = 1.0f;
    bad[4].field = "layer_norm_eps"; bad[4].c.layer_norm_eps = 0.0f;
    bad[5].field = "max_position_embeddings"; bad[5].c.max_position_embeddings = 0;
    bad[6].field = "attention_dropout"; bad[6].c.attention_dropout = NAN;
    bad[7].field = "activation"; bad[7].c.activation = (bienc_gelu_kind)7;
    for (int i = 0; i < 8; i++) {
        bienc_encoder *enc = (bienc_encoder *)&c;  /* must be reset to NULL on failure */
        assert_int_equal(encoder_new(&enc, &bad[i].c, 1), BIENC_EINVAL);
        assert_null(enc);
        assert_non_null(strstr(bienc_last_error(), bad[i].field));
    }
    assert_int_equal(encoder_new(NULL, &c, 1), BIENC_EINVAL);
    assert_int_equal(encoder_activation_from_name("gelu"), BIENC_GELU_ERF);
    assert_int_equal(encoder_activation_from_name("gelu_new"), BIENC_GELU_TANH);
    assert_int_equal(encoder_activation_from_name("relu"), -1);
}

static void test_batch_errors(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    assert_int_equal(encoder_new(&enc, &c, 1), 0);
    assert_int_equal(tape_new(&tape), 0);
    bienc_batch_ids b = tiny_batch();
    bienc_tensor *h = (bienc_tensor *)1;

    g_ids[4] = 50;  /* vocab is 50 */
    assert_int_equal(encoder_forward(enc, tape, &b, 0, 0, &h), BIENC_ERANGE);
    assert_null(h);
    assert_non_null(strstr(bienc_last_error(), "token 4"));
    g_ids[4] = -3;
    assert_int_equal(encoder_forward(enc, tape, &b, 0, 0, &h), BIENC_ERANGE);
    g_ids[4] = 1;

    int32_t types[15] = {0};
    types[9] = 2;  /* type vocab is 2 */
    b.type_ids = types;
    assert_int_equal(encoder_forward(enc, tape, &b, 0, 0, &h), BIENC_ERANGE);
    assert_non_null(strstr(bienc_last_error(), "token type"));
    b.type_ids = NULL;

    int32_t long_ids[25] = {0};
    int long_off[2] = {0, 21};  /* max_position_embeddings is 20 */
    bienc_batch_ids lb = {long_ids, NULL, {.n = 1, .offsets = long_off}};
    assert_int_equal(encoder_forward(enc, tape, &lb, 0, 0, &h), BIENC_ERANGE);
    assert_non_null(strstr(bienc_last_error(), "max_position_embeddings"));
    long_off[1] = 20;  /* exactly the maximum is fine */
    assert_int_equal(encoder_forward(enc, tape, &lb, 0, 0, &h), 0);
    assert_int_equal(h->shape[0], 20);

    int empty_off[4] = {0, 3, 3, 15};
    bienc_batch_ids eb = {g_ids, NULL, {.n = 3, .offsets = empty_off}};
    assert_int_equal(encoder_forward(enc, tape, &eb, 0, 0, &h), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "sequence 1"));
    int bad_off[4] = {1, 3, 10, 15};
    eb.seqs.offsets = bad_off;
    assert_int_equal(encoder_forward(enc, tape, &eb, 0, 0, &h), BIENC_EINVAL);
    assert_int_equal(encoder_forward(enc, NULL, &b, 0, 0, &h), BIENC_EINVAL);
    EXPECT_ABORT(encoder_forward(NULL, tape, &b, 0, 0, &h));
    EXPECT_ABORT(encoder_forward(enc, tape, NULL, 0, 0, &h));
    tape_free(tape);
    encoder_free(enc);
}

/* One forward + backward of the pooled sum; copies the pooled output and every
 * gradient (concatenated) into fresh buffers. */
static void step(bienc_encoder *enc, bienc_tape *tape, const bienc_batch_ids *b, int training, uint64_t key,
                 float **emb_out, float **grads_out)
{
    encoder_zero_grad(enc);
    bienc_tensor *emb;
    assert_int_equal(encoder_embed(enc, tape, b, BIENC_POOL_MEAN, 0, training, key, &emb), 0);
    float *up = malloc(sizeof(float) * (size_t)emb->size);
    for (int64_t i = 0; i < emb->size; i++) up[i] = (float)(i % 7) - 3.0f;
    assert_int_equal(tape_backward_from(tape, emb, up), 0);
    free(up);
    *emb_out = malloc(sizeof(float) * (size_t)emb->size);
    memcpy(*emb_out, emb->data, sizeof(float) * (size_t)emb->size);
    int64_t n = encoder_num_scalars(enc), o = 0;
    *grads_out = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < enc->n_params; i++) {
        memcpy(*grads_out + o, enc->params[i]->grad, sizeof(float) * (size_t)enc->params[i]->size);
        o += enc->params[i]->size;
    }
    tape_reset(tape);
}

static void test_determinism(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    c.hidden_dropout = 0.1f;
    bienc_encoder *a = NULL, *b = NULL, *d = NULL;
    assert_int_equal(encoder_new(&a, &c, 123), 0);
    assert_int_equal(encoder_new(&b, &c, 123), 0);
    assert_int_equal(encoder_new(&d, &c, 124), 0);
    int differs = 0;
    for (int i = 0; i < a->n_params; i++) {
        assert_memory_equal(a->params[i]->data, b->params[i]->data, sizeof(float) * (size_t)a->params[i]->size);
        differs |= memcmp(a->params[i]->data, d->params[i]->data, sizeof(float) * (size_t)a->params[i]->size) != 0;
    }
    assert_true(differs);

    bienc_tape *tape = NULL;
    assert_int_equal(tape_new(&tape), 0);
    bienc_batch_ids batch = tiny_batch();
    int64_t n = encoder_num_scalars(a), ne = 3 * 16;
    float *e1, *g1, *e2, *g2, *e3, *g3;
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    step(a, tape, &batch, 1, 77, &e1, &g1);
    omp_set_num_threads(2);
    step(b, tape, &batch, 1, 77, &e2, &g2);
    omp_set_num_threads(threads);
    /* Same seed and dropout key: bit for bit, whatever the thread count. */
    assert_memory_equal(e1, e2, sizeof(float) * (size_t)ne);
    assert_memory_equal(g1, g2, sizeof(float) * (size_t)n);
    /* Another dropout key gives another mask. */
    step(a, tape, &batch, 1, 78, &e3, &g3);
    assert_true(memcmp(e1, e3, sizeof(float) * (size_t)ne) != 0);
    free(e3), free(g3);
    /* Evaluation ignores the key and dropout entirely. */
    float *e4, *g4, *e5, *g5;
    step(a, tape, &batch, 0, 1, &e4, &g4);
    step(a, tape, &batch, 0, 2, &e5, &g5);
    assert_memory_equal(e4, e5, sizeof(float) * (size_t)ne);
    assert_true(memcmp(e1, e4, sizeof(float) * (size_t)ne) != 0);
    free(e1), free(g1), free(e2), free(g2), free(e4), free(g4), free(e5), free(g5);
    tape_free(tape);
    encoder_free(a);
    encoder_free(b);
    encoder_free(d);
}

/* Attention-probability dropout alone (hidden_dropout 0): changes training outputs,
 * reproducibly from the key, and never touches evaluation. */
static void test_attention_dropout(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    c.attention_dropout = 0.3f;
    bienc_encoder_config c0 = tiny_config();
    bienc_encoder *a = NULL, *b = NULL;
    assert_int_equal(encoder_new(&a, &c, 11), 0);
    assert_int_equal(encoder_new(&b, &c0, 11), 0);
    bienc_tape *tape = NULL;
    assert_int_equal(tape_new(&tape), 0);
    bienc_batch_ids batch = tiny_batch();
    float *e1, *g1, *e2, *g2, *e3, *g3, *e4, *g4;
    step(a, tape, &batch, 1, 5, &e1, &g1);
    step(a, tape, &batch, 1, 5, &e2, &g2);
    step(a, tape, &batch, 0, 5, &e3, &g3);
    step(b, tape, &batch, 1, 5, &e4, &g4);  /* same weights, no dropout at all */
    assert_memory_equal(e1, e2, sizeof(float) * 48);
    assert_memory_equal(g1, g2, sizeof(float) * (size_t)encoder_num_scalars(a));
    assert_memory_equal(e3, e4, sizeof(float) * 48);
    assert_true(memcmp(e1, e3, sizeof(float) * 48) != 0);
    free(e1), free(g1), free(e2), free(g2), free(e3), free(g3), free(e4), free(g4);
    tape_free(tape);
    encoder_free(a);
    encoder_free(b);
}

/* A sequence's embedding must not depend on the other sequences of its batch (no
 * padding leaks in through attention or pooling). */
static void test_padding_invariance(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    c.initializer_range = 0.2f;  /* sharp attention, so a leak would show */
    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    assert_int_equal(encoder_new(&enc, &c, 9), 0);
    assert_int_equal(tape_new(&tape), 0);
    tape_set_grad_enabled(tape, 0);
    bienc_batch_ids batch = tiny_batch();
    for (int pool = 0; pool < 3; pool++) {
        bienc_tensor *all, *one;
        assert_int_equal(encoder_embed(enc, tape, &batch, (bienc_pool_mode)pool, 1, 0, 0, &all), 0);
        for (int s = 0; s < 3; s++) {
            int off[2] = {0, g_offsets[s + 1] - g_offsets[s]};
            bienc_batch_ids alone = {g_ids + g_offsets[s], NULL, {.n = 1, .offsets = off}};
            assert_int_equal(encoder_embed(enc, tape, &alone, (bienc_pool_mode)pool, 1, 0, 0, &one), 0);
            for (int j = 0; j < 16; j++) assert_true(fabsf(one->data[j] - all->data[s * 16 + j]) < 1e-5f);
        }
    }
    tape_free(tape);
    encoder_free(enc);
}

/* Repeated training steps run in constant memory: the tape's arena stops growing
 * after the first step and every step uses the same bytes. */
static void test_constant_memory(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    c.hidden_dropout = 0.1f;
    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    assert_int_equal(encoder_new(&enc, &c, 3), 0);
    assert_int_equal(tape_new(&tape), 0);
    bienc_batch_ids batch = tiny_batch();
    size_t reserved = 0, used = 0, nodes = 0;
    for (int it = 0; it < 6; it++) {
        bienc_tensor *emb;
        assert_int_equal(encoder_embed(enc, tape, &batch, BIENC_POOL_MEAN, 1, 1, (uint64_t)it, &emb), 0);
        float up[48];
        for (int i = 0; i < 48; i++) up[i] = 1.0f;
        assert_int_equal(tape_backward_from(tape, emb, up), 0);
        if (it == 1) {
            reserved = tape_bytes_reserved(tape);
            used = tape_bytes_used(tape);
            nodes = tape_node_count(tape);
            assert_true(nodes > 2 * 15);  /* the whole encoder is on the tape */
        } else if (it > 1) {
            assert_int_equal(tape_bytes_reserved(tape), reserved);
            assert_int_equal(tape_bytes_used(tape), used);
            assert_int_equal(tape_node_count(tape), nodes);
        }
        tape_reset(tape);
        assert_int_equal(tape_bytes_used(tape), 0);
    }
    tape_free(tape);
    encoder_free(enc);
}

/* Gradients accumulate when the encoder is used twice before one backward (the
 * shared-weight twin towers): two towers on the same batch give twice one tower. */
static void test_twin_towers_accumulate(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    assert_int_equal(encoder_new(&enc, &c, 4), 0);
    assert_int_equal(tape_new(&tape), 0);
    bienc_batch_ids batch = tiny_batch();
    float *e1, *g1;
    step(enc, tape, &batch, 0, 0, &e1, &g1);
    encoder_zero_grad(enc);
    bienc_tensor *a, *b, *sum;
    assert_int_equal(encoder_embed(enc, tape, &batch, BIENC_POOL_MEAN, 0, 0, 0, &a), 0);
    assert_int_equal(encoder_embed(enc, tape, &batch, BIENC_POOL_MEAN, 0, 0, 0, &b), 0);
    assert_int_equal(op_add(tape, a, b, &sum), 0);
    float up[48];
    for (int64_t i = 0; i < 48; i++) up[i] = (float)(i % 7) - 3.0f;
    assert_int_equal(tape_backward_from(tape, sum, up), 0);
    int64_t o = 0;
    for (int i = 0; i < enc->n_params; i++)
        for (int64_t j = 0; j < enc->params[i]->size; j++, o++)
            assert_true(fabsf(enc->params[i]->grad[j] - 2.0f * g1[o]) <= 1e-5f * (1.0f + fabsf(g1[o])));
    free(e1), free(g1);
    tape_free(tape);
    encoder_free(enc);
}

/* Inference mode: no gradient memory, nothing recorded, same outputs; back to training. */
static void test_set_trainable(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    assert_int_equal(encoder_new(&enc, &c, 8), 0);
    assert_int_equal(tape_new(&tape), 0);
    bienc_batch_ids batch = tiny_batch();
    bienc_tensor *e1, *e2;
    assert_int_equal(encoder_embed(enc, tape, &batch, BIENC_POOL_MEAN, 1, 0, 0, &e1), 0);
    assert_true(tape_node_count(tape) > 0);
    float ref[48];
    memcpy(ref, e1->data, sizeof ref);
    tape_reset(tape);
    assert_int_equal(encoder_set_trainable(enc, 0), 0);
    for (int i = 0; i < enc->n_params; i++) assert_true(!enc->params[i]->grad && !enc->params[i]->requires_grad);
    assert_int_equal(encoder_embed(enc, tape, &batch, BIENC_POOL_MEAN, 1, 0, 0, &e2), 0);
    assert_int_equal(tape_node_count(tape), 0);
    assert_false(e2->requires_grad);
    assert_memory_equal(ref, e2->data, sizeof ref);
    tape_reset(tape);
    assert_int_equal(encoder_set_trainable(enc, 1), 0);
    float *e3, *g3;
    step(enc, tape, &batch, 0, 0, &e3, &g3);
    int nonzero = 0;
    for (int64_t i = 0; i < encoder_num_scalars(enc); i++) nonzero += g3[i] != 0.0f;
    assert_true(nonzero > 100);
    free(e3), free(g3);
    assert_int_equal(encoder_set_trainable(NULL, 0), BIENC_EINVAL);
    tape_free(tape);
    encoder_free(enc);
}

/* Without gradients the forward releases each layer's scratch (tape_mark/tape_rewind):
 * the same hidden states, bit for bit, in a fraction of the arena. */
static void test_no_grad_forward_is_lean(void **state)
{
    (void)state;
    bienc_encoder_config c = tiny_config();
    c.num_layers = 4;
    bienc_encoder *enc;
    assert_int_equal(encoder_new(&enc, &c, 5), 0);
    bienc_batch_ids b = tiny_batch();
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *h;
    assert_int_equal(encoder_forward(enc, tape, &b, 0, 0, &h), 0);
    float ref[15 * 16];
    memcpy(ref, h->data, sizeof ref);
    size_t with_grad = tape_bytes_used(tape);
    tape_reset(tape);
    tape_set_grad_enabled(tape, 0);
    assert_int_equal(encoder_forward(enc, tape, &b, 0, 0, &h), 0);
    assert_memory_equal(h->data, ref, sizeof ref);
    size_t no_grad = tape_bytes_used(tape);
    assert_true(no_grad * 2 < with_grad);
    assert_int_equal(tape_node_count(tape), 0);
    tape_free(tape);
    encoder_free(enc);
}

static void test_flops(void **state)
{
    (void)state;
    bienc_encoder_config c;
    encoder_config_minilm_l6(&c);
    int off[3] = {0, 128, 256};
    bienc_seqs s = {.n = 2, .offsets = off};
    /* 6 layers x (2 * 256 * (4 * 384^2 + 2 * 384 * 1536) + 4 * 2 * 128^2 * 384) */
    double want = 6.0 * (2.0 * 256 * (4.0 * 384 * 384 + 2.0 * 384 * 1536) + 4.0 * 2 * 128 * 128 * 384);
    assert_true(fabs(encoder_forward_flops(&c, &s) - want) < 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_names_shapes),  cmocka_unit_test(test_init_statistics),
        cmocka_unit_test(test_config_errors),       cmocka_unit_test(test_batch_errors),
        cmocka_unit_test(test_determinism),         cmocka_unit_test(test_attention_dropout),
        cmocka_unit_test(test_padding_invariance),
        cmocka_unit_test(test_constant_memory),     cmocka_unit_test(test_twin_towers_accumulate),
        cmocka_unit_test(test_set_trainable),       cmocka_unit_test(test_flops),
        cmocka_unit_test(test_no_grad_forward_is_lean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
