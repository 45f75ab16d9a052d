/* bf16 matrix products with fp32 accumulation (the arithmetic of PyTorch's autocast):
 *     C[M, N] = alpha op(A)[M, K] op(B)[K, N] + beta C      (row-major, cblas_sgemm's rules)
 * A, B and C stay fp32 in memory; A and B are rounded to bf16 (round to nearest even)
 * as they are packed, so a caller holds no bf16 copies: an fp32 master weight IS the
 * weight, and its bf16 copy exists only in the packed panels of one call. Packing costs
 * O(MK + KN) against the O(MNK) product (1/M of it for a weight: M = tokens).
 *
 * The path comes from cpu_bf16_path() (src/core/cpu.c):
 *   avx512_bf16: vdpbf16ps micro-kernel on packed panels, OpenMP over row blocks;
 *   fallback:    bf16-rounded fp32 copies of A and B multiplied by OpenBLAS's sgemm.
 * Both multiply the same bf16 values and add in fp32 (a product of two bf16 numbers is
 * exact in fp32), so they differ only by the order of additions (and by the avx512 path
 * flushing fp32 denormals, below 1.2e-38, to zero as it converts): tests compare them.
 * Each C element is written by one thread in an order fixed by the shape, so results do
 * not depend on the thread count. Called from inside an OpenMP region (attention), it
 * runs on the calling thread. */
#ifndef BIENC_GEMM_BF16_H
#define BIENC_GEMM_BF16_H

#include <stdint.h>

#include "core/cpu.h"
#include "core/tape.h"

/* fp32 -> bf16, round to nearest even (NaN stays a quiet NaN). */
static inline uint16_t gemm_f32_to_bf16(float f)
{
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    v.u += 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)(v.u >> 16);
}

static inline float gemm_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}

/* f rounded to the nearest bf16 value, as a float. */
static inline float gemm_round_bf16(float f) { return gemm_bf16_to_f32(gemm_f32_to_bf16(f)); }

/* C = alpha op(A) op(B) + beta C on the current bf16 path; trans_a / trans_b as
 * CblasTrans (op(X) = X^T, X stored [K, M] / [N, K]). beta == 0 never reads C.
 * Returns 0, or BIENC_ENOMEM (message set) when the packing buffers cannot be had. */
int gemm_bf16(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);

/* The same on a given path (tests and benchmarks compare them). */
int gemm_bf16_path(bienc_bf16_path path, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The products of the ops: cblas_sgemm for fp32, gemm_bf16 for bf16 and for int8 tapes
 * (whose linear layers call gemm_i8_xwt themselves). */
int ops_gemm(bienc_precision precision, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
             int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
