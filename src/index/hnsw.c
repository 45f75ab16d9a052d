/* HNSW: the index object, its memory, and search (layer search, greedy descent,
 * batched k-NN). Insertion lives in hnsw_build.c, the file format in hnsw_io.c. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "index/exact.h"
#include "index/hnsw_internal.h"

const char *hnsw_metric_name(int metric)
{
    switch (metric) {
    case BIENC_INDEX_L2: return "l2";
    case BIENC_INDEX_IP: return "ip";
    case BIENC_INDEX_COSINE: return "cosine";
    default: return "unknown";
    }
}

int hnsw_metric_parse(const char *name, int *metric)
{
    if (name && strcmp(name, "l2") == 0) *metric = BIENC_INDEX_L2;
    else if (name && strcmp(name, "ip") == 0) *metric = BIENC_INDEX_IP;
    else if (name && strcmp(name, "cosine") == 0) *metric = BIENC_INDEX_COSINE;
    else return bienc_error(BIENC_EINVAL, "unknown metric '%s' (expected cosine, ip or l2)", name ? name : "(null)");
    return 0;
}

void hnsw_params_default(bienc_hnsw_params *p)
{
    memset(p, 0, sizeof *p);
    p->metric = BIENC_INDEX_COSINE;
    p->M = 16;
    p->ef_construction = 200;
    p->seed = 100;
}

int hnsw_setup(bienc_hnsw *h, const bienc_hnsw_params *p)
{
    if (p->dim < 1 || p->dim > HNSW_MAX_DIM)
        return bienc_error(BIENC_EINVAL, "hnsw: dimension %d outside 1..%d", p->dim, HNSW_MAX_DIM);
    if (p->metric < BIENC_INDEX_L2 || p->metric > BIENC_INDEX_COSINE)
        return bienc_error(BIENC_EINVAL, "hnsw: unknown metric %d", p->metric);
    if (p->M < 2 || p->M > HNSW_MAX_M) return bienc_error(BIENC_EINVAL, "hnsw: M=%d outside 2..%d", p->M, HNSW_MAX_M);
    if (p->ef_construction < 1 || p->ef_construction > 1000000)
        return bienc_error(BIENC_EINVAL, "hnsw: ef_construction=%d outside 1..1000000", p->ef_construction);
    h->p = *p;
    h->M0 = 2 * p->M;
    h->level_mult = 1.0 / log((double)p->M);
    h->dist = distance_select(p->metric);
    h->links0_offset = (size_t)p->dim * sizeof(float);
    size_t raw = h->links0_offset + (size_t)(1 + h->M0) * sizeof(int32_t);
    h->stride = (raw + 63) & ~(size_t)63;
    h->entry = -1;
    h->max_level = -1;
    return 0;
}

int hnsw_create(bienc_hnsw **out, const bienc_hnsw_params *p)
{
    *out = NULL;
    bienc_hnsw *h = calloc(1, sizeof *h);
    if (!h) return bienc_error(BIENC_ENOMEM, "hnsw: out of memory");
    int rc = hnsw_setup(h, p);
    if (rc < 0) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void hnsw_free(bienc_hnsw *h)
{
    if (!h) return;
    for (int64_t i = 0; i < h->count; i++) free(h->upper[i]);
    if (h->names)
        for (int64_t i = 0; i < h->count; i++) free(h->names[i]);
    free(h->data);
    free(h->levels);
    free(h->upper);
    free(h->deleted);
    free(h->locks);
    free(h->names);
    free(h);
}

/* Grows every per-element array to `capacity` (never shrinks). */
int hnsw_reserve(bienc_hnsw *h, int64_t capacity)
{
    if (capacity <= h->capacity) return 0;
    if (capacity > INT32_MAX) return bienc_error(BIENC_ERANGE, "hnsw: %lld elements exceed the int32 id range",
                                                 (long long)capacity);
    size_t bytes = (size_t)capacity * h->stride;
    char *data = aligned_alloc(64, bytes);
    if (!data) return bienc_error(BIENC_ENOMEM, "hnsw: cannot allocate %zu bytes for %lld elements", bytes,
                                  (long long)capacity);
    if (h->count) memcpy(data, h->data, (size_t)h->count * h->stride);
    free(h->data);
    h->data = data;
#define GROW(field, type)                                                                                   \
    do {                                                                                                    \
        type *p_ = realloc(h->field, (size_t)capacity * sizeof(type));                                      \
        if (!p_) return bienc_error(BIENC_ENOMEM, "hnsw: out of memory growing to %lld elements",           \
                                    (long long)capacity);                                                   \
        memset(p_ + h->capacity, 0, (size_t)(capacity - h->capacity) * sizeof(type));                       \
        h->field = p_;                                                                                      \
    } while (0)
    GROW(levels, uint8_t);
    GROW(upper, int32_t *);
    GROW(deleted, uint8_t);
    GROW(locks, uint8_t);
    GROW(names, char *);
#undef GROW
    h->capacity = capacity;
    return 0;
}

