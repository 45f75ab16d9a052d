/* Finite-difference gradient checks of every op (see grad_check.h for the criterion). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <omp.h>

#include "ops/ops.h"
#include "ops/pooling.h"
#include "ops/grad_check.h"

#define TOL 1e-2
#define N_PROBE 8

static void free_all(bienc_tensor **t, int n)
{
    for (int i = 0; i < n; i++) tensor_free(t[i]);
}

/* ---- linear ---- */

static int build_linear(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    return op_linear(tape, in[0], in[1], arg ? in[2] : NULL, out);
}

static void test_linear_grad(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 1);
    bienc_tensor *in[3] = {gc_param(2, (int64_t[]){7, 5}, &rng, -1, 1), gc_param(2, (int64_t[]){3, 5}, &rng, -1, 1),
                           gc_param(1, (int64_t[]){3}, &rng, -1, 1)};
    assert_true(gc_check("linear+bias", build_linear, in, 3, (void *)1, 1e-2, N_PROBE, 11) < TOL);
    assert_true(gc_check("linear", build_linear, in, 2, NULL, 1e-2, N_PROBE, 12) < TOL);
    free_all(in, 3);
}

static void test_linear_3d_input(void **state)
{
    /* leading dimensions are flattened: x[2, 3, 4] -> y[2, 3, 6] */
    bienc_rng rng;
    rng_seed(&rng, 2);
    bienc_tensor *in[3] = {gc_param(3, (int64_t[]){2, 3, 4}, &rng, -1, 1), gc_param(2, (int64_t[]){6, 4}, &rng, -1, 1),
                           gc_param(1, (int64_t[]){6}, &rng, -1, 1)};
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *y;
    assert_int_equal(op_linear(tape, in[0], in[1], in[2], &y), 0);
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[2], 6);
    /* y[1,2,5] by hand */
    double ref = in[2]->data[5];
    for (int c = 0; c < 4; c++) ref += (double)in[0]->data[(1 * 3 + 2) * 4 + c] * in[1]->data[5 * 4 + c];
    assert_true(fabs(y->data[(1 * 3 + 2) * 6 + 5] - ref) < 1e-5);
    tape_free(tape);
    assert_true(gc_check("linear 3d", build_linear, in, 3, (void *)1, 1e-2, N_PROBE, 13) < TOL);
    free_all(in, 3);
}

/* ---- elementwise ---- */

static int build_add(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    return op_add(tape, in[0], in[1], out);
}

static int build_add_bias(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    return op_add_bias(tape, in[0], in[1], out);
}

static int build_scale(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    return op_scale(tape, in[0], -1.75f, out);
}

static void test_elementwise_grad(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 3);
    bienc_tensor *in[3] = {gc_param(2, (int64_t[]){9, 13}, &rng, -1, 1), gc_param(2, (int64_t[]){9, 13}, &rng, -1, 1),
                           gc_param(1, (int64_t[]){13}, &rng, -1, 1)};
    assert_true(gc_check("add", build_add, in, 2, NULL, 1e-2, N_PROBE, 21) < TOL);
    bienc_tensor *xb[2] = {in[0], in[2]};
    assert_true(gc_check("add_bias", build_add_bias, xb, 2, NULL, 1e-2, N_PROBE, 22) < TOL);
    assert_true(gc_check("scale", build_scale, in, 1, NULL, 1e-2, N_PROBE, 23) < TOL);
    free_all(in, 3);
}

