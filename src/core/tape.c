#include "core/tape.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* The arena is a list of chunks; allocation bumps a pointer. tape_reset() rewinds it and,
 * if a step needed more than one chunk, merges them into one of the total size, so that
 * from the second step on a training loop allocates nothing. */
#define ARENA_MIN_CHUNK ((size_t)64 << 20)
#define ARENA_ALIGN 64

typedef struct arena_chunk {
    char *base;
    size_t size, used;
} arena_chunk;

/* Activation gradients live only from the first consumer's backward to the producer's
 * backward, so they come from a pool of reusable blocks instead of the arena: the
 * backward returns each one as soon as its producing node has run, and the peak holds
 * the gradients in flight rather than all of them. Block sizes are rounded up to one of
 * 16 steps per power of two (at most 6.25% slack) so that batches of slightly different
 * lengths reuse them; at a tape_reset that follows a backward, blocks that backward did
 * not use are freed (a reset with no gradient work in between keeps them all). Small
 * gradients stay in the arena (not worth a block). */
#define GRAD_POOL_MIN_FLOATS ((size_t)16 << 10)

typedef struct grad_block {
    float *p;
    size_t n;          /* capacity in floats */
    int in_use, used_this_step;
} grad_block;

struct bienc_tape {
    arena_chunk *chunks;
    int n_chunks, cap_chunks, current;
    size_t used_total;
    bienc_tape_node *nodes;
    size_t n_nodes, cap_nodes;
    int grad_enabled;
    bienc_precision precision;
    grad_block *blocks;
    int n_blocks, cap_blocks;
    size_t grad_live, grad_peak; /* floats held by blocks in use, and its peak this step */
};

