/* The autograd tape. Every op run with a tape allocates its output from the tape's
 * arena and, when gradients are enabled and an input requires them, records a node
 * (a backward function and a small context). tape_backward() runs the nodes in
 * reverse; backward functions ACCUMULATE (+=) into input gradients, so a tensor used
 * twice (shared-weight twin towers) receives the sum. tape_reset() releases every
 * activation at once while keeping the arena's memory, so a training loop runs in
 * constant memory.
 *
 * Writing an op (forward and backward side by side, see src/ops/):
 *     bienc_tensor *out;
 *     BIENC_TRY(tape_tensor(tape, 2, (int64_t[]){T, C}, &out));   // not zeroed
 *     ... compute out->data ...
 *     struct my_ctx *ctx;
 *     BIENC_TRY(tape_record(tape, "my_op", my_op_backward, out, 2, (bienc_tensor*[]){x, w},
 *                           (void **)&ctx, sizeof *ctx));
 *     if (ctx) { ... save what backward needs (arena memory via tape_floats) ... }
 * tape_record sets out->requires_grad and leaves *ctx NULL when no gradient is needed.
 * In the backward, tape_grad(tape, x) returns x's gradient buffer, allocating it zeroed
 * on first use, or NULL when x does not require a gradient. An activation's gradient is
 * released once the node that produced it has run its backward (so after tape_backward
 * only leaf tensors, ones no recorded node produced, still hold a gradient). */
#ifndef BIENC_TAPE_H
#define BIENC_TAPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/kinds.h"
#include "core/tensor.h"

#define BIENC_TAPE_MAX_INPUTS 6

typedef struct bienc_tape bienc_tape;
typedef struct bienc_tape_node bienc_tape_node;

typedef int (*bienc_backward_fn)(bienc_tape *tape, bienc_tape_node *node);

struct bienc_tape_node {
    const char *op;                               /* op name, for error messages */
    bienc_backward_fn backward;
    bienc_tensor *out;
    bienc_tensor *in[BIENC_TAPE_MAX_INPUTS];
    int n_in;
    void *ctx;                                    /* op context, in the arena */
};

int tape_new(bienc_tape **out);
void tape_free(bienc_tape *tape);

/* No-grad mode (inference): ops record nothing and outputs never require gradients. */
void tape_set_grad_enabled(bienc_tape *tape, int enabled);
int tape_grad_enabled(const bienc_tape *tape);

/* Precision of the matrix products of the ops run on this tape (linear layers and
 * attention, forward and backward): fp32 (OpenBLAS sgemm, the default) or bf16 (inputs
 * rounded to bf16, products accumulated in fp32: src/ops/gemm_bf16.h), as PyTorch's
 * autocast does. Every tensor stays fp32, and LayerNorm, softmax, GELU, losses and the
 * optimizer run in fp32 whatever the setting. tape_reset keeps it. BIENC_PRECISION_AUTO
 * is resolved before it reaches a tape (train_precision()). int8 is for inference: the
 * linear layers' forward products run on dynamically quantised int8 (src/ops/gemm_i8.h),
 * attention's in bf16; a backward on such a tape runs its products in bf16. */
void tape_set_precision(bienc_tape *tape, bienc_precision precision);
bienc_precision tape_precision(const bienc_tape *tape);
/* "fp32" / "bf16" / "int8" <-> the enum (CLI options, the API); parse returns 0 or BIENC_EINVAL. */
const char *precision_name(bienc_precision precision);
int precision_parse(const char *name, bienc_precision *out);

/* A new activation tensor from the arena. Contents are NOT initialised. */
int tape_tensor(bienc_tape *tape, int ndim, const int64_t *shape, bienc_tensor **out);
/* Same, zero-filled. */
int tape_tensor_zeros(bienc_tape *tape, int ndim, const int64_t *shape, bienc_tensor **out);

/* Raw arena memory, 64-byte aligned, released by tape_reset(). Returns NULL (with the
 * error message set) when out of memory. */
void *tape_alloc(bienc_tape *tape, size_t bytes);
float *tape_floats(bienc_tape *tape, size_t n);

/* Records a node when gradients are enabled and any input requires them; then
 * out->requires_grad = 1 and *ctx points to ctx_size zeroed bytes (ctx may be NULL when
 * ctx_size == 0). Otherwise records nothing and sets *ctx = NULL. */
int tape_record(bienc_tape *tape, const char *op, bienc_backward_fn backward,
                bienc_tensor *out, int n_in, bienc_tensor *const *in,
                void **ctx, size_t ctx_size);

/* Gradient buffer of t for accumulation; NULL when t does not require a gradient. */
float *tape_grad(bienc_tape *tape, bienc_tensor *t);

/* Backward from a scalar (size 1) loss: seeds d(loss)/d(loss) = 1 and runs every
 * recorded node in reverse order. Parameter gradients accumulate across calls until
 * the optimiser zeroes them (gradient accumulation falls out of this). */
int tape_backward(bienc_tape *tape, bienc_tensor *loss);

/* Backward from any tensor with a given upstream gradient (same size as t): what a
 * parity test needs to push an arbitrary dL/d(out) through one op. */
int tape_backward_from(bienc_tape *tape, bienc_tensor *t, const float *upstream);

/* A position in the arena (and the node list), to release everything allocated after
 * it: an inference forward frees each layer's scratch once the layer's output is copied
 * out, so it runs in one layer's memory. Only valid while nothing before the mark is
 * released (no tape_reset in between). Meant for no-grad use: activation gradients
 * acquired after the mark are not returned (tape_reset returns them). */
typedef struct bienc_tape_mark {
    int chunk;
    size_t chunk_used, used_total, n_nodes;
} bienc_tape_mark;

bienc_tape_mark tape_mark(const bienc_tape *tape);
void tape_rewind(bienc_tape *tape, const bienc_tape_mark *mark);

/* Forgets every node and activation; the arena keeps its memory for the next step. */
void tape_reset(bienc_tape *tape);

/* Bytes currently handed out by the arena, and the arena's reserved capacity. */
size_t tape_bytes_used(const bienc_tape *tape);
size_t tape_bytes_reserved(const bienc_tape *tape);
size_t tape_node_count(const bienc_tape *tape);
/* Activation gradients (outside the arena, see tape.c): the peak held at once during
 * this step's backward, and the pool's reserved capacity. */
size_t tape_grad_bytes_peak(const bienc_tape *tape);
size_t tape_grad_bytes_reserved(const bienc_tape *tape);

#endif
