/* Pooling, similarities and losses (pooling.h, loss.h): hand-computed values, the
 * max-pooling tie rule, no-grad mode, thread-count independence and error paths
 * (status + message, no output, no crash). Gradients: test_heads.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "core/error.h"
#include "ops/loss.h"
#include "ops/pooling.h"
#include "core/rng.h"
#include "expect_abort.h"
/* --------------------------------------------------------- hand-computed values ---- */

static bienc_tensor *param(int64_t r, int64_t c, const float *v)
{
    bienc_tensor *t = NULL;
    assert_int_equal(c ? tensor_new_2d(&t, r, c, 1) : tensor_new_1d(&t, r, 1), 0);
    memcpy(t->data, v, sizeof(float) * (size_t)t->size);
    return t;
}

static void test_values(void **state)
{
    bienc_tape *tp;
    assert_int_equal(tape_new(&tp), 0);
    bienc_tensor *o;

    /* CE of uniform logits is log(m); gradient (1/m - onehot) / n */
    float zeros[21] = {0};
    bienc_tensor *lg = param(3, 7, zeros);
    assert_int_equal(loss_cross_entropy(tp, lg, (int32_t[]){0, 3, 6}, &o), 0);
    assert_float_equal(o->data[0], log(7.0), 1e-6);
    assert_int_equal(tape_backward(tp, o), 0);
    assert_float_equal(lg->grad[0], (1.0 / 7 - 1) / 3, 1e-7);
    assert_float_equal(lg->grad[1], 1.0 / 21, 1e-7);
    assert_float_equal(lg->grad[7 + 3], (1.0 / 7 - 1) / 3, 1e-7);
    /* huge logits stay finite (max subtracted) */
    tape_reset(tp);
    bienc_tensor *big = param(1, 2, (float[]){1000.0f, -1000.0f});
    assert_int_equal(loss_cross_entropy(tp, big, (int32_t[]){1}, &o), 0);
    assert_float_equal(o->data[0], 2000.0, 1e-3);

    /* triplet euclidean: |(3,4)| = 5, |(0,1)| = 1, margin 5 -> 9; second row inactive -> mean 4.5 */
    tape_reset(tp);
    bienc_tensor *a = param(2, 2, (float[]){0, 0, 0, 0});
    bienc_tensor *p = param(2, 2, (float[]){-3, -4, 0, 0});
    bienc_tensor *n = param(2, 2, (float[]){0, -1, -6, -8});
    assert_int_equal(loss_triplet(tp, a, p, n, BIENC_DIST_EUCLIDEAN, BIENC_TRIPLET_DEFAULT_MARGIN, &o), 0);
    assert_float_equal(o->data[0], 4.5, 1e-5);
    assert_int_equal(tape_backward(tp, o), 0);
    /* d/dp of |a - p| at row 0 = -(a - p)/5 / B = -(3,4)/10 */
    assert_float_equal(p->grad[0], -0.3, 1e-5);
    assert_float_equal(p->grad[1], -0.4, 1e-5);
    assert_float_equal(n->grad[2], 0.0, 0.0); /* row 1 outside the hinge: no gradient */
    /* triplet cosine: d(a,p) = 2 (opposite), d(a,n) = 0 (same), margin 0.5 -> 2.5 */
    tape_reset(tp);
    bienc_tensor *ca = param(1, 2, (float[]){1, 0}), *cp = param(1, 2, (float[]){-2, 0}),
                 *cn = param(1, 2, (float[]){3, 0});
    assert_int_equal(loss_triplet(tp, ca, cp, cn, BIENC_DIST_COSINE, 0.5f, &o), 0);
    assert_float_equal(o->data[0], 2.5, 1e-6);

    /* BCE stable at |x| = 100: (0 + 100 + 100 + 0) / 4 = 50; gradients (sig - t) / 4 */
    tape_reset(tp);
    bienc_tensor *x = param(4, 0, (float[]){100, -100, 100, -100});
    assert_int_equal(loss_bce_with_logits(tp, x, (float[]){1, 1, 0, 0}, &o), 0);
    assert_float_equal(o->data[0], 50.0, 1e-5);
    assert_int_equal(tape_backward(tp, o), 0);
    assert_float_equal(x->grad[0], 0.0, 1e-9);
    assert_float_equal(x->grad[1], -0.25, 1e-7);
    assert_float_equal(x->grad[2], 0.25, 1e-7);
    assert_float_equal(x->grad[3], 0.0, 1e-9);

    /* MSE: ((1-0)^2 + (2-4)^2) / 2 = 2.5 */
    tape_reset(tp);
    bienc_tensor *m1 = param(2, 0, (float[]){1, 2}), *m2 = param(2, 0, (float[]){0, 4});
    assert_int_equal(loss_mse(tp, m1, m2, &o), 0);
    assert_float_equal(o->data[0], 2.5, 1e-6);

    /* MNRL on orthonormal pairs: each row CE = log(e^20 + 1) - 20 (the other doc scores 0) */
    tape_reset(tp);
    bienc_tensor *q = param(2, 2, (float[]){2, 0, 0, 3}), *d = param(2, 2, (float[]){5, 0, 0, 0.5f});
    assert_int_equal(loss_mnrl(tp, q, d, BIENC_MNRL_DEFAULT_SCALE, 0, &o), 0);
    assert_float_equal(o->data[0], log1p(exp(-20.0)), 1e-9);
    tape_reset(tp);
    assert_int_equal(loss_mnrl(tp, q, d, BIENC_MNRL_DEFAULT_SCALE, 1, &o), 0);
    assert_float_equal(o->data[0], log1p(exp(-20.0)), 1e-9);

    /* MarginMSE: q.p - q.n = 2 - 1 = 1 against teacher 0.5 -> 0.25 */
    tape_reset(tp);
    bienc_tensor *mq = param(1, 2, (float[]){1, 0}), *mp = param(1, 2, (float[]){2, 7}), *mn = param(1, 2, (float[]){1, -7});
    assert_int_equal(loss_margin_mse(tp, mq, mp, mn, (float[]){0.5f}, &o), 0);
    assert_float_equal(o->data[0], 0.25, 1e-7);

    /* cos_sim of a zero row is 0 (clamped norm), never NaN */
    tape_reset(tp);
    bienc_tensor *z = param(1, 3, (float[]){0, 0, 0}), *u = param(1, 3, (float[]){1, 2, 3});
    assert_int_equal(op_cos_sim_matrix(tp, z, u, &o), 0);
    assert_float_equal(o->data[0], 0.0, 0.0);

    bienc_tensor *all[] = {lg, big, a, p, n, ca, cp, cn, x, m1, m2, q, d, mq, mp, mn, z, u};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
    tape_free(tp);
}

