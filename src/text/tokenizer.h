/* WordPiece tokenizer, identical in output to Hugging Face's BertTokenizer(Fast).
 *
 * text --normalize (clean, lower-case, strip accents)--> --pre-tokenize (whitespace,
 * punctuation, CJK)--> words --WordPiece (greedy longest match, "##" continuations)--> ids
 *
 * A tokenizer is immutable after loading: concurrent encode calls on one tokenizer from
 * many threads are safe (no hidden mutable state, no allocation shared between calls).
 *
 * Invalid UTF-8 in the input never crashes: each maximal invalid subsequence becomes
 * U+FFFD, which the BERT clean-up step then drops (like HF does for a U+FFFD character;
 * Python strings cannot hold invalid UTF-8, so this is the nearest faithful choice).
 *
 * Every piece an encode call produces is a vocabulary entry (unmatched words become
 * [UNK]), so the pieces of an encoding are tokenizer_id_to_token() of its ids.
 *
 * Fidelity notes (checked against the HF reference cases and an independent Python
 * re-statement on random multilingual text, tests/text/bert_oracle.py):
 *  - special tokens written in the raw text ("[SEP]", "[MASK]", case-sensitive) map to
 *    their ids, as both HF tokenizers do (they never split added tokens);
 *  - lower-casing is Python's str.lower() (full mapping: U+0130 -> i + U+0307, final sigma);
 *  - the Unicode tables are Debian's unicode-data (15.0); Python 3.11 knows 14.0, so the
 *    few characters new in 15.0 are letters here but "unassigned" (dropped) in Python. */
#ifndef BIENC_TOKENIZER_H
#define BIENC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct bienc_tokenizer bienc_tokenizer;

/* Words longer than this many characters become a single [UNK] (HF max_input_chars_per_word). */
#define TOKENIZER_MAX_WORD_CHARS 100

/* Loads a vocabulary: a BERT `vocab.txt` (one token per line, id = line number) or a
 * Hugging Face `tokenizer.json` (WordPiece model; recognised by a ".json" extension or a
 * leading '{'). do_lower_case: 1 lower-cases and strips accents, 0 keeps case, -1 takes the
 * setting from tokenizer.json's BertNormalizer (and means 1 for vocab.txt).
 * Errors name the file and line: empty vocab, duplicate token, missing [UNK], NUL bytes,
 * lines over 1024 bytes. */
int tokenizer_load(bienc_tokenizer **out, const char *path, int do_lower_case);

/* Builds a tokenizer from in-memory tokens (id = index), e.g. a vocabulary stored in a
 * checkpoint. `source` names the origin in error messages (may be NULL). */
int tokenizer_from_vocab_lines(bienc_tokenizer **out, const char *const *tokens, int n_tokens, int do_lower_case,
                               const char *source);
/* Same from the text of a vocab.txt held in memory (lines separated by \n or \r\n). */
int tokenizer_from_vocab_text(bienc_tokenizer **out, const char *text, size_t len, int do_lower_case,
                              const char *source);

void tokenizer_free(bienc_tokenizer *t);

/* Writes the vocabulary as a vocab.txt (one token per line, in id order). */
int tokenizer_save_vocab(const bienc_tokenizer *t, const char *path);

int tokenizer_vocab_size(const bienc_tokenizer *t);
int tokenizer_do_lower_case(const bienc_tokenizer *t);
/* NULL when id is out of range. */
const char *tokenizer_id_to_token(const bienc_tokenizer *t, int id);
/* -1 when the token is not in the vocabulary. */
int tokenizer_token_to_id(const bienc_tokenizer *t, const char *token, size_t len);

/* Special token ids; -1 when the vocabulary lacks the token ([UNK] is always present). */
int tokenizer_cls_id(const bienc_tokenizer *t);
int tokenizer_sep_id(const bienc_tokenizer *t);
int tokenizer_pad_id(const bienc_tokenizer *t);
int tokenizer_unk_id(const bienc_tokenizer *t);
int tokenizer_mask_id(const bienc_tokenizer *t);

/* Single text: `[CLS] a [SEP]` when add_special (needs [CLS] and [SEP] in the vocab), else
 * just the pieces of a. max_len > 0 truncates to max_len ids including the specials (the
 * text's tail is dropped); max_len <= 0 means no limit. Writes the ids into ids[0..cap)
 * and their count into *n_out. token_type_ids of a single text are all 0.
 * When cap is too small, writes the first cap ids, sets *n_out to the number needed and
 * returns BIENC_ERANGE. len is the byte length of text (text need not be NUL-terminated). */
int tokenizer_encode(const bienc_tokenizer *t, const char *text, size_t len, int add_special, int max_len,
                     int32_t *ids, int cap, int *n_out);

/* Pair: `[CLS] a [SEP] b [SEP]`, type_ids 0 for [CLS] a [SEP] and 1 for b [SEP] (type_ids may
 * be NULL). max_len > 0 truncates longest-first like HF's fast tokenizer (the longer part
 * loses its tail; when both are long, a keeps floor(room/2) and b the rest when a <= b,
 * otherwise a keeps the larger half). Same cap / BIENC_ERANGE contract as tokenizer_encode. */
int tokenizer_encode_pair(const bienc_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                          int max_len, int32_t *ids, int32_t *type_ids, int cap, int *n_out);

/* The words of the BERT pre-tokenizer (normalized: cleaned, lower-cased / accent-stripped
 * per the tokenizer's setting, split on whitespace, punctuation and CJK characters), before
 * WordPiece. Calls fn(word, byte_len, ctx) per word, in order; a non-zero return stops and is
 * returned. Used by vocabulary training and tests. */
typedef int (*tokenizer_word_fn)(const char *word, size_t len, void *ctx);
int tokenizer_pretokenize(const char *text, size_t len, int do_lower_case, tokenizer_word_fn fn, void *ctx);

/* ---- vocabulary training (src/text/vocab_train.c) ----
 * Learns a WordPiece vocabulary like Hugging Face tokenizers' WordPieceTrainer: BPE merges
 * on the pre-tokenized words, continuation pieces carrying the "##" prefix. Deterministic:
 * ties are broken by the pieces' byte order, never by hash order.
 * Output order: [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0..4), then the alphabet (single
 * characters and their ## forms, sorted), then the merges in the order they were learned. */
typedef struct vocab_train_options {
    int vocab_size;        /* target size including the specials */
    int min_frequency;     /* a pair merges only if it occurs at least this often (default 2) */
    int limit_alphabet;    /* keep at most this many most frequent characters (0 = all) */
    int do_lower_case;     /* normalize like the tokenizer that will use the vocab (default 1) */
} vocab_train_options;

void vocab_train_defaults(vocab_train_options *o);

typedef struct vocab_trainer vocab_trainer;
int vocab_trainer_new(vocab_trainer **out, const vocab_train_options *o);
/* Counts the words of one text (call per line/document). */
int vocab_trainer_feed(vocab_trainer *vt, const char *text, size_t len);
/* Runs the merges and builds the tokenizer (vocab in the order above). */
int vocab_trainer_finish(vocab_trainer *vt, bienc_tokenizer **out);
void vocab_trainer_free(vocab_trainer *vt);

#endif
