/* bienc: train bi-encoders, embed texts and search them, from C.
 *
 * This header is the whole public API of libbienc: every exported symbol starts with
 * `bienc_`, and nothing else is exported. Link with `pkg-config --cflags --libs bienc`.
 *
 * A worked example: embed some passages, index them, ask a question.
 *
 *     #include <stdio.h>
 *     #include <bienc/bienc.h>
 *
 *     int main(int argc, char **argv)
 *     {
 *         const char *passages[3] = {"the cat sat on the mat", "a dog in the fog", "water is wet"};
 *         const char *question = "where is the dog";
 *         bienc_model *m;
 *         bienc_index *x;
 *         if (bienc_model_open(argv[1], &m) != 0) { fprintf(stderr, "%s\n", bienc_last_error()); return 1; }
 *         int dim = bienc_model_dim(m);
 *         float p[3 * 1024], q[1024];                      -- dim <= 1024 here
 *         bienc_encode(m, passages, 3, 0, p);              -- 0: passages
 *         bienc_encode(m, &question, 1, 1, q);             -- 1: a query
 *         bienc_index_build(p, 3, dim, NULL, "cosine", 0, 0, &x);
 *         int64_t ids[2];
 *         float scores[2];
 *         bienc_search(x, q, 1, 2, 0, ids, scores);        -- the best 2, best first
 *         printf("%s (%.3f)\n", passages[ids[0]], scores[0]);
 *         bienc_index_close(x);
 *         bienc_model_close(m);
 *         return 0;
 *     }
 *
 * The model file comes from `bienc train` (a checkpoint), bienc_train() below, or `bienc
 * import` of a sentence-transformers folder. For a large corpus, `bienc encode` and `bienc
 * index build` write the index file once and bienc_index_open() maps it back.
 *
 * Errors. Every call that can fail returns 0 or a negative status (enum bienc_status) and
 * leaves a message naming the file, line or argument at fault; bienc_last_error() returns
 * it (the message is per thread). The library never exits and never prints, except
 * bienc_train()'s progress lines when asked for. *_close(NULL) is a no-op.
 *
 * Threads. Encoding, index building and search use the OpenMP threads (OMP_NUM_THREADS);
 * results do not depend on their number. A model handle must not be used by two threads at
 * once (it holds a scratch arena); an index may be searched from many threads.
 *
 * Speed. OpenBLAS picks its kernel when the library is loaded and does not know recent
 * CPUs; call bienc_blas_setup(argv) first thing in main() (it may re-execute the program
 * once with OPENBLAS_CORETYPE set), or set OPENBLAS_CORETYPE yourself. */
#ifndef BIENC_BIENC_H
#define BIENC_BIENC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What libbienc exports: the library is built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define BIENC_API __attribute__((visibility("default")))
#else
#define BIENC_API
#endif

#define BIENC_API_VERSION 2

/* ---- errors ----------------------------------------------------------------------------- */

enum bienc_status {
    BIENC_OK = 0,
    BIENC_EINVAL = -1,    /* bad argument: NULL, out of range, wrong option */
    BIENC_ENOMEM = -2,    /* allocation failed */
    BIENC_EIO = -3,       /* file could not be opened, read or written */
    BIENC_EFORMAT = -4,   /* file content is malformed, truncated or foreign */
    BIENC_ESHAPE = -5,    /* tensor shapes do not fit together */
    BIENC_ERANGE = -6,    /* index or count outside its valid range (or a non-finite loss) */
    BIENC_ENOTFOUND = -7, /* a named item (file, key, parameter) does not exist */
    BIENC_ESTATE = -8,    /* call not valid in the object's current state */
    BIENC_EINTERRUPT = -9 /* stopped on request (Ctrl-C) */
};

/* The calling thread's last error message ("" when none). */
BIENC_API const char *bienc_last_error(void);
/* Short name of a status ("invalid argument", "malformed file", ...). */
BIENC_API const char *bienc_status_name(int status);
/* "0.1.0" */
BIENC_API const char *bienc_version(void);
/* Points OpenBLAS at the CPU's fast kernel: when OPENBLAS_CORETYPE is unset and the loaded
 * kernel is a slow fallback, sets it and re-executes the program with the same argv
 * (BIENC_BLAS_CORETYPE=<name> picks the kernel, =keep leaves OpenBLAS alone). */
BIENC_API void bienc_blas_setup(char **argv);

/* ---- models: texts -> embeddings -------------------------------------------------------- */

typedef struct bienc_model bienc_model;

