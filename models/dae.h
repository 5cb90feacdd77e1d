/* The denoising autoencoder (Vincent et al. 2008): the encoder sees a
 * corrupted input, the loss compares the reconstruction with the clean
 * input. The network is a td_ae; only the loss differs.
 *
 * Corruptions (level in [0, 1] for the first two, a standard deviation for
 * the Gaussian):
 *   masking         each value set to 0 with probability level
 *   gaussian        x + level * N(0, 1)
 *   salt-and-pepper each value, with probability level, set to 0 or 1
 *                   (equally likely)
 * The noise is drawn fresh for every batch from the caller's generator. */
#ifndef TD_DAE_H
#define TD_DAE_H

#include "ae.h"

typedef enum td_noise_kind { TD_NOISE_MASK, TD_NOISE_GAUSSIAN, TD_NOISE_SALT_PEPPER } td_noise_kind;
int td_noise_parse(const char *name); /* "masking" | "gaussian" | "salt-and-pepper"; -1 if unknown */
const char *td_noise_name(td_noise_kind k);

typedef struct td_dae_config {
    td_ae_config ae;
    td_noise_kind noise;
    double level;
} td_dae_config;

/* td_ae_defaults() with masking noise at level 0.3. */
td_dae_config td_dae_defaults(void);

typedef struct td_dae {
    td_dae_config cfg;
    td_ae ae;
} td_dae;

int td_dae_init(td_dae *m, td_params *p, const td_dae_config *cfg);

/* A corrupted copy of x (a constant for the tape: no gradient flows into
 * the noise or into x through it). */
td_var *td_dae_corrupt(td_tape *t, td_noise_kind kind, double level, td_var *x, td_rng *rng);

/* Reconstruction of the clean x from corrupt(x): the training loss (mean per
 * image). corrupted_out (may be NULL) receives the corrupted input, for
 * pictures. */
td_var *td_dae_loss(td_tape *t, const td_dae *m, td_var *x, td_rng *rng, td_ae_terms *terms,
                    td_var **corrupted_out);

/* Denoising error: the mean per-image reconstruction loss of the clean rows
 * of x from corrupted copies, no-grad, in chunks of batch rows. Resets t.
 * (td_ae_recon_error(t, &m->ae, ..) gives the error on clean inputs.) */
double td_dae_denoise_error(td_tape *t, const td_dae *m, const td_tensor *x, int64_t batch,
                            td_rng *rng);

#endif
