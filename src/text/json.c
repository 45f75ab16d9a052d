/* A small recursive-descent JSON parser into a flat node array (see src/text/json.h).
 * Every read checks the end of the input; strings are decoded into one growing byte
 * buffer, and nodes refer to it by offset until parsing ends (the buffer may move). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/json.h"
#include "text/unicode.h"

struct json_doc {
    json_node *nodes;
    size_t n_nodes, cap_nodes;
    char *bytes;             /* decoded strings, NUL-terminated */
    size_t n_bytes, cap_bytes;
    size_t *key_off, *str_off; /* offsets into bytes while parsing (SIZE_MAX = none) */
    const char *p, *end, *begin;
    int ok;
};

#define NONE ((size_t)-1)

int json_doc_new(json_doc **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : bienc_error(BIENC_ENOMEM, "json: out of memory");
}

void json_free(json_doc *d)
{
    if (!d) return;
    free(d->nodes);
    free(d->bytes);
    free(d->key_off);
    free(d->str_off);
    free(d);
}

static int fail(json_doc *d, const char *what)
{
    return bienc_error(BIENC_EFORMAT, "offset %zu: %s", (size_t)(d->p - d->begin), what);
}

static int new_node(json_doc *d, json_type type, int32_t *idx)
{
    if (d->n_nodes == d->cap_nodes) {
        size_t cap = d->cap_nodes ? d->cap_nodes * 2 : 256;
        if (cap > 0x7FFFFFFF) return bienc_error(BIENC_EFORMAT, "json: more than 2^31 values");
        json_node *n = realloc(d->nodes, cap * sizeof *n);
        size_t *k = realloc(d->key_off, cap * sizeof *k);
        if (n) d->nodes = n;
        if (k) d->key_off = k;
        size_t *s = realloc(d->str_off, cap * sizeof *s);
        if (s) d->str_off = s;
        if (!n || !k || !s) return bienc_error(BIENC_ENOMEM, "json: out of memory");
        d->cap_nodes = cap;
    }
    *idx = (int32_t)d->n_nodes++;
    json_node *n = &d->nodes[*idx];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->child = -1;
    n->next = -1;
    d->key_off[*idx] = NONE;
    d->str_off[*idx] = NONE;
    return 0;
}

static int put_bytes(json_doc *d, const char *s, size_t n)
{
    if (d->cap_bytes - d->n_bytes < n + 1) {
        size_t cap = d->cap_bytes ? d->cap_bytes : 1024;
        while (cap - d->n_bytes < n + 1) cap *= 2;
        char *b = realloc(d->bytes, cap);
        if (!b) return bienc_error(BIENC_ENOMEM, "json: out of memory");
        d->bytes = b;
        d->cap_bytes = cap;
    }
    memcpy(d->bytes + d->n_bytes, s, n);
    d->n_bytes += n;
    return 0;
}

static void skip_ws(json_doc *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r')) d->p++;
}

static int hex4(json_doc *d, uint32_t *v)
{
    if (d->end - d->p < 4) return fail(d, "truncated \\u escape");
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char c = d->p[i];
        x <<= 4;
        if (c >= '0' && c <= '9') x |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') x |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') x |= (uint32_t)(c - 'A' + 10);
        else return fail(d, "bad hex digit in \\u escape");
    }
    d->p += 4;
    *v = x;
    return 0;
}

/* Parses a string at d->p (on the opening quote) into bytes; *off, *len give the result. */
static int parse_string(json_doc *d, size_t *off, size_t *len)
{
    d->p++;
    *off = d->n_bytes;
    for (;;) {
        const char *run = d->p;
        while (d->p < d->end && *d->p != '"' && *d->p != '\\' && (unsigned char)*d->p >= 0x20) d->p++;
        BIENC_TRY(put_bytes(d, run, (size_t)(d->p - run)));
        if (d->p >= d->end) return fail(d, "unterminated string");
        char c = *d->p;
        if (c == '"') { d->p++; break; }
        if ((unsigned char)c < 0x20) return fail(d, "control character in string");
        d->p++;  /* backslash */
        if (d->p >= d->end) return fail(d, "unterminated escape");
        char e = *d->p++;
        char ch;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            uint32_t cp;
            BIENC_TRY(hex4(d, &cp));
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* a high surrogate must be followed by \uDC00..\uDFFF; alone it becomes U+FFFD */
                uint32_t lo;
                if (d->end - d->p >= 6 && d->p[0] == '\\' && d->p[1] == 'u') {
                    const char *save = d->p;
                    d->p += 2;
                    BIENC_TRY(hex4(d, &lo));
                    if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    else { cp = 0xFFFD; d->p = save; }
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            char b[4];
            int n = utf8_encode(cp, b);
            BIENC_TRY(put_bytes(d, b, (size_t)n));
            continue;
        }
        default: return fail(d, "unknown escape in string");
        }
        BIENC_TRY(put_bytes(d, &ch, 1));
    }
    *len = d->n_bytes - *off;
    BIENC_TRY(put_bytes(d, "", 1));  /* NUL terminator */
    return 0;
}

