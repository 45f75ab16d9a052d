/* `bienc run`: every stage from data to report (see src/train/pipeline.h). */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/biencoder.h"
#include "core/cpu.h"
#include "data/data.h"
#include "core/error.h"
#include "index/exact.h"
#include "index/hnsw.h"
#include "io/model_io.h"
#include "train/pipeline.h"
#include "train/teacher.h"
#include "train/trainer.h"
#include "train/train_loop.h"
#include "core/atomic_file.h"
#include "train/pipeline_internal.h"
#include "train/train_data.h"
#include "train/dev_set.h"
#include "core/os.h"
#include "train/config_map.h"
#include "io/cross_io.h"

void pipeline_opts_default(bienc_pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->python = "/usr/bin/python3";
}

const char *pipeline_run_label(int run)
{
    static const char *labels[PIPE_RUN_COUNT] = {"untrained bi-encoder (exact)", "bi-encoder + HNSW", "bi-encoder exact",
                                                 "teacher rerank (top-N)", "BM25 (xapian)",
                                                 "hybrid (HNSW + BM25 fused)"};
    return run >= 0 && run < PIPE_RUN_COUNT ? labels[run] : "?";
}

void pipeline_result_free(bienc_pipeline_result *r)
{
    if (!r) return;
    free(r->bi_losses);
    free(r->bi_eval_steps);
    free(r->bi_eval_mrr);
    free(r->bi_eval_recall);
    r->bi_eval_steps = NULL;
    r->bi_eval_mrr = r->bi_eval_recall = NULL;
    r->n_bi_evals = 0;
    free(r->teacher_losses);
    r->bi_losses = r->teacher_losses = NULL;
}

void pipe_log(pipe_ctx *p, const char *fmt, ...)
{
    if (p->o->quiet) return;
    FILE *f = p->o->log ? p->o->log : stderr;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fflush(f);
}

static void stage_begin(pipe_ctx *p, const char *name)
{
    p->t_stage = os_now();
    pipe_log(p, "== %s\n", name);
    if (p->r->n_stages < PIPELINE_MAX_STAGES) p->r->stage_name[p->r->n_stages] = name;
}

static void stage_end(pipe_ctx *p)
{
    if (p->r->n_stages >= PIPELINE_MAX_STAGES) return;
    double s = os_now() - p->t_stage;
    p->r->stage_seconds[p->r->n_stages++] = s;
    pipe_log(p, "   %s: %.1f s\n", p->r->stage_name[p->r->n_stages - 1], s);
}

static int file_exists(const char *path) { return path && access(path, R_OK) == 0; }

/* ---- stages ---- */

static int save_run(pipe_ctx *p, bienc_run *run, const char *file)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", p->r->run_dir, file);
    return run_write(run, path);
}


static int stage_data(pipe_ctx *p)
{
    const bienc_cfg_data *d = &p->cfg->data;
    if (d->format != BIENC_DATA_DEBIAN || file_exists(d->collection)) {
        pipe_log(p, "   data present: %s\n", d->collection ? d->collection : "(triples only)");
        return 0;
    }
    bienc_debian_opts o;
    debian_default_opts(&o);
    o.output_dir = d->dir;
    bienc_debian_stats st;
    BIENC_TRY(debian_build(&o, &st));
    pipe_log(p, "   built the Debian data set in %s: %lld passages, %lld train / %lld dev queries\n", d->dir,
             (long long)st.n_passages, (long long)st.n_queries[0], (long long)st.n_queries[1]);
    return 0;
}

static int stage_vocab(pipe_ctx *p)
{
    const bienc_run_config *cfg = p->cfg;
    if (cfg->tokenizer.vocab) {
        snprintf(p->vocab, sizeof p->vocab, "%s", cfg->tokenizer.vocab);
        pipe_log(p, "   vocabulary: %s (from the config)\n", p->vocab);
        return 0;
    }
    snprintf(p->vocab, sizeof p->vocab, "%s/vocab.txt", p->r->run_dir);
    if (file_exists(p->vocab)) {
        pipe_log(p, "   vocabulary: reusing %s\n", p->vocab);
        return 0;
    }
    trainer_data d;
    memset(&d, 0, sizeof d);
    BIENC_TRY(trainer_data_load(&d, cfg, p->o->quiet ? NULL : (p->o->log ? p->o->log : stderr)));
    bienc_tokenizer *tok = NULL;
    int rc = trainer_train_vocab(&d, cfg, &tok);
    trainer_data_free(&d);
    if (rc == 0) rc = tokenizer_save_vocab(tok, p->vocab);
    if (rc == 0) pipe_log(p, "   trained a %d-token WordPiece vocabulary -> %s\n", tokenizer_vocab_size(tok), p->vocab);
    tokenizer_free(tok);
    return rc;
}

static int copy_losses(float **dst, int64_t *n, const float *src, int64_t count)
{
    *n = 0;
    if (count <= 0 || !src) return 0;
    *dst = malloc((size_t)count * sizeof **dst);
    if (!*dst) return bienc_error(BIENC_ENOMEM, "out of memory");
    memcpy(*dst, src, (size_t)count * sizeof **dst);
    *n = count;
    return 0;
}

/* A late-interaction (ColBERT) teacher trains as the second round does, through the
 * bi-encoder trainer: on the mined lists (mine.teacher) or the training data, from the
 * trained bi-encoder (teacher.init_from_bi_encoder) or teacher.model, with the teacher's
 * loss, optimiser, schedule and train keys. Its model-only checkpoint is teacher.h5. */
