/* The dev-set rule, one for every evaluation during and after training (the trainer's dev
 * evaluation, `bienc run`'s dev runs): a dev query takes part when it has a relevant
 * (grade >= 1) passage present in the collection; queries are taken in the order of the
 * queries file, at most max_queries of them (<= 0: all). A query whose relevant passages are
 * all missing from the collection could only ever score 0, so it is left out. */
#ifndef BIENC_DEV_SET_H
#define BIENC_DEV_SET_H

#include <stdint.h>

#include "data/data.h"
#include "eval/metrics.h"

/* Sets qmark[i] = 1 for each selected query row i of `queries` (qmark holds
 * texts_count(queries) bytes, zeroed by the caller) and returns how many were selected. */
int64_t dev_set_select(const bienc_qrels *qrels, const bienc_texts *queries, const bienc_texts *collection,
                       int64_t max_queries, unsigned char *qmark);

/* Marks in pmark (texts_count(collection) bytes) the collection rows relevant to a selected
 * query (qmark from dev_set_select). */
void dev_set_mark_relevant(const bienc_qrels *qrels, const bienc_texts *queries, const unsigned char *qmark,
                           const bienc_texts *collection, unsigned char *pmark);

#endif