/* ---- heaps: the candidate list is a min-heap, the result list a max-heap ---- */

static inline int pair_less(hnsw_pair a, hnsw_pair b) { return a.d < b.d || (a.d == b.d && a.id < b.id); }

void heap_push_max(hnsw_heap *hp, float d, int32_t id)
{
    hnsw_pair x = {d, id};
    int i = hp->n++;
    while (i > 0) {
        int p = (i - 1) >> 1;
        if (!pair_less(hp->a[p], x)) break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i] = x;
}

/* Puts x at the root of a non-empty max-heap (replacing the root) and sifts it down. */
static inline void sift_down_max(hnsw_heap *hp, hnsw_pair x)
{
    int n = hp->n, i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_less(hp->a[c], hp->a[c + 1])) c++;
        if (!pair_less(x, hp->a[c])) break;
        hp->a[i] = hp->a[c];
        i = c;
    }
    hp->a[i] = x;
}

void heap_pop_max(hnsw_heap *hp)
{
    hnsw_pair last = hp->a[--hp->n];
    if (hp->n) sift_down_max(hp, last);
}

void heap_replace_max(hnsw_heap *hp, float d, int32_t id) { sift_down_max(hp, (hnsw_pair){d, id}); }

void heap_push_min(hnsw_heap *hp, float d, int32_t id)
{
    hnsw_pair x = {d, id};
    int i = hp->n++;
    while (i > 0) {
        int p = (i - 1) >> 1;
        if (!pair_less(x, hp->a[p])) break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i] = x;
}

void heap_pop_min(hnsw_heap *hp)
{
    hnsw_pair x = hp->a[--hp->n];
    int n = hp->n, i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_less(hp->a[c + 1], hp->a[c])) c++;
        if (!pair_less(hp->a[c], x)) break;
        hp->a[i] = hp->a[c];
        i = c;
    }
    if (n) hp->a[i] = x;
}

int heap_reserve(hnsw_heap *hp, int cap)
{
    if (cap <= hp->cap) return 0;
    hnsw_pair *a = realloc(hp->a, (size_t)cap * sizeof *a);
    if (!a) return bienc_error(BIENC_ENOMEM, "hnsw: out of memory for a search heap of %d", cap);
    hp->a = a;
    hp->cap = cap;
    return 0;
}

int scratch_init(hnsw_scratch *s, int64_t capacity, int ef)
{
    memset(s, 0, sizeof *s);
    s->visited = calloc((size_t)(capacity > 0 ? capacity : 1), sizeof(uint16_t));
    s->visited_cap = capacity;
    if (!s->visited) return bienc_error(BIENC_ENOMEM, "hnsw: out of memory for a visited list");
    /* the candidate heap can hold every link of every expanded element; the result
     * heap ef + 1 before it is trimmed */
    int rc = heap_reserve(&s->top, ef + 2);
    if (rc == 0) rc = heap_reserve(&s->cand, ef + 2 * HNSW_MAX_M + 2);
    if (rc < 0) scratch_free(s);
    return rc;
}

void scratch_free(hnsw_scratch *s)
{
    free(s->visited);
    free(s->top.a);
    free(s->cand.a);
    memset(s, 0, sizeof *s);
}

