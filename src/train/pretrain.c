/* MLM pre-training (src/train/pretrain.h): the encoder plus BERT's MLM head as a
 * train_model of the one training loop (train_loop.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "model/mlm.h"
#include "io/model_io.h"
#include "train/pretrain.h"
#include "core/atomic_file.h"
#include "train/train_data.h"
#include "train/train_loop.h"
#include "core/os.h"
#include "train/run_dir.h"
#include "train/config_map.h"

#define ORDER_KEY 0x70726574726169ull /* "pretrai" */
#define DROPOUT_KEY 0x6d6c6d64726f70ull

typedef struct pretrain {
    const bienc_run_config *cfg;
    const bienc_train_opts *o;
    bienc_train_result *r;
    trainer_log log;
    bienc_texts *collection;
    bienc_biencoder *bi;       /* encoder, tokenizer and the bi-encoder settings a model file keeps */
    bienc_mlm_head *head;
    bienc_tensor **params;     /* encoder's then the head's */
    bienc_tensor *word_emb;    /* the tied decoder weight */
    int B, max_len;
    int32_t special[3];
    int64_t *order;            /* [n passages] this epoch's order */
    int64_t epoch, pos;        /* epoch (-1 before the first), next position in order */
    int32_t *ids, *packed, *positions, *labels;  /* [B * max_len] */
    int *len, *offsets;
    char *config_text;
    train_loop loop;
} pretrain;

/* This epoch's order: a Fisher-Yates shuffle from hash(seed, epoch) alone, so the data
 * position is two integers. */
static void plan_epoch(pretrain *P)
{
    int64_t n = texts_count(P->collection);
    bienc_rng rng;
    rng_seed(&rng, rng_hash_u64((uint64_t)P->cfg->pretrain.train.seed ^ ORDER_KEY, (uint64_t)P->epoch));
    for (int64_t i = 0; i < n; i++) P->order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&rng, (uint64_t)i + 1), x = P->order[i];
        P->order[i] = P->order[j];
        P->order[j] = x;
    }
}

/* The next B passages, tokenized ([CLS] p [SEP], in parallel: each writes its own slot)
 * and packed. */
static int next_batch(pretrain *P, bienc_batch_ids *out, int64_t *epoch)
{
    int64_t n = texts_count(P->collection);
    const char *text[1024];
    size_t tlen[1024];
    for (int b = 0; b < P->B; b++) {
        if (P->pos >= n) {
            P->epoch++;
            P->pos = 0;
            plan_epoch(P);
        }
        const char *id;
        size_t idl;
        BIENC_TRY(texts_get(P->collection, P->order[P->pos++], &id, &idl, &text[b], &tlen[b]));
    }
    *epoch = P->epoch;
    int L = P->max_len, bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (int b = 0; b < P->B; b++) {
        int rc = tokenizer_encode(P->bi->tok, text[b], tlen[b], 1, L, P->ids + (int64_t)b * L, L, &P->len[b]);
        if (rc < 0) bad = 1;
    }
    if (bad) return bienc_error(BIENC_EINVAL, "pretrain: a passage could not be tokenised");
    P->offsets[0] = 0;
    for (int b = 0; b < P->B; b++) {
        memcpy(P->packed + P->offsets[b], P->ids + (int64_t)b * L, (size_t)P->len[b] * sizeof *P->ids);
        P->offsets[b + 1] = P->offsets[b] + P->len[b];
    }
    out->ids = P->packed;
    out->type_ids = NULL;
    out->seqs.n = P->B;
    out->seqs.offsets = P->offsets;
    return 0;
}

static int mlm_micro_loss(void *self, bienc_tape *tape, uint64_t key, bienc_tensor **loss, int64_t *examples,
                          int64_t *epoch)
{
    pretrain *P = self;
    bienc_batch_ids batch = {0};
    BIENC_TRY(next_batch(P, &batch, epoch));
    int64_t T = P->offsets[P->B], M;
    /* the masks, like the dropout masks, are a pure function of (seed, step, micro-batch) */
    bienc_rng rng;
    rng_seed(&rng, rng_hash_u64(key, 0x6d61736bull));
    mlm_mask(P->packed, T, P->special, 3, (float)P->cfg->pretrain.mask_prob, (int32_t)tokenizer_mask_id(P->bi->tok),
             (int32_t)tokenizer_vocab_size(P->bi->tok), &rng, P->positions, P->labels, &M);
    if (M == 0) return bienc_error(BIENC_EINVAL, "pretrain: a batch of passages without a maskable token");
    bienc_tensor *hidden;
    BIENC_TRY(encoder_forward(P->bi->enc, tape, &batch, 1, key, &hidden));
    *examples = P->B;
    return mlm_loss(tape, P->head, P->word_emb, hidden, P->positions, P->labels, M, loss);
}

