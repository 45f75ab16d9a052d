/* Export of a bi-encoder as a sentence-transformers folder (see hf_import.h). The JSON
 * files hold what sentence-transformers and transformers write for a BertModel with a
 * Pooling (+ Normalize) module, so SentenceTransformer(dir) and BertModel.from_pretrained
 * load the folder unchanged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/hf_import.h"
#include "text/json.h"
#include "core/version.h"
#include "core/atomic_file.h"

int hf_export_make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return 0;
        return bienc_error(BIENC_EIO, "%s: exists and is not a directory", path);
    }
    return bienc_error(BIENC_EIO, "%s: cannot create: %s", path, strerror(errno));
}

/* The shortest decimal form that reads back as the same float ("0.1", "1e-12"). */
static const char *float_str(float x, char *buf, size_t cap)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    return buf;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p) return bienc_error(BIENC_EINVAL, "%s: path too long", dir);
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, p));
    fputs(text, out.f);
    return atomic_file_commit(&out);
}

int hf_export_config(const char *dir, const bienc_encoder_config *c, int pad_id, int num_labels)
{
    char text[2048], a[32], b[32], e[32], r[32];
    /* BertForSequenceClassification with one label (a cross-encoder): transformers reads
     * num_labels from id2label */
    const char *labels = num_labels > 0 ? "  \"id2label\": {\n    \"0\": \"LABEL_0\"\n  },\n"
                                          "  \"label2id\": {\n    \"LABEL_0\": 0\n  },\n"
                                        : "";
    snprintf(text, sizeof text,
             "{\n"
             "  \"architectures\": [\n    \"%s\"\n  ],\n"
             "  \"attention_probs_dropout_prob\": %s,\n"
             "  \"classifier_dropout\": null,\n"
             "  \"hidden_act\": \"%s\",\n"
             "  \"hidden_dropout_prob\": %s,\n"
             "  \"hidden_size\": %d,\n"
             "%s"
             "  \"initializer_range\": %s,\n"
             "  \"intermediate_size\": %d,\n"
             "  \"layer_norm_eps\": %s,\n"
             "  \"max_position_embeddings\": %d,\n"
             "  \"model_type\": \"bert\",\n"
             "  \"num_attention_heads\": %d,\n"
             "  \"num_hidden_layers\": %d,\n"
             "  \"pad_token_id\": %d,\n"
             "  \"position_embedding_type\": \"absolute\",\n"
             "  \"torch_dtype\": \"float32\",\n"
             "  \"type_vocab_size\": %d,\n"
             "  \"use_cache\": true,\n"
             "  \"vocab_size\": %d\n"
             "}\n",
             num_labels > 0 ? "BertForSequenceClassification" : "BertModel", float_str(c->attention_dropout, a, sizeof a),
             encoder_activation_name(c->activation), float_str(c->hidden_dropout, b, sizeof b), c->hidden_size, labels,
             float_str(c->initializer_range, r, sizeof r), c->intermediate_size, float_str(c->layer_norm_eps, e, sizeof e),
             c->max_position_embeddings, c->num_heads, c->num_layers, pad_id < 0 ? 0 : pad_id, c->type_vocab_size,
             c->vocab_size);
    return write_text(dir, "config.json", text);
}

/* One special token of tokenizer.json's added_tokens (skipped when the vocabulary lacks it). */
static void added_token(FILE *f, const bienc_tokenizer *tok, int id, int *first)
{
    if (id < 0) return;
    fprintf(f, "%s\n    {\"id\": %d, \"content\": ", *first ? "" : ",", id);
    json_write_string(f, tokenizer_id_to_token(tok, id));
    fputs(", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
          "\"special\": true}", f);
    *first = 0;
}

/* Hugging Face tokenizers' tokenizer.json of a BertTokenizerFast: BertNormalizer,
 * BertPreTokenizer, WordPiece (the vocabulary in id order), [CLS] A [SEP] (B [SEP]) with
 * token types 0 / 1. What fastembed and transformers.js read. */
