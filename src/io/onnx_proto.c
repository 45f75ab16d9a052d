/* Protobuf encoding of an ONNX model (see onnx_proto.h; field numbers from onnx.proto, IR 8).
 *
 * Wire format in brief: every field is a key varint (field_number << 3 | wire_type) then
 * the value: wire type 0 a varint (int64 as its two's complement uint64), 2 a length varint
 * and bytes (strings, sub-messages), 5 four little-endian bytes (float). Repeated scalars
 * are written unpacked (one key per element), as proto2 (onnx.proto's syntax) serialises them.
 *
 * Nodes, inputs and outputs are small: each is encoded into the graph's buffers as it is
 * added. Initializers are large: only their header (dims, data_type, name) is encoded at
 * write time; their raw_data goes straight from the caller's array to the file, after the
 * sizes of every enclosing message have been added up. */
#include "io/onnx_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/atomic_file.h"

/* ---- growable byte buffers ---- */

typedef struct pb_buf {
    uint8_t *p;
    size_t n, cap;
    int failed;
} pb_buf;

static void pb_raw(pb_buf *b, const void *data, size_t n)
{
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void pb_varint(pb_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    pb_raw(b, tmp, n);
}

enum { WT_VARINT = 0, WT_LEN = 2, WT_FIXED32 = 5 };

static void pb_key(pb_buf *b, int field, int wire_type) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire_type); }

static void pb_int(pb_buf *b, int field, int64_t v)
{
    pb_key(b, field, WT_VARINT);
    pb_varint(b, (uint64_t)v);
}

static void pb_bytes(pb_buf *b, int field, const void *data, size_t n)
{
    pb_key(b, field, WT_LEN);
    pb_varint(b, n);
    pb_raw(b, data, n);
}

static void pb_str(pb_buf *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

static void pb_float(pb_buf *b, int field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pb_key(b, field, WT_FIXED32);
    pb_raw(b, le, 4);
}

/* A sub-message: its buffer's bytes under `field`; the sub-buffer is released. */
static void pb_msg(pb_buf *b, int field, pb_buf *sub)
{
    if (sub->failed) b->failed = 1;
    pb_bytes(b, field, sub->p, sub->n);
    free(sub->p);
    *sub = (pb_buf){0};
}

/* ---- the graph ---- */

typedef struct onnx_init {
    char *name;
    int ndim, elem_type, transpose;
    int64_t dims[8];
    const void *data; /* the caller's, or `owned` */
    void *owned;
} onnx_init;

struct onnx_graph {
    char *name;
    pb_buf nodes, inputs, outputs; /* GraphProto fields 1, 11, 12, keys included */
    onnx_init *inits;
    int n_inits, cap_inits;
    char **names;
    int n_names, cap_names;
    int failed;
};

onnx_graph *onnx_graph_new(const char *name)
{
    onnx_graph *g = calloc(1, sizeof *g);
    if (g && !(g->name = strdup(name))) {
        free(g);
        g = NULL;
    }
    return g;
}

void onnx_graph_free(onnx_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_inits; i++) {
        free(g->inits[i].name);
        free(g->inits[i].owned);
    }
    for (int i = 0; i < g->n_names; i++) free(g->names[i]);
    free(g->inits);
    free(g->names);
    free(g->nodes.p);
    free(g->inputs.p);
    free(g->outputs.p);
    free(g->name);
    free(g);
}

const char *onnx_name(onnx_graph *g, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (g->n_names == g->cap_names) {
        int cap = g->cap_names ? 2 * g->cap_names : 256;
        char **p = realloc(g->names, (size_t)cap * sizeof *p);
        if (!p) {
            g->failed = 1;
            return "";
        }
        g->names = p;
        g->cap_names = cap;
    }
    char *s = strdup(buf);
    if (!s) {
        g->failed = 1;
        return "";
    }
    g->names[g->n_names++] = s;
    return s;
}

static void attr_encode(pb_buf *b, const onnx_attr *a)
{
    pb_buf m = {0};
    pb_str(&m, 1, a->name);
    pb_int(&m, 20, a->type);
    if (a->type == ONNX_ATTR_FLOAT) pb_float(&m, 2, a->f);
    else if (a->type == ONNX_ATTR_INT) pb_int(&m, 3, a->i);
    else
        for (int k = 0; k < a->n_ints; k++) pb_int(&m, 8, a->ints[k]);
    pb_msg(b, 5, &m);
}

const char *onnx_node(onnx_graph *g, const char *op, const char *const *in, int n_in, const char *out,
                      const onnx_attr *attrs, int n_attrs)
{
    pb_buf m = {0};
    for (int k = 0; k < n_in; k++) pb_str(&m, 1, in[k]);
    pb_str(&m, 2, out);
    pb_str(&m, 3, out); /* node name: its output's, unique since values are assigned once */
    pb_str(&m, 4, op);
    for (int k = 0; k < n_attrs; k++) attr_encode(&m, &attrs[k]);
    pb_msg(&g->nodes, 1, &m);
    return out;
}

