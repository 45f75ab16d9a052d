/* Pooling, similarities and losses (pooling.h, loss.h).
 *
 * Gradients: every op runs in float on the tape; a double-precision reference of the
 * same function (written here, independently) gives forward values and, by central
 * differences, the numerical gradient of L = sum(G * out) for a random G. The analytic
 * gradient from tape_backward_from(out, G) must match it per tensor:
 * max|ana - num| / max|num| <= 1e-4 (float kernels against a double reference).
 * Gradients are pre-filled with a constant to check that backward accumulates (+=).
 * Hand-computed values, tie rule and error paths: test_heads_values.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ops/loss.h"
#include "ops/pooling.h"
#include "core/rng.h"

#define MAX_IN 4
#define GRAD_PREFILL 0.25f

/* One checked function: inputs in[k] of shape rows[k] x cols[k] (cols 0 = 1-D).
 * alias[k] >= 0 makes input k the same tensor as input alias[k] (ops given one tensor twice). */
typedef struct gcase {
    const char *name;
    int n_in;
    int64_t rows[MAX_IN], cols[MAX_IN];
    int alias[MAX_IN];
    int no_grad[MAX_IN]; /* input k is a constant (requires_grad = 0) */
    int (*run)(bienc_tape *, bienc_tensor **in, const void *p, bienc_tensor **out);
    void (*ref)(double *const *in, const void *p, double *out); /* out has out_size values */
    int64_t out_size;
    const void *p;
    float lo, hi; /* input range */
} gcase;

static int64_t in_size(const gcase *c, int k) { return c->rows[k] * (c->cols[k] ? c->cols[k] : 1); }

static double ref_objective(const gcase *c, double *const *in, const double *G, double *buf)
{
    c->ref(in, c->p, buf);
    double L = 0.0;
    for (int64_t i = 0; i < c->out_size; i++) L += G[i] * buf[i];
    return L;
}

