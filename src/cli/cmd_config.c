/* bienc config: the run-config schema and validation.
 *   bienc config --keys [--markdown]          every key, type, default and doc
 *   bienc config check FILE [--set K=V]...    validate, print the effective config
 *   bienc config defaults [--set K=V]...      the default config as YAML */
#include <stdio.h>
#include <string.h>

#include "io/config.h"
#include "core/error.h"
#include "cli/args.h"
#include "cli/commands.h"

#define MAX_SETS 256

static void config_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc config --keys [--markdown]\n"
            "       bienc config check FILE [--set KEY=VALUE]... [--quiet]\n"
            "       bienc config defaults [--set KEY=VALUE]...\n\n"
            "  --keys             list every config key with its type, default and description\n"
            "  --markdown         ... as a markdown table (the README's key table)\n"
            "  check FILE         validate a run config (unknown keys, types, ranges, cross-key rules)\n"
            "                     and print the effective config (every key) as YAML\n"
            "  defaults           print the default config as YAML\n"
            "  --set KEY=VALUE    override any key, e.g. --set optim.lr=3e-5 --set eval.k=[1,10]\n"
            "  --quiet            check only: print nothing when the file is valid\n");
}

int cmd_config(int argc, char **argv)
{
    const char *sets[MAX_SETS];
    int n_sets = 0, keys = 0, markdown = 0, quiet = 0;
    const char *action = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_usage(stdout);
            return 0;
        }
        if (arg_flag(argv, i, "--keys", &keys) || arg_flag(argv, i, "--markdown", &markdown) ||
            arg_flag(argv, i, "--quiet", &quiet))
            continue;
        if ((rc = arg_string(argc, argv, &i, "--set", &v)) != 0) {
            if (rc < 0) return 2;
            if (n_sets == MAX_SETS) {
                fprintf(stderr, "bienc config: at most %d --set options\n", MAX_SETS);
                return 2;
            }
            sets[n_sets++] = v;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) return arg_unknown("config", argv[i]);
        if (!action) action = argv[i];
        else if (!file) file = argv[i];
        else return arg_unknown("config", argv[i]);
    }
    if (keys) {
        if (action) return arg_unknown("config", action);
        return config_print_keys(stdout, markdown) < 0 ? cli_fail("config") : 0;
    }
    if (!action) {
        config_usage(stderr);
        return 2;
    }
    int is_check = strcmp(action, "check") == 0;
    if (!is_check && strcmp(action, "defaults") != 0) {
        fprintf(stderr, "bienc config: unknown action '%s' (check, defaults or --keys)\n", action);
        return 2;
    }
    if (is_check && !file) {
        fprintf(stderr, "bienc config check: which file? (bienc config check FILE)\n");
        return 2;
    }
    if (!is_check && file) return arg_unknown("config", file);
    bienc_run_config cfg;
    int rc = config_load(&cfg, file, sets, n_sets);
    if (rc == 0 && !(is_check && quiet)) rc = config_dump_yaml(&cfg, stdout);
    config_free(&cfg);
    if (rc < 0) return cli_fail("config");
    if (is_check && !quiet) fprintf(stderr, "%s: valid\n", file);
    return 0;
}
