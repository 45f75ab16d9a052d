/* bienc models as ONNX graphs (see src/io/onnx_export.h; the protobuf side is
 * src/io/onnx_proto.c). Every op mirrors one of bienc's forward pass (src/model/encoder.c,
 * src/ops/), in the same order, so ONNX Runtime's outputs equal bienc's up to float
 * rounding:
 *   embeddings   word[ids] + position[0..S) + type[token_type_ids], LayerNorm (op_layernorm)
 *   attention    softmax(Q K^T / sqrt(D) + mask) V per head (op_attention). bienc packs the
 *                sequences without padding; here a padded key gets -FLT_MAX added to its
 *                score (Hugging Face's extended attention mask), so its weight is exactly 0
 *   feed-forward GELU, erf form or tanh form as the config says (op_gelu)
 *   LayerNorm    LayerNormalization (opset 17), biased variance, the config's epsilon
 *   pooling      mean over the unmasked tokens, the first token, or the max over the
 *                unmasked tokens (op_pool), then L2 normalisation (op_l2_normalize)
 * Opset 17: the first with LayerNormalization; ReduceMax and ReduceL2 still take their axes
 * as an attribute there, ReduceSum (since 13) as an input.
 *
 * The subgraphs take the shapes torch.onnx gives Hugging Face's BERT where ONNX Runtime's
 * graph optimiser looks for them: GELU as Div / Erf / Add / Mul (-> Gelu, BiasGelu), the
 * tanh form with Pow (-> FastGelu), residual Add(sublayer, input) before LayerNormalization
 * (-> SkipLayerNormalization), and every shape inferable from the inputs' [batch, sequence]
 * (test_onnx_ort.sh checks that these fusions happen). */
#include "io/onnx_export.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "io/hf_import.h"
#include "core/version.h"
#include "io/onnx_proto.h"

#define ONNX_IR_VERSION 8
#define ONNX_OPSET 17

/* ---- small helpers: one op per call, the output name given ---- */

static const char *op1(onnx_graph *g, const char *op, const char *a, const char *out)
{
    return onnx_node(g, op, &a, 1, out, NULL, 0);
}

static const char *op2(onnx_graph *g, const char *op, const char *a, const char *b, const char *out)
{
    return onnx_node(g, op, (const char *[]){a, b}, 2, out, NULL, 0);
}

static const char *op_ints(onnx_graph *g, const char *op, const char *a, const char *attr, const int64_t *v, int n,
                           const char *out)
{
    onnx_attr at = {.name = attr, .type = ONNX_ATTR_INTS, .ints = v, .n_ints = n};
    return onnx_node(g, op, &a, 1, out, &at, 1);
}

static const char *const_f32(onnx_graph *g, const char *name, float v)
{
    onnx_init_f32_copy(g, name, 0, NULL, &v);
    return name;
}

static const char *const_i64s(onnx_graph *g, const char *name, int n, const int64_t *v)
{
    onnx_init_i64(g, name, 1, (int64_t[]){n}, v);
    return name;
}

/* A parameter as an initializer under its Hugging Face name. */
static const char *param(onnx_graph *g, const bienc_tensor *t)
{
    onnx_init_f32(g, t->name, t->ndim, t->shape, t->data, 0);
    return t->name;
}

/* torch.nn.Linear as torch.onnx exports it: MatMul by the stored transpose, then the bias
 * (op_linear: y[R, out] = x[R, in] W^T + b). */
static const char *linear(onnx_graph *g, const char *x, const bienc_tensor *w, const bienc_tensor *b, const char *out)
{
    const char *wt = onnx_name(g, "%s_T", w->name);
    onnx_init_f32(g, wt, 2, (int64_t[]){w->shape[1], w->shape[0]}, w->data, 1);
    const char *mm = op2(g, "MatMul", x, wt, onnx_name(g, "%s/matmul", out));
    return op2(g, "Add", mm, param(g, b), out);
}

static const char *layernorm(onnx_graph *g, const char *x, const bienc_tensor *w, const bienc_tensor *b, float eps,
                             const char *out)
{
    onnx_attr at[2] = {{.name = "axis", .type = ONNX_ATTR_INT, .i = -1},
                       {.name = "epsilon", .type = ONNX_ATTR_FLOAT, .f = eps}};
    return onnx_node(g, "LayerNormalization", (const char *[]){x, param(g, w), param(g, b)}, 3, out, at, 2);
}