/* Returns the worst relative gradient error; asserts forward and gradients. */
static double check_case(const gcase *c, uint64_t seed)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    bienc_tensor *t[MAX_IN] = {0};
    double *xd[MAX_IN] = {0};
    for (int k = 0; k < c->n_in; k++) {
        if (c->alias[k] >= 0) {
            t[k] = t[c->alias[k]];
            continue;
        }
        int rc = c->cols[k] ? tensor_new_2d(&t[k], c->rows[k], c->cols[k], !c->no_grad[k])
                            : tensor_new_1d(&t[k], c->rows[k], !c->no_grad[k]);
        assert_int_equal(rc, 0);
        for (int64_t i = 0; i < t[k]->size; i++) t[k]->data[i] = c->lo + (c->hi - c->lo) * rng_uniform(&rng);
        if (t[k]->grad)
            for (int64_t i = 0; i < t[k]->size; i++) t[k]->grad[i] = GRAD_PREFILL;
    }
    for (int k = 0; k < c->n_in; k++) {
        xd[k] = malloc(sizeof(double) * (size_t)in_size(c, k));
        for (int64_t i = 0; i < in_size(c, k); i++) xd[k][i] = t[k]->data[i];
    }
    /* aliased inputs share one double buffer so that perturbing it moves both uses */
    for (int k = 0; k < c->n_in; k++)
        if (c->alias[k] >= 0) {
            free(xd[k]);
            xd[k] = xd[c->alias[k]];
        }

    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *out = NULL;
    int rc = c->run(tape, t, c->p, &out);
    if (rc < 0) fprintf(stderr, "%s: %s\n", c->name, bienc_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(out->size, c->out_size);

    double *ref = malloc(sizeof(double) * (size_t)c->out_size), *buf = malloc(sizeof(double) * (size_t)c->out_size);
    double *G = malloc(sizeof(double) * (size_t)c->out_size);
    float *Gf = malloc(sizeof(float) * (size_t)c->out_size);
    c->ref(xd, c->p, ref);
    double fmax = 0.0, ferr = 0.0;
    for (int64_t i = 0; i < c->out_size; i++) {
        fmax = fmax > fabs(ref[i]) ? fmax : fabs(ref[i]);
        ferr = ferr > fabs(ref[i] - out->data[i]) ? ferr : fabs(ref[i] - out->data[i]);
        Gf[i] = 2.0f * rng_uniform(&rng) - 1.0f;
        G[i] = Gf[i];
    }
    if (ferr > 1e-5 * (fmax > 1.0 ? fmax : 1.0)) fprintf(stderr, "%s: forward error %.3g (max %.3g)\n", c->name, ferr, fmax);
    assert_true(ferr <= 1e-5 * (fmax > 1.0 ? fmax : 1.0));

    rc = tape_backward_from(tape, out, Gf);
    if (rc < 0) fprintf(stderr, "%s: %s\n", c->name, bienc_last_error());
    assert_int_equal(rc, 0);

    double worst = 0.0;
    for (int k = 0; k < c->n_in; k++) {
        if (c->alias[k] >= 0) continue;
        if (c->no_grad[k]) {
            assert_null(t[k]->grad); /* constants never get a gradient */
            continue;
        }
        double nmax = 0.0, emax = 0.0;
        for (int64_t i = 0; i < in_size(c, k); i++) {
            double x0 = xd[k][i], h = 1e-6 * (fabs(x0) > 1.0 ? fabs(x0) : 1.0);
            xd[k][i] = x0 + h;
            double lp = ref_objective(c, xd, G, buf);
            xd[k][i] = x0 - h;
            double lm = ref_objective(c, xd, G, buf);
            xd[k][i] = x0;
            double num = (lp - lm) / (2 * h), ana = (double)t[k]->grad[i] - GRAD_PREFILL;
            nmax = nmax > fabs(num) ? nmax : fabs(num);
            emax = emax > fabs(num - ana) ? emax : fabs(num - ana);
        }
        double rel = emax / (nmax > 1e-12 ? nmax : 1e-12);
        if (rel > 1e-4 || nmax == 0.0)
            fprintf(stderr, "%s: input %d gradient rel error %.3g (max |grad| %.3g)\n", c->name, k, rel, nmax);
        assert_true(nmax > 0.0); /* a check against an all-zero gradient proves nothing */
        assert_true(rel <= 1e-4);
        worst = worst > rel ? worst : rel;
    }
    print_message("  %-28s forward err %.2e  grad rel err %.2e\n", c->name, ferr, worst);
    tape_free(tape);
    for (int k = 0; k < c->n_in; k++)
        if (c->alias[k] < 0) {
            free(xd[k]);
            tensor_free(t[k]);
        }
    free(ref);
    free(buf);
    free(G);
    free(Gf);
    return worst;
}

/* ------------------------------------------------------- double references ---- */

static double dot_d(const double *a, const double *b, int64_t C)
{
    double s = 0.0;
    for (int64_t c = 0; c < C; c++) s += a[c] * b[c];
    return s;
}

static void normalize_d(const double *x, int64_t C, double eps, double *y)
{
    double n = sqrt(dot_d(x, x, C));
    if (n < eps) n = eps;
    for (int64_t c = 0; c < C; c++) y[c] = x[c] / n;
}

/* mean over rows of logsumexp(s_i) - s_i[label_i] */
static double ce_d(const double *s, int64_t n, int64_t m, const int32_t *labels)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double mx = s[i * m];
        for (int64_t j = 1; j < m; j++) mx = fmax(mx, s[i * m + j]);
        double z = 0.0;
        for (int64_t j = 0; j < m; j++) z += exp(s[i * m + j] - mx);
        total += mx + log(z) - s[i * m + labels[i]];
    }
    return total / (double)n;
}

typedef struct pool_p {
    bienc_seqs seqs;
    bienc_pool_mode mode;
    int64_t C;
} pool_p;

static int run_pool(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    const pool_p *pp = p;
    return op_pool(tp, in[0], &pp->seqs, pp->mode, out);
}

