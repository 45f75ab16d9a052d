/* GELU, two forms:
 *  erf  (BERT's "gelu"):     y = 0.5 x (1 + erf(x / sqrt 2))
 *  tanh ("gelu_new", torch approximate='tanh'):
 *                            y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * erf and tanh are built from ops_expf so that the loops vectorise. */
#include "ops/ops.h"

#include "ops_internal.h"

#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_INV_SQRT_2 0.7071067811865476f
#define GELU_INV_SQRT_2PI 0.3989422804014327f

/* 1 + erf(z), Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7): for z >= 0,
 * erf(z) = 1 - t (a1 + t (a2 + ...)) e^{-z^2} with t = 1 / (1 + p z). Computing 1 + erf
 * directly keeps the tail for negative z (where 1 + erf is tiny) free of cancellation. */
static inline float gelu_one_plus_erf(float z)
{
    float az = z < 0.0f ? -z : z;
    float t = 1.0f / (1.0f + 0.3275911f * az);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float q = poly * ops_expf(-az * az); /* erfc(|z|) */
    return z < 0.0f ? q : 2.0f - q;
}

static inline float gelu_tanh(float u) { return 1.0f - 2.0f / (ops_expf(2.0f * u) + 1.0f); }

typedef struct { bienc_gelu_kind kind; } gelu_ctx;

static int gelu_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dx = tape_grad(tape, node->in[0]);
    if (!dx) return BIENC_OK;
    const float *x = node->in[0]->data, *dy = node->out->grad;
    int64_t n = node->out->size;
    if (((gelu_ctx *)node->ctx)->kind == BIENC_GELU_ERF) {
        /* dy/dx = 0.5 (1 + erf(x/sqrt2)) + x phi(x), phi the standard normal density */
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float xi = x[i];
            float g = 0.5f * gelu_one_plus_erf(xi * GELU_INV_SQRT_2) + xi * GELU_INV_SQRT_2PI * ops_expf(-0.5f * xi * xi);
            dx[i] += g * dy[i];
        }
    } else {
        /* with u = k (x + 0.044715 x^3), t = tanh u:
         * dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2) */
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float xi = x[i];
            float t = gelu_tanh(GELU_SQRT_2_OVER_PI * (xi + 0.044715f * xi * xi * xi));
            float g = 0.5f * (1.0f + t) +
                      0.5f * xi * (1.0f - t * t) * GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * xi * xi);
            dx[i] += g * dy[i];
        }
    }
    return BIENC_OK;
}

int op_gelu(bienc_tape *tape, bienc_tensor *x, bienc_gelu_kind kind, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && x && out && x->data);
    if (kind != BIENC_GELU_ERF && kind != BIENC_GELU_TANH)
        return bienc_error(BIENC_EINVAL, "op_gelu: unknown GELU kind %d", (int)kind);
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &y));
    const float *px = x->data;
    float *py = y->data;
    int64_t n = x->size;
    if (kind == BIENC_GELU_ERF) {
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
        for (int64_t i = 0; i < n; i++) py[i] = 0.5f * px[i] * gelu_one_plus_erf(px[i] * GELU_INV_SQRT_2);
    } else {
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float xi = px[i];
            py[i] = 0.5f * xi * (1.0f + gelu_tanh(GELU_SQRT_2_OVER_PI * (xi + 0.044715f * xi * xi * xi)));
        }
    }
    gelu_ctx *ctx;
    BIENC_TRY(tape_record(tape, "gelu", gelu_backward, y, 1, (bienc_tensor *[]){x}, (void **)&ctx, sizeof *ctx));
    if (ctx) ctx->kind = kind;
    *out = y;
    return BIENC_OK;
}
