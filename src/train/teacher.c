/* Training the cross-encoder teacher: BCE with logits on qrels positives and random
 * collection negatives (see src/train/teacher.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "ops/loss.h"
#include "io/model_io.h"
#include "train/optim.h"
#include "core/rng.h"
#include "train/teacher.h"
#include "train/train_loop.h"
#include "core/os.h"
#include "train/config_map.h"
#include "io/cross_io.h"
#include "train/train_data.h"

/* The labelled pairs' sources: row indices into the query and passage stores. */
typedef struct teacher_data {
    bienc_texts *queries, *collection;
    int64_t *q, *p;   /* [n] */
    int64_t n;
    /* mined negatives (data.format hard_negatives): passage rows of query row r are
     * hn[hn_first[r] .. hn_first[r + 1]) */
    int64_t *hn_first, *hn;
} teacher_data;

static void teacher_data_free(teacher_data *d)
{
    texts_free(d->queries);
    texts_free(d->collection);
    free(d->q);
    free(d->p);
    free(d->hn_first);
    free(d->hn);
    memset(d, 0, sizeof *d);
}

/* The hard-negative file's negatives by query row (unknown ids are passed over). */
static int teacher_hardnegs_load(teacher_data *d, const char *path, const bienc_read_opts *ro)
{
    bienc_hardnegs *h = NULL;
    BIENC_TRY(hardnegs_load(&h, path, NULL, ro, NULL));
    int64_t nq = texts_count(d->queries), total = 0;
    int64_t *count = calloc((size_t)nq + 1, sizeof *count);
    int64_t *qrow = malloc((size_t)(hardnegs_count(h) + 1) * sizeof *qrow);
    int rc = count && qrow ? 0 : bienc_error(BIENC_ENOMEM, "teacher: out of memory");
    for (int64_t i = 0; rc == 0 && i < hardnegs_count(h); i++) {
        bienc_hardneg_row row;
        hardnegs_get(h, i, &row);
        qrow[i] = texts_find(d->queries, row.qid.s, row.qid.len);
        if (qrow[i] >= 0) count[qrow[i]] += row.n_neg;
    }
    d->hn_first = rc == 0 ? malloc((size_t)(nq + 1) * sizeof *d->hn_first) : NULL;
    if (rc == 0 && !d->hn_first) rc = bienc_error(BIENC_ENOMEM, "teacher: out of memory");
    for (int64_t r = 0; rc == 0 && r <= nq; r++) {
        d->hn_first[r] = total;
        if (r < nq) total += count[r];
    }
    d->hn = rc == 0 ? malloc((size_t)(total + 1) * sizeof *d->hn) : NULL;
    if (rc == 0 && !d->hn) rc = bienc_error(BIENC_ENOMEM, "teacher: out of memory");
    /* count[r] becomes the fill position of row r */
    for (int64_t r = 0; rc == 0 && r < nq; r++) count[r] = d->hn_first[r];
    for (int64_t i = 0; rc == 0 && i < hardnegs_count(h); i++) {
        if (qrow[i] < 0) continue;
        bienc_hardneg_row row;
        hardnegs_get(h, i, &row);
        for (int j = 0; j < row.n_neg; j++) {
            int64_t pr = texts_find(d->collection, row.neg[j].s, row.neg[j].len);
            if (pr >= 0) d->hn[count[qrow[i]]++] = pr;
        }
    }
    /* rows whose ids were unknown leave gaps: shrink each row's end to what was filled */
    if (rc == 0) {
        int64_t w = 0;
        for (int64_t r = 0; r < nq; r++) {
            int64_t b = d->hn_first[r], e = count[r];
            d->hn_first[r] = w;
            for (int64_t k = b; k < e; k++) d->hn[w++] = d->hn[k];
        }
        d->hn_first[nq] = w;
    }
    free(count);
    free(qrow);
    hardnegs_free(h);
    return rc;
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
    if (rc == 0 && dc->format == BIENC_DATA_HARD_NEGATIVES && dc->hard_negatives_file) {
        rc = teacher_hardnegs_load(d, dc->hard_negatives_file, &ro);
        /* with mined negatives the teacher trains on the queries that have some (the mine
         * stage may have covered only the first mine.max_queries) */
        int64_t kept = 0;
        for (int64_t i = 0; rc == 0 && i < d->n; i++) {
            if (d->hn_first[d->q[i] + 1] == d->hn_first[d->q[i]]) continue;
            d->q[kept] = d->q[i];
            d->p[kept++] = d->p[i];
        }
        if (rc == 0) d->n = kept;
    }
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

/* ---- the cross-encoder as a train_model of the one loop (train_loop.h) ---- */

typedef struct teacher_run {
    const bienc_run_config *cfg;
    teacher_data d;
    bienc_cross_encoder *ce;
    pair_batch pb;
    int B, per;
    const char **qs, **ps;     /* [B * per] the batch's texts */
    size_t *ql, *pl;
    float *labels;
    int64_t *order;            /* [d.n] this epoch's order */
    bienc_rng rng;             /* epoch shuffles and negatives, one running stream */
    bienc_rng epoch_rng;       /* rng before this epoch's shuffle: a resume re-plays it */
    int64_t pos, epoch;        /* next position in order; epoch (-1 before the first) */
} teacher_run;

/* Fisher-Yates of 0..n-1 from the running generator. */
static void shuffle(teacher_run *T)
{
    int64_t n = T->d.n, *order = T->order;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&T->rng, (uint64_t)i + 1), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
}

