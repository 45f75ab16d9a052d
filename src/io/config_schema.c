/* The run-config schema: one table per section, one line per key (name, type, field,
 * default, choices or range, doc). Adding a key is one line here plus the field in
 * config.h; parsing, --set, dumping, `bienc config --keys` and the README table all come
 * from these tables. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/config.h"
#include "core/error.h"
#include "io/config_internal.h"

#define BIG 1e15
#define KEY(T, name, type, field, def, lo, hi, doc) {name, type, offsetof(T, field), def, NULL, lo, hi, 0, 0, doc}
/* A choice key: the field is an enum of src/core/kinds.h, read and written as an int (the
 * size check refuses to compile any other field). */
#define CHOICE(T, name, field, def, choices, doc)                                                               \
    {name, BIENC_CFG_CHOICE, offsetof(T, field) + 0 * sizeof(char[sizeof(((T *)0)->field) == sizeof(int) ? 1 : -1]), \
     def, choices, 0, 0, 0, 0, doc}
#define LIST(T, name, type, field, def, lo, hi, nmin, nmax, doc) \
    {name, type, offsetof(T, field), def, NULL, lo, hi, nmin, nmax, doc}
#define I BIENC_CFG_INT
#define F BIENC_CFG_FLOAT
#define B BIENC_CFG_BOOL
#define S BIENC_CFG_STRING

/* Choice tables: name -> enum value (src/core/kinds.h). A value's first name is canonical;
 * the others are names users know from sentence-transformers, Hugging Face or PyTorch. */
#define END {NULL, 0}
static const cfg_choice model_kinds[] = {{"bi_encoder", BIENC_MODEL_BI_ENCODER}, {"cross_encoder", BIENC_MODEL_CROSS_ENCODER},
                                           {"late_interaction", BIENC_MODEL_LATE_INTERACTION}, END};
static const cfg_choice model_sizes[] = {
    {"tiny", BIENC_CFG_SIZE_TINY},           {"mini", BIENC_CFG_SIZE_MINI},
    {"small", BIENC_CFG_SIZE_SMALL},         {"medium", BIENC_CFG_SIZE_MEDIUM},
    {"minilm_l6", BIENC_CFG_SIZE_MINILM_L6}, {"minilm_l12", BIENC_CFG_SIZE_MINILM_L12},
    {"base", BIENC_CFG_SIZE_BASE},           END};
static const cfg_choice activations[] = {
    {"gelu", BIENC_GELU_ERF}, {"gelu_new", BIENC_GELU_TANH}, {"gelu_pytorch_tanh", BIENC_GELU_TANH} /* HF */, END};
static const cfg_choice pool_modes[] = {{"mean", BIENC_POOL_MEAN}, {"cls", BIENC_POOL_CLS}, {"max", BIENC_POOL_MAX}, END};
static const cfg_choice data_formats[] = {
    {"debian", BIENC_DATA_DEBIAN}, {"msmarco_triples", BIENC_DATA_MSMARCO_TRIPLES}, {"msmarco_ids", BIENC_DATA_MSMARCO_IDS},
    {"beir", BIENC_DATA_BEIR},     {"hard_negatives", BIENC_DATA_HARD_NEGATIVES},   END};
static const cfg_choice losses[] = {
    {"MultipleNegativesRankingLoss", BIENC_LOSS_MNRL},
    {"MultipleNegativesSymmetricRankingLoss", BIENC_LOSS_MNRL_SYMMETRIC},
    {"TripletLoss", BIENC_LOSS_TRIPLET},
    {"MarginMSELoss", BIENC_LOSS_MARGIN_MSE},
    {"BinaryCrossEntropy", BIENC_LOSS_BCE},
    {"DistillKLDivLoss", BIENC_LOSS_DISTILL_KL},
    {"mnrl", BIENC_LOSS_MNRL},
    {"BinaryCrossEntropyLoss", BIENC_LOSS_BCE}, /* sentence-transformers' cross-encoder loss class */
    {"BCEWithLogitsLoss", BIENC_LOSS_BCE},      /* PyTorch's */
    END};
