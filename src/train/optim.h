/* Optimisation: AdamW (torch.optim.AdamW), learning-rate schedules (Hugging Face's
 * get_*_schedule_with_warmup), gradient clipping by global norm
 * (torch.nn.utils.clip_grad_norm_) and gradient accumulation.
 *
 * A training loop on this API:
 *
 *     bienc_adamw_config oc;  adamw_config_default(&oc);   // or from the run config
 *     oc.lr = 2e-5;  oc.grad_accumulation = 2;
 *     bienc_schedule sched;
 *     schedule_init(&sched, BIENC_SCHED_WARMUP_LINEAR, warmup_steps, total_steps);
 *     bienc_adamw *opt;
 *     BIENC_TRY(adamw_new(&opt, params, n_params, &oc, &sched));
 *     for (each micro-batch) {
 *         forward; tape_backward(...);         // grads accumulate (+=) into p->grad
 *         int stepped;
 *         BIENC_TRY(adamw_micro_step(opt, &stepped));   // steps (and zeroes grads) every k-th call
 *         if (stepped) log(opt->last_lr, opt->last_grad_norm);
 *     }
 *     adamw_free(opt);
 *
 * Gradient accumulation: the loss of each micro-batch is the mean over its own rows
 * (as every loss in loss.h). After k micro-batches the grads hold the SUM of k such
 * gradients; adamw_micro_step() multiplies them by 1/k before clipping, so the update
 * is the one a single batch of k*B rows would give (exactly so when the micro-batches
 * have equal sizes; for MNRL the in-batch negatives still come from each micro-batch).
 * Do NOT also divide the loss by k. */
#ifndef BIENC_OPTIM_H
#define BIENC_OPTIM_H

#include <stdint.h>

#include "core/kinds.h"
#include "core/tensor.h"

/* ---- learning-rate schedules (schedule.c) ---- */

typedef struct bienc_schedule {
    bienc_schedule_kind kind;
    int64_t warmup_steps;   /* optimiser steps of linear warm-up (>= 0) */
    int64_t total_steps;    /* optimiser steps of the whole run (needed by linear and cosine) */
    double num_cycles;      /* cosine: 0.5 = one half cosine (Hugging Face's default) */
} bienc_schedule;

/* Fills *s (num_cycles 0.5) after checking warmup >= 0, and total_steps >= 1 for the
 * decaying schedules. */
int schedule_init(bienc_schedule *s, bienc_schedule_kind kind, int64_t warmup_steps, int64_t total_steps);

/* The factor on the base lr for optimiser step `step` (0 for the first step), i.e. the
 * lambda of torch's LambdaLR as Hugging Face defines it, evaluated at the number of
 * steps already taken. Note that with warmup the first step has factor 0 (as HF). */
double schedule_factor(const bienc_schedule *s, int64_t step);

/* "warmup_linear", "constant", "cosine" (the run config's schedule.name reads these and
 * sentence-transformers' spellings: src/io/config_schema.c). */
const char *schedule_kind_name(bienc_schedule_kind kind);

/* warmup_ratio * total_steps rounded up (as HF TrainingArguments.get_warmup_steps). */
int64_t schedule_warmup_from_ratio(double warmup_ratio, int64_t total_steps);


/* ---- gradient clipping (clip.c) ---- */

/* The L2 norm of all gradients taken together (params without grad are skipped),
 * accumulated in double in a fixed order (independent of the thread count). */
double clip_grad_global_norm(bienc_tensor *const *params, int n);

/* torch.nn.utils.clip_grad_norm_: norm = clip_grad_global_norm(); every grad is
 * multiplied by min(1, max_norm / (norm + 1e-6)). *norm_out (may be NULL) gets the norm
 * before clipping. A NaN or infinite norm leaves the grads alone and returns
 * BIENC_ERANGE (torch would scale them by NaN); max_norm must be > 0. */
int clip_grad_norm(bienc_tensor *const *params, int n, double max_norm, double *norm_out);

/* ---- AdamW (adamw.c) ---- */

typedef struct bienc_adamw_config {
    double lr;             /* base learning rate (sentence-transformers' default 2e-5) */
    double beta1, beta2;   /* 0.9, 0.999 */
    double eps;            /* 1e-6 (sentence-transformers; torch's own default is 1e-8) */
    double weight_decay;   /* 0.01, decoupled; not applied to biases and LayerNorm */
    double max_grad_norm;  /* 1.0; <= 0 disables clipping */
    int grad_accumulation; /* micro-batches per optimiser step, >= 1 */
} bienc_adamw_config;

void adamw_config_default(bienc_adamw_config *c);

typedef struct bienc_adamw {
    bienc_adamw_config cfg;
    bienc_schedule sched;
    bienc_tensor **params;   /* borrowed: the caller keeps them alive */
    int n_params;
    bienc_tensor **state;    /* 2n owned moment tensors: m[0..n) then v[0..n) */
    bienc_tensor **m;        /* = state: first moments (torch's exp_avg), named "optimizer.m.<param>" */
    bienc_tensor **v;        /* = state + n: second moments (exp_avg_sq), "optimizer.v.<param>" */
    unsigned char *decay;    /* 1 when weight decay applies to params[i]; may be edited */
    int64_t step;            /* optimiser steps taken (torch's state['step']); checkpointed */
    int micro;               /* micro-batches accumulated since the last step */
    double last_lr;          /* lr used by the last step */
    double last_grad_norm;   /* global grad norm before clipping at the last step (after 1/k) */
} bienc_adamw;

/* 1 when a parameter of this name gets weight decay: not for names ending in "bias"
 * or containing "LayerNorm" (sentence-transformers' / HF's no_decay groups). A NULL
 * name gets decay. */
int adamw_name_decays(const char *name);

/* Moments are zero-filled tensors shaped as each param. Every param must have a grad
 * buffer (requires_grad), params may not repeat. cfg NULL = defaults; sched NULL =
 * constant factor 1. */
int adamw_new(bienc_adamw **out, bienc_tensor **params, int n, const bienc_adamw_config *cfg,
              const bienc_schedule *sched);
void adamw_free(bienc_adamw *opt);

/* The learning rate the next step will use: cfg.lr * schedule_factor(sched, step). */
double adamw_lr(const bienc_adamw *opt);

/* One update from the current grads: clip (if max_grad_norm > 0), then AdamW with
 * lr = adamw_lr(), then step++. Grads are left as they are (clipped). On a non-finite
 * grad norm nothing is updated and BIENC_ERANGE names the step. */
int adamw_step(bienc_adamw *opt);

/* Call once after each micro-batch's backward. On every grad_accumulation-th call:
 * grads *= 1/k, adamw_step(), zero the grads, *stepped = 1; otherwise *stepped = 0 and
 * nothing changes. With k = 1 this is adamw_step() + adamw_zero_grad(). On error the
 * grads are zeroed too (the micro-batch window restarts). */
int adamw_micro_step(bienc_adamw *opt, int *stepped);

/* Zero every param's grad (and restart the accumulation window). */
void adamw_zero_grad(bienc_adamw *opt);

/* The 2n moment tensors, all m then all v, in param order (borrowed pointers), for a
 * checkpoint to save and to load into. Also save/restore opt->step (and opt->micro if
 * checkpoints may fall inside an accumulation window). */
int adamw_state_tensors(bienc_adamw *opt, bienc_tensor ***out, int *n_out);

/* The moment tensor of that name ("optimizer.m.<param>" / "optimizer.v.<param>"), or
 * NULL. */
bienc_tensor *adamw_find_state(bienc_adamw *opt, const char *name);

#endif