static void test_add_bias_many_rows(void **state)
{
    /* large enough for the blocked parallel column reduction: db = column sums of G, and
     * the same bits with 1 thread as with 2 */
    bienc_rng rng;
    rng_seed(&rng, 4);
    bienc_tensor *x = gc_param(2, (int64_t[]){700, 130}, &rng, -1, 1), *b = gc_param(1, (int64_t[]){130}, &rng, -1, 1);
    float *G = malloc(sizeof(float) * 700 * 130), db[2][130];
    for (int i = 0; i < 700 * 130; i++) G[i] = rng_uniform(&rng);
    int saved = omp_get_max_threads();
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run + 1);
        tensor_zero_grad(b);
        bienc_tape *tape;
        assert_int_equal(tape_new(&tape), 0);
        bienc_tensor *y;
        assert_int_equal(op_add_bias(tape, x, b, &y), 0);
        assert_int_equal(tape_backward_from(tape, y, G), 0);
        for (int c = 0; c < 130; c++) {
            double s = 0.0;
            for (int r = 0; r < 700; r++) s += G[r * 130 + c];
            assert_true(fabs(b->grad[c] - s) < 1e-5 * s);
            assert_true(y->data[5 * 130 + c] == x->data[5 * 130 + c] + b->data[c]);
        }
        memcpy(db[run], b->grad, sizeof db[run]);
        tape_free(tape);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(db[0], db[1], sizeof db[0]);
    free(G);
    tensor_free(x);
    tensor_free(b);
}

/* ---- layernorm ---- */

static int build_layernorm(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    return op_layernorm(tape, in[0], in[1], in[2], 1e-5f, out);
}

static void test_layernorm_grad(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 5);
    bienc_tensor *in[3] = {gc_param(2, (int64_t[]){6, 11}, &rng, -2, 2), gc_param(1, (int64_t[]){11}, &rng, 0.5f, 1.5f),
                           gc_param(1, (int64_t[]){11}, &rng, -1, 1)};
    assert_true(gc_check("layernorm", build_layernorm, in, 3, NULL, 1e-2, N_PROBE, 31) < TOL);
    /* forward: a normalised row has mean beta-ish and, with gamma = 1, beta = 0, unit variance */
    for (int c = 0; c < 11; c++) in[1]->data[c] = 1.0f, in[2]->data[c] = 0.0f;
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *y;
    assert_int_equal(op_layernorm(tape, in[0], in[1], in[2], 0.0f, &y), 0);
    double m = 0, v = 0;
    for (int c = 0; c < 11; c++) m += y->data[3 * 11 + c];
    for (int c = 0; c < 11; c++) v += (y->data[3 * 11 + c] - m / 11) * (y->data[3 * 11 + c] - m / 11);
    assert_true(fabs(m / 11) < 1e-6 && fabs(v / 11 - 1.0) < 1e-5);
    tape_free(tape);
    free_all(in, 3);
}

/* ---- gelu ---- */

static int build_gelu(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    return op_gelu(tape, in[0], (bienc_gelu_kind)(intptr_t)arg, out);
}

static void test_gelu_grad_and_values(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 6);
    bienc_tensor *x = gc_param(2, (int64_t[]){5, 40}, &rng, -5, 5);
    assert_true(gc_check("gelu erf", build_gelu, &x, 1, (void *)(intptr_t)BIENC_GELU_ERF, 1e-2, 16, 41) < TOL);
    assert_true(gc_check("gelu tanh", build_gelu, &x, 1, (void *)(intptr_t)BIENC_GELU_TANH, 1e-2, 16, 42) < TOL);
    /* values against libm in double, including far tails */
    x->data[0] = -12.0f, x->data[1] = 12.0f, x->data[2] = 0.0f, x->data[3] = -100.0f, x->data[4] = 100.0f;
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *ye, *yt;
    assert_int_equal(op_gelu(tape, x, BIENC_GELU_ERF, &ye), 0);
    assert_int_equal(op_gelu(tape, x, BIENC_GELU_TANH, &yt), 0);
    for (int64_t i = 0; i < x->size; i++) {
        double xi = x->data[i];
        double re = 0.5 * xi * (1.0 + erf(xi / sqrt(2.0)));
        double rt = 0.5 * xi * (1.0 + tanh(sqrt(2.0 / M_PI) * (xi + 0.044715 * xi * xi * xi)));
        assert_true(isfinite(ye->data[i]) && isfinite(yt->data[i]));
        assert_true(fabs(ye->data[i] - re) <= 1e-6 * fmax(1.0, fabs(re)));
        assert_true(fabs(yt->data[i] - rt) <= 1e-6 * fmax(1.0, fabs(rt)));
    }
    assert_true(op_gelu(tape, x, (bienc_gelu_kind)7, &ye) == BIENC_EINVAL);
    tape_free(tape);
    tensor_free(x);
}

