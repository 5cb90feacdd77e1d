/* The options every model kind shares, and the command line over them plus
 * the kind's row: parsing, --help, the config text of a run and its checks. */
#ifndef TD_CLI_CONFIG_H
#define TD_CLI_CONFIG_H

#include "models.h"

/* Defaults of every shared option; kind "vae" with its defaults. */
void cli_config_defaults(cli_config *c);
/* Sets c->kind and the kind's options to their defaults. -1 with td_error()
 * if no row has that kind. */
int cli_config_set_kind(cli_config *c, const char *kind);
/* The row of c->kind (set through cli_config_set_kind, so never NULL). */
const cli_model *cli_config_model(const cli_config *c);

/* `given` of cli_parse: a slot per shared option (cli_option_index), and
 * this slot for any option of the model kind. */
enum { CLI_GIVEN_KIND_OPTION = 127, CLI_GIVEN_SIZE = 128 };

/* Parses argv[first..argc) for command cmd (an OPT_ bit) into c. Positional
 * arguments go to *positional (at most one); for train that is the model
 * kind, whose options are then accepted too. Returns 0, or CLI_USAGE after
 * printing what is wrong and the usage to stderr. --help prints the usage to
 * stdout and returns -1. given (may be NULL, else CLI_GIVEN_SIZE entries)
 * receives which flags were given. */
int cli_parse(int cmd, const char *prog, int argc, char **argv, int first, cli_config *c,
              const char **positional, unsigned char *given);
void cli_usage(FILE *f, int cmd, const char *prog);
/* Index of a shared option by name (for `given`), -1 if none. */
int cli_option_index(const char *name);
/* The options of c that describe the run (not --out, --resume, --threads):
 * "kind = K", the shared ones, then the kind's own, as "key = value\n"
 * lines into buf. Returns the length. */
size_t cli_config_text(const cli_config *c, char *buf, size_t len);
/* Reads such text back over c. A "kind" line sets the kind (and its
 * defaults); keys of other kinds' options, which configs written before each
 * kind listed only its own carry, are skipped. Returns 0, or -1 with
 * td_error(). */
int cli_config_from_text(cli_config *c, const char *text);
/* --recipe iwae: sets the options it stands for (README, docs/formats.md),
 * except those in given (CLI_GIVEN_SIZE entries, may be NULL). 0, or -1
 * with td_error(). */
int cli_config_apply_recipe(cli_config *c, const unsigned char *given);
/* Checks the cross-field rules (hidden list parses, the kind's own rules,
 * ...); prints to stderr and returns CLI_USAGE on failure. */
int cli_config_check(const cli_config *c);
/* The limits of the options of cmd (shared and the kind's): 1 with msg if
 * one is exceeded. */
int cli_config_over_limits(int cmd, const cli_config *c, char *msg, size_t len);

#endif
