/* GEMM micro-benchmark: OpenBLAS sgemm (fp32) against bienc's bf16 kernels
 * (src/ops/gemm_bf16.c: avx512_bf16 and the fallback), bienc's int8 inference kernel
 * (src/ops/gemm_i8.c, avx512_vnni: the forward x W^T shapes only, quantisation of both
 * operands included) and, when built with -DBIENC_HAVE_DNNL, oneDNN's matmul primitive
 * (bf16 src/weights, f32 dst).
 *
 * Peaks on a square product, then the GEMM shapes of one MiniLM-L6 training step
 * (hidden 384, intermediate 1536, 32 sequences x 128 tokens = 4096 rows): forward
 * y = x W^T, backward dx = dy W and dW = dy^T x, and the per-head attention products
 * (L = 128, D = 32). Runs are interleaved (each round runs every kernel once, the
 * median of the rounds is reported) because the machine is shared: ratios between
 * kernels of the same round are more trustworthy than absolute figures.
 * bienc's bf16 times include packing (the fp32 -> bf16 conversion of A and B); oneDNN's
 * exclude the conversion of src and weights, done once before timing (so oneDNN is
 * favoured).
 *
 *   eval/bench_gemm_bf16.sh [rounds]        (builds it, 2 threads)
 *   OMP_NUM_THREADS=1 BENCH_CPU_TIME=1 eval/bench_gemm_bf16.sh 5   (one core, CPU time) */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/gemm_bf16.h"
#include "ops/gemm_i8.h"

#ifdef BIENC_HAVE_DNNL
#include <dnnl.h>
#endif

/* Wall clock, or with BENCH_CPU_TIME=1 the process's CPU time divided by the thread
 * count: on a machine shared with other jobs (threads preempted), CPU time measures the
 * work itself; with 1 thread it is exact. */
static int use_cpu_time;

static double now(void)
{
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (ts.tv_sec + ts.tv_nsec * 1e-9) / (use_cpu_time ? omp_get_max_threads() : 1);
}

static float *randm(size_t n)
{
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    return x;
}

typedef struct {
    const char *name;
    int ta, tb, M, N, K;
    int batch; /* independent products per timed call (attention: sequences x heads) */
} shape;

enum { K_SGEMM, K_BF16, K_FALLBACK, K_DNNL, K_I8, N_KERNELS };
static const char *kernel_names[N_KERNELS] = {"sgemm fp32", "bienc avx512_bf16", "bienc fallback", "oneDNN bf16",
                                              "bienc int8 vnni"};

#ifdef BIENC_HAVE_DNNL
typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
    uint16_t *abf, *bbf;
} dnnl_case;

static void dnnl_check(dnnl_status_t st, const char *what)
{
    if (st != dnnl_success) {
        fprintf(stderr, "oneDNN: %s failed (%d)\n", what, (int)st);
        exit(1);
    }
}

static void dnnl_setup(dnnl_case *d, const shape *s, const float *A, const float *B, float *C)
{
    dnnl_check(dnnl_engine_create(&d->eng, dnnl_cpu, 0), "engine");
    dnnl_check(dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags), "stream");
    dnnl_memory_desc_t a_md, b_md, c_md;
    /* logical A [M, K], B [K, N]; a transposed operand is the other memory order */
    dnnl_check(dnnl_memory_desc_init_by_tag(&a_md, 2, (dnnl_dims_t){s->M, s->K}, dnnl_bf16, s->ta ? dnnl_ba : dnnl_ab), "a_md");
    dnnl_check(dnnl_memory_desc_init_by_tag(&b_md, 2, (dnnl_dims_t){s->K, s->N}, dnnl_bf16, s->tb ? dnnl_ba : dnnl_ab), "b_md");
    dnnl_check(dnnl_memory_desc_init_by_tag(&c_md, 2, (dnnl_dims_t){s->M, s->N}, dnnl_f32, dnnl_ab), "c_md");
    dnnl_matmul_desc_t md;
    dnnl_check(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md), "matmul desc");
    dnnl_primitive_desc_t pd;
    dnnl_check(dnnl_primitive_desc_create(&pd, &md, NULL, d->eng, NULL), "primitive desc");
    dnnl_check(dnnl_primitive_create(&d->prim, pd), "primitive");
    dnnl_primitive_desc_destroy(pd);
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N;
    d->abf = malloc(2 * na), d->bbf = malloc(2 * nb);
    for (size_t i = 0; i < na; i++) d->abf[i] = gemm_f32_to_bf16(A[i]);
    for (size_t i = 0; i < nb; i++) d->bbf[i] = gemm_f32_to_bf16(B[i]);
    dnnl_check(dnnl_memory_create(&d->a, &a_md, d->eng, d->abf), "mem a");
    dnnl_check(dnnl_memory_create(&d->b, &b_md, d->eng, d->bbf), "mem b");
    dnnl_check(dnnl_memory_create(&d->c, &c_md, d->eng, C), "mem c");
}

static void dnnl_run(dnnl_case *d)
{
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, d->a}, {DNNL_ARG_WEIGHTS, d->b}, {DNNL_ARG_DST, d->c}};
    dnnl_check(dnnl_primitive_execute(d->prim, d->stream, 3, args), "execute");
    dnnl_check(dnnl_stream_wait(d->stream), "wait");
}

static void dnnl_teardown(dnnl_case *d)
{
    dnnl_memory_destroy(d->a), dnnl_memory_destroy(d->b), dnnl_memory_destroy(d->c);
    dnnl_primitive_destroy(d->prim);
    dnnl_stream_destroy(d->stream), dnnl_engine_destroy(d->eng);
    free(d->abf), free(d->bbf);
}
#endif

