#include "core/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int64_t tensor_shape_size(int ndim, const int64_t *shape)
{
    int64_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && size > INT64_MAX / 4 / shape[i]) return -1;
        size *= shape[i];
    }
    return size;
}

int tensor_new(bienc_tensor **out, int ndim, const int64_t *shape, int requires_grad)
{
    if (!out) return bienc_error(BIENC_EINVAL, "tensor_new: out is NULL");
    *out = NULL;
    if (ndim < 1 || ndim > BIENC_MAX_DIMS || !shape)
        return bienc_error(BIENC_EINVAL, "tensor_new: %d dimensions (1..%d allowed)", ndim, BIENC_MAX_DIMS);
    int64_t size = tensor_shape_size(ndim, shape);
    if (size < 0) return bienc_error(BIENC_EINVAL, "tensor_new: invalid shape");
    bienc_tensor *t = calloc(1, sizeof *t);
    if (!t) return bienc_error(BIENC_ENOMEM, "tensor_new: out of memory");
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->size = size;
    t->is_param = 1;
    t->requires_grad = requires_grad;
    size_t bytes = (size_t)(size ? size : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    t->data = aligned_alloc(64, bytes);
    if (t->data) memset(t->data, 0, bytes);
    if (requires_grad) {
        t->grad = aligned_alloc(64, bytes);
        if (t->grad) memset(t->grad, 0, bytes);
    }
    if (!t->data || (requires_grad && !t->grad)) {
        tensor_free(t);
        return bienc_error(BIENC_ENOMEM, "tensor_new: out of memory for %lld floats", (long long)size);
    }
    *out = t;
    return BIENC_OK;
}

int tensor_new_2d(bienc_tensor **out, int64_t rows, int64_t cols, int requires_grad)
{
    return tensor_new(out, 2, (int64_t[]){rows, cols}, requires_grad);
}

int tensor_new_1d(bienc_tensor **out, int64_t n, int requires_grad)
{
    return tensor_new(out, 1, (int64_t[]){n}, requires_grad);
}

void tensor_free(bienc_tensor *t)
{
    if (!t) return;
    if (t->is_param) {
        free(t->data);
        free(t->grad);
        free((char *)t->name);
        free(t);
    }
}

int tensor_set_name(bienc_tensor *t, const char *name)
{
    BIENC_ASSERT(t && name);
    if (!t->is_param) return bienc_error(BIENC_EINVAL, "tensor_set_name: only heap tensors carry names");
    char *copy = strdup(name);
    if (!copy) return bienc_error(BIENC_ENOMEM, "tensor_set_name: out of memory");
    free((char *)t->name);
    t->name = copy;
    return BIENC_OK;
}

void tensor_zero_grad(bienc_tensor *t)
{
    if (t && t->grad) memset(t->grad, 0, sizeof(float) * (size_t)t->size);
}

const char *tensor_shape_str(const bienc_tensor *t, char *buf, size_t bufsize)
{
    if (!buf || bufsize == 0) return "";
    if (!t) { snprintf(buf, bufsize, "(null)"); return buf; }
    size_t n = (size_t)snprintf(buf, bufsize, "[");
    for (int i = 0; i < t->ndim && n < bufsize; i++)
        n += (size_t)snprintf(buf + n, bufsize - n, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (n < bufsize) snprintf(buf + n, bufsize - n, "]");
    return buf;
}

int tensor_check(const bienc_tensor *t, const char *what, int ndim, const int64_t *dims)
{
    if (!t || !t->data) return bienc_error(BIENC_EINVAL, "%s: tensor is NULL", what);
    char buf[96];
    if (t->ndim != ndim)
        return bienc_error(BIENC_ESHAPE, "%s: expected %d dimensions, got shape %s", what, ndim,
                           tensor_shape_str(t, buf, sizeof buf));
    for (int i = 0; i < ndim; i++)
        if (dims && dims[i] >= 0 && t->shape[i] != dims[i])
            return bienc_error(BIENC_ESHAPE, "%s: dimension %d is %lld, expected %lld (shape %s)", what, i,
                               (long long)t->shape[i], (long long)dims[i], tensor_shape_str(t, buf, sizeof buf));
    return BIENC_OK;
}

int64_t floats_first_nonfinite(const float *x, int64_t n)
{
    /* One OR over the exponent bits (all ones for NaN and Inf) vectorises; the slow search
     * for the index runs only when something is wrong. */
    const uint32_t *u = (const uint32_t *)x;
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= (uint32_t)((u[i] & 0x7f800000u) == 0x7f800000u);
    if (!bad) return -1;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

int64_t vectors_first_bad(const float *x, int64_t n, int dim, int *col)
{
    for (int64_t i = 0; i < n; i++) {
        const float *v = x + (size_t)i * (size_t)dim;
        int64_t j = floats_first_nonfinite(v, dim);
        double ss = 0.0;
        for (int k = 0; j < 0 && k < dim; k++) ss += (double)v[k] * v[k];
        if (j >= 0 || ss > BIENC_MAX_VECTOR_NORM * BIENC_MAX_VECTOR_NORM) {
            if (col) *col = (int)j;
            return i;
        }
    }
    return -1;
}
