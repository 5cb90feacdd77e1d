/* The VAE: its MLP encoder and decoder; the bounds are models/vae_core.c's. */
#include "vae.h"

#include <string.h>

td_vae_config td_vae_defaults(void) {
    td_vae_config c = {0};
    c.input = 784;
    c.n_hidden = 1;
    c.hidden[0] = 400;
    c.act = TD_ACT_RELU;
    c.latent = 20;
    c.lik = TD_LIK_BERNOULLI;
    c.learn_var = 1;
    c.fixed_logvar = 0;
    c.samples = 1;
    c.iw_k = 0;
    c.beta = 1;
    c.warmup = 0;
    return c;
}

void td_vae_encode(td_tape *t, const td_vae *m, td_var *x, td_var **mu, td_var **logvar) {
    td_var *h = td_activate(t, td_mlp_forward(t, &m->enc, x), m->cfg.act);
    *mu = td_linear_layer_forward(t, &m->fc_mu, h);
    *logvar = td_linear_layer_forward(t, &m->fc_logvar, h);
}

static void encode(td_tape *t, const void *m, td_var *x, td_var **mu, td_var **logvar) {
    td_vae_encode(t, m, x, mu, logvar);
}

static td_var *decode_raw(td_tape *t, const void *m, td_var *z) {
    return td_mlp_forward(t, &((const td_vae *)m)->dec, z);
}

int td_vae_init(td_vae *m, td_params *p, const td_vae_config *cfg) {
    memset(m, 0, sizeof *m);
    if (cfg->input <= 0 || cfg->latent <= 0 || cfg->n_hidden < 1 || cfg->n_hidden > TD_VAE_MAX_HIDDEN ||
        cfg->samples < 1 || cfg->iw_k < 0) {
        td_set_error("vae: bad config (input %lld, latent %lld, %d hidden layers (1..%d), "
                     "samples %d, iw_k %d)", (long long)cfg->input, (long long)cfg->latent,
                     cfg->n_hidden, TD_VAE_MAX_HIDDEN, cfg->samples, cfg->iw_k);
        return -1;
    }
    for (int i = 0; i < cfg->n_hidden; i++)
        if (cfg->hidden[i] <= 0) {
            td_set_error("vae: hidden layer %d has size %lld", i + 1, (long long)cfg->hidden[i]);
            return -1;
        }
    m->cfg = *cfg;
    const int nh = cfg->n_hidden;
    int64_t enc[TD_MLP_MAX_LAYERS + 1], dec[TD_MLP_MAX_LAYERS + 1];
    td_mlp_mirror_sizes(cfg->input, nh, cfg->hidden, cfg->latent, enc, dec);
    /* Encoder x -> h (enc without its last size: mu and logvar take h): the
     * MLP leaves its last layer linear; we activate it. */
    td_mlp_init(&m->enc, p, "enc", nh + 1, enc, cfg->act, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->fc_mu, p, "enc.mu", cfg->hidden[nh - 1], cfg->latent, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->fc_logvar, p, "enc.logvar", cfg->hidden[nh - 1], cfg->latent,
                         TD_INIT_PYTORCH);
    /* Decoder z -> hidden (mirrored) -> x. */
    td_mlp_init(&m->dec, p, "dec", nh + 2, dec, cfg->act, TD_INIT_PYTORCH);
    if (cfg->lik == TD_LIK_GAUSSIAN && cfg->learn_var)
        m->dec_logvar = td_params_add(p, "dec.logvar", TD_SHAPE(cfg->input),
                                      (td_init){TD_INIT_ZEROS, cfg->input, cfg->input});
    return 0;
}

/* Made from m->cfg at each call, so a changed cfg (e.g. iw_k) takes effect. */
td_vae_core td_vae_as_core(const td_vae *m) {
    const td_vae_config *c = &m->cfg;
    return (td_vae_core){m, encode, decode_raw, c->latent, c->lik, m->dec_logvar, c->fixed_logvar,
                         c->samples, c->iw_k};
}

double td_vae_beta(const td_vae_config *cfg, int64_t epoch) {
    return td_vae_core_beta(cfg->beta, cfg->warmup, epoch);
}

td_var *td_vae_loss(td_tape *t, const td_vae *m, td_var *x, td_rng *rng, double beta,
                    td_vae_terms *terms) {
    const td_vae_core c = td_vae_as_core(m);
    return td_vae_core_loss(t, &c, x, rng, beta, terms);
}

void td_vae_elbo_batch(td_tape *t, const td_vae *m, const td_tensor *x, td_rng *rng,
                       td_vae_terms *terms) {
    const td_vae_core c = td_vae_as_core(m);
    td_vae_core_elbo_batch(t, &c, x, rng, terms);
}

void td_vae_iw_nll(td_tape *t, const td_vae *m, const td_tensor *x, int64_t k, td_rng *rng,
                   double *nll_out) {
    const td_vae_core c = td_vae_as_core(m);
    td_vae_core_iw_nll(t, &c, x, k, rng, nll_out);
}

td_var *td_vae_decode(td_tape *t, const td_vae *m, td_var *z) {
    const td_vae_core c = td_vae_as_core(m);
    return td_vae_core_decode(t, &c, z);
}

td_var *td_vae_sample(td_tape *t, const td_vae *m, int64_t n, td_rng *rng) {
    const td_vae_core c = td_vae_as_core(m);
    return td_vae_core_sample(t, &c, n, rng);
}

td_var *td_vae_reconstruct(td_tape *t, const td_vae *m, td_var *x) {
    const td_vae_core c = td_vae_as_core(m);
    return td_vae_core_reconstruct(t, &c, x);
}