/* ---- softmax ---- */

static int build_softmax(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    return op_softmax(tape, in[0], out);
}

static void test_softmax_grad(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 7);
    bienc_tensor *x = gc_param(2, (int64_t[]){4, 9}, &rng, -3, 3);
    assert_true(gc_check("softmax", build_softmax, &x, 1, NULL, 1e-2, N_PROBE, 51) < TOL);
    /* huge logits do not overflow */
    x->data[0] = 1000.0f, x->data[1] = 999.0f;
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *y;
    assert_int_equal(op_softmax(tape, x, &y), 0);
    double s = 0;
    for (int c = 0; c < 9; c++) s += y->data[c];
    assert_true(fabs(s - 1.0) < 1e-6);
    assert_true(fabs(y->data[0] - 1.0 / (1.0 + exp(-1.0))) < 1e-6);
    tape_free(tape);
    tensor_free(x);
}

/* ---- attention ---- */

typedef struct { bienc_seqs seqs; int H; float p; } attn_arg;

static int build_attention(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    attn_arg *a = arg;
    if (a->p > 0.0f) return op_attention_dropout(tape, in[0], in[1], in[2], &a->seqs, a->H, a->p, 99, 1, out);
    return op_attention(tape, in[0], in[1], in[2], &a->seqs, a->H, out);
}

/* Naive double-precision reference of one output element. */
static double attention_ref(bienc_tensor **in, const int *off, int s, int H, int t, int c)
{
    int64_t C = in[0]->shape[1], D = C / H, h = c / D;
    int L = off[s + 1] - off[s];
    double sc[64], mx = -1e300, sum = 0, o = 0;
    for (int j = 0; j < L; j++) {
        double d = 0;
        for (int e = 0; e < D; e++)
            d += (double)in[0]->data[t * C + h * D + e] * in[1]->data[(off[s] + j) * C + h * D + e];
        sc[j] = d / sqrt((double)D);
        mx = fmax(mx, sc[j]);
    }
    for (int j = 0; j < L; j++) sum += sc[j] = exp(sc[j] - mx);
    for (int j = 0; j < L; j++) o += sc[j] / sum * in[2]->data[(off[s] + j) * C + c];
    return o;
}

static void test_attention_grad_and_values(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 8);
    static const int off[] = {0, 3, 4, 4, 9}; /* lengths 3, 1, 0, 5 */
    attn_arg a = {{.n = 4, .offsets = off}, 2, 0.0f};
    bienc_tensor *in[3] = {gc_param(2, (int64_t[]){9, 6}, &rng, -1, 1), gc_param(2, (int64_t[]){9, 6}, &rng, -1, 1),
                           gc_param(2, (int64_t[]){9, 6}, &rng, -1, 1)};
    assert_true(gc_check("attention", build_attention, in, 3, &a, 1e-2, 12, 61) < TOL);
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *y;
    assert_int_equal(op_attention(tape, in[0], in[1], in[2], &a.seqs, 2, &y), 0);
    for (int s = 0; s < 4; s++)
        for (int t = off[s]; t < off[s + 1]; t++)
            for (int c = 0; c < 6; c++) assert_true(fabs(y->data[t * 6 + c] - attention_ref(in, off, s, 2, t, c)) < 1e-5);
    /* a length-1 sequence attends only to itself: output = its v row */
    for (int c = 0; c < 6; c++) assert_true(fabs(y->data[3 * 6 + c] - in[2]->data[3 * 6 + c]) < 1e-6);
    /* inference mode (no saved probabilities) gives the same values */
    tape_set_grad_enabled(tape, 0);
    bienc_tensor *y2;
    assert_int_equal(op_attention(tape, in[0], in[1], in[2], &a.seqs, 2, &y2), 0);
    assert_memory_equal(y->data, y2->data, sizeof(float) * 54);
    tape_free(tape);
    free_all(in, 3);
}

