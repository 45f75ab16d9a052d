/* int8 products for inference: dynamic quantisation of a linear layer's x W^T, as
 * PyTorch's quantize_dynamic and ONNX Runtime's MatMulInteger do it, but per row:
 *
 *     Y[M, N] = X[M, K] W[N, K]^T + bias[N] + beta Y      (row-major, nn.Linear's W)
 *
 *   W per output row n, symmetric int8:   w[n,k] ~ sw[n] q[n,k],          |q| <= 127,
 *       sw[n] = max_k |w[n,k]| / 127;
 *   X per row m (one token), asymmetric:  x[m,k] ~ sx[m] (u[m,k] - z[m]), 0 <= u <= 255,
 *       the row's range with 0 in it, [lo, hi], cut in 255 steps: sx = (hi - lo) / 255,
 *       z = round(-lo / sx) (0 is exact, a post-GELU row keeps all 8 bits);
 *   the products are summed exactly in int32 and scaled back once:
 *       Y[m,n] = sx[m] sw[n] (sum_k u[m,k] q[n,k] - z[m] sum_k q[n,k]) + bias[n] + beta Y[m,n]
 *   (one fused multiply-add for the scaling and the bias, one for beta).
 * Rounding is to nearest even, x times 1/scale (so torch.fake_quantize_per_channel_affine
 * with these scales and zero points is an exact model of the quantisation).
 *
 * Both operands are quantised in every call (W's share is 1/M of the work, M = tokens), so
 * a caller holds no int8 copies and an fp32 checkpoint serves every precision.
 * Paths (cpu_i8_path(), src/core/cpu.h):
 *   avx512_vnni: vpdpbusd micro-kernel (64 multiply-adds of u8 x s8 per instruction, twice
 *                vdpbf16ps's 32) on packed panels, OpenMP over row blocks;
 *   fallback:    plain C.
 * The integer sums are exact and the quantisation and the final scaling are the same
 * float operations on both paths, so they give the same bits (the tests check it), and
 * results do not depend on the thread count (for finite inputs: a NaN row is quantised
 * to garbage, differently on each path, but never read out of bounds). The int32 sums are exact while
 * K <= GEMM_I8_MAX_K; a longer K is refused (callers use bf16 there). */
#ifndef BIENC_GEMM_I8_H
#define BIENC_GEMM_I8_H

#include "core/cpu.h"

/* 2 * K * 255 * 127 < 2^31: the sum and its zero-point correction stay in int32. */
#define GEMM_I8_MAX_K 16384

/* Y = X W^T + bias + beta Y on the current int8 path; bias may be NULL (zeros); beta == 0
 * never reads Y. ldx, ldw, ldy are the row strides. Returns 0, BIENC_EINVAL for
 * K > GEMM_I8_MAX_K, or BIENC_ENOMEM. */
int gemm_i8_xwt(int M, int N, int K, const float *X, int ldx, const float *W, int ldw, const float *bias, float beta,
                float *Y, int ldy);

/* The same on a given path (tests and benchmarks compare them). */
int gemm_i8_xwt_path(bienc_i8_path path, int M, int N, int K, const float *X, int ldx, const float *W, int ldw,
                     const float *bias, float beta, float *Y, int ldy);

#endif
