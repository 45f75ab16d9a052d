/* Training checkpoints: the model (model_io.h) plus the optimiser, data position, RNG and
 * schedule, so that a resumed run continues the same trajectory (layout in trainer.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/model_io.h"
#include "eval/metrics.h"
#include "train/train_loop.h"

void trainer_ckpt_metric_attr(int metric, char *buf, size_t size) { snprintf(buf, size, "eval/%s", metrics_name(metric)); }

static int write_moments(bienc_ckpt_writer *w, bienc_adamw *opt)
{
    char name[512];
    for (int i = 0; i < opt->n_params; i++) {
        const bienc_tensor *p = opt->params[i];
        snprintf(name, sizeof name, "optim/m/%s", p->name);
        BIENC_TRY(ckpt_write_tensor(w, name, p->ndim, p->shape, opt->m[i]->data));
        snprintf(name, sizeof name, "optim/v/%s", p->name);
        BIENC_TRY(ckpt_write_tensor(w, name, p->ndim, p->shape, opt->v[i]->data));
    }
    BIENC_TRY(ckpt_write_int64(w, "optim/step", opt->step));
    return ckpt_write_int64(w, "optim/micro", opt->micro);
}

static int write_state(bienc_ckpt_writer *w, const train_model *m, bienc_adamw *opt, const trainer_state *st)
{
    BIENC_TRY(m->save(m->self, w));
    BIENC_TRY(write_moments(w, opt));
    BIENC_TRY(ckpt_write_int64(w, "train/step", st->step));
    BIENC_TRY(ckpt_write_double(w, "train/loss", st->loss));
    BIENC_TRY(ckpt_write_double(w, "train/mrr_before", st->mrr_before));
    BIENC_TRY(ckpt_write_uint64s(w, "rng/state", st->rng.s, 4));
    if (st->sched) {
        BIENC_TRY(ckpt_write_string(w, "schedule/kind", schedule_kind_name(st->sched->kind)));
        BIENC_TRY(ckpt_write_int64(w, "schedule/warmup_steps", st->sched->warmup_steps));
        BIENC_TRY(ckpt_write_int64(w, "schedule/total_steps", st->sched->total_steps));
    }
    if (st->has_eval) {
        char attr[64];
        trainer_ckpt_metric_attr(st->best_metric, attr, sizeof attr);
        BIENC_TRY(ckpt_write_double(w, attr, st->eval_value));
    }
    if (st->config_text) BIENC_TRY(ckpt_write_string(w, "config", st->config_text));
    BIENC_TRY(ckpt_write_int64(w, "log/row_start", st->row_start));
    return ckpt_write_double(w, "log/row_sum", st->row_sum);
}

int trainer_ckpt_save(const char *path, const train_model *m, bienc_adamw *opt, const trainer_state *st)
{
    bienc_ckpt_writer *w;
    BIENC_TRY(ckpt_writer_open(&w, path));
    int rc = write_state(w, m, opt, st);
    if (rc < 0) rc = bienc_error_context(rc, "saving checkpoint %s: ", path);
    return ckpt_writer_finish(w, rc);
}

int trainer_ckpt_load_state(const bienc_ckpt *c, bienc_adamw *opt, trainer_state *st)
{
    const char *path = ckpt_path(c);
    if (!ckpt_has_attr(c, "optim/step") || !ckpt_has_attr(c, "train/step"))
        return bienc_error(BIENC_EFORMAT, "%s: a model-only checkpoint (no optimiser or data state): cannot resume "
                                          "from it (use model.init_from to start a new run from its weights)", path);
    char name[512];
    for (int i = 0; i < opt->n_params; i++) {
        const bienc_tensor *p = opt->params[i];
        snprintf(name, sizeof name, "optim/m/%s", p->name);
        BIENC_TRY(ckpt_read_finite(c, name, p->ndim, p->shape, opt->m[i]->data));
        snprintf(name, sizeof name, "optim/v/%s", p->name);
        BIENC_TRY(ckpt_read_finite(c, name, p->ndim, p->shape, opt->v[i]->data));
        /* a second moment is a mean of squares: a negative one means a forged or broken file
         * (and sqrt(v) would turn the weights into NaN at the first step) */
        const float *v = opt->v[i]->data;
        for (int64_t j = 0; j < p->size; j++)
            if (v[j] < 0.0f)
                return bienc_error(BIENC_EFORMAT, "%s: %s[%lld] = %g: a second moment cannot be negative", path, name,
                                   (long long)j, (double)v[j]);
    }
    int64_t step, micro;
    BIENC_TRY(ckpt_read_int64(c, "optim/step", &step));
    BIENC_TRY(ckpt_read_int64(c, "optim/micro", &micro));
    if (step < 0 || micro < 0 || micro >= opt->cfg.grad_accumulation)
        return bienc_error(BIENC_EFORMAT, "%s: optim/step %lld or optim/micro %lld out of range", path, (long long)step,
                           (long long)micro);
    opt->step = step;
    opt->micro = (int)micro;
    BIENC_TRY(ckpt_read_int64(c, "train/step", &st->step));
    if (st->step != step)
        return bienc_error(BIENC_EFORMAT, "%s: train/step %lld differs from optim/step %lld", path, (long long)st->step,
                           (long long)step);
    BIENC_TRY(ckpt_read_double(c, "train/loss", &st->loss));
    BIENC_TRY(ckpt_read_double(c, "train/mrr_before", &st->mrr_before));
    BIENC_TRY(ckpt_read_uint64s(c, "rng/state", st->rng.s, 4));
    /* (checkpoints from before the row state start a new row at the resume step) */
    st->row_start = step;
    st->row_sum = 0;
    if (ckpt_has_attr(c, "log/row_start")) {
        BIENC_TRY(ckpt_read_int64(c, "log/row_start", &st->row_start));
        BIENC_TRY(ckpt_read_double(c, "log/row_sum", &st->row_sum));
        if (st->row_start < 0 || st->row_start > step || !isfinite(st->row_sum))
            return bienc_error(BIENC_EFORMAT, "%s: log/row_start %lld or log/row_sum %g out of range", path,
                               (long long)st->row_start, st->row_sum);
    }
    return 0;
}
