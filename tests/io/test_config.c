/* The run config: defaults, every value type, nested sections, errors with
 * file:line:column, --set overrides, dump -> reload round trips, cross-key rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/config.h"
#include "model/encoder.h"
#include "core/error.h"
#include "ops/loss.h"
#include "train/config_map.h"

/* Loads text into a fresh default config; returns the status. */
static int load(bienc_run_config *cfg, const char *text)
{
    assert_int_equal(config_init(cfg), 0);
    return config_load_string(cfg, text, strlen(text), "t.yaml");
}

/* Asserts that loading text fails and that the message contains each needle. */
static void expect_error(const char *text, size_t len, const char *needle1, const char *needle2)
{
    bienc_run_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    int rc = config_load_string(&cfg, text, len, "t.yaml");
    if (rc == 0) fail_msg("loading succeeded, expected an error containing '%s'", needle1);
    const char *msg = bienc_last_error();
    if (needle1 && !strstr(msg, needle1)) fail_msg("message '%s' lacks '%s'", msg, needle1);
    if (needle2 && !strstr(msg, needle2)) fail_msg("message '%s' lacks '%s'", msg, needle2);
    config_free(&cfg);
}
#define EXPECT_ERROR(text, n1, n2) expect_error(text, strlen(text), n1, n2)

static void test_defaults(void **state)
{
    bienc_run_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(cfg.model.kind, BIENC_MODEL_BI_ENCODER);
    assert_int_equal(cfg.model.size, BIENC_CFG_SIZE_MINILM_L6);
    assert_int_equal(cfg.model.hidden, 0);  /* resolved by finalize */
    assert_int_equal(cfg.model.pooling, BIENC_POOL_MEAN);
    assert_true(cfg.model.layer_norm_eps == 1e-12);
    assert_null(cfg.model.init_from);
    assert_int_equal(cfg.loss.name, BIENC_LOSS_MNRL);
    assert_true(cfg.loss.scale == 20.0 && cfg.loss.margin == 5.0);
    assert_int_equal(cfg.loss.distance, BIENC_DIST_EUCLIDEAN);
    assert_true(cfg.optim.lr == 2e-5 && cfg.optim.eps == 1e-6 && cfg.optim.max_grad_norm == 1.0);
    assert_int_equal(cfg.optim.betas.n, 2);
    assert_true(cfg.optim.betas.v[0] == 0.9 && cfg.optim.betas.v[1] == 0.999);
    assert_int_equal(cfg.schedule.name, BIENC_SCHED_WARMUP_LINEAR);
    assert_int_equal(cfg.schedule.warmup_steps, -1);
    assert_int_equal(cfg.eval.k.n, 4);
    assert_int_equal(cfg.eval.k.v[3], 100);
    assert_int_equal(cfg.train.no_duplicates, 1);
    assert_string_equal(cfg.checkpoint.dir, "checkpoints");
    assert_int_equal(cfg.index.M, 16);
    assert_int_equal(cfg.index.metric, BIENC_INDEX_COSINE);
    assert_int_equal(cfg.eval.best_metric, BIENC_METRIC_MRR10);
    assert_int_equal(cfg.eval.precision, BIENC_PRECISION_FP32); /* bienc run's inference: figures unchanged */
    /* the teacher block: same keys, its own defaults */
    assert_int_equal(cfg.teacher.model.kind, BIENC_MODEL_CROSS_ENCODER);
    assert_int_equal(cfg.teacher.loss.name, BIENC_LOSS_BCE);
    assert_true(cfg.teacher.optim.lr == 2e-5);
    assert_int_equal(config_finalize(&cfg), 0);
    assert_int_equal(cfg.model.hidden, 384);
    assert_int_equal(cfg.model.layers, 6);
    assert_int_equal(cfg.model.heads, 12);
    assert_int_equal(cfg.model.intermediate, 1536);
    assert_string_equal(cfg.data.collection, "data/debian/collection.tsv");
    assert_string_equal(cfg.data.dev_qrels, "data/debian/qrels.dev.tsv");
    assert_int_equal(cfg.teacher.model.pooling, BIENC_POOL_CLS);
    config_free(&cfg);
    config_free(&cfg);  /* twice is harmless */
    config_free(NULL);
}

