/* Evaluation results as JSON (means, counts, options, agreement, optional per-query values). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/json.h"
#include "eval/metrics.h"
#include "core/atomic_file.h"
#include "eval/eval_internal.h"

/* Enough digits to read back the same double; short when the value allows it. */
static void json_number(FILE *f, double v)
{
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

static void json_metrics(FILE *f, const double *values, const char *indent)
{
    fputs("{", f);
    for (int k = 0; k < BIENC_METRIC_COUNT; k++) {
        fprintf(f, "%s\n%s  \"%s\": ", k ? "," : "", indent, metrics_name(k));
        json_number(f, values[k]);
    }
    fprintf(f, "\n%s}", indent);
}

int metrics_write_json(const char *path, const bienc_eval_result *r, const bienc_agreement *agreement,
                       int per_query)
{
    if (!path || !r) return bienc_error(BIENC_EINVAL, "metrics_write_json: NULL argument");
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, path));
    FILE *f = out.f;
    fputs("{\n  \"definitions\": \"trec_eval (see src/eval/metrics.h)\",\n", f);
    fprintf(f, "  \"options\": {\"min_relevant_grade\": %d, \"complete\": %s},\n", r->options.min_relevant_grade,
            r->options.complete ? "true" : "false");
    fprintf(f, "  \"num_queries\": %zu,\n  \"num_qrels_queries\": %zu,\n  \"num_run_queries\": %zu,\n",
            r->num_queries, r->num_qrels_queries, r->num_run_queries);
    fprintf(f, "  \"num_missing_from_run\": %zu,\n  \"num_unjudged_run_queries\": %zu,\n", r->num_missing_from_run,
            r->num_unjudged_run_queries);
    fprintf(f, "  \"num_without_relevant\": %zu,\n  \"metrics\": ", r->num_without_relevant);
    json_metrics(f, r->mean, "  ");
    if (agreement) {
        fputs(",\n  \"agreement\": {", f);
        for (int j = 0; j < BIENC_AGREEMENT_NK; j++) {
            fprintf(f, "\"recall@%d\": ", bienc_agreement_ks[j]);
            json_number(f, agreement->recall[j]);
            fputs(", ", f);
        }
        fprintf(f, "\"num_queries\": %zu, \"num_missing_from_run\": %zu}", agreement->num_queries,
                agreement->num_missing_from_run);
    }
    if (per_query) {
        fputs(",\n  \"per_query\": {", f);
        for (size_t i = 0; i < r->num_queries; i++) {
            const bienc_query_metrics *m = &r->per_query[i];
            fputs(i ? ",\n    " : "\n    ", f);
            json_write_string(f, m->qid);
            fprintf(f, ": {\"num_relevant\": %zu, \"num_retrieved\": %zu", m->num_relevant, m->num_retrieved);
            for (int k = 0; k < BIENC_METRIC_COUNT; k++) {
                fprintf(f, ", \"%s\": ", metrics_name(k));
                json_number(f, m->values[k]);
            }
            fputs("}", f);
        }
        fputs("\n  }", f);
    }
    fputs("\n}\n", f);
    return atomic_file_commit(&out);
}
