/* Late interaction: MaxSim over a bi-encoder's token vectors (see late_interaction.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/late_interaction.h"

/* tok[T, C]: the token states of a packed batch, each row L2-normalised (cosines). */
static int late_tokens(bienc_biencoder *bi, bienc_tape *tape, const bienc_batch_ids *b, int training, uint64_t key,
                       bienc_tensor **out)
{
    bienc_tensor *hidden;
    BIENC_TRY(encoder_forward(bi->enc, tape, b, training, key, &hidden));
    return op_l2_normalize(tape, hidden, out);
}

int late_scores(bienc_biencoder *bi, bienc_tape *tape, const bienc_batch_ids *qb, const bienc_batch_ids *pb,
                int training, uint64_t dropout_key, float scale, bienc_tensor **scores)
{
    if (scores) *scores = NULL;
    if (!bi || !bi->enc || !tape || !qb || !pb || !scores) return bienc_error(BIENC_EINVAL, "late_scores: NULL argument");
    bienc_tensor *q, *p;
    BIENC_TRY(late_tokens(bi, tape, qb, training, dropout_key, &q));
    BIENC_TRY(late_tokens(bi, tape, pb, training, dropout_key + 1, &p));
    return op_maxsim(tape, q, &qb->seqs, p, &pb->seqs, scale, scores);
}

/* One packed side of a chunk: ids of up to cap texts of at most max_len tokens. */
typedef struct packed_side {
    int32_t *ids;
    int *offsets; /* [cap + 1] */
    int n, max_len;
} packed_side;

static int side_init(packed_side *s, int cap, int max_len)
{
    s->ids = malloc((size_t)cap * max_len * sizeof *s->ids);
    s->offsets = malloc((size_t)(cap + 1) * sizeof *s->offsets);
    s->n = 0;
    s->max_len = max_len;
    return s->ids && s->offsets ? 0 : bienc_error(BIENC_ENOMEM, "late interaction: out of memory");
}

static int side_add(packed_side *s, const bienc_biencoder *bi, const char *text, size_t len)
{
    if (s->n == 0) s->offsets[0] = 0;
    int got = 0, at = s->offsets[s->n];
    int rc = tokenizer_encode(bi->tok, text ? text : "", text ? len : 0, 1, s->max_len, s->ids + at, s->max_len, &got);
    if (rc < 0) return rc;
    s->offsets[++s->n] = at + got;
    return 0;
}

static bienc_batch_ids side_batch(const packed_side *s)
{
    return (bienc_batch_ids){.ids = s->ids, .type_ids = NULL, .seqs = {.n = s->n, .offsets = s->offsets}};
}

static size_t text_len(const char *const *t, const size_t *lens, int64_t k)
{
    return lens ? lens[k] : (t[k] ? strlen(t[k]) : 0);
}

/* The distinct texts of a range of pairs, by pointer and length (a candidate list points
 * every pair at the same query, a collection every pair at its row), numbered in order of
 * first appearance: the encode batches, hence the bits, do not depend on addresses. */
typedef struct text_set {
    int64_t cap;       /* slots, a power of two above twice the pairs */
    int *slot;         /* [cap]: number + 1 of the text there, 0 = empty */
    const char **text; /* [pairs]: the texts by number */
    size_t *len;
    int n;
} text_set;

static int set_init(text_set *s, int64_t pairs)
{
    s->cap = 16;
    while (s->cap < 2 * pairs) s->cap *= 2;
    s->slot = calloc((size_t)s->cap, sizeof *s->slot);
    s->text = malloc((size_t)pairs * sizeof *s->text);
    s->len = malloc((size_t)pairs * sizeof *s->len);
    s->n = 0;
    return s->slot && s->text && s->len ? 0 : bienc_error(BIENC_ENOMEM, "late interaction: out of memory");
}

static void set_free(text_set *s)
{
    free(s->slot);
    free(s->text);
    free(s->len);
}

static void set_clear(text_set *s)
{
    memset(s->slot, 0, (size_t)s->cap * sizeof *s->slot);
    s->n = 0;
}

