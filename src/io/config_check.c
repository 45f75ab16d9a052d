/* Rules that span several keys: model dimensions from the size preset, data paths from
 * data.dir, loss / model compatibility, required data files. Plus small helpers the
 * trainer uses to turn config sections into the other modules' structs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/config.h"
#include "core/error.h"
#include "io/config_internal.h"

static const struct {
    int hidden, layers, heads, intermediate;
} presets[] = {
    [BIENC_CFG_SIZE_TINY] = {128, 2, 2, 512},          [BIENC_CFG_SIZE_MINI] = {256, 4, 4, 1024},
    [BIENC_CFG_SIZE_SMALL] = {512, 4, 8, 2048},        [BIENC_CFG_SIZE_MEDIUM] = {512, 8, 8, 2048},
    [BIENC_CFG_SIZE_MINILM_L6] = {384, 6, 12, 1536},   [BIENC_CFG_SIZE_MINILM_L12] = {384, 12, 12, 1536},
    [BIENC_CFG_SIZE_BASE] = {768, 12, 12, 3072},
};

static int finalize_model(bienc_cfg_model *m, const bienc_cfg_loss_section *loss, const bienc_cfg_tokenizer *tok,
                          const char *prefix)
{
    if ((unsigned)m->size >= sizeof presets / sizeof presets[0])
        return bienc_error(BIENC_EINVAL, "%smodel.size: unknown preset %d", prefix, m->size);
    if (!m->hidden) m->hidden = presets[m->size].hidden;
    if (!m->layers) m->layers = presets[m->size].layers;
    if (!m->heads) m->heads = presets[m->size].heads;
    if (!m->intermediate) m->intermediate = presets[m->size].intermediate;
    if (m->hidden % m->heads != 0)
        return bienc_error(BIENC_EINVAL, "%smodel.hidden %lld is not a multiple of %smodel.heads %lld", prefix,
                           (long long)m->hidden, prefix, (long long)m->heads);
    int64_t longest = tok->max_query_length > tok->max_passage_length ? tok->max_query_length : tok->max_passage_length;
    if (longest > m->max_positions)
        return bienc_error(BIENC_EINVAL, "tokenizer max length %lld exceeds %smodel.max_positions %lld", (long long)longest,
                           prefix, (long long)m->max_positions);
    int cross = m->kind == BIENC_MODEL_CROSS_ENCODER, bce = loss->name == BIENC_LOSS_BCE;
    if (cross && !bce && loss->name != BIENC_LOSS_MNRL)
        return bienc_error(BIENC_EINVAL,
                           "%smodel.kind cross_encoder is trained with %sloss.name: BinaryCrossEntropy or "
                           "MultipleNegativesRankingLoss, not %s",
                           prefix, prefix, config_loss_name(loss->name));
    if (!cross && bce)
        return bienc_error(BIENC_EINVAL, "%sloss.name BinaryCrossEntropy needs %smodel.kind: cross_encoder", prefix, prefix);
    if (m->kind == BIENC_MODEL_LATE_INTERACTION && loss->name != BIENC_LOSS_MNRL)
        return bienc_error(BIENC_EINVAL, "%smodel.kind late_interaction is trained with %sloss.name: "
                                         "MultipleNegativesRankingLoss, not %s",
                           prefix, prefix, config_loss_name(loss->name));
    if ((loss->name == BIENC_LOSS_TRIPLET || loss->name == BIENC_LOSS_MARGIN_MSE || loss->name == BIENC_LOSS_DISTILL_KL) &&
        loss->hard_negatives < 1)
        return bienc_error(BIENC_EINVAL, "%sloss.name %s needs %sloss.hard_negatives >= 1 (%s)", prefix,
                           config_loss_name(loss->name), prefix,
                           loss->name == BIENC_LOSS_DISTILL_KL ? "negatives per query" : "one negative per query");
    if (!(loss->temperature > 0.0))
        return bienc_error(BIENC_EINVAL, "%sloss.temperature must be > 0 (got %g)", prefix, loss->temperature);
    if (cross) m->pooling = BIENC_POOL_CLS;  /* a cross-encoder reads [CLS]: pooling is not a choice */
    return 0;
}

/* Sets *field to dir/name when it is empty. */
static int fill_path(char **field, const char *dir, const char *name)
{
    if (*field) return 0;
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) return bienc_error(BIENC_ENOMEM, "config: out of memory");
    snprintf(p, n, "%s/%s", dir, name);
    *field = p;
    return 0;
}

static int require(const char *value, const char *key, const char *what, const char *format)
{
    if (value) return 0;
    return bienc_error(BIENC_EINVAL, "data.format %s needs data.%s (%s)", format, key, what);
}

