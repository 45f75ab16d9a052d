/* Op micro-benchmarks (not a test): op_linear forward+backward against the same three
 * sgemm calls made directly, and packed multi-head attention.
 *
 * Build and run (from the repo, after building bienc_static in build-ops):
 *   gcc -O3 -march=native -fopenmp -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-openmp \
 *       scripts/bench_ops.c build-ops/libbienc.a \
 *       -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lm -o /tmp/bench_ops
 *   OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=2 flock /tmp/bienc-heavy.lock /tmp/bench_ops
 * Prints medians over repetitions. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/ops.h"
#include "core/rng.h"

#define REPS 11

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void fill(bienc_tensor *t, bienc_rng *rng)
{
    for (int64_t i = 0; i < t->size; i++) t->data[i] = rng_uniform(rng) - 0.5f;
}

int main(void)
{
    bienc_rng rng;
    rng_seed(&rng, 1);
    bienc_tape *tape;
    if (tape_new(&tape) < 0) return 1;
    printf("threads %d\n", omp_get_max_threads());

    /* ---- linear: T=4096, 384 -> 1536 ---- */
    const int T = 4096, NI = 384, NO = 1536;
    bienc_tensor *x, *W, *b;
    tensor_new_2d(&x, T, NI, 1);
    tensor_new_2d(&W, NO, NI, 1);
    tensor_new_1d(&b, NO, 1);
    fill(x, &rng), fill(W, &rng), fill(b, &rng);
    float *G = malloc(sizeof(float) * (size_t)T * NO);
    float *Y = malloc(sizeof(float) * (size_t)T * NO);
    for (int64_t i = 0; i < (int64_t)T * NO; i++) G[i] = rng_uniform(&rng) - 0.5f;
    double flops3 = 3.0 * 2.0 * T * NI * NO, t_fwd[REPS], t_all[REPS], t_blas[REPS], t_blas1[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = omp_get_wtime();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, NO, NI, 1.0f, x->data, NI, W->data, NI, 0.0f, Y, NO);
        double t1 = omp_get_wtime();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, NI, NO, 1.0f, G, NO, W->data, NI, 1.0f, x->grad, NI);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, NO, NI, T, 1.0f, G, NO, x->data, NI, 1.0f, W->grad, NI);
        double t2 = omp_get_wtime();
        t_blas1[r] = t1 - t0;
        t_blas[r] = t2 - t0;

        bienc_tensor *y;
        t0 = omp_get_wtime();
        op_linear(tape, x, W, b, &y);
        t1 = omp_get_wtime();
        tape_backward_from(tape, y, G);
        t2 = omp_get_wtime();
        t_fwd[r] = t1 - t0;
        t_all[r] = t2 - t0;
        tape_reset(tape);
    }
    double mb = median(t_blas, REPS), mb1 = median(t_blas1, REPS), mf = median(t_fwd, REPS), ma = median(t_all, REPS);
    printf("linear T=%d %d->%d: sgemm alone fwd %.2f ms (%.1f GFLOP/s), 3 sgemm %.2f ms (%.1f GFLOP/s)\n", T, NI, NO,
           mb1 * 1e3, flops3 / 3 / mb1 * 1e-9, mb * 1e3, flops3 / mb * 1e-9);
    printf("op_linear  fwd %.2f ms (%.1f GFLOP/s), fwd+bwd %.2f ms (%.1f GFLOP/s) = %.0f%% of raw sgemm\n", mf * 1e3,
           flops3 / 3 / mf * 1e-9, ma * 1e3, flops3 / ma * 1e-9, 100.0 * mb / ma);

    /* ---- attention: 32 sequences x 128 tokens, 12 heads, D = 32 ---- */
    const int S = 32, L = 128, H = 12, D = 32, C = H * D, TT = S * L;
    bienc_tensor *q, *k, *v;
    tensor_new_2d(&q, TT, C, 1);
    tensor_new_2d(&k, TT, C, 1);
    tensor_new_2d(&v, TT, C, 1);
    fill(q, &rng), fill(k, &rng), fill(v, &rng);
    int *off = malloc(sizeof(int) * (S + 1));
    for (int s = 0; s <= S; s++) off[s] = s * L;
    bienc_seqs seqs = {S, off};
    float *GA = malloc(sizeof(float) * (size_t)TT * C);
    for (int64_t i = 0; i < (int64_t)TT * C; i++) GA[i] = rng_uniform(&rng) - 0.5f;
    double a_fwd[REPS], a_all[REPS];
    for (int r = 0; r < REPS; r++) {
        bienc_tensor *y;
        double t0 = omp_get_wtime();
        op_attention(tape, q, k, v, &seqs, H, &y);
        double t1 = omp_get_wtime();
        tape_backward_from(tape, y, GA);
        double t2 = omp_get_wtime();
        a_fwd[r] = t1 - t0;
        a_all[r] = t2 - t0;
        tape_reset(tape);
    }
    double af = median(a_fwd, REPS), aa = median(a_all, REPS);
    double aflops_f = 2.0 * 2.0 * S * H * (double)L * L * D, aflops_b = 2.0 * aflops_f;
    printf("attention %dx%d H%d D%d: fwd %.2f ms (%.1f GFLOP/s in its matmuls), fwd+bwd %.2f ms (%.1f GFLOP/s)\n", S,
           L, H, D, af * 1e3, aflops_f / af * 1e-9, aa * 1e3, (aflops_f + aflops_b) / aa * 1e-9);

    /* ---- elementwise-type ops at MiniLM sizes: GELU on [T, 1536], LayerNorm on [T, 384] ---- */
    double g_f[REPS], g_a[REPS], l_f[REPS], l_a[REPS];
    bienc_tensor *gamma, *beta, *hx;
    tensor_new_1d(&gamma, NI, 1);
    tensor_new_1d(&beta, NI, 1);
    tensor_new_2d(&hx, T, NO, 1);
    fill(gamma, &rng), fill(beta, &rng), fill(hx, &rng);
    for (int r = 0; r < REPS; r++) {
        bienc_tensor *y;
        double t0 = omp_get_wtime();
        op_gelu(tape, hx, BIENC_GELU_ERF, &y);
        double t1 = omp_get_wtime();
        tape_backward_from(tape, y, G);
        double t2 = omp_get_wtime();
        g_f[r] = t1 - t0, g_a[r] = t2 - t0;
        tape_reset(tape);
        t0 = omp_get_wtime();
        op_layernorm(tape, x, gamma, beta, 1e-12f, &y);
        t1 = omp_get_wtime();
        tape_backward_from(tape, y, G);
        t2 = omp_get_wtime();
        l_f[r] = t1 - t0, l_a[r] = t2 - t0;
        tape_reset(tape);
    }
    printf("gelu erf [%d, %d]: fwd %.2f ms, fwd+bwd %.2f ms\n", T, NO, median(g_f, REPS) * 1e3, median(g_a, REPS) * 1e3);
    printf("layernorm [%d, %d]: fwd %.2f ms, fwd+bwd %.2f ms\n", T, NI, median(l_f, REPS) * 1e3,
           median(l_a, REPS) * 1e3);
    return 0;
}
