/* bienc demo: the smallest end-to-end training run. Builds a small BERT-style encoder,
 * trains it for a few steps on synthetic query/passage pairs with in-batch negatives
 * (MultipleNegativesRankingLoss) and AdamW, and prints the loss, which must go down.
 *
 * The synthetic task is learnable from nothing: a passage is its query's tokens,
 * shuffled and interleaved with random filler tokens, so the encoder must learn to
 * embed a sequence by the tokens it contains and ignore the filler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cpu.h"
#include "model/encoder.h"
#include "core/error.h"
#include "ops/loss.h"
#include "train/optim.h"
#include "core/rng.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/os.h"

#define DEMO_CLS 1        /* a fixed first token, as BERT's [CLS] */
#define DEMO_FIRST_ID 5   /* ids below are "special", never drawn */

typedef struct demo_opts {
    int64_t steps, seed, threads, batch, layers, hidden;
    double lr;
} demo_opts;

static void demo_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc demo [options]\n"
            "Trains a small encoder for a few steps on random query/passage pairs (MNRL, AdamW)\n"
            "and prints the loss per step; fails when the loss does not go down.\n\n"
            "  --steps N     training steps (default 20)\n"
            "  --seed N      seed of the weights and the data (default 1)\n"
            "  --threads N   worker threads (default: all cores)\n"
            "  --batch N     query/passage pairs per step (default 16)\n"
            "  --layers N    encoder layers (default 2)\n"
            "  --hidden N    hidden size, a multiple of 4 (default 128)\n"
            "  --lr X        AdamW learning rate (default 1e-3)\n");
}

/* One batch of B pairs: queries of 6..12 tokens, passages of the same tokens shuffled
 * among as many filler tokens; both start with DEMO_CLS. */
typedef struct demo_batch {
    int32_t *q_ids, *p_ids;
    int *q_off, *p_off;
} demo_batch;

static void demo_batch_fill(demo_batch *b, bienc_rng *rng, int B, int vocab)
{
    int qt = 0, pt = 0;
    b->q_off[0] = b->p_off[0] = 0;
    for (int i = 0; i < B; i++) {
        int n = 6 + (int)rng_below(rng, 7);
        int32_t *q = b->q_ids + qt, *p = b->p_ids + pt;
        q[0] = p[0] = DEMO_CLS;
        for (int j = 1; j <= n; j++) q[j] = DEMO_FIRST_ID + (int32_t)rng_below(rng, (uint64_t)(vocab - DEMO_FIRST_ID));
        /* passage body: the n query tokens and n fillers, shuffled */
        int body[32];
        for (int j = 0; j < n; j++) body[j] = q[1 + j];
        for (int j = 0; j < n; j++) body[n + j] = DEMO_FIRST_ID + (int)rng_below(rng, (uint64_t)(vocab - DEMO_FIRST_ID));
        rng_shuffle_int(rng, body, 2 * n);
        for (int j = 0; j < 2 * n; j++) p[1 + j] = body[j];
        qt += n + 1;
        pt += 2 * n + 1;
        b->q_off[i + 1] = qt;
        b->p_off[i + 1] = pt;
    }
}

