/* Benchmark driver (not a test; run by eval/bench_encoder.py): forward + backward of
 * the encoder at MiniLM-L6 size on a packed batch, or OpenBLAS's own sgemm peak.
 * Prints one JSON line.
 *
 * usage: torch_bench_encoder_driver [--threads N] [--steps N] [--warmup N] [--batch B]
 *            [--seq L] [--layers N] [--hidden C] [--heads H] [--inter I] [--mnrl Q]
 *        torch_bench_encoder_driver --sgemm N [--threads N] [--steps N]
 * Default step: zero grads, forward of B x L tokens, mean pooling, backward of
 * sum(pooled), dropout 0. --mnrl Q: a real training step instead, B queries of Q
 * tokens and B passages of L tokens through the shared encoder (dropout 0.1 as BERT),
 * MultipleNegativesRankingLoss (scale 20), backward and an AdamW update. */
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
#include "core/rng.h"
#include "bench_util.h"

/* Median GFLOP/s of an N^3 sgemm. */
static int bench_sgemm(int n, int steps, int threads)
{
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n),
          *c = malloc(sizeof(float) * (size_t)n * n);
    double *t = malloc(sizeof(double) * (size_t)steps);
    if (!a || !b || !c || !t) return 1;
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = (float)(i % 13) * 0.01f, b[i] = (float)(i % 7) * 0.02f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int s = 0; s < steps; s++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[s] = now_s() - t0;
    }
    double med = median(t, steps);
    printf("{\"impl\": \"sgemm\", \"n\": %d, \"threads\": %d, \"kernel\": \"%s\", \"gflops\": %.1f}\n", n, threads,
           cpu_blas_corename(), 2.0 * n * n * (double)n / med / 1e9);
    free(a), free(b), free(c), free(t);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 0, steps = 5, warmup = 2, B = 32, L = 128, sgemm = 0, mnrl_q = 0;
    bienc_encoder_config cfg;
    encoder_config_minilm_l6(&cfg);
    cfg.hidden_dropout = cfg.attention_dropout = 0.0f;
    for (int i = 1; i < argc; i++) {
        int *dst = !strcmp(argv[i], "--threads") ? &threads : !strcmp(argv[i], "--steps") ? &steps
                 : !strcmp(argv[i], "--warmup") ? &warmup : !strcmp(argv[i], "--batch") ? &B
                 : !strcmp(argv[i], "--seq") ? &L : !strcmp(argv[i], "--layers") ? &cfg.num_layers
                 : !strcmp(argv[i], "--hidden") ? &cfg.hidden_size : !strcmp(argv[i], "--heads") ? &cfg.num_heads
                 : !strcmp(argv[i], "--inter") ? &cfg.intermediate_size : !strcmp(argv[i], "--sgemm") ? &sgemm
                 : !strcmp(argv[i], "--mnrl") ? &mnrl_q : NULL;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "bench_encoder_driver: bad argument %s\n", argv[i]);
            return 2;
        }
        *dst = atoi(argv[++i]);
    }
    if (threads > 0) cpu_set_threads(threads);
    threads = cpu_get_threads();
    if (steps < 1) steps = 1;
    if (sgemm > 0) return bench_sgemm(sgemm, steps, threads);

    int Q = mnrl_q, T = B * L + B * Q;  /* passages first, then queries (MNRL mode) */
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)T);
    int *offsets = malloc(sizeof(int) * (size_t)(B + 1)), *q_offsets = malloc(sizeof(int) * (size_t)(B + 1));
    float *up = malloc(sizeof(float) * (size_t)B * cfg.hidden_size);
    double *times = malloc(sizeof(double) * (size_t)steps);
    if (!ids || !offsets || !q_offsets || !up || !times) return 1;
    bienc_rng rng;
    rng_seed(&rng, 7);
    for (int t = 0; t < T; t++) ids[t] = (int32_t)rng_below(&rng, (uint64_t)cfg.vocab_size);
    for (int s = 0; s <= B; s++) offsets[s] = s * L, q_offsets[s] = s * Q;
    for (int i = 0; i < B * cfg.hidden_size; i++) up[i] = 1.0f;  /* loss = sum of the pooled output */
    bienc_batch_ids batch = {ids, NULL, {.n = B, .offsets = offsets}}, qbatch = {ids + B * L, NULL, {.n = B, .offsets = q_offsets}};
    if (Q == 0) cfg.hidden_dropout = cfg.attention_dropout = 0.0f;

    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    bienc_adamw *opt = NULL;
    int rc = encoder_new(&enc, &cfg, 1);
    if (rc == 0) rc = tape_new(&tape);
    if (rc == 0 && Q) rc = adamw_new(&opt, encoder_params(enc), encoder_param_count(enc), NULL, NULL);
    double fwd_s = 0, cpu0 = 0;
    for (int s = 0; rc == 0 && s < warmup + steps; s++) {
        if (s == warmup) cpu0 = cpu_s();
        double t0 = now_s(), t1;
        bienc_tensor *emb, *qemb, *loss;
        encoder_zero_grad(enc);
        rc = encoder_embed(enc, tape, &batch, BIENC_POOL_MEAN, 0, 1, 2 * (uint64_t)s, &emb);
        if (Q == 0) {
            t1 = now_s();
            if (rc == 0) rc = tape_backward_from(tape, emb, up);
        } else {
            if (rc == 0) rc = encoder_embed(enc, tape, &qbatch, BIENC_POOL_MEAN, 0, 1, 2 * (uint64_t)s + 1, &qemb);
            if (rc == 0) rc = loss_mnrl(tape, qemb, emb, BIENC_MNRL_DEFAULT_SCALE, 0, &loss);
            t1 = now_s();
            if (rc == 0) rc = tape_backward(tape, loss);
            if (rc == 0) rc = adamw_step(opt);
        }
        tape_reset(tape);
        if (s >= warmup) {
            times[s - warmup] = now_s() - t0;
            fwd_s += t1 - t0;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "bench_encoder_driver: %s\n", bienc_last_error());
        return 1;
    }
    double cpu_per_step = (cpu_s() - cpu0) / steps;
    double flops = 3.0 * (encoder_forward_flops(&cfg, &batch.seqs) + (Q ? encoder_forward_flops(&cfg, &qbatch.seqs) : 0));
    double med = median(times, steps);
    printf("{\"impl\": \"bienc\", \"threads\": %d, \"kernel\": \"%s\", \"batch\": %d, \"seq\": %d, \"mnrl_q\": %d, \"steps\": %d, "
           "\"step_s_median\": %.4f, \"fwd_s_mean\": %.4f, \"steps_per_s\": %.4f, \"model_gflop_per_step\": %.2f, "
           "\"gflops\": %.1f, \"cpu_s_per_step\": %.3f, \"peak_rss_mb\": %.1f, \"arena_mb\": %.1f}\n",
           threads, cpu_blas_corename(), B, L, Q, steps, med, fwd_s / steps, 1.0 / med, flops / 1e9, flops / med / 1e9,
           cpu_per_step, peak_rss_mb(), tape_bytes_reserved(tape) / 1048576.0);
    adamw_free(opt);
    tape_free(tape);
    encoder_free(enc);
    free(ids), free(offsets), free(q_offsets), free(up), free(times);
    return 0;
}