static int parse_number(json_doc *d, int32_t idx)
{
    const char *s = d->p;
    if (d->p < d->end && *d->p == '-') d->p++;
    if (d->p >= d->end || !(*d->p >= '0' && *d->p <= '9')) return fail(d, "bad number");
    if (*d->p == '0') d->p++;
    else while (d->p < d->end && *d->p >= '0' && *d->p <= '9') d->p++;
    if (d->p < d->end && *d->p == '.') {
        d->p++;
        if (d->p >= d->end || !(*d->p >= '0' && *d->p <= '9')) return fail(d, "bad number fraction");
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9') d->p++;
    }
    if (d->p < d->end && (*d->p == 'e' || *d->p == 'E')) {
        d->p++;
        if (d->p < d->end && (*d->p == '+' || *d->p == '-')) d->p++;
        if (d->p >= d->end || !(*d->p >= '0' && *d->p <= '9')) return fail(d, "bad number exponent");
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9') d->p++;
    }
    size_t n = (size_t)(d->p - s);
    char tmp[64];
    if (n >= sizeof tmp) {
        /* very long literal: parse a bounded copy on the heap */
        char *h = malloc(n + 1);
        if (!h) return bienc_error(BIENC_ENOMEM, "json: out of memory");
        memcpy(h, s, n);
        h[n] = '\0';
        d->nodes[idx].num = strtod(h, NULL);
        free(h);
    } else {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        d->nodes[idx].num = strtod(tmp, NULL);
    }
    size_t off = d->n_bytes;
    BIENC_TRY(put_bytes(d, s, n));
    BIENC_TRY(put_bytes(d, "", 1));
    d->str_off[idx] = off;
    d->nodes[idx].len = n;
    return 0;
}

static int parse_value(json_doc *d, int depth, int32_t *out);

