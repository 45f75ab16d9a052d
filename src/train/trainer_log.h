/* What a training run reports (trainer_log.c): progress on the log stream (lines, or a
 * bar on a TTY) and rows in the run directory's metrics.jsonl, for the one training loop
 * (train_loop.h) whatever model it trains. */
#ifndef BIENC_TRAINER_LOG_H
#define BIENC_TRAINER_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "core/kinds.h"
#include "train/trainer.h"

/* Dev metrics of one evaluation. */
typedef struct trainer_eval_scores {
    double v[BIENC_METRIC_COUNT];  /* means, by enum bienc_metric */
    int64_t nq, np;
    double seconds;
} trainer_eval_scores;

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
/* One optimiser step, for a progress line and a metrics.jsonl row. */
typedef struct trainer_step_info {
    int64_t step, total, epoch;
    double loss, lr, grad_norm, pairs_per_s, eta_s;
} trainer_step_info;
void trainer_log_progress(trainer_log *l, const trainer_step_info *s, int line_due);
int trainer_log_train_row(trainer_log *l, const trainer_step_info *s);
int trainer_log_eval_row(trainer_log *l, int64_t step, const trainer_eval_scores *s);

#endif
