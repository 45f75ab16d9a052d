/* Whole-encoder parity driver (see test_encoder.py): builds a tiny encoder from a seed,
 * runs it on 3 packed sequences of different lengths, pools, pushes a random upstream
 * gradient through the tape, and writes every parameter, the outputs and every
 * parameter gradient as records (int32 name length, name, int32 ndim, int64 shape,
 * float32 data) for PyTorch to recompute.
 *
 * usage: torch_encoder_driver OUT [--pool mean|cls|max] [--act gelu|gelu_new]
 *                                 [--normalize] [--seed N] [--no-types]
 *                                 [--precision fp32|bf16] [--minilm]
 * --minilm: MiniLM-L6's layer widths (hidden 384, 12 heads, intermediate 1536; 2 layers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/encoder.h"
#include "core/error.h"
#include "core/rng.h"
#include "record_io.h"

static int write_tensor(FILE *f, const char *prefix, const bienc_tensor *t, int grad)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", prefix, t->name ? t->name : "");
    return write_record(f, name, t->ndim, t->shape, grad ? t->grad : t->data);
}

static int write_ints(FILE *f, const char *name, const int32_t *v, int n)
{
    float *tmp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!tmp) return BIENC_ENOMEM;
    for (int i = 0; i < n; i++) tmp[i] = (float)v[i];
    int rc = write_record(f, name, 1, (int64_t[]){n}, tmp);
    free(tmp);
    return rc;
}

static int run(const char *out_path, int argc, char **argv)
{
    bienc_pool_mode pool = BIENC_POOL_MEAN;
    int normalize = 0, no_types = 0;
    uint64_t seed = 42;
    bienc_precision precision = BIENC_PRECISION_FP32;
    bienc_encoder_config cfg;
    encoder_config_default(&cfg);
    cfg.vocab_size = 97;
    cfg.hidden_size = 64;
    cfg.num_layers = 2;
    cfg.num_heads = 4;
    cfg.intermediate_size = 128;
    cfg.max_position_embeddings = 16;
    cfg.hidden_dropout = cfg.attention_dropout = 0.0f;
    /* A larger init than BERT's 0.02 so that the attention is far from uniform and the
     * layers actually mix tokens: a stricter test of the backward. */
    cfg.initializer_range = 0.2f;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--pool") && i + 1 < argc) pool = (bienc_pool_mode)pool_mode_from_name(argv[++i]);
        else if (!strcmp(argv[i], "--act") && i + 1 < argc) cfg.activation = (bienc_gelu_kind)encoder_activation_from_name(argv[++i]);
        else if (!strcmp(argv[i], "--normalize")) normalize = 1;
        else if (!strcmp(argv[i], "--no-types")) no_types = 1;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) BIENC_TRY(precision_parse(argv[++i], &precision));
        else if (!strcmp(argv[i], "--minilm")) {
            cfg.hidden_size = 384, cfg.num_heads = 12, cfg.intermediate_size = 1536;
            cfg.initializer_range = 0.05f; /* keeps 384-wide pre-activations of the same order */
        }
        else return bienc_error(BIENC_EINVAL, "unknown argument %s", argv[i]);
    }
    if ((int)pool < 0 || (int)cfg.activation < 0) return bienc_error(BIENC_EINVAL, "bad --pool or --act");

    enum { N = 3 };
    int offsets[N + 1] = {0, 3, 10, 22};
    int T = offsets[N];
    int32_t ids[22], types[22];
    bienc_rng rng;
    rng_seed(&rng, seed + 1);
    for (int s = 0; s < N; s++)
        for (int t = offsets[s]; t < offsets[s + 1]; t++) {
            ids[t] = (int32_t)rng_below(&rng, (uint64_t)cfg.vocab_size);
            types[t] = t - offsets[s] >= (offsets[s + 1] - offsets[s]) / 2;  /* sentence pair: A then B */
        }
    bienc_batch_ids batch = {ids, no_types ? NULL : types, {.n = N, .offsets = offsets}};

    bienc_encoder *enc = NULL;
    bienc_tape *tape = NULL;
    FILE *f = NULL;
    int rc = encoder_new(&enc, &cfg, seed);
    if (rc == 0) rc = tape_new(&tape);
    if (rc == 0) tape_set_precision(tape, precision);
    bienc_tensor *hidden = NULL, *emb = NULL;
    if (rc == 0) rc = encoder_forward(enc, tape, &batch, 0, 0, &hidden);
    if (rc == 0) rc = op_pool(tape, hidden, &batch.seqs, pool, &emb);
    if (rc == 0 && normalize) rc = op_l2_normalize(tape, emb, &emb);
    float upstream[N * 384];
    for (int i = 0; i < N * cfg.hidden_size; i++) upstream[i] = rng_normal(&rng);
    if (rc == 0) rc = tape_backward_from(tape, emb, upstream);
    if (rc == 0 && !(f = fopen(out_path, "wb"))) rc = bienc_error(BIENC_EIO, "cannot open %s", out_path);
    float conf[] = {(float)cfg.vocab_size, (float)cfg.hidden_size, (float)cfg.num_layers, (float)cfg.num_heads,
                    (float)cfg.intermediate_size, (float)cfg.max_position_embeddings, (float)cfg.type_vocab_size,
                    cfg.layer_norm_eps, (float)cfg.activation, (float)pool, (float)normalize};
    if (rc == 0) rc = write_record(f, "config", 1, (int64_t[]){11}, conf);
    if (rc == 0) rc = write_ints(f, "ids", ids, T);
    if (rc == 0) rc = write_ints(f, "type_ids", batch.type_ids ? types : (int32_t[22]){0}, T);
    if (rc == 0) rc = write_ints(f, "offsets", (int32_t *)offsets, N + 1);
    for (int i = 0; rc == 0 && i < encoder_param_count(enc); i++) rc = write_tensor(f, "param/", enc->params[i], 0);
    if (rc == 0) rc = write_record(f, "hidden", 2, hidden->shape, hidden->data);
    if (rc == 0) rc = write_record(f, "pooled", 2, emb->shape, emb->data);
    if (rc == 0) rc = write_record(f, "upstream", 2, emb->shape, upstream);
    for (int i = 0; rc == 0 && i < encoder_param_count(enc); i++) rc = write_tensor(f, "grad/", enc->params[i], 1);
    if (f && fclose(f) != 0 && rc == 0) rc = bienc_error(BIENC_EIO, "cannot write %s", out_path);
    tape_free(tape);
    encoder_free(enc);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT [--pool mean|cls|max] [--act gelu|gelu_new] [--normalize] [--seed N]\n",
                argv[0]);
        return 2;
    }
    if (run(argv[1], argc - 2, argv + 2) < 0) {
        fprintf(stderr, "encoder_driver: %s\n", bienc_last_error());
        return 1;
    }
    return 0;
}
