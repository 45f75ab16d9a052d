/* int8 products of inference: the AVX512_VNNI kernel and the portable fallback (see
 * gemm_i8.h for the arithmetic).
 *
 * The kernel has the shape of the bf16 one (gemm_bf16.c), with quads for pairs:
 * vpdpbusd adds to lane j of its int32 result a[4j..4j+3] . b[4j..4j+3], u8 times s8, so
 * every packed operand holds 4 consecutive k values as one 32-bit word:
 *   - W is quantised and packed once per call into panels of NR = 32 columns, [K4][32]
 *     words (K4 = K / 4 rounded up; pads are 0 in W, so they add nothing);
 *   - threads take blocks of MC rows of X (dynamic schedule), quantise each row into
 *     micro-panels of MR rows ([MR][rs] words), and multiply them with every panel; the
 *     micro-kernel keeps an MR x 32 int32 tile in 2 MR zmm accumulators over all of K
 *     (exact: no chunks needed), then scales it to fp32 and adds it to Y.
 * A packed X block (MC x K bytes, 96 KB at K = 1536) stays in L2 while the panels stream
 * past it. */
#include "gemm_i8.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

enum { MR = 8, NR = 32, MC = 64 };

/* Below this many multiply-adds the product runs on one thread. */
#define GEMM_PAR_MIN (1 << 20)

/* ---- the quantisation, shared by both paths: the same float operations on each ---- */

/* A row of X with minimum lo and maximum hi: scale, 1/scale and zero point. */
static void x_params(float lo, float hi, float *s, float *inv, int32_t *z)
{
    lo = lo < 0.0f ? lo : 0.0f;
    hi = hi > 0.0f ? hi : 0.0f;
    float sc = (hi - lo) / 255.0f;
    if (!(sc >= FLT_MIN)) { /* an all-zero (or denormal, or NaN) row: every value becomes 0 */
        *s = *inv = 0.0f;
        *z = 0;
        return;
    }
    float iv = 1.0f / sc;
    long zz = lrintf(-lo * iv);
    *z = zz < 0 ? 0 : zz > 255 ? 255 : (int32_t)zz;
    *s = sc;
    *inv = iv;
}

/* A row of W with largest magnitude a: scale and 1/scale. */
static void w_params(float a, float *s, float *inv)
{
    float sc = a / 127.0f;
    if (!(sc >= FLT_MIN)) {
        *s = *inv = 0.0f;
        return;
    }
    *s = sc;
    *inv = 1.0f / sc;
}

