/* Run configuration: one YAML file (libyaml) describes a whole run.
 *
 *     model:     {kind: bi_encoder, size: tiny, pooling: mean, normalize: false}
 *     tokenizer: {train: {size: 8000}, max_query_length: 32, max_passage_length: 128}
 *     data:      {format: debian, dir: data/debian}
 *     loss:      {name: MultipleNegativesRankingLoss, scale: 20}
 *     optim:     {lr: 2.0e-5, weight_decay: 0.01}
 *     schedule:  {name: warmup_linear, warmup_ratio: 0.1}
 *     train:     {batch_size: 32, epochs: 1, seed: 42}
 *     teacher:   {model: {kind: cross_encoder}, loss: {name: BinaryCrossEntropy}}
 *     pretrain:  {mask_prob: 0.15, train: {steps: 1000}}
 *
 * The schema is one table (src/io/config_schema.c): every key has a type, a default, a
 * range and a line of documentation; `bienc config --keys` prints it and the README's key
 * table is generated from it. Unknown keys, wrong types, out-of-range values, duplicate
 * keys and malformed YAML are rejected with `file:line:column: ...` messages.
 *
 * Use:
 *     bienc_run_config cfg;
 *     int rc = config_load(&cfg, "configs/quickstart.yaml", overrides, n_overrides);
 *     ...  cfg.model.hidden, cfg.optim.lr, cfg.data.collection ...
 *     config_free(&cfg);
 * Strings are owned by the config (NULL when unset/empty); paths are relative to the
 * current directory. */
#ifndef BIENC_CONFIG_H
#define BIENC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/kinds.h"

#define BIENC_CFG_MAX_LIST 16

typedef struct { int n; int64_t v[BIENC_CFG_MAX_LIST]; } bienc_cfg_ints;
typedef struct { int n; double v[BIENC_CFG_MAX_LIST]; } bienc_cfg_floats;

/* Choice keys hold the enums of src/core/kinds.h, the types the modules take; the names of
 * their values are the choice tables of src/io/config_schema.c. model.size is the
 * config's own: the presets config_finalize() fills the model's dimensions from. */
typedef enum {
    BIENC_CFG_SIZE_TINY = 0,    /* hidden 128, 2 layers, 2 heads, intermediate 512 (bert-tiny) */
    BIENC_CFG_SIZE_MINI,        /* 256, 4, 4, 1024 (bert-mini) */
    BIENC_CFG_SIZE_SMALL,       /* 512, 4, 8, 2048 (bert-small) */
    BIENC_CFG_SIZE_MEDIUM,      /* 512, 8, 8, 2048 (bert-medium) */
    BIENC_CFG_SIZE_MINILM_L6,   /* 384, 6, 12, 1536 (all-MiniLM-L6-v2) */
    BIENC_CFG_SIZE_MINILM_L12,  /* 384, 12, 12, 1536 */
    BIENC_CFG_SIZE_BASE         /* 768, 12, 12, 3072 (bert-base) */
} bienc_cfg_size;

typedef struct bienc_cfg_model {
    bienc_model_kind kind;
    bienc_cfg_size size;       /* the preset the dimensions below default to */
    int64_t hidden, layers, heads, intermediate;  /* 0 in the file = from the preset */
    int64_t max_positions, type_vocab;
    int64_t vocab_size;        /* 0 = the tokenizer's vocabulary size */
    double dropout, attention_dropout, layer_norm_eps, initializer_range;
    bienc_gelu_kind activation;
    char *init_from;           /* checkpoint (.h5) to start from, NULL = from scratch */
    bienc_pool_mode pooling;
    int normalize;             /* L2-normalise embeddings */
} bienc_cfg_model;

typedef struct bienc_cfg_tokenizer {
    char *vocab;               /* vocab.txt / tokenizer.json; NULL = train one */
    int64_t train_size;        /* tokenizer.train.size */
    int64_t train_min_frequency;
    int lower_case;
    int64_t max_query_length, max_passage_length;
} bienc_cfg_tokenizer;

typedef struct bienc_cfg_data {
    bienc_data_format format;
    char *dir;                 /* base directory for debian / beir: fills the paths below */
    char *collection, *queries, *qrels, *triples, *hard_negatives_file;
    char *dev_queries, *dev_qrels;
    int skip_malformed;
    int64_t max_examples;      /* 0 = all */
} bienc_cfg_data;

