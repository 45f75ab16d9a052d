/* HDF5 checkpoint writer: tensors, attributes and string lists into `path.tmp`, then an atomic
 * commit (fsync, rename, fsync of the directory). Also the HDF5 plumbing shared with the reader. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/error.h"
#include "core/atomic_file.h"
#include "core/crc32c.h"
#include "io/checkpoint_internal.h"

/* Free bytes a file system needs before an HDF5 file is started on it (h5_create_written). */
#define H5_MIN_ROOM (64 * 1024)

#define CKPT_NAME_MAX 4096

void h5_quiet_begin(h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5_quiet_end(const h5_quiet *q)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct h5_detail {
    char *buf;
    size_t size;
} h5_detail;

static herr_t h5_detail_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    h5_detail *d = data;
    /* Upward walk: entry 0 is where HDF5 detected the problem, the most specific message. */
    if (n == 0 && e->desc) snprintf(d->buf, d->size, "%s", e->desc);
    return 0;
}

const char *h5_error_detail(char *buf, size_t size)
{
    h5_detail d = {buf, size};
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_detail_walk, &d);
    return buf;
}

static void h5_failure_detail(char *detail, size_t size)
{
    int e = errno;
    if (!detail) return;
    if (e) snprintf(detail, size, "%s", strerror(e));
    else h5_error_detail(detail, size);
}

/* Moves the rest of a doomed file's life into memory: its bytes so far are copied into an
 * anonymous memory file, which then takes the place of the file's descriptor (dup2), so
 * HDF5's remaining writes and reads succeed. -1 when that is not possible. */
static int h5_divert_to_memory(hid_t file)
{
    int *fdp = NULL;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, (void **)&fdp) < 0 || !fdp || *fdp < 0) return -1;
    int mem = memfd_create("bienc-discarded-hdf5", MFD_CLOEXEC);
    if (mem < 0) return -1;
    char buf[1 << 16];
    off_t off = 0;
    ssize_t n;
    while ((n = pread(*fdp, buf, sizeof buf, off)) > 0) {
        if (pwrite(mem, buf, (size_t)n, off) != n) break;
        off += n;
    }
    int rc = n == 0 && dup2(mem, *fdp) >= 0 ? 0 : -1;
    close(mem);
    return rc;
}

int h5_flush_written(hid_t file, const char *tmp, char *detail, size_t size)
{
    (void)tmp;
    h5_quiet q;
    h5_quiet_begin(&q);
    /* HDF5 1.10 must never see its H5Fclose fail: it then keeps the file's id half torn down
     * and crashes (in H5F__close_cb at exit, or in a second H5Fclose). So everything is
     * flushed first, where a failure (a full disk) leaves the file intact. The file is lost
     * then; what HDF5 still has to write goes to memory, so the closes that follow succeed
     * and really release every handle. */
    errno = 0;
    int rc = 0;
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) {
        h5_failure_detail(detail, size);
        rc = -1;
        if (h5_divert_to_memory(file) == 0) H5Fflush(file, H5F_SCOPE_GLOBAL);
    }
    h5_quiet_end(&q);
    return rc;
}

