/* Losses as ops: each returns a scalar tensor [1] (the mean over the batch, as PyTorch's
 * default reduction), recorded on the tape so tape_backward(tape, loss) works.
 * Implementations: src/ops/loss.c (elementary losses), src/ops/loss_st.c
 * (sentence-transformers' losses, composed from the ops of pooling.h and these). */
#ifndef BIENC_LOSS_H
#define BIENC_LOSS_H

#include "ops/ops.h"

/* sentence-transformers' defaults. */
#define BIENC_MNRL_DEFAULT_SCALE 20.0f
#define BIENC_TRIPLET_DEFAULT_MARGIN 5.0f

/* Mean over rows of -log softmax(logits[n, m])[i, labels[i]]; labels in [0, m). */
int loss_cross_entropy(bienc_tape *tape, bienc_tensor *logits, const int32_t *labels, bienc_tensor **out);

/* Mean over rows i of KL(target_i || softmax(logits_i)) = sum_j t_ij (log t_ij - log
 * softmax(logits_i)_j) for logits[n, m] and a constant target[n, m] whose rows are
 * probability distributions (0 log 0 = 0): torch's F.kl_div(F.log_softmax(logits, 1),
 * target, reduction="batchmean"). */
int loss_kl_div(bienc_tape *tape, bienc_tensor *logits, const float *target, bienc_tensor **out);

/* Mean of relu(d(a, p) - d(a, n) + margin) over rows of a, p, n [B, C];
 * euclidean d = ||x - y + 1e-6||_2 (sentence-transformers' TripletLoss, via
 * F.pairwise_distance and its eps), cosine d = 1 - cos(x, y) (norms clamped at 1e-8). */
int loss_triplet(bienc_tape *tape, bienc_tensor *anchor, bienc_tensor *positive, bienc_tensor *negative,
                 bienc_distance distance, float margin, bienc_tensor **out);

/* Mean of (a - b)^2 over all elements (a, b of one shape); b may be a plain (no-grad) tensor. */
int loss_mse(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out);

/* Mean of BCE-with-logits(x, target) over the logits->size elements, in the numerically
 * stable form max(x, 0) - x t + log(1 + exp(-|x|)). */
int loss_bce_with_logits(bienc_tape *tape, bienc_tensor *logits, const float *targets, bienc_tensor **out);

/* MultipleNegativesRankingLoss: scores[B, M] = scale * cos_sim(q[B, C], docs[M, C]) and
 * cross entropy with label i for query i. docs holds the B positives first (row i is
 * query i's positive), then any hard negatives, as torch.cat(reps[1:]) lays them out:
 * with k negatives per query, rows B*j .. B*j+B-1 are every query's j-th negative
 * (M = B * (1 + k)); a shared pool of N negatives gives M = B + N. Every query is
 * scored against all M docs.
 * symmetric != 0: MultipleNegativesSymmetricRankingLoss, (l_q->d + l_p->q) / 2 where
 * l_p->q is the cross entropy of the transposed B x B positive block (label i for
 * positive i). */
int loss_mnrl(bienc_tape *tape, bienc_tensor *q, bienc_tensor *docs, float scale, int symmetric,
              bienc_tensor **out);

/* MarginMSELoss: mean over i of ((q_i . p_i - q_i . n_i) - teacher_margin[i])^2 for
 * q, p, n [B, C] (dot product, as sentence-transformers' default pairwise_dot_score). */
int loss_margin_mse(bienc_tape *tape, bienc_tensor *q, bienc_tensor *p, bienc_tensor *n,
                    const float *teacher_margin, bienc_tensor **out);

/* DistillKLDivLoss (sentence-transformers): listwise distillation of a teacher's scores.
 * q[B, C]; docs[(1 + K) B, C] laid out as loss_mnrl's (rows j B .. j B + B - 1 are every
 * query's j-th passage, the positives first); teacher[B, 1 + K]: query i's teacher score of
 * its passage j. Student scores s_ij = scale * sim(q_i, d_{j B + i}) with sim cos_sim or
 * dot_score; loss = T^2 * mean over i of KL(softmax(teacher_i / T) || softmax(s_i / T)).
 * (sentence-transformers has no scale: scale 1 with dot_score is its loss exactly.) */
int loss_distill_kl_div(bienc_tape *tape, bienc_tensor *q, bienc_tensor *docs, const float *teacher,
                        bienc_similarity similarity, float scale, float temperature, bienc_tensor **out);

/* The listwise loss of a cross-encoder reranker (sentence-transformers' CrossEncoder
 * MultipleNegativesRankingLoss with an identity activation; "localized contrastive
 * estimation" of Gao et al. 2021 when the negatives are a retriever's top): logits
 * [B * group] (any shape of that size) hold B consecutive groups, each a positive then
 * group - 1 negatives; loss = mean over groups of -log softmax(scale * group)[0]. */
int loss_listwise_ce(bienc_tape *tape, bienc_tensor *logits, int64_t group, float scale, bienc_tensor **out);

#endif
