/* ONNX export of bienc models: a folder that ONNX Runtime (and the tools built on it:
 * fastembed, transformers.js, Optimum, text-embeddings-inference) loads.
 *
 *     DIR/model.onnx             opset 17, IR version 8 (see README "ONNX export")
 *     DIR/config.json            BertModel / BertForSequenceClassification config
 *     DIR/vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json
 *
 * The graph is the standard BERT one, the same arithmetic as bienc's forward pass:
 *   inputs   input_ids, attention_mask, token_type_ids: int64 [batch, sequence]
 *            (right padding: padded positions have attention_mask 0)
 *   bi-encoder outputs
 *            last_hidden_state   float [batch, sequence, hidden]  (as Optimum names it)
 *            sentence_embedding  float [batch, hidden]            pooling (mean over the
 *                                 unmasked tokens / cls / max) then L2 normalisation when
 *                                 the model normalises
 *   cross-encoder output
 *            logits              float [batch, 1]   BertForSequenceClassification's head
 * Weights are initializers named after the Hugging Face parameters; a linear layer's
 * weight is stored transposed ([in, out], for MatMul) under "<name>_T". */
#ifndef BIENC_ONNX_EXPORT_H
#define BIENC_ONNX_EXPORT_H

#include "model/biencoder.h"
#include "model/cross_encoder.h"

/* Write the folder `dir` (created if needed; files are replaced atomically). */
int onnx_export_biencoder(const bienc_biencoder *bi, const char *dir);
int onnx_export_cross_encoder(const bienc_cross_encoder *ce, const char *dir);

#endif
