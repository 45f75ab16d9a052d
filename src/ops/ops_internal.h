/* Helpers shared by the op files (private to src/ops/). */
#ifndef BIENC_OPS_INTERNAL_H
#define BIENC_OPS_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "core/tape.h"
#include "core/tensor.h"

/* Below this many elements an OpenMP region costs more than it saves. */
#define OPS_PAR_MIN 32768

/* Columns per task in column reductions: 64 floats = 4 AVX-512 vectors. */
#define OPS_COL_CHUNK 64

/* x viewed as rows of C = its last dimension: sets *rows. Errors name `what`. */
static inline int ops_rows(const bienc_tensor *x, const char *what, int64_t *rows, int64_t *cols)
{
    if (!x || !x->data) return bienc_error(BIENC_EINVAL, "%s: input tensor is NULL", what);
    if (x->ndim < 1) return bienc_error(BIENC_ESHAPE, "%s: input has no dimensions", what);
    *cols = x->shape[x->ndim - 1];
    *rows = *cols ? x->size / *cols : 0;
    return BIENC_OK;
}

static inline int ops_same_shape(const bienc_tensor *a, const bienc_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Rows per block in column reductions. */
#define OPS_ROW_BLOCK 32

/* dst[C] += sum over rows of src[R, C] (bias gradients), with scratch from the tape's
 * arena. The order of additions depends only on R and C, never on the thread count. */
int ops_colsum_acc(bienc_tape *tape, float *dst, const float *src, int64_t R, int64_t C);

/* e^x in float, written as plain arithmetic so that loops calling it vectorise
 * (libm's expf does not without -ffast-math). Range reduction x = n ln2 + r,
 * |r| <= ln2/2, degree-7 Taylor polynomial: about 2 ulp. Underflows to 0 below -87.3,
 * saturates at e^88. */
static inline float ops_expf(float x)
{
    /* NaN in, NaN out: replaced by 0 for the arithmetic so that no float -> int
     * conversion below sees a NaN (undefined behaviour), restored at the end. */
    int is_nan = x != x;
    float nan_value = x;
    x = is_nan ? 0.0f : x;
    x = x > 88.0f ? 88.0f : x;   /* keeps n <= 127 so 2^n is finite */
    int under = x < -87.3f;
    x = x < -87.3f ? -87.3f : x;
    /* round to nearest by adding and subtracting 1.5 * 2^23 (vectorises, unlike roundf) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f;       /* ln2, high part (exact product) */
    r = r - n * 1.428606765330187045e-06f;      /* ln2, low part */
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return is_nan ? nan_value : under ? 0.0f : p * scale;
}

/* rng_hash_uniform(key, i), inline so that mask loops vectorise (the same arithmetic as
 * src/core/rng.c: splitmix64 of key ^ i * odd constant; tests compare the two). */
static inline float ops_hash_uniform(uint64_t key, uint64_t i)
{
    uint64_t z = (key ^ (i * 0xD1B54A32D192ED03ull)) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* Row reductions with 16 independent partial sums, combined in a fixed order: the
 * compiler can vectorise them (a single running float sum cannot be reordered without
 * -ffast-math) and the result is still the same on every run. */
#define OPS_LANES 16

static inline float ops_combine(const float *acc)
{
    float s = 0.0f;
    for (int j = 0; j < OPS_LANES; j++) s += acc[j];
    return s;
}

static inline float ops_sum(const float *x, int64_t n)
{
    float acc[OPS_LANES] = {0};
    int64_t i = 0;
    for (; i + OPS_LANES <= n; i += OPS_LANES)
        for (int j = 0; j < OPS_LANES; j++) acc[j] += x[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += x[i];
    return ops_combine(acc);
}

static inline float ops_dot(const float *a, const float *b, int64_t n)
{
    float acc[OPS_LANES] = {0};
    int64_t i = 0;
    for (; i + OPS_LANES <= n; i += OPS_LANES)
        for (int j = 0; j < OPS_LANES; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    return ops_combine(acc);
}

static inline float ops_max(const float *x, int64_t n)
{
    float acc[OPS_LANES];
    for (int j = 0; j < OPS_LANES; j++) acc[j] = -INFINITY;
    int64_t i = 0;
    for (; i + OPS_LANES <= n; i += OPS_LANES)
        for (int j = 0; j < OPS_LANES; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    for (int j = 0; i < n; i++, j++) acc[j] = x[i] > acc[j] ? x[i] : acc[j];
    float m = acc[0];
    for (int j = 1; j < OPS_LANES; j++) m = acc[j] > m ? acc[j] : m;
    return m;
}

/* y[n] = softmax(x[n]) (y may alias x): max-subtracted, so large logits do not overflow. */
static inline void ops_softmax_row(float *y, const float *x, int64_t n)
{
    float mx = ops_max(x, n);
    for (int64_t i = 0; i < n; i++) y[i] = ops_expf(x[i] - mx);
    float inv = 1.0f / ops_sum(y, n);
    for (int64_t i = 0; i < n; i++) y[i] *= inv;
}

#endif
