/* Teacher scores for MarginMSELoss: a triples file re-written with the cross-encoder's
 * score of (query, positive) and (query, negative) appended to every row (see
 * include/bienc/teacher.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bienc/error.h"
#include "bienc/teacher.h"

/* rows scored per cross_encoder_score call: bounded memory on the 40M-row MS MARCO file */
#define SCORE_CHUNK 8192

/* Text of field k (0 query, 1 positive, 2 negative) of row i: the field itself for text
 * triples, the text behind the id for id triples. */
static int row_text(const bienc_triples *tr, const bienc_texts *queries, const bienc_texts *collection, int64_t i,
                    int k, const char **s, size_t *len)
{
    BIENC_TRY(triples_get(tr, i, k, s, len));
    if (!queries) return 0;
    const bienc_texts *store = k == 0 ? queries : collection;
    int64_t row = texts_find(store, *s, *len);
    if (row < 0)
        return bienc_error(BIENC_ENOTFOUND, "%s:%lld: %s '%.*s' is not in %s", triples_path(tr),
                           (long long)triples_line(tr, i), k == 0 ? "qid" : "pid", (int)(*len > 40 ? 40 : *len), *s,
                           texts_path(store));
    const char *id;
    size_t idl;
    return texts_get(store, row, &id, &idl, s, len);
}

int teacher_score_triples(bienc_cross_encoder *ce, const bienc_triples *tr, const bienc_texts *queries,
                          const bienc_texts *collection, int64_t max_rows, int batch_size, const char *path, FILE *log)
{
    if (!ce || !tr || !path || (!queries) != (!collection))
        return bienc_error(BIENC_EINVAL, "teacher_score_triples: NULL argument (queries and collection go together)");
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return bienc_error(BIENC_EINVAL, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return bienc_error(BIENC_EIO, "cannot write %s: %s", tmp, strerror(errno));
    int64_t n = triples_count(tr);
    if (max_rows > 0 && max_rows < n) n = max_rows;
    const char **qt = malloc(2 * SCORE_CHUNK * sizeof *qt), **pt = malloc(2 * SCORE_CHUNK * sizeof *pt);
    size_t *ql = malloc(2 * SCORE_CHUNK * sizeof *ql), *pl = malloc(2 * SCORE_CHUNK * sizeof *pl);
    float *sc = malloc(2 * SCORE_CHUNK * sizeof *sc);
    int rc = qt && pt && ql && pl && sc ? 0 : bienc_error(BIENC_ENOMEM, "teacher_score_triples: out of memory");
    for (int64_t start = 0; rc == 0 && start < n; start += SCORE_CHUNK) {
        int64_t m = n - start < SCORE_CHUNK ? n - start : SCORE_CHUNK;
        /* pair 2j = (query, positive), 2j + 1 = (query, negative) */
        for (int64_t j = 0; rc == 0 && j < m; j++) {
            rc = row_text(tr, queries, collection, start + j, 0, &qt[2 * j], &ql[2 * j]);
            qt[2 * j + 1] = qt[2 * j];
            ql[2 * j + 1] = ql[2 * j];
            if (rc == 0) rc = row_text(tr, queries, collection, start + j, 1, &pt[2 * j], &pl[2 * j]);
            if (rc == 0) rc = row_text(tr, queries, collection, start + j, 2, &pt[2 * j + 1], &pl[2 * j + 1]);
        }
        if (rc == 0) rc = cross_encoder_score(ce, NULL, qt, ql, pt, pl, 2 * m, batch_size, sc);
        for (int64_t j = 0; rc == 0 && j < m; j++) {
            const char *s[3];
            size_t len[3];
            for (int k = 0; k < 3; k++) triples_get(tr, start + j, k, &s[k], &len[k]);
            fprintf(f, "%.*s\t%.*s\t%.*s\t%.7g\t%.7g\n", (int)len[0], s[0], (int)len[1], s[1], (int)len[2], s[2],
                    (double)sc[2 * j], (double)sc[2 * j + 1]);
        }
        if (rc == 0 && log) fprintf(log, "scored %lld / %lld triples\n", (long long)(start + m), (long long)n);
    }
    free(qt);
    free(pt);
    free(ql);
    free(pl);
    free(sc);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) rc = rc < 0 ? rc : bienc_error(BIENC_EIO, "error writing %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0) rc = bienc_error(BIENC_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc < 0) remove(tmp);
    return rc;
}
