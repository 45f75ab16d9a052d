/* Op behaviour beyond gradients: error paths, no-grad mode, gradient accumulation,
 * dropout masks, constant memory over steps, independence from the thread count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <omp.h>

#include "ops/ops.h"
#include "ops/grad_check.h"
#include "expect_abort.h"

static bienc_tensor *param(int64_t r, int64_t c, uint64_t seed)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    return gc_param(2, (int64_t[]){r, c}, &rng, -1, 1);
}

static bienc_tensor *vec(int64_t n, uint64_t seed)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    return gc_param(1, (int64_t[]){n}, &rng, -1, 1);
}

/* A failing call returns the expected status, leaves *out NULL and says why. */
#define EXPECT_FAIL(call, status)                                      \
    do {                                                               \
        bienc_error_clear();                                           \
        out = (bienc_tensor *)1;                                       \
        assert_int_equal((call), (status));                            \
        assert_null(out);                                              \
        assert_true(bienc_last_error()[0] != '\0');                    \
    } while (0)

static void test_error_paths(void **state)
{
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *x = param(4, 3, 1), *W = param(5, 3, 2), *b = vec(5, 3), *g = vec(3, 4), *y35 = param(3, 5, 5);
    bienc_tensor *out;
    EXPECT_ABORT(op_linear(NULL, x, W, b, &out));
    EXPECT_FAIL(op_linear(tape, NULL, W, b, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_linear(tape, x, NULL, b, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_linear(tape, x, y35, NULL, &out), BIENC_ESHAPE); /* W[3,5] vs x[.,3] */
    EXPECT_FAIL(op_linear(tape, x, W, g, &out), BIENC_ESHAPE);       /* bias of 3 for 5 outputs */
    assert_non_null(strstr(bienc_last_error(), "bias"));
    EXPECT_ABORT(op_linear(tape, x, W, NULL, NULL));
    EXPECT_FAIL(op_add(tape, x, y35, &out), BIENC_ESHAPE);
    EXPECT_ABORT(op_add(tape, x, NULL, &out));
    EXPECT_FAIL(op_add_bias(tape, x, b, &out), BIENC_ESHAPE);
    EXPECT_ABORT(op_scale(tape, NULL, 2.0f, &out));
    EXPECT_FAIL(op_layernorm(tape, x, b, g, 1e-5f, &out), BIENC_ESHAPE);
    EXPECT_FAIL(op_layernorm(tape, x, g, b, 1e-5f, &out), BIENC_ESHAPE);
    EXPECT_FAIL(op_layernorm(tape, x, g, g, -1.0f, &out), BIENC_EINVAL);
    EXPECT_ABORT(op_gelu(tape, NULL, BIENC_GELU_ERF, &out));
    EXPECT_FAIL(op_softmax(tape, NULL, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_dropout(tape, x, 1.0f, 1, 1, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_dropout(tape, x, -0.1f, 1, 1, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_dropout(tape, x, NAN, 1, 1, &out), BIENC_EINVAL);

    /* embedding: ids outside [0, V) */
    int32_t ids[] = {0, 4, 5};
    EXPECT_FAIL(op_embedding(tape, W, ids, 3, &out), BIENC_ERANGE);
    assert_non_null(strstr(bienc_last_error(), "position 2"));
    ids[2] = -1;
    EXPECT_FAIL(op_embedding(tape, W, ids, 3, &out), BIENC_ERANGE);
    EXPECT_FAIL(op_embedding(tape, W, NULL, 3, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_embedding(tape, W, ids, -1, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_embedding(tape, b, ids, 2, &out), BIENC_ESHAPE); /* 1-D table */

    /* attention: bad heads, bad shapes, bad sequences */
    bienc_tensor *q = param(6, 4, 6), *k = param(6, 4, 7), *v = param(6, 4, 8), *k5 = param(5, 4, 9);
    int good[] = {0, 2, 6}, first[] = {1, 2, 6}, down[] = {0, 4, 3}, shortoff[] = {0, 2, 5};
    bienc_seqs sg = {.n = 2, .offsets = good}, sf = {.n = 2, .offsets = first}, sd = {.n = 2, .offsets = down}, ss = {.n = 2, .offsets = shortoff}, sneg = {.n = -1, .offsets = good}, snull = {.n = 2, .offsets = NULL};
    EXPECT_FAIL(op_attention(tape, q, k, v, &sg, 3, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_attention(tape, q, k, v, &sg, 0, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_attention(tape, q, k5, v, &sg, 2, &out), BIENC_ESHAPE);
    EXPECT_FAIL(op_attention(tape, q, k, NULL, &sg, 2, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_attention(tape, q, k, v, NULL, 2, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_attention(tape, q, k, v, &sf, 2, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_attention(tape, q, k, v, &sd, 2, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_attention(tape, q, k, v, &ss, 2, &out), BIENC_ESHAPE);
    EXPECT_FAIL(op_attention(tape, q, k, v, &sneg, 2, &out), BIENC_EINVAL);
    EXPECT_FAIL(op_attention(tape, q, k, v, &snull, 2, &out), BIENC_EINVAL);
    assert_int_equal(seqs_check(&sg, 6, "x"), 0);
    assert_int_equal(seqs_check(&sg, 7, "x"), BIENC_ESHAPE);
    assert_int_equal(seqs_check(&(bienc_seqs){.n = 0, .offsets = good}, 0, NULL), 0);

    assert_int_equal(tape_node_count(tape), 0); /* nothing half-recorded */
    bienc_tensor *all[] = {x, W, b, g, y35, q, k, v, k5};
    for (int i = 0; i < 9; i++) tensor_free(all[i]);
    tape_free(tape);
}

static void test_no_grad_records_nothing(void **state)
{
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *x = param(4, 8, 1), *W = param(8, 8, 2), *b = vec(8, 3), *g = vec(8, 4);
    int off[] = {0, 1, 4};
    int32_t ids[] = {1, 2, 3, 0};
    bienc_tensor *y;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: no-grad mode; pass 1: grad mode but no input requires a gradient */
        tape_set_grad_enabled(tape, pass == 1);
        for (int i = 0; pass == 1 && i < 4; i++) ((bienc_tensor *[]){x, W, b, g})[i]->requires_grad = 0;
        assert_int_equal(op_linear(tape, x, W, b, &y), 0);
        assert_int_equal(op_layernorm(tape, y, g, b, 1e-5f, &y), 0);
        assert_int_equal(op_gelu(tape, y, BIENC_GELU_ERF, &y), 0);
        assert_int_equal(op_attention(tape, y, y, y, &(bienc_seqs){.n = 2, .offsets = off}, 2, &y), 0);
        assert_int_equal(op_add(tape, y, x, &y), 0);
        assert_int_equal(op_add_bias(tape, y, b, &y), 0);
        assert_int_equal(op_scale(tape, y, 0.5f, &y), 0);
        assert_int_equal(op_softmax(tape, y, &y), 0);
        assert_int_equal(op_dropout(tape, y, 0.5f, 9, 1, &y), 0);
        assert_int_equal(op_embedding(tape, W, ids, 4, &y), 0);
        assert_int_equal(tape_node_count(tape), 0);
        assert_false(y->requires_grad);
        tape_reset(tape);
    }
    tensor_free(x), tensor_free(W), tensor_free(b), tensor_free(g);
    tape_free(tape);
}

static void test_partial_requires_grad(void **state)
{
    /* frozen weight: backward must skip it (its grad stays NULL) and still fill dx */
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *x = param(3, 4, 1), *W, *b = vec(2, 3);
    assert_int_equal(tensor_new_2d(&W, 2, 4, 0), 0);
    for (int i = 0; i < 8; i++) W->data[i] = (float)i;
    bienc_tensor *y;
    assert_int_equal(op_linear(tape, x, W, b, &y), 0);
    assert_int_equal(tape_node_count(tape), 1);
    float G[6] = {1, 0, 0, 1, 1, 1};
    assert_int_equal(tape_backward_from(tape, y, G), 0);
    assert_null(W->grad);
    assert_true(x->grad[0] == 0.0f && x->grad[3] == 3.0f);      /* row 0: G = (1,0) -> W row 0 */
    assert_true(x->grad[8 + 1] == 1.0f + 5.0f);                   /* row 2: G = (1,1) -> sum of rows */
    assert_true(b->grad[0] == 2.0f && b->grad[1] == 2.0f);
    tensor_free(x), tensor_free(W), tensor_free(b);
    tape_free(tape);
}

static void test_gradient_accumulates(void **state)
{
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *x = param(2, 3, 1), *y;
    /* x used twice in one op */
    assert_int_equal(op_add(tape, x, x, &y), 0);
    float G[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(tape_backward_from(tape, y, G), 0);
    for (int i = 0; i < 6; i++) assert_true(x->grad[i] == 2.0f * G[i]);
    /* a second step without zeroing adds on top (gradient accumulation) */
    tape_reset(tape);
    assert_int_equal(op_scale(tape, x, 3.0f, &y), 0);
    assert_int_equal(tape_backward_from(tape, y, G), 0);
    for (int i = 0; i < 6; i++) assert_true(x->grad[i] == 5.0f * G[i]);
    /* x used by two ops whose results meet: d/dx (x*2 + x) = 3 */
    tensor_zero_grad(x);
    tape_reset(tape);
    bienc_tensor *a;
    assert_int_equal(op_scale(tape, x, 2.0f, &a), 0);
    assert_int_equal(op_add(tape, a, x, &y), 0);
    assert_int_equal(tape_backward_from(tape, y, G), 0);
    for (int i = 0; i < 6; i++) assert_true(x->grad[i] == 3.0f * G[i]);
    tensor_free(x);
    tape_free(tape);
}

static void test_dropout_masks(void **state)
{
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *x;
    assert_int_equal(tensor_new_2d(&x, 100, 100, 1), 0);
    for (int i = 0; i < 10000; i++) x->data[i] = 1.0f + (float)(i % 7);
    bienc_tensor *y, *y2, *y3;
    /* identity, same tensor, nothing recorded */
    assert_int_equal(op_dropout(tape, x, 0.0f, 1, 1, &y), 0);
    assert_ptr_equal(y, x);
    assert_int_equal(op_dropout(tape, x, 0.5f, 1, 0, &y), 0);
    assert_ptr_equal(y, x);
    assert_int_equal(tape_node_count(tape), 0);

    assert_int_equal(op_dropout(tape, x, 0.25f, 42, 1, &y), 0);
    assert_int_equal(op_dropout(tape, x, 0.25f, 42, 1, &y2), 0);
    assert_int_equal(op_dropout(tape, x, 0.25f, 43, 1, &y3), 0);
    assert_memory_equal(y->data, y2->data, sizeof(float) * 10000); /* reproducible from the key */
    int dropped = 0, differ = 0;
    for (int i = 0; i < 10000; i++) {
        int keep = rng_hash_uniform(42, (uint64_t)i) >= 0.25f;
        assert_true(y->data[i] == (keep ? x->data[i] * (1.0f / 0.75f) : 0.0f));
        dropped += !keep;
        differ += (y->data[i] == 0.0f) != (y3->data[i] == 0.0f);
    }
    assert_in_range(dropped, 2300, 2700); /* about p of the elements */
    assert_true(differ > 1000);           /* another key, another mask */
    /* backward: same mask, same scale */
    float *G = malloc(sizeof(float) * 10000);
    for (int i = 0; i < 10000; i++) G[i] = 1.0f;
    assert_int_equal(tape_backward_from(tape, y, G), 0);
    for (int i = 0; i < 10000; i++) assert_true(x->grad[i] == (y->data[i] != 0.0f ? 1.0f / 0.75f : 0.0f));
    free(G);
    tensor_free(x);
    tape_free(tape);
}

/* One small "layer" forward + backward, for the memory and determinism tests. */
static void run_step(bienc_tape *tape, bienc_tensor **p, float *G)
{
    static const int off[] = {0, 5, 6, 19, 40};
    static int32_t ids[40];
    for (int t = 0; t < 40; t++) ids[t] = (t * 7) % 50;
    bienc_tensor *e, *h, *q, *k, *v, *a, *y;
    assert_int_equal(op_embedding(tape, p[0], ids, 40, &e), 0);                  /* [40, 64] */
    assert_int_equal(op_layernorm(tape, e, p[1], p[2], 1e-12f, &h), 0);
    assert_int_equal(op_linear(tape, h, p[3], p[4], &q), 0);
    assert_int_equal(op_linear(tape, h, p[5], NULL, &k), 0);
    assert_int_equal(op_gelu(tape, h, BIENC_GELU_TANH, &v), 0);
    assert_int_equal(op_attention_dropout(tape, q, k, v, &(bienc_seqs){.n = 4, .offsets = off}, 4, 0.1f, 55, 1, &a), 0);
    assert_int_equal(op_dropout(tape, a, 0.1f, 77, 1, &a), 0);
    assert_int_equal(op_add(tape, a, h, &y), 0);
    assert_int_equal(op_add_bias(tape, y, p[4], &y), 0);
    assert_int_equal(op_softmax(tape, y, &y), 0);
    assert_int_equal(tape_backward_from(tape, y, G), 0);
}

static bienc_tensor **make_params(void)
{
    static bienc_tensor *p[6];
    p[0] = param(50, 64, 1), p[1] = vec(64, 2), p[2] = vec(64, 3), p[3] = param(64, 64, 4), p[4] = vec(64, 5);
    p[5] = param(64, 64, 6);
    return p;
}

static void test_tape_reset_constant_memory(void **state)
{
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor **p = make_params();
    float G[40 * 64];
    for (int i = 0; i < 40 * 64; i++) G[i] = (float)(i % 13) - 6.0f;
    size_t reserved = 0;
    for (int step = 0; step < 5; step++) {
        run_step(tape, p, G);
        assert_true(tape_bytes_used(tape) > 0);
        assert_true(tape_node_count(tape) > 0);
        tape_reset(tape);
        assert_int_equal(tape_bytes_used(tape), 0);
        assert_int_equal(tape_node_count(tape), 0);
        if (step == 0) reserved = tape_bytes_reserved(tape);
        assert_int_equal(tape_bytes_reserved(tape), reserved);
    }
    for (int i = 0; i < 6; i++) tensor_free(p[i]);
    tape_free(tape);
}

static void test_results_independent_of_threads(void **state)
{
    /* same inputs, 1 thread vs 2 threads: every parameter gradient bit-identical */
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    float G[40 * 64];
    for (int i = 0; i < 40 * 64; i++) G[i] = (float)((i * 31) % 17) - 8.0f;
    float *grads[2][6];
    int saved = omp_get_max_threads();
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run == 0 ? 1 : 2);
        bienc_tensor **p = make_params();
        run_step(tape, p, G);
        for (int i = 0; i < 6; i++) {
            grads[run][i] = malloc(sizeof(float) * (size_t)p[i]->size);
            memcpy(grads[run][i], p[i]->grad, sizeof(float) * (size_t)p[i]->size);
            if (run == 1) assert_memory_equal(grads[0][i], grads[1][i], sizeof(float) * (size_t)p[i]->size);
        }
        for (int i = 0; i < 6; i++) tensor_free(p[i]);
        tape_reset(tape);
    }
    omp_set_num_threads(saved);
    for (int run = 0; run < 2; run++)
        for (int i = 0; i < 6; i++) free(grads[run][i]);
    tape_free(tape);
}

static void test_large_parallel_paths(void **state)
{
    /* sizes above the parallel threshold, compared against serial double references */
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *x = param(300, 257, 1), *g = vec(257, 2), *b = vec(257, 3), *y;
    assert_int_equal(op_layernorm(tape, x, g, b, 1e-5f, &y), 0);
    for (int r = 0; r < 300; r += 37) {
        double m = 0, v = 0;
        for (int c = 0; c < 257; c++) m += x->data[r * 257 + c];
        m /= 257;
        for (int c = 0; c < 257; c++) v += (x->data[r * 257 + c] - m) * (x->data[r * 257 + c] - m);
        double s = 1.0 / sqrt(v / 257 + 1e-5);
        for (int c = 0; c < 257; c++)
            assert_true(fabs(y->data[r * 257 + c] - ((x->data[r * 257 + c] - m) * s * g->data[c] + b->data[c])) < 1e-5);
    }
    assert_int_equal(op_softmax(tape, x, &y), 0);
    for (int r = 0; r < 300; r += 41) {
        double s = 0;
        for (int c = 0; c < 257; c++) s += exp(x->data[r * 257 + c]);
        for (int c = 0; c < 257; c++) assert_true(fabs(y->data[r * 257 + c] - exp(x->data[r * 257 + c]) / s) < 1e-7);
    }
    tensor_free(x), tensor_free(g), tensor_free(b);
    tape_free(tape);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_paths),
        cmocka_unit_test(test_no_grad_records_nothing),
        cmocka_unit_test(test_partial_requires_grad),
        cmocka_unit_test(test_gradient_accumulates),
        cmocka_unit_test(test_dropout_masks),
        cmocka_unit_test(test_tape_reset_constant_memory),
        cmocka_unit_test(test_results_independent_of_threads),
        cmocka_unit_test(test_large_parallel_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