/* The slot of (t, len): its own, or the empty one where it would go. */
static int64_t set_slot(const text_set *s, const char *t, size_t len)
{
    uint64_t h = ((uint64_t)(uintptr_t)t ^ ((uint64_t)len << 40)) * 0x9e3779b97f4a7c15ull;
    for (int64_t i = (int64_t)(h >> 20) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        int u = s->slot[i] - 1;
        if (u < 0 || (s->text[u] == t && s->len[u] == len)) return i;
    }
}

/* The number of (t, len), added when new. */
static int set_add(text_set *s, const char *t, size_t len)
{
    int64_t i = set_slot(s, t, len);
    if (s->slot[i]) return s->slot[i] - 1;
    s->text[s->n] = t;
    s->len[s->n] = len;
    s->slot[i] = ++s->n;
    return s->n - 1;
}

/* The token rows of texts first .. first+count-1 of s, L2-normalised, encoded on `tape`
 * (reset first): rows[offsets[count], C] in the tape's arena, valid until its next reset. */
static int encode_texts(bienc_biencoder *bi, bienc_tape *tape, packed_side *side, const text_set *s, int first,
                        int count, bienc_tensor **rows)
{
    side->n = 0;
    for (int u = first; u < first + count; u++) BIENC_TRY(side_add(side, bi, s->text[u], s->len[u]));
    bienc_batch_ids b = side_batch(side);
    tape_reset(tape);
    return late_tokens(bi, tape, &b, 0, 0, rows);
}

static int64_t late_query_floats = 32ll << 20; /* late_set_query_budget */

int64_t late_set_query_budget(int64_t floats)
{
    int64_t old = late_query_floats;
    late_query_floats = floats > 0 ? floats : 32ll << 20;
    return old;
}

