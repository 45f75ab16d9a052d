/* Bi-encoder <-> HDF5 checkpoint (layout in src/io/model_io.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/model_io.h"

#define A(name) "model/" name

/* The encoder-config attributes shared by every model kind (bi- and cross-encoder). */
int model_io_write_encoder_config(bienc_ckpt_writer *w, const bienc_encoder_config *c)
{
    BIENC_ASSERT(w && c);
    BIENC_TRY(ckpt_write_int64(w, A("vocab_size"), c->vocab_size));
    BIENC_TRY(ckpt_write_int64(w, A("hidden_size"), c->hidden_size));
    BIENC_TRY(ckpt_write_int64(w, A("num_layers"), c->num_layers));
    BIENC_TRY(ckpt_write_int64(w, A("num_heads"), c->num_heads));
    BIENC_TRY(ckpt_write_int64(w, A("intermediate_size"), c->intermediate_size));
    BIENC_TRY(ckpt_write_int64(w, A("max_position_embeddings"), c->max_position_embeddings));
    BIENC_TRY(ckpt_write_int64(w, A("type_vocab_size"), c->type_vocab_size));
    BIENC_TRY(ckpt_write_double(w, A("hidden_dropout"), c->hidden_dropout));
    BIENC_TRY(ckpt_write_double(w, A("attention_dropout"), c->attention_dropout));
    BIENC_TRY(ckpt_write_double(w, A("layer_norm_eps"), c->layer_norm_eps));
    BIENC_TRY(ckpt_write_double(w, A("initializer_range"), c->initializer_range));
    BIENC_TRY(ckpt_write_string(w, A("activation"), encoder_activation_name(c->activation)));
    return 0;
}

int model_io_write_vocab(bienc_ckpt_writer *w, const bienc_tokenizer *tok)
{
    BIENC_ASSERT(w && tok);
    int nv = tokenizer_vocab_size(tok);
    const char **tokens = malloc((size_t)nv * sizeof *tokens);
    if (!tokens) return bienc_error(BIENC_ENOMEM, "saving the vocabulary: out of memory");
    for (int i = 0; i < nv; i++) tokens[i] = tokenizer_id_to_token(tok, i);
    int rc = ckpt_write_strings(w, "vocab", tokens, (size_t)nv);
    free(tokens);
    return rc;
}

int model_io_write(bienc_ckpt_writer *w, const bienc_biencoder *bi)
{
    BIENC_ASSERT(w && bi);
    BIENC_TRY(biencoder_check(bi));
    const bienc_encoder_config *c = &bi->enc->cfg;
    BIENC_TRY(ckpt_write_string(w, A("kind"), bi->late_interaction ? "late_interaction" : "bi_encoder"));
    BIENC_TRY(model_io_write_encoder_config(w, c));
    BIENC_TRY(ckpt_write_string(w, A("pooling"), pool_mode_name(bi->pool)));
    BIENC_TRY(ckpt_write_int64(w, A("normalize"), bi->normalize ? 1 : 0));
    BIENC_TRY(ckpt_write_int64(w, A("max_query_length"), bi->max_query_len));
    BIENC_TRY(ckpt_write_int64(w, A("max_passage_length"), bi->max_passage_len));
    BIENC_TRY(ckpt_write_int64(w, A("lower_case"), tokenizer_do_lower_case(bi->tok) ? 1 : 0));

    for (int i = 0; i < bi->enc->n_params; i++) BIENC_TRY(ckpt_write_param(w, bi->enc->params[i]));

    return model_io_write_vocab(w, bi->tok);
}

int model_io_save(const char *path, const bienc_biencoder *bi)
{
    if (!path || !bi) return bienc_error(BIENC_EINVAL, "model_io_save: NULL argument");
    bienc_ckpt_writer *w;
    BIENC_TRY(ckpt_writer_open(&w, path));
    return ckpt_writer_finish(w, model_io_write(w, bi));
}

/* ---- reading ---- */

