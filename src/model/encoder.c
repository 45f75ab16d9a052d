/* The BERT-style encoder: parameters (Hugging Face names, BERT init) and the forward
 * pass composed from ops; the tape derives the backward. See src/model/encoder.h. */
#include "model/encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

/* ---- parameters ---- */

enum { INIT_NORMAL, INIT_ZERO, INIT_ONE };

/* rng == NULL: no initialisation (the caller fills every parameter: a checkpoint reader,
 * which then skips tens of millions of normal draws, a few tenths of a second). */

/* Allocates one named parameter, appends it to enc->params and initialises it. */
static int param_add(bienc_encoder *enc, bienc_rng *rng, bienc_tensor **slot, const char *name, int64_t rows,
                     int64_t cols, int init)
{
    bienc_tensor *t = NULL;
    int rc = cols > 0 ? tensor_new_2d(&t, rows, cols, 1) : tensor_new_1d(&t, rows, 1);
    if (rc < 0) return bienc_error_context(rc, "encoder parameter %s: ", name);
    enc->params[enc->n_params++] = t;
    *slot = t;
    BIENC_TRY(tensor_set_name(t, name));
    float std = enc->cfg.initializer_range;
    if (!rng) return BIENC_OK;
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = init == INIT_NORMAL ? std * rng_normal(rng) : init == INIT_ONE ? 1.0f : 0.0f;
    return BIENC_OK;
}

static int layer_params_add(bienc_encoder *enc, bienc_rng *rng, int l)
{
    bienc_encoder_layer *L = &enc->layers[l];
    int64_t C = enc->cfg.hidden_size, I = enc->cfg.intermediate_size;
    char name[128];
#define P(slot, suffix, rows, cols, init)                                          \
    do {                                                                           \
        snprintf(name, sizeof name, "encoder.layer.%d.%s", l, suffix);             \
        BIENC_TRY(param_add(enc, rng, &L->slot, name, rows, cols, init));          \
    } while (0)
    P(query_w, "attention.self.query.weight", C, C, INIT_NORMAL);
    P(query_b, "attention.self.query.bias", C, 0, INIT_ZERO);
    P(key_w, "attention.self.key.weight", C, C, INIT_NORMAL);
    P(key_b, "attention.self.key.bias", C, 0, INIT_ZERO);
    P(value_w, "attention.self.value.weight", C, C, INIT_NORMAL);
    P(value_b, "attention.self.value.bias", C, 0, INIT_ZERO);
    P(attn_out_w, "attention.output.dense.weight", C, C, INIT_NORMAL);
    P(attn_out_b, "attention.output.dense.bias", C, 0, INIT_ZERO);
    P(attn_ln_w, "attention.output.LayerNorm.weight", C, 0, INIT_ONE);
    P(attn_ln_b, "attention.output.LayerNorm.bias", C, 0, INIT_ZERO);
    P(inter_w, "intermediate.dense.weight", I, C, INIT_NORMAL);
    P(inter_b, "intermediate.dense.bias", I, 0, INIT_ZERO);
    P(out_w, "output.dense.weight", C, I, INIT_NORMAL);
    P(out_b, "output.dense.bias", C, 0, INIT_ZERO);
    P(out_ln_w, "output.LayerNorm.weight", C, 0, INIT_ONE);
    P(out_ln_b, "output.LayerNorm.bias", C, 0, INIT_ZERO);
#undef P
    return BIENC_OK;
}

static int encoder_build(bienc_encoder *enc, uint64_t seed, int init)
{
    const bienc_encoder_config *c = &enc->cfg;
    int64_t C = c->hidden_size;
    enc->layers = calloc((size_t)c->num_layers, sizeof *enc->layers);
    enc->params = calloc((size_t)encoder_config_param_count(c), sizeof *enc->params);
    if (!enc->layers || !enc->params) return bienc_error(BIENC_ENOMEM, "encoder_new: out of memory");
    bienc_rng rng_state, *rng = init ? &rng_state : NULL;
    rng_seed(&rng_state, seed);
    BIENC_TRY(param_add(enc, rng, &enc->word_emb, "embeddings.word_embeddings.weight", c->vocab_size, C,
                        INIT_NORMAL));
    BIENC_TRY(param_add(enc, rng, &enc->pos_emb, "embeddings.position_embeddings.weight",
                        c->max_position_embeddings, C, INIT_NORMAL));
    BIENC_TRY(param_add(enc, rng, &enc->type_emb, "embeddings.token_type_embeddings.weight", c->type_vocab_size,
                        C, INIT_NORMAL));
    BIENC_TRY(param_add(enc, rng, &enc->emb_ln_w, "embeddings.LayerNorm.weight", C, 0, INIT_ONE));
    BIENC_TRY(param_add(enc, rng, &enc->emb_ln_b, "embeddings.LayerNorm.bias", C, 0, INIT_ZERO));
    for (int l = 0; l < c->num_layers; l++) BIENC_TRY(layer_params_add(enc, rng, l));
    return BIENC_OK;
}

