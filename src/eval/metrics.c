/* Retrieval metrics of a run against qrels (trec_eval's definitions, see metrics.h), and
 * teacher agreement between two runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/eval_internal.h"

static const char *const metric_names[BIENC_METRIC_COUNT] = {
    "mrr@10",      "ndcg@10",     "map@100",     "recall@1",    "recall@5",     "recall@10",
    "recall@100",  "recall@1000", "accuracy@1",  "accuracy@3",  "accuracy@5",   "accuracy@10",
    "precision@1", "precision@3", "precision@5", "precision@10"};

/* Cutoffs of the @k families, in enum order. */
static const int recall_ks[] = {1, 5, 10, 100, 1000};
static const int accuracy_ks[] = {1, 3, 5, 10};
static const int precision_ks[] = {1, 3, 5, 10};
#define METRICS_MAX_DEPTH 1000 /* deepest cutoff: nothing below it matters */

const int bienc_agreement_ks[BIENC_AGREEMENT_NK] = {1, 10, 100};

const char *metrics_name(int metric)
{
    return metric >= 0 && metric < BIENC_METRIC_COUNT ? metric_names[metric] : "?";
}

bienc_eval_options metrics_default_options(void) { return (bienc_eval_options){.min_relevant_grade = 1, .complete = 0}; }

typedef struct eval_scratch {
    char *key;     /* "qid\0docid" lookup key */
    size_t key_cap;
    int *ideal;    /* the query's positive grades, sorted descending */
    size_t ideal_cap;
} eval_scratch;

static int scratch_key(eval_scratch *s, const char *qid, const char *docid, size_t *len)
{
    size_t lq = strlen(qid), ld = strlen(docid);
    if (lq + ld + 1 > s->key_cap) {
        size_t cap = (lq + ld + 1) * 2;
        char *k = realloc(s->key, cap);
        if (!k) return bienc_error(BIENC_ENOMEM, "out of memory evaluating query %s", qid);
        s->key = k;
        s->key_cap = cap;
    }
    memcpy(s->key, qid, lq);
    s->key[lq] = '\0';
    memcpy(s->key + lq + 1, docid, ld);
    *len = lq + ld + 1;
    return 0;
}

/* The grade of a retrieved document; unjudged documents get -1 (never relevant, no gain),
 * as trec_eval's RELVALUE_NONPOOL. */
static int doc_grade(const bienc_qrels *q, eval_scratch *s, const char *qid, const char *docid, int *grade)
{
    size_t len = 0;
    BIENC_TRY(scratch_key(s, qid, docid, &len));
    int64_t v;
    *grade = strmap_get(&q->pairs, s->key, len, &v) ? (int)(int32_t)(uint32_t)(v & 0xffffffff) : -1;
    return 0;
}

static int grade_desc_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

/* Ideal DCG@10: the query's judged grades > 0, best first (trec_eval takes them from all
 * judged documents, not only the retrieved ones). */
static int ideal_dcg10(const qrels_query *qq, eval_scratch *s, double *out)
{
    if (qq->n > s->ideal_cap) {
        int *g = realloc(s->ideal, qq->n * sizeof *g);
        if (!g) return bienc_error(BIENC_ENOMEM, "out of memory evaluating query %s", qq->qid);
        s->ideal = g;
        s->ideal_cap = qq->n;
    }
    size_t m = 0;
    for (size_t i = 0; i < qq->n; i++)
        if (qq->grades[i] > 0) s->ideal[m++] = qq->grades[i];
    qsort(s->ideal, m, sizeof *s->ideal, grade_desc_cmp);
    double idcg = 0.0;
    for (size_t i = 0; i < m && i < 10; i++) idcg += s->ideal[i] / log2((double)i + 2.0);
    *out = idcg;
    return 0;
}

/* One query. rq == NULL: a qrels query missing from the run (complete mode): all zeros. */
static int metrics_query(const bienc_qrels *q, const qrels_query *qq, const run_query *rq, int min_grade,
                         eval_scratch *s, bienc_query_metrics *m)
{
    double *v = m->values;
    memset(v, 0, sizeof m->values);
    size_t num_rel = 0;
    for (size_t i = 0; i < qq->n; i++) num_rel += qq->grades[i] >= min_grade;
    m->num_relevant = num_rel;
    m->num_retrieved = rq ? rq->n : 0;
    if (!rq) return 0;

    /* hits[k] = relevant documents among the top k, for k up to the deepest cutoff. */
    static const size_t depth = METRICS_MAX_DEPTH;
    size_t n = rq->n < depth ? rq->n : depth;
    size_t hits = 0, hits_at[METRICS_MAX_DEPTH + 1];
    double dcg = 0.0, ap_sum = 0.0, rr = 0.0;
    hits_at[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int g;
        BIENC_TRY(doc_grade(q, s, qq->qid, rq->e[i].docid, &g));
        if (i < 10 && g > 0) dcg += g / log2((double)i + 2.0); /* rank i+1: discount log2(rank+1) */
        if (g >= min_grade) {
            hits++;
            if (rr == 0.0 && i < 10) rr = 1.0 / (double)(i + 1);
            if (i < 100) ap_sum += (double)hits / (double)(i + 1);
        }
        hits_at[i + 1] = hits;
    }
    for (size_t i = n; i < depth; i++) hits_at[i + 1] = hits; /* a short run: non-relevant padding */

    double idcg = 0.0;
    BIENC_TRY(ideal_dcg10(qq, s, &idcg));
    v[BIENC_METRIC_MRR10] = rr;
    v[BIENC_METRIC_NDCG10] = idcg > 0.0 ? dcg / idcg : 0.0;
    v[BIENC_METRIC_MAP100] = num_rel ? ap_sum / (double)num_rel : 0.0;
    for (int j = 0; j < 5; j++)
        v[BIENC_METRIC_RECALL1 + j] = num_rel ? (double)hits_at[recall_ks[j]] / (double)num_rel : 0.0;
    for (int j = 0; j < 4; j++) v[BIENC_METRIC_ACCURACY1 + j] = hits_at[accuracy_ks[j]] > 0 ? 1.0 : 0.0;
    for (int j = 0; j < 4; j++)
        v[BIENC_METRIC_PRECISION1 + j] = (double)hits_at[precision_ks[j]] / (double)precision_ks[j];
    return 0;
}

