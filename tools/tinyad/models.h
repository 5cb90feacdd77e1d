/* The model kinds the command line knows: one row each (models.c), which
 * owns the kind's options, their checks and its config text, and adapts
 * cli_config to the model file's own API. A new kind is one models/X.c file
 * and one row here; data, optimizer, run directory, checkpoints, progress,
 * pictures and `gradcheck --model` come for free. */
#ifndef TD_CLI_MODELS_H
#define TD_CLI_MODELS_H

#include "options.h"

typedef struct cli_terms {
    double loss, recon, reg; /* per-batch sums; reg is the KL for the VAE */
} cli_terms;

typedef struct cli_model {
    const char *kind;
    const char *summary;
    const char *reg_name; /* the second loss term's name in metrics.csv: "kl" */
    /* "key = value\n" lines (each ending in a newline) that replace shared
     * defaults for this kind (NULL: none), e.g. "hidden = 16\n": what its
     * --hidden means differs. */
    const char *defaults;
    /* The kind's own options, stored in cli_config.model (listed in --help
     * under the kind and in its runs' config.txt). */
    cli_opts opts;
    /* Cross-field rules of those options: 0, or 1 with the reason in why. */
    int (*check)(const cli_config *c, char *why, size_t len);
    /* Config lines for a tiny instance that gradcheck can afford: every
     * parameter checked by finite differences. */
    const char *tiny;
    /* Builds the model for input images of `input` values, registering its
     * parameters in p. NULL with td_error() if the config is unusable. */
    void *(*create)(const cli_config *c, int64_t input, td_params *p);
    void (*destroy)(void *m);
    /* The loss to minimize for a batch (summed over it); epoch for warm-ups. */
    td_var *(*train_loss)(void *m, td_tape *t, td_var *x, td_rng *rng, int64_t epoch,
                          cli_terms *terms);
    /* The test figures of a batch, no-grad. */
    void (*eval_batch)(void *m, td_tape *t, const td_tensor *x, td_rng *rng, cli_terms *terms);
    /* The KL weight of an epoch, for metrics.csv (NULL: 1). */
    double (*beta)(void *m, int64_t epoch);
    int64_t (*latent)(void *m);
    td_var *(*encode)(void *m, td_tape *t, td_var *x);      /* codes [B, latent], no-grad */
    td_var *(*reconstruct)(void *m, td_tape *t, td_var *x); /* images [B, input] in [0, 1] */
    /* Generative models only (NULL otherwise): images decoded from codes
     * z [B, latent], n images from the prior N(0, I), and -log p(x) per
     * image with K importance samples. */
    td_var *(*decode)(void *m, td_tape *t, td_var *z);
    td_var *(*sample)(void *m, td_tape *t, int64_t n, td_rng *rng);
    void (*iw_nll)(void *m, td_tape *t, const td_tensor *x, int64_t k, td_rng *rng, double *out);
    /* Optional (NULL when the model has none): */
    /* dae: the corrupted input it learns to clean, for recon.png */
    td_var *(*corrupt)(void *m, td_tape *t, td_var *x, td_rng *rng);
    /* sae: first-layer filters in [0, 1], one input-sized tile per code unit;
     * returns the number of units (out may be NULL to ask for it) */
    int64_t (*filters)(void *m, td_real *out);
    /* extra figures for `tinyad eval` over a dataset: fills names/values,
     * returns how many (at most 8) */
    int (*eval_extra)(void *m, td_tape *t, const td_tensor *x, const char **names, double *values);
    /* 1 when a config's loss is not a sum over the batch's rows (the sae's
     * KL penalty is a function of the batch's mean code), so that its
     * gradient cannot be split across ranks: under mpirun every rank then
     * computes the whole batch. NULL: a sum over rows. */
    int (*couples_rows)(const cli_config *c);
    /* the bias of the Bernoulli output logits, which --output-bias data sets
     * from the training images (vae, hvae) */
    td_var *(*output_bias)(void *m);
} cli_model;

/* The rows, in the order --help lists them. */
extern const cli_model *const cli_models[];
extern const int cli_n_models;

const cli_model *cli_model_find(const char *kind); /* NULL if none */
/* "vae, ae, dae, sae": the kinds, from the rows. */
const char *cli_model_kinds(void);

#endif
