/* Vocabulary storage: tokens in one pool, an open-addressing hash table from token to id.
 * WordPiece looks up "##" + piece without building the string: the hash of the prefix is
 * folded in first, and the comparison checks the prefix separately. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"

const char *const tokenizer_special_names[SPECIAL_COUNT] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

static uint32_t hash_bytes(uint32_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

static uint32_t hash_token(int cont, const char *s, size_t len)
{
    uint32_t h = FNV_OFFSET;
    if (cont) h = hash_bytes(h, "##", 2);
    return hash_bytes(h, s, len);
}

int vocab_lookup(const bienc_tokenizer *t, int cont, const char *s, size_t len)
{
    uint32_t h = hash_token(cont, s, len);
    size_t full = len + (cont ? 2 : 0);
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        int32_t id = t->slots[i];
        if (id < 0) return -1;
        if (t->slot_hash[i] != h || t->length[id] != full) continue;
        const char *tok = t->pool + t->offset[id];
        if (cont && (tok[0] != '#' || tok[1] != '#')) continue;
        if (memcmp(tok + (cont ? 2 : 0), s, len) == 0) return id;
    }
}

int vocab_build(bienc_tokenizer *t, const char *const *tokens, const uint32_t *lengths, int n, const char *source)
{
    const char *src = source ? source : "vocabulary";
    if (n <= 0) return bienc_error(BIENC_EFORMAT, "%s: empty vocabulary", src);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        uint32_t len = lengths[i];
        if (len == 0) return bienc_error(BIENC_EFORMAT, "%s line %d: empty token", src, i + 1);
        if (len > VOCAB_MAX_TOKEN_BYTES)
            return bienc_error(BIENC_EFORMAT, "%s line %d: token of more than %d bytes (binary file?)", src, i + 1,
                               VOCAB_MAX_TOKEN_BYTES);
        if (memchr(tokens[i], '\0', len))
            return bienc_error(BIENC_EFORMAT, "%s line %d: NUL byte in token (binary file?)", src, i + 1);
        if (!utf8_valid(tokens[i], len))
            return bienc_error(BIENC_EFORMAT, "%s line %d: token is not valid UTF-8 (binary file?)", src, i + 1);
        total += len + 1;
    }
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)n) cap <<= 1;
    t->n = n;
    t->mask = cap - 1;
    t->pool = malloc(total);
    t->offset = malloc(sizeof *t->offset * n);
    t->length = malloc(sizeof *t->length * n);
    t->slots = malloc(sizeof *t->slots * cap);
    t->slot_hash = malloc(sizeof *t->slot_hash * cap);
    if (!t->pool || !t->offset || !t->length || !t->slots || !t->slot_hash)
        return bienc_error(BIENC_ENOMEM, "%s: out of memory for %d tokens", src, n);
    memset(t->slots, 0xFF, sizeof *t->slots * cap);
    size_t pos = 0;
    t->max_piece_bytes = 0;
    for (int i = 0; i < n; i++) {
        uint32_t len = lengths[i];
        memcpy(t->pool + pos, tokens[i], len);
        t->pool[pos + len] = '\0';
        t->offset[i] = (uint32_t)pos;
        t->length[i] = len;
        pos += len + 1;
        int cont = len > 2 && tokens[i][0] == '#' && tokens[i][1] == '#';
        int piece = (int)len - (cont ? 2 : 0);
        if (piece > t->max_piece_bytes) t->max_piece_bytes = piece;
        int prev = vocab_lookup(t, 0, tokens[i], len);
        if (prev >= 0)
            return bienc_error(BIENC_EFORMAT, "%s line %d: duplicate token '%s' (first at line %d)", src, i + 1,
                               t->pool + t->offset[i], prev + 1);
        uint32_t h = hash_token(0, tokens[i], len);
        uint32_t s = h & t->mask;
        while (t->slots[s] >= 0) s = (s + 1) & t->mask;
        t->slots[s] = i;
        t->slot_hash[s] = h;
    }
    for (int k = 0; k < SPECIAL_COUNT; k++)
        t->special[k] = vocab_lookup(t, 0, tokenizer_special_names[k], strlen(tokenizer_special_names[k]));
    if (t->special[SPECIAL_UNK] < 0) return bienc_error(BIENC_EFORMAT, "%s: no [UNK] token in the vocabulary", src);
    return 0;
}
