/* The two-stochastic-layer VAE: forward passes from autograd ops; the
 * Gaussian pieces come from gauss.c, shared with the one-layer VAE. */
#include "hvae.h"

#include <math.h>
#include <string.h>

#include "../nn/loss.h"
#include "gauss.h"

td_hvae_config td_hvae_defaults(void) {
    td_hvae_config c = {0};
    c.input = 784;
    c.n_hidden1 = 2, c.hidden1[0] = 200, c.hidden1[1] = 200;
    c.n_hidden2 = 2, c.hidden2[0] = 100, c.hidden2[1] = 100;
    c.latent1 = 100, c.latent2 = 50;
    c.act = TD_ACT_TANH;
    return c;
}

static int bad_sizes(const char *what, int n, const int64_t *h) {
    if (n < 1 || n > TD_HVAE_MAX_HIDDEN) {
        td_set_error("hvae: %s has %d hidden layers (1..%d)", what, n, TD_HVAE_MAX_HIDDEN);
        return 1;
    }
    for (int i = 0; i < n; i++)
        if (h[i] <= 0) {
            td_set_error("hvae: %s layer %d has size %lld", what, i + 1, (long long)h[i]);
            return 1;
        }
    return 0;
}

int td_hvae_init(td_hvae *m, td_params *p, const td_hvae_config *c) {
    memset(m, 0, sizeof *m);
    if (c->input <= 0 || c->latent1 <= 0 || c->latent2 <= 0 || c->iw_k < 0) {
        td_set_error("hvae: bad config (input %lld, latents %lld and %lld, iw_k %d)", (long long)c->input,
                     (long long)c->latent1, (long long)c->latent2, c->iw_k);
        return -1;
    }
    if (bad_sizes("hidden1", c->n_hidden1, c->hidden1) || bad_sizes("hidden2", c->n_hidden2, c->hidden2))
        return -1;
    m->cfg = *c;
    int64_t e1[TD_MLP_MAX_LAYERS + 1], d1[TD_MLP_MAX_LAYERS + 1];
    int64_t e2[TD_MLP_MAX_LAYERS + 1], d2[TD_MLP_MAX_LAYERS + 1];
    td_mlp_mirror_sizes(c->input, c->n_hidden1, c->hidden1, c->latent1, e1, d1);
    td_mlp_mirror_sizes(c->latent1, c->n_hidden2, c->hidden2, c->latent2, e2, d2);
    const int n1 = c->n_hidden1, n2 = c->n_hidden2;
    const int64_t h1 = c->hidden1[n1 - 1], h2 = c->hidden2[n2 - 1], top = c->hidden2[0];
    /* each hidden stack is an MLP without its last size; the heads take it */
    td_mlp_init(&m->q1, p, "q1", n1 + 1, e1, c->act, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->q1_mu, p, "q1.mu", h1, c->latent1, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->q1_lv, p, "q1.logvar", h1, c->latent1, TD_INIT_PYTORCH);
    td_mlp_init(&m->q2, p, "q2", n2 + 1, e2, c->act, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->q2_mu, p, "q2.mu", h2, c->latent2, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->q2_lv, p, "q2.logvar", h2, c->latent2, TD_INIT_PYTORCH);
    td_mlp_init(&m->p1, p, "p1", n2 + 1, d2, c->act, TD_INIT_PYTORCH); /* z2 -> hidden2 reversed */
    td_linear_layer_init(&m->p1_mu, p, "p1.mu", top, c->latent1, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->p1_lv, p, "p1.logvar", top, c->latent1, TD_INIT_PYTORCH);
    td_mlp_init(&m->px, p, "px", n1 + 2, d1, c->act, TD_INIT_PYTORCH);
    return 0;
}

/* A Gaussian layer: mu and logvar of in through an activated stack. */
static void gauss_layer(td_tape *t, const td_hvae *m, const td_mlp *stack, const td_linear_layer *mu_l,
                        const td_linear_layer *lv_l, td_var *in, td_var **mu, td_var **lv) {
    td_var *h = td_activate(t, td_mlp_forward(t, stack, in), m->cfg.act);
    *mu = td_linear_layer_forward(t, mu_l, h);
    *lv = td_linear_layer_forward(t, lv_l, h);
}

/* log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)
 * for K samples of each row of x [B, input]: [K, B]. The log q terms are
 * written through their noise (gauss.h). nll_out receives -log p(x|z1)
 * [K*B, 1]. */