/* B queries in this epoch's order, each with its positive (label 1) then K negatives
 * (label 0, never the positive): random collection passages, or, when the data has mined
 * negatives for the query, K - teacher.random_negatives drawn from those and the rest
 * random (default: every other one; BM25's mined lists hold near-duplicates of the
 * positive that a teacher must not learn to reject outright). Loss: BCE with logits over
 * the pairs, or the listwise cross entropy of each query's positive among its 1 + K. */
static int teacher_micro_loss(void *self, bienc_tape *tape, uint64_t key, bienc_tensor **loss, int64_t *examples,
                              int64_t *epoch)
{
    teacher_run *T = self;
    teacher_data *d = &T->d;
    int64_t ncoll = texts_count(d->collection);
    int per = T->per;
    for (int nb = 0; nb < T->B; nb++) {
        if (T->pos >= d->n) { /* a new epoch */
            T->epoch++;
            T->pos = 0;
            T->epoch_rng = T->rng;
            shuffle(T);
        }
        int64_t e = T->order[T->pos++];
        const char *id, *qt;
        size_t idl, qtl;
        BIENC_TRY(texts_get(d->queries, d->q[e], &id, &idl, &qt, &qtl));
        for (int j = 0; j < per; j++) {
            int64_t pi = d->p[e];
            int64_t qr = d->q[e], nh = d->hn_first ? d->hn_first[qr + 1] - d->hn_first[qr] : 0;
            int R = (int)T->cfg->teacher.random_negatives;
            int mined = R < 0 ? j % 2 == 1 : j <= per - 1 - R; /* default: every other one */
            if (j > 0 && nh > 0 && mined) {
                pi = d->hn[d->hn_first[qr] + (int64_t)rng_below(&T->rng, (uint64_t)nh)];
            } else if (j > 0) {
                do pi = (int64_t)rng_below(&T->rng, (uint64_t)ncoll);
                while (pi == d->p[e]);
            }
            int64_t s = (int64_t)nb * per + j;
            T->qs[s] = qt;
            T->ql[s] = qtl;
            BIENC_TRY(texts_get(d->collection, pi, &id, &idl, &T->ps[s], &T->pl[s]));
            T->labels[s] = j == 0 ? 1.0f : 0.0f;
        }
    }
    int64_t np = (int64_t)T->B * per;
    bienc_batch_ids batch = {0};
    BIENC_TRY(pair_batch_build(&T->pb, T->ce, T->qs, T->ql, T->ps, T->pl, np, &batch));
    bienc_tensor *logits;
    BIENC_TRY(cross_encoder_forward(T->ce, tape, &batch, 1, key, &logits));
    *examples = np;
    *epoch = T->epoch;
    if (T->cfg->teacher.loss.name == BIENC_LOSS_BCE) return loss_bce_with_logits(tape, logits, T->labels, loss);
    return loss_listwise_ce(tape, logits, per, (float)T->cfg->teacher.loss.scale, loss);
}

