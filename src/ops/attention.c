/* Multi-head scaled dot-product attention on a packed batch (no padding anywhere).
 * q, k, v, out are [T, C]; head h of sequence s is the block of rows
 * offsets[s] .. offsets[s+1]-1 and columns h*D .. h*D+D-1, so each (sequence, head)
 * pair is an independent small problem:
 *     P[L, L] = softmax(Q_h K_h^T / sqrt(D))      O_h[L, D] = P V_h
 * run as two sgemm calls with leading dimension C. Pairs are spread over OpenMP
 * threads; OpenBLAS (OpenMP build) runs single-threaded inside the parallel region.
 * Each pair writes only its own rows x columns of every output, so results do not
 * depend on which thread runs it or in which order (dynamic scheduling only balances
 * sequences of different lengths). */
#include "bienc/ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>

#include "ops_internal.h"

typedef struct {
    int n, H;
    int64_t C, D;
    int *offsets;      /* [n + 1], copied */
    int64_t *p_start;  /* [n + 1]: sequence s's probabilities start at P + p_start[s] */
    float *P;          /* per sequence [H, L, L], saved softmax probabilities */
    int max_len;
} attention_ctx;

static int attention_backward(bienc_tape *tape, bienc_tape_node *node)
{
    attention_ctx *ctx = node->ctx;
    bienc_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    float *dq = tape_grad(tape, q), *dk = tape_grad(tape, k), *dv = tape_grad(tape, v);
    const float *dout = node->out->grad;
    int n = ctx->n, H = ctx->H, C = (int)ctx->C, D = (int)ctx->D;
    float scale = 1.0f / sqrtf((float)D);
    int n_threads = omp_get_max_threads();
    float *scratch = NULL;
    if (dq || dk) {
        scratch = tape_floats(tape, (size_t)n_threads * (size_t)ctx->max_len * (size_t)ctx->max_len);
        if (!scratch) return BIENC_ENOMEM;
    }
    int64_t n_pairs = (int64_t)n * H;
#pragma omp parallel for schedule(dynamic, 1) if (n_pairs > 1)
    for (int64_t pair = 0; pair < n_pairs; pair++) {
        int s = (int)(pair / H), h = (int)(pair % H);
        int t0 = ctx->offsets[s], L = ctx->offsets[s + 1] - t0;
        if (L == 0) continue;
        int64_t base = (int64_t)t0 * C + (int64_t)h * D;
        const float *P = ctx->P + ctx->p_start[s] + (int64_t)h * L * L;
        const float *dO = dout + base;
        if (dv) /* dV_h[L, D] += P^T dO_h */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, D, L, 1.0f, P, L, dO, C, 1.0f, dv + base, C);
        if (!dq && !dk) continue;
        /* dP[L, L] = dO_h V_h^T, then through the softmax and the 1/sqrt(D) scale:
         * dS = P (dP - rowsum(dP P)) / sqrt(D), computed in place. */
        float *dS = scratch + (int64_t)omp_get_thread_num() * ctx->max_len * ctx->max_len;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, D, 1.0f, dO, C, v->data + base, C, 0.0f, dS, L);
        for (int i = 0; i < L; i++) {
            const float *Pi = P + (int64_t)i * L;
            float *dSi = dS + (int64_t)i * L;
            float dot = ops_dot(dSi, Pi, L);
            for (int j = 0; j < L; j++) dSi[j] = Pi[j] * (dSi[j] - dot) * scale;
        }
        if (dq) /* dQ_h[L, D] += dS K_h */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, L, 1.0f, dS, L, k->data + base, C, 1.0f,
                        dq + base, C);
        if (dk) /* dK_h[L, D] += dS^T Q_h */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, D, L, 1.0f, dS, L, q->data + base, C, 1.0f,
                        dk + base, C);
    }
    return BIENC_OK;
}

