/* Elementwise ops: residual add, bias add (broadcast over rows), scaling, tanh.
 * Forward and backward of each side by side; every loop is a flat vectorisable loop,
 * split over threads only when large enough to pay for the parallel region. */
#include "ops/ops.h"

#include "ops_internal.h"

int ops_colsum_acc(bienc_tape *tape, float *dst, const float *src, int64_t R, int64_t C)
{
    /* Rows are cut into fixed blocks of OPS_ROW_BLOCK (not one per thread): each block's
     * partial sums [C] are computed by whichever thread gets it, reading its rows
     * contiguously, and the partials are then added in block order. The order of every
     * addition is fixed by R and C alone. */
    int64_t n_blocks = (R + OPS_ROW_BLOCK - 1) / OPS_ROW_BLOCK;
    if (n_blocks <= 1) {
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++) dst[c] += src[r * C + c];
        return BIENC_OK;
    }
    float *part = tape_floats(tape, (size_t)(n_blocks * C));
    if (!part) return BIENC_ENOMEM;
#pragma omp parallel for schedule(static) if (R * C >= OPS_PAR_MIN)
    for (int64_t k = 0; k < n_blocks; k++) {
        float *p = part + k * C;
        int64_t r0 = k * OPS_ROW_BLOCK, r1 = r0 + OPS_ROW_BLOCK < R ? r0 + OPS_ROW_BLOCK : R;
        memcpy(p, src + r0 * C, sizeof(float) * (size_t)C);
        for (int64_t r = r0 + 1; r < r1; r++)
            for (int64_t c = 0; c < C; c++) p[c] += src[r * C + c];
    }
    int64_t n_chunks = (C + OPS_COL_CHUNK - 1) / OPS_COL_CHUNK;
#pragma omp parallel for schedule(static) if (n_blocks * C >= OPS_PAR_MIN)
    for (int64_t j = 0; j < n_chunks; j++) {
        int64_t c0 = j * OPS_COL_CHUNK, c1 = c0 + OPS_COL_CHUNK < C ? c0 + OPS_COL_CHUNK : C;
        for (int64_t k = 0; k < n_blocks; k++)
            for (int64_t c = c0; c < c1; c++) dst[c] += part[k * C + c];
    }
    return BIENC_OK;
}

/* ---- add: y = a + b ---- */

static int add_backward(bienc_tape *tape, bienc_tape_node *node)
{
    const float *dy = node->out->grad;
    int64_t n = node->out->size;
    /* a and b may be the same tensor (op_add(x, x)): two passes accumulate 2 dy. */
    for (int i = 0; i < 2; i++) {
        float *d = tape_grad(tape, node->in[i]);
        if (!d) continue;
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
        for (int64_t j = 0; j < n; j++) d[j] += dy[j];
    }
    return BIENC_OK;
}

int op_add(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && a && b && out && a->data && b->data);
    if (!ops_same_shape(a, b)) {
        char sa[96], sb[96];
        return bienc_error(BIENC_ESHAPE, "op_add: shapes %s and %s differ", tensor_shape_str(a, sa, sizeof sa),
                           tensor_shape_str(b, sb, sizeof sb));
    }
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, a->ndim, a->shape, &y));
    int64_t n = a->size;
    const float *pa = a->data, *pb = b->data;
    float *py = y->data;
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
    for (int64_t j = 0; j < n; j++) py[j] = pa[j] + pb[j];
    BIENC_TRY(tape_record(tape, "add", add_backward, y, 2, (bienc_tensor *[]){a, b}, NULL, 0));
    *out = y;
    return BIENC_OK;
}

/* ---- add_bias: y[R, C] = x[R, C] + b[C] ---- */

static int add_bias_backward(bienc_tape *tape, bienc_tape_node *node)
{
    const float *dy = node->out->grad;
    int64_t C = node->in[1]->size, R = C ? node->out->size / C : 0;
    float *dx = tape_grad(tape, node->in[0]);
    if (dx) {
        int64_t n = R * C;
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
        for (int64_t j = 0; j < n; j++) dx[j] += dy[j];
    }
    float *db = tape_grad(tape, node->in[1]);
    if (db) BIENC_TRY(ops_colsum_acc(tape, db, dy, R, C));
    return BIENC_OK;
}