static int train_late_teacher(pipe_ctx *p)
{
    const bienc_cfg_teacher *T = &p->cfg->teacher;
    bienc_run_config w = p->work; /* shallow: strings stay the work config's or ours */
    snprintf(p->teacher_name, sizeof p->teacher_name, "%s-teacher", p->work.output.name ? p->work.output.name : "run");
    w.model = T->model;
    if (T->init_from_bi_encoder) w.model.init_from = p->r->model_path;
    if (p->hardnegs[0] && p->cfg->mine.teacher) {
        w.data.format = BIENC_DATA_HARD_NEGATIVES;
        w.data.hard_negatives_file = p->hardnegs;
        w.data.skip_malformed = 1; /* a query with fewer candidates than hard_negatives is left out */
    }
    w.loss = T->loss;
    w.optim = T->optim;
    w.schedule = T->schedule;
    w.train = T->train;
    w.output.name = p->teacher_name;
    bienc_train_opts to;
    pipe_train_opts(p, &to);
    to.overwrite = 1;
    bienc_train_result tr;
    int rc = trainer_run(&w, &to, &tr);
    if (rc == 0 && tr.stopped == 1) rc = bienc_error(BIENC_EINTERRUPT, "bienc run: stopped while training the teacher");
    if (rc == 0 && !tr.last_ckpt[0]) rc = bienc_error(BIENC_ESTATE, "bienc run: the teacher's training wrote no checkpoint");
    if (rc == 0) rc = model_io_load(tr.last_ckpt, &p->teacher.late);
    if (rc == 0) rc = model_io_save(p->r->teacher_path, p->teacher.late);
    if (rc == 0) rc = copy_losses(&p->r->teacher_losses, &p->r->n_teacher_losses, tr.losses, tr.n_losses);
    p->r->teacher_steps = tr.steps;
    p->r->teacher_pairs_per_s = tr.pairs_per_s;
    train_result_free(&tr);
    return rc;
}

static int stage_teacher(pipe_ctx *p)
{
    snprintf(p->r->teacher_path, sizeof p->r->teacher_path, "%s/teacher.h5", p->r->run_dir);
    if (p->o->reuse && file_exists(p->r->teacher_path)) {
        pipe_log(p, "   reusing %s\n", p->r->teacher_path);
        BIENC_TRY(reranker_load(p->r->teacher_path, &p->teacher));
        int want_late = p->cfg->teacher.model.kind == BIENC_MODEL_LATE_INTERACTION;
        if (want_late != (p->teacher.late != NULL))
            return bienc_error(BIENC_EINVAL, "--reuse: %s is a %s but teacher.model.kind is %s: remove it or run without --reuse",
                               p->r->teacher_path, p->teacher.late ? "late_interaction model" : "cross_encoder",
                               want_late ? "late_interaction" : "cross_encoder");
        return 0;
    }
    if (p->cfg->teacher.model.kind == BIENC_MODEL_LATE_INTERACTION) return train_late_teacher(p);
    char dir[1100]; /* the teacher's checkpoints and metrics.jsonl; `bienc run` redoes the job */
    snprintf(dir, sizeof dir, "%s/teacher", p->r->run_dir);
    bienc_teacher_opts to = {.vocab = p->vocab, .output = p->r->teacher_path, .threads = p->o->threads,
                             .log = p->o->quiet ? NULL : (p->o->log ? p->o->log : stderr), .dir = dir,
                             .overwrite = 1, .init_from = p->cfg->teacher.init_from_bi_encoder ? p->r->model_path : NULL};
    bienc_teacher_result tr;
    /* with mine.teacher, the teacher's negatives come from the mined lists (teacher.random_negatives stay random) */
    bienc_run_config tc = p->work;
    if (p->hardnegs[0] && p->cfg->mine.teacher) {
        tc.data.format = BIENC_DATA_HARD_NEGATIVES;
        tc.data.hard_negatives_file = p->hardnegs;
    }
    int rc = teacher_train(&tc, &to, &p->teacher.ce, &tr);
    if (rc == 0) rc = copy_losses(&p->r->teacher_losses, &p->r->n_teacher_losses, tr.losses, tr.n_losses);
    p->r->teacher_steps = tr.steps;
    p->r->teacher_pairs_per_s = tr.pairs_per_s;
    teacher_result_free(&tr);
    return rc;
}

/* Embeds n texts with bi at eval.precision (a no-grad tape of that precision). */
static int pipe_encode(pipe_ctx *p, bienc_biencoder *bi, const char *const *texts, const size_t *lens, int64_t n,
                       bienc_side side, float *out)
{
    bienc_tape *tape;
    BIENC_TRY(tape_new(&tape));
    tape_set_precision(tape, p->precision);
    int rc = biencoder_encode_texts(bi, tape, texts, lens, n, side, (int)p->cfg->eval.batch_size, out);
    tape_free(tape);
    return rc;
}

/* The trained bi-encoder's top k of the n mine queries (ids, texts) searched in the index,
 * fused with BM25's run when there is one (index.fusion, as the dev set's hybrid row). */
