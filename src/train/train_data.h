/* The training data of a run config's data section (src/train/trainer_data.c): the
 * readers' stores, the training tuples over them, and a vocabulary trained on their texts.
 * Shared by everything that trains or evaluates from a run config (trainer, teacher,
 * pipeline). */
#ifndef BIENC_TRAIN_DATA_H
#define BIENC_TRAIN_DATA_H

#include <stdint.h>
#include <stdio.h>

#include "data/batch.h"
#include "data/data.h"
#include "io/config.h"
#include "text/tokenizer.h"

/* Training data: the readers' stores and the tuples over them. */
typedef struct trainer_data {
    bienc_texts *collection, *queries;
    bienc_triples *triples;
    bienc_hardnegs *hardnegs;
    bienc_tuples *tuples;
} trainer_data;

/* Relevant (grade >= 1) (qid, docid) pairs of a qrels file (qrels_read), query by query. */
typedef struct trainer_qrels_pairs {
    char **qid, **pid;
    int64_t n;
} trainer_qrels_pairs;
int trainer_qrels_pairs_read(trainer_qrels_pairs *p, const char *path);
void trainer_qrels_pairs_free(trainer_qrels_pairs *p);
/* texts_load_tsv, or texts_load_jsonl for .jsonl paths. */
int trainer_load_texts(bienc_texts **out, const char *path, const bienc_read_opts *ro);

int trainer_data_load(trainer_data *d, const bienc_run_config *cfg, FILE *log);
void trainer_data_free(trainer_data *d);
/* A WordPiece vocabulary trained on the training texts (tokenizer.train.*). */
int trainer_train_vocab(const trainer_data *d, const bienc_run_config *cfg, bienc_tokenizer **out);

#endif
