/* Elementary losses: cross entropy, KL divergence, triplet, MSE, BCE with logits. Each is one op whose
 * output is a scalar [1], the mean over the batch (PyTorch's reduction="mean"); the
 * backward scales by dL/dloss (the output's gradient) and ACCUMULATES into the inputs.
 * Sums run in double, in row order, so results do not depend on threads. */
#include "ops/loss.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

#define LOSS_PARALLEL_MIN 32768
#define PAIRWISE_DISTANCE_EPS 1e-6f /* F.pairwise_distance adds it to the difference */
#define COSINE_EPS 1e-8f            /* F.cosine_similarity's norm clamp */

/* -------------------------------------------------------------- cross entropy ---- */

typedef struct ce_ctx {
    float *lse;      /* [n] log-sum-exp of each row */
    int32_t *labels; /* [n] copied */
} ce_ctx;

/* dlogits[i, j] += dL/dloss / n * (softmax(logits_i)_j - [j == label_i]) */
static int ce_backward(bienc_tape *tape, bienc_tape_node *node)
{
    ce_ctx *ctx = node->ctx;
    bienc_tensor *x = node->in[0];
    float *dx = tape_grad(tape, x);
    if (!dx) return BIENC_ENOMEM;
    const int64_t n = x->shape[0], m = x->shape[1];
    const float g = node->out->grad[0] / (float)n;
#pragma omp parallel for schedule(static) if (x->size >= LOSS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float *xr = x->data + i * m;
        float *dr = dx + i * m;
        for (int64_t j = 0; j < m; j++) dr[j] += g * expf(xr[j] - ctx->lse[i]);
        dr[ctx->labels[i]] -= g;
    }
    return BIENC_OK;
}

int loss_cross_entropy(bienc_tape *tape, bienc_tensor *logits, const int32_t *labels, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out && labels);
    BIENC_TRY(tensor_check(logits, "loss_cross_entropy: logits", 2, NULL));
    const int64_t n = logits->shape[0], m = logits->shape[1];
    if (n < 1 || m < 1)
        return bienc_error(BIENC_ESHAPE, "loss_cross_entropy: logits [%lld, %lld] are empty", (long long)n,
                           (long long)m);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= m)
            return bienc_error(BIENC_ERANGE, "loss_cross_entropy: labels[%lld] = %d outside [0, %lld)", (long long)i,
                               labels[i], (long long)m);
    float *lse = tape_floats(tape, (size_t)n);
    float *row_loss = tape_floats(tape, (size_t)n);
    if (!lse || !row_loss) return BIENC_ENOMEM;
    /* loss_i = logsumexp(x_i) - x_i[label], with the max subtracted before exp. */
#pragma omp parallel for schedule(static) if (logits->size >= LOSS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float *xr = logits->data + i * m;
        float mx = xr[0];
        for (int64_t j = 1; j < m; j++) mx = xr[j] > mx ? xr[j] : mx;
        double s = 0.0;
        for (int64_t j = 0; j < m; j++) s += exp((double)xr[j] - mx);
        double l = mx + log(s);
        lse[i] = (float)l;
        row_loss[i] = (float)(l - xr[labels[i]]);
    }
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) total += row_loss[i];
    bienc_tensor *o;
    BIENC_TRY(tape_tensor(tape, 1, (int64_t[]){1}, &o));
    o->data[0] = (float)(total / (double)n);
    ce_ctx *ctx;
    BIENC_TRY(tape_record(tape, "cross_entropy", ce_backward, o, 1, (bienc_tensor *[]){logits}, (void **)&ctx,
                          sizeof *ctx));
    if (ctx) {
        ctx->lse = lse;
        ctx->labels = tape_alloc(tape, sizeof(int32_t) * (size_t)n);
        if (!ctx->labels) return BIENC_ENOMEM;
        memcpy(ctx->labels, labels, sizeof(int32_t) * (size_t)n);
    }
    *out = o;
    return BIENC_OK;
}

/* -------------------------------------------------- KL divergence to a target ---- */

typedef struct kl_ctx {
    float *lse;    /* [n] log-sum-exp of each row */
    float *target; /* [n, m] copied */
} kl_ctx;

/* d/dx_ij of sum_j t_ij (log t_ij - x_ij + lse_i) is softmax(x_i)_j - t_ij (the t_i sum to 1):
 * dlogits[i, j] += dL/dloss / n * (softmax(logits_i)_j - t_ij) */