static const cfg_choice similarities[] = {
    {"cos_sim", BIENC_SIM_COS}, {"dot_score", BIENC_SIM_DOT}, {"cosine", BIENC_SIM_COS}, {"dot", BIENC_SIM_DOT}, END};
static const cfg_choice distances[] = {{"euclidean", BIENC_DIST_EUCLIDEAN}, {"cosine", BIENC_DIST_COSINE}, END};
static const cfg_choice schedules[] = {
    {"warmup_linear", BIENC_SCHED_WARMUP_LINEAR}, {"constant", BIENC_SCHED_CONSTANT}, {"cosine", BIENC_SCHED_COSINE},
    {"linear", BIENC_SCHED_WARMUP_LINEAR}, /* Hugging Face's; sentence-transformers' fit(scheduler=...): */
    {"WarmupLinear", BIENC_SCHED_WARMUP_LINEAR}, {"ConstantLR", BIENC_SCHED_CONSTANT},
    {"WarmupConstant", BIENC_SCHED_CONSTANT},    {"WarmupCosine", BIENC_SCHED_COSINE},
    END};
static const cfg_choice precisions[] = {
    {"fp32", BIENC_PRECISION_FP32}, {"bf16", BIENC_PRECISION_BF16}, {"auto", BIENC_PRECISION_AUTO}, END};
static const cfg_choice best_metrics[] = {{"mrr@10", BIENC_METRIC_MRR10}, {"ndcg@10", BIENC_METRIC_NDCG10},
                                          {"recall@10", BIENC_METRIC_RECALL10}, {"map@100", BIENC_METRIC_MAP100}, END};
static const cfg_choice index_metrics[] = {{"l2", BIENC_INDEX_L2}, {"ip", BIENC_INDEX_IP}, {"cosine", BIENC_INDEX_COSINE}, END};
static const cfg_choice fusions[] = {{"rrf", BIENC_FUSION_RRF}, {"linear", BIENC_FUSION_LINEAR}, END};
static const cfg_choice samplings[] = {{"top", BIENC_MINE_TOP}, {"random", BIENC_MINE_RANDOM}, END};
#undef END

#define M bienc_cfg_model
static const cfg_key model_keys[] = {
    CHOICE(M, "kind", kind, "bi_encoder", model_kinds,
        "bi_encoder: one encoder for queries and passages (shared weights); cross_encoder: [CLS] q [SEP] p [SEP] -> one "
        "logit; late_interaction: ColBERT, the bi-encoder's token vectors scored by MaxSim (a teacher: it reranks)"),
    CHOICE(M, "size", size, "minilm_l6", model_sizes,
        "preset for hidden/layers/heads/intermediate: tiny 128/2/2/512, mini 256/4/4/1024, small 512/4/8/2048, "
        "medium 512/8/8/2048, minilm_l6 384/6/12/1536, minilm_l12 384/12/12/1536, base 768/12/12/3072"),
    KEY(M, "hidden", I, hidden, "0", 0, 65536, "hidden size (0 = from model.size); a multiple of heads"),
    KEY(M, "layers", I, layers, "0", 0, 1024, "transformer layers (0 = from model.size)"),
    KEY(M, "heads", I, heads, "0", 0, 1024, "attention heads (0 = from model.size)"),
    KEY(M, "intermediate", I, intermediate, "0", 0, 1048576, "feed-forward size (0 = from model.size)"),
    KEY(M, "max_positions", I, max_positions, "512", 1, 65536, "position embeddings: longest sequence accepted"),
    KEY(M, "type_vocab", I, type_vocab, "2", 1, 1024, "token type embeddings (BERT: 2)"),
    KEY(M, "vocab_size", I, vocab_size, "0", 0, 16777216, "word embeddings (0 = the tokenizer's vocabulary size)"),
    KEY(M, "dropout", F, dropout, "0.1", 0, 0.99, "hidden dropout probability (hidden_dropout_prob)"),
    KEY(M, "attention_dropout", F, attention_dropout, "0.1", 0, 0.99, "attention dropout (attention_probs_dropout_prob)"),
    KEY(M, "layer_norm_eps", F, layer_norm_eps, "1e-12", 0, 1, "LayerNorm epsilon"),
    KEY(M, "initializer_range", F, initializer_range, "0.02", 0, 10, "std of BERT's normal initialisation"),
    CHOICE(M, "activation", activation, "gelu", activations,
        "gelu (erf, BERT) or gelu_new (tanh approximation)"),
    KEY(M, "init_from", S, init_from, "", 0, 0, "checkpoint (.h5) to start from; empty = from scratch"),
    CHOICE(M, "pooling", pooling, "mean", pool_modes, "sentence embedding from the token states"),
    KEY(M, "normalize", B, normalize, "false", 0, 0, "L2-normalise the embeddings"),
};
#undef M

