/* `bienc train`: the bi-encoder as a train_model of the one training loop (train_loop.h),
 * and the setup around it (what it writes and how resume works: trainer.h).
 *
 * Each micro-batch embeds its queries and its passages (positives, then hard negatives
 * block by block) on one tape and computes the configured loss. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "ops/loss.h"
#include "io/model_io.h"
#include "core/atomic_file.h"
#include "core/comm.h"
#include "train/data_parallel.h"
#include "train/gradcache.h"
#include "train/train_loop.h"
#include "train/trainer_internal.h"
#include "core/os.h"
#include "train/run_dir.h"
#include "train/config_map.h"
#include "train/teacher.h"
#include "model/late_interaction.h"

#define DROPOUT_KEY 0x64726f706f7574ull /* "dropout" */

void train_opts_default(bienc_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->progress = -1;
    o->eval_max_passages = -1;
    o->eval_at_start = 1;
}

void train_result_free(bienc_train_result *r)
{
    if (!r) return;
    free(r->losses);
    free(r->eval_steps);
    free(r->eval_mrr);
    free(r->eval_recall);
    r->losses = NULL;
    r->eval_steps = NULL;
    r->eval_mrr = r->eval_recall = NULL;
    r->n_losses = r->n_evals = 0;
}

typedef struct trainer {
    const bienc_run_config *cfg;
    const bienc_train_opts *o;
    bienc_train_result *r;
    trainer_data data;
    trainer_eval ev;
    trainer_log log;
    bienc_biencoder *bi;
    bienc_sampler *sampler;
    bienc_batch batch;
    bienc_batch_opts bo;
    train_loop loop;
    bienc_tape *gc_scratch;  /* GradCache's mini-batch tape (loss.mini_batch_size > 0) */
    bienc_reranker teacher;  /* DistillKLDivLoss: loss.teacher, scoring every batch */
    char *config_text;
    int64_t *idx;
} trainer;

/* A resumed run keeps the checkpoint's architecture: a config that now says otherwise (say
 * `--set model.size=mini`) is an error naming the key, not a config.yaml that silently
 * disagrees with the weights. (With model.init_from the architecture is that file's.) */
static int check_resume_architecture(const trainer *t, const bienc_ckpt *ck)
{
    const bienc_cfg_model *m = &t->cfg->model;
    if (m->init_from) return 0;
    const bienc_encoder_config *e = &t->bi->enc->cfg;
    struct {
        const char *key;
        double config, ckpt;
    } keys[] = {
        {"model.hidden (or model.size)", (double)m->hidden, e->hidden_size},
        {"model.layers (or model.size)", (double)m->layers, e->num_layers},
        {"model.heads (or model.size)", (double)m->heads, e->num_heads},
        {"model.intermediate (or model.size)", (double)m->intermediate, e->intermediate_size},
        {"model.max_positions", (double)m->max_positions, e->max_position_embeddings},
        {"model.type_vocab", (double)m->type_vocab, e->type_vocab_size},
        {"model.vocab_size", m->vocab_size ? (double)m->vocab_size : e->vocab_size, e->vocab_size},
        {"model.activation", (double)m->activation, (double)e->activation},
        {"model.layer_norm_eps", (double)(float)m->layer_norm_eps, (double)e->layer_norm_eps},
        {"model.pooling", (double)m->pooling, (double)t->bi->pool},
        {"model.normalize", (double)(m->normalize != 0), (double)(t->bi->normalize != 0)},
        {"model.kind", (double)(m->kind == BIENC_MODEL_LATE_INTERACTION), (double)(t->bi->late_interaction != 0)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].config != keys[i].ckpt)
            return bienc_error(BIENC_EINVAL,
                               "resume: %s is %g in this run's config but %g in %s: a resumed run keeps its "
                               "architecture (undo the change, or start a new run with model.init_from)",
                               keys[i].key, keys[i].config, keys[i].ckpt, ckpt_path(ck));
    return 0;
}

