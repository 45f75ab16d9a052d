/* `bienc run CONFIG`: the whole path from data to a report, as one library call.
 *
 * Stages (each timed; RUN_DIR = output.dir/<run name>):
 *   data       data.format debian and no collection yet: debian_build() into data.dir
 *   vocab      tokenizer.vocab, else RUN_DIR/vocab.txt (reused when present), else trained
 *              on the training texts (the trainer's recipe) and saved there
 *   mine       only with mine.enabled: BM25 (eval/bm25_xapian.py) ranks the training queries
 *              (the first mine.max_queries), mine_hard_negatives keeps the non-relevant ranks
 *              [mine.range_min, mine.range_max) -> RUN_DIR/hardnegs.jsonl, which the bi-encoder
 *              then trains on (data.format hard_negatives, mine.num_negatives per query)
 *   teacher    cross-encoder trained on the training qrels (teacher.h) -> RUN_DIR/teacher.h5
 *              (reused when present and opts.reuse); with teacher.model.kind late_interaction
 *              a ColBERT model (late_interaction.h) trained by the bi-encoder trainer from the
 *              trained bi-encoder on the mined lists -> checkpoints/<name>-teacher, teacher.h5
 *   score      only with loss.name MarginMSELoss (distillation): the teacher scores the
 *              training triples (the first data.max_examples) -> RUN_DIR/triples.scored.tsv,
 *              which the bi-encoder then trains on; skipped when the triples carry scores
 *   train      the bi-encoder (trainer_run, trainer.h) with that vocabulary; with loss.name
 *              DistillKLDivLoss and the teacher stage, loss.teacher is RUN_DIR/teacher.h5 (the
 *              teacher scores every training batch)
 *   baseline   the same bi-encoder untrained (same seed): dev queries against the whole
 *              collection, exact search -> RUN_DIR/run.untrained.trec
 *   encode     the collection and the dev queries with the trained model
 *              (eval.precision: fp32 or bf16 matrix products, as the baseline, the dense
 *              mine's encode and the teacher's score and rerank stages)
 *   index      HNSW (index.M, ef_construction, metric) over the collection -> RUN_DIR/index.hnsw
 *   search     dev queries, top index.k: HNSW (index.ef) and exact -> run.hnsw.trec, run.exact.trec
 *   bm25       eval/bm25_xapian.py (python3-xapian) when importable -> run.bm25.trec, else a note
 *   fuse       hybrid: reciprocal-rank fusion of the HNSW and BM25 runs -> run.hybrid.trec
 *   mine       (mine.dense) the trained bi-encoder's ranking of the training queries fused
 *              with BM25's -> RUN_DIR/hardnegs.jsonl, for the teacher and the second round
 *   refine     (mine.refine_steps) the bi-encoder's second round on those negatives, as ANCE:
 *              MNRL with mine.refine_negatives per query, from its checkpoint, into
 *              checkpoints/<name>-refine; then encode, index, search and fuse run again
 *   rerank     the teacher re-scores the hybrid top teacher.rerank_depth (the exact run's
 *              when there is no BM25) -> run.teacher.trec
 *   evaluate   every run against the dev qrels (metrics.h); teacher agreement: recall@{1,10,100}
 *              of every run against the teacher's ranking, and of HNSW against exact
 * The dev queries are those of data.dev_queries with a relevant passage in data.dev_qrels,
 * the first eval.max_queries of them (0 = all), searched against the WHOLE collection.
 * Outputs: RUN_DIR/report.md, report.json, report.svg (training losses, recall@k bars). */
#ifndef BIENC_PIPELINE_H
#define BIENC_PIPELINE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "io/config.h"
#include "eval/metrics.h"

typedef struct bienc_pipeline_opts {
    int threads;                 /* > 0 overrides train.threads */
    FILE *log;                   /* progress (NULL = stderr) */
    int quiet;                   /* no progress at all */
    int reuse;                   /* reuse RUN_DIR/teacher.h5 when present */
    int no_bm25;                 /* skip the BM25 baseline */
    const char *python;          /* interpreter for BM25 (default /usr/bin/python3) */
    const char *bm25_script;     /* default: eval/bm25_xapian.py next to the executable's source tree */
    volatile sig_atomic_t *stop; /* Ctrl-C: passed to the trainer */
} bienc_pipeline_opts;

void pipeline_opts_default(bienc_pipeline_opts *o);

#define PIPELINE_MAX_STAGES 24
enum { PIPE_RUN_UNTRAINED, PIPE_RUN_HNSW, PIPE_RUN_EXACT, PIPE_RUN_TEACHER, PIPE_RUN_BM25, PIPE_RUN_HYBRID, PIPE_RUN_COUNT };

typedef struct bienc_pipeline_result {
    char run_dir[1024];
    int n_stages;
    const char *stage_name[PIPELINE_MAX_STAGES];
    double stage_seconds[PIPELINE_MAX_STAGES];
    double total_seconds;
    int64_t n_queries, n_passages, dim;
    int has_run[PIPE_RUN_COUNT];
    double metrics[PIPE_RUN_COUNT][BIENC_METRIC_COUNT];   /* means over the dev queries */
    int has_agreement;
    bienc_agreement agree_hnsw, agree_exact;            /* vs the teacher's ranking */
    bienc_agreement ann_vs_exact;                       /* HNSW vs exact search */
    bienc_agreement agree_teacher[PIPE_RUN_COUNT];      /* every run vs the teacher (has_agreement) */
    int teacher_on_hybrid;                              /* the teacher re-scored the hybrid run, not the exact one */
    int64_t mined_queries, mined_negatives;             /* stage mine */
    char bm25_note[256];                                /* why BM25 is absent ("" when present) */
    float *bi_losses, *teacher_losses;                  /* per optimiser step */
    int64_t *bi_eval_steps;                             /* the trainer's dev evaluations (curve) */
    double *bi_eval_mrr, *bi_eval_recall;
    int64_t n_bi_evals;
    int64_t n_bi_losses, n_teacher_losses;
    int64_t bi_steps, teacher_steps;
    double bi_pairs_per_s, teacher_pairs_per_s;
    int64_t refine_steps;                               /* mine.refine_steps: the second round */
    double refine_pairs_per_s, refine_final_loss;
    double refine_from_mrr, refine_mrr;                 /* its trainer's dev MRR@10 before / after */
    char first_model_path[1100];                        /* the first round's checkpoint (model_path: the last) */
    char model_path[1100], teacher_path[1100];
    bienc_precision precision;                          /* of the inference stages (eval.precision, resolved) */
} bienc_pipeline_result;

/* Runs every stage for cfg (config_finalize'd); r is filled as far as the run got. */
int pipeline_run(const bienc_run_config *cfg, const bienc_pipeline_opts *o, bienc_pipeline_result *r);
void pipeline_result_free(bienc_pipeline_result *r);

/* Names of the runs in reports ("untrained", "bi-encoder HNSW", ...). */
const char *pipeline_run_label(int run);

/* RUN_DIR/report.md, report.json and report.svg (src/train/pipeline_report.c). */
int pipeline_write_report(const bienc_run_config *cfg, const bienc_pipeline_result *r);
/* The metrics table (markdown) as printed at the end of `bienc run`. */
void pipeline_print_table(FILE *f, const bienc_pipeline_result *r);

#endif