static int encoder_create(bienc_encoder **out, const bienc_encoder_config *cfg, uint64_t seed, int init)
{
    if (!out) return bienc_error(BIENC_EINVAL, "encoder_new: out is NULL");
    *out = NULL;
    BIENC_TRY(encoder_config_check(cfg));
    bienc_encoder *enc = calloc(1, sizeof *enc);
    if (!enc) return bienc_error(BIENC_ENOMEM, "encoder_new: out of memory");
    enc->cfg = *cfg;
    int rc = encoder_build(enc, seed, init);
    if (rc < 0) {
        encoder_free(enc);
        return rc;
    }
    *out = enc;
    return BIENC_OK;
}

int encoder_new(bienc_encoder **out, const bienc_encoder_config *cfg, uint64_t seed)
{
    return encoder_create(out, cfg, seed, 1);
}

int encoder_new_zeroed(bienc_encoder **out, const bienc_encoder_config *cfg)
{
    return encoder_create(out, cfg, 0, 0);
}

void encoder_free(bienc_encoder *enc)
{
    if (!enc) return;
    for (int i = 0; i < enc->n_params; i++) tensor_free(enc->params[i]);
    free(enc->params);
    free(enc->layers);
    free(enc);
}

int encoder_param_count(const bienc_encoder *enc) { return enc ? enc->n_params : 0; }

bienc_tensor **encoder_params(bienc_encoder *enc) { return enc ? enc->params : NULL; }

bienc_tensor *encoder_find_param(bienc_encoder *enc, const char *name)
{
    if (!enc || !name) {
        bienc_error(BIENC_EINVAL, "encoder_find_param: NULL argument");
        return NULL;
    }
    for (int i = 0; i < enc->n_params; i++)
        if (strcmp(enc->params[i]->name, name) == 0) return enc->params[i];
    bienc_error(BIENC_ENOTFOUND, "encoder has no parameter named '%s'", name);
    return NULL;
}

int64_t encoder_num_scalars(const bienc_encoder *enc)
{
    int64_t n = 0;
    for (int i = 0; enc && i < enc->n_params; i++) n += enc->params[i]->size;
    return n;
}

void encoder_zero_grad(bienc_encoder *enc)
{
    for (int i = 0; enc && i < enc->n_params; i++) tensor_zero_grad(enc->params[i]);
}

int encoder_set_trainable(bienc_encoder *enc, int trainable)
{
    if (!enc) return bienc_error(BIENC_EINVAL, "encoder_set_trainable: encoder is NULL");
    for (int i = 0; i < enc->n_params; i++) {
        bienc_tensor *t = enc->params[i];
        if (!trainable) {
            free(t->grad);
            t->grad = NULL;
            t->requires_grad = 0;
        } else if (!t->grad) {
            /* same layout as tensor_new's buffers: 64-byte aligned, size rounded up */
            size_t bytes = ((size_t)(t->size ? t->size : 1) * sizeof(float) + 63) & ~(size_t)63;
            t->grad = aligned_alloc(64, bytes);
            if (!t->grad) return bienc_error(BIENC_ENOMEM, "encoder_set_trainable: out of memory for %s", t->name);
            memset(t->grad, 0, bytes);
            t->requires_grad = 1;
        }
    }
    return BIENC_OK;
}

/* ---- input checks ---- */