static td_var *log_weights(td_tape *t, const td_hvae *m, td_var *x, int64_t K, td_rng *rng,
                           td_var **nll_out) {
    const int64_t b = td_dim(x, 0);
    td_var *mu1, *lv1, *eps1, *mu2, *lv2, *eps2, *mp, *lp;
    gauss_layer(t, m, &m->q1, &m->q1_mu, &m->q1_lv, x, &mu1, &lv1);
    td_var *z1 = td_gauss_sample(t, mu1, lv1, K, rng, &eps1);          /* [K*B, latent1] */
    gauss_layer(t, m, &m->q2, &m->q2_mu, &m->q2_lv, z1, &mu2, &lv2);
    td_var *z2 = td_gauss_sample(t, mu2, lv2, 1, rng, &eps2);          /* [K*B, latent2] */
    gauss_layer(t, m, &m->p1, &m->p1_mu, &m->p1_lv, z2, &mp, &lp);
    td_var *nll = td_nll_bernoulli_rows(t, td_mlp_forward(t, &m->px, z1), td_tile_rows(t, x, K));
    td_var *lw = td_add(t, td_log_normal_rows(t, z1, mp, lp), td_log_std_normal_rows(t, z2));
    lw = td_add(t, td_sub(t, lw, nll), td_gauss_neg_logq_const(t, eps2));
    lw = td_add(t, lw, td_mul_scalar(t, td_sum_axis(t, lv2, 1), (td_real)0.5)); /* -log q(z2|z1) */
    td_var *c1 = td_reshape(t, td_gauss_neg_logq_const(t, eps1), TD_SHAPE(K, b));
    lw = td_add(t, td_reshape(t, lw, TD_SHAPE(K, b)), c1);
    td_var *half_lv1 = td_mul_scalar(t, td_sum_axis(t, lv1, 1), (td_real)0.5); /* [B, 1] */
    *nll_out = nll;
    return td_add(t, lw, td_reshape(t, half_lv1, TD_SHAPE(1, b)));      /* -log q(z1|x) */
}

static td_var *loss_k(td_tape *t, const td_hvae *m, td_var *x, td_rng *rng, int64_t K,
                      td_hvae_terms *terms) {
    const int64_t b = td_dim(x, 0);
    td_var *nll;
    td_var *lw = log_weights(t, m, x, K, rng, &nll);
    td_var *loss = K == 1 ? td_neg(t, td_sum(t, lw))
                          : td_add_scalar(t, td_neg(t, td_sum(t, td_logsumexp_axis(t, lw, 0))),
                                          (td_real)((double)b * log((double)K)));
    if (terms) {
        double recon = 0;
        for (int64_t r = 0; r < K * b; r++) recon += nll->value.data[r];
        terms->loss = td_item(loss);
        terms->recon = recon / (double)K;
        terms->kl = terms->loss - terms->recon;
    }
    return loss;
}

td_var *td_hvae_loss(td_tape *t, const td_hvae *m, td_var *x, td_rng *rng, td_hvae_terms *terms) {
    return loss_k(t, m, x, rng, m->cfg.iw_k > 1 ? m->cfg.iw_k : 1, terms);
}

void td_hvae_elbo_batch(td_tape *t, const td_hvae *m, const td_tensor *x, td_rng *rng,
                        td_hvae_terms *terms) {
    td_no_grad ng = td_no_grad_begin(t);
    loss_k(t, m, td_const(t, *x), rng, 1, terms);
    td_no_grad_end(ng);
}

void td_hvae_iw_nll(td_tape *t, const td_hvae *m, const td_tensor *x, int64_t k, td_rng *rng,
                    double *nll_out) {
    TD_ASSERT(k >= 1, "iw_nll needs k >= 1");
    const int64_t n = x->shape.d[0];
    const int64_t budget = 4096; /* samples per chunk, as td_vae_iw_nll */
    const int64_t nb = k >= budget ? 1 : budget / k;
    const int64_t kc = k >= budget ? budget : k;
    td_no_grad ng = td_no_grad_begin(t);
    td_lse *acc = td_alloc(sizeof(td_lse) * (size_t)nb);
    for (int64_t i0 = 0; i0 < n; i0 += nb) {
        const int64_t b = n - i0 < nb ? n - i0 : nb;
        td_tensor xb = td_tensor_rows(x, i0, b);
        for (int64_t j = 0; j < b; j++) acc[j] = (td_lse){-INFINITY, 0};
        for (int64_t k0 = 0; k0 < k; k0 += kc) {
            const int64_t s = k - k0 < kc ? k - k0 : kc;
            td_tape_reset(t); /* the first layer is recomputed per chunk: a small part of it */
            td_var *nll;
            td_var *lw = log_weights(t, m, td_const(t, xb), s, rng, &nll);
            for (int64_t r = 0; r < s * b; r++) td_lse_add(&acc[r % b], lw->value.data[r]);
        }
        for (int64_t j = 0; j < b; j++) nll_out[i0 + j] = -(acc[j].max + log(acc[j].sum) - log((double)k));
    }
    td_free(acc);
    td_tape_reset(t);
    td_no_grad_end(ng);
}

