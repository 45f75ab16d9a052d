/* Unit tests of the teacher: BCE training on a tiny synthetic data set (the loss falls, the
 * trained model separates positives from negatives better than the untrained one, and two
 * runs are identical bit for bit), cross-encoder checkpoints (round trip, kind checks), and
 * reranking a run. */
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

#include "io/config.h"
#include "core/error.h"
#include "io/model_io.h"
#include "train/teacher.h"
#include "io/cross_io.h"

/* Topic i: query "wi" and passage "wi wi xi": a pair is relevant when the words match. */
#define NT 8
static char g_dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/bienc_test_teacher_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    char coll[4096] = "", qs[2048] = "", qrels[2048] = "", vocab[2048] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    const char *words[NT] = {"apple", "river", "stone", "cloud", "tiger", "piano", "sugar", "north"};
    const char *extra[NT] = {"red", "blue", "grey", "white", "wild", "loud", "sweet", "cold"};
    for (int i = 0; i < NT; i++) {
        char line[256];
        snprintf(line, sizeof line, "p%d\t%s %s %s\n", i, words[i], extra[i], words[i]);
        strcat(coll, line);
        snprintf(line, sizeof line, "q%d\t%s\n", i, words[i]);
        strcat(qs, line);
        snprintf(line, sizeof line, "q%d 0 p%d 1\n", i, i);
        strcat(qrels, line);
        snprintf(line, sizeof line, "%s\n%s\n", words[i], extra[i]);
        strcat(vocab, line);
    }
    write_file("collection.tsv", coll);
    write_file("queries.train.tsv", qs);
    write_file("qrels.train.tsv", qrels);
    write_file("vocab.txt", vocab);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *files[] = {"collection.tsv", "queries.train.tsv", "qrels.train.tsv", "vocab.txt", "t.h5"};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, files[i]);
        unlink(path);
    }
    rmdir(g_dir);
    return 0;
}

static void tiny_config(bienc_run_config *cfg, int steps)
{
    char set[600];
    assert_int_equal(config_init(cfg), 0);
    const char *sets[] = {"teacher.model.hidden=32", "teacher.model.layers=2", "teacher.model.heads=2",
                          "teacher.model.intermediate=64", "teacher.model.dropout=0", "teacher.model.attention_dropout=0",
                          "tokenizer.max_query_length=4", "tokenizer.max_passage_length=8", "teacher.train.batch_size=4",
                          "teacher.loss.hard_negatives=2", "teacher.optim.lr=2e-3", "teacher.schedule.warmup_ratio=0",
                          "teacher.train.threads=1", "teacher.train.log_every_steps=1000", "model.size=tiny"};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) assert_int_equal(config_set_override(cfg, sets[i]), 0);
    snprintf(set, sizeof set, "teacher.train.steps=%d", steps);
    assert_int_equal(config_set_override(cfg, set), 0);
    snprintf(set, sizeof set, "data.dir=%s", g_dir);
    assert_int_equal(config_set_override(cfg, set), 0);
    assert_int_equal(config_finalize(cfg), 0);
}

/* Mean BCE of every (query, passage) pair of the topics, positives labelled 1. */
static double all_pairs_loss(bienc_cross_encoder *ce)
{
    const char *words[NT] = {"apple", "river", "stone", "cloud", "tiger", "piano", "sugar", "north"};
    const char *extra[NT] = {"red", "blue", "grey", "white", "wild", "loud", "sweet", "cold"};
    static char pbuf[NT][64];
    const char *q[NT * NT], *p[NT * NT];
    float y[NT * NT];
    for (int i = 0; i < NT; i++) snprintf(pbuf[i], sizeof pbuf[i], "%s %s %s", words[i], extra[i], words[i]);
    for (int i = 0; i < NT; i++)
        for (int j = 0; j < NT; j++) {
            q[i * NT + j] = words[i];
            p[i * NT + j] = pbuf[j];
            y[i * NT + j] = i == j;
        }
    double loss;
    assert_int_equal(teacher_eval_loss(ce, q, p, y, NT * NT, &loss), 0);
    return loss;
}