/* The model: from the resume checkpoint, from model.init_from, or new (tokenizer from
 * tokenizer.vocab or trained on the training texts). */
static int build_model(trainer *t, const bienc_ckpt *resume)
{
    const bienc_run_config *cfg = t->cfg;
    if (resume) {
        BIENC_TRY(model_io_read(resume, &t->bi));
        return check_resume_architecture(t, resume);
    }
    if (cfg->model.init_from) {
        BIENC_TRY(model_io_load(cfg->model.init_from, &t->bi));
        /* the architecture, vocabulary and pooling are the checkpoint's; the lengths are this run's */
        t->bi->max_query_len = (int)cfg->tokenizer.max_query_length;
        t->bi->max_passage_len = (int)cfg->tokenizer.max_passage_length;
        t->bi->late_interaction = cfg->model.kind == BIENC_MODEL_LATE_INTERACTION; /* a bi-encoder starts a ColBERT */
        int rc = biencoder_check(t->bi);
        return rc < 0 ? bienc_error_context(rc, "model.init_from %s: ", cfg->model.init_from) : 0;
    }
    bienc_tokenizer *tok = NULL;
    if (cfg->tokenizer.vocab) {
        BIENC_TRY(tokenizer_load(&tok, cfg->tokenizer.vocab, cfg->tokenizer.lower_case));
    } else {
        double t0 = os_now();
        BIENC_TRY(trainer_train_vocab(&t->data, cfg, &tok));
        char path[1200];
        snprintf(path, sizeof path, "%s/vocab.txt", t->r->run_dir);
        int rc = comm_rank() == 0 ? tokenizer_save_vocab(tok, path) : 0; /* every rank trained the same one */
        if (rc < 0) {
            tokenizer_free(tok);
            return rc;
        }
        trainer_log_msg(&t->log, "tokenizer: trained a %d-token WordPiece vocabulary in %.1f s -> %s\n",
                        tokenizer_vocab_size(tok), os_now() - t0, path);
    }
    bienc_encoder_config ec;
    int rc = config_encoder_config(&cfg->model, tokenizer_vocab_size(tok), &ec);
    if (rc < 0) {
        tokenizer_free(tok);
        return rc;
    }
    bienc_biencoder_opts bo = {.pool = cfg->model.pooling,
                               .normalize = cfg->model.normalize,
                               .max_query_len = (int)cfg->tokenizer.max_query_length,
                               .max_passage_len = (int)cfg->tokenizer.max_passage_length,
                               .late_interaction = cfg->model.kind == BIENC_MODEL_LATE_INTERACTION};
    return biencoder_new(&t->bi, &ec, (uint64_t)cfg->train.seed, tok, &bo);
}

