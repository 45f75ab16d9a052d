/* The training loop of `bienc train` (what it writes and how resume works: trainer.h).
 *
 * One optimiser step = grad_accumulation micro-batches; each micro-batch embeds its queries
 * and its passages (positives, then hard negatives block by block) on one tape, computes
 * the loss, checks it is finite and back-propagates; AdamW steps on the last one. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bienc/cpu.h"
#include "bienc/error.h"
#include "bienc/loss.h"
#include "bienc/model_io.h"
#include "core/atomic_file.h"
#include "train/trainer_internal.h"

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
    r->losses = NULL;
    r->n_losses = 0;
}

typedef struct trainer {
    const bienc_run_config *cfg;
    const bienc_train_opts *o;
    bienc_train_result *r;
    trainer_data data;
    trainer_eval ev;
    trainer_log log;
    bienc_biencoder *bi;
    bienc_adamw *opt;
    bienc_schedule sched;
    bienc_sampler *sampler;
    bienc_tape *tape;
    bienc_batch batch;
    bienc_batch_opts bo;
    trainer_state st;
    char *config_text;
    int64_t *idx;
    int accum;
    uint64_t dropout_base;
    int64_t losses_cap;
    int64_t last_saved;
    int64_t row_start;      /* first step of the metrics.jsonl row in progress */
    double resumed_row_sum; /* its losses before the resume step (from the checkpoint) */
    int resumed_eval;       /* the resume checkpoint holds an eval (a stop skips the one due) */
} trainer;

static int mkdir_p(const char *path)
{
    char buf[1100];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof buf) return bienc_error(BIENC_ERANGE, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return bienc_error(BIENC_EIO, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return bienc_error(BIENC_EIO, "cannot create %s: %s", buf, strerror(errno));
    return 0;
}

static int setup_dirs(trainer *t)
{
    bienc_train_result *r = t->r;
    BIENC_TRY(config_run_dir(t->cfg, r->run_dir, sizeof r->run_dir));
    BIENC_TRY(mkdir_p(r->run_dir));
    const char *name = strrchr(r->run_dir, '/');
    name = name ? name + 1 : r->run_dir;
    const char *base = t->cfg->checkpoint.dir ? t->cfg->checkpoint.dir : "checkpoints";
    int n = snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/%s", base, name);
    if (n < 0 || (size_t)n >= sizeof r->ckpt_dir) return bienc_error(BIENC_ERANGE, "checkpoint directory name too long");
    return mkdir_p(r->ckpt_dir);
}

/* A fresh run must not mix its checkpoints with an earlier run's: a later --resume would
 * pick the wrong latest step and pruning would keep a stale "best". */
static int check_fresh_dir(trainer *t)
{
    int64_t *steps = NULL;
    size_t n = 0;
    BIENC_TRY(ckpt_list_steps(t->r->ckpt_dir, &steps, &n));
    int rc = 0;
    if (n && !t->o->overwrite)
        rc = bienc_error(BIENC_ESTATE,
                         "%s already holds checkpoints of an earlier run (latest: step-%lld.h5): resume it with "
                         "--resume, start over with --overwrite (deletes them), or pick another output.name",
                         t->r->ckpt_dir, (long long)steps[n - 1]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char path[1100];
        rc = ckpt_step_path(t->r->ckpt_dir, steps[i], path, sizeof path);
        if (rc == 0 && remove(path) != 0) rc = bienc_error(BIENC_EIO, "cannot remove %s: %s", path, strerror(errno));
    }
    free(steps);
    return rc;
}

/* The checkpoint to resume from ("" for a fresh start). */
static int resolve_resume(trainer *t, char *path, size_t size)
{
    path[0] = 0;
    const char *res = t->o->resume;
    if (!res) return check_fresh_dir(t);
    if (strcmp(res, "auto") != 0) {
        snprintf(path, size, "%s", res);
        return 0;
    }
    int64_t step;
    int rc = ckpt_latest_step(t->r->ckpt_dir, &step);
    if (rc == BIENC_ENOTFOUND) {
        trainer_log_msg(&t->log, "resume: no checkpoint in %s, starting from scratch\n", t->r->ckpt_dir);
        return check_fresh_dir(t);
    }
    BIENC_TRY(rc);
    return ckpt_step_path(t->r->ckpt_dir, step, path, size);
}

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
        int rc = biencoder_check(t->bi);
        return rc < 0 ? bienc_error_context(rc, "model.init_from %s: ", cfg->model.init_from) : 0;
    }
    bienc_tokenizer *tok = NULL;
    if (cfg->tokenizer.vocab) {
        BIENC_TRY(tokenizer_load(&tok, cfg->tokenizer.vocab, cfg->tokenizer.lower_case));
    } else {
        double t0 = trainer_now();
        BIENC_TRY(trainer_train_vocab(&t->data, cfg, &tok));
        char path[1200];
        snprintf(path, sizeof path, "%s/vocab.txt", t->r->run_dir);
        int rc = tokenizer_save_vocab(tok, path);
        if (rc < 0) {
            tokenizer_free(tok);
            return rc;
        }
        trainer_log_msg(&t->log, "tokenizer: trained a %d-token WordPiece vocabulary in %.1f s -> %s\n",
                        tokenizer_vocab_size(tok), trainer_now() - t0, path);
    }
    bienc_encoder_config ec;
    int rc = config_encoder_config(&cfg->model, tokenizer_vocab_size(tok), &ec);
    if (rc < 0) {
        tokenizer_free(tok);
        return rc;
    }
    bienc_biencoder_opts bo = {.pool = (bienc_pool_mode)cfg->model.pooling,
                               .normalize = cfg->model.normalize,
                               .max_query_len = (int)cfg->tokenizer.max_query_length,
                               .max_passage_len = (int)cfg->tokenizer.max_passage_length};
    return biencoder_new(&t->bi, &ec, (uint64_t)cfg->train.seed, tok, &bo);
}

