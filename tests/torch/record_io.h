/* The record files the parity drivers write and tests/torch/bert_ref.py's read_records()
 * reads: per record int32 name length, name, int32 ndim, int64 shape[ndim], float32 data. */
#ifndef BIENC_RECORD_IO_H
#define BIENC_RECORD_IO_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static inline int write_record(FILE *f, const char *name, int ndim, const int64_t *shape, const float *data)
{
    int32_t n = (int32_t)strlen(name), nd = ndim;
    int64_t size = 1;
    for (int i = 0; i < ndim; i++) size *= shape[i];
    if (fwrite(&n, 4, 1, f) != 1 || fwrite(name, 1, (size_t)n, f) != (size_t)n || fwrite(&nd, 4, 1, f) != 1 ||
        fwrite(shape, 8, (size_t)ndim, f) != (size_t)ndim || fwrite(data, 4, (size_t)size, f) != (size_t)size)
        return bienc_error(BIENC_EIO, "write error");
    return 0;
}

#endif