static int check_loss(trainer *t)
{
    const bienc_run_config *cfg = t->cfg;
    int avail = tuples_n_neg(t->data.tuples);
    if (cfg->model.kind == BIENC_MODEL_LATE_INTERACTION &&
        (cfg->loss.name != BIENC_LOSS_MNRL || cfg->loss.mini_batch_size > 0 || comm_size() > 1))
        return bienc_error(BIENC_EINVAL, "model.kind late_interaction trains with MultipleNegativesRankingLoss on one "
                                         "process, without loss.mini_batch_size (GradCache)");
    switch (cfg->loss.name) {
    case BIENC_LOSS_MNRL:
    case BIENC_LOSS_MNRL_SYMMETRIC:
        t->bo.n_neg = (int)(cfg->loss.hard_negatives < avail ? cfg->loss.hard_negatives : avail);
        if (cfg->loss.name == BIENC_LOSS_MNRL_SYMMETRIC && cfg->loss.similarity != BIENC_SIM_COS)
            return bienc_error(BIENC_EINVAL, "loss: MultipleNegativesSymmetricRankingLoss supports similarity cos_sim only");
        if (cfg->loss.name == BIENC_LOSS_MNRL_SYMMETRIC && comm_size() > 1)
            return bienc_error(BIENC_EINVAL, "loss: MultipleNegativesSymmetricRankingLoss does not run on several ranks "
                                             "yet (its query side would need the gathered queries): use one process");
        if (cfg->loss.mini_batch_size > 0) {
            BIENC_TRY(tape_new(&t->gc_scratch));
            tape_set_precision(t->gc_scratch, train_precision(cfg->train.precision));
        }
        return 0;
    case BIENC_LOSS_TRIPLET:
        if (cfg->loss.mini_batch_size > 0)
            return bienc_error(BIENC_EINVAL, "loss.mini_batch_size (GradCache) applies to MultipleNegativesRankingLoss only");
        if (avail < 1) return bienc_error(BIENC_EINVAL, "loss: TripletLoss needs a negative per example; this data has none");
        t->bo.n_neg = 1;
        return 0;
    case BIENC_LOSS_MARGIN_MSE:
        if (cfg->loss.mini_batch_size > 0)
            return bienc_error(BIENC_EINVAL, "loss.mini_batch_size (GradCache) applies to MultipleNegativesRankingLoss only");
        if (avail < 1 || !tuples_has_margins(t->data.tuples))
            return bienc_error(BIENC_EINVAL, "loss: MarginMSELoss needs teacher scores: triples with a 4th column "
                                             "(the margin) or 4th and 5th columns (positive and negative score), in "
                                             "data.format msmarco_triples or msmarco_ids (%s has none)",
                               cfg->data.triples && cfg->data.triples[0] ? cfg->data.triples : "this data");
        t->bo.n_neg = 1;
        return 0;
    case BIENC_LOSS_DISTILL_KL:
        if (cfg->loss.mini_batch_size > 0)
            return bienc_error(BIENC_EINVAL, "loss.mini_batch_size (GradCache) applies to MultipleNegativesRankingLoss only");
        if (avail < cfg->loss.hard_negatives)
            return bienc_error(BIENC_EINVAL, "loss: DistillKLDivLoss with loss.hard_negatives %lld needs that many "
                                             "negatives per query; this data has %d (hard-negative JSON lines, "
                                             "data.format hard_negatives, give K)",
                               (long long)cfg->loss.hard_negatives, avail);
        if (!cfg->loss.teacher || !cfg->loss.teacher[0])
            return bienc_error(BIENC_EINVAL, "loss: DistillKLDivLoss needs loss.teacher, the teacher checkpoint "
                                             "that scores each batch (say --set loss.teacher=teacher.h5)");
        {
            int rc = reranker_load(cfg->loss.teacher, &t->teacher);
            if (rc < 0) return bienc_error_context(rc, "loss.teacher %s: ", cfg->loss.teacher);
        }
        t->bo.n_neg = (int)cfg->loss.hard_negatives;
        return 0;
    default:
        return bienc_error(BIENC_EINVAL, "loss: %s is not a bi-encoder loss", config_loss_name(cfg->loss.name));
    }
}

/* ---- the bi-encoder as a train_model ---- */

/* DistillKLDivLoss's labels: the teacher's scores [n, G] of this rank's n queries (tuples
 * idx[off..]) against their G = 1 + K passages (the positive, then the negatives the batch
 * embeds: tuple slots 1 .. G), on a no-grad tape at the run's precision. The cross-encoder's
 * forward has a fixed reduction order, so the scores (and a resumed run) are exact. */