static int mine_dense_run(pipe_ctx *p, const char *const *ids, const char *const *texts, const size_t *lens, int64_t n,
                          int k, bienc_run *bm25, bienc_run **out)
{
    const bienc_run_config *cfg = p->cfg;
    int dim = biencoder_dim(p->bi), ef = (int)(cfg->index.ef > k ? cfg->index.ef : k);
    float *qe = malloc((size_t)(n ? n : 1) * dim * sizeof *qe), *sc = malloc((size_t)(n ? n : 1) * k * sizeof *sc);
    int64_t *hits = malloc((size_t)(n ? n : 1) * k * sizeof *hits);
    bienc_run *dense = NULL;
    int rc = qe && sc && hits ? 0 : bienc_error(BIENC_ENOMEM, "mine: out of memory for %lld queries", (long long)n);
    if (rc == 0)
        rc = pipe_encode(p, p->bi, texts, lens, n, BIENC_SIDE_QUERY, qe);
    if (rc == 0) rc = hnsw_search(p->index, qe, n, k, ef, p->threads, hits, sc);
    if (rc == 0) rc = run_new(&dense, "dense");
    for (int64_t q = 0; rc == 0 && q < n; q++)
        for (int j = 0; rc == 0 && j < k; j++)
            if (hits[q * k + j] >= 0 && hits[q * k + j] < p->np) rc = run_add(dense, ids[q], p->pid[hits[q * k + j]], sc[q * k + j]);
    if (rc == 0) rc = run_sort(dense);
    if (rc == 0 && bm25) {
        bienc_run *both[2] = {dense, bm25};
        bienc_fusion_opts fo = fusion_default_opts();
        fo.method = cfg->index.fusion;
        fo.k = k;
        rc = run_fuse(both, 2, &fo, "hybrid", out);
    } else if (rc == 0) {
        *out = dense;
        dense = NULL;
    }
    if (rc == 0) rc = save_run(p, *out, "run.mine.trec");
    run_free(dense);
    free(qe);
    free(sc);
    free(hits);
    return rc;
}

/* Hard negatives: the non-relevant top ranks of the training queries, for the bi-encoder
 * (mine.bi_encoder: it trains on data.format hard_negatives) and the teacher (mine.teacher).
 * Candidates: BM25's ranking, or with mine.dense the trained bi-encoder's fused with it
 * (this stage then runs after the index is built). */
static int stage_mine(pipe_ctx *p)
{
    const bienc_run_config *cfg = p->cfg;
    const bienc_cfg_mine *m = &cfg->mine;
    if (!cfg->data.queries || !cfg->data.qrels || !cfg->data.collection)
        return bienc_error(BIENC_EINVAL, "mine.enabled needs data.queries, data.qrels and data.collection (the "
                                         "training queries, their positives and the passages BM25 searches)");
    bienc_read_opts ro = {.skip_malformed = cfg->data.skip_malformed};
    bienc_texts *queries = NULL;
    bienc_qrels *qrels = NULL;
    bienc_run *bm25 = NULL, *cand = NULL;
    char qpath[1200], runpath[1200], note[256];
    snprintf(qpath, sizeof qpath, "%s/mine_queries.tsv", p->r->run_dir);
    snprintf(runpath, sizeof runpath, "%s/run.bm25.train.trec", p->r->run_dir);
    snprintf(p->hardnegs, sizeof p->hardnegs, "%s/hardnegs.jsonl", p->r->run_dir);
    int rc = trainer_load_texts(&queries, cfg->data.queries, &ro);
    if (rc == 0) rc = qrels_read(cfg->data.qrels, &qrels);
    /* the first max_queries training queries with a positive and a text */
    size_t nj = rc == 0 ? qrels_num_queries(qrels) : 0;
    const char **ids = malloc((nj + 1) * sizeof *ids), **texts = malloc((nj + 1) * sizeof *texts);
    size_t *lens = malloc((nj + 1) * sizeof *lens);
    if (rc == 0 && (!ids || !texts || !lens)) rc = bienc_error(BIENC_ENOMEM, "mine: out of memory");
    atomic_file qf = {0};
    FILE *f = NULL;
    if (rc == 0 && (rc = atomic_file_open(&qf, qpath)) == 0) f = qf.f;
    int64_t nq = 0;
    for (size_t i = 0; rc == 0 && i < nj; i++) {
        if (m->max_queries > 0 && nq >= m->max_queries) break;
        const char *qid = qrels_query_id(qrels, i), *id;
        size_t idl;
        int64_t row = texts_find(queries, qid, strlen(qid));
        if (row < 0 || qrels_count_relevant(qrels, qid, 1) == 0) continue;
        rc = texts_get(queries, row, &id, &idl, &texts[nq], &lens[nq]);
        if (rc == 0) fprintf(f, "%s\t%.*s\n", qid, (int)lens[nq], texts[nq]);
        ids[nq++] = qid;
    }
    if (f) rc = atomic_file_finish(&qf, rc);
    if (rc == 0) rc = pipe_bm25_search(p, qpath, m->range_max, runpath, note, sizeof note);
    if (rc == 0 && note[0] && !m->dense) rc = bienc_error(BIENC_EINVAL, "mine.enabled needs BM25, which is %s", note);
    if (rc == 0 && !note[0]) rc = run_read(runpath, &bm25);
    if (rc == 0 && m->dense) rc = mine_dense_run(p, ids, texts, lens, nq, (int)m->range_max, bm25, &cand);
    bienc_mine_opts mo = mine_default_opts();
    mo.range_min = (int)m->range_min;
    mo.range_max = (int)m->range_max;
    mo.num_negatives = (int)m->num_negatives;
    mo.random = m->sampling == BIENC_MINE_RANDOM;
    mo.seed = (uint64_t)cfg->train.seed;
    if (rc == 0)
        rc = mine_hard_negatives(m->dense ? &cand : &bm25, 1, qrels, &mo, NULL, NULL, p->hardnegs, &p->r->mined_queries,
                                 &p->r->mined_negatives);
    if (rc == 0) {
        pipe_log(p, "   %lld negatives for %lld of %lld training queries (%s ranks %lld-%lld) -> %s\n",
                 (long long)p->r->mined_negatives, (long long)p->r->mined_queries, (long long)nq,
                 !m->dense ? "BM25" : bm25 ? "bi-encoder + BM25" : "bi-encoder", (long long)m->range_min + 1,
                 (long long)m->range_max, p->hardnegs);
        if (m->bi_encoder && !m->dense) {
            p->work.data.format = BIENC_DATA_HARD_NEGATIVES;
            p->work.data.hard_negatives_file = p->hardnegs;
            p->work.data.skip_malformed = 1; /* a query with fewer candidates than loss.hard_negatives is left out */
            if (m->num_negatives > 0 && p->work.loss.hard_negatives > m->num_negatives)
                p->work.loss.hard_negatives = m->num_negatives;
        }
    }
    free(ids);
    free(texts);
    free(lens);
    texts_free(queries);
    qrels_free(qrels);
    run_free(bm25);
    run_free(cand);
    return rc;
}