int encoder_check_batch(const bienc_encoder *enc, const bienc_batch_ids *batch)
{
    BIENC_ASSERT(enc && batch);
    const bienc_seqs *s = &batch->seqs;
    if (s->n < 1 || !s->offsets) return bienc_error(BIENC_EINVAL, "encoder batch: %d sequences (need >= 1)", s->n);
    if (!batch->ids) return bienc_error(BIENC_EINVAL, "encoder batch: ids is NULL");
    if (s->offsets[0] != 0)
        return bienc_error(BIENC_EINVAL, "encoder batch: offsets[0] = %d (must be 0)", s->offsets[0]);
    const bienc_encoder_config *c = &enc->cfg;
    for (int i = 0; i < s->n; i++) {
        int len = s->offsets[i + 1] - s->offsets[i];
        if (len <= 0)
            return bienc_error(BIENC_EINVAL, "encoder batch: sequence %d has %d tokens (offsets %d..%d)", i, len,
                               s->offsets[i], s->offsets[i + 1]);
        if (len > c->max_position_embeddings)
            return bienc_error(BIENC_ERANGE,
                               "encoder batch: sequence %d has %d tokens, more than max_position_embeddings %d", i,
                               len, c->max_position_embeddings);
    }
    int T = s->offsets[s->n];
    for (int t = 0; t < T; t++) {
        if (batch->ids[t] < 0 || batch->ids[t] >= c->vocab_size)
            return bienc_error(BIENC_ERANGE, "encoder batch: token %d has id %d outside the vocabulary [0, %d)", t,
                               (int)batch->ids[t], c->vocab_size);
        if (batch->type_ids && (batch->type_ids[t] < 0 || batch->type_ids[t] >= c->type_vocab_size))
            return bienc_error(BIENC_ERANGE, "encoder batch: token %d has token type %d outside [0, %d)", t,
                               (int)batch->type_ids[t], c->type_vocab_size);
    }
    return BIENC_OK;
}

/* ---- forward ---- */

/* Dropout sites, each with its own key: site 0 after the embeddings, then per layer
 * the attention output (1), the FFN output (2) and the attention probabilities (3). */
static uint64_t site_key(uint64_t key, int layer, int site) { return rng_hash_u64(key, (uint64_t)(1 + layer) * 4 + site); }

static int embeddings_forward(bienc_encoder *enc, bienc_tape *tape, const bienc_batch_ids *b, int training,
                              uint64_t key, bienc_tensor **out)
{
    int T = b->seqs.offsets[b->seqs.n];
    /* Position ids restart in every sequence; absent token types are all 0 (BertModel's
     * default), which still adds token_type_embeddings row 0. */
    int32_t *pos = tape_alloc(tape, sizeof(int32_t) * (size_t)T);
    int32_t *types = b->type_ids ? NULL : tape_alloc(tape, sizeof(int32_t) * (size_t)T);
    if (!pos || (!b->type_ids && !types)) return BIENC_ENOMEM;
    for (int s = 0; s < b->seqs.n; s++)
        for (int t = b->seqs.offsets[s]; t < b->seqs.offsets[s + 1]; t++) pos[t] = t - b->seqs.offsets[s];
    if (types) memset(types, 0, sizeof(int32_t) * (size_t)T);

    bienc_tensor *w, *p, *y, *sum, *x, *ln;
    BIENC_TRY(op_embedding(tape, enc->word_emb, b->ids, T, &w));
    BIENC_TRY(op_embedding(tape, enc->pos_emb, pos, T, &p));
    BIENC_TRY(op_embedding(tape, enc->type_emb, b->type_ids ? b->type_ids : types, T, &y));
    BIENC_TRY(op_add(tape, w, p, &sum));
    BIENC_TRY(op_add(tape, sum, y, &x));
    BIENC_TRY(op_layernorm(tape, x, enc->emb_ln_w, enc->emb_ln_b, enc->cfg.layer_norm_eps, &ln));
    return op_dropout_seqs(tape, ln, &b->seqs, enc->cfg.hidden_dropout, site_key(key, -1, 0), training, out);
}