static inline void prefetch_vec(const bienc_hnsw *h, int32_t id)
{
    const char *p = (const char *)hnsw_vec(h, id);
    __builtin_prefetch(p, 0, 3);
    __builtin_prefetch(p + 64, 0, 3);
}

/* Copies the count + links of (id, level) into buf (under the element's lock during a
 * concurrent build) and returns the count. */
static inline int read_links(const bienc_hnsw *h, int32_t id, int level, int locked, int32_t *buf)
{
    const int32_t *ll = hnsw_linklist(h, id, level);
    if (locked) hnsw_lock(h, id);
    int n = ll[0];
    memcpy(buf, ll + 1, (size_t)n * sizeof(int32_t));
    if (locked) hnsw_unlock(h, id);
    return n;
}

void hnsw_search_layer(const bienc_hnsw *h, hnsw_scratch *s, const float *q, int32_t ep, float ep_dist, int level,
                       int ef, int locked, int skip_deleted)
{
    /* a new epoch marks everything unvisited; only on wrap-around is the array cleared */
    if (++s->epoch == 0) {
        memset(s->visited, 0, (size_t)s->visited_cap * sizeof(uint16_t));
        s->epoch = 1;
    }
    const uint16_t tag = s->epoch;
    uint16_t *visited = s->visited;
    hnsw_heap *cand = &s->cand, *top = &s->top;
    cand->n = top->n = 0;
    int dim = h->p.dim;
    int32_t links[2 * HNSW_MAX_M], todo[2 * HNSW_MAX_M];

    visited[ep] = tag;
    float lower = INFINITY;
    if (!skip_deleted || !h->deleted[ep]) {
        heap_push_max(top, ep_dist, ep);
        lower = ep_dist;
    }
    heap_push_min(cand, ep_dist, ep);
    while (cand->n) {
        hnsw_pair c = cand->a[0];
        if (c.d > lower && top->n >= ef) break;
        heap_pop_min(cand);
        int n;
        if (!locked && level == 0) {
            /* fast path: links are read in place */
            const int32_t *ll = hnsw_l0(h, c.id);
            n = ll[0];
            for (int j = 0; j < n; j++) __builtin_prefetch(&visited[ll[1 + j]], 0, 3);
            memcpy(links, ll + 1, (size_t)n * sizeof(int32_t));
        } else {
            n = read_links(h, c.id, level, locked, links);
            for (int j = 0; j < n; j++) __builtin_prefetch(&visited[links[j]], 0, 3);
        }
        /* gather the unvisited neighbours first, so their vectors are prefetched while
         * the distances of earlier ones are computed */
        if (cand->n + n > cand->cap && heap_reserve(cand, 2 * cand->cap + n) < 0) {
            s->oom = 1;
            break;
        }
        int m = 0;
        for (int j = 0; j < n; j++) {
            int32_t id = links[j];
            if (visited[id] == tag) continue;
            visited[id] = tag;
            todo[m++] = id;
            prefetch_vec(h, id);
        }
        for (int j = 0; j < m; j++) {
            int32_t id = todo[j];
            if (j + 1 < m) {
                const char *p = (const char *)hnsw_vec(h, todo[j + 1]);
                for (size_t off = 128; off < (size_t)dim * sizeof(float); off += 64) __builtin_prefetch(p + off, 0, 3);
            }
            float d = h->dist(q, hnsw_vec(h, id), dim);
            if (top->n < ef || d < lower) {
                heap_push_min(cand, d, id);
                if (!skip_deleted || !h->deleted[id]) {
                    /* a full list swaps its worst entry out: one sift instead of push + pop */
                    if (top->n < ef) heap_push_max(top, d, id);
                    else heap_replace_max(top, d, id);
                    lower = top->a[0].d;
                }
            }
        }
    }
}

int32_t hnsw_greedy(const bienc_hnsw *h, const float *q, int32_t ep, float *ep_dist, int from_level, int to_level,
                    int locked)
{
    int32_t links[2 * HNSW_MAX_M];
    float best = *ep_dist;
    for (int level = from_level; level > to_level; level--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            int n = read_links(h, ep, level, locked, links);
            for (int j = 0; j < n; j++) {
                float d = h->dist(q, hnsw_vec(h, links[j]), h->p.dim);
                if (d < best) {
                    best = d;
                    ep = links[j];
                    changed = 1;
                }
            }
        }
    }
    *ep_dist = best;
    return ep;
}

