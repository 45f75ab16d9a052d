/* Training the cross-encoder teacher: BCE with logits on qrels positives and random
 * collection negatives (see include/bienc/teacher.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bienc/cpu.h"
#include "bienc/error.h"
#include "bienc/loss.h"
#include "bienc/model_io.h"
#include "bienc/optim.h"
#include "bienc/rng.h"
#include "bienc/teacher.h"
#include "train/trainer_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The labelled pairs' sources: row indices into the query and passage stores. */
typedef struct teacher_data {
    bienc_texts *queries, *collection;
    int64_t *q, *p;   /* [n] */
    int64_t n;
} teacher_data;

static void teacher_data_free(teacher_data *d)
{
    texts_free(d->queries);
    texts_free(d->collection);
    free(d->q);
    free(d->p);
    memset(d, 0, sizeof *d);
}

static int teacher_data_load(teacher_data *d, const bienc_run_config *cfg)
{
    memset(d, 0, sizeof *d);
    const bienc_cfg_data *dc = &cfg->data;
    if (!dc->queries || !dc->collection || !dc->qrels)
        return bienc_error(BIENC_EINVAL, "teacher: needs data.queries, data.collection and data.qrels");
    bienc_read_opts ro = {.skip_malformed = dc->skip_malformed, .numeric_ids = 0};
    trainer_qrels_pairs pairs;
    BIENC_TRY(trainer_load_texts(&d->queries, dc->queries, &ro));
    int rc = trainer_load_texts(&d->collection, dc->collection, &ro);
    if (rc == 0) rc = trainer_qrels_pairs_read(&pairs, dc->qrels);
    if (rc < 0) {
        teacher_data_free(d);
        return rc;
    }
    d->q = malloc((size_t)(pairs.n ? pairs.n : 1) * sizeof *d->q);
    d->p = malloc((size_t)(pairs.n ? pairs.n : 1) * sizeof *d->p);
    if (!d->q || !d->p) rc = bienc_error(BIENC_ENOMEM, "teacher: out of memory");
    int64_t limit = dc->max_examples > 0 ? dc->max_examples : INT64_MAX;
    for (int64_t i = 0; rc == 0 && i < pairs.n && d->n < limit; i++) {
        int64_t qi = texts_find(d->queries, pairs.qid[i], strlen(pairs.qid[i]));
        int64_t pi = texts_find(d->collection, pairs.pid[i], strlen(pairs.pid[i]));
        if (qi < 0 || pi < 0) continue; /* judged pairs outside the stores cannot be trained on */
        d->q[d->n] = qi;
        d->p[d->n] = pi;
        d->n++;
    }
    trainer_qrels_pairs_free(&pairs);
    if (rc == 0 && d->n == 0)
        rc = bienc_error(BIENC_EINVAL, "teacher: no (query, positive) pair of %s found in %s and %s", dc->qrels,
                         dc->queries, dc->collection);
    if (rc == 0 && texts_count(d->collection) < 2)
        rc = bienc_error(BIENC_EINVAL, "teacher: %s needs at least 2 passages to draw negatives", dc->collection);
    if (rc < 0) teacher_data_free(d);
    return rc;
}

/* A packed batch of pairs: buffers reused from step to step. */
typedef struct pair_batch {
    int32_t *ids, *types, *packed_ids, *packed_types;
    int *len, *offsets;
    int64_t cap;
} pair_batch;

static void pair_batch_free(pair_batch *b)
{
    free(b->ids);
    free(b->types);
    free(b->packed_ids);
    free(b->packed_types);
    free(b->len);
    free(b->offsets);
    memset(b, 0, sizeof *b);
}

