/* bienc export: a bienc model (or training checkpoint) -> a sentence-transformers folder,
 * or an ONNX folder (bi-encoders and cross-encoders). */
#include <stdio.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/cross_io.h"
#include "model/cross_encoder.h"
#include "core/error.h"
#include "io/hf_import.h"
#include "io/model_io.h"
#include "io/onnx_export.h"
#include "cli/args.h"
#include "cli/commands.h"

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc export --model CKPT --output DIR [--format sentence-transformers|onnx]\n\n"
            "sentence-transformers (the default; bi-encoders): a folder that SentenceTransformer(DIR) (and\n"
            "transformers' BertModel) load: config.json, model.safetensors, vocab.txt, tokenizer.json,\n"
            "tokenizer_config.json, special_tokens_map.json, modules.json, 1_Pooling/config.json,\n"
            "2_Normalize/ when the model normalises, sentence_bert_config.json (max_seq_length = the\n"
            "passage max length) and config_sentence_transformers.json.\n\n"
            "onnx (bi-encoders and cross-encoders): DIR/model.onnx (opset 17) for ONNX Runtime, with the\n"
            "tokenizer files and config.json beside it. Inputs input_ids, attention_mask, token_type_ids\n"
            "(int64 [batch, sequence]); a bi-encoder's outputs are last_hidden_state [batch, sequence,\n"
            "hidden] and sentence_embedding [batch, hidden] (pooling and normalisation in the graph), a\n"
            "cross-encoder's is logits [batch, 1].\n");
}

/* 1 when the checkpoint holds a cross-encoder, 0 for anything else (model_io then says what is wrong). */
static int is_cross(const char *path)
{
    bienc_ckpt *c;
    if (ckpt_open(&c, path) < 0) return 0;
    int yes = cross_io_is_cross(c);
    ckpt_close(c);
    return yes;
}

int cmd_export(int argc, char **argv)
{
    const char *model = NULL, *output = NULL, *format = "sentence-transformers";
    int help = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = arg_string(argc, argv, &i, "--model", &model)) || (r = arg_string(argc, argv, &i, "--output", &output)) ||
            (r = arg_string(argc, argv, &i, "--format", &format)) || (r = arg_flag(argv, i, "--help", &help)) ||
            (r = arg_flag(argv, i, "-h", &help))) {
            if (r < 0) return 2;
            continue;
        }
        return arg_unknown("export", argv[i]);
    }
    if (help) {
        export_usage(stdout);
        return 0;
    }
    int onnx = strcmp(format, "onnx") == 0;
    if (!onnx && strcmp(format, "sentence-transformers") != 0) {
        fprintf(stderr, "bienc export: --format must be sentence-transformers or onnx, not '%s'\n", format);
        return 2;
    }
    if (!model || !output) {
        export_usage(stderr);
        return 2;
    }
    int rc;
    if (is_cross(model)) {
        bienc_cross_encoder *ce = NULL;
        if (!onnx)
            rc = bienc_error(BIENC_EINVAL, "%s: a cross-encoder exports with --format onnx only", model);
        else if ((rc = cross_io_load(model, &ce)) == 0)
            rc = onnx_export_cross_encoder(ce, output);
        cross_encoder_free(ce);
    } else {
        bienc_biencoder *bi = NULL;
        rc = model_io_load(model, &bi);
        if (rc == 0) rc = onnx ? onnx_export_biencoder(bi, output) : hf_export(bi, output);
        biencoder_free(bi);
    }
    if (rc == 0) printf("exported %s -> %s%s\n", model, output, onnx ? "/model.onnx" : "");
    return rc < 0 ? cli_fail("export") : 0;
}
