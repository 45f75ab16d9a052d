/* Runs one op on tensors from a parity file and writes its output and gradients, for
 * tests/torch/test_ops.py (file format in parity_io.py).
 *
 *   torch_ops_driver in.bpio out.bpio
 *
 * Input entries: "op" (uint8 name), the op's tensors (float32, all requiring gradients),
 * settings (alpha, eps, p: float32 scalars; kind, n_heads, offsets, ids, qoffsets, poffsets:
 * int32; key: int64; attention takes optional p and key for attention dropout; maxsim
 * reads qtok and ptok packed by qoffsets and poffsets, and alpha as its scale)
 * "precision" (int32: 0 fp32, 1 bf16, 2 int8, the tape's matrix products; default fp32)
 * and "G", the upstream gradient dL/d(out). Output entries: "out" and "grad_<input>" for
 * every float32 input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "ops/ops.h"
#include "ops/pooling.h"

#define MAX_ENTRIES 32

typedef struct {
    char name[64];
    uint32_t dtype, ndim;
    int64_t shape[BIENC_MAX_DIMS];
    int64_t size;
    void *data;
    bienc_tensor *t; /* float32 entries as parameters requiring gradients */
} entry;

static entry entries[MAX_ENTRIES];
static int n_entries;

static const size_t dtype_size[] = {4, 4, 8, 1};

static int read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return bienc_error(BIENC_EIO, "%s: cannot open", path);
    char magic[4];
    uint32_t hdr[2];
    int rc = BIENC_EFORMAT;
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "BPIO", 4) || fread(hdr, 4, 2, f) != 2 || hdr[0] != 1 ||
        hdr[1] > MAX_ENTRIES) {
        bienc_error(rc, "%s: bad header", path);
        goto done;
    }
    for (uint32_t i = 0; i < hdr[1]; i++) {
        entry *e = &entries[n_entries];
        uint32_t len;
        if (fread(&len, 4, 1, f) != 1 || len >= sizeof e->name || fread(e->name, 1, len, f) != len) {
            bienc_error(rc, "%s: entry %u: bad name", path, i);
            goto done;
        }
        e->name[len] = '\0';
        if (fread(&e->dtype, 4, 1, f) != 1 || e->dtype > 3 || fread(&e->ndim, 4, 1, f) != 1 || e->ndim > BIENC_MAX_DIMS ||
            fread(e->shape, 8, e->ndim, f) != e->ndim) {
            bienc_error(rc, "%s: entry %s: bad dtype or shape", path, e->name);
            goto done;
        }
        e->size = tensor_shape_size((int)e->ndim, e->shape);
        if (e->size < 0 || e->size > ((int64_t)1 << 30)) {
            bienc_error(rc, "%s: entry %s: bad size", path, e->name);
            goto done;
        }
        e->data = malloc((size_t)(e->size ? e->size : 1) * dtype_size[e->dtype]);
        n_entries++;
        if (!e->data || fread(e->data, dtype_size[e->dtype], (size_t)e->size, f) != (size_t)e->size) {
            bienc_error(rc, "%s: entry %s: truncated", path, e->name);
            goto done;
        }
    }
    rc = BIENC_OK;
done:
    fclose(f);
    return rc;
}

static entry *find(const char *name, uint32_t dtype)
{
    for (int i = 0; i < n_entries; i++)
        if (strcmp(entries[i].name, name) == 0 && entries[i].dtype == dtype) return &entries[i];
    return NULL;
}

static bienc_tensor *tensor(const char *name)
{
    entry *e = find(name, 0);
    return e ? e->t : NULL;
}

static float scalar_f(const char *name, float dflt)
{
    entry *e = find(name, 0);
    return e && e->size == 1 ? ((float *)e->data)[0] : dflt;
}

static int scalar_i(const char *name, int dflt)
{
    entry *e = find(name, 1);
    return e && e->size == 1 ? ((int32_t *)e->data)[0] : dflt;
}

static int write_tensor(FILE *f, const char *name, const float *data, int ndim, const int64_t *shape, int64_t size)
{
    uint32_t len = (uint32_t)strlen(name), dtype = 0, nd = (uint32_t)ndim;
    if (fwrite(&len, 4, 1, f) != 1 || fwrite(name, 1, len, f) != len || fwrite(&dtype, 4, 1, f) != 1 ||
        fwrite(&nd, 4, 1, f) != 1 || fwrite(shape, 8, nd, f) != nd ||
        fwrite(data, 4, (size_t)size, f) != (size_t)size)
        return bienc_error(BIENC_EIO, "write failed");
    return BIENC_OK;
}

static int is_setting(const char *name)
{
    return !strcmp(name, "G") || !strcmp(name, "alpha") || !strcmp(name, "eps") || !strcmp(name, "p");
}