/* Tokenises n pairs (in parallel: each pair writes its own slot) and packs them in order. */
static int pair_batch_build(pair_batch *b, const bienc_cross_encoder *ce, const char *const *q, const size_t *ql,
                            const char *const *p, const size_t *pl, int64_t n, bienc_batch_ids *out)
{
    int L = ce->max_len;
    if (n > b->cap) {
        pair_batch_free(b);
        b->ids = malloc((size_t)n * L * sizeof *b->ids);
        b->types = malloc((size_t)n * L * sizeof *b->types);
        b->packed_ids = malloc((size_t)n * L * sizeof *b->packed_ids);
        b->packed_types = malloc((size_t)n * L * sizeof *b->packed_types);
        b->len = malloc((size_t)n * sizeof *b->len);
        b->offsets = malloc((size_t)(n + 1) * sizeof *b->offsets);
        if (!b->ids || !b->types || !b->packed_ids || !b->packed_types || !b->len || !b->offsets)
            return bienc_error(BIENC_ENOMEM, "teacher: out of memory for a batch of %lld pairs", (long long)n);
        b->cap = n;
    }
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (int64_t i = 0; i < n; i++)
        if (cross_encoder_tokenize_pair(ce, q[i], ql[i], p[i], pl[i], b->ids + i * L, b->types + i * L, &b->len[i]) < 0)
            bad = 1;
    if (bad) return bienc_error(BIENC_EINVAL, "teacher: a pair could not be tokenised");
    b->offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        memcpy(b->packed_ids + b->offsets[i], b->ids + i * L, (size_t)b->len[i] * sizeof *b->ids);
        memcpy(b->packed_types + b->offsets[i], b->types + i * L, (size_t)b->len[i] * sizeof *b->types);
        b->offsets[i + 1] = b->offsets[i] + b->len[i];
    }
    out->ids = b->packed_ids;
    out->type_ids = b->packed_types;
    out->seqs.n = (int)n;
    out->seqs.offsets = b->offsets;
    return 0;
}

void teacher_result_free(bienc_teacher_result *r)
{
    if (!r) return;
    free(r->losses);
    memset(r, 0, sizeof *r);
}

int teacher_eval_loss(bienc_cross_encoder *ce, const char *const *q, const char *const *p, const float *labels, int64_t n,
                      double *loss)
{
    if (!ce || !q || !p || !labels || !loss || n < 1) return bienc_error(BIENC_EINVAL, "teacher_eval_loss: bad argument");
    float *s = malloc((size_t)n * sizeof *s);
    if (!s) return bienc_error(BIENC_ENOMEM, "teacher_eval_loss: out of memory");
    int rc = cross_encoder_score(ce, NULL, q, NULL, p, NULL, n, 64, s);
    double sum = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        double x = s[i], t = labels[i];
        sum += (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
    }
    free(s);
    if (rc == 0) *loss = sum / (double)n;
    return rc;
}