int tape_new(bienc_tape **out)
{
    if (!out) return bienc_error(BIENC_EINVAL, "tape_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return bienc_error(BIENC_ENOMEM, "tape_new: out of memory");
    (*out)->grad_enabled = 1;
    return BIENC_OK;
}

void tape_free(bienc_tape *tape)
{
    if (!tape) return;
    for (int i = 0; i < tape->n_blocks; i++) free(tape->blocks[i].p);
    free(tape->blocks);
    for (int i = 0; i < tape->n_chunks; i++) free(tape->chunks[i].base);
    free(tape->chunks);
    free(tape->nodes);
    free(tape);
}

void tape_set_grad_enabled(bienc_tape *tape, int enabled) { if (tape) tape->grad_enabled = enabled != 0; }
int tape_grad_enabled(const bienc_tape *tape) { return tape && tape->grad_enabled; }

void tape_set_precision(bienc_tape *tape, bienc_precision precision)
{
    BIENC_ASSERT(precision == BIENC_PRECISION_FP32 || precision == BIENC_PRECISION_BF16 ||
                 precision == BIENC_PRECISION_INT8);
    if (tape) tape->precision = precision;
}
bienc_precision tape_precision(const bienc_tape *tape) { return tape ? tape->precision : BIENC_PRECISION_FP32; }

const char *precision_name(bienc_precision precision)
{
    return precision == BIENC_PRECISION_BF16 ? "bf16" : precision == BIENC_PRECISION_INT8 ? "int8" : "fp32";
}

int precision_parse(const char *name, bienc_precision *out)
{
    if (name && strcmp(name, "fp32") == 0) *out = BIENC_PRECISION_FP32;
    else if (name && strcmp(name, "bf16") == 0) *out = BIENC_PRECISION_BF16;
    else if (name && strcmp(name, "int8") == 0) *out = BIENC_PRECISION_INT8;
    else return bienc_error(BIENC_EINVAL, "precision '%s': expected fp32, bf16 or int8", name ? name : "(null)");
    return BIENC_OK;
}

static int arena_add_chunk(bienc_tape *tape, size_t size)
{
    if (tape->n_chunks == tape->cap_chunks) {
        int cap = tape->cap_chunks ? tape->cap_chunks * 2 : 8;
        arena_chunk *c = realloc(tape->chunks, sizeof *c * (size_t)cap);
        if (!c) return bienc_error(BIENC_ENOMEM, "tape: out of memory");
        tape->chunks = c;
        tape->cap_chunks = cap;
    }
    char *base = aligned_alloc(ARENA_ALIGN, size);
    if (!base) return bienc_error(BIENC_ENOMEM, "tape: out of memory allocating a %zu MB arena chunk", size >> 20);
    tape->chunks[tape->n_chunks++] = (arena_chunk){base, size, 0};
    return BIENC_OK;
}

void *tape_alloc(bienc_tape *tape, size_t bytes)
{
    if (!tape) { bienc_error(BIENC_EINVAL, "tape_alloc: tape is NULL"); return NULL; }
    if (bytes > ((size_t)1 << 40)) { bienc_error(BIENC_ENOMEM, "tape_alloc: %zu bytes requested", bytes); return NULL; }
    bytes = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (bytes == 0) bytes = ARENA_ALIGN;
    while (tape->current < tape->n_chunks) {
        arena_chunk *c = &tape->chunks[tape->current];
        if (c->size - c->used >= bytes) {
            void *p = c->base + c->used;
            c->used += bytes;
            tape->used_total += bytes;
            return p;
        }
        if (tape->current + 1 >= tape->n_chunks) break;
        tape->current++;
    }
    size_t size = bytes > ARENA_MIN_CHUNK ? bytes : ARENA_MIN_CHUNK;
    if (arena_add_chunk(tape, size) < 0) return NULL;
    tape->current = tape->n_chunks - 1;
    arena_chunk *c = &tape->chunks[tape->current];
    c->used = bytes;
    tape->used_total += bytes;
    return c->base;
}

float *tape_floats(bienc_tape *tape, size_t n)
{
    if (n > ((size_t)1 << 38)) { bienc_error(BIENC_ENOMEM, "tape_floats: %zu floats requested", n); return NULL; }
    return tape_alloc(tape, n * sizeof(float));
}

static int tape_tensor_impl(bienc_tape *tape, int ndim, const int64_t *shape, bienc_tensor **out, int zero)
{
    BIENC_ASSERT(tape && out && shape);
    *out = NULL;
    if (ndim < 1 || ndim > BIENC_MAX_DIMS)
        return bienc_error(BIENC_EINVAL, "tape_tensor: %d dimensions (1..%d allowed)", ndim, BIENC_MAX_DIMS);
    int64_t size = tensor_shape_size(ndim, shape);
    if (size < 0) return bienc_error(BIENC_EINVAL, "tape_tensor: invalid shape");
    bienc_tensor *t = tape_alloc(tape, sizeof *t);
    float *data = t ? tape_floats(tape, (size_t)size) : NULL;
    if (!data) return BIENC_ENOMEM;
    memset(t, 0, sizeof *t);
    t->data = data;
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->size = size;
    if (zero) memset(data, 0, sizeof(float) * (size_t)size);
    *out = t;
    return BIENC_OK;
}

int tape_tensor(bienc_tape *tape, int ndim, const int64_t *shape, bienc_tensor **out)
{
    return tape_tensor_impl(tape, ndim, shape, out, 0);
}

int tape_tensor_zeros(bienc_tape *tape, int ndim, const int64_t *shape, bienc_tensor **out)
{
    return tape_tensor_impl(tape, ndim, shape, out, 1);
}

int tape_record(bienc_tape *tape, const char *op, bienc_backward_fn backward,
                bienc_tensor *out, int n_in, bienc_tensor *const *in,
                void **ctx, size_t ctx_size)
{
    if (ctx) *ctx = NULL;
    if (!tape || !out || !backward || n_in < 0 || n_in > BIENC_TAPE_MAX_INPUTS || (n_in && !in))
        return bienc_error(BIENC_EINVAL, "tape_record(%s): invalid arguments", op ? op : "?");
    if (!tape->grad_enabled) return BIENC_OK;
    int needed = 0;
    for (int i = 0; i < n_in; i++) needed |= in[i] && in[i]->requires_grad;
    if (!needed) return BIENC_OK;
    if (tape->n_nodes == tape->cap_nodes) {
        size_t cap = tape->cap_nodes ? tape->cap_nodes * 2 : 256;
        bienc_tape_node *nodes = realloc(tape->nodes, sizeof *nodes * cap);
        if (!nodes) return bienc_error(BIENC_ENOMEM, "tape_record: out of memory");
        tape->nodes = nodes;
        tape->cap_nodes = cap;
    }
    void *c = NULL;
    if (ctx_size) {
        c = tape_alloc(tape, ctx_size);
        if (!c) return BIENC_ENOMEM;
        memset(c, 0, ctx_size);
    }
    bienc_tape_node *node = &tape->nodes[tape->n_nodes++];
    memset(node, 0, sizeof *node);
    node->op = op;
    node->backward = backward;
    node->out = out;
    node->n_in = n_in;
    for (int i = 0; i < n_in; i++) node->in[i] = in[i];
    node->ctx = c;
    out->requires_grad = 1;
    if (ctx) *ctx = c;
    return BIENC_OK;
}

/* n rounded up to one of 16 steps per power of two (at most 6.25% slack). */
static size_t grad_size_class(size_t n)
{
    size_t p = 1;
    while (p * 16 <= n) p <<= 1;
    return (n + p - 1) / p * p;
}

/* Uninitialised memory for n floats: the smallest free pool block that fits, a new
 * block, or (small n) the arena. */
static float *grad_acquire(bienc_tape *tape, size_t n)
{
    if (n < GRAD_POOL_MIN_FLOATS) return tape_floats(tape, n);
    int best = -1;
    for (int i = 0; i < tape->n_blocks; i++) {
        grad_block *b = &tape->blocks[i];
        if (!b->in_use && b->n >= n && b->n <= 2 * n && (best < 0 || b->n < tape->blocks[best].n)) best = i;
    }
    if (best < 0) {
        if (tape->n_blocks == tape->cap_blocks) {
            int cap = tape->cap_blocks ? 2 * tape->cap_blocks : 64;
            grad_block *b = realloc(tape->blocks, sizeof *b * (size_t)cap);
            if (!b) { bienc_error(BIENC_ENOMEM, "tape: out of memory"); return NULL; }
            tape->blocks = b;
            tape->cap_blocks = cap;
        }
        size_t cls = grad_size_class(n);
        float *p = aligned_alloc(ARENA_ALIGN, (cls * sizeof(float) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));
        if (!p) {
            bienc_error(BIENC_ENOMEM, "tape: out of memory for a %zu MB gradient", (cls * sizeof(float)) >> 20);
            return NULL;
        }
        best = tape->n_blocks++;
        tape->blocks[best] = (grad_block){p, cls, 0, 0};
    }
    grad_block *b = &tape->blocks[best];
    b->in_use = b->used_this_step = 1;
    tape->grad_live += b->n;
    if (tape->grad_live > tape->grad_peak) tape->grad_peak = tape->grad_live;
    return b->p;
}

/* Returns a gradient to the pool; arena gradients (not in the pool) are left alone. */
static void grad_release(bienc_tape *tape, float *p)
{
    for (int i = 0; i < tape->n_blocks; i++) {
        grad_block *b = &tape->blocks[i];
        if (b->p == p && b->in_use) {
            b->in_use = 0;
            tape->grad_live -= b->n;
            return;
        }
    }
}

float *tape_grad(bienc_tape *tape, bienc_tensor *t)
{
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) {
        /* Parameters own their gradient; only activations get one lazily, zeroed. */
        t->grad = grad_acquire(tape, (size_t)t->size);
        if (!t->grad) return NULL;
        memset(t->grad, 0, sizeof(float) * (size_t)t->size);
    }
    return t->grad;
}