static void test_train(void **state)
{
    (void)state;
    bienc_run_config cfg;
    tiny_config(&cfg, 500);
    char vocab[512], out[512];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", g_dir);
    snprintf(out, sizeof out, "%s/t.h5", g_dir);
    bienc_teacher_opts o = {.vocab = vocab, .output = out};
    bienc_cross_encoder *a = NULL, *b = NULL, *untrained = NULL;
    bienc_teacher_result ra, rb;
    assert_int_equal(teacher_train(&cfg, &o, &a, &ra), 0);
    o.output = NULL;
    assert_int_equal(teacher_train(&cfg, &o, &b, &rb), 0);
    assert_int_equal(ra.n_losses, 500);
    /* deterministic: same losses and parameters bit for bit */
    assert_memory_equal(ra.losses, rb.losses, sizeof(float) * 500);
    for (int i = 0; i < a->n_params; i++)
        assert_memory_equal(a->params[i]->data, b->params[i]->data, sizeof(float) * (size_t)a->params[i]->size);
    double first = 0, last = 0;
    for (int i = 0; i < 10; i++) {
        first += ra.losses[i];
        last += ra.losses[490 + i];
    }
    printf("  teacher loss: first 10 steps %.4f, last 10 %.4f\n", first / 10, last / 10);
    assert_true(last < 0.7 * first);
    /* the trained model ranks better than the untrained one (0 steps = the initial model) */
    bienc_run_config c0;
    tiny_config(&c0, 1);
    c0.teacher.optim.lr = 0;
    assert_int_equal(teacher_train(&c0, &o, &untrained, NULL), 0);
    double l0 = all_pairs_loss(untrained), l1 = all_pairs_loss(a);
    printf("  all-pairs BCE: untrained %.4f, trained %.4f\n", l0, l1);
    assert_true(l1 < l0);

    /* checkpoint round trip: the same scores bit for bit */
    bienc_cross_encoder *c = NULL;
    assert_int_equal(cross_io_load(out, &c), 0);
    assert_int_equal(c->max_len, a->max_len);
    assert_int_equal(c->max_query_len, a->max_query_len);
    assert_true(all_pairs_loss(c) == l1);
    /* a cross-encoder file is not a bi-encoder, and the reverse */
    bienc_biencoder *bi = NULL;
    assert_int_equal(model_io_load(out, &bi), BIENC_EFORMAT);
    assert_null(bi);

    /* reranking: the positive of each query comes first */
    bienc_run *run = NULL, *rr = NULL;
    assert_int_equal(run_new(&run, "first"), 0);
    char qid[16], pid[16];
    for (int i = 0; i < NT; i++)
        for (int j = 0; j < NT; j++) {
            snprintf(qid, sizeof qid, "q%d", i);
            snprintf(pid, sizeof pid, "p%d", j);
            assert_int_equal(run_add(run, qid, pid, -(double)((i + j + 1) % NT)), 0); /* the positive is never first */
        }
    bienc_texts *qt = NULL, *ct = NULL;
    char path[512];
    bienc_read_opts ro = {0};
    snprintf(path, sizeof path, "%s/queries.train.tsv", g_dir);
    assert_int_equal(texts_load_tsv(&qt, path, &ro, NULL), 0);
    snprintf(path, sizeof path, "%s/collection.tsv", g_dir);
    assert_int_equal(texts_load_tsv(&ct, path, &ro, NULL), 0);
    assert_int_equal(teacher_rerank(&(bienc_reranker){.ce = a}, BIENC_PRECISION_FP32, run, qt, ct, NT, 3, "t", &rr), 0);
    assert_int_equal(run_num_queries(rr), NT);
    int top_pos = 0;
    for (size_t qi = 0; qi < run_num_queries(rr); qi++) {
        assert_int_equal(run_query_size(rr, qi), NT);
        top_pos += strcmp(run_query_id(rr, qi) + 1, run_doc_id(rr, qi, 0) + 1) == 0;
    }
    printf("  rerank: positive first for %d of %d queries\n", top_pos, NT);
    assert_true(top_pos >= NT - 1); /* chance: 1 in 8 */
    /* in bf16: the same pairs, logits within 2% of the largest |logit| (the bound and why:
     * tests/model/test_cross_encoder.c test_score_bf16), not all equal to fp32's bits */
    bienc_run *r16 = NULL;
    assert_int_equal(teacher_rerank(&(bienc_reranker){.ce = a}, BIENC_PRECISION_BF16, run, qt, ct, NT, 3, "t", &r16), 0);
    assert_int_equal(run_num_queries(r16), NT);
    double scale = 0, worst = 0;
    int differ = 0;
    for (size_t qi = 0; qi < run_num_queries(rr); qi++)
        for (size_t j = 0; j < run_query_size(rr, qi); j++) scale = fmax(scale, fabs(run_doc_score(rr, qi, j)));
    for (size_t qi = 0; qi < run_num_queries(r16); qi++) {
        assert_string_equal(run_query_id(r16, qi), run_query_id(rr, qi));
        assert_int_equal(run_query_size(r16, qi), NT);
        for (size_t j = 0; j < NT; j++) { /* the same document in rr, wherever it ranks there */
            size_t k = 0;
            while (k < NT && strcmp(run_doc_id(rr, qi, k), run_doc_id(r16, qi, j)) != 0) k++;
            assert_true(k < NT);
            double d = fabs(run_doc_score(r16, qi, j) - run_doc_score(rr, qi, k));
            worst = fmax(worst, d);
            differ += d > 0;
        }
    }
    printf("  rerank bf16 vs fp32: max |logit diff| %.3g (max |logit| %.3g), %d of %d logits differ\n", worst, scale,
           differ, NT * NT);
    assert_true(worst <= 0.02 * scale);
    assert_true(differ > 0);
    run_free(r16);
    /* unknown ids are errors naming them */
    bienc_run *bad = NULL, *bo = NULL;
    assert_int_equal(run_new(&bad, "bad"), 0);
    assert_int_equal(run_add(bad, "q0", "nope", 1.0), 0);
    assert_int_equal(teacher_rerank(&(bienc_reranker){.ce = a}, BIENC_PRECISION_FP32, bad, qt, ct, 5, 3, "t", &bo), BIENC_ENOTFOUND);
    assert_non_null(strstr(bienc_last_error(), "nope"));
    assert_null(bo);

    run_free(bad);
    run_free(run);
    run_free(rr);
    texts_free(qt);
    texts_free(ct);
    cross_encoder_free(a);
    cross_encoder_free(b);
    cross_encoder_free(c);
    cross_encoder_free(untrained);
    teacher_result_free(&ra);
    teacher_result_free(&rb);
    config_free(&cfg);
    config_free(&c0);
}

