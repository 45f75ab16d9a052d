/* Learning-rate schedules as Hugging Face transformers defines them (optimization.py:
 * get_linear_schedule_with_warmup, get_constant_schedule_with_warmup,
 * get_cosine_schedule_with_warmup), which sentence-transformers uses too. */
#include "train/optim.h"

#include <math.h>

#include "core/error.h"

int schedule_init(bienc_schedule *s, bienc_schedule_kind kind, int64_t warmup_steps, int64_t total_steps)
{
    BIENC_ASSERT(s);
    if (kind < BIENC_SCHED_WARMUP_LINEAR || kind > BIENC_SCHED_COSINE)
        return bienc_error(BIENC_EINVAL, "schedule_init: unknown schedule kind %d", (int)kind);
    if (warmup_steps < 0)
        return bienc_error(BIENC_EINVAL, "schedule_init: warmup_steps must be >= 0, got %lld", (long long)warmup_steps);
    if (kind != BIENC_SCHED_CONSTANT && total_steps < 1)
        return bienc_error(BIENC_EINVAL, "schedule_init: schedule '%s' needs total_steps >= 1, got %lld",
                           schedule_kind_name(kind), (long long)total_steps);
    s->kind = kind;
    s->warmup_steps = warmup_steps;
    s->total_steps = total_steps;
    s->num_cycles = 0.5;
    return 0;
}

static double max1(int64_t x) { return x > 1 ? (double)x : 1.0; }

double schedule_factor(const bienc_schedule *s, int64_t step)
{
    if (!s) return 1.0;
    if (step < s->warmup_steps) return (double)step / max1(s->warmup_steps);
    switch (s->kind) {
    case BIENC_SCHED_CONSTANT:
        return 1.0;
    case BIENC_SCHED_COSINE: {
        double progress = (double)(step - s->warmup_steps) / max1(s->total_steps - s->warmup_steps);
        double f = 0.5 * (1.0 + cos(M_PI * s->num_cycles * 2.0 * progress));
        return f > 0.0 ? f : 0.0;
    }
    case BIENC_SCHED_WARMUP_LINEAR:
    default: {
        double f = (double)(s->total_steps - step) / max1(s->total_steps - s->warmup_steps);
        return f > 0.0 ? f : 0.0;
    }
    }
}

const char *schedule_kind_name(bienc_schedule_kind kind)
{
    switch (kind) {
    case BIENC_SCHED_WARMUP_LINEAR: return "warmup_linear";
    case BIENC_SCHED_CONSTANT: return "constant";
    case BIENC_SCHED_COSINE: return "cosine";
    }
    return "unknown";
}

int64_t schedule_warmup_from_ratio(double warmup_ratio, int64_t total_steps)
{
    if (!(warmup_ratio > 0.0) || total_steps <= 0) return 0;
    return (int64_t)ceil(warmup_ratio * (double)total_steps);
}

