/* Retrieval evaluation: relevance judgments (qrels), ranked runs (TREC run files) and the
 * metrics computed from them, with the definitions of trec_eval (the reference for TREC and
 * MS MARCO numbers) and sentence-transformers' InformationRetrievalEvaluator.
 *
 * Ranking rule (everywhere: metrics, agreement, run_write): a query's documents are ordered by
 * score descending, ties broken by document id in *descending* byte order (strcmp). This is
 * trec_eval's rule (form_res_rels.c, comp_sim_docno); the rank column of a run file is
 * ignored, as trec_eval ignores it. sentence-transformers orders by score only (ties in
 * arbitrary order), so on runs without tied scores the two agree.
 *
 * Definitions (rel = grade >= min_relevant_grade, default 1, like trec_eval -l):
 *   mrr@10        1/rank of the first rel document within the top 10, else 0
 *                 (trec_eval recip_rank on the run cut to 10 = MS MARCO's MRR@10 = ST's mrr@10).
 *   ndcg@10       trec_eval ndcg_cut.10: gain = the grade itself (linear, any grade > 0,
 *                 independent of min_relevant_grade), discount log2(rank + 1), ideal DCG from
 *                 all judged documents of the query sorted by grade. ST uses binary gains, so
 *                 the two differ on graded qrels only.
 *   map@100       trec_eval map_cut.100: sum over rel documents in the top 100 of precision at
 *                 their rank, divided by the number of rel documents of the query (ST divides
 *                 by min(100, that number): the two differ for queries with > 100 rel docs).
 *   recall@k      rel documents in the top k / rel documents of the query (k = 1,5,10,100,1000).
 *   precision@k   rel documents in the top k / k (k = 1,3,5,10; a short run counts as padded
 *                 with non-relevant documents, as in trec_eval P.k and ST).
 *   accuracy@k    1 when any rel document is in the top k (ST accuracy@k = trec_eval success.k).
 * Queries: like trec_eval, only queries present in both the qrels and the run are averaged;
 * run queries absent from the qrels are ignored (counted in num_unjudged_run_queries); qrels
 * queries absent from the run are skipped unless `complete` (trec_eval -c), in which case they
 * count as 0 for every metric. A judged query with no rel document is evaluated and scores 0
 * on the binary metrics (trec_eval does the same; ST would divide by zero). Unjudged documents
 * are non-relevant. Duplicate (query, document) pairs are an error in runs and qrels (trec_eval
 * refuses them too). Mean over queries in qrels order, summed in that fixed order. */
#ifndef BIENC_METRICS_H
#define BIENC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/kinds.h"

/* ---- qrels ---------------------------------------------------------------------------- */

typedef struct bienc_qrels bienc_qrels;

/* Reads relevance judgments, the format detected from the first data line:
 *   TREC      `qid iter docid grade` (4 fields, spaces or tabs)
 *   BEIR      `query-id\tcorpus-id\tscore` header line, then `qid\tdocid\tgrade`
 *   3-column  `qid\tdocid\tgrade`;  2-column `qid\tdocid` (grade 1)
 * Grades are integers (graded relevance kept; negative = judged non-relevant). Blank lines are
 * skipped; CRLF is accepted. A malformed line, a line with another field count than the first
 * or a repeated (qid, docid) is a BIENC_EFORMAT error naming file:line. */
int qrels_read(const char *path, bienc_qrels **out);
int qrels_new(bienc_qrels **out);
/* Adds one judgment; a repeated (qid, docid) pair is BIENC_EINVAL. */
int qrels_add(bienc_qrels *q, const char *qid, const char *docid, int grade);
void qrels_free(bienc_qrels *q);

size_t qrels_num_queries(const bienc_qrels *q);
size_t qrels_num_judgments(const bienc_qrels *q);
/* i-th query id in first-seen order. */
const char *qrels_query_id(const bienc_qrels *q, size_t i);
/* 1 and *grade when (qid, docid) is judged, 0 when not. */
int qrels_lookup(const bienc_qrels *q, const char *qid, const char *docid, int *grade);
/* The judgments of the i-th query (qrels_query_id order): their count, the document ids and
 * grades in file order (views owned by q). */
