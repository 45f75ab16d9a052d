/* Tokenized, packed batches. Every sequence is tokenized into its own fixed slot of a
 * scratch buffer (max_len ids a sequence) in parallel, then the slots are packed in
 * sequence order: the result is the same whatever the thread count or schedule. */
#include <stdlib.h>
#include <string.h>

#include "data/batch.h"
#include "core/error.h"
#include "data/data_internal.h"

/* Longest sequence we accept: BERT-style models have at most a few thousand positions. */
#define BATCH_MAX_LEN 8192

static int token_batch_reserve(bienc_token_batch *tb, int64_t n, int64_t T)
{
    if (n + 1 > tb->cap_n) {
        int *o = realloc(tb->offsets, (size_t)(n + 1) * sizeof *o);
        if (!o) return bienc_error(BIENC_ENOMEM, "batch: out of memory");
        tb->offsets = o;
        tb->cap_n = n + 1;
    }
    if (T > tb->cap_T) {
        int64_t cap = T < 1024 ? 1024 : T;
        int32_t *ids = realloc(tb->ids, (size_t)cap * sizeof *ids);
        if (ids) tb->ids = ids;
        int32_t *types = ids ? realloc(tb->type_ids, (size_t)cap * sizeof *types) : NULL;
        if (!ids || !types) return bienc_error(BIENC_ENOMEM, "batch: out of memory for %lld tokens", (long long)T);
        tb->type_ids = types;
        tb->cap_T = cap;
    }
    return 0;
}

static void token_batch_free(bienc_token_batch *tb)
{
    free(tb->ids);
    free(tb->type_ids);
    free(tb->offsets);
    memset(tb, 0, sizeof *tb);
}

void batch_free(bienc_batch *b)
{
    if (!b) return;
    token_batch_free(&b->queries);
    token_batch_free(&b->passages);
    free(b->example);
    free(b->scratch);
    free(b->scratch_len);
    memset(b, 0, sizeof *b);
}

/* Sequence s of the batch: which tuple, which slot, which length limit. Sequences 0..n-1
 * are the queries, then the passages in MNRL order (slot-major). */
static void seq_source(const bienc_batch *b, const int64_t *idx, const bienc_batch_opts *o, int64_t s,
                       int64_t *tuple, int *slot, int *max_len)
{
    int n = b->n;
    if (s < n) {
        *tuple = idx[s];
        *slot = 0;
        *max_len = o->max_query_len;
    } else {
        int64_t p = s - n;
        *tuple = idx[p % n];
        *slot = 1 + (int)(p / n);
        *max_len = o->max_passage_len;
    }
}

/* Packs sequences [first, first + count) of the scratch into tb. */
static int pack(bienc_token_batch *tb, const bienc_batch *b, int64_t first, int64_t count, int slot_len)
{
    int64_t T = 0;
    for (int64_t s = 0; s < count; s++) T += b->scratch_len[first + s];
    if (T > INT32_MAX) return bienc_error(BIENC_ERANGE, "batch: %lld tokens do not fit int offsets", (long long)T);
    BIENC_TRY(token_batch_reserve(tb, count, T));
    tb->offsets[0] = 0;
    for (int64_t s = 0; s < count; s++) {
        int len = b->scratch_len[first + s];
        memcpy(tb->ids + tb->offsets[s], b->scratch + (first + s) * slot_len, (size_t)len * sizeof *tb->ids);
        tb->offsets[s + 1] = tb->offsets[s] + len;
    }
    memset(tb->type_ids, 0, (size_t)T * sizeof *tb->type_ids);
    tb->T = T;
    tb->n = (int)count;
    return 0;
}

int batch_build(bienc_batch *b, const bienc_tuples *t, const int64_t *idx, int n, const bienc_tokenizer *tok,
                const bienc_batch_opts *o)
{
    BIENC_ASSERT(b && t && idx && tok && o);
    if (n < 1) return bienc_error(BIENC_EINVAL, "batch_build: %d tuples", n);
    if (o->max_query_len < 3 || o->max_query_len > BATCH_MAX_LEN || o->max_passage_len < 3 ||
        o->max_passage_len > BATCH_MAX_LEN)
        return bienc_error(BIENC_EINVAL, "batch_build: max_query_len %d / max_passage_len %d not in [3, %d]",
                           o->max_query_len, o->max_passage_len, BATCH_MAX_LEN);
    if (o->n_neg < 0 || o->n_neg > tuples_n_neg(t))
        return bienc_error(BIENC_EINVAL, "batch_build: n_neg %d but the tuples have %d negatives", o->n_neg,
                           tuples_n_neg(t));
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= tuples_count(t))
            return bienc_error(BIENC_ERANGE, "batch_build: tuple index %lld out of range (%lld tuples)",
                               (long long)idx[i], (long long)tuples_count(t));

    b->n = n;
    b->n_neg = o->n_neg;
    int64_t n_seq = (int64_t)n * (2 + o->n_neg);
    int slot_len = o->max_query_len > o->max_passage_len ? o->max_query_len : o->max_passage_len;
    BIENC_TRY(data_grow((void **)&b->example, &b->cap_n, n, sizeof *b->example));
    BIENC_TRY(data_grow((void **)&b->scratch, &b->cap_scratch, n_seq * slot_len, sizeof *b->scratch));
    BIENC_TRY(data_grow((void **)&b->scratch_len, &b->cap_scratch_len, n_seq, sizeof *b->scratch_len));
    memcpy(b->example, idx, (size_t)n * sizeof *idx);

    /* Failures are recorded per sequence; the first (lowest) one is reported afterwards. */
    int64_t failed = n_seq;
    #pragma omp parallel for schedule(dynamic, 8) reduction(min : failed)
    for (int64_t s = 0; s < n_seq; s++) {
        int64_t tuple;
        int slot, max_len;
        seq_source(b, idx, o, s, &tuple, &slot, &max_len);
        const char *text;
        size_t len;
        int got = 0;
        int rc = tuples_text(t, tuple, slot, &text, &len);
        if (rc == 0) rc = tokenizer_encode(tok, text, len, 1, max_len, b->scratch + s * slot_len, max_len, &got);
        b->scratch_len[s] = rc == 0 ? got : 0;
        if (rc < 0 && s < failed) failed = s;
    }
    if (failed < n_seq) {
        /* Redo the failing one here: error messages are per thread. */
        int64_t tuple;
        int slot, max_len, got;
        const char *text;
        size_t len;
        seq_source(b, idx, o, failed, &tuple, &slot, &max_len);
        int rc = tuples_text(t, tuple, slot, &text, &len);
        if (rc == 0) rc = tokenizer_encode(tok, text, len, 1, max_len, b->scratch + failed * slot_len, max_len, &got);
        if (rc == 0) rc = bienc_error(BIENC_ESTATE, "batch_build: tokenizing failed only on a worker thread");
        return bienc_error_context(rc, "batch: tuple %lld slot %d: ", (long long)tuple, slot);
    }
    BIENC_TRY(pack(&b->queries, b, 0, n, slot_len));
    BIENC_TRY(pack(&b->passages, b, n, n_seq - n, slot_len));
    return 0;
}
