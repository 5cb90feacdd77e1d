/* The tinyad command line, bottom layer: what a run is configured by, and
 * option tables that parse, check, print and write it. Knows no command and
 * no model kind.
 *
 * Layers of tools/tinyad (each includes only the ones above it):
 *   options.h  cli_config, option tables (this file)
 *   models.h   one row per model kind: its options, checks, code
 *   config.h   the options every kind shares; parse / --help / config text
 *   common.h   what every command uses: failing with a message, limits, threads
 *   run.h      a run: data, model, run directory, checkpoints, metrics
 *   pics.h     the pictures of a run
 *   commands.h train (train.c), eval and sample (eval.c); main.c dispatches */
#ifndef TD_CLI_OPTIONS_H
#define TD_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "nn/data.h"
#include "nn/optim.h"

/* Exit statuses: 2 = the command line is wrong (usage printed), 1 = a
 * runtime failure (message printed), 130 = interrupted, state saved. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* Room for the options of one model kind, laid out by its row (models.c). */
enum { CLI_MODEL_OPTIONS_SIZE = 256 };

/* Everything a training run is configured by. Stored as config.txt in the
 * run directory and inside the checkpoint, as "key = value" lines. */
typedef struct cli_config {
    char kind[16];
    char data[1024];
    int64_t epochs, batch;
    double lr;
    char optimizer[16];
    double momentum, weight_decay, clip;
    char schedule[16];
    double gamma;
    int64_t step_size;
    char hidden[128];
    char activation[16];
    int64_t latent;
    char likelihood[16];
    char binarize[16];
    int64_t seed, threads, val, limit;
    char out[1024];
    char resume[1024];
    int64_t force;   /* train --force: a fresh run may replace a trained one in --out */
    char on_nan[8];  /* train: stop | skip */
    int64_t same_bits; /* train --same-bits-any-ranks M: micro-batches of M rows (0: off) */
    char recipe[8];  /* train: none | iwae (sets the options below it stands for) */
    char output_bias[8]; /* train: init | data (vae, hvae: logits' bias from the mean image) */
    int64_t iw_k;    /* eval --iw-k */
    int64_t json, n; /* eval --json; sample --n */
    int64_t input;   /* values per image, taken from the data at training time */
    /* The kind's own options (e.g. the VAE's beta), in the layout of its
     * row's option table; set to the kind's defaults by cli_config_set_kind. */
    union {
        double align;
        unsigned char bytes[CLI_MODEL_OPTIONS_SIZE];
    } model;
} cli_config;

enum { CLI_IF_SET = 2 };

/* Which command an option belongs to, as a bit set. */
enum { OPT_TRAIN = 1, OPT_EVAL = 2, OPT_SAMPLE = 4 };

typedef enum { T_INT, T_REAL, T_STR, T_FLAG } cli_opt_type; /* FLAG: no value, sets 1 */

/* One row per flag: its type, where it is stored (an offset into the struct
 * the table describes), its default, its limits and its help line. */
typedef struct cli_opt {
    const char *name;
    cli_opt_type type;
    size_t offset, size; /* size for strings */
    const char *def;
    double min;          /* numbers: smallest allowed value */
    int strictly_above;  /* numbers: min itself not allowed */
    int cmds;            /* OPT_ bits */
    int in_config;       /* written to config.txt / the checkpoint; CLI_IF_SET: only
                          * when not the default (options added later, so that
                          * runs without them keep their config text) */
    const char *choices; /* strings: "a|b|c", or NULL for free text */
    const char *help;
    int64_t max;         /* integers: largest useful value (0: none), see cli_opts_over_limit */
} cli_opt;

/* Rows for a table over struct S: a number field named like its flag, and
 * any option spelled out (flag name, field). */
#define CLI_NUM(S, field, type_, def, min, above, cmds, help) \
    {#field, type_, offsetof(S, field), 0, def, min, above, cmds, 1, NULL, help, 0}
#define CLI_STR(S, name, field, def, cmds, cfg, choices, help) \
    {name, T_STR, offsetof(S, field), sizeof(((S *)0)->field), def, 0, 0, cmds, cfg, choices, help, 0}

typedef struct cli_opts {
    const cli_opt *opt;
    int n;
} cli_opts;

/* Sets option o of the struct at base from text v. 0, or -1 with why. */
int cli_opt_set(void *base, const cli_opt *o, const char *v, char *why, size_t wlen);
/* Every option of the table to its default. */
void cli_opts_defaults(void *base, cli_opts t);
/* Index of the option named name (for command bits cmds, 0: any) or -1. */
int cli_opts_find(cli_opts t, const char *name, int cmds);
/* The --help lines of the options for cmd. */
void cli_opts_usage(FILE *f, cli_opts t, int cmd);
/* The in_config options as "key = value\n" lines at buf + n; returns the new n. */
size_t cli_opts_text(const void *base, cli_opts t, char *buf, size_t n, size_t len);
/* 1 with msg if an integer option for cmd is above its max, else 0. */
int cli_opts_over_limit(const void *base, cli_opts t, int cmd, char *msg, size_t len);

/* "400" or "200,200" -> sizes; "none" -> 0; returns the count or -1. */
int cli_parse_hidden(const char *s, int64_t *sizes, int max);

#endif
