/* The bienc subcommands. Each lives in its own cmd_<name>.c, parses its arguments,
 * calls the library and turns a failing status into a message on stderr and exit code. */
#ifndef BIENC_CLI_COMMANDS_H
#define BIENC_CLI_COMMANDS_H

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);  /* argv[0] is the command name */
    const char *summary;
} cli_command;

int cmd_version(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_rerank(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_mine(int argc, char **argv);
int cmd_fuse(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);

/* The option parsing, Ctrl-C handling and summary of `bienc train`, shared by the commands
 * that train through the one loop (train, pretrain): `run` is trainer_run or alike. */
#include <stdio.h>
struct bienc_run_config;
struct bienc_train_opts;
struct bienc_train_result;
int cli_train_command(int argc, char **argv, const char *name,
                      int (*run)(const struct bienc_run_config *, const struct bienc_train_opts *,
                                 struct bienc_train_result *),
                      void (*usage)(FILE *));

#endif