int model_io_read_int(const bienc_ckpt *c, const char *name, int64_t lo, int64_t hi, int *out)
{
    int64_t v;
    BIENC_TRY(ckpt_read_int64(c, name, &v));
    if (v < lo || v > hi)
        return bienc_error(BIENC_EFORMAT, "%s: attribute %s = %lld outside [%lld, %lld]", ckpt_path(c), name,
                           (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

static int read_float(const bienc_ckpt *c, const char *name, float *out)
{
    double v;
    BIENC_TRY(ckpt_read_double(c, name, &v));
    *out = (float)v;
    return 0;
}

int model_io_read_encoder_config(const bienc_ckpt *c, bienc_encoder_config *cfg)
{
    BIENC_ASSERT(c && cfg);
    const char *path = ckpt_path(c);
    encoder_config_default(cfg);
    BIENC_TRY(model_io_read_int(c, A("vocab_size"), 1, INT_MAX, &cfg->vocab_size));
    BIENC_TRY(model_io_read_int(c, A("hidden_size"), 1, INT_MAX, &cfg->hidden_size));
    BIENC_TRY(model_io_read_int(c, A("num_layers"), 1, INT_MAX, &cfg->num_layers));
    BIENC_TRY(model_io_read_int(c, A("num_heads"), 1, INT_MAX, &cfg->num_heads));
    BIENC_TRY(model_io_read_int(c, A("intermediate_size"), 1, INT_MAX, &cfg->intermediate_size));
    BIENC_TRY(model_io_read_int(c, A("max_position_embeddings"), 1, INT_MAX, &cfg->max_position_embeddings));
    BIENC_TRY(model_io_read_int(c, A("type_vocab_size"), 1, INT_MAX, &cfg->type_vocab_size));
    BIENC_TRY(read_float(c, A("hidden_dropout"), &cfg->hidden_dropout));
    BIENC_TRY(read_float(c, A("attention_dropout"), &cfg->attention_dropout));
    BIENC_TRY(read_float(c, A("layer_norm_eps"), &cfg->layer_norm_eps));
    BIENC_TRY(read_float(c, A("initializer_range"), &cfg->initializer_range));
    char *s = NULL;
    BIENC_TRY(ckpt_read_string(c, A("activation"), &s));
    int act = encoder_activation_from_name(s);
    if (act < 0) {
        int rc = bienc_error(BIENC_EFORMAT, "%s: model/activation '%s' is not gelu or gelu_new", path, s);
        free(s);
        return rc;
    }
    free(s);
    cfg->activation = (bienc_gelu_kind)act;
    int rc = encoder_config_check(cfg);
    if (rc < 0) return bienc_error_context(rc, "%s: ", path);
    return 0;
}

int model_io_read_config(const bienc_ckpt *c, bienc_encoder_config *cfg_out, bienc_biencoder_opts *o_out,
                         int *lower_case)
{
    BIENC_ASSERT(c);
    const char *path = ckpt_path(c);
    if (!ckpt_has_attr(c, A("kind")))
        return bienc_error(BIENC_EFORMAT, "%s: not a model checkpoint (no attribute model/kind)", path);
    char *kind = NULL;
    BIENC_TRY(ckpt_read_string(c, A("kind"), &kind));
    int is_bi = strcmp(kind, "bi_encoder") == 0, is_late = strcmp(kind, "late_interaction") == 0;
    if (!is_bi && !is_late) {
        int rc = bienc_error(BIENC_EFORMAT, "%s: model/kind is '%s', expected 'bi_encoder' or 'late_interaction'", path, kind);
        free(kind);
        return rc;
    }
    free(kind);

    bienc_encoder_config cfg;
    BIENC_TRY(model_io_read_encoder_config(c, &cfg));
    char *s = NULL;
    int rc;

    bienc_biencoder_opts o;
    BIENC_TRY(ckpt_read_string(c, A("pooling"), &s));
    int pool = pool_mode_from_name(s);
    if (pool < 0) {
        rc = bienc_error(BIENC_EFORMAT, "%s: model/pooling '%s' is not mean, cls or max", path, s);
        free(s);
        return rc;
    }
    free(s);
    o.pool = (bienc_pool_mode)pool;
    o.late_interaction = is_late;
    int lc = 0;
    BIENC_TRY(model_io_read_int(c, A("normalize"), 0, 1, &o.normalize));
    BIENC_TRY(model_io_read_int(c, A("max_query_length"), 2, cfg.max_position_embeddings, &o.max_query_len));
    BIENC_TRY(model_io_read_int(c, A("max_passage_length"), 2, cfg.max_position_embeddings, &o.max_passage_len));
    BIENC_TRY(model_io_read_int(c, A("lower_case"), 0, 1, &lc));
    if (cfg_out) *cfg_out = cfg;
    if (o_out) *o_out = o;
    if (lower_case) *lower_case = lc;
    return 0;
}

/* Every stored shape must be the one the config implies, and nothing else may sit under
 * /params: checked BEFORE allocating, so a forged config cannot make us allocate more than
 * the file holds. */
static int check_params(const bienc_ckpt *c, const bienc_encoder_config *cfg)
{
    const char *path = ckpt_path(c);
    int64_t C = cfg->hidden_size, I = cfg->intermediate_size;
    int64_t expect = (int64_t)cfg->vocab_size * C + (int64_t)cfg->max_position_embeddings * C +
                     (int64_t)cfg->type_vocab_size * C + 2 * C +
                     (int64_t)cfg->num_layers * (4 * C * C + 4 * C + 2 * C * I + I + C + 4 * C);
    struct stat st;
    if (stat(path, &st) == 0 && (double)expect * 4.0 > (double)st.st_size * 1.01 + 65536.0)
        return bienc_error(BIENC_EFORMAT,
                           "%s: the stored config implies %lld parameters (%.1f MB) but the file has only %.1f MB: "
                           "truncated or inconsistent checkpoint",
                           path, (long long)expect, expect * 4.0 / 1e6, st.st_size / 1e6);
    char **names = NULL;
    size_t n = 0;
    BIENC_TRY(ckpt_list_tensors(c, "params", &names, &n));
    size_t want = (size_t)encoder_config_param_count(cfg), head = 0;
    /* an MLM pre-training checkpoint (mlm.h) also holds its head: not part of the
     * bi-encoder, dropped on load */
    for (size_t i = 0; i < n; i++) {
        const char *s = strncmp(names[i], "params/", 7) == 0 ? names[i] + 7 : names[i];
        head += strncmp(s, "cls.predictions.", 16) == 0;
    }
    int rc = 0;
    if (n - head != want)
        rc = bienc_error(BIENC_EFORMAT, "%s: /params holds %zu tensors, a %d-layer encoder has %zu", path, n - head,
                         cfg->num_layers, want);
    ckpt_free_strings(names, n);
    return rc;
}

int model_io_read(const bienc_ckpt *c, bienc_biencoder **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(c && out);
    const char *path = ckpt_path(c);
    bienc_encoder_config cfg;
    bienc_biencoder_opts o;
    int lc;
    BIENC_TRY(model_io_read_config(c, &cfg, &o, &lc));
    BIENC_TRY(check_params(c, &cfg));

    char **vocab = NULL;
    size_t nv = 0;
    BIENC_TRY(ckpt_read_strings(c, "vocab", &vocab, &nv));
    int rc = 0;
    if (nv == 0 || nv > (size_t)cfg.vocab_size)
        rc = bienc_error(BIENC_EFORMAT, "%s: /vocab holds %zu tokens, model/vocab_size is %d", path, nv, cfg.vocab_size);
    bienc_tokenizer *tok = NULL;
    if (rc == 0) rc = tokenizer_from_vocab_lines(&tok, (const char *const *)vocab, (int)nv, lc, path);
    ckpt_free_strings(vocab, nv);
    if (rc < 0) return rc;

    bienc_encoder *enc = NULL;
    rc = encoder_new_zeroed(&enc, &cfg); /* every parameter is read below */
    /* loaded models are inference-only until a trainer asks for gradients: no gradient
     * buffers (as large as the parameters) for encode / search */
    if (rc == 0) rc = encoder_set_trainable(enc, 0);
    if (rc < 0) {
        encoder_free(enc);
        tokenizer_free(tok);
        return rc;
    }
    /* ckpt_read_param checks each shape and names the tensor on a mismatch or absence */
    for (int i = 0; rc == 0 && i < enc->n_params; i++) rc = ckpt_read_param(c, enc->params[i]);
    if (rc < 0) {
        encoder_free(enc);
        tokenizer_free(tok);
        return rc;
    }
    rc = biencoder_wrap(out, enc, tok, &o);
    if (rc < 0) return bienc_error_context(rc, "%s: ", path);
    return 0;
}

int model_io_load(const char *path, bienc_biencoder **out)
{
    if (out) *out = NULL;
    if (!path || !out) return bienc_error(BIENC_EINVAL, "model_io_load: NULL argument");
    bienc_ckpt *c;
    BIENC_TRY(ckpt_open(&c, path));
    int rc = model_io_read(c, out);
    ckpt_close(c);
    return rc;
}
