/* Triples files: text triples (query\tpositive\tnegative, MS MARCO triples.train.small.tsv)
 * and id triples (qid\tpos_pid\tneg_pid). The file stays mapped; a row is its line's
 * offset and length (12 bytes), fields are found again on access.
 *
 * Teacher scores (for MarginMSELoss) may follow as extra columns, the same number on
 * every row: one column is the margin score(q, pos) - score(q, neg), two columns are the
 * two scores. They are parsed once and kept as one float per row. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "core/error.h"
#include "data/data_internal.h"

struct bienc_triples {
    data_file file;
    uint64_t *off;
    uint32_t *len;
    int64_t *line;   /* id triples: source line of each row (for messages when ids are resolved) */
    float *margin;   /* teacher margin per row, NULL when the file has no score columns */
    int n_scores;    /* score columns per row: 0, 1 (margin) or 2 (positive and negative score); -1 unknown yet */
    int64_t n;
};

void triples_free(bienc_triples *t)
{
    if (!t) return;
    data_file_close(&t->file);
    free(t->off);
    free(t->len);
    free(t->line);
    free(t->margin);
    free(t);
}

/* A finite float filling the whole field, or the reason it is not one. */
static const char *parse_score(const char *s, size_t len, float *out)
{
    char buf[64];
    if (len == 0) return "empty";
    if (len >= sizeof buf) return "too long for a number";
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len) return "not a number";
    /* bounded so that MarginMSELoss, which squares margins, stays finite */
    if (errno == ERANGE || !isfinite(v) || fabs(v) > 1e6) return "not a finite number within +-1e6";
    *out = (float)v;
    return NULL;
}

/* Checks one row; *margin gets its teacher margin when the file has score columns
 * (t->n_scores, fixed by the first good row). */
static int check_row(const data_line *ln, int ids, data_rows *rows, int *n_scores, float *margin)
{
    const char *f[5];
    size_t fl[5];
    int nf = data_split_tabs(ln->p, ln->len, f, fl, 5);
    if (nf < 3 || nf > 5)
        return data_bad_row(rows, ln->lineno, "expected 3 tab-separated fields (or 4-5 with teacher scores), found %d", nf);
    if (*n_scores >= 0 && nf != 3 + *n_scores)
        return data_bad_row(rows, ln->lineno, "%d fields, but the rows before have %d", nf, 3 + *n_scores);
    if (ln->len > UINT32_MAX) return data_bad_row(rows, ln->lineno, "line longer than 4 GiB");
    float sc[2] = {0, 0};
    for (int k = 3; k < nf; k++) {
        const char *why = parse_score(f[k], fl[k], &sc[k - 3]);
        if (why)
            return data_bad_row(rows, ln->lineno, "teacher score in field %d '%.*s': %s", k + 1,
                                (int)(fl[k] > 40 ? 40 : fl[k]), f[k], why);
    }
    *margin = nf == 4 ? sc[0] : sc[0] - sc[1];
    if (ids) {
        static const char *names[3] = {"qid", "positive pid", "negative pid"};
        for (int k = 0; k < 3; k++) {
            const char *why = data_id_problem(f[k], fl[k], rows->numeric_ids);
            if (why)
                return data_bad_row(rows, ln->lineno, "bad %s '%.*s': %s", names[k], (int)(fl[k] > 40 ? 40 : fl[k]),
                                    f[k], why);
        }
    }
    return 0;
}

int triples_load(bienc_triples **out, const char *path, int ids, const bienc_read_opts *opts,
                 bienc_read_report *report)
{
    BIENC_ASSERT(out);
    *out = NULL;
    bienc_triples *t = calloc(1, sizeof *t);
    if (!t) return bienc_error(BIENC_ENOMEM, "out of memory");
    int rc = data_file_open(&t->file, path);
    data_rows rows;
    data_rows_init(&rows, t->file.path ? t->file.path : "", opts);
    int64_t cap = 0;
    size_t pos = 0;
    int64_t lineno = 0;
    data_line ln;
    t->n_scores = -1;
    while (rc == 0 && data_next_line(t->file.base, t->file.size, &pos, &lineno, &ln)) {
        float margin = 0;
        rc = check_row(&ln, ids, &rows, &t->n_scores, &margin);
        if (rc != 0) {
            if (rc > 0) rc = 0;
            continue;
        }
        if (t->n_scores < 0) {
            const char *f[5];
            size_t fl[5];
            t->n_scores = data_split_tabs(ln.p, ln.len, f, fl, 5) - 3;
        }
        if (t->n == cap) {
            int64_t c1 = cap, c2 = cap, c3 = cap, c4 = cap;
            if ((rc = data_grow((void **)&t->off, &c1, t->n + 1, sizeof *t->off)) < 0 ||
                (rc = data_grow((void **)&t->len, &c2, t->n + 1, sizeof *t->len)) < 0 ||
                (ids && (rc = data_grow((void **)&t->line, &c3, t->n + 1, sizeof *t->line)) < 0) ||
                (t->n_scores > 0 && (rc = data_grow((void **)&t->margin, &c4, t->n + 1, sizeof *t->margin)) < 0))
                break;
            cap = c1;
        }
        t->off[t->n] = ln.off;
        t->len[t->n] = (uint32_t)ln.len;
        if (ids) t->line[t->n] = ln.lineno;
        if (t->n_scores > 0) t->margin[t->n] = margin;
        t->n++;
    }
    if (t->n_scores < 0) t->n_scores = 0;
    if (rc < 0) {
        triples_free(t);
        return rc;
    }
    rows.rep.n_rows = t->n;
    data_rows_report(&rows, report);
    *out = t;
    return 0;
}

int64_t triples_count(const bienc_triples *t) { return t ? t->n : 0; }

int triples_has_margins(const bienc_triples *t) { return t && t->margin != NULL; }

float triples_margin(const bienc_triples *t, int64_t i)
{
    return t && t->margin && i >= 0 && i < t->n ? t->margin[i] : 0.0f;
}

const char *triples_path(const bienc_triples *t) { return t && t->file.path ? t->file.path : ""; }

int64_t triples_line(const bienc_triples *t, int64_t i) { return t && t->line && i >= 0 && i < t->n ? t->line[i] : 0; }

int triples_get(const bienc_triples *t, int64_t i, int k, const char **s, size_t *len)
{
    if (!t || i < 0 || i >= t->n || k < 0 || k > 2)
        return bienc_error(BIENC_ERANGE, "triples: row %lld field %d out of range (%lld rows)", (long long)i, k,
                           (long long)(t ? t->n : 0));
    const char *f[5];
    size_t fl[5];
    data_split_tabs(t->file.base + t->off[i], t->len[i], f, fl, 5);
    *s = f[k];
    *len = fl[k];
    return 0;
}