size_t qrels_query_judgments(const bienc_qrels *q, size_t i, const char *const **docids, const int **grades);
/* Index (qrels_query_id order) of the query whose id is qid[0, len), or -1 when unjudged. */
long qrels_find_query(const bienc_qrels *q, const char *qid, size_t len);
/* Documents of query qid with grade >= min_grade (0 when the query is unknown). */
size_t qrels_count_relevant(const bienc_qrels *q, const char *qid, int min_grade);

/* ---- runs ----------------------------------------------------------------------------- */

typedef struct bienc_run bienc_run;

/* Reads a TREC run: `qid Q0 docid rank score run_name`, whitespace separated, exactly six
 * fields; rank an integer, score a finite number; `#` comment and blank lines skipped.
 * Validation errors (BIENC_EFORMAT) name file:line; a (qid, docid) listed twice names both
 * lines. The run comes back sorted by the ranking rule above; its name is the first line's. */
int run_read(const char *path, bienc_run **out);
int run_new(bienc_run **out, const char *name);
/* Appends a scored document (score must be finite). Duplicates are found by run_sort(). */
int run_add(bienc_run *r, const char *qid, const char *docid, double score);
/* Orders every query by the ranking rule; BIENC_EINVAL naming the pair on a duplicate.
 * Cheap when already sorted. */
int run_sort(bienc_run *r);
/* Sorts, then writes `qid Q0 docid rank score name` with ranks 1..n, queries in first-seen
 * order, scores printed so that they read back to the same double. */
int run_write(bienc_run *r, const char *path);
/* Keeps the top k documents of every query (sorts first). */
int run_truncate(bienc_run *r, size_t k);
void run_free(bienc_run *r);

const char *run_name(const bienc_run *r);
size_t run_num_queries(const bienc_run *r);
size_t run_num_entries(const bienc_run *r);
const char *run_query_id(const bienc_run *r, size_t qi);
/* Index of query qid, or -1. */
long run_find_query(const bienc_run *r, const char *qid);
size_t run_query_size(const bienc_run *r, size_t qi);
/* After run_sort(): the document at 0-based rank in query qi, and its score. */
const char *run_doc_id(const bienc_run *r, size_t qi, size_t rank);
double run_doc_score(const bienc_run *r, size_t qi, size_t rank);

/* ---- fusion of runs (hybrid retrieval) ------------------------------------------------- */

typedef struct bienc_fusion_opts {
    bienc_fusion method;
    double rrf_k;          /* RRF's constant (60, as Cormack et al.) */
    const double *weights; /* one per run, NULL = all 1 */
    int depth;             /* ranks of each run taken (0 = all) */
    int k;                 /* ranks written per query (0 = all) */
} bienc_fusion_opts;

/* {RRF, rrf_k 60, weights NULL, depth 0, k 0}. */
bienc_fusion_opts fusion_default_opts(void);
/* Fuses n >= 1 runs into *out (named name): every query of any run, every document ranked by
 * any; a document missing from a run adds nothing from it (for LINEAR: the run's minimum).
 * Ties are broken by document id (run_sort's rule), so the result is deterministic. */
int run_fuse(bienc_run *const *runs, int n, const bienc_fusion_opts *o, const char *name, bienc_run **out);

/* ---- hard-negative mining from runs ----------------------------------------------------- */

typedef struct bienc_mine_opts {
    int range_min;       /* skip the top range_min ranks of each run (likely unjudged positives) */
    int range_max;       /* consider ranks below range_max only (0 = all) */
    int num_negatives;   /* per query and run (0 = every candidate in the range) */
    int random;          /* 0: the highest-ranked candidates; 1: a seeded random sample of them */
    uint64_t seed;
    int min_grade;       /* qrels grade that counts as positive (1) */
    /* false-negative guard: drop a candidate whose guard score (e.g. a cross-encoder's,
     * see teacher_guard_scores) is above the query's best positive score minus margin */
    double margin;
} bienc_mine_opts;

/* {range_min 0, range_max 100, num_negatives 8, random 0, seed 42, min_grade 1, margin 0}. */
bienc_mine_opts mine_default_opts(void);

