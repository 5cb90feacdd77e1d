/* Gradients of the autoencoder family against central differences, in
 * double precision: the sparsity penalties alone, then each model's whole
 * loss on a tiny net (every weight and bias checked). */
#include "autograd/gradcheck.h"
#include "check.h"
#include "models/ae.h"
#include "models/dae.h"
#include "models/sae.h"

static const double TOL = 1e-6;

/* ---- the penalties --------------------------------------------------------------- */

static td_var *l1_fn(td_tape *t, td_gc *g, void *ctx) {
    (void)ctx;
    return td_sparsity_l1(t, td_gc_input(g, t, TD_SHAPE(4, 6), TD_GC_AWAY, 1));
}

/* On activations directly (q in (0.05, 0.95)) ... */
static td_var *kl_fn(td_tape *t, td_gc *g, void *ctx) {
    return td_sparsity_kl(t, td_gc_input(g, t, TD_SHAPE(5, 4), TD_GC_UNIT, 1), *(double *)ctx);
}

/* ... and through a sigmoid code, as the model uses it. */
static td_var *kl_sigmoid_fn(td_tape *t, td_gc *g, void *ctx) {
    td_var *pre = td_gc_input(g, t, TD_SHAPE(6, 3), TD_GC_ANY, 1);
    return td_sparsity_kl(t, td_sigmoid(t, pre), *(double *)ctx);
}

/* ---- whole models -------------------------------------------------------------------
 * Each model with its own parameter set, checked at its initial values by
 * td_gradcheck_params: every weight and bias. */

typedef struct model_case {
    const char *name;
    int kind; /* 0 ae, 1 dae, 2 sae */
    td_ae *ae;
    const td_dae *dae;
    const td_sae *sae;
    td_params *p;
    td_tensor x; /* [3, input] */
} model_case;

static td_var *model_loss(td_tape *t, td_rng *rng, void *ctx) {
    model_case *c = ctx;
    td_var *x = td_const(t, c->x);
    switch (c->kind) {
    case 1: return td_dae_loss(t, c->dae, x, rng, NULL, NULL);
    case 2: return td_sae_loss(t, c->sae, x, NULL);
    default: return td_ae_loss(t, c->ae, x, NULL);
    }
}

static void check_model(model_case *c) {
    td_rng r;
    td_rng_init(&r, 17);
    td_params_finalize(c->p, &r);
    /* BCE targets are probabilities; MSE targets anything */
    const int bce = c->ae->cfg.recon == TD_RECON_BCE;
    c->x = td_tensor_zeros(TD_SHAPE(3, c->ae->cfg.input));
    for (int64_t i = 0; i < c->x.size; i++)
        c->x.data[i] = (td_real)(bce ? 0.05 + 0.9 * td_rng_double(&r) : -2 + 4 * td_rng_double(&r));
    td_gc_result res = td_gradcheck_params(c->p->vars, c->p->count, model_loss, c, TOL, 17);
    printf("  %-34s max_rel %.2e over %lld derivatives\n", c->name, res.max_rel, (long long)res.n_checked);
    CHECK(res.pass && res.n_checked > 0, "%s: max_rel %.3g in %s[%lld]", c->name, res.max_rel,
          c->p->vars[res.worst_leaf]->name, (long long)res.worst_index);
    td_tensor_release(&c->x);
}

static td_ae_config tiny(td_recon_kind recon, td_activation code_act, int64_t code) {
    td_ae_config c = td_ae_defaults();
    c.input = 5;
    c.n_hidden = 1;
    c.hidden[0] = 4;
    c.act = TD_ACT_TANH; /* smooth: no kinks for finite differences to straddle */
    c.code = code;
    c.code_act = code_act;
    c.recon = recon;
    return c;
}