static void test_attention_shared_qkv(void **state)
{
    /* q = k = v = x: gradients from the three roles add up in one buffer */
    bienc_rng rng;
    rng_seed(&rng, 9);
    static const int off[] = {0, 6, 7};
    attn_arg a = {{.n = 2, .offsets = off}, 1, 0.0f};
    bienc_tensor *x = gc_param(2, (int64_t[]){7, 4}, &rng, -1, 1);
    bienc_tensor *in[3] = {x, x, x};
    assert_true(gc_check("attention q=k=v", build_attention, in, 1, &a, 1e-2, 12, 62) < TOL);
    tensor_free(x);
}

static void test_attention_dropout(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 12);
    static const int off[] = {0, 4, 5, 12};
    attn_arg a = {{.n = 3, .offsets = off}, 2, 0.3f};
    bienc_tensor *in[3] = {gc_param(2, (int64_t[]){12, 6}, &rng, -1, 1), gc_param(2, (int64_t[]){12, 6}, &rng, -1, 1),
                           gc_param(2, (int64_t[]){12, 6}, &rng, -1, 1)};
    assert_true(gc_check("attention dropout", build_attention, in, 3, &a, 1e-2, 12, 63) < TOL);
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *y0, *y1, *y2, *y3;
    assert_int_equal(op_attention(tape, in[0], in[1], in[2], &a.seqs, 2, &y0), 0);
    assert_int_equal(op_attention_dropout(tape, in[0], in[1], in[2], &a.seqs, 2, 0.3f, 5, 0, &y1), 0);
    assert_int_equal(op_attention_dropout(tape, in[0], in[1], in[2], &a.seqs, 2, 0.0f, 5, 1, &y2), 0);
    assert_int_equal(op_attention_dropout(tape, in[0], in[1], in[2], &a.seqs, 2, 0.3f, 5, 1, &y3), 0);
    assert_memory_equal(y0->data, y1->data, sizeof(float) * 72); /* !training: no dropout */
    assert_memory_equal(y0->data, y2->data, sizeof(float) * 72); /* p = 0 */
    assert_memory_not_equal(y0->data, y3->data, sizeof(float) * 72);
    assert_int_equal(op_attention_dropout(tape, in[0], in[1], in[2], &a.seqs, 2, 1.0f, 5, 1, &y3), BIENC_EINVAL);
    tape_free(tape);
    free_all(in, 3);
}

/* ---- dropout ---- */

static int build_dropout(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    return op_dropout(tape, in[0], 0.3f, 12345, 1, out);
}

static void test_dropout_grad(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 10);
    bienc_tensor *x = gc_param(2, (int64_t[]){8, 8}, &rng, -1, 1);
    assert_true(gc_check("dropout", build_dropout, &x, 1, NULL, 1e-2, 16, 71) < TOL);
    tensor_free(x);
}

/* ---- embedding ---- */

static int build_embedding(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    static const int32_t ids[] = {3, 0, 3, 4, 1, 3};
    return op_embedding(tape, in[0], ids, 6, out);
}

