/* bf16 products with fp32 accumulation: the AVX512_BF16 kernel and the portable
 * fallback (see gemm_bf16.h for the contract).
 *
 * The AVX512_BF16 kernel is GotoBLAS-shaped, small enough to read in one sitting.
 * vdpbf16ps multiplies PAIRS: lane j of its fp32 result += a[2j] b[2j] + a[2j+1] b[2j+1],
 * so every packed operand holds (k, k+1) pairs of bf16 values as one 32-bit word:
 *   - B is packed once per call into panels of NR = 32 columns, [K/2][32] pairs: two zmm
 *     registers per pair of k values;
 *   - threads take blocks of MC = 64 rows of A (dynamic schedule: a thread preempted on a
 *     shared machine does not hold the others up; each block is computed whole by one
 *     thread in a fixed order, so results do not depend on who runs it) and pack them in
 *     micro-panels of MR = 8 rows; the micro-kernel broadcasts one row's pair and
 *     multiplies it with the 32 columns of the B panel;
 *   - the micro-kernel keeps an 8 x 32 fp32 tile in 16 zmm accumulators over a chunk of
 *     KC values of k, then adds alpha * tile (+ beta C on the first chunk) to C.
 * K is cut into chunks of KC so that a packed A block (MC x KC bf16, 64 KB) stays in L2
 * while the B panels of the chunk stream past it. Ragged edges are zero-padded in the
 * packed panels and masked at the store.
 *
 * Packing converts with vcvtneps2bf16 (round to nearest even, like gemm_f32_to_bf16;
 * the instruction also flushes fp32 denormals, below 1.2e-38, to zero). Where the pairs
 * lie side by side in memory (A not transposed: rows along k) the micro-panel keeps A's
 * rows ("row" layout: row r at r * stride), so packing is a plain conversion; where k is
 * the slow dimension (A transposed, B not transposed), two k rows are converted and
 * interleaved 16 columns at a time. Only a transposed B (a weight in x W^T) is packed
 * pair by pair, once per call: its cost is 1/M of the product. */
#include "gemm_bf16.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

enum { MR = 8, NR = 32, MC = 64, KC = 512 };

/* Below this many multiply-adds the product runs on one thread. */
#define GEMM_PAR_MIN (1 << 20)

#if defined(__x86_64__)
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