static void test_all_types(void **state)
{
    bienc_run_config cfg;
    int rc = load(&cfg,
                  "model:\n"
                  "  size: TINY            # choice, any case\n"
                  "  hidden: 1e3           # a whole number written as a float\n"
                  "  heads: 8\n"
                  "  dropout: .25\n"
                  "  normalize: yes\n"
                  "  init_from: \"ckpt/é x.h5\"\n"
                  "  activation: gelu_pytorch_tanh\n"
                  "schedule: {name: WarmupCosine, warmup_steps: 0}\n"
                  "eval:\n"
                  "  k: [1, 3, 1000]\n"
                  "optim:\n"
                  "  betas:\n"
                  "    - 0.8\n"
                  "    - 0.95\n"
                  "  lr: 3e-5\n"
                  "train:\n"
                  "  no_duplicates: off\n"
                  "  seed: 7\n"
                  "data:\n"
                  "  dir: ~                # null unsets a string\n"
                  "  triples: 'a''b.tsv'\n");
    assert_int_equal(rc, 0);
    assert_int_equal(cfg.model.size, BIENC_CFG_SIZE_TINY);
    assert_int_equal(cfg.model.hidden, 1000);
    assert_true(cfg.model.dropout == 0.25);
    assert_int_equal(cfg.model.normalize, 1);
    assert_string_equal(cfg.model.init_from, "ckpt/é x.h5");
    assert_int_equal(cfg.model.activation, BIENC_GELU_TANH);
    assert_int_equal(cfg.schedule.name, BIENC_SCHED_COSINE);
    assert_int_equal(cfg.schedule.warmup_steps, 0);
    assert_int_equal(cfg.eval.k.n, 3);
    assert_int_equal(cfg.eval.k.v[2], 1000);
    assert_true(cfg.optim.betas.v[0] == 0.8 && cfg.optim.betas.v[1] == 0.95);
    assert_true(cfg.optim.lr == 3e-5);
    assert_int_equal(cfg.train.no_duplicates, 0);
    assert_int_equal(cfg.train.seed, 7);
    assert_null(cfg.data.dir);
    assert_string_equal(cfg.data.triples, "a'b.tsv");
    config_free(&cfg);
}

static void test_nested_sections(void **state)
{
    bienc_run_config cfg;
    int rc = load(&cfg,
                  "tokenizer:\n"
                  "  train:\n"
                  "    size: 3000\n"
                  "    min_frequency: 5\n"
                  "  max_query_length: 24\n"
                  "teacher:\n"
                  "  enabled: false\n"
                  "  model: {size: mini, hidden: 64, heads: 4}\n"
                  "  optim:\n"
                  "    lr: 7e-5\n"
                  "  train:\n"
                  "    lr: 1e-4\n"  /* alias of teacher.optim.lr... given twice */
                  "\n");
    assert_int_equal(rc, BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "t.yaml:12:5: key 'teacher.optim.lr' is given twice (first at line 10)"));
    config_free(&cfg);
    rc = load(&cfg,
              "tokenizer:\n"
              "  train:\n"
              "    size: 3000\n"
              "    min_frequency: 5\n"
              "  max_query_length: 24\n"
              "teacher:\n"
              "  enabled: false\n"
              "  model: {size: mini, hidden: 64, heads: 4}\n"
              "  train: {lr: 1e-4, epochs: 3}\n"
              "train:\n"
              "  lr: 5e-5\n");
    assert_int_equal(rc, 0);
    assert_int_equal(cfg.tokenizer.train_size, 3000);
    assert_int_equal(cfg.tokenizer.train_min_frequency, 5);
    assert_int_equal(cfg.tokenizer.max_query_length, 24);
    assert_int_equal(cfg.teacher.enabled, 0);
    assert_int_equal(cfg.teacher.model.size, BIENC_CFG_SIZE_MINI);
    assert_int_equal(cfg.teacher.model.hidden, 64);
    assert_true(cfg.teacher.optim.lr == 1e-4);
    assert_int_equal(cfg.teacher.train.epochs, 3);
    assert_true(cfg.optim.lr == 5e-5);      /* train.lr is optim.lr */
    assert_true(cfg.model.hidden == 0);     /* the student is untouched */
    config_free(&cfg);
}