static inline uint8_t quant_u8(float x, float inv, int32_t z)
{
    long v = lrintf(x * inv) + z;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static inline int8_t quant_s8(float w, float inv)
{
    long v = lrintf(w * inv);
    return (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
}

/* y = sx sw (acc - z wsum) + bias [+ beta y]: the one formula of both paths. */
static inline float dequant(int32_t acc, int32_t z, int32_t wsum, float sx, float sw, float bias, float beta, float y)
{
    float v = fmaf((float)(acc - z * wsum), sx * sw, bias);
    return beta == 0.0f ? v : fmaf(beta, y, v);
}

/* ---- the portable path ---- */

static int gemm_plain(int M, int N, int K, const float *X, int ldx, const float *W, int ldw, const float *bias,
                      float beta, float *Y, int ldy)
{
    int8_t *q = malloc((size_t)N * K);
    uint8_t *u = malloc((size_t)M * K);
    float *sw = malloc(sizeof(float) * ((size_t)N + M));
    int32_t *wsum = malloc(sizeof(int32_t) * ((size_t)N + M));
    int rc = q && u && sw && wsum ? BIENC_OK
                                  : bienc_error(BIENC_ENOMEM, "gemm_i8: no memory for quantised copies (%d x %d x %d)",
                                                M, N, K);
    if (rc == BIENC_OK) {
        float *sx = sw + N;
        int32_t *zx = wsum + N;
        int par = !omp_in_parallel() && (double)M * N * K >= GEMM_PAR_MIN;
#pragma omp parallel for schedule(static) if (par)
        for (int n = 0; n < N; n++) {
            const float *w = W + (int64_t)n * ldw;
            float a = 0.0f, inv;
            for (int k = 0; k < K; k++) a = fabsf(w[k]) > a ? fabsf(w[k]) : a;
            w_params(a, &sw[n], &inv);
            int32_t s = 0;
            for (int k = 0; k < K; k++) s += q[(int64_t)n * K + k] = quant_s8(w[k], inv);
            wsum[n] = s;
        }
#pragma omp parallel for schedule(static) if (par)
        for (int m = 0; m < M; m++) {
            const float *x = X + (int64_t)m * ldx;
            float lo = x[0], hi = x[0], inv;
            for (int k = 1; k < K; k++) {
                lo = x[k] < lo ? x[k] : lo;
                hi = x[k] > hi ? x[k] : hi;
            }
            x_params(lo, hi, &sx[m], &inv, &zx[m]);
            uint8_t *um = u + (int64_t)m * K;
            for (int k = 0; k < K; k++) um[k] = quant_u8(x[k], inv, zx[m]);
            for (int n = 0; n < N; n++) {
                const int8_t *qn = q + (int64_t)n * K;
                int32_t acc = 0;
                for (int k = 0; k < K; k++) acc += (int32_t)um[k] * qn[k];
                float *y = Y + (int64_t)m * ldy + n;
                *y = dequant(acc, zx[m], wsum[n], sx[m], sw[n], bias ? bias[n] : 0.0f, beta, beta == 0.0f ? 0.0f : *y);
            }
        }
    }
    free(q);
    free(u);
    free(sw);
    free(wsum);
    return rc;
}

/* ---- the AVX512_VNNI path ---- */

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

static inline __mmask16 mask16(int n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* Words per packed X row: K4 rounded up to 4 (whole 16-byte stores). */
static int row_stride(int K4) { return (K4 + 3) & ~3; }

/* Columns j0 .. j0+NR-1 of W^T (rows of W; zero beyond N) into one panel [K4][NR] words,
 * with their scales and sums. */
VNNI_TARGET static void pack_w(const float *W, int ldw, int N, int j0, int K, int32_t *dst, float *sw, int32_t *wsum)
{
    int K4 = (K + 3) / 4, cols = N - j0 < NR ? N - j0 : NR;
    memset(dst, 0, sizeof(int32_t) * (size_t)K4 * NR);
    for (int c = 0; c < NR; c++) {
        sw[c] = 0.0f;
        wsum[c] = 0;
        if (c >= cols) continue;
        const float *w = W + (int64_t)(j0 + c) * ldw;
        __m512 mx = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(mask16(K - k), w + k)));
        float inv;
        w_params(_mm512_reduce_max_ps(mx), &sw[c], &inv);
        __m512 vinv = _mm512_set1_ps(inv);
        __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), sum = _mm512_setzero_si512();
        for (int k = 0; k < K; k += 16) {
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(K - k), w + k), vinv));
            v = _mm512_max_epi32(_mm512_min_epi32(v, hi), lo);
            sum = _mm512_add_epi32(sum, v);
            int32_t quads[4];
            _mm_storeu_si128((__m128i *)quads, _mm512_cvtepi32_epi8(v));
            int nw = (K - k + 3) / 4 < 4 ? (K - k + 3) / 4 : 4;
            for (int i = 0; i < nw; i++) dst[(size_t)(k / 4 + i) * NR + c] = quads[i];
        }
        wsum[c] = _mm512_reduce_add_epi32(sum);
    }
}

/* Rows i0 .. i0+mb-1 of X quantised into micro-panels of MR rows, `micro` words apart,
 * row r of a micro-panel at r * rs; rows past mb are zeros. */
