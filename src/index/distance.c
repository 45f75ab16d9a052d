/* Distance kernels for HNSW: squared L2 and negated dot product, in AVX-512, AVX2+FMA
 * and portable C. The vector versions are compiled with target attributes, so a
 * portable build (BIENC_NATIVE=OFF) still gets them, and the choice is made once at
 * run time with __builtin_cpu_supports. Lower is closer for every kernel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1
#endif

static float dot_scalar(const float *a, const float *b, int dim)
{
    /* four partial sums: lets the compiler vectorise without -ffast-math */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= dim; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < dim; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float l2_scalar(const float *a, const float *b, int dim)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= dim; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1], d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i < dim; i++) s0 += (a[i] - b[i]) * (a[i] - b[i]);
    return (s0 + s1) + (s2 + s3);
}

#ifdef HAVE_X86
__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b, int dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= dim; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= dim; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < dim) {
        /* masked tail: no scalar loop and no read past the end */
        __mmask16 m = (__mmask16)((1u << (dim - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx512f"))) static float l2_avx512(const float *a, const float *b, int dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= dim; i += 64) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= dim; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < dim) {
        __mmask16 m = (__mmask16)((1u << (dim - i)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx2,fma"))) static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int dim)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= dim; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= dim; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < dim; i++) s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma"))) static float l2_avx2(const float *a, const float *b, int dim)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= dim; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < dim; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

__attribute__((target("avx512f"))) static float negdot_avx512(const float *a, const float *b, int dim)
{
    return -dot_avx512(a, b, dim);
}
__attribute__((target("avx2,fma"))) static float negdot_avx2(const float *a, const float *b, int dim)
{
    return -dot_avx2(a, b, dim);
}
#endif

static float negdot_scalar(const float *a, const float *b, int dim) { return -dot_scalar(a, b, dim); }

/* 0 scalar, 1 avx2, 2 avx512; BIENC_SIMD=scalar|avx2 forces a lower level (tests). */
static int simd_level(void)
{
    static int level = -1;
    if (level >= 0) return level;
    int l = 0;
#ifdef HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) l = 1;
    if (__builtin_cpu_supports("avx512f")) l = 2;
#endif
    const char *env = getenv("BIENC_SIMD");
    if (env && strcmp(env, "scalar") == 0) l = 0;
    if (env && strcmp(env, "avx2") == 0 && l > 1) l = 1;
    level = l;
    return level;
}

hnsw_dist_fn distance_select(int metric)
{
    int l = simd_level();
#ifdef HAVE_X86
    if (l == 2) return metric == BIENC_INDEX_L2 ? l2_avx512 : negdot_avx512;
    if (l == 1) return metric == BIENC_INDEX_L2 ? l2_avx2 : negdot_avx2;
#endif
    (void)l;
    return metric == BIENC_INDEX_L2 ? l2_scalar : negdot_scalar;
}

hnsw_dist_fn distance_kernel(int metric, int level)
{
    if (level > simd_level()) return NULL;
#ifdef HAVE_X86
    if (level == 2) return metric == BIENC_INDEX_L2 ? l2_avx512 : negdot_avx512;
    if (level == 1) return metric == BIENC_INDEX_L2 ? l2_avx2 : negdot_avx2;
#endif
    if (level != 0) return NULL;
    return metric == BIENC_INDEX_L2 ? l2_scalar : negdot_scalar;
}

float distance_dot(const float *a, const float *b, int dim)
{
#ifdef HAVE_X86
    int l = simd_level();
    if (l == 2) return dot_avx512(a, b, dim);
    if (l == 1) return dot_avx2(a, b, dim);
#endif
    return dot_scalar(a, b, dim);
}

void distance_normalize(float *x, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)x[i] * x[i];
    if (s <= 0) return; /* the zero vector stays zero: every score against it is 0 */
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < dim; i++) x[i] *= inv;
}