td_var *td_hvae_encode(td_tape *t, const td_hvae *m, td_var *x) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *mu1, *lv1, *mu2, *lv2;
    gauss_layer(t, m, &m->q1, &m->q1_mu, &m->q1_lv, x, &mu1, &lv1);
    gauss_layer(t, m, &m->q2, &m->q2_mu, &m->q2_lv, mu1, &mu2, &lv2);
    td_no_grad_end(ng);
    return mu2;
}

/* The mean of p(x|z1) at z1 = the mean of a Gaussian layer of in (no-grad). */
static td_var *x_at_mean(td_tape *t, const td_hvae *m, const td_mlp *stack, const td_linear_layer *mu_l,
                         const td_linear_layer *lv_l, td_var *in) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *mu, *lv;
    gauss_layer(t, m, stack, mu_l, lv_l, in, &mu, &lv);
    td_var *y = td_sigmoid(t, td_mlp_forward(t, &m->px, mu));
    td_no_grad_end(ng);
    return y;
}

td_var *td_hvae_decode(td_tape *t, const td_hvae *m, td_var *z2) {
    return x_at_mean(t, m, &m->p1, &m->p1_mu, &m->p1_lv, z2);
}

td_var *td_hvae_reconstruct(td_tape *t, const td_hvae *m, td_var *x) {
    return x_at_mean(t, m, &m->q1, &m->q1_mu, &m->q1_lv, x);
}

td_var *td_hvae_sample(td_tape *t, const td_hvae *m, int64_t n, td_rng *rng) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *mp, *lp;
    gauss_layer(t, m, &m->p1, &m->p1_mu, &m->p1_lv, td_randn(t, rng, TD_SHAPE(n, m->cfg.latent2)), &mp, &lp);
    td_var *y = td_sigmoid(t, td_mlp_forward(t, &m->px, td_gauss_sample(t, mp, lp, 1, rng, NULL)));
    td_no_grad_end(ng);
    return y;
}

void td_hvae_active_units(td_tape *t, const td_hvae *m, const td_tensor *x, td_rng *rng,
                          int64_t *active1, int64_t *active2) {
    /* E_q[z2|x] = E_{z1 ~ q(z1|x)} mu2(z1), by the mean over S draws of z1:
     * one draw (as yburda/iwae) would add the z1 noise to the variance over
     * x and count units that only follow that noise */
    const int64_t S = 100, chunk = 50;
    const int64_t n = x->shape.d[0], d1 = m->cfg.latent1, d2 = m->cfg.latent2;
    td_real *m1 = td_alloc(sizeof(td_real) * (size_t)(n * d1 + 1));
    td_real *m2 = td_alloc_zero(sizeof(td_real) * (size_t)(n * d2 + 1));
    td_no_grad ng = td_no_grad_begin(t);
    for (int64_t i = 0; i < n; i += chunk) {
        const int64_t rows = n - i < chunk ? n - i : chunk;
        td_tape_reset(t);
        td_var *mu1, *lv1, *mu2, *lv2;
        gauss_layer(t, m, &m->q1, &m->q1_mu, &m->q1_lv, td_const(t, td_tensor_rows(x, i, rows)), &mu1, &lv1);
        gauss_layer(t, m, &m->q2, &m->q2_mu, &m->q2_lv, td_gauss_sample(t, mu1, lv1, S, rng, NULL), &mu2, &lv2);
        memcpy(m1 + i * d1, mu1->value.data, sizeof(td_real) * (size_t)(rows * d1));
        for (int64_t s = 0; s < S; s++) /* row s * rows + r: draw s of image r */
            for (int64_t r = 0; r < rows * d2; r++)
                m2[i * d2 + r] += mu2->value.data[s * rows * d2 + r] / (td_real)S;
    }
    td_tape_reset(t);
    td_no_grad_end(ng);
    *active1 = td_active_units(m1, n, d1, 0.01);
    *active2 = td_active_units(m2, n, d2, 0.01);
    td_free(m1);
    td_free(m2);
}