static void test_pool_values_and_ties(void **state)
{
    bienc_tape *tp;
    assert_int_equal(tape_new(&tp), 0);
    /* seq 0 = rows 0..2, seq 1 = row 3. Channel 0 of seq 0 ties at 5 (rows 0 and 1). */
    bienc_tensor *x = param(4, 2, (float[]){5, 1, 5, 3, 2, 3, -1, -2});
    bienc_seqs seqs = {.n = 2, .offsets = (int[]){0, 3, 4}};
    bienc_tensor *o;
    assert_int_equal(op_pool(tp, x, &seqs, BIENC_POOL_MAX, &o), 0);
    assert_int_equal(o->shape[0], 2);
    assert_float_equal(o->data[0], 5, 0);
    assert_float_equal(o->data[1], 3, 0);
    assert_float_equal(o->data[2], -1, 0);
    assert_float_equal(o->data[3], -2, 0);
    assert_int_equal(tape_backward_from(tp, o, (float[]){1, 10, 100, 1000}), 0);
    /* ties go to the first row: channel 0 -> row 0, channel 1 (3 at rows 1, 2) -> row 1 */
    const float want[8] = {1, 0, 0, 10, 0, 0, 100, 1000};
    for (int i = 0; i < 8; i++) assert_float_equal(x->grad[i], want[i], 0);

    tape_reset(tp);
    tensor_zero_grad(x);
    assert_int_equal(op_pool(tp, x, &seqs, BIENC_POOL_MEAN, &o), 0);
    assert_float_equal(o->data[0], 4, 1e-6);
    assert_float_equal(o->data[1], 7.0 / 3, 1e-6);
    assert_float_equal(o->data[2], -1, 0);
    assert_int_equal(op_pool(tp, x, &seqs, BIENC_POOL_CLS, &o), 0);
    assert_float_equal(o->data[0], 5, 0);
    assert_float_equal(o->data[1], 1, 0);
    assert_float_equal(o->data[3], -2, 0);

    assert_int_equal(pool_mode_from_name("mean"), BIENC_POOL_MEAN);
    assert_int_equal(pool_mode_from_name("cls"), BIENC_POOL_CLS);
    assert_int_equal(pool_mode_from_name("max"), BIENC_POOL_MAX);
    assert_int_equal(pool_mode_from_name("MEAN"), -1);
    assert_int_equal(pool_mode_from_name(NULL), -1);
    assert_string_equal(pool_mode_name(BIENC_POOL_MAX), "max");
    assert_string_equal(pool_mode_name((bienc_pool_mode)7), "unknown");
    tensor_free(x);
    tape_free(tp);
}