static int run(const char *in_path, const char *out_path)
{
    BIENC_TRY(read_file(in_path));
    entry *op = find("op", 3);
    entry *G = find("G", 0);
    if (!op || !G) return bienc_error(BIENC_EFORMAT, "%s: needs entries op and G", in_path);
    char name[32] = {0};
    memcpy(name, op->data, op->size < 31 ? (size_t)op->size : 31);
    for (int i = 0; i < n_entries; i++) {
        entry *e = &entries[i];
        if (e->dtype != 0 || is_setting(e->name)) continue;
        BIENC_TRY(tensor_new(&e->t, (int)e->ndim, e->shape, 1));
        memcpy(e->t->data, e->data, sizeof(float) * (size_t)e->size);
    }
    bienc_tape *tape;
    BIENC_TRY(tape_new(&tape));
    entry *prec = find("precision", 1);
    if (prec && prec->size == 1) {
        int32_t v = ((int32_t *)prec->data)[0];
        tape_set_precision(tape, v == 2 ? BIENC_PRECISION_INT8 : v == 1 ? BIENC_PRECISION_BF16 : BIENC_PRECISION_FP32);
    }
    bienc_tensor *out = NULL;
    int rc;
    if (!strcmp(name, "linear"))
        rc = op_linear(tape, tensor("x"), tensor("W"), tensor("b"), &out);
    else if (!strcmp(name, "add"))
        rc = op_add(tape, tensor("a"), tensor("b"), &out);
    else if (!strcmp(name, "add_bias"))
        rc = op_add_bias(tape, tensor("x"), tensor("b"), &out);
    else if (!strcmp(name, "scale"))
        rc = op_scale(tape, tensor("x"), scalar_f("alpha", 1.0f), &out);
    else if (!strcmp(name, "layernorm"))
        rc = op_layernorm(tape, tensor("x"), tensor("gamma"), tensor("beta"), scalar_f("eps", 1e-12f), &out);
    else if (!strcmp(name, "gelu"))
        rc = op_gelu(tape, tensor("x"), (bienc_gelu_kind)scalar_i("kind", 0), &out);
    else if (!strcmp(name, "softmax"))
        rc = op_softmax(tape, tensor("x"), &out);
    else if (!strcmp(name, "attention")) {
        entry *off = find("offsets", 1);
        bienc_seqs seqs = {.n = off ? (int)off->size - 1 : 0, .offsets = off ? off->data : NULL};
        entry *key = find("key", 2);
        uint64_t k = key && key->size == 1 ? (uint64_t)((int64_t *)key->data)[0] : 0;
        rc = off && off->size > 0 ? op_attention_dropout(tape, tensor("q"), tensor("k"), tensor("v"), &seqs,
                                                         scalar_i("n_heads", 1), scalar_f("p", 0.0f), k, 1, &out)
                                  : bienc_error(BIENC_EFORMAT, "attention needs offsets");
    } else if (!strcmp(name, "dropout")) {
        entry *key = find("key", 2);
        rc = key && key->size == 1
                 ? op_dropout(tape, tensor("x"), scalar_f("p", 0.0f), (uint64_t)((int64_t *)key->data)[0], 1, &out)
                 : bienc_error(BIENC_EFORMAT, "dropout needs key");
    } else if (!strcmp(name, "maxsim")) {
        entry *qo = find("qoffsets", 1), *po = find("poffsets", 1);
        bienc_seqs qs = {.n = qo ? (int)qo->size - 1 : 0, .offsets = qo ? qo->data : NULL};
        bienc_seqs ps = {.n = po ? (int)po->size - 1 : 0, .offsets = po ? po->data : NULL};
        rc = qo && po ? op_maxsim(tape, tensor("qtok"), &qs, tensor("ptok"), &ps, scalar_f("alpha", 1.0f), &out)
                      : bienc_error(BIENC_EFORMAT, "maxsim needs qoffsets and poffsets");
    } else if (!strcmp(name, "embedding")) {
        entry *ids = find("ids", 1);
        rc = ids ? op_embedding(tape, tensor("table"), ids->data, ids->size, &out)
                 : bienc_error(BIENC_EFORMAT, "embedding needs ids");
    } else
        rc = bienc_error(BIENC_EINVAL, "unknown op '%s'", name);
    if (rc >= 0 && out->size != G->size)
        rc = bienc_error(BIENC_ESHAPE, "G has %lld elements, the output %lld", (long long)G->size, (long long)out->size);
    if (rc >= 0) rc = tape_backward_from(tape, out, G->data);
    FILE *f = rc >= 0 ? fopen(out_path, "wb") : NULL;
    if (rc >= 0 && !f) rc = bienc_error(BIENC_EIO, "%s: cannot create", out_path);
    if (f) {
        uint32_t count = 1;
        for (int i = 0; i < n_entries; i++) count += entries[i].t != NULL;
        uint32_t hdr[2] = {1, count};
        fwrite("BPIO", 1, 4, f);
        fwrite(hdr, 4, 2, f);
        rc = write_tensor(f, "out", out->data, out->ndim, out->shape, out->size);
        for (int i = 0; i < n_entries && rc >= 0; i++) {
            bienc_tensor *t = entries[i].t;
            if (!t) continue;
            char gname[80];
            snprintf(gname, sizeof gname, "grad_%.60s", entries[i].name);
            rc = write_tensor(f, gname, t->grad, t->ndim, t->shape, t->size);
        }
        if (fclose(f) != 0 && rc >= 0) rc = bienc_error(BIENC_EIO, "%s: write failed", out_path);
    }
    tape_free(tape);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s in.bpio out.bpio\n", argv[0]);
        return 2;
    }
    int rc = run(argv[1], argv[2]);
    for (int i = 0; i < n_entries; i++) {
        tensor_free(entries[i].t);
        free(entries[i].data);
    }
    if (rc < 0) {
        fprintf(stderr, "torch_ops_driver: %s\n", bienc_last_error());
        return 1;
    }
    return 0;
}
