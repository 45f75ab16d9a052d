/* safetensors: writer -> reader round trip (F32 exact, sorted keys, 8-byte aligned
 * header), F16 / BF16 conversion of known bit patterns, and crafted files rejected with a
 * message naming the file and the tensor: bad header length, header longer than the
 * file, offsets past the end, overlapping tensors, byte size vs shape, wrong shape for
 * the caller, unknown dtype, non-JSON header, duplicate names, non-float read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/safetensors.h"

/* A file image: u64 header length, the header, then `data_len` data bytes (pattern). */
static size_t craft(unsigned char *buf, size_t cap, uint64_t claimed_len, const char *header, size_t data_len)
{
    size_t h = strlen(header);
    assert_true(8 + h + data_len <= cap);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(claimed_len >> (8 * i));
    memcpy(buf + 8, header, h);
    for (size_t i = 0; i < data_len; i++) buf[8 + h + i] = (unsigned char)(i * 7 + 1);
    return 8 + h + data_len;
}

/* Parses a crafted image; expects failure with `code` and a message containing `needle`. */
static void expect_reject(const char *header, size_t data_len, int64_t len_delta, int code, const char *needle)
{
    static unsigned char buf[4096];
    size_t n = craft(buf, sizeof buf, (uint64_t)((int64_t)strlen(header) + len_delta), header, data_len);
    bienc_safetensors *st = (bienc_safetensors *)1;
    int rc = safetensors_parse(&st, buf, n, "crafted.safetensors");
    if (rc != code || !strstr(bienc_last_error(), needle) || !strstr(bienc_last_error(), "crafted.safetensors"))
        fail_msg("header %s: rc %d, message '%s' (expected %d, '%s')", header, rc, bienc_last_error(), code, needle);
    assert_null(st);
}

static void test_crafted_rejected(void **state)
{
    (void)state;
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    /* the good one parses */
    unsigned char buf[256];
    size_t n = craft(buf, sizeof buf, strlen(ok), ok, 8);
    bienc_safetensors *st = NULL;
    assert_int_equal(safetensors_parse(&st, buf, n, "crafted.safetensors"), 0);
    assert_int_equal(safetensors_count(st), 1);
    safetensors_free(st);

    expect_reject(ok, 8, +1000, BIENC_EFORMAT, "header length");       /* header longer than the file */
    expect_reject(ok, 8, -(int64_t)strlen(ok) + 1, BIENC_EFORMAT, "header length");  /* length 1 */
    expect_reject(ok, 8, -(int64_t)strlen(ok) - 8 + 0x7fffffffffffffffLL, BIENC_EFORMAT, "header length");
    expect_reject(ok, 4, 0, BIENC_EFORMAT, "past the end");               /* data section too short */
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 8, 0, BIENC_EFORMAT, "past the end");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                  12, 0, BIENC_EFORMAT, "overlap");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0, BIENC_EFORMAT, "'a'");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8, 0,
                  BIENC_EFORMAT, "'a'");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0, BIENC_EFORMAT, "shape");
    expect_reject("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, BIENC_EFORMAT, "unknown dtype 'Q7'");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0, BIENC_EFORMAT, "data_offsets");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0, BIENC_EFORMAT, "data_offsets");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                  16, 0, BIENC_EFORMAT, "duplicate member name \"a\"");
    expect_reject("{\"a\": not json}", 8, 0, BIENC_EFORMAT, "header");
    expect_reject("[1, 2, 3]", 0, 0, BIENC_EFORMAT, "not a JSON object");
    expect_reject("{\"a\": 5}", 0, 0, BIENC_EFORMAT, "'a'");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}\x01", 8, 0, BIENC_EFORMAT, "header");

    /* too short for the length field */
    st = NULL;
    assert_int_equal(safetensors_parse(&st, "abc", 3, "tiny.safetensors"), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "tiny.safetensors"));
    assert_int_equal(safetensors_open(&st, "/nonexistent/model.safetensors"), BIENC_ENOTFOUND);
    assert_non_null(strstr(bienc_last_error(), "/nonexistent/model.safetensors"));
}

static void test_read_checks(void **state)
{
    (void)state;
    /* __metadata__ ignored; I64 parsed but not readable as float; caller's shape checked */
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[8,16]}}";
    unsigned char buf[512];
    size_t n = craft(buf, sizeof buf, strlen(h), h, 16);
    bienc_safetensors *st = NULL;
    assert_int_equal(safetensors_parse(&st, buf, n, "m.safetensors"), 0);
    assert_int_equal(safetensors_count(st), 2);
    assert_null(safetensors_find(st, "__metadata__"));
    float out[2];
    assert_int_equal(safetensors_read_f32(st, safetensors_find(st, "ids"), 1, NULL, out), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "'ids'"));
    int64_t want[2] = {1, 2};
    assert_int_equal(safetensors_read_f32(st, safetensors_find(st, "w"), 2, want, out), BIENC_ESHAPE);
    assert_non_null(strstr(bienc_last_error(), "m.safetensors: tensor 'w' has shape [2, 1], expected [1, 2]"));
    int64_t right[2] = {2, 1};
    assert_int_equal(safetensors_read_f32(st, safetensors_find(st, "w"), 2, right, out), 0);
    safetensors_free(st);
    safetensors_free(NULL);
}

