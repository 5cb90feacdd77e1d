/* The models the CLI knows. Each is an adapter from cli_config to a model
 * file's own API; adding ae/dae/sae is one more adapter and one more row. */
#include <stdlib.h>
#include <string.h>

#include "../models/vae.h"
#include "cli.h"

/* ---- vae ------------------------------------------------------------------- */

static void *vae_create(const cli_config *c, int64_t input, td_params *p) {
    td_vae_config vc = td_vae_defaults();
    vc.input = input;
    vc.n_hidden = cli_parse_hidden(c->hidden, vc.hidden, TD_VAE_MAX_HIDDEN);
    vc.act = (td_activation)td_activation_parse(c->activation);
    vc.latent = c->latent;
    vc.lik = (td_likelihood)td_likelihood_parse(c->likelihood);
    vc.learn_var = !strcmp(c->gauss_var, "learned");
    vc.fixed_logvar = vc.learn_var ? 0 : strtod(c->gauss_var, NULL);
    vc.samples = (int)c->samples;
    vc.iw_k = (int)c->iw_k;
    vc.beta = c->beta;
    vc.warmup = (int)c->warmup;
    if ((int)vc.act < 0 || (int)vc.lik < 0) {
        td_set_error("vae: unknown activation '%s' or likelihood '%s'", c->activation, c->likelihood);
        return NULL;
    }
    td_vae *m = td_alloc_zero(sizeof *m);
    if (td_vae_init(m, p, &vc)) {
        td_free(m);
        return NULL;
    }
    return m;
}

static void vae_destroy(void *m) { td_free(m); }

static td_var *vae_train_loss(void *m, td_tape *t, td_var *x, td_rng *rng, int64_t epoch,
                              cli_terms *terms) {
    td_vae *v = m;
    td_vae_terms vt;
    td_var *loss = td_vae_loss(t, v, x, rng, td_vae_beta(&v->cfg, epoch), &vt);
    *terms = (cli_terms){vt.loss, vt.recon, vt.kl};
    return loss;
}

static void vae_eval_batch(void *m, td_tape *t, const td_tensor *x, td_rng *rng, cli_terms *terms) {
    td_vae_terms vt;
    td_vae_elbo_batch(t, m, x, rng, &vt);
    *terms = (cli_terms){vt.loss, vt.recon, vt.kl};
}

static int64_t vae_latent(void *m) { return ((td_vae *)m)->cfg.latent; }

static td_var *vae_encode(void *m, td_tape *t, td_var *x) {
    td_var *mu, *lv;
    int was = td_tape_set_grad(t, 0);
    td_vae_encode(t, m, x, &mu, &lv);
    td_tape_set_grad(t, was);
    return mu;
}

static td_var *vae_decode(void *m, td_tape *t, td_var *z) { return td_vae_decode(t, m, z); }

static void vae_iw_nll(void *m, td_tape *t, const td_tensor *x, int64_t k, td_rng *rng, double *out) {
    td_vae_iw_nll(t, m, x, k, rng, out);
}

static const cli_model_ops models[] = {
    {"vae", "variational autoencoder (Kingma & Welling)", "kl", vae_create, vae_destroy,
     vae_train_loss, vae_eval_batch, vae_latent, vae_encode, vae_decode, vae_iw_nll, 1},
};

const cli_model_ops *cli_model_find(const char *kind) {
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        if (!strcmp(models[i].kind, kind)) return &models[i];
    return NULL;
}

const char *cli_model_kinds(void) { return "vae"; }
