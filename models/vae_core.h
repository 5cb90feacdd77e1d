/* What every VAE shares, whatever its networks: the reparameterized sample
 * of a Gaussian q(z|x), the negative ELBO with L samples, the negative IWAE
 * bound, the importance-sampled -log p(x), and decoding the prior.
 *
 * A model hands its encoder and decoder over as a td_vae_core (two
 * functions and the likelihood); models/vae.c (MLP) and models/convvae.c
 * (convolutional) are each that plus their networks.
 *
 * Losses are sums over the batch (as the PyTorch example), per datapoint
 * averaged over L samples; the terms are reported per batch too. */
#ifndef TD_VAE_CORE_H
#define TD_VAE_CORE_H

#include "../nn/layers.h"

typedef enum td_likelihood { TD_LIK_BERNOULLI, TD_LIK_GAUSSIAN } td_likelihood;
int td_likelihood_parse(const char *name); /* "bernoulli" | "gaussian"; -1 if unknown */
const char *td_likelihood_name(td_likelihood l);

/* Per-batch sums, as plain numbers. */
typedef struct td_vae_terms {
    double loss;  /* what was minimized */
    double recon; /* -E_q log p(x|z) */
    double kl;    /* KL(q(z|x) || p(z)) */
} td_vae_terms;

typedef struct td_vae_core {
    const void *model; /* passed to encode and decode */
    /* x [B, input] -> mu, logvar [B, latent] */
    void (*encode)(td_tape *t, const void *model, td_var *x, td_var **mu, td_var **logvar);
    /* z [N, latent] -> [N, input]: Bernoulli logits, or the Gaussian mean
     * before its sigmoid */
    td_var *(*decode)(td_tape *t, const void *model, td_var *z);
    int64_t latent;
    td_likelihood lik;
    td_var *dec_logvar;  /* Gaussian: a learned [input] log-variance, or NULL: */
    double fixed_logvar; /* this one for every pixel */
    int samples;         /* L: samples of z per datapoint in the ELBO */
    int iw_k;            /* > 1: the IWAE bound with K samples instead */
} td_vae_core;

/* beta for an epoch (0-based): beta * min(1, (epoch + 1) / warmup). */
double td_vae_core_beta(double beta, int warmup, int64_t epoch);

/* The training loss for a batch x [B, input]: the negative ELBO with L
 * samples and weight beta on the KL, or (iw_k > 1) the negative IWAE
 * bound. Noise from rng. terms (may be NULL) receives the figures. */
td_var *td_vae_core_loss(td_tape *t, const td_vae_core *c, td_var *x, td_rng *rng, double beta,
                         td_vae_terms *terms);

/* Negative ELBO of a batch (beta 1, one sample per datapoint, as PyTorch's
 * test loss), in no-grad mode. */
void td_vae_core_elbo_batch(td_tape *t, const td_vae_core *c, const td_tensor *x, td_rng *rng,
                            td_vae_terms *terms);

/* -log p(x) estimates for each row of x, with K importance samples
 * (log (1/K) sum_k p(x, z_k) / q(z_k | x)), computed in chunks of samples
 * with a running log-sum-exp so any K fits in memory. nll_out[i] for row i.
 * No-grad. Uses t's arena (it is reset). */
void td_vae_core_iw_nll(td_tape *t, const td_vae_core *c, const td_tensor *x, int64_t k,
                        td_rng *rng, double *nll_out);

/* No-grad; results are arena vars of t:
 *   decode: the mean of p(x|z), in [0, 1]
 *   sample: decode(z), z ~ N(0, I), n images
 *   reconstruct: decode(mu(x)) */
td_var *td_vae_core_decode(td_tape *t, const td_vae_core *c, td_var *z);
td_var *td_vae_core_sample(td_tape *t, const td_vae_core *c, int64_t n, td_rng *rng);
td_var *td_vae_core_reconstruct(td_tape *t, const td_vae_core *c, td_var *x);

#endif
