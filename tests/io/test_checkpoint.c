/* HDF5 checkpoints: bit-exact round trips, atomic commit, truncated / corrupt / foreign files,
 * shape and type checks, names, keep-last-K + best pruning, and HDF5 kept quiet on stderr. */
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/checkpoint.h"
#include "core/error.h"
#include "core/tensor.h"

static char tmpdir[] = "/tmp/bienc_test_ckpt_XXXXXX";

static const char *tpath(const char *name)
{
    static char buf[8][600];
    static int slot;
    char *p = buf[slot++ & 7];
    snprintf(p, 600, "%s/%s", tmpdir, name);
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Asserts success, showing the library's message otherwise. */
#define OK(expr)                                                                                   \
    do {                                                                                           \
        int ok_rc_ = (expr);                                                                       \
        if (ok_rc_ != 0) fail_msg("%s -> %d: %s", #expr, ok_rc_, bienc_last_error());              \
    } while (0)

static void expect_msg(const char *needle)
{
    if (!strstr(bienc_last_error(), needle)) fail_msg("message '%s' lacks '%s'", bienc_last_error(), needle);
}

/* Awkward float bit patterns: signed zero, denormal, infinities, NaN with a payload. */
static void fill_pattern(float *x, size_t n, uint32_t seed)
{
    const uint32_t special[] = {0x80000000u, 0x00000001u, 0x7f800000u, 0xff800000u, 0x7fc12345u, 0x3f800000u};
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)(i * 2654435761u + seed);
        bits = (bits & 0x807fffffu) | (((bits >> 23) % 200 + 28) << 23); /* a finite normal */
        if (i < 6) bits = special[i];
        memcpy(&x[i], &bits, 4);
    }
}

static const char *const vocab[] = {"[PAD]", "[UNK]", "[CLS]", "the", "##ing", "", "naïve", "日本", "a b\tc"};
#define VOCAB_N (sizeof vocab / sizeof vocab[0])

/* A checkpoint holding a bit of everything; returns 0 or the failing status. */
static void write_sample(const char *path, int64_t step)
{
    bienc_ckpt_writer *w;
    OK(ckpt_writer_open(&w, path));
    float big[6 * 7 * 2], vec[5], scalar = 2.5f;
    fill_pattern(big, 84, 1);
    fill_pattern(vec, 5, 7);
    int64_t s3[3] = {6, 7, 2}, s1[1] = {5}, s0[2] = {0, 4};
    OK(ckpt_write_tensor(w, "params/encoder.layer.0.attention.self.query.weight", 3, s3, big));
    OK(ckpt_write_tensor(w, "params/embeddings.LayerNorm.bias", 1, s1, vec));
    OK(ckpt_write_tensor(w, "optim/m/embeddings.LayerNorm.bias", 1, s1, vec));
    OK(ckpt_write_tensor(w, "scalar", 0, NULL, &scalar));
    OK(ckpt_write_tensor(w, "params/empty", 2, s0, NULL));
    bienc_tensor *t;
    int64_t ts[2] = {3, 4};
    OK(tensor_new(&t, 2, ts, 0));
    for (int i = 0; i < 12; i++) t->data[i] = (float)i / 3.0f;
    OK(tensor_set_name(t, "pooler.dense.weight"));
    OK(ckpt_write_param(w, t));
    tensor_free(t);
    OK(ckpt_write_int64(w, "step", step));
    OK(ckpt_write_int64(w, "model/hidden_size", 384));
    OK(ckpt_write_int64(w, "model/min", INT64_MIN));
    OK(ckpt_write_double(w, "train/lr", 3e-5));
    OK(ckpt_write_double(w, "train/negzero", -0.0));
    OK(ckpt_write_string(w, "model/pooling", "mean"));
    OK(ckpt_write_string(w, "model/note", "ünïcødé ✓"));
    const uint64_t rng[4] = {UINT64_MAX, 0, 0x0123456789abcdefull, 42};
    const int64_t pos[3] = {-1, 7, INT64_MAX};
    OK(ckpt_write_uint64s(w, "rng/state", rng, 4));
    OK(ckpt_write_int64s(w, "data/position", pos, 3));
    OK(ckpt_write_int64s(w, "data/none", NULL, 0));
    OK(ckpt_write_strings(w, "vocab", vocab, VOCAB_N));
    OK(ckpt_writer_commit(w));
}

