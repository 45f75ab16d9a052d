/* HNSW insertion: level draw, neighbour-selection heuristic, back links, and the
 * parallel batch add.
 *
 * Concurrency: every element's link lists are guarded by its own spinlock; a thread
 * holds at most one element lock at a time (readers copy a list under the lock, writers
 * rewrite one list under it), so there is no lock ordering to get wrong. Vectors,
 * levels and upper-level blocks of a batch are written before the parallel loop
 * starts and never change afterwards, so they are read without locks. A global lock
 * guards the entry point; an insertion that raises the top level holds it throughout
 * (rare: about log_M(N) times per build). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "core/ids.h"
#include "index/hnsw_internal.h"

static void global_lock(bienc_hnsw *h)
{
    while (__atomic_test_and_set(&h->global_lock, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&h->global_lock, __ATOMIC_RELAXED)) __builtin_ia32_pause();
}
static void global_unlock(bienc_hnsw *h) { __atomic_clear(&h->global_lock, __ATOMIC_RELEASE); }

/* Level of element `id`: -ln(U) / ln(M), from a hash of (seed, id) so that it does not
 * depend on which thread inserts the element. */
static int draw_level(const bienc_hnsw *h, int64_t id)
{
    uint64_t r = rng_hash_u64(h->p.seed, (uint64_t)id);
    double u = ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double l = -log(u) * h->level_mult;
    return l >= HNSW_MAX_LEVEL - 1 ? HNSW_MAX_LEVEL - 1 : (int)l;
}

static void sort_pairs(hnsw_pair *a, int n)
{
    for (int i = 1; i < n; i++) {
        hnsw_pair x = a[i];
        int j = i - 1;
        while (j >= 0 && (a[j].d > x.d || (a[j].d == x.d && a[j].id > x.id))) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = x;
    }
}

/* The heuristic of the HNSW paper (algorithm 4, without extension or kept pruned):
 * walking candidates from the closest, keep one only if it is closer to the base than
 * to every neighbour kept so far. Spreads links across directions instead of
 * clustering them. cands sorted ascending; returns the number kept in out. */
static int select_neighbors(const bienc_hnsw *h, const hnsw_pair *cands, int n, int max_keep, int32_t *out)
{
    if (n <= max_keep) {
        for (int i = 0; i < n; i++) out[i] = cands[i].id;
        return n;
    }
    int kept = 0;
    for (int i = 0; i < n && kept < max_keep; i++) {
        const float *v = hnsw_vec(h, cands[i].id);
        int good = 1;
        for (int j = 0; j < kept; j++) {
            if (h->dist(v, hnsw_vec(h, out[j]), h->p.dim) < cands[i].d) {
                good = 0;
                break;
            }
        }
        if (good) out[kept++] = cands[i].id;
    }
    return kept;
}

/* Adds the link n -> id on `level`; a full list is re-selected with the heuristic. */
static void link_back(bienc_hnsw *h, int32_t n, int32_t id, int level)
{
    int maxc = level ? h->p.M : h->M0;
    hnsw_pair cands[2 * HNSW_MAX_M + 1];
    int32_t keep[2 * HNSW_MAX_M + 1];
    hnsw_lock(h, n);
    int32_t *ll = hnsw_linklist(h, n, level);
    int cnt = ll[0];
    for (int j = 0; j < cnt; j++)
        if (ll[1 + j] == id) goto done;
    if (cnt < maxc) {
        ll[1 + cnt] = id;
        ll[0] = cnt + 1;
    } else {
        const float *v = hnsw_vec(h, n);
        for (int j = 0; j < cnt; j++) cands[j] = (hnsw_pair){h->dist(v, hnsw_vec(h, ll[1 + j]), h->p.dim), ll[1 + j]};
        cands[cnt] = (hnsw_pair){h->dist(v, hnsw_vec(h, id), h->p.dim), id};
        sort_pairs(cands, cnt + 1);
        int k = select_neighbors(h, cands, cnt + 1, maxc, keep);
        memcpy(ll + 1, keep, (size_t)k * sizeof(int32_t));
        ll[0] = k;
    }
done:
    hnsw_unlock(h, n);
}

