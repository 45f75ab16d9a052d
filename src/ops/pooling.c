/* Pooling: token states of a packed batch -> one embedding per sequence.
 *
 * Shapes: x[T, C] holds n sequences back to back, sequence s in rows
 * offsets[s] .. offsets[s+1]-1; out[n, C]. This is the padded batch + attention mask
 * of sentence-transformers' Pooling module without the padding: mean divides by the
 * real token count, max looks at real tokens only, cls takes each sequence's first row. */
#include "ops/pooling.h"

#include <string.h>

#include "core/error.h"

/* Below this many floats of work a parallel region costs more than it saves. */
#define POOL_PARALLEL_MIN 32768

int pool_mode_from_name(const char *name)
{
    if (!name) return -1;
    if (!strcmp(name, "mean")) return BIENC_POOL_MEAN;
    if (!strcmp(name, "cls")) return BIENC_POOL_CLS;
    if (!strcmp(name, "max")) return BIENC_POOL_MAX;
    return -1;
}

const char *pool_mode_name(bienc_pool_mode mode)
{
    switch (mode) {
    case BIENC_POOL_MEAN: return "mean";
    case BIENC_POOL_CLS: return "cls";
    case BIENC_POOL_MAX: return "max";
    }
    return "unknown";
}

/* Offsets must start at 0, never decrease, end at T, and leave no sequence empty
 * (an empty sequence has no mean, no first token and no max). */
static int pool_check_seqs(const bienc_seqs *seqs, int64_t T)
{
    if (!seqs || !seqs->offsets) return bienc_error(BIENC_EINVAL, "op_pool: seqs or seqs->offsets is NULL");
    if (seqs->n < 1) return bienc_error(BIENC_EINVAL, "op_pool: %d sequences (at least 1 needed)", seqs->n);
    if (seqs->offsets[0] != 0)
        return bienc_error(BIENC_EINVAL, "op_pool: offsets[0] is %d, expected 0", seqs->offsets[0]);
    for (int s = 0; s < seqs->n; s++) {
        if (seqs->offsets[s + 1] < seqs->offsets[s])
            return bienc_error(BIENC_EINVAL, "op_pool: offsets decrease at sequence %d (%d -> %d)", s,
                               seqs->offsets[s], seqs->offsets[s + 1]);
        if (seqs->offsets[s + 1] == seqs->offsets[s])
            return bienc_error(BIENC_EINVAL, "op_pool: sequence %d is empty (no token to pool)", s);
    }
    if (seqs->offsets[seqs->n] != T)
        return bienc_error(BIENC_ESHAPE, "op_pool: offsets end at %d but x has %lld rows", seqs->offsets[seqs->n],
                           (long long)T);
    return BIENC_OK;
}

typedef struct pool_ctx {
    int n, mode;
    int *offsets;   /* n + 1, copied: the caller's array need not outlive the step */
    int32_t *argmax;/* [n, C] row of x that won, max mode only */
} pool_ctx;

/* dx[T, C] += scatter of dout[n, C]: mean spreads dout/len over the sequence, cls sends it
 * to the first row, max to the winning row of each channel. */
static int pool_backward(bienc_tape *tape, bienc_tape_node *node)
{
    pool_ctx *ctx = node->ctx;
    bienc_tensor *x = node->in[0];
    float *dx = tape_grad(tape, x);
    if (!dx) return x->requires_grad ? BIENC_ENOMEM : BIENC_OK;
    const float *dout = node->out->grad;
    const int64_t C = x->shape[1];
    const int n = ctx->n;
#pragma omp parallel for schedule(static) if (x->size >= POOL_PARALLEL_MIN)
    for (int s = 0; s < n; s++) {
        const float *g = dout + (int64_t)s * C;
        int t0 = ctx->offsets[s], t1 = ctx->offsets[s + 1];
        if (ctx->mode == BIENC_POOL_MEAN) {
            float inv = 1.0f / (float)(t1 - t0);
            for (int t = t0; t < t1; t++) {
                float *d = dx + (int64_t)t * C;
                for (int64_t c = 0; c < C; c++) d[c] += g[c] * inv;
            }
        } else if (ctx->mode == BIENC_POOL_CLS) {
            float *d = dx + (int64_t)t0 * C;
            for (int64_t c = 0; c < C; c++) d[c] += g[c];
        } else {
            const int32_t *am = ctx->argmax + (int64_t)s * C;
            for (int64_t c = 0; c < C; c++) dx[(int64_t)am[c] * C + c] += g[c];
        }
    }
    return BIENC_OK;
}

