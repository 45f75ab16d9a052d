/* bienc export: a bienc model (or training checkpoint) -> a sentence-transformers folder. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "io/hf_import.h"
#include "io/model_io.h"
#include "cli/args.h"
#include "cli/commands.h"

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc export --model CKPT --output DIR\n\n"
            "Writes a sentence-transformers folder that SentenceTransformer(DIR) (and transformers'\n"
            "BertModel) load: config.json, model.safetensors, vocab.txt, tokenizer_config.json,\n"
            "special_tokens_map.json, modules.json, 1_Pooling/config.json, 2_Normalize/ when the model\n"
            "normalises, sentence_bert_config.json (max_seq_length = the passage max length) and\n"
            "config_sentence_transformers.json.\n");
}

int cmd_export(int argc, char **argv)
{
    const char *model = NULL, *output = NULL;
    int help = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = arg_string(argc, argv, &i, "--model", &model)) || (r = arg_string(argc, argv, &i, "--output", &output)) ||
            (r = arg_flag(argv, i, "--help", &help)) || (r = arg_flag(argv, i, "-h", &help))) {
            if (r < 0) return 2;
            continue;
        }
        return arg_unknown("export", argv[i]);
    }
    if (help) {
        export_usage(stdout);
        return 0;
    }
    if (!model || !output) {
        export_usage(stderr);
        return 2;
    }
    bienc_biencoder *bi = NULL;
    int rc = model_io_load(model, &bi);
    if (rc == 0) rc = hf_export(bi, output);
    if (rc == 0) printf("exported %s -> %s\n", model, output);
    biencoder_free(bi);
    return rc < 0 ? cli_fail("export") : 0;
}