int late_score_pairs(bienc_biencoder *bi, bienc_precision precision, const char *const *q, const size_t *qlens,
                     const char *const *p, const size_t *plens, int64_t n, int batch_size, float *scores)
{
    if (!bi || n < 0 || n > INT32_MAX || (n > 0 && (!q || !p || !scores)))
        return bienc_error(BIENC_EINVAL, "late_score_pairs: NULL or invalid argument");
    BIENC_TRY(biencoder_check(bi));
    if (precision == BIENC_PRECISION_AUTO)
        return bienc_error(BIENC_EINVAL, "late_score_pairs: resolve the precision first (train_precision)");
    if (n == 0) return 0;
    if (batch_size <= 0) batch_size = 128;
    const int64_t C = biencoder_dim(bi);
    /* a window holds at most qcap distinct queries (their rows stay; passages stream) */
    int64_t qcap = late_query_floats / ((int64_t)bi->max_query_len * C);
    if (qcap < 1) qcap = 1;
    bienc_tape *tape;
    BIENC_TRY(tape_new(&tape));
    tape_set_grad_enabled(tape, 0);
    tape_set_precision(tape, precision);
    packed_side qside, pside;
    text_set qs, ps;
    memset(&qside, 0, sizeof qside);
    memset(&pside, 0, sizeof pside);
    memset(&qs, 0, sizeof qs);
    memset(&ps, 0, sizeof ps);
    int *pq = malloc((size_t)n * sizeof *pq), *pp = malloc((size_t)n * sizeof *pp); /* pair -> its texts */
    int *first = malloc(((size_t)n + 1) * sizeof *first), *order = malloc((size_t)n * sizeof *order);
    int *lq = malloc((size_t)n * sizeof *lq), *lp = malloc((size_t)n * sizeof *lp), *lk = malloc((size_t)n * sizeof *lk);
    float *ls = malloc((size_t)n * sizeof *ls), *qrows = NULL;
    int *qoff = NULL;
    int rc = pq && pp && first && order && lq && lp && lk && ls ? 0 : bienc_error(BIENC_ENOMEM, "late interaction: out of memory");
    if (rc == 0) rc = set_init(&qs, n);
    if (rc == 0) rc = set_init(&ps, n);
    if (rc == 0) rc = side_init(&qside, batch_size, bi->max_query_len);
    if (rc == 0) rc = side_init(&pside, batch_size, bi->max_passage_len);
    for (int64_t w0 = 0, w1; rc == 0 && w0 < n; w0 = w1) {
        /* the window [w0, w1): its distinct queries and passages */
        set_clear(&qs);
        set_clear(&ps);
        for (w1 = w0; w1 < n; w1++) {
            size_t ql = text_len(q, qlens, w1);
            if (qs.n == qcap && !qs.slot[set_slot(&qs, q[w1], ql)]) break;
            pq[w1 - w0] = set_add(&qs, q[w1], ql);
            pp[w1 - w0] = set_add(&ps, p[w1], text_len(p, plens, w1));
        }
        const int wn = (int)(w1 - w0);
        /* every query's rows, encoded once */
        free(qrows);
        free(qoff);
        qrows = malloc((size_t)qs.n * (size_t)bi->max_query_len * (size_t)C * sizeof *qrows);
        qoff = malloc(((size_t)qs.n + 1) * sizeof *qoff);
        if (!qrows || !qoff) rc = bienc_error(BIENC_ENOMEM, "late interaction: out of memory for %d queries", qs.n);
        if (rc == 0) qoff[0] = 0;
        for (int u0 = 0; rc == 0 && u0 < qs.n; u0 += batch_size) {
            int m = qs.n - u0 < batch_size ? qs.n - u0 : batch_size;
            bienc_tensor *rows;
            rc = encode_texts(bi, tape, &qside, &qs, u0, m, &rows);
            for (int u = 0; rc == 0 && u < m; u++) qoff[u0 + u + 1] = qoff[u0] + qside.offsets[u + 1];
            if (rc == 0) memcpy(qrows + (int64_t)qoff[u0] * C, rows->data, (size_t)rows->size * sizeof *qrows);
        }
        /* the pairs of each passage (counting sort), then the passages a batch at a time */
        for (int v = 0; rc == 0 && v <= ps.n; v++) first[v] = 0;
        for (int k = 0; rc == 0 && k < wn; k++) first[pp[k] + 1]++;
        for (int v = 0; rc == 0 && v < ps.n; v++) first[v + 1] += first[v];
        for (int k = 0; rc == 0 && k < wn; k++) order[first[pp[k]]++] = k;
        for (int v = ps.n; rc == 0 && v > 0; v--) first[v] = first[v - 1];
        if (rc == 0) first[0] = 0;
        bienc_seqs qseqs = {.n = qs.n, .offsets = qoff};
        for (int v0 = 0; rc == 0 && v0 < ps.n; v0 += batch_size) {
            int m = ps.n - v0 < batch_size ? ps.n - v0 : batch_size, c = 0;
            bienc_tensor *rows;
            rc = encode_texts(bi, tape, &pside, &ps, v0, m, &rows);
            for (int i = first[v0]; rc == 0 && i < first[v0 + m]; i++, c++) {
                lk[c] = order[i];
                lq[c] = pq[order[i]];
                lp[c] = pp[order[i]] - v0;
            }
            bienc_seqs pseqs = side_batch(&pside).seqs;
            if (rc == 0) rc = op_maxsim_pairs(precision, qrows, &qseqs, rows->data, &pseqs, (int)C, lq, lp, c, 1.0f, ls);
            for (int i = 0; rc == 0 && i < c; i++) scores[w0 + lk[i]] = ls[i];
        }
        if (rc < 0)
            rc = bienc_error_context(rc, "late interaction, pairs %lld..%lld: ", (long long)w0, (long long)(w1 - 1));
    }
    set_free(&qs);
    set_free(&ps);
    free(qside.ids);
    free(qside.offsets);
    free(pside.ids);
    free(pside.offsets);
    free(pq);
    free(pp);
    free(first);
    free(order);
    free(lq);
    free(lp);
    free(lk);
    free(ls);
    free(qrows);
    free(qoff);
    tape_free(tape);
    return rc;
}