/* One call of kernel k on shape s (batch independent products run over threads). */
static void run(int k, const shape *s, const float *A, const float *B, float *C, void *dnnl)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans, tb = s->tb ? CblasTrans : CblasNoTrans;
    size_t sa = (size_t)s->M * s->K, sb = (size_t)s->K * s->N, sc = (size_t)s->M * s->N;
    if (k == K_DNNL) {
#ifdef BIENC_HAVE_DNNL
        dnnl_run(dnnl);
#endif
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) if (s->batch > 1)
    for (int b = 0; b < s->batch; b++) {
        const float *a = A + b * sa, *bb = B + b * sb;
        float *c = C + b * sc;
        if (k == K_I8) gemm_i8_xwt_path(BIENC_I8_AVX512_VNNI, s->M, s->N, s->K, a, lda, bb, ldb, NULL, 0.0f, c, s->N);
        else if (k == K_SGEMM) cblas_sgemm(CblasRowMajor, ta, tb, s->M, s->N, s->K, 1.0f, a, lda, bb, ldb, 0.0f, c, s->N);
        else gemm_bf16_path(k == K_BF16 ? BIENC_BF16_AVX512 : BIENC_BF16_FALLBACK, ta, tb, s->M, s->N, s->K, 1.0f, a,
                            lda, bb, ldb, 0.0f, c, s->N);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    use_cpu_time = getenv("BENCH_CPU_TIME") && atoi(getenv("BENCH_CPU_TIME")) != 0;
    const shape shapes[] = {
        {"peak 2048^3 NN", 0, 0, 2048, 2048, 2048, 1},
        {"peak 2048^3 x W^T", 0, 1, 2048, 2048, 2048, 1}, /* the int8 kernel's shape */
        {"fwd x W^T 4096x384x384", 0, 1, 4096, 384, 384, 1},
        {"fwd x W^T 4096x1536x384", 0, 1, 4096, 1536, 384, 1},
        {"fwd x W^T 4096x384x1536", 0, 1, 4096, 384, 1536, 1},
        {"bwd dy W 4096x384x1536", 0, 0, 4096, 384, 1536, 1},
        {"bwd dy W 4096x1536x384", 0, 0, 4096, 1536, 384, 1},
        {"bwd dW 384x384x4096", 1, 0, 384, 384, 4096, 1},
        {"bwd dW 1536x384x4096", 1, 0, 1536, 384, 4096, 1},
        {"attn QK^T 12x32: 128x128x32", 0, 1, 128, 128, 32, 384},
        {"attn PV 12x32: 128x32x128", 0, 0, 128, 32, 128, 384},
    };
    int n_shapes = sizeof shapes / sizeof shapes[0];
    bienc_cpu_features f;
    cpu_features(&f);
    printf("threads %d, avx512_bf16 %d, amx_bf16 %d, OpenBLAS %s, %d interleaved rounds (median), %s\n",
           omp_get_max_threads(), f.avx512_bf16, f.amx_bf16, cpu_blas_corename(), rounds,
           use_cpu_time ? "CPU time / threads" : "wall time");
    int have[N_KERNELS] = {1, f.avx512_bf16, 1, 0, f.avx512_vnni};
#ifdef BIENC_HAVE_DNNL
    have[K_DNNL] = 1;
#endif
    printf("%-30s", "shape (M x N x K)");
    for (int k = 0; k < N_KERNELS; k++)
        if (have[k]) printf(" %18s", kernel_names[k]);
    printf("   bf16/fp32  int8/bf16\n");
    for (int si = 0; si < n_shapes; si++) {
        const shape *s = &shapes[si];
        size_t sa = (size_t)s->M * s->K * s->batch, sb = (size_t)s->K * s->N * s->batch;
        float *A = randm(sa), *B = randm(sb), *C = malloc(sizeof(float) * (size_t)s->M * s->N * s->batch);
        void *dn = NULL;
#ifdef BIENC_HAVE_DNNL
        dnnl_case dc;
        if (s->batch == 1) dnnl_setup(&dc, s, A, B, C), dn = &dc;
#endif
        int use[N_KERNELS];
        memcpy(use, have, sizeof use);
        if (!dn) use[K_DNNL] = 0;
        if (s->ta || !s->tb || s->batch > 1) use[K_I8] = 0; /* int8 runs linear layers' forward only */
        double flops = 2.0 * s->M * s->N * s->K * s->batch, t[N_KERNELS][64];
        int reps = flops > 4e9 ? 1 : (int)(4e9 / flops) + 1, R = rounds > 64 ? 64 : rounds;
        for (int k = 0; k < N_KERNELS; k++)
            if (use[k]) run(k, s, A, B, C, dn); /* warm-up (and oneDNN's first-call set-up) */
        for (int r = 0; r < R; r++)
            for (int k = 0; k < N_KERNELS; k++) {
                if (!use[k]) continue;
                double t0 = now();
                for (int i = 0; i < reps; i++) run(k, s, A, B, C, dn);
                t[k][r] = (now() - t0) / reps;
            }
        printf("%-30s", s->name);
        double g[N_KERNELS] = {0};
        for (int k = 0; k < N_KERNELS; k++) {
            if (!have[k]) continue;
            if (!use[k]) {
                printf(" %18s", "-");
                continue;
            }
            qsort(t[k], R, sizeof(double), cmp_double);
            g[k] = flops / t[k][R / 2] * 1e-9;
            printf(" %12.1f GF/s", g[k]);
        }
        printf("   %.2fx", g[K_BF16] / g[K_SGEMM]);
        if (g[K_I8] > 0) printf("      %.2fx", g[K_I8] / g[K_BF16]);
        printf("\n");
        fflush(stdout);
#ifdef BIENC_HAVE_DNNL
        if (dn) dnnl_teardown(&dc);
#endif
        free(A), free(B), free(C);
    }
    return 0;
}
