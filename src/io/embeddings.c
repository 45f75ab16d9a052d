/* Embeddings files in HDF5 (layout in src/io/embeddings.h). HDF5's own error
 * printing is silenced; every failure becomes one message naming the file and dataset. */
#include "io/embeddings.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor.h"
#include "core/atomic_file.h"
#include "core/ids.h"
#include "io/checkpoint_internal.h"

#define EMB_MAX_DIM 65536

struct bienc_emb_writer {
    hid_t file, emb, ids, strtype;
    int dim;
    int64_t n;
    char *path;
    atomic_file out; /* the HDF5 file is out.tmp until emb_writer_close renames it */
};

static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static hid_t vlen_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* An extendible chunked dataset of rank 1 or 2 with zero rows. */
static hid_t create_extendible(hid_t file, const char *name, hid_t type, int rank, hsize_t cols, hsize_t chunk_rows)
{
    hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {chunk_rows, cols};
    hid_t space = H5Screate_simple(rank, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0)
        d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return d;
}

/* Closes every handle once (flushing first: see h5_flush_written), then commits the file
 * when `commit` and nothing failed, else removes it. 0 or -1 with the reason in detail. */
static int writer_release(bienc_emb_writer *w, int commit, char *detail, size_t size)
{
    int rc = w->file >= 0 ? h5_flush_written(w->file, w->out.tmp, detail, size) : -1;
    if (w->ids >= 0) rc |= H5Dclose(w->ids) < 0 ? -1 : 0;
    if (w->emb >= 0) rc |= H5Dclose(w->emb) < 0 ? -1 : 0;
    if (w->strtype >= 0) H5Tclose(w->strtype);
    if (w->file >= 0) rc |= h5_close_written(w->file, w->out.tmp, rc < 0 ? NULL : detail, size);
    rc = rc < 0 ? -1 : 0;
    if (commit && rc == 0) rc = atomic_file_commit(&w->out) < 0 ? -2 : 0;
    else atomic_file_abort(&w->out);
    free(w->path);
    free(w);
    return rc;
}

void emb_writer_abort(bienc_emb_writer *w)
{
    if (w) writer_release(w, 0, NULL, 0);
}

int emb_writer_open(bienc_emb_writer **out, const char *path, int dim, int normalized)
{
    *out = NULL;
    if (!path || dim < 1 || dim > EMB_MAX_DIM)
        return bienc_error(BIENC_EINVAL, "embeddings: dimension %d outside 1..%d", dim, EMB_MAX_DIM);
    quiet_hdf5();
    bienc_emb_writer *w = calloc(1, sizeof *w);
    if (!w) return bienc_error(BIENC_ENOMEM, "embeddings: out of memory");
    w->file = w->emb = w->ids = w->strtype = -1;
    w->dim = dim;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return bienc_error(BIENC_ENOMEM, "embeddings: out of memory");
    }
    int rc = atomic_file_reserve(&w->out, path);
    if (rc < 0) {
        free(w->path);
        free(w);
        return rc;
    }
    char detail[256] = "";
    w->file = h5_create_written(w->out.tmp, H5P_DEFAULT, H5P_DEFAULT, detail, sizeof detail);
    if (w->file < 0) {
        rc = bienc_error(BIENC_EIO, "%s: cannot create HDF5 file: %s", w->out.tmp, detail);
        emb_writer_abort(w);
        return rc;
    }
    hsize_t rows = (hsize_t)((1 << 20) / (dim * 4));
    if (rows < 1) rows = 1;
    w->strtype = vlen_string_type();
    w->emb = create_extendible(w->file, "embeddings", H5T_IEEE_F32LE, 2, (hsize_t)dim, rows);
    w->ids = w->strtype >= 0 ? create_extendible(w->file, "ids", w->strtype, 1, 1, 4096) : -1;
    int ok = w->emb >= 0 && w->ids >= 0;
    if (ok && normalized >= 0) {
        hid_t s = H5Screate(H5S_SCALAR);
        hid_t a = s >= 0 ? H5Acreate2(w->file, "normalized", H5T_STD_I8LE, s, H5P_DEFAULT, H5P_DEFAULT) : -1;
        signed char v = (signed char)(normalized != 0);
        ok = a >= 0 && H5Awrite(a, H5T_NATIVE_SCHAR, &v) >= 0;
        if (a >= 0) H5Aclose(a);
        if (s >= 0) H5Sclose(s);
    }
    if (!ok) {
        emb_writer_abort(w);
        return bienc_error(BIENC_EIO, "%s: cannot create the /embeddings and /ids datasets", path);
    }
    *out = w;
    return 0;
}

/* Writes rows [w->n, w->n + n) of dataset d from buf. */
static int append_rows(hid_t d, int rank, hsize_t start, hsize_t n, hsize_t cols, hid_t memtype, const void *buf)
{
    hsize_t size[2] = {start + n, cols}, off[2] = {start, 0}, cnt[2] = {n, cols};
    if (H5Dset_extent(d, size) < 0) return -1;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, cnt, NULL);
    int rc = -1;
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
        H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf) >= 0)
        rc = 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return rc;
}

