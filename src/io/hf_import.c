/* Import of a Hugging Face BERT / sentence-transformers folder (see hf_import.h).
 *
 * Order: config.json -> encoder config; tokenizer files -> tokenizer; modules.json and
 * the Pooling config -> pooling / normalisation; sentence_bert_config.json -> max
 * lengths; then the weights, which are checked against the config tensor by tensor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/hf_import.h"
#include "text/json.h"

/* A JSON file read and parsed; absent files give BIENC_ENOTFOUND (no message needed). */
typedef struct json_file {
    char path[8192];
    char *text;
    json_doc *doc;
    const json_node *root;
} json_file;

static void json_file_free(json_file *f)
{
    free(f->text);
    json_free(f->doc);
    memset(f, 0, sizeof *f);
}

static int json_file_read(json_file *f, const char *dir, const char *name, int required)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s/%s", dir, name);
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        if (errno == ENOENT && !required) return BIENC_ENOTFOUND;
        return bienc_error(errno == ENOENT ? BIENC_ENOTFOUND : BIENC_EIO, "%s: cannot open: %s", f->path, strerror(errno));
    }
    size_t cap = 4096, len = 0;
    f->text = malloc(cap);
    int rc = f->text ? 0 : bienc_error(BIENC_ENOMEM, "%s: out of memory", f->path);
    while (rc == 0) {
        if (len == cap) {
            if (cap > (64u << 20)) {
                rc = bienc_error(BIENC_EFORMAT, "%s: larger than 64 MB, not a config file", f->path);
                break;
            }
            char *t = realloc(f->text, cap * 2);
            if (!t) {
                rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", f->path);
                break;
            }
            f->text = t;
            cap *= 2;
        }
        size_t k = fread(f->text + len, 1, cap - len, fp);
        len += k;
        if (k == 0) break;
    }
    if (rc == 0 && ferror(fp)) rc = bienc_error(BIENC_EIO, "%s: read error: %s", f->path, strerror(errno ? errno : EIO));
    fclose(fp);
    if (rc == 0) rc = json_doc_new(&f->doc);
    if (rc == 0 && (rc = json_parse(f->doc, f->text, len)) < 0) rc = bienc_error_context(rc, "%s: ", f->path);
    if (rc == 0) {
        f->root = json_root(f->doc);
        if (!f->root || (f->root->type != JSON_OBJECT && f->root->type != JSON_ARRAY))
            rc = bienc_error(BIENC_EFORMAT, "%s: not a JSON object or array", f->path);
    }
    if (rc < 0) json_file_free(f);
    return rc;
}

/* Optional integer member in [lo, hi]; absent keeps *out. */
static int get_int(const json_file *f, const json_node *obj, const char *key, int64_t lo, int64_t hi, int *out)
{
    const json_node *n = json_get(f->doc, obj, key);
    if (!n || n->type == JSON_NULL) return 0;
    int64_t v;
    if (json_int64(n, &v) < 0 || v < lo || v > hi)
        return bienc_error(BIENC_EFORMAT, "%s: '%s' must be an integer in [%lld, %lld]", f->path, key, (long long)lo,
                           (long long)hi);
    *out = (int)v;
    return 0;
}

static int get_float(const json_file *f, const json_node *obj, const char *key, double lo, double hi, float *out)
{
    const json_node *n = json_get(f->doc, obj, key);
    if (!n || n->type == JSON_NULL) return 0;
    if (n->type != JSON_NUMBER || !(n->num >= lo && n->num <= hi))
        return bienc_error(BIENC_EFORMAT, "%s: '%s' must be a number in [%g, %g]", f->path, key, lo, hi);
    *out = (float)n->num;
    return 0;
}

/* Optional boolean: -1 when absent, else 0/1. */
static int get_bool(const json_file *f, const json_node *obj, const char *key, int *out)
{
    const json_node *n = json_get(f->doc, obj, key);
    *out = -1;
    if (!n || n->type == JSON_NULL) return 0;
    if (n->type != JSON_TRUE && n->type != JSON_FALSE)
        return bienc_error(BIENC_EFORMAT, "%s: '%s' must be true or false", f->path, key);
    *out = n->type == JSON_TRUE;
    return 0;
}