static inline __mmask16 mask16(int n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* 32-bit words (lo[c], hi[c]) for c < n (n <= 16), zero beyond n; hi may be NULL (zeros). */
BF16_TARGET static inline __m512i pairs16(const float *lo, const float *hi, int n)
{
    __mmask16 m = mask16(n);
    __m256i l = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, lo));
    __m256i h = hi ? (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, hi)) : _mm256_setzero_si256();
    return _mm512_or_si512(_mm512_cvtepu16_epi32(l), _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

BF16_TARGET static inline __m256i pairs8(const float *lo, const float *hi, int n)
{
    __mmask8 m = (__mmask8)mask16(n < 8 ? n : 8);
    __m128i l = (__m128i)_mm256_cvtneps_pbh(_mm256_maskz_loadu_ps(m, lo));
    __m128i h = hi ? (__m128i)_mm256_cvtneps_pbh(_mm256_maskz_loadu_ps(m, hi)) : _mm_setzero_si128();
    return _mm256_or_si256(_mm256_cvtepu16_epi32(l), _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* Words per packed A row in the row layout: kc2 rounded up to 16 (whole zmm stores). */
static int row_stride(int kc2) { return (kc2 + 15) & ~15; }

/* Rows i0 .. i0+mb-1 (mb <= MC) and k values k0 .. k0+kc-1 of op(A) into micro-panels of
 * MR rows, `micro` words apart (rows past mb are zero): trans == 0: row layout
 * [MR][row_stride(kc2)] words; trans == 1: interleaved layout [kc2][MR] words, filled a
 * k row at a time so that each k row of A is read once, contiguously. */
BF16_TARGET static void pack_a(const float *A, int lda, int trans, int i0, int mb, int k0, int kc, uint32_t *dst,
                               size_t micro)
{
    int kc2 = (kc + 1) / 2;
    if (!trans) {
        int rs = row_stride(kc2);
        for (int p = 0; p * MR < mb; p++)
            for (int r = 0; r < MR; r++) {
                uint32_t *out = dst + p * micro + (size_t)r * rs;
                const float *row = A + (int64_t)(i0 + p * MR + r) * lda + k0;
                for (int k = 0; k < 2 * rs; k += 32) {
                    int n = p * MR + r < mb ? kc - k : 0; /* values left in this row */
                    __m512 lo = _mm512_maskz_loadu_ps(mask16(n), row + k);
                    __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), row + k + 16);
                    _mm512_storeu_si512(out + k / 2, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                }
            }
    } else {
        for (int kk = 0; kk < kc2; kk++) {
            const float *lo = A + (int64_t)(k0 + 2 * kk) * lda + i0;
            const float *hi = 2 * kk + 1 < kc ? lo + lda : NULL;
            for (int p = 0; p * MR < mb; p++)
                _mm256_storeu_si256((__m256i *)(dst + p * micro + (size_t)kk * MR),
                                    pairs8(lo + p * MR, hi ? hi + p * MR : NULL, mb - p * MR));
        }
    }
}

/* Columns j0 .. j0+NR-1 (zero beyond N) and k values k0 .. k0+kc-1 of op(B) into one
 * panel [kc2][NR] words. */
BF16_TARGET static void pack_b(const float *B, int ldb, int trans, int N, int j0, int k0, int kc, uint32_t *dst)
{
    int kc2 = (kc + 1) / 2, cols = N - j0 < NR ? N - j0 : NR;
    if (!trans) {
        for (int kk = 0; kk < kc2; kk++) {
            const float *lo = B + (int64_t)(k0 + 2 * kk) * ldb + j0;
            const float *hi = 2 * kk + 1 < kc ? lo + ldb : NULL;
            _mm512_store_si512(dst + (size_t)kk * NR, pairs16(lo, hi, cols));
            _mm512_store_si512(dst + (size_t)kk * NR + 16, pairs16(lo + 16, hi ? hi + 16 : NULL, cols - 16));
        }
    } else { /* B stored [N, K]: column j is contiguous in k, its pairs already side by side */
        memset(dst, 0, sizeof(uint32_t) * (size_t)kc2 * NR);
        for (int c = 0; c < cols; c++) {
            const float *col = B + (int64_t)(j0 + c) * ldb + k0;
            for (int k = 0; k < kc; k += 32) {
                int n = kc - k;
                __m512 lo = _mm512_maskz_loadu_ps(mask16(n), col + k);
                __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), col + k + 16);
                uint32_t w[16];
                _mm512_storeu_si512(w, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                int nw = (n + 1) / 2 < 16 ? (n + 1) / 2 : 16;
                for (int i = 0; i < nw; i++) dst[(size_t)(k / 2 + i) * NR + c] = w[i];
            }
        }
    }
}

/* C[mr, nr] = alpha a[MR, kc] b[kc, NR] + beta C (beta == 0: C not read), on packed
 * panels; row r's pair kk of A is the word a[r * rs + kk * ks]. */
BF16_TARGET static inline __attribute__((always_inline)) void kernel_body(int kc2, const uint32_t *a, int rs, int ks,
                                                                          const uint32_t *b, float *C, int ldc,
                                                                          int mr, int nr, float alpha, float beta)
{
    __m512 acc[MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc2; k++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[i * rs]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
        }
        a += ks;
        b += NR;
    }
    __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *c = C + (int64_t)i * ldc;
        __m512 v0 = _mm512_mul_ps(acc[i][0], va), v1 = _mm512_mul_ps(acc[i][1], va);
        if (beta != 0.0f) {
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), v1);
        }
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

/* The two A layouts as separate functions, so each inner loop has constant strides. */
BF16_TARGET static void kernel_rows(int kc2, const uint32_t *a, const uint32_t *b, float *C, int ldc, int mr, int nr,
                                    float alpha, float beta)
{
    kernel_body(kc2, a, row_stride(kc2), 1, b, C, ldc, mr, nr, alpha, beta);
}

BF16_TARGET static void kernel_interleaved(int kc2, const uint32_t *a, const uint32_t *b, float *C, int ldc, int mr,
                                           int nr, float alpha, float beta)
{
    kernel_body(kc2, a, 1, MR, b, C, ldc, mr, nr, alpha, beta);
}