static int check_loss(trainer *t)
{
    const bienc_run_config *cfg = t->cfg;
    int avail = tuples_n_neg(t->data.tuples);
    switch (cfg->loss.name) {
    case BIENC_CFG_LOSS_MNRL:
    case BIENC_CFG_LOSS_MNRL_SYMMETRIC:
        t->bo.n_neg = (int)(cfg->loss.hard_negatives < avail ? cfg->loss.hard_negatives : avail);
        if (cfg->loss.name == BIENC_CFG_LOSS_MNRL_SYMMETRIC && cfg->loss.similarity != BIENC_CFG_SIM_COS)
            return bienc_error(BIENC_EINVAL, "loss: MultipleNegativesSymmetricRankingLoss supports similarity cos_sim only");
        return 0;
    case BIENC_CFG_LOSS_TRIPLET:
        if (avail < 1) return bienc_error(BIENC_EINVAL, "loss: TripletLoss needs a negative per example; this data has none");
        t->bo.n_neg = 1;
        return 0;
    case BIENC_CFG_LOSS_MARGIN_MSE:
        if (avail < 1 || !tuples_has_margins(t->data.tuples))
            return bienc_error(BIENC_EINVAL, "loss: MarginMSELoss needs teacher scores: triples with a 4th column "
                                             "(the margin) or 4th and 5th columns (positive and negative score), in "
                                             "data.format msmarco_triples or msmarco_ids (%s has none)",
                               cfg->data.triples && cfg->data.triples[0] ? cfg->data.triples : "this data");
        t->bo.n_neg = 1;
        return 0;
    default:
        return bienc_error(BIENC_EINVAL, "loss: %s is not a bi-encoder loss", config_loss_name(cfg->loss.name));
    }
}

static int config_to_text(const bienc_run_config *cfg, char **out)
{
    size_t n = 0;
    FILE *f = open_memstream(out, &n);
    if (!f) return bienc_error(BIENC_ENOMEM, "out of memory");
    int rc = config_dump_yaml(cfg, f);
    fclose(f);
    return rc;
}