typedef struct bienc_cfg_loss {
    bienc_loss_kind name;
    double scale;              /* MNRL: 20 */
    bienc_similarity similarity;
    bienc_distance distance;   /* TripletLoss */
    double margin;             /* TripletLoss: 5 */
    int64_t hard_negatives;    /* negatives per query taken from the data */
    int64_t mini_batch_size;   /* MNRL: 0 = plain; N > 0 = GradCache (CachedMultipleNegativesRankingLoss) */
    double temperature;        /* DistillKLDivLoss: 1 */
    double in_batch_weight;    /* DistillKLDivLoss: + this x MNRL over the batch (0 = KL alone) */
    char *teacher;             /* DistillKLDivLoss: cross-encoder checkpoint scoring the batches */
} bienc_cfg_loss_section;

typedef struct bienc_cfg_optim {
    double lr, weight_decay;
    bienc_cfg_floats betas;    /* exactly 2 */
    double eps, max_grad_norm;
    int64_t grad_accumulation;
} bienc_cfg_optim;

typedef struct bienc_cfg_schedule {
    bienc_schedule_kind name;
    int64_t warmup_steps;      /* -1 = warmup_ratio * total steps */
    double warmup_ratio;
} bienc_cfg_schedule;

typedef struct bienc_cfg_train {
    int64_t batch_size, epochs, steps;  /* steps > 0 overrides epochs */
    int64_t seed, threads;              /* threads 0 = all cores */
    int no_duplicates;
    int64_t log_every_steps;
    bienc_precision precision;          /* auto: train_precision() in src/train/train_loop.h */
} bienc_cfg_train;

typedef struct bienc_cfg_eval {
    int64_t every_steps;       /* 0 = only at the end */
    int64_t max_queries;       /* 0 = every dev query */
    int64_t max_passages;      /* trainer's dev eval corpus: relevant passages + the first N rows (0 = all) */
    bienc_cfg_ints k;          /* cut-offs reported (MRR/nDCG/Recall@k) */
    bienc_metric best_metric;  /* decides checkpoint.keep_best */
    int64_t batch_size;        /* encoding batch */
    bienc_precision precision; /* bienc run's encode / rerank / score; auto: train_precision() */
    int baseline;              /* bienc run: also evaluate the untrained (or pre-trained) bi-encoder */
} bienc_cfg_eval;

typedef struct bienc_cfg_checkpoint {
    int64_t every_steps, keep_last;
    int keep_best;
    char *dir;
} bienc_cfg_checkpoint;

typedef struct bienc_cfg_output {
    char *dir, *name;          /* run directory = dir/name; name NULL = the config file's stem */
} bienc_cfg_output;

typedef struct bienc_cfg_index {
    int64_t M, ef_construction, ef;
    bienc_index_metric metric;
    int64_t k;                 /* search depth */
    bienc_fusion fusion;       /* bienc run's hybrid row */
} bienc_cfg_index;

/* Hard-negative mining of `bienc run` (stage `mine`): BM25 (eval/bm25_xapian.py) searches the
 * training queries, mine_hard_negatives (metrics.h) keeps the non-relevant top ranks, and the
 * bi-encoder trains on them (data.format hard_negatives). */
typedef struct bienc_cfg_mine {
    int enabled;
    int64_t max_queries;       /* the first N training queries with a positive (0 = all) */
    int64_t range_min;         /* skip the top N BM25 ranks */
    int64_t range_max;         /* BM25 depth searched: candidates are ranks [range_min, range_max) */
    int64_t num_negatives;     /* per query */
    bienc_mine_sampling sampling;
    int bi_encoder, teacher;   /* who trains on them */
    int dense;                 /* candidates: the trained bi-encoder's ranking fused with BM25's
                                  (the stage then runs after the bi-encoder; teacher only) */
    int64_t refine_steps;      /* with dense: the bi-encoder's second round on them (0 = off) */
    int64_t refine_negatives, refine_batch_size;
    double refine_lr;
    bienc_loss_kind refine_loss; /* MNRL, or DistillKLDivLoss from the teacher (trained before it) */
} bienc_cfg_mine;

/* The cross-encoder teacher of `bienc run`: the same sections, parsed by the same code. */
typedef struct bienc_cfg_teacher {
    int enabled;
    int64_t rerank_depth;      /* candidates (exact top-N of the bi-encoder) it re-scores */
    int init_from_bi_encoder;  /* start from the trained bi-encoder (trains after it) */
    int64_t random_negatives;  /* with mined negatives: how many of a query's negatives are random
                                  passages (-1: every other one) */
    bienc_cfg_model model;
    bienc_cfg_loss_section loss;
    bienc_cfg_optim optim;
    bienc_cfg_schedule schedule;
    bienc_cfg_train train;
} bienc_cfg_teacher;

/* MLM pre-training of the encoder on the collection's text (`bienc pretrain`; a stage of
 * `bienc run` when enabled). The model is the `model:` section's. */
