/* Benchmark driver (not a test; run by eval/bench_train.py): one full bi-encoder training
 * step at MiniLM-L6 size, as `bienc train` runs it, or OpenBLAS's own sgemm peak.
 * Prints one JSON line.
 *
 * usage: torch_bench_train_driver --loss mnrl|triplet [--batch B] [--qlen Q] [--plen P]
 *            [--threads N] [--steps N] [--warmup N] [--dropout 0.1] [--precision fp32|bf16]
 *        torch_bench_train_driver --sgemm N [--threads N] [--steps N] [--precision bf16]
 *            (--precision bf16: the peak of bienc's bf16 GEMM, src/ops/gemm_bf16.c, instead)
 * Step = zero grads; forward of the B queries (Q tokens) and of the passages (P tokens:
 * the B positives, plus the B negatives for triplet, in one packed batch as the trainer
 * does) through the ONE shared encoder, mean pooling; MultipleNegativesRankingLoss
 * (scale 20, cosine, in-batch negatives) or TripletLoss (euclidean, margin 5); backward;
 * AdamW step (clipping at 1.0, no decay on bias / LayerNorm: bienc's defaults). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/cpu.h"
#include "model/encoder.h"
#include "core/error.h"
#include "ops/loss.h"
#include "train/optim.h"
#include "ops/pooling.h"
#include "core/rng.h"
#include "bench_util.h"
#include "ops/gemm_bf16.h"

/* One N^3 product: OpenBLAS sgemm, or bienc's bf16 GEMM. */
static void gemm_once(int bf16, int n, const float *a, const float *b, float *c)
{
    if (bf16) gemm_bf16(CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
}

/* Median GFLOP/s of an N^3 sgemm (or bf16 GEMM). */
static int bench_sgemm(int n, int steps, int threads, int bf16)
{
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n),
          *c = malloc(sizeof(float) * (size_t)n * n);
    double *t = malloc(sizeof(double) * (size_t)steps);
    if (!a || !b || !c || !t) return 1;
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = (float)(i % 13) * 0.01f, b[i] = (float)(i % 7) * 0.02f;
    gemm_once(bf16, n, a, b, c);
    double c0 = cpu_s();
    for (int s = 0; s < steps; s++) {
        double t0 = now_s();
        gemm_once(bf16, n, a, b, c);
        t[s] = now_s() - t0;
    }
    double cpu = (cpu_s() - c0) / steps, med = median(t, steps), f = 2.0 * n * n * (double)n;
    /* gflops_per_cpu_s: the same per CPU second (all threads), a measure that other load on
     * the machine hardly moves; x threads = the peak of an otherwise idle machine */
    printf("{\"impl\": \"%s\", \"n\": %d, \"threads\": %d, \"kernel\": \"%s\", \"gflops\": %.1f, "
           "\"gflops_per_cpu_s\": %.1f}\n", bf16 ? "gemm_bf16" : "sgemm", n, threads,
           bf16 ? cpu_bf16_path_name(cpu_bf16_path()) : cpu_blas_corename(), f / med / 1e9, f / cpu / 1e9);
    free(a), free(b), free(c), free(t);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 0, steps = 5, warmup = 2, B = 32, Q = 32, P = 128, sgemm = 0, triplet = 0;
    float dropout = 0.1f;
    bienc_precision precision = BIENC_PRECISION_FP32;
    bienc_encoder_config cfg;
    encoder_config_minilm_l6(&cfg);
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_train_driver: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[++i], *k = argv[i - 1];
        if (!strcmp(k, "--loss") && (!strcmp(v, "mnrl") || !strcmp(v, "triplet"))) triplet = !strcmp(v, "triplet");
        else if (!strcmp(k, "--dropout")) dropout = (float)atof(v);
        else if (!strcmp(k, "--precision") && precision_parse(v, &precision) == 0) continue;
        else {
            int *dst = !strcmp(k, "--threads") ? &threads : !strcmp(k, "--steps") ? &steps
                     : !strcmp(k, "--warmup") ? &warmup : !strcmp(k, "--batch") ? &B
                     : !strcmp(k, "--qlen") ? &Q : !strcmp(k, "--plen") ? &P
                     : !strcmp(k, "--sgemm") ? &sgemm : NULL;
            if (!dst) {
                fprintf(stderr, "bench_train_driver: bad argument %s\n", k);
                return 2;
            }
            *dst = atoi(v);
        }
    }
    if (threads > 0) cpu_set_threads(threads);
    threads = cpu_get_threads();
    if (steps < 1) steps = 1;
    if (sgemm > 0) return bench_sgemm(sgemm, steps, threads, precision == BIENC_PRECISION_BF16);
    if (B < 2 || Q < 2 || P < 2 || Q > cfg.max_position_embeddings || P > cfg.max_position_embeddings) {
        fprintf(stderr, "bench_train_driver: bad shape\n");
        return 2;
    }
    cfg.hidden_dropout = cfg.attention_dropout = dropout;

    int NP = triplet ? 2 * B : B; /* passages: positives, then (triplet) negatives */
    int64_t T = (int64_t)NP * P + (int64_t)B * Q;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)T);
    int *p_off = malloc(sizeof(int) * (size_t)(NP + 1)), *q_off = malloc(sizeof(int) * (size_t)(B + 1));
    double *times = malloc(sizeof(double) * (size_t)steps);
    if (!ids || !p_off || !q_off || !times) return 1;
    bienc_rng rng;
    rng_seed(&rng, 7);
    for (int64_t t = 0; t < T; t++) ids[t] = (int32_t)rng_below(&rng, (uint64_t)cfg.vocab_size);
    for (int s = 0; s <= NP; s++) p_off[s] = s * P;
    for (int s = 0; s <= B; s++) q_off[s] = s * Q;
    bienc_batch_ids pb = {ids, NULL, {.n = NP, .offsets = p_off}}, qb = {ids + (int64_t)NP * P, NULL, {.n = B, .offsets = q_off}};

    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    bienc_adamw *opt = NULL;
    int rc = encoder_new(&enc, &cfg, 1);
    if (rc == 0) rc = tape_new(&tape);
    if (rc == 0) tape_set_precision(tape, precision);
    if (rc == 0) rc = adamw_new(&opt, encoder_params(enc), encoder_param_count(enc), NULL, NULL);
    double fwd_s = 0, cpu0 = 0;
    for (int s = 0; rc == 0 && s < warmup + steps; s++) {
        if (s == warmup) cpu0 = cpu_s();
        double t0 = now_s(), t1;
        bienc_tensor *q, *docs, *loss;
        encoder_zero_grad(enc);
        rc = encoder_embed(enc, tape, &qb, BIENC_POOL_MEAN, 0, 1, 2 * (uint64_t)s, &q);
        if (rc == 0) rc = encoder_embed(enc, tape, &pb, BIENC_POOL_MEAN, 0, 1, 2 * (uint64_t)s + 1, &docs);
        if (rc == 0 && triplet) {
            bienc_tensor *pos, *neg;
            rc = op_slice_rows(tape, docs, 0, B, &pos);
            if (rc == 0) rc = op_slice_rows(tape, docs, B, B, &neg);
            if (rc == 0) rc = loss_triplet(tape, q, pos, neg, BIENC_DIST_EUCLIDEAN, BIENC_TRIPLET_DEFAULT_MARGIN, &loss);
        } else if (rc == 0) {
            rc = loss_mnrl(tape, q, docs, BIENC_MNRL_DEFAULT_SCALE, 0, &loss);
        }
        t1 = now_s();
        if (rc == 0) rc = tape_backward(tape, loss);
        if (rc == 0) rc = adamw_step(opt);
        tape_reset(tape);
        if (s >= warmup) {
            times[s - warmup] = now_s() - t0;
            fwd_s += t1 - t0;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "bench_train_driver: %s\n", bienc_last_error());
        return 1;
    }
    double cpu_per_step = (cpu_s() - cpu0) / steps;
    double flops = 3.0 * (encoder_forward_flops(&cfg, &pb.seqs) + encoder_forward_flops(&cfg, &qb.seqs));
    double med = median(times, steps);
    printf("{\"impl\": \"bienc\", \"precision\": \"%s\", \"loss\": \"%s\", \"threads\": %d, \"kernel\": \"%s\", \"batch\": %d, \"qlen\": %d, "
           "\"plen\": %d, \"steps\": %d, \"step_s_median\": %.4f, \"fwd_s_mean\": %.4f, \"steps_per_s\": %.4f, "
           "\"model_gflop_per_step\": %.3f, \"cpu_s_per_step\": %.3f, \"peak_rss_mb\": %.1f, \"arena_mb\": %.1f}\n",
           precision_name(precision), triplet ? "triplet" : "mnrl", threads, cpu_blas_corename(), B, Q, P, steps, med, fwd_s / steps, 1.0 / med,
           flops / 1e9, cpu_per_step, peak_rss_mb(), tape_bytes_reserved(tape) / 1048576.0);
    adamw_free(opt);
    tape_free(tape);
    encoder_free(enc);
    free(ids), free(p_off), free(q_off), free(times);
    return 0;
}