int op_add_bias(bienc_tape *tape, bienc_tensor *x, bienc_tensor *b, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out);
    int64_t R = 0, C = 0;
    BIENC_TRY(ops_rows(x, "op_add_bias: x", &R, &C));
    BIENC_TRY(tensor_check(b, "op_add_bias: bias", 1, (int64_t[]){C}));
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &y));
    const float *px = x->data, *pb = b->data;
    float *py = y->data;
#pragma omp parallel for schedule(static) if (R * C >= OPS_PAR_MIN)
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) py[r * C + c] = px[r * C + c] + pb[c];
    BIENC_TRY(tape_record(tape, "add_bias", add_bias_backward, y, 2, (bienc_tensor *[]){x, b}, NULL, 0));
    *out = y;
    return BIENC_OK;
}

/* ---- reshape: y = x with another shape of the same size (a copy: tape tensors own
 * their block; the sizes this is used for are small) ---- */

static int reshape_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dx = tape_grad(tape, node->in[0]);
    if (!dx) return BIENC_OK;
    const float *dy = node->out->grad;
    for (int64_t j = 0; j < node->out->size; j++) dx[j] += dy[j];
    return BIENC_OK;
}

int op_reshape(bienc_tape *tape, bienc_tensor *x, int ndim, const int64_t *shape, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !x || !out || !x->data || !shape) return bienc_error(BIENC_EINVAL, "op_reshape: NULL argument");
    if (ndim < 1 || ndim > BIENC_MAX_DIMS || tensor_shape_size(ndim, shape) != x->size) {
        char buf[64];
        return bienc_error(BIENC_ESHAPE, "op_reshape: %s has %lld elements, the new shape %lld", tensor_shape_str(x, buf, sizeof buf),
                           (long long)x->size, ndim >= 1 && ndim <= BIENC_MAX_DIMS ? (long long)tensor_shape_size(ndim, shape) : -1LL);
    }
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, ndim, shape, &y));
    memcpy(y->data, x->data, (size_t)x->size * sizeof *y->data);
    BIENC_TRY(tape_record(tape, "reshape", reshape_backward, y, 1, (bienc_tensor *[]){x}, NULL, 0));
    *out = y;
    return BIENC_OK;
}

/* ---- scale: y = alpha x ---- */

typedef struct { float alpha; } scale_ctx;

static int scale_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dx = tape_grad(tape, node->in[0]);
    if (!dx) return BIENC_OK;
    const float *dy = node->out->grad;
    float alpha = ((scale_ctx *)node->ctx)->alpha;
    int64_t n = node->out->size;
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
    for (int64_t j = 0; j < n; j++) dx[j] += alpha * dy[j];
    return BIENC_OK;
}

int op_scale(bienc_tape *tape, bienc_tensor *x, float alpha, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && x && out && x->data);
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &y));
    int64_t n = x->size;
    const float *px = x->data;
    float *py = y->data;
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
    for (int64_t j = 0; j < n; j++) py[j] = alpha * px[j];
    scale_ctx *ctx;
    BIENC_TRY(tape_record(tape, "scale", scale_backward, y, 1, (bienc_tensor *[]){x}, (void **)&ctx, sizeof *ctx));
    if (ctx) ctx->alpha = alpha;
    *out = y;
    return BIENC_OK;
}

/* ---- tanh: forward and backward side by side ---- */

static int tanh_backward(bienc_tape *tape, bienc_tape_node *node)
{
    bienc_tensor *x = node->in[0], *y = node->out;
    float *dx = tape_grad(tape, x);
    if (!dx) return 0;
    const float *dy = y->grad, *yv = y->data;
    /* dy/dx = 1 - tanh(x)^2, from the saved output */
    for (int64_t i = 0; i < y->size; i++) dx[i] += dy[i] * (1.0f - yv[i] * yv[i]);
    return 0;
}

int op_tanh(bienc_tape *tape, bienc_tensor *x, bienc_tensor **out)
{
    BIENC_ASSERT(tape && x && out);
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &y));
    for (int64_t i = 0; i < x->size; i++) y->data[i] = tanhf(x->data[i]);
    void *ctx;
    BIENC_TRY(tape_record(tape, "tanh", tanh_backward, y, 1, (bienc_tensor *[]){x}, &ctx, 0));
    *out = y;
    return 0;
}
