/* Inverted dropout with a counter-based mask: element i of the call with key `key` is
 * kept when rng_hash_uniform(key, i) >= p and then scaled by 1 / (1 - p). The mask is a
 * pure function of (key, i), so it is the same for any thread count, costs no memory
 * (the backward recomputes it) and is reproducible from the seed.
 *
 * A part of a larger batch (op_dropout_seqs with seqs->mask_tok) numbers its rows as the
 * whole batch does: row t has mask row rows[t], so a GradCache mini-batch or a
 * data-parallel rank draws the masks its sequences get in the whole batch. */
#include "ops/ops.h"

#include "ops_internal.h"

typedef struct {
    float p, scale;
    uint64_t key;
    const int64_t *rows; /* [T] mask row of each row, NULL: the identity */
    int64_t C;
} dropout_ctx;

/* element i's mask index with a row map (the whole batch's numbering) */
static inline uint64_t mask_index(const dropout_ctx *c, int64_t i)
{
    return (uint64_t)(c->rows[i / c->C] * c->C + i % c->C);
}

static int dropout_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dx = tape_grad(tape, node->in[0]);
    if (!dx) return BIENC_OK;
    const dropout_ctx *ctx = node->ctx;
    const float *dy = node->out->grad;
    int64_t n = node->out->size;
    float p = ctx->p, scale = ctx->scale;
    uint64_t key = ctx->key;
    if (!ctx->rows) {
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN / 4)
        for (int64_t i = 0; i < n; i++)
            if (ops_hash_uniform(key, (uint64_t)i) >= p) dx[i] += scale * dy[i];
        return BIENC_OK;
    }
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++)
        if (ops_hash_uniform(key, mask_index(ctx, i)) >= p) dx[i] += scale * dy[i];
    return BIENC_OK;
}

static int dropout_forward(bienc_tape *tape, bienc_tensor *x, float p, uint64_t key, const int64_t *rows, int64_t C,
                           bienc_tensor **out)
{
    bienc_tensor *y;
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, &y));
    int64_t n = x->size;
    dropout_ctx c = {p, 1.0f / (1.0f - p), key, rows, C};
    const float *px = x->data;
    float *py = y->data;
    if (!rows) {
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN / 4)
        for (int64_t i = 0; i < n; i++) py[i] = ops_hash_uniform(key, (uint64_t)i) >= p ? px[i] * c.scale : 0.0f;
    } else {
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN / 4)
        for (int64_t i = 0; i < n; i++) py[i] = ops_hash_uniform(key, mask_index(&c, i)) >= p ? px[i] * c.scale : 0.0f;
    }
    dropout_ctx *ctx;
    BIENC_TRY(tape_record(tape, "dropout", dropout_backward, y, 1, (bienc_tensor *[]){x}, (void **)&ctx, sizeof *ctx));
    if (ctx) *ctx = c;
    *out = y;
    return BIENC_OK;
}

int op_dropout(bienc_tape *tape, bienc_tensor *x, float p, uint64_t key, int training, bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && x && out && x->data);
    if (!(p >= 0.0f && p < 1.0f)) return bienc_error(BIENC_EINVAL, "op_dropout: probability %g outside [0, 1)", p);
    if (!training || p == 0.0f) {
        *out = x; /* identity: no copy, no node */
        return BIENC_OK;
    }
    return dropout_forward(tape, x, p, key, NULL, 1, out);
}

int op_dropout_seqs(bienc_tape *tape, bienc_tensor *x, const bienc_seqs *seqs, float p, uint64_t key, int training,
                    bienc_tensor **out)
{
    if (!seqs || !seqs->mask_tok || !training || p == 0.0f || !x || !x->data || !tape || !out)
        return op_dropout(tape, x, p, key, training, out);
    *out = NULL;
    if (!(p >= 0.0f && p < 1.0f)) return bienc_error(BIENC_EINVAL, "op_dropout: probability %g outside [0, 1)", p);
    BIENC_TRY(tensor_check(x, "op_dropout: x", 2, NULL));
    int64_t T = x->shape[0];
    BIENC_TRY(seqs_check(seqs, T, "op_dropout: seqs"));
    int64_t *rows = tape_alloc(tape, sizeof(int64_t) * (size_t)(T ? T : 1));
    if (!rows) return BIENC_ENOMEM;
    for (int s = 0; s < seqs->n; s++)
        for (int t = seqs->offsets[s]; t < seqs->offsets[s + 1]; t++) rows[t] = seqs->mask_tok[s] + (t - seqs->offsets[s]);
    return dropout_forward(tape, x, p, key, rows, x->shape[1] ? x->shape[1] : 1, out);
}