int op_attention(bienc_tape *tape, bienc_tensor *q, bienc_tensor *k, bienc_tensor *v, const bienc_seqs *seqs,
                 int n_heads, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !out) return bienc_error(BIENC_EINVAL, "op_attention: NULL argument");
    BIENC_TRY(tensor_check(q, "op_attention: q", 2, NULL));
    int64_t T = q->shape[0], C = q->shape[1];
    BIENC_TRY(tensor_check(k, "op_attention: k", 2, (int64_t[]){T, C}));
    BIENC_TRY(tensor_check(v, "op_attention: v", 2, (int64_t[]){T, C}));
    if (n_heads <= 0 || C == 0 || C % n_heads != 0)
        return bienc_error(BIENC_EINVAL, "op_attention: %lld channels do not split into %d heads", (long long)C,
                           n_heads);
    if (C > INT32_MAX || T > INT32_MAX) return bienc_error(BIENC_ERANGE, "op_attention: tensor too large for BLAS");
    BIENC_TRY(seqs_check(seqs, T, "op_attention: seqs"));
    int n = seqs->n, H = n_heads;
    int64_t D = C / H;
    float scale = 1.0f / sqrtf((float)D);

    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, 2, (int64_t[]){T, C}, &y));
    int max_len = 0;
    for (int s = 0; s < n; s++)
        if (seqs->offsets[s + 1] - seqs->offsets[s] > max_len) max_len = seqs->offsets[s + 1] - seqs->offsets[s];

    /* Probabilities are kept for the backward only when a node will be recorded;
     * inference needs one L x L scratch per thread. */
    int save = tape_grad_enabled(tape) && (q->requires_grad || k->requires_grad || v->requires_grad);
    int n_threads = omp_get_max_threads();
    int *offsets = tape_alloc(tape, sizeof(int) * (size_t)(n + 1));
    int64_t *p_start = tape_alloc(tape, sizeof(int64_t) * (size_t)(n + 1));
    if (!offsets || !p_start) return BIENC_ENOMEM;
    memcpy(offsets, seqs->offsets, sizeof(int) * (size_t)(n + 1));
    p_start[0] = 0;
    for (int s = 0; s < n; s++) {
        int64_t L = offsets[s + 1] - offsets[s];
        p_start[s + 1] = p_start[s] + (save ? H * L * L : 0);
    }
    float *P = save ? tape_floats(tape, (size_t)p_start[n])
                    : tape_floats(tape, (size_t)n_threads * (size_t)max_len * (size_t)max_len);
    if (!P) return BIENC_ENOMEM;

    const float *pq = q->data, *pk = k->data, *pv = v->data;
    float *py = y->data;
    int64_t n_pairs = (int64_t)n * H;
    int iC = (int)C, iD = (int)D;
#pragma omp parallel for schedule(dynamic, 1) if (n_pairs > 1)
    for (int64_t pair = 0; pair < n_pairs; pair++) {
        int s = (int)(pair / H), h = (int)(pair % H);
        int t0 = offsets[s], L = offsets[s + 1] - t0;
        if (L == 0) continue;
        int64_t base = (int64_t)t0 * C + (int64_t)h * D;
        float *Ph = save ? P + p_start[s] + (int64_t)h * L * L
                         : P + (int64_t)omp_get_thread_num() * max_len * max_len;
        /* S[L, L] = Q_h K_h^T / sqrt(D) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, iD, scale, pq + base, iC, pk + base, iC, 0.0f,
                    Ph, L);
        for (int i = 0; i < L; i++) ops_softmax_row(Ph + (int64_t)i * L, Ph + (int64_t)i * L, L);
        /* O_h[L, D] = P V_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, iD, L, 1.0f, Ph, L, pv + base, iC, 0.0f,
                    py + base, iC);
    }

    attention_ctx *ctx;
    BIENC_TRY(tape_record(tape, "attention", attention_backward, y, 3, (bienc_tensor *[]){q, k, v}, (void **)&ctx,
                          sizeof *ctx));
    if (ctx) *ctx = (attention_ctx){n, H, C, D, offsets, p_start, P, max_len};
    *out = y;
    return BIENC_OK;
}
