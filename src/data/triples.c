/* Triples files: text triples (query\tpositive\tnegative, MS MARCO triples.train.small.tsv)
 * and id triples (qid\tpos_pid\tneg_pid). The file stays mapped; a row is its line's
 * offset and length (12 bytes), fields are found again on access. */
#include <stdlib.h>
#include <string.h>

#include "bienc/data.h"
#include "bienc/error.h"
#include "data/data_internal.h"

struct bienc_triples {
    data_file file;
    uint64_t *off;
    uint32_t *len;
    int64_t *line;   /* id triples: source line of each row (for messages when ids are resolved) */
    int64_t n;
};

void triples_free(bienc_triples *t)
{
    if (!t) return;
    data_file_close(&t->file);
    free(t->off);
    free(t->len);
    free(t->line);
    free(t);
}

static int check_row(const data_line *ln, int ids, data_rows *rows)
{
    const char *f[3];
    size_t fl[3];
    int nf = data_split_tabs(ln->p, ln->len, f, fl, 3);
    if (nf != 3) return data_bad_row(rows, ln->lineno, "expected 3 tab-separated fields, found %d", nf);
    if (ln->len > UINT32_MAX) return data_bad_row(rows, ln->lineno, "line longer than 4 GiB");
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
    if (!out) return bienc_error(BIENC_EINVAL, "triples_load: NULL argument");
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
    while (rc == 0 && data_next_line(t->file.base, t->file.size, &pos, &lineno, &ln)) {
        rc = check_row(&ln, ids, &rows);
        if (rc != 0) {
            if (rc > 0) rc = 0;
            continue;
        }
        if (t->n == cap) {
            int64_t c1 = cap, c2 = cap, c3 = cap;
            if ((rc = data_grow((void **)&t->off, &c1, t->n + 1, sizeof *t->off)) < 0 ||
                (rc = data_grow((void **)&t->len, &c2, t->n + 1, sizeof *t->len)) < 0 ||
                (ids && (rc = data_grow((void **)&t->line, &c3, t->n + 1, sizeof *t->line)) < 0))
                break;
            cap = c1;
        }
        t->off[t->n] = ln.off;
        t->len[t->n] = (uint32_t)ln.len;
        if (ids) t->line[t->n] = ln.lineno;
        t->n++;
    }
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

const char *triples_path(const bienc_triples *t) { return t && t->file.path ? t->file.path : ""; }

int64_t triples_line(const bienc_triples *t, int64_t i) { return t && t->line && i >= 0 && i < t->n ? t->line[i] : 0; }

int triples_get(const bienc_triples *t, int64_t i, int k, const char **s, size_t *len)
{
    if (!t || i < 0 || i >= t->n || k < 0 || k > 2)
        return bienc_error(BIENC_ERANGE, "triples: row %lld field %d out of range (%lld rows)", (long long)i, k,
                           (long long)(t ? t->n : 0));
    const char *f[3];
    size_t fl[3];
    data_split_tabs(t->file.base + t->off[i], t->len[i], f, fl, 3);
    *s = f[k];
    *len = fl[k];
    return 0;
}