static int tape_run_backward(bienc_tape *tape);

int tape_backward(bienc_tape *tape, bienc_tensor *loss)
{
    BIENC_ASSERT(tape && loss);
    if (loss->size != 1) return bienc_error(BIENC_ESHAPE, "tape_backward: the loss must be a scalar, it has %lld elements", (long long)loss->size);
    float one = 1.0f;
    return tape_backward_from(tape, loss, &one);
}

int tape_backward_from(bienc_tape *tape, bienc_tensor *t, const float *upstream)
{
    BIENC_ASSERT(tape && t && upstream);
    if (!t->requires_grad) return bienc_error(BIENC_ESTATE, "tape_backward: the output does not depend on anything that requires a gradient");
    if (!t->grad && !t->is_param) {
        /* fresh activation gradient: copy the seed instead of zero-filling and adding */
        t->grad = grad_acquire(tape, (size_t)t->size);
        if (!t->grad) return BIENC_ENOMEM;
        memcpy(t->grad, upstream, sizeof(float) * (size_t)t->size);
    } else {
        float *g = tape_grad(tape, t);
        if (!g) return BIENC_ENOMEM;
        for (int64_t i = 0; i < t->size; i++) g[i] += upstream[i];
    }
    return tape_run_backward(tape);
}

/* An output's gradient is complete once every consumer (a later node) has run, and
 * its producer is the last to read it: after the producer's backward it goes back to
 * the pool. Parameters and in-place outputs (sharing an input's gradient) keep theirs. */
