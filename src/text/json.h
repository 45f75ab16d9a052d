/* A small, bounds-checked JSON reader (RFC 8259) for tokenizer.json, BEIR JSON lines and
 * hard-negative files. Parses a whole text into a flat array of nodes; strings are decoded
 * (escapes, \uXXXX surrogate pairs) into NUL-terminated UTF-8 owned by the document.
 * Never reads outside [text, text+len); nesting deeper than JSON_MAX_DEPTH is an error.
 *
 * One json_doc can be reused for many texts (JSON lines): each json_parse() replaces the
 * previous content and reuses the buffers, so the steady state allocates nothing.
 * Node pointers stay valid until the next json_parse() or json_free() on that doc. */
#ifndef BIENC_JSON_H
#define BIENC_JSON_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 256

typedef enum json_type {
    JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
} json_type;

typedef struct json_node {
    json_type type;
    int32_t count;       /* number of children (array items / object members) */
    int32_t child;       /* index of the first child, -1 when none (internal; use json_first) */
    int32_t next;        /* index of the next sibling, -1 at the end (internal; use json_next) */
    const char *key;     /* member name when the parent is an object, else NULL (NUL-terminated) */
    size_t key_len;
    const char *str;     /* decoded string value (JSON_STRING), or the number's source text (JSON_NUMBER) */
    size_t len;
    double num;          /* JSON_NUMBER value */
} json_node;

typedef struct json_doc json_doc;

int json_doc_new(json_doc **out);
void json_free(json_doc *d);

/* Parses text[0..len). On malformed input returns BIENC_EFORMAT with a message giving the
 * byte offset ("offset 17: expected ':'"); callers add the file and line with
 * bienc_error_context(). Trailing whitespace is allowed, anything else after the value is not. */
int json_parse(json_doc *d, const char *text, size_t len);

const json_node *json_root(const json_doc *d);
/* First child of an array/object, next sibling; NULL at the end. */
const json_node *json_first(const json_doc *d, const json_node *n);
const json_node *json_next(const json_doc *d, const json_node *n);
/* Member `key` of an object (first match), NULL when absent or n is not an object. */
const json_node *json_get(const json_doc *d, const json_node *n, const char *key);

/* Convenience: the string of a member (NULL unless it is a JSON string). */
const char *json_get_string(const json_doc *d, const json_node *n, const char *key, size_t *len);
/* Number as an exact int64: 0 ok; BIENC_EFORMAT when not a number or not an integer in range. */
int json_int64(const json_node *n, int64_t *out);

/* Writes s as a JSON string literal (quotes, backslashes and control bytes escaped, \n and \t
 * in their short forms; other bytes, UTF-8 included, as they are). NULL writes "". */
void json_write_string(FILE *f, const char *s);

#endif