/* The cross-encoder (cross_encoder.h layout) and the data position. */
static int teacher_save(void *self, bienc_ckpt_writer *w)
{
    teacher_run *T = self;
    BIENC_TRY(cross_io_write(w, T->ce));
    BIENC_TRY(ckpt_write_uint64s(w, "data/rng", T->rng.s, 4));
    BIENC_TRY(ckpt_write_uint64s(w, "data/epoch_rng", T->epoch_rng.s, 4));
    BIENC_TRY(ckpt_write_int64(w, "data/epoch", T->epoch));
    return ckpt_write_int64(w, "data/position", T->pos);
}

static int teacher_load_state(void *self, const bienc_ckpt *c)
{
    teacher_run *T = self;
    BIENC_TRY(ckpt_read_uint64s(c, "data/rng", T->rng.s, 4));
    BIENC_TRY(ckpt_read_uint64s(c, "data/epoch_rng", T->epoch_rng.s, 4));
    BIENC_TRY(ckpt_read_int64(c, "data/epoch", &T->epoch));
    BIENC_TRY(ckpt_read_int64(c, "data/position", &T->pos));
    if (T->epoch < -1 || T->pos < 0 || T->pos > T->d.n)
        return bienc_error(BIENC_EFORMAT, "%s: data/epoch %lld or data/position %lld out of range (%lld pairs)",
                           ckpt_path(c), (long long)T->epoch, (long long)T->pos, (long long)T->d.n);
    if (T->epoch >= 0) { /* this epoch's order: the same shuffle from the same generator state */
        bienc_rng now = T->rng;
        T->rng = T->epoch_rng;
        shuffle(T);
        T->rng = now;
    }
    return 0;
}

static void teacher_run_free(teacher_run *T)
{
    pair_batch_free(&T->pb);
    teacher_data_free(&T->d);
    free(T->order);
    free(T->qs);
    free(T->ps);
    free(T->ql);
    free(T->pl);
    free(T->labels);
}

static int teacher_run_alloc(teacher_run *T)
{
    const bienc_cfg_teacher *t = &T->cfg->teacher;
    T->B = (int)t->train.batch_size;
    T->per = 1 + (int)t->loss.hard_negatives;
    int64_t np = (int64_t)T->B * T->per;
    T->order = malloc((size_t)T->d.n * sizeof *T->order);
    T->qs = malloc((size_t)np * sizeof *T->qs);
    T->ps = malloc((size_t)np * sizeof *T->ps);
    T->ql = malloc((size_t)np * sizeof *T->ql);
    T->pl = malloc((size_t)np * sizeof *T->pl);
    T->labels = malloc((size_t)np * sizeof *T->labels);
    if (!T->order || !T->qs || !T->ps || !T->ql || !T->pl || !T->labels)
        return bienc_error(BIENC_ENOMEM, "teacher: out of memory");
    rng_seed(&T->rng, (uint64_t)t->train.seed ^ 0x7465616368ull);
    T->epoch_rng = T->rng;
    T->pos = T->d.n;
    T->epoch = -1;
    return 0;
}

/* The token-type table when the checkpoint has fewer types than the teacher (a bi-encoder
 * or MLM checkpoint with BERT's 2 types, a teacher with the exact-match third type): the
 * stored rows are copied, the extra rows keep their fresh initialisation. */