static void test_unknown_keys(void **state)
{
    EXPECT_ERROR("model:\n  size: tiny\n  hiden: 3\n", "t.yaml:3:3: unknown key 'model.hiden'", "did you mean 'model.hidden'");
    EXPECT_ERROR("modle:\n  size: tiny\n", "t.yaml:1:1: unknown key 'modle'", NULL);
    EXPECT_ERROR("train:\n  pooling: cls\n", "t.yaml:2:3: unknown key 'train.pooling'", "did you mean 'model.pooling'");
    EXPECT_ERROR("tokenizer:\n  train:\n    size: 100\n    sise: 1\n", "t.yaml:4:5: unknown key 'tokenizer.train.sise'", NULL);
    EXPECT_ERROR("model:\n  hidden:\n    x: 1\n", "t.yaml:3:5: key 'model.hidden' expects an integer", "got a mapping");
    EXPECT_ERROR("extra: {a: 1}\n", "t.yaml:1:1: unknown key 'extra'", NULL);
}

static void test_wrong_types(void **state)
{
    EXPECT_ERROR("optim:\n  lr: abc\n", "t.yaml:2:7: key 'optim.lr' expects a number in [0, 10], got 'abc'", NULL);
    EXPECT_ERROR("train:\n  batch_size: 1.5\n", "t.yaml:2:15: key 'train.batch_size' expects an integer", "got '1.5'");
    EXPECT_ERROR("train:\n  batch_size: 0\n", "expects an integer in [1, 1048576], got '0'", NULL);
    EXPECT_ERROR("train:\n  batch_size: 99999999999999999999999\n", "train.batch_size", NULL);
    EXPECT_ERROR("model: {normalize: 2}\n", "key 'model.normalize' expects true or false, got '2'", NULL);
    EXPECT_ERROR("model: {pooling: average}\n", "key 'model.pooling' expects one of mean|cls|max, got 'average'", NULL);
    EXPECT_ERROR("model: {pooling: [mean]}\n", "expects one of mean|cls|max, got a list", NULL);
    EXPECT_ERROR("eval:\n  precision: fp16\n", "t.yaml:2:14: key 'eval.precision' expects one of fp32|bf16|auto",
                 "got 'fp16'");
    EXPECT_ERROR("optim: {lr: nan}\n", "got 'nan'", NULL);
    EXPECT_ERROR("optim: {lr: 0x10}\n", "got '0x10'", NULL);
    EXPECT_ERROR("optim: {lr: -1e-5}\n", "in [0, 10]", NULL);
    EXPECT_ERROR("optim: {lr: }\n", "key 'optim.lr' expects a number", "got nothing (null)");
    EXPECT_ERROR("optim: {betas: [0.9]}\n", "key 'optim.betas' expects a list of 2 numbers", "got 1 item");
    EXPECT_ERROR("optim: {betas: [0.9, 1.5]}\n", "got item '1.5'", NULL);
    EXPECT_ERROR("optim: {betas: [0.9, [1]]}\n", "list items must be numbers, got a list", NULL);
    EXPECT_ERROR("eval: {k: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}\n", "more than 16 items", NULL);
    EXPECT_ERROR("model: 3\n", "t.yaml:1:8: 'model' is a section: it expects a mapping of keys, got a scalar", NULL);
    EXPECT_ERROR("model: [1, 2]\n", "'model' is a section", "got a list");
    EXPECT_ERROR("data: {collection: \"a\\0b\"}\n", "NUL byte", NULL);
}

static void test_duplicates(void **state)
{
    EXPECT_ERROR("model:\n  hidden: 128\n  hidden: 256\n", "t.yaml:3:3: duplicate key 'model.hidden' (first at line 2)", NULL);
    EXPECT_ERROR("model:\n  hidden: 128\nloss: {}\nmodel:\n  heads: 2\n", "t.yaml:4:1: duplicate key 'model' (first at line 1)", NULL);
    EXPECT_ERROR("optim: {lr: 1e-5}\ntrain: {lr: 2e-5}\n", "t.yaml:2:9: key 'optim.lr' is given twice (first at line 1)", NULL);
}

