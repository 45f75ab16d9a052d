/* bienc score --model TEACHER --triples F [--queries Q --collection C] --output OUT:
 * appends the cross-encoder's scores of (query, positive) and (query, negative) to every
 * row of a triples file, the input MarginMSELoss trains on (library: src/train/teacher.h
 * teacher_score_triples). */
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
#include "io/cross_io.h"

static void score_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc score --model TEACHER.h5 --triples TRIPLES.tsv --output SCORED.tsv\n"
            "                   [--queries Q --collection C [--skip-unknown]] [--batch-size B] [--threads T]\n"
            "                   [--precision fp32|bf16] [--quiet]\n\n"
            "Scores every triple (query, positive, negative) with a cross-encoder checkpoint (the teacher\n"
            "that `bienc run` trains) and writes `query \\t positive \\t negative \\t pos_score \\t neg_score`,\n"
            "the teacher margins MarginMSELoss trains on (loss.name: MarginMSELoss, data.triples: OUT).\n"
            "Text triples need nothing else; id triples (qid \\t pid \\t pid) need --queries and --collection\n"
            "(`id<TAB>text` TSV, or BEIR .jsonl) to find the texts.\n\n"
            "  --skip-unknown  drop rows whose ids are not in Q / C (default: an error naming the line)\n"
            "  --batch-size B  pairs per forward pass (default 64)\n"
            "  --threads T     worker threads (default: all cores); scores do not depend on it\n"
            "  --precision fp32|bf16  matrix products in fp32 (default) or bf16 with fp32 accumulation\n"
            "                  (faster on CPUs with AVX512_BF16; see `bienc version`)\n"
            "  --quiet         no progress lines\n");
}

int cmd_score(int argc, char **argv)
{
    const char *model = NULL, *tp = NULL, *qp = NULL, *cp = NULL, *outp = NULL, *precision_arg = NULL;
    int64_t bs = 64, threads = 0;
    int quiet = 0, skip = 0;
    for (int i = 1; i < argc; i++) {
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            score_usage(stdout);
            return 0;
        }
        if (arg_flag(argv, i, "--quiet", &quiet) || arg_flag(argv, i, "--skip-unknown", &skip)) continue;
        if ((rc = arg_string(argc, argv, &i, "--model", &model)) ||
            (rc = arg_string(argc, argv, &i, "--triples", &tp)) || (rc = arg_string(argc, argv, &i, "--queries", &qp)) ||
            (rc = arg_string(argc, argv, &i, "--collection", &cp)) ||
            (rc = arg_string(argc, argv, &i, "--output", &outp)) ||
            (rc = arg_string(argc, argv, &i, "--precision", &precision_arg)) ||
            (rc = arg_int(argc, argv, &i, "--batch-size", 1, 1000000, &bs)) ||
            (rc = arg_int(argc, argv, &i, "--threads", 1, 4096, &threads))) {
            if (rc < 0) return 2;
            continue;
        }
        return arg_unknown("score", argv[i]);
    }
    if (!model || !tp || !outp || (!qp) != (!cp)) {
        fprintf(stderr, "bienc score: --model, --triples and --output are required; --queries and --collection go "
                        "together\n");
        score_usage(stderr);
        return 2;
    }
    bienc_precision precision = BIENC_PRECISION_FP32;
    /* fp32 and bf16 only: the cross-encoder has been checked against fp32 in those two */
    if (precision_arg && (precision_parse(precision_arg, &precision) < 0 ||
                          (precision != BIENC_PRECISION_FP32 && precision != BIENC_PRECISION_BF16))) {
        fprintf(stderr, "bienc score: --precision must be fp32 or bf16, not '%s'\n", precision_arg);
        return 2;
    }
    const char *inputs[] = {model, tp, qp, cp};
    if (atomic_file_check_inputs(outp, inputs, 4) < 0) return cli_fail("score");
    if (threads > 0) cpu_set_threads((int)threads);
    bienc_cross_encoder *ce = NULL;
    bienc_triples *tr = NULL;
    bienc_texts *q = NULL, *c = NULL;
    bienc_read_opts ro = {0};
    int64_t n = 0;
    int rc = cross_io_load(model, &ce);
    if (rc == 0) rc = triples_load(&tr, tp, qp != NULL, &ro, NULL);
    if (rc == 0 && qp) rc = cli_load_texts(qp, &q);
    if (rc == 0 && cp) rc = cli_load_texts(cp, &c);
    if (rc == 0) rc = teacher_score_triples(ce, precision, tr, q, c, 0, skip, (int)bs, outp, quiet ? NULL : stderr, &n);
    if (rc == 0 && !quiet) fprintf(stderr, "bienc score: %lld triples scored -> %s\n", (long long)n, outp);
    int code = rc < 0 ? cli_fail("score") : 0;
    triples_free(tr);
    texts_free(q);
    texts_free(c);
    cross_encoder_free(ce);
    return code;
}
