/* The one training loop: every model (bi-encoder, cross-encoder teacher, MLM pre-training)
 * trains through it. llm.c's story -- zero_grad, forward, backward, update -- plus what
 * every run needs around it: resume, progress and metrics.jsonl rows, a finite-loss guard
 * before the backward, checkpoints (pruned to the last N plus the best), dev evaluations.
 *
 * The model-specific part is a train_model: its parameters, the loss of its next
 * micro-batch, and what it stores in (and restores from) a training checkpoint. The loop
 * owns the optimiser, the schedule, the tape and the generic checkpoint attributes
 * (layout in src/train/trainer.h):
 *
 *     train_loop L;
 *     train_loop_resolve_resume(ckpt_dir, o, log, path, size);   // "" = fresh start
 *     ... open the checkpoint, build the model (from it when resuming), fill a train_model
 *     train_loop_init(&L, &model, &lo, optim, schedule, log, result, ckpt);
 *     train_loop_run(&L);
 *     train_loop_free(&L); */
#ifndef BIENC_TRAIN_LOOP_H
#define BIENC_TRAIN_LOOP_H

#include "core/cpu.h"
#include "core/tape.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "train/optim.h"
#include "train/trainer.h"
#include "train/trainer_ckpt.h"
#include "train/trainer_log.h"

typedef struct train_model {
    void *self;
    bienc_tensor **params;     /* what AdamW updates (trainable: gradients allocated) */
    int n_params;
    /* The loss of the next micro-batch, recorded on `tape` (reset by the loop): the model
     * draws the batch from its own data position, dropout masks from dropout_key.
     * *examples gets the number of training examples in it, *epoch the data epoch. */
    int (*micro_loss)(void *self, bienc_tape *tape, uint64_t dropout_key, bienc_tensor **loss, int64_t *examples,
                      int64_t *epoch);
    /* Writes the model and the data position into a training checkpoint. */
    int (*save)(void *self, bienc_ckpt_writer *w);
    /* Restores the data position from a training checkpoint (the model was built from it). */
    int (*load_state)(void *self, const bienc_ckpt *c);
    /* Dev metrics of the current model (NULL: the model has no dev evaluation). */
    int (*eval)(void *self, bienc_tape *tape, trainer_eval_scores *s);
    /* Under several ranks (src/core/comm.h), 1: micro_loss computes this rank's share of a
     * global batch (src/train/data_parallel.h) and *examples counts the global batch; the
     * loop sums the losses and the gradients over the ranks. 0: every rank computes the
     * whole batch (the same bits everywhere; no speed-up). Either way rank 0 alone writes
     * the checkpoints. */
    int data_parallel;
} train_model;

typedef struct train_loop_opts {
    int64_t total_steps;       /* optimiser steps of the whole run (>= 1) */
    int64_t log_every;         /* a metrics row every N steps (and at the last) */
    int64_t eval_every;        /* 0: evaluate only at the end (when the model has eval) */
    int64_t ckpt_every;        /* 0: checkpoint only at the end */
    int64_t keep_last;         /* prune to the last N (0: keep all) */
    int keep_best;             /* also keep the best by best_metric (a checkpoint after each eval) */
    bienc_metric best_metric;
    uint64_t seed;             /* seeds the rng/state attribute */
    uint64_t dropout_base;     /* micro-batch i's dropout key: rng_hash_u64(dropout_base, i) */
    const char *ckpt_dir;      /* step-N.h5 files; NULL: no checkpoints (then no resume either) */
    const char *config_text;   /* stored as the "config" attribute (may be NULL) */
    const char *what;          /* "" or e.g. "teacher " in messages */
    bienc_precision precision; /* train.precision: fp32 or bf16 matrix products */
    const bienc_train_opts *o; /* eval_at_start, stop, stop_at_step */
} train_loop_opts;

typedef struct train_loop {
    train_model m;
    train_loop_opts lo;
    bienc_schedule sched;
    bienc_adamw *opt;
    bienc_tape *tape;
    trainer_log *log;
    bienc_train_result *r;
    trainer_state st;
    int accum;
    int64_t last_saved, losses_cap;
    int64_t row_start;      /* first step of the metrics.jsonl row in progress */
    double resumed_row_sum; /* its losses before the resume step (from the checkpoint) */
    int resumed_eval;       /* the resume checkpoint holds an eval (a stop skips the one due) */
    float *dp_grads;        /* data-parallel: every gradient packed for one allreduce */
    int64_t dp_n;
} train_loop;

/* train.precision resolved: auto is bf16 where the CPU has a bf16 kernel, else fp32. */
static inline bienc_precision train_precision(bienc_precision p)
{
    if (p == BIENC_PRECISION_AUTO) return cpu_bf16_path() == BIENC_BF16_AVX512 ? BIENC_PRECISION_BF16 : BIENC_PRECISION_FP32;
    return p;
}

/* The checkpoint to resume from into path ("" for a fresh start) by o->resume ("auto": the
 * latest step-N.h5 of ckpt_dir, none = fresh). A fresh start refuses a directory holding
 * an earlier run's checkpoints unless o->overwrite (then deletes them). */
int train_loop_resolve_resume(const char *ckpt_dir, const bienc_train_opts *o, trainer_log *log, char *path,
                              size_t size);
/* Schedule and AdamW over m->params; restores optimiser, counters and data position from
 * ck (NULL: fresh; its path is recorded as r->last_ckpt). r->total_steps is set. */
int train_loop_init(train_loop *L, const train_model *m, const train_loop_opts *lo, const bienc_cfg_optim *optim,
                    const bienc_cfg_schedule *schedule, trainer_log *log, bienc_train_result *r, const bienc_ckpt *ck);
/* Steps until lo.total_steps (or a stop), evaluating and checkpointing as configured. */
int train_loop_run(train_loop *L);
void train_loop_free(train_loop *L);

#endif