static int write_tokenizer_json(const char *dir, const bienc_tokenizer *tok)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s/tokenizer.json", dir) >= (int)sizeof p)
        return bienc_error(BIENC_EINVAL, "%s: path too long", dir);
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, p));
    FILE *f = out.f;
    int cls = tokenizer_cls_id(tok), sep = tokenizer_sep_id(tok), first = 1;
    fputs("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [", f);
    added_token(f, tok, tokenizer_pad_id(tok), &first);
    added_token(f, tok, tokenizer_unk_id(tok), &first);
    added_token(f, tok, cls, &first);
    added_token(f, tok, sep, &first);
    added_token(f, tok, tokenizer_mask_id(tok), &first);
    fprintf(f,
            "\n  ],\n"
            "  \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true, "
            "\"strip_accents\": null, \"lowercase\": %s},\n"
            "  \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},\n",
            tokenizer_do_lower_case(tok) ? "true" : "false");
    if (cls >= 0 && sep >= 0)
        fprintf(f,
                "  \"post_processor\": {\n    \"type\": \"TemplateProcessing\",\n"
                "    \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
                "\"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}],\n"
                "    \"pair\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
                "\"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\", "
                "\"type_id\": 1}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 1}}],\n"
                "    \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [%d], \"tokens\": [\"[CLS]\"]}, "
                "\"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [%d], \"tokens\": [\"[SEP]\"]}}\n  },\n",
                cls, sep);
    else
        fputs("  \"post_processor\": null,\n", f);
    fputs("  \"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true},\n"
          "  \"model\": {\n    \"type\": \"WordPiece\",\n    \"unk_token\": \"[UNK]\",\n"
          "    \"continuing_subword_prefix\": \"##\",\n    \"max_input_chars_per_word\": 100,\n    \"vocab\": {",
          f);
    int n = tokenizer_vocab_size(tok);
    for (int i = 0; i < n; i++) {
        fputs(i ? ",\n      " : "\n      ", f);
        json_write_string(f, tokenizer_id_to_token(tok, i));
        fprintf(f, ": %d", i);
    }
    fputs("\n    }\n  }\n}\n", f);
    return atomic_file_commit(&out);
}

int hf_export_tokenizer(const char *dir, const bienc_tokenizer *tok, int max_len)
{
    char p[4096], text[1024];
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    BIENC_TRY(tokenizer_save_vocab(tok, p));
    BIENC_TRY(write_tokenizer_json(dir, tok));
    const char *lc = tokenizer_do_lower_case(tok) ? "true" : "false";
    snprintf(text, sizeof text,
             "{\n"
             "  \"clean_up_tokenization_spaces\": true,\n"
             "  \"cls_token\": \"[CLS]\",\n"
             "  \"do_basic_tokenize\": true,\n"
             "  \"do_lower_case\": %s,\n"
             "  \"mask_token\": \"[MASK]\",\n"
             "  \"model_max_length\": %d,\n"
             "  \"never_split\": null,\n"
             "  \"pad_token\": \"[PAD]\",\n"
             "  \"sep_token\": \"[SEP]\",\n"
             "  \"strip_accents\": null,\n"
             "  \"tokenize_chinese_chars\": true,\n"
             "  \"tokenizer_class\": \"BertTokenizer\",\n"
             "  \"unk_token\": \"[UNK]\"\n"
             "}\n",
             lc, max_len);
    BIENC_TRY(write_text(dir, "tokenizer_config.json", text));
    return write_text(dir, "special_tokens_map.json",
                      "{\n  \"cls_token\": \"[CLS]\",\n  \"mask_token\": \"[MASK]\",\n  \"pad_token\": \"[PAD]\",\n"
                      "  \"sep_token\": \"[SEP]\",\n  \"unk_token\": \"[UNK]\"\n}\n");
}

