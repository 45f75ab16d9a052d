/* bienc: the small, stable C API for applications that embed texts and search an index.
 *
 *     bienc_model *m;  bienc_index *x;
 *     if (bienc_model_open("model.h5", &m) != 0) fprintf(stderr, "%s\n", bienc_last_error());
 *     float *q = malloc(sizeof(float) * n * bienc_model_dim(m));
 *     bienc_encode(m, texts, n, 1, q);                  -- 1: texts are queries
 *     bienc_index_open("passages.idx", &x);
 *     bienc_search(x, q, n, 10, 100, ids, scores);      -- ids/scores: [n, 10]
 *     puts(bienc_index_name(x, ids[0]));
 *     bienc_index_close(x);  bienc_model_close(m);
 *
 * Handles are opaque. Every fallible call returns 0 or a negative status (the codes of
 * bienc/error.h) and leaves a message naming the file / argument at fault, read with
 * bienc_last_error() (per thread). *_close(NULL) is a no-op. A model handle must not be
 * used by two threads at once (it holds a scratch tape); an index may be searched from
 * many threads. The rest of include/bienc/ is the library's internal module API: it may
 * change between versions, this header will not. Link with `pkg-config --libs bienc`. */
#ifndef BIENC_BIENC_H
#define BIENC_BIENC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BIENC_API_VERSION 1

typedef struct bienc_model bienc_model;
typedef struct bienc_index bienc_index;

/* "0.1.0" */
const char *bienc_version(void);
/* The calling thread's last error message ("" when none). */
const char *bienc_last_error(void);

/* A bi-encoder from a bienc model file or training checkpoint (.h5; `bienc import`
 * makes one from a Hugging Face / sentence-transformers folder). */
int bienc_model_open(const char *path, bienc_model **out);
void bienc_model_close(bienc_model *m);
/* Embedding dimension; 0 for NULL. */
int bienc_model_dim(const bienc_model *m);
/* 1 when embeddings are L2-normalised. */
int bienc_model_normalized(const bienc_model *m);

/* Embeds n NUL-terminated UTF-8 texts into out[n * dim] (row i = texts[i]), truncated
 * to the model's query (is_query != 0) or passage max length. Uses the OpenMP threads
 * (OMP_NUM_THREADS); results do not depend on their number. */
int bienc_encode(bienc_model *m, const char *const *texts, int64_t n, int is_query, float *out);

/* Matrix products of the following bienc_encode calls: "fp32" (the default) or "bf16"
 * (bf16 inputs, fp32 accumulation: about 2x faster on CPUs with AVX512_BF16, embeddings
 * within about 1e-2 relative of fp32's). Returns 0, or BIENC_EINVAL for another name. */
int bienc_model_set_precision(bienc_model *m, const char *precision);

/* An HNSW index file (`bienc index build`). */
int bienc_index_open(const char *path, bienc_index **out);
void bienc_index_close(bienc_index *x);
int bienc_index_dim(const bienc_index *x);
int64_t bienc_index_count(const bienc_index *x);

/* k nearest neighbours of nq queries [nq, dim]: ids[nq, k] (element numbers, -1 past the
 * end when the index holds fewer than k) and scores[nq, k] (similarity, best first).
 * ef: candidate list size (recall vs speed; <= 0: max(k, 100)). */
int bienc_search(const bienc_index *x, const float *queries, int64_t nq, int k, int ef, int64_t *ids, float *scores);
/* The string id of element `id` (e.g. the passage id), or NULL when unnamed / out of range. */
const char *bienc_index_name(const bienc_index *x, int64_t id);

#ifdef __cplusplus
}
#endif

#endif
