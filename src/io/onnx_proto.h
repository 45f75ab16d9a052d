/* The few ONNX protobuf messages the exporter writes (onnx.proto of ONNX 1.12, IR version 8,
 * as shipped in Debian's python3-onnx): ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto, TypeProto(.Tensor), TensorShapeProto, OperatorSetIdProto and
 * StringStringEntryProto. A hand-written encoder rather than libprotobuf-c: about 300 lines
 * against a generated schema plus a library, and it streams the weights (initializers are
 * referenced, not copied, and written straight to the file, transposed on the fly when asked).
 *
 * Usage: build a graph (nodes in topological order, initializers, inputs, outputs), then
 * onnx_graph_write. Builder calls never fail: an allocation failure is remembered and
 * reported by onnx_graph_write, so graph-building code reads as a list of ops. Names passed
 * in are copied; onnx_name() makes a name that lives as long as the graph. */
#ifndef BIENC_IO_ONNX_PROTO_H
#define BIENC_IO_ONNX_PROTO_H

#include <stdint.h>

/* TensorProto.DataType values */
enum { ONNX_FLOAT = 1, ONNX_INT64 = 7, ONNX_BOOL = 9 };

typedef struct onnx_graph onnx_graph;

/* A node attribute: an int (ONNX_ATTR_INT), a float or a list of ints. */
typedef enum { ONNX_ATTR_FLOAT = 1, ONNX_ATTR_INT = 2, ONNX_ATTR_INTS = 7 } onnx_attr_type;
typedef struct onnx_attr {
    const char *name;
    onnx_attr_type type;
    int64_t i;
    float f;
    const int64_t *ints;
    int n_ints;
} onnx_attr;

/* One dimension of a graph input or output: symbolic (param, e.g. "batch") or fixed (value). */
typedef struct onnx_dim {
    const char *param;
    int64_t value;
} onnx_dim;

typedef struct onnx_model_info {
    int64_t ir_version, opset;
    const char *producer_name, *producer_version, *doc;
    const char *const *meta; /* n_meta key/value pairs: meta[2k] key, meta[2k + 1] value */
    int n_meta;
} onnx_model_info;

onnx_graph *onnx_graph_new(const char *name);
void onnx_graph_free(onnx_graph *g);

/* A printf-formatted name owned by the graph ("" after an allocation failure). */
const char *onnx_name(onnx_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends node `op` (default domain) reading in[0..n_in) and writing `out`; returns out. */
const char *onnx_node(onnx_graph *g, const char *op, const char *const *in, int n_in, const char *out,
                      const onnx_attr *attrs, int n_attrs);

/* A float initializer whose data the graph only references (it must outlive the write).
 * transpose (2-D only): the file holds data^T, dims = {shape[1], shape[0]} of the source
 * [dims[1], dims[0]] matrix, i.e. dims are those of the stored tensor. */
void onnx_init_f32(onnx_graph *g, const char *name, int ndim, const int64_t *dims, const float *data, int transpose);
/* Small constants, copied: int64 of any shape, float scalars (ndim 0) or vectors. */
void onnx_init_i64(onnx_graph *g, const char *name, int ndim, const int64_t *dims, const int64_t *values);
void onnx_init_f32_copy(onnx_graph *g, const char *name, int ndim, const int64_t *dims, const float *values);

/* Graph inputs and outputs: a tensor of elem_type with ndim dimensions. */
void onnx_input(onnx_graph *g, const char *name, int elem_type, int ndim, const onnx_dim *dims);
void onnx_output(onnx_graph *g, const char *name, int elem_type, int ndim, const onnx_dim *dims);

/* Writes the ModelProto (opset_import of the default domain, the graph, metadata_props) to
 * `path` atomically. Fails on an earlier allocation failure, on a model past protobuf's
 * 2 GiB message limit, or on an I/O error (the message names the file and the OS reason). */
int onnx_graph_write(const onnx_graph *g, const onnx_model_info *info, const char *path);

#endif