/* MarginMSELoss: the training triples scored by the teacher (skipped when they already
 * carry scores), then trained on instead of the plain ones. */
static int stage_score(pipe_ctx *p)
{
    const bienc_cfg_data *d = &p->work.data;
    int ids = d->format == BIENC_DATA_MSMARCO_IDS;
    if ((d->format != BIENC_DATA_DEBIAN && d->format != BIENC_DATA_MSMARCO_TRIPLES && !ids) || !d->triples)
        return bienc_error(BIENC_EINVAL, "MarginMSELoss in bienc run needs triples (data.format debian, "
                                         "msmarco_triples or msmarco_ids)");
    bienc_read_opts ro = {.skip_malformed = d->skip_malformed};
    bienc_triples *tr = NULL;
    bienc_texts *q = NULL, *c = NULL;
    BIENC_TRY(triples_load(&tr, d->triples, ids, &ro, NULL));
    if (triples_has_margins(tr)) {
        pipe_log(p, "   %s already carries teacher scores\n", d->triples);
        triples_free(tr);
        return 0;
    }
    snprintf(p->scored_triples, sizeof p->scored_triples, "%s/triples.scored.tsv", p->r->run_dir);
    int rc = 0;
    if (ids) {
        rc = trainer_load_texts(&q, d->queries, &ro);
        if (rc == 0) rc = trainer_load_texts(&c, d->collection, &ro);
    }
    int64_t n = 0;
    if (rc == 0)
        rc = teacher_score_triples(p->teacher.ce, p->precision, tr, q, c, d->max_examples, d->skip_malformed,
                                   (int)p->cfg->eval.batch_size, p->scored_triples, NULL, &n);
    if (rc == 0) {
        pipe_log(p, "   teacher margins of %lld triples -> %s\n", (long long)n, p->scored_triples);
        p->work.data.triples = p->scored_triples;
    }
    triples_free(tr);
    texts_free(q);
    texts_free(c);
    return rc;
}

void pipe_train_opts(pipe_ctx *p, bienc_train_opts *to)
{
    train_opts_default(to);
    to->threads = p->o->threads;
    to->quiet = p->o->quiet;
    to->log = p->o->log;
    to->progress = 0;
    to->stop = p->o->stop;
    to->eval_at_start = 0;
}

static int stage_train(pipe_ctx *p)
{
    bienc_train_opts to;
    pipe_train_opts(p, &to); /* no evaluation at step 0: the untrained baseline is measured on the whole collection */
    to.overwrite = 1;        /* `bienc run` redoes the job: an earlier run's checkpoints of this name go */
    bienc_train_result tr;
    int rc = trainer_run(&p->work, &to, &tr);
    if (rc == 0 && tr.stopped == 1) rc = bienc_error(BIENC_EINTERRUPT, "bienc run: stopped during training (step %lld)", (long long)tr.steps);
    if (rc == 0 && !tr.last_ckpt[0]) rc = bienc_error(BIENC_ESTATE, "bienc run: the trainer wrote no checkpoint");
    if (rc == 0) snprintf(p->r->model_path, sizeof p->r->model_path, "%s", tr.last_ckpt);
    if (rc == 0) rc = copy_losses(&p->r->bi_losses, &p->r->n_bi_losses, tr.losses, tr.n_losses);
    if (rc == 0 && tr.n_evals > 0) { /* the dev curve: the report keeps the trainer's arrays */
        p->r->bi_eval_steps = tr.eval_steps;
        p->r->bi_eval_mrr = tr.eval_mrr;
        p->r->bi_eval_recall = tr.eval_recall;
        p->r->n_bi_evals = tr.n_evals;
        tr.eval_steps = NULL;
        tr.eval_mrr = tr.eval_recall = NULL;
        tr.n_evals = 0;
    }
    p->r->bi_steps = tr.steps;
    p->r->bi_pairs_per_s = tr.pairs_per_s;
    train_result_free(&tr);
    if (rc == 0) rc = model_io_load(p->r->model_path, &p->bi);
    return rc;
}

/* mine.refine_steps: the bi-encoder's second round (as ANCE) on the negatives just mined with
 * it and BM25: MNRL with mine.refine_negatives of them per query beside the in-batch ones,
 * continuing from the first round's checkpoint (a new optimiser, warm-up then linear), in
 * checkpoints/<output.name>-refine. The dev embeddings, index and runs of the first round
 * are dropped: the stages after this one encode, index, search and fuse again. */