#define T bienc_cfg_tokenizer
static const cfg_key tokenizer_keys[] = {
    KEY(T, "vocab", S, vocab, "", 0, 0, "vocab.txt or tokenizer.json; empty = train a vocabulary on the training texts"),
    KEY(T, "train.size", I, train_size, "8000", 16, 16777216, "size of a trained vocabulary (with the 5 specials)"),
    KEY(T, "train.min_frequency", I, train_min_frequency, "2", 1, BIG, "a pair merges only if seen this often"),
    KEY(T, "lower_case", B, lower_case, "true", 0, 0, "lower-case and strip accents (uncased BERT)"),
    KEY(T, "max_query_length", I, max_query_length, "32", 2, 65536, "tokens per query, with [CLS] and [SEP]"),
    KEY(T, "max_passage_length", I, max_passage_length, "128", 2, 65536, "tokens per passage, with [CLS] and [SEP]"),
};
#undef T

#define D bienc_cfg_data
static const cfg_key data_keys[] = {
    CHOICE(D, "format", format, "debian", data_formats,
        "training data layout (see README: data formats)"),
    KEY(D, "dir", S, dir, "", 0, 0, "debian/beir: directory whose standard files fill the empty paths (debian: data/debian)"),
    KEY(D, "collection", S, collection, "", 0, 0, "passages: collection.tsv (pid \\t text) or BEIR corpus.jsonl"),
    KEY(D, "queries", S, queries, "", 0, 0, "training queries: queries.tsv (qid \\t text) or queries.jsonl"),
    KEY(D, "qrels", S, qrels, "", 0, 0, "training qrels (TREC or tab form)"),
    KEY(D, "triples", S, triples, "", 0, 0, "triples: text (query \\t pos \\t neg) or ids (qid \\t pid \\t pid), optionally followed by teacher scores for MarginMSELoss (margin, or pos score \\t neg score)"),
    KEY(D, "hard_negatives_file", S, hard_negatives_file, "", 0, 0,
        "hard negatives JSON lines {\"qid\", \"pos\": [..], \"neg\": {system: [..]}}"),
    KEY(D, "dev_queries", S, dev_queries, "", 0, 0, "dev queries for evaluation during training"),
    KEY(D, "dev_qrels", S, dev_qrels, "", 0, 0, "dev qrels"),
    KEY(D, "skip_malformed", B, skip_malformed, "false", 0, 0, "skip (and count) malformed rows instead of failing"),
    KEY(D, "max_examples", I, max_examples, "0", 0, BIG, "use only the first N training examples, in file order (0 = all)"),
};
#undef D

