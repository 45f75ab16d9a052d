/* Fusion of runs (hybrid retrieval): reciprocal-rank fusion and a linear fusion of min-max
 * normalised scores, per query (src/eval/metrics.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/eval_internal.h"

bienc_fusion_opts fusion_default_opts(void)
{
    bienc_fusion_opts o = {.method = BIENC_FUSION_RRF, .rrf_k = 60, .weights = NULL, .depth = 0, .k = 0};
    return o;
}

typedef struct fused_doc {
    const char *docid; /* owned by the input run */
    double score;
} fused_doc;

static int by_docid(const void *a, const void *b)
{
    return strcmp(((const fused_doc *)a)->docid, ((const fused_doc *)b)->docid);
}

/* One run's contributions for query qi, appended to *docs. */
static int add_contributions(bienc_run *r, size_t qi, const bienc_fusion_opts *o, double w, fused_doc **docs,
                             size_t *n, size_t *cap)
{
    size_t m = run_query_size(r, qi);
    if (o->depth > 0 && m > (size_t)o->depth) m = (size_t)o->depth;
    if (m == 0) return 0;
    double hi = run_doc_score(r, qi, 0), lo = run_doc_score(r, qi, m - 1);
    if (*n + m > *cap) {
        size_t c = (*n + m) * 2;
        fused_doc *d = realloc(*docs, c * sizeof *d);
        if (!d) return bienc_error(BIENC_ENOMEM, "run_fuse: out of memory");
        *docs = d;
        *cap = c;
    }
    for (size_t j = 0; j < m; j++) {
        double v;
        if (o->method == BIENC_FUSION_RRF)
            v = 1.0 / (o->rrf_k + (double)(j + 1));
        else /* a query whose scores are all equal gives each document 1 */
            v = hi > lo ? (run_doc_score(r, qi, j) - lo) / (hi - lo) : 1.0;
        (*docs)[(*n)++] = (fused_doc){.docid = run_doc_id(r, qi, j), .score = w * v};
    }
    return 0;
}

int run_fuse(bienc_run *const *runs, int n, const bienc_fusion_opts *o, const char *name, bienc_run **out)
{
    if (!runs || n < 1 || !o || !out) return bienc_error(BIENC_EINVAL, "run_fuse: NULL argument or no run");
    if (o->method == BIENC_FUSION_RRF && !(o->rrf_k >= 0))
        return bienc_error(BIENC_EINVAL, "run_fuse: rrf_k must be >= 0, got %g", o->rrf_k);
    for (int i = 0; i < n; i++) {
        if (o->weights && !isfinite(o->weights[i]))
            return bienc_error(BIENC_EINVAL, "run_fuse: weight %d is not finite", i + 1);
        BIENC_TRY(run_sort(runs[i]));
    }
    BIENC_TRY(run_new(out, name));
    /* queries in first-seen order over the runs */
    strmap seen;
    memset(&seen, 0, sizeof seen);
    fused_doc *docs = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        for (size_t qi = 0; rc == 0 && qi < run_num_queries(runs[i]); qi++) {
            const char *qid = run_query_id(runs[i], qi);
            rc = strmap_put(&seen, qid, strlen(qid), 0, NULL, NULL);
            if (rc == 1) { /* fused already, from an earlier run */
                rc = 0;
                continue;
            }
            size_t nd = 0;
            for (int j = 0; rc == 0 && j < n; j++) {
                long qj = run_find_query(runs[j], qid);
                if (qj >= 0) rc = add_contributions(runs[j], (size_t)qj, o, o->weights ? o->weights[j] : 1.0, &docs, &nd, &cap);
            }
            if (rc < 0 || nd == 0) continue;
            qsort(docs, nd, sizeof *docs, by_docid);
            for (size_t a = 0; rc == 0 && a < nd;) {
                size_t b = a;
                double s = 0;
                for (; b < nd && strcmp(docs[b].docid, docs[a].docid) == 0; b++) s += docs[b].score;
                rc = run_add((*out), qid, docs[a].docid, s);
                a = b;
            }
        }
    }
    free(docs);
    strmap_free(&seen);
    if (rc == 0) rc = run_sort(*out);
    if (rc == 0 && o->k > 0) rc = run_truncate(*out, (size_t)o->k);
    if (rc < 0) {
        run_free(*out);
        *out = NULL;
    }
    return rc;
}
