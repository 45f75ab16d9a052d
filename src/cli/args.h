/* Small helpers for "--flag value" style arguments. */
#ifndef BIENC_CLI_ARGS_H
#define BIENC_CLI_ARGS_H

#include <signal.h>
#include <stdint.h>

/* If argv[*i] is `flag`, stores the next argument in *value, advances *i and returns 1;
 * returns -1 (after printing an error) when the value is missing; 0 when no match. */
int arg_string(int argc, char **argv, int *i, const char *flag, const char **value);
/* Same, parsing an integer in [min, max] / a float. */
int arg_int(int argc, char **argv, int *i, const char *flag, int64_t min, int64_t max, int64_t *value);
int arg_float(int argc, char **argv, int *i, const char *flag, double *value);
/* A bare switch: returns 1 and sets *value = 1 when argv[*i] is `flag`. */
int arg_flag(char **argv, int i, const char *flag, int *value);

/* The repeatable "--set KEY=VALUE" option: if argv[*i] is --set, appends its value to
 * sets[*n_sets] (room for ARG_MAX_SETS) and returns 1; -1 (error printed, naming CMD) when the
 * value is missing or there are too many; 0 when no match. */
#define ARG_MAX_SETS 256
int arg_set(int argc, char **argv, int *i, const char *cmd, const char **sets, int *n_sets);

/* Ctrl-C for long commands (train, run): cli_sigint_install points SIGINT at a handler that
 * sets cli_stop (polled by the library through opts.stop) and restores the default action,
 * so a second Ctrl-C ends the process at once; cli_sigint_restore puts *old back. */
extern volatile sig_atomic_t cli_stop;
void cli_sigint_install(struct sigaction *old);
void cli_sigint_restore(const struct sigaction *old);

/* Prints "bienc CMD: unknown argument 'X'" (with a hint to --help) and returns 2. */
int arg_unknown(const char *cmd, const char *arg);
/* Prints "bienc CMD: <library error message>" and returns 1. */
int cli_fail(const char *cmd);

struct bienc_texts;
/* An `id<TAB>text` TSV file, or BEIR JSON lines when the name ends in .jsonl. */
int cli_load_texts(const char *path, struct bienc_texts **out);

#endif
