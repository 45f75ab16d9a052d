/* The id -> text store: MS MARCO collection.tsv / queries.tsv (mapped, rows are views
 * into the file) and BEIR corpus.jsonl / queries.jsonl (decoded once into one buffer).
 * Every row is kept as "id\ttext" bytes at base + off[i], so both share the accessors. */
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "core/error.h"
#include "text/json.h"
#include "data/data_internal.h"

struct bienc_texts {
    char *path;
    data_file file;      /* TSV: the mapped file */
    char *arena;         /* JSONL: decoded rows */
    const char *base;    /* file.base or arena */
    uint64_t *off;       /* row start (the id) */
    uint32_t *len;       /* row length: id + 1 + text */
    uint16_t *id_len;
    int64_t n, cap;
    data_index ix;
};

static void texts_id(const void *ctx, int64_t row, const char **id, size_t *len)
{
    const bienc_texts *t = ctx;
    *id = t->base + t->off[row];
    *len = t->id_len[row];
}

void texts_free(bienc_texts *t)
{
    if (!t) return;
    data_file_close(&t->file);
    free(t->arena);
    free(t->off);
    free(t->len);
    free(t->id_len);
    data_index_free(&t->ix);
    free(t->path);
    free(t);
}

static int texts_new(bienc_texts **out, const char *path)
{
    *out = NULL;
    bienc_texts *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return bienc_error(BIENC_ENOMEM, "out of memory");
    }
    *out = t;
    return 0;
}

static int texts_push(bienc_texts *t, uint64_t off, size_t id_len, size_t len)
{
    if (t->n == t->cap) {
        int64_t c1 = t->cap, c2 = t->cap, c3 = t->cap;
        BIENC_TRY(data_grow((void **)&t->off, &c1, t->n + 1, sizeof *t->off));
        BIENC_TRY(data_grow((void **)&t->len, &c2, t->n + 1, sizeof *t->len));
        BIENC_TRY(data_grow((void **)&t->id_len, &c3, t->n + 1, sizeof *t->id_len));
        t->cap = c1;
    }
    t->off[t->n] = off;
    t->len[t->n] = (uint32_t)len;
    t->id_len[t->n] = (uint16_t)id_len;
    t->n++;
    return 0;
}

/* Builds the id index; a repeated id is a malformed row (the later one is dropped when
 * skipping). lines[i] is row i's source line. */
static int texts_index(bienc_texts *t, const int64_t *lines, data_rows *rows)
{
    BIENC_TRY(data_index_init(&t->ix, t->n));
    int64_t kept = 0;
    for (int64_t i = 0; i < t->n; i++) {
        const char *id;
        size_t id_len;
        texts_id(t, i, &id, &id_len);
        /* Compact in place as we go: row i moves to `kept` before it is inserted. */
        t->off[kept] = t->off[i];
        t->len[kept] = t->len[i];
        t->id_len[kept] = t->id_len[i];
        int64_t prev = data_index_insert(&t->ix, t, texts_id, id, id_len, kept);
        if (prev >= 0) {
            int rc = data_bad_row(rows, lines[i], "duplicate id '%.*s'", (int)id_len, id);
            if (rc < 0) return rc;
            continue;
        }
        kept++;
    }
    t->n = kept;
    rows->rep.n_rows = kept;
    return 0;
}

int texts_load_tsv(bienc_texts **out, const char *path, const bienc_read_opts *opts, bienc_read_report *report)
{
    BIENC_ASSERT(out);
    *out = NULL;
    bienc_texts *t;
    BIENC_TRY(texts_new(&t, path ? path : ""));
    int rc = data_file_open(&t->file, path);
    int64_t *lines = NULL, lines_cap = 0;
    data_rows rows;
    data_rows_init(&rows, t->path, opts);
    t->base = t->file.base;
    size_t pos = 0;
    int64_t lineno = 0;
    data_line ln;
    while (rc == 0 && data_next_line(t->file.base, t->file.size, &pos, &lineno, &ln)) {
        const char *f[2];
        size_t fl[2];
        int nf = data_split_tabs(ln.p, ln.len, f, fl, 2);
        const char *why;
        if (nf != 2) {
            rc = data_bad_row(&rows, ln.lineno, "expected 2 tab-separated fields (id, text), found %d", nf);
        } else if ((why = data_id_problem(f[0], fl[0], rows.numeric_ids))) {
            rc = data_bad_row(&rows, ln.lineno, "bad id '%.*s': %s", (int)(fl[0] > 40 ? 40 : fl[0]), f[0], why);
        } else if (ln.len > UINT32_MAX) {
            rc = data_bad_row(&rows, ln.lineno, "line longer than 4 GiB");
        } else {
            rc = data_grow((void **)&lines, &lines_cap, t->n + 1, sizeof *lines);
            if (rc == 0) {
                lines[t->n] = ln.lineno;
                rc = texts_push(t, ln.off, fl[0], ln.len);
            }
        }
        if (rc > 0) rc = 0; /* skipped */
    }
    if (rc == 0) rc = texts_index(t, lines, &rows);
    free(lines);
    if (rc < 0) {
        texts_free(t);
        return rc;
    }
    /* Lookups jump around the file from now on. */
    data_rows_report(&rows, report);
    *out = t;
    return 0;
}

