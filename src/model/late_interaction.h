/* Late interaction (ColBERT, Khattab & Zaharia 2020): a bi-encoder whose texts keep one
 * vector per token, scored by MaxSim,
 *
 *     score(q, p) = 1/|q| * sum over the query's tokens a of max over the passage's tokens b
 *                   of cos(h_a, h_b),
 *
 * so every query token finds its best match in the passage (exact and near matches of
 * rare words count, as they do for BM25) while both sides are still encoded alone. The
 * model is a bienc_biencoder with late_interaction set: the same encoder, tokenizer and
 * checkpoint layout (model/kind "late_interaction", src/io/model_io.h), no pooling and
 * no projection, so a trained bi-encoder's weights start one directly. It has no single
 * vector per text, hence no HNSW index: it reranks candidate lists (the teacher of
 * `bienc run`, `bienc rerank`).
 *
 * Training: MultipleNegativesRankingLoss over the MaxSim scores of each query against the
 * batch's passages (its positive, the others' positives and the hard negatives). */
#ifndef BIENC_LATE_INTERACTION_H
#define BIENC_LATE_INTERACTION_H

#include <stddef.h>
#include <stdint.h>

#include "model/biencoder.h"

/* scores[nq, np] = scale * MaxSim of every query of qb against every passage of pb, on
 * `tape` (training: dropout from dropout_key, key + 1 for the passages). */
int late_scores(bienc_biencoder *bi, bienc_tape *tape, const bienc_batch_ids *qb, const bienc_batch_ids *pb,
                int training, uint64_t dropout_key, float scale, bienc_tensor **scores);

/* Inference: scores[k] = MaxSim(q[k], p[k]) of n (query, passage) pairs, texts given by
 * pointer and length (NULL lens: NUL-terminated). Each distinct text (same pointer and
 * length) is encoded once: the queries of a window of pairs first (their token rows
 * stay, see late_set_query_budget), then the window's passages, a batch of batch_size
 * (<= 0: 128) at a time, each against the queries it is paired with (a reranked run
 * repeats popular passages across queries: 2.5x on the Debian dev split). No-grad tape
 * of `precision` (fp32, bf16 or int8; a caller resolves auto). The thread count does not
 * change the scores; batch_size only in the last bits (OpenBLAS's blocking). */
int late_score_pairs(bienc_biencoder *bi, bienc_precision precision, const char *const *q, const size_t *qlens,
                     const char *const *p, const size_t *plens, int64_t n, int batch_size, float *scores);

/* The query token rows late_score_pairs keeps at once, in floats (<= 0: the default, 32M
 * = 128 MB): a longer list of pairs is scored in windows of as many distinct queries as
 * fit at max_query_len tokens. Returns the previous budget (tests cross windows with it). */
int64_t late_set_query_budget(int64_t floats);

#endif
