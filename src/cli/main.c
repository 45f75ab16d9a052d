/* bienc: the command-line front end. Dispatches to one cmd_<name>() per subcommand. */
#include <stdio.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/comm.h"

static const cli_command commands[] = {
    {"version", cmd_version, "print the version, the CPU features and the BLAS kernel in use"},
    {"index", cmd_index, "build an HNSW index from embeddings: `bienc index build --embeddings E.h5 --output X`"},
    {"search", cmd_search, "k-NN of query embeddings in an index (HNSW or --exact) as a TREC run"},
    {"tokenize", cmd_tokenize, "WordPiece ids of stdin lines (BERT vocab.txt or tokenizer.json)"},
    {"vocab", cmd_vocab, "learn a WordPiece vocabulary: `bienc vocab train --corpus FILE --size N --output vocab.txt`"},
    {"data", cmd_data, "build a data set: `bienc data debian` (Debian package descriptions, no download)"},
    {"demo", cmd_demo, "train a small encoder for a few steps on random data, printing the loss"},
    {"eval", cmd_eval, "score a TREC run against qrels (MRR@10, nDCG@10, MAP@100, recall, accuracy)"},
    {"mine", cmd_mine, "hard negatives from TREC runs (BM25, dense) as hard-negative JSON lines for training"},
    {"fuse", cmd_fuse, "hybrid retrieval: fuse TREC runs (reciprocal-rank or linear fusion)"},
    {"config", cmd_config, "run configs: `bienc config check FILE [--set K=V]`, `bienc config --keys`"},
    {"train", cmd_train, "train a bi-encoder from a run config: `bienc train configs/quickstart.yaml [--resume]`"},
    {"pretrain", cmd_pretrain, "MLM pre-training of the encoder on the collection: `bienc pretrain CONFIG [--resume]`"},
    {"encode", cmd_encode, "embed a collection or queries with a bi-encoder: `bienc encode --model M --input F --output E.h5`"},
    {"rerank", cmd_rerank, "re-score a run's top-N with a cross-encoder: `bienc rerank --model T.h5 --run R --queries Q --collection C`"},
    {"score", cmd_score, "teacher scores for MarginMSELoss: `bienc score --model T.h5 --triples F --output F.scored`"},
    {"run", cmd_run, "the whole pipeline (data, vocab, teacher, bi-encoder, index, search, rerank, eval, report): `bienc run CONFIG`"},
    {"import", cmd_import, "Hugging Face / sentence-transformers folder -> model: `bienc import --from DIR --output M.h5`"},
    {"export", cmd_export, "model -> sentence-transformers folder: `bienc export --model M.h5 --output DIR`"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bienc <command> [options]   (bienc <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    /* Before anything else: get OpenBLAS onto the fast kernel for this CPU (see cpu.h). */
    cpu_blas_fix_and_reexec(argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* Under mpirun: join the ranks (src/core/comm.h); rank 0 alone prints results. */
            if (comm_init() < 0) {
                fprintf(stderr, "bienc %s: %s\n", argv[1], bienc_last_error());
                return 1;
            }
            if (comm_rank() != 0 && !freopen("/dev/null", "w", stdout)) {
                fprintf(stderr, "bienc %s: rank %d: cannot silence standard output\n", argv[1], comm_rank());
                comm_abort(1);
            }
            int rc = commands[i].run(argc - 1, argv + 1);
            /* What went to stdout must have arrived (`bienc eval > /dev/full` fails). */
            if (atomic_stream_check(stdout, "standard output") < 0) {
                fprintf(stderr, "bienc %s: %s\n", argv[1], bienc_last_error());
                if (rc == 0) rc = 1;
            }
            /* a failed rank must not leave the others waiting in a collective */
            if (rc != 0) comm_abort(rc);
            comm_finalize();
            return rc;
        }
    fprintf(stderr, "bienc: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