static int finalize_data(bienc_cfg_data *d)
{
    const char *fmt = cfg_choice_name(cfg_find("data.format"), (int)d->format);
    switch (d->format) {
    case BIENC_DATA_DEBIAN:
        if (!d->dir && !(d->dir = strdup("data/debian"))) return bienc_error(BIENC_ENOMEM, "config: out of memory");
        BIENC_TRY(fill_path(&d->collection, d->dir, "collection.tsv"));
        BIENC_TRY(fill_path(&d->queries, d->dir, "queries.train.tsv"));
        BIENC_TRY(fill_path(&d->qrels, d->dir, "qrels.train.tsv"));
        BIENC_TRY(fill_path(&d->triples, d->dir, "triples.train.tsv"));
        BIENC_TRY(fill_path(&d->dev_queries, d->dir, "queries.dev.tsv"));
        BIENC_TRY(fill_path(&d->dev_qrels, d->dir, "qrels.dev.tsv"));
        return 0;
    case BIENC_DATA_BEIR:
        if (d->dir) {
            BIENC_TRY(fill_path(&d->collection, d->dir, "corpus.jsonl"));
            BIENC_TRY(fill_path(&d->queries, d->dir, "queries.jsonl"));
            BIENC_TRY(fill_path(&d->qrels, d->dir, "qrels/train.tsv"));
            BIENC_TRY(fill_path(&d->dev_queries, d->dir, "queries.jsonl"));
            /* BEIR sets without a dev split (SciFact) evaluate on test */
            char probe[4096];
            snprintf(probe, sizeof probe, "%s/qrels/dev.tsv", d->dir);
            BIENC_TRY(fill_path(&d->dev_qrels, d->dir, access(probe, R_OK) == 0 ? "qrels/dev.tsv" : "qrels/test.tsv"));
        }
        BIENC_TRY(require(d->collection, "collection", "corpus.jsonl", fmt));
        BIENC_TRY(require(d->queries, "queries", "queries.jsonl", fmt));
        return require(d->qrels, "qrels", "qrels/train.tsv", fmt);
    case BIENC_DATA_MSMARCO_TRIPLES:
        return require(d->triples, "triples", "query \\t positive \\t negative texts", fmt);
    case BIENC_DATA_MSMARCO_IDS:
        BIENC_TRY(require(d->triples, "triples", "qid \\t pos pid \\t neg pid", fmt));
        BIENC_TRY(require(d->collection, "collection", "collection.tsv", fmt));
        return require(d->queries, "queries", "queries.tsv", fmt);
    case BIENC_DATA_HARD_NEGATIVES:
        BIENC_TRY(require(d->hard_negatives_file, "hard_negatives_file", "JSON lines of hard negatives", fmt));
        BIENC_TRY(require(d->collection, "collection", "collection.tsv", fmt));
        return require(d->queries, "queries", "queries.tsv", fmt);
    }
    return bienc_error(BIENC_EINVAL, "data.format: unknown format %d", d->format);
}