static void ref_pool(double *const *in, const void *p, double *out)
{
    const pool_p *pp = p;
    const double *x = in[0];
    for (int s = 0; s < pp->seqs.n; s++) {
        int t0 = pp->seqs.offsets[s], t1 = pp->seqs.offsets[s + 1];
        for (int64_t c = 0; c < pp->C; c++) {
            double v = x[t0 * pp->C + c];
            for (int t = t0 + 1; t < t1; t++) {
                double xv = x[t * pp->C + c];
                if (pp->mode == BIENC_POOL_MEAN) v += xv;
                else if (pp->mode == BIENC_POOL_MAX) v = fmax(v, xv);
            }
            if (pp->mode == BIENC_POOL_MEAN) v /= (double)(t1 - t0);
            out[s * pp->C + c] = v;
        }
    }
}

typedef struct mat_p {
    int64_t n, m, C;
    float alpha;
    int cosine;
} mat_p;

static int run_l2n(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return op_l2_normalize(tp, in[0], out);
}

static void ref_l2n(double *const *in, const void *p, double *out)
{
    const mat_p *mp = p;
    for (int64_t i = 0; i < mp->n; i++) normalize_d(in[0] + i * mp->C, mp->C, 1e-12, out + i * mp->C);
}

static int run_matrix(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    const mat_p *mp = p;
    if (mp->cosine)
        return mp->alpha == 1.0f ? op_cos_sim_matrix(tp, in[0], in[1], out)
                                 : op_cos_sim_matrix_scaled(tp, in[0], in[1], mp->alpha, out);
    return mp->alpha == 1.0f ? op_dot_matrix(tp, in[0], in[1], out)
                             : op_dot_matrix_scaled(tp, in[0], in[1], mp->alpha, out);
}

static void ref_matrix(double *const *in, const void *p, double *out)
{
    const mat_p *mp = p;
    double *an = malloc(sizeof(double) * (size_t)mp->C), *bn = malloc(sizeof(double) * (size_t)mp->C);
    for (int64_t i = 0; i < mp->n; i++)
        for (int64_t j = 0; j < mp->m; j++) {
            const double *a = in[0] + i * mp->C, *b = in[1] + j * mp->C;
            if (mp->cosine) {
                normalize_d(a, mp->C, 1e-12, an);
                normalize_d(b, mp->C, 1e-12, bn);
                a = an;
                b = bn;
            }
            out[i * mp->m + j] = mp->alpha * dot_d(a, b, mp->C);
        }
    free(an);
    free(bn);
}

static int run_row_dot(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return op_row_dot(tp, in[0], in[1], out);
}

static void ref_row_dot(double *const *in, const void *p, double *out)
{
    const mat_p *mp = p;
    for (int64_t i = 0; i < mp->n; i++) out[i] = dot_d(in[0] + i * mp->C, in[1] + i * mp->C, mp->C);
}

static int run_concat(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return op_concat_rows(tp, in[0], in[1], out);
}

/* [a; b] */
static void ref_concat(double *const *in, const void *p, double *out)
{
    const mat_p *mp = p;
    memcpy(out, in[0], sizeof(double) * (size_t)(mp->n * mp->C));
    memcpy(out + mp->n * mp->C, in[1], sizeof(double) * (size_t)(mp->m * mp->C));
}

static int run_slice(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return op_slice_rows(tp, in[0], 1, 2, out);
}

static void ref_slice(double *const *in, const void *p, double *out)
{
    const mat_p *mp = p;
    memcpy(out, in[0] + mp->C, sizeof(double) * (size_t)(2 * mp->C));
}

static int run_wsum(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return op_weighted_sum(tp, 3, in, (float[]){0.5f, -2.0f, 1.25f}, out);
}

static void ref_wsum(double *const *in, const void *p, double *out)
{
    const mat_p *mp = p;
    for (int64_t i = 0; i < mp->n * mp->C; i++) out[i] = 0.5 * in[0][i] - 2.0 * in[1][i] + 1.25 * in[2][i];
}

typedef struct loss_p {
    int64_t B, C, M;
    const int32_t *labels;
    const float *targets;
    bienc_distance dist;
    float margin, scale;
    int symmetric;
    float temperature;     /* DistillKLDivLoss */
    bienc_similarity sim;  /* DistillKLDivLoss */
} loss_p;

static int run_ce(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return loss_cross_entropy(tp, in[0], ((const loss_p *)p)->labels, out);
}

static void ref_ce(double *const *in, const void *p, double *out)
{
    const loss_p *lp = p;
    out[0] = ce_d(in[0], lp->B, lp->M, lp->labels);
}

