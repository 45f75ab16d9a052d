/* Shared state of `bienc run`'s files: pipeline.c (stages), pipeline_bm25.c (the BM25
 * baseline through Python), pipeline_report.c (report.md / report.json / report.svg). */
#ifndef BIENC_PIPELINE_INTERNAL_H
#define BIENC_PIPELINE_INTERNAL_H

#include "model/biencoder.h"
#include "model/cross_encoder.h"
#include "data/data.h"
#include "index/hnsw.h"
#include "eval/metrics.h"
#include "train/pipeline.h"
#include "train/teacher.h"
#include "train/trainer.h"

typedef struct pipe_ctx {
    const bienc_run_config *cfg;
    bienc_run_config work;          /* shallow copy of cfg with tokenizer.vocab set */
    const bienc_pipeline_opts *o;
    bienc_pipeline_result *r;
    int threads;
    bienc_precision precision;      /* eval.precision resolved (auto: train_precision()) */
    double t_stage;
    char vocab[1100];
    char scored_triples[1100];      /* MarginMSELoss: the training triples with teacher scores */
    char hardnegs[1100];            /* mine.enabled: the mined hard negatives */
    char pretrained[1100];          /* pretrain.enabled: the MLM checkpoint both models start from */
    char refine_name[600];          /* mine.refine_steps: output.name of the second round */
    char teacher_name[600];         /* a late-interaction teacher: output.name of its training */
    bienc_reranker teacher;         /* the cross-encoder, or the late-interaction model */
    bienc_biencoder *bi;
    bienc_texts *collection, *dev_queries;
    bienc_qrels *qrels;
    int64_t nq, np;                 /* selected dev queries, passages */
    const char **qtext, **ptext;    /* views into the stores */
    size_t *qlen, *plen;
    char **qid, **pid;              /* NUL-terminated copies */
    float *qe, *pe;                 /* trained embeddings [nq, dim], [np, dim] */
    bienc_hnsw *index;
    bienc_run *runs[PIPE_RUN_COUNT];
} pipe_ctx;

void pipe_log(pipe_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Trainer options of a training stage: the run's threads, log and stop flag, no progress
 * line, no evaluation before the first step. */
void pipe_train_opts(pipe_ctx *p, bienc_train_opts *to);
/* BM25 baseline: runs eval/bm25_xapian.py when python3 can import xapian; otherwise
 * leaves runs[PIPE_RUN_BM25] NULL and explains why in r->bm25_note (not an error). */
int pipe_stage_bm25(pipe_ctx *p);
/* Removes an earlier run's RUN_DIR/bm25.index (its collection may have changed). */
int pipe_bm25_reset(pipe_ctx *p);
/* BM25's top k of every query of queries_tsv (id \t text) as a TREC run at out; the Xapian
 * index is built once per run directory (RUN_DIR/bm25.index) and reused. When BM25 cannot
 * run, note says why and nothing is written (still returns 0). */
int pipe_bm25_search(pipe_ctx *p, const char *queries_tsv, int64_t k, const char *out, char *note, size_t ns);
/* MLM pre-training (src/train/pipeline_pretrain.c): sets work.model.init_from (and
 * work.teacher.model.init_from unless the config names one) to the pre-trained checkpoint. */
int pipe_stage_pretrain(pipe_ctx *p);

#endif