static int parse_container(json_doc *d, int depth, int32_t idx, int is_object)
{
    char close = is_object ? '}' : ']';
    d->p++;
    skip_ws(d);
    if (d->p < d->end && *d->p == close) { d->p++; return 0; }
    int32_t prev = -1;
    for (;;) {
        size_t koff = NONE, klen = 0;
        skip_ws(d);
        if (is_object) {
            if (d->p >= d->end || *d->p != '"') return fail(d, "expected a member name");
            BIENC_TRY(parse_string(d, &koff, &klen));
            skip_ws(d);
            if (d->p >= d->end || *d->p != ':') return fail(d, "expected ':'");
            d->p++;
        }
        int32_t child;
        BIENC_TRY(parse_value(d, depth + 1, &child));
        d->key_off[child] = koff;
        d->nodes[child].key_len = klen;
        if (prev < 0) d->nodes[idx].child = child;
        else d->nodes[prev].next = child;
        prev = child;
        if (d->nodes[idx].count == INT32_MAX) return fail(d, "too many members");
        d->nodes[idx].count++;
        skip_ws(d);
        if (d->p >= d->end) return fail(d, is_object ? "unterminated object" : "unterminated array");
        if (*d->p == ',') { d->p++; continue; }
        if (*d->p == close) { d->p++; return 0; }
        return fail(d, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int literal(json_doc *d, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0) return fail(d, "unexpected character");
    d->p += n;
    return 0;
}

static int parse_value(json_doc *d, int depth, int32_t *out)
{
    if (depth > JSON_MAX_DEPTH) return fail(d, "nesting too deep");
    skip_ws(d);
    if (d->p >= d->end) return fail(d, "unexpected end of input");
    char c = *d->p;
    int32_t idx;
    switch (c) {
    case '{':
    case '[':
        BIENC_TRY(new_node(d, c == '{' ? JSON_OBJECT : JSON_ARRAY, &idx));
        *out = idx;
        return parse_container(d, depth, idx, c == '{');
    case '"': {
        BIENC_TRY(new_node(d, JSON_STRING, &idx));
        *out = idx;
        size_t off, len;
        BIENC_TRY(parse_string(d, &off, &len));
        d->str_off[idx] = off;
        d->nodes[idx].len = len;
        return 0;
    }
    case 't': BIENC_TRY(new_node(d, JSON_TRUE, &idx)); *out = idx; return literal(d, "true");
    case 'f': BIENC_TRY(new_node(d, JSON_FALSE, &idx)); *out = idx; return literal(d, "false");
    case 'n': BIENC_TRY(new_node(d, JSON_NULL, &idx)); *out = idx; return literal(d, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            BIENC_TRY(new_node(d, JSON_NUMBER, &idx));
            *out = idx;
            return parse_number(d, idx);
        }
        return fail(d, "unexpected character");
    }
}

static int cmp_members(const void *a, const void *b, void *ctx)
{
    const json_node *x = (const json_node *)ctx + *(const int32_t *)a, *y = (const json_node *)ctx + *(const int32_t *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* An object naming a member twice is an error: readers would silently keep one of the
 * values (Python keeps the last, json_get the first). Each object's member names are sorted
 * (indices into one scratch array) and neighbours compared: O(k log k), fine for the 30 000
 * members of a tokenizer.json vocabulary. */
static int check_duplicate_members(json_doc *d)
{
    int32_t *order = NULL;
    int rc = 0;
    for (size_t i = 0; i < d->n_nodes && rc == 0; i++) {
        const json_node *o = &d->nodes[i];
        if (o->type != JSON_OBJECT || o->count < 2) continue;
        if (!order && !(order = malloc(d->n_nodes * sizeof *order))) return bienc_error(BIENC_ENOMEM, "JSON: out of memory");
        int32_t k = 0;
        for (int32_t c = o->child; c >= 0; c = d->nodes[c].next) order[k++] = c;
        qsort_r(order, (size_t)k, sizeof *order, cmp_members, d->nodes);
        for (int32_t j = 1; j < k && rc == 0; j++)
            if (cmp_members(&order[j - 1], &order[j], d->nodes) == 0)
                rc = bienc_error(BIENC_EFORMAT, "duplicate member name \"%.*s\" in an object",
                                 (int)(d->nodes[order[j]].key_len > 60 ? 60 : d->nodes[order[j]].key_len),
                                 d->nodes[order[j]].key);
    }
    free(order);
    return rc;
}

int json_parse(json_doc *d, const char *text, size_t len)
{
    if (!d || (!text && len)) return bienc_error(BIENC_EINVAL, "json_parse: NULL argument");
    d->n_nodes = 0;
    d->n_bytes = 0;
    d->ok = 0;
    d->begin = d->p = text ? text : "";
    d->end = d->p + len;
    int32_t root;
    BIENC_TRY(parse_value(d, 0, &root));
    skip_ws(d);
    if (d->p != d->end) return fail(d, "unexpected data after the value");
    /* Resolve string offsets into pointers now that the byte buffer no longer moves. */
    for (size_t i = 0; i < d->n_nodes; i++) {
        json_node *n = &d->nodes[i];
        n->key = d->key_off[i] == NONE ? NULL : d->bytes + d->key_off[i];
        n->str = d->str_off[i] == NONE ? NULL : d->bytes + d->str_off[i];
    }
    BIENC_TRY(check_duplicate_members(d));
    d->ok = 1;
    return 0;
}

const json_node *json_root(const json_doc *d) { return d && d->ok && d->n_nodes ? &d->nodes[0] : NULL; }

const json_node *json_first(const json_doc *d, const json_node *n)
{
    return n && n->child >= 0 ? &d->nodes[n->child] : NULL;
}

const json_node *json_next(const json_doc *d, const json_node *n)
{
    return n && n->next >= 0 ? &d->nodes[n->next] : NULL;
}

const json_node *json_get(const json_doc *d, const json_node *n, const char *key)
{
    if (!n || n->type != JSON_OBJECT || !key) return NULL;
    size_t kl = strlen(key);
    for (const json_node *c = json_first(d, n); c; c = json_next(d, c))
        if (c->key_len == kl && memcmp(c->key, key, kl) == 0) return c;
    return NULL;
}

const char *json_get_string(const json_doc *d, const json_node *n, const char *key, size_t *len)
{
    const json_node *c = json_get(d, n, key);
    if (!c || c->type != JSON_STRING) return NULL;
    if (len) *len = c->len;
    return c->str;
}

int json_int64(const json_node *n, int64_t *out)
{
    if (!n || n->type != JSON_NUMBER) return bienc_error(BIENC_EFORMAT, "expected a number");
    /* integers are parsed from the literal to stay exact beyond 2^53 */
    const char *s = n->str;
    if (!s || memchr(s, '.', n->len) || memchr(s, 'e', n->len) || memchr(s, 'E', n->len))
        return bienc_error(BIENC_EFORMAT, "expected an integer, got %s", s ? s : "?");
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0') return bienc_error(BIENC_EFORMAT, "integer out of range: %s", s);
    *out = v;
    return 0;
}

void json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}