static void release_output_grad(bienc_tape *tape, bienc_tape_node *node)
{
    bienc_tensor *out = node->out;
    if (out->is_param) return;
    for (int j = 0; j < node->n_in; j++)
        if (node->in[j] == out || (node->in[j] && node->in[j]->grad == out->grad)) return;
    grad_release(tape, out->grad);
    out->grad = NULL;
}

static int tape_run_backward(bienc_tape *tape)
{
    for (size_t i = tape->n_nodes; i-- > 0;) {
        bienc_tape_node *node = &tape->nodes[i];
        if (!node->out->grad) continue; /* this output does not reach the loss */
        int rc = node->backward(tape, node);
        if (rc < 0) return bienc_error_context(rc, "backward of %s: ", node->op);
        release_output_grad(tape, node);
    }
    return BIENC_OK;
}

bienc_tape_mark tape_mark(const bienc_tape *tape)
{
    bienc_tape_mark m = {0, 0, 0, 0};
    if (!tape) return m;
    m.chunk = tape->current;
    m.chunk_used = tape->current < tape->n_chunks ? tape->chunks[tape->current].used : 0;
    m.used_total = tape->used_total;
    m.n_nodes = tape->n_nodes;
    return m;
}

void tape_rewind(bienc_tape *tape, const bienc_tape_mark *mark)
{
    if (!tape || !mark || mark->n_nodes > tape->n_nodes || mark->used_total > tape->used_total) return;
    for (int i = mark->chunk + 1; i < tape->n_chunks; i++) tape->chunks[i].used = 0;
    if (mark->chunk < tape->n_chunks) tape->chunks[mark->chunk].used = mark->chunk_used;
    tape->current = mark->chunk;
    tape->used_total = mark->used_total;
    tape->n_nodes = mark->n_nodes;
}

void tape_reset(bienc_tape *tape)
{
    if (!tape) return;
    tape->n_nodes = 0;
    /* gradient blocks: all free again; after a step that used any, those it did not
     * need are returned (a reset without gradient work since the last one keeps all:
     * the trainer resets both before a forward and after a backward) */
    int any_used = 0;
    for (int i = 0; i < tape->n_blocks; i++) any_used |= tape->blocks[i].used_this_step;
    int kept = 0;
    for (int i = 0; i < tape->n_blocks; i++) {
        grad_block b = tape->blocks[i];
        if (any_used && !b.used_this_step) {
            free(b.p);
            continue;
        }
        b.in_use = b.used_this_step = 0;
        tape->blocks[kept++] = b;
    }
    tape->n_blocks = kept;
    tape->grad_live = tape->grad_peak = 0;
    if (tape->n_chunks > 1) {
        /* Merge: one chunk as large as everything used this step. */
        size_t total = 0;
        for (int i = 0; i < tape->n_chunks; i++) total += tape->chunks[i].size;
        char *base = aligned_alloc(ARENA_ALIGN, total);
        if (base) {
            for (int i = 0; i < tape->n_chunks; i++) free(tape->chunks[i].base);
            tape->chunks[0] = (arena_chunk){base, total, 0};
            tape->n_chunks = 1;
        }
    }
    for (int i = 0; i < tape->n_chunks; i++) tape->chunks[i].used = 0;
    tape->current = 0;
    tape->used_total = 0;
}

size_t tape_bytes_used(const bienc_tape *tape) { return tape ? tape->used_total : 0; }

size_t tape_bytes_reserved(const bienc_tape *tape)
{
    size_t total = 0;
    for (int i = 0; tape && i < tape->n_chunks; i++) total += tape->chunks[i].size;
    return total;
}

size_t tape_node_count(const bienc_tape *tape) { return tape ? tape->n_nodes : 0; }

size_t tape_grad_bytes_peak(const bienc_tape *tape) { return tape ? tape->grad_peak * sizeof(float) : 0; }

size_t tape_grad_bytes_reserved(const bienc_tape *tape)
{
    size_t total = 0;
    for (int i = 0; tape && i < tape->n_blocks; i++) total += tape->blocks[i].n * sizeof(float);
    return total;
}
