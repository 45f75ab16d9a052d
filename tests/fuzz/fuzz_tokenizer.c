/* libFuzzer harness for the text module: any bytes as text to tokenize (single, pair,
 * truncated, cased and uncased), as a vocab.txt, as JSON / tokenizer.json, and as a
 * vocabulary-training corpus. Never a crash, leak, hang or out-of-bounds read; ids always
 * in range, truncation always respected, specials in place.
 *   CC=clang cmake -S . -B build-fuzz -DBIENC_FUZZ=ON -DBIENC_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_tokenizer
 *   build-fuzz/tests/fuzz/fuzz_tokenizer -max_total_time=120 -max_len=4096 corpus/ */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/json.h"
#include "text/tokenizer.h"

/* Internal entry point of src/text/tokenizer_json.c (tokenizer.json from memory). */
int tokenizer_json_parse(bienc_tokenizer **out, const char *text, size_t len, int do_lower_case, const char *source);

static const char *const vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "##a", "##b", "##c", "ab", "##ab", "abc", "e",
    "##e", "i", "##i", "σ", "ς", "##σ", "生", ".", ",", "!", "'", "[", "]", "\xe1\x84\x92", "##\xe1\x85\xa1", "x",
    "##x", "hello", "world"};
#define N_VOCAB ((int)(sizeof vocab / sizeof vocab[0]))

static bienc_tokenizer *tok_lower, *tok_cased;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_tokenizer: %s (%s)\n", what, bienc_last_error());
    abort();
}

static void check_ids(const bienc_tokenizer *t, const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tokenizer_vocab_size(t)) die("id out of range");
}

static void fuzz_encode(const bienc_tokenizer *t, const char *s, size_t len, int max_len)
{
    static int32_t ids[8192], again[8192], types[8192];
    int n = 0, m = 0;
    int rc = tokenizer_encode(t, s, len, 1, 0, ids, 8192, &n);
    if (rc == BIENC_ERANGE) return;  /* cannot happen below 8k pieces, but keep the contract */
    if (rc != 0) die("encode failed");
    check_ids(t, ids, n);
    if (n < 2 || ids[0] != tokenizer_cls_id(t) || ids[n - 1] != tokenizer_sep_id(t)) die("specials misplaced");
    if (tokenizer_encode(t, s, len, 1, 0, again, 8192, &m) != 0 || m != n || memcmp(ids, again, 4 * (size_t)n))
        die("encode not deterministic");
    /* truncation keeps a prefix and the [SEP] */
    if (tokenizer_encode(t, s, len, 1, max_len, again, 8192, &m) != 0) die("truncated encode failed");
    int want = n < max_len ? n : max_len;
    if (m != want || memcmp(again, ids, 4 * (size_t)(m - 1)) || again[m - 1] != tokenizer_sep_id(t))
        die("truncation wrong");
    /* a too-small buffer reports the needed size and writes only within it */
    if (n > 3) {
        int32_t small[3];
        if (tokenizer_encode(t, s, len, 1, 0, small, 3, &m) != BIENC_ERANGE || m != n) die("ERANGE contract");
    }
    /* pair: split the input in two */
    size_t cut = len / 3;
    if (tokenizer_encode_pair(t, s, cut, s + cut, len - cut, max_len + 1, ids, types, 8192, &n) != 0)
        die("pair encode failed");
    check_ids(t, ids, n);
    if (n > max_len + 1 || ids[0] != tokenizer_cls_id(t) || ids[n - 1] != tokenizer_sep_id(t) || types[0] != 0 ||
        types[n - 1] != 1)
        die("pair layout wrong");
}

static int count_word(const char *w, size_t len, void *ctx)
{
    if (len == 0 || !w) die("empty word");
    ++*(int *)ctx;
    return 0;
}

static int no_unk_word(const char *w, size_t len, void *ctx)
{
    const bienc_tokenizer *t = ctx;
    int32_t ids[128];
    int n;
    if (tokenizer_encode(t, w, len, 0, 0, ids, 128, &n) != 0) die("encode word");
    for (int i = 0; i < n; i++)
        if (ids[i] == tokenizer_unk_id(t)) {
            fprintf(stderr, "word '%.*s' -> [UNK]\n", (int)len, w);
            return 1;
        }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok_lower) {
        if (tokenizer_from_vocab_lines(&tok_lower, vocab, N_VOCAB, 1, "fuzz") != 0 ||
            tokenizer_from_vocab_lines(&tok_cased, vocab, N_VOCAB, 0, "fuzz") != 0)
            die("vocab");
    }
    if (size == 0) return 0;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    int mode = data[0] & 7, max_len = 3 + (data[0] >> 3);
    bienc_tokenizer *t = NULL;
    switch (mode) {
    case 0:
    case 1:
    case 2:
        fuzz_encode(tok_lower, s, len, max_len);
        break;
    case 3:
        fuzz_encode(tok_cased, s, len, max_len);
        break;
    case 4:  /* the input as a vocab.txt; if it loads, tokenize the input with it */
        if (tokenizer_from_vocab_text(&t, s, len, 1, "fuzz vocab") == 0) {
            if (tokenizer_cls_id(t) >= 0 && tokenizer_sep_id(t) >= 0) fuzz_encode(t, s, len, max_len);
            tokenizer_free(t);
        }
        break;
    case 5: {  /* JSON, and tokenizer.json */
        json_doc *d;
        if (json_doc_new(&d) != 0) die("json_doc_new");
        if (json_parse(d, s, len) == 0 && !json_root(d)) die("parsed without root");
        json_free(d);
        if (tokenizer_json_parse(&t, s, len, -1, "fuzz json") == 0) tokenizer_free(t);
        break;
    }
    case 6: {  /* vocabulary training on the input */
        vocab_train_options o;
        vocab_train_defaults(&o);
        o.vocab_size = 40 + (data[0] >> 3);
        o.min_frequency = 1;
        o.limit_alphabet = 0;
        vocab_trainer *vt;
        if (vocab_trainer_new(&vt, &o) != 0) die("trainer");
        if (vocab_trainer_feed(vt, s, len) != 0) die("feed");
        if (vocab_trainer_finish(vt, &t) != 0) die("finish");
        if (tokenizer_vocab_size(t) > o.vocab_size && tokenizer_vocab_size(t) > 5 + 2 * (int)len) die("vocab too big");
        /* every word (up to 100 characters) of the training text segments without [UNK] */
        if (tokenizer_pretokenize(s, len, 1, no_unk_word, t) != 0) die("trained vocabulary gives [UNK]");
        tokenizer_free(t);
        vocab_trainer_free(vt);
        break;
    }
    default: {
        int words = 0;
        if (tokenizer_pretokenize(s, len, data[0] & 8, count_word, &words) != 0) die("pretokenize");
        break;
    }
    }
    return 0;
}
