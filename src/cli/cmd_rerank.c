/* bienc rerank --model TEACHER --run RUN --queries Q --collection C --top N --output OUT:
 * re-scores each query's top-N candidates of a TREC run with a cross-encoder or
 * late-interaction checkpoint (library: src/train/teacher.h teacher_rerank) and writes the
 * reranked run. */
#include <stdio.h>
#include <string.h>

#include "core/cpu.h"
#include "model/cross_encoder.h"
#include "data/data.h"
#include "core/error.h"
#include "train/teacher.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"

static void rerank_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc rerank --model TEACHER.h5 --run RUN.trec --queries Q --collection C --output OUT.trec\n"
            "                    [--top N] [--batch-size B] [--threads T] [--precision fp32|bf16] [--name NAME]\n\n"
            "Re-scores every query's top-N documents of a TREC run with a teacher checkpoint (the one\n"
            "`bienc run` trains: a cross-encoder, or a late-interaction (ColBERT) model scoring by\n"
            "MaxSim) and writes them ranked by its scores.\n"
            "Q and C are `id<TAB>text` TSV files (MS MARCO queries.tsv, collection.tsv) or BEIR .jsonl.\n\n"
            "  --top N         candidates per query to re-score (default 100); the rest are dropped\n"
            "  --batch-size B  pairs per forward pass (default 64)\n"
            "  --threads T     worker threads (default: all cores); scores do not depend on it\n"
            "  --precision fp32|bf16  matrix products in fp32 (default) or bf16 with fp32 accumulation\n"
            "                  (faster on CPUs with AVX512_BF16; see `bienc version`)\n"
            "  --name NAME     run name in the output (default: rerank)\n");
}

int cmd_rerank(int argc, char **argv)
{
    const char *model = NULL, *runp = NULL, *qp = NULL, *cp = NULL, *outp = NULL, *name = "rerank";
    const char *precision_arg = NULL;
    int64_t top = 100, bs = 64, threads = 0;
    for (int i = 1; i < argc; i++) {
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            rerank_usage(stdout);
            return 0;
        }
        if ((rc = arg_string(argc, argv, &i, "--model", &model)) || (rc = arg_string(argc, argv, &i, "--run", &runp)) ||
            (rc = arg_string(argc, argv, &i, "--queries", &qp)) || (rc = arg_string(argc, argv, &i, "--collection", &cp)) ||
            (rc = arg_string(argc, argv, &i, "--output", &outp)) || (rc = arg_string(argc, argv, &i, "--name", &name)) ||
            (rc = arg_string(argc, argv, &i, "--precision", &precision_arg)) ||
            (rc = arg_int(argc, argv, &i, "--top", 1, 1000000, &top)) ||
            (rc = arg_int(argc, argv, &i, "--batch-size", 1, 1000000, &bs)) ||
            (rc = arg_int(argc, argv, &i, "--threads", 1, 4096, &threads))) {
            if (rc < 0) return 2;
            continue;
        }
        return arg_unknown("rerank", argv[i]);
    }
    if (!model || !runp || !qp || !cp || !outp) {
        fprintf(stderr, "bienc rerank: --model, --run, --queries, --collection and --output are required\n");
        rerank_usage(stderr);
        return 2;
    }
    bienc_precision precision = BIENC_PRECISION_FP32;
    /* fp32 and bf16 only: the teachers have been checked against fp32 in those two */
    if (precision_arg && (precision_parse(precision_arg, &precision) < 0 ||
                          (precision != BIENC_PRECISION_FP32 && precision != BIENC_PRECISION_BF16))) {
        fprintf(stderr, "bienc rerank: --precision must be fp32 or bf16, not '%s'\n", precision_arg);
        return 2;
    }
    const char *inputs[] = {model, runp, qp, cp};
    if (atomic_file_check_inputs(outp, inputs, 4) < 0) return cli_fail("rerank");
    if (threads > 0) cpu_set_threads((int)threads);
    bienc_reranker teacher = {0};
    bienc_run *run = NULL, *out = NULL;
    bienc_texts *q = NULL, *c = NULL;
    int rc = reranker_load(model, &teacher);
    if (rc == 0) rc = run_read(runp, &run);
    if (rc == 0) rc = cli_load_texts(qp, &q);
    if (rc == 0) rc = cli_load_texts(cp, &c);
    if (rc == 0) rc = teacher_rerank(&teacher, precision, run, q, c, (int)top, (int)bs, name, &out);
    if (rc == 0) rc = run_write(out, outp);
    if (rc == 0)
        fprintf(stderr, "bienc rerank: %zu queries, %zu pairs re-scored (%s) -> %s\n", run_num_queries(out),
                run_num_entries(out), precision_name(precision), outp);
    int code = rc < 0 ? cli_fail("rerank") : 0;
    run_free(out);
    run_free(run);
    texts_free(q);
    texts_free(c);
    reranker_free(&teacher);
    return code;
}