/* Pops the max-heap into ascending order (closest first); returns the count. */
static int heap_drain_sorted(hnsw_heap *hp, hnsw_pair *out)
{
    int n = hp->n;
    for (int i = n - 1; i >= 0; i--) {
        out[i] = hp->a[0];
        heap_pop_max(hp);
    }
    return n;
}

static void search_one(const bienc_hnsw *h, hnsw_scratch *s, const float *q, int k, int ef, int64_t *ids,
                       float *scores, hnsw_pair *buf)
{
    int n = 0;
    if (h->entry >= 0) {
        int32_t ep = h->entry;
        float d = h->dist(q, hnsw_vec(h, ep), h->p.dim);
        ep = hnsw_greedy(h, q, ep, &d, h->max_level, 0, 0);
        hnsw_search_layer(h, s, q, ep, d, 0, ef, 0, h->n_deleted > 0);
        n = heap_drain_sorted(&s->top, buf);
    }
    for (int i = 0; i < k; i++) {
        if (i < n) {
            ids[i] = buf[i].id;
            scores[i] = -buf[i].d;
        } else {
            ids[i] = -1;
            scores[i] = -INFINITY;
        }
    }
}

int hnsw_search(const bienc_hnsw *h, const float *q, int64_t nq, int k, int ef, int n_threads, int64_t *ids,
                float *scores)
{
    if (!h || (!q && nq > 0) || nq < 0 || k < 1 || (!ids && nq) || (!scores && nq))
        return bienc_error(BIENC_EINVAL, "hnsw_search: invalid argument (k=%d, nq=%lld)", k, (long long)nq);
    if (ef < k) ef = k;
    if (n_threads <= 0) n_threads = omp_get_max_threads();
    if (n_threads > nq) n_threads = nq > 0 ? (int)nq : 1;
    int dim = h->p.dim, err = 0;
#pragma omp parallel num_threads(n_threads)
    {
        hnsw_scratch s;
        int rc = scratch_init(&s, h->count, ef);
        float *qn = malloc((size_t)dim * sizeof(float));
        hnsw_pair *buf = malloc((size_t)(ef + 2) * sizeof(hnsw_pair));
        if (rc < 0 || !qn || !buf) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp barrier
        if (!err) {
#pragma omp for schedule(dynamic, 8)
            for (int64_t i = 0; i < nq; i++) {
                const float *qi = q + (size_t)i * dim;
                if (h->p.metric == BIENC_INDEX_COSINE) {
                    memcpy(qn, qi, (size_t)dim * sizeof(float));
                    distance_normalize(qn, dim);
                    qi = qn;
                }
                search_one(h, &s, qi, k, ef, ids + (size_t)i * k, scores + (size_t)i * k, buf);
            }
            if (s.oom) {
#pragma omp atomic write
                err = 1;
            }
        }
        scratch_free(&s);
        free(qn);
        free(buf);
    }
    if (err) return bienc_error(BIENC_ENOMEM, "hnsw_search: out of memory for per-thread scratch");
    return 0;
}

int hnsw_search_exact(const bienc_hnsw *h, const float *q, int64_t nq, int k, int n_threads, int64_t *ids,
                      float *scores)
{
    BIENC_ASSERT(h);
    return exact_search(h->count ? hnsw_vec(h, 0) : NULL, h->count, (int64_t)(h->stride / sizeof(float)), h->p.dim,
                        h->p.metric, 1, h->n_deleted ? h->deleted : NULL, q, nq, k, n_threads, ids, scores);
}

int hnsw_delete(bienc_hnsw *h, int64_t id)
{
    if (!h || id < 0 || id >= h->count)
        return bienc_error(BIENC_ERANGE, "hnsw_delete: id %lld outside 0..%lld", (long long)id,
                           h ? (long long)h->count - 1 : -1LL);
    if (!h->deleted[id]) {
        h->deleted[id] = 1;
        h->n_deleted++;
    }
    return 0;
}

