/* Where a training run writes, shared by every model that trains through the loop (the
 * bi-encoder, pre-training; layout in src/train/trainer.h):
 *     RUN_DIR  = output.dir/<run name><suffix>     metrics.jsonl, config.yaml
 *     CKPT_DIR = checkpoint.dir/<basename of RUN_DIR>   step-N.h5 */
#ifndef BIENC_RUN_DIR_H
#define BIENC_RUN_DIR_H

#include "io/config.h"
#include "train/trainer.h"

/* Fills r->run_dir and r->ckpt_dir and creates both directories. */
int run_dir_create(const bienc_run_config *cfg, const char *suffix, bienc_train_result *r);

/* The resolved config as YAML (*text, malloc'd): stored in every checkpoint and, once the
 * run is set up, in RUN_DIR/config.yaml (written atomically). */
int run_dir_config_text(const bienc_run_config *cfg, char **text);
int run_dir_write_config(const char *run_dir, const char *text);

#endif