/* ---- the encoder ---- */

/* Constants every layer shares, made once. */
typedef struct bert_consts {
    const char *heads_shape;  /* [0, 0, H, D]: [B, S, C] -> [B, S, H, D] */
    const char *hidden_shape; /* [0, 0, C] */
    const char *sqrt_head;    /* sqrt(D): scores are divided by it, as Hugging Face does */
    const char *mask_bias;    /* [B, 1, 1, S]: 0 for tokens, -FLT_MAX for padding */
} bert_consts;

/* In the form torch.onnx exports Hugging Face's activations, which ONNX Runtime's
 * GeluFusion / FastGeluFusion turn into one Gelu / FastGelu kernel. */
static const char *gelu(onnx_graph *g, const char *x, bienc_gelu_kind kind, const char *out)
{
    const char *half = op2(g, "Mul", x, "c/half", onnx_name(g, "%s/half_x", out));
    const char *t;
    if (kind == BIENC_GELU_ERF) {
        /* 0.5 x (1 + erf(x / sqrt 2)) */
        t = op1(g, "Erf", op2(g, "Div", x, "c/sqrt2", onnx_name(g, "%s/scaled", out)), onnx_name(g, "%s/erf", out));
    } else {
        /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
        const char *x3 = op2(g, "Pow", x, "c/three", onnx_name(g, "%s/x3", out));
        const char *in = op2(g, "Add", x, op2(g, "Mul", x3, "c/gelu_a", onnx_name(g, "%s/ax3", out)),
                             onnx_name(g, "%s/inner", out));
        t = op1(g, "Tanh", op2(g, "Mul", in, "c/sqrt_2_over_pi", onnx_name(g, "%s/u", out)),
                onnx_name(g, "%s/tanh", out));
    }
    return op2(g, "Mul", half, op2(g, "Add", t, "c/one", onnx_name(g, "%s/one_plus", out)), out);
}

/* [B, S, C] -> [B, H, S, D] (perm 0 2 1 3), or [B, H, D, S] for the keys (perm 0 2 3 1). */
static const char *split_heads(onnx_graph *g, const bert_consts *k, const char *x, int keys, const char *out)
{
    static const int64_t perm_q[4] = {0, 2, 1, 3}, perm_k[4] = {0, 2, 3, 1};
    const char *r = op2(g, "Reshape", x, k->heads_shape, onnx_name(g, "%s/heads", out));
    return op_ints(g, "Transpose", r, "perm", keys ? perm_k : perm_q, 4, out);
}

static const char *layer(onnx_graph *g, const bienc_encoder *enc, int l, const bert_consts *k, const char *x,
                         const char *out)
{
    static const int64_t perm[4] = {0, 2, 1, 3};
    const bienc_encoder_layer *L = &enc->layers[l];
    float eps = enc->cfg.layer_norm_eps;
#define N(suffix) onnx_name(g, "layer%d/%s", l, suffix)
    const char *q = split_heads(g, k, linear(g, x, L->query_w, L->query_b, N("q")), 0, N("qh"));
    const char *kk = split_heads(g, k, linear(g, x, L->key_w, L->key_b, N("k")), 1, N("kh"));
    const char *v = split_heads(g, k, linear(g, x, L->value_w, L->value_b, N("v")), 0, N("vh"));
    /* scores [B, H, S, S] = (Q K^T) / sqrt(D) + mask (op_attention: sgemm alpha 1 / sqrt(D)) */
    const char *s = op2(g, "Div", op2(g, "MatMul", q, kk, N("qk")), k->sqrt_head, N("scores"));
    s = op2(g, "Add", s, k->mask_bias, N("masked"));
    onnx_attr axis = {.name = "axis", .type = ONNX_ATTR_INT, .i = -1};
    const char *p = onnx_node(g, "Softmax", &s, 1, N("probs"), &axis, 1);
    const char *ctx = op_ints(g, "Transpose", op2(g, "MatMul", p, v, N("ctx_heads")), "perm", perm, 4, N("ctx_t"));
    ctx = op2(g, "Reshape", ctx, k->hidden_shape, N("ctx"));
    const char *a = linear(g, ctx, L->attn_out_w, L->attn_out_b, N("attn_out"));
    const char *x1 = layernorm(g, op2(g, "Add", a, x, N("res1")), L->attn_ln_w, L->attn_ln_b, eps, N("x1"));
    const char *h = linear(g, x1, L->inter_w, L->inter_b, N("inter"));
    const char *f = linear(g, gelu(g, h, enc->cfg.activation, N("gelu")), L->out_w, L->out_b, N("ffn"));
    return layernorm(g, op2(g, "Add", f, x1, N("res2")), L->out_ln_w, L->out_ln_b, eps, out);
#undef N
}

