/* Tiny models for the export tests (tests/cli/test_onnx_*.sh): random weights with visible
 * structure (LayerNorm weights around 1, every other tensor N(0, 0.25^2), so attention is far
 * from uniform and padding mistakes show), saved as bienc checkpoints in OUTDIR:
 *     bi_mean.h5   mean pooling + normalisation, GELU erf
 *     bi_cls.h5    cls pooling, no normalisation, GELU tanh (gelu_new)
 *     bi_max.h5    max pooling + normalisation
 *     cross.h5     cross-encoder with three token types (exact-match types)
 * All share one WordPiece vocabulary of words, letters and ##letters.
 *
 * usage: torch_export_models_driver OUTDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/biencoder.h"
#include "model/cross_encoder.h"
#include "core/error.h"
#include "io/cross_io.h"
#include "io/model_io.h"
#include "core/rng.h"

static const char *WORDS[] = {"the", "of", "and", "to", "in", "is", "was", "for", "on", "with", "cat", "dog", "sun",
                              "water", "fog", "king", "book", "star", "red", "mat"};

static int make_tokenizer(bienc_tokenizer **tok)
{
    const char *lines[5 + 20 + 2 * 26];
    static char letters[2 * 26][4];
    int n = 0;
    const char *specials[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++) lines[n++] = specials[i];
    for (int i = 0; i < 20; i++) lines[n++] = WORDS[i];
    for (int i = 0; i < 26; i++) {
        snprintf(letters[i], 4, "%c", 'a' + i);
        snprintf(letters[26 + i], 4, "##%c", 'a' + i);
        lines[n++] = letters[i];
    }
    for (int i = 0; i < 26; i++) lines[n++] = letters[26 + i];
    return tokenizer_from_vocab_lines(tok, lines, n, 1, "export_models_driver");
}

static void scramble(bienc_tensor **params, int n, uint64_t seed)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        bienc_tensor *t = params[i];
        int ln = strstr(t->name, "LayerNorm.weight") != NULL;
        for (int64_t j = 0; j < t->size; j++) t->data[j] = ln ? 1.0f + 0.2f * rng_normal(&rng) : 0.25f * rng_normal(&rng);
    }
}

static int save_bi(const char *dir, const char *name, bienc_pool_mode pool, int normalize, bienc_gelu_kind act,
                   uint64_t seed)
{
    bienc_tokenizer *tok;
    BIENC_TRY(make_tokenizer(&tok));
    bienc_encoder_config cfg;
    encoder_config_default(&cfg);
    cfg.vocab_size = tokenizer_vocab_size(tok) + 3; /* a few unused rows, as real models have */
    cfg.hidden_size = 32;
    cfg.num_layers = 2;
    cfg.num_heads = 4;
    cfg.intermediate_size = 64;
    cfg.max_position_embeddings = 40;
    cfg.activation = act;
    bienc_biencoder_opts o;
    biencoder_opts_default(&o);
    o.pool = pool;
    o.normalize = normalize;
    o.max_query_len = 16;
    o.max_passage_len = 32;
    bienc_biencoder *bi;
    BIENC_TRY(biencoder_new(&bi, &cfg, seed, tok, &o));
    scramble(bi->enc->params, bi->enc->n_params, seed + 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = model_io_save(path, bi);
    biencoder_free(bi);
    return rc;
}

static int save_cross(const char *dir, uint64_t seed)
{
    bienc_tokenizer *tok;
    BIENC_TRY(make_tokenizer(&tok));
    bienc_encoder_config cfg;
    encoder_config_default(&cfg);
    cfg.vocab_size = tokenizer_vocab_size(tok);
    cfg.hidden_size = 32;
    cfg.num_layers = 2;
    cfg.num_heads = 2;
    cfg.intermediate_size = 48;
    cfg.max_position_embeddings = 48;
    cfg.type_vocab_size = 3;
    bienc_cross_encoder *ce;
    BIENC_TRY(cross_encoder_new(&ce, &cfg, seed, tok, 40, 12));
    scramble(ce->params, ce->n_params, seed + 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/cross.h5", dir);
    int rc = cross_io_save(path, ce);
    cross_encoder_free(ce);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    int rc = save_bi(argv[1], "bi_mean.h5", BIENC_POOL_MEAN, 1, BIENC_GELU_ERF, 11);
    if (rc == 0) rc = save_bi(argv[1], "bi_cls.h5", BIENC_POOL_CLS, 0, BIENC_GELU_TANH, 12);
    if (rc == 0) rc = save_bi(argv[1], "bi_max.h5", BIENC_POOL_MAX, 1, BIENC_GELU_ERF, 13);
    if (rc == 0) rc = save_cross(argv[1], 14);
    if (rc < 0) {
        fprintf(stderr, "export_models_driver: %s\n", bienc_last_error());
        return 1;
    }
    return 0;
}
