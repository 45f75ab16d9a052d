/* Saving and loading a bi-encoder in an HDF5 checkpoint (checkpoint.h; docs/checkpoint-format.md).
 *
 * Layout (every name relative to the file's root):
 *     /params/<Hugging Face name>   float32 datasets, BertModel's state_dict names and shapes
 *     /vocab                        1-D string dataset, one WordPiece token per element (id order)
 *     attributes on /model:
 *         kind = "bi_encoder", vocab_size, hidden_size, num_layers, num_heads,
 *         intermediate_size, max_position_embeddings, type_vocab_size (int64);
 *         hidden_dropout, attention_dropout, layer_norm_eps, initializer_range (double);
 *         activation ("gelu" / "gelu_new"), pooling ("mean" / "cls" / "max") (strings);
 *         normalize, max_query_length, max_passage_length, lower_case (int64)
 * A training checkpoint (trainer.h) adds the optimiser, sampler and RNG state next to these;
 * model_io_read ignores them, so any training checkpoint is also a model file. An MLM
 * pre-training checkpoint (pretrain.h) adds its head as /params/cls.predictions.*:
 * model_io_read drops it, so `model.init_from` starts a bi-encoder from the pre-trained encoder.
 *
 * Loading validates everything before use: the config attributes (ranges as
 * encoder_config_check), every parameter's presence and shape against that config, no
 * unexpected tensor under /params (but the MLM head), the vocabulary against vocab_size. Errors name the file
 * and the attribute or tensor. */
#ifndef BIENC_MODEL_IO_H
#define BIENC_MODEL_IO_H

#include "model/biencoder.h"
#include "io/checkpoint.h"

/* Writes the model (params, attributes, vocabulary) into an open checkpoint writer. */
int model_io_write(bienc_ckpt_writer *w, const bienc_biencoder *bi);
/* A model-only checkpoint at `path`, written atomically. */
int model_io_save(const char *path, const bienc_biencoder *bi);

/* The encoder-config attributes under /model (vocab_size .. activation, as in the layout
 * above), shared by every model kind: the cross-encoder's checkpoints (cross_io.c) use them too.
 * Reading range-checks each attribute and runs encoder_config_check. */
int model_io_write_encoder_config(bienc_ckpt_writer *w, const bienc_encoder_config *cfg);
int model_io_read_encoder_config(const bienc_ckpt *c, bienc_encoder_config *cfg);
/* The /vocab dataset: the tokenizer's tokens in id order. */
int model_io_write_vocab(bienc_ckpt_writer *w, const bienc_tokenizer *tok);
/* Attribute `name` (int64) into *out, an error naming the file and attribute unless in [lo, hi]. */
int model_io_read_int(const bienc_ckpt *c, const char *name, int64_t lo, int64_t hi, int *out);

/* The configuration stored in a checkpoint (no parameters read). Any of the outputs may be NULL. */
int model_io_read_config(const bienc_ckpt *c, bienc_encoder_config *cfg, bienc_biencoder_opts *o, int *lower_case);
/* A new bi-encoder from an open checkpoint (parameters, vocabulary, config). The encoder
 * comes back inference-only (no gradient buffers): call encoder_set_trainable(bi->enc, 1)
 * before training it (the trainer does). */
int model_io_read(const bienc_ckpt *c, bienc_biencoder **out);
/* Same from a file: opens, validates, reads, closes (errors are prefixed with the path). */
int model_io_load(const char *path, bienc_biencoder **out);

#endif
