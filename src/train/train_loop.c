/* The one training loop (see train_loop.h): one optimiser step = grad_accumulation
 * micro-batches; each resets the tape, records the model's forward and loss, checks the
 * loss is finite (before any gradient touches the parameters) and back-propagates; AdamW
 * steps on the last one. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/comm.h"
#include "train/train_loop.h"
#include "core/os.h"
#include "train/config_map.h"

/* A fresh run must not mix its checkpoints with an earlier run's: a later --resume would
 * pick the wrong latest step and pruning would keep a stale "best". */
static int check_fresh_dir(const char *dir, int overwrite)
{
    int64_t *steps = NULL;
    size_t n = 0;
    BIENC_TRY(ckpt_list_steps(dir, &steps, &n));
    int rc = 0;
    if (n && !overwrite)
        rc = bienc_error(BIENC_ESTATE,
                         "%s already holds checkpoints of an earlier run (latest: step-%lld.h5): resume it with "
                         "--resume, start over with --overwrite (deletes them), or pick another output.name",
                         dir, (long long)steps[n - 1]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char path[1100];
        rc = ckpt_step_path(dir, steps[i], path, sizeof path);
        if (rc == 0 && remove(path) != 0) rc = bienc_error(BIENC_EIO, "cannot remove %s: %s", path, strerror(errno));
    }
    free(steps);
    return rc;
}

static int resolve_resume(const char *ckpt_dir, const bienc_train_opts *o, trainer_log *log, char *path, size_t size);

/* Rank 0 decides (and alone deletes an earlier run's checkpoints); the others follow. */
int train_loop_resolve_resume(const char *ckpt_dir, const bienc_train_opts *o, trainer_log *log, char *path, size_t size)
{
    if (comm_size() == 1) return resolve_resume(ckpt_dir, o, log, path, size);
    int rc = comm_rank() == 0 ? resolve_resume(ckpt_dir, o, log, path, size) : 0;
    int32_t status = rc;
    BIENC_TRY(comm_bcast(&status, sizeof status, 0));
    BIENC_TRY(comm_bcast(path, (int64_t)size, 0));
    if (status < 0 && comm_rank() != 0) return bienc_error(status, "rank 0 could not resolve the resume checkpoint");
    return status;
}

static int resolve_resume(const char *ckpt_dir, const bienc_train_opts *o, trainer_log *log, char *path, size_t size)
{
    path[0] = 0;
    const char *res = o->resume;
    if (!res) return ckpt_dir ? check_fresh_dir(ckpt_dir, o->overwrite) : 0;
    if (strcmp(res, "auto") != 0) {
        snprintf(path, size, "%s", res);
        return 0;
    }
    if (!ckpt_dir) return 0;
    int64_t step;
    int rc = ckpt_latest_step(ckpt_dir, &step);
    if (rc == BIENC_ENOTFOUND) {
        trainer_log_msg(log, "resume: no checkpoint in %s, starting from scratch\n", ckpt_dir);
        return check_fresh_dir(ckpt_dir, o->overwrite);
    }
    BIENC_TRY(rc);
    return ckpt_step_path(ckpt_dir, step, path, size);
}

int train_loop_init(train_loop *L, const train_model *m, const train_loop_opts *lo, const bienc_cfg_optim *optim,
                    const bienc_cfg_schedule *schedule, trainer_log *log, bienc_train_result *r, const bienc_ckpt *ck)
{
    memset(L, 0, sizeof *L);
    L->m = *m;
    L->lo = *lo;
    L->log = log;
    L->r = r;
    L->accum = (int)(optim->grad_accumulation > 0 ? optim->grad_accumulation : 1);
    int64_t total = lo->total_steps;
    r->total_steps = total;
    BIENC_TRY(schedule_from_config(&L->sched, schedule, total > 0 ? total : 1));
    bienc_adamw_config oc;
    adamw_config_from(&oc, optim);
    BIENC_TRY(adamw_new(&L->opt, m->params, m->n_params, &oc, &L->sched));
    rng_seed(&L->st.rng, lo->seed);
    L->st.mrr_before = NAN;
    L->st.loss = NAN;
    if (ck) {
        const char *path = ckpt_path(ck);
        char attr[64];
        trainer_ckpt_metric_attr(lo->best_metric, attr, sizeof attr);
        L->resumed_eval = ckpt_has_attr(ck, attr);
        BIENC_TRY(trainer_ckpt_load_state(ck, L->opt, &L->st));
        BIENC_TRY(m->load_state(m->self, ck));
        int64_t stored_total;
        if (ckpt_read_int64(ck, "schedule/total_steps", &stored_total) == 0 && stored_total != total)
            trainer_log_msg(log, "%sresume: the run now has %lld steps instead of %lld: the schedule changes\n", lo->what,
                            (long long)total, (long long)stored_total);
        r->start_step = L->st.step;
        r->mrr_before = L->st.mrr_before;
        snprintf(r->last_ckpt, sizeof r->last_ckpt, "%s", path);
        trainer_log_msg(log, "%sresumed from %s at step %lld\n", lo->what, path, (long long)L->st.step);
    }
    L->last_saved = ck ? L->st.step : -1;
    L->row_start = ck ? L->st.row_start : 0;
    L->resumed_row_sum = ck ? L->st.row_sum : 0;
    L->st.sched = &L->sched;
    L->st.best_metric = lo->best_metric;
    L->st.config_text = lo->config_text;
    BIENC_TRY(tape_new(&L->tape));
    tape_set_precision(L->tape, lo->precision); /* the matrix products of every forward and backward */
    return 0;
}