int op_pool(bienc_tape *tape, bienc_tensor *x, const bienc_seqs *seqs, bienc_pool_mode mode, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !out) return bienc_error(BIENC_EINVAL, "op_pool: tape or out is NULL");
    BIENC_TRY(tensor_check(x, "op_pool: x", 2, NULL));
    if (mode != BIENC_POOL_MEAN && mode != BIENC_POOL_CLS && mode != BIENC_POOL_MAX)
        return bienc_error(BIENC_EINVAL, "op_pool: unknown pooling mode %d", (int)mode);
    const int64_t T = x->shape[0], C = x->shape[1];
    if (T > INT32_MAX) return bienc_error(BIENC_ERANGE, "op_pool: %lld tokens (at most 2^31-1)", (long long)T);
    BIENC_TRY(pool_check_seqs(seqs, T));
    const int n = seqs->n;
    const int *off = seqs->offsets;

    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, 2, (int64_t[]){n, C}, &y));
    pool_ctx *ctx;
    BIENC_TRY(tape_record(tape, "pool", pool_backward, y, 1, (bienc_tensor *[]){x}, (void **)&ctx, sizeof *ctx));
    int32_t *argmax = NULL;
    if (ctx) {
        ctx->n = n;
        ctx->mode = mode;
        ctx->offsets = tape_alloc(tape, sizeof(int) * (size_t)(n + 1));
        if (!ctx->offsets) return BIENC_ENOMEM;
        memcpy(ctx->offsets, off, sizeof(int) * (size_t)(n + 1));
        if (mode == BIENC_POOL_MAX) {
            argmax = ctx->argmax = tape_alloc(tape, sizeof(int32_t) * (size_t)(n * C));
            if (!argmax) return BIENC_ENOMEM;
        }
    }

    /* y[s, :] from rows t0..t1-1; each sequence is independent, so threads never share
     * an output and the per-sequence loops run in a fixed order. */
#pragma omp parallel for schedule(static) if (x->size >= POOL_PARALLEL_MIN)
    for (int s = 0; s < n; s++) {
        float *o = y->data + (int64_t)s * C;
        int t0 = off[s], t1 = off[s + 1];
        const float *first = x->data + (int64_t)t0 * C;
        if (mode == BIENC_POOL_CLS) {
            memcpy(o, first, sizeof(float) * (size_t)C);
        } else if (mode == BIENC_POOL_MEAN) {
            memcpy(o, first, sizeof(float) * (size_t)C);
            for (int t = t0 + 1; t < t1; t++) {
                const float *r = x->data + (int64_t)t * C;
                for (int64_t c = 0; c < C; c++) o[c] += r[c];
            }
            float inv = 1.0f / (float)(t1 - t0);
            for (int64_t c = 0; c < C; c++) o[c] *= inv;
        } else {
            /* Strict > keeps the first of equal maxima (ties to the earliest token). */
            int32_t *am = argmax ? argmax + (int64_t)s * C : NULL;
            memcpy(o, first, sizeof(float) * (size_t)C);
            if (am) for (int64_t c = 0; c < C; c++) am[c] = t0;
            for (int t = t0 + 1; t < t1; t++) {
                const float *r = x->data + (int64_t)t * C;
                for (int64_t c = 0; c < C; c++) {
                    if (r[c] > o[c]) {
                        o[c] = r[c];
                        if (am) am[c] = t;
                    }
                }
            }
        }
    }
    *out = y;
    return BIENC_OK;
}
