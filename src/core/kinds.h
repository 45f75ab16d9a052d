/* The named choices that cross module lines. Each enum is defined once, here, and is the
 * type both its module and the run config use: the config (src/io/config.h) stores a
 * bienc_pool_mode where op_pool takes one, without io including ops, model, index or
 * train. The config's names for the values are in its choice tables
 * (src/io/config_schema.c); a module's own name functions (pool_mode_name,
 * hnsw_metric_name, schedule_kind_name, ...) sit next to its code. */
#ifndef BIENC_KINDS_H
#define BIENC_KINDS_H

/* ---- model (src/model) ---- */

typedef enum {
    BIENC_MODEL_BI_ENCODER,        /* one encoder for queries and passages, pooled embeddings */
    BIENC_MODEL_CROSS_ENCODER,     /* [CLS] q [SEP] p [SEP] -> one logit */
    BIENC_MODEL_LATE_INTERACTION   /* ColBERT: the bi-encoder's token vectors, scored by MaxSim */
} bienc_model_kind;

typedef enum { BIENC_GELU_ERF, BIENC_GELU_TANH } bienc_gelu_kind;  /* "gelu" (BERT), "gelu_new" */

typedef enum { BIENC_POOL_MEAN, BIENC_POOL_CLS, BIENC_POOL_MAX } bienc_pool_mode;

/* Matrix products of the ops on a tape (src/core/tape.h). AUTO is a request, not a tape
 * setting: bf16 where the CPU has a bf16 kernel, else fp32 (train_precision()). INT8 is
 * for inference only: linear layers in int8 (src/ops/gemm_i8.h), attention in bf16. */
typedef enum { BIENC_PRECISION_FP32, BIENC_PRECISION_BF16, BIENC_PRECISION_AUTO, BIENC_PRECISION_INT8 } bienc_precision;

/* ---- training (src/ops/loss.h, src/train) ---- */

/* sentence-transformers' losses the trainers compose from the ops of src/ops/loss.h. */
typedef enum {
    BIENC_LOSS_MNRL,            /* MultipleNegativesRankingLoss */
    BIENC_LOSS_MNRL_SYMMETRIC,  /* MultipleNegativesSymmetricRankingLoss */
    BIENC_LOSS_TRIPLET,         /* TripletLoss */
    BIENC_LOSS_MARGIN_MSE,      /* MarginMSELoss */
    BIENC_LOSS_BCE,             /* BinaryCrossEntropy (cross-encoder, BCE with logits) */
    BIENC_LOSS_DISTILL_KL       /* DistillKLDivLoss (listwise distillation of a cross-encoder's scores) */
} bienc_loss_kind;

typedef enum { BIENC_SIM_COS, BIENC_SIM_DOT } bienc_similarity;            /* cos_sim, dot_score */
typedef enum { BIENC_DIST_EUCLIDEAN, BIENC_DIST_COSINE } bienc_distance;   /* TripletLoss */

typedef enum {
    BIENC_SCHED_WARMUP_LINEAR, /* 0 -> 1 linearly over warmup, then linearly to 0 at total_steps */
    BIENC_SCHED_CONSTANT,      /* 0 -> 1 over warmup (if any), then 1 */
    BIENC_SCHED_COSINE         /* 0 -> 1 over warmup, then half a cosine down to 0 */
} bienc_schedule_kind;

/* ---- data (src/data, README: data formats) ---- */

typedef enum {
    BIENC_DATA_DEBIAN,          /* `bienc data debian` output directory */
    BIENC_DATA_MSMARCO_TRIPLES, /* text triples: query \t positive \t negative */
    BIENC_DATA_MSMARCO_IDS,     /* id triples qid \t pid \t pid + collection + queries */
    BIENC_DATA_BEIR,            /* corpus.jsonl, queries.jsonl, qrels/<split>.tsv */
    BIENC_DATA_HARD_NEGATIVES   /* hard-negative JSON lines + collection + queries (+ qrels) */
} bienc_data_format;

/* ---- index and evaluation (src/index, src/eval) ---- */

typedef enum bienc_index_metric { BIENC_INDEX_L2, BIENC_INDEX_IP, BIENC_INDEX_COSINE } bienc_index_metric;

typedef enum bienc_fusion {
    BIENC_FUSION_RRF,    /* reciprocal-rank fusion: sum of w / (rrf_k + rank), rank from 1 */
    BIENC_FUSION_LINEAR, /* sum of w * (score - min) / (max - min), per query and run */
} bienc_fusion;

/* Hard-negative mining: the best-ranked candidates, or a seeded random sample of them. */
typedef enum { BIENC_MINE_TOP, BIENC_MINE_RANDOM } bienc_mine_sampling;

/* Retrieval metrics (src/eval/metrics.h; names by metrics_name()). */
typedef enum bienc_metric {
    BIENC_METRIC_MRR10,
    BIENC_METRIC_NDCG10,
    BIENC_METRIC_MAP100,
    BIENC_METRIC_RECALL1,
    BIENC_METRIC_RECALL5,
    BIENC_METRIC_RECALL10,
    BIENC_METRIC_RECALL100,
    BIENC_METRIC_RECALL1000,
    BIENC_METRIC_ACCURACY1,
    BIENC_METRIC_ACCURACY3,
    BIENC_METRIC_ACCURACY5,
    BIENC_METRIC_ACCURACY10,
    BIENC_METRIC_PRECISION1,
    BIENC_METRIC_PRECISION3,
    BIENC_METRIC_PRECISION5,
    BIENC_METRIC_PRECISION10,
    BIENC_METRIC_COUNT
} bienc_metric;

#endif
