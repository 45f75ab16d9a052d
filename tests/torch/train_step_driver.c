/* Whole training step parity driver (issue 4, item 7; see test_train_step.py).
 * A tiny bi-encoder (2 layers, hidden 64, 4 heads) on a fixed batch of B queries, B
 * positives and B hard negatives (packed, different lengths), MultipleNegativesRankingLoss
 * (cos_sim * 20, queries against positives + hard negatives). Writes the initial
 * parameters, the batch, the loss and every parameter gradient of the first step, then
 * runs 3 AdamW steps (warmup-linear schedule, clipping at 1.0) on the same batch and writes
 * the loss of each step and the parameters after the third.
 *
 * usage: torch_train_step_driver OUT [--symmetric | --margin-mse] [--lr X] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/encoder.h"
#include "core/error.h"
#include "ops/loss.h"
#include "train/optim.h"
#include "core/rng.h"
#include "record_io.h"

enum { B = 4, MAX_T = 64 };

static int write_params(FILE *f, const char *prefix, bienc_encoder *enc, int grad)
{
    for (int i = 0; i < encoder_param_count(enc); i++) {
        bienc_tensor *t = enc->params[i];
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        BIENC_TRY(write_record(f, name, t->ndim, t->shape, grad ? t->grad : t->data));
    }
    return 0;
}

/* One side of the batch: B sequences with the given lengths and random ids. */
typedef struct side {
    int32_t ids[MAX_T];
    int offsets[B + 1];
    bienc_batch_ids batch;
} side;

static void make_side(side *s, const int *lens, int vocab, bienc_rng *rng)
{
    s->offsets[0] = 0;
    for (int i = 0; i < B; i++) s->offsets[i + 1] = s->offsets[i] + lens[i];
    for (int t = 0; t < s->offsets[B]; t++) s->ids[t] = (int32_t)rng_below(rng, (uint64_t)vocab);
    s->batch = (bienc_batch_ids){s->ids, NULL, {.n = B, .offsets = s->offsets}};
}

static int write_side(FILE *f, const char *name, const side *s)
{
    float ids[MAX_T], offs[B + 1];
    for (int t = 0; t < s->offsets[B]; t++) ids[t] = (float)s->ids[t];
    for (int i = 0; i <= B; i++) offs[i] = (float)s->offsets[i];
    char n[64];
    snprintf(n, sizeof n, "%s/ids", name);
    BIENC_TRY(write_record(f, n, 1, (int64_t[]){s->offsets[B]}, ids));
    snprintf(n, sizeof n, "%s/offsets", name);
    return write_record(f, n, 1, (int64_t[]){B + 1}, offs);
}

/* Teacher margins of the MarginMSE case. */
static const float teacher_margin[B] = {0.5f, -1.0f, 2.0f, 0.0f};

/* loss = MNRL(q, [p; n]) (mode 0; 1 symmetric) or MarginMSE(q, p, n) (mode 2) on a fresh
 * tape; gradients accumulate into the parameters. */
static int step_loss(bienc_encoder *enc, bienc_tape *tape, side *q, side *p, side *n, int mode, float *loss)
{
    tape_reset(tape);
    bienc_tensor *eq, *ep, *en, *docs, *l;
    BIENC_TRY(encoder_embed(enc, tape, &q->batch, BIENC_POOL_MEAN, 0, 0, 0, &eq));
    BIENC_TRY(encoder_embed(enc, tape, &p->batch, BIENC_POOL_MEAN, 0, 0, 0, &ep));
    BIENC_TRY(encoder_embed(enc, tape, &n->batch, BIENC_POOL_MEAN, 0, 0, 0, &en));
    if (mode == 2) {
        BIENC_TRY(loss_margin_mse(tape, eq, ep, en, teacher_margin, &l));
    } else {
        BIENC_TRY(op_concat_rows(tape, ep, en, &docs));
        BIENC_TRY(loss_mnrl(tape, eq, docs, 20.0f, mode == 1, &l));
    }
    *loss = l->data[0];
    return tape_backward(tape, l);
}