static int setup(trainer *t)
{
    const bienc_run_config *cfg = t->cfg;
    bienc_train_result *r = t->r;
    cpu_set_threads(t->o->threads > 0 ? t->o->threads : (int)cfg->train.threads);
    BIENC_TRY(setup_dirs(t));
    char resume_path[1100];
    t->log.out = t->o->quiet ? NULL : (t->o->log ? t->o->log : stderr);
    BIENC_TRY(resolve_resume(t, resume_path, sizeof resume_path));
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
    t->accum = (int)cfg->optim.grad_accumulation;
    int64_t total = cfg->train.steps;
    if (rc == 0 && total <= 0)
        total = cfg->train.epochs * ((sampler_batches_per_epoch(t->sampler) + t->accum - 1) / t->accum);
    r->total_steps = total;
    if (rc == 0) rc = schedule_from_config(&t->sched, &cfg->schedule, total > 0 ? total : 1);
    bienc_adamw_config oc;
    adamw_config_from(&oc, &cfg->optim);
    if (rc == 0) rc = adamw_new(&t->opt, encoder_params(t->bi->enc), encoder_param_count(t->bi->enc), &oc, &t->sched);
    rng_seed(&t->st.rng, (uint64_t)cfg->train.seed);
    t->st.mrr_before = NAN;
    t->st.loss = NAN;
    if (rc == 0 && ck) {
        char attr[64];
        trainer_ckpt_metric_attr(trainer_best_metric(cfg), attr, sizeof attr);
        t->resumed_eval = ckpt_has_attr(ck, attr);
        rc = trainer_ckpt_load_state(ck, t->opt, &t->st);
        if (rc == 0) rc = sampler_set_state(t->sampler, &t->st.sampler);
        int64_t stored_total;
        if (rc == 0 && ckpt_read_int64(ck, "schedule/total_steps", &stored_total) == 0 && stored_total != total)
            trainer_log_msg(&t->log, "resume: the run now has %lld steps instead of %lld: the schedule changes\n",
                            (long long)total, (long long)stored_total);
        if (rc == 0) {
            r->start_step = t->st.step;
            r->mrr_before = t->st.mrr_before;
            snprintf(r->last_ckpt, sizeof r->last_ckpt, "%s", resume_path);
            trainer_log_msg(&t->log, "resumed from %s at step %lld\n", resume_path, (long long)t->st.step);
        }
    }
    ckpt_close(ck);
    BIENC_TRY(rc);
    t->last_saved = ck ? t->st.step : -1;
    t->row_start = ck ? t->st.row_start : 0;
    t->resumed_row_sum = ck ? t->st.row_sum : 0;
    t->dropout_base = rng_hash_u64((uint64_t)cfg->train.seed, DROPOUT_KEY);
    t->st.sched = &t->sched;
    t->st.best_metric = trainer_best_metric(cfg);

    BIENC_TRY(config_to_text(cfg, &t->config_text));
    t->st.config_text = t->config_text;
    char path[1200];
    snprintf(path, sizeof path, "%s/config.yaml", r->run_dir);
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, path));
    fputs(t->config_text, out.f);
    BIENC_TRY(atomic_file_commit(&out));

    BIENC_TRY(trainer_log_open(&t->log, r->run_dir, resume_path[0] ? t->st.step : -1, t->o));
    BIENC_TRY(trainer_eval_init(&t->ev, cfg, &t->data,
                                t->o->eval_max_passages >= 0 ? t->o->eval_max_passages : cfg->eval.max_passages,
                                t->log.out));
    BIENC_TRY(tape_new(&t->tape));
    t->idx = malloc((size_t)cfg->train.batch_size * sizeof *t->idx);
    if (!t->idx) return bienc_error(BIENC_ENOMEM, "out of memory");
    const bienc_encoder_config *ec = &t->bi->enc->cfg;
    trainer_log_msg(&t->log,
                    "model: %d layers, hidden %d, %d heads, vocab %d (%.2fM parameters), pooling %s%s; "
                    "%lld training examples, batch %lld x %d, %s, %lld steps, %d threads\n",
                    ec->num_layers, ec->hidden_size, ec->num_heads, ec->vocab_size,
                    encoder_num_scalars(t->bi->enc) / 1e6, pool_mode_name(t->bi->pool),
                    t->bi->normalize ? " + normalize" : "", (long long)tuples_count(t->data.tuples),
                    (long long)cfg->train.batch_size, t->accum, config_loss_name(cfg->loss.name), (long long)total,
                    cpu_get_threads());
    return 0;
}