static int kl_backward(bienc_tape *tape, bienc_tape_node *node)
{
    kl_ctx *ctx = node->ctx;
    bienc_tensor *x = node->in[0];
    float *dx = tape_grad(tape, x);
    if (!dx) return BIENC_ENOMEM;
    const int64_t n = x->shape[0], m = x->shape[1];
    const float g = node->out->grad[0] / (float)n;
    for (int64_t i = 0; i < n; i++) {
        const float *xr = x->data + i * m, *tr = ctx->target + i * m;
        float *dr = dx + i * m;
        for (int64_t j = 0; j < m; j++) dr[j] += g * (expf(xr[j] - ctx->lse[i]) - tr[j]);
    }
    return BIENC_OK;
}

int loss_kl_div(bienc_tape *tape, bienc_tensor *logits, const float *target, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out && target);
    BIENC_TRY(tensor_check(logits, "loss_kl_div: logits", 2, NULL));
    const int64_t n = logits->shape[0], m = logits->shape[1];
    if (n < 1 || m < 1)
        return bienc_error(BIENC_ESHAPE, "loss_kl_div: logits [%lld, %lld] are empty", (long long)n, (long long)m);
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < m; j++) {
            float t = target[i * m + j];
            if (!(t >= 0.0f)) return bienc_error(BIENC_ERANGE, "loss_kl_div: target[%lld, %lld] = %g is not a probability",
                                                 (long long)i, (long long)j, (double)t);
            s += t;
        }
        if (fabs(s - 1.0) > 1e-4)
            return bienc_error(BIENC_ERANGE, "loss_kl_div: target row %lld sums to %g, not 1", (long long)i, s);
    }
    float *lse = tape_floats(tape, (size_t)n);
    if (!lse) return BIENC_ENOMEM;
    /* row i: sum_j t_j (log t_j - (x_j - lse)), with 0 log 0 = 0 (torch's xlogy) */
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *xr = logits->data + i * m, *tr = target + i * m;
        float mx = xr[0];
        for (int64_t j = 1; j < m; j++) mx = xr[j] > mx ? xr[j] : mx;
        double s = 0.0;
        for (int64_t j = 0; j < m; j++) s += exp((double)xr[j] - mx);
        double l = mx + log(s);
        lse[i] = (float)l;
        for (int64_t j = 0; j < m; j++)
            if (tr[j] > 0.0f) total += (double)tr[j] * (log((double)tr[j]) - ((double)xr[j] - l));
    }
    bienc_tensor *o;
    BIENC_TRY(tape_tensor(tape, 1, (int64_t[]){1}, &o));
    o->data[0] = (float)(total / (double)n);
    kl_ctx *ctx;
    BIENC_TRY(tape_record(tape, "kl_div", kl_backward, o, 1, (bienc_tensor *[]){logits}, (void **)&ctx, sizeof *ctx));
    if (ctx) {
        ctx->lse = lse;
        ctx->target = tape_floats(tape, (size_t)(n * m));
        if (!ctx->target) return BIENC_ENOMEM;
        memcpy(ctx->target, target, sizeof(float) * (size_t)(n * m));
    }
    *out = o;
    return BIENC_OK;
}

/* -------------------------------------------------------------------- triplet ---- */

/* d(x, y) of one row pair and its gradient direction: d = ||x - y + eps|| (euclidean) or
 * 1 - x.y / (|x| |y|) with norms clamped at COSINE_EPS (cosine). When gx/gy are not
 * NULL, adds s * dd/dx to gx and s * dd/dy to gy. */
