/* Merging the shards' top-k (see shards.h): per query a k-way merge of lists that are
 * each sorted already, so O(k S) per query, no sort. */
#include "index/shards.h"

void shards_merge_topk(int n_shards, int64_t nq, int k, const int64_t *const *ids, const float *const *scores,
                       int32_t *out_shard, int64_t *out_ids, float *out_scores)
{
#pragma omp parallel for schedule(static) if (nq > 64)
    for (int64_t i = 0; i < nq; i++) {
        int head[256] = {0}; /* next hit of each shard (n_shards <= 256: the CLI's limit) */
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int s = 0; s < n_shards; s++) {
                if (head[s] >= k || ids[s][i * k + head[s]] < 0) continue;
                /* strictly better only: on a tie the lower shard, found first, stays */
                if (best < 0 || scores[s][i * k + head[s]] > scores[best][i * k + head[best]]) best = s;
            }
            int64_t o = i * k + j;
            if (best < 0) {
                out_shard[o] = -1;
                out_ids[o] = -1;
                out_scores[o] = 0.0f;
                continue;
            }
            out_shard[o] = best;
            out_ids[o] = ids[best][i * k + head[best]];
            out_scores[o] = scores[best][i * k + head[best]];
            head[best]++;
        }
    }
}
