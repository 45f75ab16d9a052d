/* Driver for tests/torch/test_heads.py: runs one pooling / similarity / loss op of
 * bienc on inputs written by the script and writes the output and input gradients.
 *
 *   torch_heads_driver <case> <in.bin> <out.bin>
 *
 * Both files are sequences of records:
 *   u32 name_len, name, u32 dtype (0 = f32, 1 = i32), u32 ndim, i64 dims[ndim], data
 * Inputs: the float tensors of the case (names below), "upstream" (dL/d out, the size of
 * the output), optionally "offsets" / "labels" / "positions" (i32), "targets" and "params" (f32).
 * Outputs: "out" and "grad/<name>" for every float input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops/loss.h"
#include "model/mlm.h"
#include "ops/pooling.h"

#define MAX_RECORDS 16

typedef struct record {
    char name[64];
    int dtype, ndim;
    int64_t dims[BIENC_MAX_DIMS], size;
    void *data;
    bienc_tensor *t; /* float inputs become tensors that require a gradient */
} record;

static record recs[MAX_RECORDS];
static int n_recs;

static int read_records(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return bienc_error(BIENC_EIO, "cannot open %s", path);
    uint32_t len;
    while (fread(&len, 4, 1, f) == 1) {
        if (n_recs == MAX_RECORDS || len == 0 || len >= sizeof recs[0].name) goto bad;
        record *r = &recs[n_recs];
        uint32_t dtype, ndim;
        if (fread(r->name, 1, len, f) != len || fread(&dtype, 4, 1, f) != 1 || fread(&ndim, 4, 1, f) != 1) goto bad;
        r->name[len] = '\0';
        if (dtype > 1 || ndim < 1 || ndim > BIENC_MAX_DIMS) goto bad;
        r->dtype = (int)dtype;
        r->ndim = (int)ndim;
        if (fread(r->dims, sizeof(int64_t), ndim, f) != ndim) goto bad;
        r->size = tensor_shape_size(r->ndim, r->dims);
        if (r->size < 0 || r->size > ((int64_t)1 << 28)) goto bad;
        r->data = malloc(4 * (size_t)(r->size ? r->size : 1));
        n_recs++;
        if (!r->data || fread(r->data, 4, (size_t)r->size, f) != (size_t)r->size) goto bad;
    }
    fclose(f);
    return BIENC_OK;
bad:
    fclose(f);
    return bienc_error(BIENC_EFORMAT, "%s: malformed record %d", path, n_recs);
}

static record *find(const char *name)
{
    for (int i = 0; i < n_recs; i++)
        if (!strcmp(recs[i].name, name)) return &recs[i];
    return NULL;
}

/* The float tensor input `name` (a heap tensor with a gradient), or NULL. */
static bienc_tensor *in(const char *name)
{
    record *r = find(name);
    return r && r->t ? r->t : NULL;
}

static const void *raw(const char *name, int dtype, int64_t min_size)
{
    record *r = find(name);
    return r && r->dtype == dtype && r->size >= min_size ? r->data : NULL;
}

static int write_record(FILE *f, const char *name, int ndim, const int64_t *dims, const float *data, int64_t size)
{
    uint32_t len = (uint32_t)strlen(name), dtype = 0, nd = (uint32_t)ndim;
    if (fwrite(&len, 4, 1, f) != 1 || fwrite(name, 1, len, f) != len || fwrite(&dtype, 4, 1, f) != 1 ||
        fwrite(&nd, 4, 1, f) != 1 || fwrite(dims, sizeof(int64_t), (size_t)ndim, f) != (size_t)ndim ||
        fwrite(data, 4, (size_t)size, f) != (size_t)size)
        return bienc_error(BIENC_EIO, "write failed");
    return BIENC_OK;
}