void metrics_result_free(bienc_eval_result *r)
{
    if (!r) return;
    if (r->per_query)
        for (size_t i = 0; i < r->num_queries; i++) free(r->per_query[i].qid);
    free(r->per_query);
    memset(r, 0, sizeof *r);
}

int metrics_evaluate(bienc_run *run, const bienc_qrels *qrels, const bienc_eval_options *opts,
                     bienc_eval_result *out)
{
    BIENC_ASSERT(run && qrels && out);
    memset(out, 0, sizeof *out);
    bienc_eval_options o = opts ? *opts : metrics_default_options();
    if (o.min_relevant_grade < 1)
        return bienc_error(BIENC_EINVAL, "minimum relevant grade must be >= 1, not %d", o.min_relevant_grade);
    BIENC_TRY(run_sort(run));
    out->options = o;
    out->num_qrels_queries = qrels->nq;
    out->num_run_queries = run->nq;
    out->per_query = calloc(qrels->nq ? qrels->nq : 1, sizeof *out->per_query);
    if (!out->per_query) return bienc_error(BIENC_ENOMEM, "out of memory for per-query metrics");

    eval_scratch s = {0};
    int rc = 0;
    for (size_t i = 0; i < qrels->nq && rc == 0; i++) {
        const qrels_query *qq = &qrels->queries[i];
        long ri = run_find_query(run, qq->qid);
        if (ri < 0) {
            out->num_missing_from_run++;
            if (!o.complete) continue; /* trec_eval's default: only queries with results */
        }
        bienc_query_metrics *m = &out->per_query[out->num_queries];
        rc = metrics_query(qrels, qq, ri < 0 ? NULL : &run->queries[ri], o.min_relevant_grade, &s, m);
        if (rc < 0) break;
        m->qid = strdup(qq->qid);
        if (!m->qid) {
            rc = bienc_error(BIENC_ENOMEM, "out of memory for per-query metrics");
            break;
        }
        out->num_queries++;
        out->num_without_relevant += m->num_relevant == 0;
    }
    free(s.key);
    free(s.ideal);
    if (rc < 0) {
        metrics_result_free(out);
        return rc;
    }
    for (size_t i = 0; i < run->nq; i++)
        out->num_unjudged_run_queries += !strmap_get(&qrels->qmap, run->queries[i].qid,
                                                     strlen(run->queries[i].qid), NULL);
    /* Means summed in qrels order: the same result on every machine and thread count. */
    for (int k = 0; k < BIENC_METRIC_COUNT; k++) {
        double sum = 0.0;
        for (size_t i = 0; i < out->num_queries; i++) sum += out->per_query[i].values[k];
        out->mean[k] = out->num_queries ? sum / (double)out->num_queries : 0.0;
    }
    return 0;
}

static int docid_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int metrics_agreement(bienc_run *run, bienc_run *reference, int complete, bienc_agreement *out)
{
    BIENC_ASSERT(run && reference && out);
    memset(out, 0, sizeof *out);
    BIENC_TRY(run_sort(run));
    BIENC_TRY(run_sort(reference));
    int kmax = bienc_agreement_ks[BIENC_AGREEMENT_NK - 1];
    const char **top = malloc((size_t)kmax * sizeof *top);
    if (!top) return bienc_error(BIENC_ENOMEM, "out of memory computing agreement");
    double sum[BIENC_AGREEMENT_NK] = {0};
    for (size_t i = 0; i < reference->nq; i++) {
        const run_query *ref = &reference->queries[i];
        if (ref->n == 0) continue;
        long ri = run_find_query(run, ref->qid);
        if (ri < 0) {
            out->num_missing_from_run++;
            if (complete) out->num_queries++; /* contributes 0 */
            continue;
        }
        const run_query *q = &run->queries[ri];
        for (int j = 0; j < BIENC_AGREEMENT_NK; j++) {
            size_t k = (size_t)bienc_agreement_ks[j];
            size_t nref = ref->n < k ? ref->n : k, nrun = q->n < k ? q->n : k, hits = 0;
            for (size_t t = 0; t < nref; t++) top[t] = ref->e[t].docid;
            qsort(top, nref, sizeof *top, docid_ptr_cmp);
            for (size_t t = 0; t < nrun; t++)
                hits += bsearch(&q->e[t].docid, top, nref, sizeof *top, docid_ptr_cmp) != NULL;
            sum[j] += (double)hits / (double)nref;
        }
        out->num_queries++;
    }
    free(top);
    for (int j = 0; j < BIENC_AGREEMENT_NK; j++)
        out->recall[j] = out->num_queries ? sum[j] / (double)out->num_queries : 0.0;
    return 0;
}