#define L bienc_cfg_loss_section
static const cfg_key loss_keys[] = {
    CHOICE(L, "name", name, "MultipleNegativesRankingLoss", losses,
        "sentence-transformers' loss names; a cross-encoder trains with BinaryCrossEntropy (pointwise) or "
              "MultipleNegativesRankingLoss (listwise: each query's positive among its 1 + hard_negatives passages)"),
    KEY(L, "scale", F, scale, "20", 0, 1e6,
        "MNRL and DistillKLDivLoss: similarities are multiplied by this (1 / temperature)"),
    CHOICE(L, "similarity", similarity, "cos_sim", similarities, "MNRL and DistillKLDivLoss similarity function"),
    CHOICE(L, "distance", distance, "euclidean", distances, "TripletLoss distance"),
    KEY(L, "margin", F, margin, "5", 0, 1e6, "TripletLoss margin"),
    KEY(L, "hard_negatives", I, hard_negatives, "1", 0, 64,
        "negatives per query from the data (MNRL adds them to the in-batch negatives; TripletLoss needs 1; "
        "DistillKLDivLoss: the K of each query's 1 + K teacher-scored passages)"),
    KEY(L, "mini_batch_size", I, mini_batch_size, "0", 0, 1048576,
        "MNRL: 0 = plain; N > 0 = GradCache (sentence-transformers' CachedMultipleNegativesRankingLoss): embed N "
        "sequences at a time, so train.batch_size (the in-batch negatives) can grow at the memory of N"),
    KEY(L, "temperature", F, temperature, "1", 0, 1e6,
        "DistillKLDivLoss: student and teacher scores are divided by this (> 0) before the softmax; the loss is "
        "multiplied by its square"),
    KEY(L, "in_batch_weight", F, in_batch_weight, "0", 0, 1e6,
        "DistillKLDivLoss: adds this times MultipleNegativesRankingLoss over the batch (each query's positive "
        "against every passage of the batch): the teacher orders the query's own list, the in-batch negatives keep "
        "it apart from the rest (0 = the KL alone, sentence-transformers' loss)"),
    KEY(L, "teacher", S, teacher, "", 0, 0,
        "DistillKLDivLoss in bienc train: the teacher checkpoint that scores each batch's (query, passage) pairs, a "
        "cross-encoder (logits) or a late-interaction model (MaxSim x loss.scale); bienc run sets it to its teacher"),
};
#undef L

#define O bienc_cfg_optim
static const cfg_key optim_keys[] = {
    KEY(O, "lr", F, lr, "2e-05", 0, 10, "peak learning rate (AdamW); alias train.lr"),
    KEY(O, "weight_decay", F, weight_decay, "0.01", 0, 10, "decoupled weight decay (not on biases and LayerNorm)"),
    LIST(O, "betas", BIENC_CFG_FLOATS, betas, "[0.9, 0.999]", 0, 0.9999999999, 2, 2, "AdamW betas [beta1, beta2]"),
    KEY(O, "eps", F, eps, "1e-06", 0, 1, "AdamW epsilon (sentence-transformers: 1e-6)"),
    KEY(O, "max_grad_norm", F, max_grad_norm, "1", 0, 1e9, "clip gradients to this global L2 norm (0 = no clipping)"),
    KEY(O, "grad_accumulation", I, grad_accumulation, "1", 1, 65536, "micro-batches per optimiser step"),
};
#undef O

#define H bienc_cfg_schedule
static const cfg_key schedule_keys[] = {
    CHOICE(H, "name", name, "warmup_linear", schedules,
        "learning-rate schedule (Hugging Face's linear / constant / cosine with warm-up)"),
    KEY(H, "warmup_steps", I, warmup_steps, "-1", -1, BIG, "warm-up optimiser steps (-1 = warmup_ratio x total steps)"),
    KEY(H, "warmup_ratio", F, warmup_ratio, "0.1", 0, 1, "warm-up as a fraction of the total steps"),
};
#undef H

#define R bienc_cfg_train
static const cfg_key train_keys[] = {
    KEY(R, "batch_size", I, batch_size, "32", 1, 1048576, "queries per micro-batch (in-batch negatives for MNRL)"),
    KEY(R, "epochs", I, epochs, "1", 1, 1000000, "passes over the training data (ignored when steps > 0)"),
    KEY(R, "steps", I, steps, "0", 0, BIG, "optimiser steps (0 = from epochs)"),
    KEY(R, "seed", I, seed, "42", 0, 9007199254740992.0, "seed of initialisation, shuffling and dropout"),
    KEY(R, "threads", I, threads, "0", 0, 4096, "OpenMP threads (0 = all cores)"),
    KEY(R, "no_duplicates", B, no_duplicates, "true", 0, 0, "no text twice in a batch (true in-batch negatives)"),
    KEY(R, "log_every_steps", I, log_every_steps, "10", 1, BIG, "metrics log line every N optimiser steps"),
    CHOICE(R, "precision", precision, "fp32", precisions,
        "matrix products of training: fp32, bf16 inputs with fp32 accumulation (autocast-style mixed precision; "
        "weights, gradients, AdamW and checkpoints stay fp32), or auto: bf16 where the CPU has a bf16 kernel "
        "(AVX512_BF16), else fp32; `bienc version` shows the bf16 kernel"),
};
#undef R