static int teacher_batch_scores(trainer *t, bienc_tape *tape, int off, int n, int G, float **out)
{
    const int64_t np = (int64_t)n * G;
    float *scores = tape_floats(tape, (size_t)np);
    const char **qt = malloc((size_t)np * sizeof *qt), **pt = malloc((size_t)np * sizeof *pt);
    size_t *ql = malloc((size_t)np * sizeof *ql), *pl = malloc((size_t)np * sizeof *pl);
    int rc = scores && qt && pt && ql && pl ? 0 : bienc_error(BIENC_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++)
        for (int j = 0; rc == 0 && j < G; j++) {
            int64_t k = (int64_t)i * G + j, tuple = t->idx[off + i];
            rc = tuples_text(t->data.tuples, tuple, 0, &qt[k], &ql[k]);
            if (rc == 0) rc = tuples_text(t->data.tuples, tuple, 1 + j, &pt[k], &pl[k]);
        }
    if (rc == 0)
        rc = t->teacher.ce ? teacher_score_pairs(t->teacher.ce, t->cfg->train.precision, qt, ql, pt, pl, np,
                                                 (int)t->cfg->eval.batch_size, scores)
                           : late_score_pairs(t->teacher.late, train_precision(t->cfg->train.precision), qt, ql, pt,
                                              pl, np, (int)t->cfg->eval.batch_size, scores);
    /* a late-interaction teacher's MaxSim is a mean of cosines: scaled as the student's cosines are */
    for (int64_t k = 0; rc == 0 && t->teacher.late && k < np; k++) scores[k] *= (float)t->cfg->loss.scale;
    free(qt);
    free(pt);
    free(ql);
    free(pl);
    *out = rc == 0 ? scores : NULL;
    return rc;
}

/* MNRL's cross entropy over scores[n, M]: query i's positive is passage i. */
static int in_batch_ce(bienc_tape *tape, bienc_tensor *scores, int n, bienc_tensor **loss)
{
    int32_t *labels = tape_alloc(tape, (size_t)n * sizeof *labels);
    if (!labels) return BIENC_ENOMEM;
    for (int i = 0; i < n; i++) labels[i] = i;
    return loss_cross_entropy(tape, scores, labels, loss);
}

/* MNRL of this rank's queries q against every rank's passages (docs: this rank's 1 + K
 * blocks): query i's positive is passage i of the gathered batch. */
static int in_batch_mnrl(trainer *t, bienc_tape *tape, bienc_tensor *q, bienc_tensor *docs, int n_global,
                         bienc_tensor **loss)
{
    const bienc_cfg_loss_section *L = &t->cfg->loss;
    if (comm_size() > 1) BIENC_TRY(dp_gather_rows(tape, docs, 1 + t->batch.n_neg, n_global, &docs));
    if (L->similarity == BIENC_SIM_COS)
        return loss_mnrl(tape, q, docs, (float)L->scale, L->name == BIENC_LOSS_MNRL_SYMMETRIC, loss);
    bienc_tensor *scores;
    BIENC_TRY(op_dot_matrix_scaled(tape, q, docs, (float)L->scale, &scores));
    return in_batch_ce(tape, scores, t->batch.n, loss);
}

/* The configured loss of this rank's queries qb (examples off.. of the global batch of
 * n_global) against the passages pb: its own only for the per-example losses, every
 * rank's for the in-batch negatives of MNRL. */