static int demo_run(const demo_opts *o)
{
    bienc_encoder_config cfg;
    encoder_config_default(&cfg);
    cfg.vocab_size = 1000;
    cfg.hidden_size = (int)o->hidden;
    cfg.num_layers = (int)o->layers;
    cfg.num_heads = 4;
    cfg.intermediate_size = 4 * (int)o->hidden;
    cfg.max_position_embeddings = 64;
    int B = (int)o->batch;
    demo_batch b = {malloc(sizeof(int32_t) * 13 * (size_t)B), malloc(sizeof(int32_t) * 25 * (size_t)B),
                    malloc(sizeof(int) * (size_t)(B + 1)), malloc(sizeof(int) * (size_t)(B + 1))};
    double *losses = calloc((size_t)o->steps, sizeof(double));
    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    bienc_adamw *opt = NULL;
    int rc = (!b.q_ids || !b.p_ids || !b.q_off || !b.p_off || !losses)
                 ? bienc_error(BIENC_ENOMEM, "demo: out of memory") : 0;
    if (rc == 0) rc = encoder_new(&enc, &cfg, (uint64_t)o->seed);
    if (rc == 0) rc = tape_new(&tape);
    bienc_adamw_config oc;
    adamw_config_default(&oc);
    oc.lr = o->lr;
    if (rc == 0) rc = adamw_new(&opt, encoder_params(enc), encoder_param_count(enc), &oc, NULL);
    if (rc == 0)
        printf("demo: encoder %d layers, hidden %d, %d heads, vocab %d: %.2fM parameters; %d threads, BLAS %s\n",
               cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.vocab_size, encoder_num_scalars(enc) / 1e6,
               cpu_get_threads(), cpu_blas_corename());
    bienc_rng rng;
    rng_seed(&rng, (uint64_t)o->seed ^ 0x5eedda7aULL);
    for (int64_t s = 0; rc == 0 && s < o->steps; s++) {
        double t0 = (os_now() * 1e3);
        demo_batch_fill(&b, &rng, B, cfg.vocab_size);
        bienc_batch_ids qb = {.ids = b.q_ids, .seqs = {.n = B, .offsets = b.q_off}},
                        pb = {.ids = b.p_ids, .seqs = {.n = B, .offsets = b.p_off}};
        uint64_t key = rng_hash_u64((uint64_t)o->seed, (uint64_t)s);
        bienc_tensor *q, *p, *loss;
        int stepped;
        /* Twin towers with shared weights: gradients of both calls add up. */
        rc = encoder_embed(enc, tape, &qb, BIENC_POOL_MEAN, 0, 1, rng_hash_u64(key, 0), &q);
        if (rc == 0) rc = encoder_embed(enc, tape, &pb, BIENC_POOL_MEAN, 0, 1, rng_hash_u64(key, 1), &p);
        if (rc == 0) rc = loss_mnrl(tape, q, p, BIENC_MNRL_DEFAULT_SCALE, 0, &loss);
        if (rc == 0) rc = tape_backward(tape, loss);
        if (rc == 0) rc = adamw_micro_step(opt, &stepped);
        if (rc == 0) {
            losses[s] = loss->data[0];
            printf("step %3lld  loss %.4f  %7.1f ms/step\n", (long long)s + 1, losses[s], (os_now() * 1e3) - t0);
            fflush(stdout);
        }
        tape_reset(tape);
    }
    /* "Goes down": the mean of the last 3 steps below the mean of the first 3 (single
     * steps are noisy: every step draws fresh pairs). */
    if (rc == 0 && o->steps >= 6) {
        double first = (losses[0] + losses[1] + losses[2]) / 3;
        double last = (losses[o->steps - 1] + losses[o->steps - 2] + losses[o->steps - 3]) / 3;
        printf("demo: loss %.4f -> %.4f (mean of the first and last 3 steps)\n", first, last);
        if (!(last < first)) rc = bienc_error(BIENC_ESTATE, "demo: the loss did not go down (%.4f -> %.4f)", first, last);
    }
    adamw_free(opt);
    tape_free(tape);
    encoder_free(enc);
    free(b.q_ids), free(b.p_ids), free(b.q_off), free(b.p_off), free(losses);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    demo_opts o = {.steps = 20, .seed = 1, .threads = 0, .batch = 16, .layers = 2, .hidden = 128, .lr = 1e-3};
    for (int i = 1; i < argc; i++) {
        int help = 0, r;
        if (arg_flag(argv, i, "--help", &help) || arg_flag(argv, i, "-h", &help)) {
            demo_usage(stdout);
            return 0;
        }
        if ((r = arg_int(argc, argv, &i, "--steps", 1, 1000000, &o.steps)) ||
            (r = arg_int(argc, argv, &i, "--seed", 0, INT64_MAX, &o.seed)) ||
            (r = arg_int(argc, argv, &i, "--threads", 0, 1024, &o.threads)) ||
            (r = arg_int(argc, argv, &i, "--batch", 2, 4096, &o.batch)) ||
            (r = arg_int(argc, argv, &i, "--layers", 1, 48, &o.layers)) ||
            (r = arg_int(argc, argv, &i, "--hidden", 4, 4096, &o.hidden)) ||
            (r = arg_float(argc, argv, &i, "--lr", &o.lr))) {
            if (r < 0) return 2;
            continue;
        }
        return arg_unknown("demo", argv[i]);
    }
    if (o.hidden % 4) {
        fprintf(stderr, "bienc demo: --hidden must be a multiple of 4 (4 heads), not %lld\n", (long long)o.hidden);
        return 2;
    }
    if (!(o.lr > 0 && o.lr < 1)) {
        fprintf(stderr, "bienc demo: --lr must be in (0, 1)\n");
        return 2;
    }
    if (o.threads > 0) cpu_set_threads((int)o.threads);
    return demo_run(&o) < 0 ? cli_fail("demo") : 0;
}
