/* Hard-negative mining from retrieval runs: the documents a retriever ranks high for a query
 * that the qrels do not mark relevant, written as sentence-transformers' hard-negative JSON
 * lines (the trainer's data.format hard_negatives; src/eval/metrics.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "text/json.h"
#include "core/rng.h"
#include "core/atomic_file.h"
#include "eval/eval_internal.h"

bienc_mine_opts mine_default_opts(void)
{
    bienc_mine_opts o = {.range_min = 0, .range_max = 100, .num_negatives = 8, .random = 0, .seed = 42,
                         .min_grade = 1, .margin = 0};
    return o;
}

typedef struct mine_query {
    const char **cand; /* candidates of one run, rank order */
    float *score;      /* their guard scores */
    const char **pos;
    int n_pos;
} mine_query;

/* 1 when docid is judged relevant for the query (any positive). */
static int is_positive(const mine_query *m, const char *docid)
{
    for (int i = 0; i < m->n_pos; i++)
        if (strcmp(m->pos[i], docid) == 0) return 1;
    return 0;
}

/* 1 when docid is among the n negatives already chosen for this query (any run). */
static int is_chosen(const char **chosen, int n, const char *docid)
{
    for (int i = 0; i < n; i++)
        if (strcmp(chosen[i], docid) == 0) return 1;
    return 0;
}

static int check_opts(const bienc_mine_opts *o)
{
    if (o->range_min < 0 || o->range_max < 0 || (o->range_max > 0 && o->range_max <= o->range_min))
        return bienc_error(BIENC_EINVAL, "mine: the rank range [%d, %d) is empty", o->range_min, o->range_max);
    if (o->num_negatives < 0) return bienc_error(BIENC_EINVAL, "mine: num_negatives must be >= 0");
    if (o->min_grade < 1) return bienc_error(BIENC_EINVAL, "mine: min_grade must be >= 1");
    return 0;
}

int mine_hard_negatives(bienc_run *const *runs, int n_runs, const bienc_qrels *qrels, const bienc_mine_opts *o,
                        bienc_mine_scorer scorer, void *scorer_ctx, const char *path, int64_t *n_rows,
                        int64_t *n_negs)
{
    if (!runs || n_runs < 1 || !qrels || !o || !path) return bienc_error(BIENC_EINVAL, "mine_hard_negatives: NULL argument");
    BIENC_TRY(check_opts(o));
    for (int i = 0; i < n_runs; i++) BIENC_TRY(run_sort(runs[i]));
    /* widest candidate list of any query of any run */
    size_t maxc = 0;
    for (int i = 0; i < n_runs; i++)
        for (size_t q = 0; q < run_num_queries(runs[i]); q++)
            if (run_query_size(runs[i], q) > maxc) maxc = run_query_size(runs[i], q);
    mine_query m = {0};
    m.cand = malloc((maxc + 1) * sizeof *m.cand);
    m.score = malloc((maxc + 1) * sizeof *m.score);
    const char **chosen = malloc(((size_t)n_runs * (maxc + 1)) * sizeof *chosen);
    const char **pos = NULL;
    size_t pos_cap = 0;
    FILE *f = NULL;
    atomic_file out = {0};
    int rc = m.cand && m.score && chosen ? 0 : bienc_error(BIENC_ENOMEM, "mine: out of memory");
    if (rc == 0 && (rc = atomic_file_open(&out, path)) == 0) f = out.f;
    int64_t rows = 0, negs = 0;
    bienc_rng rng;
    rng_seed(&rng, o->seed);
    for (size_t qi = 0; rc == 0 && qi < qrels_num_queries(qrels); qi++) {
        const char *qid = qrels_query_id(qrels, qi);
        const char *const *docids;
        const int *grades;
        size_t nj = qrels_query_judgments(qrels, qi, &docids, &grades);
        if (nj > pos_cap) {
            const char **p = realloc(pos, nj * sizeof *p);
            if (!p) {
                rc = bienc_error(BIENC_ENOMEM, "mine: out of memory");
                break;
            }
            pos = p;
            pos_cap = nj;
        }
        m.pos = pos;
        m.n_pos = 0;
        for (size_t j = 0; j < nj; j++)
            if (grades[j] >= o->min_grade) pos[m.n_pos++] = docids[j];
        if (m.n_pos == 0) continue;
        /* the guard's bar: the best positive's score minus the margin */
        float bar = 0;
        if (scorer) {
            float *ps = malloc((size_t)m.n_pos * sizeof *ps);
            if (!ps) rc = bienc_error(BIENC_ENOMEM, "mine: out of memory");
            if (rc == 0) rc = scorer(scorer_ctx, qid, m.pos, m.n_pos, ps);
            bar = ps ? ps[0] : 0;
            for (int j = 1; rc == 0 && j < m.n_pos; j++)
                if (ps[j] > bar) bar = ps[j];
            bar -= (float)o->margin;
            free(ps);
        }
        int n_chosen = 0, first = 1;
        for (int ri = 0; rc == 0 && ri < n_runs; ri++) {
            long rq = run_find_query(runs[ri], qid);
            if (rq < 0) continue;
            size_t end = run_query_size(runs[ri], (size_t)rq);
            if (o->range_max > 0 && end > (size_t)o->range_max) end = (size_t)o->range_max;
            int nc = 0;
            for (size_t r = (size_t)o->range_min; r < end; r++) {
                const char *d = run_doc_id(runs[ri], (size_t)rq, r);
                if (!is_positive(&m, d) && !is_chosen(chosen, n_chosen, d)) m.cand[nc++] = d;
            }
            if (scorer && nc > 0) {
                rc = scorer(scorer_ctx, qid, m.cand, nc, m.score);
                int kept = 0;
                for (int j = 0; rc == 0 && j < nc; j++)
                    if (m.score[j] < bar) m.cand[kept++] = m.cand[j];
                nc = kept;
            }
            int take = o->num_negatives > 0 && o->num_negatives < nc ? o->num_negatives : nc;
            if (o->random) /* a partial Fisher-Yates shuffle picks `take` of the nc, then rank order */
                for (int j = 0; j < take; j++) {
                    int k = j + (int)rng_below(&rng, (uint64_t)(nc - j));
                    const char *t = m.cand[j];
                    m.cand[j] = m.cand[k];
                    m.cand[k] = t;
                }
            if (take == 0 || rc < 0) continue;
            if (first) {
                fputs("{\"qid\": ", f);
                json_write_string(f, qid);
                fputs(", \"pos\": [", f);
                for (int j = 0; j < m.n_pos; j++) {
                    if (j) fputs(", ", f);
                    json_write_string(f, m.pos[j]);
                }
                fputs("], \"neg\": {", f);
                first = 0;
            } else {
                fputs(", ", f);
            }
            json_write_string(f, run_name(runs[ri]) && *run_name(runs[ri]) ? run_name(runs[ri]) : "run");
            fputs(": [", f);
            for (int j = 0; j < take; j++) {
                if (j) fputs(", ", f);
                json_write_string(f, m.cand[j]);
                chosen[n_chosen++] = m.cand[j];
            }
            fputc(']', f);
        }
        if (!first) {
            fputs("}}\n", f);
            rows++;
            negs += n_chosen;
        }
    }
    if (f) rc = atomic_file_finish(&out, rc);
    free(m.cand);
    free(m.score);
    free(chosen);
    free(pos);
    if (rc == 0 && n_rows) *n_rows = rows;
    if (rc == 0 && n_negs) *n_negs = negs;
    return rc;
}