/* A bi-encoder from a bienc model file or training checkpoint (.h5). */
BIENC_API int bienc_model_open(const char *path, bienc_model **out);
BIENC_API void bienc_model_close(bienc_model *m);
/* Embedding dimension; 0 for NULL. */
BIENC_API int bienc_model_dim(const bienc_model *m);
/* 1 when embeddings are L2-normalised. */
BIENC_API int bienc_model_normalized(const bienc_model *m);

/* Embeds n NUL-terminated UTF-8 texts into out[n * dim] (row i = texts[i]), truncated to
 * the model's query (is_query != 0) or passage max length. */
BIENC_API int bienc_encode(bienc_model *m, const char *const *texts, int64_t n, int is_query, float *out);

/* Matrix products of the following bienc_encode calls: "fp32" (the default), "bf16"
 * (bf16 inputs, fp32 accumulation: about 1.6x faster on CPUs with AVX512_BF16, embeddings
 * within about 1e-2 relative of fp32's) or "int8" (linear layers on dynamically quantised
 * int8, attention in bf16: faster again on CPUs with AVX512_VNNI, embeddings within cosine
 * about 0.999 of fp32's). Returns 0, or BIENC_EINVAL for another name. */
BIENC_API int bienc_model_set_precision(bienc_model *m, const char *precision);

/* ---- indexes: embeddings -> nearest neighbours (HNSW) ------------------------------------ */

typedef struct bienc_index bienc_index;

/* Builds an HNSW index over n vectors [n, dim]; element i is row i. names (may be NULL)
 * gives each element a string id kept with the index (e.g. the passage id). metric:
 * "cosine", "ip" (dot product) or "l2". M (links per element, default 16) and
 * ef_construction (default 200) take their defaults when <= 0. */
BIENC_API int bienc_index_build(const float *vectors, int64_t n, int dim, const char *const *names,
                                const char *metric, int M, int ef_construction, bienc_index **out);
/* Writes the index atomically (format: docs/index-format.md). */
BIENC_API int bienc_index_save(const bienc_index *x, const char *path);
/* An index file from bienc_index_save() or `bienc index build`; every offset is validated. */
BIENC_API int bienc_index_open(const char *path, bienc_index **out);
BIENC_API void bienc_index_close(bienc_index *x);
BIENC_API int bienc_index_dim(const bienc_index *x);
BIENC_API int64_t bienc_index_count(const bienc_index *x);

/* k nearest neighbours of nq queries [nq, dim]: ids[nq, k] (element numbers, -1 past the
 * end when the index holds fewer than k) and scores[nq, k] (higher is better, best first:
 * cosine, dot product or -squared distance). ef: candidate list size (recall vs speed;
 * <= 0: max(k, 100)). */
BIENC_API int bienc_search(const bienc_index *x, const float *queries, int64_t nq, int k, int ef, int64_t *ids,
                           float *scores);
/* The string id of element `id`, or NULL when the index has no names / id is out of range. */
BIENC_API const char *bienc_index_name(const bienc_index *x, int64_t id);

/* ---- training: a run config -> a model --------------------------------------------------- */

typedef struct bienc_train_summary {
    int64_t steps;         /* optimiser steps reached */
    double final_loss;     /* loss of the last step (NAN when none ran) */
    double dev_mrr10;      /* dev MRR@10 after training (NAN when not evaluated) */
    char checkpoint[1100]; /* the last checkpoint: a model file for bienc_model_open ("" when none) */
    char run_dir[1024];    /* metrics.jsonl and the resolved config.yaml */
} bienc_train_summary;

/* Trains a bi-encoder as the YAML run config at config_path describes (the keys of `bienc
 * config --keys`; README "Configuration"), each of the n_overrides "key=value" strings
 * overriding one key, as `bienc train CONFIG --set key=value` does. Progress lines go to
 * stderr unless quiet. A checkpoint of an earlier run of the same name is an error. */
BIENC_API int bienc_train(const char *config_path, const char *const *overrides, int n_overrides, int quiet,
                          bienc_train_summary *out);

/* ---- evaluation: a ranked run against relevance judgments -------------------------------- */

typedef struct bienc_metrics {
    double mrr10, ndcg10, map100, recall10, recall100; /* trec_eval's definitions */
    int64_t num_queries;                                /* queries in both files, averaged over */
} bienc_metrics;

/* Scores a TREC run file (`qid Q0 docid rank score name`) against qrels (TREC 4-column,
 * BEIR or 2/3-column TSV), the way `bienc eval` does (README "Evaluation"). */
BIENC_API int bienc_evaluate(const char *qrels_path, const char *run_path, bienc_metrics *out);

#ifdef __cplusplus
}
#endif

#endif