VNNI_TARGET static void pack_x(const float *X, int ldx, int i0, int mb, int K, int32_t *dst, size_t micro, float *sx,
                               int32_t *zx)
{
    int rs = row_stride((K + 3) / 4);
    for (int r = 0; r < (mb + MR - 1) / MR * MR; r++) {
        int32_t *out = dst + (size_t)(r / MR) * micro + (size_t)(r % MR) * rs;
        if (r >= mb) {
            memset(out, 0, sizeof(int32_t) * (size_t)rs);
            sx[r] = 0.0f;
            zx[r] = 0;
            continue;
        }
        const float *x = X + (int64_t)(i0 + r) * ldx;
        __m512 lo = _mm512_set1_ps(x[0]), hi = lo;
        for (int k = 0; k < K; k += 16) { /* a masked-off lane repeats x[0]: min and max unchanged */
            __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(x[0]), mask16(K - k), x + k);
            lo = _mm512_min_ps(lo, v);
            hi = _mm512_max_ps(hi, v);
        }
        float inv;
        x_params(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), &sx[r], &inv, &zx[r]);
        __m512 vinv = _mm512_set1_ps(inv);
        __m512i vz = _mm512_set1_epi32(zx[r]), zero = _mm512_setzero_si512(), top = _mm512_set1_epi32(255);
        for (int k = 0; k < K; k += 16) { /* pads quantise 0, i.e. to z: W's pads are 0 */
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(K - k), x + k), vinv));
            v = _mm512_max_epi32(_mm512_min_epi32(_mm512_add_epi32(v, vz), top), zero);
            _mm_storeu_si128((__m128i *)(out + k / 4), _mm512_cvtepi32_epi8(v));
        }
    }
}

/* acc += a (u8) . b (s8), four at a time. Written out, with the accumulators as named
 * variables, because GCC 12 keeps an array of _mm512_dpbusd_epi32 accumulators in memory
 * or copies each through a spare register (half the kernel's speed). */
#define DPBUSD(acc, a, b) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b))
#define ACC_ROW(i) __m512i c##i##0 = _mm512_setzero_si512(), c##i##1 = _mm512_setzero_si512();
#define ACC_STEP(i)                                                                                                   \
    {                                                                                                                 \
        __m512i av = _mm512_set1_epi32(a[(i) * rs]);                                                                  \
        DPBUSD(c##i##0, av, b0);                                                                                      \
        DPBUSD(c##i##1, av, b1);                                                                                      \
    }

/* Y[mr, nr] (+)= the dequantised MR x NR tile of a micro-panel times a panel. */
VNNI_TARGET static void kernel(int K4, const int32_t *a, int rs, const int32_t *b, const float *sx, const int32_t *zx,
                               const float *sw, const int32_t *wsum, const float *bias, float *Y, int ldy, int mr,
                               int nr, float beta)
{
    _Static_assert(MR == 8, "the micro-kernel is written out for 8 rows");
    ACC_ROW(0) ACC_ROW(1) ACC_ROW(2) ACC_ROW(3) ACC_ROW(4) ACC_ROW(5) ACC_ROW(6) ACC_ROW(7)
    for (int k = 0; k < K4; k++) {
        __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 16);
        ACC_STEP(0) ACC_STEP(1) ACC_STEP(2) ACC_STEP(3) ACC_STEP(4) ACC_STEP(5) ACC_STEP(6) ACC_STEP(7)
        a++;
        b += NR;
    }
    const __m512i acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                                {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
    __m512i ws0 = _mm512_loadu_si512(wsum), ws1 = _mm512_loadu_si512(wsum + 16);
    __m512 sw0 = _mm512_loadu_ps(sw), sw1 = _mm512_loadu_ps(sw + 16), vb = _mm512_set1_ps(beta);
    __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (int i = 0; i < mr; i++) {
        float *y = Y + (int64_t)i * ldy;
        __m512i z = _mm512_set1_epi32(zx[i]);
        __m512 s = _mm512_set1_ps(sx[i]);
        __m512 v0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][0], _mm512_mullo_epi32(z, ws0))),
                                    _mm512_mul_ps(s, sw0), bias0);
        __m512 v1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][1], _mm512_mullo_epi32(z, ws1))),
                                    _mm512_mul_ps(s, sw1), bias1);
        if (beta != 0.0f) {
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, y), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, y + 16), v1);
        }
        _mm512_mask_storeu_ps(y, m0, v0);
        _mm512_mask_storeu_ps(y + 16, m1, v1);
    }
}

