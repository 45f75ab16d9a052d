/* Inverted dropout with a counter-based mask: element i of the call with key `key` is
 * kept when rng_hash_uniform(key, i) >= p and then scaled by 1 / (1 - p). The mask is a
 * pure function of (key, i), so it is the same for any thread count, costs no memory
 * (the backward recomputes it) and is reproducible from the seed. */
#include "ops/ops.h"

#include "ops_internal.h"

typedef struct {
    float p, scale;
    uint64_t key;
} dropout_ctx;

static int dropout_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dx = tape_grad(tape, node->in[0]);
    if (!dx) return BIENC_OK;
    dropout_ctx *ctx = node->ctx;
    const float *dy = node->out->grad;
    int64_t n = node->out->size;
    float p = ctx->p, scale = ctx->scale;
    uint64_t key = ctx->key;
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++)
        if (ops_hash_uniform(key, (uint64_t)i) >= p) dx[i] += scale * dy[i];
    return BIENC_OK;
}

int op_dropout(bienc_tape *tape, bienc_tensor *x, float p, uint64_t key, int training, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && x && out && x->data);
    if (!(p >= 0.0f && p < 1.0f)) return bienc_error(BIENC_EINVAL, "op_dropout: probability %g outside [0, 1)", p);
    if (!training || p == 0.0f) {
        *out = x; /* identity: no copy, no node */
        return BIENC_OK;
    }
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &y));
    int64_t n = x->size;
    float scale = 1.0f / (1.0f - p);
    const float *px = x->data;
    float *py = y->data;
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) py[i] = ops_hash_uniform(key, (uint64_t)i) >= p ? px[i] * scale : 0.0f;
    dropout_ctx *ctx;
    BIENC_TRY(tape_record(tape, "dropout", dropout_backward, y, 1, (bienc_tensor *[]){x}, (void **)&ctx, sizeof *ctx));
    if (ctx) *ctx = (dropout_ctx){p, scale, key};
    *out = y;
    return BIENC_OK;
}