/* The bi-encoder model file, the head next to its parameters, and the data position. */
static int mlm_save(void *self, bienc_ckpt_writer *w)
{
    pretrain *P = self;
    BIENC_TRY(model_io_write(w, P->bi));
    for (int i = 0; i < BIENC_MLM_N_PARAMS; i++) BIENC_TRY(ckpt_write_param(w, P->head->params[i]));
    BIENC_TRY(ckpt_write_int64(w, "data/epoch", P->epoch));
    return ckpt_write_int64(w, "data/position", P->pos);
}

static int mlm_load_state(void *self, const bienc_ckpt *c)
{
    pretrain *P = self;
    BIENC_TRY(ckpt_read_int64(c, "data/epoch", &P->epoch));
    BIENC_TRY(ckpt_read_int64(c, "data/position", &P->pos));
    if (P->epoch < -1 || P->pos < 0 || P->pos > texts_count(P->collection))
        return bienc_error(BIENC_EFORMAT, "%s: data/epoch %lld or data/position %lld out of range", ckpt_path(c),
                           (long long)P->epoch, (long long)P->pos);
    if (P->epoch >= 0) plan_epoch(P);
    return 0;
}

/* The vocabulary: tokenizer.vocab, or trained on the training texts as `bienc train` would. */
static int load_vocab(pretrain *P, bienc_tokenizer **tok)
{
    const bienc_run_config *cfg = P->cfg;
    if (cfg->tokenizer.vocab) return tokenizer_load(tok, cfg->tokenizer.vocab, cfg->tokenizer.lower_case);
    trainer_data d;
    memset(&d, 0, sizeof d);
    double t0 = os_now();
    int rc = trainer_data_load(&d, cfg, P->log.out);
    if (rc == 0) rc = trainer_train_vocab(&d, cfg, tok);
    trainer_data_free(&d);
    BIENC_TRY(rc);
    char path[1200];
    snprintf(path, sizeof path, "%s/vocab.txt", P->r->run_dir);
    rc = tokenizer_save_vocab(*tok, path);
    if (rc < 0) {
        tokenizer_free(*tok);
        *tok = NULL;
        return rc;
    }
    trainer_log_msg(&P->log, "tokenizer: trained a %d-token WordPiece vocabulary in %.1f s -> %s\n",
                    tokenizer_vocab_size(*tok), os_now() - t0, path);
    return 0;
}

/* Encoder and head: from the resume checkpoint, from model.init_from (its head too when it
 * has one), or new. */
static int build_model(pretrain *P, const bienc_ckpt *resume)
{
    const bienc_run_config *cfg = P->cfg;
    const bienc_ckpt *from = resume;
    bienc_ckpt *init = NULL;
    if (!from && cfg->model.init_from) {
        BIENC_TRY(ckpt_open(&init, cfg->model.init_from));
        from = init;
    }
    int rc = 0;
    if (from) {
        rc = model_io_read(from, &P->bi);
    } else {
        bienc_tokenizer *tok = NULL;
        BIENC_TRY(load_vocab(P, &tok));
        bienc_encoder_config ec;
        rc = config_encoder_config(&cfg->model, tokenizer_vocab_size(tok), &ec);
        if (rc < 0) tokenizer_free(tok);
        bienc_biencoder_opts bo = {.pool = cfg->model.pooling, .normalize = cfg->model.normalize,
                                   .max_query_len = (int)cfg->tokenizer.max_query_length,
                                   .max_passage_len = (int)cfg->tokenizer.max_passage_length};
        if (rc == 0) rc = biencoder_new(&P->bi, &ec, (uint64_t)cfg->pretrain.train.seed, tok, &bo);
    }
    if (rc == 0) rc = encoder_set_trainable(P->bi->enc, 1);
    if (rc == 0) rc = mlm_head_new(&P->head, &P->bi->enc->cfg, (uint64_t)cfg->pretrain.train.seed);
    for (int i = 0; rc == 0 && from && i < BIENC_MLM_N_PARAMS; i++) {
        char name[256];
        snprintf(name, sizeof name, "params/%s", P->head->params[i]->name);
        if (resume || ckpt_has_tensor(from, name)) rc = ckpt_read_param(from, P->head->params[i]);
    }
    ckpt_close(init);
    if (rc < 0 && cfg->model.init_from && !resume) return bienc_error_context(rc, "model.init_from %s: ", cfg->model.init_from);
    return rc;
}

