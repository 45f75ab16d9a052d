/* The tokenizer's private state, shared by the files of src/text. */
#ifndef BIENC_TEXT_TOKENIZER_INTERNAL_H
#define BIENC_TEXT_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

/* Longest vocabulary entry accepted (bytes); longer lines are a format error. */
#define VOCAB_MAX_TOKEN_BYTES 1024

enum { SPECIAL_PAD, SPECIAL_UNK, SPECIAL_CLS, SPECIAL_SEP, SPECIAL_MASK, SPECIAL_COUNT };
extern const char *const tokenizer_special_names[SPECIAL_COUNT];

struct bienc_tokenizer {
    int n;                  /* vocabulary size; id = index */
    char *pool;             /* all tokens, each NUL-terminated */
    uint32_t *offset;       /* token i = pool + offset[i] */
    uint32_t *length;       /* byte length of token i */
    int32_t *slots;         /* open-addressing hash table of ids, -1 = empty */
    uint32_t *slot_hash;    /* hash of the token in each slot (cheap reject before memcmp) */
    uint32_t mask;          /* table size - 1 (power of two) */
    int max_piece_bytes;    /* longest token without its "##" prefix: bounds the WordPiece search */
    int do_lower_case;      /* lower-case and strip accents (BERT uncased) */
    int special[SPECIAL_COUNT]; /* ids of [PAD] [UNK] [CLS] [SEP] [MASK], -1 when absent */
};

/* Builds t (zeroed by the caller) from n tokens; errors name `source` and the 1-based line. */
int vocab_build(bienc_tokenizer *t, const char *const *tokens, const uint32_t *lengths, int n, const char *source);
/* Id of ("##" if cont) + s[0..len), or -1. */
int vocab_lookup(const bienc_tokenizer *t, int cont, const char *s, size_t len);

/* Basic (pre-)tokenizer: calls emit(ctx, word, len, nchars) for each word of text after BERT
 * normalization. Words over TOKENIZER_MAX_WORD_CHARS characters are passed with nchars >
 * TOKENIZER_MAX_WORD_CHARS and only a prefix of their bytes. When specials is non-NULL, raw
 * occurrences of the special tokens (e.g. "[SEP]") are passed as emit_special(ctx, index).
 * A non-zero return from a callback stops the scan and is returned. */
typedef int (*basic_emit_fn)(void *ctx, const char *word, size_t len, int nchars);
typedef int (*basic_special_fn)(void *ctx, int special_index);
int basic_tokenize(const char *text, size_t len, int do_lower_case, const bienc_tokenizer *specials,
                   basic_emit_fn emit, basic_special_fn emit_special, void *ctx);

#endif
