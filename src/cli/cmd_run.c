/* bienc run CONFIG [--set K=V]...: the whole pipeline (library: src/train/pipeline.h) - data,
 * vocabulary, teacher, bi-encoder, encoding, HNSW, search, rerank, BM25, evaluation - and a
 * report in the run directory; prints the report table at the end. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "io/config.h"
#include "core/error.h"
#include "train/pipeline.h"
#include "cli/args.h"
#include "cli/commands.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc run CONFIG [--set KEY=VALUE]... [--threads N] [--reuse] [--no-bm25] [--quiet]\n\n"
            "The main job, end to end: builds the Debian data if absent, trains (or reuses) the\n"
            "vocabulary, trains the cross-encoder teacher (teacher:), trains the bi-encoder, encodes\n"
            "the collection, builds the HNSW index, searches the dev queries (HNSW and exact),\n"
            "reranks the exact top-N with the teacher, runs the BM25 baseline (eval/bm25_xapian.py,\n"
            "needs python3-xapian) and evaluates everything. Writes into RUN_DIR (output.dir/<name>):\n"
            "report.md, report.json, report.svg, run.{untrained,hnsw,exact,teacher,bm25}.trec,\n"
            "index.hnsw, teacher.h5, vocab.txt; checkpoints go to checkpoint.dir/<name> (an earlier\n"
            "run's checkpoints of the same name are replaced). Prints the report table at the end.\n\n"
            "  --set KEY=VALUE   override any config key (`bienc config --keys`), e.g. --set train.steps=50\n"
            "  --threads N       worker threads (overrides train.threads)\n"
            "  --reuse           reuse RUN_DIR/teacher.h5 from an earlier run instead of training it\n"
            "  --no-bm25         skip the BM25 baseline\n"
            "  --bm25-script F   path of bm25_xapian.py (default: eval/ of the source tree, or $BIENC_BM25_SCRIPT)\n"
            "  --python P        interpreter for BM25 (default /usr/bin/python3)\n"
            "  --quiet           no progress output, table only\n");
}

int cmd_run(int argc, char **argv)
{
    const char *sets[ARG_MAX_SETS], *file = NULL;
    int n_sets = 0;
    bienc_pipeline_opts o;
    pipeline_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        int64_t n;
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            run_usage(stdout);
            return 0;
        }
        if (arg_flag(argv, i, "--quiet", &o.quiet) || arg_flag(argv, i, "--reuse", &o.reuse) ||
            arg_flag(argv, i, "--no-bm25", &o.no_bm25))
            continue;
        if ((rc = arg_set(argc, argv, &i, "run", sets, &n_sets)) != 0) {
            if (rc < 0) return 2;
            continue;
        }
        if ((rc = arg_string(argc, argv, &i, "--bm25-script", &o.bm25_script)) != 0) {
            if (rc < 0) return 2;
            continue;
        }
        if ((rc = arg_string(argc, argv, &i, "--python", &o.python)) != 0) {
            if (rc < 0) return 2;
            continue;
        }
        if ((rc = arg_int(argc, argv, &i, "--threads", 1, 4096, &n)) != 0) {
            if (rc < 0) return 2;
            o.threads = (int)n;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) return arg_unknown("run", argv[i]);
        if (file) return arg_unknown("run", argv[i]);
        file = argv[i];
    }
    if (!file) {
        run_usage(stderr);
        return 2;
    }
    bienc_run_config cfg;
    if (config_load(&cfg, file, sets, n_sets) < 0) {
        config_free(&cfg);
        return cli_fail("run");
    }
    struct sigaction old;
    cli_sigint_install(&old);
    o.stop = &cli_stop;

    bienc_pipeline_result r;
    int rc = pipeline_run(&cfg, &o, &r);
    if (rc == 0) rc = pipeline_write_report(&cfg, &r);
    cli_sigint_restore(&old);
    if (rc < 0) {
        int code = rc == BIENC_EINTERRUPT ? 130 : cli_fail("run");
        if (code == 130) fprintf(stderr, "bienc run: %s\n", bienc_last_error());
        pipeline_result_free(&r);
        config_free(&cfg);
        return code;
    }
    printf("\n");
    pipeline_print_table(stdout, &r);
    printf("\nstages:");
    for (int i = 0; i < r.n_stages; i++) printf(" %s %.1fs%s", r.stage_name[i], r.stage_seconds[i], i + 1 < r.n_stages ? "," : "");
    printf("\ntotal %.1f s; report: %s/report.md, report.json, report.svg\n", r.total_seconds, r.run_dir);
    pipeline_result_free(&r);
    config_free(&cfg);
    return 0;
}
