/* The public API of include/bienc/bienc.h: thin wrappers that hide the module types
 * (bi-encoder + tape, HNSW index, run config, qrels and runs) behind opaque handles and
 * plain structs. It is the top of the module stack: it may call every module, none calls it.
 * Arguments are checked here (a status, not an assert): this is the library's boundary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bienc/bienc.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/tape.h"
#include "core/version.h"
#include "eval/metrics.h"
#include "index/hnsw.h"
#include "io/config.h"
#include "io/model_io.h"
#include "model/biencoder.h"
#include "train/trainer.h"

struct bienc_model {
    bienc_biencoder *bi;
    bienc_tape *tape;   /* reused across calls: one batch's activations */
};

struct bienc_index {
    bienc_hnsw *h;
};

const char *bienc_version(void) { return BIENC_VERSION_STRING; }

void bienc_blas_setup(char **argv)
{
    if (argv) cpu_blas_fix_and_reexec(argv);
}

int bienc_model_open(const char *path, bienc_model **out)
{
    if (!path || !out) return bienc_error(BIENC_EINVAL, "bienc_model_open: NULL argument");
    *out = NULL;
    bienc_model *m = calloc(1, sizeof *m);
    if (!m) return bienc_error(BIENC_ENOMEM, "bienc_model_open: out of memory");
    int rc = model_io_load(path, &m->bi);
    if (rc == 0) rc = tape_new(&m->tape);
    if (rc < 0) {
        bienc_model_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void bienc_model_close(bienc_model *m)
{
    if (!m) return;
    tape_free(m->tape);
    biencoder_free(m->bi);
    free(m);
}

int bienc_model_dim(const bienc_model *m) { return m ? biencoder_dim(m->bi) : 0; }

int bienc_model_normalized(const bienc_model *m) { return m ? m->bi->normalize : 0; }

int bienc_model_set_precision(bienc_model *m, const char *precision)
{
    if (!m) return bienc_error(BIENC_EINVAL, "bienc_model_set_precision: NULL model");
    bienc_precision p;
    BIENC_TRY(precision_parse(precision, &p));
    tape_set_precision(m->tape, p);
    return 0;
}

int bienc_encode(bienc_model *m, const char *const *texts, int64_t n, int is_query, float *out)
{
    if (!m || n < 0 || (n > 0 && (!texts || !out))) return bienc_error(BIENC_EINVAL, "bienc_encode: NULL argument or n < 0");
    for (int64_t i = 0; i < n; i++)
        if (!texts[i]) return bienc_error(BIENC_EINVAL, "bienc_encode: texts[%lld] is NULL", (long long)i);
    if (n == 0) return 0;
    return biencoder_encode_texts(m->bi, m->tape, texts, NULL, n, is_query ? BIENC_SIDE_QUERY : BIENC_SIDE_PASSAGE, 64,
                                  out);
}

int bienc_index_build(const float *vectors, int64_t n, int dim, const char *const *names, const char *metric, int M,
                      int ef_construction, bienc_index **out)
{
    if (!vectors || !metric || !out || n < 1) return bienc_error(BIENC_EINVAL, "bienc_index_build: NULL argument or n < 1");
    *out = NULL;
    bienc_hnsw_params p;
    hnsw_params_default(&p);
    p.dim = dim;
    BIENC_TRY(hnsw_metric_parse(metric, &p.metric));
    if (M > 0) p.M = M;
    if (ef_construction > 0) p.ef_construction = ef_construction;
    bienc_index *x = calloc(1, sizeof *x);
    if (!x) return bienc_error(BIENC_ENOMEM, "bienc_index_build: out of memory");
    int rc = hnsw_create(&x->h, &p);
    if (rc == 0) rc = hnsw_add(x->h, vectors, n, names, 0);
    if (rc < 0) {
        bienc_index_close(x);
        return rc;
    }
    *out = x;
    return 0;
}

int bienc_index_save(const bienc_index *x, const char *path)
{
    if (!x || !path) return bienc_error(BIENC_EINVAL, "bienc_index_save: NULL argument");
    return hnsw_save(x->h, path);
}

int bienc_index_open(const char *path, bienc_index **out)
{
    if (!path || !out) return bienc_error(BIENC_EINVAL, "bienc_index_open: NULL argument");
    *out = NULL;
    bienc_index *x = calloc(1, sizeof *x);
    if (!x) return bienc_error(BIENC_ENOMEM, "bienc_index_open: out of memory");
    int rc = hnsw_load(&x->h, path);
    if (rc < 0) {
        free(x);
        return rc;
    }
    *out = x;
    return 0;
}

void bienc_index_close(bienc_index *x)
{
    if (!x) return;
    hnsw_free(x->h);
    free(x);
}

int bienc_index_dim(const bienc_index *x) { return x ? hnsw_dim(x->h) : 0; }

int64_t bienc_index_count(const bienc_index *x) { return x ? hnsw_live_count(x->h) : 0; }

int bienc_search(const bienc_index *x, const float *queries, int64_t nq, int k, int ef, int64_t *ids, float *scores)
{
    if (!x || nq < 0 || (nq > 0 && (!queries || !ids || !scores)))
        return bienc_error(BIENC_EINVAL, "bienc_search: NULL argument or nq < 0");
    if (k < 1) return bienc_error(BIENC_EINVAL, "bienc_search: k must be >= 1, not %d", k);
    if (ef <= 0) ef = k > 100 ? k : 100;
    return hnsw_search(x->h, queries, nq, k, ef, 0, ids, scores);
}

const char *bienc_index_name(const bienc_index *x, int64_t id)
{
    if (!x || id < 0 || id >= hnsw_count(x->h)) return NULL;
    return hnsw_name(x->h, id);
}

int bienc_train(const char *config_path, const char *const *overrides, int n_overrides, int quiet,
                bienc_train_summary *out)
{
    if (!config_path || !out || n_overrides < 0 || (n_overrides > 0 && !overrides))
        return bienc_error(BIENC_EINVAL, "bienc_train: NULL argument or n_overrides < 0");
    memset(out, 0, sizeof *out);
    out->final_loss = out->dev_mrr10 = NAN;
    bienc_run_config cfg;
    int rc = config_load(&cfg, config_path, overrides, n_overrides);
    if (rc < 0) {
        config_free(&cfg);
        return rc;
    }
    bienc_train_opts o;
    train_opts_default(&o);
    o.quiet = quiet;
    o.progress = 0;
    bienc_train_result r;
    rc = trainer_run(&cfg, &o, &r);
    config_free(&cfg);
    out->steps = r.steps;
    out->final_loss = r.final_loss;
    out->dev_mrr10 = r.mrr_after;
    snprintf(out->checkpoint, sizeof out->checkpoint, "%s", r.last_ckpt);
    snprintf(out->run_dir, sizeof out->run_dir, "%s", r.run_dir);
    train_result_free(&r);
    return rc;
}

int bienc_evaluate(const char *qrels_path, const char *run_path, bienc_metrics *out)
{
    if (!qrels_path || !run_path || !out) return bienc_error(BIENC_EINVAL, "bienc_evaluate: NULL argument");
    memset(out, 0, sizeof *out);
    bienc_qrels *q = NULL;
    bienc_run *run = NULL;
    bienc_eval_result res;
    memset(&res, 0, sizeof res);
    bienc_eval_options opts = metrics_default_options();
    int rc = qrels_read(qrels_path, &q);
    if (rc == 0) rc = run_read(run_path, &run);
    if (rc == 0) rc = metrics_evaluate(run, q, &opts, &res);
    if (rc == 0) {
        out->mrr10 = res.mean[BIENC_METRIC_MRR10];
        out->ndcg10 = res.mean[BIENC_METRIC_NDCG10];
        out->map100 = res.mean[BIENC_METRIC_MAP100];
        out->recall10 = res.mean[BIENC_METRIC_RECALL10];
        out->recall100 = res.mean[BIENC_METRIC_RECALL100];
        out->num_queries = (int64_t)res.num_queries;
    }
    metrics_result_free(&res);
    run_free(run);
    qrels_free(q);
    return rc;
}