static void test_half_conversions(void **state)
{
    (void)state;
    assert_true(safetensors_f16_to_f32(0x3c00) == 1.0f);
    assert_true(safetensors_f16_to_f32(0xc000) == -2.0f);
    assert_true(safetensors_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(safetensors_f16_to_f32(0x0001) == ldexpf(1.0f, -24));  /* smallest subnormal */
    assert_true(safetensors_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    assert_true(safetensors_f16_to_f32(0x0400) == ldexpf(1.0f, -14));  /* smallest normal */
    assert_true(isinf(safetensors_f16_to_f32(0x7c00)) && safetensors_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(safetensors_f16_to_f32(0x7e00)));
    assert_true(signbit(safetensors_f16_to_f32(0x8000)) && safetensors_f16_to_f32(0x8000) == 0.0f);
    assert_true(safetensors_f16_to_f32(0x3555) == 0x1.554p-2f);
    assert_true(safetensors_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(safetensors_bf16_to_f32(0xc0a0) == -5.0f);
    /* every finite half converts exactly: back via the compiler's _Float16 when available */
#ifdef __FLT16_MAX__
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        _Float16 x;
        uint16_t hb = (uint16_t)h;
        memcpy(&x, &hb, 2);
        assert_true(safetensors_f16_to_f32(hb) == (float)x);
    }
#endif
}

static void test_write_read_roundtrip(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "test_st_%d.safetensors", (int)getpid());
    float a[6], b[3], c[1] = {-0.0f};
    for (int i = 0; i < 6; i++) a[i] = (float)i * 0.1f - 0.25f;
    for (int i = 0; i < 3; i++) b[i] = 1e-30f * (float)(i + 1);
    int64_t sa[2] = {2, 3}, sb[1] = {3};
    safetensors_entry e[3] = {{"z.weight", a, 2, sa}, {"a.bias", b, 1, sb}, {"m.scalar\"q", c, 0, NULL}};
    assert_int_equal(safetensors_write(path, e, 3), 0);
    bienc_safetensors *st = NULL;
    assert_int_equal(safetensors_open(&st, path), 0);
    assert_int_equal(safetensors_count(st), 3);
    /* sorted keys in the header, data in that order */
    assert_string_equal(safetensors_at(st, 0)->name, "a.bias");
    assert_string_equal(safetensors_at(st, 1)->name, "m.scalar\"q");
    assert_string_equal(safetensors_at(st, 2)->name, "z.weight");
    assert_true(safetensors_at(st, 0)->begin == 0 && safetensors_at(st, 2)->end == 40);
    float ra[6], rb[3], rc[1];
    assert_int_equal(safetensors_read_f32(st, safetensors_find(st, "z.weight"), 2, sa, ra), 0);
    assert_int_equal(safetensors_read_f32(st, safetensors_find(st, "a.bias"), 1, sb, rb), 0);
    assert_int_equal(safetensors_read_f32(st, safetensors_find(st, "m.scalar\"q"), 0, NULL, rc), 0);
    assert_memory_equal(ra, a, sizeof a);
    assert_memory_equal(rb, b, sizeof b);
    assert_memory_equal(rc, c, sizeof c);
    safetensors_free(st);
    /* header length: a multiple of 8, and the header starts with the metadata */
    FILE *f = fopen(path, "rb");
    unsigned char hdr[64];
    assert_int_equal(fread(hdr, 1, sizeof hdr, f), sizeof hdr);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | hdr[i];
    assert_int_equal(hl % 8, 0);
    assert_memory_equal(hdr + 8, "{\"__metadata__\":{\"format\":\"pt\"}", 31);
    /* duplicate names refused, nothing written */
    safetensors_entry d[2] = {{"x", a, 1, sb}, {"x", b, 1, sb}};
    char p2[300];
    snprintf(p2, sizeof p2, "%s.dup", path);
    assert_int_equal(safetensors_write(p2, d, 2), BIENC_EINVAL);
    assert_int_equal(access(p2, F_OK), -1);
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crafted_rejected),
        cmocka_unit_test(test_read_checks),
        cmocka_unit_test(test_half_conversions),
        cmocka_unit_test(test_write_read_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
