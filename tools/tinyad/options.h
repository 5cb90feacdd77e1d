/* The tinyad command line: shared pieces.
 *
 *   cli_config.c  the option table: parsing, validation, --help, config text
 *   cli_models.c  the models the CLI knows (one adapter per model file)
 *   cli_pics.c    the pictures of a run directory (PNG)
 *   tinyad.c      the commands: train, eval, sample
 *
 * A new model (ae, dae, sae) plugs in with one models/X.c file and one
 * cli_model_ops row in cli_models.c; data, optimizer, run directory,
 * checkpoints, progress and pictures come for free. */
#ifndef TD_CLI_OPTIONS_H
#define TD_CLI_OPTIONS_H

#include <stdio.h>

#include "nn/data.h"
#include "nn/optim.h"

/* Exit statuses: 2 = the command line is wrong (usage printed), 1 = a
 * runtime failure (message printed), 130 = interrupted, state saved. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

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
    char gauss_var[16];
    int64_t samples, iw_k, warmup;
    double beta;
    char binarize[16];
    int64_t seed, threads, val, limit;
    char out[1024];
    char resume[1024];
    int64_t force;          /* train --force: a fresh run may replace a trained one in --out */
    char noise[24];         /* dae: masking | gaussian | salt-and-pepper */
    double noise_level;
    char sparsity[8];       /* sae: kl | l1 */
    double sparsity_weight, sparsity_target;
    char on_nan[8];  /* train: stop | skip */
    int64_t json, n; /* eval --json; sample --n */
    int64_t input;   /* values per image, taken from the data at training time */
} cli_config;

/* Which command an option belongs to, as a bit set. */
enum { OPT_TRAIN = 1, OPT_EVAL = 2, OPT_SAMPLE = 4 };

void cli_config_defaults(cli_config *c);
/* Parses argv[first..argc) for command cmd (an OPT_ bit) into c. Positional
 * arguments go to *positional (at most one). Returns 0, or CLI_USAGE after
 * printing what is wrong and the usage to stderr. --help prints the usage to
 * stdout and returns -1. set_mask (may be NULL) receives, per option index,
 * whether the flag was given. */
int cli_parse(int cmd, const char *prog, int argc, char **argv, int first, cli_config *c,
              const char **positional, unsigned char *given);
void cli_usage(FILE *f, int cmd, const char *prog);
/* Index of an option by name (for `given`), -1 if none. */
int cli_option_index(const char *name);
/* The options of c that describe the run (not --out, --resume, --threads)
 * as "key = value\n" lines into buf. Returns the length. */
size_t cli_config_text(const cli_config *c, char *buf, size_t len);
/* Reads such text back over defaults. Returns 0, or -1 with td_error(). */
int cli_config_from_text(cli_config *c, const char *text);
/* Checks the cross-field rules (hidden list parses, choices valid, ...);
 * prints to stderr and returns CLI_USAGE on failure. */
int cli_config_check(const cli_config *c);
/* "400" or "200,200" -> sizes; returns the count or -1. */
int cli_parse_hidden(const char *s, int64_t *sizes, int max);

/* ---- models --------------------------------------------------------------- */
typedef struct cli_terms {
    double loss, recon, reg; /* per-batch sums; reg is the KL for the VAE */
} cli_terms;

typedef struct cli_model_ops {
    const char *kind;
    const char *summary;
    const char *reg_name; /* the second loss term's name in metrics.csv: "kl" */
    /* Builds the model for input images of `input` values, registering its
     * parameters in p. NULL with td_error() if the config is unusable. */
    void *(*create)(const cli_config *c, int64_t input, td_params *p);
    void (*destroy)(void *m);
    /* The loss to minimize for a batch (summed over it); epoch for warm-ups. */
    td_var *(*train_loss)(void *m, td_tape *t, td_var *x, td_rng *rng, int64_t epoch,
                          cli_terms *terms);
    /* The test figures of a batch, no-grad. */
    void (*eval_batch)(void *m, td_tape *t, const td_tensor *x, td_rng *rng, cli_terms *terms);
    int64_t (*latent)(void *m);
    td_var *(*encode)(void *m, td_tape *t, td_var *x);  /* codes [B, latent] */
    td_var *(*decode)(void *m, td_tape *t, td_var *z);  /* images [B, input] in [0, 1] */
    /* Generative models only (NULL otherwise): codes from the prior are
     * N(0, I); -log p(x) per image with K importance samples. */
    void (*iw_nll)(void *m, td_tape *t, const td_tensor *x, int64_t k, td_rng *rng, double *out);
    int has_prior;
    /* Optional (NULL when the model has none): */
    /* dae: the corrupted input it learns to clean, for recon.png */
    td_var *(*corrupt)(void *m, td_tape *t, td_var *x, td_rng *rng);
    /* sae: first-layer filters in [0, 1], one input-sized tile per code unit;
     * returns the number of units (out may be NULL to ask for it) */
    int64_t (*filters)(void *m, td_real *out);
    /* extra figures for `tinyad eval` over a dataset: fills names/values,
     * returns how many (at most 8) */
    int (*eval_extra)(void *m, td_tape *t, const td_tensor *x, const char **names, double *values);
} cli_model_ops;

const cli_model_ops *cli_model_find(const char *kind);
/* "vae" (and the others as they come), for --help. */
const char *cli_model_kinds(void);

/* ---- pictures -------------------------------------------------------------- */
/* Images [n, h*w] in [0, 1] as a grid with `cols` columns. */
int cli_png_grid(const char *path, const td_real *x, int64_t n, int64_t h, int64_t w, int64_t cols);
/* 2-D points coloured by label (0..9), with a frame. */
int cli_png_scatter(const char *path, const double *xy, const uint8_t *labels, int64_t n);
/* Learning curves: train and val per epoch (val may be NULL or NaN). */
int cli_png_curve(const char *path, const double *train, const double *val, int64_t n);
/* First two principal components of codes [n, d] -> xy [n, 2]. */
void cli_project2(const td_real *codes, int64_t n, int64_t d, double *xy);
/* Standard-normal quantile (inverse CDF) of p in (0, 1). */
double cli_probit(double p);

#endif
