/* HDF5 checkpoints: a validated container of named float32 tensors, typed attributes and a
 * string list (the vocabulary), written atomically. The trainer decides what goes in; the
 * layout it uses (parameters under /params/<Hugging Face name>, AdamW moments under
 * /optim/m/<name> and /optim/v/<name>, the vocabulary in /vocab, ...) is documented in
 * docs/checkpoint-format.md. Any HDF5 tool (h5py, h5dump) can read the files.
 *
 * Names are HDF5 paths relative to the root: "params/encoder.layer.0.attention.self.query.weight"
 * is the dataset of that (dotted) name inside group /params; '/' separates groups, dots are
 * ordinary characters; empty, "." and ".." components are refused.
 * An attribute name "model/hidden_size" is attribute `hidden_size` on group /model; a name
 * without '/' is a root attribute ("format" and "version" are reserved for the marker).
 *
 * Every function returns 0 or a negative BIENC_E* status with a message naming the file and
 * the tensor or attribute. HDF5's own error printing is switched off inside these calls.
 * Not thread-safe (Debian's serial HDF5 is not): use checkpoints from one thread at a time. */
#ifndef BIENC_CHECKPOINT_H
#define BIENC_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define BIENC_CKPT_FORMAT "bienc-checkpoint"
#define BIENC_CKPT_VERSION 1
#define BIENC_CKPT_MAX_DIMS 8

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct bienc_ckpt_writer bienc_ckpt_writer;

/* Starts a checkpoint that will become `path`: everything goes to `path.tmp` (a leftover one
 * is overwritten) and `path` itself is not touched until ckpt_writer_commit(). */
int ckpt_writer_open(bienc_ckpt_writer **out, const char *path);

/* A float32 dataset of any rank (0..BIENC_CKPT_MAX_DIMS), stored with a Fletcher-32 checksum
 * when it fits in one HDF5 chunk (< 4 GiB). Intermediate groups are created. */
int ckpt_write_tensor(bienc_ckpt_writer *w, const char *name, int ndim, const int64_t *shape, const float *data);
/* A parameter under "params/<t->name>" with t's shape. */
int ckpt_write_param(bienc_ckpt_writer *w, const bienc_tensor *t);

int ckpt_write_int64(bienc_ckpt_writer *w, const char *name, int64_t value);
int ckpt_write_double(bienc_ckpt_writer *w, const char *name, double value);
/* UTF-8, stored fixed-length (h5py reads it as bytes: .decode()). Strings never go to HDF5's
 * variable-length heap, which has no checksum: a corrupted one crashes libhdf5 on read. */
int ckpt_write_string(bienc_ckpt_writer *w, const char *name, const char *value);
/* 1-D attributes (RNG state words, data positions, ...). */
int ckpt_write_int64s(bienc_ckpt_writer *w, const char *name, const int64_t *values, size_t n);
int ckpt_write_uint64s(bienc_ckpt_writer *w, const char *name, const uint64_t *values, size_t n);
/* A 1-D dataset of UTF-8 strings, one element per string (e.g. "vocab", one token each),
 * fixed-length NUL-padded to the longest, with a Fletcher-32 checksum (h5py: .asstr()[...]). */
int ckpt_write_strings(bienc_ckpt_writer *w, const char *name, const char *const *strings, size_t n);

/* Closes the temporary file, fsyncs it, renames it over `path` and fsyncs the directory: a
 * crash at any point leaves either the old `path` or the complete new one. Frees the writer
 * (also on failure, after removing the temporary file). */
int ckpt_writer_commit(bienc_ckpt_writer *w);
/* Discards the checkpoint: the temporary file is removed, `path` is untouched. NULL is a no-op. */
void ckpt_writer_abort(bienc_ckpt_writer *w);
/* The end of a save whose writing returned rc: commit when rc == 0, else abort and
 * return rc. */
int ckpt_writer_finish(bienc_ckpt_writer *w, int rc);

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct bienc_ckpt bienc_ckpt;

/* Opens and validates: an HDF5 file (not truncated) whose root carries format =
 * "bienc-checkpoint" and a version this build reads. Otherwise BIENC_EFORMAT (or BIENC_EIO /
 * BIENC_ENOTFOUND when the file cannot be opened) with a message naming the file. */
