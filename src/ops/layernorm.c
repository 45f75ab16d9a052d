/* LayerNorm over the last dimension: y[R, C] = (x - mean) / sqrt(var + eps) * gamma + beta,
 * with the biased variance (as torch.nn.LayerNorm). The forward saves mean[R] and
 * rstd[R] so the backward can rebuild xhat without storing it. */
#include "ops/ops.h"

#include <math.h>

#include "ops_internal.h"

/* sum_c (x[c] - m)^2, in OPS_LANES partial sums (see ops_sum). */
static float layernorm_sum_sq(const float *x, float m, int64_t n)
{
    float acc[OPS_LANES] = {0};
    int64_t i = 0;
    for (; i + OPS_LANES <= n; i += OPS_LANES)
        for (int j = 0; j < OPS_LANES; j++) acc[j] += (x[i + j] - m) * (x[i + j] - m);
    for (int j = 0; i < n; i++, j++) acc[j] += (x[i] - m) * (x[i] - m);
    return ops_combine(acc);
}

/* *sum_dn = sum_c dy gamma, *sum_dn_xc = sum_c dy gamma (x - m). */
static void layernorm_row_sums(const float *dy, const float *gamma, const float *x, float m, int64_t n,
                               float *sum_dn, float *sum_dn_xc)
{
    float a[OPS_LANES] = {0}, b[OPS_LANES] = {0};
    int64_t i = 0;
    for (; i + OPS_LANES <= n; i += OPS_LANES)
        for (int j = 0; j < OPS_LANES; j++) {
            float dn = dy[i + j] * gamma[i + j];
            a[j] += dn;
            b[j] += dn * (x[i + j] - m);
        }
    for (int j = 0; i < n; i++, j++) {
        float dn = dy[i] * gamma[i];
        a[j] += dn;
        b[j] += dn * (x[i] - m);
    }
    *sum_dn = ops_combine(a);
    *sum_dn_xc = ops_combine(b);
}

typedef struct {
    int64_t R, C;
    float *mean, *rstd; /* [R] each, arena */
} layernorm_ctx;

static int layernorm_backward(bienc_tape *tape, bienc_tape_node *node)
{
    layernorm_ctx *ctx = node->ctx;
    int64_t R = ctx->R, C = ctx->C;
    const float *x = node->in[0]->data, *gamma = node->in[1]->data, *dy = node->out->grad;
    const float *mean = ctx->mean, *rstd = ctx->rstd;
    float *dx = tape_grad(tape, node->in[0]);
    float *dgamma = tape_grad(tape, node->in[1]);
    float *dbeta = tape_grad(tape, node->in[2]);

    /* dx: rows are independent. With dn = dy gamma,
     * dx = rstd (dn - mean(dn) - xhat mean(dn xhat)). */
    if (dx) {
#pragma omp parallel for schedule(static) if (R * C >= OPS_PAR_MIN)
        for (int64_t r = 0; r < R; r++) {
            const float *xr = x + r * C, *dyr = dy + r * C;
            float m = mean[r], s = rstd[r];
            float sum_dn, sum_dn_xc;
            layernorm_row_sums(dyr, gamma, xr, m, C, &sum_dn, &sum_dn_xc);
            float a = sum_dn / (float)C, bm = sum_dn_xc * s / (float)C;
            float *dxr = dx + r * C;
            for (int64_t c = 0; c < C; c++) {
                float xhat = (xr[c] - m) * s;
                dxr[c] += s * (dyr[c] * gamma[c] - a - xhat * bm);
            }
        }
    }

    /* dgamma = sum_r dy xhat, dbeta = sum_r dy: partial sums over fixed blocks of rows
     * (contiguous reads), then added in block order, so the parameter gradients do not
     * depend on the thread count (as ops_colsum_acc). */
    if (dgamma || dbeta) {
        int64_t n_blocks = (R + OPS_ROW_BLOCK - 1) / OPS_ROW_BLOCK;
        float *part = tape_floats(tape, (size_t)(n_blocks * 2 * C));
        if (!part) return BIENC_ENOMEM;
#pragma omp parallel for schedule(static) if (R * C >= OPS_PAR_MIN)
        for (int64_t k = 0; k < n_blocks; k++) {
            float *pg = part + k * 2 * C, *pb = pg + C;
            memset(pg, 0, sizeof(float) * 2 * (size_t)C);
            int64_t r1 = (k + 1) * OPS_ROW_BLOCK < R ? (k + 1) * OPS_ROW_BLOCK : R;
            for (int64_t r = k * OPS_ROW_BLOCK; r < r1; r++) {
                const float *xr = x + r * C, *dyr = dy + r * C;
                float m = mean[r], s = rstd[r];
                for (int64_t c = 0; c < C; c++) {
                    pg[c] += dyr[c] * ((xr[c] - m) * s);
                    pb[c] += dyr[c];
                }
            }
        }
        for (int64_t k = 0; k < n_blocks; k++) {
            const float *pg = part + k * 2 * C, *pb = pg + C;
            for (int64_t c = 0; dgamma && c < C; c++) dgamma[c] += pg[c];
            for (int64_t c = 0; dbeta && c < C; c++) dbeta[c] += pb[c];
        }
    }
    return BIENC_OK;
}

int op_layernorm(bienc_tape *tape, bienc_tensor *x, bienc_tensor *gamma, bienc_tensor *beta, float eps,
                 bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out);
    int64_t R = 0, C = 0;
    BIENC_TRY(ops_rows(x, "op_layernorm: x", &R, &C));
    BIENC_TRY(tensor_check(gamma, "op_layernorm: gamma", 1, (int64_t[]){C}));
    BIENC_TRY(tensor_check(beta, "op_layernorm: beta", 1, (int64_t[]){C}));
    if (!(eps >= 0.0f)) return bienc_error(BIENC_EINVAL, "op_layernorm: eps must be >= 0, got %g", eps);
    if (C == 0) return bienc_error(BIENC_ESHAPE, "op_layernorm: the normalised dimension is empty");
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &y));
    float *mean = tape_floats(tape, (size_t)R), *rstd = tape_floats(tape, (size_t)R);
    if (!mean || !rstd) return BIENC_ENOMEM;
    const float *px = x->data, *pg = gamma->data, *pb = beta->data;
    float *py = y->data;
#pragma omp parallel for schedule(static) if (R * C >= OPS_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = px + r * C;
        float m = ops_sum(xr, C) / (float)C;
        float var = layernorm_sum_sq(xr, m, C); /* two passes: no cancellation for rows with a large mean */
        float s = 1.0f / sqrtf(var / (float)C + eps);
        float *yr = py + r * C;
        for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - m) * s * pg[c] + pb[c];
        mean[r] = m;
        rstd[r] = s;
    }
    layernorm_ctx *ctx;
    BIENC_TRY(tape_record(tape, "layernorm", layernorm_backward, y, 3, (bienc_tensor *[]){x, gamma, beta},
                          (void **)&ctx, sizeof *ctx));
    if (ctx) *ctx = (layernorm_ctx){R, C, mean, rstd};
    *out = y;
    return BIENC_OK;
}
