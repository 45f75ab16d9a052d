/* Multi-head scaled dot-product attention on a packed batch (no padding anywhere).
 * q, k, v, out are [T, C]; head h of sequence s is the block of rows
 * offsets[s] .. offsets[s+1]-1 and columns h*D .. h*D+D-1, so each (sequence, head)
 * pair is an independent small problem:
 *     P[L, L] = softmax(Q_h K_h^T / sqrt(D))      O_h[L, D] = P V_h
 * run as two sgemm calls with leading dimension C. Pairs are spread over OpenMP
 * threads; OpenBLAS (OpenMP build) runs single-threaded inside the parallel region.
 * Each pair writes only its own rows x columns of every output, so results do not
 * depend on which thread runs it or in which order (dynamic scheduling only balances
 * sequences of different lengths).
 *
 * On a bf16 tape the six products (two forward, four backward) round their inputs to
 * bf16 and accumulate in fp32 (src/ops/gemm_bf16.h); the softmax, its backward and the
 * saved probabilities stay fp32.
 *
 * With attention dropout (BERT's attention_probs_dropout_prob), O_h = (P . M) V_h with
 * the inverted-dropout mask M of op_dropout; element (i, j) of pair (s, h) has mask
 * index p_start[s] + h L^2 + i L + j, so the mask is recomputed in the backward and the
 * saved P stays the undropped softmax. A part of a larger batch (seqs->mask_sq) uses the
 * whole batch's p_start instead, H mask_sq[s], so its masks are the whole batch's. */
#include "ops/ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>

#include "gemm_bf16.h"
#include "ops_internal.h"

typedef struct {
    int n, H;
    int64_t C, D;
    int *offsets;      /* [n + 1], copied */
    int64_t *p_start;  /* [n + 1]: sequence s's probabilities start here */
    int64_t *m_start;  /* [n]: and its mask indices (p_start unless seqs->mask_sq) */
    float *P;          /* per sequence [H, L, L], saved softmax probabilities */
    int max_len;
    float p;           /* attention dropout probability, 0 = none */
    uint64_t key;
    bienc_precision precision;
} attention_ctx;

/* dst[n] = src[n] * M / (1 - p), M kept where ops_hash_uniform(key, index0 + e) >= p. */
static void attention_mask(float *dst, const float *src, int64_t n, float p, uint64_t key, int64_t index0)
{
    float scale = 1.0f / (1.0f - p);
    for (int64_t e = 0; e < n; e++) dst[e] = ops_hash_uniform(key, (uint64_t)(index0 + e)) >= p ? src[e] * scale : 0.0f;
}

