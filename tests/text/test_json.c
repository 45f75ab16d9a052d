/* The JSON reader: values, escapes, reuse across documents, and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "text/json.h"

#define PARSE(d, lit) json_parse(d, lit, sizeof(lit) - 1)

static void test_values(void **state)
{
    json_doc *d;
    assert_int_equal(json_doc_new(&d), 0);
    assert_int_equal(PARSE(d, " {\"_id\": \"doc1\", \"title\": \"T\\u00e9st \\\"q\\\"\", \"n\": -12.5e1,"
                              " \"big\": 9007199254740993, \"a\": [1, true, false, null, [], {}],"
                              " \"emoji\": \"\\ud83e\\udd99\", \"lone\": \"x\\udc00y\", \"esc\": \"\\/\\b\\f\\n\\r\\t\\\\\"} \n"),
                     0);
    const json_node *r = json_root(d);
    assert_int_equal(r->type, JSON_OBJECT);
    assert_int_equal(r->count, 8);
    size_t len;
    assert_string_equal(json_get_string(d, r, "_id", &len), "doc1");
    assert_int_equal(len, 4);
    assert_string_equal(json_get_string(d, r, "title", NULL), "T\xc3\xa9st \"q\"");
    assert_true(json_get(d, r, "n")->num == -125.0);
    int64_t v;
    assert_int_equal(json_int64(json_get(d, r, "big"), &v), 0);
    assert_true(v == 9007199254740993LL);  /* exact beyond 2^53 */
    assert_int_equal(json_int64(json_get(d, r, "n"), &v), BIENC_EFORMAT);
    const json_node *a = json_get(d, r, "a");
    assert_int_equal(a->count, 6);
    json_type want[6] = {JSON_NUMBER, JSON_TRUE, JSON_FALSE, JSON_NULL, JSON_ARRAY, JSON_OBJECT};
    int k = 0;
    for (const json_node *c = json_first(d, a); c; c = json_next(d, c)) assert_int_equal(c->type, want[k++]);
    assert_int_equal(k, 6);
    assert_string_equal(json_get_string(d, r, "emoji", NULL), "\xf0\x9f\xa6\x99");
    assert_string_equal(json_get_string(d, r, "lone", NULL), "x\xef\xbf\xbdy");
    assert_string_equal(json_get_string(d, r, "esc", NULL), "/\b\f\n\r\t\\");
    assert_null(json_get(d, r, "missing"));
    assert_null(json_get_string(d, r, "n", NULL));
    /* reuse for the next JSON line */
    assert_int_equal(PARSE(d, "{\"qid\": \"3\", \"pos\": [\"7\"]}"), 0);
    assert_string_equal(json_get_string(d, json_root(d), "qid", NULL), "3");
    assert_null(json_get(d, json_root(d), "_id"));
    assert_int_equal(PARSE(d, "\"just a string\""), 0);
    assert_int_equal(json_root(d)->type, JSON_STRING);
    json_free(d);
    json_free(NULL);
}

static void expect_bad(json_doc *d, const char *text, size_t len, const char *needle)
{
    int rc = json_parse(d, text, len);
    if (rc != BIENC_EFORMAT || !strstr(bienc_last_error(), needle))
        fail_msg("'%.*s': rc %d message '%s' (wanted '%s')", (int)len, text, rc, bienc_last_error(), needle);
    assert_null(json_root(d));
}
#define BAD(d, lit, needle) expect_bad(d, lit, sizeof(lit) - 1, needle)

static void test_malformed(void **state)
{
    json_doc *d;
    assert_int_equal(json_doc_new(&d), 0);
    BAD(d, "", "unexpected end");
    BAD(d, "{", "member name");
    BAD(d, "{\"a\" 1}", "offset 5: expected ':'");
    BAD(d, "{\"a\": 1,}", "member name");
    BAD(d, "[1, 2", "unterminated array");
    BAD(d, "[1 2]", "expected ','");
    BAD(d, "\"abc", "unterminated string");
    BAD(d, "\"a\\qb\"", "unknown escape");
    BAD(d, "\"\\u12zz\"", "bad hex digit");
    BAD(d, "\"\\u12", "truncated");
    BAD(d, "\"a\nb\"", "control character");
    BAD(d, "01", "after the value");
    BAD(d, "-", "bad number");
    BAD(d, "1.", "fraction");
    BAD(d, "1e", "exponent");
    BAD(d, "tru", "unexpected character");
    BAD(d, "nul", "unexpected character");
    BAD(d, "{} {}", "after the value");
    /* deep nesting is refused, not a stack overflow */
    char deep[2000];
    memset(deep, '[', sizeof deep);
    expect_bad(d, deep, sizeof deep, "too deep");
    /* every prefix of a valid document fails cleanly */
    const char doc[] = "{\"a\": [1, {\"b\": \"c\\u00e9\"}, -2.5e-3, true, null], \"d\": \"\\ud83e\\udd99\"}";
    for (size_t n = 0; n + 1 < sizeof doc - 1; n++) assert_int_equal(json_parse(d, doc, n), BIENC_EFORMAT);
    assert_int_equal(json_parse(d, doc, sizeof doc - 1), 0);
    json_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
