/* Training tuples (query, positive, negatives...) over the readers' stores. A tuple is
 * either a text triples row (kind TRIPLES) or row numbers into a queries store and a
 * collection store (kind ROWS: 4 bytes per text). */
#include <stdlib.h>
#include <string.h>

#include "data/batch.h"
#include "core/error.h"
#include "data/data_internal.h"

enum { TUPLES_TRIPLES = 0, TUPLES_ROWS = 1 };

struct bienc_tuples {
    int kind;
    const bienc_triples *triples;
    const bienc_texts *queries, *collection;
    int n_neg;
    int64_t n, cap;
    uint32_t *rows;   /* ROWS: n * (2 + n_neg): query row, positive row, negative rows */
    float *margin;    /* teacher margin per tuple (from scored triples), or NULL */
};

static int tuples_new(bienc_tuples **out, int kind, int n_neg)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return bienc_error(BIENC_ENOMEM, "out of memory");
    (*out)->kind = kind;
    (*out)->n_neg = n_neg;
    return 0;
}

void tuples_free(bienc_tuples *t)
{
    if (!t) return;
    free(t->rows);
    free(t->margin);
    free(t);
}

int64_t tuples_count(const bienc_tuples *t) { return t ? t->n : 0; }

int tuples_has_margins(const bienc_tuples *t)
{
    return t && (t->kind == TUPLES_TRIPLES ? triples_has_margins(t->triples) : t->margin != NULL);
}

float tuples_margin(const bienc_tuples *t, int64_t i)
{
    if (!t || i < 0 || i >= t->n) return 0.0f;
    if (t->kind == TUPLES_TRIPLES) return triples_margin(t->triples, i);
    return t->margin ? t->margin[i] : 0.0f;
}

void tuples_keep_first(bienc_tuples *t, int64_t n)
{
    if (t && n >= 0 && n < t->n) t->n = n;
}

int tuples_n_neg(const bienc_tuples *t) { return t ? t->n_neg : 0; }

int tuples_from_triples(bienc_tuples **out, const bienc_triples *triples)
{
    BIENC_ASSERT(out && triples);
    BIENC_TRY(tuples_new(out, TUPLES_TRIPLES, 1));
    (*out)->triples = triples;
    (*out)->n = triples_count(triples);
    return 0;
}

static int push_rows(bienc_tuples *t, const uint32_t *r)
{
    int w = 2 + t->n_neg;
    int64_t cap = t->cap * w;
    BIENC_TRY(data_grow((void **)&t->rows, &cap, (t->n + 1) * w, sizeof *t->rows));
    t->cap = cap / w;
    memcpy(t->rows + t->n * w, r, (size_t)w * sizeof *r);
    t->n++;
    return 0;
}

/* Starts a ROWS tuple set; checks the stores. */
static int rows_begin(bienc_tuples **out, const bienc_texts *queries, const bienc_texts *collection, int n_neg,
                      const char *fn)
{
    if (!out) return bienc_error(BIENC_EINVAL, "%s: NULL argument", fn);
    *out = NULL;
    if (!queries || !collection) return bienc_error(BIENC_EINVAL, "%s: NULL queries or collection", fn);
    BIENC_TRY(tuples_new(out, TUPLES_ROWS, n_neg));
    (*out)->queries = queries;
    (*out)->collection = collection;
    return 0;
}

/* Ends a ROWS tuple set: frees it on failure. */
static int rows_end(bienc_tuples **out, int rc)
{
    if (rc < 0) {
        tuples_free(*out);
        *out = NULL;
    }
    return rc;
}

int tuples_from_id_triples(bienc_tuples **out, const bienc_triples *triples, const bienc_texts *queries,
                           const bienc_texts *collection, int skip_missing, int64_t *n_skipped)
{
    BIENC_ASSERT(triples);
    BIENC_TRY(rows_begin(out, queries, collection, 1, "tuples_from_id_triples"));
    int64_t skipped = 0;
    int rc = 0;
    if (triples_has_margins(triples)) {
        (*out)->margin = malloc((size_t)(triples_count(triples) ? triples_count(triples) : 1) * sizeof(float));
        if (!(*out)->margin) rc = bienc_error(BIENC_ENOMEM, "out of memory");
    }
    for (int64_t i = 0; rc == 0 && i < triples_count(triples); i++) {
        uint32_t r[3];
        int missing = -1;
        for (int k = 0; k < 3 && missing < 0; k++) {
            const char *s;
            size_t len;
            triples_get(triples, i, k, &s, &len);
            int64_t row = texts_find(k == 0 ? queries : collection, s, len);
            if (row < 0) missing = k;
            r[k] = (uint32_t)row;
        }
        if (missing < 0) {
            if ((*out)->margin) (*out)->margin[(*out)->n] = triples_margin(triples, i);
            rc = push_rows(*out, r);
        } else if (skip_missing) {
            skipped++;
        } else {
            const char *s;
            size_t len;
            triples_get(triples, i, missing, &s, &len);
            rc = bienc_error(BIENC_ENOTFOUND, "%s:%lld: %s '%.*s' is not in %s", triples_path(triples),
                             (long long)triples_line(triples, i), missing == 0 ? "qid" : "pid",
                             (int)(len > 40 ? 40 : len), s, texts_path(missing == 0 ? queries : collection));
        }
    }
    if (n_skipped) *n_skipped = skipped;
    return rows_end(out, rc);
}