static int stage_refine(pipe_ctx *p)
{
    const bienc_cfg_mine *m = &p->cfg->mine;
    bienc_run_config w = p->work; /* shallow: strings stay the work config's or ours */
    snprintf(p->r->first_model_path, sizeof p->r->first_model_path, "%s", p->r->model_path);
    snprintf(p->refine_name, sizeof p->refine_name, "%s-refine", p->work.output.name ? p->work.output.name : "run");
    w.model.init_from = p->r->first_model_path;
    w.data.format = BIENC_DATA_HARD_NEGATIVES;
    w.data.hard_negatives_file = p->hardnegs;
    w.data.skip_malformed = 1; /* a query with fewer candidates than refine_negatives is left out */
    w.loss.hard_negatives = m->refine_negatives;
    w.loss.name = m->refine_loss;
    if (m->refine_loss == BIENC_LOSS_DISTILL_KL) w.loss.teacher = p->r->teacher_path; /* trained just before */
    w.train.steps = m->refine_steps;
    w.train.batch_size = m->refine_batch_size;
    w.train.epochs = 0;
    w.optim.grad_accumulation = 1;
    w.optim.lr = m->refine_lr;
    w.schedule.name = BIENC_SCHED_WARMUP_LINEAR;
    w.schedule.warmup_ratio = 0.1;
    w.schedule.warmup_steps = -1;
    w.output.name = p->refine_name;
    w.eval.every_steps = m->refine_steps; /* the trainer's dev metric once, at the end */
    bienc_train_opts to;
    pipe_train_opts(p, &to); /* the first round's last evaluation is the "before" */
    to.overwrite = 1;
    bienc_train_result tr;
    int rc = trainer_run(&w, &to, &tr);
    if (rc == 0 && tr.stopped == 1) rc = bienc_error(BIENC_EINTERRUPT, "bienc run: stopped during the second round");
    if (rc == 0 && !tr.last_ckpt[0]) rc = bienc_error(BIENC_ESTATE, "bienc run: the second round wrote no checkpoint");
    if (rc == 0) {
        snprintf(p->r->model_path, sizeof p->r->model_path, "%s", tr.last_ckpt);
        p->r->refine_steps = tr.steps;
        p->r->refine_pairs_per_s = tr.pairs_per_s;
        p->r->refine_final_loss = tr.n_losses ? tr.losses[tr.n_losses - 1] : NAN;
        p->r->refine_from_mrr = p->r->n_bi_evals > 0 ? p->r->bi_eval_mrr[p->r->n_bi_evals - 1] : NAN;
        p->r->refine_mrr = tr.n_evals > 0 ? tr.eval_mrr[tr.n_evals - 1] : NAN;
        pipe_log(p, "   second round: %lld steps of %lld queries with %lld mined negatives each, dev MRR@10 %.4f -> %.4f "
                    "-> %s\n", (long long)tr.steps, (long long)m->refine_batch_size, (long long)m->refine_negatives,
                 p->r->refine_from_mrr, p->r->refine_mrr, tr.last_ckpt);
    }
    train_result_free(&tr);
    if (rc < 0) return rc;
    /* the first round's model, embeddings, index and dense runs make way for the second's */
    biencoder_free(p->bi);
    p->bi = NULL;
    free(p->qe);
    free(p->pe);
    p->qe = p->pe = NULL;
    hnsw_free(p->index);
    p->index = NULL;
    for (int i = 0; i < 3; i++) {
        int which = (int[]){PIPE_RUN_HNSW, PIPE_RUN_EXACT, PIPE_RUN_HYBRID}[i];
        run_free(p->runs[which]);
        p->runs[which] = NULL;
    }
    return model_io_load(p->r->model_path, &p->bi);
}

/* The dev set: the rule of src/train/dev_set.h. */
static int load_dev(pipe_ctx *p)
{
    const bienc_run_config *cfg = p->cfg;
    if (!cfg->data.dev_queries || !cfg->data.dev_qrels)
        return bienc_error(BIENC_EINVAL, "bienc run needs data.dev_queries and data.dev_qrels to evaluate");
    bienc_read_opts ro = {.skip_malformed = cfg->data.skip_malformed, .numeric_ids = 0};
    BIENC_TRY(trainer_load_texts(&p->collection, cfg->data.collection, &ro));
    BIENC_TRY(trainer_load_texts(&p->dev_queries, cfg->data.dev_queries, &ro));
    BIENC_TRY(qrels_read(cfg->data.dev_qrels, &p->qrels));
    int64_t nqs = texts_count(p->dev_queries), np = texts_count(p->collection);
    p->qtext = malloc((size_t)(nqs + 1) * sizeof *p->qtext);
    p->qlen = malloc((size_t)(nqs + 1) * sizeof *p->qlen);
    p->qid = calloc((size_t)(nqs + 1), sizeof *p->qid);
    p->ptext = malloc((size_t)(np + 1) * sizeof *p->ptext);
    p->plen = malloc((size_t)(np + 1) * sizeof *p->plen);
    p->pid = calloc((size_t)(np + 1), sizeof *p->pid);
    unsigned char *qmark = calloc((size_t)nqs + 1, 1);
    if (!p->qtext || !p->qlen || !p->qid || !p->ptext || !p->plen || !p->pid || !qmark) {
        free(qmark);
        return bienc_error(BIENC_ENOMEM, "bienc run: out of memory for the dev set");
    }
    dev_set_select(p->qrels, p->dev_queries, p->collection, cfg->eval.max_queries, qmark);
    for (int64_t i = 0; i < nqs; i++) {
        const char *id;
        size_t idl;
        if (!qmark[i]) continue;
        int rc = texts_get(p->dev_queries, i, &id, &idl, &p->qtext[p->nq], &p->qlen[p->nq]);
        if (rc == 0 && !(p->qid[p->nq] = strndup(id, idl))) rc = bienc_error(BIENC_ENOMEM, "bienc run: out of memory");
        if (rc < 0) {
            free(qmark);
            return rc;
        }
        p->nq++;
    }
    free(qmark);
    for (int64_t i = 0; i < np; i++) {
        const char *id;
        size_t idl;
        BIENC_TRY(texts_get(p->collection, i, &id, &idl, &p->ptext[i], &p->plen[i]));
        if (!(p->pid[i] = strndup(id, idl))) return bienc_error(BIENC_ENOMEM, "bienc run: out of memory");
        p->np = i + 1; /* what ctx_free releases, also after an error */
    }
    if (p->nq == 0) return bienc_error(BIENC_EINVAL, "%s: no dev query has a relevant passage in %s", cfg->data.dev_queries,
                                       cfg->data.dev_qrels);
    p->r->n_queries = p->nq;
    p->r->n_passages = p->np;
    pipe_log(p, "   dev set: %lld queries (of %lld) against %lld passages\n", (long long)p->nq, (long long)nqs, (long long)np);
    return 0;
}

