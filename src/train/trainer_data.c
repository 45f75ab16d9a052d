/* The trainer's data: the stores of data.format, the training tuples over them, and a
 * vocabulary trained on the training texts when the config names none. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics.h"
#include "train/trainer_internal.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* collection.tsv / queries.tsv, or BEIR's .jsonl. */
int trainer_load_texts(bienc_texts **out, const char *path, const bienc_read_opts *ro)
{
    if (ends_with(path, ".jsonl") || ends_with(path, ".json")) return texts_load_jsonl(out, path, ro, NULL);
    return texts_load_tsv(out, path, ro, NULL);
}

void trainer_qrels_pairs_free(trainer_qrels_pairs *p)
{
    if (!p) return;
    for (int64_t i = 0; i < p->n; i++) {
        free(p->qid[i]);
        free(p->pid[i]);
    }
    free(p->qid);
    free(p->pid);
    memset(p, 0, sizeof *p);
}

static int push_pair(trainer_qrels_pairs *p, const char *q, size_t ql, const char *d, size_t dl, int64_t *cap)
{
    if (p->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 1024;
        char **a = realloc(p->qid, (size_t)nc * sizeof *a);
        if (!a) return bienc_error(BIENC_ENOMEM, "out of memory");
        p->qid = a;
        char **b = realloc(p->pid, (size_t)nc * sizeof *b);
        if (!b) return bienc_error(BIENC_ENOMEM, "out of memory");
        p->pid = b;
        *cap = nc;
    }
    p->qid[p->n] = strndup(q, ql);
    p->pid[p->n] = strndup(d, dl);
    if (!p->qid[p->n] || !p->pid[p->n]) {
        free(p->qid[p->n]);
        free(p->pid[p->n]);
        return bienc_error(BIENC_ENOMEM, "out of memory");
    }
    p->n++;
    return 0;
}

/* The relevant (grade >= 1) pairs of a qrels file, read and validated by qrels_read (the one
 * qrels reader, src/eval/qrels.c), listed query by query (first-seen order), each query's
 * documents in file order. */
int trainer_qrels_pairs_read(trainer_qrels_pairs *p, const char *path)
{
    memset(p, 0, sizeof *p);
    bienc_qrels *q = NULL;
    BIENC_TRY(qrels_read(path, &q));
    int64_t cap = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < qrels_num_queries(q); i++) {
        const char *qid = qrels_query_id(q, i);
        const char *const *docs;
        const int *grades;
        size_t n = qrels_query_judgments(q, i, &docs, &grades);
        for (size_t j = 0; rc == 0 && j < n; j++)
            if (grades[j] >= 1) rc = push_pair(p, qid, strlen(qid), docs[j], strlen(docs[j]), &cap);
    }
    qrels_free(q);
    if (rc < 0) trainer_qrels_pairs_free(p);
    return rc;
}

int trainer_data_load(trainer_data *d, const bienc_run_config *cfg, FILE *log)
{
    memset(d, 0, sizeof *d);
    const bienc_cfg_data *c = &cfg->data;
    bienc_read_opts ro = {.skip_malformed = c->skip_malformed, .numeric_ids = 0};
    int64_t skipped = 0;
    switch (c->format) {
    case BIENC_DATA_DEBIAN:
    case BIENC_DATA_MSMARCO_TRIPLES:
        BIENC_TRY(triples_load(&d->triples, c->triples, 0, &ro, NULL));
        BIENC_TRY(tuples_from_triples(&d->tuples, d->triples));
        /* the collection is the eval corpus; load it once here */
        if (c->collection && c->dev_queries && c->dev_qrels) BIENC_TRY(trainer_load_texts(&d->collection, c->collection, &ro));
        break;
    case BIENC_DATA_MSMARCO_IDS:
        BIENC_TRY(trainer_load_texts(&d->collection, c->collection, &ro));
        BIENC_TRY(trainer_load_texts(&d->queries, c->queries, &ro));
        BIENC_TRY(triples_load(&d->triples, c->triples, 1, &ro, NULL));
        BIENC_TRY(tuples_from_id_triples(&d->tuples, d->triples, d->queries, d->collection, c->skip_malformed, &skipped));
        break;
    case BIENC_DATA_BEIR: {
        BIENC_TRY(trainer_load_texts(&d->collection, c->collection, &ro));
        BIENC_TRY(trainer_load_texts(&d->queries, c->queries, &ro));
        trainer_qrels_pairs p;
        BIENC_TRY(trainer_qrels_pairs_read(&p, c->qrels));
        int rc = tuples_from_pairs(&d->tuples, d->queries, d->collection, (const char *const *)p.qid,
                                   (const char *const *)p.pid, p.n, 1, &skipped);
        trainer_qrels_pairs_free(&p);
        BIENC_TRY(rc);
        break;
    }
    case BIENC_DATA_HARD_NEGATIVES:
        BIENC_TRY(trainer_load_texts(&d->collection, c->collection, &ro));
        BIENC_TRY(trainer_load_texts(&d->queries, c->queries, &ro));
        BIENC_TRY(hardnegs_load(&d->hardnegs, c->hard_negatives_file, NULL, &ro, NULL));
        BIENC_TRY(tuples_from_hardnegs(&d->tuples, d->hardnegs, d->queries, d->collection,
                                       (int)(cfg->loss.hard_negatives > 0 ? cfg->loss.hard_negatives : 1),
                                       c->skip_malformed, &skipped));
        break;
    default:
        return bienc_error(BIENC_EINVAL, "data.format %d is not supported by the trainer", c->format);
    }
    if (skipped && log) fprintf(log, "data: skipped %lld training examples with unknown ids\n", (long long)skipped);
    if (c->max_examples > 0 && c->max_examples < tuples_count(d->tuples)) {
        if (log)
            fprintf(log, "data: using the first %lld of %lld training examples (data.max_examples)\n",
                    (long long)c->max_examples, (long long)tuples_count(d->tuples));
        tuples_keep_first(d->tuples, c->max_examples);
    }
    if (tuples_count(d->tuples) < 2)
        return bienc_error(BIENC_EINVAL, "data: %lld training examples; need at least 2",
                           (long long)tuples_count(d->tuples));
    return 0;
}

void trainer_data_free(trainer_data *d)
{
    if (!d) return;
    tuples_free(d->tuples);
    triples_free(d->triples);
    hardnegs_free(d->hardnegs);
    texts_free(d->queries);
    texts_free(d->collection);
    memset(d, 0, sizeof *d);
}

int trainer_train_vocab(const trainer_data *d, const bienc_run_config *cfg, bienc_tokenizer **out)
{
    vocab_train_options o;
    vocab_train_defaults(&o);
    o.vocab_size = (int)cfg->tokenizer.train_size;
    o.min_frequency = (int)cfg->tokenizer.train_min_frequency;
    o.do_lower_case = cfg->tokenizer.lower_case;
    vocab_trainer *vt;
    BIENC_TRY(vocab_trainer_new(&vt, &o));
    int rc = 0;
    int64_t n = tuples_count(d->tuples);
    int slots = 2 + tuples_n_neg(d->tuples);
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        /* queries and positives: each text once per tuple; negatives are other tuples'
         * passages in most data sets and would count twice */
        for (int s = 0; rc == 0 && s < (slots > 2 ? 2 : slots); s++) {
            const char *t;
            size_t len;
            rc = tuples_text(d->tuples, i, s, &t, &len);
            if (rc == 0) rc = vocab_trainer_feed(vt, t, len);
        }
    }
    if (rc == 0) rc = vocab_trainer_finish(vt, out);
    vocab_trainer_free(vt);
    return rc;
}
