/* safetensors reader and writer (format in src/io/safetensors.h).
 *
 * The reader keeps the whole file in one buffer and the parsed header as a flat array of
 * tensor descriptors; nothing in the file is trusted until checked. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "text/json.h"
#include "io/safetensors.h"
#include "core/tensor.h"
#include "core/atomic_file.h"

struct bienc_safetensors {
    char *path;                 /* for messages */
    unsigned char *bytes;       /* the whole file */
    size_t size;
    const unsigned char *data;  /* data section: bytes + 8 + header length */
    uint64_t data_size;
    safetensors_tensor *tensors;
    char *names;                /* all tensor names, NUL-separated */
    int n;
};

static const struct { const char *name; int size; } dtype_info[ST_DTYPE_COUNT] = {
    [ST_F32] = {"F32", 4},  [ST_F16] = {"F16", 2},  [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8},
    [ST_I64] = {"I64", 8},  [ST_I32] = {"I32", 4},  [ST_I16] = {"I16", 2},   [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},    [ST_BOOL] = {"BOOL", 1}, [ST_U16] = {"U16", 2},  [ST_U32] = {"U32", 4},
    [ST_U64] = {"U64", 8},  [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *safetensors_dtype_name(safetensors_dtype d)
{
    return (unsigned)d < ST_DTYPE_COUNT ? dtype_info[d].name : "?";
}

static int dtype_parse(const char *s)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_info[i].name) == 0) return i;
    return -1;
}

