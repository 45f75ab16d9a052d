/* Hard-negative JSON lines, the layout of sentence-transformers' msmarco-hard-negatives:
 *   {"qid": 571018, "pos": [7349777], "neg": {"bm25": [..], "msmarco-MiniLM-L-6-v3": [..]}}
 * Ids are kept as strings (integers in their source spelling) in one buffer; per row
 * we keep where its ids start: qid, then the positives, then the negatives. */
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "core/error.h"
#include "text/json.h"
#include "data/data_internal.h"

typedef struct hn_row {
    int64_t first;     /* index in ids of the qid; positives and negatives follow */
    int32_t n_pos, n_neg;
    int64_t line;
} hn_row;

struct bienc_hardnegs {
    char *path;
    char *arena;
    int64_t arena_used, arena_cap;
    bienc_id_view *ids;  /* during loading .s holds an offset into arena */
    int64_t n_ids, ids_cap;
    hn_row *rows;
    int64_t n, rows_cap;
    /* per-row duplicate filter for negatives */
    int64_t *seen;
    int64_t seen_cap;
};

void hardnegs_free(bienc_hardnegs *h)
{
    if (!h) return;
    free(h->arena);
    free(h->ids);
    free(h->rows);
    free(h->seen);
    free(h->path);
    free(h);
}

static int id_of(const json_node *n, const char **s, size_t *len, int numeric)
{
    int64_t v;
    if (n->type == JSON_STRING) {
        *s = n->str;
        *len = n->len;
    } else if (n->type == JSON_NUMBER && json_int64(n, &v) == 0 && v >= 0) {
        *s = n->str;
        *len = n->len;
    } else {
        return -1;
    }
    return data_id_problem(*s, *len, numeric) ? -1 : 0;
}

static int push_id(bienc_hardnegs *h, const char *s, size_t len)
{
    BIENC_TRY(data_grow((void **)&h->arena, &h->arena_cap, h->arena_used + (int64_t)len, 1));
    BIENC_TRY(data_grow((void **)&h->ids, &h->ids_cap, h->n_ids + 1, sizeof *h->ids));
    memcpy(h->arena + h->arena_used, s, len);
    h->ids[h->n_ids].s = (const char *)(uintptr_t)h->arena_used;
    h->ids[h->n_ids].len = (uint32_t)len;
    h->arena_used += (int64_t)len;
    h->n_ids++;
    return 0;
}

static const char *id_bytes(const bienc_hardnegs *h, int64_t k) { return h->arena + (uintptr_t)h->ids[k].s; }

/* Adds negative `s` unless the row already has it: a small open-addressing set of id
 * indices over this row's negatives (seen_cap slots, reset per row). */
static int push_neg(bienc_hardnegs *h, int64_t row_neg_start, const char *s, size_t len, int *added)
{
    *added = 0;
    int64_t n_neg = h->n_ids - row_neg_start;
    if ((n_neg + 1) * 2 > h->seen_cap) {
        int64_t cap = h->seen_cap ? h->seen_cap * 2 : 256;
        while ((n_neg + 1) * 2 > cap) cap *= 2;
        int64_t *ns = malloc((size_t)cap * sizeof *ns);
        if (!ns) return bienc_error(BIENC_ENOMEM, "out of memory");
        for (int64_t i = 0; i < cap; i++) ns[i] = -1;
        free(h->seen);
        h->seen = ns;
        h->seen_cap = cap;
        /* re-insert this row's negatives */
        for (int64_t k = row_neg_start; k < h->n_ids; k++) {
            uint64_t j = data_hash_bytes(id_bytes(h, k), h->ids[k].len, 1) & (uint64_t)(cap - 1);
            while (h->seen[j] >= 0) j = (j + 1) & (uint64_t)(cap - 1);
            h->seen[j] = k;
        }
    }
    uint64_t mask = (uint64_t)h->seen_cap - 1;
    uint64_t j = data_hash_bytes(s, len, 1) & mask;
    while (h->seen[j] >= 0) {
        int64_t k = h->seen[j];
        if (h->ids[k].len == len && memcmp(id_bytes(h, k), s, len) == 0) return 0;
        j = (j + 1) & mask;
    }
    BIENC_TRY(push_id(h, s, len));
    h->seen[j] = h->n_ids - 1;
    *added = 1;
    return 0;
}

static void seen_reset(bienc_hardnegs *h)
{
    for (int64_t i = 0; i < h->seen_cap; i++) h->seen[i] = -1;
}

/* The negatives of one list (a JSON array of ids). */
static int add_negs(bienc_hardnegs *h, const json_doc *d, const json_node *arr, int64_t neg_start, int numeric,
                    int *n_neg, const char **bad)
{
    if (arr->type != JSON_ARRAY) {
        *bad = "a negatives list is not an array";
        return 1;
    }
    for (const json_node *c = json_first(d, arr); c; c = json_next(d, c)) {
        const char *s;
        size_t len;
        if (id_of(c, &s, &len, numeric) < 0) {
            *bad = "bad negative id";
            return 1;
        }
        int added;
        BIENC_TRY(push_neg(h, neg_start, s, len, &added));
        *n_neg += added;
    }
    return 0;
}

