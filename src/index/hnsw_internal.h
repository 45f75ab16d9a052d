/* HNSW internals shared by hnsw.c (search), hnsw_build.c (insertion) and hnsw_io.c.
 *
 * Memory layout of one element (block of `stride` bytes, 64-byte aligned):
 *     float  vector[dim]        offset 0: aligned, so AVX-512 loads never split lines
 *     int32  count              number of level-0 links
 *     int32  links[M0]          level-0 neighbours (element ids)
 *     padding to a multiple of 64 bytes
 * Upper levels (rare: 1/M of the elements reach level 1) live in a separate block per
 * element: for level l = 1..level, (1 + M) int32 = count, links[M]. */
#ifndef BIENC_INDEX_HNSW_INTERNAL_H
#define BIENC_INDEX_HNSW_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "index/hnsw.h"

#define HNSW_MAX_LEVEL 32
#define HNSW_MAX_M 512
#define HNSW_MAX_DIM 65536

/* Distance kernels (distance.c), picked once for the running CPU. Lower is closer:
 * l2 returns the squared distance, ip/cosine return -dot. */
typedef float (*hnsw_dist_fn)(const float *a, const float *b, int dim);
hnsw_dist_fn distance_select(int metric);
/* The kernel of one level (0 portable, 1 AVX2+FMA, 2 AVX-512), NULL when this CPU (or
 * BIENC_SIMD) does not allow it: lets tests compare every kernel with the portable one. */
hnsw_dist_fn distance_kernel(int metric, int level);
float distance_dot(const float *a, const float *b, int dim);
void distance_normalize(float *x, int dim);

struct bienc_hnsw {
    bienc_hnsw_params p;
    int M0;                  /* max level-0 links = 2*M */
    double level_mult;       /* 1 / ln(M) */
    hnsw_dist_fn dist;
    size_t stride;           /* bytes per element block */
    size_t links0_offset;    /* byte offset of `count` within a block */
    char *data;              /* capacity * stride bytes, 64-byte aligned */
    int64_t count, capacity;
    int64_t n_deleted;
    uint8_t *levels;         /* [capacity] */
    int32_t **upper;         /* [capacity]: NULL when level 0 */
    uint8_t *deleted;        /* [capacity] */
    uint8_t *locks;          /* [capacity] spinlocks guarding each element's links */
    char **names;            /* [capacity]; entries NULL unless has_names */
    int has_names;
    uint8_t global_lock;     /* guards entry/max_level while building */
    int32_t entry;           /* entry point, -1 when empty */
    int max_level;
};

static inline float *hnsw_vec(const bienc_hnsw *h, int64_t id) { return (float *)(h->data + (size_t)id * h->stride); }
static inline int32_t *hnsw_l0(const bienc_hnsw *h, int64_t id)
{
    return (int32_t *)(h->data + (size_t)id * h->stride + h->links0_offset);
}
/* count followed by links of `id` on `level` (level >= 0; the element must have it). */
static inline int32_t *hnsw_linklist(const bienc_hnsw *h, int64_t id, int level)
{
    if (level == 0) return hnsw_l0(h, id);
    return h->upper[id] + (size_t)(level - 1) * (size_t)(1 + h->p.M);
}

static inline void hnsw_lock(const bienc_hnsw *h, int64_t id)
{
    while (__atomic_test_and_set(&h->locks[id], __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&h->locks[id], __ATOMIC_RELAXED)) __builtin_ia32_pause();
}
static inline void hnsw_unlock(const bienc_hnsw *h, int64_t id) { __atomic_clear(&h->locks[id], __ATOMIC_RELEASE); }

/* A (distance, id) pair and a compact binary heap of them. */
typedef struct hnsw_pair {
    float d;
    int32_t id;
} hnsw_pair;

typedef struct hnsw_heap {
    hnsw_pair *a;
    int n, cap;
} hnsw_heap;

/* Per-thread search scratch: epoch-tagged visited marks (no clearing between
 * searches) and two heaps. */
typedef struct hnsw_scratch {
    uint16_t *visited;
    uint16_t epoch;
    int64_t visited_cap;
    hnsw_heap cand, top;
    int oom;                 /* the candidate heap could not grow */
} hnsw_scratch;

int scratch_init(hnsw_scratch *s, int64_t capacity, int ef);
void scratch_free(hnsw_scratch *s);

/* Layout/geometry from the parameters (used by create and load). */
int hnsw_setup(bienc_hnsw *h, const bienc_hnsw_params *p);
int hnsw_reserve(bienc_hnsw *h, int64_t capacity);

/* Search on `level` from entry points already pushed... see hnsw.c. Leaves the best
 * `ef` in s->top (a max-heap on distance). `locked`: read link lists under the
 * element's lock (during a concurrent build). */
void hnsw_search_layer(const bienc_hnsw *h, hnsw_scratch *s, const float *q, int32_t ep, float ep_dist, int level,
                       int ef, int locked, int skip_deleted);
/* Greedy descent from the entry point down to level `to_level` + 1 (ef = 1). */
int32_t hnsw_greedy(const bienc_hnsw *h, const float *q, int32_t ep, float *ep_dist, int from_level, int to_level,
                    int locked);

/* heap helpers */
void heap_push_max(hnsw_heap *hp, float d, int32_t id);
void heap_pop_max(hnsw_heap *hp);
/* Replaces the root (the worst entry) of a non-empty max-heap with (d, id). */
void heap_replace_max(hnsw_heap *hp, float d, int32_t id);
void heap_push_min(hnsw_heap *hp, float d, int32_t id);
void heap_pop_min(hnsw_heap *hp);
int heap_reserve(hnsw_heap *hp, int cap);

#endif