static int bi_local_loss(trainer *t, bienc_tape *tape, uint64_t key, const bienc_batch_ids *qb,
                         const bienc_batch_ids *pb, int off, int n_global, bienc_tensor **loss)
{
    const bienc_cfg_loss_section *L = &t->cfg->loss;
    const bienc_batch *b = &t->batch;
    int n = b->n;
    bienc_tensor *q, *docs;
    if (t->bi->late_interaction) { /* ColBERT: MNRL over the MaxSim scores */
        bienc_tensor *scores;
        BIENC_TRY(late_scores(t->bi, tape, qb, pb, 1, rng_hash_u64(key, 0), (float)L->scale, &scores));
        return in_batch_ce(tape, scores, n, loss);
    }
    if (t->gc_scratch) { /* GradCache: the same loss, embeddings a mini-batch at a time */
        int mini = (int)L->mini_batch_size;
        bienc_tensor *param = encoder_params(t->bi->enc)[0];
        BIENC_TRY(gradcache_embed(t->bi, tape, t->gc_scratch, qb, mini, rng_hash_u64(key, 0), param, &q));
        BIENC_TRY(gradcache_embed(t->bi, tape, t->gc_scratch, pb, mini, rng_hash_u64(key, 1), param, &docs));
    } else {
        BIENC_TRY(biencoder_embed(t->bi, tape, qb, 1, rng_hash_u64(key, 0), &q));
        BIENC_TRY(biencoder_embed(t->bi, tape, pb, 1, rng_hash_u64(key, 1), &docs));
    }
    if (L->name == BIENC_LOSS_TRIPLET || L->name == BIENC_LOSS_MARGIN_MSE) {
        bienc_tensor *p, *neg;
        BIENC_TRY(op_slice_rows(tape, docs, 0, n, &p));
        BIENC_TRY(op_slice_rows(tape, docs, n, n, &neg));
        if (L->name == BIENC_LOSS_TRIPLET)
            return loss_triplet(tape, q, p, neg, L->distance, (float)L->margin, loss);
        float *margin = tape_floats(tape, (size_t)n);
        if (!margin) return BIENC_ENOMEM;
        for (int i = 0; i < n; i++) margin[i] = tuples_margin(t->data.tuples, t->idx[off + i]);
        return loss_margin_mse(tape, q, p, neg, margin, loss);
    }
    if (L->name == BIENC_LOSS_DISTILL_KL) {
        float *scores;
        bienc_tensor *kl, *ce;
        BIENC_TRY(teacher_batch_scores(t, tape, off, n, 1 + b->n_neg, &scores));
        BIENC_TRY(loss_distill_kl_div(tape, q, docs, scores, L->similarity, (float)L->scale, (float)L->temperature,
                                      L->in_batch_weight > 0 ? &kl : loss));
        if (!(L->in_batch_weight > 0)) return 0;
        /* + MNRL over the whole batch: the teacher orders each query's own list, the in-batch
         * negatives keep the query away from every other query's passages */
        BIENC_TRY(in_batch_mnrl(t, tape, q, docs, n_global, &ce));
        return op_weighted_sum(tape, 2, (bienc_tensor *[]){kl, ce}, (float[]){1.0f, (float)L->in_batch_weight}, loss);
    }
    return in_batch_mnrl(t, tape, q, docs, n_global, loss);
}

/* The loss of the next micro-batch on the tape. Under several ranks: this rank's share of
 * the global batch, its queries against every rank's passages (data_parallel.h). */
static int bi_micro_loss(void *self, bienc_tape *tape, uint64_t key, bienc_tensor **loss, int64_t *examples,
                         int64_t *epoch)
{
    trainer *t = self;
    int n, off = 0, dp = comm_size() > 1;
    BIENC_TRY(sampler_next(t->sampler, t->idx, &n, epoch));
    *examples = n;
    int n_global = n;
    if (dp) BIENC_TRY(dp_slice(n_global, &off, &n));
    BIENC_TRY(batch_build(&t->batch, t->data.tuples, t->idx + off, n, t->bi->tok, &t->bo));
    bienc_batch *b = &t->batch;
    bienc_batch_ids qb = {.ids = b->queries.ids, .type_ids = b->queries.type_ids, .seqs = {.n = b->queries.n, .offsets = b->queries.offsets}};
    bienc_batch_ids pb = {.ids = b->passages.ids, .type_ids = b->passages.type_ids, .seqs = {.n = b->passages.n, .offsets = b->passages.offsets}};
    if (dp) { /* the dropout masks of each sequence's place in the global batch */
        BIENC_TRY(dp_mask_layout(tape, &qb.seqs, 1, n_global));
        BIENC_TRY(dp_mask_layout(tape, &pb.seqs, 1 + b->n_neg, n_global));
    }
    BIENC_TRY(bi_local_loss(t, tape, key, &qb, &pb, off, n_global, loss));
    if (!dp) return 0;
    /* this rank's share of the global mean: the ranks' losses and gradients sum to it */
    return op_weighted_sum(tape, 1, (bienc_tensor *[]){*loss}, (float[]){(float)b->n / (float)n_global}, loss);
}