void train_loop_free(train_loop *L)
{
    if (!L) return;
    free(L->dp_grads);
    L->dp_grads = NULL;
    tape_free(L->tape);
    adamw_free(L->opt);
    L->tape = NULL;
    L->opt = NULL;
}

static int push_loss(train_loop *L, float v)
{
    bienc_train_result *r = L->r;
    if (r->n_losses == L->losses_cap) {
        int64_t nc = L->losses_cap ? L->losses_cap * 2 : 256;
        float *a = realloc(r->losses, (size_t)nc * sizeof *a);
        if (!a) return bienc_error(BIENC_ENOMEM, "out of memory");
        r->losses = a;
        L->losses_cap = nc;
    }
    r->losses[r->n_losses++] = v;
    return 0;
}

static int data_parallel(const train_loop *L) { return L->m.data_parallel && comm_size() > 1; }

/* Data-parallel: every rank's gradients replaced by their sum over the ranks, in one
 * allreduce of the packed gradients (comm.h: the same bits on every rank, so every rank's
 * AdamW makes the same update and the parameters never drift apart). */
static int allreduce_grads(train_loop *L)
{
    if (!L->dp_grads) {
        int64_t n = 0;
        for (int i = 0; i < L->m.n_params; i++) n += L->m.params[i]->size;
        L->dp_grads = malloc((size_t)(n ? n : 1) * sizeof(float));
        if (!L->dp_grads) return bienc_error(BIENC_ENOMEM, "data-parallel: out of memory for the gradients");
        L->dp_n = n;
    }
    int64_t o = 0;
    for (int i = 0; i < L->m.n_params; i++) {
        const bienc_tensor *p = L->m.params[i];
        memcpy(L->dp_grads + o, p->grad, (size_t)p->size * sizeof(float));
        o += p->size;
    }
    BIENC_TRY(comm_allreduce_sum(L->dp_grads, L->dp_n));
    o = 0;
    for (int i = 0; i < L->m.n_params; i++) {
        bienc_tensor *p = L->m.params[i];
        memcpy(p->grad, L->dp_grads + o, (size_t)p->size * sizeof(float));
        o += p->size;
    }
    return 0;
}

/* One optimiser step (grad_accumulation micro-batches). */
static int train_step(train_loop *L, int64_t *examples, double *loss_out)
{
    int64_t step = L->opt->step; /* steps done: this is step + 1 */
    double sum = 0;
    for (int m = 0; m < L->accum; m++) {
        tape_reset(L->tape);
        /* dropout masks: a pure function of (seed, step, micro-batch), restored on resume */
        uint64_t key = rng_hash_u64(L->lo.dropout_base, (uint64_t)(step * L->accum + m));
        bienc_tensor *loss;
        int64_t n = 0;
        BIENC_TRY(L->m.micro_loss(L->m.self, L->tape, key, &loss, &n, &L->r->epoch));
        float v = loss->data[0];
        if (data_parallel(L)) { /* the global loss, before any rank starts a backward it might not finish */
            double share = v;
            BIENC_TRY(comm_allreduce_sum_f64(&share, 1));
            v = (float)share;
        }
        if (!isfinite(v))
            return bienc_error(BIENC_ERANGE, "%sstep %lld: the loss is %s; training stopped (the checkpoints on disk are "
                                             "from earlier steps%s%s)",
                               L->lo.what, (long long)(step + 1), isnan(v) ? "NaN" : "infinite",
                               L->r->last_ckpt[0] ? ", last: " : "", L->r->last_ckpt);
        BIENC_TRY(tape_backward(L->tape, loss));
        tape_reset(L->tape);
        sum += v;
        *examples += n;
        if (data_parallel(L) && m == L->accum - 1) BIENC_TRY(allreduce_grads(L));
        int stepped;
        int rc = adamw_micro_step(L->opt, &stepped);
        if (rc == BIENC_ERANGE)
            return bienc_error(BIENC_ERANGE, "%sstep %lld: the gradient norm is not finite; training stopped (last "
                                             "checkpoint: %s)",
                               L->lo.what, (long long)(step + 1), L->r->last_ckpt[0] ? L->r->last_ckpt : "none");
        BIENC_TRY(rc);
    }
    *loss_out = sum / L->accum;
    return push_loss(L, (float)*loss_out);
}