/* Appends bytes to the arena. */
static int arena_put(bienc_texts *t, int64_t *cap, int64_t *used, const char *s, size_t n)
{
    BIENC_TRY(data_grow((void **)&t->arena, cap, *used + (int64_t)n, 1));
    memcpy(t->arena + *used, s, n);
    *used += (int64_t)n;
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Reads the "_id" member: a string, or an integer (kept in its source spelling). */
static const char *json_id(const json_doc *d, const json_node *root, const char *key, size_t *len, const char **why)
{
    const json_node *n = json_get(d, root, key);
    if (!n) {
        *why = "missing";
        return NULL;
    }
    if (n->type == JSON_STRING) {
        *len = n->len;
        return n->str;
    }
    int64_t v;
    if (n->type == JSON_NUMBER && json_int64(n, &v) == 0 && v >= 0) {
        *len = n->len;
        return n->str;
    }
    *why = "not a string or non-negative integer";
    return NULL;
}

/* One JSON line into the arena as "id\ttext"; 1 when the row was skipped. */
static int texts_jsonl_row(bienc_texts *t, json_doc *doc, const data_line *ln, data_rows *rows, int64_t *cap,
                           int64_t *used)
{
    int rc = json_parse(doc, ln->p, ln->len);
    if (rc < 0) return data_bad_row(rows, ln->lineno, "invalid JSON: %s", bienc_last_error());
    const json_node *root = json_root(doc);
    if (!root || root->type != JSON_OBJECT) return data_bad_row(rows, ln->lineno, "expected a JSON object");
    size_t id_len = 0, text_len = 0, title_len = 0;
    const char *why = NULL;
    const char *id = json_id(doc, root, "_id", &id_len, &why);
    if (!id) return data_bad_row(rows, ln->lineno, "\"_id\": %s", why);
    const char *bad = data_id_problem(id, id_len, rows->numeric_ids);
    if (bad) return data_bad_row(rows, ln->lineno, "bad \"_id\" '%.*s': %s", (int)(id_len > 40 ? 40 : id_len), id, bad);
    const json_node *tn = json_get(doc, root, "text");
    if (!tn || tn->type != JSON_STRING) return data_bad_row(rows, ln->lineno, "\"text\" missing or not a string");
    const char *text = tn->str;
    text_len = tn->len;
    const json_node *ti = json_get(doc, root, "title");
    if (ti && ti->type != JSON_STRING && ti->type != JSON_NULL)
        return data_bad_row(rows, ln->lineno, "\"title\" is not a string");
    const char *title = ti && ti->type == JSON_STRING ? ti->str : NULL;
    title_len = title ? ti->len : 0;

    int64_t start = *used;
    BIENC_TRY(arena_put(t, cap, used, id, id_len));
    BIENC_TRY(arena_put(t, cap, used, "\t", 1));
    int64_t text_start = *used;
    if (title) {
        BIENC_TRY(arena_put(t, cap, used, title, title_len));
        BIENC_TRY(arena_put(t, cap, used, " ", 1));
    }
    BIENC_TRY(arena_put(t, cap, used, text, text_len));
    /* strip() like BEIR: leading and trailing whitespace of the joined text. */
    int64_t a = text_start, b = *used;
    while (a < b && is_space(t->arena[a])) a++;
    while (b > a && is_space(t->arena[b - 1])) b--;
    memmove(t->arena + text_start, t->arena + a, (size_t)(b - a));
    *used = text_start + (b - a);
    if (*used - start > (int64_t)UINT32_MAX) return data_bad_row(rows, ln->lineno, "row longer than 4 GiB");
    return texts_push(t, (uint64_t)start, id_len, (size_t)(*used - start));
}

int texts_load_jsonl(bienc_texts **out, const char *path, const bienc_read_opts *opts, bienc_read_report *report)
{
    BIENC_ASSERT(out);
    *out = NULL;
    bienc_texts *t;
    BIENC_TRY(texts_new(&t, path ? path : ""));
    data_file file;
    int rc = data_file_open(&file, path);
    if (rc < 0) {
        texts_free(t);
        return rc;
    }
    json_doc *doc = NULL;
    rc = json_doc_new(&doc);
    int64_t *lines = NULL, lines_cap = 0, cap = 0, used = 0;
    data_rows rows;
    data_rows_init(&rows, t->path, opts);
    size_t pos = 0;
    int64_t lineno = 0;
    data_line ln;
    while (rc == 0 && data_next_line(file.base, file.size, &pos, &lineno, &ln)) {
        rc = data_grow((void **)&lines, &lines_cap, t->n + 1, sizeof *lines);
        if (rc < 0) break;
        lines[t->n] = ln.lineno;
        rc = texts_jsonl_row(t, doc, &ln, &rows, &cap, &used);
        if (rc > 0) rc = 0;
    }
    json_free(doc);
    data_file_close(&file);
    t->base = t->arena;
    if (rc == 0) rc = texts_index(t, lines, &rows);
    free(lines);
    if (rc < 0) {
        texts_free(t);
        return rc;
    }
    data_rows_report(&rows, report);
    *out = t;
    return 0;
}

int64_t texts_count(const bienc_texts *t) { return t ? t->n : 0; }

const char *texts_path(const bienc_texts *t) { return t ? t->path : ""; }

int texts_get(const bienc_texts *t, int64_t i, const char **id, size_t *id_len, const char **text, size_t *text_len)
{
    if (!t || i < 0 || i >= t->n)
        return bienc_error(BIENC_ERANGE, "texts: row %lld out of range [0, %lld)", (long long)i,
                           (long long)(t ? t->n : 0));
    const char *row = t->base + t->off[i];
    size_t il = t->id_len[i];
    if (id) *id = row;
    if (id_len) *id_len = il;
    if (text) *text = row + il + 1;
    if (text_len) *text_len = t->len[i] - il - 1;
    return 0;
}

int64_t texts_find(const bienc_texts *t, const char *id, size_t id_len)
{
    if (!t || !id) return -1;
    return data_index_find(&t->ix, t, texts_id, id, id_len);
}