static int read_token_types(const bienc_ckpt *c, bienc_tensor *t)
{
    char name[256];
    snprintf(name, sizeof name, "params/%s", t->name);
    int ndim;
    int64_t shape[BIENC_CKPT_MAX_DIMS];
    BIENC_TRY(ckpt_tensor_shape(c, name, &ndim, shape));
    if (ndim != 2 || shape[1] != t->shape[1] || shape[0] < 1 || shape[0] >= t->shape[0]) return ckpt_read_param(c, t);
    float *buf = malloc((size_t)(shape[0] * shape[1]) * sizeof *buf);
    if (!buf) return bienc_error(BIENC_ENOMEM, "out of memory");
    int rc = ckpt_read_tensor(c, name, 2, shape, buf);
    if (rc == 0) memcpy(t->data, buf, (size_t)(shape[0] * shape[1]) * sizeof *buf);
    free(buf);
    return rc;
}

/* Copies the encoder weights of a bi-encoder, MLM or cross-encoder checkpoint into ce: the
 * teacher starts from what the student (or the pre-training) learned instead of from noise. */
static int warm_start(bienc_cross_encoder *ce, const char *path)
{
    bienc_ckpt *c;
    BIENC_TRY(ckpt_open(&c, path));
    int rc = 0;
    for (int i = 0; rc == 0 && i < ce->enc->n_params; i++) {
        bienc_tensor *t = ce->enc->params[i];
        if (strcmp(t->name, "embeddings.token_type_embeddings.weight") == 0) rc = read_token_types(c, t);
        else rc = ckpt_read_param(c, t);
    }
    ckpt_close(c);
    return rc;
}

/* A new cross-encoder from cfg->teacher (tokenizer o->vocab), warm-started from init. */
static int teacher_new_model(const bienc_run_config *cfg, const bienc_teacher_opts *o, bienc_cross_encoder **out)
{
    const bienc_cfg_teacher *t = &cfg->teacher;
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
    *out = ce;
    return 0;
}

/* The result of teacher_train from the loop's. */
static int fill_result(bienc_teacher_result *r, bienc_train_result *lr, int64_t log_every)
{
    r->start_step = lr->start_step;
    r->steps = lr->steps;
    r->seconds = lr->seconds;
    r->pairs_per_s = lr->pairs_per_s;
    r->losses = lr->losses;
    r->n_losses = lr->n_losses;
    lr->losses = NULL;
    lr->n_losses = 0;
    /* final_loss: the mean of the last log window (the steps since the previous row) */
    int64_t end = lr->steps, from = end > 0 ? ((end - 1) / log_every) * log_every : 0;
    if (from < lr->start_step) from = lr->start_step;
    double sum = 0;
    for (int64_t i = from; i < end; i++) sum += r->losses[i - lr->start_step];
    r->final_loss = end > from ? sum / (double)(end - from) : NAN;
    return 0;
}