/* loss_listwise_ce: B groups of M logits stored as a [B * M, 1] column, scaled */
static int run_listwise(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    const loss_p *lp = p;
    return loss_listwise_ce(tp, in[0], lp->M, lp->scale, out);
}

static void ref_listwise(double *const *in, const void *p, double *out)
{
    const loss_p *lp = p;
    double x[64];
    int32_t zeros[16] = {0};
    for (int64_t i = 0; i < lp->B * lp->M; i++) x[i] = lp->scale * in[0][i];
    out[0] = ce_d(x, lp->B, lp->M, zeros);
}

static int run_triplet(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    const loss_p *lp = p;
    return loss_triplet(tp, in[0], in[1], in[2], lp->dist, lp->margin, out);
}

static double dist_d(const double *x, const double *y, int64_t C, bienc_distance kind)
{
    if (kind == BIENC_DIST_EUCLIDEAN) {
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) s += (x[c] - y[c] + 1e-6) * (x[c] - y[c] + 1e-6);
        return sqrt(s);
    }
    return 1.0 - dot_d(x, y, C) / (fmax(sqrt(dot_d(x, x, C)), 1e-8) * fmax(sqrt(dot_d(y, y, C)), 1e-8));
}

static void ref_triplet(double *const *in, const void *p, double *out)
{
    const loss_p *lp = p;
    double total = 0.0;
    for (int64_t i = 0; i < lp->B; i++) {
        const int64_t r = i * lp->C;
        double h = dist_d(in[0] + r, in[1] + r, lp->C, lp->dist) - dist_d(in[0] + r, in[2] + r, lp->C, lp->dist) +
                   lp->margin;
        total += h > 0 ? h : 0;
    }
    out[0] = total / (double)lp->B;
}

static int run_mse(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return loss_mse(tp, in[0], in[1], out);
}

static void ref_mse(double *const *in, const void *p, double *out)
{
    const loss_p *lp = p;
    double s = 0.0;
    for (int64_t i = 0; i < lp->B * lp->C; i++) s += (in[0][i] - in[1][i]) * (in[0][i] - in[1][i]);
    out[0] = s / (double)(lp->B * lp->C);
}

static int run_bce(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return loss_bce_with_logits(tp, in[0], ((const loss_p *)p)->targets, out);
}

static void ref_bce(double *const *in, const void *p, double *out)
{
    const loss_p *lp = p;
    double s = 0.0;
    for (int64_t i = 0; i < lp->B; i++) {
        double x = in[0][i], t = lp->targets[i], sig = 1.0 / (1.0 + exp(-x));
        s += -(t * log(sig) + (1 - t) * log(1 - sig));
    }
    out[0] = s / (double)lp->B;
}

static int run_mnrl(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    const loss_p *lp = p;
    return loss_mnrl(tp, in[0], in[1], lp->scale, lp->symmetric, out);
}

/* sentence-transformers: scores = cos_sim(q, docs) * scale; CE(scores, arange(B));
 * symmetric: (that + CE(scores[:, :B].T, arange(B))) / 2 */
static void ref_mnrl(double *const *in, const void *p, double *out)
{
    const loss_p *lp = p;
    int64_t B = lp->B, M = lp->M, C = lp->C;
    double *s = malloc(sizeof(double) * (size_t)(B * M)), *st = malloc(sizeof(double) * (size_t)(B * B));
    double *qn = malloc(sizeof(double) * (size_t)C), *dn = malloc(sizeof(double) * (size_t)C);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)B);
    for (int64_t i = 0; i < B; i++) {
        lab[i] = (int32_t)i;
        normalize_d(in[0] + i * C, C, 1e-12, qn);
        for (int64_t j = 0; j < M; j++) {
            normalize_d(in[1] + j * C, C, 1e-12, dn);
            s[i * M + j] = lp->scale * dot_d(qn, dn, C);
        }
    }
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < B; j++) st[j * B + i] = s[i * M + j];
    out[0] = ce_d(s, B, M, lab);
    if (lp->symmetric) out[0] = (out[0] + ce_d(st, B, B, lab)) / 2;
    free(s);
    free(st);
    free(qn);
    free(dn);
    free(lab);
}

