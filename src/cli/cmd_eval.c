/* bienc eval: retrieval metrics of a TREC run against qrels, and agreement with a reference run. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc eval --run RUN.trec --qrels QRELS [options]\n\n"
            "Scores a TREC run (`qid Q0 docid rank score name`) against relevance judgments\n"
            "(TREC `qid 0 docid grade`, BEIR qrels/*.tsv with header, or `qid<TAB>docid[<TAB>grade]`)\n"
            "with trec_eval's definitions: MRR@10, nDCG@10 (graded gains), MAP@100,\n"
            "Recall@{1,5,10,100,1000}, Accuracy@{1,3,5,10}, Precision@{1,3,5,10}.\n"
            "Documents are ranked by score, ties by document id descending (trec_eval's rule);\n"
            "the rank column is ignored.\n\n"
            "options:\n"
            "  --run FILE                 the run to evaluate (required)\n"
            "  --qrels FILE               relevance judgments (required)\n"
            "  --reference FILE           a reference (teacher) run: report the share of its top-k\n"
            "                             that the run also ranks in its top-k, k = 1, 10, 100\n"
            "  --json FILE                write every metric (and counts, options) as JSON\n"
            "  --min-relevant-grade G     grade counted as relevant by the binary metrics (default 1,\n"
            "                             like trec_eval -l; TREC DL passage MAP/recall use 2).\n"
            "                             nDCG always uses every grade > 0 as its gain.\n"
            "  --complete                 like trec_eval -c: qrels queries absent from the run count\n"
            "                             as 0 (default: skipped, as trec_eval does)\n"
            "  --per-query                also print (and put in the JSON) each query's values\n"
            "Run queries without judgments are ignored; judged queries without a relevant document\n"
            "score 0 (both as trec_eval).\n");
}

static void eval_print(const bienc_eval_result *r, const bienc_agreement *a, const char *run_name, int per_query)
{
    printf("run %s: %zu queries evaluated (run %zu, qrels %zu", run_name, r->num_queries, r->num_run_queries,
           r->num_qrels_queries);
    if (r->num_missing_from_run)
        printf("; %zu judged queries not in the run: %s", r->num_missing_from_run,
               r->options.complete ? "counted as 0" : "skipped");
    if (r->num_unjudged_run_queries) printf("; %zu run queries without judgments: ignored", r->num_unjudged_run_queries);
    if (r->num_without_relevant) printf("; %zu without a relevant document", r->num_without_relevant);
    printf(")\nrelevant = grade >= %d\n\n%-14s %s\n", r->options.min_relevant_grade, "metric", "value");
    for (int k = 0; k < BIENC_METRIC_COUNT; k++) printf("%-14s %.4f\n", metrics_name(k), r->mean[k]);
    if (a) {
        printf("\nagreement with the reference (%zu queries", a->num_queries);
        if (a->num_missing_from_run) printf("; %zu not in the run", a->num_missing_from_run);
        printf("): share of its top-k also in the run's top-k\n");
        for (int j = 0; j < BIENC_AGREEMENT_NK; j++) {
            char name[32];
            snprintf(name, sizeof name, "agree@%d", bienc_agreement_ks[j]);
            printf("%-14s %.4f\n", name, a->recall[j]);
        }
    }
    if (per_query) {
        /* trec_eval -q style: one `metric qid value` line per query and metric. */
        printf("\n");
        for (size_t i = 0; i < r->num_queries; i++)
            for (int k = 0; k < BIENC_METRIC_COUNT; k++)
                printf("%-14s %s\t%.4f\n", metrics_name(k), r->per_query[i].qid, r->per_query[i].values[k]);
    }
}

int cmd_eval(int argc, char **argv)
{
    const char *run_path = NULL, *qrels_path = NULL, *ref_path = NULL, *json_path = NULL;
    int64_t grade = 1;
    int complete = 0, per_query = 0;
    for (int i = 1; i < argc; i++) {
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            eval_usage(stdout);
            return 0;
        }
        if ((rc = arg_string(argc, argv, &i, "--run", &run_path)) ||
            (rc = arg_string(argc, argv, &i, "--qrels", &qrels_path)) ||
            (rc = arg_string(argc, argv, &i, "--reference", &ref_path)) ||
            (rc = arg_string(argc, argv, &i, "--json", &json_path)) ||
            (rc = arg_int(argc, argv, &i, "--min-relevant-grade", 1, 1000000, &grade)) ||
            (rc = arg_flag(argv, i, "--complete", &complete)) || (rc = arg_flag(argv, i, "--per-query", &per_query))) {
            if (rc < 0) return 2;
            continue;
        }
        return arg_unknown("eval", argv[i]);
    }
    if (!run_path || !qrels_path) {
        fprintf(stderr, "bienc eval: --run and --qrels are required (see bienc eval --help)\n");
        return 2;
    }

    const char *inputs[] = {run_path, qrels_path, ref_path};
    if (json_path && atomic_file_check_inputs(json_path, inputs, 3) < 0) return cli_fail("eval");

    bienc_run *run = NULL, *ref = NULL;
    bienc_qrels *qrels = NULL;
    bienc_eval_result res = {0};
    bienc_agreement agree;
    bienc_eval_options opts = metrics_default_options();
    opts.min_relevant_grade = (int)grade;
    opts.complete = complete;
    int status = 1;
    if (run_read(run_path, &run) < 0 || qrels_read(qrels_path, &qrels) < 0 ||
        (ref_path && run_read(ref_path, &ref) < 0) || metrics_evaluate(run, qrels, &opts, &res) < 0 ||
        (ref && metrics_agreement(run, ref, complete, &agree) < 0)) {
        status = cli_fail("eval");
        goto done;
    }
    if (res.num_queries == 0) {
        /* trec_eval stops here too: the numbers would be meaningless. */
        bienc_error(BIENC_EINVAL, "no query of %s has judgments in %s (run queries %zu, judged queries %zu)",
                    run_path, qrels_path, res.num_run_queries, res.num_qrels_queries);
        status = cli_fail("eval");
        goto done;
    }
    eval_print(&res, ref ? &agree : NULL, run_name(run), per_query);
    if (json_path && metrics_write_json(json_path, &res, ref ? &agree : NULL, per_query) < 0) {
        status = cli_fail("eval");
        goto done;
    }
    status = 0;
done:
    metrics_result_free(&res);
    run_free(run);
    run_free(ref);
    qrels_free(qrels);
    return status;
}
