/* Evaluation on the dev set during training: encode the selected dev queries and the eval
 * corpus with the current model, exact top-k search, MRR@10 / Recall@10 / nDCG@10 / MAP@100
 * against the dev qrels (metrics.h).
 *
 * To keep an evaluation fast on large collections, the eval corpus is every passage judged
 * relevant for a selected query plus the first `max_passages` rows of the collection (MS
 * MARCO and the Debian set store passages in an order unrelated to the queries, so the
 * first rows are a fair sample of distractors). eval.max_queries caps the queries (the
 * first ones of the dev file that have a relevant passage). The numbers are therefore
 * those of a smaller, easier corpus than the full one: comparable across a run's steps,
 * not with full-collection figures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "index/exact.h"
#include "index/hnsw.h"
#include "core/cpu.h"
#include "train/dev_set.h"
#include "train/trainer_internal.h"
#include "core/os.h"

void trainer_eval_free(trainer_eval *ev)
{
    if (!ev) return;
    texts_free(ev->queries);
    if (ev->own_collection) texts_free(ev->collection);
    qrels_free(ev->qrels);
    for (int64_t i = 0; ev->qid && i < ev->nq; i++) free(ev->qid[i]);
    for (int64_t i = 0; ev->pid && i < ev->np; i++) free(ev->pid[i]);
    free(ev->qid);
    free(ev->pid);
    free(ev->qtext);
    free(ev->ptext);
    free(ev->qlen);
    free(ev->plen);
    free(ev->qemb);
    free(ev->pemb);
    memset(ev, 0, sizeof *ev);
}

static int metric_of(const bienc_run_config *cfg)
{
    if (cfg->loss.name == BIENC_LOSS_TRIPLET)
        return cfg->loss.distance == BIENC_DIST_EUCLIDEAN ? BIENC_INDEX_L2 : BIENC_INDEX_COSINE;
    if (cfg->loss.name == BIENC_LOSS_MARGIN_MSE || cfg->loss.similarity == BIENC_SIM_DOT) return BIENC_INDEX_IP;
    return BIENC_INDEX_COSINE;
}

/* Selects the queries and the corpus rows (marks), then gathers their views. */
static int eval_select(trainer_eval *ev, const bienc_run_config *cfg, int64_t max_passages)
{
    bienc_qrels *qrels = NULL;
    BIENC_TRY(qrels_read(cfg->data.dev_qrels, &qrels));
    int64_t nqs = texts_count(ev->queries), ncs = texts_count(ev->collection), taken = 0;
    unsigned char *qmark = calloc((size_t)nqs + 1, 1), *pmark = calloc((size_t)ncs + 1, 1);
    int rc = qmark && pmark ? 0 : bienc_error(BIENC_ENOMEM, "eval: out of memory");
    if (rc == 0) {
        /* the corpus: the selected queries' relevant passages + the first max_passages rows */
        taken = dev_set_select(qrels, ev->queries, ev->collection, cfg->eval.max_queries, qmark);
        dev_set_mark_relevant(qrels, ev->queries, qmark, ev->collection, pmark);
        for (int64_t d = 0; d < ncs && (max_passages <= 0 || d < max_passages); d++) pmark[d] = 1;
    }
    qrels_free(qrels);

    int64_t np = 0;
    for (int64_t d = 0; d < ncs; d++) np += pmark[d];
    ev->qtext = calloc((size_t)taken + 1, sizeof *ev->qtext);
    ev->qlen = calloc((size_t)taken + 1, sizeof *ev->qlen);
    ev->qid = calloc((size_t)taken + 1, sizeof *ev->qid);
    ev->ptext = calloc((size_t)np + 1, sizeof *ev->ptext);
    ev->plen = calloc((size_t)np + 1, sizeof *ev->plen);
    ev->pid = calloc((size_t)np + 1, sizeof *ev->pid);
    if (!ev->qtext || !ev->qlen || !ev->qid || !ev->ptext || !ev->plen || !ev->pid)
        rc = bienc_error(BIENC_ENOMEM, "eval: out of memory");
    for (int64_t q = 0; rc == 0 && q < nqs; q++) {
        if (!qmark[q]) continue;
        const char *id;
        size_t idl;
        rc = texts_get(ev->queries, q, &id, &idl, &ev->qtext[ev->nq], &ev->qlen[ev->nq]);
        if (rc == 0 && !(ev->qid[ev->nq++] = strndup(id, idl))) rc = bienc_error(BIENC_ENOMEM, "eval: out of memory");
    }
    for (int64_t d = 0; rc == 0 && d < ncs; d++) {
        if (!pmark[d]) continue;
        const char *id;
        size_t idl;
        rc = texts_get(ev->collection, d, &id, &idl, &ev->ptext[ev->np], &ev->plen[ev->np]);
        if (rc == 0 && !(ev->pid[ev->np++] = strndup(id, idl))) rc = bienc_error(BIENC_ENOMEM, "eval: out of memory");
    }
    free(qmark);
    free(pmark);
    return rc;
}

