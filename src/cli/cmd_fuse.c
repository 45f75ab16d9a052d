/* bienc fuse: hybrid retrieval, several runs fused into one (reciprocal-rank or linear). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"

#define FUSE_MAX_RUNS 16

static void fuse_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc fuse --run A.trec --run B.trec [...] --output FUSED.trec [options]\n\n"
            "Fuses TREC runs per query (hybrid retrieval, e.g. dense + BM25):\n"
            "  rrf     score = sum over runs of w / (rrf_k + rank)   (Cormack et al. 2009)\n"
            "  linear  score = sum over runs of w * (score - min) / (max - min) of that query\n"
            "A document missing from a run gets nothing from it.\n\n"
            "options:\n"
            "  --run FILE        a run to fuse (2 to %d)\n"
            "  --weight W        weight of the preceding --run (default 1)\n"
            "  --method rrf|linear  (default rrf)\n"
            "  --rrf-k K         RRF constant (default 60)\n"
            "  --depth N         ranks of each run used (default: all)\n"
            "  --k N             ranks written per query (default 100; 0 = all)\n"
            "  --name NAME       the fused run's name (default fused)\n"
            "  --output FILE     the fused TREC run\n",
            FUSE_MAX_RUNS);
}

int cmd_fuse(int argc, char **argv)
{
    const char *paths[FUSE_MAX_RUNS], *out = NULL, *method = "rrf", *name = "fused";
    double weights[FUSE_MAX_RUNS];
    int n = 0;
    bienc_fusion_opts o = fusion_default_opts();
    int64_t depth = 0, k = 100;
    for (int i = 1; i < argc; i++) {
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fuse_usage(stdout);
            return 0;
        }
        const char *run = NULL;
        double w;
        if ((rc = arg_string(argc, argv, &i, "--run", &run))) {
            if (rc < 0) return 2;
            if (n == FUSE_MAX_RUNS) {
                fprintf(stderr, "bienc fuse: at most %d --run\n", FUSE_MAX_RUNS);
                return 2;
            }
            weights[n] = 1;
            paths[n++] = run;
            continue;
        }
        if ((rc = arg_float(argc, argv, &i, "--weight", &w))) {
            if (rc < 0) return 2;
            if (n == 0) {
                fprintf(stderr, "bienc fuse: --weight applies to the --run before it\n");
                return 2;
            }
            weights[n - 1] = w;
            continue;
        }
        if ((rc = arg_string(argc, argv, &i, "--output", &out)) || (rc = arg_string(argc, argv, &i, "--method", &method)) ||
            (rc = arg_string(argc, argv, &i, "--name", &name)) || (rc = arg_float(argc, argv, &i, "--rrf-k", &o.rrf_k)) ||
            (rc = arg_int(argc, argv, &i, "--depth", 0, 1000000000, &depth)) ||
            (rc = arg_int(argc, argv, &i, "--k", 0, 1000000000, &k))) {
            if (rc < 0) return 2;
            continue;
        }
        return arg_unknown("fuse", argv[i]);
    }
    if (n < 2 || !out) {
        fprintf(stderr, "bienc fuse: two or more --run and --output are required (see bienc fuse --help)\n");
        return 2;
    }
    if (strcmp(method, "rrf") == 0) {
        o.method = BIENC_FUSION_RRF;
    } else if (strcmp(method, "linear") == 0) {
        o.method = BIENC_FUSION_LINEAR;
    } else {
        fprintf(stderr, "bienc fuse: --method is rrf or linear, got '%s'\n", method);
        return 2;
    }
    if (strchr(name, ' ') || strchr(name, '\t') || !*name) {
        fprintf(stderr, "bienc fuse: --name must be one word\n");
        return 2;
    }
    if (atomic_file_check_inputs(out, paths, (size_t)n) < 0) return cli_fail("fuse");
    o.weights = weights;
    o.depth = (int)depth;
    o.k = (int)k;
    bienc_run *runs[FUSE_MAX_RUNS] = {0}, *fused = NULL;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) rc = run_read(paths[i], &runs[i]);
    if (rc == 0) rc = run_fuse(runs, n, &o, name, &fused);
    if (rc == 0) rc = run_write(fused, out);
    int status = rc < 0 ? cli_fail("fuse") : 0;
    if (status == 0)
        printf("fused %d runs (%s) over %zu queries -> %s\n", n, method, run_num_queries(fused), out);
    for (int i = 0; i < n; i++) run_free(runs[i]);
    run_free(fused);
    return status;
}
