#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "core/error.h"

int arg_string(int argc, char **argv, int *i, const char *flag, const char **value)
{
    if (strcmp(argv[*i], flag) != 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "bienc: %s needs a value\n", flag);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int arg_int(int argc, char **argv, int *i, const char *flag, int64_t min, int64_t max, int64_t *value)
{
    const char *s;
    int rc = arg_string(argc, argv, i, flag, &s);
    if (rc <= 0) return rc;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "bienc: %s takes a whole number from %lld to %lld, not '%s'\n", flag,
                (long long)min, (long long)max, s);
        return -1;
    }
    *value = v;
    return 1;
}

int arg_float(int argc, char **argv, int *i, const char *flag, double *value)
{
    const char *s;
    int rc = arg_string(argc, argv, i, flag, &s);
    if (rc <= 0) return rc;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "bienc: %s takes a number, not '%s'\n", flag, s);
        return -1;
    }
    *value = v;
    return 1;
}

int arg_flag(char **argv, int i, const char *flag, int *value)
{
    if (strcmp(argv[i], flag) != 0) return 0;
    *value = 1;
    return 1;
}

int arg_unknown(const char *cmd, const char *arg)
{
    fprintf(stderr, "bienc %s: unknown argument '%s' (see bienc %s --help)\n", cmd, arg, cmd);
    return 2;
}

int cli_fail(const char *cmd)
{
    fprintf(stderr, "bienc %s: %s\n", cmd, bienc_last_error());
    return 1;
}

int arg_set(int argc, char **argv, int *i, const char *cmd, const char **sets, int *n_sets)
{
    const char *v;
    int rc = arg_string(argc, argv, i, "--set", &v);
    if (rc <= 0) return rc;
    if (*n_sets == ARG_MAX_SETS) {
        fprintf(stderr, "bienc %s: at most %d --set options\n", cmd, ARG_MAX_SETS);
        return -1;
    }
    sets[(*n_sets)++] = v;
    return 1;
}

volatile sig_atomic_t cli_stop;

static void on_sigint(int sig)
{
    cli_stop = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

void cli_sigint_install(struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old);
}

void cli_sigint_restore(const struct sigaction *old)
{
    sigaction(SIGINT, old, NULL);
}

int cli_load_texts(const char *path, struct bienc_texts **out)
{
    bienc_read_opts ro = {0};
    size_t n = strlen(path);
    if (n > 6 && strcmp(path + n - 6, ".jsonl") == 0) return texts_load_jsonl(out, path, &ro, NULL);
    return texts_load_tsv(out, path, &ro, NULL);
}