int config_finalize(bienc_run_config *cfg)
{
    if (!cfg) return bienc_error(BIENC_EINVAL, "config_finalize: NULL config");
    BIENC_TRY(finalize_model(&cfg->model, &cfg->loss, &cfg->tokenizer, ""));
    if (cfg->teacher.enabled) BIENC_TRY(finalize_model(&cfg->teacher.model, &cfg->teacher.loss, &cfg->tokenizer, "teacher."));
    BIENC_TRY(finalize_data(&cfg->data));
    if (cfg->mine.range_max <= cfg->mine.range_min)
        return bienc_error(BIENC_EINVAL, "mine.range_max (%lld) must be above mine.range_min (%lld)",
                           (long long)cfg->mine.range_max, (long long)cfg->mine.range_min);
    if (cfg->mine.enabled && cfg->mine.dense && cfg->mine.bi_encoder)
        return bienc_error(BIENC_EINVAL, "mine.dense mines with the trained bi-encoder, so its negatives cannot train "
                                         "it: set mine.bi_encoder: false (they train the teacher, mine.teacher)");
    if (cfg->mine.refine_steps > 0 && !(cfg->mine.enabled && cfg->mine.dense))
        return bienc_error(BIENC_EINVAL, "mine.refine_steps trains the bi-encoder again on the negatives mined with it: "
                                         "it needs mine.enabled and mine.dense");
    if (cfg->mine.refine_steps > 0 && cfg->loss.name != BIENC_LOSS_MNRL)
        return bienc_error(BIENC_EINVAL, "mine.refine_steps continues with MultipleNegativesRankingLoss and hard "
                                         "negatives; loss.name is %s", config_loss_name(cfg->loss.name));
    if (cfg->mine.refine_steps > 0 && cfg->mine.num_negatives > 0 && cfg->mine.refine_negatives > cfg->mine.num_negatives)
        return bienc_error(BIENC_EINVAL, "mine.refine_negatives (%lld) is above mine.num_negatives (%lld), the "
                                         "negatives kept per query", (long long)cfg->mine.refine_negatives,
                           (long long)cfg->mine.num_negatives);
    int late = cfg->teacher.init_from_bi_encoder || (cfg->mine.enabled && cfg->mine.dense && cfg->mine.teacher);
    if (cfg->teacher.enabled && late && (cfg->loss.name == BIENC_LOSS_MARGIN_MSE || cfg->loss.name == BIENC_LOSS_DISTILL_KL))
        return bienc_error(BIENC_EINVAL, "%s needs the teacher before the bi-encoder, but "
                                         "teacher.init_from_bi_encoder / mine.dense train it after",
                           config_loss_name(cfg->loss.name));
    if (cfg->mine.refine_steps > 0 && cfg->mine.refine_loss != BIENC_LOSS_MNRL &&
        (cfg->mine.refine_loss != BIENC_LOSS_DISTILL_KL || !cfg->teacher.enabled))
        return bienc_error(BIENC_EINVAL, "mine.refine_loss is MultipleNegativesRankingLoss, or DistillKLDivLoss with "
                                         "teacher.enabled (not %s%s)", config_loss_name(cfg->mine.refine_loss),
                           cfg->teacher.enabled ? "" : " without a teacher");
    /* the in-batch term is DistillKLDivLoss's: the main loss's, or the distilled second round's */
    int distil = cfg->loss.name == BIENC_LOSS_DISTILL_KL ||
                 (cfg->mine.refine_steps > 0 && cfg->mine.refine_loss == BIENC_LOSS_DISTILL_KL);
    if (cfg->loss.in_batch_weight > 0 && !distil)
        return bienc_error(BIENC_EINVAL, "loss.in_batch_weight adds in-batch negatives to DistillKLDivLoss: loss.name "
                                         "is %s and no distilled second round (mine.refine_loss) uses it",
                           config_loss_name(cfg->loss.name));
    if (cfg->teacher.enabled && cfg->teacher.loss.in_batch_weight > 0)
        return bienc_error(BIENC_EINVAL, "teacher.loss.in_batch_weight: a teacher does not train with DistillKLDivLoss");
    if (cfg->teacher.enabled && cfg->teacher.model.kind == BIENC_MODEL_LATE_INTERACTION) {
        if (cfg->loss.name == BIENC_LOSS_MARGIN_MSE)
            return bienc_error(BIENC_EINVAL, "MarginMSELoss trains on triples a cross-encoder scored: teacher.model.kind "
                                             "late_interaction does not score them (use DistillKLDivLoss)");
        if (cfg->teacher.random_negatives > 0)
            return bienc_error(BIENC_EINVAL, "teacher.random_negatives is the cross-encoder's: a late_interaction "
                                             "teacher gets random negatives in-batch (set it to 0)");
    }
    if (cfg->teacher.random_negatives > cfg->teacher.loss.hard_negatives)
        return bienc_error(BIENC_EINVAL, "teacher.random_negatives (%lld) is above teacher.loss.hard_negatives (%lld)",
                           (long long)cfg->teacher.random_negatives, (long long)cfg->teacher.loss.hard_negatives);
    if (cfg->optim.betas.n != 2 || cfg->teacher.optim.betas.n != 2 || cfg->pretrain.optim.betas.n != 2)
        return bienc_error(BIENC_EINVAL, "optim.betas must hold two numbers");
    return 0;
}

int64_t config_warmup_steps(const bienc_cfg_schedule *s, int64_t total_steps)
{
    if (!s) return 0;
    if (s->warmup_steps >= 0) return s->warmup_steps;
    if (!(s->warmup_ratio > 0.0) || total_steps <= 0) return 0;
    return (int64_t)ceil(s->warmup_ratio * (double)total_steps);
}

const char *config_loss_name(bienc_loss_kind loss)
{
    const char *name = cfg_choice_name(cfg_find("loss.name"), (int)loss);
    return *name ? name : "unknown";
}

int config_run_dir(const bienc_run_config *cfg, char *buf, size_t size)
{
    if (!cfg || !buf || !size) return bienc_error(BIENC_EINVAL, "config_run_dir: NULL argument");
    char stem[256] = "run";
    if (cfg->output.name) snprintf(stem, sizeof stem, "%s", cfg->output.name);
    else if (cfg->source) {
        const char *base = strrchr(cfg->source, '/');
        base = base ? base + 1 : cfg->source;
        size_t n = strlen(base);
        if (n > 5 && strcmp(base + n - 5, ".yaml") == 0) n -= 5;
        else if (n > 4 && strcmp(base + n - 4, ".yml") == 0) n -= 4;
        if (n > 0) snprintf(stem, sizeof stem, "%.*s", (int)n, base);
    }
    int n = snprintf(buf, size, "%s/%s", cfg->output.dir ? cfg->output.dir : ".", stem);
    if (n < 0 || (size_t)n >= size) return bienc_error(BIENC_ERANGE, "run directory name too long");
    return 0;
}