static int write_st_files(const char *dir, const bienc_biencoder *bi)
{
    char text[2048], p[4096];
    snprintf(text, sizeof text,
             "[\n"
             "  {\n    \"idx\": 0,\n    \"name\": \"0\",\n    \"path\": \"\",\n"
             "    \"type\": \"sentence_transformers.models.Transformer\"\n  },\n"
             "  {\n    \"idx\": 1,\n    \"name\": \"1\",\n    \"path\": \"1_Pooling\",\n"
             "    \"type\": \"sentence_transformers.models.Pooling\"\n  }%s\n]\n",
             bi->normalize ? ",\n  {\n    \"idx\": 2,\n    \"name\": \"2\",\n    \"path\": \"2_Normalize\",\n"
                             "    \"type\": \"sentence_transformers.models.Normalize\"\n  }"
                           : "");
    BIENC_TRY(write_text(dir, "modules.json", text));

    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    BIENC_TRY(hf_export_make_dir(p));
    snprintf(text, sizeof text,
             "{\n"
             "  \"word_embedding_dimension\": %d,\n"
             "  \"pooling_mode_cls_token\": %s,\n"
             "  \"pooling_mode_mean_tokens\": %s,\n"
             "  \"pooling_mode_max_tokens\": %s,\n"
             "  \"pooling_mode_mean_sqrt_len_tokens\": false,\n"
             "  \"pooling_mode_weightedmean_tokens\": false,\n"
             "  \"pooling_mode_lasttoken\": false,\n"
             "  \"include_prompt\": true\n"
             "}\n",
             bi->enc->cfg.hidden_size, bi->pool == BIENC_POOL_CLS ? "true" : "false",
             bi->pool == BIENC_POOL_MEAN ? "true" : "false", bi->pool == BIENC_POOL_MAX ? "true" : "false");
    BIENC_TRY(write_text(p, "config.json", text));
    if (bi->normalize) {
        snprintf(p, sizeof p, "%s/2_Normalize", dir);
        BIENC_TRY(hf_export_make_dir(p));
    }
    /* sentence-transformers has one max length for every text: the passage side's */
    snprintf(text, sizeof text, "{\n  \"max_seq_length\": %d,\n  \"do_lower_case\": false\n}\n", bi->max_passage_len);
    BIENC_TRY(write_text(dir, "sentence_bert_config.json", text));
    snprintf(text, sizeof text,
             "{\n"
             "  \"__version__\": {\n"
             "    \"sentence_transformers\": \"2.2.2\",\n"
             "    \"transformers\": \"4.30.0\",\n"
             "    \"pytorch\": \"2.0.0\",\n"
             "    \"bienc\": \"%s\"\n"
             "  },\n"
             "  \"prompts\": {},\n"
             "  \"default_prompt_name\": null,\n"
             "  \"similarity_fn_name\": \"cosine\"\n"
             "}\n",
             BIENC_VERSION_STRING);
    return write_text(dir, "config_sentence_transformers.json", text);
}

int hf_export(const bienc_biencoder *bi, const char *dir)
{
    if (!bi || !dir) return bienc_error(BIENC_EINVAL, "hf_export: NULL argument");
    BIENC_TRY(biencoder_check(bi));
    if (bi->late_interaction) /* a sentence-transformers folder pools: it would be another model */
        return bienc_error(BIENC_EINVAL, "export: a late-interaction (ColBERT) model has no sentence-transformers "
                                         "form (it does not pool its token vectors)");
    BIENC_TRY(hf_export_make_dir(dir));
    const bienc_encoder *enc = bi->enc;
    safetensors_entry *e = calloc((size_t)enc->n_params, sizeof *e);
    if (!e) return bienc_error(BIENC_ENOMEM, "out of memory");
    for (int i = 0; i < enc->n_params; i++) {
        e[i].name = enc->params[i]->name;
        e[i].data = enc->params[i]->data;
        e[i].ndim = enc->params[i]->ndim;
        e[i].shape = enc->params[i]->shape;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    int rc = safetensors_write(p, e, enc->n_params);
    free(e);
    if (rc == 0) rc = hf_export_config(dir, &enc->cfg, tokenizer_pad_id(bi->tok), 0);
    if (rc == 0) rc = hf_export_tokenizer(dir, bi->tok, enc->cfg.max_position_embeddings);
    if (rc == 0) rc = write_st_files(dir, bi);
    return rc;
}