#define E bienc_cfg_eval
static const cfg_key eval_keys[] = {
    KEY(E, "every_steps", I, every_steps, "500", 0, BIG, "evaluate on the dev set every N steps (0 = only at the end)"),
    KEY(E, "max_queries", I, max_queries, "0", 0, BIG, "dev queries used (0 = all)"),
    KEY(E, "max_passages", I, max_passages, "10000", 0, BIG, "corpus of the dev evaluations during training: the selected queries' relevant passages + the first N collection rows (0 = the whole collection; `bienc run`'s final evaluation always uses the whole collection)"),
    LIST(E, "k", BIENC_CFG_INTS, k, "[1, 5, 10, 100]", 1, 1000000, 1, BIENC_CFG_MAX_LIST, "cut-offs reported (Recall@k, ...)"),
    CHOICE(E, "best_metric", best_metric, "mrr@10", best_metrics, "metric that picks the best checkpoint"),
    KEY(E, "batch_size", I, batch_size, "64", 1, 1048576, "texts per encoding batch"),
    CHOICE(E, "precision", precision, "fp32", precisions,
        "bienc run's inference: matrix products of the encode stage (dev queries and collection, and the "
        "baseline's), the dense mining encode, and the teacher's rerank and score stages: fp32, bf16 (bf16 inputs "
        "with fp32 accumulation), or auto: bf16 where the CPU has a bf16 kernel (AVX512_BF16), else fp32"),
    KEY(E, "baseline", B, baseline, "true", 0, 0,
        "bienc run: also evaluate the bi-encoder before training (untrained, or as pre-trained) on the whole collection"),
};
#undef E

#define K bienc_cfg_checkpoint
static const cfg_key checkpoint_keys[] = {
    KEY(K, "every_steps", I, every_steps, "1000", 0, BIG, "checkpoint every N steps (0 = only at the end)"),
    KEY(K, "keep_last", I, keep_last, "3", 0, 1000000, "keep the last N step checkpoints (0 = all)"),
    KEY(K, "keep_best", B, keep_best, "true", 0, 0, "also keep the best checkpoint by eval.best_metric"),
    KEY(K, "dir", S, dir, "checkpoints", 0, 0, "checkpoints go to DIR/<run name>/step-N.h5"),
};
#undef K

#define P bienc_cfg_output
static const cfg_key output_keys[] = {
    KEY(P, "dir", S, dir, "runs", 0, 0, "parent of run directories (config, metrics log, report)"),
    KEY(P, "name", S, name, "", 0, 0, "run name (empty = the config file's name without .yaml)"),
};
#undef P

#define X bienc_cfg_index
static const cfg_key index_keys[] = {
    KEY(X, "M", I, M, "16", 2, 512, "HNSW links per element (2*M on level 0)"),
    KEY(X, "ef_construction", I, ef_construction, "200", 1, 1000000, "HNSW candidate list while building"),
    KEY(X, "ef", I, ef, "128", 1, 1000000, "HNSW candidate list while searching"),
    CHOICE(X, "metric", metric, "cosine", index_metrics, "distance of the index"),
    KEY(X, "k", I, k, "100", 1, 1000000, "results per query"),
    CHOICE(X, "fusion", fusion, "linear", fusions,
        "bienc run's hybrid row: reciprocal-rank fusion (k 60) or the sum of min-max normalised scores of the HNSW "
        "and BM25 runs (equal weights)"),
};
#undef X