static void test_embedding_grad(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 11);
    bienc_tensor *table = gc_param(2, (int64_t[]){5, 7}, &rng, -1, 1);
    assert_true(gc_check("embedding", build_embedding, &table, 1, NULL, 1e-2, 16, 81) < TOL);
    /* row 3 is used three times: its gradient is the sum of three upstream rows; row 2 is unused */
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    tensor_zero_grad(table);
    bienc_tensor *y;
    assert_int_equal(build_embedding(tape, &table, NULL, &y), 0);
    float G[42];
    for (int i = 0; i < 42; i++) G[i] = (float)i;
    assert_int_equal(tape_backward_from(tape, y, G), 0);
    for (int c = 0; c < 7; c++) {
        assert_true(table->grad[3 * 7 + c] == G[0 * 7 + c] + G[2 * 7 + c] + G[5 * 7 + c]);
        assert_true(table->grad[2 * 7 + c] == 0.0f);
        assert_true(y->data[4 * 7 + c] == table->data[1 * 7 + c]);
    }
    tape_free(tape);
    tensor_free(table);
}

/* ---- late interaction (MaxSim) ---- */

typedef struct {
    bienc_seqs q, p;
    float scale;
} maxsim_arg;

static int build_maxsim(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out)
{
    maxsim_arg *a = arg;
    return op_maxsim(tape, in[0], &a->q, in[1], &a->p, a->scale, out);
}

/* out[i, j] in double, by the definition; *gap: the smallest distance between a max and
 * the runner-up over the query's tokens (HUGE_VAL when passage j has one token). */
static double maxsim_ref(bienc_tensor **in, const maxsim_arg *a, int i, int j, double *gap)
{
    const int64_t C = in[0]->shape[1];
    const int *qo = a->q.offsets, *po = a->p.offsets;
    double sum = 0.0;
    *gap = HUGE_VAL;
    for (int t = qo[i]; t < qo[i + 1]; t++) {
        double best = -HUGE_VAL, second = -HUGE_VAL;
        for (int b = po[j]; b < po[j + 1]; b++) {
            double d = 0.0;
            for (int64_t c = 0; c < C; c++) d += (double)in[0]->data[t * C + c] * in[1]->data[b * C + c];
            if (d > best) second = best, best = d;
            else if (d > second) second = d;
        }
        sum += best;
        *gap = fmin(*gap, best - second);
    }
    return a->scale * sum / (qo[i + 1] - qo[i]);
}

static double maxsim_min_gap(bienc_tensor **in, const maxsim_arg *a)
{
    double gap = HUGE_VAL, g;
    for (int i = 0; i < a->q.n; i++)
        for (int j = 0; j < a->p.n; j++) {
            maxsim_ref(in, a, i, j, &g);
            gap = fmin(gap, g);
        }
    return gap;
}

