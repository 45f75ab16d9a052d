/* bienc pretrain CONFIG [--set K=V]... [--resume [CKPT|auto]] [--threads N]: MLM
 * pre-training of the encoder (library: src/train/pretrain.h), with the options, Ctrl-C
 * handling and summary of `bienc train`. */
#include <stdio.h>

#include "train/pretrain.h"
#include "cli/commands.h"

static void pretrain_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc pretrain CONFIG [--set KEY=VALUE]... [--resume [CKPT|auto]] [--overwrite] [--threads N]\n\n"
            "Masked-language-model pre-training (BERT's 15%% / 80-10-10 masking, MLM head tied to the word\n"
            "embeddings) of the config's encoder on the passages of data.collection, with the pretrain.*\n"
            "keys (see `bienc config --keys`). Writes RUN_DIR-pretrain/metrics.jsonl and config.yaml and\n"
            "checkpoints CKPT_DIR-pretrain/step-N.h5; start a bi-encoder from one with\n"
            "--set model.init_from=CKPT (the MLM head is dropped) or a teacher with teacher.model.init_from.\n\n"
            "  --set KEY=VALUE       override any config key, e.g. --set pretrain.train.steps=500\n"
            "  --resume [CKPT|auto]  continue from a checkpoint (auto, the default: the run's latest)\n"
            "  --overwrite           start over: delete the checkpoints of an earlier run of this name\n"
            "  --threads N           worker threads (overrides pretrain.train.threads)\n"
            "  --stop-at STEP        stop after this step with a checkpoint (as Ctrl-C would)\n"
            "  --progress / --no-progress   force the progress bar on or off (default: on a TTY)\n"
            "  --quiet               no progress output, summary only\n\n"
            "Ctrl-C: the current step finishes, a checkpoint is saved, exit code 130.\n");
}

int cmd_pretrain(int argc, char **argv) { return cli_train_command(argc, argv, "pretrain", pretrain_run, pretrain_usage); }
