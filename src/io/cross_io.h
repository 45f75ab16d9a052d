/* Cross-encoder checkpoints: the encoder's tensors (model_io.h layout) plus the classifier
 * head under /params and max_length, with model/kind "cross_encoder". */
#ifndef BIENC_CROSS_IO_H
#define BIENC_CROSS_IO_H

#include "io/checkpoint.h"
#include "model/cross_encoder.h"

int cross_io_write(struct bienc_ckpt_writer *w, const bienc_cross_encoder *ce);
int cross_io_save(const char *path, const bienc_cross_encoder *ce);
/* Validates like model_io_read (attributes, every shape, nothing unexpected under /params). */
int cross_io_read(const struct bienc_ckpt *c, bienc_cross_encoder **out);
int cross_io_load(const char *path, bienc_cross_encoder **out);
/* 1 when the checkpoint's model/kind is "cross_encoder", 0 otherwise. */
int cross_io_is_cross(const struct bienc_ckpt *c);

#endif