/* Inputs, embeddings, the layers; returns the token states' name ("last_hidden_state"). */
static const char *encoder_graph(onnx_graph *g, const bienc_encoder *enc)
{
    const bienc_encoder_config *c = &enc->cfg;
    const onnx_dim bs[2] = {{"batch", 0}, {"sequence", 0}};
    onnx_input(g, "input_ids", ONNX_INT64, 2, bs);
    onnx_input(g, "attention_mask", ONNX_INT64, 2, bs);
    onnx_input(g, "token_type_ids", ONNX_INT64, 2, bs);

    /* constants (ONNX Runtime warns about unused ones, so only what this graph uses) */
    const_f32(g, "c/one", 1.0f);
    const_f32(g, "c/half", 0.5f);
    if (c->activation == BIENC_GELU_ERF) {
        const_f32(g, "c/sqrt2", 1.4142135623730951f);
    } else {
        const_f32(g, "c/three", 3.0f);
        const_f32(g, "c/sqrt_2_over_pi", 0.7978845608028654f);
        const_f32(g, "c/gelu_a", 0.044715f);
    }
    int64_t D = c->hidden_size / c->num_heads;
    bert_consts k = {
        .heads_shape = const_i64s(g, "c/heads_shape", 4, (int64_t[]){0, 0, c->num_heads, D}),
        .hidden_shape = const_i64s(g, "c/hidden_shape", 3, (int64_t[]){0, 0, c->hidden_size}),
        .sqrt_head = const_f32(g, "c/sqrt_head", sqrtf((float)D)),
    };

    /* position ids 0..S-1 in every row, [B, S]: the running count of ones along the
     * sequence, minus one. Built from input_ids' shape by elementwise ops (not a Slice of the
     * table, whose length would depend on data), so every shape stays [batch, sequence, ...]
     * for shape inference and ONNX Runtime's fusions. */
    onnx_init_i64(g, "c/zero_i", 0, NULL, (int64_t[]){0});
    onnx_init_i64(g, "c/one_s", 0, NULL, (int64_t[]){1});
    const char *ones = op2(g, "Add", op2(g, "Mul", "input_ids", "c/zero_i", "pos/zeros"), "c/one_s", "pos/ones");
    const char *count = op2(g, "CumSum", ones, "c/one_s", "pos/count");
    const char *pos_ids = op2(g, "Sub", count, "c/one_s", "pos/ids");
    const char *pos = op2(g, "Gather", param(g, enc->pos_emb), pos_ids, "emb/positions");
    const char *w = op2(g, "Gather", param(g, enc->word_emb), "input_ids", "emb/words");
    const char *t = op2(g, "Gather", param(g, enc->type_emb), "token_type_ids", "emb/types");
    const char *x = op2(g, "Add", op2(g, "Add", w, pos, "emb/words_pos"), t, "emb/sum");
    x = layernorm(g, x, enc->emb_ln_w, enc->emb_ln_b, c->layer_norm_eps, "emb/out");

    /* the mask as Hugging Face extends it (and torch.onnx writes it):
     * (1 - mask[:, None, None, :]) * finfo(float32).min, [B, 1, 1, S] */
    const char *m1 = op2(g, "Unsqueeze", "attention_mask", const_i64s(g, "c/axis1", 1, (int64_t[]){1}), "mask/b1s");
    const char *m2 = op2(g, "Unsqueeze", m1, const_i64s(g, "c/axis2", 1, (int64_t[]){2}), "mask/b11s");
    onnx_attr to_float = {.name = "to", .type = ONNX_ATTR_INT, .i = ONNX_FLOAT};
    const char *mf = onnx_node(g, "Cast", &m2, 1, "mask/float4", &to_float, 1);
    const char *inv = op2(g, "Sub", "c/one", mf, "mask/inverted");
    k.mask_bias = op2(g, "Mul", inv, const_f32(g, "c/min", -FLT_MAX), "mask/bias4");

    for (int l = 0; l < c->num_layers; l++)
        x = layer(g, enc, l, &k, x, l == c->num_layers - 1 ? "last_hidden_state" : onnx_name(g, "layer%d/out", l));
    if (c->num_layers == 0) x = op1(g, "Identity", x, "last_hidden_state");
    return x;
}