static int run_margin_mse(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    return loss_margin_mse(tp, in[0], in[1], in[2], ((const loss_p *)p)->targets, out);
}

static void ref_margin_mse(double *const *in, const void *p, double *out)
{
    const loss_p *lp = p;
    double s = 0.0;
    for (int64_t i = 0; i < lp->B; i++) {
        const int64_t r = i * lp->C;
        double d = dot_d(in[0] + r, in[1] + r, lp->C) - dot_d(in[0] + r, in[2] + r, lp->C) - lp->targets[i];
        s += d * d;
    }
    out[0] = s / (double)lp->B;
}

static int run_distill_kl(bienc_tape *tp, bienc_tensor **in, const void *p, bienc_tensor **out)
{
    const loss_p *lp = p;
    return loss_distill_kl_div(tp, in[0], in[1], lp->targets, lp->sim, lp->scale, lp->temperature, out);
}

/* sentence-transformers' DistillKLDivLoss (times bienc's scale): s_ij = scale sim(q_i, d_{jB+i}),
 * T^2 mean_i KL(softmax(t_i / T) || softmax(s_i / T)), in double. M = 1 + K passages per query. */
static void ref_distill_kl(double *const *in, const void *p, double *out)
{
    const loss_p *lp = p;
    const int64_t B = lp->B, G = lp->M, C = lp->C;
    const double T = lp->temperature;
    double qn[16], dn[16], total = 0.0;
    for (int64_t i = 0; i < B; i++) {
        double s[16], t[16], smax = -INFINITY, tmax = -INFINITY, ssum = 0.0, tsum = 0.0;
        for (int64_t j = 0; j < G; j++) {
            const double *q = in[0] + i * C, *d = in[1] + (j * B + i) * C;
            if (lp->sim == BIENC_SIM_COS) {
                normalize_d(q, C, 1e-12, qn);
                normalize_d(d, C, 1e-12, dn);
                q = qn;
                d = dn;
            }
            s[j] = lp->scale * dot_d(q, d, C) / T;
            t[j] = lp->targets[i * G + j] / T;
            smax = fmax(smax, s[j]);
            tmax = fmax(tmax, t[j]);
        }
        for (int64_t j = 0; j < G; j++) {
            ssum += exp(s[j] - smax);
            tsum += exp(t[j] - tmax);
        }
        for (int64_t j = 0; j < G; j++) {
            double logp = t[j] - tmax - log(tsum), logq = s[j] - smax - log(ssum);
            total += exp(logp) * (logp - logq);
        }
    }
    out[0] = T * T * total / (double)B;
}

/* ------------------------------------------------------------- gradient tests ---- */

#define NOALIAS {-1, -1, -1, -1}

static void test_grad_pooling(void **state)
{
    static const int off[] = {0, 1, 5, 14};
    const char *names[] = {"pool mean", "pool cls", "pool max"};
    for (int mode = 0; mode < 3; mode++) {
        pool_p p = {{.n = 3, .offsets = off}, (bienc_pool_mode)mode, 5};
        gcase c = {names[mode], 1, {14}, {5}, NOALIAS, {0}, run_pool, ref_pool, 15, &p, -2, 2};
        check_case(&c, 11 + (uint64_t)mode);
    }
}

