/* MLM pre-training of the encoder: `bienc pretrain CONFIG` as a library call.
 *
 * BERT's masked-language-model objective (mlm.h) on the collection's own passages
 * (data.collection; each one [CLS] passage [SEP], cut to pretrain.max_length tokens),
 * shuffled every epoch from (pretrain.train.seed, epoch). The encoder is the `model:`
 * section's (or model.init_from's), the vocabulary tokenizer.vocab or one trained on the
 * training texts as `bienc train` trains it (saved as RUN_DIR/vocab.txt). Optimiser,
 * schedule and length come from pretrain.optim / pretrain.schedule / pretrain.train.
 *
 * It trains through the one training loop (src/train/train_loop.h), so it writes
 * RUN_DIR/config.yaml, RUN_DIR/metrics.jsonl and CKPT_DIR/step-N.h5 checkpoints
 * (checkpoint.every_steps, keep_last) and resumes from them bit for bit, exactly as
 * `bienc train` does (trainer.h), with RUN_DIR = output.dir/<name>-pretrain and CKPT_DIR =
 * checkpoint.dir/<name>-pretrain. A checkpoint is a bi-encoder model file (model_io.h)
 * plus the MLM head under /params/cls.predictions.*, the optimiser and the data position
 * (attributes data/epoch, data/position): `model.init_from: CKPT_DIR/step-N.h5` starts a
 * bi-encoder (head dropped) or a teacher (`teacher.model.init_from`) from it. Masks are a
 * pure function of (seed, step, micro-batch). */
#ifndef BIENC_PRETRAIN_H
#define BIENC_PRETRAIN_H

#include "io/config.h"
#include "train/trainer.h"

/* Runs the pre-training of cfg (config_finalize'd). opts and result as trainer_run's
 * (result.pairs_per_s counts passages; result.last_ckpt is the pre-trained model). */
int pretrain_run(const bienc_run_config *cfg, const bienc_train_opts *o, bienc_train_result *r);

#endif