int emb_writer_append(bienc_emb_writer *w, const float *x, const char *const *ids, int64_t n)
{
    if (!w || n < 0 || (n > 0 && (!x || !ids))) return bienc_error(BIENC_EINVAL, "embeddings: invalid append");
    if (n == 0) return 0;
    for (int64_t i = 0; i < n; i++)
        if (!ids[i]) return bienc_error(BIENC_EINVAL, "%s: id of row %lld is NULL", w->path, (long long)(w->n + i));
    errno = 0;
    if (append_rows(w->emb, 2, (hsize_t)w->n, (hsize_t)n, (hsize_t)w->dim, H5T_NATIVE_FLOAT, x) < 0 ||
        append_rows(w->ids, 1, (hsize_t)w->n, (hsize_t)n, 1, w->strtype, ids) < 0)
        return bienc_error(BIENC_EIO, "%s: cannot append %lld rows at row %lld: %s", w->path, (long long)n,
                           (long long)w->n, errno ? strerror(errno) : "HDF5 error");
    w->n += n;
    return 0;
}

int emb_writer_close(bienc_emb_writer *w)
{
    if (!w) return 0;
    char detail[256] = "HDF5 error", path[4096];
    snprintf(path, sizeof path, "%s", w->path);
    int rc = writer_release(w, 1, detail, sizeof detail);
    if (rc == -1) return bienc_error(BIENC_EIO, "%s: writing the HDF5 file failed: %s", path, detail);
    return rc < 0 ? BIENC_EIO : 0; /* the commit's message stands */
}

/* ---- reading ---- */

void emb_free(bienc_embeddings *e)
{
    if (!e) return;
    if (e->ids)
        for (int64_t i = 0; i < e->n; i++) free(e->ids[i]);
    free(e->ids);
    free(e->data);
    memset(e, 0, sizeof *e);
}