static int check_model(pretrain *P)
{
    const bienc_tokenizer *tok = P->bi->tok;
    if (tokenizer_mask_id(tok) < 0 || tokenizer_cls_id(tok) < 0 || tokenizer_sep_id(tok) < 0)
        return bienc_error(BIENC_EINVAL, "pretrain: the vocabulary lacks [MASK], [CLS] or [SEP]");
    P->special[0] = tokenizer_cls_id(tok);
    P->special[1] = tokenizer_sep_id(tok);
    P->special[2] = tokenizer_pad_id(tok);
    int64_t L = P->cfg->pretrain.max_length;
    if (L > P->bi->enc->cfg.max_position_embeddings)
        return bienc_error(BIENC_EINVAL, "pretrain.max_length %lld exceeds the model's max_position_embeddings %d",
                           (long long)L, P->bi->enc->cfg.max_position_embeddings);
    if (P->cfg->pretrain.train.batch_size > 1024)
        return bienc_error(BIENC_EINVAL, "pretrain.train.batch_size %lld: at most 1024 passages per micro-batch",
                           (long long)P->cfg->pretrain.train.batch_size);
    P->max_len = (int)L;
    P->B = (int)P->cfg->pretrain.train.batch_size;
    P->word_emb = encoder_find_param(P->bi->enc, "embeddings.word_embeddings.weight");
    if (!P->word_emb) return bienc_error(BIENC_EFORMAT, "pretrain: the encoder has no word embeddings");
    int ne = encoder_param_count(P->bi->enc);
    P->params = malloc((size_t)(ne + BIENC_MLM_N_PARAMS) * sizeof *P->params);
    int64_t n = (int64_t)P->B * P->max_len, np = texts_count(P->collection);
    P->order = malloc((size_t)np * sizeof *P->order);
    P->ids = malloc((size_t)n * sizeof *P->ids);
    P->packed = malloc((size_t)n * sizeof *P->packed);
    P->positions = malloc((size_t)n * sizeof *P->positions);
    P->labels = malloc((size_t)n * sizeof *P->labels);
    P->len = malloc((size_t)P->B * sizeof *P->len);
    P->offsets = malloc((size_t)(P->B + 1) * sizeof *P->offsets);
    if (!P->params || !P->order || !P->ids || !P->packed || !P->positions || !P->labels || !P->len || !P->offsets)
        return bienc_error(BIENC_ENOMEM, "pretrain: out of memory");
    memcpy(P->params, encoder_params(P->bi->enc), (size_t)ne * sizeof *P->params);
    memcpy(P->params + ne, P->head->params, sizeof P->head->params);
    P->epoch = -1;
    P->pos = np;
    return 0;
}

