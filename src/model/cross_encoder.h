/* A cross-encoder: ONE encoder reading the query and the passage together,
 *     [CLS] query [SEP] passage [SEP]     token_type_ids 0 ... 0 1 ... 1
 * and a head on the [CLS] state giving one relevance logit, exactly Hugging Face's
 * BertForSequenceClassification with num_labels = 1 (what sentence-transformers'
 * CrossEncoder and the ms-marco-MiniLM-L-6-v2 rerankers are):
 *     h      = encoder(pair)[CLS]                        [n, C]
 *     pooled = tanh(pooler.dense(h))                     [n, C]   BertPooler
 *     logit  = classifier(pooled)                        [n, 1]   (dropout before it when training)
 * Head parameters, named as in the HF state_dict (next to the encoder's, encoder.h):
 *     pooler.dense.weight [C, C], pooler.dense.bias [C], classifier.weight [1, C], classifier.bias [1]
 * so an imported HF cross-encoder's tensors map by name.
 *
 * Exact-match token types: when the encoder has a third token type (type_vocab_size >= 3),
 * passage pieces that also occur in the query get type 2 instead of 1. A model trained from
 * scratch (no pretrained weights exist here) learns query-passage matching from that within
 * ~100 steps; with BERT's two types it sits at the base rate for hundreds of steps, since
 * matching must first emerge in attention. Imported HF models (2 types) are unaffected.
 *
 * Checkpoints (src/io/cross_io.c) use model_io.h's layout: /params/<name> (encoder + head),
 * /vocab, attributes on /model with kind = "cross_encoder" and max_length (pair tokens with
 * the three specials) instead of pooling / normalize / max_query_length / max_passage_length
 * (max_query_length and max_passage_length are kept too: the query's share of max_length). */
#ifndef BIENC_CROSS_ENCODER_H
#define BIENC_CROSS_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "model/encoder.h"
#include "core/tape.h"
#include "text/tokenizer.h"

typedef struct bienc_cross_encoder {
    bienc_encoder *enc;        /* owned */
    bienc_tokenizer *tok;      /* owned */
    bienc_tensor *pooler_w, *pooler_b, *cls_w, *cls_b;  /* owned head parameters */
    bienc_tensor **params;     /* encoder params then the 4 head params (state_dict order) */
    int n_params;
    int max_len;               /* pair tokens including [CLS] and both [SEP] */
    int max_query_len;         /* a query is first cut to this many tokens (with [CLS] [SEP]) */
} bienc_cross_encoder;

/* A new cross-encoder: encoder_new(cfg, seed) and the head drawn N(0, initializer_range)
 * (biases 0) from a stream derived from seed. Takes ownership of tok on success and failure.
 * max_len in [4, max_position_embeddings]; max_query_len in [2, max_len - 2]. */
int cross_encoder_new(bienc_cross_encoder **out, const bienc_encoder_config *cfg, uint64_t seed,
                      bienc_tokenizer *tok, int max_len, int max_query_len);
void cross_encoder_free(bienc_cross_encoder *ce);
void cross_encoder_zero_grad(bienc_cross_encoder *ce);
/* The parameter with this exact name (encoder or head), or NULL with BIENC_ENOTFOUND. */
bienc_tensor *cross_encoder_find_param(bienc_cross_encoder *ce, const char *name);

/* Logits[n, 1] of a packed batch of pairs (type_ids set by cross_encoder_tokenize_pair).
 * training: BERT's dropout sites, plus hidden dropout before the classifier, keyed by
 * dropout_key. */
int cross_encoder_forward(bienc_cross_encoder *ce, bienc_tape *tape, const bienc_batch_ids *batch, int training,
                          uint64_t dropout_key, bienc_tensor **logits);

/* Tokens of one pair, [CLS] q [SEP] p [SEP]: the query is cut to max_query_len tokens (with
 * [CLS] and [SEP]) and the passage fills the rest of max_len, so a long query never crowds
 * out the passage. ids/type_ids have room for max_len entries. */
int cross_encoder_tokenize_pair(const bienc_cross_encoder *ce, const char *q, size_t qlen, const char *p, size_t plen,
                                int32_t *ids, int32_t *type_ids, int *n_out);

/* Inference: scores[i] = logit of (q[i], p[i]) for n pairs, batch_size pairs per forward
 * (<= 0: 64), sorted by length internally; results in input order, identical for any
 * thread count (a different batch size changes sgemm shapes, hence the last bits). Lengths may be NULL (NUL-terminated texts).
 * The matrix products run at the tape's precision (tape_set_precision: fp32 or bf16 with
 * fp32 accumulation); tape NULL: an fp32 tape of its own. The tape is used without
 * gradients and left reset. */
int cross_encoder_score(bienc_cross_encoder *ce, bienc_tape *tape, const char *const *q, const size_t *qlens,
                        const char *const *p, const size_t *plens, int64_t n, int batch_size, float *scores);

#endif
