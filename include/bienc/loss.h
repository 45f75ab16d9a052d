/* Losses as ops: each returns a scalar tensor [1] (the mean over the batch, as PyTorch's
 * default reduction), recorded on the tape so tape_backward(tape, loss) works. */
#ifndef BIENC_LOSS_H
#define BIENC_LOSS_H

#include "bienc/ops.h"

/* Mean over rows of -log softmax(logits[n, m])[i, labels[i]]; labels in [0, m). */
int loss_cross_entropy(bienc_tape *tape, bienc_tensor *logits, const int32_t *labels, bienc_tensor **out);

typedef enum { BIENC_DIST_EUCLIDEAN = 0, BIENC_DIST_COSINE = 1 } bienc_distance;

/* Mean of relu(d(a, p) - d(a, n) + margin) over rows of a, p, n [B, C];
 * euclidean d = ||x - y||_2 (as sentence-transformers' TripletLoss, via F.pairwise_distance
 * with eps 1e-6), cosine d = 1 - cos(x, y). */
int loss_triplet(bienc_tape *tape, bienc_tensor *anchor, bienc_tensor *positive, bienc_tensor *negative,
                 bienc_distance distance, float margin, bienc_tensor **out);

/* Mean of (a - b)^2 over all elements; b may be a plain (no-grad) tensor. */
int loss_mse(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out);

/* Mean of BCE-with-logits(x[n], target[n]) in the numerically stable form. */
int loss_bce_with_logits(bienc_tape *tape, bienc_tensor *logits, const float *targets, bienc_tensor **out);

#endif