static void test_grad_similarity(void **state)
{
    mat_p p = {4, 6, 7, 1.0f, 0};
    gcase l2n = {"l2_normalize", 1, {4}, {7}, NOALIAS, {0}, run_l2n, ref_l2n, 28, &p, -1, 1};
    check_case(&l2n, 21);
    gcase dot = {"dot_matrix", 2, {4, 6}, {7, 7}, NOALIAS, {0}, run_matrix, ref_matrix, 24, &p, -1, 1};
    check_case(&dot, 22);
    mat_p ps = {4, 6, 7, -3.5f, 0};
    gcase dots = {"dot_matrix_scaled", 2, {4, 6}, {7, 7}, NOALIAS, {0}, run_matrix, ref_matrix, 24, &ps, -1, 1};
    check_case(&dots, 23);
    mat_p pc = {4, 6, 7, 1.0f, 1};
    gcase cos = {"cos_sim_matrix", 2, {4, 6}, {7, 7}, NOALIAS, {0}, run_matrix, ref_matrix, 24, &pc, -1, 1};
    check_case(&cos, 24);
    mat_p pcs = {4, 6, 7, 20.0f, 1};
    gcase coss = {"cos_sim_matrix_scaled", 2, {4, 6}, {7, 7}, NOALIAS, {0}, run_matrix, ref_matrix, 24, &pcs, -1, 1};
    check_case(&coss, 25);
    /* one tensor on both sides: both uses must add into the same gradient */
    mat_p pself = {5, 5, 3, 2.0f, 1};
    gcase self = {"cos_sim_matrix(a, a)", 2, {5, 5}, {3, 3}, {-1, 0, -1, -1}, {0}, run_matrix, ref_matrix, 25, &pself,
                  -1, 1};
    check_case(&self, 26);
    mat_p pr = {5, 5, 6, 1.0f, 0};
    gcase rd = {"row_dot", 2, {5, 5}, {6, 6}, NOALIAS, {0}, run_row_dot, ref_row_dot, 5, &pr, -1, 1};
    check_case(&rd, 27);
    gcase rds = {"row_dot(a, a)", 2, {5, 5}, {6, 6}, {-1, 0, -1, -1}, {0}, run_row_dot, ref_row_dot, 5, &pr, -1, 1};
    check_case(&rds, 28);
    gcase rdc = {"row_dot(a, const)", 2, {5, 5}, {6, 6}, NOALIAS, {0, 1}, run_row_dot, ref_row_dot, 5, &pr, -1, 1};
    check_case(&rdc, 29);
    mat_p pcat = {3, 2, 4, 1.0f, 0};
    gcase cat = {"concat_rows", 2, {3, 2}, {4, 4}, NOALIAS, {0}, run_concat, ref_concat, 20, &pcat, -1, 1};
    check_case(&cat, 30);
    mat_p psl = {4, 0, 3, 1.0f, 0};
    gcase sl = {"slice_rows", 1, {4}, {3}, NOALIAS, {0}, run_slice, ref_slice, 6, &psl, -1, 1};
    check_case(&sl, 31);
    mat_p pw = {3, 0, 2, 1.0f, 0};
    gcase ws = {"weighted_sum", 3, {3, 3, 3}, {2, 2, 2}, NOALIAS, {0}, run_wsum, ref_wsum, 6, &pw, -1, 1};
    check_case(&ws, 32);
}

static void test_grad_losses(void **state)
{
    static const int32_t labels[5] = {0, 6, 3, 3, 1};
    loss_p pce = {.B = 5, .M = 7, .labels = labels};
    gcase ce = {"cross_entropy", 1, {5}, {7}, NOALIAS, {0}, run_ce, ref_ce, 1, &pce, -3, 3};
    check_case(&ce, 41);
    loss_p plw = {.B = 3, .M = 4, .scale = 2.5f};
    gcase lw = {"listwise_ce", 1, {12}, {1}, NOALIAS, {0}, run_listwise, ref_listwise, 1, &plw, -2, 2};
    check_case(&lw, 45);
    /* margins chosen so that some rows are inside the hinge and some are not */
    loss_p pte = {.B = 6, .C = 5, .dist = BIENC_DIST_EUCLIDEAN, .margin = 0.3f};
    gcase te = {"triplet euclidean", 3, {6, 6, 6}, {5, 5, 5}, NOALIAS, {0}, run_triplet, ref_triplet, 1, &pte, -1, 1};
    check_case(&te, 42);
    loss_p ptc = {.B = 6, .C = 5, .dist = BIENC_DIST_COSINE, .margin = 0.2f};
    gcase tc = {"triplet cosine", 3, {6, 6, 6}, {5, 5, 5}, NOALIAS, {0}, run_triplet, ref_triplet, 1, &ptc, -1, 1};
    check_case(&tc, 43);
    loss_p pm = {.B = 4, .C = 3};
    gcase mse = {"mse", 2, {4, 4}, {3, 3}, NOALIAS, {0}, run_mse, ref_mse, 1, &pm, -1, 1};
    check_case(&mse, 44);
    gcase msec = {"mse(a, const)", 2, {4, 4}, {3, 3}, NOALIAS, {0, 1}, run_mse, ref_mse, 1, &pm, -1, 1};
    check_case(&msec, 45);
    static const float targets[6] = {0.0f, 1.0f, 0.3f, 1.0f, 0.0f, 0.75f};
    loss_p pb = {.B = 6, .targets = targets};
    gcase bce = {"bce_with_logits", 1, {6}, {0}, NOALIAS, {0}, run_bce, ref_bce, 1, &pb, -6, 6};
    check_case(&bce, 46);
}

