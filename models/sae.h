/* The sparse autoencoder: reconstruction plus a penalty that keeps most
 * code units near zero, so each unit responds to few inputs. The network is
 * a td_ae; the code may be wider than the input (over-complete).
 *
 * Penalties on the codes h [B, code] of a batch:
 *   l1  lambda * mean over images of sum_j |h_j|
 *   kl  beta * sum_j KL(rho || rho_hat_j), rho_hat_j = mean over the batch
 *       of h_j (needs a sigmoid code, so rho_hat is in (0, 1)):
 *       KL(rho || q) = rho log(rho / q) + (1 - rho) log((1 - rho) / (1 - q)),
 *       with q clamped to [TD_SAE_Q_MIN, 1 - TD_SAE_Q_MIN] (a saturated float
 *       sigmoid gives q of exactly 0 or 1; the clamped q has no gradient)
 * `weight` is lambda or beta. */
#ifndef TD_SAE_H
#define TD_SAE_H

#include "ae.h"

typedef enum td_sparsity_kind { TD_SPARSE_KL, TD_SPARSE_L1 } td_sparsity_kind;
int td_sparsity_parse(const char *name); /* "kl" | "l1"; -1 if unknown */
const char *td_sparsity_name(td_sparsity_kind k);

typedef struct td_sae_config {
    td_ae_config ae;
    td_sparsity_kind kind;
    double weight; /* beta (kl) or lambda (l1) */
    double rho;    /* kl: the target mean activation */
} td_sae_config;

/* td_ae_defaults() with a sigmoid code of 64, KL, rho 0.05, beta 1. */
td_sae_config td_sae_defaults(void);

typedef struct td_sae {
    td_sae_config cfg;
    td_ae ae;
} td_sae;

int td_sae_init(td_sae *m, td_params *p, const td_sae_config *cfg);

/* The penalties alone (unweighted), from autograd ops: [1] vars. */
td_var *td_sparsity_l1(td_tape *t, td_var *h);
td_var *td_sparsity_kl(td_tape *t, td_var *h, double rho);
/* The KL penalty's clamp on the mean activations q (see above). */
#define TD_SAE_Q_MIN 1e-6
/* weight * the configured penalty. */
td_var *td_sae_penalty(td_tape *t, const td_sae_config *c, td_var *h);

/* recon (mean per image) + penalty; terms->reg is the weighted penalty. */
td_var *td_sae_loss(td_tape *t, const td_sae *m, td_var *x, td_ae_terms *terms);

/* A code value with |h| below this counts as "near zero". */
#define TD_SAE_NEAR_ZERO 0.01

typedef struct td_sae_figures {
    double recon;      /* mean per-image reconstruction loss */
    double mean_act;   /* mean of h over images and units (the rho_hat's mean) */
    double mean_abs;   /* mean of |h| */
    double near_zero;  /* fraction of the values h with |h| < TD_SAE_NEAR_ZERO */
    double dead_units; /* fraction of units whose mean |h| is < TD_SAE_NEAR_ZERO */
    double rho_min, rho_max; /* the smallest and largest unit mean activation */
} td_sae_figures;

/* Figures over all rows of x (chunks of batch rows), no-grad. Resets t. */
void td_sae_eval(td_tape *t, const td_sae *m, const td_tensor *x, int64_t batch,
                 td_sae_figures *f);

#endif