/* N steps + resume + M steps = N + M steps in one go, bit for bit (losses and weights),
 * across an epoch boundary (8 pairs, batch 4: an epoch every 2 steps). */
static void test_resume(void **state)
{
    (void)state;
    bienc_run_config cfg;
    tiny_config(&cfg, 9);
    assert_int_equal(config_set_override(&cfg, "checkpoint.every_steps=4"), 0);
    assert_int_equal(config_set_override(&cfg, "checkpoint.keep_last=0"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    char vocab[512], d1[512], d2[512];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", g_dir);
    snprintf(d1, sizeof d1, "%s/one", g_dir);
    snprintf(d2, sizeof d2, "%s/split", g_dir);
    bienc_teacher_opts o = {.vocab = vocab, .dir = d1};
    bienc_cross_encoder *a = NULL, *b = NULL;
    bienc_teacher_result ra, r1, r2;
    assert_int_equal(teacher_train(&cfg, &o, &a, &ra), 0);
    assert_int_equal(ra.n_losses, 9);
    /* a fresh start refuses an earlier run's checkpoints */
    assert_int_equal(teacher_train(&cfg, &o, NULL, NULL), BIENC_ESTATE);

    o.dir = d2;
    o.stop_at_step = 3;
    assert_int_equal(teacher_train(&cfg, &o, NULL, &r1), 0);
    assert_true(r1.stopped);
    assert_int_equal(r1.steps, 3);
    o.stop_at_step = 0;
    o.resume = "auto";
    assert_int_equal(teacher_train(&cfg, &o, &b, &r2), 0);
    assert_int_equal(r2.start_step, 3);
    assert_int_equal(r2.steps, 9);
    assert_int_equal(r2.n_losses, 6);
    assert_memory_equal(ra.losses, r1.losses, sizeof(float) * 3);
    assert_memory_equal(ra.losses + 3, r2.losses, sizeof(float) * 6);
    for (int i = 0; i < a->n_params; i++)
        assert_memory_equal(a->params[i]->data, b->params[i]->data, sizeof(float) * (size_t)a->params[i]->size);
    printf("  teacher resume: steps 1-3 + 4-9 = 1-9 bit for bit (loss at 9: %.6f)\n", ra.losses[8]);

    /* the training checkpoint is also a cross-encoder checkpoint */
    char path[600];
    snprintf(path, sizeof path, "%s/step-9.h5", d2);
    bienc_cross_encoder *c = NULL;
    assert_int_equal(cross_io_load(path, &c), 0);
    for (int i = 0; i < a->n_params; i++)
        assert_memory_equal(a->params[i]->data, c->params[i]->data, sizeof(float) * (size_t)a->params[i]->size);

    cross_encoder_free(a);
    cross_encoder_free(b);
    cross_encoder_free(c);
    teacher_result_free(&ra);
    teacher_result_free(&r1);
    teacher_result_free(&r2);
    config_free(&cfg);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", d1, d2);
    assert_int_equal(system(cmd), 0);
}

static void test_errors(void **state)
{
    (void)state;
    bienc_run_config cfg;
    tiny_config(&cfg, 2);
    bienc_teacher_opts o = {.vocab = "/nonexistent/vocab.txt"};
    bienc_cross_encoder *ce = NULL;
    assert_true(teacher_train(&cfg, &o, &ce, NULL) < 0);
    assert_null(ce);
    assert_int_equal(teacher_train(&cfg, NULL, &ce, NULL), BIENC_EINVAL);
    bienc_cross_encoder *x = NULL;
    assert_true(cross_io_load("/nonexistent.h5", &x) < 0);
    assert_null(x);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_train), cmocka_unit_test(test_resume),
                                       cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
