/* Training checkpoints of the one training loop (trainer_ckpt.c; layout in
 * src/train/trainer.h): the model and its data position through the train_model's save,
 * AdamW's moments, the RNG, the step and the metrics row in progress, so that a resumed
 * run continues with the bits an uninterrupted one would have. */
#ifndef BIENC_TRAINER_CKPT_H
#define BIENC_TRAINER_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "io/checkpoint.h"
#include "train/optim.h"

/* What the loop keeps in a training checkpoint besides the model and AdamW. */
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
