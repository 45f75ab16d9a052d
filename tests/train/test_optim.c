/* AdamW, schedules, clipping and accumulation: values computed by hand (or in double
 * from the formulas) at key steps; PyTorch parity is in tests/torch/test_optim.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "train/optim.h"
#include "train/config_map.h"

static void assert_near(double got, double want, double tol)
{
    if (fabs(got - want) > tol) fail_msg("got %.12g, want %.12g (tol %g)", got, want, tol);
}

static void test_schedule_warmup_linear(void **state)
{
    bienc_schedule s;
    assert_int_equal(schedule_init(&s, BIENC_SCHED_WARMUP_LINEAR, 10, 110), 0);
    assert_near(schedule_factor(&s, 0), 0.0, 0);    /* HF: the first step has lr 0 */
    assert_near(schedule_factor(&s, 5), 0.5, 1e-15);
    assert_near(schedule_factor(&s, 10), 1.0, 1e-15);
    assert_near(schedule_factor(&s, 60), 0.5, 1e-15);
    assert_near(schedule_factor(&s, 110), 0.0, 0);
    assert_near(schedule_factor(&s, 500), 0.0, 0);  /* clamped, never negative */
    /* no warmup: starts at 1 */
    assert_int_equal(schedule_init(&s, BIENC_SCHED_WARMUP_LINEAR, 0, 4), 0);
    assert_near(schedule_factor(&s, 0), 1.0, 0);
    assert_near(schedule_factor(&s, 1), 0.75, 1e-15);
}

static void test_schedule_constant_cosine(void **state)
{
    bienc_schedule s;
    assert_int_equal(schedule_init(&s, BIENC_SCHED_CONSTANT, 4, 0), 0);  /* constant needs no total */
    assert_near(schedule_factor(&s, 1), 0.25, 1e-15);
    assert_near(schedule_factor(&s, 4), 1.0, 0);
    assert_near(schedule_factor(&s, 1000000), 1.0, 0);
    assert_int_equal(schedule_init(&s, BIENC_SCHED_CONSTANT, 0, 0), 0);
    assert_near(schedule_factor(&s, 0), 1.0, 0);
    assert_int_equal(schedule_init(&s, BIENC_SCHED_COSINE, 10, 110), 0);
    assert_near(schedule_factor(&s, 5), 0.5, 1e-15);
    assert_near(schedule_factor(&s, 10), 1.0, 1e-15);
    assert_near(schedule_factor(&s, 60), 0.5, 1e-12);     /* half way: cos(pi/2) */
    assert_near(schedule_factor(&s, 35), 0.5 * (1 + cos(M_PI * 0.25)), 1e-12);
    assert_near(schedule_factor(&s, 110), 0.0, 1e-12);
    assert_true(schedule_factor(&s, 200) >= 0.0);
}

static void test_schedule_names_and_errors(void **state)
{
    /* schedule.name: the canonical names, Hugging Face's and sentence-transformers' (any case) */
    static const struct {
        const char *name;
        bienc_schedule_kind kind;
    } names[] = {{"warmup_linear", BIENC_SCHED_WARMUP_LINEAR}, {"WarmupLinear", BIENC_SCHED_WARMUP_LINEAR},
                 {"linear", BIENC_SCHED_WARMUP_LINEAR},        {"constant", BIENC_SCHED_CONSTANT},
                 {"constantlr", BIENC_SCHED_CONSTANT},         {"WarmupConstant", BIENC_SCHED_CONSTANT},
                 {"WarmupCosine", BIENC_SCHED_COSINE},         {"cosine", BIENC_SCHED_COSINE}};
    bienc_run_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char set[64];
        snprintf(set, sizeof set, "schedule.name=%s", names[i].name);
        cfg.schedule.name = names[i].kind == BIENC_SCHED_COSINE ? BIENC_SCHED_CONSTANT : BIENC_SCHED_COSINE;
        assert_int_equal(config_set_override(&cfg, set), 0);
        assert_int_equal(cfg.schedule.name, names[i].kind);
    }
    assert_int_equal(config_set_override(&cfg, "schedule.name=polynomial"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "one of warmup_linear|constant|cosine"));
    config_free(&cfg);
    assert_string_equal(schedule_kind_name(BIENC_SCHED_COSINE), "cosine");
    bienc_schedule s;
    assert_int_equal(schedule_init(&s, BIENC_SCHED_WARMUP_LINEAR, 10, 0), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "total_steps"));
    assert_int_equal(schedule_init(&s, BIENC_SCHED_COSINE, -1, 10), BIENC_EINVAL);
    assert_int_equal(schedule_init(&s, (bienc_schedule_kind)7, 0, 10), BIENC_EINVAL);
    assert_int_equal(schedule_warmup_from_ratio(0.1, 95), 10);  /* ceil(9.5) */
    assert_int_equal(schedule_warmup_from_ratio(0.0, 95), 0);
}