static int run(const char *path, int argc, char **argv)
{
    int mode = 0; /* 0 MNRL, 1 symmetric MNRL, 2 MarginMSE */
    double lr = 1e-4;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--symmetric")) mode = 1;
        else if (!strcmp(argv[i], "--margin-mse")) mode = 2;
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc) lr = atof(argv[++i]);
        else return bienc_error(BIENC_EINVAL, "unknown argument %s", argv[i]);
    }
    bienc_encoder_config cfg;
    encoder_config_default(&cfg);
    cfg.vocab_size = 101;
    cfg.hidden_size = 64;
    cfg.num_layers = 2;
    cfg.num_heads = 4;
    cfg.intermediate_size = 128;
    cfg.max_position_embeddings = 20;
    cfg.hidden_dropout = cfg.attention_dropout = 0.0f;
    cfg.initializer_range = 0.1f; /* larger than BERT's so attention is far from uniform */
    bienc_rng rng;
    rng_seed(&rng, 11);
    static const int qlen[B] = {3, 6, 4, 8}, plen[B] = {12, 7, 15, 9}, nlen[B] = {10, 14, 5, 11};
    side q, p, n;
    make_side(&q, qlen, cfg.vocab_size, &rng);
    make_side(&p, plen, cfg.vocab_size, &rng);
    make_side(&n, nlen, cfg.vocab_size, &rng);

    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    bienc_adamw *opt = NULL;
    FILE *f = fopen(path, "wb");
    if (!f) return bienc_error(BIENC_EIO, "cannot create %s", path);
    int rc = encoder_new(&enc, &cfg, 5);
    if (rc == 0) rc = tape_new(&tape);
    float conf[] = {(float)cfg.vocab_size, (float)cfg.hidden_size, (float)cfg.num_layers, (float)cfg.num_heads,
                    (float)cfg.intermediate_size, (float)cfg.max_position_embeddings, (float)cfg.type_vocab_size,
                    cfg.layer_norm_eps, (float)mode, (float)lr};
    if (rc == 0) rc = write_record(f, "config", 1, (int64_t[]){10}, conf);
    if (rc == 0) rc = write_side(f, "q", &q);
    if (rc == 0) rc = write_side(f, "p", &p);
    if (rc == 0) rc = write_side(f, "n", &n);
    if (rc == 0) rc = write_params(f, "param0/", enc, 0);

    /* AdamW as sentence-transformers fine-tunes: eps 1e-6, weight decay 0.01 (not on biases
     * and LayerNorm), clipping at 1.0, warmup-linear over 2 warmup steps of 10. */
    bienc_adamw_config oc;
    adamw_config_default(&oc);
    oc.lr = lr;
    bienc_schedule sched;
    if (rc == 0) rc = schedule_init(&sched, BIENC_SCHED_WARMUP_LINEAR, 2, 10);
    int n_params = enc ? encoder_param_count(enc) : 0;
    if (rc == 0) rc = adamw_new(&opt, enc->params, n_params, &oc, &sched);
    float losses[4];
    for (int step = 0; rc == 0 && step < 4; step++) {
        adamw_zero_grad(opt);
        rc = step_loss(enc, tape, &q, &p, &n, mode, &losses[step]);
        if (rc == 0 && step == 0) rc = write_params(f, "grad0/", enc, 1);
        if (rc == 0 && step < 3) rc = adamw_step(opt);
    }
    if (rc == 0) rc = write_record(f, "losses", 1, (int64_t[]){4}, losses);
    if (rc == 0) rc = write_params(f, "param3/", enc, 0);
    if (fclose(f) != 0 && rc == 0) rc = bienc_error(BIENC_EIO, "cannot write %s", path);
    adamw_free(opt);
    tape_free(tape);
    encoder_free(enc);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT [--symmetric | --margin-mse] [--lr X]\n", argv[0]);
        return 2;
    }
    if (run(argv[1], argc - 2, argv + 2) < 0) {
        fprintf(stderr, "train_step_driver: %s\n", bienc_last_error());
        return 1;
    }
    return 0;
}