int tuples_from_pairs(bienc_tuples **out, const bienc_texts *queries, const bienc_texts *collection,
                      const char *const *qids, const char *const *pids, int64_t n, int skip_missing,
                      int64_t *n_skipped)
{
    if ((n > 0 && (!qids || !pids)) || n < 0) return bienc_error(BIENC_EINVAL, "tuples_from_pairs: bad pairs");
    BIENC_TRY(rows_begin(out, queries, collection, 0, "tuples_from_pairs"));
    int64_t skipped = 0;
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        if (!qids[i] || !pids[i]) {
            rc = bienc_error(BIENC_EINVAL, "tuples_from_pairs: NULL id in pair %lld", (long long)i);
            break;
        }
        int64_t q = texts_find(queries, qids[i], strlen(qids[i]));
        int64_t p = texts_find(collection, pids[i], strlen(pids[i]));
        if (q >= 0 && p >= 0) {
            uint32_t r[2] = {(uint32_t)q, (uint32_t)p};
            rc = push_rows(*out, r);
        } else if (skip_missing) {
            skipped++;
        } else {
            rc = bienc_error(BIENC_ENOTFOUND, "pair %lld: %s '%s' is not in %s", (long long)i, q < 0 ? "qid" : "pid",
                             q < 0 ? qids[i] : pids[i], texts_path(q < 0 ? queries : collection));
        }
    }
    if (n_skipped) *n_skipped = skipped;
    return rows_end(out, rc);
}

int tuples_from_hardnegs(bienc_tuples **out, const bienc_hardnegs *h, const bienc_texts *queries,
                         const bienc_texts *collection, int n_neg, int skip_missing, int64_t *n_skipped)
{
    BIENC_ASSERT(h);
    if (n_neg < 0 || n_neg > 1024) return bienc_error(BIENC_EINVAL, "tuples_from_hardnegs: n_neg %d not in [0, 1024]", n_neg);
    BIENC_TRY(rows_begin(out, queries, collection, n_neg, "tuples_from_hardnegs"));
    uint32_t *r = malloc((size_t)(2 + n_neg) * sizeof *r);
    int rc = r ? 0 : bienc_error(BIENC_ENOMEM, "out of memory");
    int64_t skipped = 0;
    for (int64_t i = 0; rc == 0 && i < hardnegs_count(h); i++) {
        bienc_hardneg_row row;
        hardnegs_get(h, i, &row);
        const char *why = NULL;
        bienc_id_view bad = row.qid;
        int64_t q = texts_find(queries, row.qid.s, row.qid.len);
        int64_t p = row.n_pos > 0 ? texts_find(collection, row.pos[0].s, row.pos[0].len) : -1;
        if (q < 0) {
            why = "qid";
        } else if (p < 0) {
            why = "positive pid";
            bad = row.pos[0];
        }
        int got = 0;
        for (int j = 0; !why && j < row.n_neg && got < n_neg; j++) {
            int64_t nr = texts_find(collection, row.neg[j].s, row.neg[j].len);
            if (nr >= 0 && nr != p) r[2 + got++] = (uint32_t)nr;
        }
        if (!why && got < n_neg) why = "negatives";
        if (!why) {
            r[0] = (uint32_t)q;
            r[1] = (uint32_t)p;
            rc = push_rows(*out, r);
        } else if (skip_missing) {
            skipped++;
        } else if (strcmp(why, "negatives") == 0) {
            rc = bienc_error(BIENC_ENOTFOUND, "%s:%lld: only %d of %d negatives found in %s",
                             hardnegs_path(h), (long long)row.line, got, n_neg, texts_path(collection));
        } else {
            rc = bienc_error(BIENC_ENOTFOUND, "%s:%lld: %s '%.*s' is not in %s", hardnegs_path(h), (long long)row.line,
                             why, (int)(bad.len > 40 ? 40 : bad.len), bad.s,
                             texts_path(q < 0 ? queries : collection));
        }
    }
    free(r);
    if (n_skipped) *n_skipped = skipped;
    return rows_end(out, rc);
}

int tuples_text(const bienc_tuples *t, int64_t i, int slot, const char **s, size_t *len)
{
    if (!t || i < 0 || i >= t->n || slot < 0 || slot >= 2 + t->n_neg)
        return bienc_error(BIENC_ERANGE, "tuples: tuple %lld slot %d out of range (%lld tuples, %d slots)",
                           (long long)i, slot, (long long)(t ? t->n : 0), t ? 2 + t->n_neg : 0);
    if (t->kind == TUPLES_TRIPLES) return triples_get(t->triples, i, slot, s, len);
    uint32_t row = t->rows[i * (2 + t->n_neg) + slot];
    return texts_get(slot == 0 ? t->queries : t->collection, row, NULL, NULL, s, len);
}