hid_t h5_create_written(const char *tmp, hid_t fcpl, hid_t fapl, char *detail, size_t size)
{
    /* A write failure inside H5Fcreate (the superblock, on a full disk) leaves HDF5 1.10
     * unable to shut down ("infinite loop closing library"): start only with some room. */
    char *dir = strdup(tmp);
    struct statvfs vfs;
    int full = dir && statvfs(dirname(dir), &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < H5_MIN_ROOM;
    free(dir);
    if (full) {
        snprintf(detail, size, "%s (less than %d KiB free)", strerror(ENOSPC), H5_MIN_ROOM / 1024);
        return H5I_INVALID_HID;
    }
    h5_quiet q;
    h5_quiet_begin(&q);
    errno = 0;
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (file < 0) h5_failure_detail(detail, size);
    h5_quiet_end(&q);
    return file;
}

int h5_close_written(hid_t file, const char *tmp, char *detail, size_t size)
{
    int rc = h5_flush_written(file, tmp, detail, size);
    h5_quiet q;
    h5_quiet_begin(&q);
    errno = 0;
    if (H5Fclose(file) < 0 && rc == 0) {
        h5_failure_detail(detail, size);
        rc = -1;
    }
    h5_quiet_end(&q);
    return rc;
}

int ckpt_check_name(const char *file, const char *what, const char *name)
{
    if (!name || !*name) return bienc_error(BIENC_EINVAL, "%s: empty %s name", file, what);
    size_t len = strlen(name);
    if (len >= CKPT_NAME_MAX) return bienc_error(BIENC_EINVAL, "%s: %s name longer than %d bytes", file, what, CKPT_NAME_MAX);
    const char *p = name;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return bienc_error(BIENC_EINVAL, "%s: %s name '%s' has an empty, '.' or '..' component", file, what, name);
        if (!slash) return 0;
        p = slash + 1;
    }
}

int ckpt_split_name(const char *name, char *object, size_t size, const char **leaf)
{
    const char *slash = strrchr(name, '/');
    if (!slash) {
        snprintf(object, size, "/");
        *leaf = name;
        return 0;
    }
    size_t n = (size_t)(slash - name);
    if (n + 1 > size) return bienc_error(BIENC_EINVAL, "name '%s' is too long", name);
    memcpy(object, name, n);
    object[n] = '\0';
    *leaf = slash + 1;
    return 0;
}

int ckpt_path_exists(hid_t file, const char *path)
{
    if (strcmp(path, "/") == 0) return 1;
    char buf[CKPT_NAME_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf) return 0;
    memcpy(buf, path, len + 1);
    /* Check "a", then "a/b", then "a/b/c": H5Lexists needs every parent to exist. */
    for (size_t i = 0; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        H5L_info_t info;
        int ok = H5Lexists(file, buf, H5P_DEFAULT) > 0 && H5Lget_info(file, buf, &info, H5P_DEFAULT) >= 0 &&
                 info.type == H5L_TYPE_HARD;
        buf[i] = saved;
        if (!ok) return 0;
    }
    return 1;
}

hid_t ckpt_fapl(int for_create)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    if (for_create) H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
    return fapl;
}

hid_t ckpt_vlen_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