/* The loss of one micro-batch on t->tape. */
static int micro_loss(trainer *t, uint64_t key, bienc_tensor **loss)
{
    const bienc_cfg_loss_section *L = &t->cfg->loss;
    bienc_batch *b = &t->batch;
    bienc_batch_ids qb = {.ids = b->queries.ids, .type_ids = b->queries.type_ids, .seqs = b->queries.seqs};
    bienc_batch_ids pb = {.ids = b->passages.ids, .type_ids = b->passages.type_ids, .seqs = b->passages.seqs};
    bienc_tensor *q, *docs;
    BIENC_TRY(biencoder_embed(t->bi, t->tape, &qb, 1, rng_hash_u64(key, 0), &q));
    BIENC_TRY(biencoder_embed(t->bi, t->tape, &pb, 1, rng_hash_u64(key, 1), &docs));
    int n = b->n;
    if (L->name == BIENC_CFG_LOSS_TRIPLET || L->name == BIENC_CFG_LOSS_MARGIN_MSE) {
        bienc_tensor *p, *neg;
        BIENC_TRY(op_slice_rows(t->tape, docs, 0, n, &p));
        BIENC_TRY(op_slice_rows(t->tape, docs, n, n, &neg));
        if (L->name == BIENC_CFG_LOSS_TRIPLET)
            return loss_triplet(t->tape, q, p, neg, (bienc_distance)L->distance, (float)L->margin, loss);
        float *margin = tape_floats(t->tape, (size_t)n);
        if (!margin) return BIENC_ENOMEM;
        for (int i = 0; i < n; i++) margin[i] = tuples_margin(t->data.tuples, t->idx[i]);
        return loss_margin_mse(t->tape, q, p, neg, margin, loss);
    }
    if (L->similarity == BIENC_CFG_SIM_COS)
        return loss_mnrl(t->tape, q, docs, (float)L->scale, L->name == BIENC_CFG_LOSS_MNRL_SYMMETRIC, loss);
    bienc_tensor *scores;
    BIENC_TRY(op_dot_matrix_scaled(t->tape, q, docs, (float)L->scale, &scores));
    int32_t *labels = tape_alloc(t->tape, (size_t)n * sizeof *labels);
    if (!labels) return BIENC_ENOMEM;
    for (int i = 0; i < n; i++) labels[i] = i;
    return loss_cross_entropy(t->tape, scores, labels, loss);
}

static int push_loss(trainer *t, float v)
{
    bienc_train_result *r = t->r;
    if (r->n_losses == t->losses_cap) {
        int64_t nc = t->losses_cap ? t->losses_cap * 2 : 256;
        float *a = realloc(r->losses, (size_t)nc * sizeof *a);
        if (!a) return bienc_error(BIENC_ENOMEM, "out of memory");
        r->losses = a;
        t->losses_cap = nc;
    }
    r->losses[r->n_losses++] = v;
    return 0;
}

/* One optimiser step (grad_accumulation micro-batches). */
static int train_step(trainer *t, int64_t *pairs, double *loss_out)
{
    int64_t step = t->opt->step; /* steps done: this is step + 1 */
    double sum = 0;
    for (int m = 0; m < t->accum; m++) {
        int n;
        BIENC_TRY(sampler_next(t->sampler, t->idx, &n, &t->r->epoch));
        BIENC_TRY(batch_build(&t->batch, t->data.tuples, t->idx, n, t->bi->tok, &t->bo));
        tape_reset(t->tape);
        /* dropout masks: a pure function of (seed, step, micro-batch), restored on resume */
        uint64_t key = rng_hash_u64(t->dropout_base, (uint64_t)(step * t->accum + m));
        bienc_tensor *loss;
        BIENC_TRY(micro_loss(t, key, &loss));
        float v = loss->data[0];
        if (!isfinite(v))
            return bienc_error(BIENC_ERANGE, "step %lld: the loss is %s; training stopped (the checkpoints on disk are "
                                             "from earlier steps%s%s)",
                               (long long)(step + 1), isnan(v) ? "NaN" : "infinite", t->r->last_ckpt[0] ? ", last: " : "",
                               t->r->last_ckpt);
        BIENC_TRY(tape_backward(t->tape, loss));
        tape_reset(t->tape);
        sum += v;
        *pairs += n;
        int stepped;
        int rc = adamw_micro_step(t->opt, &stepped);
        if (rc == BIENC_ERANGE)
            return bienc_error(BIENC_ERANGE, "step %lld: the gradient norm is not finite; training stopped (last "
                                             "checkpoint: %s)",
                               (long long)(step + 1), t->r->last_ckpt[0] ? t->r->last_ckpt : "none");
        BIENC_TRY(rc);
    }
    *loss_out = sum / t->accum;
    return push_loss(t, (float)*loss_out);
}

