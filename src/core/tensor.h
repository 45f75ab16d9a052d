/* Float32 tensors. A tensor is a view of a contiguous row-major block with a shape.
 * Parameters live on the heap and own a gradient buffer; activations are allocated by
 * the tape from its arena and released all at once by tape_reset(). */
#ifndef BIENC_TENSOR_H
#define BIENC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define BIENC_MAX_DIMS 4

typedef struct bienc_tensor {
    float *data;
    float *grad;           /* same size as data; NULL until a gradient is needed */
    int64_t shape[BIENC_MAX_DIMS];
    int ndim;
    int64_t size;          /* product of the shape */
    int requires_grad;     /* gradients flow into this tensor in tape_backward() */
    int is_param;          /* heap-owned parameter (grad kept across steps, zeroed by the optimiser) */
    const char *name;      /* parameter name (Hugging Face naming), NULL for activations */
} bienc_tensor;

/* A heap tensor (parameters, buffers kept across steps). data is zero-filled; grad is
 * allocated (zeroed) when requires_grad. Free with tensor_free(). */
int tensor_new(bienc_tensor **out, int ndim, const int64_t *shape, int requires_grad);
int tensor_new_2d(bienc_tensor **out, int64_t rows, int64_t cols, int requires_grad);
int tensor_new_1d(bienc_tensor **out, int64_t n, int requires_grad);
void tensor_free(bienc_tensor *t);

/* Sets t->name to a heap copy of name (owned by the tensor). */
int tensor_set_name(bienc_tensor *t, const char *name);

void tensor_zero_grad(bienc_tensor *t);

/* Element count of a shape, or -1 when a dimension is negative or the product overflows. */
int64_t tensor_shape_size(int ndim, const int64_t *shape);

/* 0 when t is non-NULL, has `ndim` dims and, for every i with dims[i] >= 0, shape[i] == dims[i];
 * otherwise a BIENC_ESHAPE / BIENC_EINVAL error naming `what`. */
int tensor_check(const bienc_tensor *t, const char *what, int ndim, const int64_t *dims);

/* Where numbers enter (checkpoints, safetensors, embeddings, indexes): the index of the
 * first NaN or Inf among x[0, n), or -1 when every value is finite. */
int64_t floats_first_nonfinite(const float *x, int64_t n);

/* Vectors to search must keep their scores far from float overflow (FLT_MAX ~ 3.4e38: a
 * dot product of two 1e20-norm vectors is already Inf, and Inf - Inf a NaN score). */
#define BIENC_MAX_VECTOR_NORM 1e15
/* The first row of x[n, dim] with a non-finite value or a norm above BIENC_MAX_VECTOR_NORM,
 * or -1; *col gets the non-finite column, or -1 for a norm too large. */
int64_t vectors_first_bad(const float *x, int64_t n, int dim, int *col);

/* "[3, 64]" into buf (for error messages). */
const char *tensor_shape_str(const bienc_tensor *t, char *buf, size_t bufsize);

#endif