/* The training loop proper, on loaded data and a fresh model. */
static int train_loop(const bienc_run_config *cfg, const bienc_teacher_opts *o, teacher_data *d, bienc_cross_encoder *ce,
                      bienc_teacher_result *r)
{
    const bienc_cfg_teacher *t = &cfg->teacher;
    int B = (int)t->train.batch_size, K = (int)t->loss.hard_negatives, per = 1 + K;
    int accum = (int)(t->optim.grad_accumulation > 0 ? t->optim.grad_accumulation : 1);
    int64_t batches_per_epoch = (d->n + B - 1) / B;
    int64_t total = t->train.steps > 0 ? t->train.steps : t->train.epochs * ((batches_per_epoch + accum - 1) / accum);
    if (total < 1) total = 1;
    bienc_schedule sched;
    BIENC_TRY(schedule_from_config(&sched, &t->schedule, total));
    bienc_adamw_config oc;
    adamw_config_from(&oc, &t->optim);
    bienc_adamw *opt = NULL;
    BIENC_TRY(adamw_new(&opt, ce->params, ce->n_params, &oc, &sched));

    int64_t np = (int64_t)B * per;
    int64_t *order = malloc((size_t)d->n * sizeof *order);
    const char **qs = malloc((size_t)np * sizeof *qs), **ps = malloc((size_t)np * sizeof *ps);
    size_t *ql = malloc((size_t)np * sizeof *ql), *pl = malloc((size_t)np * sizeof *pl);
    float *labels = malloc((size_t)np * sizeof *labels);
    r->losses = malloc((size_t)total * sizeof *r->losses);
    bienc_tape *tape = NULL;
    int rc = order && qs && ps && ql && pl && labels && r->losses ? tape_new(&tape) : bienc_error(BIENC_ENOMEM, "teacher: out of memory");
    if (rc == 0) tape_set_precision(tape, (bienc_precision)t->train.precision); /* teacher.train.precision */
    pair_batch pb = {0};
    bienc_rng rng;
    rng_seed(&rng, (uint64_t)t->train.seed ^ 0x7465616368ull);
    int64_t pos = d->n, epoch = -1, ncoll = texts_count(d->collection);
    double t0 = now_s(), window = 0;
    int64_t wn = 0, pairs_done = 0;
    for (int64_t step = 0; rc == 0 && step < total; step++) {
        double step_loss = 0;
        for (int m = 0; rc == 0 && m < accum; m++) {
            int nb = 0;
            /* B queries in this epoch's order, each with its positive then K random negatives */
            for (; nb < B; nb++) {
                if (pos >= d->n) { /* a new epoch: Fisher-Yates from the running generator */
                    epoch++;
                    pos = 0;
                    for (int64_t i = 0; i < d->n; i++) order[i] = i;
                    for (int64_t i = d->n - 1; i > 0; i--) {
                        int64_t j = (int64_t)rng_below(&rng, (uint64_t)i + 1), x = order[i];
                        order[i] = order[j];
                        order[j] = x;
                    }
                }
                int64_t e = order[pos++];
                const char *id, *qt;
                size_t idl, qtl;
                rc = texts_get(d->queries, d->q[e], &id, &idl, &qt, &qtl);
                for (int j = 0; rc == 0 && j < per; j++) {
                    int64_t pi = d->p[e];
                    if (j > 0) {
                        do pi = (int64_t)rng_below(&rng, (uint64_t)ncoll);
                        while (pi == d->p[e]);
                    }
                    int64_t s = (int64_t)nb * per + j;
                    qs[s] = qt;
                    ql[s] = qtl;
                    rc = texts_get(d->collection, pi, &id, &idl, &ps[s], &pl[s]);
                    labels[s] = j == 0 ? 1.0f : 0.0f;
                }
                if (rc < 0) break;
            }
            bienc_batch_ids batch;
            if (rc == 0) rc = pair_batch_build(&pb, ce, qs, ql, ps, pl, (int64_t)nb * per, &batch);
            tape_reset(tape);
            bienc_tensor *logits = NULL, *loss = NULL;
            uint64_t key = rng_hash_u64((uint64_t)t->train.seed, (uint64_t)(step * accum + m));
            if (rc == 0) rc = cross_encoder_forward(ce, tape, &batch, 1, key, &logits);
            if (rc == 0) rc = loss_bce_with_logits(tape, logits, labels, &loss);
            if (rc == 0) rc = tape_backward(tape, loss);
            if (rc == 0 && !isfinite(loss->data[0]))
                rc = bienc_error(BIENC_ERANGE, "teacher: non-finite loss at step %lld", (long long)step + 1);
            if (rc == 0) step_loss += loss->data[0] / accum;
            int stepped;
            if (rc == 0) rc = adamw_micro_step(opt, &stepped);
            pairs_done += (int64_t)nb * per;
        }
        if (rc < 0) break;
        r->losses[step] = (float)step_loss;
        r->n_losses = r->steps = step + 1;
        window += step_loss;
        wn++;
        int64_t every = t->train.log_every_steps > 0 ? t->train.log_every_steps : 10;
        if ((step + 1) % every == 0 || step + 1 == total) {
            r->final_loss = window / (double)wn;
            if (o->log)
                fprintf(o->log, "teacher step %lld/%lld  loss %.4f  lr %.3g  %.0f pairs/s\n", (long long)step + 1,
                        (long long)total, r->final_loss, opt->last_lr, pairs_done / (now_s() - t0 + 1e-9));
            window = 0;
            wn = 0;
        }
    }
    r->seconds = now_s() - t0;
    r->pairs_per_s = pairs_done / (r->seconds + 1e-9);
    pair_batch_free(&pb);
    tape_free(tape);
    adamw_free(opt);
    free(order);
    free(qs);
    free(ps);
    free(ql);
    free(pl);
    free(labels);
    return rc;
}

