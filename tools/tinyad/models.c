/* The models the CLI knows. Each is an adapter from cli_config to a model
 * file's own API; adding ae/dae/sae is one more adapter and one more row. */
#include <stdlib.h>
#include <string.h>

#include "models/dae.h"
#include "models/sae.h"
#include "models/vae.h"
#include "options.h"

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

/* ---- ae, dae, sae ---------------------------------------------------------------
 * One adapter for the three: each wraps a td_ae (the network), and the
 * model files give the loss. Their losses are per image; the CLI wants
 * batch sums. --latent is the code size, --likelihood bernoulli|gaussian
 * picks the BCE|MSE reconstruction, --noise the DAE's masking level,
 * --sparsity and --sparsity-target the SAE's KL weight beta and rho. */

typedef struct cli_ae {
    char kind; /* 'a', 'd', 's' */
    td_ae *net;
    union { td_ae ae; td_dae dae; td_sae sae; } u;
} cli_ae;

static void *ae_family_create(const cli_config *c, int64_t input, td_params *p, char kind) {
    td_ae_config ac = td_ae_defaults();
    ac.input = input;
    ac.n_hidden = cli_parse_hidden(c->hidden, ac.hidden, TD_AE_MAX_HIDDEN);
    ac.act = (td_activation)td_activation_parse(c->activation);
    ac.code = c->latent;
    ac.recon = !strcmp(c->likelihood, "gaussian") ? TD_RECON_MSE : TD_RECON_BCE;
    if (ac.n_hidden < 0 || (int)ac.act < 0) {
        td_set_error("%s: bad --hidden '%s' or --activation '%s'", c->kind, c->hidden, c->activation);
        return NULL;
    }
    cli_ae *m = td_alloc_zero(sizeof *m);
    m->kind = kind;
    int rc;
    if (kind == 'd') {
        td_dae_config dc = td_dae_defaults();
        dc.ae = ac;
        dc.noise = (td_noise_kind)td_noise_parse(c->noise);
        dc.level = c->noise_level;
        rc = td_dae_init(&m->u.dae, p, &dc);
        m->net = &m->u.dae.ae;
    } else if (kind == 's') {
        td_sae_config sc = td_sae_defaults();
        sc.kind = (td_sparsity_kind)td_sparsity_parse(c->sparsity);
        /* the KL penalty reads codes as firing probabilities; L1 wants exact zeros */
        ac.code_act = sc.kind == TD_SPARSE_KL ? TD_ACT_SIGMOID : TD_ACT_RELU;
        sc.ae = ac;
        sc.weight = c->sparsity_weight;
        sc.rho = c->sparsity_target;
        rc = td_sae_init(&m->u.sae, p, &sc);
        m->net = &m->u.sae.ae;
    } else {
        rc = td_ae_init(&m->u.ae, p, &ac);
        m->net = &m->u.ae;
    }
    if (rc) {
        td_free(m);
        return NULL;
    }
    return m;
}

static void *ae_create(const cli_config *c, int64_t input, td_params *p) {
    return ae_family_create(c, input, p, 'a');
}
static void *dae_create(const cli_config *c, int64_t input, td_params *p) {
    return ae_family_create(c, input, p, 'd');
}
static void *sae_create(const cli_config *c, int64_t input, td_params *p) {
    return ae_family_create(c, input, p, 's');
}

static td_var *ae_family_loss(cli_ae *m, td_tape *t, td_var *x, td_rng *rng, cli_terms *terms) {
    td_ae_terms at;
    td_var *loss = m->kind == 'd' ? td_dae_loss(t, &m->u.dae, x, rng, &at, NULL)
                 : m->kind == 's' ? td_sae_loss(t, &m->u.sae, x, &at)
                                  : td_ae_loss(t, &m->u.ae, x, &at);
    const double b = (double)td_tensor_rows_count(&x->value);
    *terms = (cli_terms){at.loss * b, at.recon * b, at.reg * b};
    return td_mul_scalar(t, loss, (td_real)b);
}

static td_var *ae_train_loss(void *m, td_tape *t, td_var *x, td_rng *rng, int64_t epoch,
                             cli_terms *terms) {
    (void)epoch;
    return ae_family_loss(m, t, x, rng, terms);
}

/* The DAE's test figure is its denoising loss (corrupted in, clean out). */
static void ae_eval_batch(void *m, td_tape *t, const td_tensor *x, td_rng *rng, cli_terms *terms) {
    int was = td_tape_set_grad(t, 0);
    ae_family_loss(m, t, td_const(t, *x), rng, terms);
    td_tape_set_grad(t, was);
}

static void ae_destroy(void *m) { td_free(m); }

static int64_t ae_latent(void *m) { return ((cli_ae *)m)->net->cfg.code; }

static td_var *ae_encode(void *m, td_tape *t, td_var *x) {
    int was = td_tape_set_grad(t, 0);
    td_var *h = td_ae_encode(t, ((cli_ae *)m)->net, x);
    td_tape_set_grad(t, was);
    return h;
}

static td_var *ae_decode(void *m, td_tape *t, td_var *z) {
    return td_ae_decode(t, ((cli_ae *)m)->net, z);
}

static td_var *dae_corrupt(void *m, td_tape *t, td_var *x, td_rng *rng) {
    const td_dae *d = &((cli_ae *)m)->u.dae;
    return td_dae_corrupt(t, d->cfg.noise, d->cfg.level, x, rng);
}

static int64_t sae_filters(void *m, td_real *out) {
    const td_ae *net = ((cli_ae *)m)->net;
    if (!out) return net->enc.layers[0].w->value.shape.d[0];
    return td_ae_filters(net, out);
}

static int sae_eval_extra(void *m, td_tape *t, const td_tensor *x, const char **names, double *values) {
    td_sae_figures f;
    td_sae_eval(t, &((cli_ae *)m)->u.sae, x, 128, &f);
    static const char *n[] = {"mean_activation", "mean_abs_code", "near_zero_values", "near_zero_units",
                              "unit_mean_min", "unit_mean_max"};
    const double v[] = {f.mean_act, f.mean_abs, f.near_zero, f.dead_units, f.rho_min, f.rho_max};
    for (int i = 0; i < 6; i++) names[i] = n[i], values[i] = v[i];
    return 6;
}

static const cli_model_ops models[] = {
    {"vae", "variational autoencoder (Kingma & Welling)", "kl", vae_create, vae_destroy,
     vae_train_loss, vae_eval_batch, vae_latent, vae_encode, vae_decode, vae_iw_nll, 1, NULL, NULL,
     NULL},
    {"ae", "bottleneck autoencoder", "reg", ae_create, ae_destroy, ae_train_loss, ae_eval_batch,
     ae_latent, ae_encode, ae_decode, NULL, 0, NULL, NULL, NULL},
    {"dae", "denoising autoencoder (--noise KIND, --noise-level)", "reg", dae_create, ae_destroy,
     ae_train_loss, ae_eval_batch, ae_latent, ae_encode, ae_decode, NULL, 0, dae_corrupt, NULL, NULL},
    {"sae", "sparse autoencoder (--sparsity kl|l1, --sparsity-weight, --sparsity-target)", "sparsity",
     sae_create, ae_destroy, ae_train_loss, ae_eval_batch, ae_latent, ae_encode, ae_decode, NULL, 0,
     NULL, sae_filters, sae_eval_extra},
};

const cli_model_ops *cli_model_find(const char *kind) {
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        if (!strcmp(models[i].kind, kind)) return &models[i];
    return NULL;
}

const char *cli_model_kinds(void) { return "vae, ae, dae, sae"; }
