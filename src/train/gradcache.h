/* GradCache: embeddings of a large batch at the activation memory of a mini-batch (see
 * src/train/gradcache.c for the three passes). */
#ifndef BIENC_GRADCACHE_H
#define BIENC_GRADCACHE_H

#include <stdint.h>

#include "model/biencoder.h"
#include "core/tape.h"

/* emb[n, C] of `batch` on `tape`, computed `mini` sequences at a time on `scratch` without
 * a graph; back-propagating into *out re-embeds each mini-batch on `scratch` with a graph
 * and accumulates the encoder's parameter gradients. `key` keys the dropout masks (the
 * same in both passes); `param` is any trainable parameter of bi (it makes the tape record
 * the node). `batch`'s arrays must live until the backward has run. */
int gradcache_embed(bienc_biencoder *bi, bienc_tape *tape, bienc_tape *scratch, const bienc_batch_ids *batch,
                    int mini, uint64_t key, bienc_tensor *param, bienc_tensor **out);

#endif
