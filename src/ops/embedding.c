/* Embedding lookup: out[T, C] = table[ids[t], :]. The backward scatter-adds rows of dy
 * into the table's gradient; a token repeated in the batch adds several rows into one,
 * so threads split the columns (never the tokens) and each column is accumulated in
 * token order: race-free and independent of the thread count. */
#include "ops/ops.h"

#include "ops_internal.h"

typedef struct {
    int64_t T, C;
    int32_t *ids; /* [T], copied */
} embedding_ctx;

static int embedding_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dtable = tape_grad(tape, node->in[0]);
    if (!dtable) return BIENC_OK;
    embedding_ctx *ctx = node->ctx;
    int64_t T = ctx->T, C = ctx->C;
    const float *dy = node->out->grad;
    const int32_t *ids = ctx->ids;
    int64_t n_chunks = (C + OPS_COL_CHUNK - 1) / OPS_COL_CHUNK;
#pragma omp parallel for schedule(static) if (T * C >= OPS_PAR_MIN)
    for (int64_t k = 0; k < n_chunks; k++) {
        int64_t c0 = k * OPS_COL_CHUNK, w = C - c0 < OPS_COL_CHUNK ? C - c0 : OPS_COL_CHUNK;
        for (int64_t t = 0; t < T; t++) {
            float *row = dtable + (int64_t)ids[t] * C + c0;
            const float *g = dy + t * C + c0;
            for (int64_t j = 0; j < w; j++) row[j] += g[j];
        }
    }
    return BIENC_OK;
}

int op_embedding(bienc_tape *tape, bienc_tensor *table, const int32_t *ids, int64_t T, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !out || (!ids && T > 0)) return bienc_error(BIENC_EINVAL, "op_embedding: NULL argument");
    BIENC_TRY(tensor_check(table, "op_embedding: table", 2, NULL));
    if (T < 0) return bienc_error(BIENC_EINVAL, "op_embedding: %lld tokens", (long long)T);
    int64_t V = table->shape[0], C = table->shape[1];
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= V)
            return bienc_error(BIENC_ERANGE, "op_embedding: id %d at position %lld is outside the table [0, %lld)",
                               (int)ids[t], (long long)t, (long long)V);
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, 2, (int64_t[]){T, C}, &y));
    const float *tab = table->data;
    float *py = y->data;
#pragma omp parallel for schedule(static) if (T * C >= OPS_PAR_MIN)
    for (int64_t t = 0; t < T; t++) memcpy(py + t * C, tab + (int64_t)ids[t] * C, sizeof(float) * (size_t)C);
    embedding_ctx *ctx;
    BIENC_TRY(tape_record(tape, "embedding", embedding_backward, y, 1, (bienc_tensor *[]){table}, (void **)&ctx,
                          sizeof *ctx));
    if (ctx) {
        ctx->ids = tape_alloc(tape, sizeof(int32_t) * (size_t)(T ? T : 1));
        if (!ctx->ids) return BIENC_ENOMEM;
        if (T) memcpy(ctx->ids, ids, sizeof(int32_t) * (size_t)T);
        ctx->T = T;
        ctx->C = C;
    }
    *out = y;
    return BIENC_OK;
}