static bienc_tensor *param(const char *name, int64_t n, const float *data, const float *grad)
{
    bienc_tensor *t;
    assert_int_equal(tensor_new_1d(&t, n, 1), 0);
    assert_int_equal(tensor_set_name(t, name), 0);
    if (data) memcpy(t->data, data, sizeof(float) * (size_t)n);
    if (grad) memcpy(t->grad, grad, sizeof(float) * (size_t)n);
    return t;
}

static void test_clip(void **state)
{
    bienc_tensor *a = param("a", 2, NULL, (float[]){3, 0});
    bienc_tensor *b = param("b", 1, NULL, (float[]){4});
    bienc_tensor *ps[] = {a, b};
    double norm;
    assert_near(clip_grad_global_norm(ps, 2), 5.0, 1e-12);
    /* under the limit: untouched */
    assert_int_equal(clip_grad_norm(ps, 2, 10.0, &norm), 0);
    assert_near(norm, 5.0, 1e-12);
    assert_true(a->grad[0] == 3.0f && b->grad[0] == 4.0f);
    /* over: scaled by max_norm / (norm + 1e-6) */
    assert_int_equal(clip_grad_norm(ps, 2, 1.0, &norm), 0);
    assert_near(a->grad[0], 3.0 / (5.0 + 1e-6), 1e-7);
    assert_near(b->grad[0], 4.0 / (5.0 + 1e-6), 1e-7);
    assert_near(clip_grad_global_norm(ps, 2), 1.0, 1e-6);
    /* NaN: error, grads untouched */
    b->grad[0] = NAN;
    float before = a->grad[0];
    assert_int_equal(clip_grad_norm(ps, 2, 1.0, &norm), BIENC_ERANGE);
    assert_true(isnan(norm));
    assert_non_null(strstr(bienc_last_error(), "NaN"));
    assert_true(a->grad[0] == before);
    assert_int_equal(clip_grad_norm(ps, 2, 0.0, NULL), BIENC_EINVAL);
    tensor_free(a);
    tensor_free(b);
}

static void test_clip_large_deterministic(void **state)
{
    /* A tensor above the chunking threshold: the chunked double sum equals a plain one
     * to rounding, and it is identical when recomputed. */
    int64_t n = 200003;
    bienc_tensor *t = param("big", n, NULL, NULL);
    double ref = 0;
    for (int64_t i = 0; i < n; i++) {
        t->grad[i] = (float)sin((double)i * 0.37) * 0.01f;
        ref += (double)t->grad[i] * t->grad[i];
    }
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    double a = clip_grad_global_norm(&t, 1);
    omp_set_num_threads(3);
    double b = clip_grad_global_norm(&t, 1);
    omp_set_num_threads(threads);
    assert_true(a == b);  /* bit for bit, whatever the thread count */
    assert_near(a, sqrt(ref), 1e-12 * sqrt(ref));
    tensor_free(t);
}

static void test_no_decay_names(void **state)
{
    assert_int_equal(adamw_name_decays("encoder.layer.0.attention.self.query.weight"), 1);
    assert_int_equal(adamw_name_decays("encoder.layer.0.attention.self.query.bias"), 0);
    assert_int_equal(adamw_name_decays("embeddings.LayerNorm.weight"), 0);
    assert_int_equal(adamw_name_decays("encoder.layer.3.output.LayerNorm.weight"), 0);
    assert_int_equal(adamw_name_decays("embeddings.word_embeddings.weight"), 1);
    assert_int_equal(adamw_name_decays(NULL), 1);
}

/* One AdamW step in double from the formula, for a scalar parameter. */
static double adamw_ref(double p, double g, double lr, double wd, int decay)
{
    double b1 = 0.9, b2 = 0.999, eps = 1e-6;
    if (decay) p *= 1 - lr * wd;
    double m = (1 - b1) * g, v = (1 - b2) * g * g;
    return p - lr / (1 - b1) * m / (sqrt(v) / sqrt(1 - b2) + eps);
}

