/* Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_. The norm is
 * accumulated in double over fixed chunks whose boundaries depend only on the tensor
 * size, then summed in order: the result is the same bit for bit at any thread count. */
#include "bienc/optim.h"

#include <math.h>

#include "bienc/error.h"

#define CLIP_CHUNKS 64  /* partial sums per tensor (fixed, so the order is fixed) */

static double tensor_grad_sumsq(const bienc_tensor *t)
{
    const float *g = t->grad;
    int64_t n = t->size;
    if (n < 65536) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
        return s;
    }
    double part[CLIP_CHUNKS];
    int64_t chunk = (n + CLIP_CHUNKS - 1) / CLIP_CHUNKS;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < CLIP_CHUNKS; c++) {
        int64_t lo = (int64_t)c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        double s = 0.0;
        for (int64_t i = lo; i < hi; i++) s += (double)g[i] * (double)g[i];
        part[c] = s;
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
