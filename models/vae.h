/* The variational autoencoder (Kingma & Welling 2014), tinyad's reference
 * model, written only with the framework's ops (no hand-written backward).
 *
 *   encoder  x -> MLP (hidden sizes, activation) -> h -> mu = fc_mu(h),
 *                                                      logvar = fc_logvar(h)
 *   sample   z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)
 *   decoder  z -> MLP -> Bernoulli logits, or a Gaussian mean (sigmoid)
 *                        with a learned per-pixel or fixed log-variance
 *
 * With hidden "400", latent 20 and the default init this is exactly the
 * PyTorch examples/vae model (fc1, fc21, fc22, fc3, fc4: same shapes, same
 * parameter count, same U(+-1/sqrt(fan_in)) init), so comparisons are fair.
 *
 * The bounds (ELBO, IWAE, importance-sampled -log p(x)) are the ones every
 * VAE shares, in vae_core.h; the functions below apply them to this model. */
#ifndef TD_VAE_H
#define TD_VAE_H

#include "vae_core.h"

#define TD_VAE_MAX_HIDDEN (TD_MLP_MAX_LAYERS - 1)

typedef struct td_vae_config {
    int64_t input;                     /* pixels per image (784) */
    int n_hidden;                      /* hidden layers, each side (>= 1) */
    int64_t hidden[TD_VAE_MAX_HIDDEN]; /* encoder sizes; the decoder mirrors them */
    td_activation act;
    int64_t latent;
    td_likelihood lik;
    int learn_var;       /* Gaussian: 1 = a learned log-variance per pixel */
    double fixed_logvar; /* Gaussian with learn_var 0 */
    int samples;         /* L: samples of z per datapoint in the ELBO */
    int iw_k;            /* > 1: train on the IWAE bound with K samples instead */
    double beta;         /* KL weight after warm-up */
    int warmup;          /* epochs over which beta ramps up from 0 */
} td_vae_config;

td_vae_config td_vae_defaults(void); /* the PyTorch example's model */

typedef struct td_vae {
    td_vae_config cfg;
    td_mlp enc;                 /* input -> hidden[0] -> ... (activated by hand) */
    td_linear_layer fc_mu, fc_logvar;
    td_mlp dec;                 /* latent -> hidden[last] ... -> input */
    td_var *dec_logvar;         /* Gaussian, learned: [input] */
} td_vae;

/* Registers the parameters in p (call td_params_finalize afterwards).
 * Returns -1 with td_error() if the config makes no sense. */
int td_vae_init(td_vae *m, td_params *p, const td_vae_config *cfg);

/* The model as the shared bounds of vae_core.h see it (pointing at m). */
td_vae_core td_vae_as_core(const td_vae *m);

/* beta for an epoch (0-based): beta * min(1, (epoch + 1) / warmup). */
double td_vae_beta(const td_vae_config *cfg, int64_t epoch);

/* The training loss for a batch x [B, input]: the negative ELBO with L
 * samples and weight beta on the KL, or (cfg.iw_k > 1) the negative IWAE
 * bound. Noise from rng. terms (may be NULL) receives the figures. */
td_var *td_vae_loss(td_tape *t, const td_vae *m, td_var *x, td_rng *rng, double beta,
                    td_vae_terms *terms);

/* Negative ELBO of a batch (beta 1, one sample per datapoint, as PyTorch's
 * test loss), in no-grad mode. */
void td_vae_elbo_batch(td_tape *t, const td_vae *m, const td_tensor *x, td_rng *rng,
                       td_vae_terms *terms);

/* -log p(x) estimates for each row of x, with K importance samples
 * (log (1/K) sum_k p(x, z_k) / q(z_k | x)), computed in chunks of samples
 * with a running log-sum-exp so any K fits in memory. nll_out[i] for row i.
 * No-grad. Uses t's arena (it is reset). */
void td_vae_iw_nll(td_tape *t, const td_vae *m, const td_tensor *x, int64_t k, td_rng *rng,
                   double *nll_out);

/* Inference helpers (no-grad; results are arena vars of t):
 *   encode: mu and logvar of q(z|x)
 *   decode: the mean of p(x|z), in [0, 1]
 *   sample: decode(z), z ~ N(0, I), n images
 *   reconstruct: decode(mu(x)) */
void td_vae_encode(td_tape *t, const td_vae *m, td_var *x, td_var **mu, td_var **logvar);
td_var *td_vae_decode(td_tape *t, const td_vae *m, td_var *z);
td_var *td_vae_sample(td_tape *t, const td_vae *m, int64_t n, td_rng *rng);
td_var *td_vae_reconstruct(td_tape *t, const td_vae *m, td_var *x);

#endif
