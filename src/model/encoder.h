/* A BERT-style encoder (Hugging Face BertModel without its pooler), composed from the
 * ops of ops.h so that its backward is the tape's, never hand-written end to end.
 *
 * Parameters are heap tensors named exactly as BertModel's state_dict, so checkpoints,
 * safetensors import/export and parity tests can match them by name:
 *     embeddings.word_embeddings.weight          [V, C]
 *     embeddings.position_embeddings.weight      [P, C]
 *     embeddings.token_type_embeddings.weight    [Y, C]
 *     embeddings.LayerNorm.weight / .bias        [C]
 *     encoder.layer.N.attention.self.query.weight / .bias     [C, C] / [C]   (also key, value)
 *     encoder.layer.N.attention.output.dense.weight / .bias   [C, C] / [C]
 *     encoder.layer.N.attention.output.LayerNorm.weight / .bias
 *     encoder.layer.N.intermediate.dense.weight / .bias       [I, C] / [I]
 *     encoder.layer.N.output.dense.weight / .bias             [C, I] / [C]
 *     encoder.layer.N.output.LayerNorm.weight / .bias
 * BertModel's pooler (pooler.dense, a tanh layer over [CLS]) is omitted on purpose:
 * sentence-transformers never uses it (its Pooling module reads the token states), and
 * importers should skip pooler.* keys.
 *
 * The layer is post-LN, exactly as BERT:
 *     x = Dropout(LayerNorm(word[ids] + position[0..len-1] + token_type[type_ids]))
 *     per layer:  a = Dropout(Linear_o(Attention(Linear_q x, Linear_k x, Linear_v x)))
 *                 x = LayerNorm(x + a)
 *                 f = Dropout(Linear_2(GELU(Linear_1 x)))
 *                 x = LayerNorm(x + f)
 * on a packed batch (no padding anywhere; see bienc_seqs in ops.h). */
#ifndef BIENC_ENCODER_H
#define BIENC_ENCODER_H

#include <stdint.h>

#include "ops/ops.h"
#include "ops/pooling.h"
#include "core/tape.h"
#include "core/tensor.h"

typedef struct bienc_encoder_config {
    int vocab_size;                /* V (BERT: 30522) */
    int hidden_size;               /* C, a multiple of num_heads (768; MiniLM-L6: 384) */
    int num_layers;                /* 12; MiniLM-L6: 6 */
    int num_heads;                 /* H (12) */
    int intermediate_size;         /* I (3072; MiniLM-L6: 1536) */
    int max_position_embeddings;   /* P (512): longest sequence accepted */
    int type_vocab_size;           /* Y (2) */
    float hidden_dropout;          /* hidden_dropout_prob (0.1) */
    float attention_dropout;       /* attention_probs_dropout_prob (0.1) */
    float layer_norm_eps;          /* 1e-12 */
    float initializer_range;       /* std of the normal init (0.02) */
    bienc_gelu_kind activation;    /* BIENC_GELU_ERF ("gelu") or BIENC_GELU_TANH ("gelu_new") */
} bienc_encoder_config;

/* Hugging Face BertConfig's defaults (bert-base-uncased). */
void encoder_config_default(bienc_encoder_config *cfg);
/* all-MiniLM-L6-v2 / nreimers/MiniLM-L6-H384-uncased: 6 layers, C 384, 12 heads, I 1536. */
void encoder_config_minilm_l6(bienc_encoder_config *cfg);

/* 0 when every field is in range; otherwise BIENC_EINVAL with a message naming the field
 * ("encoder config: hidden_size 100 is not a multiple of num_heads 12"). */
int encoder_config_check(const bienc_encoder_config *cfg);

/* Parameter tensors of an encoder of this config: 5 (embeddings and their LayerNorm) plus 16
 * per layer (Q, K, V, attention output, LayerNorm, intermediate, output, LayerNorm: weight
 * and bias each), in state_dict order. */
int encoder_config_param_count(const bienc_encoder_config *cfg);

/* Parses "gelu" (erf) / "gelu_new" / "gelu_pytorch_tanh" (tanh); -1 when unknown. */
int encoder_activation_from_name(const char *name);
const char *encoder_activation_name(bienc_gelu_kind kind);

