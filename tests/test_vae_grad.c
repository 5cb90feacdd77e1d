/* Gradcheck of the whole VAE loss (double precision): every parameter of a
 * tiny 6-5-2 model against central differences (td_gradcheck_params), with
 * the noise fixed (the gradcheck generator is rewound before every
 * evaluation). Bernoulli and
 * Gaussian likelihoods, several samples per datapoint, and the IWAE bound.
 * The same for the convolutional VAE (4x4 images, channels 2 and 3), and
 * a non-square 8x4 image so that height and width are not mixed up. */
#include <string.h>

#include "../autograd/gradcheck.h"
#include "../models/convvae.h"
#include "../models/vae.h"
#include "check.h"

typedef struct gc_case {
    td_vae_config cfg;
    double beta;
    int binary_x; /* Bernoulli targets in {0, 1} rather than grayscale */
} gc_case;

typedef struct under_check {
    td_vae_core core; /* either model, as the shared bounds see it */
    double beta;
    td_tensor x; /* [3, input] */
} under_check;

static td_var *vae_loss(td_tape *t, td_rng *rng, void *ctx) {
    const under_check *v = ctx;
    return td_vae_core_loss(t, &v->core, td_const(t, v->x), rng, v->beta, NULL);
}

/* Every parameter in p (the model's, just registered), at its initial
 * values, through td_gradcheck_params: the model's code is used unchanged. */
static void check_model(const char *name, td_params *p, td_vae_core core, int64_t input, double beta,
                        int binary_x) {
    under_check v = {core, beta, td_tensor_zeros(TD_SHAPE(3, input))};
    td_rng r;
    td_rng_init(&r, 42);
    td_params_finalize(p, &r);
    for (int64_t i = 0; i < v.x.size; i++) { /* pixels in (0.05, 0.95) */
        const double u = 0.05 + 0.9 * td_rng_double(&r);
        v.x.data[i] = (td_real)(binary_x ? u > 0.5 : u);
    }
    td_gc_result res = td_gradcheck_params(p->vars, p->count, vae_loss, &v, 1e-5, 42);
    printf("%-34s %5lld derivatives, max rel error %.2e\n", name, (long long)res.n_checked, res.max_rel);
    CHECK(res.pass && res.n_checked > 50, "%s: max rel error %.3g in %s[%lld]", name, res.max_rel,
          p->vars[res.worst_leaf]->name, (long long)res.worst_index);
    td_tensor_release(&v.x);
    td_params_destroy(p);
}

static void check_case(const char *name, gc_case c) {
    td_params *p = td_params_create();
    td_vae m;
    CHECK(td_vae_init(&m, p, &c.cfg) == 0, "%s: %s", name, td_error());
    check_model(name, p, td_vae_as_core(&m), c.cfg.input, c.beta, c.binary_x);
}

static void check_conv(const char *name, td_convvae_config cfg, double beta, int binary_x) {
    td_params *p = td_params_create();
    td_convvae m;
    CHECK(td_convvae_init(&m, p, &cfg) == 0, "%s: %s", name, td_error());
    check_model(name, p, td_convvae_as_core(&m), cfg.height * cfg.width, beta, binary_x);
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

    td_convvae_config cv = td_convvae_defaults();
    cv.height = cv.width = 4;
    cv.ch1 = 2, cv.ch2 = 3, cv.hidden = 3, cv.latent = 2;
    cv.act = TD_ACT_TANH;
    check_conv("convvae, grayscale x", cv, 1, 0);
    check_conv("convvae, binary x, beta 0.3", cv, 0.3, 1);
    cv.samples = 3;
    check_conv("convvae, L = 3 samples", cv, 1, 0);
    cv.samples = 1;
    cv.iw_k = 4;
    check_conv("convvae, IWAE bound, K = 4", cv, 1, 1);
    cv.iw_k = 0;
    cv.height = 8;
    cv.act = TD_ACT_SOFTPLUS;
    check_conv("convvae, 8x4 images, softplus", cv, 1, 0);
    return check_done("vae_grad");
}
