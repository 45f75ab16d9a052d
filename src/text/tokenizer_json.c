/* Hugging Face tokenizer.json: the WordPiece model's vocab map and the BertNormalizer's
 * lowercase flag. Everything else in the file (added tokens, post-processor) describes
 * the standard BERT layout this tokenizer implements anyway. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/json.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"

int tokenizer_json_parse(bienc_tokenizer **out, const char *text, size_t len, int do_lower_case, const char *source);

/* The "lowercase" flag of a BertNormalizer, also inside a Sequence; -1 when none. */
static int find_lowercase(const json_doc *d, const json_node *norm)
{
    if (!norm || norm->type != JSON_OBJECT) return -1;
    const json_node *lc = json_get(d, norm, "lowercase");
    if (lc && (lc->type == JSON_TRUE || lc->type == JSON_FALSE)) return lc->type == JSON_TRUE;
    const json_node *seq = json_get(d, norm, "normalizers");
    if (seq && seq->type == JSON_ARRAY)
        for (const json_node *c = json_first(d, seq); c; c = json_next(d, c)) {
            int v = find_lowercase(d, c);
            if (v >= 0) return v;
            const char *type = json_get_string(d, c, "type", NULL);
            if (type && strcmp(type, "Lowercase") == 0) return 1;
        }
    return -1;
}

static int parse_doc(const json_doc *d, bienc_tokenizer **out, int do_lower_case, const char *src)
{
    const json_node *root = json_root(d);
    const json_node *model = json_get(d, root, "model");
    if (!model || model->type != JSON_OBJECT) return bienc_error(BIENC_EFORMAT, "%s: no \"model\" object", src);
    const char *type = json_get_string(d, model, "type", NULL);
    if (type && strcmp(type, "WordPiece") != 0)
        return bienc_error(BIENC_EFORMAT, "%s: model.type is \"%s\", only WordPiece is supported", src, type);
    const char *prefix = json_get_string(d, model, "continuing_subword_prefix", NULL);
    if (prefix && strcmp(prefix, "##") != 0)
        return bienc_error(BIENC_EFORMAT, "%s: continuing_subword_prefix \"%s\" is not supported (only \"##\")", src,
                           prefix);
    const json_node *vocab = json_get(d, model, "vocab");
    if (!vocab || vocab->type != JSON_OBJECT) return bienc_error(BIENC_EFORMAT, "%s: no model.vocab object", src);
    int n = vocab->count;
    if (n <= 0) return bienc_error(BIENC_EFORMAT, "%s: model.vocab is empty", src);
    const char **toks = calloc((size_t)n, sizeof *toks);
    uint32_t *lengths = calloc((size_t)n, sizeof *lengths);
    int rc = 0;
    if (!toks || !lengths) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", src);
    for (const json_node *c = json_first(d, vocab); c && rc == 0; c = json_next(d, c)) {
        int64_t id;
        if (json_int64(c, &id) < 0 || id < 0 || id >= n)
            rc = bienc_error(BIENC_EFORMAT, "%s: model.vocab[\"%.64s\"]: id must be an integer in [0, %d)", src, c->key,
                             n);
        else if (toks[id])
            rc = bienc_error(BIENC_EFORMAT, "%s: model.vocab: id %lld used by \"%.64s\" and \"%.64s\"", src,
                             (long long)id, toks[id], c->key);
        else {
            toks[id] = c->key;
            lengths[id] = c->key_len > VOCAB_MAX_TOKEN_BYTES ? VOCAB_MAX_TOKEN_BYTES + 1 : (uint32_t)c->key_len;
        }
    }
    /* n distinct ids in [0, n) cover every id, so no gaps are possible here. */
    if (rc == 0) {
        int lower = do_lower_case;
        if (lower < 0) {
            lower = find_lowercase(d, json_get(d, root, "normalizer"));
            if (lower < 0) lower = 1;
        }
        bienc_tokenizer *t = calloc(1, sizeof *t);
        if (!t) rc = bienc_error(BIENC_ENOMEM, "%s: out of memory", src);
        else {
            t->do_lower_case = lower;
            char where[512];
            snprintf(where, sizeof where, "%s (model.vocab, as vocab.txt)", src);
            rc = vocab_build(t, toks, lengths, n, where);
            if (rc < 0) tokenizer_free(t);
            else *out = t;
        }
    }
    free(toks);
    free(lengths);
    return rc;
}

int tokenizer_json_parse(bienc_tokenizer **out, const char *text, size_t len, int do_lower_case, const char *source)
{
    const char *src = source ? source : "tokenizer.json";
    json_doc *d;
    BIENC_TRY(json_doc_new(&d));
    int rc = json_parse(d, text, len);
    if (rc < 0) rc = bienc_error_context(rc, "%s: ", src);
    else rc = parse_doc(d, out, do_lower_case, src);
    json_free(d);
    return rc;
}