static int read_encoder_config(const char *dir, bienc_encoder_config *cfg)
{
    json_file f;
    BIENC_TRY(json_file_read(&f, dir, "config.json", 1));
    int rc = f.root->type == JSON_OBJECT ? 0 : bienc_error(BIENC_EFORMAT, "%s: not a JSON object", f.path);
    encoder_config_default(cfg);
    const char *mt = rc == 0 ? json_get_string(f.doc, f.root, "model_type", NULL) : NULL;
    if (rc == 0 && mt && strcmp(mt, "bert") != 0)
        rc = bienc_error(BIENC_EFORMAT, "%s: model_type '%s' is not supported (only 'bert': BERT, MiniLM, ...)", f.path, mt);
    const char *pe = rc == 0 ? json_get_string(f.doc, f.root, "position_embedding_type", NULL) : NULL;
    if (rc == 0 && pe && strcmp(pe, "absolute") != 0)
        rc = bienc_error(BIENC_EFORMAT, "%s: position_embedding_type '%s' is not supported (only 'absolute')", f.path, pe);
    if (rc == 0) rc = get_int(&f, f.root, "hidden_size", 1, 1 << 16, &cfg->hidden_size);
    if (rc == 0) rc = get_int(&f, f.root, "num_hidden_layers", 1, 1024, &cfg->num_layers);
    if (rc == 0) rc = get_int(&f, f.root, "num_attention_heads", 1, 1 << 12, &cfg->num_heads);
    if (rc == 0) rc = get_int(&f, f.root, "intermediate_size", 1, 1 << 18, &cfg->intermediate_size);
    if (rc == 0) rc = get_int(&f, f.root, "max_position_embeddings", 2, 1 << 16, &cfg->max_position_embeddings);
    if (rc == 0) rc = get_int(&f, f.root, "type_vocab_size", 1, 1 << 10, &cfg->type_vocab_size);
    if (rc == 0) rc = get_int(&f, f.root, "vocab_size", 1, 1 << 24, &cfg->vocab_size);
    if (rc == 0) rc = get_float(&f, f.root, "layer_norm_eps", 0.0, 1.0, &cfg->layer_norm_eps);
    if (rc == 0) rc = get_float(&f, f.root, "hidden_dropout_prob", 0.0, 1.0, &cfg->hidden_dropout);
    if (rc == 0) rc = get_float(&f, f.root, "attention_probs_dropout_prob", 0.0, 1.0, &cfg->attention_dropout);
    if (rc == 0) rc = get_float(&f, f.root, "initializer_range", 0.0, 10.0, &cfg->initializer_range);
    const char *act = rc == 0 ? json_get_string(f.doc, f.root, "hidden_act", NULL) : NULL;
    if (rc == 0 && act) {
        int a = encoder_activation_from_name(act);
        if (a < 0) rc = bienc_error(BIENC_EFORMAT, "%s: hidden_act '%s' is not supported (gelu, gelu_new)", f.path, act);
        else cfg->activation = (bienc_gelu_kind)a;
    }
    if (rc == 0 && (rc = encoder_config_check(cfg)) < 0) rc = bienc_error_context(rc, "%s: ", f.path);
    json_file_free(&f);
    return rc;
}

static int file_exists(const char *dir, const char *name)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, R_OK) == 0;
}

static int read_tokenizer(const char *dir, bienc_tokenizer **tok)
{
    int lower = -1, st_lower = -1, rc = 0;
    json_file f;
    rc = json_file_read(&f, dir, "tokenizer_config.json", 0);
    if (rc == 0) {
        rc = get_bool(&f, f.root, "do_lower_case", &lower);
        json_file_free(&f);
    } else if (rc == BIENC_ENOTFOUND) {
        rc = 0;
    }
    if (rc < 0) return rc;
    rc = json_file_read(&f, dir, "sentence_bert_config.json", 0);
    if (rc == 0) {
        rc = get_bool(&f, f.root, "do_lower_case", &st_lower);
        json_file_free(&f);
    } else if (rc == BIENC_ENOTFOUND) {
        rc = 0;
    }
    if (rc < 0) return rc;
    char p[8192];
    if (file_exists(dir, "vocab.txt")) {
        snprintf(p, sizeof p, "%s/vocab.txt", dir);
        if (lower < 0) lower = 1;  /* BertTokenizer's default */
    } else if (file_exists(dir, "tokenizer.json")) {
        snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    } else {
        return bienc_error(BIENC_ENOTFOUND, "%s: neither vocab.txt nor tokenizer.json", dir);
    }
    BIENC_TRY(tokenizer_load(tok, p, lower));
    /* sentence-transformers' own do_lower_case lower-cases the text before a CASED tokenizer
     * sees it: not the same as BERT's uncased normalisation (accents), so refuse it */
    if (st_lower == 1 && !tokenizer_do_lower_case(*tok)) {
        tokenizer_free(*tok);
        *tok = NULL;
        return bienc_error(BIENC_EFORMAT, "%s/sentence_bert_config.json: do_lower_case true over a cased tokenizer is not supported",
                           dir);
    }
    return 0;
}

