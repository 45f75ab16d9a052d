/* The epoch sampler: a seeded shuffle per epoch cut into batches, optionally with no text
 * twice in a batch (sentence-transformers' NoDuplicatesBatchSampler semantics; a tuple that
 * would repeat a text waits for a later batch instead of being dropped).
 *
 * Each epoch is planned in full when it starts (order + batch boundaries), from an rng
 * seeded with hash(seed, epoch) alone: the state (seed, epoch, batches done) is therefore
 * enough to resume exactly. */
#include <stdlib.h>
#include <string.h>

#include "data/batch.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/data_internal.h"

struct bienc_sampler {
    const bienc_tuples *t;
    int batch_size, no_duplicates, use_negatives, drop_last;
    uint64_t seed;
    int64_t epoch, batch;      /* current epoch, batches produced in it */
    int64_t planned_epoch;     /* epoch the plan below belongs to (-1: none) */
    int64_t *order;            /* tuple indices in batch order */
    int64_t *start;            /* n_batches + 1 boundaries into order */
    int64_t n_batches;
    int64_t *pending;          /* planning scratch: deferred tuples */
    uint64_t *set;             /* planning scratch: text hashes of the batch being built */
    uint64_t set_mask;
};

void sampler_free(bienc_sampler *s)
{
    if (!s) return;
    free(s->order);
    free(s->start);
    free(s->pending);
    free(s->set);
    free(s);
}

int sampler_new(bienc_sampler **out, const bienc_tuples *t, int batch_size, int no_duplicates, int use_negatives,
                int drop_last, uint64_t seed)
{
    BIENC_ASSERT(out && t);
    *out = NULL;
    if (batch_size < 1) return bienc_error(BIENC_EINVAL, "sampler_new: batch size %d < 1", batch_size);
    int64_t n = tuples_count(t);
    if (n == 0) return bienc_error(BIENC_EINVAL, "sampler_new: no training tuples");
    if (drop_last && n < batch_size)
        return bienc_error(BIENC_EINVAL, "sampler_new: %lld tuples cannot fill one batch of %d (drop_last)",
                           (long long)n, batch_size);
    bienc_sampler *s = calloc(1, sizeof *s);
    if (!s) return bienc_error(BIENC_ENOMEM, "out of memory");
    s->t = t;
    s->batch_size = batch_size;
    s->no_duplicates = no_duplicates;
    s->use_negatives = use_negatives;
    s->drop_last = drop_last;
    s->seed = seed;
    s->planned_epoch = -1;
    uint64_t texts = (uint64_t)batch_size * (uint64_t)(2 + (use_negatives ? tuples_n_neg(t) : 0));
    uint64_t cap = 16;
    while (cap < texts * 2) cap *= 2;
    s->order = malloc((size_t)n * sizeof *s->order);
    s->start = malloc((size_t)(n + 1) * sizeof *s->start);
    s->pending = malloc((size_t)n * sizeof *s->pending);
    s->set = malloc(cap * sizeof *s->set);
    s->set_mask = cap - 1;
    if (!s->order || !s->start || !s->pending || !s->set) {
        sampler_free(s);
        return bienc_error(BIENC_ENOMEM, "sampler_new: out of memory for %lld tuples", (long long)n);
    }
    *out = s;
    return 0;
}

/* The duplicate key of a text: hash of strip(text).lower() (ASCII lower-casing). */
static uint64_t text_key(const char *p, size_t len)
{
    while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')) p++, len--;
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\n' || p[len - 1] == '\r' ||
                       p[len - 1] == '\f' || p[len - 1] == '\v'))
        len--;
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        h = (h ^ c) * 0x100000001B3ull;
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h ? h : 1;
}

static int set_has(const bienc_sampler *s, uint64_t k)
{
    for (uint64_t i = k & s->set_mask; s->set[i]; i = (i + 1) & s->set_mask)
        if (s->set[i] == k) return 1;
    return 0;
}

static void set_add(bienc_sampler *s, uint64_t k)
{
    uint64_t i = k & s->set_mask;
    while (s->set[i] && s->set[i] != k) i = (i + 1) & s->set_mask;
    s->set[i] = k;
}

