/* HNSW: approximate nearest-neighbour search over float32 vectors (Malkov & Yashunin).
 *
 * Elements get dense ids 0, 1, 2, ... in the order they are added. Each element owns
 * one 64-byte aligned block holding its vector followed by its level-0 links, so a
 * visit touches one contiguous region (hnswlib's layout). Vectors are stored exactly
 * (float32); for the cosine metric they are normalised once, at insertion.
 *
 * Scores: every search returns "higher is better" scores, sorted descending:
 *   ip      dot(q, x)
 *   cosine  dot(q/|q|, x/|x|)
 *   l2      -|q - x|^2   (negated squared Euclidean distance)
 * Ties are broken by the smaller id. When fewer than k live elements are reachable
 * (k > live count), the tail of each result row is filled with id -1 and score -INFINITY.
 *
 * Determinism: element levels come from a counter-based hash of (seed, id), so a
 * single-thread build is identical bit for bit given the seed. A multi-thread build
 * gives a valid graph of the same quality, but its links depend on thread timing.
 * Searches are deterministic for a given index whatever the thread count.
 *
 * Deleting marks an element: it is never returned, but stays in the graph as a
 * stepping stone so the graph remains connected. */
#ifndef BIENC_HNSW_H
#define BIENC_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "core/kinds.h"

/* "l2", "ip", "cosine" <-> enum. hnsw_metric_parse returns BIENC_EINVAL for anything else. */
const char *hnsw_metric_name(int metric);
int hnsw_metric_parse(const char *name, int *metric);

typedef struct bienc_hnsw_params {
    int dim;              /* vector dimension, 1..65536 */
    int metric;           /* bienc_index_metric */
    int M;                /* links per element on upper levels (2*M on level 0); default 16 */
    int ef_construction;  /* candidate list size while building; default 200 */
    uint64_t seed;        /* drives the level of each element; default 100 */
} bienc_hnsw_params;

typedef struct bienc_hnsw bienc_hnsw;

/* M=16, ef_construction=200, seed=100, metric cosine, dim 0 (must be set). */
void hnsw_params_default(bienc_hnsw_params *p);

int hnsw_create(bienc_hnsw **out, const bienc_hnsw_params *p);
void hnsw_free(bienc_hnsw *h);

/* Adds n vectors (row-major [n, dim]) with ids count..count+n-1, building with
 * n_threads OpenMP threads (<= 0: the OpenMP default). `names` (may be NULL) gives
 * each element a string id (e.g. a passage id) kept in the index and saved with it;
 * an index either names every element or none. Works on a loaded index too. */
int hnsw_add(bienc_hnsw *h, const float *x, int64_t n, const char *const *names, int n_threads);

/* Marks element `id` deleted: later searches never return it. Deleting twice is ok. */
int hnsw_delete(bienc_hnsw *h, int64_t id);
int hnsw_is_deleted(const bienc_hnsw *h, int64_t id);

/* Approximate k-NN for nq queries (row-major [nq, dim]) with candidate list size
 * max(ef, k); rows processed in parallel. ids/scores are [nq, k]. */
int hnsw_search(const bienc_hnsw *h, const float *q, int64_t nq, int k, int ef, int n_threads, int64_t *ids,
                float *scores);

/* Exact k-NN over the index's own (live) vectors, with BLAS: the recall oracle and
 * `bienc search --exact`. Same output convention as hnsw_search. */
int hnsw_search_exact(const bienc_hnsw *h, const float *q, int64_t nq, int k, int n_threads, int64_t *ids,
                      float *scores);

/* Accessors. */
int64_t hnsw_count(const bienc_hnsw *h);       /* elements added (including deleted) */
int64_t hnsw_live_count(const bienc_hnsw *h);  /* elements not deleted */
int hnsw_dim(const bienc_hnsw *h);
int hnsw_metric(const bienc_hnsw *h);
const bienc_hnsw_params *hnsw_params(const bienc_hnsw *h);
const float *hnsw_vector(const bienc_hnsw *h, int64_t id);   /* stored (normalised for cosine) */
const char *hnsw_name(const bienc_hnsw *h, int64_t id);      /* NULL when the index has no names */
int hnsw_max_level(const bienc_hnsw *h);
size_t hnsw_memory_bytes(const bienc_hnsw *h);               /* heap held by the index */

/* Links of `id` on `level` (NULL and *count 0 when the element has no such level).
 * For tests and tools: the pointer is valid until the next hnsw_add. */
const int32_t *hnsw_links(const bienc_hnsw *h, int64_t id, int level, int *count);
int hnsw_element_level(const bienc_hnsw *h, int64_t id);

/* Checks the graph's invariants: every link in range, no self links, degree within
 * M (upper levels) / 2M (level 0), linked elements exist on that level, entry point
 * on the top level. Returns BIENC_EFORMAT with the first violation. */
int hnsw_check(const bienc_hnsw *h);

/* The file format is described in docs/index-format.md. Saving is atomic: a temporary
 * file in the same directory, fsync, then rename over `path`. */
int hnsw_save(const bienc_hnsw *h, const char *path);
/* Loads and validates every count, offset, link and checksum before use; a truncated,
 * mutated or foreign file fails with BIENC_EFORMAT and a message naming the file and
 * the reason. */
int hnsw_load(bienc_hnsw **out, const char *path);

/* Loads from memory. flags: HNSW_LOAD_SKIP_CHECKSUM lets a fuzzer reach the structural
 * checks behind the checksums (never use it on untrusted files otherwise: the
 * structural checks still make loading safe, but silent corruption goes unnoticed). */
#define HNSW_LOAD_SKIP_CHECKSUM 1u
int hnsw_load_memory(bienc_hnsw **out, const void *data, size_t size, unsigned flags, const char *what);

/* CRC-32C (Castagnoli) of a buffer, continuing from `crc` (start with 0). */
uint32_t hnsw_crc32c(uint32_t crc, const void *data, size_t n);

#endif