/* No-grad mode records nothing; outputs do not require gradients. */
static void test_no_grad(void **state)
{
    bienc_tape *tp;
    assert_int_equal(tape_new(&tp), 0);
    tape_set_grad_enabled(tp, 0);
    bienc_tensor *q = param(2, 2, (float[]){1, 2, 3, 4}), *d = param(3, 2, (float[]){1, 0, 0, 1, 1, 1}), *o;
    assert_int_equal(loss_mnrl(tp, q, d, 20.0f, 1, &o), 0);
    assert_int_equal(o->requires_grad, 0);
    assert_int_equal(tape_node_count(tp), 0);
    tensor_free(q);
    tensor_free(d);
    tape_free(tp);
}

/* The parallel pooling path gives the same bits as one thread. */
static void test_pool_threads_deterministic(void **state)
{
    enum { N = 64, L = 64, C = 16 };
    bienc_tensor *x;
    assert_int_equal(tensor_new_2d(&x, N * L, C, 1), 0);
    bienc_rng rng;
    rng_seed(&rng, 5);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = rng_normal(&rng);
    int off[N + 1];
    for (int s = 0; s <= N; s++) off[s] = s * L;
    bienc_seqs seqs = {.n = N, .offsets = off};
    float *first = malloc(sizeof(float) * N * C);
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 2 : 1);
        bienc_tape *tp;
        assert_int_equal(tape_new(&tp), 0);
        bienc_tensor *o;
        assert_int_equal(op_pool(tp, x, &seqs, BIENC_POOL_MEAN, &o), 0);
        if (!run) memcpy(first, o->data, sizeof(float) * N * C);
        else assert_memory_equal(first, o->data, sizeof(float) * N * C);
        tape_free(tp);
    }
    free(first);
    tensor_free(x);
}

/* ---------------------------------------------------------------- error paths ---- */

#define EXPECT_ERR(call, code, fragment)                                                                              \
    do {                                                                                                             \
        bienc_error_clear();                                                                                         \
        o = (bienc_tensor *)1;                                                                                       \
        assert_int_equal((call), (code));                                                                            \
        if (!strstr(bienc_last_error(), (fragment))) fail_msg("message '%s' lacks '%s'", bienc_last_error(), (fragment)); \
        assert_null(o); /* no half-made output escapes */                                                         \
    } while (0)