/* Sum of the losses of steps [t->row_start, upto): those before a resume come from the
 * checkpoint, added first, in the order an uninterrupted run adds them. */
static double row_sum(const trainer *t, int64_t upto)
{
    const bienc_train_result *r = t->r;
    double sum = t->row_start < r->start_step ? t->resumed_row_sum : 0;
    for (int64_t i = t->row_start > r->start_step ? t->row_start : r->start_step; i < upto; i++)
        sum += r->losses[i - r->start_step];
    return sum;
}

static int save_ckpt(trainer *t, int64_t step, int with_eval, double eval_value)
{
    char path[1100];
    BIENC_TRY(ckpt_step_path(t->r->ckpt_dir, step, path, sizeof path));
    t->st.step = step;
    sampler_get_state(t->sampler, &t->st.sampler);
    t->st.has_eval = with_eval;
    t->st.eval_value = eval_value;
    t->st.row_start = t->row_start;
    t->st.row_sum = row_sum(t, step);
    BIENC_TRY(trainer_ckpt_save(path, t->bi, t->opt, &t->st));
    snprintf(t->r->last_ckpt, sizeof t->r->last_ckpt, "%s", path);
    t->last_saved = step;
    int64_t keep = t->cfg->checkpoint.keep_last;
    if (keep > 0) {
        char attr[64];
        trainer_ckpt_metric_attr(t->st.best_metric, attr, sizeof attr);
        int64_t best = -1;
        BIENC_TRY(ckpt_prune(t->r->ckpt_dir, (int)keep, t->cfg->checkpoint.keep_best ? attr : NULL, 1, &best, NULL));
        if (best >= 0) BIENC_TRY(ckpt_step_path(t->r->ckpt_dir, best, t->r->best_ckpt, sizeof t->r->best_ckpt));
    }
    return 0;
}

static int evaluate(trainer *t, int64_t step, trainer_eval_scores *s)
{
    BIENC_TRY(trainer_eval_run(&t->ev, t->bi, t->tape, (int)t->cfg->eval.batch_size, s));
    BIENC_TRY(trainer_log_eval_row(&t->log, step, s));
    trainer_log_msg(&t->log, "eval step %lld: MRR@10 %.4f Recall@10 %.4f nDCG@10 %.4f (%lld queries, %lld passages, %.1f s)\n",
                    (long long)step, s->v[BIENC_METRIC_MRR10], s->v[BIENC_METRIC_RECALL10], s->v[BIENC_METRIC_NDCG10],
                    (long long)s->nq, (long long)s->np, s->seconds);
    return 0;
}