/* Adds tuple i to the batch being planned when none of its texts is there yet. */
static int try_add(bienc_sampler *s, int64_t i)
{
    int slots = 2 + (s->use_negatives ? tuples_n_neg(s->t) : 0);
    uint64_t keys[2 + 1024];
    for (int k = 0; k < slots; k++) {
        const char *p;
        size_t len;
        tuples_text(s->t, i, k, &p, &len);
        keys[k] = text_key(p, len);
        if (set_has(s, keys[k])) return 0;
    }
    for (int k = 0; k < slots; k++) set_add(s, keys[k]);
    return 1;
}

static void plan_epoch(bienc_sampler *s, int64_t epoch)
{
    int64_t n = tuples_count(s->t);
    bienc_rng rng;
    rng_seed(&rng, rng_hash_u64(s->seed, (uint64_t)epoch));
    /* The shuffled order goes into pending's buffer first, then order is filled from it. */
    int64_t *perm = s->pending;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&rng, (uint64_t)i + 1);
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    s->n_batches = 0;
    s->start[0] = 0;
    if (!s->no_duplicates) {
        memcpy(s->order, perm, (size_t)n * sizeof *perm);
        for (int64_t b = 0; b * s->batch_size < n; b++) {
            int64_t end = (b + 1) * s->batch_size < n ? (b + 1) * s->batch_size : n;
            if (s->drop_last && end - b * s->batch_size < s->batch_size) break;
            s->start[++s->n_batches] = end;
        }
    } else {
        /* Deferred tuples live at the front of perm (perm[0..n_pend)), the not yet visited
         * ones at perm[next..n): since next >= n_pend always, one buffer holds both. */
        int64_t next = 0, n_pend = 0, placed = 0;
        while (next < n || n_pend > 0) {
            memset(s->set, 0, (s->set_mask + 1) * sizeof *s->set);
            int64_t begin = placed, keep = 0;
            for (int64_t k = 0; k < n_pend; k++) {
                int64_t i = perm[k];
                if (placed - begin < s->batch_size && try_add(s, i))
                    s->order[placed++] = i;
                else
                    perm[keep++] = i;
            }
            n_pend = keep;
            while (placed - begin < s->batch_size && next < n) {
                int64_t i = perm[next++];
                if (try_add(s, i))
                    s->order[placed++] = i;
                else
                    perm[n_pend++] = i;
            }
            if (placed - begin < s->batch_size && s->drop_last) break;
            s->start[++s->n_batches] = placed;
        }
    }
    s->planned_epoch = epoch;
}

int64_t sampler_batches_per_epoch(const bienc_sampler *s)
{
    if (!s) return 0;
    if (s->planned_epoch != s->epoch) plan_epoch((bienc_sampler *)s, s->epoch);
    return s->n_batches;
}

int sampler_next(bienc_sampler *s, int64_t *idx, int *n, int64_t *epoch_out)
{
    BIENC_ASSERT(s && idx && n);
    if (s->planned_epoch != s->epoch) plan_epoch(s, s->epoch);
    if (s->batch >= s->n_batches)
        return bienc_error(BIENC_ESTATE, "sampler: epoch %lld has no batch %lld (%lld batches)", (long long)s->epoch,
                           (long long)s->batch, (long long)s->n_batches);
    int64_t a = s->start[s->batch], b = s->start[s->batch + 1];
    memcpy(idx, s->order + a, (size_t)(b - a) * sizeof *idx);
    *n = (int)(b - a);
    if (epoch_out) *epoch_out = s->epoch;
    /* Move on eagerly, so that a state saved after an epoch's last batch reads (epoch + 1, 0). */
    if (++s->batch >= s->n_batches) {
        s->epoch++;
        s->batch = 0;
    }
    return 0;
}

void sampler_get_state(const bienc_sampler *s, bienc_sampler_state *st)
{
    if (!s || !st) return;
    st->seed = s->seed;
    st->epoch = s->epoch;
    st->batch = s->batch;
}

int sampler_set_state(bienc_sampler *s, const bienc_sampler_state *st)
{
    BIENC_ASSERT(s && st);
    if (st->epoch < 0 || st->batch < 0)
        return bienc_error(BIENC_ERANGE, "sampler_set_state: negative epoch %lld or batch %lld", (long long)st->epoch,
                           (long long)st->batch);
    s->seed = st->seed;
    s->epoch = st->epoch;
    plan_epoch(s, s->epoch);
    if (st->batch >= s->n_batches)
        return bienc_error(BIENC_ERANGE, "sampler_set_state: batch %lld beyond the %lld batches of epoch %lld",
                           (long long)st->batch, (long long)s->n_batches, (long long)st->epoch);
    s->batch = st->batch;
    return 0;
}
