/* Hugging Face / sentence-transformers folders <-> bienc bi-encoders.
 *
 * Import reads a BERT-family folder:
 *     config.json                     BertConfig (model_type "bert", absolute positions)
 *     model.safetensors               BertModel weights, names with or without "bert."; the
 *                                     pooler, MLM heads ("cls.") and position_ids are skipped
 *     vocab.txt or tokenizer.json     (+ tokenizer_config.json: do_lower_case)
 * and, for sentence-transformers folders:
 *     modules.json                    Transformer, Pooling, optional Normalize (others refused)
 *     1_Pooling/config.json           pooling_mode_mean_tokens / cls_token / max_tokens
 *     sentence_bert_config.json       max_seq_length (both sides' max length)
 * A plain Hugging Face folder (no modules.json) gets mean pooling, as sentence-transformers
 * gives it. Every parameter is checked for presence, shape and uniqueness.
 *
 * Export writes a sentence-transformers folder that SentenceTransformer(dir) loads:
 * config.json, model.safetensors (F32), vocab.txt, tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json, modules.json, 1_Pooling/config.json, 2_Normalize/ (when the
 * model normalises), sentence_bert_config.json, config_sentence_transformers.json. */
#ifndef BIENC_HF_IMPORT_H
#define BIENC_HF_IMPORT_H

#include "model/biencoder.h"
#include "io/safetensors.h"

/* A new bi-encoder from the folder `dir`. Errors name the file and field / tensor. */
int hf_import(const char *dir, bienc_biencoder **out);

/* Copies the tensors of `st` into the encoder's parameters by Hugging Face name (see
 * above for the accepted names). Fails on a missing, duplicated, unexpected or
 * misshapen tensor. */
int hf_load_encoder_params(bienc_encoder *enc, const bienc_safetensors *st);

/* Writes the folder `dir` (created if needed; existing files are replaced). */
int hf_export(const bienc_biencoder *bi, const char *dir);

/* The pieces of a folder that the ONNX export (onnx_export.h) writes too: the directory
 * (created unless it exists as a directory), config.json (BertModel, or with num_labels > 0
 * BertForSequenceClassification with one label), and the tokenizer files vocab.txt,
 * tokenizer.json (Hugging Face tokenizers' BertTokenizerFast layout), tokenizer_config.json
 * (model_max_length = max_len) and special_tokens_map.json. */
int hf_export_make_dir(const char *dir);
int hf_export_config(const char *dir, const bienc_encoder_config *c, int pad_id, int num_labels);
int hf_export_tokenizer(const char *dir, const bienc_tokenizer *tok, int max_len);

#endif