static int setup(pretrain *P)
{
    const bienc_run_config *cfg = P->cfg;
    const bienc_cfg_pretrain *pc = &cfg->pretrain;
    bienc_train_result *r = P->r;
    cpu_set_threads(P->o->threads > 0 ? P->o->threads : (int)pc->train.threads);
    P->log.out = P->o->quiet ? NULL : (P->o->log ? P->o->log : stderr);
    if (!cfg->data.collection) return bienc_error(BIENC_EINVAL, "pretrain: needs data.collection (its passages are the text)");
    BIENC_TRY(run_dir_create(cfg, "-pretrain", r));
    char resume_path[1100];
    BIENC_TRY(train_loop_resolve_resume(r->ckpt_dir, P->o, &P->log, resume_path, sizeof resume_path));
    bienc_ckpt *ck = NULL;
    if (resume_path[0]) BIENC_TRY(ckpt_open(&ck, resume_path));
    bienc_read_opts ro = {.skip_malformed = cfg->data.skip_malformed, .numeric_ids = 0};
    int rc = trainer_load_texts(&P->collection, cfg->data.collection, &ro);
    if (rc == 0 && texts_count(P->collection) < 1) rc = bienc_error(BIENC_EINVAL, "pretrain: %s is empty", cfg->data.collection);
    if (rc == 0) rc = build_model(P, ck);
    if (rc == 0) rc = check_model(P);
    int accum = (int)(pc->optim.grad_accumulation > 0 ? pc->optim.grad_accumulation : 1);
    int64_t total = pc->train.steps;
    if (rc == 0 && total <= 0) {
        int64_t batches = (texts_count(P->collection) + P->B - 1) / P->B;
        total = pc->train.epochs * ((batches + accum - 1) / accum);
    }
    if (rc == 0) rc = run_dir_config_text(cfg, &P->config_text);
    if (rc == 0) {
        train_model m = {.self = P, .params = P->params, .n_params = encoder_param_count(P->bi->enc) + BIENC_MLM_N_PARAMS,
                         .micro_loss = mlm_micro_loss, .save = mlm_save, .load_state = mlm_load_state};
        train_loop_opts lo = {.total_steps = total, .log_every = pc->train.log_every_steps,
                              .ckpt_every = cfg->checkpoint.every_steps, .keep_last = cfg->checkpoint.keep_last,
                              .best_metric = BIENC_METRIC_MRR10, .seed = (uint64_t)pc->train.seed,
                              .dropout_base = rng_hash_u64((uint64_t)pc->train.seed, DROPOUT_KEY),
                              .ckpt_dir = r->ckpt_dir, .config_text = P->config_text, .what = "pretrain ", .o = P->o,
                              .precision = train_precision(pc->train.precision)};
        rc = train_loop_init(&P->loop, &m, &lo, &pc->optim, &pc->schedule, &P->log, r, ck);
    }
    ckpt_close(ck);
    BIENC_TRY(rc);
    BIENC_TRY(run_dir_write_config(r->run_dir, P->config_text));
    BIENC_TRY(trainer_log_open(&P->log, r->run_dir, resume_path[0] ? P->loop.st.step : -1, P->o));
    P->log.prefix = "pretrain ";
    const bienc_encoder_config *ec = &P->bi->enc->cfg;
    trainer_log_msg(&P->log,
                    "pretrain: MLM on %lld passages of %s (max %d tokens, %.0f%% masked); model %d layers, hidden %d, "
                    "vocab %d (%.2fM parameters + head); batch %d x %d, %lld steps, %d threads\n",
                    (long long)texts_count(P->collection), cfg->data.collection, P->max_len, 100 * pc->mask_prob,
                    ec->num_layers, ec->hidden_size, ec->vocab_size, encoder_num_scalars(P->bi->enc) / 1e6, P->B,
                    accum, (long long)total, cpu_get_threads());
    return 0;
}

int pretrain_run(const bienc_run_config *cfg, const bienc_train_opts *opts, bienc_train_result *r)
{
    if (r) memset(r, 0, sizeof *r);
    BIENC_ASSERT(cfg && r);
    bienc_train_opts defaults;
    train_opts_default(&defaults);
    r->final_loss = r->mrr_before = r->mrr_after = r->recall_before = r->recall_after = NAN;
    pretrain P;
    memset(&P, 0, sizeof P);
    P.cfg = cfg;
    P.o = opts ? opts : &defaults;
    P.r = r;
    double t0 = os_now();
    int rc = setup(&P);
    if (rc == 0) rc = train_loop_run(&P.loop);
    r->seconds = os_now() - t0;
    trainer_log_close(&P.log);
    train_loop_free(&P.loop);
    mlm_head_free(P.head);
    biencoder_free(P.bi);
    texts_free(P.collection);
    free(P.params);
    free(P.order);
    free(P.ids);
    free(P.packed);
    free(P.positions);
    free(P.labels);
    free(P.len);
    free(P.offsets);
    free(P.config_text);
    return rc;
}
