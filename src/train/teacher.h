/* Training the cross-encoder teacher of `bienc run` (config section `teacher:`).
 *
 * Data: the (query, positive) pairs of data.qrels (grade >= 1) over data.queries and
 * data.collection; each query of a batch is paired with its positive (label 1) and with
 * teacher.loss.hard_negatives passages drawn uniformly from the collection (label 0, never
 * the positive), from a generator seeded by teacher.train.seed, so a run is a pure function
 * of the config and the thread count does not change it. With data.format hard_negatives
 * (the mined lists of `bienc mine` / the pipeline's mine stage) the teacher trains on the
 * mined queries only, and K - teacher.random_negatives of each query's K negatives are drawn
 * from its mined list (default: every other one). Loss (teacher.loss.name):
 * BinaryCrossEntropy, BCE with logits, mean over the batch's pairs (sentence-transformers
 * CrossEncoder with num_labels = 1); or MultipleNegativesRankingLoss, the listwise cross
 * entropy of each query's positive among its 1 + K passages at teacher.loss.scale
 * (loss_listwise_ce, loss.h). AdamW,
 * schedule and clipping come from teacher.optim / teacher.schedule; teacher.train.steps
 * (or epochs over the pairs) sets the length.
 *
 * It trains through the one training loop of `bienc train` (src/train/train_loop.h): with
 * opts.dir it writes DIR/step-N.h5 training checkpoints (checkpoint.every_steps, pruned to
 * checkpoint.keep_last; the cross-encoder plus optimiser, data position and RNG) and
 * DIR/metrics.jsonl, and resumes from them bit for bit (opts.resume). The result is a
 * model-only cross-encoder checkpoint (cross_encoder.h layout). */
#ifndef BIENC_TEACHER_H
#define BIENC_TEACHER_H

#include <stdint.h>
#include <stdio.h>

#include "io/config.h"
#include "model/cross_encoder.h"
#include "model/biencoder.h"
#include "data/data.h"
#include "eval/metrics.h"

typedef struct bienc_teacher_opts {
    const char *vocab;       /* vocab.txt the teacher tokenizes with (required) */
    const char *output;      /* checkpoint written at the end (NULL: none) */
    const char *init_from;   /* bi-encoder, MLM (pretrain.h) or cross-encoder checkpoint whose encoder
                                weights start the teacher (names and shapes must match, except that a
                                stored token-type table may have fewer rows: those are copied, the
                                teacher's extra types keep their init; the head stays fresh).
                                NULL: teacher.model.init_from, else from scratch */
    int threads;             /* > 0 overrides teacher.train.threads */
    FILE *log;               /* progress lines (NULL: silent) */
    const char *dir;         /* training checkpoints step-N.h5 and metrics.jsonl (NULL: none, no resume) */
    const char *resume;      /* NULL: fresh; "auto": the latest step-N.h5 of dir; else a checkpoint path */
    int overwrite;           /* fresh start over an earlier run's checkpoints in dir (deletes them) */
    int64_t stop_at_step;    /* > 0: stop after this step with a checkpoint (no output written) */
} bienc_teacher_opts;

typedef struct bienc_teacher_result {
    int64_t start_step, steps; /* resumed from, reached */
    int stopped;             /* non-zero when opts.stop_at_step ended the run early */
    double final_loss;       /* mean of the last log window's losses */
    double seconds, pairs_per_s;
    float *losses;           /* loss of every step of this call (losses[i]: step start_step + 1 + i) */
    int64_t n_losses;
} bienc_teacher_result;

/* Trains a new cross-encoder from cfg->teacher (cfg finalized). *out (may be NULL) gets the
 * trained model; r (may be NULL) the losses. */
int teacher_train(const bienc_run_config *cfg, const bienc_teacher_opts *o, bienc_cross_encoder **out,
                  bienc_teacher_result *r);
void teacher_result_free(bienc_teacher_result *r);

/* One optimisation-free piece, for tests: the mean BCE loss of a cross-encoder on n pairs
 * with 0/1 labels (no dropout, no gradient). */
int teacher_eval_loss(bienc_cross_encoder *ce, const char *const *q, const char *const *p, const float *labels, int64_t n,
                      double *loss);

/* Inference precision: every scoring function below takes the precision of the
 * cross-encoder's matrix products, fp32 or bf16 (bf16 inputs, fp32 accumulation:
 * tape_set_precision in src/core/tape.h); BIENC_PRECISION_AUTO is resolved as
 * train_precision() does (bf16 where the CPU has a bf16 kernel). */

/* cross_encoder_score on a no-grad tape of that precision (src/train/teacher_score.c). */
int teacher_score_pairs(bienc_cross_encoder *ce, bienc_precision precision, const char *const *q, const size_t *qlens,
                        const char *const *p, const size_t *plens, int64_t n, int batch_size, float *scores);

/* A teacher that scores (query, passage) pairs: a cross-encoder, or a late-interaction
 * model (ColBERT, src/model/late_interaction.h). Exactly one is set; not owned. */
typedef struct bienc_reranker {
    bienc_cross_encoder *ce;
    bienc_biencoder *late;
} bienc_reranker;

/* Loads a reranker checkpoint by its model/kind: "cross_encoder" or "late_interaction"
 * (anything else is BIENC_EFORMAT naming the file). The caller frees with reranker_free. */
int reranker_load(const char *path, bienc_reranker *out);
void reranker_free(bienc_reranker *r);

/* Reranking (src/train/teacher_rerank.c): every query's top `top` documents of `run` (sorted
 * in place) re-scored by the teacher; *out is a new run called `name` whose scores are the
 * teacher's (cross-encoder logits, or MaxSim; documents below the top are dropped). Texts
 * are looked up by id; an id missing from queries / collection is BIENC_ENOTFOUND naming it. */
int teacher_rerank(const bienc_reranker *t, bienc_precision precision, bienc_run *run, const bienc_texts *queries,
                   const bienc_texts *collection, int top, int batch_size, const char *name, bienc_run **out);

/* The false-negative guard of mine_hard_negatives (src/train/teacher_score.c): a
 * bienc_mine_scorer over this context scores (query, passage) pairs with the cross-encoder,
 * texts looked up by id (an unknown id is BIENC_ENOTFOUND naming it). */
typedef struct bienc_teacher_scorer {
    bienc_cross_encoder *ce;
    const bienc_texts *queries, *collection;
    int batch_size;
    bienc_precision precision; /* 0 (a zeroed struct): fp32 */
} bienc_teacher_scorer;
int teacher_scorer_score(void *ctx, const char *qid, const char *const *pids, int n, float *scores);

/* Teacher scores for MarginMSELoss (src/train/teacher_score.c): writes every row of `tr`
 * (up to max_rows written when > 0) as its three fields followed by \t score(q, pos) \t
 * score(q, neg), the cross-encoder's logits (earlier score columns are replaced). Id
 * triples need queries and collection to find the texts; a row with an unknown id is
 * skipped when skip_missing, else BIENC_ENOTFOUND naming file and line. Text triples
 * pass NULL for both. Written atomically; progress lines go to log (may be NULL);
 * *n_written (may be NULL) gets the number of rows written. */
int teacher_score_triples(bienc_cross_encoder *ce, bienc_precision precision, const bienc_triples *tr,
                          const bienc_texts *queries, const bienc_texts *collection, int64_t max_rows,
                          int skip_missing, int batch_size, const char *path, FILE *log, int64_t *n_written);

#endif
