/* Shared state of the trainer's files: train_loop.c (the one training loop, train_loop.h),
 * trainer.c (the bi-encoder's setup and train_model), trainer_data.c (data, tokenizer),
 * trainer_eval.c (dev evaluation), trainer_log.c (progress, metrics log), trainer_ckpt.c
 * (training checkpoints); teacher.c and pretrain.c train through the same loop. */
#ifndef BIENC_TRAINER_INTERNAL_H
#define BIENC_TRAINER_INTERNAL_H

#include <stdio.h>

#include "data/batch.h"
#include "model/biencoder.h"
#include "io/checkpoint.h"
#include "eval/metrics.h"
#include "train/optim.h"
#include "core/rng.h"
#include "train/train_data.h"
#include "train/trainer.h"

/* The dev set: selected queries, the eval corpus, qrels. */
typedef struct trainer_eval {
    int enabled;
    bienc_texts *queries;          /* owned */
    bienc_texts *collection;       /* owned, or borrowed from trainer_data */
    int own_collection;
    bienc_qrels *qrels;
    int64_t nq, np;
    const char **qtext, **ptext;   /* views into the stores */
    size_t *qlen, *plen;
    char **qid, **pid;             /* NUL-terminated copies */
    float *qemb, *pemb;
    int metric;                    /* bienc_index_metric of the exact search */
    int k;                         /* depth of the run */
} trainer_eval;

typedef struct trainer_eval_scores {
    double v[BIENC_METRIC_COUNT];  /* means, by enum bienc_metric */
    int64_t nq, np;
    double seconds;
} trainer_eval_scores;

/* Loads the dev set when the config names one (otherwise ev->enabled = 0). */
int trainer_eval_init(trainer_eval *ev, const bienc_run_config *cfg, trainer_data *d, int64_t max_passages, FILE *log);
void trainer_eval_free(trainer_eval *ev);
int trainer_eval_run(trainer_eval *ev, bienc_biencoder *bi, bienc_tape *tape, int batch_size, trainer_eval_scores *s);

/* Logging: progress on the log stream, rows in metrics.jsonl. */
typedef struct trainer_log {
    FILE *out;          /* NULL when quiet */
    const char *prefix; /* before "step" in progress lines ("teacher ", ...; NULL: none) */
    int bar;            /* progress bar (TTY) instead of lines */
    FILE *jsonl;
    double last_bar;    /* time of the last bar redraw */
    int bar_drawn;
} trainer_log;

/* run_dir NULL: no metrics.jsonl (rows are not written). */
int trainer_log_open(trainer_log *l, const char *run_dir, int64_t resume_step, const bienc_train_opts *o);
void trainer_log_close(trainer_log *l);
/* printf to the log stream (clearing a progress bar first). */
void trainer_log_msg(trainer_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
typedef struct trainer_step_info {
    int64_t step, total, epoch;
    double loss, lr, grad_norm, pairs_per_s, eta_s;
} trainer_step_info;
void trainer_log_progress(trainer_log *l, const trainer_step_info *s, int line_due);
int trainer_log_train_row(trainer_log *l, const trainer_step_info *s);
int trainer_log_eval_row(trainer_log *l, int64_t step, const trainer_eval_scores *s);

/* Training checkpoints. */
typedef struct trainer_state {
    int64_t step;
    double loss, mrr_before;
    int has_eval;
    int best_metric;
    double eval_value;
    bienc_rng rng;
    const bienc_schedule *sched;
    const char *config_text;
    /* the metrics.jsonl row in progress: its first step and the sum of the losses since,
     * so that a resumed run writes the rows an uninterrupted one would */
    int64_t row_start;
    double row_sum;
} trainer_state;

struct train_model;
/* The model and its data position (the train_model's save), the optimiser and st. */
int trainer_ckpt_save(const char *path, const struct train_model *m, bienc_adamw *opt, const trainer_state *st);
/* Restores the optimiser moments and counters, RNG and step into opt/st (the model and its
 * data position are the train_model's). */
int trainer_ckpt_load_state(const bienc_ckpt *c, bienc_adamw *opt, trainer_state *st);
/* The attribute name ckpt_prune compares for the best checkpoint ("eval/mrr@10"). */
void trainer_ckpt_metric_attr(int metric, char *buf, size_t size);

#endif
