/* A collection split into shards (one embeddings file and one index per machine, README
 * "Sharded encode, index and search"): each shard's top-k merged into the top-k of the
 * whole collection. */
#ifndef BIENC_INDEX_SHARDS_H
#define BIENC_INDEX_SHARDS_H

#include <stdint.h>

/* For each of nq queries, the k best of the shards' hits: ids[s][i k + j] and
 * scores[s][i k + j] are shard s's j-th hit of query i (higher score first, id -1 past its
 * last hit), as hnsw_search / hnsw_search_exact return them. Ties go to the lower shard,
 * then to the shard's order (the lower id for exact search), so shards that cut a
 * collection into consecutive blocks give exactly the exact-search run of the whole
 * collection. out_shard / out_ids / out_scores are [nq k]; out_ids -1 where fewer hits. */
void shards_merge_topk(int n_shards, int64_t nq, int k, const int64_t *const *ids, const float *const *scores,
                       int32_t *out_shard, int64_t *out_ids, float *out_scores);

#endif