/* The model (model_io.h layout) and the sampler position. */
static int bi_save(void *self, bienc_ckpt_writer *w)
{
    trainer *t = self;
    BIENC_TRY(model_io_write(w, t->bi));
    bienc_sampler_state ss;
    sampler_get_state(t->sampler, &ss);
    uint64_t seed = ss.seed;
    BIENC_TRY(ckpt_write_uint64s(w, "sampler/seed", &seed, 1));
    BIENC_TRY(ckpt_write_int64(w, "sampler/epoch", ss.epoch));
    return ckpt_write_int64(w, "sampler/batch", ss.batch);
}

static int bi_load_state(void *self, const bienc_ckpt *c)
{
    trainer *t = self;
    bienc_sampler_state ss;
    uint64_t seed;
    int64_t v;
    BIENC_TRY(ckpt_read_uint64s(c, "sampler/seed", &seed, 1));
    ss.seed = seed;
    BIENC_TRY(ckpt_read_int64(c, "sampler/epoch", &ss.epoch));
    BIENC_TRY(ckpt_read_int64(c, "sampler/batch", &v));
    ss.batch = v;
    if (ss.epoch < 0 || ss.batch < 0) return bienc_error(BIENC_EFORMAT, "%s: negative sampler position", ckpt_path(c));
    return sampler_set_state(t->sampler, &ss);
}

static int bi_eval(void *self, bienc_tape *tape, trainer_eval_scores *s)
{
    trainer *t = self;
    return trainer_eval_run(&t->ev, t->bi, tape, (int)t->cfg->eval.batch_size, s);
}

