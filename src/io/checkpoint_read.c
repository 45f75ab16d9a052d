/* HDF5 checkpoint reader: validation of the container (HDF5, not truncated, our format marker
 * and version), then typed, shape-checked reads of tensors, attributes and string lists. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/tensor.h"
#include "core/crc32c.h"
#include "io/checkpoint_internal.h"

struct bienc_ckpt {
    hid_t file;
    char *path;
    int64_t version;
};

const char *ckpt_path(const bienc_ckpt *c) { return c ? c->path : NULL; }
int64_t ckpt_version(const bienc_ckpt *c) { return c ? c->version : 0; }

void ckpt_close(bienc_ckpt *c)
{
    if (!c) return;
    h5_quiet q;
    h5_quiet_begin(&q);
    if (c->file >= 0) H5Fclose(c->file);
    h5_quiet_end(&q);
    free(c->path);
    free(c);
}

/* Opens attribute `name` ("group/attr" or a root "attr"). BIENC_ENOTFOUND when absent. */
static int reader_attr_open(const bienc_ckpt *c, const char *name, hid_t *obj, hid_t *attr)
{
    char object[4096];
    const char *leaf;
    *obj = *attr = H5I_INVALID_HID;
    BIENC_TRY(ckpt_check_name(c->path, "attribute", name));
    BIENC_TRY(ckpt_split_name(name, object, sizeof object, &leaf));
    htri_t exists = 0;
    if (!ckpt_path_exists(c->file, object) || (*obj = H5Oopen(c->file, object, H5P_DEFAULT)) < 0 ||
        (exists = H5Aexists(*obj, leaf)) <= 0 || (*attr = H5Aopen(*obj, leaf, H5P_DEFAULT)) < 0) {
        char detail[256];
        h5_error_detail(detail, sizeof detail);
        if (*obj >= 0) H5Oclose(*obj);
        *obj = H5I_INVALID_HID;
        /* present but unreadable (a checksum failure) is not the same as absent */
        if (exists != 0)
            return bienc_error(BIENC_EFORMAT, "%s: attribute %s cannot be opened (corrupt checkpoint): %s", c->path,
                               name, detail);
        return bienc_error(BIENC_ENOTFOUND, "%s: no attribute %s", c->path, name);
    }
    return 0;
}

static void reader_attr_close(hid_t obj, hid_t attr)
{
    if (attr >= 0) H5Aclose(attr);
    if (obj >= 0) H5Oclose(obj);
}

/* Number of elements of an attribute or dataset space, with scalar = 1; -1 when not simple. */
static int64_t space_count(hid_t space, int *ndim)
{
    int nd = H5Sget_simple_extent_ndims(space);
    if (nd < 0) return -1;
    if (ndim) *ndim = nd;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    return n < 0 ? -1 : (int64_t)n;
}

/* Reads a numeric attribute of class `cls` (or INTEGER too when allow_int) with exactly
 * `n` elements (is_array) or one scalar value, converted to mem_type. */
static int reader_attr_numbers(const bienc_ckpt *c, const char *name, H5T_class_t cls, int allow_int, hid_t mem_type,
                               void *out, int is_array, size_t n, const char *what)
{
    hid_t obj, attr;
    BIENC_TRY(reader_attr_open(c, name, &obj, &attr));
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    H5T_class_t got = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    int nd = -1;
    int64_t count = space < 0 ? -1 : space_count(space, &nd);
    int rc = 0;
    if (got != cls && !(allow_int && got == H5T_INTEGER))
        rc = bienc_error(BIENC_EFORMAT, "%s: attribute %s is not %s", c->path, name, what);
    else if (is_array ? (nd > 1 || count != (int64_t)n) : count != 1)
        rc = is_array ? bienc_error(BIENC_EFORMAT, "%s: attribute %s has %lld values, expected %zu", c->path, name,
                                    (long long)count, n)
                      : bienc_error(BIENC_EFORMAT, "%s: attribute %s holds %lld values, expected a single one",
                                    c->path, name, (long long)count);
    else if (n > 0 && H5Aread(attr, mem_type, out) < 0)
        rc = bienc_error(BIENC_EFORMAT, "%s: attribute %s cannot be read as %s", c->path, name, what);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    reader_attr_close(obj, attr);
    return rc;
}