/* Inserts element `id`, whose vector, level and upper block are already in place.
 * All levels are searched first (top down: each level's closest candidate is the next
 * level's entry), then written bottom up. The element becomes reachable on a level only
 * through the back links of that level, so when another thread reaches it, its lists on
 * that level and every level below are already complete. Writing top down instead lets
 * a concurrent insertion enter at this element from above, find an empty level-0 list,
 * link to it alone, and have its back link overwritten moments later: an orphan. */
static void insert_one(bienc_hnsw *h, hnsw_scratch *s, int32_t id, hnsw_pair *buf, int32_t *sel)
{
    int level = h->levels[id];
    global_lock(h);
    int32_t ep = h->entry;
    int max_level = h->max_level;
    int raise = level > max_level;
    if (ep < 0) {
        h->entry = id;
        h->max_level = level;
        global_unlock(h);
        return;
    }
    if (!raise) global_unlock(h);

    const float *q = hnsw_vec(h, id);
    float d = h->dist(q, hnsw_vec(h, ep), h->p.dim);
    if (level < max_level) ep = hnsw_greedy(h, q, ep, &d, max_level, level, 1);
    int top = level < max_level ? level : max_level;
    int n_sel[HNSW_MAX_LEVEL];
    for (int l = top; l >= 0; l--) {
        hnsw_search_layer(h, s, q, ep, d, l, h->p.ef_construction, 1, 0);
        int n = 0;
        while (s->top.n) {
            /* drain the max-heap into ascending order, dropping a stray self link */
            hnsw_pair p = s->top.a[0];
            heap_pop_max(&s->top);
            if (p.id != id) buf[n++] = p;
        }
        for (int i = 0; i < n / 2; i++) {
            hnsw_pair t = buf[i];
            buf[i] = buf[n - 1 - i];
            buf[n - 1 - i] = t;
        }
        n_sel[l] = 0;
        if (n == 0) continue;
        ep = buf[0].id;
        d = buf[0].d;
        n_sel[l] = select_neighbors(h, buf, n, h->p.M, sel + (size_t)l * h->p.M);
    }
    for (int l = 0; l <= top; l++) {
        const int32_t *keep = sel + (size_t)l * h->p.M;
        int k = n_sel[l];
        hnsw_lock(h, id);
        int32_t *ll = hnsw_linklist(h, id, l);
        memcpy(ll + 1, keep, (size_t)k * sizeof(int32_t));
        ll[0] = k;
        hnsw_unlock(h, id);
        for (int j = 0; j < k; j++) link_back(h, keep[j], id, l);
    }
    if (raise) {
        h->entry = id;
        h->max_level = level;
        global_unlock(h);
    }
}

/* Writes the batch's vectors, levels and upper blocks before any linking. */
static int prepare_batch(bienc_hnsw *h, const float *x, int64_t n, const char *const *names)
{
    int dim = h->p.dim;
    int col;
    int64_t bad = vectors_first_bad(x, n, dim, &col);
    if (bad >= 0 && col >= 0)
        return bienc_error(BIENC_EINVAL, "hnsw_add: vector %lld has a non-finite value at column %d", (long long)bad, col);
    if (bad >= 0)
        return bienc_error(BIENC_EINVAL, "hnsw_add: vector %lld has a norm above %g: its scores would overflow",
                           (long long)bad, BIENC_MAX_VECTOR_NORM);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = h->count + i;
        float *v = hnsw_vec(h, id);
        memcpy(v, x + (size_t)i * dim, (size_t)dim * sizeof(float));
        if (h->p.metric == BIENC_INDEX_COSINE) distance_normalize(v, dim);
        memset((char *)v + h->links0_offset, 0, h->stride - h->links0_offset);
        int level = draw_level(h, id);
        h->levels[id] = (uint8_t)level;
        h->deleted[id] = 0;
        h->locks[id] = 0;
        h->upper[id] = NULL;
        h->names[id] = NULL;
    }
    /* allocations second, so a failure leaves nothing half-added: free and report */
    for (int64_t i = 0; i < n; i++) {
        int64_t id = h->count + i;
        int fail = 0;
        if (h->levels[id] > 0) {
            h->upper[id] = calloc((size_t)h->levels[id] * (size_t)(1 + h->p.M), sizeof(int32_t));
            fail = !h->upper[id];
        }
        if (names && !fail) {
            if (!names[i]) {
                for (int64_t j = 0; j <= i; j++) {
                    free(h->upper[h->count + j]);
                    free(h->names[h->count + j]);
                    h->upper[h->count + j] = NULL;
                    h->names[h->count + j] = NULL;
                }
                return bienc_error(BIENC_EINVAL, "hnsw_add: name of vector %lld is NULL", (long long)i);
            }
            h->names[id] = strdup(names[i]);
            fail = !h->names[id];
        }
        if (fail) {
            for (int64_t j = 0; j <= i; j++) {
                free(h->upper[h->count + j]);
                free(h->names[h->count + j]);
                h->upper[h->count + j] = NULL;
                h->names[h->count + j] = NULL;
            }
            return bienc_error(BIENC_ENOMEM, "hnsw_add: out of memory");
        }
    }
    return 0;
}