static int setup(trainer *t)
{
    const bienc_run_config *cfg = t->cfg;
    bienc_train_result *r = t->r;
    cpu_set_threads(t->o->threads > 0 ? t->o->threads : (int)cfg->train.threads);
    BIENC_TRY(run_dir_create(cfg, "", r));
    char resume_path[1100];
    t->log.out = t->o->quiet || comm_rank() != 0 ? NULL : (t->o->log ? t->o->log : stderr); /* rank 0 logs */
    BIENC_TRY(train_loop_resolve_resume(r->ckpt_dir, t->o, &t->log, resume_path, sizeof resume_path));
    bienc_ckpt *ck = NULL; /* opened first: a bad checkpoint fails before the data is read */
    if (resume_path[0]) BIENC_TRY(ckpt_open(&ck, resume_path));
    int rc = trainer_data_load(&t->data, cfg, t->log.out);
    if (rc == 0) rc = check_loss(t);
    if (rc == 0) rc = build_model(t, ck);
    if (rc == 0) rc = encoder_set_trainable(t->bi->enc, 1); /* loaded models come without gradients */
    t->bo.max_query_len = t->bi ? t->bi->max_query_len : 0;
    t->bo.max_passage_len = t->bi ? t->bi->max_passage_len : 0;
    if (rc == 0)
        rc = sampler_new(&t->sampler, t->data.tuples, (int)cfg->train.batch_size, cfg->train.no_duplicates,
                         t->bo.n_neg > 0, 0, (uint64_t)cfg->train.seed);
    int accum = (int)cfg->optim.grad_accumulation;
    int64_t total = cfg->train.steps;
    if (rc == 0 && total <= 0)
        total = cfg->train.epochs * ((sampler_batches_per_epoch(t->sampler) + accum - 1) / accum);
    r->total_steps = total;
    if (rc == 0) rc = run_dir_config_text(cfg, &t->config_text);
    /* a late-interaction model has no vectors to search the dev set with: it trains without evaluation */
    if (rc == 0 && !t->bi->late_interaction) rc = trainer_eval_init(&t->ev, cfg, &t->data,
                                        t->o->eval_max_passages >= 0 ? t->o->eval_max_passages : cfg->eval.max_passages,
                                        t->log.out);
    if (rc == 0) {
        train_model m = {.self = t, .params = encoder_params(t->bi->enc), .n_params = encoder_param_count(t->bi->enc),
                         .micro_loss = bi_micro_loss, .save = bi_save, .load_state = bi_load_state,
                         .eval = t->ev.enabled && comm_rank() == 0 ? bi_eval : NULL, .data_parallel = 1};
        train_loop_opts lo = {.total_steps = total, .log_every = cfg->train.log_every_steps,
                              .eval_every = cfg->eval.every_steps, .ckpt_every = cfg->checkpoint.every_steps,
                              .keep_last = cfg->checkpoint.keep_last, .keep_best = cfg->checkpoint.keep_best,
                              .best_metric = cfg->eval.best_metric, .seed = (uint64_t)cfg->train.seed,
                              .dropout_base = rng_hash_u64((uint64_t)cfg->train.seed, DROPOUT_KEY),
                              .ckpt_dir = r->ckpt_dir, .config_text = t->config_text, .what = "", .o = t->o,
                              .precision = train_precision(cfg->train.precision)};
        rc = train_loop_init(&t->loop, &m, &lo, &cfg->optim, &cfg->schedule, &t->log, r, ck);
    }
    ckpt_close(ck);
    BIENC_TRY(rc);

    if (comm_rank() == 0) BIENC_TRY(run_dir_write_config(r->run_dir, t->config_text));

    bienc_train_opts quiet = *t->o; /* ranks other than 0 write no log */
    quiet.quiet = 1;
    BIENC_TRY(comm_rank() == 0 ? trainer_log_open(&t->log, r->run_dir, resume_path[0] ? t->loop.st.step : -1, t->o)
                               : trainer_log_open(&t->log, NULL, -1, &quiet));
    t->idx = malloc((size_t)cfg->train.batch_size * sizeof *t->idx);
    if (!t->idx) return bienc_error(BIENC_ENOMEM, "out of memory");
    const bienc_encoder_config *ec = &t->bi->enc->cfg;
    char ranks[32] = ""; /* data-parallel: " x N ranks" (the global batch is split among them) */
    if (comm_size() > 1) snprintf(ranks, sizeof ranks, " x %d ranks", comm_size());
    trainer_log_msg(&t->log,
                    "model: %d layers, hidden %d, %d heads, vocab %d (%.2fM parameters), pooling %s%s; "
                    "%lld training examples, batch %lld x %d, %s, %lld steps, %d threads%s, %s\n",
                    ec->num_layers, ec->hidden_size, ec->num_heads, ec->vocab_size,
                    encoder_num_scalars(t->bi->enc) / 1e6,
                    t->bi->late_interaction ? "none (late interaction: MaxSim over token vectors)" : pool_mode_name(t->bi->pool),
                    t->bi->normalize ? " + normalize" : "", (long long)tuples_count(t->data.tuples),
                    (long long)cfg->train.batch_size, accum, config_loss_name(cfg->loss.name), (long long)total,
                    cpu_get_threads(), ranks,
                    train_precision(cfg->train.precision) == BIENC_PRECISION_BF16
                        ? (cpu_bf16_path() == BIENC_BF16_AVX512 ? "bf16 (avx512_bf16)" : "bf16 (fallback kernel)")
                        : "fp32");
    return 0;
}

int trainer_run(const bienc_run_config *cfg, const bienc_train_opts *opts, bienc_train_result *r)
{
    if (r) memset(r, 0, sizeof *r);
    BIENC_ASSERT(cfg && r);
    bienc_train_opts defaults;
    train_opts_default(&defaults);
    r->final_loss = r->mrr_before = r->mrr_after = r->recall_before = r->recall_after = NAN;
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.o = opts ? opts : &defaults;
    t.r = r;
    double t0 = os_now();
    int rc = setup(&t);
    if (rc == 0) rc = train_loop_run(&t.loop);
    r->seconds = os_now() - t0;
    trainer_log_close(&t.log);
    train_loop_free(&t.loop);
    trainer_eval_free(&t.ev);
    tape_free(t.gc_scratch);
    reranker_free(&t.teacher);
    batch_free(&t.batch);
    sampler_free(t.sampler);
    biencoder_free(t.bi);
    trainer_data_free(&t.data);
    free(t.idx);
    free(t.config_text);
    return rc;
}
