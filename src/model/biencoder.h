/* A bi-encoder: ONE encoder applied to queries and to passages (twin towers with shared
 * weights, as sentence-transformers' SentenceTransformer), its pooling, optional L2
 * normalisation, the maximum lengths of each side and the tokenizer.
 *
 * Training: both sides run on the SAME tape (biencoder_embed twice, then a loss), so one
 * tape_backward() accumulates the gradients of both towers into the same parameters.
 *
 * Inference: biencoder_encode_texts() embeds many texts in batches of similar length
 * (texts sorted by token count, so packed batches waste nothing and attention cost is even),
 * with a no-grad tape reset after each batch (memory = one batch's activations), and
 * returns the embeddings in input order. Tokenisation runs OpenMP-parallel. Results do not
 * depend on the thread count (nor on the batch size: every op is per sequence or per row).
 * Inference-only users (bienc encode / search) should call encoder_set_trainable(bi->enc, 0)
 * after loading, which returns the gradient buffers' memory (as large as the parameters). */
#ifndef BIENC_BIENCODER_H
#define BIENC_BIENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "model/encoder.h"
#include "ops/pooling.h"
#include "core/tape.h"
#include "text/tokenizer.h"

typedef struct bienc_biencoder {
    bienc_encoder *enc;        /* owned */
    bienc_tokenizer *tok;      /* owned */
    bienc_pool_mode pool;      /* mean (default) / cls / max */
    int normalize;             /* L2-normalise embeddings */
    int max_query_len;         /* tokens with [CLS] and [SEP] */
    int max_passage_len;
    int late_interaction;      /* ColBERT: texts are scored by MaxSim over token vectors (late_interaction.h),
                                  there is no single vector per text to index */
} bienc_biencoder;

typedef enum { BIENC_SIDE_QUERY = 0, BIENC_SIDE_PASSAGE = 1 } bienc_side;

/* Options of a new bi-encoder; biencoder_opts_default(): mean pooling, no normalisation,
 * queries 32 and passages 128 tokens, not late interaction. */
typedef struct bienc_biencoder_opts {
    bienc_pool_mode pool;
    int normalize;
    int max_query_len, max_passage_len;
    int late_interaction;
} bienc_biencoder_opts;

void biencoder_opts_default(bienc_biencoder_opts *o);

/* A new bi-encoder with a freshly initialised encoder (encoder_new(cfg, seed)). Takes
 * ownership of `tok` on success AND on failure. The tokenizer must hold [CLS] and [SEP]
 * and fit the vocabulary (vocab size <= cfg->vocab_size); the max lengths must be >= 2 and
 * <= max_position_embeddings. */
int biencoder_new(bienc_biencoder **out, const bienc_encoder_config *cfg, uint64_t seed, bienc_tokenizer *tok,
                  const bienc_biencoder_opts *o);
/* Same around an existing encoder (ownership of enc and tok passes, also on failure). */
int biencoder_wrap(bienc_biencoder **out, bienc_encoder *enc, bienc_tokenizer *tok, const bienc_biencoder_opts *o);
void biencoder_free(bienc_biencoder *bi);

/* Checks the fields against each other (lengths, tokenizer vs vocabulary, specials). */
int biencoder_check(const bienc_biencoder *bi);

int biencoder_dim(const bienc_biencoder *bi);
int biencoder_max_len(const bienc_biencoder *bi, bienc_side side);

/* emb[n, C] of a packed, tokenised batch on `tape` (training: dropout from dropout_key). */
int biencoder_embed(bienc_biencoder *bi, bienc_tape *tape, const bienc_batch_ids *batch, int training,
                    uint64_t dropout_key, bienc_tensor **emb);

/* Inference over n texts (texts[i] of lens[i] bytes; lens NULL = NUL-terminated): writes
 * out[n * dim] (row i = text i) for the given side (its max length). batch_size texts per
 * forward (<= 0: 64). A late-interaction model has no such vector: BIENC_EINVAL. tape may be NULL (a private one is made); a caller's tape is used in
 * no-grad mode, reset before and after each batch, and its grad mode restored. */
int biencoder_encode_texts(bienc_biencoder *bi, bienc_tape *tape, const char *const *texts, const size_t *lens,
                           int64_t n, bienc_side side, int batch_size, float *out);

#endif