int ckpt_open(bienc_ckpt **out, const char *path);
void ckpt_close(bienc_ckpt *c);
const char *ckpt_path(const bienc_ckpt *c);
int64_t ckpt_version(const bienc_ckpt *c);

/* 1 when a dataset `name` exists, 0 when not. */
int ckpt_has_tensor(const bienc_ckpt *c, const char *name);
/* 1 when an attribute `name` exists, 0 when not. */
int ckpt_has_attr(const bienc_ckpt *c, const char *name);
/* Shape of a float dataset. BIENC_ENOTFOUND naming it when absent. */
int ckpt_tensor_shape(const bienc_ckpt *c, const char *name, int *ndim, int64_t shape[BIENC_CKPT_MAX_DIMS]);
/* Reads a float dataset into data (the caller's buffer of the expected shape). A different
 * rank or shape is BIENC_ESHAPE naming the tensor, the expected and the found shapes; a
 * checksum mismatch is BIENC_EFORMAT. */
int ckpt_read_tensor(const bienc_ckpt *c, const char *name, int ndim, const int64_t *shape, float *data);
/* Same, for numbers a model or optimiser will use: NaN or Inf anywhere is BIENC_EFORMAT
 * naming the tensor and the element (ckpt_read_tensor itself returns any bit pattern). */
int ckpt_read_finite(const bienc_ckpt *c, const char *name, int ndim, const int64_t *shape, float *data);
/* Reads "params/<t->name>" into t->data, checking t's shape and that every value is finite. */
int ckpt_read_param(const bienc_ckpt *c, bienc_tensor *t);
/* Names (root-relative paths, sorted) of every dataset under group `prefix` ("" = all).
 * Free with ckpt_free_strings(). */
int ckpt_list_tensors(const bienc_ckpt *c, const char *prefix, char ***names, size_t *n);

/* Typed attribute reads: a missing attribute is BIENC_ENOTFOUND, a wrong type (e.g. a string
 * where an integer is expected) or a wrong length is BIENC_EFORMAT, both naming it. */
int ckpt_read_int64(const bienc_ckpt *c, const char *name, int64_t *value);
int ckpt_read_double(const bienc_ckpt *c, const char *name, double *value); /* integers convert */
int ckpt_read_string(const bienc_ckpt *c, const char *name, char **value);  /* free() it */
int ckpt_read_int64s(const bienc_ckpt *c, const char *name, int64_t *values, size_t n);
int ckpt_read_uint64s(const bienc_ckpt *c, const char *name, uint64_t *values, size_t n);
/* A 1-D string dataset, fixed- or variable-length; free with ckpt_free_strings(). */
int ckpt_read_strings(const bienc_ckpt *c, const char *name, char ***strings, size_t *n);
void ckpt_free_strings(char **strings, size_t n);

/* ---- a directory of step-N.h5 checkpoints -------------------------------------------------- */

/* "<dir>/step-<step>.h5" into buf; BIENC_ERANGE when it does not fit. */
int ckpt_step_path(const char *dir, int64_t step, char *buf, size_t size);
/* Steps of the step-N.h5 files in dir, ascending (*steps malloc'd, NULL when none). Other
 * files, including unfinished step-N.h5.tmp, are ignored. */
int ckpt_list_steps(const char *dir, int64_t **steps, size_t *n);
/* The highest step in dir; BIENC_ENOTFOUND when there is none. */
int ckpt_latest_step(const char *dir, int64_t *step);

/* Keeps the `keep_last` most recent step-N.h5 files in dir and, when best_metric is non-NULL,
 * the one whose attribute best_metric is highest (higher_is_better) or lowest (the earliest
 * such step on ties; unreadable files or files without the attribute do not compete); deletes
 * the other step-N.h5 files. *best_step (if non-NULL) gets the kept best step or -1;
 * *deleted (if non-NULL) the number of files removed. */
int ckpt_prune(const char *dir, int keep_last, const char *best_metric, int higher_is_better, int64_t *best_step,
               size_t *deleted);

#endif