static int teacher_setup_run(const bienc_run_config *cfg, const bienc_teacher_opts *o, teacher_run *T, train_loop *L,
                             trainer_log *log, bienc_train_result *lr, const bienc_train_opts *to)
{
    const bienc_cfg_teacher *t = &cfg->teacher;
    char resume_path[1100] = "";
    if (o->dir) {
        BIENC_TRY(os_mkdir_p(o->dir));
        snprintf(lr->ckpt_dir, sizeof lr->ckpt_dir, "%s", o->dir);
        BIENC_TRY(train_loop_resolve_resume(o->dir, to, log, resume_path, sizeof resume_path));
    }
    bienc_ckpt *ck = NULL;
    if (resume_path[0]) {
        BIENC_TRY(ckpt_open(&ck, resume_path));
        int rc = cross_io_read(ck, &T->ce);
        if (rc < 0) {
            ckpt_close(ck);
            return rc;
        }
    } else {
        BIENC_TRY(teacher_new_model(cfg, o, &T->ce));
    }
    int rc = teacher_data_load(&T->d, cfg);
    if (rc == 0) rc = teacher_run_alloc(T);
    if (rc == 0 && o->log) {
        const bienc_encoder_config *ec = &T->ce->enc->cfg;
        int K = (int)t->loss.hard_negatives, R = (int)t->random_negatives;
        int mined = !T->d.hn_first ? 0 : R < 0 ? (K + 1) / 2 : K - R;
        fprintf(o->log, "teacher: %lld labelled queries, %lld passages, %d negatives each (%d mined, %d random), %s, "
                        "cross-encoder %d x %d\n",
                (long long)T->d.n, (long long)texts_count(T->d.collection), K, mined, K - mined,
                t->loss.name == BIENC_LOSS_BCE ? "BCE" : "listwise cross entropy", ec->num_layers, ec->hidden_size);
    }
    int accum = (int)(t->optim.grad_accumulation > 0 ? t->optim.grad_accumulation : 1);
    int64_t batches_per_epoch = (T->d.n + T->B - 1) / (T->B > 0 ? T->B : 1);
    int64_t total = t->train.steps > 0 ? t->train.steps : t->train.epochs * ((batches_per_epoch + accum - 1) / accum);
    if (total < 1) total = 1;
    if (rc == 0) {
        train_model m = {.self = T, .params = T->ce->params, .n_params = T->ce->n_params,
                         .micro_loss = teacher_micro_loss, .save = teacher_save, .load_state = teacher_load_state};
        train_loop_opts lo = {.total_steps = total,
                              .log_every = t->train.log_every_steps > 0 ? t->train.log_every_steps : 10,
                              .ckpt_every = cfg->checkpoint.every_steps, .keep_last = cfg->checkpoint.keep_last,
                              .best_metric = BIENC_METRIC_MRR10, .seed = (uint64_t)t->train.seed,
                              .dropout_base = (uint64_t)t->train.seed, .ckpt_dir = o->dir, .what = "teacher ",
                              .o = to, .precision = train_precision(t->train.precision)};
        rc = train_loop_init(L, &m, &lo, &t->optim, &t->schedule, log, lr, ck);
    }
    ckpt_close(ck);
    if (rc == 0) rc = trainer_log_open(log, o->dir ? o->dir : NULL, resume_path[0] ? L->st.step : -1, to);
    log->prefix = "teacher ";
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
    if (t->model.kind != BIENC_MODEL_CROSS_ENCODER)
        return bienc_error(BIENC_EINVAL, "teacher.model.kind must be cross_encoder");
    int threads = o->threads > 0 ? o->threads : (int)t->train.threads;
    if (threads > 0) cpu_set_threads(threads);

    bienc_train_opts to;
    train_opts_default(&to);
    to.resume = o->resume;
    to.overwrite = o->overwrite;
    to.stop_at_step = o->stop_at_step;
    to.log = o->log;
    to.quiet = o->log == NULL;
    to.progress = 0;
    teacher_run T;
    memset(&T, 0, sizeof T);
    T.cfg = cfg;
    train_loop L;
    memset(&L, 0, sizeof L);
    trainer_log log;
    memset(&log, 0, sizeof log);
    log.out = o->log;
    log.prefix = "teacher ";
    bienc_train_result lr;
    memset(&lr, 0, sizeof lr);
    lr.final_loss = NAN;
    double t0 = os_now();
    int rc = teacher_setup_run(cfg, o, &T, &L, &log, &lr, &to);
    if (rc == 0) rc = train_loop_run(&L);
    lr.seconds = os_now() - t0;
    trainer_log_close(&log);
    train_loop_free(&L);
    if (rc == 0) fill_result(r, &lr, L.lo.log_every > 0 ? L.lo.log_every : 10);
    int lr_stopped = lr.stopped;
    r->stopped = lr.stopped;
    train_result_free(&lr);
    bienc_cross_encoder *ce = T.ce;
    T.ce = NULL;
    teacher_run_free(&T);
    if (rc == 0 && o->output && !lr_stopped) rc = cross_io_save(o->output, ce);
    if (rc == 0 && out) *out = ce;
    else cross_encoder_free(ce);
    if (r == &local) teacher_result_free(&local);
    return rc;
}