int ckpt_read_int64(const bienc_ckpt *c, const char *name, int64_t *value)
{
    BIENC_ASSERT(c && value);
    h5_quiet q;
    h5_quiet_begin(&q);
    int rc = reader_attr_numbers(c, name, H5T_INTEGER, 0, H5T_NATIVE_INT64, value, 0, 1, "an integer");
    h5_quiet_end(&q);
    return rc;
}

int ckpt_read_double(const bienc_ckpt *c, const char *name, double *value)
{
    BIENC_ASSERT(c && value);
    h5_quiet q;
    h5_quiet_begin(&q);
    int rc = reader_attr_numbers(c, name, H5T_FLOAT, 1, H5T_NATIVE_DOUBLE, value, 0, 1, "a number");
    h5_quiet_end(&q);
    return rc;
}

int ckpt_read_int64s(const bienc_ckpt *c, const char *name, int64_t *values, size_t n)
{
    if (!c || (n && !values)) return bienc_error(BIENC_EINVAL, "ckpt_read_int64s: NULL argument");
    h5_quiet q;
    h5_quiet_begin(&q);
    int rc = reader_attr_numbers(c, name, H5T_INTEGER, 0, H5T_NATIVE_INT64, values, 1, n, "integers");
    h5_quiet_end(&q);
    return rc;
}

int ckpt_read_uint64s(const bienc_ckpt *c, const char *name, uint64_t *values, size_t n)
{
    if (!c || (n && !values)) return bienc_error(BIENC_EINVAL, "ckpt_read_uint64s: NULL argument");
    h5_quiet q;
    h5_quiet_begin(&q);
    int rc = reader_attr_numbers(c, name, H5T_INTEGER, 0, H5T_NATIVE_UINT64, values, 1, n, "integers");
    h5_quiet_end(&q);
    return rc;
}

/* A scalar string attribute, variable-length (ours, h5py's) or fixed-length, as a malloc'd copy. */
static int reader_attr_string(const bienc_ckpt *c, const char *name, char **value)
{
    hid_t obj, attr;
    *value = NULL;
    BIENC_TRY(reader_attr_open(c, name, &obj, &attr));
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr), mem = H5I_INVALID_HID;
    int rc = 0;
    if (type < 0 || H5Tget_class(type) != H5T_STRING)
        rc = bienc_error(BIENC_EFORMAT, "%s: attribute %s is not a string", c->path, name);
    else if (space < 0 || space_count(space, NULL) != 1)
        rc = bienc_error(BIENC_EFORMAT, "%s: attribute %s is not a single string", c->path, name);
    else if (H5Tis_variable_str(type) > 0) {
        char *s = NULL;
        mem = ckpt_vlen_string_type();
        /* in the file's character set (h5py writes ASCII for bytes): HDF5 converts neither way */
        if (mem >= 0) H5Tset_cset(mem, H5Tget_cset(type));
        char detail[256];
        if (mem < 0 || H5Aread(attr, mem, &s) < 0)
            rc = bienc_error(BIENC_EFORMAT, "%s: attribute %s cannot be read as a string: %s", c->path, name,
                             h5_error_detail(detail, sizeof detail));
        else if (!(*value = strdup(s ? s : "")))
            rc = bienc_error(BIENC_ENOMEM, "out of memory reading %s", name);
        if (s) H5free_memory(s);
    } else {
        size_t size = H5Tget_size(type);
        char *s = size < (1u << 30) ? calloc(size + 1, 1) : NULL;
        mem = H5Tcopy(type);
        if (!s) rc = bienc_error(BIENC_EFORMAT, "%s: attribute %s: unusable string size %zu", c->path, name, size);
        else if (mem < 0 || H5Aread(attr, mem, s) < 0) {
            char detail[256];
            rc = bienc_error(BIENC_EFORMAT, "%s: attribute %s cannot be read as a string: %s", c->path, name,
                             h5_error_detail(detail, sizeof detail));
        }
        if (rc == 0) *value = s;
        else free(s);
    }
    if (mem >= 0) H5Tclose(mem);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    reader_attr_close(obj, attr);
    return rc;
}

