/* BERT's MLM head and masking (see src/model/mlm.h). The head is composed of ops that
 * each carry their own backward (gather rows = op_embedding on the token states, linear,
 * gelu, LayerNorm, linear with the word embeddings as weight, cross-entropy), so the
 * gradient reaches the encoder through the masked rows and through the tied decoder. */
#include <stdlib.h>

#include "core/error.h"
#include "ops/loss.h"
#include "model/mlm.h"
#include "ops/ops.h"

static int head_param(bienc_tensor **slot, const char *name, int64_t rows, int64_t cols, bienc_rng *rng, float std,
                      float fill)
{
    bienc_tensor *t;
    BIENC_TRY(cols > 0 ? tensor_new_2d(&t, rows, cols, 1) : tensor_new_1d(&t, rows, 1));
    *slot = t;
    BIENC_TRY(tensor_set_name(t, name));
    for (int64_t i = 0; i < t->size; i++) t->data[i] = std > 0 ? std * rng_normal(rng) : fill;
    return 0;
}

int mlm_head_new(bienc_mlm_head **out, const bienc_encoder_config *cfg, uint64_t seed)
{
    if (out) *out = NULL;
    BIENC_ASSERT(out && cfg);
    BIENC_TRY(encoder_config_check(cfg));
    bienc_mlm_head *h = calloc(1, sizeof *h);
    if (!h) return bienc_error(BIENC_ENOMEM, "mlm_head_new: out of memory");
    h->activation = cfg->activation;
    h->eps = cfg->layer_norm_eps;
    /* the head's own stream: the encoder's parameters stay those of encoder_new(seed) */
    bienc_rng rng;
    rng_seed(&rng, rng_hash_u64(seed, 0x6d6c6dull));
    int64_t C = cfg->hidden_size, V = cfg->vocab_size;
    int rc = head_param(&h->dense_w, "cls.predictions.transform.dense.weight", C, C, &rng, cfg->initializer_range, 0);
    if (rc == 0) rc = head_param(&h->dense_b, "cls.predictions.transform.dense.bias", C, 0, &rng, 0, 0);
    if (rc == 0) rc = head_param(&h->ln_w, "cls.predictions.transform.LayerNorm.weight", C, 0, &rng, 0, 1);
    if (rc == 0) rc = head_param(&h->ln_b, "cls.predictions.transform.LayerNorm.bias", C, 0, &rng, 0, 0);
    if (rc == 0) rc = head_param(&h->bias, "cls.predictions.bias", V, 0, &rng, 0, 0);
    if (rc < 0) {
        mlm_head_free(h);
        return rc;
    }
    bienc_tensor *p[BIENC_MLM_N_PARAMS] = {h->dense_w, h->dense_b, h->ln_w, h->ln_b, h->bias};
    for (int i = 0; i < BIENC_MLM_N_PARAMS; i++) h->params[i] = p[i];
    *out = h;
    return 0;
}

void mlm_head_free(bienc_mlm_head *h)
{
    if (!h) return;
    tensor_free(h->dense_w);
    tensor_free(h->dense_b);
    tensor_free(h->ln_w);
    tensor_free(h->ln_b);
    tensor_free(h->bias);
    free(h);
}

int mlm_loss(bienc_tape *tape, const bienc_mlm_head *h, bienc_tensor *word_emb, bienc_tensor *hidden,
             const int32_t *positions, const int32_t *labels, int64_t M, bienc_tensor **loss)
{
    if (loss) *loss = NULL;
    if (!tape || !h || !word_emb || !hidden || !positions || !labels || !loss)
        return bienc_error(BIENC_EINVAL, "mlm_loss: NULL argument");
    if (M < 1) return bienc_error(BIENC_EINVAL, "mlm_loss: no masked position");
    BIENC_TRY(tensor_check(word_emb, "mlm_loss: word embeddings", 2, (int64_t[]){h->bias->shape[0], h->dense_w->shape[0]}));
    bienc_tensor *x, *y, *g, *n, *logits;
    BIENC_TRY(op_embedding(tape, hidden, positions, M, &x));                /* [M, C] masked rows */
    BIENC_TRY(op_linear(tape, x, h->dense_w, h->dense_b, &y));              /* [M, C] */
    BIENC_TRY(op_gelu(tape, y, h->activation, &g));
    BIENC_TRY(op_layernorm(tape, g, h->ln_w, h->ln_b, h->eps, &n));
    BIENC_TRY(op_linear(tape, n, word_emb, h->bias, &logits));              /* [M, V] = n E^T + bias */
    return loss_cross_entropy(tape, logits, labels, loss);                  /* mean over the M rows */
}

static int is_special(int32_t id, const int32_t *special, int n_special)
{
    for (int i = 0; i < n_special; i++)
        if (id == special[i]) return 1;
    return 0;
}

void mlm_mask(int32_t *ids, int64_t T, const int32_t *special, int n_special, float prob, int32_t mask_id,
              int32_t vocab_size, bienc_rng *rng, int32_t *positions, int32_t *labels, int64_t *M)
{
    int64_t m = 0, maskable = 0;
    for (int64_t t = 0; t < T; t++) {
        if (is_special(ids[t], special, n_special)) continue;
        maskable++;
        if (rng_uniform(rng) >= prob) continue;
        positions[m] = (int32_t)t;
        labels[m++] = ids[t];
    }
    if (m == 0 && maskable > 0) { /* the loss needs one target: the k-th maskable token */
        int64_t k = (int64_t)rng_below(rng, (uint64_t)maskable);
        for (int64_t t = 0; t < T; t++) {
            if (is_special(ids[t], special, n_special) || k-- > 0) continue;
            positions[0] = (int32_t)t;
            labels[0] = ids[t];
            m = 1;
            break;
        }
    }
    for (int64_t i = 0; i < m; i++) { /* 80% [MASK], 10% a random token, 10% unchanged */
        float u = rng_uniform(rng);
        if (u < 0.8f) ids[positions[i]] = mask_id;
        else if (u < 0.9f) ids[positions[i]] = (int32_t)rng_below(rng, (uint64_t)vocab_size);
    }
    *M = m;
}