float safetensors_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float safetensors_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);            /* inf / nan */
    } else if (exp != 0) {
        u = sign | ((exp + 112) << 23) | (man << 13);    /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        u = sign;                                        /* signed zero */
    } else {
        /* subnormal half: shift the mantissa up until its leading 1 is the implicit bit */
        int e = 113;
        while (!(man & 0x400)) { man <<= 1; e--; }
        u = sign | ((uint32_t)e << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void safetensors_free(bienc_safetensors *st)
{
    if (!st) return;
    free(st->path);
    free(st->bytes);
    free(st->tensors);
    free(st->names);
    free(st);
}

int safetensors_count(const bienc_safetensors *st) { return st ? st->n : 0; }

const char *safetensors_path(const bienc_safetensors *st) { return st ? st->path : ""; }

const safetensors_tensor *safetensors_at(const bienc_safetensors *st, int i)
{
    return st && i >= 0 && i < st->n ? &st->tensors[i] : NULL;
}

const safetensors_tensor *safetensors_find(const bienc_safetensors *st, const char *name)
{
    if (!st || !name) return NULL;
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

static int cmp_begin(const void *a, const void *b)
{
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a, *y = *(const safetensors_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Fills t from the header member `m` (shape, dtype, offsets), all checked. */
static int parse_tensor(const bienc_safetensors *st, const json_doc *d, const json_node *m, safetensors_tensor *t)
{
    const char *p = st->path, *name = m->key;
    if (m->type != JSON_OBJECT) return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': entry is not an object", p, name);
    const char *dt = json_get_string(d, m, "dtype", NULL);
    if (!dt) return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': missing string 'dtype'", p, name);
    int dtype = dtype_parse(dt);
    if (dtype < 0) return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", p, name, dt);
    t->dtype = (safetensors_dtype)dtype;

    const json_node *shape = json_get(d, m, "shape");
    if (!shape || shape->type != JSON_ARRAY)
        return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': missing array 'shape'", p, name);
    if (shape->count > SAFETENSORS_MAX_DIMS)
        return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': %d dims (at most %d)", p, name, shape->count,
                           SAFETENSORS_MAX_DIMS);
    t->ndim = 0;
    uint64_t numel = 1;
    for (const json_node *x = json_first(d, shape); x; x = json_next(d, x)) {
        int64_t v;
        if (json_int64(x, &v) < 0 || v < 0 || v > (INT64_C(1) << 40))
            return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': shape[%d] is not a valid dimension", p, name, t->ndim);
        t->shape[t->ndim++] = v;
        /* the product is bounded by the data section below; stop growing once it passes it */
        if (v == 0 || numel == 0) numel = 0;
        else if (numel > st->data_size / (uint64_t)v + 1) numel = UINT64_MAX;
        else numel *= (uint64_t)v;
    }
    const json_node *off = json_get(d, m, "data_offsets");
    if (!off || off->type != JSON_ARRAY || off->count != 2)
        return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': 'data_offsets' must be [begin, end]", p, name);
    int64_t b, e;
    if (json_int64(json_first(d, off), &b) < 0 || json_int64(json_next(d, json_first(d, off)), &e) < 0 || b < 0 ||
        e < b)
        return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': bad data_offsets", p, name);
    if ((uint64_t)e > st->data_size)
        return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] past the end of the data (%llu bytes)",
                           p, name, (long long)b, (long long)e, (unsigned long long)st->data_size);
    uint64_t bytes = numel == UINT64_MAX ? UINT64_MAX : numel * (uint64_t)dtype_info[dtype].size;
    if (numel == UINT64_MAX || bytes != (uint64_t)(e - b))
        return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': %lld bytes in data_offsets, but shape and dtype %s need %s%llu",
                           p, name, (long long)(e - b), dt, numel == UINT64_MAX ? "more than " : "",
                           (unsigned long long)(numel == UINT64_MAX ? st->data_size : bytes));
    t->numel = (int64_t)numel;
    t->begin = (uint64_t)b;
    t->end = (uint64_t)e;
    return 0;
}

/* Parses st->bytes (already set) into the tensor table. */
static int parse_header(bienc_safetensors *st)
{
    const char *p = st->path;
    if (st->size < 8) return bienc_error(BIENC_EFORMAT, "%s: %zu bytes, too short for a safetensors header", p, st->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | st->bytes[i];
    if (hlen < 2 || hlen > SAFETENSORS_MAX_HEADER || hlen > st->size - 8)
        return bienc_error(BIENC_EFORMAT, "%s: header length %llu does not fit the file (%zu bytes)", p,
                           (unsigned long long)hlen, st->size);
    st->data = st->bytes + 8 + hlen;
    st->data_size = st->size - 8 - hlen;
    const char *text = (const char *)st->bytes + 8;
    if (text[0] != '{') return bienc_error(BIENC_EFORMAT, "%s: header is not a JSON object", p);

    json_doc *d = NULL;
    int rc = json_doc_new(&d);
    if (rc < 0) return rc;
    rc = json_parse(d, text, (size_t)hlen);
    if (rc < 0) {
        json_free(d);
        return bienc_error_context(rc, "%s: header: ", p);
    }
    const json_node *root = json_root(d);
    if (!root || root->type != JSON_OBJECT) {
        json_free(d);
        return bienc_error(BIENC_EFORMAT, "%s: header is not a JSON object", p);
    }
    size_t names_len = 0;
    int n = 0;
    for (const json_node *m = json_first(d, root); m; m = json_next(d, m)) {
        if (strcmp(m->key, "__metadata__") == 0) continue;
        n++;
        names_len += m->key_len + 1;
    }
    st->tensors = calloc(n ? (size_t)n : 1, sizeof *st->tensors);
    st->names = malloc(names_len ? names_len : 1);
    safetensors_tensor **order = calloc(n ? (size_t)n : 1, sizeof *order);
    if (!st->tensors || !st->names || !order) {
        free(order);
        json_free(d);
        return bienc_error(BIENC_ENOMEM, "%s: out of memory for %d tensors", p, n);
    }
    char *np = st->names;
    for (const json_node *m = json_first(d, root); m && rc == 0; m = json_next(d, m)) {
        if (strcmp(m->key, "__metadata__") == 0) continue;
        if (memchr(m->key, 0, m->key_len)) {
            rc = bienc_error(BIENC_EFORMAT, "%s: tensor name with a NUL byte", p);
            break;
        }
        safetensors_tensor *t = &st->tensors[st->n];
        memcpy(np, m->key, m->key_len + 1);
        t->name = np;
        np += m->key_len + 1;
        rc = parse_tensor(st, d, m, t);
        if (rc == 0) order[st->n++] = t;
    }
    json_free(d);
    if (rc == 0 && st->n > 1) {
        /* a name given twice is refused by json_parse ("duplicate member name") */
        /* overlap: sorted by begin, each tensor must end before the next begins (empty ones aside) */
        qsort(order, (size_t)st->n, sizeof *order, cmp_begin);
        uint64_t end = 0;
        const char *prev = NULL;
        for (int i = 0; i < st->n && rc == 0; i++) {
            if (order[i]->begin == order[i]->end) continue;
            if (prev && order[i]->begin < end)
                rc = bienc_error(BIENC_EFORMAT, "%s: tensors '%s' and '%s' overlap in the data section", p, prev,
                                 order[i]->name);
            end = order[i]->end;
            prev = order[i]->name;
        }
    }
    free(order);
    return rc;
}

int safetensors_parse(bienc_safetensors **out, const void *data, size_t size, const char *what)
{
    if (!out || (!data && size)) return bienc_error(BIENC_EINVAL, "safetensors_parse: NULL argument");
    *out = NULL;
    bienc_safetensors *st = calloc(1, sizeof *st);
    if (!st) return bienc_error(BIENC_ENOMEM, "safetensors: out of memory");
    st->path = strdup(what ? what : "safetensors");
    st->bytes = malloc(size ? size : 1);
    if (!st->path || !st->bytes) {
        safetensors_free(st);
        return bienc_error(BIENC_ENOMEM, "%s: out of memory for %zu bytes", what ? what : "safetensors", size);
    }
    if (size) memcpy(st->bytes, data, size);
    st->size = size;
    int rc = parse_header(st);
    if (rc < 0) {
        safetensors_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

int safetensors_open(bienc_safetensors **out, const char *path)
{
    if (!out || !path) return bienc_error(BIENC_EINVAL, "safetensors_open: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return bienc_error(errno == ENOENT ? BIENC_ENOTFOUND : BIENC_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return bienc_error(BIENC_EIO, "%s: not a regular file", path);
    }
    bienc_safetensors *st = calloc(1, sizeof *st);
    size_t size = (size_t)sb.st_size;
    if (st) {
        st->path = strdup(path);
        st->bytes = malloc(size ? size : 1);
    }
    if (!st || !st->path || !st->bytes) {
        fclose(f);
        safetensors_free(st);
        return bienc_error(BIENC_ENOMEM, "%s: out of memory for %zu bytes", path, size);
    }
    size_t got = fread(st->bytes, 1, size, f);
    fclose(f);
    if (got != size) {
        safetensors_free(st);
        return bienc_error(BIENC_EIO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    st->size = size;
    int rc = parse_header(st);
    if (rc < 0) {
        safetensors_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static char *shape_str(int ndim, const int64_t *s, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)s[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

int safetensors_read_f32(const bienc_safetensors *st, const safetensors_tensor *t, int ndim, const int64_t *dims,
                         float *out)
{
    BIENC_ASSERT(st && t && out);
    if (dims) {
        int ok = t->ndim == ndim;
        for (int i = 0; ok && i < ndim; i++) ok = dims[i] < 0 || t->shape[i] == dims[i];
        if (!ok) {
            char a[160], b[160];
            return bienc_error(BIENC_ESHAPE, "%s: tensor '%s' has shape %s, expected %s", st->path, t->name,
                               shape_str(t->ndim, t->shape, a, sizeof a), shape_str(ndim, dims, b, sizeof b));
        }
    }
    const unsigned char *src = st->data + t->begin;
    switch (t->dtype) {
    case ST_F32:
        memcpy(out, src, (size_t)t->numel * 4);  /* little-endian host assumed, as HF */
        break;
    case ST_F16:
    case ST_BF16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            out[i] = t->dtype == ST_F16 ? safetensors_f16_to_f32(h) : safetensors_bf16_to_f32(h);
        }
        break;
    default:
        return bienc_error(BIENC_EFORMAT, "%s: tensor '%s': dtype %s cannot be read as float32", st->path, t->name,
                           safetensors_dtype_name(t->dtype));
    }
    int64_t bad = floats_first_nonfinite(out, t->numel);
    if (bad >= 0)
        return bienc_error(BIENC_EFORMAT, "%s: tensor '%s' holds %s at element %lld", st->path, t->name,
                           isnan(out[bad]) ? "NaN" : "Inf", (long long)bad);
    return 0;
}

/* ---- writer ---- */

static int cmp_entry(const void *a, const void *b)
{
    return strcmp((*(const safetensors_entry *const *)a)->name, (*(const safetensors_entry *const *)b)->name);
}

/* Appends to a growing string buffer; returns -1 on allocation failure. */
typedef struct strbuf { char *s; size_t len, cap; } strbuf;

static int sb_add(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sb_add(strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return -1;
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return 0;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) return -1;
        b->s = s;
        b->cap = cap;
    }
}

/* A tensor name as a JSON string (names are plain ASCII in practice; escape the rest). */
static int sb_add_json_string(strbuf *b, const char *s)
{
    if (sb_add(b, "\"") < 0) return -1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { if (sb_add(b, "\\%c", c) < 0) return -1; }
        else if (c < 0x20) { if (sb_add(b, "\\u%04x", c) < 0) return -1; }
        else if (sb_add(b, "%c", c) < 0) return -1;
    }
    return sb_add(b, "\"");
}

int safetensors_write(const char *path, const safetensors_entry *e, int n)
{
    if (!path || (n > 0 && !e) || n < 0) return bienc_error(BIENC_EINVAL, "safetensors_write: bad argument");
    const safetensors_entry **order = calloc(n ? (size_t)n : 1, sizeof *order);
    if (!order) return bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) order[i] = &e[i];
    qsort(order, (size_t)n, sizeof *order, cmp_entry);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!order[i]->name || !order[i]->data || (order[i]->ndim > 0 && !order[i]->shape)) {
            rc = bienc_error(BIENC_EINVAL, "%s: entry %d: NULL name, data or shape", path, i);
            break;
        }
        if (i && strcmp(order[i - 1]->name, order[i]->name) == 0)
            rc = bienc_error(BIENC_EINVAL, "%s: tensor '%s' given twice", path, order[i]->name);
        if (order[i]->ndim < 0 || order[i]->ndim > SAFETENSORS_MAX_DIMS)
            rc = bienc_error(BIENC_EINVAL, "%s: tensor '%s': %d dims", path, order[i]->name, order[i]->ndim);
    }
    strbuf b = {0};
    uint64_t off = 0;
    if (rc == 0 && sb_add(&b, "{\"__metadata__\":{\"format\":\"pt\"}") < 0) rc = BIENC_ENOMEM;
    for (int i = 0; i < n && rc == 0; i++) {
        uint64_t numel = 1;
        if (sb_add(&b, ",") < 0 || sb_add_json_string(&b, order[i]->name) < 0 || sb_add(&b, ":{\"dtype\":\"F32\",\"shape\":[") < 0) {
            rc = BIENC_ENOMEM;
            break;
        }
        for (int k = 0; k < order[i]->ndim; k++) {
            if (order[i]->shape[k] < 0) {
                rc = bienc_error(BIENC_EINVAL, "%s: tensor '%s': negative dimension", path, order[i]->name);
                break;
            }
            numel *= (uint64_t)order[i]->shape[k];
            if (sb_add(&b, k ? ",%lld" : "%lld", (long long)order[i]->shape[k]) < 0) rc = BIENC_ENOMEM;
        }
        if (sb_add(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                   (unsigned long long)(off + 4 * numel)) < 0)
            rc = BIENC_ENOMEM;
        off += 4 * numel;
    }
    if (rc == 0 && sb_add(&b, "}") < 0) rc = BIENC_ENOMEM;
    /* pad the header with spaces so that the data section starts 8-byte aligned */
    while (rc == 0 && (b.len % 8) != 0)
        if (sb_add(&b, " ") < 0) rc = BIENC_ENOMEM;
    if (rc == BIENC_ENOMEM) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory for the header", path);

    atomic_file out;
    if (rc == 0) rc = atomic_file_open(&out, path);
    if (rc == 0) {
        FILE *f = out.f;
        unsigned char hl[8];
        for (int i = 0; i < 8; i++) hl[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
        int ok = fwrite(hl, 1, 8, f) == 8 && fwrite(b.s, 1, b.len, f) == b.len;
        for (int i = 0; i < n && ok; i++) {
            size_t numel = 1;
            for (int k = 0; k < order[i]->ndim; k++) numel *= (size_t)order[i]->shape[k];
            ok = numel == 0 || fwrite(order[i]->data, 4, numel, f) == numel;
        }
        if (!ok) rc = bienc_error(BIENC_EIO, "%s: write failed: %s", path, strerror(errno));
        rc = atomic_file_finish(&out, rc);
    }
    free(b.s);
    free(order);
    return rc;
}
