/* bf16 products (src/ops/gemm_bf16.c): each path against a double-precision product of
 * the same bf16-rounded inputs, for every transpose, ragged shapes, K over a chunk,
 * alpha / beta, leading dimensions wider than the rows, and inside an OpenMP region.
 *
 * Tolerance: both paths multiply the same bf16 values exactly and add in fp32, so the
 * only error left is fp32 summation, |err| <= K 2^-24 sum_k |a_k b_k| (a loose bound;
 * we allow 2 K 2^-24). Against the fp32 product of the unrounded inputs the error is the
 * bf16 rounding of the inputs: each |a b| moves by at most 2 * 2^-9 relative, so
 * |err| <= 2^-8 sum_k |a_k b_k| (+ the fp32 term). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cblas.h>
#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "core/rng.h"
#include "ops/gemm_bf16.h"

static float *randm(size_t n, uint64_t seed)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform(&rng) * 2.0f - 1.0f;
    return x;
}

typedef struct { int ta, tb, M, N, K, lda, ldb, ldc; float alpha, beta; } shape;

/* Runs path p on one shape and checks it against the double reference of the rounded
 * inputs (bf16 = 1) or of the raw inputs (bf16 = 0, the bf16 rounding bound). */
static void check(bienc_bf16_path p, shape s)
{
    int a_rows = s.ta ? s.K : s.M, b_rows = s.tb ? s.N : s.K;
    float *A = randm((size_t)a_rows * s.lda, 1 + s.M), *B = randm((size_t)b_rows * s.ldb, 2 + s.N);
    float *C0 = randm((size_t)s.M * s.ldc, 3), *C = malloc(sizeof(float) * (size_t)s.M * s.ldc);
    for (size_t i = 0; i < (size_t)s.M * s.ldc; i++) C[i] = s.beta == 0.0f ? NAN : C0[i];
    assert_int_equal(gemm_bf16_path(p, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, s.M, s.N,
                                    s.K, s.alpha, A, s.lda, B, s.ldb, s.beta, C, s.ldc),
                     0);
    for (int i = 0; i < s.M; i++)
        for (int j = 0; j < s.N; j++) {
            double exact = 0, rounded = 0, mag = 0;
            for (int k = 0; k < s.K; k++) {
                float a = s.ta ? A[(size_t)k * s.lda + i] : A[(size_t)i * s.lda + k];
                float b = s.tb ? B[(size_t)j * s.ldb + k] : B[(size_t)k * s.ldb + j];
                exact += (double)a * b;
                rounded += (double)gemm_round_bf16(a) * gemm_round_bf16(b);
                mag += fabs((double)a * b);
            }
            double c0 = s.beta == 0.0f ? 0.0 : (double)s.beta * C0[(size_t)i * s.ldc + j];
            double got = C[(size_t)i * s.ldc + j];
            double fp32_tol = 2.0 * s.K * ldexp(1.0, -24) * fabs(s.alpha) * mag + 1e-6 * fabs(c0);
            if (fabs(got - (s.alpha * rounded + c0)) > fp32_tol)
                fail_msg("path %s ta %d tb %d %dx%dx%d: C[%d,%d] = %.8g, bf16 reference %.8g (tol %.3g)",
                         cpu_bf16_path_name(p), s.ta, s.tb, s.M, s.N, s.K, i, j, got, s.alpha * rounded + c0,
                         fp32_tol);
            assert_true(fabs(got - (s.alpha * exact + c0)) <= ldexp(1.0, -8) * fabs(s.alpha) * mag + fp32_tol);
        }
    /* columns beyond N (ldc > N) are untouched */
    for (int i = 0; i < s.M; i++)
        for (int j = s.N; j < s.ldc; j++) {
            float want = s.beta == 0.0f ? NAN : C0[(size_t)i * s.ldc + j], got = C[(size_t)i * s.ldc + j];
            assert_true(isnan(want) ? isnan(got) : got == want);
        }
    free(A), free(B), free(C0), free(C);
}

