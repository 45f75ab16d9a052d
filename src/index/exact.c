/* Exact k-NN: tiles of queries x base rows scored with one sgemm each, then a
 * per-query bounded heap keeps the k best. Every (query, row) score is computed by the
 * same BLAS call whatever the thread count, and each query's heap is updated by one
 * thread in row order, so the result does not depend on threads. */
#include "index/exact.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "index/hnsw.h"

#define EXACT_QB 256   /* queries per tile */
#define EXACT_NB 2048  /* base rows per tile: 256 x 2048 floats = 2 MB of scores */

typedef struct scored {
    float s;
    int64_t id;
} scored;

/* "a is worse than b": lower score, or equal score and larger id. */
static inline int worse(scored a, scored b) { return a.s < b.s || (a.s == b.s && a.id > b.id); }

/* Min-heap on quality (the worst result at the root), size <= k. */
static void topk_push(scored *hp, int *n, int k, scored x)
{
    if (*n == k) {
        if (!worse(hp[0], x)) return;
        /* replace the root and sift down */
        int i = 0;
        for (;;) {
            int c = 2 * i + 1;
            if (c >= k) break;
            if (c + 1 < k && worse(hp[c + 1], hp[c])) c++;
            if (!worse(hp[c], x)) break;
            hp[i] = hp[c];
            i = c;
        }
        hp[i] = x;
        return;
    }
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!worse(x, hp[p])) break;
        hp[i] = hp[p];
        i = p;
    }
    hp[i] = x;
}

static int cmp_better(const void *a, const void *b)
{
    scored x = *(const scored *)a, y = *(const scored *)b;
    if (worse(y, x)) return -1;
    if (worse(x, y)) return 1;
    return 0;
}

int exact_search(const float *base, int64_t n, int64_t ld, int dim, int metric, int base_normalized,
                 const uint8_t *skip, const float *queries, int64_t nq, int k, int n_threads, int64_t *ids,
                 float *scores)
{
    if (dim < 1 || ld < dim || n < 0 || nq < 0 || k < 1 || (n > 0 && !base) || (nq > 0 && (!queries || !ids || !scores)))
        return bienc_error(BIENC_EINVAL, "exact_search: invalid argument (n=%lld, dim=%d, k=%d)", (long long)n, dim, k);
    if (metric < BIENC_INDEX_L2 || metric > BIENC_INDEX_COSINE)
        return bienc_error(BIENC_EINVAL, "exact_search: unknown metric %d", metric);
    if (n_threads <= 0) n_threads = omp_get_max_threads();
    int64_t qb_max = nq < EXACT_QB ? nq : EXACT_QB;
    float *q = malloc((size_t)(qb_max ? qb_max : 1) * dim * sizeof(float));
    float *tile = malloc((size_t)(qb_max ? qb_max : 1) * EXACT_NB * sizeof(float));
    float *rownorm = malloc((size_t)(n ? n : 1) * sizeof(float)); /* |x|^2 (l2) or 1/|x| (cosine) */
    scored *heaps = malloc((size_t)(qb_max ? qb_max : 1) * k * sizeof(scored));
    int *fill = malloc((size_t)(qb_max ? qb_max : 1) * sizeof(int));
    float *qnorm = malloc((size_t)(qb_max ? qb_max : 1) * sizeof(float));
    if (!q || !tile || !rownorm || !heaps || !fill || !qnorm) {
        free(q), free(tile), free(rownorm), free(heaps), free(fill), free(qnorm);
        return bienc_error(BIENC_ENOMEM, "exact_search: out of memory");
    }
    int need_rownorm = metric == BIENC_INDEX_L2 || (metric == BIENC_INDEX_COSINE && !base_normalized);
    if (need_rownorm) {
#pragma omp parallel for num_threads(n_threads) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            const float *x = base + (size_t)i * ld;
            double s = 0;
            for (int j = 0; j < dim; j++) s += (double)x[j] * x[j];
            rownorm[i] = metric == BIENC_INDEX_L2 ? (float)s : (s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f);
        }
    }
    for (int64_t q0 = 0; q0 < nq; q0 += EXACT_QB) {
        int qs = (int)(nq - q0 < EXACT_QB ? nq - q0 : EXACT_QB);
        memcpy(q, queries + (size_t)q0 * dim, (size_t)qs * dim * sizeof(float));
        for (int i = 0; i < qs; i++) {
            double s = 0;
            for (int j = 0; j < dim; j++) s += (double)q[(size_t)i * dim + j] * q[(size_t)i * dim + j];
            qnorm[i] = (float)s;
            if (metric == BIENC_INDEX_COSINE && s > 0) {
                float inv = (float)(1.0 / sqrt(s));
                for (int j = 0; j < dim; j++) q[(size_t)i * dim + j] *= inv;
            }
            fill[i] = 0;
        }
        for (int64_t b0 = 0; b0 < n; b0 += EXACT_NB) {
            int bs = (int)(n - b0 < EXACT_NB ? n - b0 : EXACT_NB);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qs, bs, dim, 1.0f, q, dim, base + (size_t)b0 * ld,
                        (int)ld, 0.0f, tile, bs);
#pragma omp parallel for num_threads(n_threads) schedule(static)
            for (int i = 0; i < qs; i++) {
                const float *row = tile + (size_t)i * bs;
                scored *hp = heaps + (size_t)i * k;
                for (int j = 0; j < bs; j++) {
                    int64_t id = b0 + j;
                    if (skip && skip[id]) continue;
                    float s = row[j];
                    if (metric == BIENC_INDEX_L2) s = -(qnorm[i] + rownorm[id] - 2.0f * s);
                    else if (need_rownorm) s *= rownorm[id];
                    topk_push(hp, &fill[i], k, (scored){s, id});
                }
            }
        }
        for (int i = 0; i < qs; i++) {
            scored *hp = heaps + (size_t)i * k;
            qsort(hp, (size_t)fill[i], sizeof(scored), cmp_better);
            int64_t *oi = ids + (size_t)(q0 + i) * k;
            float *os = scores + (size_t)(q0 + i) * k;
            for (int j = 0; j < k; j++) {
                oi[j] = j < fill[i] ? hp[j].id : -1;
                os[j] = j < fill[i] ? hp[j].s : -INFINITY;
            }
        }
    }
    free(q), free(tile), free(rownorm), free(heaps), free(fill), free(qnorm);
    return 0;
}
