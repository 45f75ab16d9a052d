/* From token states to sentence embeddings and their similarities
 * (implementations: src/ops/pooling.c, src/ops/similarity.c, src/ops/maxsim.c). */
#ifndef BIENC_POOLING_H
#define BIENC_POOLING_H

#include "ops/ops.h"

/* Parses "mean" / "cls" / "max" (sentence-transformers' names); -1 when unknown. */
int pool_mode_from_name(const char *name);
/* "mean" / "cls" / "max"; "unknown" for anything else. */
const char *pool_mode_name(bienc_pool_mode mode);

/* out[n, C] from x[T, C] of a packed batch: mean over each sequence's tokens (the
 * attention mask of a padded batch), its first token (CLS), or the max over tokens
 * (gradient to the arg-max; ties to the first). Empty sequences are an error. */
int op_pool(bienc_tape *tape, bienc_tensor *x, const bienc_seqs *seqs, bienc_pool_mode mode, bienc_tensor **out);

/* Rows scaled to unit L2 norm: x / max(||x||, 1e-12) (torch.nn.functional.normalize). */
int op_l2_normalize(bienc_tape *tape, bienc_tensor *x, bienc_tensor **out);

/* out[n, m] = cos(a_i, b_j) for a[n, C], b[m, C]: normalize both (eps 1e-12) and take
 * dot products, as sentence-transformers' util.cos_sim does. */
int op_cos_sim_matrix(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out);
/* Same, times alpha (MNRL's scale), with no extra pass over the scores. */
int op_cos_sim_matrix_scaled(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, float alpha, bienc_tensor **out);

/* out[n, m] = a b^T (dot-product scores). */
int op_dot_matrix(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out);
/* out[n, m] = alpha a b^T. */
int op_dot_matrix_scaled(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, float alpha, bienc_tensor **out);

/* out[n] = sum_c a[i, c] * b[i, c] (row-wise dot products, for MarginMSE). */
int op_row_dot(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out);

/* out[i, j] = a_i . b_{j n + i} for a[n, C] and b[G n, C] laid out as G blocks of n rows
 * (the batch's passages: positives, then each block of hard negatives): each query's
 * scores against its own 1 + K passages, for the listwise losses (DistillKLDivLoss). */
int op_row_dot_groups(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out);

/* Late interaction (ColBERT's MaxSim, src/ops/maxsim.c): for token rows q[Tq, C] (qseqs: n
 * packed queries) and p[Tp, C] (pseqs: m packed passages),
 *     out[i, j] = scale / |q_i| * sum over the tokens a of query i of
 *                 max over the tokens b of passage j of q[a] . p[b]      (out[n, m]).
 * The caller normalises the rows first (op_l2_normalize) for cosines. Empty sequences are
 * an error. Gradient to each arg-max (ties: the first b). On a bf16 tape the token
 * similarities are bf16 products accumulated in fp32, as in op_linear. */
int op_maxsim(bienc_tape *tape, bienc_tensor *q, const bienc_seqs *qseqs, bienc_tensor *p, const bienc_seqs *pseqs,
              float scale, bienc_tensor **out);

/* Inference MaxSim of listed pairs only, without a tape: for k < n_pairs,
 *     out[k] = scale / |q_i| * sum over the tokens a of query i = qi[k] of
 *              max over the tokens b of passage j = pj[k] of q[a] . p[b],
 * q[qseqs.offsets[n], C] and p[pseqs.offsets[m], C] as in op_maxsim, and products at
 * `precision` as op_maxsim's on a tape of it (a reranker needs the few pairs of each
 * candidate list, not every query against every passage). Each pair is computed alone,
 * so the thread count does not change the bits. */
int op_maxsim_pairs(bienc_precision precision, const float *q, const bienc_seqs *qseqs, const float *p,
                    const bienc_seqs *pseqs, int C, const int *qi, const int *pj, int64_t n_pairs, float scale,
                    float *out);

/* Rows of a[n, C] then rows of b[m, C]: out[n + m, C] (positives + hard negatives). */
int op_concat_rows(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out);

/* Rows start .. start+count-1 of x[R, C]: out[count, C] (a copy; count >= 1). */
int op_slice_rows(bienc_tape *tape, bienc_tensor *x, int64_t start, int64_t count, bienc_tensor **out);

/* out = sum_i w[i] * x[i] over n (1..BIENC_TAPE_MAX_INPUTS) tensors of one shape:
 * differences of scores (MarginMSE) and weighted sums of losses. */
int op_weighted_sum(bienc_tape *tape, int n, bienc_tensor *const *x, const float *w, bienc_tensor **out);

#endif
