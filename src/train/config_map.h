/* The run config (src/io/config.h, which knows no other module) mapped onto the modules'
 * own settings: the encoder config of a model section, AdamW's settings of an optim
 * section, the schedule of a schedule section. Choices need no mapping: the config stores
 * the modules' own enums (src/core/kinds.h). */
#ifndef BIENC_CONFIG_MAP_H
#define BIENC_CONFIG_MAP_H

#include <stdint.h>

#include "io/config.h"
#include "model/encoder.h"
#include "train/optim.h"

/* The encoder config of a model section (call after config_finalize); vocab_size is the
 * tokenizer's, used when model.vocab_size is 0. Checked with encoder_config_check(). */
int config_encoder_config(const bienc_cfg_model *m, int64_t vocab_size, bienc_encoder_config *out);

/* The schedule of a run config's `schedule:` section for a run of total_steps optimiser
 * steps (warm-up from warmup_steps or warmup_ratio). */
int schedule_from_config(bienc_schedule *s, const bienc_cfg_schedule *c, int64_t total_steps);

/* From a run config's `optim:` section. */
void adamw_config_from(bienc_adamw_config *out, const bienc_cfg_optim *c);

#endif
