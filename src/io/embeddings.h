/* Embeddings files (HDF5): what `bienc encode` writes and `bienc index build` /
 * `bienc search --query-embeddings` read (docs/data-formats.md). Any HDF5 tool can produce one:
 *   /embeddings   float32 [N, dim]
 *   /ids          [N] strings (variable-length UTF-8 as written here and by h5py's
 *                 string dtype; fixed-length strings and integer ids are read too)
 *   attribute `normalized` (optional, on the root group or on /embeddings): an
 *                 integer or boolean, 1 when every row has unit length
 * Writing streams: open, append batches (the datasets are chunked and extendible), close.
 *
 * h5py example:
 *   with h5py.File("emb.h5", "w") as f:
 *       f["embeddings"] = x.astype("float32")
 *       f["ids"] = np.array(ids, dtype=h5py.string_dtype())
 *       f.attrs["normalized"] = True */
#ifndef BIENC_EMBEDDINGS_H
#define BIENC_EMBEDDINGS_H

#include <stdint.h>

typedef struct bienc_emb_writer bienc_emb_writer;

/* Starts `path` for vectors of `dim`; normalized: 1, 0, or -1 to omit the attribute. The
 * rows go to `path.tmp`, which emb_writer_close renames over `path` (an existing file stays
 * as it was until then, and after any failure). */
int emb_writer_open(bienc_emb_writer **out, const char *path, int dim, int normalized);
/* Appends n rows (x: [n, dim]) with their ids (n non-NULL strings). */
int emb_writer_append(bienc_emb_writer *w, const float *x, const char *const *ids, int64_t n);
/* Flushes, closes and commits `path`; frees w even when it fails (then `path` is left as it
 * was). close(NULL) is a no-op. */
int emb_writer_close(bienc_emb_writer *w);
/* Discards everything written; `path` is left as it was. abort(NULL) is a no-op. */
void emb_writer_abort(bienc_emb_writer *w);

typedef struct bienc_embeddings {
    int64_t n;
    int dim;
    int normalized;  /* 1, 0, or -1 when the attribute is absent */
    float *data;     /* [n, dim] */
    char **ids;      /* [n] */
} bienc_embeddings;

/* Reads and validates a whole file (types, rank, /ids length == N, no NULL ids, finite
 * values). Errors name the file and the dataset. Free with emb_free. */
int emb_read(const char *path, bienc_embeddings *out);
void emb_free(bienc_embeddings *e);

#endif
