/* bienc vocab train: learn a WordPiece vocabulary from a text corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/os.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bienc vocab train --corpus FILE --size N --output vocab.txt [options]\n"
            "\n"
            "Learns a WordPiece vocabulary (the Hugging Face WordPieceTrainer algorithm: BPE merges on the\n"
            "BERT-normalized words, \"##\" marking pieces inside a word). Deterministic. The output starts\n"
            "with [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0-4), then the alphabet, its ## forms, and the merges.\n"
            "  --corpus FILE          text, one document per line ('-' = stdin)\n"
            "  --tsv-column K         use only tab-separated column K (1-based) of each line, e.g. 2 for an\n"
            "                         MS MARCO collection.tsv (pid<TAB>text)\n"
            "  --size N               vocabulary size including the special tokens\n"
            "  --output FILE          where to write vocab.txt\n"
            "  --min-frequency F      merge only pairs seen at least F times (default 2)\n"
            "  --limit-alphabet A     keep the A most frequent characters (default 1000, 0 = all)\n"
            "  --no-lower-case        keep case and accents (for a cased model)\n");
}

/* Column k (1-based) of a tab-separated line; NULL when the line has fewer columns. */
static const char *tsv_column(const char *line, size_t len, int k, size_t *out_len)
{
    const char *p = line, *end = line + len;
    for (int c = 1; c < k; c++) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if (!tab) return NULL;
        p = tab + 1;
    }
    const char *tab = memchr(p, '\t', (size_t)(end - p));
    *out_len = (size_t)((tab ? tab : end) - p);
    return p;
}

static int vocab_train(int argc, char **argv)
{
    const char *corpus = NULL, *output = NULL;
    int64_t size = 0, minf = 2, limit = 1000, column = 0;
    int no_lower = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { usage(stdout); return 0; }
        if ((r = arg_string(argc, argv, &i, "--corpus", &corpus)) ||
            (r = arg_string(argc, argv, &i, "--output", &output)) ||
            (r = arg_int(argc, argv, &i, "--size", 6, 1 << 24, &size)) ||
            (r = arg_int(argc, argv, &i, "--min-frequency", 0, INT32_MAX, &minf)) ||
            (r = arg_int(argc, argv, &i, "--limit-alphabet", 0, INT32_MAX, &limit)) ||
            (r = arg_int(argc, argv, &i, "--tsv-column", 1, 1 << 20, &column))) {
            if (r < 0) return 2;
            continue;
        }
        if (arg_flag(argv, i, "--no-lower-case", &no_lower)) continue;
        return arg_unknown("vocab train", argv[i]);
    }
    if (!corpus || !output || !size) {
        fprintf(stderr, "bienc vocab train: --corpus, --size and --output are required\n");
        usage(stderr);
        return 2;
    }
    if (atomic_file_check_inputs(output, &corpus, 1) < 0) return cli_fail("vocab train");
    vocab_train_options o;
    vocab_train_defaults(&o);
    o.vocab_size = (int)size;
    o.min_frequency = (int)minf;
    o.limit_alphabet = (int)limit;
    o.do_lower_case = !no_lower;
    FILE *f = strcmp(corpus, "-") == 0 ? stdin : fopen(corpus, "rb");
    if (!f) {
        bienc_error(BIENC_EIO, "%s: cannot open", corpus);
        return cli_fail("vocab train");
    }
    double t0 = os_now();
    vocab_trainer *vt = NULL;
    bienc_tokenizer *tok = NULL;
    int rc = vocab_trainer_new(&vt, &o);
    char *line = NULL;
    size_t cap = 0, bytes = 0;
    long lines = 0, skipped = 0;
    ssize_t len;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lines++;
        bytes += (size_t)len;
        const char *text = line;
        size_t tl = (size_t)len;
        if (column > 0 && !(text = tsv_column(line, (size_t)len, (int)column, &tl))) { skipped++; continue; }
        rc = vocab_trainer_feed(vt, text, tl);
    }
    if (rc == 0 && ferror(f)) rc = bienc_error(BIENC_EIO, "%s: read error", corpus);
    if (f != stdin) fclose(f);
    free(line);
    double t1 = os_now();
    if (rc == 0) rc = vocab_trainer_finish(vt, &tok);
    double t2 = os_now();
    if (rc == 0) rc = tokenizer_save_vocab(tok, output);
    if (rc == 0) {
        double count_s = t1 - t0;
        double merge_s = t2 - t1;
        fprintf(stderr, "bienc vocab train: %ld lines (%.1f MB)%s, vocabulary of %d tokens written to %s "
                        "(counting %.2f s, merges %.2f s)\n",
                lines, bytes / 1e6, skipped ? " (some lines lacked the TSV column)" : "", tokenizer_vocab_size(tok),
                output, count_s, merge_s);
        if (skipped) fprintf(stderr, "bienc vocab train: %ld lines had no column %lld and were skipped\n", skipped,
                             (long long)column);
    }
    tokenizer_free(tok);
    vocab_trainer_free(vt);
    return rc < 0 ? cli_fail("vocab train") : 0;
}

int cmd_vocab(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "train") == 0) return vocab_train(argc - 1, argv + 1);
    fprintf(stderr, "bienc vocab: unknown subcommand '%s' (only 'train')\n", argv[1]);
    return 2;
}