/* Optional guard: scores (query text, passage) pairs; fills scores[n]. */
typedef int (*bienc_mine_scorer)(void *ctx, const char *qid, const char *const *pids, int n, float *scores);

/* Writes sentence-transformers' hard-negative JSON lines to path (atomically):
 *   {"qid": "Q", "pos": ["P", ...], "neg": {"<run name>": ["N", ...], ...}}
 * one line per qrels query (qrels order) that has a positive and at least one negative;
 * negatives are run documents that are not judged relevant for the query (any grade >=
 * min_grade), deduplicated across runs (the first run keeps a shared one). With a scorer,
 * candidates scoring within margin of the best positive are dropped as likely false
 * negatives. *n_rows / *n_negs count what was written (may be NULL). */
int mine_hard_negatives(bienc_run *const *runs, int n_runs, const bienc_qrels *qrels, const bienc_mine_opts *o,
                        bienc_mine_scorer scorer, void *scorer_ctx, const char *path, int64_t *n_rows,
                        int64_t *n_negs);

/* ---- metrics (enum bienc_metric: src/core/kinds.h) ---------------------------------- */

/* "mrr@10", "ndcg@10", "map@100", "recall@1", ..., "accuracy@1", ..., "precision@10". */
const char *metrics_name(int metric);

typedef struct bienc_eval_options {
    int min_relevant_grade; /* >= 1; 1 like trec_eval; TREC DL passage MAP/recall use 2 */
    int complete;           /* 1 = trec_eval -c: qrels queries missing from the run count 0 */
} bienc_eval_options;

/* {min_relevant_grade = 1, complete = 0}: trec_eval's defaults. */
bienc_eval_options metrics_default_options(void);

typedef struct bienc_query_metrics {
    char *qid;
    size_t num_relevant;  /* judged documents with grade >= min_relevant_grade */
    size_t num_retrieved; /* 0 for a qrels query missing from the run */
    double values[BIENC_METRIC_COUNT];
} bienc_query_metrics;

typedef struct bienc_eval_result {
    bienc_eval_options options;
    double mean[BIENC_METRIC_COUNT];
    size_t num_queries;              /* queries averaged over */
    size_t num_qrels_queries;
    size_t num_run_queries;
    size_t num_missing_from_run;     /* qrels queries absent from the run (0 if complete, else skipped) */
    size_t num_unjudged_run_queries; /* run queries absent from the qrels: ignored */
    size_t num_without_relevant;     /* averaged queries with no rel document */
    bienc_query_metrics *per_query;  /* num_queries entries, qrels order */
} bienc_eval_result;

/* Evaluates run (sorted in place) against qrels. A run sharing no query with the qrels gives
 * num_queries == 0 and means of 0 (the caller decides whether that is an error). */
int metrics_evaluate(bienc_run *run, const bienc_qrels *qrels, const bienc_eval_options *opts,
                     bienc_eval_result *out);
void metrics_result_free(bienc_eval_result *r);

/* ---- agreement with a reference (teacher) run ----------------------------------------- */

#define BIENC_AGREEMENT_NK 3
extern const int bienc_agreement_ks[BIENC_AGREEMENT_NK]; /* {1, 10, 100} */

typedef struct bienc_agreement {
    /* mean over queries of |top-k(run) ∩ top-k(reference)| / |top-k(reference)| */
    double recall[BIENC_AGREEMENT_NK];
    size_t num_queries;          /* reference queries averaged over */
    size_t num_missing_from_run; /* reference queries absent from the run (0 if complete, else skipped) */
} bienc_agreement;

/* Teacher agreement: how much of the reference's top-k this run also puts in its top-k.
 * Queries: those of the reference, with the same `complete` rule as metrics_evaluate();
 * reference queries with no documents are skipped. Both runs are sorted in place. */
int metrics_agreement(bienc_run *run, bienc_run *reference, int complete, bienc_agreement *out);

/* ---- report --------------------------------------------------------------------------- */

/* Writes every mean (and, with per_query, each query's values) as JSON; agreement may be NULL. */
int metrics_write_json(const char *path, const bienc_eval_result *r, const bienc_agreement *agreement,
                       int per_query);

#endif
