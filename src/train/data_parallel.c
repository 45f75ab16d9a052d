/* Data-parallel pieces of a micro-batch (see data_parallel.h). */
#include "train/data_parallel.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/comm.h"

/* Rank r's block of n examples. */
static void block(int n, int size, int r, int *off, int *cnt)
{
    int q = n / size, rem = n % size;
    *cnt = q + (r < rem);
    *off = r * q + (r < rem ? r : rem);
}

int dp_slice(int n, int *off, int *cnt)
{
    int size = comm_size();
    if (n < size)
        return bienc_error(BIENC_ERANGE, "data-parallel training: a batch of %d examples cannot be split across %d "
                                         "ranks (raise train.batch_size or run fewer ranks)", n, size);
    block(n, size, comm_rank(), off, cnt);
    return 0;
}

int dp_mask_layout(bienc_tape *tape, bienc_seqs *seqs, int S, int n)
{
    int size = comm_size(), off = 0, cnt = 0;
    BIENC_TRY(dp_slice(n, &off, &cnt));
    assert(seqs->n == S * cnt);
    int64_t G = (int64_t)S * n;
    int64_t *tok = tape_alloc(tape, 2 * sizeof(int64_t) * (size_t)seqs->n);
    int64_t *bytes = malloc((size_t)size * sizeof *bytes), *gtok = malloc(2 * (size_t)G * sizeof *gtok);
    int32_t *mine = malloc((size_t)seqs->n * sizeof *mine), *all = malloc((size_t)G * sizeof *all);
    int rc = tok && bytes && gtok && mine && all ? 0 : bienc_error(BIENC_ENOMEM, "data-parallel: out of memory");
    if (rc == 0) {
        for (int s = 0; s < seqs->n; s++) mine[s] = seqs->offsets[s + 1] - seqs->offsets[s];
        for (int r = 0; r < size; r++) {
            int o, c;
            block(n, size, r, &o, &c);
            bytes[r] = (int64_t)S * c * (int64_t)sizeof *mine;
        }
        rc = comm_allgatherv(mine, all, bytes);
    }
    if (rc == 0) {
        /* rank r's lengths sit at S o_r in rank order, slot-major; global sequence j n + e
         * (slot j of example e); then the prefix sums of lengths and squared lengths */
        int64_t *gsq = gtok + G;
        for (int r = 0; r < size; r++) {
            int o, c;
            block(n, size, r, &o, &c);
            for (int j = 0; j < S; j++)
                for (int i = 0; i < c; i++) gsq[(int64_t)j * n + o + i] = all[(int64_t)S * o + (int64_t)j * c + i];
        }
        int64_t acc_tok = 0, acc_sq = 0;
        for (int64_t g = 0; g < G; g++) {
            int64_t L = gsq[g];
            gtok[g] = acc_tok;
            gsq[g] = acc_sq;
            acc_tok += L;
            acc_sq += L * L;
        }
        int64_t *sq = tok + seqs->n;
        for (int j = 0; j < S; j++)
            for (int i = 0; i < cnt; i++) {
                int64_t g = (int64_t)j * n + off + i;
                tok[j * cnt + i] = gtok[g];
                sq[j * cnt + i] = gsq[g];
            }
        seqs->mask_tok = tok;
        seqs->mask_sq = sq;
    }
    free(bytes);
    free(gtok);
    free(mine);
    free(all);
    return rc;
}

typedef struct gather_ctx {
    int S, n;
    int64_t C;
} gather_ctx;

/* The row of global sequence g in this rank's gathered matrix: its own slot-0 rows
 * [off, off + cnt) move to the front, the slot-0 rows before them shift down. */
static int64_t row_of(int64_t g, int n, int off, int cnt)
{
    if (g >= n || g >= off + cnt) return g;
    return g >= off ? g - off : g + cnt;
}

/* Runs BODY for every row of the global batch, with src its row in rank order (as the
 * all-gather delivers them) and dst its row in this rank's gathered matrix. */
#define FOR_EACH_ROW(S, n, size, off, cnt, BODY)                                          \
    for (int r_ = 0; r_ < (size); r_++) {                                                 \
        int o_, c_;                                                                       \
        block((n), (size), r_, &o_, &c_);                                                 \
        for (int j_ = 0; j_ < (S); j_++)                                                  \
            for (int i_ = 0; i_ < c_; i_++) {                                             \
                int64_t src = (int64_t)(S) * o_ + (int64_t)j_ * c_ + i_;                  \
                int64_t dst = row_of((int64_t)j_ * (n) + o_ + i_, (n), (off), (cnt));     \
                BODY;                                                                     \
            }                                                                             \
    }

/* dx[own rows] += the sum over ranks of dout's rows for them. */
static int gather_backward(bienc_tape *tape, bienc_tape_node *node)
{
    const gather_ctx *g = node->ctx;
    int S = g->S, n = g->n, size = comm_size(), off = 0, cnt = 0;
    int64_t C = g->C;
    block(n, size, comm_rank(), &off, &cnt);
    float *buf = tape_floats(tape, (size_t)((int64_t)S * n * C));
    if (!buf) return BIENC_ENOMEM;
    const float *dout = node->out->grad;
    FOR_EACH_ROW(S, n, size, off, cnt, memcpy(buf + src * C, dout + dst * C, (size_t)C * sizeof(float)));
    /* every rank joins the sum, whether or not x needs a gradient here */
    BIENC_TRY(comm_allreduce_sum(buf, (int64_t)S * n * C));
    float *dx = tape_grad(tape, node->in[0]);
    if (!dx) return BIENC_OK;
    const float *mine = buf + (int64_t)S * off * C;
    for (int64_t k = 0; k < (int64_t)S * cnt * C; k++) dx[k] += mine[k];
    return BIENC_OK;
}

int dp_gather_rows(bienc_tape *tape, bienc_tensor *x, int S, int n, bienc_tensor **out)
{
    int size = comm_size(), off = 0, cnt = 0;
    BIENC_TRY(dp_slice(n, &off, &cnt));
    BIENC_TRY(tensor_check(x, "dp_gather_rows: x", 2, (int64_t[]){(int64_t)S * cnt, -1}));
    int64_t C = x->shape[1];
    int64_t *bytes = malloc((size_t)size * sizeof *bytes);
    float *buf = tape_floats(tape, (size_t)((int64_t)S * n * C));
    if (!bytes || !buf) {
        free(bytes);
        return bienc_error(BIENC_ENOMEM, "data-parallel: out of memory");
    }
    for (int r = 0; r < size; r++) {
        int o, c;
        block(n, size, r, &o, &c);
        bytes[r] = (int64_t)S * c * C * (int64_t)sizeof(float);
    }
    int rc = comm_allgatherv(x->data, buf, bytes);
    free(bytes);
    BIENC_TRY(rc);
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, 2, (int64_t[]){(int64_t)S * n, C}, &y));
    FOR_EACH_ROW(S, n, size, off, cnt, memcpy(y->data + dst * C, buf + src * C, (size_t)C * sizeof(float)));
    gather_ctx *ctx;
    BIENC_TRY(tape_record(tape, "dp_gather_rows", gather_backward, y, 1, (bienc_tensor *[]){x}, (void **)&ctx,
                          sizeof *ctx));
    if (ctx) *ctx = (gather_ctx){S, n, C};
    *out = y;
    return BIENC_OK;
}