static void test_adamw_first_step_and_groups(void **state)
{
    bienc_tensor *w = param("x.dense.weight", 2, (float[]){1.0f, -2.0f}, (float[]){0.5f, -0.25f});
    bienc_tensor *bias = param("x.dense.bias", 1, (float[]){1.0f}, (float[]){0.5f});
    bienc_tensor *ps[] = {w, bias};
    bienc_adamw_config c;
    adamw_config_default(&c);
    c.lr = 0.1;
    c.weight_decay = 0.5;
    c.max_grad_norm = 0;  /* no clipping here */
    bienc_adamw *opt;
    assert_int_equal(adamw_new(&opt, ps, 2, &c, NULL), 0);
    assert_int_equal(opt->decay[0], 1);
    assert_int_equal(opt->decay[1], 0);
    assert_near(adamw_lr(opt), 0.1, 1e-15);
    assert_int_equal(adamw_step(opt), 0);
    assert_int_equal(opt->step, 1);
    assert_near(w->data[0], adamw_ref(1.0, 0.5, 0.1, 0.5, 1), 1e-6);
    assert_near(w->data[1], adamw_ref(-2.0, -0.25, 0.1, 0.5, 1), 1e-6);
    /* same grad and value as w[0] but no decay: differs by exactly the decay term */
    assert_near(bias->data[0], adamw_ref(1.0, 0.5, 0.1, 0.5, 0), 1e-6);
    assert_true(fabs(bias->data[0] - w->data[0]) > 0.04);
    /* moments: m = 0.1 g, v = 0.001 g^2 */
    assert_near(opt->m[0]->data[0], 0.05, 1e-8);
    assert_near(opt->v[0]->data[1], 0.001 * 0.0625, 1e-10);
    adamw_free(opt);
    tensor_free(w);
    tensor_free(bias);
}

static void test_adamw_state_names(void **state)
{
    bienc_tensor *w = param("a.weight", 3, NULL, NULL);
    bienc_tensor *b = param("a.bias", 3, NULL, NULL);
    bienc_tensor *ps[] = {w, b};
    bienc_adamw *opt;
    assert_int_equal(adamw_new(&opt, ps, 2, NULL, NULL), 0);
    bienc_tensor **st;
    int n;
    assert_int_equal(adamw_state_tensors(opt, &st, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(st[0]->name, "optimizer.m.a.weight");
    assert_string_equal(st[1]->name, "optimizer.m.a.bias");
    assert_string_equal(st[2]->name, "optimizer.v.a.weight");
    assert_string_equal(st[3]->name, "optimizer.v.a.bias");
    assert_int_equal(st[3]->size, 3);
    assert_ptr_equal(adamw_find_state(opt, "optimizer.v.a.weight"), st[2]);
    assert_null(adamw_find_state(opt, "optimizer.v.nope"));
    adamw_free(opt);
    adamw_free(NULL);
    tensor_free(w);
    tensor_free(b);
}

/* Restoring m, v and step into a fresh optimiser continues the same trajectory. */
static void test_adamw_restore_state(void **state)
{
    float init[4] = {0.3f, -0.7f, 1.1f, 0.05f};
    bienc_tensor *p1 = param("w", 4, init, NULL), *p2 = param("w", 4, init, NULL);
    bienc_adamw *o1, *o2;
    bienc_schedule s;
    assert_int_equal(schedule_init(&s, BIENC_SCHED_WARMUP_LINEAR, 2, 6), 0);
    assert_int_equal(adamw_new(&o1, &p1, 1, NULL, &s), 0);
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 4; i++) p1->grad[i] = (float)(i - 1.5) * (k + 1);
        assert_int_equal(adamw_step(o1), 0);
    }
    assert_int_equal(adamw_new(&o2, &p2, 1, NULL, &s), 0);
    memcpy(p2->data, p1->data, sizeof init);
    memcpy(o2->m[0]->data, o1->m[0]->data, sizeof init);
    memcpy(o2->v[0]->data, o1->v[0]->data, sizeof init);
    o2->step = o1->step;
    for (int i = 0; i < 4; i++) p1->grad[i] = p2->grad[i] = 0.1f * i;
    assert_int_equal(adamw_step(o1), 0);
    assert_int_equal(adamw_step(o2), 0);
    assert_memory_equal(p1->data, p2->data, sizeof init);
    assert_near(o1->last_lr, 2e-5 * (6 - 3) / 4.0, 1e-18);
    adamw_free(o1);
    adamw_free(o2);
    tensor_free(p1);
    tensor_free(p2);
}

