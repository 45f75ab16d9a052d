/* Masked-language-model pre-training: BERT's MLM head and masking (Hugging Face's
 * BertForMaskedLM and DataCollatorForLanguageModeling).
 *
 *     x      = hidden[positions]                          [M, C]  the masked tokens' states
 *     h      = LayerNorm(gelu(transform.dense(x)))        [M, C]  BertPredictionHeadTransform
 *     logits = h E^T + bias                               [M, V]  decoder tied to the word
 *                                                                 embeddings E [V, C]
 *     loss   = mean_m CrossEntropy(logits[m], labels[m])          over the masked positions
 *
 * Head parameters under Hugging Face's names (the decoder weight is E itself):
 *     cls.predictions.transform.dense.weight [C, C], cls.predictions.transform.dense.bias [C],
 *     cls.predictions.transform.LayerNorm.weight [C], cls.predictions.transform.LayerNorm.bias [C],
 *     cls.predictions.bias [V]
 * The activation and LayerNorm epsilon are the encoder's (hidden_act, layer_norm_eps). */
#ifndef BIENC_MLM_H
#define BIENC_MLM_H

#include <stdint.h>

#include "model/encoder.h"
#include "core/rng.h"
#include "core/tape.h"

#define BIENC_MLM_N_PARAMS 5

typedef struct bienc_mlm_head {
    bienc_tensor *dense_w, *dense_b, *ln_w, *ln_b, *bias;
    bienc_tensor *params[BIENC_MLM_N_PARAMS]; /* the five above, in that (state_dict) order */
    bienc_gelu_kind activation;
    float eps;
} bienc_mlm_head;

/* A new head for an encoder of this config: dense weight ~ N(0, initializer_range) from a
 * stream derived from seed, biases 0, LayerNorm weight 1 (BertPreTrainedModel._init_weights). */
int mlm_head_new(bienc_mlm_head **out, const bienc_encoder_config *cfg, uint64_t seed);
void mlm_head_free(bienc_mlm_head *h);

/* The loss above on the tape. hidden[T, C] token states, word_emb[V, C] the tied decoder
 * weight, positions[M] rows of hidden, labels[M] in [0, V); M >= 1. */
int mlm_loss(bienc_tape *tape, const bienc_mlm_head *h, bienc_tensor *word_emb, bienc_tensor *hidden,
             const int32_t *positions, const int32_t *labels, int64_t M, bienc_tensor **loss);

/* BERT's masking of a packed batch ids[T], in place: each token that is not [CLS], [SEP]
 * or [PAD] (special[0..n_special)) is chosen with probability prob; a chosen token becomes
 * mask_id with probability 0.8, a uniform random id in [0, vocab_size) with 0.1, and stays
 * with 0.1. positions / labels (room for T) get the chosen rows and their original ids,
 * *M their count. When no token is chosen but one could be, one maskable token is chosen
 * (so the loss is defined). */
void mlm_mask(int32_t *ids, int64_t T, const int32_t *special, int n_special, float prob, int32_t mask_id,
              int32_t vocab_size, bienc_rng *rng, int32_t *positions, int32_t *labels, int64_t *M);

#endif
