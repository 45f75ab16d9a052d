/* GradCache (Gao et al. 2021; sentence-transformers' CachedMultipleNegativesRankingLoss):
 * MNRL over a large batch at the activation memory of a small one.
 *
 *   1. embed the batch's queries and passages in mini-batches WITHOUT a graph (no-grad),
 *      keeping only the embeddings [n, C];
 *   2. the loss over all of them, on the caller's tape, from those embeddings as inputs;
 *   3. in the backward, the loss hands each embedding row its gradient dL/de; each
 *      mini-batch is then embedded again WITH a graph on a scratch tape (same tokens, same
 *      dropout key, so the very same embeddings) and back-propagated from dL/de into the
 *      encoder's parameter gradients, one mini-batch at a time.
 * The parameter gradients equal plain MNRL's on the same batch (tested: up to sgemm
 * rounding). With dropout, each mini-batch draws the masks its sequences get in the whole
 * batch (bienc_seqs.mask_tok / mask_sq, key rng_hash_u64(key, 0) for every mini-batch), so
 * the embeddings are plain biencoder_embed(batch, rng_hash_u64(key, 0))'s whatever the
 * mini-batch size. The price is one extra forward pass. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "train/gradcache.h"

/* The sequences [s0, s1) of a packed batch as a batch of their own, with the dropout
 * layout of the whole batch (b->seqs.mask_tok / mask_sq, set by with_mask_layout);
 * offsets is room for s1 - s0 + 1 ints. */
static bienc_batch_ids sub_batch(const bienc_batch_ids *b, int s0, int s1, int *offsets)
{
    int base = b->seqs.offsets[s0];
    for (int i = s0; i <= s1; i++) offsets[i - s0] = b->seqs.offsets[i] - base;
    bienc_batch_ids s = {.ids = b->ids + base, .type_ids = b->type_ids ? b->type_ids + base : NULL,
                         .seqs = {.n = s1 - s0, .offsets = offsets, .mask_tok = b->seqs.mask_tok + s0,
                                  .mask_sq = b->seqs.mask_sq + s0}};
    return s;
}

/* *b with a dropout layout: the caller's (a part of a larger batch already) or the
 * batch's own, in arrays on `tape` (they live until the backward has run). */
static int with_mask_layout(bienc_tape *tape, const bienc_batch_ids *b, bienc_batch_ids *out)
{
    *out = *b;
    if (b->seqs.mask_tok && b->seqs.mask_sq) return 0;
    int n = b->seqs.n;
    int64_t *tok = tape_alloc(tape, 2 * sizeof(int64_t) * (size_t)(n ? n : 1)), *sq = tok + (n ? n : 1);
    if (!tok) return BIENC_ENOMEM;
    int64_t acc = 0;
    for (int s = 0; s < n; s++) {
        int64_t L = b->seqs.offsets[s + 1] - b->seqs.offsets[s];
        tok[s] = b->seqs.offsets[s];
        sq[s] = acc;
        acc += L * L;
    }
    out->seqs.mask_tok = tok;
    out->seqs.mask_sq = sq;
    return 0;
}

typedef struct gc_ctx {
    bienc_biencoder *bi;
    bienc_tape *scratch;
    bienc_batch_ids batch;  /* the side's whole packed batch (arrays owned by the caller's batch) */
    int mini;
    uint64_t key;
} gc_ctx;

/* The dropout key of every mini-batch: the whole batch's masks come from one key. */
static uint64_t mask_key(uint64_t key) { return rng_hash_u64(key, 0); }

/* Pass 3: re-embed each mini-batch with a graph and push dL/de through it. */
static int gc_backward(bienc_tape *tape, bienc_tape_node *node)
{
    (void)tape;
    const gc_ctx *g = node->ctx;
    const float *de = node->out->grad;
    int n = g->batch.seqs.n, C = (int)node->out->shape[1];
    int *offsets = malloc((size_t)(g->mini + 1) * sizeof *offsets);
    if (!offsets) return bienc_error(BIENC_ENOMEM, "GradCache: out of memory");
    int rc = 0;
    for (int s0 = 0; rc == 0 && s0 < n; s0 += g->mini) {
        int s1 = s0 + g->mini < n ? s0 + g->mini : n;
        bienc_batch_ids sb = sub_batch(&g->batch, s0, s1, offsets);
        tape_reset(g->scratch);
        bienc_tensor *e;
        rc = biencoder_embed(g->bi, g->scratch, &sb, 1, mask_key(g->key), &e);
        if (rc == 0) rc = tape_backward_from(g->scratch, e, de + (size_t)s0 * C);
    }
    tape_reset(g->scratch);
    free(offsets);
    return rc;
}

int gradcache_embed(bienc_biencoder *bi, bienc_tape *tape, bienc_tape *scratch, const bienc_batch_ids *batch,
                    int mini, uint64_t key, bienc_tensor *param, bienc_tensor **out)
{
    int n = batch->seqs.n, C = biencoder_dim(bi);
    BIENC_TRY(tape_tensor(tape, 2, (int64_t[]){n, C}, out));
    bienc_batch_ids whole;
    BIENC_TRY(with_mask_layout(tape, batch, &whole));
    batch = &whole;
    int *offsets = malloc((size_t)(mini + 1) * sizeof *offsets);
    if (!offsets) return bienc_error(BIENC_ENOMEM, "GradCache: out of memory");
    /* pass 1: no graph, one mini-batch's activations at a time */
    int rc = 0;
    tape_set_grad_enabled(scratch, 0);
    for (int s0 = 0; rc == 0 && s0 < n; s0 += mini) {
        int s1 = s0 + mini < n ? s0 + mini : n;
        bienc_batch_ids sb = sub_batch(batch, s0, s1, offsets);
        tape_reset(scratch);
        bienc_tensor *e;
        /* training = 1: the same dropout masks as pass 3's, so the same embeddings */
        rc = biencoder_embed(bi, scratch, &sb, 1, mask_key(key), &e);
        if (rc == 0) memcpy((*out)->data + (size_t)s0 * C, e->data, (size_t)(s1 - s0) * C * sizeof(float));
    }
    tape_reset(scratch);
    tape_set_grad_enabled(scratch, 1);
    free(offsets);
    BIENC_TRY(rc);
    /* the embeddings enter the caller's graph through a node whose backward is pass 3;
     * `param` (any trainable parameter) makes tape_record record it */
    gc_ctx *g;
    BIENC_TRY(tape_record(tape, "gradcache", gc_backward, *out, 1, &param, (void **)&g, sizeof *g));
    if (g) *g = (gc_ctx){.bi = bi, .scratch = scratch, .batch = *batch, .mini = mini, .key = key};
    return 0;
}
