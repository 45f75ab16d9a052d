/* Cross-encoder <-> HDF5 checkpoint: model_io.h's layout with kind "cross_encoder", the
 * head tensors under /params and max_length (see src/model/cross_encoder.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/checkpoint.h"
#include "io/cross_io.h"
#include "core/error.h"
#include "io/model_io.h"

#define A(name) "model/" name

int cross_io_write(bienc_ckpt_writer *w, const bienc_cross_encoder *ce)
{
    BIENC_ASSERT(w && ce && ce->enc && ce->tok);
    const bienc_encoder_config *c = &ce->enc->cfg;
    BIENC_TRY(ckpt_write_string(w, A("kind"), "cross_encoder"));
    BIENC_TRY(model_io_write_encoder_config(w, c));
    BIENC_TRY(ckpt_write_int64(w, A("max_length"), ce->max_len));
    BIENC_TRY(ckpt_write_int64(w, A("max_query_length"), ce->max_query_len));
    BIENC_TRY(ckpt_write_int64(w, A("lower_case"), tokenizer_do_lower_case(ce->tok) ? 1 : 0));
    for (int i = 0; i < ce->n_params; i++) BIENC_TRY(ckpt_write_param(w, ce->params[i]));
    return model_io_write_vocab(w, ce->tok);
}

int cross_io_save(const char *path, const bienc_cross_encoder *ce)
{
    if (!path || !ce) return bienc_error(BIENC_EINVAL, "cross_io_save: NULL argument");
    bienc_ckpt_writer *w;
    BIENC_TRY(ckpt_writer_open(&w, path));
    return ckpt_writer_finish(w, cross_io_write(w, ce));
}

/* ---- reading ---- */

int cross_io_is_cross(const bienc_ckpt *c)
{
    if (!c || !ckpt_has_attr(c, A("kind"))) return 0;
    char *kind = NULL;
    if (ckpt_read_string(c, A("kind"), &kind) < 0) return 0;
    int yes = strcmp(kind, "cross_encoder") == 0;
    free(kind);
    return yes;
}

static int read_config(const bienc_ckpt *c, bienc_encoder_config *cfg, int *max_len, int *max_q, int *lc)
{
    const char *path = ckpt_path(c);
    if (!cross_io_is_cross(c))
        return bienc_error(BIENC_EFORMAT, "%s: not a cross-encoder checkpoint (model/kind is not 'cross_encoder')", path);
    BIENC_TRY(model_io_read_encoder_config(c, cfg));
    BIENC_TRY(model_io_read_int(c, A("max_length"), 4, cfg->max_position_embeddings, max_len));
    BIENC_TRY(model_io_read_int(c, A("max_query_length"), 2, *max_len - 2, max_q));
    return model_io_read_int(c, A("lower_case"), 0, 1, lc);
}

/* Shapes are checked against the config BEFORE allocating (a forged config cannot make us
 * allocate more than the file holds), and nothing else may sit under /params. */
static int check_params(const bienc_ckpt *c, const bienc_encoder_config *cfg)
{
    const char *path = ckpt_path(c);
    int64_t C = cfg->hidden_size, I = cfg->intermediate_size;
    double expect = (double)cfg->vocab_size * C + (double)cfg->max_position_embeddings * C +
                    (double)cfg->type_vocab_size * C + 2.0 * C +
                    (double)cfg->num_layers * (4.0 * C * C + 4 * C + 2.0 * C * I + I + C + 4 * C) + C * C + 2.0 * C + 1;
    struct stat st;
    if (stat(path, &st) == 0 && expect * 4.0 > (double)st.st_size * 1.01 + 65536.0)
        return bienc_error(BIENC_EFORMAT, "%s: the stored config implies %.0f parameters but the file has only %.1f MB",
                           path, expect, st.st_size / 1e6);
    char **names = NULL;
    size_t n = 0;
    BIENC_TRY(ckpt_list_tensors(c, "params", &names, &n));
    size_t want = (size_t)encoder_config_param_count(cfg) + 4; /* + the classifier head */
    int rc = 0;
    if (n != want)
        rc = bienc_error(BIENC_EFORMAT, "%s: /params holds %zu tensors, a %d-layer cross-encoder has %zu", path, n,
                         cfg->num_layers, want);
    ckpt_free_strings(names, n);
    return rc;
}

int cross_io_read(const bienc_ckpt *c, bienc_cross_encoder **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(c && out);
    const char *path = ckpt_path(c);
    bienc_encoder_config cfg;
    int max_len = 0, max_q = 0, lc = 0;
    BIENC_TRY(read_config(c, &cfg, &max_len, &max_q, &lc));
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
    bienc_cross_encoder *ce;
    rc = cross_encoder_new(&ce, &cfg, 0, tok, max_len, max_q);
    if (rc < 0) return bienc_error_context(rc, "%s: ", path);
    for (int i = 0; rc == 0 && i < ce->n_params; i++) rc = ckpt_read_param(c, ce->params[i]);
    if (rc < 0) {
        cross_encoder_free(ce);
        return rc;
    }
    *out = ce;
    return 0;
}

int cross_io_load(const char *path, bienc_cross_encoder **out)
{
    if (out) *out = NULL;
    if (!path || !out) return bienc_error(BIENC_EINVAL, "cross_io_load: NULL argument");
    bienc_ckpt *c;
    BIENC_TRY(ckpt_open(&c, path));
    int rc = cross_io_read(c, out);
    ckpt_close(c);
    return rc;
}