static void test_maxsim_grad_and_values(void **state)
{
    static const int qoff[] = {0, 2, 6, 9}, poff[] = {0, 5, 6, 9, 15}; /* queries 2, 4, 3; passages 5, 1, 3, 6 */
    maxsim_arg a = {{.n = 3, .offsets = qoff}, {.n = 4, .offsets = poff}, 2.5f};
    bienc_rng rng;
    rng_seed(&rng, 14);
    bienc_tensor *in[2] = {gc_param(2, (int64_t[]){9, 8}, &rng, -1, 1), gc_param(2, (int64_t[]){15, 8}, &rng, -1, 1)};
    /* A step of eps = 1e-2 on one entry moves a similarity by at most 1e-2 (entries in
     * [-1, 1]): redraw until every max leads its runner-up by more, so that no arg-max
     * flips within a finite difference. */
    for (int tries = 0; tries < 1000 && !(maxsim_min_gap(in, &a) > 0.05); tries++) {
        gc_fill(in[0], &rng, -1, 1);
        gc_fill(in[1], &rng, -1, 1);
    }
    assert_true(maxsim_min_gap(in, &a) > 0.05);
    assert_true(gc_check("maxsim", build_maxsim, in, 2, &a, 1e-2, 16, 91) < TOL);

    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *y;
    assert_int_equal(op_maxsim(tape, in[0], &a.q, in[1], &a.p, a.scale, &y), 0);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 4);
    double gap;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) assert_true(fabs(y->data[i * 4 + j] - maxsim_ref(in, &a, i, j, &gap)) < 1e-5);
    /* p without a gradient receives none; q's is unchanged by it */
    float G[12];
    for (int k = 0; k < 12; k++) G[k] = (float)(k % 5) - 2.0f;
    tensor_zero_grad(in[0]);
    tensor_zero_grad(in[1]);
    assert_int_equal(tape_backward_from(tape, y, G), 0);
    float dq[72];
    memcpy(dq, in[0]->grad, sizeof dq);
    tape_reset(tape);
    tensor_zero_grad(in[0]);
    tensor_zero_grad(in[1]);
    in[1]->requires_grad = 0;
    assert_int_equal(op_maxsim(tape, in[0], &a.q, in[1], &a.p, a.scale, &y), 0);
    assert_int_equal(tape_backward_from(tape, y, G), 0);
    assert_memory_equal(dq, in[0]->grad, sizeof dq);
    for (int k = 0; k < 15 * 8; k++) assert_true(in[1]->grad[k] == 0.0f);
    in[1]->requires_grad = 1;

    /* malformed input: an empty passage, another C, offsets that miss the rows */
    static const int empty[] = {0, 5, 5, 9, 15}, short_off[] = {0, 2, 6, 8};
    bienc_seqs pe = {.n = 4, .offsets = empty}, qs = {.n = 3, .offsets = short_off};
    assert_int_equal(op_maxsim(tape, in[0], &a.q, in[1], &pe, 1.0f, &y), BIENC_EINVAL);
    assert_null(y);
    assert_int_equal(op_maxsim(tape, in[0], &qs, in[1], &a.p, 1.0f, &y), BIENC_ESHAPE);
    bienc_tensor *p7 = gc_param(2, (int64_t[]){15, 7}, &rng, -1, 1);
    assert_int_equal(op_maxsim(tape, in[0], &a.q, p7, &a.p, 1.0f, &y), BIENC_ESHAPE);
    tensor_free(p7);
    tape_free(tape);
    free_all(in, 2);
}