int trainer_eval_init(trainer_eval *ev, const bienc_run_config *cfg, trainer_data *d, int64_t max_passages, FILE *log)
{
    memset(ev, 0, sizeof *ev);
    const bienc_cfg_data *c = &cfg->data;
    if (!c->dev_queries || !c->dev_qrels || !c->collection) {
        if (log) fprintf(log, "eval: no dev set (data.dev_queries, data.dev_qrels and data.collection): not evaluating\n");
        return 0;
    }
    bienc_read_opts ro = {.skip_malformed = c->skip_malformed, .numeric_ids = 0};
    if (d->collection) {
        ev->collection = d->collection;
    } else {
        BIENC_TRY(trainer_load_texts(&ev->collection, c->collection, &ro));
        ev->own_collection = 1;
    }
    BIENC_TRY(trainer_load_texts(&ev->queries, c->dev_queries, &ro));
    BIENC_TRY(qrels_read(c->dev_qrels, &ev->qrels));
    BIENC_TRY(eval_select(ev, cfg, max_passages));
    if (ev->nq == 0) {
        if (log) fprintf(log, "eval: no dev query has a relevant passage in the collection: not evaluating\n");
        return 0;
    }
    ev->metric = metric_of(cfg);
    ev->k = 10;
    for (int i = 0; i < cfg->eval.k.n; i++)
        if (cfg->eval.k.v[i] > ev->k && cfg->eval.k.v[i] <= 100) ev->k = (int)cfg->eval.k.v[i];
    ev->enabled = 1;
    return 0;
}

int trainer_eval_run(trainer_eval *ev, bienc_biencoder *bi, bienc_tape *tape, int batch_size, trainer_eval_scores *s)
{
    memset(s, 0, sizeof *s);
    if (!ev->enabled) return bienc_error(BIENC_ESTATE, "eval: no dev set");
    double t0 = os_now();
    int C = biencoder_dim(bi);
    if (!ev->qemb) ev->qemb = malloc((size_t)ev->nq * C * sizeof(float));
    if (!ev->pemb) ev->pemb = malloc((size_t)ev->np * C * sizeof(float));
    int k = ev->k < ev->np ? ev->k : (int)ev->np;
    int64_t *ids = malloc((size_t)ev->nq * k * sizeof *ids);
    float *scores = malloc((size_t)ev->nq * k * sizeof *scores);
    int rc = ev->qemb && ev->pemb && ids && scores ? 0 : bienc_error(BIENC_ENOMEM, "eval: out of memory");
    if (rc == 0)
        rc = biencoder_encode_texts(bi, tape, ev->qtext, ev->qlen, ev->nq, BIENC_SIDE_QUERY, batch_size, ev->qemb);
    if (rc == 0)
        rc = biencoder_encode_texts(bi, tape, ev->ptext, ev->plen, ev->np, BIENC_SIDE_PASSAGE, batch_size, ev->pemb);
    if (rc == 0)
        rc = exact_search(ev->pemb, ev->np, C, C, ev->metric, 0, NULL, ev->qemb, ev->nq, k, cpu_get_threads(), ids,
                          scores);
    bienc_run *run = NULL;
    if (rc == 0) rc = run_new(&run, "bienc-train");
    for (int64_t q = 0; rc == 0 && q < ev->nq; q++)
        for (int j = 0; rc == 0 && j < k; j++) {
            int64_t id = ids[q * k + j];
            if (id < 0 || !isfinite(scores[q * k + j])) continue;
            rc = run_add(run, ev->qid[q], ev->pid[id], scores[q * k + j]);
        }
    bienc_eval_result res;
    memset(&res, 0, sizeof res);
    if (rc == 0) {
        bienc_eval_options eo = metrics_default_options();
        rc = metrics_evaluate(run, ev->qrels, &eo, &res);
    }
    if (rc == 0) {
        memcpy(s->v, res.mean, sizeof s->v);
        s->nq = ev->nq;
        s->np = ev->np;
    }
    metrics_result_free(&res);
    run_free(run);
    free(ids);
    free(scores);
    s->seconds = os_now() - t0;
    return rc < 0 ? bienc_error_context(rc, "evaluation: ") : 0;
}