/* The NaN guard on the weights (issue 14): optimiser state with a negative or infinite
 * second moment (or an infinite first one) turns the weights into NaN at the next step although the loss and the
 * gradient norm are finite; the step must fail, naming the parameter. Also with a
 * parameter larger than one update chunk, poisoned in its last chunk. */
static void test_adamw_nan_guard(void **state)
{
    float init[4] = {0.3f, -0.7f, 1.1f, 0.05f};
    /* v = -1 or NaN, m = Inf (v = Inf alone gives a zero update: refused at load instead) */
    const float poison[3] = {-1.0f, NAN, INFINITY};
    for (int k = 0; k < 3; k++) {
        bienc_tensor *p = param("enc.w", 4, init, NULL);
        bienc_adamw *o;
        assert_int_equal(adamw_new(&o, &p, 1, NULL, NULL), 0);
        for (int i = 0; i < 4; i++) p->grad[i] = 0.1f;
        (k < 2 ? o->v[0] : o->m[0])->data[2] = poison[k];
        assert_int_equal(adamw_step(o), BIENC_ERANGE);
        assert_non_null(strstr(bienc_last_error(), "enc.w"));
        assert_non_null(strstr(bienc_last_error(), "finite"));
        adamw_free(o);
        tensor_free(p);
    }
    int64_t n = 3 * 16384 + 5;
    bienc_tensor *big;
    assert_int_equal(tensor_new_1d(&big, n, 1), 0);
    assert_int_equal(tensor_set_name(big, "big"), 0);
    bienc_adamw *o;
    assert_int_equal(adamw_new(&o, &big, 1, NULL, NULL), 0);
    for (int64_t i = 0; i < n; i++) big->grad[i] = 0.01f;
    assert_int_equal(adamw_step(o), 0); /* healthy state: no false alarm */
    o->v[0]->data[n - 2] = -3.0f;
    assert_int_equal(adamw_step(o), BIENC_ERANGE);
    assert_non_null(strstr(bienc_last_error(), "big"));
    adamw_free(o);
    tensor_free(big);
}

/* floats_first_nonfinite and vectors_first_bad: the checks where numbers enter. */
static void test_finite_checks(void **state)
{
    float x[37];
    for (int i = 0; i < 37; i++) x[i] = (float)i - 18.0f;
    assert_int_equal(floats_first_nonfinite(x, 37), -1);
    assert_int_equal(floats_first_nonfinite(x, 0), -1);
    x[33] = NAN;
    x[35] = -INFINITY;
    assert_int_equal(floats_first_nonfinite(x, 37), 33);
    x[33] = 1.0f;
    assert_int_equal(floats_first_nonfinite(x, 37), 35);
    x[35] = 3e38f; /* finite, */
    assert_int_equal(floats_first_nonfinite(x, 37), -1);
    int col = 7;
    /* but as a vector its scores would overflow: rows of 37 dims, the one holding 3e38 */
    assert_int_equal(vectors_first_bad(x, 1, 37, &col), 0);
    assert_int_equal(col, -1);
    x[35] = 1.0f;
    x[20] = NAN;
    assert_int_equal(vectors_first_bad(x, 1, 37, &col), 0);
    assert_int_equal(col, 20);
    x[20] = 1e14f;
    assert_int_equal(vectors_first_bad(x, 1, 37, &col), -1);
}

/* k micro-batches with grads g1..gk accumulated (+=) step like one batch whose grad
 * is their mean. */
static void test_accumulation(void **state)
{
    float init[3] = {0.5f, -0.5f, 2.0f};
    bienc_tensor *pa = param("w", 3, init, NULL), *pb = param("w", 3, init, NULL);
    bienc_adamw_config ca, cb;
    adamw_config_default(&ca);
    ca.lr = 0.01;
    ca.max_grad_norm = 0.5;
    cb = ca;
    ca.grad_accumulation = 2;
    bienc_adamw *oa, *ob;
    assert_int_equal(adamw_new(&oa, &pa, 1, &ca, NULL), 0);
    assert_int_equal(adamw_new(&ob, &pb, 1, &cb, NULL), 0);
    float g1[3] = {1, 2, -3}, g2[3] = {3, 0, 1};
    int stepped;
    for (int i = 0; i < 3; i++) pa->grad[i] += g1[i];
    assert_int_equal(adamw_micro_step(oa, &stepped), 0);
    assert_int_equal(stepped, 0);
    assert_memory_equal(pa->data, init, sizeof init);  /* nothing happens yet */
    for (int i = 0; i < 3; i++) pa->grad[i] += g2[i];
    assert_int_equal(adamw_micro_step(oa, &stepped), 0);
    assert_int_equal(stepped, 1);
    assert_int_equal(oa->step, 1);
    for (int i = 0; i < 3; i++) assert_true(pa->grad[i] == 0.0f);  /* zeroed for the next window */
    for (int i = 0; i < 3; i++) pb->grad[i] = (g1[i] + g2[i]) / 2;
    assert_int_equal(adamw_micro_step(ob, &stepped), 0);
    assert_int_equal(stepped, 1);
    for (int i = 0; i < 3; i++) assert_near(pa->data[i], pb->data[i], 1e-7);
    assert_near(oa->last_grad_norm, sqrt(4 + 1 + 1), 1e-6);  /* norm of the mean grad, before clipping */
    adamw_free(oa);
    adamw_free(ob);
    tensor_free(pa);
    tensor_free(pb);
}