/* Sum of the losses of steps [L->row_start, upto): those before a resume come from the
 * checkpoint, added first, in the order an uninterrupted run adds them. */
static double row_sum(const train_loop *L, int64_t upto)
{
    const bienc_train_result *r = L->r;
    double sum = L->row_start < r->start_step ? L->resumed_row_sum : 0;
    for (int64_t i = L->row_start > r->start_step ? L->row_start : r->start_step; i < upto; i++)
        sum += r->losses[i - r->start_step];
    return sum;
}

static int save_ckpt(train_loop *L, int64_t step, int with_eval, double eval_value)
{
    if (!L->lo.ckpt_dir) return 0;
    char path[1100];
    BIENC_TRY(ckpt_step_path(L->lo.ckpt_dir, step, path, sizeof path));
    if (comm_rank() != 0) { /* rank 0 writes; the others hold the same parameters */
        snprintf(L->r->last_ckpt, sizeof L->r->last_ckpt, "%s", path);
        L->last_saved = step;
        return 0;
    }
    L->st.step = step;
    L->st.has_eval = with_eval;
    L->st.eval_value = eval_value;
    L->st.row_start = L->row_start;
    L->st.row_sum = row_sum(L, step);
    BIENC_TRY(trainer_ckpt_save(path, &L->m, L->opt, &L->st));
    snprintf(L->r->last_ckpt, sizeof L->r->last_ckpt, "%s", path);
    L->last_saved = step;
    if (L->lo.keep_last > 0) {
        char attr[64];
        trainer_ckpt_metric_attr(L->st.best_metric, attr, sizeof attr);
        int64_t best = -1;
        BIENC_TRY(ckpt_prune(L->lo.ckpt_dir, (int)L->lo.keep_last, L->lo.keep_best ? attr : NULL, 1, &best, NULL));
        if (best >= 0) BIENC_TRY(ckpt_step_path(L->lo.ckpt_dir, best, L->r->best_ckpt, sizeof L->r->best_ckpt));
    }
    return 0;
}

/* Appends one dev evaluation to the result (the report's curve). */
static int record_eval(bienc_train_result *r, int64_t step, const trainer_eval_scores *s)
{
    size_t n = (size_t)r->n_evals + 1;
    int64_t *st = realloc(r->eval_steps, n * sizeof *st);
    if (st) r->eval_steps = st;
    double *m = st ? realloc(r->eval_mrr, n * sizeof *m) : NULL;
    if (m) r->eval_mrr = m;
    double *rc = m ? realloc(r->eval_recall, n * sizeof *rc) : NULL;
    if (!rc) return bienc_error(BIENC_ENOMEM, "out of memory");
    r->eval_recall = rc;
    r->eval_steps[r->n_evals] = step;
    r->eval_mrr[r->n_evals] = s->v[BIENC_METRIC_MRR10];
    r->eval_recall[r->n_evals] = s->v[BIENC_METRIC_RECALL10];
    r->n_evals++;
    return 0;
}

static int evaluate(train_loop *L, int64_t step, trainer_eval_scores *s)
{
    BIENC_TRY(L->m.eval(L->m.self, L->tape, s));
    BIENC_TRY(record_eval(L->r, step, s));
    BIENC_TRY(trainer_log_eval_row(L->log, step, s));
    trainer_log_msg(L->log,
                    "%seval step %lld: MRR@10 %.4f Recall@10 %.4f nDCG@10 %.4f (%lld queries, %lld passages, %.1f s)\n",
                    L->lo.what, (long long)step, s->v[BIENC_METRIC_MRR10], s->v[BIENC_METRIC_RECALL10],
                    s->v[BIENC_METRIC_NDCG10], (long long)s->nq, (long long)s->np, s->seconds);
    return 0;
}

