/* The commands of tinyad: argv as main has it (argv[1] the command).
 * Each returns an exit status (CLI_OK, CLI_FAIL, CLI_USAGE, CLI_INTERRUPTED). */
#ifndef TD_CLI_COMMANDS_H
#define TD_CLI_COMMANDS_H

#include "run.h"

int cmd_train(int argc, char **argv);  /* train.c */
int cmd_eval(int argc, char **argv);   /* eval.c */
int cmd_sample(int argc, char **argv); /* eval.c */

#endif