static void test_malformed_yaml(void **state)
{
    EXPECT_ERROR("model:\n\thidden: 3\n", "t.yaml:2:1: invalid YAML", "tab");
    EXPECT_ERROR("model: {init_from: \"abc\n", "t.yaml:", "invalid YAML");
    EXPECT_ERROR("model: {hidden: 3\n", "invalid YAML", NULL);
    EXPECT_ERROR("- model\n- train\n", "t.yaml:1:1: the config must be a mapping of sections", "got a list");
    EXPECT_ERROR("just a sentence\n", "must be a mapping", "got a scalar");
    EXPECT_ERROR("", "the config is empty", NULL);
    EXPECT_ERROR("# only a comment\n\n", "the config is empty", NULL);
    EXPECT_ERROR("---\n...\n", "the config is empty", NULL);
    EXPECT_ERROR("model: {size: tiny}\n---\nmodel: {size: base}\n", "t.yaml:2:1: only one YAML document", NULL);
    EXPECT_ERROR("a: &x {hidden: 1}\nmodel: *x\n", NULL, NULL);
    EXPECT_ERROR("model: &x {hidden: 128}\nteacher:\n  model: *x\n", "aliases", NULL);
    EXPECT_ERROR("? [a, b]\n: 1\n", "keys must be plain names", NULL);
    EXPECT_ERROR("model:\n  size: tiny\n   hidden: 3\n", "t.yaml:2:9: key 'model.size'", NULL);  /* a continued plain scalar */
    static const char junk[] = {'\x7f', 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, (char)0xff, (char)0xfe, 'x', 0};
    expect_error(junk, sizeof junk, "t.yaml:1:", "not a YAML text file");
    static const char bad_utf8[] = "model: {init_from: \"\xc3\x28\"}\n";
    expect_error(bad_utf8, strlen(bad_utf8), "not a YAML text file", NULL);
    static const char nul[] = "model:\0 {}\n";
    expect_error(nul, sizeof nul - 1, "t.yaml:1:7", NULL);
    /* a very long line and deep flow nesting fail cleanly */
    size_t n = 100000;
    char *deep = malloc(n + 16);
    assert_non_null(deep);
    strcpy(deep, "eval: {k: ");
    size_t o = strlen(deep);
    while (o < n) deep[o++] = '[';
    deep[o] = 0;
    expect_error(deep, o, "t.yaml:1:", NULL);
    free(deep);
}

static void test_overrides(void **state)
{
    bienc_run_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_set_override(&cfg, "optim.lr=3e-5"), 0);
    assert_true(cfg.optim.lr == 3e-5);
    assert_int_equal(config_set_override(&cfg, "train.lr = 4e-5"), 0);  /* alias, spaces */
    assert_true(cfg.optim.lr == 4e-5);
    assert_int_equal(config_set_override(&cfg, "eval.k=[1, 20]"), 0);
    assert_int_equal(cfg.eval.k.n, 2);
    assert_int_equal(cfg.eval.k.v[1], 20);
    assert_int_equal(config_set_override(&cfg, "optim.betas=0.85,0.9"), 0);
    assert_true(cfg.optim.betas.v[0] == 0.85);
    assert_int_equal(config_set_override(&cfg, "data.collection=a=b: c.tsv"), 0);  /* value kept verbatim */
    assert_string_equal(cfg.data.collection, "a=b: c.tsv");
    assert_int_equal(config_set_override(&cfg, "data.collection="), 0);
    assert_null(cfg.data.collection);
    assert_int_equal(config_set_override(&cfg, "teacher.model.size=base"), 0);
    assert_int_equal(cfg.teacher.model.size, BIENC_CFG_SIZE_BASE);
    assert_int_equal(config_set_override(&cfg, "model.normalize=true"), 0);
    assert_int_equal(cfg.model.normalize, 1);

    assert_int_equal(config_set_override(&cfg, "optim.lr=abc"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "--set optim.lr: key 'optim.lr' expects a number"));
    assert_true(cfg.optim.lr == 4e-5);  /* unchanged */
    assert_int_equal(config_set_override(&cfg, "train.lr=abc"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "--set train.lr:"));
    assert_int_equal(config_set_override(&cfg, "optim.lrr=1"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "unknown key 'optim.lrr' (did you mean 'optim.lr'?)"));
    assert_int_equal(config_set_override(&cfg, "model=tiny"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "'model' is a section"));
    assert_int_equal(config_set_override(&cfg, "optim.lr"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "KEY=VALUE"));
    assert_int_equal(config_set_override(&cfg, "=3"), BIENC_EINVAL);
    assert_int_equal(config_set_override(&cfg, "train.batch_size="), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "got nothing"));
    assert_int_equal(config_set_override(&cfg, "optim.betas=[0.9]"), BIENC_EINVAL);
    assert_int_equal(config_set_override(&cfg, "eval.k=1,,3"), BIENC_EINVAL);
    assert_int_equal(config_set_override(&cfg, "data.collection=\xff\xfe"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "UTF-8"));
    config_free(&cfg);
}

