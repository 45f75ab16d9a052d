/* Teacher scores for MarginMSELoss: a triples file re-written with the cross-encoder's
 * score of (query, positive) and (query, negative) appended to every row (see
 * src/train/teacher.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "train/teacher.h"
#include "train/train_loop.h"
#include "core/atomic_file.h"

/* rows scored per cross_encoder_score call: bounded memory on the 40M-row MS MARCO file */
#define SCORE_CHUNK 8192

int teacher_score_pairs(bienc_cross_encoder *ce, bienc_precision precision, const char *const *q, const size_t *qlens,
                        const char *const *p, const size_t *plens, int64_t n, int batch_size, float *scores)
{
    bienc_tape *tape;
    BIENC_TRY(tape_new(&tape));
    tape_set_precision(tape, train_precision(precision));
    int rc = cross_encoder_score(ce, tape, q, qlens, p, plens, n, batch_size, scores);
    tape_free(tape);
    return rc;
}

/* Text of field k (0 query, 1 positive, 2 negative) of row i: the field itself for text
 * triples, the text behind the id for id triples. An unknown id sets *missing when
 * skip_missing, else is an error naming file and line. */
static int row_text(const bienc_triples *tr, const bienc_texts *queries, const bienc_texts *collection, int64_t i,
                    int k, int skip_missing, int *missing, const char **s, size_t *len)
{
    BIENC_TRY(triples_get(tr, i, k, s, len));
    if (!queries) return 0;
    const bienc_texts *store = k == 0 ? queries : collection;
    int64_t row = texts_find(store, *s, *len);
    if (row < 0 && skip_missing) {
        *missing = 1;
        return 0;
    }
    if (row < 0)
        return bienc_error(BIENC_ENOTFOUND, "%s:%lld: %s '%.*s' is not in %s", triples_path(tr),
                           (long long)triples_line(tr, i), k == 0 ? "qid" : "pid", (int)(*len > 40 ? 40 : *len), *s,
                           texts_path(store));
    const char *id;
    size_t idl;
    return texts_get(store, row, &id, &idl, s, len);
}

int teacher_score_triples(bienc_cross_encoder *ce, bienc_precision precision, const bienc_triples *tr,
                          const bienc_texts *queries, const bienc_texts *collection, int64_t max_rows,
                          int skip_missing, int batch_size, const char *path, FILE *log, int64_t *n_written)
{
    if (n_written) *n_written = 0;
    if (!ce || !tr || !path || (!queries) != (!collection))
        return bienc_error(BIENC_EINVAL, "teacher_score_triples: NULL argument (queries and collection go together)");
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, path));
    FILE *f = out.f;
    int64_t n = triples_count(tr), want = max_rows > 0 ? max_rows : n, written = 0, skipped = 0;
    const char **qt = malloc(2 * SCORE_CHUNK * sizeof *qt), **pt = malloc(2 * SCORE_CHUNK * sizeof *pt);
    size_t *ql = malloc(2 * SCORE_CHUNK * sizeof *ql), *pl = malloc(2 * SCORE_CHUNK * sizeof *pl);
    float *sc = malloc(2 * SCORE_CHUNK * sizeof *sc);
    int64_t *rows = malloc(SCORE_CHUNK * sizeof *rows);
    int rc = qt && pt && ql && pl && sc && rows ? 0 : bienc_error(BIENC_ENOMEM, "teacher_score_triples: out of memory");
    int64_t i = 0;
    while (rc == 0 && i < n && written < want) {
        /* the next chunk of rows whose texts exist: pair 2j = (query, positive), 2j + 1 =
         * (query, negative) */
        int64_t m = 0;
        for (; rc == 0 && i < n && m < SCORE_CHUNK && written + m < want; i++) {
            int missing = 0;
            rc = row_text(tr, queries, collection, i, 0, skip_missing, &missing, &qt[2 * m], &ql[2 * m]);
            if (rc == 0 && !missing)
                rc = row_text(tr, queries, collection, i, 1, skip_missing, &missing, &pt[2 * m], &pl[2 * m]);
            if (rc == 0 && !missing)
                rc = row_text(tr, queries, collection, i, 2, skip_missing, &missing, &pt[2 * m + 1], &pl[2 * m + 1]);
            if (missing) {
                skipped++;
                continue;
            }
            qt[2 * m + 1] = qt[2 * m];
            ql[2 * m + 1] = ql[2 * m];
            rows[m++] = i;
        }
        if (rc == 0) rc = teacher_score_pairs(ce, precision, qt, ql, pt, pl, 2 * m, batch_size, sc);
        for (int64_t j = 0; rc == 0 && j < m; j++) {
            if (!isfinite(sc[2 * j]) || !isfinite(sc[2 * j + 1])) {
                rc = bienc_error(BIENC_ERANGE, "%s: row %lld: the teacher's score is not finite", triples_path(tr),
                                 (long long)rows[j] + 1);
                break;
            }
            const char *s[3];
            size_t len[3];
            for (int k = 0; k < 3; k++) triples_get(tr, rows[j], k, &s[k], &len[k]);
            /* %.9g: a float's exact value survives the round trip */
            fprintf(f, "%.*s\t%.*s\t%.*s\t%.9g\t%.9g\n", (int)len[0], s[0], (int)len[1], s[1], (int)len[2], s[2],
                    (double)sc[2 * j], (double)sc[2 * j + 1]);
        }
        written += m;
        if (rc == 0 && log) fprintf(log, "scored %lld triples (%lld rows read of %lld)\n", (long long)written,
                                    (long long)i, (long long)n);
    }
    if (rc == 0 && skipped && log)
        fprintf(log, "skipped %lld triples with unknown ids\n", (long long)skipped);
    free(qt);
    free(pt);
    free(ql);
    free(pl);
    free(sc);
    free(rows);
    rc = atomic_file_finish(&out, rc);
    if (rc == 0 && n_written) *n_written = written;
    return rc;
}

int teacher_scorer_score(void *ctx, const char *qid, const char *const *pids, int n, float *scores)
{
    bienc_teacher_scorer *ts = ctx;
    const char *id, *qt;
    size_t idl, ql;
    int64_t qrow = texts_find(ts->queries, qid, strlen(qid));
    if (qrow < 0) return bienc_error(BIENC_ENOTFOUND, "query '%s' is not in %s", qid, texts_path(ts->queries));
    BIENC_TRY(texts_get(ts->queries, qrow, &id, &idl, &qt, &ql));
    const char **q = malloc((size_t)n * sizeof *q), **p = malloc((size_t)n * sizeof *p);
    size_t *qlen = malloc((size_t)n * sizeof *qlen), *plen = malloc((size_t)n * sizeof *plen);
    int rc = q && p && qlen && plen ? 0 : bienc_error(BIENC_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        int64_t row = texts_find(ts->collection, pids[i], strlen(pids[i]));
        if (row < 0) {
            rc = bienc_error(BIENC_ENOTFOUND, "passage '%s' is not in %s", pids[i], texts_path(ts->collection));
            break;
        }
        q[i] = qt;
        qlen[i] = ql;
        rc = texts_get(ts->collection, row, &id, &idl, &p[i], &plen[i]);
    }
    if (rc == 0) rc = teacher_score_pairs(ts->ce, ts->precision, q, qlen, p, plen, n, ts->batch_size, scores);
    free(q);
    free(p);
    free(qlen);
    free(plen);
    return rc;
}
