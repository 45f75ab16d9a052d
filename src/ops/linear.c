/* Linear layer on OpenBLAS: y[R, out] = x[R, in] W[out, in]^T + b[out] (nn.Linear layout).
 * R is every leading dimension of x flattened (T tokens of a packed batch). On a bf16
 * tape the three products (y, dx, dW) round their inputs to bf16 and accumulate in fp32
 * (src/ops/gemm_bf16.h); the bias and its gradient stay fp32. On an int8 tape (inference)
 * the forward product runs on dynamically quantised int8 (src/ops/gemm_i8.h), and a
 * backward, if one is asked for, in bf16. */
#include "ops/ops.h"

#include <cblas.h>

#include "gemm_bf16.h"
#include "gemm_i8.h"
#include "ops_internal.h"

typedef struct {
    int64_t R, in, out;
    bienc_precision precision; /* of the forward, used by the backward too */
} linear_ctx;

static int linear_backward(bienc_tape *tape, bienc_tape_node *node)
{
    linear_ctx *ctx = node->ctx;
    int64_t R = ctx->R, Cin = ctx->in, Cout = ctx->out;
    bienc_tensor *x = node->in[0], *W = node->in[1], *b = node->n_in > 2 ? node->in[2] : NULL;
    const float *dy = node->out->grad;               /* [R, Cout] */
    if (R == 0) return BIENC_OK;
    float *dx = tape_grad(tape, x);
    if (dx && Cout > 0) /* dx[R, Cin] += dy[R, Cout] W[Cout, Cin] */
        BIENC_TRY(ops_gemm(ctx->precision, CblasNoTrans, CblasNoTrans, (int)R, (int)Cin, (int)Cout, 1.0f, dy,
                           (int)Cout, W->data, (int)Cin, 1.0f, dx, (int)Cin));
    float *dW = tape_grad(tape, W);
    if (dW && Cin > 0 && Cout > 0) /* dW[Cout, Cin] += dy^T[Cout, R] x[R, Cin] */
        BIENC_TRY(ops_gemm(ctx->precision, CblasTrans, CblasNoTrans, (int)Cout, (int)Cin, (int)R, 1.0f, dy,
                           (int)Cout, x->data, (int)Cin, 1.0f, dW, (int)Cin));
    float *db = b ? tape_grad(tape, b) : NULL;
    if (db) BIENC_TRY(ops_colsum_acc(tape, db, dy, R, Cout));
    return BIENC_OK;
}

int op_linear(bienc_tape *tape, bienc_tensor *x, bienc_tensor *W, bienc_tensor *b, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out);
    int64_t R = 0, Cin = 0;
    BIENC_TRY(ops_rows(x, "op_linear: x", &R, &Cin));
    BIENC_TRY(tensor_check(W, "op_linear: weight", 2, (int64_t[]){-1, Cin}));
    int64_t Cout = W->shape[0];
    if (b) BIENC_TRY(tensor_check(b, "op_linear: bias", 1, (int64_t[]){Cout}));
    if (R > INT32_MAX || Cin > INT32_MAX || Cout > INT32_MAX)
        return bienc_error(BIENC_ERANGE, "op_linear: dimensions exceed BLAS's 32-bit sizes");
    int64_t shape[BIENC_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = Cout;
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, shape, &y));
    float *py = y->data;
    float beta = 0.0f;
    bienc_precision precision = tape_precision(tape);
    int int8 = precision == BIENC_PRECISION_INT8 && Cin > 0 && Cin <= GEMM_I8_MAX_K;
    if (int8 && R > 0 && Cout > 0) { /* the bias is added as the int8 products are scaled back */
        BIENC_TRY(gemm_i8_xwt((int)R, (int)Cout, (int)Cin, x->data, (int)Cin, W->data, (int)Cin, b ? b->data : NULL,
                              0.0f, py, (int)Cout));
    } else if (b) {
        /* Start from the bias rows and let sgemm accumulate onto them. */
        const float *pb = b->data;
#pragma omp parallel for schedule(static) if (R * Cout >= OPS_PAR_MIN)
        for (int64_t r = 0; r < R; r++)
            for (int64_t o = 0; o < Cout; o++) py[r * Cout + o] = pb[o];
        beta = 1.0f;
    }
    if (R > 0 && Cout > 0 && !int8) {
        if (Cin > 0)
            BIENC_TRY(ops_gemm(precision, CblasNoTrans, CblasTrans, (int)R, (int)Cout, (int)Cin, 1.0f, x->data,
                               (int)Cin, W->data, (int)Cin, beta, py, (int)Cout));
        else if (!b)
            memset(py, 0, sizeof(float) * (size_t)(R * Cout));
    }
    linear_ctx *ctx;
    BIENC_TRY(tape_record(tape, "linear", linear_backward, y, b ? 3 : 2, (bienc_tensor *[]){x, W, b},
                          (void **)&ctx, sizeof *ctx));
    if (ctx) *ctx = (linear_ctx){R, Cin, Cout, precision == BIENC_PRECISION_INT8 ? BIENC_PRECISION_BF16 : precision};
    *out = y;
    return BIENC_OK;
}
