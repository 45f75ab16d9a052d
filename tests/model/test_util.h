/* Shared fixtures of the model unit tests: a 20-token vocabulary and a tiny 2-layer encoder
 * config over it. Include after <cmocka.h> (tiny_tok asserts). */
#ifndef BIENC_TESTS_MODEL_TEST_UTIL_H
#define BIENC_TESTS_MODEL_TEST_UTIL_H

#include "model/encoder.h"
#include "text/tokenizer.h"

static const char *k_vocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "dog", "sat",
                                "on", "mat", "run", "##s", "fast", "slow", "big", "red", "blue", "x"};
#define NV ((int)(sizeof k_vocab / sizeof *k_vocab))

static inline bienc_tokenizer *tiny_tok(void)
{
    bienc_tokenizer *t = NULL;
    assert_int_equal(tokenizer_from_vocab_lines(&t, k_vocab, NV, 1, "test"), 0);
    return t;
}

/* Default dropout; callers needing a deterministic forward set it to 0. */
static inline bienc_encoder_config tiny_cfg(void)
{
    bienc_encoder_config c;
    encoder_config_default(&c);
    c.vocab_size = NV;
    c.hidden_size = 16;
    c.num_layers = 2;
    c.num_heads = 2;
    c.intermediate_size = 32;
    c.max_position_embeddings = 24;
    return c;
}

#endif
