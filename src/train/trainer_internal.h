/* Shared state of the bi-encoder trainer's files: trainer.c (its setup and train_model),
 * trainer_data.c (data, tokenizer), trainer_eval.c (dev evaluation). The loop they train
 * through (with teacher.c and pretrain.c) is train_loop.h; its log and checkpoint state
 * are trainer_log.h and trainer_ckpt.h. */
#ifndef BIENC_TRAINER_INTERNAL_H
#define BIENC_TRAINER_INTERNAL_H

#include <stdio.h>

#include "core/tape.h"
#include "eval/metrics.h"
#include "model/biencoder.h"
#include "train/train_data.h"
#include "train/trainer_log.h"

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

/* Loads the dev set when the config names one (otherwise ev->enabled = 0). */
int trainer_eval_init(trainer_eval *ev, const bienc_run_config *cfg, trainer_data *d, int64_t max_passages, FILE *log);
void trainer_eval_free(trainer_eval *ev);
int trainer_eval_run(trainer_eval *ev, bienc_biencoder *bi, bienc_tape *tape, int batch_size, trainer_eval_scores *s);

#endif