static int train_loop(trainer *t)
{
    const bienc_run_config *cfg = t->cfg;
    const bienc_train_opts *o = t->o;
    bienc_train_result *r = t->r;
    trainer_eval_scores s;
    memset(&s, 0, sizeof s);
    if (t->ev.enabled && o->eval_at_start && t->last_saved < 0) {
        BIENC_TRY(evaluate(t, 0, &s));
        r->mrr_before = t->st.mrr_before = s.v[BIENC_METRIC_MRR10];
        r->recall_before = s.v[BIENC_METRIC_RECALL10];
    }
    int64_t pairs = 0;
    double t_train = 0;
    int64_t step = t->opt->step;
    if (r->start_step > 0 && step >= r->total_steps && t->last_saved == step) {
        /* resuming a finished run: its final eval row is in metrics.jsonl already */
        trainer_log_msg(&t->log, "the run is already complete at step %lld (%s): nothing to do\n", (long long)step,
                        r->last_ckpt);
        r->steps = step;
        return 0;
    }
    if (r->start_step > 0 && t->ev.enabled && cfg->eval.every_steps > 0 && step % cfg->eval.every_steps == 0 &&
        step < r->total_steps && !t->resumed_eval)
        BIENC_TRY(evaluate(t, step, &s)); /* the eval a stop at this step skipped */
    while (step < r->total_steps) {
        double t0 = trainer_now(), loss = 0;
        BIENC_TRY(train_step(t, &pairs, &loss));
        t_train += trainer_now() - t0;
        step = t->opt->step;
        r->steps = step;
        r->final_loss = t->st.loss = loss;
        r->pairs_per_s = t_train > 0 ? pairs / t_train : 0;
        int line_due = step % cfg->train.log_every_steps == 0 || step == r->total_steps;
        trainer_step_info info = {.step = step, .total = r->total_steps, .epoch = r->epoch, .loss = loss,
                                  .lr = t->opt->last_lr, .grad_norm = t->opt->last_grad_norm,
                                  .pairs_per_s = r->pairs_per_s,
                                  .eta_s = (r->total_steps - step) * t_train / (double)(step - r->start_step)};
        if (line_due) {
            /* the row's loss is the mean over the steps since the previous row */
            trainer_step_info row = info;
            row.loss = row_sum(t, step) / (double)(step - t->row_start);
            t->row_start = step;
            BIENC_TRY(trainer_log_train_row(&t->log, &row));
        }
        trainer_log_progress(&t->log, &info, line_due);

        int stop = (o->stop && *o->stop) ? 1 : (o->stop_at_step > 0 && step >= o->stop_at_step) ? 2 : 0;
        int eval_due = t->ev.enabled && cfg->eval.every_steps > 0 && step % cfg->eval.every_steps == 0 &&
                       step < r->total_steps && !stop;
        int has_eval = 0;
        if (eval_due) {
            BIENC_TRY(evaluate(t, step, &s));
            has_eval = 1;
        }
        int ckpt_due = (cfg->checkpoint.every_steps > 0 && step % cfg->checkpoint.every_steps == 0) ||
                       (has_eval && cfg->checkpoint.keep_best) || stop;
        if (ckpt_due && step < r->total_steps) BIENC_TRY(save_ckpt(t, step, has_eval, s.v[t->st.best_metric]));
        if (stop && step < r->total_steps) {
            r->stopped = stop;
            trainer_log_msg(&t->log, "stopped at step %lld (%s); checkpoint %s\n", (long long)step,
                            stop == 1 ? "interrupted" : "--stop-at", r->last_ckpt);
            return 0;
        }
    }
    r->steps = step;
    int has_eval = 0;
    if (t->ev.enabled) {
        BIENC_TRY(evaluate(t, step, &s));
        r->mrr_after = s.v[BIENC_METRIC_MRR10];
        r->recall_after = s.v[BIENC_METRIC_RECALL10];
        has_eval = 1;
    }
    return save_ckpt(t, step, has_eval, s.v[t->st.best_metric]);
}

int trainer_run(const bienc_run_config *cfg, const bienc_train_opts *opts, bienc_train_result *r)
{
    if (r) memset(r, 0, sizeof *r);
    if (!cfg || !r) return bienc_error(BIENC_EINVAL, "trainer_run: NULL argument");
    bienc_train_opts defaults;
    train_opts_default(&defaults);
    r->final_loss = r->mrr_before = r->mrr_after = r->recall_before = r->recall_after = NAN;
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.o = opts ? opts : &defaults;
    t.r = r;
    double t0 = trainer_now();
    int rc = setup(&t);
    if (rc == 0) rc = train_loop(&t);
    r->seconds = trainer_now() - t0;
    trainer_log_close(&t.log);
    trainer_eval_free(&t.ev);
    batch_free(&t.batch);
    tape_free(t.tape);
    sampler_free(t.sampler);
    adamw_free(t.opt);
    biencoder_free(t.bi);
    trainer_data_free(&t.data);
    free(t.idx);
    free(t.config_text);
    return rc;
}