static void test_maxsim_tiles_and_threads(void **state)
{
    /* 40 queries (600 tokens) x 9 passages (5200 tokens, one longer than a passage block):
     * several tiles each way. The same bits with 1 thread as with 2; values against the
     * definition; a bf16 tape within bf16's rounding of the fp32 scores. */
    enum { NQ = 40, NP = 9, C = 16 };
    static const int plen[NP] = {300, 2100, 1, 700, 450, 90, 1200, 59, 300};
    int qoff[NQ + 1] = {0}, poff[NP + 1] = {0};
    for (int i = 0; i < NQ; i++) qoff[i + 1] = qoff[i] + 5 + (i * 7) % 21;
    for (int j = 0; j < NP; j++) poff[j + 1] = poff[j] + plen[j];
    const int Tq = qoff[NQ], Tp = poff[NP];
    maxsim_arg a = {{.n = NQ, .offsets = qoff}, {.n = NP, .offsets = poff}, 1.0f / 3};
    bienc_rng rng;
    rng_seed(&rng, 15);
    bienc_tensor *in[2] = {gc_param(2, (int64_t[]){Tq, C}, &rng, -1, 1), gc_param(2, (int64_t[]){Tp, C}, &rng, -1, 1)};
    float G[NQ * NP], out[2][NQ * NP];
    for (int k = 0; k < NQ * NP; k++) G[k] = 2.0f * rng_uniform(&rng) - 1.0f;
    float *grads[2][2];
    int saved = omp_get_max_threads();
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *y;
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run + 1);
        tape_reset(tape);
        tensor_zero_grad(in[0]);
        tensor_zero_grad(in[1]);
        assert_int_equal(op_maxsim(tape, in[0], &a.q, in[1], &a.p, a.scale, &y), 0);
        assert_int_equal(tape_backward_from(tape, y, G), 0);
        memcpy(out[run], y->data, sizeof out[run]);
        for (int k = 0; k < 2; k++) {
            grads[run][k] = malloc(sizeof(float) * (size_t)in[k]->size);
            memcpy(grads[run][k], in[k]->grad, sizeof(float) * (size_t)in[k]->size);
        }
    }
    omp_set_num_threads(saved);
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    for (int k = 0; k < 2; k++) {
        assert_memory_equal(grads[0][k], grads[1][k], sizeof(float) * (size_t)in[k]->size);
        free(grads[0][k]);
        free(grads[1][k]);
    }
    double gap;
    for (int i = 0; i < NQ; i++)
        for (int j = 0; j < NP; j++) assert_true(fabs(out[0][i * NP + j] - maxsim_ref(in, &a, i, j, &gap)) < 1e-5);
    /* op_maxsim_pairs: listed pairs only, in any order, repeated: op_maxsim's values */
    enum { NPAIRS = 2 * NQ * NP };
    int qi[NPAIRS], pj[NPAIRS];
    float got[NPAIRS], got2[NPAIRS];
    for (int k = 0; k < NPAIRS; k++) {
        qi[k] = (k * 17) % NQ;
        pj[k] = (k * 5 + k / NQ) % NP;
    }
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        assert_int_equal(op_maxsim_pairs(BIENC_PRECISION_FP32, in[0]->data, &a.q, in[1]->data, &a.p, C, qi, pj, NPAIRS,
                                         a.scale, t == 1 ? got : got2), 0);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(got, got2, sizeof got);
    for (int k = 0; k < NPAIRS; k++) assert_true(fabsf(got[k] - out[0][qi[k] * NP + pj[k]]) < 1e-6f);
    tape_reset(tape);
    tape_set_precision(tape, BIENC_PRECISION_BF16);
    assert_int_equal(op_maxsim(tape, in[0], &a.q, in[1], &a.p, a.scale, &y), 0);
    for (int k = 0; k < NQ * NP; k++) assert_true(fabs(y->data[k] - out[0][k]) < 2e-2 * fabs(out[0][k]) + 1e-3);
    assert_int_equal(op_maxsim_pairs(BIENC_PRECISION_BF16, in[0]->data, &a.q, in[1]->data, &a.p, C, qi, pj, NPAIRS,
                                     a.scale, got), 0);
    for (int k = 0; k < NPAIRS; k++) assert_true(fabsf(got[k] - y->data[qi[k] * NP + pj[k]]) < 1e-5f);
    /* a pair outside the sequences, and nothing to do */
    pj[3] = NP;
    assert_int_equal(op_maxsim_pairs(BIENC_PRECISION_FP32, in[0]->data, &a.q, in[1]->data, &a.p, C, qi, pj, NPAIRS,
                                     a.scale, got), BIENC_ERANGE);
    assert_int_equal(op_maxsim_pairs(BIENC_PRECISION_FP32, NULL, &a.q, NULL, &a.p, C, NULL, NULL, 0, a.scale, NULL), 0);
    tape_free(tape);
    free_all(in, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_grad),
        cmocka_unit_test(test_linear_3d_input),
        cmocka_unit_test(test_elementwise_grad),
        cmocka_unit_test(test_add_bias_many_rows),
        cmocka_unit_test(test_layernorm_grad),
        cmocka_unit_test(test_gelu_grad_and_values),
        cmocka_unit_test(test_softmax_grad),
        cmocka_unit_test(test_attention_grad_and_values),
        cmocka_unit_test(test_attention_shared_qkv),
        cmocka_unit_test(test_attention_dropout),
        cmocka_unit_test(test_dropout_grad),
        cmocka_unit_test(test_embedding_grad),
        cmocka_unit_test(test_maxsim_grad_and_values),
        cmocka_unit_test(test_maxsim_tiles_and_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