#define N bienc_cfg_mine
static const cfg_key mine_keys[] = {
    KEY(N, "enabled", B, enabled, "false", 0, 0,
        "bienc run: mine hard negatives from BM25's ranking of the training queries (see mine.bi_encoder, mine.teacher)"),
    KEY(N, "max_queries", I, max_queries, "0", 0, BIG, "mine for the first N training queries (0 = all)"),
    KEY(N, "range_min", I, range_min, "0", 0, 1000000, "skip BM25's top N ranks (likely unjudged positives)"),
    KEY(N, "range_max", I, range_max, "30", 1, 1000000, "candidates are BM25's ranks [range_min, range_max)"),
    KEY(N, "num_negatives", I, num_negatives, "4", 0, 1024, "negatives kept per query (0 = every candidate in the range)"),
    CHOICE(N, "sampling", sampling, "top", samplings, "the best-ranked candidates, or a seeded random sample"),
    KEY(N, "bi_encoder", B, bi_encoder, "true", 0, 0,
        "the bi-encoder trains on the mined negatives (data.format hard_negatives, loss.hard_negatives per query)"),
    KEY(N, "teacher", B, teacher, "true", 0, 0,
        "the teacher's negatives come from the mined ones (teacher.random_negatives of them stay random)"),
    KEY(N, "dense", B, dense, "false", 0, 0,
        "mine from the trained bi-encoder's ranking fused with BM25's (index.fusion) instead of BM25's alone; "
        "the stage then runs after the bi-encoder, so only the teacher trains on them (mine.bi_encoder: false)"),
    KEY(N, "refine_steps", I, refine_steps, "0", 0, BIG,
        "with mine.dense: a second round (as ANCE): the trained bi-encoder continues this many steps on the negatives "
        "mined with it (MNRL, mine.refine_negatives per query beside the in-batch ones), then is encoded, indexed "
        "and searched again (0 = off)"),
    KEY(N, "refine_negatives", I, refine_negatives, "7", 1, 64, "mined negatives per query in the second round"),
    KEY(N, "refine_batch_size", I, refine_batch_size, "32", 1, 1048576, "queries per step in the second round"),
    KEY(N, "refine_lr", F, refine_lr, "1e-4", 0, 10, "peak learning rate of the second round (warm-up 10%, then linear)"),
    CHOICE(N, "refine_loss", refine_loss, "MultipleNegativesRankingLoss", losses,
        "the second round's loss: MultipleNegativesRankingLoss, or DistillKLDivLoss (the teacher, then trained before "
        "the second round from the first round's model, scores each query's 1 + refine_negatives passages; "
        "loss.scale and loss.temperature apply)"),
};
#undef N

#define Q bienc_cfg_teacher
static const cfg_key teacher_keys[] = {
    KEY(Q, "enabled", B, enabled, "true", 0, 0, "bienc run: train (or load) a cross-encoder teacher and rerank with it"),
    KEY(Q, "rerank_depth", I, rerank_depth, "100", 1, 1000000,
        "the teacher re-scores the top-N of the hybrid run (else of the bi-encoder's exact run)"),
    KEY(Q, "init_from_bi_encoder", B, init_from_bi_encoder, "false", 0, 0,
        "bienc run: the teacher's encoder starts from the trained bi-encoder (the teacher then trains after it)"),
    KEY(Q, "random_negatives", I, random_negatives, "-1", -1, 64,
        "with mined negatives (mine.teacher): how many of each query's teacher.loss.hard_negatives are random "
        "collection passages, the rest mined (-1: every other one)"),
};
#undef Q

#define M bienc_cfg_pretrain
static const cfg_key pretrain_keys[] = {
    KEY(M, "enabled", B, enabled, "false", 0, 0, "bienc run: MLM pre-training of the encoder first; the bi-encoder and the teacher start from it"),
    KEY(M, "mask_prob", F, mask_prob, "0.15", 0.001, 0.999, "fraction of tokens chosen as MLM targets (of them 80% [MASK], 10% random, 10% unchanged)"),
    KEY(M, "max_length", I, max_length, "128", 3, 1000000, "tokens per collection passage, [CLS] and [SEP] included (at most model.max_positions)"),
};
#undef M

typedef struct cfg_section {
    const char *path;
    size_t offset;
    const cfg_key *keys;
    int n_keys;
} cfg_section;

