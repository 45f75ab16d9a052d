/* Late interaction (ColBERT's MaxSim) between the token rows of queries and passages.
 *
 * Shapes: q[Tq, C] holds n queries back to back (query i in rows qoff[i] .. qoff[i+1]-1),
 * p[Tp, C] holds m passages the same way (poff); out[n, m]:
 *     out[i, j] = scale / |q_i| * sum_{a in q_i} max_{b in p_j} q[a] . p[b]
 *
 * The token similarities come from matrix products on tiles: a group of whole queries
 * (about MAXSIM_QUERY_TOKENS rows) against a block of whole passages (about
 * MAXSIM_PASSAGE_TOKENS rows), so the scratch is one tile per thread, never Tq x Tp.
 * Tiles are spread over OpenMP threads (OpenBLAS runs single-threaded inside the region,
 * as in attention.c). They are cut from the offsets alone, and each writes only its own
 * out[i, j] and arg-max entries, in a fixed order: results do not depend on the threads.
 * On a bf16 tape the products round q and p to bf16 and accumulate in fp32
 * (src/ops/gemm_bf16.h), as the linear layers and attention do; the max, the mean and the
 * backward stay fp32. */
#include "ops/pooling.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "gemm_bf16.h"
#include "ops_internal.h"

/* Tile of 256 x 2048 floats (2 MB) per thread; a longer sequence makes a tile of its own. */
#define MAXSIM_QUERY_TOKENS 256
#define MAXSIM_PASSAGE_TOKENS 2048

typedef struct maxsim_ctx {
    int n, m;
    float scale;
    int *qoff;       /* [n + 1], copied: the caller's array need not outlive the step */
    int32_t *argmax; /* [Tq, m]: the row of p that won for query token a and passage j */
} maxsim_ctx;

/* The query whose rows hold token a: the last i with qoff[i] <= a. */
static int maxsim_query_of(const int *qoff, int n, int64_t a)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (qoff[mid] <= a) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* With g = dout[i, j] scale / |q_i| and b = argmax[a, j]:
 *   dq[a] += g p[b]    each thread owns query tokens a and adds over j in order;
 *   dp[b] += g q[a]    each thread owns passages j (their arg-maxes lie in their own
 *                      rows) and adds over a in order.
 * No atomics, no dependence on the thread count, and two passes so that q == p (one
 * gradient buffer) never races. */
static int maxsim_backward(bienc_tape *tape, bienc_tape_node *node)
{
    maxsim_ctx *ctx = node->ctx;
    bienc_tensor *q = node->in[0], *p = node->in[1];
    const float *dout = node->out->grad;
    const int n = ctx->n, m = ctx->m;
    const int *qoff = ctx->qoff;
    const int32_t *argmax = ctx->argmax;
    const int64_t Tq = q->shape[0], C = q->shape[1];
    float *dq = q->requires_grad ? tape_grad(tape, q) : NULL;
    float *dp = p->requires_grad ? tape_grad(tape, p) : NULL;
    if ((q->requires_grad && !dq) || (p->requires_grad && !dp)) return BIENC_ENOMEM;
    const int par = Tq * m * C >= OPS_PAR_MIN;
    if (dq) {
#pragma omp parallel for schedule(static) if (par)
        for (int64_t a = 0; a < Tq; a++) {
            int i = maxsim_query_of(qoff, n, a);
            float w = ctx->scale / (float)(qoff[i + 1] - qoff[i]);
            float *d = dq + a * C;
            for (int j = 0; j < m; j++) {
                float g = dout[(int64_t)i * m + j] * w;
                const float *pr = p->data + (int64_t)argmax[a * m + j] * C;
                for (int64_t c = 0; c < C; c++) d[c] += g * pr[c];
            }
        }
    }
    if (dp) {
#pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int j = 0; j < m; j++)
            for (int i = 0; i < n; i++) {
                float g = dout[(int64_t)i * m + j] * (ctx->scale / (float)(qoff[i + 1] - qoff[i]));
                for (int64_t a = qoff[i]; a < qoff[i + 1]; a++) {
                    const float *qr = q->data + a * C;
                    float *d = dp + (int64_t)argmax[a * m + j] * C;
                    for (int64_t c = 0; c < C; c++) d[c] += g * qr[c];
                }
            }
    }
    return BIENC_OK;
}

/* seqs_check, plus at least one sequence and none empty (an empty query has no mean, an
 * empty passage no max). */
static int maxsim_check_seqs(const bienc_seqs *seqs, int64_t T, const char *what)
{
    BIENC_TRY(seqs_check(seqs, T, what));
    if (seqs->n < 1) return bienc_error(BIENC_EINVAL, "%s: no sequence (at least 1 needed)", what);
    for (int s = 0; s < seqs->n; s++)
        if (seqs->offsets[s + 1] == seqs->offsets[s])
            return bienc_error(BIENC_EINVAL, "%s: sequence %d is empty", what, s);
    return BIENC_OK;
}