int ckpt_read_string(const bienc_ckpt *c, const char *name, char **value)
{
    BIENC_ASSERT(c && value);
    h5_quiet q;
    h5_quiet_begin(&q);
    int rc = reader_attr_string(c, name, value);
    h5_quiet_end(&q);
    return rc;
}

int ckpt_has_attr(const bienc_ckpt *c, const char *name)
{
    if (!c || !name) return 0;
    h5_quiet q;
    h5_quiet_begin(&q);
    hid_t obj, attr;
    int found = reader_attr_open(c, name, &obj, &attr) == 0;
    if (found) reader_attr_close(obj, attr);
    h5_quiet_end(&q);
    bienc_error_clear();
    return found;
}

/* Validates the marker: a foreign HDF5 file lacks it or has another value. */
static int reader_check_marker(bienc_ckpt *c)
{
    char *format = NULL;
    int rc = reader_attr_string(c, "format", &format);
    if (rc == BIENC_ENOTFOUND)
        return bienc_error(BIENC_EFORMAT, "%s is an HDF5 file but not a bienc checkpoint (no root attribute 'format')",
                           c->path);
    if (rc < 0) return bienc_error_context(BIENC_EFORMAT, "%s is not a bienc checkpoint: ", c->path);
    int ours = strcmp(format, BIENC_CKPT_FORMAT) == 0;
    if (!ours) rc = bienc_error(BIENC_EFORMAT, "%s is not a bienc checkpoint (format '%.64s', expected '%s')", c->path,
                                format, BIENC_CKPT_FORMAT);
    free(format);
    if (rc < 0) return rc;
    rc = reader_attr_numbers(c, "version", H5T_INTEGER, 0, H5T_NATIVE_INT64, &c->version, 0, 1, "an integer");
    if (rc < 0) return bienc_error_context(BIENC_EFORMAT, "%s: bad format version: ", c->path);
    if (c->version != BIENC_CKPT_VERSION)
        return bienc_error(BIENC_EFORMAT, "%s: checkpoint format version %lld, this build of bienc reads version %d",
                           c->path, (long long)c->version, BIENC_CKPT_VERSION);
    return 0;
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Verifies the whole-file checksum (checkpoint_internal.h) before HDF5 sees the file. Files
 * from before it (the HDF5 signature at byte 0, no user block) are accepted unverified. */
static int ckpt_verify_sum(const char *path, off_t size)
{
    static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (size < CKPT_USERBLOCK + 8) return 0; /* too short for one: HDF5's own checks report it */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return bienc_error(BIENC_EIO, "cannot open checkpoint %s: %s", path, strerror(errno));
    unsigned char head[CKPT_SUM_SIZE], sig[8];
    int rc = 0;
    if (pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head || pread(fd, sig, 8, CKPT_USERBLOCK) != 8) {
        rc = bienc_error(BIENC_EIO, "cannot read checkpoint %s: %s", path, strerror(errno ? errno : EIO));
    } else if (memcmp(head, CKPT_SUM_MAGIC, 8) != 0) {
        /* no checksum block: a file from before it, or a damaged one (HDF5 data at 512) */
        if (memcmp(head, hdf5_sig, 8) != 0 && memcmp(sig, hdf5_sig, 8) == 0)
            rc = bienc_error(BIENC_EFORMAT, "corrupt checkpoint %s: its checksum block is damaged", path);
    } else if ((uint32_t)get_le(head + 20, 4) != crc32c(0, head, 20)) {
        rc = bienc_error(BIENC_EFORMAT, "corrupt checkpoint %s: its checksum block is damaged", path);
    } else if (get_le(head + 8, 8) != (uint64_t)size) {
        rc = bienc_error(BIENC_EFORMAT, "corrupt checkpoint %s: %lld bytes, written as %llu (truncated or extended)",
                         path, (long long)size, (unsigned long long)get_le(head + 8, 8));
    } else {
        uint32_t crc;
        if (ckpt_crc_range(fd, CKPT_SUM_SIZE, (uint64_t)size, &crc) < 0)
            rc = bienc_error(BIENC_EIO, "cannot read checkpoint %s: %s", path, strerror(errno));
        else if (crc != (uint32_t)get_le(head + 16, 4))
            rc = bienc_error(BIENC_EFORMAT,
                             "corrupt checkpoint %s: whole-file checksum mismatch (a changed byte; not loaded)", path);
    }
    close(fd);
    return rc;
}

int ckpt_open(bienc_ckpt **out, const char *path)
{
    if (!out || !path) return bienc_error(BIENC_EINVAL, "ckpt_open: NULL argument");
    *out = NULL;
    struct stat st;
    if (stat(path, &st) < 0)
        return bienc_error(errno == ENOENT ? BIENC_ENOTFOUND : BIENC_EIO, "cannot open checkpoint %s: %s", path,
                           strerror(errno));
    if (!S_ISREG(st.st_mode)) return bienc_error(BIENC_EIO, "checkpoint %s is not a regular file", path);
    bienc_ckpt *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return bienc_error(BIENC_ENOMEM, "out of memory opening %s", path);
    }
    c->file = H5I_INVALID_HID;
    int rc = ckpt_verify_sum(path, st.st_size);
    if (rc < 0) {
        ckpt_close(c);
        return rc;
    }
    h5_quiet q;
    h5_quiet_begin(&q);
    char detail[256] = "";
    htri_t is_h5 = H5Fis_hdf5(path);
    if (is_h5 <= 0) {
        rc = bienc_error(BIENC_EFORMAT, "%s is not an HDF5 file (no HDF5 signature: foreign or truncated, %lld bytes)",
                         path, (long long)st.st_size);
    } else {
        /* HDF5 compares the end-of-file address stored in the superblock with the real size,
         * so a truncated checkpoint fails here rather than later with garbage. */
        hid_t fapl = ckpt_fapl(0);
        c->file = fapl < 0 ? H5I_INVALID_HID : H5Fopen(path, H5F_ACC_RDONLY, fapl);
        /* Read HDF5's reason now: the next successful HDF5 call clears its error stack. */
        if (c->file < 0) h5_error_detail(detail, sizeof detail);
        if (fapl >= 0) H5Pclose(fapl);
        if (c->file < 0)
            rc = bienc_error(BIENC_EFORMAT, "%s: HDF5 cannot open it (truncated or corrupt, %lld bytes): %s", path,
                             (long long)st.st_size, detail);
        else
            rc = reader_check_marker(c);
    }
    h5_quiet_end(&q);
    if (rc < 0) {
        ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int ckpt_has_tensor(const bienc_ckpt *c, const char *name)
{
    if (!c || !name || ckpt_check_name(c->path, "tensor", name) < 0) {
        bienc_error_clear();
        return 0;
    }
    h5_quiet q;
    h5_quiet_begin(&q);
    int found = 0;
    if (ckpt_path_exists(c->file, name)) {
        hid_t o = H5Oopen(c->file, name, H5P_DEFAULT);
        found = o >= 0 && H5Iget_type(o) == H5I_DATASET;
        if (o >= 0) H5Oclose(o);
    }
    h5_quiet_end(&q);
    return found;
}

/* Opens dataset `name` and returns its rank and dims; BIENC_ENOTFOUND when absent. */
static int reader_dataset(const bienc_ckpt *c, const char *name, const char *what, hid_t *dset, int *ndim,
                          int64_t shape[BIENC_CKPT_MAX_DIMS])
{
    *dset = H5I_INVALID_HID;
    BIENC_TRY(ckpt_check_name(c->path, what, name));
    if (!ckpt_has_tensor(c, name)) return bienc_error(BIENC_ENOTFOUND, "%s: no %s named %s", c->path, what, name);
    hid_t d = H5Dopen2(c->file, name, H5P_DEFAULT);
    hid_t space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
    int nd = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    hsize_t dims[BIENC_CKPT_MAX_DIMS];
    int rc = 0;
    if (nd < 0 || nd > BIENC_CKPT_MAX_DIMS || H5Sget_simple_extent_dims(space, dims, NULL) < 0)
        rc = bienc_error(BIENC_EFORMAT, "%s: %s %s has an unusable shape (rank %d)", c->path, what, name, nd);
    if (space >= 0) H5Sclose(space);
    if (rc < 0) {
        if (d >= 0) H5Dclose(d);
        return rc;
    }
    for (int i = 0; i < nd; i++) shape[i] = (int64_t)dims[i];
    *ndim = nd;
    *dset = d;
    return 0;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

int ckpt_tensor_shape(const bienc_ckpt *c, const char *name, int *ndim, int64_t shape[BIENC_CKPT_MAX_DIMS])
{
    BIENC_ASSERT(c && ndim && shape);
    h5_quiet q;
    h5_quiet_begin(&q);
    hid_t d;
    int rc = reader_dataset(c, name, "tensor", &d, ndim, shape);
    if (rc == 0) H5Dclose(d);
    h5_quiet_end(&q);
    return rc;
}

int ckpt_read_tensor(const bienc_ckpt *c, const char *name, int ndim, const int64_t *shape, float *data)
{
    if (!c || (ndim > 0 && !shape) || ndim < 0 || ndim > BIENC_CKPT_MAX_DIMS)
        return bienc_error(BIENC_EINVAL, "ckpt_read_tensor: bad arguments for %s", name ? name : "(null)");
    h5_quiet q;
    h5_quiet_begin(&q);
    hid_t d;
    int nd = 0;
    int64_t found[BIENC_CKPT_MAX_DIMS];
    int rc = reader_dataset(c, name, "tensor", &d, &nd, found);
    if (rc < 0) {
        h5_quiet_end(&q);
        return rc;
    }
    int same = nd == ndim;
    int64_t count = 1;
    for (int i = 0; same && i < nd; i++) {
        same = found[i] == shape[i];
        count *= found[i];
    }
    hid_t type = H5Dget_type(d);
    char detail[256] = "";
    if (!same) {
        char want[160], got[160];
        shape_str(ndim, shape, want, sizeof want);
        shape_str(nd, found, got, sizeof got);
        rc = bienc_error(BIENC_ESHAPE, "%s: tensor %s has shape %s, expected %s", c->path, name, got, want);
    } else if (type < 0 || H5Tget_class(type) != H5T_FLOAT) {
        rc = bienc_error(BIENC_EFORMAT, "%s: %s is not a float tensor", c->path, name);
    } else if (count > 0 && !data) {
        rc = bienc_error(BIENC_EINVAL, "ckpt_read_tensor: NULL data for %s", name);
    } else if (count > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        rc = bienc_error(BIENC_EFORMAT, "%s: cannot read tensor %s (corrupt data or checksum mismatch): %s", c->path,
                         name, h5_error_detail(detail, sizeof detail));
    }
    if (type >= 0) H5Tclose(type);
    H5Dclose(d);
    h5_quiet_end(&q);
    return rc;
}

int ckpt_read_finite(const bienc_ckpt *c, const char *name, int ndim, const int64_t *shape, float *data)
{
    BIENC_TRY(ckpt_read_tensor(c, name, ndim, shape, data));
    /* a NaN with a valid checksum would flow into every embedding, score and update */
    int64_t bad = floats_first_nonfinite(data, tensor_shape_size(ndim, shape));
    if (bad >= 0)
        return bienc_error(BIENC_EFORMAT, "%s: tensor %s holds %s at element %lld: not a usable checkpoint", c->path,
                           name, isnan(data[bad]) ? "NaN" : "Inf", (long long)bad);
    return 0;
}

int ckpt_read_param(const bienc_ckpt *c, bienc_tensor *t)
{
    if (!t || !t->name) return bienc_error(BIENC_EINVAL, "ckpt_read_param: tensor without a name");
    char name[4096];
    if ((size_t)snprintf(name, sizeof name, "params/%s", t->name) >= sizeof name)
        return bienc_error(BIENC_EINVAL, "parameter name %s is too long", t->name);
    return ckpt_read_finite(c, name, t->ndim, t->shape, t->data);
}

void ckpt_free_strings(char **strings, size_t n)
{
    if (!strings) return;
    for (size_t i = 0; i < n; i++) free(strings[i]);
    free(strings);
}

/* Variable-length strings (h5py's default): HDF5 allocates each one; copied, then reclaimed. */
static int read_vlen_strings(const bienc_ckpt *c, const char *name, hid_t d, size_t count, char **out)
{
    char **raw = calloc(count ? count : 1, sizeof *raw);
    hid_t mem = ckpt_vlen_string_type(), space = H5I_INVALID_HID;
    int rc = 0;
    if (!raw || mem < 0) rc = bienc_error(BIENC_ENOMEM, "%s: %s: cannot hold %zu strings", c->path, name, count);
    else if (count && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0)
        rc = bienc_error(BIENC_EFORMAT, "%s: cannot read %s", c->path, name);
    else {
        for (size_t i = 0; rc == 0 && i < count; i++)
            if (!(out[i] = strdup(raw[i] ? raw[i] : ""))) rc = bienc_error(BIENC_ENOMEM, "out of memory reading %s", name);
        if (count && (space = H5Dget_space(d)) >= 0) {
#if H5_VERSION_GE(1, 12, 0)
            H5Treclaim(mem, space, H5P_DEFAULT, raw);
#else
            H5Dvlen_reclaim(mem, space, H5P_DEFAULT, raw);
#endif
        }
    }
    if (space >= 0) H5Sclose(space);
    if (mem >= 0) H5Tclose(mem);
    free(raw);
    return rc;
}

/* Fixed-length strings (what bienc writes): one block of count * width bytes, NUL-padded. */
static int read_fixed_strings(const bienc_ckpt *c, const char *name, hid_t d, hid_t type, size_t count, char **out)
{
    size_t width = H5Tget_size(type);
    if (width == 0 || (count && width > ((size_t)1 << 34) / count))
        return bienc_error(BIENC_EFORMAT, "%s: %s: %zu strings of %zu bytes is not a plausible list", c->path, name,
                           count, width);
    char *block = malloc(count * width + 1);
    hid_t mem = H5Tcopy(type);
    int rc = 0;
    if (!block || mem < 0) rc = bienc_error(BIENC_ENOMEM, "%s: %s: cannot hold %zu strings", c->path, name, count);
    else if (count && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, block) < 0)
        rc = bienc_error(BIENC_EFORMAT, "%s: cannot read %s (corrupt data or checksum mismatch)", c->path, name);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *s = block + i * width;
        size_t len = strnlen(s, width);
        if (!(out[i] = malloc(len + 1))) rc = bienc_error(BIENC_ENOMEM, "out of memory reading %s", name);
        else {
            memcpy(out[i], s, len);
            out[i][len] = '\0';
        }
    }
    if (mem >= 0) H5Tclose(mem);
    free(block);
    return rc;
}

int ckpt_read_strings(const bienc_ckpt *c, const char *name, char ***strings, size_t *n)
{
    BIENC_ASSERT(c && strings && n);
    *strings = NULL;
    *n = 0;
    h5_quiet q;
    h5_quiet_begin(&q);
    hid_t d, type = H5I_INVALID_HID;
    int nd = 0;
    int64_t shape[BIENC_CKPT_MAX_DIMS];
    char **out = NULL;
    size_t count = 0;
    int rc = reader_dataset(c, name, "string list", &d, &nd, shape);
    if (rc == 0) {
        type = H5Dget_type(d);
        count = nd == 1 ? (size_t)shape[0] : 0;
        if (nd != 1) rc = bienc_error(BIENC_EFORMAT, "%s: %s is not a 1-D list (rank %d)", c->path, name, nd);
        else if (type < 0 || H5Tget_class(type) != H5T_STRING)
            rc = bienc_error(BIENC_EFORMAT, "%s: %s is not a list of strings", c->path, name);
        else if (count > ((size_t)1 << 32) || !(out = calloc(count ? count : 1, sizeof *out)))
            rc = bienc_error(BIENC_ENOMEM, "%s: %s: cannot hold %zu strings", c->path, name, count);
        else if (H5Tis_variable_str(type) > 0)
            rc = read_vlen_strings(c, name, d, count, out);
        else
            rc = read_fixed_strings(c, name, d, type, count, out);
    }
    if (type >= 0) H5Tclose(type);
    if (d >= 0) H5Dclose(d);
    h5_quiet_end(&q);
    if (rc < 0) {
        ckpt_free_strings(out, count);
        return rc;
    }
    *strings = out;
    *n = count;
    return 0;
}

typedef struct list_ctx {
    const bienc_ckpt *c;
    const char *prefix;
    char **names;
    size_t n, cap;
    int rc;
} list_ctx;

static herr_t list_visit(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    list_ctx *ctx = data;
    if (info->type != H5L_TYPE_HARD) return 0; /* no soft or external links in our files */
    hid_t o = H5Oopen(group, name, H5P_DEFAULT);
    int is_dataset = o >= 0 && H5Iget_type(o) == H5I_DATASET;
    if (o >= 0) H5Oclose(o);
    if (!is_dataset) return 0;
    if (ctx->n == ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 64;
        char **names = realloc(ctx->names, cap * sizeof *names);
        if (!names) goto oom;
        ctx->names = names;
        ctx->cap = cap;
    }
    size_t lp = strlen(ctx->prefix), ln = strlen(name);
    char *full = malloc(lp + ln + 2);
    if (!full) goto oom;
    if (lp) sprintf(full, "%s/%s", ctx->prefix, name);
    else memcpy(full, name, ln + 1);
    ctx->names[ctx->n++] = full;
    return 0;
oom:
    ctx->rc = bienc_error(BIENC_ENOMEM, "out of memory listing %s", ctx->c->path);
    return -1;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ckpt_list_tensors(const bienc_ckpt *c, const char *prefix, char ***names, size_t *n)
{
    BIENC_ASSERT(c && names && n);
    *names = NULL;
    *n = 0;
    if (!prefix) prefix = "";
    if (*prefix) BIENC_TRY(ckpt_check_name(c->path, "group", prefix));
    h5_quiet q;
    h5_quiet_begin(&q);
    list_ctx ctx = {.c = c, .prefix = prefix};
    hid_t g = H5I_INVALID_HID;
    if (*prefix && !ckpt_path_exists(c->file, prefix))
        ctx.rc = bienc_error(BIENC_ENOTFOUND, "%s: no group %s", c->path, prefix);
    else if ((g = H5Gopen2(c->file, *prefix ? prefix : "/", H5P_DEFAULT)) < 0)
        ctx.rc = bienc_error(BIENC_EFORMAT, "%s: %s is not a group", c->path, prefix);
    else if (H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, list_visit, &ctx) < 0 && ctx.rc == 0)
        ctx.rc = bienc_error(BIENC_EFORMAT, "%s: cannot list %s", c->path, *prefix ? prefix : "the file");
    if (g >= 0) H5Gclose(g);
    h5_quiet_end(&q);
    if (ctx.rc < 0) {
        ckpt_free_strings(ctx.names, ctx.n);
        return ctx.rc;
    }
    if (ctx.n) qsort(ctx.names, ctx.n, sizeof *ctx.names, name_cmp);
    *names = ctx.names;
    *n = ctx.n;
    return 0;
}