/* Reads the optional `normalized` attribute of obj: 1/0, or -1 when absent. */
static int read_normalized(hid_t obj, int *out, const char *path)
{
    *out = -1;
    if (H5Aexists(obj, "normalized") <= 0) return 0;
    hid_t a = H5Aopen(obj, "normalized", H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    hid_t s = a >= 0 ? H5Aget_space(a) : -1;
    int rc = bienc_error(BIENC_EFORMAT, "%s: attribute 'normalized' must be a scalar integer or boolean", path);
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (s >= 0 && H5Sget_simple_extent_npoints(s) == 1 && (cls == H5T_INTEGER || cls == H5T_ENUM) &&
        H5Tget_size(t) <= 8) {
        /* h5py stores a bool as an int8 enum: read the raw value in its own type */
        hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
        unsigned char buf[8] = {0};
        if (nt >= 0 && H5Aread(a, nt, buf) >= 0) {
            int nz = 0;
            for (size_t i = 0; i < H5Tget_size(t); i++) nz |= buf[i] != 0;
            *out = nz;
            rc = 0;
        }
        if (nt >= 0) H5Tclose(nt);
    }
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return rc;
}

static int read_ids(hid_t file, const char *path, int64_t n, char **ids)
{
    if (H5Lexists(file, "ids", H5P_DEFAULT) <= 0) return bienc_error(BIENC_EFORMAT, "%s: no dataset /ids", path);
    hid_t d = H5Dopen2(file, "ids", H5P_DEFAULT);
    if (d < 0) return bienc_error(BIENC_EFORMAT, "%s: /ids is not a dataset", path);
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[2] = {0, 0};
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    int rc = 0;
    if (rank != 1 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 || (int64_t)dims[0] != n) {
        rc = bienc_error(BIENC_EFORMAT, "%s: /ids has %s%llu entries, /embeddings has %lld rows", path,
                         rank != 1 ? "rank != 1 or " : "", (unsigned long long)dims[0], (long long)n);
        goto out;
    }
    H5T_class_t cls = H5Tget_class(t);
    if (cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        hid_t mt = vlen_string_type();
        char **raw = calloc((size_t)(n ? n : 1), sizeof(char *));
        if (mt >= 0) H5Tset_cset(mt, H5Tget_cset(t));
        if (!raw || mt < 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
            rc = bienc_error(BIENC_EFORMAT, "%s: cannot read /ids as variable-length strings", path);
        } else {
            for (int64_t i = 0; i < n && rc == 0; i++) {
                if (!raw[i]) rc = bienc_error(BIENC_EFORMAT, "%s: /ids[%lld] is empty (NULL)", path, (long long)i);
                else if (!(ids[i] = strdup(raw[i]))) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
            }
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
        }
        free(raw);
        if (mt >= 0) H5Tclose(mt);
    } else if (cls == H5T_STRING) {
        size_t sz = H5Tget_size(t);
        hid_t mt = H5Tcopy(H5T_C_S1);
        char *raw = (sz > 0 && sz < (1u << 20)) ? malloc((size_t)(n ? n : 1) * sz) : NULL;
        if (!raw || mt < 0 || H5Tset_size(mt, sz) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 ||
            H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
            rc = bienc_error(BIENC_EFORMAT, "%s: cannot read /ids as fixed-length strings", path);
        } else {
            for (int64_t i = 0; i < n && rc == 0; i++) {
                const char *s = raw + (size_t)i * sz;
                size_t len = strnlen(s, sz);
                if (!(ids[i] = malloc(len + 1))) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
                else {
                    memcpy(ids[i], s, len);
                    ids[i][len] = 0;
                }
            }
        }
        free(raw);
        if (mt >= 0) H5Tclose(mt);
    } else if (cls == H5T_INTEGER) {
        long long *raw = malloc((size_t)(n ? n : 1) * sizeof(long long));
        if (!raw || H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
            rc = bienc_error(BIENC_EFORMAT, "%s: cannot read /ids as integers", path);
        } else {
            for (int64_t i = 0; i < n && rc == 0; i++) {
                char buf[32];
                snprintf(buf, sizeof buf, "%lld", raw[i]);
                if (!(ids[i] = strdup(buf))) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
            }
        }
        free(raw);
    } else {
        rc = bienc_error(BIENC_EFORMAT, "%s: /ids must hold strings (or integers)", path);
    }
out:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

int emb_read(const char *path, bienc_embeddings *out)
{
    memset(out, 0, sizeof *out);
    out->normalized = -1;
    if (!path) return bienc_error(BIENC_EINVAL, "emb_read: NULL path");
    quiet_hdf5();
    FILE *probe = fopen(path, "rb");
    if (!probe) return bienc_error(BIENC_ENOTFOUND, "%s: cannot open", path);
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0) return bienc_error(BIENC_EFORMAT, "%s: not an HDF5 file", path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return bienc_error(BIENC_EFORMAT, "%s: cannot open as HDF5", path);
    hid_t d = -1, sp = -1, t = -1;
    int rc = 0;
    if (H5Lexists(file, "embeddings", H5P_DEFAULT) <= 0 || (d = H5Dopen2(file, "embeddings", H5P_DEFAULT)) < 0) {
        rc = bienc_error(BIENC_EFORMAT, "%s: no dataset /embeddings", path);
        goto out;
    }
    sp = H5Dget_space(d);
    t = H5Dget_type(d);
    hsize_t dims[3] = {0, 0, 0};
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        rc = bienc_error(BIENC_EFORMAT, "%s: /embeddings must have rank 2 [N, dim]", path);
        goto out;
    }
    if (t < 0 || H5Tget_class(t) != H5T_FLOAT) {
        rc = bienc_error(BIENC_EFORMAT, "%s: /embeddings must hold floats (float32)", path);
        goto out;
    }
    if (dims[1] < 1 || dims[1] > EMB_MAX_DIM || dims[0] > ((hsize_t)1 << 40) / dims[1]) {
        rc = bienc_error(BIENC_EFORMAT, "%s: /embeddings shape [%llu, %llu] out of range (dim 1..%d)", path,
                         (unsigned long long)dims[0], (unsigned long long)dims[1], EMB_MAX_DIM);
        goto out;
    }
    out->n = (int64_t)dims[0];
    out->dim = (int)dims[1];
    out->data = malloc((size_t)(out->n ? out->n : 1) * out->dim * sizeof(float));
    out->ids = calloc((size_t)(out->n ? out->n : 1), sizeof(char *));
    if (!out->data || !out->ids) {
        rc = bienc_error(BIENC_ENOMEM, "%s: out of memory for %lld x %d embeddings", path, (long long)out->n, out->dim);
        goto out;
    }
    if (out->n && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data) < 0) {
        rc = bienc_error(BIENC_EFORMAT, "%s: cannot read /embeddings", path);
        goto out;
    }
    int col;
    int64_t bad = vectors_first_bad(out->data, out->n, out->dim, &col);
    if (bad >= 0) {
        if (col >= 0)
            rc = bienc_error(BIENC_EFORMAT, "%s: /embeddings[%lld, %d] is not finite", path, (long long)bad, col);
        else
            rc = bienc_error(BIENC_EFORMAT, "%s: row %lld of /embeddings has a norm above %g: its scores would overflow",
                             path, (long long)bad, BIENC_MAX_VECTOR_NORM);
        goto out;
    }
    rc = read_ids(file, path, out->n, out->ids);
    if (rc == 0) rc = ids_check((const char *const *)out->ids, out->n, path);
    if (rc == 0) rc = read_normalized(file, &out->normalized, path);
    if (rc == 0 && out->normalized < 0) rc = read_normalized(d, &out->normalized, path);
out:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    H5Fclose(file);
    if (rc < 0) emb_free(out);
    return rc;
}
