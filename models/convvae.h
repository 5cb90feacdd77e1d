/* The convolutional VAE: the Keras VAE example's networks (by default),
 * with the bounds every VAE shares (vae_core.h).
 *
 *   encoder  x [B, H*W] as [B, 1, H, W]
 *            -> conv 1->ch1, 3x3, stride 2, pad 1, act     [B, ch1, H/2, W/2]
 *            -> conv ch1->ch2, 3x3, stride 2, pad 1, act   [B, ch2, H/4, W/4]
 *            -> flatten -> linear -> hidden, act -> mu, logvar = linear(hidden)
 *   decoder  z -> linear -> ch2*H/4*W/4, act, as [B, ch2, H/4, W/4]
 *            -> conv^T ch2->ch2, 3x3, s2, p1, out-pad 1, act [B, ch2, H/2, W/2]
 *            -> conv^T ch2->ch1, same, act                   [B, ch1, H, W]
 *            -> conv^T ch1->1, 3x3, s1, p1: Bernoulli logits  [B, H*W]
 *
 * With 28x28 images, ch1 32, ch2 64 and hidden 16 this is the Keras example
 * (flatten 3136); PyTorch's default init (U(+-1/sqrt(fan_in))) throughout,
 * as tools/bench/bench_vs_torch.py's reference. H and W must be multiples
 * of 4 for the decoder to give the image size back. */
#ifndef TD_CONVVAE_H
#define TD_CONVVAE_H

#include "vae_core.h"

typedef struct td_convvae_config {
    int64_t height, width; /* the image, multiples of 4 */
    int64_t ch1, ch2;      /* channels of the two convolutions (32, 64) */
    int64_t hidden;        /* the dense layer between them and the code (16) */
    int64_t latent;
    td_activation act;     /* after every layer but the outputs (relu) */
    int samples;           /* L: samples of z per datapoint in the ELBO */
    int iw_k;              /* > 1: train on the IWAE bound with K samples instead */
    double beta;           /* KL weight after warm-up */
    int warmup;            /* epochs over which beta ramps up from 0 */
} td_convvae_config;

td_convvae_config td_convvae_defaults(void); /* the Keras example's, 28x28, latent 2 */

typedef struct td_convvae {
    td_convvae_config cfg;
    td_conv2d_layer conv1, conv2;
    td_linear_layer fc, fc_mu, fc_logvar;
    td_linear_layer dec_fc;
    td_conv_transpose2d_layer deconv1, deconv2, deconv3;
} td_convvae;

/* Registers the parameters in p (call td_params_finalize afterwards).
 * Returns -1 with td_error() if the config makes no sense. */
int td_convvae_init(td_convvae *m, td_params *p, const td_convvae_config *cfg);

/* The model as the shared bounds of vae_core.h see it (pointing at m, made
 * from m->cfg at each call): td_vae_core_loss, _iw_nll, _sample... */
td_vae_core td_convvae_as_core(const td_convvae *m);

static inline td_var *td_convvae_loss(td_tape *t, const td_convvae *m, td_var *x, td_rng *rng,
                                      double beta, td_vae_terms *terms) {
    const td_vae_core c = td_convvae_as_core(m);
    return td_vae_core_loss(t, &c, x, rng, beta, terms);
}
static inline double td_convvae_beta(const td_convvae_config *cfg, int64_t epoch) {
    return td_vae_core_beta(cfg->beta, cfg->warmup, epoch);
}

/* mu and logvar of q(z|x) for x [B, H*W] (records ops unless no-grad). */
void td_convvae_encode(td_tape *t, const td_convvae *m, td_var *x, td_var **mu, td_var **logvar);

#endif