static int attention_backward(bienc_tape *tape, bienc_tape_node *node)
{
    attention_ctx *ctx = node->ctx;
    bienc_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    float *dq = tape_grad(tape, q), *dk = tape_grad(tape, k), *dv = tape_grad(tape, v);
    const float *dout = node->out->grad;
    int n = ctx->n, H = ctx->H, C = (int)ctx->C, D = (int)ctx->D;
    float scale = 1.0f / sqrtf((float)D), p = ctx->p;
    int64_t LL = (int64_t)ctx->max_len * ctx->max_len;
    /* per thread: [0, LL) dropped probabilities, [LL, 2 LL) dS */
    float *scratch = tape_floats(tape, (size_t)omp_get_max_threads() * 2 * (size_t)LL);
    if (!scratch) return BIENC_ENOMEM;
    int64_t n_pairs = (int64_t)n * H;
    bienc_precision prec = ctx->precision;
    int failed = 0; /* a bf16 product could not get its packing buffers */
#pragma omp parallel for schedule(dynamic, 1) if (n_pairs > 1) reduction(| : failed)
    for (int64_t pair = 0; pair < n_pairs; pair++) {
        int s = (int)(pair / H), h = (int)(pair % H);
        int t0 = ctx->offsets[s], L = ctx->offsets[s + 1] - t0;
        if (L == 0) continue;
        int64_t base = (int64_t)t0 * C + (int64_t)h * D, index0 = ctx->p_start[s] + (int64_t)h * L * L;
        int64_t mask0 = ctx->m_start[s] + (int64_t)h * L * L;
        const float *P = ctx->P + index0, *dO = dout + base;
        float *Pd = scratch + (int64_t)omp_get_thread_num() * 2 * LL, *dS = Pd + LL;
        if (p > 0.0f) attention_mask(Pd, P, (int64_t)L * L, p, ctx->key, mask0);
        if (dv) /* dV_h[L, D] += Pd^T dO_h */
            failed |= ops_gemm(prec, CblasTrans, CblasNoTrans, L, D, L, 1.0f, p > 0.0f ? Pd : P, L, dO, C, 1.0f,
                               dv + base, C) < 0;
        if (!dq && !dk) continue;
        /* dPd[L, L] = dO_h V_h^T; through the mask dP = dPd . M; through the softmax and the
         * 1/sqrt(D) scale: dS = P (dP - rowsum(dP P)) / sqrt(D), in place. */
        failed |= ops_gemm(prec, CblasNoTrans, CblasTrans, L, L, D, 1.0f, dO, C, v->data + base, C, 0.0f, dS, L) < 0;
        if (p > 0.0f) attention_mask(dS, dS, (int64_t)L * L, p, ctx->key, mask0);
        for (int i = 0; i < L; i++) {
            const float *Pi = P + (int64_t)i * L;
            float *dSi = dS + (int64_t)i * L;
            float dot = ops_dot(dSi, Pi, L);
            for (int j = 0; j < L; j++) dSi[j] = Pi[j] * (dSi[j] - dot) * scale;
        }
        if (dq) /* dQ_h[L, D] += dS K_h */
            failed |= ops_gemm(prec, CblasNoTrans, CblasNoTrans, L, D, L, 1.0f, dS, L, k->data + base, C, 1.0f,
                               dq + base, C) < 0;
        if (dk) /* dK_h[L, D] += dS^T Q_h */
            failed |= ops_gemm(prec, CblasTrans, CblasNoTrans, L, D, L, 1.0f, dS, L, q->data + base, C, 1.0f,
                               dk + base, C) < 0;
    }
    return failed ? BIENC_ENOMEM : BIENC_OK;
}

int op_attention_dropout(bienc_tape *tape, bienc_tensor *q, bienc_tensor *k, bienc_tensor *v, const bienc_seqs *seqs,
                         int n_heads, float p, uint64_t key, int training, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out);
    BIENC_TRY(tensor_check(q, "op_attention: q", 2, NULL));
    int64_t T = q->shape[0], C = q->shape[1];
    BIENC_TRY(tensor_check(k, "op_attention: k", 2, (int64_t[]){T, C}));
    BIENC_TRY(tensor_check(v, "op_attention: v", 2, (int64_t[]){T, C}));
    if (n_heads <= 0 || C == 0 || C % n_heads != 0)
        return bienc_error(BIENC_EINVAL, "op_attention: %lld channels do not split into %d heads", (long long)C,
                           n_heads);
    if (C > INT32_MAX || T > INT32_MAX) return bienc_error(BIENC_ERANGE, "op_attention: tensor too large for BLAS");
    if (!(p >= 0.0f && p < 1.0f))
        return bienc_error(BIENC_EINVAL, "op_attention: dropout probability %g outside [0, 1)", p);
    BIENC_TRY(seqs_check(seqs, T, "op_attention: seqs"));
    if (!training) p = 0.0f;
    int n = seqs->n, H = n_heads;
    int64_t D = C / H;
    float scale = 1.0f / sqrtf((float)D);

    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, 2, (int64_t[]){T, C}, &y));
    int max_len = 0;
    for (int s = 0; s < n; s++)
        if (seqs->offsets[s + 1] - seqs->offsets[s] > max_len) max_len = seqs->offsets[s + 1] - seqs->offsets[s];
    int64_t LL = (int64_t)max_len * max_len;

    /* Probabilities are kept for the backward only when a node will be recorded;
     * otherwise each thread computes them in its own L x L scratch. */
    int save = tape_grad_enabled(tape) && (q->requires_grad || k->requires_grad || v->requires_grad);
    int *offsets = tape_alloc(tape, sizeof(int) * (size_t)(n + 1));
    int64_t *p_start = tape_alloc(tape, sizeof(int64_t) * (size_t)(n + 1));
    const int64_t *mask_sq = p > 0.0f ? seqs->mask_sq : NULL; /* only dropout reads the layout */
    int64_t *m_start = mask_sq ? tape_alloc(tape, sizeof(int64_t) * (size_t)(n + 1)) : p_start;
    if (!offsets || !p_start || !m_start) return BIENC_ENOMEM;
    memcpy(offsets, seqs->offsets, sizeof(int) * (size_t)(n + 1));
    p_start[0] = 0;
    for (int s = 0; s < n; s++) {
        int64_t L = offsets[s + 1] - offsets[s];
        p_start[s + 1] = p_start[s] + H * L * L;
        if (mask_sq) m_start[s] = H * mask_sq[s];
    }
    float *P = save ? tape_floats(tape, (size_t)p_start[n]) : NULL;
    /* per thread: [0, LL) probabilities when not saved, [LL, 2 LL) dropped probabilities */
    float *scratch = tape_floats(tape, (size_t)omp_get_max_threads() * 2 * (size_t)LL);
    if ((save && !P) || !scratch) return BIENC_ENOMEM;

    const float *pq = q->data, *pk = k->data, *pv = v->data;
    float *py = y->data;
    int64_t n_pairs = (int64_t)n * H;
    int iC = (int)C, iD = (int)D, failed = 0;
    bienc_precision prec = tape_precision(tape);
