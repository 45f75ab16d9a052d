/* bienc import: a Hugging Face BERT / sentence-transformers folder -> a bienc model file. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "io/hf_import.h"
#include "io/model_io.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"

static void import_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc import --from DIR --output MODEL.h5 [options]\n\n"
            "Reads a Hugging Face BERT-family folder (config.json, model.safetensors, vocab.txt or\n"
            "tokenizer.json, tokenizer_config.json) and, for sentence-transformers folders, modules.json,\n"
            "1_Pooling/config.json (mean / cls / max), a Normalize module and sentence_bert_config.json\n"
            "(max_seq_length), and writes a bienc model checkpoint. A run config starts from it with\n"
            "model.init_from: MODEL.h5.\n\n"
            "options:\n"
            "  --max-query-length N     override the query side's max tokens (default: max_seq_length)\n"
            "  --max-passage-length N   override the passage side's max tokens (default: max_seq_length)\n");
}

int cmd_import(int argc, char **argv)
{
    const char *from = NULL, *output = NULL;
    int64_t qlen = 0, plen = 0;
    int help = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = arg_string(argc, argv, &i, "--from", &from)) || (r = arg_string(argc, argv, &i, "--output", &output)) ||
            (r = arg_int(argc, argv, &i, "--max-query-length", 2, 1 << 16, &qlen)) ||
            (r = arg_int(argc, argv, &i, "--max-passage-length", 2, 1 << 16, &plen)) ||
            (r = arg_flag(argv, i, "--help", &help)) || (r = arg_flag(argv, i, "-h", &help))) {
            if (r < 0) return 2;
            continue;
        }
        return arg_unknown("import", argv[i]);
    }
    if (help) {
        import_usage(stdout);
        return 0;
    }
    if (!from || !output) {
        import_usage(stderr);
        return 2;
    }
    /* the files hf_import may read: the output must be none of them */
    static const char *const names[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
                                        "tokenizer_config.json", "modules.json", "1_Pooling/config.json",
                                        "sentence_bert_config.json"};
    enum { N_NAMES = sizeof names / sizeof names[0] };
    char paths[N_NAMES][4096];
    const char *inputs[N_NAMES];
    for (int i = 0; i < N_NAMES; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", from, names[i]);
        inputs[i] = paths[i];
    }
    if (atomic_file_check_inputs(output, inputs, N_NAMES) < 0) return cli_fail("import");
    bienc_biencoder *bi = NULL;
    int rc = hf_import(from, &bi);
    if (rc == 0 && qlen) bi->max_query_len = (int)qlen;
    if (rc == 0 && plen) bi->max_passage_len = (int)plen;
    if (rc == 0) rc = biencoder_check(bi);
    if (rc == 0) rc = model_io_save(output, bi);
    if (rc == 0)
        printf("imported %s -> %s: %d layers, hidden %d, vocab %d, %s pooling%s, max length %d/%d\n", from, output,
               bi->enc->cfg.num_layers, bi->enc->cfg.hidden_size, bi->enc->cfg.vocab_size,
               bi->pool == BIENC_POOL_MEAN ? "mean" : bi->pool == BIENC_POOL_CLS ? "cls" : "max",
               bi->normalize ? ", normalized" : "", bi->max_query_len, bi->max_passage_len);
    biencoder_free(bi);
    return rc < 0 ? cli_fail("import") : 0;
}