/* A run from a [nq, k] result block (id -1 = no result). */
static int run_from_ids(pipe_ctx *p, const char *name, const int64_t *ids, const float *scores, int k, bienc_run **out)
{
    BIENC_TRY(run_new(out, name));
    for (int64_t q = 0; q < p->nq; q++)
        for (int j = 0; j < k; j++) {
            int64_t id = ids[q * k + j];
            if (id < 0 || id >= p->np) continue;
            BIENC_TRY(run_add(*out, p->qid[q], p->pid[id], scores[q * k + j]));
        }
    return run_sort(*out);
}

/* Embeds the dev queries and the collection with `bi` (caller frees *qe, *pe). */
static int encode_all(pipe_ctx *p, bienc_biencoder *bi, float **qe, float **pe)
{
    int dim = biencoder_dim(bi);
    *qe = malloc((size_t)(p->nq ? p->nq : 1) * dim * sizeof **qe);
    *pe = malloc((size_t)(p->np ? p->np : 1) * dim * sizeof **pe);
    if (!*qe || !*pe) return bienc_error(BIENC_ENOMEM, "bienc run: out of memory for %lld embeddings", (long long)p->np);
    BIENC_TRY(pipe_encode(p, bi, (const char *const *)p->qtext, p->qlen, p->nq, BIENC_SIDE_QUERY, *qe));
    return pipe_encode(p, bi, (const char *const *)p->ptext, p->plen, p->np, BIENC_SIDE_PASSAGE, *pe);
}

static int exact_run(pipe_ctx *p, const float *pe, const float *qe, int dim, const char *name, bienc_run **out)
{
    int k = (int)(p->cfg->index.k < p->np ? p->cfg->index.k : p->np);
    int64_t *ids = malloc((size_t)p->nq * k * sizeof *ids);
    float *sc = malloc((size_t)p->nq * k * sizeof *sc);
    int rc = ids && sc ? 0 : bienc_error(BIENC_ENOMEM, "bienc run: out of memory");
    if (rc == 0) rc = exact_search(pe, p->np, dim, dim, p->cfg->index.metric, 0, NULL, qe, p->nq, k, p->threads, ids, sc);
    if (rc == 0) rc = run_from_ids(p, name, ids, sc, k, out);
    free(ids);
    free(sc);
    return rc;
}

static int stage_baseline(pipe_ctx *p)
{
    const bienc_run_config *cfg = p->cfg;
    bienc_tokenizer *tok;
    BIENC_TRY(tokenizer_load(&tok, p->vocab, cfg->tokenizer.lower_case));
    bienc_encoder_config ec;
    int rc = config_encoder_config(&cfg->model, tokenizer_vocab_size(tok), &ec);
    if (rc < 0) {
        tokenizer_free(tok);
        return rc;
    }
    /* exactly the trainer's initial model: same config, same seed */
    bienc_biencoder_opts bo = {.pool = cfg->model.pooling, .normalize = cfg->model.normalize,
                               .max_query_len = (int)cfg->tokenizer.max_query_length,
                               .max_passage_len = (int)cfg->tokenizer.max_passage_length};
    bienc_biencoder *bi = NULL;
    if (cfg->model.init_from) {
        tokenizer_free(tok);
        BIENC_TRY(model_io_load(cfg->model.init_from, &bi));
    } else {
        BIENC_TRY(biencoder_new(&bi, &ec, (uint64_t)cfg->train.seed, tok, &bo));
    }
    float *qe = NULL, *pe = NULL;
    rc = encode_all(p, bi, &qe, &pe);
    if (rc == 0) rc = exact_run(p, pe, qe, biencoder_dim(bi), "untrained", &p->runs[PIPE_RUN_UNTRAINED]);
    if (rc == 0) rc = save_run(p, p->runs[PIPE_RUN_UNTRAINED], "run.untrained.trec");
    free(qe);
    free(pe);
    biencoder_free(bi);
    return rc;
}

static int stage_encode(pipe_ctx *p)
{
    BIENC_TRY(encode_all(p, p->bi, &p->qe, &p->pe));
    p->r->dim = biencoder_dim(p->bi);
    pipe_log(p, "   %lld passages and %lld queries -> %lld-dim vectors (%s)\n", (long long)p->np, (long long)p->nq,
             (long long)p->r->dim, precision_name(p->precision));
    return 0;
}

static int stage_index(pipe_ctx *p)
{
    bienc_hnsw_params hp;
    hnsw_params_default(&hp);
    hp.dim = (int)p->r->dim;
    hp.metric = p->cfg->index.metric;
    hp.M = (int)p->cfg->index.M;
    hp.ef_construction = (int)p->cfg->index.ef_construction;
    BIENC_TRY(hnsw_create(&p->index, &hp));
    BIENC_TRY(hnsw_add(p->index, p->pe, p->np, (const char *const *)p->pid, p->threads));
    char path[1200];
    snprintf(path, sizeof path, "%s/index.hnsw", p->r->run_dir);
    BIENC_TRY(hnsw_save(p->index, path));
    pipe_log(p, "   HNSW M=%d ef_construction=%d over %lld vectors (%.1f MB) -> %s\n", hp.M, hp.ef_construction,
             (long long)p->np, hnsw_memory_bytes(p->index) / 1e6, path);
    return 0;
}

