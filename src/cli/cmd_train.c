/* bienc train CONFIG [--set K=V]... [--resume [CKPT|auto]] [--threads N]: trains a bi-encoder
 * as the run config describes (library: src/train/trainer.h) and prints a summary. Ctrl-C
 * finishes the current step, saves a checkpoint and exits with 130; a second Ctrl-C kills. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "io/config.h"
#include "core/error.h"
#include "train/trainer.h"
#include "cli/args.h"
#include "cli/commands.h"

static void train_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc train CONFIG [--set KEY=VALUE]... [--resume [CKPT|auto]] [--overwrite] [--threads N]\n\n"
            "Trains a bi-encoder as the run config describes (see `bienc config --keys`), writing\n"
            "RUN_DIR/metrics.jsonl, RUN_DIR/config.yaml and checkpoints CKPT_DIR/step-N.h5\n"
            "(RUN_DIR = output.dir/<name>, CKPT_DIR = checkpoint.dir/<name>).\n\n"
            "  --set KEY=VALUE       override any config key, e.g. --set optim.lr=3e-5 --set train.steps=100\n"
            "  --resume [CKPT|auto]  continue from a checkpoint (auto, the default: the run's latest);\n"
            "                        the run continues the same trajectory bit for bit\n"
            "  --overwrite           start over: delete the checkpoints of an earlier run of this name\n"
            "  --threads N           worker threads (overrides train.threads)\n"
            "  --stop-at STEP        stop after this step with a checkpoint (as Ctrl-C would)\n"
            "  --eval-passages N     overrides eval.max_passages: eval corpus = the dev queries'\n"
            "                        relevant passages + the first N collection rows (0 = all)\n"
            "  --no-eval-at-start    skip evaluating the untrained model\n"
            "  --progress / --no-progress   force the progress bar on or off (default: on a TTY)\n"
            "  --quiet               no progress output, summary only\n\n"
            "Ctrl-C: the current step finishes, a checkpoint is saved, exit code 130.\n");
}

static void print_summary(const char *name, const bienc_train_result *r)
{
    printf("bienc %s: %s\n", name, r->stopped ? "stopped" : "done");
    printf("  steps          %lld of %lld (resumed at %lld), epoch %lld\n", (long long)r->steps,
           (long long)r->total_steps, (long long)r->start_step, (long long)r->epoch);
    if (isfinite(r->final_loss)) printf("  final loss     %.4f\n", r->final_loss);
    if (isfinite(r->mrr_before) || isfinite(r->mrr_after)) {
        printf("  dev MRR@10     ");
        if (isfinite(r->mrr_before)) printf("%.4f (untrained)", r->mrr_before);
        if (isfinite(r->mrr_after)) printf("%s%.4f (trained)", isfinite(r->mrr_before) ? " -> " : "", r->mrr_after);
        printf("\n");
    }
    if (isfinite(r->recall_before) && isfinite(r->recall_after) && r->recall_before + r->recall_after > 0)
        printf("  dev Recall@10  %.4f -> %.4f\n", r->recall_before, r->recall_after);
    printf("  time           %.1f s, %.1f pairs/s (training)\n", r->seconds, r->pairs_per_s);
    if (r->last_ckpt[0]) printf("  checkpoint     %s\n", r->last_ckpt);
    if (r->best_ckpt[0] && strcmp(r->best_ckpt, r->last_ckpt) != 0) printf("  best           %s\n", r->best_ckpt);
    printf("  run dir        %s (metrics.jsonl, config.yaml)\n", r->run_dir);
}

int cli_train_command(int argc, char **argv, const char *name,
                      int (*run)(const bienc_run_config *, const bienc_train_opts *, bienc_train_result *),
                      void (*usage)(FILE *))
{
    const char *sets[ARG_MAX_SETS], *file = NULL;
    int n_sets = 0, quiet = 0, progress = -1, no_eval_start = 0;
    bienc_train_opts o;
    train_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        int64_t n;
        int rc, flag = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (arg_flag(argv, i, "--quiet", &quiet) || arg_flag(argv, i, "--no-eval-at-start", &no_eval_start) ||
            arg_flag(argv, i, "--overwrite", &o.overwrite))
            continue;
        if (arg_flag(argv, i, "--progress", &flag)) {
            progress = 1;
            continue;
        }
        if (arg_flag(argv, i, "--no-progress", &flag)) {
            progress = 0;
            continue;
        }
        if (strcmp(argv[i], "--resume") == 0) {
            /* optional value: a following non-option that is not the config file */
            const char *next = i + 1 < argc ? argv[i + 1] : NULL;
            size_t nl = next ? strlen(next) : 0;
            int is_cfg = next && ((nl > 5 && strcmp(next + nl - 5, ".yaml") == 0) || (nl > 4 && strcmp(next + nl - 4, ".yml") == 0));
            if (next && next[0] != '-' && (!is_cfg || file)) {
                o.resume = next;
                i++;
            } else {
                o.resume = "auto";
            }
            continue;
        }
        if ((rc = arg_set(argc, argv, &i, name, sets, &n_sets)) != 0) {
            if (rc < 0) return 2;
            continue;
        }
        if ((rc = arg_int(argc, argv, &i, "--threads", 1, 4096, &n)) != 0) {
            if (rc < 0) return 2;
            o.threads = (int)n;
            continue;
        }
        if ((rc = arg_int(argc, argv, &i, "--stop-at", 1, INT64_MAX, &n)) != 0) {
            if (rc < 0) return 2;
            o.stop_at_step = n;
            continue;
        }
        if ((rc = arg_int(argc, argv, &i, "--eval-passages", 0, INT64_MAX, &n)) != 0) {
            if (rc < 0) return 2;
            o.eval_max_passages = n;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) return arg_unknown(name, argv[i]);
        if (file) return arg_unknown(name, argv[i]);
        file = argv[i];
    }
    if (!file) {
        usage(stderr);
        return 2;
    }
    o.quiet = quiet;
    o.progress = progress;
    o.eval_at_start = !no_eval_start;
    o.stop = &cli_stop;

    bienc_run_config cfg;
    int rc = config_load(&cfg, file, sets, n_sets);
    if (rc < 0) {
        config_free(&cfg);
        return cli_fail(name);
    }
    struct sigaction old;
    cli_sigint_install(&old);
    bienc_train_result r;
    rc = run(&cfg, &o, &r);
    cli_sigint_restore(&old);
    config_free(&cfg);
    if (rc < 0) {
        int code = cli_fail(name);
        train_result_free(&r);
        return code;
    }
    print_summary(name, &r);
    int stopped = r.stopped;
    train_result_free(&r);
    return stopped == 1 ? 130 : 0;
}

int cmd_train(int argc, char **argv) { return cli_train_command(argc, argv, "train", trainer_run, train_usage); }
