/* WordPiece vocabulary training: layout, determinism, the merge rule, options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/rng.h"
#include "text/tokenizer.h"

static const char *corpus[] = {
    "The quick brown fox jumps over the lazy dog.",
    "Tokenizers split words into pieces; the pieces are learned from text.",
    "Learning a vocabulary: count words, then merge the most frequent pairs.",
    "Über naïve café owners can't resist the résumé of a 日本 visitor!",
    "the the the then there these those thesis",
};
#define N_CORPUS ((int)(sizeof corpus / sizeof corpus[0]))

static bienc_tokenizer *train(int size, int min_freq, int limit, int reps)
{
    vocab_train_options o;
    vocab_train_defaults(&o);
    o.vocab_size = size;
    o.min_frequency = min_freq;
    o.limit_alphabet = limit;
    vocab_trainer *vt;
    assert_int_equal(vocab_trainer_new(&vt, &o), 0);
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < N_CORPUS; i++) assert_int_equal(vocab_trainer_feed(vt, corpus[i], strlen(corpus[i])), 0);
    bienc_tokenizer *t = NULL;
    if (vocab_trainer_finish(vt, &t) != 0) fail_msg("%s", bienc_last_error());
    vocab_trainer_free(vt);
    return t;
}

static void test_layout(void **state)
{
    bienc_tokenizer *t = train(200, 2, 0, 3);
    const char *sp[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++) assert_string_equal(tokenizer_id_to_token(t, i), sp[i]);
    assert_int_equal(tokenizer_pad_id(t), 0);
    assert_int_equal(tokenizer_unk_id(t), 1);
    assert_int_equal(tokenizer_cls_id(t), 2);
    assert_int_equal(tokenizer_sep_id(t), 3);
    assert_int_equal(tokenizer_mask_id(t), 4);
    assert_true(tokenizer_vocab_size(t) <= 200);
    /* the alphabet is lower-cased and accent-free; CJK characters are their own words */
    assert_true(tokenizer_token_to_id(t, "e", 1) >= 5);
    assert_true(tokenizer_token_to_id(t, "##e", 3) >= 5);
    assert_int_equal(tokenizer_token_to_id(t, "T", 1), -1);
    assert_int_equal(tokenizer_token_to_id(t, "\xc3\xa9", 2), -1);
    assert_true(tokenizer_token_to_id(t, "\xe6\x97\xa5", 3) >= 0);
    /* "the" is by far the most frequent word: it must have been merged whole */
    assert_true(tokenizer_token_to_id(t, "the", 3) >= 0);
    /* no duplicates, every token non-empty (vocab_build would have refused) */
    for (int i = 0; i < tokenizer_vocab_size(t); i++) assert_true(strlen(tokenizer_id_to_token(t, i)) > 0);
    /* its own training text tokenizes without [UNK] */
    for (int i = 0; i < N_CORPUS; i++) {
        int32_t ids[256];
        int n;
        assert_int_equal(tokenizer_encode(t, corpus[i], strlen(corpus[i]), 0, 0, ids, 256, &n), 0);
        for (int k = 0; k < n; k++) assert_int_not_equal(ids[k], 1);
    }
    tokenizer_free(t);
}

static void test_deterministic(void **state)
{
    bienc_tokenizer *a = train(150, 2, 0, 4), *b = train(150, 2, 0, 4);
    assert_int_equal(tokenizer_vocab_size(a), tokenizer_vocab_size(b));
    for (int i = 0; i < tokenizer_vocab_size(a); i++)
        assert_string_equal(tokenizer_id_to_token(a, i), tokenizer_id_to_token(b, i));
    tokenizer_free(a);
    tokenizer_free(b);
}

/* A hand-checkable case: "ab" x5 and "abc" x3. Alphabet a b c (every character is a
 * token, as in HF), ##b ##c (the forms seen inside words). Pair counts:
 * (a, ##b) = 8, (##b, ##c) = 3 -> first merge "ab"; then (ab, ##c) = 3 -> "abc". */