static int stage_search(pipe_ctx *p)
{
    int k = (int)(p->cfg->index.k < p->np ? p->cfg->index.k : p->np);
    int64_t *ids = malloc((size_t)p->nq * k * sizeof *ids);
    float *sc = malloc((size_t)p->nq * k * sizeof *sc);
    int rc = ids && sc ? 0 : bienc_error(BIENC_ENOMEM, "bienc run: out of memory");
    double t0 = os_now();
    if (rc == 0) rc = hnsw_search(p->index, p->qe, p->nq, k, (int)p->cfg->index.ef, p->threads, ids, sc);
    double t_hnsw = os_now() - t0;
    if (rc == 0) rc = run_from_ids(p, "bienc-hnsw", ids, sc, k, &p->runs[PIPE_RUN_HNSW]);
    t0 = os_now();
    if (rc == 0) rc = hnsw_search_exact(p->index, p->qe, p->nq, k, p->threads, ids, sc);
    double t_exact = os_now() - t0;
    if (rc == 0) rc = run_from_ids(p, "bienc-exact", ids, sc, k, &p->runs[PIPE_RUN_EXACT]);
    if (rc == 0) rc = save_run(p, p->runs[PIPE_RUN_HNSW], "run.hnsw.trec");
    if (rc == 0) rc = save_run(p, p->runs[PIPE_RUN_EXACT], "run.exact.trec");
    if (rc == 0)
        pipe_log(p, "   top-%d of %lld queries: HNSW (ef %lld) %.3f s, exact %.3f s\n", k, (long long)p->nq,
                 (long long)p->cfg->index.ef, t_hnsw, t_exact);
    free(ids);
    free(sc);
    return rc;
}

/* Hybrid retrieval: the dense (HNSW) and BM25 runs fused (index.fusion: linear, the sum of
 * per-query min-max normalised scores, or reciprocal-rank fusion). */
static int stage_fuse(pipe_ctx *p)
{
    bienc_run *runs[2] = {p->runs[PIPE_RUN_HNSW], p->runs[PIPE_RUN_BM25]};
    bienc_fusion_opts fo = fusion_default_opts();
    fo.method = p->cfg->index.fusion;
    fo.k = (int)p->cfg->index.k;
    BIENC_TRY(run_fuse(runs, 2, &fo, "hybrid", &p->runs[PIPE_RUN_HYBRID]));
    return save_run(p, p->runs[PIPE_RUN_HYBRID], "run.hybrid.trec");
}

/* The teacher re-scores the best candidate list there is: the hybrid one, else exact search's. */
static int stage_rerank(pipe_ctx *p)
{
    int depth = (int)p->cfg->teacher.rerank_depth;
    p->r->teacher_on_hybrid = p->runs[PIPE_RUN_HYBRID] != NULL;
    bienc_run *cand = p->r->teacher_on_hybrid ? p->runs[PIPE_RUN_HYBRID] : p->runs[PIPE_RUN_EXACT];
    BIENC_TRY(teacher_rerank(&p->teacher, p->precision, cand, p->dev_queries, p->collection, depth,
                             (int)p->cfg->eval.batch_size, "teacher", &p->runs[PIPE_RUN_TEACHER]));
    pipe_log(p, "   %lld queries x top-%d pairs of the %s run re-scored (%s)\n", (long long)p->nq, depth,
             p->r->teacher_on_hybrid ? "hybrid" : "exact", precision_name(p->precision));
    return save_run(p, p->runs[PIPE_RUN_TEACHER], "run.teacher.trec");
}

static int stage_evaluate(pipe_ctx *p)
{
    bienc_eval_options eo = metrics_default_options();
    for (int i = 0; i < PIPE_RUN_COUNT; i++) {
        if (!p->runs[i]) continue;
        bienc_eval_result er;
        BIENC_TRY(metrics_evaluate(p->runs[i], p->qrels, &eo, &er));
        memcpy(p->r->metrics[i], er.mean, sizeof er.mean);
        p->r->has_run[i] = 1;
        metrics_result_free(&er);
    }
    if (p->runs[PIPE_RUN_HNSW] && p->runs[PIPE_RUN_EXACT])
        BIENC_TRY(metrics_agreement(p->runs[PIPE_RUN_HNSW], p->runs[PIPE_RUN_EXACT], 0, &p->r->ann_vs_exact));
    if (p->runs[PIPE_RUN_TEACHER]) {
        for (int i = 0; i < PIPE_RUN_COUNT; i++)
            if (p->runs[i]) BIENC_TRY(metrics_agreement(p->runs[i], p->runs[PIPE_RUN_TEACHER], 0, &p->r->agree_teacher[i]));
        p->r->agree_hnsw = p->r->agree_teacher[PIPE_RUN_HNSW];
        p->r->agree_exact = p->r->agree_teacher[PIPE_RUN_EXACT];
        p->r->has_agreement = 1;
    }
    return 0;
}

static void ctx_free(pipe_ctx *p)
{
    for (int i = 0; i < PIPE_RUN_COUNT; i++) run_free(p->runs[i]);
    hnsw_free(p->index);
    biencoder_free(p->bi);
    reranker_free(&p->teacher);
    texts_free(p->collection);
    texts_free(p->dev_queries);
    qrels_free(p->qrels);
    for (int64_t i = 0; p->qid && i < p->nq; i++) free(p->qid[i]);
    for (int64_t i = 0; p->pid && i < p->np; i++) free(p->pid[i]);
    free(p->qid);
    free(p->pid);
    free(p->qtext);
    free(p->qlen);
    free(p->ptext);
    free(p->plen);
    free(p->qe);
    free(p->pe);
}

