/* Reranking a run with the cross-encoder teacher (see src/train/teacher.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/teacher.h"

int teacher_rerank(bienc_cross_encoder *ce, bienc_precision precision, bienc_run *run, const bienc_texts *queries,
                   const bienc_texts *collection, int top, int batch_size, const char *name, bienc_run **out)
{
    if (out) *out = NULL;
    if (!ce || !run || !queries || !collection || !out || top < 1)
        return bienc_error(BIENC_EINVAL, "teacher_rerank: NULL argument or top < 1");
    BIENC_TRY(run_sort(run));
    size_t nq = run_num_queries(run);
    int64_t n = 0;
    for (size_t qi = 0; qi < nq; qi++) {
        size_t m = run_query_size(run, qi);
        n += (int64_t)(m < (size_t)top ? m : (size_t)top);
    }
    const char **qt = malloc((size_t)(n ? n : 1) * sizeof *qt), **pt = malloc((size_t)(n ? n : 1) * sizeof *pt);
    size_t *ql = malloc((size_t)(n ? n : 1) * sizeof *ql), *pl = malloc((size_t)(n ? n : 1) * sizeof *pl);
    float *scores = malloc((size_t)(n ? n : 1) * sizeof *scores);
    int rc = qt && pt && ql && pl && scores ? 0 : bienc_error(BIENC_ENOMEM, "rerank: out of memory for %lld pairs", (long long)n);
    /* every (query, candidate) pair, in run order, scored in one call (sorted by length inside) */
    int64_t k = 0;
    for (size_t qi = 0; rc == 0 && qi < nq; qi++) {
        const char *qid = run_query_id(run, qi), *id;
        size_t idl;
        int64_t qrow = texts_find(queries, qid, strlen(qid));
        if (qrow < 0) {
            rc = bienc_error(BIENC_ENOTFOUND, "rerank: query '%s' of the run is not in %s", qid, texts_path(queries));
            break;
        }
        const char *text;
        size_t tl;
        rc = texts_get(queries, qrow, &id, &idl, &text, &tl);
        size_t m = run_query_size(run, qi);
        for (size_t j = 0; rc == 0 && j < m && j < (size_t)top; j++, k++) {
            const char *pid = run_doc_id(run, qi, j);
            int64_t prow = texts_find(collection, pid, strlen(pid));
            if (prow < 0) {
                rc = bienc_error(BIENC_ENOTFOUND, "rerank: document '%s' (query '%s') is not in %s", pid, qid,
                                 texts_path(collection));
                break;
            }
            qt[k] = text;
            ql[k] = tl;
            rc = texts_get(collection, prow, &id, &idl, &pt[k], &pl[k]);
        }
    }
    if (rc == 0) rc = teacher_score_pairs(ce, precision, qt, ql, pt, pl, n, batch_size, scores);
    bienc_run *r = NULL;
    if (rc == 0) rc = run_new(&r, name ? name : "teacher");
    k = 0;
    for (size_t qi = 0; rc == 0 && qi < nq; qi++) {
        size_t m = run_query_size(run, qi);
        for (size_t j = 0; rc == 0 && j < m && j < (size_t)top; j++, k++)
            rc = run_add(r, run_query_id(run, qi), run_doc_id(run, qi, j), scores[k]);
    }
    if (rc == 0) rc = run_sort(r);
    free(qt);
    free(pt);
    free(ql);
    free(pl);
    free(scores);
    if (rc < 0) {
        run_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