static void test_merge_rule(void **state)
{
    vocab_train_options o;
    vocab_train_defaults(&o);
    o.vocab_size = 100;
    o.min_frequency = 2;
    vocab_trainer *vt;
    assert_int_equal(vocab_trainer_new(&vt, &o), 0);
    for (int i = 0; i < 5; i++) assert_int_equal(vocab_trainer_feed(vt, "ab", 2), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(vocab_trainer_feed(vt, "ABC", 3), 0);
    bienc_tokenizer *t;
    assert_int_equal(vocab_trainer_finish(vt, &t), 0);
    vocab_trainer_free(vt);
    const char *want[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "##b", "##c", "ab", "abc"};
    assert_int_equal(tokenizer_vocab_size(t), 12);
    for (int i = 0; i < 12; i++) assert_string_equal(tokenizer_id_to_token(t, i), want[i]);
    tokenizer_free(t);
    /* min_frequency 4 stops before "abc" (seen 3 times) */
    o.min_frequency = 4;
    assert_int_equal(vocab_trainer_new(&vt, &o), 0);
    for (int i = 0; i < 5; i++) vocab_trainer_feed(vt, "ab", 2);
    for (int i = 0; i < 3; i++) vocab_trainer_feed(vt, "abc", 3);
    assert_int_equal(vocab_trainer_finish(vt, &t), 0);
    vocab_trainer_free(vt);
    assert_int_equal(tokenizer_vocab_size(t), 11);
    tokenizer_free(t);
}

static void test_options(void **state)
{
    /* limit_alphabet keeps the most frequent characters only */
    bienc_tokenizer *t = train(1000, 2, 10, 2);
    int singles = 0;
    for (int i = 5; i < tokenizer_vocab_size(t); i++) {
        const char *s = tokenizer_id_to_token(t, i);
        if (s[0] != '#' && strlen(s) == 1) singles++;
    }
    assert_int_equal(singles, 10);
    assert_true(tokenizer_token_to_id(t, "e", 1) >= 0);   /* frequent */
    assert_int_equal(tokenizer_token_to_id(t, "z", 1), -1); /* rare */
    tokenizer_free(t);
    vocab_train_options o;
    vocab_train_defaults(&o);
    vocab_trainer *vt;
    o.vocab_size = 3;
    assert_int_equal(vocab_trainer_new(&vt, &o), BIENC_EINVAL);
    o.vocab_size = 100;
    o.min_frequency = -1;
    assert_int_equal(vocab_trainer_new(&vt, &o), BIENC_EINVAL);
    vocab_trainer_free(NULL);
    /* an empty corpus gives just the specials */
    vocab_train_defaults(&o);
    assert_int_equal(vocab_trainer_new(&vt, &o), 0);
    assert_int_equal(vocab_trainer_finish(vt, &t), 0);
    assert_int_equal(tokenizer_vocab_size(t), 5);
    tokenizer_free(t);
    vocab_trainer_free(vt);
}

/* Random words from a small alphabet: the trained vocabulary must reach the target size,
 * and every training word must segment without [UNK]. */
static void test_random_corpus(void **state)
{
    bienc_rng rng;
    rng_seed(&rng, 42);
    vocab_train_options o;
    vocab_train_defaults(&o);
    o.vocab_size = 300;
    vocab_trainer *vt;
    assert_int_equal(vocab_trainer_new(&vt, &o), 0);
    char line[4096];
    for (int l = 0; l < 300; l++) {
        size_t n = 0;
        for (int w = 0; w < 30; w++) {
            int len = 1 + (int)((uint32_t)(rng_next_u64(&rng) >> 32) % 8);
            for (int c = 0; c < len; c++) line[n++] = "etaoinshrdlu"[(uint32_t)(rng_next_u64(&rng) >> 32) % 12];
            line[n++] = ' ';
        }
        assert_int_equal(vocab_trainer_feed(vt, line, n), 0);
        line[n] = '\0';
    }
    bienc_tokenizer *t;
    assert_int_equal(vocab_trainer_finish(vt, &t), 0);
    vocab_trainer_free(vt);
    assert_int_equal(tokenizer_vocab_size(t), 300);
    int32_t ids[1024];
    int n;
    assert_int_equal(tokenizer_encode(t, line, strlen(line), 0, 0, ids, 1024, &n), 0);
    for (int k = 0; k < n; k++) assert_int_not_equal(ids[k], tokenizer_unk_id(t));
    tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_merge_rule),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_random_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