typedef struct bienc_cfg_pretrain {
    int enabled;               /* bienc run: pre-train first; bi-encoder and teacher start from it */
    double mask_prob;          /* BERT: 0.15 of the tokens are prediction targets */
    int64_t max_length;        /* tokens per passage, [CLS] and [SEP] included */
    bienc_cfg_optim optim;
    bienc_cfg_schedule schedule;
    bienc_cfg_train train;
} bienc_cfg_pretrain;

typedef struct bienc_run_config {
    char *source;              /* file it was loaded from (NULL when none); not a key */
    bienc_cfg_model model;
    bienc_cfg_tokenizer tokenizer;
    bienc_cfg_data data;
    bienc_cfg_loss_section loss;
    bienc_cfg_optim optim;
    bienc_cfg_schedule schedule;
    bienc_cfg_train train;
    bienc_cfg_eval eval;
    bienc_cfg_checkpoint checkpoint;
    bienc_cfg_output output;
    bienc_cfg_index index;
    bienc_cfg_mine mine;
    bienc_cfg_teacher teacher;
    bienc_cfg_pretrain pretrain;
} bienc_run_config;

/* ---- loading ---- */

/* Every key at its default. Call config_free() even when it fails. */
int config_init(bienc_run_config *cfg);
/* Frees the strings (not cfg itself); config_free(NULL) is a no-op. */
void config_free(bienc_run_config *cfg);

/* Merges a YAML file into cfg (keys absent from the file keep their value). Errors:
 * "FILE:LINE:COL: key 'optim.lr' expects a number, got 'abc'". On error cfg may be
 * partly updated: free it. */
int config_load_file(bienc_run_config *cfg, const char *path);
/* Same from memory; `name` stands for the file name in messages. */
int config_load_string(bienc_run_config *cfg, const char *text, size_t len, const char *name);

/* "optim.lr=3e-5" (the CLI's --set): any key, same checks; lists as "[1, 5, 10]" or "1,5,10";
 * an empty value unsets a string. Errors name the key. */
int config_set_override(bienc_run_config *cfg, const char *assignment);

/* Resolves what depends on other keys and checks cross-key rules: model dimensions from
 * model.size, data paths from data.dir, loss/model compatibility, required data files.
 * Idempotent. */
int config_finalize(bienc_run_config *cfg);

/* config_init + config_load_file (path may be NULL: defaults only) + each override in
 * order + config_finalize. */
int config_load(bienc_run_config *cfg, const char *path, const char *const *overrides, int n_overrides);

/* Writes the config as YAML (every key, sections in schema order) that loads back equal. */
int config_dump_yaml(const bienc_run_config *cfg, FILE *f);

/* 1 when every key holds the same value; otherwise 0 and, if diff is non-NULL, the first
 * differing key in diff. */
int config_equal(const bienc_run_config *a, const bienc_run_config *b, char *diff, size_t diffsize);

/* ---- helpers for the trainer ---- */

/* Warm-up steps for a run of total_steps optimiser steps (warmup_steps, or the ratio). */
int64_t config_warmup_steps(const bienc_cfg_schedule *s, int64_t total_steps);
/* sentence-transformers' loss name ("MultipleNegativesRankingLoss", ...). */
const char *config_loss_name(bienc_loss_kind loss);
/* The run directory "output.dir/output.name" into buf (name defaults to the stem of
 * cfg->source, else "run"). */
int config_run_dir(const bienc_run_config *cfg, char *buf, size_t size);


/* ---- the schema (for `bienc config --keys` and the README table) ---- */

typedef enum {
    BIENC_CFG_INT, BIENC_CFG_FLOAT, BIENC_CFG_BOOL, BIENC_CFG_STRING, BIENC_CFG_CHOICE,
    BIENC_CFG_INTS, BIENC_CFG_FLOATS
} bienc_cfg_type;

typedef struct bienc_cfg_keyinfo {
    const char *path;          /* "teacher.model.hidden" */
    bienc_cfg_type type;
    const char *type_name;     /* "int", "float", "bool", "string", "choice", "list of int", ... */
    const char *choices;       /* "mean|cls|max" for choices, else NULL */
    const char *def;           /* default as YAML text ("" for none) */
    double min, max;           /* numeric range (elements of lists) */
    const char *doc;
} bienc_cfg_keyinfo;

int config_key_count(void);
/* Key i in schema order (0 <= i < config_key_count()). */
int config_key_info(int i, bienc_cfg_keyinfo *out);
/* Every key with type, default and doc: a plain table, or a markdown table. */
int config_print_keys(FILE *f, int markdown);

#endif
