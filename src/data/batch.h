/* Batching for contrastive training:
 *
 *   readers (data.h) --> tuples (query, positive, negatives...) --sampler--> tuple indices
 *                    --batch_build (tokenize, pack)--> bienc_batch --> encoder
 *
 * Tuples borrow the stores they were built from (texts, triples): keep those alive.
 *
 * The sampler shuffles the tuples once per epoch from (seed, epoch) and cuts the order into
 * batches. With no_duplicates it follows sentence-transformers' NoDuplicatesDataLoader /
 * NoDuplicatesBatchSampler: no text (compared after strip() and ASCII lower-casing) occurs
 * twice in a batch, so every in-batch negative of MultipleNegativesRankingLoss is a true
 * negative. A tuple that would repeat a text is deferred to a later batch of the same epoch
 * (not dropped, unlike the v2 DataLoader); deferred tuples are tried first in the next batch.
 *
 * An epoch's batches are a pure function of (tuples, batch_size, flags, seed, epoch), so
 * the sampler state is three integers (seed, epoch, batches done): saving them in a
 * checkpoint and restoring gives exactly the same next batches. */
#ifndef BIENC_BATCH_H
#define BIENC_BATCH_H

#include <stdint.h>

#include "data/data.h"
#include "text/tokenizer.h"

/* ---- tuples ---- */
typedef struct bienc_tuples bienc_tuples;

/* Text triples: one tuple per row (query, positive, one negative). */
int tuples_from_triples(bienc_tuples **out, const bienc_triples *triples);
/* Id triples (qid, pos pid, neg pid) resolved against queries and collection; an unknown id
 * is an error naming the triples file and line, or a counted skip (*n_skipped) when
 * skip_missing. n_skipped may be NULL. */
int tuples_from_id_triples(bienc_tuples **out, const bienc_triples *triples, const bienc_texts *queries,
                           const bienc_texts *collection, int skip_missing, int64_t *n_skipped);
/* (qid, pid) relevant pairs (from qrels) as (query, positive) tuples without negatives. */
int tuples_from_pairs(bienc_tuples **out, const bienc_texts *queries, const bienc_texts *collection,
                      const char *const *qids, const char *const *pids, int64_t n, int skip_missing,
                      int64_t *n_skipped);
/* Hard negatives: per row, the query, its first positive and its first n_neg negatives found
 * in the collection. Rows with fewer than n_neg such negatives, or whose query or positive
 * is unknown, are skipped when skip_missing (counted), else an error naming file and line. */
int tuples_from_hardnegs(bienc_tuples **out, const bienc_hardnegs *h, const bienc_texts *queries,
                         const bienc_texts *collection, int n_neg, int skip_missing, int64_t *n_skipped);
void tuples_free(bienc_tuples *t);

int64_t tuples_count(const bienc_tuples *t);
/* Teacher margins (MarginMSELoss): whether the tuples came from scored triples, and
 * tuple i's margin score(q,pos) - score(q,neg). */
int tuples_has_margins(const bienc_tuples *t);
float tuples_margin(const bienc_tuples *t, int64_t i);
/* Keeps only the first n tuples (file order), like selecting range(n) of a dataset. */
void tuples_keep_first(bienc_tuples *t, int64_t n);
/* Negatives per tuple (the same for all tuples). */
int tuples_n_neg(const bienc_tuples *t);
/* Text of tuple i: slot 0 query, 1 positive, 2 + j negative j. */
int tuples_text(const bienc_tuples *t, int64_t i, int slot, const char **s, size_t *len);

/* ---- sampler ---- */
typedef struct bienc_sampler bienc_sampler;

typedef struct bienc_sampler_state {
    uint64_t seed;
    int64_t epoch;     /* 0-based; the epoch of the next batch */
    int64_t batch;     /* batches of that epoch already produced (after an epoch's last batch: next epoch, 0) */
} bienc_sampler_state;

/* use_negatives: whether the negatives of a tuple take part in the duplicate check (set it
 * when the batches will carry them). drop_last: drop an epoch's last, incomplete batch. */
int sampler_new(bienc_sampler **out, const bienc_tuples *t, int batch_size, int no_duplicates, int use_negatives,
                int drop_last, uint64_t seed);
void sampler_free(bienc_sampler *s);

/* Writes the next batch's tuple indices into idx[0..batch_size) and their count into *n
 * (always > 0). Crosses into the next epoch by itself: *epoch_out (may be NULL) tells which
 * epoch the batch belongs to. */
int sampler_next(bienc_sampler *s, int64_t *idx, int *n, int64_t *epoch_out);
/* Batches in the epoch of the next batch (exact: an epoch is planned when it starts). */
int64_t sampler_batches_per_epoch(const bienc_sampler *s);

void sampler_get_state(const bienc_sampler *s, bienc_sampler_state *st);
/* Jumps to a saved state (re-plans that epoch; cost about one epoch's duplicate checks). */
int sampler_set_state(bienc_sampler *s, const bienc_sampler_state *st);

/* ---- tokenized, packed batches ---- */
typedef struct bienc_batch_opts {
    int max_query_len;     /* tokens including [CLS] and [SEP] (e.g. 32..64) */
    int max_passage_len;   /* e.g. 128..256; at most the model's max_position_embeddings */
    int n_neg;             /* negatives per tuple to include: 0 .. tuples_n_neg() */
} bienc_batch_opts;

/* Sequences packed without padding: sequence s is ids[offsets[s] .. offsets[s+1]) (the
 * model wraps n and offsets in a bienc_seqs, src/ops/ops.h). */
typedef struct bienc_token_batch {
    int32_t *ids;          /* [T] */
    int32_t *type_ids;     /* [T], all 0 (single texts) */
    int *offsets;          /* [n + 1] */
    int n;                 /* sequences */
    int64_t T;
    int64_t cap_T, cap_n;  /* internal */
} bienc_token_batch;

typedef struct bienc_batch {
    int n;                 /* tuples in the batch */
    int n_neg;             /* negatives per tuple */
    int64_t *example;      /* [n] tuple indices */
    bienc_token_batch queries;   /* n sequences */
    /* n * (1 + n_neg) sequences in sentence-transformers' MNRL order: the n positives, then
     * the first negative of every tuple, then the second, ...: sequence j*n + i is slot
     * j (0 = positive) of tuple i, so the target of query i is passage i. */
    bienc_token_batch passages;
    int64_t cap_n;         /* internal */
    int32_t *scratch;      /* internal */
    int *scratch_len;
    int64_t cap_scratch, cap_scratch_len;
} bienc_batch;

/* Zero-initialise a bienc_batch (= {0}) before the first build; buffers are reused by later
 * builds and released by batch_free. Tokenizes the n tuples idx[0..n) with OpenMP: the
 * result does not depend on the thread count. */
int batch_build(bienc_batch *b, const bienc_tuples *t, const int64_t *idx, int n, const bienc_tokenizer *tok,
                const bienc_batch_opts *o);
void batch_free(bienc_batch *b);

#endif
