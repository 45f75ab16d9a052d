/* Finite-difference gradient checking for the op tests (header-only, test code).
 *
 * The loss is L = sum(out * G) for a fixed random G, accumulated in double. The analytic
 * gradient comes from tape_backward_from(out, G); the numerical one from central
 * differences (L(x + eps) - L(x - eps)) / 2 eps on a handful of elements of every input
 * that requires a gradient. Agreement: |num - ana| <= tol * max(|num|, |ana|, 1e-2 gmax)
 * where gmax is the largest analytic gradient of that input (so elements whose gradient
 * is ~0 are compared on the tensor's scale, not on their own). */
#ifndef BIENC_TEST_GRAD_CHECK_H
#define BIENC_TEST_GRAD_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/tensor.h"

/* Builds the op under test from inputs in[]; `arg` carries extra settings. */
typedef int (*gc_build_fn)(bienc_tape *tape, bienc_tensor **in, void *arg, bienc_tensor **out);

static inline void gc_fill(bienc_tensor *t, bienc_rng *rng, float lo, float hi)
{
    for (int64_t i = 0; i < t->size; i++) t->data[i] = lo + (hi - lo) * rng_uniform(rng);
}

static inline bienc_tensor *gc_param(int ndim, const int64_t *shape, bienc_rng *rng, float lo, float hi)
{
    bienc_tensor *t = NULL;
    if (tensor_new(&t, ndim, shape, 1) < 0) return NULL;
    gc_fill(t, rng, lo, hi);
    return t;
}

static inline double gc_loss(bienc_tape *tape, gc_build_fn build, bienc_tensor **in, void *arg, const float *G,
                             int64_t n, int *rc)
{
    tape_reset(tape);
    tape_set_grad_enabled(tape, 0);
    bienc_tensor *out = NULL;
    *rc = build(tape, in, arg, &out);
    tape_set_grad_enabled(tape, 1);
    if (*rc < 0 || !out || out->size != n) return NAN;
    double L = 0.0;
    for (int64_t i = 0; i < n; i++) L += (double)out->data[i] * (double)G[i];
    return L;
}

/* Returns the largest relative error seen (printed per input), or +inf on failure. */
static inline double gc_check(const char *name, gc_build_fn build, bienc_tensor **in, int n_in, void *arg,
                              double eps, int n_probe, uint64_t seed)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    bienc_tape *tape = NULL;
    if (tape_new(&tape) < 0) return INFINITY;
    for (int i = 0; i < n_in; i++) tensor_zero_grad(in[i]);
    bienc_tensor *out = NULL;
    int rc = build(tape, in, arg, &out);
    if (rc < 0 || !out) {
        fprintf(stderr, "%s: forward failed: %s\n", name, bienc_last_error());
        tape_free(tape);
        return INFINITY;
    }
    int64_t n = out->size;
    float *G = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) G[i] = 2.0f * rng_uniform(&rng) - 1.0f;
    if (tape_backward_from(tape, out, G) < 0) {
        fprintf(stderr, "%s: backward failed: %s\n", name, bienc_last_error());
        free(G);
        tape_free(tape);
        return INFINITY;
    }
    double worst = 0.0;
    for (int i = 0; i < n_in; i++) {
        bienc_tensor *x = in[i];
        if (!x->requires_grad) continue;
        /* keep the analytic gradient: later forwards reuse the arena, not x->grad, but copy anyway */
        float *ana = malloc(sizeof(float) * (size_t)x->size);
        memcpy(ana, x->grad, sizeof(float) * (size_t)x->size);
        double gmax = 0.0;
        for (int64_t j = 0; j < x->size; j++) gmax = fmax(gmax, fabs(ana[j]));
        double err_in = 0.0;
        for (int p = 0; p < n_probe && x->size > 0; p++) {
            int64_t j = p == 0 ? 0 : p == 1 ? x->size - 1 : (int64_t)rng_below(&rng, (uint64_t)x->size);
            float saved = x->data[j];
            x->data[j] = saved + (float)eps;
            double lp = gc_loss(tape, build, in, arg, G, n, &rc);
            x->data[j] = saved - (float)eps;
            double lm = gc_loss(tape, build, in, arg, G, n, &rc);
            /* the step actually taken in float */
            double h = (double)(saved + (float)eps) - (double)(saved - (float)eps);
            x->data[j] = saved;
            double num = (lp - lm) / h;
            double denom = fmax(fmax(fabs(num), fabs((double)ana[j])), 1e-2 * gmax);
            double err = denom > 0 ? fabs(num - (double)ana[j]) / denom : 0.0;
            if (!(err <= 1e30)) err = INFINITY;
            if (err > err_in) err_in = err;
            if (err > 1e-2)
                fprintf(stderr, "%s: input %d element %lld: numerical %.6g analytic %.6g\n", name, i, (long long)j,
                        num, (double)ana[j]);
        }
        printf("  %-28s input %d: max rel err %.2e (max |grad| %.3g)\n", name, i, err_in, gmax);
        if (err_in > worst) worst = err_in;
        free(ana);
    }
    free(G);
    tape_free(tape);
    return worst;
}

#endif