static onnx_init *init_add(onnx_graph *g, const char *name, int ndim, const int64_t *dims, int elem_type)
{
    if (ndim < 0 || ndim > 8) {
        g->failed = 1;
        return NULL;
    }
    if (g->n_inits == g->cap_inits) {
        int cap = g->cap_inits ? 2 * g->cap_inits : 64;
        onnx_init *p = realloc(g->inits, (size_t)cap * sizeof *p);
        if (!p) {
            g->failed = 1;
            return NULL;
        }
        g->inits = p;
        g->cap_inits = cap;
    }
    onnx_init *t = &g->inits[g->n_inits];
    *t = (onnx_init){.name = strdup(name), .ndim = ndim, .elem_type = elem_type};
    if (!t->name) {
        g->failed = 1;
        return NULL;
    }
    if (ndim) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    g->n_inits++;
    return t;
}

static int64_t init_count(const onnx_init *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->dims[d];
    return n;
}

void onnx_init_f32(onnx_graph *g, const char *name, int ndim, const int64_t *dims, const float *data, int transpose)
{
    onnx_init *t = init_add(g, name, ndim, dims, ONNX_FLOAT);
    if (!t) return;
    t->data = data;
    t->transpose = transpose && ndim == 2;
}

static void init_copy(onnx_graph *g, const char *name, int ndim, const int64_t *dims, const void *values, int type)
{
    onnx_init *t = init_add(g, name, ndim, dims, type);
    if (!t) return;
    size_t bytes = (size_t)init_count(t) * (type == ONNX_INT64 ? 8 : 4);
    if (!(t->owned = malloc(bytes ? bytes : 1))) {
        g->failed = 1;
        return;
    }
    memcpy(t->owned, values, bytes);
    t->data = t->owned;
}

void onnx_init_i64(onnx_graph *g, const char *name, int ndim, const int64_t *dims, const int64_t *values)
{
    init_copy(g, name, ndim, dims, values, ONNX_INT64);
}

void onnx_init_f32_copy(onnx_graph *g, const char *name, int ndim, const int64_t *dims, const float *values)
{
    init_copy(g, name, ndim, dims, values, ONNX_FLOAT);
}

/* ValueInfoProto { name = 1, type = 2: TypeProto { tensor_type = 1: { elem_type = 1,
 * shape = 2: TensorShapeProto { dim = 1: { dim_value = 1 | dim_param = 2 } } } } } */
static void value_info(pb_buf *field_buf, int field, const char *name, int elem_type, int ndim, const onnx_dim *dims)
{
    pb_buf shape = {0}, tensor = {0}, type = {0}, vi = {0};
    for (int d = 0; d < ndim; d++) {
        pb_buf dim = {0};
        if (dims[d].param) pb_str(&dim, 2, dims[d].param);
        else pb_int(&dim, 1, dims[d].value);
        pb_msg(&shape, 1, &dim);
    }
    pb_int(&tensor, 1, elem_type);
    pb_msg(&tensor, 2, &shape);
    pb_msg(&type, 1, &tensor);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(field_buf, field, &vi);
}

void onnx_input(onnx_graph *g, const char *name, int elem_type, int ndim, const onnx_dim *dims)
{
    value_info(&g->inputs, 11, name, elem_type, ndim, dims);
}

void onnx_output(onnx_graph *g, const char *name, int elem_type, int ndim, const onnx_dim *dims)
{
    value_info(&g->outputs, 12, name, elem_type, ndim, dims);
}

/* ---- writing ---- */

/* TensorProto without raw_data: dims = 1, data_type = 2, name = 8. */
static void init_header(pb_buf *b, const onnx_init *t)
{
    for (int d = 0; d < t->ndim; d++) pb_int(b, 1, t->dims[d]);
    pb_int(b, 2, t->elem_type);
    pb_str(b, 8, t->name);
}

static uint64_t init_raw_bytes(const onnx_init *t) { return (uint64_t)init_count(t) * (t->elem_type == ONNX_INT64 ? 8 : 4); }

/* Size of the TensorProto message (header + raw_data field). */
static uint64_t init_msg_size(const onnx_init *t, size_t header)
{
    uint64_t raw = init_raw_bytes(t);
    return header + 1 + varint_size(raw) + raw;
}

static void put(pb_buf *b, FILE *f)
{
    if (b->n) fwrite(b->p, 1, b->n, f);
    b->n = 0;
}

/* raw_data in little-endian order (checked host order), transposed when asked: the stored
 * [dims[0], dims[1]] tensor is the source [dims[1], dims[0]] matrix read by columns. */