#define SEC(path, field, keys) {path, offsetof(bienc_run_config, field), keys, (int)(sizeof keys / sizeof keys[0])}
static const cfg_section sections[] = {
    SEC("model", model, model_keys),
    SEC("tokenizer", tokenizer, tokenizer_keys),
    SEC("data", data, data_keys),
    SEC("loss", loss, loss_keys),
    SEC("optim", optim, optim_keys),
    SEC("schedule", schedule, schedule_keys),
    SEC("train", train, train_keys),
    SEC("eval", eval, eval_keys),
    SEC("checkpoint", checkpoint, checkpoint_keys),
    SEC("output", output, output_keys),
    SEC("index", index, index_keys),
    SEC("mine", mine, mine_keys),
    SEC("teacher", teacher, teacher_keys),
    SEC("teacher.model", teacher.model, model_keys),
    SEC("teacher.loss", teacher.loss, loss_keys),
    SEC("teacher.optim", teacher.optim, optim_keys),
    SEC("teacher.schedule", teacher.schedule, schedule_keys),
    SEC("teacher.train", teacher.train, train_keys),
    SEC("pretrain", pretrain, pretrain_keys),
    SEC("pretrain.optim", pretrain.optim, optim_keys),
    SEC("pretrain.schedule", pretrain.schedule, schedule_keys),
    SEC("pretrain.train", pretrain.train, train_keys),
};

/* Defaults that differ inside the teacher block. */
static const struct {
    const char *path, *def;
} default_overrides[] = {
    {"teacher.model.kind", "cross_encoder"},
    {"teacher.loss.name", "BinaryCrossEntropy"},
    {"teacher.loss.hard_negatives", "4"},
    {"teacher.loss.scale", "1"}, /* the listwise loss on raw logits */
    {"teacher.train.batch_size", "16"},
    {"pretrain.optim.lr", "0.0001"},
    {"pretrain.train.steps", "1000"},
};

/* Alias -> canonical, relative to the top level or to "teacher." / "pretrain.". */
static const struct {
    const char *from, *to;
} aliases[] = {
    {"train.lr", "optim.lr"},
};

#define MAX_ENTRIES 256
static cfg_entry entries[MAX_ENTRIES];
static int n_entries;
static pthread_once_t entries_once = PTHREAD_ONCE_INIT;

/* "a|b|c": the first name of each value, in table order. */
static void canonical_choices(const cfg_choice *choices, char *out, size_t size)
{
    size_t o = 0;
    out[0] = 0;
    for (const cfg_choice *c = choices; c->name; c++) {
        const cfg_choice *first = choices;
        while (first->value != c->value) first++;
        if (first != c) continue;
        int n = snprintf(out + o, size - o, "%s%s", o ? "|" : "", c->name);
        BIENC_ASSERT(n > 0 && (size_t)n < size - o);
        o += (size_t)n;
    }
}

static void build_entries(void)
{
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        for (int k = 0; k < sections[s].n_keys && n_entries < MAX_ENTRIES; k++) {
            cfg_entry *e = &entries[n_entries++];
            const cfg_key *key = &sections[s].keys[k];
            snprintf(e->path, sizeof e->path, "%s.%s", sections[s].path, key->name);
            e->key = key;
            e->offset = sections[s].offset + key->offset;
            e->def = key->def;
            for (size_t d = 0; d < sizeof default_overrides / sizeof default_overrides[0]; d++)
                if (strcmp(default_overrides[d].path, e->path) == 0) e->def = default_overrides[d].def;
            if (key->choices) canonical_choices(key->choices, e->choices, sizeof e->choices);
        }
    }
}

const cfg_entry *cfg_entries(int *n)
{
    pthread_once(&entries_once, build_entries);
    *n = n_entries;
    return entries;
}

const cfg_entry *cfg_find(const char *path)
{
    int n;
    const cfg_entry *e = cfg_entries(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(e[i].path, path) == 0) return &e[i];
    return NULL;
}

int cfg_is_section(const char *path)
{
    int n;
    const cfg_entry *e = cfg_entries(&n);
    size_t len = strlen(path);
    for (int i = 0; i < n; i++)
        if (strncmp(e[i].path, path, len) == 0 && e[i].path[len] == '.') return 1;
    return 0;
}

