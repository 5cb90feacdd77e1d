/* Gradcheck of the whole VAE loss (double precision): every parameter of a
 * tiny 6-5-2 model against central differences, with the noise fixed (the
 * gradcheck generator is rewound before every evaluation). Bernoulli and
 * Gaussian likelihoods, several samples per datapoint, and the IWAE bound. */
#include "../autograd/gradcheck.h"
#include "../models/vae.h"
#include "check.h"

typedef struct gc_case {
    td_vae_config cfg;
    double beta;
    int binary_x; /* Bernoulli targets in {0, 1} rather than grayscale */
} gc_case;

/* Builds the model with every parameter replaced by a gradcheck leaf, so
 * the checker perturbs each of them; the model's code is used unchanged. */
static td_var *vae_fn(td_tape *t, td_gc *g, void *ctx) {
    const gc_case *c = ctx;
    td_params *p = td_params_create();
    td_vae m;
    td_vae_init(&m, p, &c->cfg);
    td_linear_layer *layers[2 * TD_MLP_MAX_LAYERS + 2];
    int n = 0;
    for (int i = 0; i < m.enc.n_layers; i++) layers[n++] = &m.enc.layers[i];
    layers[n++] = &m.fc_mu;
    layers[n++] = &m.fc_logvar;
    for (int i = 0; i < m.dec.n_layers; i++) layers[n++] = &m.dec.layers[i];
    for (int i = 0; i < n; i++) {
        layers[i]->w = td_gc_input(g, t, TD_SHAPE(layers[i]->out, layers[i]->in), TD_GC_ANY, 1);
        layers[i]->b = td_gc_input(g, t, TD_SHAPE(layers[i]->out), TD_GC_ANY, 1);
    }
    if (m.dec_logvar) m.dec_logvar = td_gc_input(g, t, TD_SHAPE(c->cfg.input), TD_GC_ANY, 1);
    td_var *x = td_gc_input(g, t, TD_SHAPE(3, c->cfg.input), TD_GC_UNIT, 0);
    if (c->binary_x)
        for (int64_t i = 0; i < x->value.size; i++) x->value.data[i] = x->value.data[i] > 0.5;
    td_var *loss = td_vae_loss(t, &m, x, td_gc_rng(g), c->beta, NULL);
    td_params_destroy(p); /* the registered (unused) parameters; the leaves live on */
    return loss;
}

static void check_case(const char *name, gc_case c) {
    td_gc_result r = td_gradcheck_fn(vae_fn, &c, 1e-5, 42);
    printf("%-34s %5lld derivatives, max rel error %.2e\n", name, (long long)r.n_checked, r.max_rel);
    CHECK(r.pass && r.n_checked > 50, "%s: max rel error %.3g at leaf %d index %lld", name, r.max_rel,
          r.worst_leaf, (long long)r.worst_index);
}

int main(void) {
    td_vae_config base = td_vae_defaults();
    base.input = 6;
    base.hidden[0] = 5;
    base.latent = 2;
    base.act = TD_ACT_TANH; /* smooth: no kinks for the finite differences to straddle */

    gc_case c = {base, 1, 0};
    check_case("bernoulli, grayscale x", c);
    c.binary_x = 1;
    c.beta = 0.3;
    check_case("bernoulli, binary x, beta 0.3", c);
    c = (gc_case){base, 1, 0};
    c.cfg.samples = 3;
    check_case("bernoulli, L = 3 samples", c);
    c = (gc_case){base, 1, 0};
    c.cfg.lik = TD_LIK_GAUSSIAN;
    check_case("gaussian, learned variance", c);
    c.cfg.learn_var = 0;
    c.cfg.fixed_logvar = -1;
    check_case("gaussian, fixed variance", c);
    c = (gc_case){base, 1, 1};
    c.cfg.iw_k = 4;
    check_case("IWAE bound, K = 4", c);
    c.cfg.n_hidden = 2;
    c.cfg.hidden[1] = 4;
    c.cfg.act = TD_ACT_SOFTPLUS;
    check_case("IWAE, 6-5-4-2, softplus", c);
    return check_done("vae_grad");
}
