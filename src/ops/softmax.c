/* Softmax over the last dimension: y[R, C] = exp(x - max) / sum exp(x - max).
 * The backward uses the saved output: dx = y (dy - sum(dy y)). */
#include "ops/ops.h"

#include "ops_internal.h"

typedef struct { int64_t R, C; } softmax_ctx;

static int softmax_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dx = tape_grad(tape, node->in[0]);
    if (!dx) return BIENC_OK;
    softmax_ctx *ctx = node->ctx;
    int64_t R = ctx->R, C = ctx->C;
    const float *y = node->out->data, *dy = node->out->grad;
#pragma omp parallel for schedule(static) if (R * C >= OPS_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        const float *yr = y + r * C, *dyr = dy + r * C;
        float dot = ops_dot(dyr, yr, C);
        float *dxr = dx + r * C;
        for (int64_t c = 0; c < C; c++) dxr[c] += yr[c] * (dyr[c] - dot);
    }
    return BIENC_OK;
}

int op_softmax(bienc_tape *tape, bienc_tensor *x, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out);
    int64_t R = 0, C = 0;
    BIENC_TRY(ops_rows(x, "op_softmax: x", &R, &C));
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &y));
    const float *px = x->data;
    float *py = y->data;
#pragma omp parallel for schedule(static) if (R * C >= OPS_PAR_MIN)
    for (int64_t r = 0; r < R; r++) ops_softmax_row(py + r * C, px + r * C, C);
    softmax_ctx *ctx;
    BIENC_TRY(tape_record(tape, "softmax", softmax_backward, y, 1, (bienc_tensor *[]){x}, (void **)&ctx, sizeof *ctx));
    if (ctx) *ctx = (softmax_ctx){R, C};
    *out = y;
    return BIENC_OK;
}