hid_t ckpt_fixed_string_type(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, size ? size : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* ---- the writer ------------------------------------------------------------------------- */

struct bienc_ckpt_writer {
    hid_t file;
    atomic_file out; /* out.tmp is the HDF5 file until the commit renames it to out.path */
    char *tmp;       /* == out.tmp, the name every message uses */
};

static int writer_attr_raw(bienc_ckpt_writer *w, const char *name, hid_t file_type, hid_t mem_type, hid_t space,
                           const void *buf);

void ckpt_writer_abort(bienc_ckpt_writer *w)
{
    if (!w) return;
    if (w->file >= 0) h5_close_written(w->file, w->tmp, NULL, 0);
    atomic_file_abort(&w->out);
    free(w);
}

int ckpt_writer_open(bienc_ckpt_writer **out, const char *path)
{
    if (!out || !path || !*path) return bienc_error(BIENC_EINVAL, "ckpt_writer_open: NULL or empty path");
    *out = NULL;
    bienc_ckpt_writer *w = calloc(1, sizeof *w);
    if (!w) return bienc_error(BIENC_ENOMEM, "out of memory opening checkpoint %s", path);
    w->file = H5I_INVALID_HID;
    int rc = atomic_file_reserve(&w->out, path);
    if (rc < 0) {
        free(w);
        return rc;
    }
    w->tmp = w->out.tmp;

    h5_quiet q;
    h5_quiet_begin(&q);
    char detail[256] = "";
    hid_t fapl = ckpt_fapl(1);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0) H5Pset_obj_track_times(fcpl, 0); /* the root group too: reproducible bytes */
    if (fcpl >= 0) H5Pset_userblock(fcpl, CKPT_USERBLOCK); /* room for the whole-file checksum */
    w->file = fapl < 0 || fcpl < 0 ? H5I_INVALID_HID : h5_create_written(w->tmp, fcpl, fapl, detail, sizeof detail);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (w->file < 0) {
        rc = bienc_error(BIENC_EIO, "cannot create checkpoint %s: %s", w->tmp, detail);
        h5_quiet_end(&q);
        ckpt_writer_abort(w);
        return rc;
    }
    h5_quiet_end(&q);

    /* The format marker first: a reader recognises our files by it. */
    int64_t version = BIENC_CKPT_VERSION;
    const char *format = BIENC_CKPT_FORMAT;
    hid_t scalar = H5Screate(H5S_SCALAR), str = ckpt_fixed_string_type(strlen(format));
    rc = scalar < 0 || str < 0 ? bienc_error(BIENC_EIO, "%s: HDF5 type creation failed", w->tmp) : 0;
    if (rc == 0) rc = writer_attr_raw(w, "format", str, str, scalar, format);
    if (rc == 0) rc = writer_attr_raw(w, "version", H5T_STD_I64LE, H5T_NATIVE_INT64, scalar, &version);
    if (scalar >= 0) H5Sclose(scalar);
    if (str >= 0) H5Tclose(str);
    if (rc < 0) {
        ckpt_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* Creates the missing groups along `path` ("a/b/c": a, a/b, and a/b/c itself when
 * with_last). Groups are made one by one, without modification times, so that the same
 * content gives the same file bytes. -1 on failure. */
static int writer_groups(bienc_ckpt_writer *w, const char *path, int with_last)
{
    char buf[CKPT_NAME_MAX];
    size_t len = strlen(path);
    if (strcmp(path, "/") == 0) return 0;
    if (len >= sizeof buf) return -1;
    memcpy(buf, path, len + 1);
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0 || H5Pset_obj_track_times(gcpl, 0) < 0) {
        if (gcpl >= 0) H5Pclose(gcpl);
        return -1;
    }
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if (buf[i] != '/' && !(buf[i] == '\0' && with_last)) continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (!ckpt_path_exists(w->file, buf)) {
            hid_t g = H5Gcreate2(w->file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            if (g < 0) rc = -1;
            else H5Gclose(g);
        }
        buf[i] = saved;
    }
    H5Pclose(gcpl);
    return rc;
}

/* Opens the object `path` (creating missing groups) for attaching an attribute. */
static hid_t writer_object(bienc_ckpt_writer *w, const char *path)
{
    if (!ckpt_path_exists(w->file, path) && writer_groups(w, path, 1) < 0) return H5I_INVALID_HID;
    return H5Oopen(w->file, path, H5P_DEFAULT);
}

static int writer_attr_raw(bienc_ckpt_writer *w, const char *name, hid_t file_type, hid_t mem_type, hid_t space,
                           const void *buf)
{
    char object[CKPT_NAME_MAX], detail[256];
    const char *leaf = NULL;
    BIENC_TRY(ckpt_split_name(name, object, sizeof object, &leaf));
    h5_quiet q;
    h5_quiet_begin(&q);
    int rc = 0;
    hid_t obj = writer_object(w, object), attr = H5I_INVALID_HID;
    if (obj < 0)
        rc = bienc_error(BIENC_EIO, "%s: cannot create group %s for attribute %s: %s", w->tmp, object, name,
                         h5_error_detail(detail, sizeof detail));
    else if (H5Aexists(obj, leaf) > 0)
        rc = bienc_error(BIENC_EINVAL, "%s: attribute %s written twice", w->tmp, name);
    else if ((attr = H5Acreate2(obj, leaf, file_type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
             H5Awrite(attr, mem_type, buf) < 0)
        rc = bienc_error(BIENC_EIO, "%s: cannot write attribute %s: %s", w->tmp, name,
                         h5_error_detail(detail, sizeof detail));
    if (attr >= 0) H5Aclose(attr);
    if (obj >= 0) H5Oclose(obj);
    h5_quiet_end(&q);
    return rc;
}

static int writer_check(bienc_ckpt_writer *w, const char *what, const char *name)
{
    if (!w || w->file < 0) return bienc_error(BIENC_ESTATE, "checkpoint writer is not open");
    BIENC_TRY(ckpt_check_name(w->tmp, what, name));
    if (strcmp(name, "format") == 0 || strcmp(name, "version") == 0)
        return bienc_error(BIENC_EINVAL, "%s: '%s' is reserved for the format marker", w->tmp, name);
    return 0;
}

/* A scalar (n == 0) or 1-D (n elements) attribute of a predefined type. */
static int writer_attr(bienc_ckpt_writer *w, const char *name, hid_t file_type, hid_t mem_type, const void *buf,
                       int is_array, size_t n)
{
    BIENC_TRY(writer_check(w, "attribute", name));
    hsize_t dim = n;
    hid_t space = is_array ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    if (space < 0) return bienc_error(BIENC_EIO, "%s: cannot create a dataspace for %s", w->tmp, name);
    uint64_t dummy = 0; /* HDF5 wants a buffer even for zero elements */
    int rc = writer_attr_raw(w, name, file_type, mem_type, space, buf ? buf : &dummy);
    H5Sclose(space);
    return rc;
}

int ckpt_write_int64(bienc_ckpt_writer *w, const char *name, int64_t value)
{
    return writer_attr(w, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, 0, 1);
}

int ckpt_write_double(bienc_ckpt_writer *w, const char *name, double value)
{
    return writer_attr(w, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, 0, 1);
}

int ckpt_write_int64s(bienc_ckpt_writer *w, const char *name, const int64_t *values, size_t n)
{
    if (n && !values) return bienc_error(BIENC_EINVAL, "ckpt_write_int64s: NULL values for %s", name);
    return writer_attr(w, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values, 1, n);
}

int ckpt_write_uint64s(bienc_ckpt_writer *w, const char *name, const uint64_t *values, size_t n)
{
    if (n && !values) return bienc_error(BIENC_EINVAL, "ckpt_write_uint64s: NULL values for %s", name);
    return writer_attr(w, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, values, 1, n);
}

int ckpt_write_string(bienc_ckpt_writer *w, const char *name, const char *value)
{
    if (!value) return bienc_error(BIENC_EINVAL, "ckpt_write_string: NULL value for %s", name);
    /* Fixed-length: the bytes live in the (checksummed) object header. Variable-length strings
     * would go to HDF5's global heap, which has no checksum and whose corruption crashes
     * libhdf5 on read. An empty string is one NUL byte. */
    size_t len = strlen(value);
    hid_t str = ckpt_fixed_string_type(len);
    if (str < 0) return bienc_error(BIENC_EIO, "HDF5 string type creation failed");
    int rc = writer_attr(w, name, str, str, len ? value : "", 0, 1);
    H5Tclose(str);
    return rc;
}

/* Creates dataset `name` (intermediate groups too) and writes buf; refuses an existing name. */
static int writer_dataset(bienc_ckpt_writer *w, const char *name, hid_t file_type, hid_t mem_type, hid_t space,
                          hid_t dcpl, const void *buf, int write)
{
    char detail[256] = "";
    h5_quiet q;
    h5_quiet_begin(&q);
    int rc = 0;
    /* No modification times: identical content gives identical bytes. */
    hid_t dc = H5Pcopy(dcpl), d = H5I_INVALID_HID;
    if (ckpt_path_exists(w->file, name))
        rc = bienc_error(BIENC_EINVAL, "%s: %s written twice", w->tmp, name);
    else if (dc < 0 || H5Pset_obj_track_times(dc, 0) < 0 || writer_groups(w, name, 0) < 0 ||
             (d = H5Dcreate2(w->file, name, file_type, space, H5P_DEFAULT, dc, H5P_DEFAULT)) < 0 ||
             (write && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0))
        rc = bienc_error(BIENC_EIO, "%s: cannot write %s: %s", w->tmp, name, h5_error_detail(detail, sizeof detail));
    if (d >= 0) H5Dclose(d);
    if (dc >= 0) H5Pclose(dc);
    h5_quiet_end(&q);
    return rc;
}

int ckpt_write_tensor(bienc_ckpt_writer *w, const char *name, int ndim, const int64_t *shape, const float *data)
{
    BIENC_TRY(writer_check(w, "tensor", name));
    if (ndim < 0 || ndim > BIENC_CKPT_MAX_DIMS || (ndim > 0 && !shape))
        return bienc_error(BIENC_EINVAL, "%s: tensor %s: rank %d outside 0..%d", w->tmp, name, ndim, BIENC_CKPT_MAX_DIMS);
    hsize_t dims[BIENC_CKPT_MAX_DIMS];
    uint64_t count = 1;
    int chunkable = ndim > 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return bienc_error(BIENC_EINVAL, "%s: tensor %s: negative dimension", w->tmp, name);
        dims[i] = (hsize_t)shape[i];
        if (shape[i] && count > UINT64_MAX / 4 / (uint64_t)shape[i])
            return bienc_error(BIENC_EINVAL, "%s: tensor %s: size overflows", w->tmp, name);
        count *= (uint64_t)shape[i];
        chunkable &= shape[i] > 0 && shape[i] <= 0xffffffffLL;
    }
    if (count && !data) return bienc_error(BIENC_EINVAL, "%s: tensor %s: NULL data", w->tmp, name);
    /* One chunk holding the whole tensor, so that HDF5 can checksum it (Fletcher-32);
     * HDF5 limits a chunk to 4 GiB. */
    chunkable &= count * 4 < 0xffffffffULL;
    hid_t space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int rc = 0;
    if (space < 0 || dcpl < 0) rc = bienc_error(BIENC_EIO, "%s: tensor %s: HDF5 property creation failed", w->tmp, name);
    if (rc == 0 && chunkable && (H5Pset_chunk(dcpl, ndim, dims) < 0 || H5Pset_fletcher32(dcpl) < 0))
        rc = bienc_error(BIENC_EIO, "%s: tensor %s: cannot set up its checksum", w->tmp, name);
    if (rc == 0)
        rc = writer_dataset(w, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, space, dcpl, data, count > 0);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return rc;
}

int ckpt_write_param(bienc_ckpt_writer *w, const bienc_tensor *t)
{
    if (!t || !t->name) return bienc_error(BIENC_EINVAL, "ckpt_write_param: tensor without a name");
    char name[CKPT_NAME_MAX];
    if ((size_t)snprintf(name, sizeof name, "params/%s", t->name) >= sizeof name)
        return bienc_error(BIENC_EINVAL, "parameter name %s is too long", t->name);
    return ckpt_write_tensor(w, name, t->ndim, t->shape, t->data);
}

int ckpt_write_strings(bienc_ckpt_writer *w, const char *name, const char *const *strings, size_t n)
{
    BIENC_TRY(writer_check(w, "string list", name));
    size_t width = 1;
    for (size_t i = 0; i < n; i++) {
        if (!strings || !strings[i]) return bienc_error(BIENC_EINVAL, "%s: %s: string %zu is NULL", w->tmp, name, i);
        size_t len = strlen(strings[i]);
        if (len > width) width = len;
    }
    /* Fixed-length, NUL-padded to the longest string, in one checksummed chunk (see
     * ckpt_write_string for why not variable-length). Tokens are short, so the padding is cheap. */
    if (n && width > (((size_t)1 << 32) - 2) / n)
        return bienc_error(BIENC_EINVAL, "%s: %s: %zu strings of up to %zu bytes exceed one 4 GiB chunk", w->tmp, name,
                           n, width);
    char *packed = calloc(n ? n : 1, width);
    if (!packed) return bienc_error(BIENC_ENOMEM, "%s: %s: out of memory packing %zu strings", w->tmp, name, n);
    for (size_t i = 0; i < n; i++) memcpy(packed + i * width, strings[i], strlen(strings[i]));
    hsize_t dim = n;
    hid_t space = H5Screate_simple(1, &dim, NULL), str = ckpt_fixed_string_type(width);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int rc = space < 0 || str < 0 || dcpl < 0 ? bienc_error(BIENC_EIO, "%s: %s: HDF5 type creation failed", w->tmp, name)
                                              : 0;
    if (rc == 0 && n && (H5Pset_chunk(dcpl, 1, &dim) < 0 || H5Pset_fletcher32(dcpl) < 0))
        rc = bienc_error(BIENC_EIO, "%s: %s: cannot set up its checksum", w->tmp, name);
    if (rc == 0) rc = writer_dataset(w, name, str, str, space, dcpl, packed, n > 0);
    if (space >= 0) H5Sclose(space);
    if (str >= 0) H5Tclose(str);
    if (dcpl >= 0) H5Pclose(dcpl);
    free(packed);
    return rc;
}

int ckpt_writer_finish(bienc_ckpt_writer *w, int rc)
{
    if (rc < 0) {
        ckpt_writer_abort(w);
        return rc;
    }
    return ckpt_writer_commit(w);
}

int ckpt_crc_range(int fd, uint64_t from, uint64_t to, uint32_t *crc)
{
    enum { BLOCK = 1 << 20 };
    unsigned char *buf = malloc(BLOCK);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    uint32_t c = 0;
    int rc = 0;
    for (uint64_t off = from; off < to && rc == 0;) {
        size_t want = to - off < BLOCK ? (size_t)(to - off) : BLOCK;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n <= 0) {
            if (n == 0) errno = EIO;
            rc = -1;
        } else {
            c = crc32c(c, buf, (size_t)n);
            off += (uint64_t)n;
        }
    }
    free(buf);
    *crc = c;
    return rc;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes the whole-file checksum into the user block of the closed file `tmp`. */
static int ckpt_seal(const char *tmp)
{
    int fd = open(tmp, O_RDWR | O_CLOEXEC);
    if (fd < 0) return bienc_error(BIENC_EIO, "%s: cannot reopen to checksum it: %s", tmp, strerror(errno));
    struct stat st;
    uint32_t body = 0;
    unsigned char head[CKPT_SUM_SIZE];
    int ok = fstat(fd, &st) == 0 && st.st_size >= CKPT_USERBLOCK &&
             ckpt_crc_range(fd, CKPT_SUM_SIZE, (uint64_t)st.st_size, &body) == 0;
    if (ok) {
        memcpy(head, CKPT_SUM_MAGIC, 8);
        put_le(head + 8, (uint64_t)st.st_size, 8);
        put_le(head + 16, body, 4);
        put_le(head + 20, crc32c(0, head, 20), 4);
        ok = pwrite(fd, head, sizeof head, 0) == (ssize_t)sizeof head;
    }
    int e = errno;
    close(fd);
    return ok ? 0 : bienc_error(BIENC_EIO, "%s: cannot write its checksum: %s", tmp, strerror(e ? e : EIO));
}

int ckpt_writer_commit(bienc_ckpt_writer *w)
{
    if (!w || w->file < 0) return bienc_error(BIENC_ESTATE, "checkpoint writer is not open");
    char detail[256] = "";
    int closed = h5_close_written(w->file, w->tmp, detail, sizeof detail);
    w->file = H5I_INVALID_HID;
    if (closed < 0) {
        int rc = bienc_error(BIENC_EIO, "%s: closing failed: %s", w->tmp, detail);
        ckpt_writer_abort(w);
        return rc;
    }
    int rc = ckpt_seal(w->tmp);
    if (rc < 0) {
        ckpt_writer_abort(w);
        return rc;
    }
    rc = atomic_file_commit(&w->out);
    free(w);
    return rc;
}