static const shape shapes[] = {
    {0, 0, 1, 1, 1, 1, 1, 1, 1.0f, 0.0f},
    {0, 1, 37, 45, 33, 40, 35, 47, 1.0f, 0.0f},     /* ragged rows, columns, odd K */
    {0, 0, 70, 33, 17, 17, 33, 33, 0.5f, 1.0f},     /* beta 1 accumulates */
    {1, 0, 19, 64, 129, 20, 64, 70, 1.0f, 0.5f},
    {1, 1, 65, 31, 1031, 70, 1031, 31, 2.0f, 0.0f}, /* K over one chunk (512), odd */
    {0, 1, 200, 96, 384, 384, 384, 96, 1.0f, 0.0f}, /* large enough to run on threads */
};

static void test_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check(BIENC_BF16_FALLBACK, shapes[i]);
        check(BIENC_BF16_AVX512, shapes[i]); /* becomes the fallback on a CPU without AVX512_BF16 */
    }
}

/* The two paths agree to fp32 summation order, and the avx512 result does not depend
 * on the thread count. */
static void test_paths_agree_and_threads(void **state)
{
    (void)state;
    int M = 300, N = 200, K = 700;
    float *A = randm((size_t)M * K, 7), *B = randm((size_t)N * K, 8);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N), *C3 = malloc(sizeof(float) * M * N);
    assert_int_equal(gemm_bf16_path(BIENC_BF16_FALLBACK, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C1, N), 0);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(gemm_bf16_path(BIENC_BF16_AVX512, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C2, N), 0);
    omp_set_num_threads(2);
    assert_int_equal(gemm_bf16_path(BIENC_BF16_AVX512, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C3, N), 0);
    omp_set_num_threads(saved);
    for (int i = 0; i < M * N; i++) {
        assert_true(C2[i] == C3[i]);
        assert_true(fabsf(C1[i] - C2[i]) <= 1e-4f);
    }
    free(A), free(B), free(C1), free(C2), free(C3);
}

/* Called from inside a parallel region (as attention does), each call runs on its thread. */
static void test_inside_parallel_region(void **state)
{
    (void)state;
    int n = 64;
    float *A = randm((size_t)n * n, 9), *B = randm((size_t)n * n, 10);
    float *C = calloc((size_t)4 * n * n, sizeof(float)), *R = calloc((size_t)n * n, sizeof(float));
    assert_int_equal(gemm_bf16(CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, R, n), 0);
    int bad = 0;
#pragma omp parallel for num_threads(2) reduction(+ : bad)
    for (int t = 0; t < 4; t++)
        bad += gemm_bf16(CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C + (size_t)t * n * n, n) != 0;
    assert_int_equal(bad, 0);
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < n * n; i++) assert_true(C[(size_t)t * n * n + i] == R[i]);
    free(A), free(B), free(C), free(R);
}

static void test_rounding(void **state)
{
    (void)state;
    assert_int_equal(gemm_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(gemm_f32_to_bf16(-5.0f), 0xc0a0);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1) */
    assert_int_equal(gemm_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    /* 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up to even */
    assert_int_equal(gemm_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(gemm_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    assert_true(isnan(gemm_round_bf16(NAN)));
    assert_true(isinf(gemm_round_bf16(INFINITY)));
    assert_true(isinf(gemm_round_bf16(3.4e38f))); /* rounds past the largest bf16 */
}

static void test_forced_path(void **state)
{
    (void)state;
    bienc_bf16_path before = cpu_bf16_path();
    assert_int_equal(cpu_bf16_set_path(BIENC_BF16_FALLBACK), BIENC_BF16_FALLBACK);
    assert_int_equal(cpu_bf16_path(), BIENC_BF16_FALLBACK);
    bienc_cpu_features f;
    cpu_features(&f);
    assert_int_equal(cpu_bf16_set_path(BIENC_BF16_AVX512), f.avx512_bf16 ? BIENC_BF16_AVX512 : BIENC_BF16_FALLBACK);
    cpu_bf16_set_path(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_paths_agree_and_threads),
        cmocka_unit_test(test_inside_parallel_region),
        cmocka_unit_test(test_forced_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