static float triplet_distance(const float *x, const float *y, int64_t C, bienc_distance kind, float s, float *gx,
                              float *gy)
{
    if (kind == BIENC_DIST_EUCLIDEAN) {
        double ss = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double d = (double)x[c] - y[c] + PAIRWISE_DISTANCE_EPS;
            ss += d * d;
        }
        float dist = (float)sqrt(ss);
        /* dd/dx = (x - y + eps) / d; torch's norm gradient is 0 at d = 0. */
        if ((gx || gy) && dist > 0.0f) {
            float k = s / dist;
            for (int64_t c = 0; c < C; c++) {
                float v = k * (x[c] - y[c] + PAIRWISE_DISTANCE_EPS);
                if (gx) gx[c] += v;
                if (gy) gy[c] -= v;
            }
        }
        return dist;
    }
    double xy = 0.0, xx = 0.0, yy = 0.0;
    for (int64_t c = 0; c < C; c++) {
        xy += (double)x[c] * y[c];
        xx += (double)x[c] * x[c];
        yy += (double)y[c] * y[c];
    }
    /* torch clamps the squared norms in place without autograd, so below eps the norm's
     * value is eps while its gradient stays x / eps: the same formulas with nx = eps. */
    double nx = fmax(sqrt(xx), COSINE_EPS), ny = fmax(sqrt(yy), COSINE_EPS);
    double cosv = xy / (nx * ny);
    if (gx || gy) {
        /* d(1 - cos)/dx = -(y / (nx ny) - cos x / nx^2), symmetric in y. */
        float kxy = (float)(-s / (nx * ny));
        float kx = (float)(s * cosv / (nx * nx));
        float ky = (float)(s * cosv / (ny * ny));
        for (int64_t c = 0; c < C; c++) {
            float xc = x[c], yc = y[c];
            if (gx) gx[c] += kxy * yc + kx * xc;
            if (gy) gy[c] += kxy * xc + ky * yc;
        }
    }
    return (float)(1.0 - cosv);
}

typedef struct triplet_ctx {
    int distance;
    float *hinge; /* [B] d(a,p) - d(a,n) + margin */
} triplet_ctx;

/* For rows with hinge > 0: d(a,p) - d(a,n) back into a, p, n (relu'(0) = 0 as torch). */
static int triplet_backward(bienc_tape *tape, bienc_tape_node *node)
{
    triplet_ctx *ctx = node->ctx;
    bienc_tensor *a = node->in[0], *p = node->in[1], *n = node->in[2];
    float *da = a->requires_grad ? tape_grad(tape, a) : NULL;
    float *dp = p->requires_grad ? tape_grad(tape, p) : NULL;
    float *dn = n->requires_grad ? tape_grad(tape, n) : NULL;
    if ((a->requires_grad && !da) || (p->requires_grad && !dp) || (n->requires_grad && !dn)) return BIENC_ENOMEM;
    const int64_t B = a->shape[0], C = a->shape[1];
    const float s = node->out->grad[0] / (float)B;
    /* Serial over rows: a, p, n may share one buffer (the same tensor passed twice). */
    for (int64_t i = 0; i < B; i++) {
        if (!(ctx->hinge[i] > 0.0f)) continue;
        const int64_t r = i * C;
        triplet_distance(a->data + r, p->data + r, C, ctx->distance, s, da ? da + r : NULL, dp ? dp + r : NULL);
        triplet_distance(a->data + r, n->data + r, C, ctx->distance, -s, da ? da + r : NULL, dn ? dn + r : NULL);
    }
    return BIENC_OK;
}

int loss_triplet(bienc_tape *tape, bienc_tensor *anchor, bienc_tensor *positive, bienc_tensor *negative,
                 bienc_distance distance, float margin, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !out) return bienc_error(BIENC_EINVAL, "loss_triplet: tape or out is NULL");
    BIENC_TRY(tensor_check(anchor, "loss_triplet: anchor", 2, NULL));
    BIENC_TRY(tensor_check(positive, "loss_triplet: positive", 2, anchor->shape));
    BIENC_TRY(tensor_check(negative, "loss_triplet: negative", 2, anchor->shape));
    if (distance != BIENC_DIST_EUCLIDEAN && distance != BIENC_DIST_COSINE)
        return bienc_error(BIENC_EINVAL, "loss_triplet: unknown distance %d", (int)distance);
    const int64_t B = anchor->shape[0], C = anchor->shape[1];
    if (B < 1) return bienc_error(BIENC_ESHAPE, "loss_triplet: empty batch");
    float *hinge = tape_floats(tape, (size_t)B);
    if (!hinge) return BIENC_ENOMEM;
    double total = 0.0;
    for (int64_t i = 0; i < B; i++) {
        const int64_t r = i * C;
        float dap = triplet_distance(anchor->data + r, positive->data + r, C, distance, 0, NULL, NULL);
        float dan = triplet_distance(anchor->data + r, negative->data + r, C, distance, 0, NULL, NULL);
        hinge[i] = dap - dan + margin;
        if (hinge[i] > 0.0f) total += hinge[i];
    }
    bienc_tensor *o;
    BIENC_TRY(tape_tensor(tape, 1, (int64_t[]){1}, &o));
    o->data[0] = (float)(total / (double)B);
    triplet_ctx *ctx;
    BIENC_TRY(tape_record(tape, "triplet", triplet_backward, o, 3, (bienc_tensor *[]){anchor, positive, negative},
                          (void **)&ctx, sizeof *ctx));
    if (ctx) {
        ctx->distance = distance;
        ctx->hinge = hinge;
    }
    *out = o;
    return BIENC_OK;
}