static int read_pooling(const char *dir, const char *sub, int hidden, bienc_pool_mode *pool)
{
    char name[1024];
    snprintf(name, sizeof name, "%s%sconfig.json", sub, sub[0] ? "/" : "");
    json_file f;
    BIENC_TRY(json_file_read(&f, dir, name, 1));
    int rc = 0, mean = -1, cls = -1, max = -1, other = -1, dim = hidden, n = 0;
    static const char *const unsupported[] = {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                              "pooling_mode_lasttoken"};
    rc = get_bool(&f, f.root, "pooling_mode_mean_tokens", &mean);
    if (rc == 0) rc = get_bool(&f, f.root, "pooling_mode_cls_token", &cls);
    if (rc == 0) rc = get_bool(&f, f.root, "pooling_mode_max_tokens", &max);
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = get_bool(&f, f.root, unsupported[i], &other);
        if (rc == 0 && other == 1) rc = bienc_error(BIENC_EFORMAT, "%s: %s is not supported", f.path, unsupported[i]);
    }
    if (rc == 0) rc = get_int(&f, f.root, "word_embedding_dimension", 1, 1 << 16, &dim);
    if (rc == 0 && dim != hidden)
        rc = bienc_error(BIENC_EFORMAT, "%s: word_embedding_dimension %d differs from hidden_size %d", f.path, dim, hidden);
    n = (mean == 1) + (cls == 1) + (max == 1);
    if (rc == 0 && n != 1)
        rc = bienc_error(BIENC_EFORMAT, "%s: exactly one of pooling_mode_mean_tokens / cls_token / max_tokens must be true "
                                        "(%d are)", f.path, n);
    if (rc == 0) *pool = mean == 1 ? BIENC_POOL_MEAN : cls == 1 ? BIENC_POOL_CLS : BIENC_POOL_MAX;
    json_file_free(&f);
    return rc;
}

/* modules.json: Transformer, Pooling, optional Normalize, in that order. */
static int read_modules(const char *dir, int hidden, bienc_biencoder_opts *o)
{
    json_file f;
    int rc = json_file_read(&f, dir, "modules.json", 0);
    if (rc == BIENC_ENOTFOUND) return 0;  /* plain HF folder: mean pooling, as sentence-transformers */
    if (rc < 0) return rc;
    if (f.root->type != JSON_ARRAY) rc = bienc_error(BIENC_EFORMAT, "%s: not a JSON array", f.path);
    int i = 0, have_pool = 0;
    for (const json_node *m = rc == 0 ? json_first(f.doc, f.root) : NULL; m && rc == 0; m = json_next(f.doc, m), i++) {
        const char *type = json_get_string(f.doc, m, "type", NULL);
        const char *path = json_get_string(f.doc, m, "path", NULL);
        const char *dot = type ? strrchr(type, '.') : NULL;
        const char *cls = dot ? dot + 1 : type;
        if (!type || !path) {
            rc = bienc_error(BIENC_EFORMAT, "%s: module %d needs string 'type' and 'path'", f.path, i);
        } else if (strstr(path, "..")) {
            rc = bienc_error(BIENC_EFORMAT, "%s: module %d: path '%s' leaves the folder", f.path, i, path);
        } else if (i == 0 && strcmp(cls, "Transformer") == 0) {
            /* the folder root (current layout) or a sub-folder such as 0_Transformer (older
             * sentence-transformers): hf_import reads the model from there */
        } else if (i == 1 && strcmp(cls, "Pooling") == 0) {
            rc = read_pooling(dir, path, hidden, &o->pool);
            have_pool = 1;
        } else if (i == 2 && strcmp(cls, "Normalize") == 0) {
            o->normalize = 1;
        } else {
            rc = bienc_error(BIENC_EFORMAT, "%s: module %d '%s' is not supported (Transformer, Pooling, Normalize)", f.path, i,
                             type);
        }
    }
    if (rc == 0 && !have_pool) rc = bienc_error(BIENC_EFORMAT, "%s: no Pooling module after the Transformer", f.path);
    json_file_free(&f);
    return rc;
}

static int read_max_length(const char *dir, int max_pos, bienc_biencoder_opts *o)
{
    if (o->max_query_len > max_pos) o->max_query_len = max_pos;
    if (o->max_passage_len > max_pos) o->max_passage_len = max_pos;
    json_file f;
    int rc = json_file_read(&f, dir, "sentence_bert_config.json", 0);
    if (rc == BIENC_ENOTFOUND) return 0;
    if (rc < 0) return rc;
    int len = -1;
    rc = get_int(&f, f.root, "max_seq_length", 2, 1 << 20, &len);
    if (rc == 0 && len > 0) {
        /* sentence-transformers truncates every text (query or passage) to max_seq_length */
        o->max_query_len = o->max_passage_len = len < max_pos ? len : max_pos;
    }
    json_file_free(&f);
    return rc;
}