const char *cfg_resolve_alias(const char *path, char *buf, size_t size)
{
    static const char *prefixes[] = {"", "teacher.", "pretrain."};
    for (size_t a = 0; a < sizeof aliases / sizeof aliases[0]; a++)
        for (size_t p = 0; p < 3; p++) {
            size_t pl = strlen(prefixes[p]);
            if (strncmp(path, prefixes[p], pl) == 0 && strcmp(path + pl, aliases[a].from) == 0) {
                snprintf(buf, size, "%s%s", prefixes[p], aliases[a].to);
                return buf;
            }
        }
    return path;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cfg_suggest(const char *path)
{
    int n;
    const cfg_entry *e = cfg_entries(&n);
    const char *best = NULL;
    size_t best_d = 99;
    const char *last = strrchr(path, '.');
    for (int i = 0; i < n; i++) {
        size_t d = edit_distance(path, e[i].path);
        /* a key in the wrong section: same last component */
        const char *el = strrchr(e[i].path, '.');
        if (last && el && strcmp(last, el) == 0 && strncmp(e[i].path, "teacher.", 8) != 0 &&
            strncmp(e[i].path, "pretrain.", 9) != 0 && d > 1)
            d = 2;
        if (d < best_d) {
            best_d = d;
            best = e[i].path;
        }
    }
    return best_d <= 2 ? best : NULL;
}

int config_key_count(void)
{
    int n;
    cfg_entries(&n);
    return n;
}

static const char *type_name(bienc_cfg_type t)
{
    switch (t) {
    case BIENC_CFG_INT: return "int";
    case BIENC_CFG_FLOAT: return "float";
    case BIENC_CFG_BOOL: return "bool";
    case BIENC_CFG_STRING: return "string";
    case BIENC_CFG_CHOICE: return "choice";
    case BIENC_CFG_INTS: return "list of int";
    case BIENC_CFG_FLOATS: return "list of float";
    }
    return "?";
}

int config_key_info(int i, bienc_cfg_keyinfo *out)
{
    int n;
    const cfg_entry *e = cfg_entries(&n);
    if (i < 0 || i >= n || !out) return bienc_error(BIENC_ERANGE, "config_key_info: no key %d (%d keys)", i, n);
    out->path = e[i].path;
    out->type = e[i].key->type;
    out->type_name = type_name(e[i].key->type);
    out->choices = e[i].key->type == BIENC_CFG_CHOICE ? e[i].choices : NULL;
    out->def = e[i].def;
    out->min = e[i].key->min;
    out->max = e[i].key->max;
    out->doc = e[i].key->doc;
    return 0;
}

static void print_range(FILE *f, const bienc_cfg_keyinfo *k, int markdown)
{
    if (k->type == BIENC_CFG_INT || k->type == BIENC_CFG_FLOAT || k->type == BIENC_CFG_INTS || k->type == BIENC_CFG_FLOATS) {
        if (k->max >= BIG) fprintf(f, "%s>= %.15g", markdown ? " " : "", k->min);
        else fprintf(f, "%sin [%.15g, %.15g]", markdown ? " " : "", k->min, k->max);
    }
}

int config_print_keys(FILE *f, int markdown)
{
    int n = config_key_count();
    if (markdown) {
        fprintf(f, "| key | type | default | description |\n| --- | --- | --- | --- |\n");
    }
    for (int i = 0; i < n; i++) {
        bienc_cfg_keyinfo k;
        config_key_info(i, &k);
        if (markdown) {
            fprintf(f, "| `%s` | %s", k.path, k.choices ? "" : k.type_name);
            if (k.choices) {
                /* "mean \| cls \| max": pipes escaped for markdown tables */
                for (const char *p = k.choices; *p; p++) {
                    if (*p == '|') fputs(" \\| ", f);
                    else fputc(*p, f);
                }
            }
            print_range(f, &k, markdown);
            fprintf(f, " | %s%s%s | %s |\n", *k.def ? "`" : "", *k.def ? k.def : "(empty)", *k.def ? "`" : "", k.doc);
        } else {
            fprintf(f, "%-36s %-8s default %-28s %s", k.path, k.choices ? "choice" : k.type_name,
                    *k.def ? k.def : "\"\"", k.doc);
            if (k.choices) fprintf(f, " [%s]", k.choices);
            if (k.type != BIENC_CFG_CHOICE && k.type != BIENC_CFG_BOOL && k.type != BIENC_CFG_STRING) {
                fputs(" (", f);
                print_range(f, &k, markdown);
                fputs(")", f);
            }
            fputc('\n', f);
        }
    }
    return ferror(f) ? bienc_error(BIENC_EIO, "writing the key table failed") : 0;
}
