/* Model checkpoints: round trip (same parameters, vocabulary, options and embeddings) and
 * clear errors for truncated, foreign and inconsistent files. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "model/biencoder.h"
#include "core/error.h"
#include "io/model_io.h"

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/bienc_test_model_io_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *k_vocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat",
                                "dog", "##s", "Run"};
#define NV ((int)(sizeof k_vocab / sizeof *k_vocab))

static bienc_biencoder *make_bi(void)
{
    bienc_tokenizer *tok = NULL;
    assert_int_equal(tokenizer_from_vocab_lines(&tok, k_vocab, NV, 0, "test"), 0);
    bienc_encoder_config c;
    encoder_config_default(&c);
    c.vocab_size = NV + 3; /* larger than the vocabulary: allowed */
    c.hidden_size = 12;
    c.num_layers = 2;
    c.num_heads = 3;
    c.intermediate_size = 20;
    c.max_position_embeddings = 16;
    c.activation = BIENC_GELU_TANH;
    c.hidden_dropout = 0.2f;
    bienc_biencoder_opts o = {.pool = BIENC_POOL_CLS, .normalize = 1, .max_query_len = 5, .max_passage_len = 14};
    bienc_biencoder *bi = NULL;
    assert_int_equal(biencoder_new(&bi, &c, 3, tok, &o), 0);
    return bi;
}

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

static void test_round_trip(void **state)
{
    (void)state;
    bienc_biencoder *a = make_bi(), *b = NULL;
    char p[512];
    path_of(p, sizeof p, "model.h5");
    assert_int_equal(model_io_save(p, a), 0);
    assert_int_equal(model_io_load(p, &b), 0);
    assert_int_equal(memcmp(&a->enc->cfg, &b->enc->cfg, sizeof a->enc->cfg), 0);
    assert_int_equal(b->pool, BIENC_POOL_CLS);
    assert_int_equal(b->normalize, 1);
    assert_int_equal(b->max_query_len, 5);
    assert_int_equal(b->max_passage_len, 14);
    assert_int_equal(tokenizer_do_lower_case(b->tok), 0);
    assert_int_equal(tokenizer_vocab_size(b->tok), NV);
    for (int i = 0; i < NV; i++) assert_string_equal(tokenizer_id_to_token(b->tok, i), k_vocab[i]);
    for (int i = 0; i < a->enc->n_params; i++) {
        assert_null(b->enc->params[i]->grad); /* loaded for inference: no gradient buffers */
        assert_string_equal(a->enc->params[i]->name, b->enc->params[i]->name);
        assert_memory_equal(a->enc->params[i]->data, b->enc->params[i]->data, a->enc->params[i]->size * sizeof(float));
    }
    const char *texts[] = {"the cat sat on the mat", "Run dogs", "", "cat"};
    float ea[4 * 12], eb[4 * 12];
    assert_int_equal(biencoder_encode_texts(a, NULL, texts, NULL, 4, BIENC_SIDE_PASSAGE, 2, ea), 0);
    assert_int_equal(biencoder_encode_texts(b, NULL, texts, NULL, 4, BIENC_SIDE_PASSAGE, 2, eb), 0);
    assert_memory_equal(ea, eb, sizeof ea);
    /* the config alone */
    bienc_ckpt *c;
    assert_int_equal(ckpt_open(&c, p), 0);
    bienc_encoder_config cfg;
    bienc_biencoder_opts o;
    int lc = -1;
    assert_int_equal(model_io_read_config(c, &cfg, &o, &lc), 0);
    assert_int_equal(cfg.hidden_size, 12);
    assert_int_equal(cfg.activation, BIENC_GELU_TANH);
    assert_int_equal(o.max_passage_len, 14);
    assert_int_equal(lc, 0);
    ckpt_close(c);
    biencoder_free(a);
    biencoder_free(b);
}

static void test_truncated_and_foreign(void **state)
{
    (void)state;
    bienc_biencoder *a = make_bi(), *b = (bienc_biencoder *)1;
    char p[512], t[512], f[512], cmd[2048];
    path_of(p, sizeof p, "full.h5");
    assert_int_equal(model_io_save(p, a), 0);
    /* truncated to half its size */
    path_of(t, sizeof t, "trunc.h5");
    snprintf(cmd, sizeof cmd, "head -c $(( $(stat -c %%s '%s') / 2 )) '%s' > '%s'", p, p, t);
    assert_int_equal(system(cmd), 0);
    int rc = model_io_load(t, &b);
    assert_true(rc < 0);
    assert_null(b);
    assert_non_null(strstr(bienc_last_error(), "trunc.h5"));
    /* not HDF5 at all */
    path_of(f, sizeof f, "text.h5");
    FILE *fp = fopen(f, "w");
    fputs("hello, not a checkpoint\n", fp);
    fclose(fp);
    assert_true(model_io_load(f, &b) < 0);
    assert_non_null(strstr(bienc_last_error(), "text.h5"));
    /* a bienc checkpoint without a model */
    bienc_ckpt_writer *w;
    path_of(f, sizeof f, "nomodel.h5");
    assert_int_equal(ckpt_writer_open(&w, f), 0);
    assert_int_equal(ckpt_write_int64(w, "something", 3), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    assert_int_equal(model_io_load(f, &b), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "not a model checkpoint"));
    /* missing file */
    path_of(f, sizeof f, "absent.h5");
    assert_true(model_io_load(f, &b) < 0);
    assert_non_null(strstr(bienc_last_error(), "absent.h5"));
    biencoder_free(a);
}

/* A file whose attributes claim another shape than its tensors have, or that misses a
 * parameter, or has extra ones. */
static void test_inconsistent(void **state)
{
    (void)state;
    bienc_biencoder *a = make_bi(), *b = NULL;
    char f[512];
    /* wrong shape: write the model, but claim intermediate_size 24 */
    path_of(f, sizeof f, "shape.h5");
    bienc_ckpt_writer *w;
    assert_int_equal(ckpt_writer_open(&w, f), 0);
    a->enc->cfg.intermediate_size = 24;
    assert_int_equal(model_io_write(w, a), 0);
    a->enc->cfg.intermediate_size = 20;
    assert_int_equal(ckpt_writer_commit(w), 0);
    assert_int_equal(model_io_load(f, &b), BIENC_ESHAPE);
    assert_non_null(strstr(bienc_last_error(), "intermediate.dense"));
    /* an extra tensor under /params */
    path_of(f, sizeof f, "extra.h5");
    assert_int_equal(ckpt_writer_open(&w, f), 0);
    assert_int_equal(model_io_write(w, a), 0);
    int64_t shp[1] = {3};
    float z[3] = {0};
    assert_int_equal(ckpt_write_tensor(w, "params/pooler.dense.bias", 1, shp, z), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    assert_int_equal(model_io_load(f, &b), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "/params holds"));
    assert_null(b);
    biencoder_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated_and_foreign),
        cmocka_unit_test(test_inconsistent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
