/* The trainer: `bienc train CONFIG` as a library call.
 *
 *     bienc_run_config cfg;  config_load(&cfg, "configs/quickstart.yaml", NULL, 0);
 *     bienc_train_opts o;    train_opts_default(&o);
 *     bienc_train_result r;
 *     int rc = trainer_run(&cfg, &o, &r);     // 0, or a negative status with a message
 *     ... r.steps, r.final_loss, r.mrr_before, r.mrr_after, r.last_ckpt ...
 *     train_result_free(&r);
 *
 * What a run does: loads the data of data.format (tuples: query, positive, negatives), the
 * tokenizer (tokenizer.vocab, or one trained on the training texts and saved as
 * RUN_DIR/vocab.txt), builds the bi-encoder (model.size..., or model.init_from), and trains
 * with the configured loss, AdamW, schedule, clipping and accumulation. It writes
 *     RUN_DIR/config.yaml       the resolved config (RUN_DIR = output.dir/<run name>)
 *     RUN_DIR/metrics.jsonl     {"step":..,"loss":..,"lr":..,"grad_norm":..,"pairs_per_s":..}
 *                               every train.log_every_steps, and {"step":..,"eval":{..}} rows
 *     CKPT_DIR/step-N.h5        CKPT_DIR = checkpoint.dir/<run name>: every
 *                               checkpoint.every_steps, after each evaluation when
 *                               checkpoint.keep_best, and at the end; pruned to the last
 *                               keep_last plus the best by eval.best_metric
 * and evaluates on the dev set (exact search, MRR@10, Recall@10, nDCG@10, MAP@100) before
 * training, every eval.every_steps and at the end. The loop itself (src/train/train_loop.h)
 * is shared with the cross-encoder teacher (teacher.h) and MLM pre-training (pretrain.h).
 *
 * Checkpoints hold the model (model_io.h layout) plus everything a resume needs:
 *     /optim/m/<param>, /optim/v/<param>   AdamW moments; attrs optim/step, optim/micro
 *     attrs sampler/seed, sampler/epoch, sampler/batch   the data position
 *     attrs rng/state (4 words), schedule/kind, schedule/warmup_steps, schedule/total_steps,
 *           train/step, train/loss, train/mrr_before, eval/<metric> (when evaluated then)
 *     attr  config                          the run config as YAML
 * Resuming restores all of it: N steps + resume + N steps gives the same losses, bit for
 * bit, as 2N steps in one go (same thread count). Dropout masks are a pure function of
 * (seed, step, micro-batch, tower, layer, site).
 *
 * Stopping: *opts.stop set non-zero (a SIGINT handler) ends the run after the current
 * optimiser step with a checkpoint, result.stopped = 1 and status 0. A non-finite loss or
 * gradient norm returns BIENC_ERANGE naming the step; the checkpoints on disk are those of
 * earlier steps. The library never exits and never installs signal handlers. */
#ifndef BIENC_TRAINER_H
#define BIENC_TRAINER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "io/config.h"

typedef struct bienc_train_opts {
    const char *resume;          /* NULL: start fresh; "auto": latest step-N.h5 of the run (fresh when none);
                                    else a checkpoint path */
    int overwrite;               /* fresh start: delete step-N.h5 files of an earlier run in the checkpoint
                                    directory (without it such files are an error) */
    int threads;                 /* > 0 overrides train.threads */
    int progress;                /* -1: a bar when the log stream is a TTY, else plain lines; 0 lines; 1 bar */
    int quiet;                   /* no log output at all */
    FILE *log;                   /* NULL = stderr */
    int64_t stop_at_step;        /* > 0: stop (with a checkpoint) after this optimiser step, as on Ctrl-C */
    int64_t eval_max_passages;   /* >= 0 overrides eval.max_passages (the dev eval corpus: relevant
                                    passages + the first N collection rows, 0 = all); default -1 */
    int eval_at_start;           /* evaluate the untrained model first (default 1; not on resume) */
    volatile sig_atomic_t *stop; /* may be NULL */
} bienc_train_opts;

typedef struct bienc_train_result {
    int64_t start_step, steps, total_steps;  /* optimiser steps: resumed from, reached, planned */
    int64_t epoch;               /* epoch of the last batch */
    double final_loss;           /* loss of the last step (NAN when no step ran) */
    double mrr_before, mrr_after;        /* dev MRR@10 before / after (NAN when not evaluated) */
    double recall_before, recall_after;  /* dev Recall@10 */
    double seconds;              /* wall time of this call */
    double pairs_per_s;          /* training tuples per second (evaluation excluded) */
    int stopped;                 /* 0 finished, 1 by *opts.stop, 2 by opts.stop_at_step */
    char run_dir[1024], ckpt_dir[1024];
    char last_ckpt[1100], best_ckpt[1100];  /* "" when none */
    float *losses;               /* loss of each step run by this call: losses[i] is step start_step + 1 + i */
    int64_t n_losses;
    /* every dev evaluation of this call, in order: the step and its MRR@10 / Recall@10 */
    int64_t *eval_steps;
    double *eval_mrr, *eval_recall;
    int64_t n_evals;
} bienc_train_result;

void train_opts_default(bienc_train_opts *o);

/* Runs the whole training described by cfg (already config_finalize'd). *r is filled (also
 * on failure, as far as the run got); free it with train_result_free(). */
int trainer_run(const bienc_run_config *cfg, const bienc_train_opts *o, bienc_train_result *r);
void train_result_free(bienc_train_result *r);

#endif
