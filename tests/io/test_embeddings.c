/* Embeddings HDF5 files: streaming write in batches then validated read; files made
 * with the raw HDF5 API in other shapes/types (fixed-length and integer ids, a bool
 * attribute like h5py's) are read; malformed ones are rejected with a named reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/embeddings.h"
#include "core/error.h"

static char path[256];

static void make_path(const char *tag) { snprintf(path, sizeof path, "test_emb_%s_%d.h5", tag, (int)getpid()); }

static void test_write_read_batches(void **state)
{
    (void)state;
    make_path("rt");
    bienc_emb_writer *w;
    assert_int_equal(emb_writer_open(&w, path, 5, 1), 0);
    float x[1000 * 5];
    char buf[1000][16];
    const char *ids[1000];
    for (int i = 0; i < 1000; i++) {
        for (int j = 0; j < 5; j++) x[i * 5 + j] = (float)(i * 5 + j) * 0.25f;
        snprintf(buf[i], 16, "doc-%d", i);
        ids[i] = buf[i];
    }
    /* three uneven batches, as an encoder streaming its output would write */
    assert_int_equal(emb_writer_append(w, x, ids, 3), 0);
    assert_int_equal(emb_writer_append(w, x + 3 * 5, ids + 3, 0), 0);
    assert_int_equal(emb_writer_append(w, x + 3 * 5, ids + 3, 900), 0);
    assert_int_equal(emb_writer_append(w, x + 903 * 5, ids + 903, 97), 0);
    assert_int_equal(emb_writer_close(w), 0);
    bienc_embeddings e;
    assert_int_equal(emb_read(path, &e), 0);
    assert_int_equal(e.n, 1000);
    assert_int_equal(e.dim, 5);
    assert_int_equal(e.normalized, 1);
    assert_memory_equal(e.data, x, sizeof x);
    for (int i = 0; i < 1000; i++) assert_string_equal(e.ids[i], buf[i]);
    emb_free(&e);
    emb_free(&e); /* a freed struct is empty: freeing again is harmless */
    /* no attribute, zero rows */
    assert_int_equal(emb_writer_open(&w, path, 3, -1), 0);
    assert_int_equal(emb_writer_close(w), 0);
    assert_int_equal(emb_read(path, &e), 0);
    assert_int_equal(e.n, 0);
    assert_int_equal(e.dim, 3);
    assert_int_equal(e.normalized, -1);
    emb_free(&e);
    assert_int_equal(emb_writer_close(NULL), 0);
    assert_int_equal(emb_writer_open(&w, path, 0, 0), BIENC_EINVAL);
    unlink(path);
}

/* Writes a file with the raw HDF5 API: emb [rows, cols] of float type ftype (rank 2,
 * or rank 1 when cols == 0), ids of `idtype` with `nids` entries (skipped if nids < 0). */
static void raw_file(hsize_t rows, hsize_t cols, hid_t ftype, hid_t idtype, long nids, const void *ids, int attr_bool,
                     float fill)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {rows, cols};
    hid_t s = H5Screate_simple(cols ? 2 : 1, dims, NULL);
    hid_t d = H5Dcreate2(f, "embeddings", ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float *x = malloc(sizeof(float) * rows * (cols ? cols : 1));
    for (hsize_t i = 0; i < rows * (cols ? cols : 1); i++) x[i] = fill;
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    free(x);
    H5Dclose(d);
    H5Sclose(s);
    if (nids >= 0) {
        hsize_t n = (hsize_t)nids;
        s = H5Screate_simple(1, &n, NULL);
        d = H5Dcreate2(f, "ids", idtype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t mt = H5Tget_class(idtype) == H5T_INTEGER ? H5T_NATIVE_LLONG : idtype;
        H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids);
        H5Dclose(d);
        H5Sclose(s);
    }
    if (attr_bool) {
        /* h5py's bool: an int8 enum with FALSE=0, TRUE=1 */
        hid_t et = H5Tenum_create(H5T_NATIVE_SCHAR);
        signed char v0 = 0, v1 = 1;
        H5Tenum_insert(et, "FALSE", &v0);
        H5Tenum_insert(et, "TRUE", &v1);
        hid_t as = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(f, "normalized", et, as, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, et, &v1);
        H5Aclose(a);
        H5Sclose(as);
        H5Tclose(et);
    }
    H5Fclose(f);
}

static void test_other_writers(void **state)
{
    (void)state;
    make_path("raw");
    /* fixed-length string ids + h5py-style bool attribute */
    hid_t fixed = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, 4);
    const char fx[3 * 4] = {'a', 'b', 0, 0, 'c', 'd', 'e', 'f', 'g', 0, 0, 0};
    raw_file(3, 2, H5T_IEEE_F32LE, fixed, 3, fx, 1, 0.5f);
    bienc_embeddings e;
    assert_int_equal(emb_read(path, &e), 0);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.ids[0], "ab");
    assert_string_equal(e.ids[1], "cdef");
    assert_string_equal(e.ids[2], "g");
    assert_int_equal(e.normalized, 1);
    emb_free(&e);
    /* integer ids, float64 data (converted) */
    long long iid[2] = {7, 123456789012LL};
    raw_file(2, 3, H5T_IEEE_F64LE, H5T_STD_I64LE, 2, iid, 0, 1.5f);
    assert_int_equal(emb_read(path, &e), 0);
    assert_string_equal(e.ids[1], "123456789012");
    assert_float_equal(e.data[5], 1.5f, 0);
    assert_int_equal(e.normalized, -1);
    emb_free(&e);

    /* malformed: each error names the file and the problem */
    raw_file(2, 3, H5T_IEEE_F32LE, H5T_STD_I64LE, 3, (long long[]){1, 2, 3}, 0, 0);
    assert_int_equal(emb_read(path, &e), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "/ids has 3 entries"));
    assert_non_null(strstr(bienc_last_error(), path));
    raw_file(2, 3, H5T_IEEE_F32LE, H5T_STD_I64LE, -1, NULL, 0, 0);
    assert_int_equal(emb_read(path, &e), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "no dataset /ids"));
    raw_file(4, 0, H5T_IEEE_F32LE, H5T_STD_I64LE, 4, (long long[]){1, 2, 3, 4}, 0, 0);
    assert_int_equal(emb_read(path, &e), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "rank 2"));
    raw_file(2, 2, H5T_STD_I32LE, H5T_STD_I64LE, 2, (long long[]){1, 2}, 0, 0);
    assert_int_equal(emb_read(path, &e), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "floats"));
    raw_file(2, 2, H5T_IEEE_F32LE, H5T_STD_I64LE, 2, (long long[]){1, 2}, 0, NAN);
    assert_int_equal(emb_read(path, &e), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "not finite"));
    H5Tclose(fixed);

    /* not HDF5 at all, and missing */
    FILE *f = fopen(path, "w");
    fputs("id\tvector\n1\t0.5 0.5\n", f);
    fclose(f);
    assert_int_equal(emb_read(path, &e), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "not an HDF5 file"));
    unlink(path);
    assert_int_equal(emb_read(path, &e), BIENC_ENOTFOUND);
    assert_null(e.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_batches),
        cmocka_unit_test(test_other_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
