/* Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_. The norm is
 * accumulated in double over fixed chunks whose boundaries depend only on the tensor
 * size, then summed in order: the result is the same bit for bit at any thread count. */
#include "train/optim.h"

#include <math.h>

#include "core/error.h"

#define CLIP_CHUNKS 64  /* partial sums per tensor (fixed, so the order is fixed) */

/* Sum of squares of g[lo, hi) in double with 8 independent lanes (so it vectorises and
 * is not bound by the latency of one add chain), combined in a fixed order. */
static double sumsq_range(const float *g, int64_t lo, int64_t hi)
{
    double acc[8] = {0};
    int64_t i = lo;
    for (; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)g[i + k] * (double)g[i + k];
    for (; i < hi; i++) acc[i & 7] += (double)g[i] * (double)g[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static double tensor_grad_sumsq(const bienc_tensor *t)
{
    const float *g = t->grad;
    int64_t n = t->size;
    if (n < 65536) return sumsq_range(g, 0, n);
    double part[CLIP_CHUNKS];
    int64_t chunk = (n + CLIP_CHUNKS - 1) / CLIP_CHUNKS;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < CLIP_CHUNKS; c++) {
        int64_t lo = (int64_t)c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        part[c] = lo < hi ? sumsq_range(g, lo, hi) : 0.0;
    }
    double s = 0.0;
    for (int c = 0; c < CLIP_CHUNKS; c++) s += part[c];
    return s;
}

double clip_grad_global_norm(bienc_tensor *const *params, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (params && params[i] && params[i]->grad) s += tensor_grad_sumsq(params[i]);
    return sqrt(s);
}

int clip_grad_norm(bienc_tensor *const *params, int n, double max_norm, double *norm_out)
{
    if (n < 0 || (n > 0 && !params)) return bienc_error(BIENC_EINVAL, "clip_grad_norm: no parameters");
    if (!(max_norm > 0.0)) return bienc_error(BIENC_EINVAL, "clip_grad_norm: max_norm must be > 0, got %g", max_norm);
    double norm = clip_grad_global_norm(params, n);
    if (norm_out) *norm_out = norm;
    if (!isfinite(norm))
        return bienc_error(BIENC_ERANGE, "gradient norm is %s: the gradients hold NaN or Inf", isnan(norm) ? "NaN" : "Inf");
    double coef = max_norm / (norm + 1e-6);
    if (coef >= 1.0) return 0;  /* torch multiplies by 1.0 here, which changes nothing */
    float c = (float)coef;
    for (int i = 0; i < n; i++) {
        bienc_tensor *t = params[i];
        if (!t || !t->grad) continue;
        float *g = t->grad;
        int64_t size = t->size;
#pragma omp parallel for schedule(static) if (size > 32768)
        for (int64_t j = 0; j < size; j++) g[j] *= c;
    }
    return 0;
}