/* Cuts the n sequences of off[] into runs of whole sequences, in order, of at most budget
 * tokens each (a longer sequence alone): run r is sequences start[r] .. start[r+1]-1.
 * Sets *runs; returns the token count of the widest run. */
static int maxsim_runs(const int *off, int n, int budget, int *start, int *runs)
{
    int r = 0, widest = 0;
    start[0] = 0;
    for (int s = 0; s < n;) {
        int e = s + 1;
        while (e < n && off[e + 1] - off[s] <= budget) e++;
        if (off[e] - off[s] > widest) widest = off[e] - off[s];
        start[++r] = s = e;
    }
    *runs = r;
    return widest;
}

int op_maxsim(bienc_tape *tape, bienc_tensor *q, const bienc_seqs *qseqs, bienc_tensor *p, const bienc_seqs *pseqs,
              float scale, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !out) return bienc_error(BIENC_EINVAL, "op_maxsim: tape or out is NULL");
    BIENC_TRY(tensor_check(q, "op_maxsim: q", 2, NULL));
    BIENC_TRY(tensor_check(p, "op_maxsim: p", 2, (int64_t[]){-1, q->shape[1]}));
    const int64_t Tq = q->shape[0], Tp = p->shape[0], C = q->shape[1];
    if (C < 1) return bienc_error(BIENC_ESHAPE, "op_maxsim: token rows have no channel");
    if (Tq > INT32_MAX || Tp > INT32_MAX || C > INT32_MAX)
        return bienc_error(BIENC_ERANGE, "op_maxsim: dimensions exceed BLAS's int range");
    BIENC_TRY(maxsim_check_seqs(qseqs, Tq, "op_maxsim: qseqs"));
    BIENC_TRY(maxsim_check_seqs(pseqs, Tp, "op_maxsim: pseqs"));
    const int n = qseqs->n, m = pseqs->n;
    const int *qoff = qseqs->offsets, *poff = pseqs->offsets;

    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, 2, (int64_t[]){n, m}, &y));
    maxsim_ctx *ctx;
    BIENC_TRY(tape_record(tape, "maxsim", maxsim_backward, y, 2, (bienc_tensor *[]){q, p}, (void **)&ctx,
                          sizeof *ctx));
    int32_t *argmax = NULL;
    if (ctx) {
        ctx->n = n;
        ctx->m = m;
        ctx->scale = scale;
        ctx->qoff = tape_alloc(tape, sizeof(int) * (size_t)(n + 1));
        argmax = ctx->argmax = tape_alloc(tape, sizeof(int32_t) * (size_t)Tq * (size_t)m);
        if (!ctx->qoff || !argmax) return BIENC_ENOMEM;
        memcpy(ctx->qoff, qoff, sizeof(int) * (size_t)(n + 1));
    }

    int *qrun = tape_alloc(tape, sizeof(int) * (size_t)(n + 1));
    int *prun = tape_alloc(tape, sizeof(int) * (size_t)(m + 1));
    if (!qrun || !prun) return BIENC_ENOMEM;
    int n_qrun, n_prun;
    const int64_t qwide = maxsim_runs(qoff, n, MAXSIM_QUERY_TOKENS, qrun, &n_qrun);
    const int64_t pwide = maxsim_runs(poff, m, MAXSIM_PASSAGE_TOKENS, prun, &n_prun);
    const int64_t n_tiles = (int64_t)n_qrun * n_prun, tile_size = qwide * pwide;
    float *scratch = tape_floats(tape, (size_t)omp_get_max_threads() * (size_t)tile_size);
    if (!scratch) return BIENC_ENOMEM;

    const bienc_precision prec = tape_precision(tape);
    const int iC = (int)C;
    int failed = 0; /* a bf16 product could not get its packing buffers */