/* sentence-transformers' Pooling (+ Normalize) on the token states h [B, S, C]. */
static const char *pooling(onnx_graph *g, const char *h, bienc_pool_mode mode, int normalize)
{
    const char *out = normalize ? "pool/out" : "sentence_embedding";
    const char *e;
    if (mode == BIENC_POOL_CLS) {
        onnx_attr axis = {.name = "axis", .type = ONNX_ATTR_INT, .i = 1};
        onnx_init_i64(g, "c/first", 0, NULL, (int64_t[]){0});
        e = onnx_node(g, "Gather", (const char *[]){h, "c/first"}, 2, out, &axis, 1);
    } else if (mode == BIENC_POOL_MEAN) {
        /* sum of the unmasked states / max(token count, 1e-9) */
        onnx_attr keep0 = {.name = "keepdims", .type = ONNX_ATTR_INT, .i = 0};
        onnx_attr to_float = {.name = "to", .type = ONNX_ATTR_INT, .i = ONNX_FLOAT};
        const char *mf = onnx_node(g, "Cast", (const char *[]){"attention_mask"}, 1, "pool/mask_float", &to_float, 1);
        const char *m3 = op2(g, "Unsqueeze", mf, "c/axis2", "pool/mask3");
        const char *sum = onnx_node(g, "ReduceSum", (const char *[]){op2(g, "Mul", h, m3, "pool/masked"), "c/axis1"}, 2,
                                    "pool/sum", &keep0, 1);
        const char *cnt = onnx_node(g, "ReduceSum", (const char *[]){m3, "c/axis1"}, 2, "pool/count", &keep0, 1);
        cnt = op2(g, "Max", cnt, const_f32(g, "c/min_count", 1e-9f), "pool/count_clamped");
        e = op2(g, "Div", sum, cnt, out);
    } else {
        /* max over the unmasked tokens: padded states are replaced by -1e9 first */
        onnx_attr to_bool = {.name = "to", .type = ONNX_ATTR_INT, .i = ONNX_BOOL};
        const char *b = onnx_node(g, "Cast", (const char *[]){"attention_mask"}, 1, "pool/mask_bool", &to_bool, 1);
        const char *b3 = op2(g, "Unsqueeze", b, "c/axis2", "pool/mask_bool3");
        const char *r = onnx_node(g, "Where", (const char *[]){b3, h, const_f32(g, "c/pad_state", -1e9f)}, 3,
                                  "pool/masked", NULL, 0);
        onnx_attr at[2] = {{.name = "axes", .type = ONNX_ATTR_INTS, .ints = (int64_t[]){1}, .n_ints = 1},
                           {.name = "keepdims", .type = ONNX_ATTR_INT, .i = 0}};
        e = onnx_node(g, "ReduceMax", &r, 1, out, at, 2);
    }
    if (!normalize) return e;
    /* x / max(||x||, 1e-12), torch.nn.functional.normalize */
    onnx_attr at[2] = {{.name = "axes", .type = ONNX_ATTR_INTS, .ints = (int64_t[]){1}, .n_ints = 1},
                       {.name = "keepdims", .type = ONNX_ATTR_INT, .i = 1}};
    const char *n = onnx_node(g, "ReduceL2", &e, 1, "norm/l2", at, 2);
    n = op2(g, "Max", n, const_f32(g, "c/min_norm", 1e-12f), "norm/clamped");
    return op2(g, "Div", e, n, "sentence_embedding");
}

/* ---- the folder ---- */

static int write_model(onnx_graph *g, const char *dir, const char *doc, const char *const *meta, int n_meta)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s/model.onnx", dir) >= (int)sizeof p)
        return bienc_error(BIENC_EINVAL, "%s: path too long", dir);
    onnx_model_info info = {.ir_version = ONNX_IR_VERSION, .opset = ONNX_OPSET, .producer_name = "bienc",
                            .producer_version = BIENC_VERSION_STRING, .doc = doc, .meta = meta, .n_meta = n_meta};
    return onnx_graph_write(g, &info, p);
}

