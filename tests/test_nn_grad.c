/* nn/ in double: every loss and a small MLP + loss pass gradcheck (their
 * gradients come from the ops they are built of), the log-densities match
 * their formulas, and the closed-form KL agrees with a Monte-Carlo
 * estimate. */
#include <string.h>

#include "autograd/gradcheck.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "check.h"

#define TOL 1e-6

static td_var *f_bernoulli(td_tape *t, td_gc *g, void *ctx) {
    (void)ctx;
    td_var *l = td_gc_input(g, t, TD_SHAPE(3, 5), TD_GC_ANY, 1);
    td_var *x = td_gc_input(g, t, TD_SHAPE(3, 5), TD_GC_UNIT, 0);
    return td_nll_bernoulli_rows(t, l, x);
}

static td_var *f_gaussian(td_tape *t, td_gc *g, void *ctx) {
    int shared = *(int *)ctx; /* 1: one variance for everything ([1] logvar) */
    td_var *mean = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    td_var *lv = td_gc_input(g, t, shared ? TD_SHAPE(1) : TD_SHAPE(3, 4), TD_GC_ANY, 1);
    td_var *x = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 0);
    return td_nll_gaussian_rows(t, mean, lv, x);
}

static td_var *f_mse(td_tape *t, td_gc *g, void *ctx) {
    (void)ctx;
    td_var *p = td_gc_input(g, t, TD_SHAPE(4, 3), TD_GC_ANY, 1);
    td_var *y = td_gc_input(g, t, TD_SHAPE(4, 3), TD_GC_ANY, 1);
    return td_mse(t, p, y);
}

static td_var *f_kl(td_tape *t, td_gc *g, void *ctx) {
    (void)ctx;
    td_var *mu = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    td_var *lv = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    return td_kl_std_normal_rows(t, mu, lv);
}

/* K = 2 samples of z [2, 3, 4] against mu, logvar [3, 4] */
static td_var *f_log_normal(td_tape *t, td_gc *g, void *ctx) {
    (void)ctx;
    td_var *z = td_gc_input(g, t, TD_SHAPE(2, 3, 4), TD_GC_ANY, 1);
    td_var *mu = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    td_var *lv = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    return td_log_normal_rows(t, z, mu, lv);
}

static td_var *f_log_std_normal(td_tape *t, td_gc *g, void *ctx) {
    (void)ctx;
    return td_log_std_normal_rows(t, td_gc_input(g, t, TD_SHAPE(2, 3, 4), TD_GC_ANY, 1));
}

/* A 2-layer MLP (4 -> 5 -> 3, activation from ctx) then the Bernoulli NLL
 * plus the KL of its first two outputs as (mu, logvar)-like terms: the whole
 * composite the VAE uses, with every weight a gradcheck leaf. */
static td_var *f_mlp(td_tape *t, td_gc *g, void *ctx) {
    td_activation act = *(td_activation *)ctx;
    td_mlp m = {.n_layers = 2, .act = act};
    const int64_t sizes[3] = {4, 5, 3};
    for (int i = 0; i < 2; i++) {
        m.layers[i].in = sizes[i], m.layers[i].out = sizes[i + 1];
        m.layers[i].w = td_gc_input(g, t, TD_SHAPE(sizes[i + 1], sizes[i]), TD_GC_ANY, 1);
        m.layers[i].b = td_gc_input(g, t, TD_SHAPE(sizes[i + 1]), TD_GC_ANY, 1);
        m.layers[i].w->name = "gc.w";
    }
    td_var *x = td_gc_input(g, t, TD_SHAPE(2, 4), TD_GC_UNIT, 0);
    td_var *target = td_gc_input(g, t, TD_SHAPE(2, 3), TD_GC_UNIT, 0);
    td_var *y = td_mlp_forward(t, &m, x);
    td_var *nll = td_nll_bernoulli_rows(t, y, target);
    td_var *kl = td_kl_std_normal_rows(t, td_slice_cols(t, y, 0, 1), td_slice_cols(t, y, 1, 1));
    return td_sum(t, td_add(t, nll, kl));
}

static void gc(const char *label, td_gc_fn fn, void *ctx) {
    for (uint64_t seed = 1; seed <= 2; seed++) {
        td_gc_result r = td_gradcheck_fn(fn, ctx, TOL, seed);
        CHECK(r.pass && r.n_checked > 0, "%s seed %llu: max_rel %.3g (leaf %d, index %lld) over %lld",
              label, (unsigned long long)seed, r.max_rel, r.worst_leaf, (long long)r.worst_index,
              (long long)r.n_checked);
    }
}

static void test_gradcheck(void) {
    int zero = 0, one = 1;
    gc("bernoulli nll", f_bernoulli, NULL);
    gc("gaussian nll", f_gaussian, &zero);
    gc("gaussian nll, shared logvar", f_gaussian, &one);
    gc("mse", f_mse, NULL);
    gc("kl", f_kl, NULL);
    gc("log normal (broadcast over samples)", f_log_normal, NULL);
    gc("log std normal", f_log_std_normal, NULL);
    td_activation acts[] = {TD_ACT_TANH, TD_ACT_SOFTPLUS, TD_ACT_SIGMOID};
    for (int i = 0; i < 3; i++) {
        char label[64];
        snprintf(label, sizeof label, "mlp(%s) + loss", td_activation_name(acts[i]));
        gc(label, f_mlp, &acts[i]);
    }
}