#pragma omp parallel for schedule(dynamic, 1) if (n_pairs > 1) reduction(| : failed)
    for (int64_t pair = 0; pair < n_pairs; pair++) {
        int s = (int)(pair / H), h = (int)(pair % H);
        int t0 = offsets[s], L = offsets[s + 1] - t0;
        if (L == 0) continue;
        int64_t base = (int64_t)t0 * C + (int64_t)h * D, index0 = p_start[s] + (int64_t)h * L * L;
        int64_t mask0 = m_start[s] + (int64_t)h * L * L;
        float *mine = scratch + (int64_t)omp_get_thread_num() * 2 * LL;
        float *Ph = save ? P + index0 : mine, *Pd = mine + LL;
        /* S[L, L] = Q_h K_h^T / sqrt(D), then row softmax in place */
        failed |= ops_gemm(prec, CblasNoTrans, CblasTrans, L, L, iD, scale, pq + base, iC, pk + base, iC, 0.0f, Ph,
                           L) < 0;
        for (int i = 0; i < L; i++) ops_softmax_row(Ph + (int64_t)i * L, Ph + (int64_t)i * L, L);
        if (p > 0.0f) attention_mask(Pd, Ph, (int64_t)L * L, p, key, mask0);
        /* O_h[L, D] = P V_h */
        failed |= ops_gemm(prec, CblasNoTrans, CblasNoTrans, L, iD, L, 1.0f, p > 0.0f ? Pd : Ph, L, pv + base, iC,
                           0.0f, py + base, iC) < 0;
    }
    if (failed) return BIENC_ENOMEM; /* the message is set by gemm_bf16 */

    attention_ctx *ctx;
    BIENC_TRY(tape_record(tape, "attention", attention_backward, y, 3, (bienc_tensor *[]){q, k, v}, (void **)&ctx,
                          sizeof *ctx));
    if (ctx) *ctx = (attention_ctx){n, H, C, D, offsets, p_start, m_start, P, max_len, p, key, prec};
    *out = y;
    return BIENC_OK;
}

int op_attention(bienc_tape *tape, bienc_tensor *q, bienc_tensor *k, bienc_tensor *v, const bienc_seqs *seqs,
                 int n_heads, bienc_tensor **out)
{
    return op_attention_dropout(tape, q, k, v, seqs, n_heads, 0.0f, 0, 0, out);
}