static int gemm_vnni(int M, int N, int K, const float *X, int ldx, const float *W, int ldw, const float *bias,
                     float beta, float *Y, int ldy)
{
    int K4 = (K + 3) / 4, rs = row_stride(K4), n_panels = (N + NR - 1) / NR, n_blocks = (M + MC - 1) / MC;
    int par = !omp_in_parallel() && (double)M * N * K >= GEMM_PAR_MIN;
    int n_threads = par ? omp_get_max_threads() : 1;
    size_t panel = (size_t)K4 * NR, micro = (size_t)MR * rs;
    size_t b_words = panel * n_panels, a_words = micro * (MC / MR) * (size_t)n_threads;
    /* words: the panels, the threads' X blocks, then W's scales and sums, X's per block */
    size_t words = b_words + a_words + 2 * (size_t)n_panels * NR + 2 * (size_t)MC * n_threads;
    int32_t *buf = aligned_alloc(64, (words * sizeof(int32_t) + 63) / 64 * 64);
    if (!buf) return bienc_error(BIENC_ENOMEM, "gemm_i8: no memory for packed panels (%d x %d x %d)", M, N, K);
    int32_t *Wp = buf, *Xp_all = buf + b_words, *wsum = Xp_all + a_words;
    float *sw = (float *)(wsum + (size_t)n_panels * NR), *sx_all = sw + (size_t)n_panels * NR;
    int32_t *zx_all = (int32_t *)(sx_all + (size_t)MC * n_threads);

#pragma omp parallel num_threads(n_threads) if (par)
    {
#pragma omp for schedule(dynamic, 1)
        for (int q = 0; q < n_panels; q++)
            pack_w(W, ldw, N, q * NR, K, Wp + (size_t)q * panel, sw + (size_t)q * NR, wsum + (size_t)q * NR);
        int t = omp_get_thread_num();
        int32_t *Xp = Xp_all + micro * (MC / MR) * (size_t)t, *zx = zx_all + (size_t)MC * t;
        float *sx = sx_all + (size_t)MC * t;
#pragma omp for schedule(dynamic, 1)
        for (int blk = 0; blk < n_blocks; blk++) {
            int i0 = blk * MC, mb = M - i0 < MC ? M - i0 : MC;
            pack_x(X, ldx, i0, mb, K, Xp, micro, sx, zx);
            for (int q = 0; q < n_panels; q++) {
                int nr = N - q * NR < NR ? N - q * NR : NR;
                for (int p = 0; p * MR < mb; p++) {
                    int mr = mb - p * MR < MR ? mb - p * MR : MR;
                    kernel(K4, Xp + p * micro, rs, Wp + (size_t)q * panel, sx + p * MR, zx + p * MR,
                           sw + (size_t)q * NR, wsum + (size_t)q * NR, bias ? bias + (size_t)q * NR : NULL,
                           Y + (int64_t)(i0 + p * MR) * ldy + q * NR, ldy, mr, nr, beta);
                }
            }
        }
    }
    free(buf);
    return BIENC_OK;
}

static int cpu_can_vnni(void)
{
    static int ok = -1;
    int v = __atomic_load_n(&ok, __ATOMIC_RELAXED);
    if (v < 0) {
        bienc_cpu_features f;
        cpu_features(&f);
        v = f.avx512_vnni;
        __atomic_store_n(&ok, v, __ATOMIC_RELAXED);
    }
    return v;
}
#endif /* __x86_64__ */

int gemm_i8_xwt_path(bienc_i8_path path, int M, int N, int K, const float *X, int ldx, const float *W, int ldw,
                     const float *bias, float beta, float *Y, int ldy)
{
    if (K > GEMM_I8_MAX_K)
        return bienc_error(BIENC_EINVAL, "gemm_i8: K = %d exceeds %d (int32 sums could overflow)", K, GEMM_I8_MAX_K);
    if (M <= 0 || N <= 0) return BIENC_OK;
    if (K <= 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float b = bias ? bias[n] : 0.0f, *y = Y + (int64_t)m * ldy + n;
                *y = beta == 0.0f ? b : fmaf(beta, *y, b);
            }
        return BIENC_OK;
    }
#if defined(__x86_64__)
    if (path == BIENC_I8_AVX512_VNNI && cpu_can_vnni())
        return gemm_vnni(M, N, K, X, ldx, W, ldw, bias, beta, Y, ldy);
#endif
    return gemm_plain(M, N, K, X, ldx, W, ldw, bias, beta, Y, ldy);
}

int gemm_i8_xwt(int M, int N, int K, const float *X, int ldx, const float *W, int ldw, const float *bias, float beta,
                float *Y, int ldy)
{
    return gemm_i8_xwt_path(cpu_i8_path(), M, N, K, X, ldx, W, ldw, bias, beta, Y, ldy);
}