/* Copies the encoder weights of a bi-encoder (or cross-encoder) checkpoint into ce: the
 * teacher starts from what the student learned instead of from noise. */
static int warm_start(bienc_cross_encoder *ce, const char *path)
{
    bienc_ckpt *c;
    BIENC_TRY(ckpt_open(&c, path));
    int rc = 0;
    for (int i = 0; rc == 0 && i < ce->enc->n_params; i++) rc = ckpt_read_param(c, ce->enc->params[i]);
    ckpt_close(c);
    return rc;
}

int teacher_train(const bienc_run_config *cfg, const bienc_teacher_opts *o, bienc_cross_encoder **out,
                  bienc_teacher_result *r)
{
    if (out) *out = NULL;
    bienc_teacher_result local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    if (!cfg || !o || !o->vocab) return bienc_error(BIENC_EINVAL, "teacher_train: NULL config, options or vocabulary");
    const bienc_cfg_teacher *t = &cfg->teacher;
    if (t->model.kind != BIENC_CFG_CROSS_ENCODER)
        return bienc_error(BIENC_EINVAL, "teacher.model.kind must be cross_encoder");
    int threads = o->threads > 0 ? o->threads : (int)t->train.threads;
    if (threads > 0) cpu_set_threads(threads);

    bienc_tokenizer *tok;
    BIENC_TRY(tokenizer_load(&tok, o->vocab, cfg->tokenizer.lower_case ? 1 : 0));
    bienc_encoder_config ec;
    int rc = config_encoder_config(&t->model, tokenizer_vocab_size(tok), &ec);
    if (rc < 0) {
        tokenizer_free(tok);
        return bienc_error_context(rc, "teacher.");
    }
    int mq = (int)cfg->tokenizer.max_query_length, mp = (int)cfg->tokenizer.max_passage_length;
    int max_len = mq + mp - 1; /* [CLS] q [SEP] p [SEP]: the bi-encoder's two budgets, one [CLS] shared */
    if (max_len > ec.max_position_embeddings) max_len = ec.max_position_embeddings;
    if (mq > max_len - 2) mq = max_len - 2;
    bienc_cross_encoder *ce;
    BIENC_TRY(cross_encoder_new(&ce, &ec, (uint64_t)t->train.seed, tok, max_len, mq));
    const char *init = o->init_from ? o->init_from : t->model.init_from;
    if (init) {
        rc = warm_start(ce, init);
        if (rc < 0) {
            cross_encoder_free(ce);
            return bienc_error_context(rc, "teacher init_from %s: ", init);
        }
        if (o->log) fprintf(o->log, "teacher: encoder initialised from %s\n", init);
    }
    teacher_data d;
    rc = teacher_data_load(&d, cfg);
    if (rc == 0) {
        if (o->log)
            fprintf(o->log, "teacher: %lld labelled queries, %lld passages, %d negatives each, cross-encoder %d x %d\n",
                    (long long)d.n, (long long)texts_count(d.collection), (int)t->loss.hard_negatives, ec.num_layers,
                    ec.hidden_size);
        rc = train_loop(cfg, o, &d, ce, r);
        teacher_data_free(&d);
    }
    if (rc == 0 && o->output) rc = cross_io_save(o->output, ce);
    if (rc == 0 && out) *out = ce;
    else cross_encoder_free(ce);
    if (r == &local) teacher_result_free(&local);
    return rc;
}