int onnx_export_biencoder(const bienc_biencoder *bi, const char *dir)
{
    if (!bi || !dir) return bienc_error(BIENC_EINVAL, "onnx_export_biencoder: NULL argument");
    BIENC_TRY(biencoder_check(bi));
    if (bi->late_interaction) /* the graph ends in pooling: it would be another model */
        return bienc_error(BIENC_EINVAL, "export: a late-interaction (ColBERT) model has no ONNX form here (the "
                                         "exported graph pools the token vectors)");
    BIENC_TRY(hf_export_make_dir(dir));
    onnx_graph *g = onnx_graph_new("bienc_bi_encoder");
    if (!g) return bienc_error(BIENC_ENOMEM, "out of memory");
    const char *h = encoder_graph(g, bi->enc);
    pooling(g, h, bi->pool, bi->normalize);
    const bienc_encoder_config *c = &bi->enc->cfg;
    onnx_output(g, "last_hidden_state", ONNX_FLOAT, 3,
                (onnx_dim[]){{"batch", 0}, {"sequence", 0}, {NULL, c->hidden_size}});
    onnx_output(g, "sentence_embedding", ONNX_FLOAT, 2, (onnx_dim[]){{"batch", 0}, {NULL, c->hidden_size}});
    char qlen[16], plen[16];
    snprintf(qlen, sizeof qlen, "%d", bi->max_query_len);
    snprintf(plen, sizeof plen, "%d", bi->max_passage_len);
    const char *meta[] = {"kind", "bi_encoder", "pooling", pool_mode_name(bi->pool), "normalize",
                          bi->normalize ? "true" : "false", "max_query_length", qlen, "max_passage_length", plen};
    int rc = write_model(g, dir, "bienc bi-encoder: BERT encoder, pooling and normalisation in the graph", meta, 5);
    onnx_graph_free(g);
    if (rc == 0) rc = hf_export_config(dir, c, tokenizer_pad_id(bi->tok), 0);
    if (rc == 0) rc = hf_export_tokenizer(dir, bi->tok, bi->max_passage_len);
    return rc;
}

int onnx_export_cross_encoder(const bienc_cross_encoder *ce, const char *dir)
{
    if (!ce || !dir) return bienc_error(BIENC_EINVAL, "onnx_export_cross_encoder: NULL argument");
    BIENC_TRY(hf_export_make_dir(dir));
    onnx_graph *g = onnx_graph_new("bienc_cross_encoder");
    if (!g) return bienc_error(BIENC_ENOMEM, "out of memory");
    const char *h = encoder_graph(g, ce->enc);
    /* BertForSequenceClassification: tanh(pooler(h[:, 0])) -> classifier (cross_encoder_forward) */
    onnx_attr axis = {.name = "axis", .type = ONNX_ATTR_INT, .i = 1};
    onnx_init_i64(g, "c/first", 0, NULL, (int64_t[]){0});
    const char *cls = onnx_node(g, "Gather", (const char *[]){h, "c/first"}, 2, "head/cls", &axis, 1);
    const char *pooled = op1(g, "Tanh", linear(g, cls, ce->pooler_w, ce->pooler_b, "head/pooler"), "head/pooled");
    linear(g, pooled, ce->cls_w, ce->cls_b, "logits");
    onnx_output(g, "logits", ONNX_FLOAT, 2, (onnx_dim[]){{"batch", 0}, {NULL, 1}});
    char len[16], qlen[16], types[16];
    snprintf(len, sizeof len, "%d", ce->max_len);
    snprintf(qlen, sizeof qlen, "%d", ce->max_query_len);
    snprintf(types, sizeof types, "%d", ce->enc->cfg.type_vocab_size);
    const char *meta[] = {"kind", "cross_encoder", "max_length", len, "max_query_length", qlen, "type_vocab_size",
                          types};
    int rc = write_model(g, dir,
                         "bienc cross-encoder: [CLS] query [SEP] passage [SEP] -> one relevance logit; with "
                         "type_vocab_size 3, passage tokens that occur in the query have token type 2",
                         meta, 4);
    onnx_graph_free(g);
    if (rc == 0) rc = hf_export_config(dir, &ce->enc->cfg, tokenizer_pad_id(ce->tok), 1);
    if (rc == 0) rc = hf_export_tokenizer(dir, ce->tok, ce->max_len);
    return rc;
}
