/* Reranking a run with the teacher, a cross-encoder or a late-interaction model (see
 * src/train/teacher.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/cross_io.h"
#include "io/model_io.h"
#include "model/late_interaction.h"
#include "train/teacher.h"
#include "train/train_loop.h"

int reranker_load(const char *path, bienc_reranker *out)
{
    BIENC_ASSERT(path && out);
    memset(out, 0, sizeof *out);
    bienc_ckpt *c;
    BIENC_TRY(ckpt_open(&c, path));
    char *kind = NULL;
    int rc = ckpt_has_attr(c, "model/kind") ? ckpt_read_string(c, "model/kind", &kind)
                                            : bienc_error(BIENC_EFORMAT, "%s: not a model checkpoint (no model/kind)", path);
    ckpt_close(c);
    if (rc < 0) return rc;
    if (strcmp(kind, "cross_encoder") == 0) rc = cross_io_load(path, &out->ce);
    else if (strcmp(kind, "late_interaction") == 0) rc = model_io_load(path, &out->late);
    else
        rc = bienc_error(BIENC_EFORMAT, "%s: model/kind is '%s'; a reranker is a cross_encoder or a late_interaction model",
                         path, kind);
    free(kind);
    return rc;
}

void reranker_free(bienc_reranker *r)
{
    if (!r) return;
    cross_encoder_free(r->ce);
    biencoder_free(r->late);
    r->ce = NULL;
    r->late = NULL;
}

int teacher_rerank(const bienc_reranker *t, bienc_precision precision, bienc_run *run, const bienc_texts *queries,
                   const bienc_texts *collection, int top, int batch_size, const char *name, bienc_run **out)
{
    if (out) *out = NULL;
    if (!t || !t->ce == !t->late || !run || !queries || !collection || !out || top < 1)
        return bienc_error(BIENC_EINVAL, "teacher_rerank: NULL argument, not exactly one model, or top < 1");
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
    if (rc == 0 && t->ce) rc = teacher_score_pairs(t->ce, precision, qt, ql, pt, pl, n, batch_size, scores);
    if (rc == 0 && t->late)
        rc = late_score_pairs(t->late, train_precision(precision), qt, ql, pt, pl, n, batch_size, scores);
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