static void test_roundtrip(void **state)
{
    (void)state;
    const char *p = tpath("rt.h5");
    write_sample(p, 1234);
    assert_false(file_exists(tpath("rt.h5.tmp")));
    bienc_ckpt *c;
    assert_int_equal(ckpt_open(&c, p), 0);
    assert_int_equal(ckpt_version(c), BIENC_CKPT_VERSION);
    assert_string_equal(ckpt_path(c), p);

    float want[84], got[84], vwant[5], vgot[5], s = 0.0f;
    fill_pattern(want, 84, 1);
    fill_pattern(vwant, 5, 7);
    int64_t s3[3] = {6, 7, 2}, s1[1] = {5};
    assert_int_equal(ckpt_read_tensor(c, "params/encoder.layer.0.attention.self.query.weight", 3, s3, got), 0);
    assert_memory_equal(got, want, sizeof want); /* bit for bit, NaN payload included */
    assert_int_equal(ckpt_read_tensor(c, "optim/m/embeddings.LayerNorm.bias", 1, s1, vgot), 0);
    assert_memory_equal(vgot, vwant, sizeof vwant);
    assert_int_equal(ckpt_read_tensor(c, "scalar", 0, NULL, &s), 0);
    assert_true(s == 2.5f);
    int64_t s0[2] = {0, 4};
    assert_int_equal(ckpt_read_tensor(c, "params/empty", 2, s0, NULL), 0);

    bienc_tensor *t;
    int64_t ts[2] = {3, 4};
    assert_int_equal(tensor_new(&t, 2, ts, 0), 0);
    assert_int_equal(tensor_set_name(t, "pooler.dense.weight"), 0);
    assert_int_equal(ckpt_read_param(c, t), 0);
    for (int i = 0; i < 12; i++) assert_true(t->data[i] == (float)i / 3.0f);
    tensor_free(t);

    int nd;
    int64_t shape[BIENC_CKPT_MAX_DIMS];
    assert_int_equal(ckpt_tensor_shape(c, "params/encoder.layer.0.attention.self.query.weight", &nd, shape), 0);
    assert_int_equal(nd, 3);
    assert_true(shape[0] == 6 && shape[1] == 7 && shape[2] == 2);

    int64_t i64;
    double d;
    char *str;
    assert_int_equal(ckpt_read_int64(c, "step", &i64), 0);
    assert_true(i64 == 1234);
    assert_int_equal(ckpt_read_int64(c, "model/hidden_size", &i64), 0);
    assert_true(i64 == 384);
    assert_int_equal(ckpt_read_int64(c, "model/min", &i64), 0);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(ckpt_read_double(c, "train/lr", &d), 0);
    assert_true(d == 3e-5);
    assert_int_equal(ckpt_read_double(c, "train/negzero", &d), 0);
    assert_true(d == 0.0 && signbit(d));
    assert_int_equal(ckpt_read_double(c, "model/hidden_size", &d), 0); /* integers convert */
    assert_true(d == 384.0);
    assert_int_equal(ckpt_read_string(c, "model/pooling", &str), 0);
    assert_string_equal(str, "mean");
    free(str);
    assert_int_equal(ckpt_read_string(c, "model/note", &str), 0);
    assert_string_equal(str, "ünïcødé ✓");
    free(str);
    assert_int_equal(ckpt_read_string(c, "format", &str), 0);
    assert_string_equal(str, "bienc-checkpoint");
    free(str);
    uint64_t rng[4];
    int64_t pos[3];
    assert_int_equal(ckpt_read_uint64s(c, "rng/state", rng, 4), 0);
    assert_true(rng[0] == UINT64_MAX && rng[1] == 0 && rng[2] == 0x0123456789abcdefull && rng[3] == 42);
    assert_int_equal(ckpt_read_int64s(c, "data/position", pos, 3), 0);
    assert_true(pos[0] == -1 && pos[1] == 7 && pos[2] == INT64_MAX);
    assert_int_equal(ckpt_read_int64s(c, "data/none", NULL, 0), 0);

    char **v;
    size_t n;
    assert_int_equal(ckpt_read_strings(c, "vocab", &v, &n), 0);
    assert_int_equal(n, VOCAB_N);
    for (size_t i = 0; i < n; i++) assert_string_equal(v[i], vocab[i]);
    ckpt_free_strings(v, n);

    assert_int_equal(ckpt_list_tensors(c, "params", &v, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(v[0], "params/embeddings.LayerNorm.bias"); /* sorted */
    assert_string_equal(v[1], "params/empty");
    assert_string_equal(v[2], "params/encoder.layer.0.attention.self.query.weight");
    assert_string_equal(v[3], "params/pooler.dense.weight");
    ckpt_free_strings(v, n);
    assert_int_equal(ckpt_list_tensors(c, "", &v, &n), 0);
    assert_int_equal(n, 7); /* 4 params, the optimiser moment, the scalar and the vocab */
    ckpt_free_strings(v, n);
    assert_int_equal(ckpt_list_tensors(c, "optim/v", &v, &n), BIENC_ENOTFOUND);

    assert_int_equal(ckpt_has_tensor(c, "params/empty"), 1);
    assert_int_equal(ckpt_has_tensor(c, "params/nope"), 0);
    assert_int_equal(ckpt_has_tensor(c, "nope/deeper/still"), 0);
    assert_int_equal(ckpt_has_tensor(c, "params"), 0); /* a group, not a tensor */
    assert_int_equal(ckpt_has_attr(c, "model/pooling"), 1);
    assert_int_equal(ckpt_has_attr(c, "model/absent"), 0);
    ckpt_close(c);
    ckpt_close(NULL);
}

/* Type and shape checks name the item, the file and the shapes. */
static void test_checks(void **state)
{
    (void)state;
    const char *p = tpath("checks.h5");
    write_sample(p, 1);
    bienc_ckpt *c;
    assert_int_equal(ckpt_open(&c, p), 0);
    float buf[84];
    int64_t wrong[3] = {7, 6, 2}, rank2[2] = {42, 2};
    const char *q = "params/encoder.layer.0.attention.self.query.weight";
    assert_int_equal(ckpt_read_tensor(c, q, 3, wrong, buf), BIENC_ESHAPE);
    expect_msg(q);
    expect_msg("[6, 7, 2]");
    expect_msg("[7, 6, 2]");
    expect_msg("checks.h5");
    assert_int_equal(ckpt_read_tensor(c, q, 2, rank2, buf), BIENC_ESHAPE);
    expect_msg("[42, 2]");
    assert_int_equal(ckpt_read_tensor(c, "params/missing.weight", 2, rank2, buf), BIENC_ENOTFOUND);
    expect_msg("params/missing.weight");
    expect_msg("checks.h5");
    assert_int_equal(ckpt_read_tensor(c, "vocab", 1, (int64_t[]){9}, buf), BIENC_EFORMAT); /* strings */
    expect_msg("not a float tensor");

    int64_t i64;
    double d;
    char *s;
    uint64_t u[4];
    assert_int_equal(ckpt_read_int64(c, "model/pooling", &i64), BIENC_EFORMAT);
    expect_msg("model/pooling");
    assert_int_equal(ckpt_read_int64(c, "train/lr", &i64), BIENC_EFORMAT); /* a double is not an integer */
    assert_int_equal(ckpt_read_string(c, "step", &s), BIENC_EFORMAT);
    expect_msg("not a string");
    assert_int_equal(ckpt_read_double(c, "model/pooling", &d), BIENC_EFORMAT);
    assert_int_equal(ckpt_read_uint64s(c, "rng/state", u, 3), BIENC_EFORMAT);
    expect_msg("4 values, expected 3");
    assert_int_equal(ckpt_read_int64(c, "rng/state", &i64), BIENC_EFORMAT); /* an array, not a scalar */
    assert_int_equal(ckpt_read_int64(c, "model/absent", &i64), BIENC_ENOTFOUND);
    expect_msg("model/absent");
    assert_int_equal(ckpt_read_int64(c, "nosuchgroup/x", &i64), BIENC_ENOTFOUND);
    char **v;
    size_t n;
    assert_int_equal(ckpt_read_strings(c, "scalar", &v, &n), BIENC_EFORMAT);
    assert_int_equal(ckpt_read_strings(c, "novocab", &v, &n), BIENC_ENOTFOUND);
    ckpt_close(c);
}

static void test_names(void **state)
{
    (void)state;
    bienc_ckpt_writer *w;
    const char *p = tpath("names.h5");
    assert_int_equal(ckpt_writer_open(&w, p), 0);
    float x = 1.0f;
    int64_t one[1] = {1};
    const char *bad[] = {"", "/abs", "a//b", "a/./b", "../x", "a/", "x/.."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ckpt_write_tensor(w, bad[i], 1, one, &x), BIENC_EINVAL);
        assert_int_equal(ckpt_write_int64(w, bad[i], 1), BIENC_EINVAL);
    }
    assert_int_equal(ckpt_write_string(w, "format", "x"), BIENC_EINVAL);
    assert_int_equal(ckpt_write_int64(w, "version", 9), BIENC_EINVAL);
    assert_int_equal(ckpt_write_tensor(w, "t", 9, (int64_t[9]){1, 1, 1, 1, 1, 1, 1, 1, 1}, &x), BIENC_EINVAL);
    assert_int_equal(ckpt_write_tensor(w, "t", 1, (int64_t[]){-1}, &x), BIENC_EINVAL);
    assert_int_equal(ckpt_write_tensor(w, "a/t", 1, one, &x), 0);
    assert_int_equal(ckpt_write_tensor(w, "a/t", 1, one, &x), BIENC_EINVAL);
    expect_msg("written twice");
    assert_int_equal(ckpt_write_int64(w, "a/k", 1), 0);
    assert_int_equal(ckpt_write_int64(w, "a/k", 2), BIENC_EINVAL);
    assert_int_equal(ckpt_write_int64(w, "a/t/on_dataset", 3), 0); /* attributes may sit on a tensor */
    assert_int_equal(ckpt_write_strings(w, "v", (const char *[]){"x", NULL}, 2), BIENC_EINVAL);
    ckpt_writer_abort(w);
    assert_false(file_exists(p));
    ckpt_writer_abort(NULL);
}

/* Nothing appears under the final name before commit; an existing checkpoint stays intact
 * until then; abort and a crash (a child exiting without commit) leave the old state. */
static void test_atomic(void **state)
{
    (void)state;
    const char *p = tpath("step-1.h5"), *tmp = tpath("step-1.h5.tmp");
    bienc_ckpt_writer *w;
    assert_int_equal(ckpt_writer_open(&w, p), 0);
    assert_int_equal(ckpt_write_int64(w, "step", 1), 0);
    assert_true(file_exists(tmp));
    assert_false(file_exists(p));
    ckpt_writer_abort(w);
    assert_false(file_exists(p));
    assert_false(file_exists(tmp));

    write_sample(p, 1);
    /* A leftover temporary file from a crash is simply overwritten. */
    FILE *f = fopen(tmp, "w");
    fputs("garbage", f);
    fclose(f);
    assert_int_equal(ckpt_writer_open(&w, p), 0);
    assert_int_equal(ckpt_write_int64(w, "step", 2), 0);
    bienc_ckpt *c;
    int64_t step;
    assert_int_equal(ckpt_open(&c, p), 0); /* still the old one */
    assert_int_equal(ckpt_read_int64(c, "step", &step), 0);
    assert_true(step == 1);
    ckpt_close(c);
    ckpt_writer_abort(w);
    assert_int_equal(ckpt_open(&c, p), 0); /* abort kept it */
    assert_int_equal(ckpt_read_int64(c, "step", &step), 0);
    assert_true(step == 1);
    ckpt_close(c);

    assert_int_equal(ckpt_writer_open(&w, p), 0);
    assert_int_equal(ckpt_write_int64(w, "step", 2), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    assert_false(file_exists(tmp));
    assert_int_equal(ckpt_open(&c, p), 0);
    assert_int_equal(ckpt_read_int64(c, "step", &step), 0);
    assert_true(step == 2);
    ckpt_close(c);

    /* Crash mid-write: the child dies without committing. */
    const char *p3 = tpath("step-3.h5");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bienc_ckpt_writer *cw;
        float big[4096] = {0};
        int64_t s[1] = {4096};
        if (ckpt_writer_open(&cw, p3) == 0) ckpt_write_tensor(cw, "params/x", 1, s, big);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_false(file_exists(p3));
    assert_true(file_exists(tpath("step-3.h5.tmp")));
    int64_t latest;
    assert_int_equal(ckpt_latest_step(tmpdir, &latest), 0);
    assert_true(latest == 1); /* step-1.h5 only: the .tmp does not count */
    unlink(tpath("step-3.h5.tmp"));
    unlink(p);
    assert_int_equal(ckpt_writer_commit(NULL), BIENC_ESTATE);
    assert_int_equal(ckpt_writer_open(&w, "/nonexistent-dir/x.h5"), BIENC_EIO);
    expect_msg("/nonexistent-dir/x.h5.tmp");
}

static long copy_prefix(const char *src, const char *dst, long len)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    long done = 0;
    size_t n;
    while (done < len && (n = fread(buf, 1, sizeof buf, in)) > 0) {
        size_t take = (size_t)(len - done) < n ? (size_t)(len - done) : n;
        fwrite(buf, 1, take, out);
        done += (long)take;
    }
    fclose(in);
    fclose(out);
    return done;
}

/* Truncated at many lengths: always a clean BIENC_EFORMAT naming the file, never a crash. */
static void test_truncated(void **state)
{
    (void)state;
    const char *p = tpath("full.h5"), *t = tpath("trunc.h5");
    write_sample(p, 5);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    long size = (long)st.st_size;
    long lens[] = {0, 1, 4, 8, 64, 96, 200, 512, 1024, 2048, size / 4, size / 3, size / 2,
                   (2 * size) / 3, size - 512, size - 100, size - 16, size - 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        if (lens[i] < 0 || lens[i] >= size) continue;
        copy_prefix(p, t, lens[i]);
        bienc_ckpt *c = (bienc_ckpt *)1;
        int rc = ckpt_open(&c, t);
        if (rc != BIENC_EFORMAT) fail_msg("truncated at %ld of %ld: ckpt_open gave %d (%s)", lens[i], size, rc,
                                          bienc_last_error());
        assert_null(c);
        expect_msg("trunc.h5");
        if (lens[i] >= 1024) expect_msg("truncated"); /* the whole-file checksum block knows the size */
    }
    assert_true(copy_prefix(p, t, size) == size);
    bienc_ckpt *c;
    assert_int_equal(ckpt_open(&c, t), 0); /* the untruncated copy is fine */
    ckpt_close(c);
}

/* Bytes flipped inside a tensor's data: the Fletcher-32 checksum catches it on read. */
static void test_corrupt_data(void **state)
{
    (void)state;
    const char *p = tpath("corrupt.h5");
    enum { N = 1000 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = 1000.0f + (float)i;
    bienc_ckpt_writer *w;
    assert_int_equal(ckpt_writer_open(&w, p), 0);
    int64_t s[1] = {N};
    assert_int_equal(ckpt_write_tensor(w, "params/w", 1, s, x), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    FILE *f = fopen(p, "r+b");
    static unsigned char bytes[1 << 16];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    unsigned char *hit = memmem(bytes, n, &x[500], 8);
    assert_non_null(hit);
    fseek(f, (long)(hit - bytes), SEEK_SET);
    fputc(hit[0] ^ 0x40, f);
    fclose(f);
    /* the whole-file checksum catches it before HDF5 reads anything (the tensor's own
     * Fletcher-32 would too, later) */
    bienc_ckpt *c = (bienc_ckpt *)1;
    assert_int_equal(ckpt_open(&c, p), BIENC_EFORMAT);
    assert_null(c);
    expect_msg("corrupt checkpoint");
    expect_msg("checksum");
}

static void write_foreign(const char *path, const char *format, int64_t version)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t dims[2] = {2, 3};
    double data[6] = {1, 2, 3, 4, 5, 6};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "data", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
    H5Sclose(sp);
    hid_t scalar = H5Screate(H5S_SCALAR);
    if (format) {
        /* Fixed-length string, as many tools write it (ours are variable-length). */
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, strlen(format));
        hid_t a = H5Acreate2(f, "format", st, scalar, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, st, format);
        H5Aclose(a);
        H5Tclose(st);
    }
    if (version) {
        hid_t a = H5Acreate2(f, "version", H5T_STD_I32LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
        int32_t v = (int32_t)version;
        H5Awrite(a, H5T_NATIVE_INT32, &v);
        H5Aclose(a);
    }
    H5Sclose(scalar);
    H5Fclose(f);
}

static void test_foreign(void **state)
{
    (void)state;
    bienc_ckpt *c = (bienc_ckpt *)1;
    const char *p = tpath("foreign.h5");
    write_foreign(p, NULL, 0);
    assert_int_equal(ckpt_open(&c, p), BIENC_EFORMAT);
    assert_null(c);
    expect_msg("foreign.h5");
    expect_msg("not a bienc checkpoint");
    write_foreign(p, "keras-model", 1);
    assert_int_equal(ckpt_open(&c, p), BIENC_EFORMAT);
    expect_msg("keras-model");
    write_foreign(p, "bienc-checkpoint", 2); /* a future version */
    assert_int_equal(ckpt_open(&c, p), BIENC_EFORMAT);
    expect_msg("version 2");
    write_foreign(p, "bienc-checkpoint", 0); /* marker without a version */
    assert_int_equal(ckpt_open(&c, p), BIENC_EFORMAT);
    expect_msg("version");
    write_foreign(p, "bienc-checkpoint", 1); /* marker right: fixed-length strings and int32 are fine */
    assert_int_equal(ckpt_open(&c, p), 0);
    int64_t two[2] = {2, 3};
    float buf[6];
    assert_int_equal(ckpt_read_tensor(c, "data", 2, two, buf), 0); /* float64 converts */
    assert_true(buf[5] == 6.0f);
    ckpt_close(c);

    const char *txt = tpath("text.h5");
    FILE *f = fopen(txt, "w");
    fputs("this is not HDF5 at all, just text pretending\n", f);
    fclose(f);
    assert_int_equal(ckpt_open(&c, txt), BIENC_EFORMAT);
    expect_msg("not an HDF5 file");
    assert_int_equal(ckpt_open(&c, tpath("absent.h5")), BIENC_ENOTFOUND);
    expect_msg("absent.h5");
    assert_int_equal(ckpt_open(&c, tmpdir), BIENC_EIO);
}

/* HDF5 must not print its error stack: our message is the only report. */
static void test_quiet(void **state)
{
    (void)state;
    const char *err = tpath("stderr.txt"), *p = tpath("quiet.h5");
    write_foreign(p, NULL, 0);
    fflush(stderr);
    int saved = dup(2), fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    bienc_ckpt *c;
    int rc1 = ckpt_open(&c, p);
    copy_prefix(p, tpath("quiet-trunc.h5"), 700);
    int rc2 = ckpt_open(&c, tpath("quiet-trunc.h5"));
    write_sample(tpath("quiet-ok.h5"), 1);
    int rc3 = ckpt_open(&c, tpath("quiet-ok.h5"));
    int64_t v;
    int rc4 = rc3 == 0 ? ckpt_read_int64(c, "no/such", &v) : 0;
    float x[2];
    int rc5 = rc3 == 0 ? ckpt_read_tensor(c, "no/such/tensor", 1, (int64_t[]){2}, x) : 0;
    if (rc3 == 0) ckpt_close(c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(rc1, BIENC_EFORMAT);
    assert_int_equal(rc2, BIENC_EFORMAT);
    assert_int_equal(rc3, 0);
    assert_int_equal(rc4, BIENC_ENOTFOUND);
    assert_int_equal(rc5, BIENC_ENOTFOUND);
    struct stat st;
    assert_int_equal(stat(err, &st), 0);
    assert_int_equal(st.st_size, 0);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)size + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return b;
}

/* Same content, same bytes: no timestamps in the file (a resumed run can be compared with
 * `cmp`). The second write happens more than a second later on purpose. */
static void test_reproducible(void **state)
{
    (void)state;
    write_sample(tpath("rep1.h5"), 9);
    sleep(1);
    write_sample(tpath("rep2.h5"), 9);
    size_t n1, n2;
    unsigned char *a = slurp(tpath("rep1.h5"), &n1), *b = slurp(tpath("rep2.h5"), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

/* Random byte flips anywhere in a checkpoint: every open/list/read either works or fails with a
 * message, in a child process so that a crash or hang inside libhdf5 is caught and counted.
 * (With variable-length strings, about 1% of such files crashed libhdf5; none may now.) */
static void test_mutations(void **state)
{
    (void)state;
    const char *p = tpath("mut-src.h5"), *m = tpath("mut.h5");
    write_sample(p, 3);
    size_t n;
    unsigned char *orig = slurp(p, &n), *buf = malloc(n);
    assert_non_null(buf);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int crashed = 0, opened = 0;
    for (int it = 0; it < 200; it++) {
        memcpy(buf, orig, n);
        for (int k = 0; k < 1 + it % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: a fixed sequence */
            buf[x % n] ^= (unsigned char)(1 + (x >> 32) % 255);
        }
        FILE *f = fopen(m, "wb");
        fwrite(buf, 1, n, f);
        fclose(f);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(10);
            bienc_ckpt *c;
            if (ckpt_open(&c, m) < 0) _exit(2);
            char **names, **v, *s;
            size_t nn, nv;
            if (ckpt_list_tensors(c, "", &names, &nn) == 0) {
                for (size_t i = 0; i < nn; i++) {
                    int nd;
                    int64_t sh[BIENC_CKPT_MAX_DIMS], cnt = 1;
                    if (ckpt_tensor_shape(c, names[i], &nd, sh) < 0) continue;
                    for (int d = 0; d < nd; d++) cnt *= sh[d];
                    if (cnt < 0 || cnt > 1000000) continue;
                    float *t = malloc((size_t)(cnt ? cnt : 1) * sizeof *t);
                    ckpt_read_tensor(c, names[i], nd, sh, t);
                    free(t);
                }
                ckpt_free_strings(names, nn);
            }
            if (ckpt_read_strings(c, "vocab", &v, &nv) == 0) ckpt_free_strings(v, nv);
            if (ckpt_read_string(c, "model/note", &s) == 0) free(s);
            ckpt_close(c);
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        crashed += WIFSIGNALED(status);
        opened += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    free(orig);
    free(buf);
    if (crashed) fail_msg("%d of 200 corrupted checkpoints crashed or hung the reader", crashed);
    /* every byte is under the whole-file checksum: each mutation is refused at ckpt_open */
    assert_int_equal(opened, 0);
}

static void write_step(const char *dir, int64_t step, const char *metric, double value)
{
    char path[600];
    assert_int_equal(ckpt_step_path(dir, step, path, sizeof path), 0);
    bienc_ckpt_writer *w;
    assert_int_equal(ckpt_writer_open(&w, path), 0);
    assert_int_equal(ckpt_write_int64(w, "step", step), 0);
    if (metric) assert_int_equal(ckpt_write_double(w, metric, value), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
}

static int step_exists(const char *dir, int64_t step)
{
    char path[600];
    ckpt_step_path(dir, step, path, sizeof path);
    return file_exists(path);
}

/* keep_last = 2 and the best by eval/mrr@10 (higher is better):
 *   steps 1..6 with mrr 0.1 0.5 0.3 0.5 0.2 0.4 -> best = step 2 (first of the two 0.5s),
 *   kept: 2, 5, 6; deleted: 1, 3, 4. Files that are not step-N.h5 are never touched. */
static void test_prune(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/run", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    const double mrr[] = {0.1, 0.5, 0.3, 0.5, 0.2, 0.4};
    for (int s = 1; s <= 6; s++) write_step(dir, s, "eval/mrr@10", mrr[s - 1]);
    const char *others[] = {"notes.txt", "step-7.h5.tmp", "step-08.h5", "step-x.h5", "step-9.h5.bak"};
    for (int i = 0; i < 5; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, others[i]);
        FILE *f = fopen(p, "w");
        fclose(f);
    }
    int64_t *steps, best, latest;
    size_t n, deleted;
    assert_int_equal(ckpt_list_steps(dir, &steps, &n), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) assert_true(steps[i] == (int64_t)i + 1);
    free(steps);
    assert_int_equal(ckpt_prune(dir, 2, "eval/mrr@10", 1, &best, &deleted), 0);
    assert_true(best == 2);
    assert_int_equal(deleted, 3);
    int expect[7] = {0, 0, 1, 0, 0, 1, 1};
    for (int s = 1; s <= 6; s++) assert_int_equal(step_exists(dir, s), expect[s]);
    for (int i = 0; i < 5; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, others[i]);
        assert_true(file_exists(p));
    }
    assert_int_equal(ckpt_latest_step(dir, &latest), 0);
    assert_true(latest == 6);

    /* A new, better step 7 (lower is better this time, on a loss): best moves, step 2 goes. */
    write_step(dir, 7, "eval/mrr@10", 0.05);
    assert_int_equal(ckpt_prune(dir, 1, "eval/mrr@10", 0, &best, &deleted), 0);
    assert_true(best == 7);
    assert_int_equal(deleted, 3); /* 2, 5, 6 */
    assert_int_equal(step_exists(dir, 7), 1);
    assert_int_equal(step_exists(dir, 6), 0);
    /* No metric: keep_last 0 removes every checkpoint. */
    assert_int_equal(ckpt_prune(dir, 0, NULL, 1, &best, &deleted), 0);
    assert_true(best == -1);
    assert_int_equal(deleted, 1);
    assert_int_equal(ckpt_latest_step(dir, &latest), BIENC_ENOTFOUND);
    assert_int_equal(ckpt_prune(dir, -1, NULL, 1, NULL, NULL), BIENC_EINVAL);
    assert_int_equal(ckpt_list_steps(tpath("no-such-dir"), &steps, &n), BIENC_ENOTFOUND);
    char small[8];
    assert_int_equal(ckpt_step_path(dir, 1, small, sizeof small), BIENC_ERANGE);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_checks),       cmocka_unit_test(test_names),
        cmocka_unit_test(test_atomic),    cmocka_unit_test(test_truncated),    cmocka_unit_test(test_corrupt_data),
        cmocka_unit_test(test_foreign),   cmocka_unit_test(test_quiet),        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_reproducible), cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