typedef int (*stage_fn)(pipe_ctx *p);

static int run_stage(pipe_ctx *p, const char *name, stage_fn fn)
{
    if (p->o->stop && *p->o->stop) return bienc_error(BIENC_EINTERRUPT, "bienc run: stopped before stage %s", name);
    stage_begin(p, name);
    int rc = fn(p);
    stage_end(p);
    if (rc < 0) return bienc_error_context(rc, "stage %s: ", name);
    return 0;
}

int pipeline_run(const bienc_run_config *cfg, const bienc_pipeline_opts *o, bienc_pipeline_result *r)
{
    BIENC_ASSERT(cfg && r);
    memset(r, 0, sizeof *r);
    bienc_pipeline_opts def;
    if (!o) {
        pipeline_opts_default(&def);
        o = &def;
    }
    pipe_ctx p;
    memset(&p, 0, sizeof p);
    p.cfg = cfg;
    p.o = o;
    p.r = r;
    p.threads = o->threads > 0 ? o->threads : (int)cfg->train.threads;
    p.precision = r->precision = train_precision(cfg->eval.precision);
    if (p.threads > 0) cpu_set_threads(p.threads);
    if (cfg->model.kind != BIENC_MODEL_BI_ENCODER)
        return bienc_error(BIENC_EINVAL, "bienc run trains and indexes a bi-encoder: model.kind must be bi_encoder "
                                         "(a cross_encoder or late_interaction model is the teacher: teacher.model.kind)");
    double t0 = os_now();
    BIENC_TRY(config_run_dir(cfg, r->run_dir, sizeof r->run_dir));
    BIENC_TRY(os_mkdir_p(r->run_dir));
    /* the working config: the same keys with the vocabulary fixed (a shallow copy: the
     * strings stay cfg's; only tokenizer.vocab points into p.vocab) */
    p.work = *cfg;
    int rc = pipe_bm25_reset(&p);
    if (rc == 0) rc = run_stage(&p, "data", stage_data);
    if (rc == 0) rc = run_stage(&p, "vocab", stage_vocab);
    p.work.tokenizer.vocab = p.vocab;
    /* the teacher trains after the bi-encoder when it starts from it or learns from its mined ranking */
    int dense_mine = cfg->mine.enabled && cfg->mine.dense;
    int late = cfg->teacher.enabled && (cfg->teacher.init_from_bi_encoder || (dense_mine && cfg->mine.teacher));
    if (rc == 0 && cfg->mine.enabled && !dense_mine) rc = run_stage(&p, "mine", stage_mine);
    if (rc == 0 && cfg->pretrain.enabled) rc = run_stage(&p, "pretrain", pipe_stage_pretrain);
    if (rc == 0 && cfg->teacher.enabled && !late) rc = run_stage(&p, "teacher", stage_teacher);
    if (rc == 0 && cfg->loss.name == BIENC_LOSS_MARGIN_MSE && p.teacher.ce) rc = run_stage(&p, "score", stage_score);
    /* DistillKLDivLoss: the trainer's teacher is this run's (it scores each batch) */
    if (rc == 0 && cfg->loss.name == BIENC_LOSS_DISTILL_KL && (p.teacher.ce || p.teacher.late)) p.work.loss.teacher = r->teacher_path;
    if (rc == 0) rc = run_stage(&p, "train", stage_train);
    if (rc == 0) rc = run_stage(&p, "load dev set", load_dev);
    if (rc == 0 && cfg->eval.baseline) rc = run_stage(&p, "baseline", stage_baseline);
    if (rc == 0) rc = run_stage(&p, "encode", stage_encode);
    if (rc == 0) rc = run_stage(&p, "index", stage_index);
    if (rc == 0) rc = run_stage(&p, "search", stage_search);
    if (rc == 0) rc = run_stage(&p, "bm25", pipe_stage_bm25);
    if (rc == 0 && p.runs[PIPE_RUN_BM25]) rc = run_stage(&p, "fuse", stage_fuse);
    if (rc == 0 && dense_mine) rc = run_stage(&p, "mine", stage_mine);
    /* a distilled second round needs the teacher first: it starts from the first round's model */
    int distil_refine = dense_mine && cfg->mine.refine_steps > 0 && cfg->mine.refine_loss == BIENC_LOSS_DISTILL_KL;
    if (rc == 0 && late && distil_refine) rc = run_stage(&p, "teacher", stage_teacher);
    if (rc == 0 && dense_mine && cfg->mine.refine_steps > 0) {
        rc = run_stage(&p, "refine", stage_refine);
        if (rc == 0) rc = run_stage(&p, "encode again", stage_encode);
        if (rc == 0) rc = run_stage(&p, "index again", stage_index);
        if (rc == 0) rc = run_stage(&p, "search again", stage_search);
        if (rc == 0 && p.runs[PIPE_RUN_BM25]) rc = run_stage(&p, "fuse again", stage_fuse);
    }
    if (rc == 0 && late && !distil_refine) rc = run_stage(&p, "teacher", stage_teacher);
    if (rc == 0 && (p.teacher.ce || p.teacher.late)) rc = run_stage(&p, "rerank", stage_rerank);
    if (rc == 0) rc = run_stage(&p, "evaluate", stage_evaluate);
    r->total_seconds = os_now() - t0;
    ctx_free(&p);
    return rc;
}
