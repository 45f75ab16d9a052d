/* Tokenizer lifecycle: loading a vocab.txt (or dispatching to tokenizer.json), building
 * from memory, saving, and the small accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "core/atomic_file.h"
#include "text/tokenizer_internal.h"

/* Defined in tokenizer_json.c. */
int tokenizer_json_parse(bienc_tokenizer **out, const char *text, size_t len, int do_lower_case, const char *source);

static int tokenizer_alloc(bienc_tokenizer **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return bienc_error(BIENC_ENOMEM, "tokenizer: out of memory");
    return 0;
}

void tokenizer_free(bienc_tokenizer *t)
{
    if (!t) return;
    free(t->pool);
    free(t->offset);
    free(t->length);
    free(t->slots);
    free(t->slot_hash);
    free(t);
}

int tokenizer_from_vocab_lines(bienc_tokenizer **out, const char *const *tokens, int n_tokens, int do_lower_case,
                               const char *source)
{
    if (!out || (!tokens && n_tokens > 0)) return bienc_error(BIENC_EINVAL, "tokenizer_from_vocab_lines: NULL argument");
    *out = NULL;
    if (n_tokens <= 0) return bienc_error(BIENC_EFORMAT, "%s: empty vocabulary", source ? source : "vocabulary");
    uint32_t *lengths = malloc(sizeof *lengths * (size_t)n_tokens);
    if (!lengths) return bienc_error(BIENC_ENOMEM, "tokenizer: out of memory");
    for (int i = 0; i < n_tokens; i++) {
        size_t l = tokens[i] ? strlen(tokens[i]) : 0;
        lengths[i] = l > VOCAB_MAX_TOKEN_BYTES ? VOCAB_MAX_TOKEN_BYTES + 1 : (uint32_t)l;
    }
    bienc_tokenizer *t;
    int rc = tokenizer_alloc(&t);
    if (rc == 0) {
        static const char empty[1] = "";
        const char **toks = malloc(sizeof *toks * (size_t)n_tokens);
        if (!toks) rc = bienc_error(BIENC_ENOMEM, "tokenizer: out of memory");
        else {
            for (int i = 0; i < n_tokens; i++) toks[i] = tokens[i] ? tokens[i] : empty;
            t->do_lower_case = do_lower_case != 0;
            rc = vocab_build(t, toks, lengths, n_tokens, source);
            free(toks);
        }
        if (rc < 0) tokenizer_free(t);
        else *out = t;
    }
    free(lengths);
    return rc;
}

int tokenizer_from_vocab_text(bienc_tokenizer **out, const char *text, size_t len, int do_lower_case,
                              const char *source)
{
    if (!out || (!text && len)) return bienc_error(BIENC_EINVAL, "tokenizer_from_vocab_text: NULL argument");
    *out = NULL;
    const char *src = source ? source : "vocab.txt";
    /* Count lines: a final line without '\n' counts, a trailing '\n' ends the last one. */
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') n++;
    if (len > 0 && text[len - 1] != '\n') n++;
    if (n == 0) return bienc_error(BIENC_EFORMAT, "%s: empty vocabulary", src);
    if (n > 0x7FFFFFF) return bienc_error(BIENC_EFORMAT, "%s: too many lines (%zu)", src, n);
    const char **toks = malloc(sizeof *toks * n);
    uint32_t *lengths = malloc(sizeof *lengths * n);
    if (!toks || !lengths) {
        free(toks);
        free(lengths);
        return bienc_error(BIENC_ENOMEM, "%s: out of memory", src);
    }
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len && k < n; i++) {
        if (i == len || text[i] == '\n') {
            size_t l = i - start;
            if (l > 0 && text[start + l - 1] == '\r') l--;  /* CRLF files */
            toks[k] = text + start;
            lengths[k] = l > VOCAB_MAX_TOKEN_BYTES ? VOCAB_MAX_TOKEN_BYTES + 1 : (uint32_t)l;
            k++;
            start = i + 1;
        }
    }
    bienc_tokenizer *t;
    int rc = tokenizer_alloc(&t);
    if (rc == 0) {
        t->do_lower_case = do_lower_case != 0;
        rc = vocab_build(t, toks, lengths, (int)n, src);
        if (rc < 0) tokenizer_free(t);
        else *out = t;
    }
    free(toks);
    free(lengths);
    return rc;
}

/* Reads a whole file (vocab files are small: bert's is 230 kB, tokenizer.json 700 kB). */
static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return bienc_error(BIENC_EIO, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) { fclose(f); return bienc_error(BIENC_ENOMEM, "%s: out of memory", path); }
    for (;;) {
        if (n == cap) {
            if (cap >= ((size_t)1 << 31)) {
                free(buf);
                fclose(f);
                return bienc_error(BIENC_EFORMAT, "%s: larger than 2 GB, not a vocabulary", path);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return bienc_error(BIENC_ENOMEM, "%s: out of memory", path); }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return bienc_error(BIENC_EIO, "%s: read error", path); }
    *data = buf;
    *len = n;
    return 0;
}

int tokenizer_load(bienc_tokenizer **out, const char *path, int do_lower_case)
{
    if (!out || !path) return bienc_error(BIENC_EINVAL, "tokenizer_load: NULL argument");
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    BIENC_TRY(read_file(path, &data, &len));
    size_t pl = strlen(path);
    size_t first = 0;
    while (first < len && (data[first] == ' ' || data[first] == '\t' || data[first] == '\r' || data[first] == '\n'))
        first++;
    int is_json = (pl >= 5 && strcmp(path + pl - 5, ".json") == 0) || (first < len && data[first] == '{');
    int rc;
    if (is_json) rc = tokenizer_json_parse(out, data, len, do_lower_case, path);
    else rc = tokenizer_from_vocab_text(out, data, len, do_lower_case < 0 ? 1 : do_lower_case, path);
    free(data);
    return rc;
}

int tokenizer_save_vocab(const bienc_tokenizer *t, const char *path)
{
    if (!t || !path) return bienc_error(BIENC_EINVAL, "tokenizer_save_vocab: NULL argument");
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, path));
    FILE *f = out.f;
    for (int i = 0; i < t->n; i++) {
        fwrite(t->pool + t->offset[i], 1, t->length[i], f);
        fputc('\n', f);
    }
    return atomic_file_commit(&out);
}

int tokenizer_vocab_size(const bienc_tokenizer *t) { return t ? t->n : 0; }
int tokenizer_do_lower_case(const bienc_tokenizer *t) { return t ? t->do_lower_case : 0; }

const char *tokenizer_id_to_token(const bienc_tokenizer *t, int id)
{
    if (!t || id < 0 || id >= t->n) return NULL;
    return t->pool + t->offset[id];
}

int tokenizer_token_to_id(const bienc_tokenizer *t, const char *token, size_t len)
{
    if (!t || !token) return -1;
    return vocab_lookup(t, 0, token, len);
}

int tokenizer_cls_id(const bienc_tokenizer *t) { return t ? t->special[SPECIAL_CLS] : -1; }
int tokenizer_sep_id(const bienc_tokenizer *t) { return t ? t->special[SPECIAL_SEP] : -1; }
int tokenizer_pad_id(const bienc_tokenizer *t) { return t ? t->special[SPECIAL_PAD] : -1; }
int tokenizer_unk_id(const bienc_tokenizer *t) { return t ? t->special[SPECIAL_UNK] : -1; }
int tokenizer_mask_id(const bienc_tokenizer *t) { return t ? t->special[SPECIAL_MASK] : -1; }