static int layer_forward(bienc_encoder *enc, int l, bienc_tape *tape, const bienc_seqs *seqs, int training,
                         uint64_t key, bienc_tensor *x, bienc_tensor **out)
{
    const bienc_encoder_config *c = &enc->cfg;
    bienc_encoder_layer *L = &enc->layers[l];
    float p = c->hidden_dropout, eps = c->layer_norm_eps;
    bienc_tensor *q, *k, *v, *ctx, *a, *ad, *r1, *x1, *h, *g, *f, *fd, *r2;
    /* Self-attention block: [T, C] -> [T, C], post-LN residual. */
    BIENC_TRY(op_linear(tape, x, L->query_w, L->query_b, &q));
    BIENC_TRY(op_linear(tape, x, L->key_w, L->key_b, &k));
    BIENC_TRY(op_linear(tape, x, L->value_w, L->value_b, &v));
    BIENC_TRY(op_attention_dropout(tape, q, k, v, seqs, c->num_heads, c->attention_dropout, site_key(key, l, 3),
                                   training, &ctx));
    BIENC_TRY(op_linear(tape, ctx, L->attn_out_w, L->attn_out_b, &a));
    BIENC_TRY(op_dropout_seqs(tape, a, seqs, p, site_key(key, l, 1), training, &ad));
    BIENC_TRY(op_add(tape, x, ad, &r1));
    BIENC_TRY(op_layernorm(tape, r1, L->attn_ln_w, L->attn_ln_b, eps, &x1));
    /* Feed-forward block: [T, C] -> [T, I] -> [T, C], post-LN residual. */
    BIENC_TRY(op_linear(tape, x1, L->inter_w, L->inter_b, &h));
    BIENC_TRY(op_gelu(tape, h, c->activation, &g));
    BIENC_TRY(op_linear(tape, g, L->out_w, L->out_b, &f));
    BIENC_TRY(op_dropout_seqs(tape, f, seqs, p, site_key(key, l, 2), training, &fd));
    BIENC_TRY(op_add(tape, x1, fd, &r2));
    return op_layernorm(tape, r2, L->out_ln_w, L->out_ln_b, eps, out);
}

/* Inference (no-grad tape): no backward will read a layer's intermediate activations, so
 * each layer's scratch is released as soon as its output is copied into one of two
 * ping-pong buffers: the forward then needs one layer's memory instead of all of them. */
static int layers_forward_no_grad(bienc_encoder *enc, bienc_tape *tape, const bienc_seqs *seqs, int training,
                                  uint64_t key, bienc_tensor *x, bienc_tensor **out)
{
    bienc_tensor *buf[2];
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &buf[0]));
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &buf[1]));
    for (int l = 0; l < enc->cfg.num_layers; l++) {
        bienc_tape_mark mark = tape_mark(tape);
        bienc_tensor *y;
        int rc = layer_forward(enc, l, tape, seqs, training, key, x, &y);
        if (rc < 0) return bienc_error_context(rc, "encoder layer %d: ", l);
        bienc_tensor *dst = buf[l & 1];
        memcpy(dst->data, y->data, sizeof(float) * (size_t)y->size);
        tape_rewind(tape, &mark);
        x = dst;
    }
    *out = x;
    return BIENC_OK;
}

int encoder_forward(bienc_encoder *enc, bienc_tape *tape, const bienc_batch_ids *batch, int training,
                    uint64_t dropout_key, bienc_tensor **hidden)
{
    if (!hidden) return bienc_error(BIENC_EINVAL, "encoder_forward: hidden is NULL");
    *hidden = NULL;
    if (!tape) return bienc_error(BIENC_EINVAL, "encoder_forward: tape is NULL");
    BIENC_TRY(encoder_check_batch(enc, batch));
    bienc_tensor *x;
    BIENC_TRY(embeddings_forward(enc, tape, batch, training, dropout_key, &x));
    if (!tape_grad_enabled(tape)) return layers_forward_no_grad(enc, tape, &batch->seqs, training, dropout_key, x, hidden);
    for (int l = 0; l < enc->cfg.num_layers; l++) {
        int rc = layer_forward(enc, l, tape, &batch->seqs, training, dropout_key, x, &x);
        if (rc < 0) return bienc_error_context(rc, "encoder layer %d: ", l);
    }
    *hidden = x;
    return BIENC_OK;
}

int encoder_embed(bienc_encoder *enc, bienc_tape *tape, const bienc_batch_ids *batch, bienc_pool_mode pool,
                  int normalize, int training, uint64_t dropout_key, bienc_tensor **emb)
{
    if (!emb) return bienc_error(BIENC_EINVAL, "encoder_embed: emb is NULL");
    *emb = NULL;
    bienc_tensor *hidden, *pooled;
    BIENC_TRY(encoder_forward(enc, tape, batch, training, dropout_key, &hidden));
    BIENC_TRY(op_pool(tape, hidden, &batch->seqs, pool, &pooled));
    if (normalize) return op_l2_normalize(tape, pooled, emb);
    *emb = pooled;
    return BIENC_OK;
}
