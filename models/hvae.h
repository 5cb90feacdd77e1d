/* A VAE with two stochastic layers (Burda, Grosse & Salakhutdinov,
 * "Importance Weighted Autoencoders", ICLR 2016, section 5):
 *
 *   q(z1|x)   x  -> MLP (hidden1, e.g. 200,200) -> mu1, logvar1   (z1: latent1, e.g. 100)
 *   q(z2|z1)  z1 -> MLP (hidden2, e.g. 100,100) -> mu2, logvar2   (z2: latent2, e.g. 50)
 *   p(z2)     N(0, I)
 *   p(z1|z2)  z2 -> MLP (hidden2 mirrored)      -> mu, logvar of z1
 *   p(x|z1)   z1 -> MLP (hidden1 mirrored)      -> Bernoulli logits
 *
 * Every hidden layer is followed by the activation (tanh in the paper);
 * the Gaussian heads and the logits are linear.
 *
 * Objectives (sums over the batch, as the one-layer VAE):
 *   ELBO  E_q[log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)]
 *   IWAE  E[log (1/K) sum_k w_k], w_k the ratio above for the k-th sample (iw_k > 1)
 *
 * The KL part of the ELBO, KL(q(z1, z2|x) || p(z1, z2)), has no closed form
 * (p(z1|z2) is a learned Gaussian): it is estimated by a single-sample Monte
 * Carlo of log q(z1|x) + log q(z2|z1) - log p(z2) - log p(z1|z2) with the
 * same z samples as the reconstruction term. No closed-form part is used for
 * the top layer, so that the ELBO is exactly the IWAE bound at K = 1 (one
 * code path for both, and the estimator yburda/iwae trains its "VAE" with);
 * the reported "kl" is that estimate: it is unbiased but noisy per batch. */
#ifndef TD_HVAE_H
#define TD_HVAE_H

#include "../nn/layers.h"

#define TD_HVAE_MAX_HIDDEN (TD_MLP_MAX_LAYERS - 1)

typedef struct td_hvae_config {
    int64_t input;
    int n_hidden1, n_hidden2;
    int64_t hidden1[TD_HVAE_MAX_HIDDEN], hidden2[TD_HVAE_MAX_HIDDEN];
    int64_t latent1, latent2;
    td_activation act;
    int iw_k; /* > 1: the IWAE bound with K samples; else the ELBO */
} td_hvae_config;

/* The paper's MNIST model: 784-200-200-100 / 100-100-50, tanh, ELBO. */
td_hvae_config td_hvae_defaults(void);

typedef struct td_hvae {
    td_hvae_config cfg;
    td_mlp q1, q2, p1;                     /* hidden stacks (activated by hand) */
    td_linear_layer q1_mu, q1_lv, q2_mu, q2_lv, p1_mu, p1_lv;
    td_mlp px;                             /* z1 -> ... -> logits */
} td_hvae;

/* Registers the parameters in p; -1 with td_error() for a bad config. */
int td_hvae_init(td_hvae *m, td_params *p, const td_hvae_config *cfg);

typedef struct td_hvae_terms {
    double loss;  /* what was minimized */
    double recon; /* -log p(x|z1), averaged over the samples */
    double kl;    /* the Monte Carlo KL estimate (ELBO), or loss - recon (IWAE) */
} td_hvae_terms;

/* The training loss of x [B, input] (noise from rng); terms may be NULL. */
td_var *td_hvae_loss(td_tape *t, const td_hvae *m, td_var *x, td_rng *rng, td_hvae_terms *terms);
/* The negative ELBO of a batch (one sample), no-grad. */
void td_hvae_elbo_batch(td_tape *t, const td_hvae *m, const td_tensor *x, td_rng *rng,
                        td_hvae_terms *terms);
/* -log p(x) per row of x with k importance samples from q(z1, z2|x), in
 * chunks of about 4096 samples with a running log-sum-exp (any k fits in
 * memory). No-grad; resets t. */
void td_hvae_iw_nll(td_tape *t, const td_hvae *m, const td_tensor *x, int64_t k, td_rng *rng,
                    double *nll_out);

/* Inference (no-grad, arena vars of t):
 *   encode: E of z2 through the means, mu2(mu1(x)) [B, latent2]
 *   decode: p(x|z1) mean at z1 = the mean of p(z1|z2), from z2 [B, latent2]
 *   sample: ancestral, z2 ~ N(0, I), z1 ~ p(z1|z2), the mean of p(x|z1)
 *   reconstruct: the mean of p(x|z1) at z1 = mu1(x) */
td_var *td_hvae_encode(td_tape *t, const td_hvae *m, td_var *x);
td_var *td_hvae_decode(td_tape *t, const td_hvae *m, td_var *z2);
td_var *td_hvae_sample(td_tape *t, const td_hvae *m, int64_t n, td_rng *rng);
td_var *td_hvae_reconstruct(td_tape *t, const td_hvae *m, td_var *x);

/* Active units of each layer over the rows of x (threshold 0.01, gauss.h):
 * layer 1 from E_q[z1|x] = mu1(x); layer 2 from E_q[z2|x], the mean of
 * mu2(z1) over 100 draws z1 ~ q(z1|x). (yburda/iwae's get_units_variances
 * takes one draw, which adds the z1 noise to the variance.) No-grad;
 * resets t. */
void td_hvae_active_units(td_tape *t, const td_hvae *m, const td_tensor *x, td_rng *rng,
                          int64_t *active1, int64_t *active2);

#endif
