/* int8 products (src/ops/gemm_i8.c).
 *
 *  - exact cases: X rows whose values are integers spanning [-128, 127] (or [0, 255]) and
 *    W rows of integers with largest magnitude 127 quantise without error (scale 1, zero
 *    point 128 or 0), so Y must equal the integer product exactly: this pins the zero
 *    point, the weight sums and the packing, on both paths;
 *  - both paths give the same bits on ragged shapes (edges of the 8 x 32 tile, K not a
 *    multiple of 4 or 16), wide leading dimensions, beta, 1 and 2 threads, and inside an
 *    OpenMP region;
 *  - against the fp32 product the error is the quantisation's: x moves by at most sx/2
 *    and w by sw/2, so |err| <= sum_k (sx/2 |w| + sw/2 |x| + sx sw / 4), checked per
 *    element (the PyTorch model of the rounding is tests/torch/test_int8.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "ops/gemm_i8.h"

static float *randm(size_t n, uint64_t seed, float lo, float hi)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = lo + rng_uniform(&rng) * (hi - lo);
    return x;
}

static float *run(bienc_i8_path p, int M, int N, int K, const float *X, int ldx, const float *W, int ldw,
                  const float *bias, float beta, const float *Y0, int ldy)
{
    float *Y = malloc(sizeof(float) * (size_t)M * ldy);
    for (size_t i = 0; i < (size_t)M * ldy; i++) Y[i] = beta == 0.0f ? NAN : Y0[i];
    assert_int_equal(gemm_i8_xwt_path(p, M, N, K, X, ldx, W, ldw, bias, beta, Y, ldy), 0);
    return Y;
}

static void test_exact_integers(void **state)
{
    (void)state;
    bienc_rng rng;
    rng_seed(&rng, 7);
    for (int signed_x = 0; signed_x < 2; signed_x++)
        for (int p = 0; p < 2; p++) {
            int M = 37, N = 45, K = 203;
            float *X = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K);
            for (int i = 0; i < M * K; i++) X[i] = (float)(rng_below(&rng, 256)) - (signed_x ? 128.0f : 0.0f);
            for (int i = 0; i < N * K; i++) W[i] = (float)(int)(rng_below(&rng, 255)) - 127.0f;
            for (int m = 0; m < M; m++) { /* every row spans the whole range */
                X[m * K] = signed_x ? -128.0f : 0.0f;
                X[m * K + 1] = signed_x ? 127.0f : 255.0f;
            }
            for (int n = 0; n < N; n++) W[n * K + 2] = n % 2 ? 127.0f : -127.0f;
            float bias[45];
            for (int n = 0; n < N; n++) bias[n] = (float)n - 20.0f; /* integers: the sum stays exact */
            float *Y = run((bienc_i8_path)p, M, N, K, X, K, W, K, bias, 0.0f, NULL, N);
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    int64_t exact = (int64_t)bias[n];
                    for (int k = 0; k < K; k++) exact += (int64_t)X[m * K + k] * (int64_t)W[n * K + k];
                    if (Y[m * N + n] != (float)exact)
                        fail_msg("path %d signed %d: Y[%d,%d] = %.1f, exact %lld", p, signed_x, m, n, Y[m * N + n],
                                 (long long)exact);
                }
            free(X);
            free(W);
            free(Y);
        }
}

typedef struct { int M, N, K, ldx, ldw, ldy; float beta; int bias; } shape;