static int hn_row_parse(bienc_hardnegs *h, json_doc *doc, const data_line *ln, const char *system, data_rows *rows)
{
    if (json_parse(doc, ln->p, ln->len) < 0)
        return data_bad_row(rows, ln->lineno, "invalid JSON: %s", bienc_last_error());
    const json_node *root = json_root(doc);
    if (!root || root->type != JSON_OBJECT) return data_bad_row(rows, ln->lineno, "expected a JSON object");
    const json_node *q = json_get(doc, root, "qid");
    const json_node *pos = json_get(doc, root, "pos");
    const json_node *neg = json_get(doc, root, "neg");
    const char *s;
    size_t len;
    if (!q || id_of(q, &s, &len, rows->numeric_ids) < 0)
        return data_bad_row(rows, ln->lineno, "\"qid\" missing or not a valid id");
    if (!pos || pos->type != JSON_ARRAY || pos->count == 0)
        return data_bad_row(rows, ln->lineno, "\"pos\" missing or not a non-empty array");
    if (!neg || (neg->type != JSON_OBJECT && neg->type != JSON_ARRAY))
        return data_bad_row(rows, ln->lineno, "\"neg\" missing or not an object of arrays");

    int64_t first = h->n_ids, first_arena = h->arena_used;
    BIENC_TRY(push_id(h, s, len));
    int n_pos = 0, n_neg = 0;
    const char *bad = NULL;
    for (const json_node *c = json_first(doc, pos); c && !bad; c = json_next(doc, c)) {
        if (id_of(c, &s, &len, rows->numeric_ids) < 0) {
            bad = "bad positive id";
            break;
        }
        BIENC_TRY(push_id(h, s, len));
        n_pos++;
    }
    int64_t neg_start = h->n_ids;
    if (!bad) {
        seen_reset(h);
        if (neg->type == JSON_ARRAY) {
            BIENC_TRY(add_negs(h, doc, neg, neg_start, rows->numeric_ids, &n_neg, &bad));
        } else {
            for (const json_node *c = json_first(doc, neg); c && !bad; c = json_next(doc, c)) {
                if (system && (c->key_len != strlen(system) || memcmp(c->key, system, c->key_len) != 0)) continue;
                BIENC_TRY(add_negs(h, doc, c, neg_start, rows->numeric_ids, &n_neg, &bad));
            }
        }
    }
    if (bad) {
        h->n_ids = first; /* drop this row's ids */
        h->arena_used = first_arena;
        return data_bad_row(rows, ln->lineno, "%s", bad);
    }
    BIENC_TRY(data_grow((void **)&h->rows, &h->rows_cap, h->n + 1, sizeof *h->rows));
    h->rows[h->n++] = (hn_row){first, n_pos, n_neg, ln->lineno};
    return 0;
}

int hardnegs_load(bienc_hardnegs **out, const char *path, const char *system, const bienc_read_opts *opts,
                  bienc_read_report *report)
{
    BIENC_ASSERT(out);
    *out = NULL;
    bienc_hardnegs *h = calloc(1, sizeof *h);
    if (!h) return bienc_error(BIENC_ENOMEM, "out of memory");
    data_file file;
    int rc = data_file_open(&file, path);
    if (rc == 0 && !(h->path = strdup(path))) rc = bienc_error(BIENC_ENOMEM, "out of memory");
    if (rc < 0) {
        data_file_close(&file);
        hardnegs_free(h);
        return rc;
    }
    json_doc *doc = NULL;
    rc = json_doc_new(&doc);
    data_rows rows;
    data_rows_init(&rows, file.path, opts);
    size_t pos = 0;
    int64_t lineno = 0;
    data_line ln;
    while (rc == 0 && data_next_line(file.base, file.size, &pos, &lineno, &ln)) {
        rc = hn_row_parse(h, doc, &ln, system, &rows);
        if (rc > 0) rc = 0;
    }
    json_free(doc);
    rows.rep.n_rows = h->n;
    data_rows_report(&rows, report);
    data_file_close(&file);
    if (rc < 0) {
        hardnegs_free(h);
        return rc;
    }
    /* The buffer no longer moves: turn offsets into pointers. */
    for (int64_t k = 0; k < h->n_ids; k++) h->ids[k].s = h->arena + (uintptr_t)h->ids[k].s;
    free(h->seen);
    h->seen = NULL;
    h->seen_cap = 0;
    *out = h;
    return 0;
}

int64_t hardnegs_count(const bienc_hardnegs *h) { return h ? h->n : 0; }

const char *hardnegs_path(const bienc_hardnegs *h) { return h && h->path ? h->path : ""; }

int hardnegs_get(const bienc_hardnegs *h, int64_t i, bienc_hardneg_row *row)
{
    if (!h || !row || i < 0 || i >= h->n)
        return bienc_error(BIENC_ERANGE, "hardnegs: row %lld out of range (%lld rows)", (long long)i,
                           (long long)(h ? h->n : 0));
    const hn_row *r = &h->rows[i];
    row->qid = h->ids[r->first];
    row->pos = h->ids + r->first + 1;
    row->n_pos = r->n_pos;
    row->neg = h->ids + r->first + 1 + r->n_pos;
    row->n_neg = r->n_neg;
    row->line = r->line;
    return 0;
}