/* Where the Transformer module's files are: the folder itself, or modules.json's path
 * for it (older sentence-transformers folders keep the model in 0_Transformer/). */
static int transformer_dir(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s", dir);
    json_file f;
    int rc = json_file_read(&f, dir, "modules.json", 0);
    if (rc == BIENC_ENOTFOUND) return 0;
    if (rc < 0) return rc;
    const json_node *m = f.root->type == JSON_ARRAY ? json_first(f.doc, f.root) : NULL;
    const char *type = m ? json_get_string(f.doc, m, "type", NULL) : NULL;
    const char *path = m ? json_get_string(f.doc, m, "path", NULL) : NULL;
    size_t tl = type ? strlen(type) : 0;
    if (type && path && path[0] && !strstr(path, "..") && tl >= 11 && strcmp(type + tl - 11, "Transformer") == 0)
        snprintf(out, cap, "%s/%s", dir, path);
    json_file_free(&f);
    return 0;  /* anything malformed is reported by read_modules */
}

/* Tensors of a BertModel file that are not encoder parameters: skipped. */
static int skip_name(const char *name)
{
    return strncmp(name, "pooler.", 7) == 0 || strncmp(name, "cls.", 4) == 0 || strcmp(name, "embeddings.position_ids") == 0;
}

int hf_load_encoder_params(bienc_encoder *enc, const bienc_safetensors *st)
{
    BIENC_ASSERT(enc && st);
    int np = encoder_param_count(enc);
    bienc_tensor **params = encoder_params(enc);
    const safetensors_tensor **src = calloc((size_t)np, sizeof *src);
    if (!src) return bienc_error(BIENC_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < safetensors_count(st) && rc == 0; i++) {
        const safetensors_tensor *t = safetensors_at(st, i);
        const char *name = strncmp(t->name, "bert.", 5) == 0 ? t->name + 5 : t->name;
        if (skip_name(name)) continue;
        int k = 0;
        while (k < np && strcmp(params[k]->name, name) != 0) k++;
        if (k == np) rc = bienc_error(BIENC_EFORMAT, "%s: tensor '%s' is not a BertModel parameter of this config",
                                    safetensors_path(st), t->name);
        else if (src[k]) rc = bienc_error(BIENC_EFORMAT, "%s: tensors '%s' and '%s' are the same parameter", safetensors_path(st),
                                            src[k]->name, t->name);
        else src[k] = t;
    }
    for (int k = 0; k < np && rc == 0; k++) {
        if (!src[k]) rc = bienc_error(BIENC_ENOTFOUND, "%s: parameter '%s' is missing", safetensors_path(st), params[k]->name);
        else rc = safetensors_read_f32(st, src[k], params[k]->ndim, params[k]->shape, params[k]->data);
    }
    free(src);
    return rc;
}

int hf_import(const char *dir, bienc_biencoder **out)
{
    if (!dir || !out) return bienc_error(BIENC_EINVAL, "hf_import: NULL argument");
    *out = NULL;
    bienc_encoder_config cfg;
    bienc_biencoder_opts o;
    biencoder_opts_default(&o);
    char tdir[4096], p[8192];
    BIENC_TRY(transformer_dir(dir, tdir, sizeof tdir));
    BIENC_TRY(read_encoder_config(tdir, &cfg));
    BIENC_TRY(read_modules(dir, cfg.hidden_size, &o));
    BIENC_TRY(read_max_length(tdir, cfg.max_position_embeddings, &o));
    snprintf(p, sizeof p, "%s/model.safetensors", tdir);
    if (access(p, R_OK) != 0) {
        if (file_exists(tdir, "pytorch_model.bin"))
            return bienc_error(BIENC_ENOTFOUND, "%s: only model.safetensors is read (pytorch_model.bin is a pickle; "
                                                "convert it with safetensors.torch.save_file)", tdir);
        return bienc_error(BIENC_ENOTFOUND, "%s: cannot open: %s", p, strerror(errno));
    }
    bienc_tokenizer *tok = NULL;
    BIENC_TRY(read_tokenizer(tdir, &tok));
    bienc_biencoder *bi = NULL;
    /* seed 0: every parameter is overwritten below */
    int rc = biencoder_new(&bi, &cfg, 0, tok, &o);
    if (rc < 0) return bienc_error_context(rc, "%s: ", dir);
    bienc_safetensors *st = NULL;
    rc = safetensors_open(&st, p);
    if (rc == 0) rc = hf_load_encoder_params(bi->enc, st);
    safetensors_free(st);
    if (rc < 0) {
        biencoder_free(bi);
        return rc;
    }
    *out = bi;
    return 0;
}