static void test_paths_agree_and_bound(void **state)
{
    (void)state;
    const shape shapes[] = {
        {1, 1, 1, 1, 1, 1, 0.0f, 0},          {8, 32, 4, 4, 4, 32, 0.0f, 1},       {9, 33, 5, 7, 6, 40, 1.0f, 1},
        {70, 65, 100, 100, 103, 65, 0.5f, 0}, {3, 17, 384, 390, 384, 20, 0.0f, 1}, {130, 96, 1536, 1536, 1536, 96, 1.0f, 0},
        {64, 384, 383, 383, 385, 384, 0.0f, 1},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        shape h = shapes[s];
        /* post-GELU-like rows: mostly positive, a few small negatives */
        float *X = randm((size_t)h.M * h.ldx, 11 + s, -0.2f, 3.0f), *W = randm((size_t)h.N * h.ldw, 13 + s, -0.1f, 0.1f);
        float *Y0 = randm((size_t)h.M * h.ldy, 17 + s, -1.0f, 1.0f), *bias = h.bias ? randm(h.N, 19 + s, -1, 1) : NULL;
        float *Yv[4];
        int t = 0;
        for (int p = 0; p < 2; p++)
            for (int threads = 1; threads <= 2; threads++) {
                omp_set_num_threads(threads);
                Yv[t++] = run((bienc_i8_path)p, h.M, h.N, h.K, X, h.ldx, W, h.ldw, bias, h.beta, Y0, h.ldy);
            }
        for (int i = 1; i < 4; i++)
            for (int m = 0; m < h.M; m++)
                if (memcmp(Yv[0] + (size_t)m * h.ldy, Yv[i] + (size_t)m * h.ldy, sizeof(float) * h.N) != 0)
                    fail_msg("shape %zu: run %d differs from the fallback on 1 thread in row %d", s, i, m);
        /* the quantisation bound against the fp32 product */
        for (int m = 0; m < h.M; m++) {
            const float *x = X + (size_t)m * h.ldx;
            float lo = 0, hi = 0;
            for (int k = 0; k < h.K; k++) lo = fminf(lo, x[k]), hi = fmaxf(hi, x[k]);
            double sx = (hi - lo) / 255.0;
            for (int n = 0; n < h.N; n++) {
                const float *w = W + (size_t)n * h.ldw;
                double a = 0, exact = 0, bound = 0;
                for (int k = 0; k < h.K; k++) a = fmax(a, fabs(w[k]));
                double sw = a / 127.0;
                for (int k = 0; k < h.K; k++) {
                    exact += (double)x[k] * w[k];
                    bound += 0.5 * sx * fabs(w[k]) + 0.5 * sw * fabs(x[k]) + 0.25 * sx * sw;
                }
                double y0 = (h.beta == 0.0f ? 0.0 : (double)h.beta * Y0[(size_t)m * h.ldy + n]) + (bias ? bias[n] : 0.0);
                double got = Yv[0][(size_t)m * h.ldy + n];
                if (fabs(got - (exact + y0)) > bound * 1.001 + 1e-5 * (fabs(exact) + fabs(y0)))
                    fail_msg("shape %zu: Y[%d,%d] = %.7g, fp32 %.7g, quantisation bound %.3g", s, m, n, got,
                             exact + y0, bound);
            }
        }
        for (int i = 0; i < 4; i++) free(Yv[i]);
        free(X);
        free(W);
        free(Y0);
        free(bias);
    }
    omp_set_num_threads(2);
}

/* Called inside a parallel region (as attention's products are), it runs on the calling
 * thread and gives the same bits. */
static void test_inside_parallel_region(void **state)
{
    (void)state;
    int M = 40, N = 50, K = 60;
    float *X = randm((size_t)M * K, 3, -1, 1), *W = randm((size_t)N * K, 4, -1, 1);
    float *ref = run(BIENC_I8_FALLBACK, M, N, K, X, K, W, K, NULL, 0.0f, NULL, N);
    float *Y = malloc(sizeof(float) * 2 * M * N);
    int bad = 0;
#pragma omp parallel for num_threads(2)
    for (int r = 0; r < 2; r++) {
        if (gemm_i8_xwt_path(BIENC_I8_AVX512_VNNI, M, N, K, X, K, W, K, NULL, 0.0f, Y + (size_t)r * M * N, N) != 0)
            bad = 1;
    }
    assert_int_equal(bad, 0);
    assert_memory_equal(Y, ref, sizeof(float) * M * N);
    assert_memory_equal(Y + M * N, ref, sizeof(float) * M * N);
    free(X);
    free(W);
    free(ref);
    free(Y);
}

/* All-zero rows and columns stay exact zeros; a K beyond the int32 bound is refused. */
static void test_zeros_and_limits(void **state)
{
    (void)state;
    int M = 9, N = 33, K = 20;
    float *X = randm((size_t)M * K, 5, -1, 1), *W = randm((size_t)N * K, 6, -1, 1);
    memset(X + 2 * K, 0, sizeof(float) * K);
    memset(W + 5 * K, 0, sizeof(float) * K);
    for (int p = 0; p < 2; p++) {
        float *Y = run((bienc_i8_path)p, M, N, K, X, K, W, K, NULL, 0.0f, NULL, N);
        for (int n = 0; n < N; n++) assert_true(Y[2 * N + n] == 0.0f);
        for (int m = 0; m < M; m++) assert_true(Y[m * N + 5] == 0.0f);
        free(Y);
    }
    float y = 0;
    assert_int_equal(gemm_i8_xwt(1, 1, GEMM_I8_MAX_K + 1, X, 0, W, 0, NULL, 0.0f, &y, 1), BIENC_EINVAL);
    free(X);
    free(W);
}

static void test_forced_path(void **state)
{
    (void)state;
    bienc_cpu_features f;
    cpu_features(&f);
    assert_int_equal(cpu_i8_set_path(BIENC_I8_FALLBACK), BIENC_I8_FALLBACK);
    assert_int_equal(cpu_i8_path(), BIENC_I8_FALLBACK);
    assert_int_equal(cpu_i8_set_path(BIENC_I8_AVX512_VNNI), f.avx512_vnni ? BIENC_I8_AVX512_VNNI : BIENC_I8_FALLBACK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_integers),
        cmocka_unit_test(test_paths_agree_and_bound),
        cmocka_unit_test(test_inside_parallel_region),
        cmocka_unit_test(test_zeros_and_limits),
        cmocka_unit_test(test_forced_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
