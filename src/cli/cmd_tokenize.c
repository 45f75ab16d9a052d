/* bienc tokenize: WordPiece ids (or pieces) of each stdin line, one output line per input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/os.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bienc tokenize --vocab FILE [--no-special] [--pair] [--tokens] [--max-length N] [--no-lower-case]\n"
            "\n"
            "Reads one text per line on stdin and writes its WordPiece ids, space-separated, one line per input\n"
            "(identical to Hugging Face's BertTokenizer).\n"
            "  --vocab FILE       vocab.txt (one token per line) or Hugging Face tokenizer.json\n"
            "  --no-special       leave out [CLS] and [SEP]\n"
            "  --pair             each line is TEXT_A<TAB>TEXT_B: writes [CLS] a [SEP] b [SEP]\n"
            "  --tokens           write the pieces instead of the ids\n"
            "  --max-length N     truncate to N ids including the specials (pairs: longest first)\n"
            "  --no-lower-case    keep case and accents (cased vocabularies; default: lower-case, or\n"
            "                     tokenizer.json's normalizer setting)\n"
            "  --stats            print lines, bytes, tokens and the tokenizing speed (MB/s, tokens/s) on stderr\n");
}

static void write_output(const bienc_tokenizer *t, const int32_t *ids, int n, int tokens)
{
    for (int i = 0; i < n; i++) {
        if (i) putchar_unlocked(' ');
        if (tokens) {
            fputs(tokenizer_id_to_token(t, ids[i]), stdout);
            continue;
        }
        char buf[16];
        int k = 0;
        uint32_t v = (uint32_t)ids[i];
        do buf[k++] = (char)('0' + v % 10); while ((v /= 10) > 0);
        while (k > 0) putchar_unlocked(buf[--k]);
    }
    putchar_unlocked('\n');
}

int cmd_tokenize(int argc, char **argv)
{
    const char *vocab = NULL;
    int no_special = 0, pair = 0, tokens = 0, no_lower = 0, stats = 0;
    int64_t max_len = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { usage(stdout); return 0; }
        if ((r = arg_string(argc, argv, &i, "--vocab", &vocab))) { if (r < 0) return 2; continue; }
        if ((r = arg_int(argc, argv, &i, "--max-length", 0, 1 << 24, &max_len))) { if (r < 0) return 2; continue; }
        if (arg_flag(argv, i, "--no-special", &no_special) || arg_flag(argv, i, "--pair", &pair) ||
            arg_flag(argv, i, "--tokens", &tokens) || arg_flag(argv, i, "--no-lower-case", &no_lower) ||
            arg_flag(argv, i, "--stats", &stats))
            continue;
        return arg_unknown("tokenize", argv[i]);
    }
    if (!vocab) {
        fprintf(stderr, "bienc tokenize: --vocab FILE is required\n");
        usage(stderr);
        return 2;
    }
    if (pair && no_special) {
        fprintf(stderr, "bienc tokenize: --pair always adds [CLS] and [SEP]; drop --no-special\n");
        return 2;
    }
    bienc_tokenizer *t;
    if (tokenizer_load(&t, vocab, no_lower ? 0 : -1) < 0) return cli_fail("tokenize");
    int cap = 512;
    int32_t *ids = malloc(sizeof *ids * (size_t)cap);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    double encode_s = 0;
    size_t bytes = 0, n_ids = 0;
    while (ids && (len = getline(&line, &line_cap, stdin)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        bytes += (size_t)len;
        for (;;) {
            int n = 0, st;
            double t0 = stats ? os_now() : 0;
            if (pair) {
                char *tab = memchr(line, '\t', (size_t)len);
                if (!tab) {
                    bienc_error(BIENC_EFORMAT, "stdin line %ld: --pair needs TEXT_A<TAB>TEXT_B", lineno);
                    rc = -1;
                    break;
                }
                st = tokenizer_encode_pair(t, line, (size_t)(tab - line), tab + 1, (size_t)(line + len - tab - 1),
                                           (int)max_len, ids, NULL, cap, &n);
            } else {
                st = tokenizer_encode(t, line, (size_t)len, !no_special, (int)max_len, ids, cap, &n);
            }
            if (stats) encode_s += os_now() - t0;
            if (st == BIENC_ERANGE) {
                int32_t *bigger = realloc(ids, sizeof *ids * (size_t)n);
                if (!bigger) { rc = bienc_error(BIENC_ENOMEM, "out of memory"); break; }
                ids = bigger;
                cap = n;
                continue;
            }
            if (st < 0) { rc = bienc_error_context(st, "stdin line %ld: ", lineno); break; }
            write_output(t, ids, n, tokens);
            n_ids += (size_t)n;
            break;
        }
        if (rc < 0) break;
    }
    if (!ids) rc = bienc_error(BIENC_ENOMEM, "out of memory");
    free(line);
    free(ids);
    tokenizer_free(t);
    if (fflush(stdout) != 0) rc = bienc_error(BIENC_EIO, "writing stdout failed");
    if (stats && rc == 0)
        fprintf(stderr, "tokenize: %ld lines, %.2f MB, %zu ids in %.3f s of tokenizing: %.1f MB/s, %.0f tokens/s\n",
                lineno, bytes / 1e6, n_ids, encode_s, encode_s > 0 ? bytes / 1e6 / encode_s : 0,
                encode_s > 0 ? n_ids / encode_s : 0);
    return rc < 0 ? cli_fail("tokenize") : 0;
}