static int init_write_raw(FILE *f, const onnx_init *t)
{
    if (!t->transpose) {
        uint64_t n = init_raw_bytes(t);
        return n == 0 || fwrite(t->data, 1, n, f) == n ? 0 : BIENC_EIO;
    }
    int64_t rows = t->dims[0], cols = t->dims[1]; /* stored; the source is [cols, rows] */
    const float *src = t->data;
    float *row = malloc(sizeof(float) * (size_t)(cols ? cols : 1));
    if (!row) return BIENC_ENOMEM;
    int rc = 0;
    for (int64_t r = 0; r < rows && rc == 0; r++) {
        for (int64_t c = 0; c < cols; c++) row[c] = src[c * rows + r];
        if (fwrite(row, sizeof(float), (size_t)cols, f) != (size_t)cols) rc = BIENC_EIO;
    }
    free(row);
    return rc;
}

int onnx_graph_write(const onnx_graph *g, const onnx_model_info *info, const char *path)
{
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) return bienc_error(BIENC_EINVAL, "%s: ONNX export needs a little-endian host", path);
    if (g->failed || g->nodes.failed || g->inputs.failed || g->outputs.failed)
        return bienc_error(BIENC_ENOMEM, "%s: out of memory while building the ONNX graph", path);

    /* sizes first: protobuf puts every message's length before it */
    pb_buf hdr = {0};
    size_t *hdr_len = calloc((size_t)g->n_inits + 1, sizeof *hdr_len);
    if (!hdr_len) return bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
    uint64_t graph_size = g->nodes.n + g->inputs.n + g->outputs.n;
    pb_buf name = {0};
    pb_str(&name, 2, g->name);
    graph_size += name.n;
    for (int i = 0; i < g->n_inits; i++) {
        size_t before = hdr.n;
        init_header(&hdr, &g->inits[i]);
        hdr_len[i] = hdr.n - before;
        uint64_t m = init_msg_size(&g->inits[i], hdr_len[i]);
        graph_size += 1 + varint_size(m) + m;
    }
    pb_buf head = {0}, tail = {0};
    pb_int(&head, 1, info->ir_version);
    pb_str(&head, 2, info->producer_name);
    pb_str(&head, 3, info->producer_version);
    if (info->doc) pb_str(&head, 6, info->doc);
    pb_key(&head, 7, WT_LEN);
    pb_varint(&head, graph_size);
    pb_buf opset = {0};
    pb_str(&opset, 1, "");
    pb_int(&opset, 2, info->opset);
    pb_msg(&tail, 8, &opset);
    for (int k = 0; k < info->n_meta; k++) {
        pb_buf kv = {0};
        pb_str(&kv, 1, info->meta[2 * k]);
        pb_str(&kv, 2, info->meta[2 * k + 1]);
        pb_msg(&tail, 14, &kv);
    }
    int rc = 0;
    if (hdr.failed || name.failed || head.failed || tail.failed) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
    else if (head.n + graph_size + tail.n > (uint64_t)INT32_MAX)
        rc = bienc_error(BIENC_ERANGE, "%s: the model needs %.2f GiB, past protobuf's 2 GiB limit", path,
                         (double)(head.n + graph_size + tail.n) / (1 << 30));

    atomic_file out = {0};
    if (rc == 0) rc = atomic_file_open(&out, path);
    if (rc == 0) {
        FILE *f = out.f;
        put(&head, f);
        fwrite(g->nodes.p, 1, g->nodes.n, f);
        put(&name, f);
        size_t off = 0;
        for (int i = 0; i < g->n_inits && rc == 0; i++) {
            const onnx_init *t = &g->inits[i];
            pb_buf k = {0};
            uint64_t raw = init_raw_bytes(t);
            pb_key(&k, 5, WT_LEN);
            pb_varint(&k, init_msg_size(t, hdr_len[i]));
            pb_raw(&k, hdr.p + off, hdr_len[i]);
            pb_key(&k, 9, WT_LEN);
            pb_varint(&k, raw);
            off += hdr_len[i];
            if (k.failed) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", path);
            put(&k, f);
            free(k.p);
            int w = rc == 0 ? init_write_raw(f, t) : 0;
            if (w == BIENC_ENOMEM) rc = bienc_error(w, "%s: out of memory transposing %s", path, t->name);
            else if (w < 0) rc = bienc_error(w, "%s: writing %s: %s", path, t->name, strerror(errno));
        }
        if (g->inputs.n) fwrite(g->inputs.p, 1, g->inputs.n, f);
        if (g->outputs.n) fwrite(g->outputs.p, 1, g->outputs.n, f);
        put(&tail, f);
        rc = atomic_file_finish(&out, rc);
    }
    free(hdr.p);
    free(hdr_len);
    free(name.p);
    free(head.p);
    free(tail.p);
    return rc;
}