/* One transformer layer's parameters (pointers into the encoder's parameter list). */
typedef struct bienc_encoder_layer {
    bienc_tensor *query_w, *query_b, *key_w, *key_b, *value_w, *value_b;
    bienc_tensor *attn_out_w, *attn_out_b, *attn_ln_w, *attn_ln_b;
    bienc_tensor *inter_w, *inter_b, *out_w, *out_b, *out_ln_w, *out_ln_b;
} bienc_encoder_layer;

typedef struct bienc_encoder {
    bienc_encoder_config cfg;
    bienc_tensor *word_emb, *pos_emb, *type_emb, *emb_ln_w, *emb_ln_b;
    bienc_encoder_layer *layers;   /* cfg.num_layers */
    bienc_tensor **params;         /* every parameter, in BertModel's state_dict order */
    int n_params;                  /* encoder_config_param_count(&cfg) */
} bienc_encoder;

/* A new encoder with BERT's initialisation from `seed`: weights ~ N(0, initializer_range)
 * (embeddings included; BERT's padding_idx row is not special-cased, as in
 * sentence-transformers training from scratch), biases 0, LayerNorm weight 1, bias 0.
 * Parameters are drawn in state_dict order from one bienc_rng, so the same seed gives
 * the same parameters bit for bit. Every parameter requires a gradient. */
int encoder_new(bienc_encoder **out, const bienc_encoder_config *cfg, uint64_t seed);
/* The same with every parameter 0, for a caller that reads them all (a checkpoint). */
int encoder_new_zeroed(bienc_encoder **out, const bienc_encoder_config *cfg);
void encoder_free(bienc_encoder *enc);

int encoder_param_count(const bienc_encoder *enc);
/* The parameter array (stable order, see above); NULL for a NULL encoder. */
bienc_tensor **encoder_params(bienc_encoder *enc);
/* The parameter with this exact name, or NULL (message set: BIENC_ENOTFOUND). */
bienc_tensor *encoder_find_param(bienc_encoder *enc, const char *name);
/* Total number of scalar parameters. */
int64_t encoder_num_scalars(const bienc_encoder *enc);
/* Zeroes every parameter gradient. */
void encoder_zero_grad(bienc_encoder *enc);
/* trainable = 0 (inference only: encoding a corpus) frees every gradient buffer and
 * clears requires_grad, so ops record nothing and the gradients' memory (as large as
 * the parameters) is returned; trainable = 1 allocates zeroed gradients again. An
 * optimiser must not be built on (or kept over) a non-trainable encoder. */
int encoder_set_trainable(bienc_encoder *enc, int trainable);

/* The token ids of a packed batch (what a tokenizer + batcher produce). */
typedef struct bienc_batch_ids {
    const int32_t *ids;        /* [T] token ids in [0, vocab_size) */
    const int32_t *type_ids;   /* [T] in [0, type_vocab_size), or NULL for all zeros */
    bienc_seqs seqs;           /* n sequences; offsets[n] == T */
} bienc_batch_ids;

/* Checks a batch against the encoder: offsets well formed, no empty sequence, every
 * sequence at most max_position_embeddings long, ids and type ids in range. The
 * message names the sequence / token at fault. */
int encoder_check_batch(const bienc_encoder *enc, const bienc_batch_ids *batch);

/* Token states hidden[T, C] (BertModel's last_hidden_state on the real tokens). Position
 * ids restart at 0 for every sequence. When `training`, dropout is applied where BERT
 * applies it: hidden_dropout after the embeddings, after the attention output
 * projection and after the FFN output, attention_dropout on the attention
 * probabilities; every site's mask is drawn from rng_hash of (dropout_key, site), so
 * pass a different key every step. With training=0 (or both probabilities 0) the
 * result equals BertModel in eval mode. */
int encoder_forward(bienc_encoder *enc, bienc_tape *tape, const bienc_batch_ids *batch, int training,
                    uint64_t dropout_key, bienc_tensor **hidden);

/* Sentence embeddings emb[n, C] = pool(hidden) (+ L2 normalisation when `normalize`),
 * as sentence-transformers' Transformer + Pooling (+ Normalize) modules. */
int encoder_embed(bienc_encoder *enc, bienc_tape *tape, const bienc_batch_ids *batch, bienc_pool_mode pool,
                  int normalize, int training, uint64_t dropout_key, bienc_tensor **emb);

/* Model FLOPs of one forward over this batch (2 per multiply-add of the matmuls and
 * the attention products; element-wise ops are not counted). A backward costs about
 * twice that. For throughput / MFU reporting. */
double encoder_forward_flops(const bienc_encoder_config *cfg, const bienc_seqs *seqs);

#endif
