/* safetensors: the tensor file format of Hugging Face models (model.safetensors).
 *
 *     [u64 little-endian N][N bytes of JSON header][data section]
 *     header = {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [..],
 *               "data_offsets": [begin, end]}, ...}   (offsets relative to the data section)
 *
 * The reader treats the file as untrusted: N is bounded by the file size, the header
 * must be a JSON object, every tensor needs a known dtype, non-negative dims whose byte
 * size (overflow-checked) equals end - begin, offsets inside the data section, and no
 * two tensors may overlap or share a name. `__metadata__` is ignored. Errors name the
 * file and the tensor. F32, F16 and BF16 tensors convert to float32; other dtypes
 * (I64 position_ids buffers of old checkpoints...) are parsed but cannot be read.
 *
 * The writer stores F32 tensors with keys sorted by name and the header padded with
 * spaces to a multiple of 8 bytes (as Hugging Face's safetensors does), preceded by
 * {"__metadata__":{"format":"pt"}}. */
#ifndef BIENC_SAFETENSORS_H
#define BIENC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_DIMS 8
/* Headers above this size are refused before anything is allocated (HF uses 100 MB). */
#define SAFETENSORS_MAX_HEADER (100u << 20)

typedef enum safetensors_dtype {
    ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_U16, ST_U32, ST_U64,
    ST_F8_E4M3, ST_F8_E5M2, ST_DTYPE_COUNT
} safetensors_dtype;

typedef struct safetensors_tensor {
    const char *name;                      /* NUL-terminated, owned by the file object */
    safetensors_dtype dtype;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;                   /* byte range inside the data section */
} safetensors_tensor;

typedef struct bienc_safetensors bienc_safetensors;

/* Reads and validates `path` (the whole file is read into memory). */
int safetensors_open(bienc_safetensors **out, const char *path);
/* Same over bytes in memory (copied); `what` names the source in messages. */
int safetensors_parse(bienc_safetensors **out, const void *data, size_t size, const char *what);
void safetensors_free(bienc_safetensors *st);

const char *safetensors_dtype_name(safetensors_dtype d);
int safetensors_count(const bienc_safetensors *st);
/* The file name given to open / parse (for messages). */
const char *safetensors_path(const bienc_safetensors *st);
/* Tensors in header order; NULL when i is out of range. */
const safetensors_tensor *safetensors_at(const bienc_safetensors *st, int i);
/* The tensor with this exact name, or NULL (no error set). */
const safetensors_tensor *safetensors_find(const bienc_safetensors *st, const char *name);

/* Converts a F32/F16/BF16 tensor to float32 into out[0..t->numel). Fails (message
 * naming the file and tensor) for other dtypes, or when `ndim`/`dims` (dims may be NULL
 * to skip the check) disagree with the stored shape. */
int safetensors_read_f32(const bienc_safetensors *st, const safetensors_tensor *t, int ndim, const int64_t *dims,
                         float *out);

/* One tensor to write. */
typedef struct safetensors_entry {
    const char *name;
    const float *data;
    int ndim;
    const int64_t *shape;
} safetensors_entry;

/* Writes n F32 tensors to `path` (atomically: a temporary file, then rename). Names must
 * be unique; they are sorted in the file. */
int safetensors_write(const char *path, const safetensors_entry *e, int n);

/* IEEE half / bfloat16 bit patterns to float (exact). */
float safetensors_f16_to_f32(uint16_t h);
float safetensors_bf16_to_f32(uint16_t h);

#endif