#pragma omp parallel for schedule(dynamic, 1) if (n_tiles > 1) reduction(| : failed)
    for (int64_t tile = 0; tile < n_tiles; tile++) {
        const int i0 = qrun[tile / n_prun], i1 = qrun[tile / n_prun + 1];
        const int j0 = prun[tile % n_prun], j1 = prun[tile % n_prun + 1];
        const int a0 = qoff[i0], b0 = poff[j0], M = qoff[i1] - a0, N = poff[j1] - b0;
        float *S = scratch + omp_get_thread_num() * tile_size;
        /* S[M, N] = q[a0 : a0+M] p[b0 : b0+N]^T */
        if (ops_gemm(prec, CblasNoTrans, CblasTrans, M, N, iC, 1.0f, q->data + (int64_t)a0 * C, iC,
                     p->data + (int64_t)b0 * C, iC, 0.0f, S, N) < 0) {
            failed = 1;
            continue;
        }
        for (int i = i0; i < i1; i++) {
            const float w = scale / (float)(qoff[i + 1] - qoff[i]);
            for (int j = j0; j < j1; j++) {
                const int L = poff[j + 1] - poff[j];
                float sum = 0.0f;
                for (int a = qoff[i]; a < qoff[i + 1]; a++) {
                    const float *s = S + (int64_t)(a - a0) * N + (poff[j] - b0);
                    /* strict > keeps the first of equal maxima */
                    int best = 0;
                    for (int b = 1; b < L; b++)
                        if (s[b] > s[best]) best = b;
                    sum += s[best];
                    if (argmax) argmax[(int64_t)a * m + j] = poff[j] + best;
                }
                y->data[(int64_t)i * m + j] = sum * w;
            }
        }
    }
    if (failed) return BIENC_ENOMEM; /* the message is set by gemm_bf16 */
    *out = y;
    return BIENC_OK;
}

int op_maxsim_pairs(bienc_precision precision, const float *q, const bienc_seqs *qseqs, const float *p,
                    const bienc_seqs *pseqs, int C, const int *qi, const int *pj, int64_t n_pairs, float scale,
                    float *out)
{
    if (n_pairs < 0 || C < 1 || !qseqs || !pseqs || (n_pairs > 0 && (!q || !p || !qi || !pj || !out)))
        return bienc_error(BIENC_EINVAL, "op_maxsim_pairs: NULL or invalid argument");
    if (n_pairs == 0) return BIENC_OK;
    BIENC_TRY(maxsim_check_seqs(qseqs, qseqs->offsets[qseqs->n], "op_maxsim_pairs: qseqs"));
    BIENC_TRY(maxsim_check_seqs(pseqs, pseqs->offsets[pseqs->n], "op_maxsim_pairs: pseqs"));
    int qwide = 0, pwide = 0;
    for (int i = 0; i < qseqs->n; i++)
        if (qseqs->offsets[i + 1] - qseqs->offsets[i] > qwide) qwide = qseqs->offsets[i + 1] - qseqs->offsets[i];
    for (int j = 0; j < pseqs->n; j++)
        if (pseqs->offsets[j + 1] - pseqs->offsets[j] > pwide) pwide = pseqs->offsets[j + 1] - pseqs->offsets[j];
    for (int64_t k = 0; k < n_pairs; k++)
        if (qi[k] < 0 || qi[k] >= qseqs->n || pj[k] < 0 || pj[k] >= pseqs->n)
            return bienc_error(BIENC_ERANGE, "op_maxsim_pairs: pair %lld is (%d, %d) of %d queries and %d passages",
                               (long long)k, qi[k], pj[k], qseqs->n, pseqs->n);
    const size_t tile = (size_t)qwide * (size_t)pwide;
    float *scratch = malloc((size_t)omp_get_max_threads() * tile * sizeof *scratch);
    if (!scratch) return bienc_error(BIENC_ENOMEM, "op_maxsim_pairs: out of memory");
    const int *qoff = qseqs->offsets, *poff = pseqs->offsets;
    const int par = n_pairs * (int64_t)tile * C >= OPS_PAR_MIN;
    int failed = 0; /* a bf16 product could not get its packing buffers */
#pragma omp parallel for schedule(dynamic, 16) if (par) reduction(| : failed)
    for (int64_t k = 0; k < n_pairs; k++) {
        const int a0 = qoff[qi[k]], M = qoff[qi[k] + 1] - a0, b0 = poff[pj[k]], N = poff[pj[k] + 1] - b0;
        float *S = scratch + (size_t)omp_get_thread_num() * tile;
        /* S[M, N] = q[a0 : a0+M] p[b0 : b0+N]^T */
        if (ops_gemm(precision, CblasNoTrans, CblasTrans, M, N, C, 1.0f, q + (int64_t)a0 * C, C, p + (int64_t)b0 * C,
                     C, 0.0f, S, N) < 0) {
            failed = 1;
            continue;
        }
        float sum = 0.0f;
        for (int a = 0; a < M; a++) {
            const float *s = S + (int64_t)a * N;
            float best = s[0];
            for (int b = 1; b < N; b++)
                if (s[b] > best) best = s[b];
            sum += best;
        }
        out[k] = sum * (scale / (float)M);
    }
    free(scratch);
    return failed ? BIENC_ENOMEM : BIENC_OK; /* the message is set by gemm_bf16 */
}
