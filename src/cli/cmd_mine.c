/* bienc mine: hard negatives for training, mined from retrieval runs (BM25, the bi-encoder's
 * own index, ...), written as sentence-transformers' hard-negative JSON lines. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics.h"
#include "train/teacher.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "io/cross_io.h"

#define MINE_MAX_RUNS 16

static void mine_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc mine --run RUN.trec [--run RUN2.trec ...] --qrels QRELS --output NEGS.jsonl [options]\n\n"
            "Hard negatives from retrieval runs: for every judged query, the documents a run ranks\n"
            "high that the qrels do not mark relevant. Writes one JSON line per query,\n"
            "  {\"qid\": \"Q\", \"pos\": [\"P\"], \"neg\": {\"<run name>\": [\"N1\", ...], ...}}\n"
            "(sentence-transformers' msmarco-hard-negatives layout; train on it with\n"
            "data.format hard_negatives and data.hard_negatives_file).\n\n"
            "options:\n"
            "  --run FILE            a TREC run (repeat for several; a negative shared by two runs\n"
            "                        is kept under the first). Its name is the run's 6th column.\n"
            "  --qrels FILE          training qrels: the positives (never negatives)\n"
            "  --output FILE         the JSON lines (written atomically)\n"
            "  --range-min N         skip each run's top N ranks (default 0): likely unjudged positives\n"
            "  --range-max N         consider ranks below N only (default 100; 0 = all)\n"
            "  --num-negatives N     negatives per query and run (default 8; 0 = all in the range)\n"
            "  --sampling top|random the best-ranked candidates (default) or a seeded random sample\n"
            "  --seed S              seed of --sampling random (default 42)\n"
            "  --min-grade G         qrels grade that counts as relevant (default 1)\n"
            "  --teacher CK          false-negative guard: a cross-encoder checkpoint; a candidate the\n"
            "                        teacher scores above (best positive's score - margin) is dropped\n"
            "                        (needs --queries and --collection for the texts)\n"
            "  --margin M            the guard's margin in logits (default 0)\n"
            "  --queries FILE        query texts (TSV or BEIR .jsonl), with --teacher\n"
            "  --collection FILE     passage texts (TSV or BEIR .jsonl), with --teacher\n");
}

int cmd_mine(int argc, char **argv)
{
    const char *runs_path[MINE_MAX_RUNS], *qrels_path = NULL, *out = NULL, *teacher = NULL, *sampling = "top";
    const char *queries_path = NULL, *coll_path = NULL;
    int n_runs = 0;
    bienc_mine_opts o = mine_default_opts();
    int64_t rmin = o.range_min, rmax = o.range_max, nneg = o.num_negatives, seed = (int64_t)o.seed, grade = o.min_grade;
    double margin = o.margin;
    for (int i = 1; i < argc; i++) {
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            mine_usage(stdout);
            return 0;
        }
        const char *run = NULL;
        if ((rc = arg_string(argc, argv, &i, "--run", &run))) {
            if (rc < 0) return 2;
            if (n_runs == MINE_MAX_RUNS) {
                fprintf(stderr, "bienc mine: at most %d --run\n", MINE_MAX_RUNS);
                return 2;
            }
            runs_path[n_runs++] = run;
            continue;
        }
        if ((rc = arg_string(argc, argv, &i, "--qrels", &qrels_path)) ||
            (rc = arg_string(argc, argv, &i, "--output", &out)) ||
            (rc = arg_string(argc, argv, &i, "--teacher", &teacher)) ||
            (rc = arg_string(argc, argv, &i, "--queries", &queries_path)) ||
            (rc = arg_string(argc, argv, &i, "--collection", &coll_path)) ||
            (rc = arg_string(argc, argv, &i, "--sampling", &sampling)) ||
            (rc = arg_int(argc, argv, &i, "--range-min", 0, 1000000000, &rmin)) ||
            (rc = arg_int(argc, argv, &i, "--range-max", 0, 1000000000, &rmax)) ||
            (rc = arg_int(argc, argv, &i, "--num-negatives", 0, 1000000, &nneg)) ||
            (rc = arg_int(argc, argv, &i, "--seed", 0, INT64_MAX, &seed)) ||
            (rc = arg_int(argc, argv, &i, "--min-grade", 1, 1000000, &grade)) ||
            (rc = arg_float(argc, argv, &i, "--margin", &margin))) {
            if (rc < 0) return 2;
            continue;
        }
        return arg_unknown("mine", argv[i]);
    }
    if (n_runs == 0 || !qrels_path || !out) {
        fprintf(stderr, "bienc mine: --run, --qrels and --output are required (see bienc mine --help)\n");
        return 2;
    }
    if (strcmp(sampling, "top") != 0 && strcmp(sampling, "random") != 0) {
        fprintf(stderr, "bienc mine: --sampling is top or random, got '%s'\n", sampling);
        return 2;
    }
    if (teacher && (!queries_path || !coll_path)) {
        fprintf(stderr, "bienc mine: --teacher needs --queries and --collection (the texts it scores)\n");
        return 2;
    }
    const char *inputs[MINE_MAX_RUNS + 4] = {qrels_path, teacher, queries_path, coll_path};
    for (int r = 0; r < n_runs; r++) inputs[4 + r] = runs_path[r];
    if (atomic_file_check_inputs(out, inputs, (size_t)(4 + n_runs)) < 0) return cli_fail("mine");
    o.range_min = (int)rmin;
    o.range_max = (int)rmax;
    o.num_negatives = (int)nneg;
    o.random = strcmp(sampling, "random") == 0;
    o.seed = (uint64_t)seed;
    o.min_grade = (int)grade;
    o.margin = margin;

    bienc_run *runs[MINE_MAX_RUNS] = {0};
    bienc_qrels *qrels = NULL;
    bienc_teacher_scorer ts = {.batch_size = 64};
    int status = 1, rc = 0;
    for (int i = 0; rc == 0 && i < n_runs; i++) rc = run_read(runs_path[i], &runs[i]);
    if (rc == 0) rc = qrels_read(qrels_path, &qrels);
    if (rc == 0 && teacher) rc = cross_io_load(teacher, &ts.ce);
    if (rc == 0 && teacher) rc = cli_load_texts(queries_path, (struct bienc_texts **)&ts.queries);
    if (rc == 0 && teacher) rc = cli_load_texts(coll_path, (struct bienc_texts **)&ts.collection);
    int64_t rows = 0, negs = 0;
    if (rc == 0)
        rc = mine_hard_negatives(runs, n_runs, qrels, &o, teacher ? teacher_scorer_score : NULL, &ts, out, &rows, &negs);
    if (rc < 0) {
        status = cli_fail("mine");
    } else {
        printf("mined %lld negatives for %lld of %zu judged queries -> %s\n", (long long)negs, (long long)rows,
               qrels_num_queries(qrels), out);
        status = 0;
    }
    for (int i = 0; i < n_runs; i++) run_free(runs[i]);
    qrels_free(qrels);
    cross_encoder_free(ts.ce);
    texts_free((bienc_texts *)ts.queries);
    texts_free((bienc_texts *)ts.collection);
    return status;
}