static void test_errors(void **state)
{
    bienc_tape *tp;
    assert_int_equal(tape_new(&tp), 0);
    bienc_tensor *a = param(2, 3, (float[]){1, 2, 3, 4, 5, 6}), *b = param(2, 4, (float[]){0, 0, 0, 0, 0, 0, 0, 0});
    bienc_tensor *c = param(3, 3, (float[]){1, 1, 1, 1, 1, 1, 1, 1, 1}), *v = param(2, 0, (float[]){1, 2});
    bienc_tensor *o;

    EXPECT_ERR(op_pool(NULL, a, &(bienc_seqs){.n = 1, .offsets = (int[]){0, 2}}, BIENC_POOL_MEAN, &o), BIENC_EINVAL, "op_pool");
    EXPECT_ERR(op_pool(tp, NULL, &(bienc_seqs){.n = 1, .offsets = (int[]){0, 2}}, BIENC_POOL_MEAN, &o), BIENC_EINVAL, "x");
    EXPECT_ERR(op_pool(tp, a, NULL, BIENC_POOL_MEAN, &o), BIENC_EINVAL, "seqs");
    EXPECT_ERR(op_pool(tp, a, &(bienc_seqs){.n = 2, .offsets = (int[]){0, 0, 2}}, BIENC_POOL_MEAN, &o), BIENC_EINVAL, "sequence 0 is empty");
    EXPECT_ERR(op_pool(tp, a, &(bienc_seqs){.n = 2, .offsets = (int[]){0, 2, 2}}, BIENC_POOL_MAX, &o), BIENC_EINVAL, "empty");
    EXPECT_ERR(op_pool(tp, a, &(bienc_seqs){.n = 1, .offsets = (int[]){0, 3}}, BIENC_POOL_MEAN, &o), BIENC_ESHAPE, "2 rows");
    EXPECT_ERR(op_pool(tp, a, &(bienc_seqs){.n = 2, .offsets = (int[]){0, 3, 2}}, BIENC_POOL_MEAN, &o), BIENC_EINVAL, "decrease");
    EXPECT_ERR(op_pool(tp, a, &(bienc_seqs){.n = 1, .offsets = (int[]){1, 2}}, BIENC_POOL_CLS, &o), BIENC_EINVAL, "offsets[0]");
    EXPECT_ERR(op_pool(tp, a, &(bienc_seqs){.n = 0, .offsets = (int[]){0}}, BIENC_POOL_CLS, &o), BIENC_EINVAL, "0 sequences");
    EXPECT_ERR(op_pool(tp, a, &(bienc_seqs){.n = 1, .offsets = (int[]){0, 2}}, (bienc_pool_mode)9, &o), BIENC_EINVAL, "mode");
    EXPECT_ERR(op_pool(tp, v, &(bienc_seqs){.n = 1, .offsets = (int[]){0, 2}}, BIENC_POOL_MEAN, &o), BIENC_ESHAPE, "dimensions");

    EXPECT_ERR(op_l2_normalize(tp, NULL, &o), BIENC_EINVAL, "op_l2_normalize");
    assert_int_equal(op_l2_normalize(tp, a, NULL), BIENC_EINVAL);
    EXPECT_ERR(op_dot_matrix(tp, a, b, &o), BIENC_ESHAPE, "op_dot_matrix: b");
    EXPECT_ERR(op_cos_sim_matrix(tp, a, b, &o), BIENC_ESHAPE, "op_cos_sim_matrix: b");
    EXPECT_ERR(op_cos_sim_matrix(tp, a, NULL, &o), BIENC_EINVAL, "NULL");
    EXPECT_ERR(op_row_dot(tp, a, c, &o), BIENC_ESHAPE, "op_row_dot: b");
    EXPECT_ERR(op_concat_rows(tp, a, b, &o), BIENC_ESHAPE, "op_concat_rows: b");
    EXPECT_ERR(op_slice_rows(tp, a, 1, 2, &o), BIENC_ERANGE, "op_slice_rows");
    EXPECT_ERR(op_slice_rows(tp, a, -1, 1, &o), BIENC_ERANGE, "op_slice_rows");
    EXPECT_ERR(op_slice_rows(tp, a, 0, 0, &o), BIENC_ERANGE, "op_slice_rows");
    EXPECT_ERR(op_weighted_sum(tp, 0, (bienc_tensor *[]){a}, (float[]){1}, &o), BIENC_EINVAL, "0 inputs");
    EXPECT_ERR(op_weighted_sum(tp, 7, (bienc_tensor *[]){a, a, a, a, a, a, a}, (float[]){1, 1, 1, 1, 1, 1, 1}, &o),
               BIENC_EINVAL, "7 inputs");
    EXPECT_ERR(op_weighted_sum(tp, 2, (bienc_tensor *[]){a, c}, (float[]){1, 1}, &o), BIENC_ESHAPE, "x[1]");

    EXPECT_ABORT(loss_cross_entropy(tp, a, NULL, &o));
    EXPECT_ERR(loss_cross_entropy(tp, a, (int32_t[]){0, 3}, &o), BIENC_ERANGE, "labels[1] = 3");
    EXPECT_ERR(loss_cross_entropy(tp, a, (int32_t[]){-1, 0}, &o), BIENC_ERANGE, "labels[0] = -1");
    EXPECT_ERR(loss_cross_entropy(tp, v, (int32_t[]){0, 0}, &o), BIENC_ESHAPE, "logits");
    EXPECT_ERR(loss_triplet(tp, a, a, c, BIENC_DIST_EUCLIDEAN, 1, &o), BIENC_ESHAPE, "negative");
    EXPECT_ERR(loss_triplet(tp, a, NULL, a, BIENC_DIST_EUCLIDEAN, 1, &o), BIENC_EINVAL, "positive");
    EXPECT_ERR(loss_triplet(tp, a, a, a, (bienc_distance)5, 1, &o), BIENC_EINVAL, "distance");
    EXPECT_ERR(loss_mse(tp, a, c, &o), BIENC_ESHAPE, "loss_mse: b");
    EXPECT_ERR(loss_mse(tp, NULL, c, &o), BIENC_EINVAL, "loss_mse: a");
    EXPECT_ABORT(loss_bce_with_logits(tp, v, NULL, &o));
    EXPECT_ERR(loss_mnrl(tp, c, a, 20, 0, &o), BIENC_ESHAPE, "2 docs for 3 queries");
    EXPECT_ERR(loss_mnrl(tp, a, b, 20, 1, &o), BIENC_ESHAPE, "docs");
    EXPECT_ERR(loss_mnrl(NULL, a, a, 20, 1, &o), BIENC_EINVAL, "loss_mnrl");
    EXPECT_ERR(loss_margin_mse(tp, a, a, c, (float[]){0, 0}, &o), BIENC_ESHAPE, "negatives");
    EXPECT_ABORT(loss_margin_mse(tp, a, a, a, NULL, &o));

    tensor_free(a);
    tensor_free(b);
    tensor_free(c);
    tensor_free(v);
    tape_free(tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_pool_values_and_ties),
        cmocka_unit_test(test_no_grad),
        cmocka_unit_test(test_pool_threads_deterministic),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