/* Values against the formulas, element by element. */
static void test_values(void) {
    const double L2PI = log(2 * M_PI);
    td_tape *t = td_tape_create();
    td_rng r;
    td_rng_init(&r, 4);
    td_var *z = td_randn(t, &r, TD_SHAPE(2, 3, 4));
    td_var *mu = td_randn(t, &r, TD_SHAPE(3, 4));
    td_var *lv = td_randn(t, &r, TD_SHAPE(3, 4));
    td_var *lq = td_log_normal_rows(t, z, mu, lv);
    td_var *lp = td_log_std_normal_rows(t, z);
    td_tensor z6 = td_tensor_reshape(&z->value, TD_SHAPE(6, 4));
    td_var *x0 = td_const(t, td_tensor_rows(&z6, 0, 3)); /* the k = 0 samples, [3, 4] */
    td_var *nll = td_nll_gaussian_rows(t, mu, lv, x0);
    CHECK(lq->value.shape.ndim == 3 && td_dim(lq, 0) == 2 && td_dim(lq, 1) == 3 &&
              td_dim(lq, 2) == 1, "log_normal_rows of [2,3,4] against [3,4] is [2,3,1]");
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 3; b++) {
            double q = 0, p = 0;
            for (int d = 0; d < 4; d++) {
                double zz = z->value.data[(k * 3 + b) * 4 + d], m = mu->value.data[b * 4 + d],
                       l = lv->value.data[b * 4 + d];
                q += -0.5 * (L2PI + l + (zz - m) * (zz - m) / exp(l));
                p += -0.5 * (L2PI + zz * zz);
            }
            CHECK_CLOSE(lq->value.data[k * 3 + b], q, 1e-12, 1e-12);
            CHECK_CLOSE(lp->value.data[k * 3 + b], p, 1e-12, 1e-12);
        }
    for (int b = 0; b < 3; b++) CHECK_CLOSE(nll->value.data[b], -lq->value.data[b], 1e-12, 1e-12);
    /* a shared [1] log-variance equals the full form with that value everywhere */
    td_var *l1 = td_scalar(t, 0.3), *lfull = td_const_new(t, TD_SHAPE(3, 4));
    td_tensor_fill(&lfull->value, 0.3);
    td_var *n1 = td_nll_gaussian_rows(t, mu, l1, x0), *nf = td_nll_gaussian_rows(t, mu, lfull, x0);
    for (int b = 0; b < 3; b++) CHECK_CLOSE(n1->value.data[b], nf->value.data[b], 1e-12, 1e-12);
    /* Bernoulli NLL = sum of softplus(l) - x l */
    td_var *lg = td_randn(t, &r, TD_SHAPE(2, 5)), *xb = td_const_new(t, TD_SHAPE(2, 5));
    for (int i = 0; i < 10; i++) xb->value.data[i] = (i % 3) / 2.0;
    td_var *nb = td_nll_bernoulli_rows(t, lg, xb);
    for (int b = 0; b < 2; b++) {
        double e = 0;
        for (int j = 0; j < 5; j++) {
            double l = lg->value.data[b * 5 + j], x = xb->value.data[b * 5 + j];
            e += log1p(exp(l)) - x * l;
        }
        CHECK_CLOSE(nb->value.data[b], e, 1e-12, 1e-12);
    }
    td_tape_destroy(t);
}

/* KL(q || N(0, I)) = E_q[log q(z) - log p(z)]: the closed form against the
 * mean over many reparameterized samples, within 5 standard errors. */
static void test_kl_monte_carlo(void) {
    const int64_t n = 200000, d = 3;
    td_tape *t = td_tape_create();
    td_tape_set_grad(t, 0);
    td_rng r;
    td_rng_init(&r, 11);
    td_var *mu = td_const_new(t, TD_SHAPE(1, 3));
    td_var *lv = td_const_new(t, TD_SHAPE(1, 3));
    const double muv[3] = {0.5, -1.0, 0.0}, lvv[3] = {-0.7, 0.4, 1.2};
    for (int j = 0; j < 3; j++) mu->value.data[j] = muv[j], lv->value.data[j] = lvv[j];
    td_var *kl = td_kl_std_normal_rows(t, mu, lv);
    double closed = 0;
    for (int j = 0; j < 3; j++) closed += 0.5 * (muv[j] * muv[j] + exp(lvv[j]) - lvv[j] - 1);
    CHECK_CLOSE(td_item(kl), closed, 1e-12, 1e-12);

    td_var *eps = td_randn(t, &r, TD_SHAPE(n, d));
    td_var *z = td_reparam(t, mu, lv, eps);
    td_var *diff = td_sub(t, td_log_normal_rows(t, z, mu, lv), td_log_std_normal_rows(t, z));
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) s += diff->value.data[i], s2 += diff->value.data[i] * diff->value.data[i];
    double mean = s / n, se = sqrt((s2 / n - mean * mean) / n);
    CHECK(fabs(mean - closed) < 5 * se, "KL closed form %.6f vs Monte Carlo %.6f +- %.6f", closed,
          mean, se);
    printf("KL closed form %.6f, Monte Carlo %.6f (standard error %.6f)\n", closed, mean, se);
    td_tape_destroy(t);
}

int main(void) {
    test_gradcheck();
    test_values();
    test_kl_monte_carlo();
    return check_done("nn_grad");
}
