/* Internal to src/eval: the layouts of qrels and runs, shared by the readers and metrics. */
#ifndef BIENC_EVAL_INTERNAL_H
#define BIENC_EVAL_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "eval/metrics.h"
#include "eval/strmap.h"

typedef struct qrels_query {
    const char *qid; /* owned by bienc_qrels.qmap's pool */
    int *grades;     /* every judgment's grade, in file order */
    const char **docids; /* the judged documents, same order (owned by bienc_qrels.pairs' pool) */
    size_t n, cap;
} qrels_query;

struct bienc_qrels {
    strmap qmap;          /* qid -> index in queries */
    qrels_query *queries; /* first-seen order */
    size_t nq, capq;
    strmap pairs;         /* "qid\0docid" -> (line << 32) | (uint32_t)grade */
    size_t nj;
    char *key;            /* scratch for building pair keys */
    size_t key_cap;
};

/* Internal form of qrels_add() that records the source line (0 when none) and, on a repeat,
 * returns 1 with the first line in *first_line instead of failing. */
int qrels_add_line(bienc_qrels *q, const char *qid, const char *docid, int grade, long line, long *first_line);

typedef struct run_entry {
    const char *docid; /* owned by bienc_run.docs */
    double score;
    long line;         /* source line, 0 when added by run_add() */
} run_entry;

typedef struct run_query {
    const char *qid;   /* owned by bienc_run.qmap's pool */
    run_entry *e;
    size_t n, cap;
    int sorted;
} run_query;

struct bienc_run {
    char *name;
    strmap qmap;       /* qid -> index in queries */
    run_query *queries;
    size_t nq, capq;
    size_t last;       /* query of the previous run_add (runs come grouped by query) */
    strpool docs;
    size_t nentries;
    const char *path;  /* while reading: names the file in duplicate errors */
};

int run_add_line(bienc_run *r, const char *qid, const char *docid, double score, long line);

#endif