int main(void) {
    double rho = 0.1;
    td_gc_result r = td_gradcheck_fn(l1_fn, NULL, TOL, 1);
    printf("  %-34s max_rel %.2e\n", "l1 penalty", r.max_rel);
    CHECK(r.pass, "l1 penalty: max_rel %.3g", r.max_rel);
    r = td_gradcheck_fn(kl_fn, &rho, TOL, 2);
    printf("  %-34s max_rel %.2e\n", "kl penalty", r.max_rel);
    CHECK(r.pass, "kl penalty: max_rel %.3g", r.max_rel);
    r = td_gradcheck_fn(kl_sigmoid_fn, &rho, TOL, 3);
    printf("  %-34s max_rel %.2e\n", "kl penalty through a sigmoid", r.max_rel);
    CHECK(r.pass, "kl penalty through a sigmoid: max_rel %.3g", r.max_rel);

    /* The KL's value is the KL itself: 0 when every unit's mean is rho. */
    {
        td_tape *t = td_tape_create();
        td_var *h = td_const_new(t, TD_SHAPE(2, 3));
        td_real v[6] = {0.05, 0.1, 0.15, 0.15, 0.1, 0.05};
        for (int i = 0; i < 6; i++) h->value.data[i] = v[i];
        CHECK_CLOSE(td_sparsity_kl(t, h, 0.1)->value.data[0], 0, 1e-12, 0);
        td_tape_destroy(t);
    }

    td_params *p = td_params_create();
    td_ae ae_mse, ae_bce;
    td_dae dae[3];
    td_sae sae_kl, sae_l1;
    td_ae_config c = tiny(TD_RECON_MSE, TD_ACT_NONE, 2);
    CHECK(td_ae_init(&ae_mse, p, &c) == 0, "%s", td_error());
    td_params *p2 = td_params_create();
    c = tiny(TD_RECON_BCE, TD_ACT_TANH, 2);
    CHECK(td_ae_init(&ae_bce, p2, &c) == 0, "%s", td_error());
    model_case cases[8] = {
        {"ae, mse, linear code", 0, &ae_mse, NULL, NULL, p, {0}},
        {"ae, bce, tanh code", 0, &ae_bce, NULL, NULL, p2, {0}},
    };
    int n = 2;
    td_params *pd[3];
    const double levels[3] = {0.4, 0.3, 0.25};
    static const char *dnames[3] = {"dae, masking", "dae, gaussian", "dae, salt-and-pepper"};
    for (int k = 0; k < 3; k++) {
        td_dae_config dc = {.ae = tiny(TD_RECON_BCE, TD_ACT_TANH, 3), .noise = (td_noise_kind)k,
                            .level = levels[k]};
        pd[k] = td_params_create();
        CHECK(td_dae_init(&dae[k], pd[k], &dc) == 0, "%s", td_error());
        cases[n++] = (model_case){dnames[k], 1, &dae[k].ae, &dae[k], NULL, pd[k], {0}};
    }
    /* over-complete codes (6 units for 5 inputs) */
    td_sae_config sc = {.ae = tiny(TD_RECON_BCE, TD_ACT_SIGMOID, 6), .kind = TD_SPARSE_KL,
                        .weight = 3, .rho = 0.1};
    td_params *ps1 = td_params_create(), *ps2 = td_params_create();
    CHECK(td_sae_init(&sae_kl, ps1, &sc) == 0, "%s", td_error());
    cases[n++] = (model_case){"sae, kl, sigmoid code", 2, &sae_kl.ae, NULL, &sae_kl, ps1, {0}};
    sc.kind = TD_SPARSE_L1;
    sc.weight = 0.5;
    sc.ae = tiny(TD_RECON_MSE, TD_ACT_NONE, 6);
    CHECK(td_sae_init(&sae_l1, ps2, &sc) == 0, "%s", td_error());
    cases[n++] = (model_case){"sae, l1, linear code", 2, &sae_l1.ae, NULL, &sae_l1, ps2, {0}};
    for (int i = 0; i < n; i++) check_model(&cases[i]);

    td_params_destroy(p);
    td_params_destroy(p2);
    for (int k = 0; k < 3; k++) td_params_destroy(pd[k]);
    td_params_destroy(ps1);
    td_params_destroy(ps2);
    return check_done("ae_grad");
}