static int gemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc)
{
    int kc_max = K < KC ? K : KC, kc2_max = (kc_max + 1) / 2;
    int n_chunks = (K + KC - 1) / KC, n_panels = (N + NR - 1) / NR, n_blocks = (M + MC - 1) / MC;
    int par = !omp_in_parallel() && (double)M * N * K >= GEMM_PAR_MIN;
    int n_threads = par ? omp_get_max_threads() : 1;
    /* words: a B panel, and one thread's A block (MC / MR micro-panels of either layout) */
    size_t panel = (size_t)kc2_max * NR, micro = (size_t)MR * row_stride(kc2_max);
    size_t b_words = panel * (size_t)n_panels * (size_t)n_chunks, a_words = micro * (MC / MR) * (size_t)n_threads;
    uint32_t *buf = aligned_alloc(64, ((b_words + a_words) * sizeof(uint32_t) + 63) / 64 * 64);
    if (!buf) return bienc_error(BIENC_ENOMEM, "gemm_bf16: no memory for packed panels (%d x %d x %d)", M, N, K);
    uint32_t *Bp = buf, *Ap_all = buf + b_words;

#pragma omp parallel num_threads(n_threads) if (par)
    {
#pragma omp for schedule(dynamic, 4)
        for (int64_t t = 0; t < (int64_t)n_chunks * n_panels; t++) {
            int c = (int)(t / n_panels), q = (int)(t % n_panels);
            int k0 = c * KC, kc = K - k0 < KC ? K - k0 : KC;
            pack_b(B, ldb, tb, N, q * NR, k0, kc, Bp + ((size_t)c * n_panels + q) * panel);
        }
        uint32_t *Ap = Ap_all + micro * (MC / MR) * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int blk = 0; blk < n_blocks; blk++) {
            int i0 = blk * MC, mb = M - i0 < MC ? M - i0 : MC;
            for (int c = 0; c < n_chunks; c++) {
                int k0 = c * KC, kc = K - k0 < KC ? K - k0 : KC, kc2 = (kc + 1) / 2;
                pack_a(A, lda, ta, i0, mb, k0, kc, Ap, micro);
                float b_eff = c == 0 ? beta : 1.0f;
                for (int q = 0; q < n_panels; q++) {
                    const uint32_t *bq = Bp + ((size_t)c * n_panels + q) * panel;
                    int nr = N - q * NR < NR ? N - q * NR : NR;
                    for (int p = 0; p * MR < mb; p++) {
                        int mr = mb - p * MR < MR ? mb - p * MR : MR;
                        float *ct = C + (int64_t)(i0 + p * MR) * ldc + q * NR;
                        if (ta) kernel_interleaved(kc2, Ap + p * micro, bq, ct, ldc, mr, nr, alpha, b_eff);
                        else kernel_rows(kc2, Ap + p * micro, bq, ct, ldc, mr, nr, alpha, b_eff);
                    }
                }
            }
        }
    }
    free(buf);
    return BIENC_OK;
}


/* The CPU can run the AVX512_BF16 kernel (a forced path never reaches an illegal instruction). */
static int cpu_can_avx512_bf16(void)
{
    static int ok = -1;
    int v = __atomic_load_n(&ok, __ATOMIC_RELAXED);
    if (v < 0) {
        bienc_cpu_features f;
        cpu_features(&f);
        v = f.avx512_bf16;
        __atomic_store_n(&ok, v, __ATOMIC_RELAXED);
    }
    return v;
}
#endif /* __x86_64__ */

/* C = beta C (beta == 0: zeros), for an empty K or alpha == 0. */
static void scale_c(int M, int N, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(int64_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(int64_t)i * ldc + j];
}

/* op(X) stored as rows x cols (leading dimension ld), copied rounded to bf16 into a
 * dense rows x cols fp32 matrix. */
static void round_copy(const float *X, int ld, int rows, int cols, float *out, int par)
{
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(int64_t)r * cols + c] = gemm_round_bf16(X[(int64_t)r * ld + c]);
}

static int gemm_fallback(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                         int ldb, float beta, float *C, int ldc)
{
    int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    float *Ar = malloc(sizeof(float) * ((size_t)M * K + (size_t)K * N));
    if (!Ar) return bienc_error(BIENC_ENOMEM, "gemm_bf16: no memory for rounded copies (%d x %d x %d)", M, N, K);
    float *Br = Ar + (size_t)M * K;
    int par = !omp_in_parallel() && (double)M * N * K >= GEMM_PAR_MIN;
    round_copy(A, lda, a_rows, a_cols, Ar, par);
    round_copy(B, ldb, b_rows, b_cols, Br, par);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, Ar,
                a_cols, Br, b_cols, beta, C, ldc);
    free(Ar);
    return BIENC_OK;
}

int gemm_bf16_path(bienc_bf16_path path, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    int ta = trans_a == CblasTrans, tb = trans_b == CblasTrans;
    if (M <= 0 || N <= 0) return BIENC_OK;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return BIENC_OK;
    }
#if defined(__x86_64__)
    if (path == BIENC_BF16_AVX512 && cpu_can_avx512_bf16())
        return gemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
    return gemm_fallback(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int gemm_bf16(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc)
{
    return gemm_bf16_path(cpu_bf16_path(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int ops_gemm(bienc_precision precision, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
             int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (precision == BIENC_PRECISION_BF16 || precision == BIENC_PRECISION_INT8) /* int8: linear's own (op_linear) */
        return gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    cblas_sgemm(CblasRowMajor, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return BIENC_OK;
}
