/* Data-parallel training over the ranks of src/core/comm.h: what a model's micro_loss
 * needs to train on its share of every global batch and still compute the loss of the
 * whole batch (README "Training on several machines").
 *
 * Every rank draws the same global batch of n examples (same sampler, same seed) and
 * takes the block dp_slice gives it. Its packed sequences come in S slot blocks of cnt
 * (local sequence j cnt + i is slot j of example off + i: queries S = 1, MNRL passages S =
 * 1 + negatives), which are sequences j n + off + i of the global batch. Two pieces make a
 * rank's share behave as its rows of the one-process computation:
 *   - dp_mask_layout: the dropout masks of each sequence are those of its place in the
 *     global batch (bienc_seqs.mask_tok / mask_sq), so dropout matches one process;
 *   - dp_gather_rows: in-batch negatives span the ranks, as sentence-transformers'
 *     gather_across_devices: every rank sees the embeddings of the whole global batch,
 *     and the backward sums the gradient of each row over the ranks and hands it to the
 *     rank that owns the row.
 * The loss of a rank is its examples' share of the global mean (weight cnt / n), so the
 * sum over ranks of the losses and of the gradients is the one-process loss and gradient;
 * train_loop sums them (train_model.data_parallel). */
#ifndef BIENC_TRAIN_DATA_PARALLEL_H
#define BIENC_TRAIN_DATA_PARALLEL_H

#include "ops/ops.h"
#include "core/tape.h"

/* This rank's examples [*off, *off + *cnt) of a global batch of n (blocks in rank order,
 * the first n % size ranks one larger). 0, or an error when n < comm_size() (a rank
 * without examples would have no loss to back-propagate). */
int dp_slice(int n, int *off, int *cnt);

/* Points seqs->mask_tok / mask_sq (arrays on `tape`) at the places of this rank's S * cnt
 * sequences in the global batch of n examples. Collective: gathers every rank's sequence
 * lengths. */
int dp_mask_layout(bienc_tape *tape, bienc_seqs *seqs, int S, int n);

/* out[S n, C]: every rank's rows x[S cnt_r, C] (slot blocks as above), this rank's slot-0
 * rows first, then the others in global order (slot j of example e at j n + e), so the
 * target of local query i is row i and loss_mnrl applies unchanged. Collective, in the
 * forward (all-gather) and in the backward (sum of the row gradients over the ranks). */
int dp_gather_rows(bienc_tape *tape, bienc_tensor *x, int S, int n, bienc_tensor **out);

#endif