static int run_case(bienc_tape *tape, const char *c, bienc_tensor **out)
{
    const float *params = raw("params", 0, 1);
    float p0 = params ? params[0] : 0.0f;
    if (!strncmp(c, "pool_", 5)) {
        record *o = find("offsets");
        if (!o || o->dtype != 1 || o->size < 2) return bienc_error(BIENC_EINVAL, "pool: offsets missing");
        bienc_seqs seqs = {.n = (int)o->size - 1, .offsets = o->data};
        int mode = pool_mode_from_name(c + 5);
        if (mode < 0) return bienc_error(BIENC_EINVAL, "unknown pooling %s", c + 5);
        return op_pool(tape, in("x"), &seqs, (bienc_pool_mode)mode, out);
    }
    if (!strcmp(c, "l2_normalize")) return op_l2_normalize(tape, in("x"), out);
    if (!strcmp(c, "cos_sim")) return op_cos_sim_matrix(tape, in("a"), in("b"), out);
    if (!strcmp(c, "cos_sim_scaled")) return op_cos_sim_matrix_scaled(tape, in("a"), in("b"), p0, out);
    if (!strcmp(c, "dot")) return op_dot_matrix(tape, in("a"), in("b"), out);
    if (!strcmp(c, "row_dot")) return op_row_dot(tape, in("a"), in("b"), out);
    if (!strcmp(c, "concat")) return op_concat_rows(tape, in("a"), in("b"), out);
    if (!strcmp(c, "cross_entropy")) {
        bienc_tensor *x = in("logits");
        return loss_cross_entropy(tape, x, raw("labels", 1, x ? x->shape[0] : 0), out);
    }
    if (!strcmp(c, "triplet_euclidean") || !strncmp(c, "triplet_cosine", 14))
        return loss_triplet(tape, in("a"), in("p"), in("n"),
                            c[8] == 'e' ? BIENC_DIST_EUCLIDEAN : BIENC_DIST_COSINE, p0, out);
    if (!strcmp(c, "mse")) return loss_mse(tape, in("a"), in("b"), out);
    if (!strcmp(c, "bce")) {
        bienc_tensor *x = in("logits");
        return loss_bce_with_logits(tape, x, raw("targets", 0, x ? x->size : 0), out);
    }
    if (!strcmp(c, "mnrl") || !strcmp(c, "mnrl_symmetric"))
        return loss_mnrl(tape, in("q"), in("docs"), p0, c[4] == '_', out);
    if (!strcmp(c, "margin_mse")) {
        bienc_tensor *q = in("q");
        return loss_margin_mse(tape, q, in("p"), in("n"), raw("targets", 0, q ? q->shape[0] : 0), out);
    }
    if (!strcmp(c, "distill_kl_mnrl")) { /* params: [scale, temperature, in_batch_weight]: the trainer's sum */
        bienc_tensor *q = in("q"), *docs = in("docs"), *kl, *ce;
        if (!q || !docs || !params || find("params")->size < 3) return bienc_error(BIENC_EINVAL, "distill_kl_mnrl: inputs missing");
        BIENC_TRY(loss_distill_kl_div(tape, q, docs, raw("targets", 0, docs->shape[0]), BIENC_SIM_COS, p0, params[1], &kl));
        BIENC_TRY(loss_mnrl(tape, q, docs, p0, 0, &ce));
        return op_weighted_sum(tape, 2, (bienc_tensor *[]){kl, ce}, (float[]){1.0f, params[2]}, out);
    }
    if (!strncmp(c, "distill_kl_", 11)) { /* params: [scale, temperature]; targets: teacher [B, 1 + K] */
        bienc_tensor *q = in("q"), *docs = in("docs");
        if (!q || !docs || !params || find("params")->size < 2) return bienc_error(BIENC_EINVAL, "distill_kl: inputs missing");
        return loss_distill_kl_div(tape, q, docs, raw("targets", 0, docs->shape[0]),
                                   strncmp(c + 11, "dot", 3) ? BIENC_SIM_COS : BIENC_SIM_DOT, p0, params[1], out);
    }
    if (!strncmp(c, "mlm_", 4)) { /* params: [layer_norm_eps]; case mlm_gelu / mlm_gelu_new */
        bienc_mlm_head h = {.dense_w = in("dense_w"), .dense_b = in("dense_b"), .ln_w = in("ln_w"),
                            .ln_b = in("ln_b"), .bias = in("bias"), .eps = p0,
                            .activation = strcmp(c, "mlm_gelu_new") ? BIENC_GELU_ERF : BIENC_GELU_TANH};
        record *pos = find("positions");
        if (!pos || pos->dtype != 1 || !h.dense_w || !h.bias) return bienc_error(BIENC_EINVAL, "mlm: inputs missing");
        return mlm_loss(tape, &h, in("word_emb"), in("hidden"), pos->data, raw("labels", 1, pos->size), pos->size, out);
    }
    return bienc_error(BIENC_EINVAL, "unknown case %s", c);
}

static int is_input_tensor(const record *r)
{
    return r->dtype == 0 && strcmp(r->name, "upstream") && strcmp(r->name, "targets") && strcmp(r->name, "params");
}

static int run(const char *c, const char *in_path, const char *out_path)
{
    BIENC_TRY(read_records(in_path));
    for (int i = 0; i < n_recs; i++) {
        record *r = &recs[i];
        if (!is_input_tensor(r)) continue;
        BIENC_TRY(tensor_new(&r->t, r->ndim, r->dims, 1));
        memcpy(r->t->data, r->data, sizeof(float) * (size_t)r->size);
    }
    bienc_tape *tape;
    BIENC_TRY(tape_new(&tape));
    bienc_tensor *o = NULL;
    int rc = run_case(tape, c, &o);
    const float *up = rc == 0 ? raw("upstream", 0, o->size) : NULL;
    if (rc == 0 && !up) rc = bienc_error(BIENC_EINVAL, "upstream missing or smaller than the output");
    if (rc == 0) rc = tape_backward_from(tape, o, up);
    FILE *f = NULL;
    if (rc == 0 && !(f = fopen(out_path, "wb"))) rc = bienc_error(BIENC_EIO, "cannot open %s", out_path);
    if (rc == 0) rc = write_record(f, "out", o->ndim, o->shape, o->data, o->size);
    for (int i = 0; rc == 0 && i < n_recs; i++) {
        record *r = &recs[i];
        if (!r->t) continue;
        char name[80];
        snprintf(name, sizeof name, "grad/%.63s", r->name);
        rc = write_record(f, name, r->ndim, r->dims, r->t->grad, r->size);
    }
    if (f && fclose(f) != 0 && rc == 0) rc = bienc_error(BIENC_EIO, "cannot write %s", out_path);
    tape_free(tape);
    for (int i = 0; i < n_recs; i++) {
        tensor_free(recs[i].t);
        free(recs[i].data);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <case> <in.bin> <out.bin>\n", argv[0]);
        return 2;
    }
    if (run(argv[1], argv[2], argv[3]) < 0) {
        fprintf(stderr, "torch_heads_driver %s: %s\n", argv[1], bienc_last_error());
        return 1;
    }
    return 0;
}