/* Dump to memory, reload into a fresh config: equal, key for key. */
static void roundtrip(bienc_run_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(config_dump_yaml(cfg, f), 0);
    fclose(f);
    bienc_run_config back;
    assert_int_equal(config_init(&back), 0);
    if (config_load_string(&back, buf, len, "dump.yaml") != 0) fail_msg("%s\n%s", bienc_last_error(), buf);
    char diff[128];
    if (!config_equal(cfg, &back, diff, sizeof diff)) fail_msg("key %s differs after reload:\n%s", diff, buf);
    assert_int_equal(config_finalize(&back), 0);
    if (!config_equal(cfg, &back, diff, sizeof diff)) fail_msg("finalize is not idempotent: %s", diff);
    config_free(&back);
    free(buf);
}

static void test_dump_reload(void **state)
{
    bienc_run_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    roundtrip(&cfg);
    const char *sets[] = {
        "optim.lr=3.3e-5", "optim.betas=[0.1, 0.30000000000000004]", "model.dropout=0.123456789012345678",
        "model.size=tiny", "eval.k=[7]", "schedule.name=cosine", "model.normalize=true", "train.seed=9007199254740992",
        "data.collection=  spaced  ", "data.queries=\"quoted\" and \\backslash\\", "data.qrels=true",
        "data.triples=123", "data.dev_queries=# not a comment: really", "output.name=naïve – ünïcödé ✓ 😀",
        "model.init_from=line\tTAB", "checkpoint.dir=-", "teacher.model.hidden=256", "teacher.model.heads=4",
        "loss.name=TripletLoss", "loss.distance=cosine", "index.metric=ip", "schedule.warmup_steps=0",
        "data.hard_negatives_file=\xc2\x85 next line \xe2\x80\xa8 sep", "tokenizer.vocab=~", "output.dir=null",
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (config_set_override(&cfg, sets[i]) != 0) fail_msg("%s: %s", sets[i], bienc_last_error());
    assert_int_equal(config_finalize(&cfg), 0);
    assert_string_equal(cfg.data.collection, "spaced");  /* --set trims */
    roundtrip(&cfg);
    config_free(&cfg);
}

static void set_ok(bienc_run_config *cfg, const char *assignment)
{
    if (config_set_override(cfg, assignment) != 0) fail_msg("%s: %s", assignment, bienc_last_error());
}

/* Choice keys hold the modules' enums (src/core/kinds.h), whatever the order of the names;
 * the aliases are names users know from sentence-transformers, Hugging Face and PyTorch,
 * and a dump writes the canonical name. */
static void test_choice_names(void **state)
{
    bienc_run_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    set_ok(&cfg, "loss.name=TripletLoss");
    set_ok(&cfg, "loss.name=mnrl");
    assert_int_equal(cfg.loss.name, BIENC_LOSS_MNRL);
    const char *bce[] = {"teacher.loss.name=BCEWithLogitsLoss", "teacher.loss.name=BinaryCrossEntropyLoss",
                         "teacher.loss.name=binarycrossentropy"};
    for (int i = 0; i < 3; i++) {
        set_ok(&cfg, "teacher.loss.name=MarginMSELoss");
        set_ok(&cfg, bce[i]);
        assert_int_equal(cfg.teacher.loss.name, BIENC_LOSS_BCE);
    }
    set_ok(&cfg, "loss.similarity=dot");
    assert_int_equal(cfg.loss.similarity, BIENC_SIM_DOT);
    set_ok(&cfg, "loss.similarity=cosine");
    assert_int_equal(cfg.loss.similarity, BIENC_SIM_COS);
    set_ok(&cfg, "loss.similarity=dot_score");
    set_ok(&cfg, "eval.best_metric=map@100");  /* 4th name, 3rd metric */
    assert_int_equal(cfg.eval.best_metric, BIENC_METRIC_MAP100);
    set_ok(&cfg, "mine.sampling=random");
    assert_int_equal(cfg.mine.sampling, BIENC_MINE_RANDOM);
    set_ok(&cfg, "train.precision=auto");
    assert_int_equal(cfg.train.precision, BIENC_PRECISION_AUTO);
    set_ok(&cfg, "eval.precision=bf16");
    assert_int_equal(cfg.eval.precision, BIENC_PRECISION_BF16);
    assert_int_equal(config_set_override(&cfg, "eval.precision=half"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "eval.precision"));
    assert_non_null(strstr(bienc_last_error(), "fp32|bf16|auto"));
    assert_int_equal(cfg.eval.precision, BIENC_PRECISION_BF16); /* a refused value changes nothing */
    set_ok(&cfg, "index.fusion=rrf");
    assert_int_equal(cfg.index.fusion, BIENC_FUSION_RRF);
    set_ok(&cfg, "data.format=beir");
    assert_int_equal(cfg.data.format, BIENC_DATA_BEIR);

    /* spellings nobody types are not names */
    const char *dropped[] = {"loss.similarity=cos", "model.size=minilm-l6", "schedule.name=warmup-linear",
                             "schedule.name=warmup_cosine"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(config_set_override(&cfg, dropped[i]), BIENC_EINVAL);
        assert_non_null(strstr(bienc_last_error(), "expects one of"));
    }
    assert_non_null(strstr(bienc_last_error(), "one of warmup_linear|constant|cosine"));

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(config_dump_yaml(&cfg, f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "name: MultipleNegativesRankingLoss"));
    assert_non_null(strstr(buf, "similarity: dot_score"));
    assert_non_null(strstr(buf, "best_metric: map@100"));
    assert_non_null(strstr(buf, "precision: auto"));
    assert_non_null(strstr(buf, "precision: bf16"));
    free(buf);
    config_free(&cfg);
}

static void test_finalize_rules(void **state)
{
    bienc_run_config cfg;
    assert_int_equal(load(&cfg, "model: {kind: cross_encoder}\nloss: {name: TripletLoss}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "BinaryCrossEntropy or MultipleNegativesRankingLoss"));
    config_free(&cfg);
    /* a cross-encoder's MNRL is the listwise loss */
    assert_int_equal(load(&cfg, "model: {kind: cross_encoder}\n"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    config_free(&cfg);
    /* teacher.random_negatives cannot exceed the negatives; mine.dense cannot feed the bi-encoder;
     * a teacher trained after the bi-encoder cannot score MarginMSE triples before it */
    assert_int_equal(load(&cfg, "teacher: {random_negatives: 5}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "teacher.random_negatives (5)"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "mine: {enabled: true, dense: true}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "mine.bi_encoder: false"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "mine: {enabled: true, dense: true, bi_encoder: false}\n"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    assert_int_equal(cfg.mine.refine_steps, 0); /* the second round is off by default */
    assert_int_equal(cfg.mine.refine_negatives, 7);
    config_free(&cfg);
    /* the second round needs negatives mined with the bi-encoder, and MNRL, and enough negatives */
    assert_int_equal(load(&cfg, "mine: {enabled: true, refine_steps: 10}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "it needs mine.enabled and mine.dense"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "mine: {enabled: true, dense: true, bi_encoder: false, refine_steps: 10}\n"
                                "loss: {name: TripletLoss}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "loss.name is TripletLoss"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "mine: {enabled: true, dense: true, bi_encoder: false, refine_steps: 10, "
                                "num_negatives: 4}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "mine.refine_negatives (7) is above mine.num_negatives (4)"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "mine: {enabled: true, dense: true, bi_encoder: false, refine_steps: 10, "
                                "refine_negatives: 3, refine_lr: 2e-4}\n"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    assert_true(cfg.mine.refine_lr == 2e-4);
    assert_int_equal(cfg.mine.refine_loss, BIENC_LOSS_MNRL);
    config_free(&cfg);
    /* a distilled second round needs the teacher; a late-interaction teacher trains with MNRL */
    assert_int_equal(load(&cfg, "mine: {enabled: true, dense: true, bi_encoder: false, refine_steps: 10, "
                                "num_negatives: 0, refine_loss: DistillKLDivLoss}\n"
                                "teacher: {enabled: true, random_negatives: 0, model: {kind: late_interaction}, "
                                "loss: {name: MultipleNegativesRankingLoss}}\n"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    assert_int_equal(cfg.mine.refine_loss, BIENC_LOSS_DISTILL_KL);
    assert_int_equal(cfg.teacher.model.kind, BIENC_MODEL_LATE_INTERACTION);
    config_free(&cfg);
    /* loss.in_batch_weight belongs to DistillKLDivLoss: the second round's, or the main loss's */
    assert_int_equal(load(&cfg, "mine: {enabled: true, dense: true, bi_encoder: false, refine_steps: 10, "
                                "num_negatives: 0, refine_loss: DistillKLDivLoss}\n"
                                "loss: {in_batch_weight: 0.5}\n"
                                "teacher: {enabled: true, random_negatives: 0, model: {kind: late_interaction}, "
                                "loss: {name: MultipleNegativesRankingLoss}}\n"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    assert_true(cfg.loss.in_batch_weight == 0.5);
    config_free(&cfg);
    assert_int_equal(load(&cfg, "loss: {in_batch_weight: 0.5}\nteacher: {enabled: false}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "loss.in_batch_weight adds in-batch negatives to DistillKLDivLoss: "
                                               "loss.name is MultipleNegativesRankingLoss"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "loss: {in_batch_weight: -1}\n"), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "in_batch_weight"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "teacher: {enabled: true, loss: {in_batch_weight: 1}}\n"
                                "model: {kind: bi_encoder}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "teacher.loss.in_batch_weight"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "mine: {enabled: true, dense: true, bi_encoder: false, refine_steps: 10, "
                                "num_negatives: 0, refine_loss: DistillKLDivLoss}\nteacher: {enabled: false}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "DistillKLDivLoss with teacher.enabled (not DistillKLDivLoss without a teacher)"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "teacher: {enabled: true, random_negatives: 0, model: {kind: late_interaction}}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL); /* the teacher's default loss is BCE */
    assert_non_null(strstr(bienc_last_error(), "needs teacher.model.kind: cross_encoder"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "loss: {name: MarginMSELoss}\nteacher: {init_from_bi_encoder: true}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "needs the teacher before the bi-encoder"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "model: {kind: cross_encoder}\nloss: {name: binarycrossentropy}\n"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    config_free(&cfg);
    assert_int_equal(load(&cfg, "loss: {name: BinaryCrossEntropy}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    config_free(&cfg);
    assert_int_equal(load(&cfg, "model: {hidden: 100}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "model.hidden 100 is not a multiple of model.heads 12"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "loss: {name: TripletLoss, hard_negatives: 0}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "hard_negatives"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "tokenizer: {max_passage_length: 600}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "max_positions"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "data: {format: msmarco_triples}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "data.triples"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "data: {format: msmarco_ids, triples: t.tsv, collection: c.tsv}\n"), 0);
    assert_int_equal(config_finalize(&cfg), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "data.queries"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "data: {format: beir, dir: /nonexistent/scifact}\n"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    assert_string_equal(cfg.data.collection, "/nonexistent/scifact/corpus.jsonl");
    assert_string_equal(cfg.data.dev_qrels, "/nonexistent/scifact/qrels/test.tsv");
    config_free(&cfg);
    /* explicit dimensions win over the preset */
    assert_int_equal(load(&cfg, "model: {size: tiny, layers: 3}\n"), 0);
    assert_int_equal(config_finalize(&cfg), 0);
    assert_int_equal(cfg.model.hidden, 128);
    assert_int_equal(cfg.model.layers, 3);
    bienc_encoder_config ec;
    assert_int_equal(config_encoder_config(&cfg.model, 5000, &ec), 0);
    assert_int_equal(ec.vocab_size, 5000);
    assert_int_equal(ec.hidden_size, 128);
    assert_int_equal(ec.num_layers, 3);
    assert_int_equal(ec.num_heads, 2);
    assert_int_equal(ec.intermediate_size, 512);
    assert_int_equal(config_encoder_config(&cfg.model, 0, &ec), BIENC_EINVAL);
    config_free(&cfg);
}

static void test_helpers_and_keys(void **state)
{
    bienc_run_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    char dir[256];
    assert_int_equal(config_run_dir(&cfg, dir, sizeof dir), 0);
    assert_string_equal(dir, "runs/run");
    cfg.source = strdup("configs/quickstart.yaml");
    assert_int_equal(config_run_dir(&cfg, dir, sizeof dir), 0);
    assert_string_equal(dir, "runs/quickstart");
    assert_int_equal(config_set_override(&cfg, "output.name=exp1"), 0);
    assert_int_equal(config_run_dir(&cfg, dir, sizeof dir), 0);
    assert_string_equal(dir, "runs/exp1");
    assert_int_equal(config_warmup_steps(&cfg.schedule, 95), 10);  /* ceil(0.1 * 95) */
    cfg.schedule.warmup_steps = 3;
    assert_int_equal(config_warmup_steps(&cfg.schedule, 95), 3);
    assert_string_equal(config_loss_name(BIENC_LOSS_TRIPLET), "TripletLoss");
    config_free(&cfg);

    int n = config_key_count();
    assert_true(n > 80);
    int seen_lr = 0, seen_teacher = 0;
    for (int i = 0; i < n; i++) {
        bienc_cfg_keyinfo k;
        assert_int_equal(config_key_info(i, &k), 0);
        assert_non_null(k.doc);
        assert_true(strlen(k.doc) > 5);
        if (strcmp(k.path, "optim.lr") == 0) {
            seen_lr = 1;
            assert_string_equal(k.type_name, "float");
            assert_string_equal(k.def, "2e-05");
        }
        if (strcmp(k.path, "teacher.model.kind") == 0) {
            seen_teacher = 1;
            assert_string_equal(k.def, "cross_encoder");
            assert_string_equal(k.choices, "bi_encoder|cross_encoder|late_interaction");
        }
    }
    assert_true(seen_lr && seen_teacher);
    assert_int_equal(config_key_info(n, &(bienc_cfg_keyinfo){0}), BIENC_ERANGE);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(config_print_keys(f, 1), 0);
    fclose(f);
    assert_non_null(strstr(buf, "| `optim.lr` | float in [0, 10] | `2e-05` |"));
    assert_non_null(strstr(buf, "mean \\| cls \\| max"));
    free(buf);
}

static void test_load_file(void **state)
{
    bienc_run_config cfg;
    assert_int_equal(config_load(&cfg, "/nonexistent/x.yaml", NULL, 0), BIENC_EIO);
    assert_non_null(strstr(bienc_last_error(), "/nonexistent/x.yaml"));
    config_free(&cfg);
    char path[] = "/tmp/bienc_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("model:\n  size: tiny\nloss:\n  name: TripletLoss\n", f);
    fclose(f);
    const char *sets[] = {"loss.margin=1.5"};
    assert_int_equal(config_load(&cfg, path, sets, 1), 0);
    assert_string_equal(cfg.source, path);
    assert_true(cfg.loss.margin == 1.5);
    assert_int_equal(cfg.model.hidden, 128);
    config_free(&cfg);
    const char *bad[] = {"loss.hard_negatives=0"};
    assert_int_equal(config_load(&cfg, path, bad, 1), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), path));  /* cross-key errors name the file */
    config_free(&cfg);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_nested_sections),   cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),       cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_malformed_yaml),    cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_dump_reload),       cmocka_unit_test(test_finalize_rules),
        cmocka_unit_test(test_choice_names),
        cmocka_unit_test(test_helpers_and_keys),  cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