static void test_adamw_errors(void **state)
{
    bienc_adamw *opt = NULL;
    bienc_tensor *nograd;
    assert_int_equal(tensor_new_1d(&nograd, 2, 0), 0);
    assert_int_equal(tensor_set_name(nograd, "frozen.weight"), 0);
    assert_int_equal(adamw_new(&opt, &nograd, 1, NULL, NULL), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "frozen.weight"));
    assert_null(opt);
    assert_int_equal(adamw_new(&opt, NULL, 0, NULL, NULL), BIENC_EINVAL);
    bienc_tensor *w = param("w", 2, NULL, NULL);
    bienc_tensor *twice[] = {w, w};
    assert_int_equal(adamw_new(&opt, twice, 2, NULL, NULL), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "twice"));
    bienc_adamw_config c;
    adamw_config_default(&c);
    c.beta2 = 1.0;
    assert_int_equal(adamw_new(&opt, &w, 1, &c, NULL), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "beta2"));
    adamw_config_default(&c);
    c.grad_accumulation = 0;
    assert_int_equal(adamw_new(&opt, &w, 1, &c, NULL), BIENC_EINVAL);
    /* Inf grad: error naming the step, params untouched */
    assert_int_equal(adamw_new(&opt, &w, 1, NULL, NULL), 0);
    w->data[0] = 1.0f;
    w->grad[0] = INFINITY;
    assert_int_equal(adamw_step(opt), BIENC_ERANGE);
    assert_non_null(strstr(bienc_last_error(), "step 1"));
    assert_true(w->data[0] == 1.0f);
    assert_int_equal(opt->step, 0);
    adamw_free(opt);
    tensor_free(w);
    tensor_free(nograd);
}

/* The run config's optim / schedule sections map onto the optimiser. */
static void test_from_config(void **state)
{
    bienc_run_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_set_override(&cfg, "optim.betas=[0.8, 0.95]"), 0);
    assert_int_equal(config_set_override(&cfg, "optim.grad_accumulation=4"), 0);
    assert_int_equal(config_set_override(&cfg, "schedule.name=WarmupCosine"), 0);
    bienc_adamw_config c;
    adamw_config_from(&c, &cfg.optim);
    assert_true(c.lr == 2e-5 && c.beta1 == 0.8 && c.beta2 == 0.95 && c.eps == 1e-6);
    assert_int_equal(c.grad_accumulation, 4);
    bienc_schedule s;
    assert_int_equal(schedule_from_config(&s, &cfg.schedule, 1000), 0);
    assert_int_equal(s.kind, BIENC_SCHED_COSINE);
    assert_int_equal(s.warmup_steps, 100);  /* warmup_ratio 0.1 */
    assert_int_equal(config_set_override(&cfg, "schedule.name=warmup_linear"), 0);
    assert_int_equal(schedule_from_config(&s, &cfg.schedule, 0), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "schedule: "));
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_warmup_linear),
        cmocka_unit_test(test_schedule_constant_cosine),
        cmocka_unit_test(test_schedule_names_and_errors),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_clip_large_deterministic),
        cmocka_unit_test(test_no_decay_names),
        cmocka_unit_test(test_adamw_first_step_and_groups),
        cmocka_unit_test(test_adamw_state_names),
        cmocka_unit_test(test_adamw_restore_state),
        cmocka_unit_test(test_accumulation),
        cmocka_unit_test(test_adamw_nan_guard),
        cmocka_unit_test(test_finite_checks),
        cmocka_unit_test(test_adamw_errors),
        cmocka_unit_test(test_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
