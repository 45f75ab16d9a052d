/* Exact (brute-force) k-nearest-neighbour search with BLAS: the oracle HNSW's recall is
 * measured against, and the `--exact` mode of `bienc search`.
 *
 * Scores follow hnsw.h: higher is better (ip: dot, cosine: cosine similarity,
 * l2: -squared distance), rows sorted descending, ties broken by the smaller id,
 * missing results (k > live rows) filled with id -1 and score -INFINITY.
 * Results do not depend on the thread count. */
#ifndef BIENC_EXACT_H
#define BIENC_EXACT_H

#include <stdint.h>

/* base: n rows of dim floats, row i at base + i * ld (ld >= dim, in floats), so the
 * vectors inside an HNSW index can be searched in place. skip (may be NULL): rows with
 * skip[i] != 0 are never returned. For BIENC_INDEX_COSINE the base rows are normalised
 * on the fly unless base_normalized is set; queries are always normalised. */
int exact_search(const float *base, int64_t n, int64_t ld, int dim, int metric, int base_normalized,
                 const uint8_t *skip, const float *queries, int64_t nq, int k, int n_threads, int64_t *ids,
                 float *scores);

#endif