static void test_grad_st_losses(void **state)
{
    /* B = 3 queries, 2 hard negatives each: docs = 3 positives + 6 negatives */
    loss_p pm = {.B = 3, .C = 5, .M = 9, .scale = 20.0f, .symmetric = 0};
    gcase mnrl = {"mnrl (scale 20)", 2, {3, 9}, {5, 5}, NOALIAS, {0}, run_mnrl, ref_mnrl, 1, &pm, -1, 1};
    check_case(&mnrl, 51);
    loss_p pms = {.B = 3, .C = 5, .M = 9, .scale = 20.0f, .symmetric = 1};
    gcase mnrls = {"mnrl symmetric", 2, {3, 9}, {5, 5}, NOALIAS, {0}, run_mnrl, ref_mnrl, 1, &pms, -1, 1};
    check_case(&mnrls, 52);
    loss_p pm1 = {.B = 4, .C = 6, .M = 4, .scale = 7.0f, .symmetric = 1};
    gcase mnrl1 = {"mnrl symmetric, no negs", 2, {4, 4}, {6, 6}, NOALIAS, {0}, run_mnrl, ref_mnrl, 1, &pm1, -1, 1};
    check_case(&mnrl1, 53);
    static const float margins[4] = {0.5f, -0.25f, 1.5f, 0.0f};
    loss_p pmm = {.B = 4, .C = 6, .targets = margins};
    gcase mm = {"margin_mse", 3, {4, 4, 4}, {6, 6, 6}, NOALIAS, {0}, run_margin_mse, ref_margin_mse, 1, &pmm, -1, 1};
    check_case(&mm, 54);
    /* DistillKLDivLoss: B = 3 queries, K = 3 negatives each (docs = 4 blocks of 3), teacher
     * logits of a cross-encoder's size; cosine at scale 20 and T 1, dot at T 2 */
    static const float teacher[12] = {3.0f, -1.0f, 0.5f, -2.0f, 1.0f, 1.5f, -0.5f, 0.0f, -3.0f, 2.0f, 4.0f, -1.0f};
    loss_p pkc = {.B = 3, .C = 5, .M = 4, .targets = teacher, .scale = 20.0f, .temperature = 1.0f, .sim = BIENC_SIM_COS};
    gcase kc = {"distill_kl cos T 1", 2, {3, 12}, {5, 5}, NOALIAS, {0}, run_distill_kl, ref_distill_kl, 1, &pkc, -1, 1};
    check_case(&kc, 55);
    loss_p pkd = {.B = 3, .C = 5, .M = 4, .targets = teacher, .scale = 1.0f, .temperature = 2.0f, .sim = BIENC_SIM_DOT};
    gcase kd = {"distill_kl dot T 2", 2, {3, 12}, {5, 5}, NOALIAS, {0}, run_distill_kl, ref_distill_kl, 1, &pkd, -1, 1};
    check_case(&kd, 56);
    loss_p pkt = {.B = 3, .C = 5, .M = 4, .targets = teacher, .scale = 3.0f, .temperature = 0.5f, .sim = BIENC_SIM_COS};
    gcase kt = {"distill_kl cos T 0.5", 2, {3, 12}, {5, 5}, NOALIAS, {0}, run_distill_kl, ref_distill_kl, 1, &pkt, -1, 1};
    check_case(&kt, 57);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_pooling),
        cmocka_unit_test(test_grad_similarity),
        cmocka_unit_test(test_grad_losses),
        cmocka_unit_test(test_grad_st_losses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
