/* Distance kernels: every SIMD level this CPU has agrees with the portable loop and with
 * a double-precision reference, for every dimension 1..200 (masked and scalar tails). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "index/hnsw_internal.h"

static void test_kernels_agree(void **state)
{
    (void)state;
    bienc_rng rng;
    rng_seed(&rng, 5);
    float a[201], b[201];
    int levels = 0;
    for (int metric = BIENC_INDEX_L2; metric <= BIENC_INDEX_IP; metric++) {
        for (int level = 0; level <= 2; level++) {
            hnsw_dist_fn f = distance_kernel(metric, level);
            if (!f) continue;
            levels++;
            for (int dim = 1; dim <= 200; dim++) {
                for (int i = 0; i < dim; i++) {
                    a[i] = rng_normal(&rng);
                    b[i] = rng_normal(&rng);
                }
                a[dim] = b[dim] = 1e30f; /* a kernel reading past the end would show it */
                double ref = 0;
                for (int i = 0; i < dim; i++)
                    ref += metric == BIENC_INDEX_L2 ? ((double)a[i] - b[i]) * ((double)a[i] - b[i])
                                                     : -(double)a[i] * b[i];
                float got = f(a, b, dim);
                assert_true(fabs(got - ref) <= 1e-4 * (1 + fabs(ref)));
            }
        }
    }
    assert_true(levels >= 2); /* at least the portable kernels of both metrics */
    assert_null(distance_kernel(BIENC_INDEX_IP, 3));
}

static void test_normalize(void **state)
{
    (void)state;
    float x[3] = {3, 0, 4}, z[2] = {0, 0};
    distance_normalize(x, 3);
    assert_float_equal(x[0], 0.6f, 1e-6);
    assert_float_equal(x[2], 0.8f, 1e-6);
    distance_normalize(z, 2); /* the zero vector stays zero, no NaN */
    assert_float_equal(z[0], 0.0f, 0);
    assert_float_equal(distance_dot(x, x, 3), 1.0f, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kernels_agree), cmocka_unit_test(test_normalize)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