/* ------------------------------------------------------------------------ MSE ---- */

/* loss = mean (a - b)^2:  da += 2 (a - b) g / N,  db -= 2 (a - b) g / N. */
static int mse_backward(bienc_tape *tape, bienc_tape_node *node)
{
    bienc_tensor *a = node->in[0], *b = node->in[1];
    const float k = 2.0f * node->out->grad[0] / (float)a->size;
    float *da = a->requires_grad ? tape_grad(tape, a) : NULL;
    float *db = b->requires_grad ? tape_grad(tape, b) : NULL;
    if ((a->requires_grad && !da) || (b->requires_grad && !db)) return BIENC_ENOMEM;
    for (int64_t i = 0; i < a->size; i++) {
        float v = k * (a->data[i] - b->data[i]);
        if (da) da[i] += v;
        if (db) db[i] -= v;
    }
    return BIENC_OK;
}

int loss_mse(bienc_tape *tape, bienc_tensor *a, bienc_tensor *b, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !out) return bienc_error(BIENC_EINVAL, "loss_mse: tape or out is NULL");
    BIENC_TRY(tensor_check(a, "loss_mse: a", a ? a->ndim : 1, NULL));
    BIENC_TRY(tensor_check(b, "loss_mse: b", a->ndim, a->shape));
    if (a->size < 1) return bienc_error(BIENC_ESHAPE, "loss_mse: empty tensors");
    double total = 0.0;
    for (int64_t i = 0; i < a->size; i++) {
        double d = (double)a->data[i] - b->data[i];
        total += d * d;
    }
    bienc_tensor *o;
    BIENC_TRY(tape_tensor(tape, 1, (int64_t[]){1}, &o));
    o->data[0] = (float)(total / (double)a->size);
    BIENC_TRY(tape_record(tape, "mse", mse_backward, o, 2, (bienc_tensor *[]){a, b}, NULL, 0));
    *out = o;
    return BIENC_OK;
}

/* ------------------------------------------------------------ BCE with logits ---- */

typedef struct bce_ctx {
    float *targets; /* [N] copied */
} bce_ctx;

static float sigmoidf_stable(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* dx += (sigmoid(x) - t) g / N */
static int bce_backward(bienc_tape *tape, bienc_tape_node *node)
{
    bce_ctx *ctx = node->ctx;
    bienc_tensor *x = node->in[0];
    float *dx = tape_grad(tape, x);
    if (!dx) return BIENC_ENOMEM;
    const float k = node->out->grad[0] / (float)x->size;
    for (int64_t i = 0; i < x->size; i++) dx[i] += k * (sigmoidf_stable(x->data[i]) - ctx->targets[i]);
    return BIENC_OK;
}

int loss_bce_with_logits(bienc_tape *tape, bienc_tensor *logits, const float *targets, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out && targets);
    BIENC_TRY(tensor_check(logits, "loss_bce_with_logits: logits", logits ? logits->ndim : 1, NULL));
    const int64_t N = logits->size;
    if (N < 1) return bienc_error(BIENC_ESHAPE, "loss_bce_with_logits: empty logits");
    /* max(x, 0) - x t + log(1 + exp(-|x|)): never overflows, exact for large |x|. */
    double total = 0.0;
    for (int64_t i = 0; i < N; i++) {
        double x = logits->data[i], t = targets[i];
        total += (x > 0.0 ? x : 0.0) - x * t + log1p(exp(-fabs(x)));
    }
    bienc_tensor *o;
    BIENC_TRY(tape_tensor(tape, 1, (int64_t[]){1}, &o));
    o->data[0] = (float)(total / (double)N);
    bce_ctx *ctx;
    BIENC_TRY(tape_record(tape, "bce_with_logits", bce_backward, o, 1, (bienc_tensor *[]){logits}, (void **)&ctx,
                          sizeof *ctx));
    if (ctx) {
        ctx->targets = tape_floats(tape, (size_t)N);
        if (!ctx->targets) return BIENC_ENOMEM;
        memcpy(ctx->targets, targets, sizeof(float) * (size_t)N);
    }
    *out = o;
    return BIENC_OK;
}
