/* Cross-encoder parity driver (see test_cross_encoder.py): builds a tiny cross-encoder from
 * a seed (weights scaled up so the attention and the tanh are far from linear), scores 3
 * (query, passage) pairs of different lengths, takes BCE-with-logits against labels
 * (1, 0, 1) -- or, with --listwise, 4 pairs as two (positive, negative) groups under
 * loss_listwise_ce at scale 2.5 -- backpropagates, and writes every parameter, the token ids / type ids / offsets,
 * the logits, the loss and every parameter gradient as records (int32 name length, name,
 * int32 ndim, int64 shape, float32 data) for PyTorch to recompute.
 *
 * usage: torch_cross_driver OUT [--seed N] [--listwise] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/cross_encoder.h"
#include "core/error.h"
#include "ops/loss.h"
#include "core/rng.h"
#include "record_io.h"

static int write_ints(FILE *f, const char *name, const int32_t *v, int n)
{
    float *tmp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!tmp) return BIENC_ENOMEM;
    for (int i = 0; i < n; i++) tmp[i] = (float)v[i];
    int rc = write_record(f, name, 1, (int64_t[]){n}, tmp);
    free(tmp);
    return rc;
}

static int run(const char *out_path, uint64_t seed, int listwise)
{
    /* a vocabulary of single letters: "a".."z" after the specials */
    const char *vocab[31] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    static char letters[26][2];
    for (int i = 0; i < 26; i++) {
        letters[i][0] = (char)('a' + i);
        vocab[5 + i] = letters[i];
    }
    bienc_tokenizer *tok;
    BIENC_TRY(tokenizer_from_vocab_lines(&tok, vocab, 31, 1, "driver"));
    bienc_encoder_config cfg;
    encoder_config_default(&cfg);
    cfg.vocab_size = 37;
    cfg.hidden_size = 32;
    cfg.num_layers = 2;
    cfg.num_heads = 4;
    cfg.intermediate_size = 64;
    cfg.max_position_embeddings = 24;
    cfg.hidden_dropout = cfg.attention_dropout = 0.0f;
    bienc_cross_encoder *ce;
    BIENC_TRY(cross_encoder_new(&ce, &cfg, seed, tok, 20, 8));
    bienc_rng rng;
    rng_seed(&rng, seed + 1);
    for (int i = 0; i < ce->n_params; i++) {
        bienc_tensor *t = ce->params[i];
        int ln = strstr(t->name, "LayerNorm") != NULL;
        for (int64_t j = 0; j < t->size; j++)
            t->data[j] = ln ? 1.0f + 0.2f * rng_normal(&rng) : 0.3f * rng_normal(&rng);
    }
    /* listwise: two groups (positive, negative), loss_listwise_ce at scale 2.5 */
    const char *q[4] = {"a b c", "a b c", "d e f g h i j k l m", "z"};
    const char *p[4] = {"x y z w", "q", "m n o p q r s t u v w x y z a b c d e f", "k l"};
    int32_t ids[96], types[96];
    int offs[5] = {0}, n_pairs = listwise ? 4 : 3;
    for (int i = 0; i < n_pairs; i++) {
        int n;
        BIENC_TRY(cross_encoder_tokenize_pair(ce, q[i], strlen(q[i]), p[i], strlen(p[i]), ids + offs[i], types + offs[i], &n));
        offs[i + 1] = offs[i] + n;
    }
    bienc_batch_ids b = {.ids = ids, .type_ids = types, .seqs = {.n = n_pairs, .offsets = offs}};
    bienc_tape *tape;
    BIENC_TRY(tape_new(&tape));
    bienc_tensor *logits, *loss;
    const float labels[4] = {1, 0, 1, 0};
    int rc = cross_encoder_forward(ce, tape, &b, 0, 0, &logits);
    if (rc == 0 && listwise) rc = loss_listwise_ce(tape, logits, 2, 2.5f, &loss);
    else if (rc == 0) rc = loss_bce_with_logits(tape, logits, labels, &loss);
    if (rc == 0) rc = tape_backward(tape, loss);
    FILE *f = rc == 0 ? fopen(out_path, "wb") : NULL;
    if (rc == 0 && !f) rc = bienc_error(BIENC_EIO, "%s: cannot write", out_path);
    for (int i = 0; rc == 0 && i < ce->n_params; i++)
        rc = write_record(f, ce->params[i]->name, ce->params[i]->ndim, ce->params[i]->shape, ce->params[i]->data);
    char name[300];
    for (int i = 0; rc == 0 && i < ce->n_params; i++) {
        snprintf(name, sizeof name, "grad.%s", ce->params[i]->name);
        rc = write_record(f, name, ce->params[i]->ndim, ce->params[i]->shape, ce->params[i]->grad);
    }
    if (rc == 0) rc = write_ints(f, "ids", ids, offs[n_pairs]);
    if (rc == 0) rc = write_ints(f, "type_ids", types, offs[n_pairs]);
    if (rc == 0) rc = write_ints(f, "offsets", offs, n_pairs + 1);
    if (rc == 0) rc = write_record(f, "labels", 1, (int64_t[]){n_pairs}, labels);
    if (rc == 0) rc = write_record(f, "logits", 2, logits->shape, logits->data);
    if (rc == 0) rc = write_record(f, "loss", 1, (int64_t[]){1}, loss->data);
    if (f && fclose(f) != 0 && rc == 0) rc = bienc_error(BIENC_EIO, "%s: write failed", out_path);
    tape_free(tape);
    cross_encoder_free(ce);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT [--seed N]\n", argv[0]);
        return 2;
    }
    uint64_t seed = 5;
    int listwise = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--listwise") == 0) listwise = 1;
    }
    if (run(argv[1], seed, listwise) < 0) {
        fprintf(stderr, "cross_driver: %s\n", bienc_last_error());
        return 1;
    }
    return 0;
}