int hnsw_is_deleted(const bienc_hnsw *h, int64_t id) { return h && id >= 0 && id < h->count && h->deleted[id]; }
int64_t hnsw_count(const bienc_hnsw *h) { return h ? h->count : 0; }
int64_t hnsw_live_count(const bienc_hnsw *h) { return h ? h->count - h->n_deleted : 0; }
int hnsw_dim(const bienc_hnsw *h) { return h->p.dim; }
int hnsw_metric(const bienc_hnsw *h) { return h->p.metric; }
const bienc_hnsw_params *hnsw_params(const bienc_hnsw *h) { return &h->p; }
int hnsw_max_level(const bienc_hnsw *h) { return h->max_level; }

const float *hnsw_vector(const bienc_hnsw *h, int64_t id)
{
    return (h && id >= 0 && id < h->count) ? hnsw_vec(h, id) : NULL;
}

const char *hnsw_name(const bienc_hnsw *h, int64_t id)
{
    return (h && h->has_names && id >= 0 && id < h->count) ? h->names[id] : NULL;
}

int hnsw_element_level(const bienc_hnsw *h, int64_t id)
{
    return (h && id >= 0 && id < h->count) ? h->levels[id] : -1;
}

const int32_t *hnsw_links(const bienc_hnsw *h, int64_t id, int level, int *count)
{
    *count = 0;
    if (!h || id < 0 || id >= h->count || level < 0 || level > h->levels[id]) return NULL;
    const int32_t *ll = hnsw_linklist(h, id, level);
    *count = ll[0];
    return ll + 1;
}

size_t hnsw_memory_bytes(const bienc_hnsw *h)
{
    if (!h) return 0;
    size_t b = sizeof *h + (size_t)h->capacity * (h->stride + 3 + sizeof(int32_t *));
    for (int64_t i = 0; i < h->count; i++) {
        b += (size_t)h->levels[i] * (size_t)(1 + h->p.M) * sizeof(int32_t);
        if (h->names[i]) b += strlen(h->names[i]) + 1;
    }
    b += (size_t)h->capacity * sizeof(char *);
    return b;
}

int hnsw_check(const bienc_hnsw *h)
{
    if (h->count == 0) {
        if (h->entry != -1) return bienc_error(BIENC_EFORMAT, "empty index has entry point %d", h->entry);
        return 0;
    }
    if (h->entry < 0 || h->entry >= h->count)
        return bienc_error(BIENC_EFORMAT, "entry point %d outside 0..%lld", h->entry, (long long)h->count - 1);
    if (h->levels[h->entry] != h->max_level)
        return bienc_error(BIENC_EFORMAT, "entry point %d has level %d, not the top level %d", h->entry,
                           h->levels[h->entry], h->max_level);
    for (int64_t i = 0; i < h->count; i++) {
        if (h->levels[i] > h->max_level)
            return bienc_error(BIENC_EFORMAT, "element %lld has level %d above the top level %d", (long long)i,
                               h->levels[i], h->max_level);
        if (h->levels[i] > 0 && !h->upper[i])
            return bienc_error(BIENC_EFORMAT, "element %lld has no upper-level links", (long long)i);
        for (int l = 0; l <= h->levels[i]; l++) {
            const int32_t *ll = hnsw_linklist(h, i, l);
            int maxc = l ? h->p.M : h->M0;
            if (ll[0] < 0 || ll[0] > maxc)
                return bienc_error(BIENC_EFORMAT, "element %lld level %d has %d links (max %d)", (long long)i, l,
                                   ll[0], maxc);
            for (int j = 0; j < ll[0]; j++) {
                int32_t t = ll[1 + j];
                if (t < 0 || t >= h->count)
                    return bienc_error(BIENC_EFORMAT, "element %lld level %d links to %d, outside 0..%lld",
                                       (long long)i, l, t, (long long)h->count - 1);
                if (t == i) return bienc_error(BIENC_EFORMAT, "element %lld level %d links to itself", (long long)i, l);
                if (h->levels[t] < l)
                    return bienc_error(BIENC_EFORMAT, "element %lld level %d links to %d, which has no level %d",
                                       (long long)i, l, t, l);
            }
        }
    }
    return 0;
}