int hnsw_add(bienc_hnsw *h, const float *x, int64_t n, const char *const *names, int n_threads)
{
    if (!h || n < 0 || (n > 0 && !x)) return bienc_error(BIENC_EINVAL, "hnsw_add: invalid argument");
    if (n == 0) return 0;
    if (h->count > 0 && (names != NULL) != (h->has_names != 0))
        return bienc_error(BIENC_EINVAL, "hnsw_add: the index %s names, so this batch must %s", 
                           h->has_names ? "has" : "has no", h->has_names ? "name every vector" : "have none");
    /* names are the run's document ids: valid and distinct within the batch (as emb_read
     * checks whole files) */
    if (names) BIENC_TRY(ids_check(names, n, "hnsw_add"));
    if (h->count + n > INT32_MAX)
        return bienc_error(BIENC_ERANGE, "hnsw_add: %lld elements exceed the int32 id range",
                           (long long)(h->count + n));
    if (h->count + n > h->capacity) {
        int64_t cap = h->capacity + h->capacity / 2;
        if (cap < h->count + n) cap = h->count + n;
        if (cap > INT32_MAX) cap = INT32_MAX;
        BIENC_TRY(hnsw_reserve(h, cap));
    }
    BIENC_TRY(prepare_batch(h, x, n, names));
    if (h->count == 0) h->has_names = names != NULL;
    int64_t start = h->count;
    h->count += n;

    if (n_threads <= 0) n_threads = omp_get_max_threads();
    if (n_threads > n) n_threads = (int)n;
    int err = 0;
    int64_t first = start;
    /* the first element of an empty index becomes the entry point; inserting it alone
     * keeps the parallel loop free of the empty-graph case's races */
    hnsw_scratch s0;
    if (h->entry < 0) {
        if (scratch_init(&s0, h->count, h->p.ef_construction) < 0) return BIENC_ENOMEM;
        insert_one(h, &s0, (int32_t)start, NULL, NULL);
        scratch_free(&s0);
        first++;
    }
#pragma omp parallel num_threads(n_threads)
    {
        hnsw_scratch s;
        int rc = scratch_init(&s, h->count, h->p.ef_construction);
        hnsw_pair *buf = malloc((size_t)(h->p.ef_construction + 2) * sizeof(hnsw_pair));
        int32_t *sel = malloc((size_t)HNSW_MAX_LEVEL * (size_t)h->p.M * sizeof(int32_t));
        if (rc < 0 || !buf || !sel) {
#pragma omp atomic write
            err = 1;
        }
#pragma omp barrier
        if (!err) {
            /* dynamic chunks: insertion cost varies; the schedule only changes which
             * thread inserts an element, and with one thread the order is fixed */
#pragma omp for schedule(dynamic, 16)
            for (int64_t i = first; i < h->count; i++) insert_one(h, &s, (int32_t)i, buf, sel);
            if (s.oom) {
#pragma omp atomic write
                err = 2;
            }
        }
        scratch_free(&s);
        free(buf);
        free(sel);
    }
    if (err) return bienc_error(BIENC_ENOMEM, "hnsw_add: out of memory for build scratch (%s)",
                                err == 1 ? "per-thread buffers" : "candidate heap; the graph may be incomplete");
    return 0;
}