int train_loop_run(train_loop *L)
{
    const train_loop_opts *lo = &L->lo;
    const bienc_train_opts *o = lo->o;
    bienc_train_result *r = L->r;
    trainer_eval_scores s;
    memset(&s, 0, sizeof s);
    int has_dev = L->m.eval != NULL;
    if (has_dev && o->eval_at_start && L->last_saved < 0) {
        BIENC_TRY(evaluate(L, 0, &s));
        r->mrr_before = L->st.mrr_before = s.v[BIENC_METRIC_MRR10];
        r->recall_before = s.v[BIENC_METRIC_RECALL10];
    }
    int64_t examples = 0;
    double t_train = 0;
    int64_t step = L->opt->step;
    if (r->start_step > 0 && step >= r->total_steps && L->last_saved == step) {
        /* resuming a finished run: its final eval row is in metrics.jsonl already */
        trainer_log_msg(L->log, "%sthe run is already complete at step %lld (%s): nothing to do\n", lo->what,
                        (long long)step, r->last_ckpt);
        r->steps = step;
        return 0;
    }
    if (r->start_step > 0 && has_dev && lo->eval_every > 0 && step % lo->eval_every == 0 && step < r->total_steps &&
        !L->resumed_eval)
        BIENC_TRY(evaluate(L, step, &s)); /* the eval a stop at this step skipped */
    while (step < r->total_steps) {
        double t0 = os_now(), loss = 0;
        BIENC_TRY(train_step(L, &examples, &loss));
        t_train += os_now() - t0;
        step = L->opt->step;
        r->steps = step;
        r->final_loss = L->st.loss = loss;
        r->pairs_per_s = t_train > 0 ? examples / t_train : 0;
        int line_due = step % lo->log_every == 0 || step == r->total_steps;
        trainer_step_info info = {.step = step, .total = r->total_steps, .epoch = r->epoch, .loss = loss,
                                  .lr = L->opt->last_lr, .grad_norm = L->opt->last_grad_norm,
                                  .pairs_per_s = r->pairs_per_s,
                                  .eta_s = (r->total_steps - step) * t_train / (double)(step - r->start_step)};
        if (line_due) {
            /* the row's loss is the mean over the steps since the previous row */
            trainer_step_info row = info;
            row.loss = row_sum(L, step) / (double)(step - L->row_start);
            L->row_start = step;
            BIENC_TRY(trainer_log_train_row(L->log, &row));
        }
        trainer_log_progress(L->log, &info, line_due);

        int stop = (o->stop && *o->stop) ? 1 : (o->stop_at_step > 0 && step >= o->stop_at_step) ? 2 : 0;
        if (comm_size() > 1) { /* a Ctrl-C reaches the ranks at different steps: all stop at the first */
            double interrupted = stop == 1;
            BIENC_TRY(comm_allreduce_sum_f64(&interrupted, 1));
            if (interrupted > 0) stop = 1;
        }
        int eval_due = has_dev && lo->eval_every > 0 && step % lo->eval_every == 0 && step < r->total_steps && !stop;
        int has_eval = 0;
        if (eval_due) {
            BIENC_TRY(evaluate(L, step, &s));
            has_eval = 1;
        }
        int ckpt_due = (lo->ckpt_every > 0 && step % lo->ckpt_every == 0) || (has_eval && lo->keep_best) || stop;
        if (ckpt_due && step < r->total_steps) BIENC_TRY(save_ckpt(L, step, has_eval, s.v[L->st.best_metric]));
        if (stop && step < r->total_steps) {
            r->stopped = stop;
            trainer_log_msg(L->log, "%sstopped at step %lld (%s); checkpoint %s\n", lo->what, (long long)step,
                            stop == 1 ? "interrupted" : "--stop-at", r->last_ckpt);
            return 0;
        }
    }
    r->steps = step;
    int has_eval = 0;
    if (has_dev) {
        BIENC_TRY(evaluate(L, step, &s));
        r->mrr_after = s.v[BIENC_METRIC_MRR10];
        r->recall_after = s.v[BIENC_METRIC_RECALL10];
        has_eval = 1;
    }
    return save_ckpt(L, step, has_eval, s.v[L->st.best_metric]);
}
