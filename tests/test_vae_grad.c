/* Gradcheck of the whole VAE loss (double precision): every parameter of a
 * tiny 6-5-2 model against central differences (td_gradcheck_params), with
 * the noise fixed (the gradcheck generator is rewound before every
 * evaluation). Bernoulli and
 * Gaussian likelihoods, several samples per datapoint, and the IWAE bound. */
#include "../autograd/gradcheck.h"
#include "../models/vae.h"
#include "check.h"

typedef struct gc_case {
    td_vae_config cfg;
    double beta;
    int binary_x; /* Bernoulli targets in {0, 1} rather than grayscale */
} gc_case;

typedef struct vae_under_check {
    td_vae m;
    double beta;
    td_tensor x; /* [3, input] */
} vae_under_check;

static td_var *vae_loss(td_tape *t, td_rng *rng, void *ctx) {
    const vae_under_check *v = ctx;
    return td_vae_loss(t, &v->m, td_const(t, v->x), rng, v->beta, NULL);
}

/* Every parameter of the model, at its initial values, through
 * td_gradcheck_params: the model's code is used unchanged. */
static void check_case(const char *name, gc_case c) {
    td_params *p = td_params_create();
    vae_under_check v = {.beta = c.beta};
    CHECK(td_vae_init(&v.m, p, &c.cfg) == 0, "%s: %s", name, td_error());
    td_rng r;
    td_rng_init(&r, 42);
    td_params_finalize(p, &r);
    v.x = td_tensor_zeros(TD_SHAPE(3, c.cfg.input));
    for (int64_t i = 0; i < v.x.size; i++) { /* pixels in (0.05, 0.95) */
        const double u = 0.05 + 0.9 * td_rng_double(&r);
        v.x.data[i] = (td_real)(c.binary_x ? u > 0.5 : u);
    }
    td_gc_result res = td_gradcheck_params(p->vars, p->count, vae_loss, &v, 1e-5, 42);
    printf("%-34s %5lld derivatives, max rel error %.2e\n", name, (long long)res.n_checked, res.max_rel);
    CHECK(res.pass && res.n_checked > 50, "%s: max rel error %.3g in %s[%lld]", name, res.max_rel,
          p->vars[res.worst_leaf]->name, (long long)res.worst_index);
    td_tensor_release(&v.x);
    td_params_destroy(p);
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
