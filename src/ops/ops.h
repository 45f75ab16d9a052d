/* Transformer ops, each a forward function that records its backward on the tape
 * (implementations in src/ops/, forward and backward side by side).
 *
 * Conventions for every op:
 *  - returns 0 or a negative status with a message (NULL argument, shape mismatch,
 *    out-of-range id); never aborts;
 *  - `tape` may be in no-grad mode; outputs are new tensors from the tape's arena;
 *  - shapes in comments: T = total tokens of a packed batch, C = channels,
 *    H = heads, D = C / H, V = vocabulary.
 *  - results do not depend on the number of threads or their scheduling. */
#ifndef BIENC_OPS_H
#define BIENC_OPS_H

#include <stdint.h>

#include "core/kinds.h"
#include "core/tape.h"
#include "core/tensor.h"

/* A packed batch of variable-length sequences: sequence s occupies rows
 * offsets[s] .. offsets[s+1]-1 of a [T, C] activation. No padding exists anywhere:
 * linear layers run on T real tokens, attention runs per sequence. */
typedef struct bienc_seqs {
    int n;               /* number of sequences */
    const int *offsets;  /* n + 1 entries, offsets[0] = 0, non-decreasing, offsets[n] = T */
    /* Optional (NULL: the dropout masks are drawn over this batch's own layout): where each
     * sequence sits in a larger packed batch this one is a part of (a GradCache mini-batch,
     * a data-parallel rank's slice), so that op_dropout_seqs and op_attention_dropout give
     * it the very mask it gets in the whole batch. mask_tok[s]: the tokens before sequence
     * s there; mask_sq[s]: the sum of the squared lengths of the sequences before it there.
     * Zero-initialise a bienc_seqs (= {0} or designated initialisers) so they start NULL. */
    const int64_t *mask_tok;
    const int64_t *mask_sq;
} bienc_seqs;

/* 0 when seqs is well formed and offsets[n] == T. */
int seqs_check(const bienc_seqs *seqs, int64_t T, const char *what);

/* y[T, out] = x[T, in] W[out, in]^T + b[out]  (nn.Linear layout; b may be NULL).
 * x may have leading dimensions (they are flattened into T). On OpenBLAS sgemm, or on a
 * bf16 tape (tape_set_precision) bf16 products with fp32 accumulation; the bias gradient
 * is a blocked column sum whose order depends only on the shape. */
int op_linear(bienc_tape *tape, bienc_tensor *x, bienc_tensor *W, bienc_tensor *b, bienc_tensor **out);

/* y = a + b, same shapes (residual connections). */
int op_add(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out);

/* y[R, C] = x[R, C] + b[C] broadcast over rows (x may have leading dimensions). */
int op_add_bias(bienc_tape *tape, bienc_tensor *x, bienc_tensor *b, bienc_tensor **out);

/* y = x viewed with another shape of the same element count (torch's reshape). */
int op_reshape(bienc_tape *tape, bienc_tensor *x, int ndim, const int64_t *shape, bienc_tensor **out);

/* y = alpha * x. */
int op_scale(bienc_tape *tape, bienc_tensor *x, float alpha, bienc_tensor **out);

/* LayerNorm over the last dimension of x[R, C] with gamma[C], beta[C] (biased variance,
 * as torch). */
int op_layernorm(bienc_tape *tape, bienc_tensor *x, bienc_tensor *gamma, bienc_tensor *beta, float eps,
                 bienc_tensor **out);

/* y = tanh(x), any shape (dx = dy * (1 - y^2)): BERT's pooler before the classifier. */
int op_tanh(bienc_tape *tape, bienc_tensor *x, bienc_tensor **out);

/* GELU: erf form (BERT's "gelu", erf to 1.5e-7 absolute) or tanh approximation
 * ("gelu_new", torch approximate='tanh'). */
int op_gelu(bienc_tape *tape, bienc_tensor *x, bienc_gelu_kind kind, bienc_tensor **out);

/* Softmax over the last dimension of x[R, C]. */
int op_softmax(bienc_tape *tape, bienc_tensor *x, bienc_tensor **out);

/* Multi-head scaled dot-product attention on a packed batch: q, k, v are [T, C] with
 * heads laid out as H consecutive blocks of D = C / H channels (BERT's layout). Each
 * sequence attends only to its own tokens (the key padding mask of a padded batch).
 * out[T, C] = concat_h softmax(q_h k_h^T / sqrt(D)) v_h. */
int op_attention(bienc_tape *tape, bienc_tensor *q, bienc_tensor *k, bienc_tensor *v, const bienc_seqs *seqs,
                 int n_heads, bienc_tensor **out);

/* op_attention with dropout on the attention probabilities (BERT's
 * attention_probs_dropout_prob): out_h = (P . M) v_h, M the inverted-dropout mask of
 * op_dropout drawn from `key` over the probabilities of every (sequence, head) pair.
 * Same as op_attention when !training or p == 0. */
int op_attention_dropout(bienc_tape *tape, bienc_tensor *q, bienc_tensor *k, bienc_tensor *v,
                         const bienc_seqs *seqs, int n_heads, float p, uint64_t key, int training,
                         bienc_tensor **out);

/* Inverted dropout with probability p in [0, 1): element i is kept when
 * rng_hash_uniform(key, i) >= p and then scaled by 1/(1-p). Identity (no copy is
 * guaranteed) when !training or p == 0. `key` should change every call (e.g. hash of
 * seed, step, layer, site) so that masks are reproducible from the seed. */
int op_dropout(bienc_tape *tape, bienc_tensor *x, float p, uint64_t key, int training, bienc_tensor **out);
/* op_dropout of a packed activation x[T, C] whose mask follows seqs->mask_tok when set:
 * element (t, c) of sequence s has mask index (mask_tok[s] + t - offsets[s]) C + c, its
 * index in the whole batch. Exactly op_dropout when seqs or seqs->mask_tok is NULL. */
int op_dropout_seqs(bienc_tape *tape, bienc_tensor *x, const bienc_seqs *seqs, float p, uint64_t key, int training,
                    bienc_tensor **out);

/* out[T, C] = table[ids[t], :]; backward scatter-adds into table's gradient.
 * ids outside [0, V) are an error (BIENC_ERANGE). ids is copied. */
int op_embedding(bienc_tape *tape, bienc_tensor *table, const int32_t *ids, int64_t T, bienc_tensor **out);

#endif
