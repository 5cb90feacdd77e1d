/* The VAE: forward passes built from autograd ops; td_backward does the rest. */
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../nn/loss.h"
#include "../tensor/kernels.h"
#include "gauss.h"

int td_likelihood_parse(const char *name) {
    if (!strcmp(name, "bernoulli")) return TD_LIK_BERNOULLI;
    if (!strcmp(name, "gaussian")) return TD_LIK_GAUSSIAN;
    return -1;
}

const char *td_likelihood_name(td_likelihood l) {
    return l == TD_LIK_GAUSSIAN ? "gaussian" : "bernoulli";
}

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

double td_vae_beta(const td_vae_config *cfg, int64_t epoch) {
    if (cfg->warmup <= 0) return cfg->beta;
    double r = (double)(epoch + 1) / cfg->warmup;
    return cfg->beta * (r < 1 ? r : 1);
}

void td_vae_encode(td_tape *t, const td_vae *m, td_var *x, td_var **mu, td_var **logvar) {
    td_var *h = td_activate(t, td_mlp_forward(t, &m->enc, x), m->cfg.act);
    *mu = td_linear_layer_forward(t, &m->fc_mu, h);
    *logvar = td_linear_layer_forward(t, &m->fc_logvar, h);
}

/* -log p(x|z) per row, from the decoder's raw output (logits, or the
 * Gaussian mean before its sigmoid). */
static td_var *recon_rows(td_tape *t, const td_vae *m, td_var *out, td_var *x) {
    if (m->cfg.lik == TD_LIK_BERNOULLI) return td_nll_bernoulli_rows(t, out, x);
    td_var *mean = td_sigmoid(t, out);
    /* the per-pixel [input] log-variance broadcasts against [rows, input] */
    td_var *lv = m->dec_logvar ? m->dec_logvar : td_scalar(t, (td_real)m->cfg.fixed_logvar);
    return td_nll_gaussian_rows(t, mean, lv, x);
}

static td_var *elbo_loss(td_tape *t, const td_vae *m, td_var *x, td_rng *rng, int64_t L,
                         double beta, td_vae_terms *terms) {
    td_var *mu, *logvar;
    td_vae_encode(t, m, x, &mu, &logvar);
    td_var *z = td_gauss_sample(t, mu, logvar, L, rng, NULL);
    td_var *out = td_mlp_forward(t, &m->dec, z);
    td_var *recon = td_sum(t, recon_rows(t, m, out, td_tile_rows(t, x, L)));
    if (L > 1) recon = td_mul_scalar(t, recon, (td_real)(1.0 / (double)L));
    td_var *kl = td_sum(t, td_kl_std_normal_rows(t, mu, logvar));
    td_var *loss = beta == 1 ? td_add(t, recon, kl)
                             : td_add(t, recon, td_mul_scalar(t, kl, (td_real)beta));
    if (terms) {
        terms->loss = td_item(loss);
        terms->recon = td_item(recon);
        terms->kl = td_item(kl);
    }
    return loss;
}

/* -IWAE bound: -sum_b [logsumexp_k (log p(x|z_k) + log p(z_k) - log q(z_k|x)) - log K],
 * log q written through eps (gauss.h). */
static td_var *iwae_loss(td_tape *t, const td_vae *m, td_var *x, td_rng *rng, int64_t K,
                         td_vae_terms *terms) {
    int64_t b = td_dim(x, 0);
    td_var *mu, *logvar, *eps;
    td_vae_encode(t, m, x, &mu, &logvar);
    td_var *z = td_gauss_sample(t, mu, logvar, K, rng, &eps);
    td_var *out = td_mlp_forward(t, &m->dec, z);
    td_var *nll = recon_rows(t, m, out, td_tile_rows(t, x, K));          /* [K*B, 1] */
    td_var *lpz = td_log_std_normal_rows(t, z);                        /* [K*B, 1] */
    td_var *c = td_gauss_neg_logq_const(t, eps); /* the constant part of -log q */
    td_var *lw = td_add(t, td_sub(t, lpz, nll), c);
    lw = td_reshape(t, lw, TD_SHAPE(K, b));
    td_var *half_lv = td_mul_scalar(t, td_sum_axis(t, logvar, 1), (td_real)0.5); /* [B, 1] */
    lw = td_add(t, lw, td_reshape(t, half_lv, TD_SHAPE(1, b)));
    td_var *bound = td_sum(t, td_logsumexp_axis(t, lw, 0));
    td_var *loss = td_add_scalar(t, td_neg(t, bound), (td_real)((double)b * log((double)K)));
    if (terms) { /* for display: the reconstruction term averaged over the K samples */
        td_no_grad ng = td_no_grad_begin(t);
        td_var *kl = td_sum(t, td_kl_std_normal_rows(t, mu, logvar));
        td_no_grad_end(ng);
        terms->loss = td_item(loss);
        terms->recon = td_k_sum(&nll->value) / (double)K;
        terms->kl = td_item(kl);
    }
    return loss;
}

td_var *td_vae_loss(td_tape *t, const td_vae *m, td_var *x, td_rng *rng, double beta,
                    td_vae_terms *terms) {
    if (m->cfg.iw_k > 1) return iwae_loss(t, m, x, rng, m->cfg.iw_k, terms);
    return elbo_loss(t, m, x, rng, m->cfg.samples, beta, terms);
}

void td_vae_elbo_batch(td_tape *t, const td_vae *m, const td_tensor *x, td_rng *rng,
                       td_vae_terms *terms) {
    td_no_grad ng = td_no_grad_begin(t);
    elbo_loss(t, m, td_const(t, *x), rng, 1, 1, terms);
    td_no_grad_end(ng);
}

void td_vae_iw_nll(td_tape *t, const td_vae *m, const td_tensor *x, int64_t k, td_rng *rng,
                   double *nll_out) {
    TD_ASSERT(k >= 1, "iw_nll needs k >= 1");
    const int64_t n = x->shape.d[0], d = m->cfg.latent;
    /* About 4096 decoded rows per chunk: whole images' worth of samples when
     * K is small, else one image and K split into chunks. */
    const int64_t budget = 4096;
    const int64_t nb = k >= budget ? 1 : budget / k;
    const int64_t kc = k >= budget ? budget : k;
    td_no_grad ng = td_no_grad_begin(t);
    td_real *mu_buf = td_alloc(sizeof(td_real) * (size_t)(nb * d));
    td_real *lv_buf = td_alloc(sizeof(td_real) * (size_t)(nb * d));
    td_lse *acc = td_alloc(sizeof(td_lse) * (size_t)nb);
    for (int64_t i0 = 0; i0 < n; i0 += nb) {
        const int64_t b = n - i0 < nb ? n - i0 : nb;
        td_tensor xb = td_tensor_rows(x, i0, b);
        td_tape_reset(t);
        td_var *mu, *lv;
        td_vae_encode(t, m, td_const(t, xb), &mu, &lv);
        memcpy(mu_buf, mu->value.data, sizeof(td_real) * (size_t)(b * d));
        memcpy(lv_buf, lv->value.data, sizeof(td_real) * (size_t)(b * d));
        for (int64_t j = 0; j < b; j++) acc[j] = (td_lse){-INFINITY, 0};
        for (int64_t k0 = 0; k0 < k; k0 += kc) {
            const int64_t s = k - k0 < kc ? k - k0 : kc;
            td_tape_reset(t);
            td_var *mu_v = td_const(t, td_tensor_wrap(TD_SHAPE(b, d), mu_buf));
            td_var *lv_v = td_const(t, td_tensor_wrap(TD_SHAPE(b, d), lv_buf));
            td_var *eps;
            td_var *z = td_gauss_sample(t, mu_v, lv_v, s, rng, &eps);
            td_var *out = td_mlp_forward(t, &m->dec, z);
            td_var *nll = recon_rows(t, m, out, td_tile_rows(t, td_const(t, xb), s));
            for (int64_t r = 0; r < s * b; r++) { /* row r = sample r / b of image r % b */
                const int64_t j = r % b;
                double lq = 0, lp = 0;
                for (int64_t q = 0; q < d; q++) {
                    const double e = eps->value.data[r * d + q], zz = z->value.data[r * d + q];
                    lq += -0.5 * e * e - 0.5 * lv_buf[j * d + q];
                    lp += -0.5 * zz * zz;
                }
                td_lse_add(&acc[j], -(double)nll->value.data[r] + lp - lq); /* the 2 pi terms cancel */
            }
        }
        for (int64_t j = 0; j < b; j++) nll_out[i0 + j] = -(acc[j].max + log(acc[j].sum) - log((double)k));
    }
    td_free(mu_buf);
    td_free(lv_buf);
    td_free(acc);
    td_tape_reset(t);
    td_no_grad_end(ng);
}

td_var *td_vae_decode(td_tape *t, const td_vae *m, td_var *z) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *y = td_sigmoid(t, td_mlp_forward(t, &m->dec, z));
    td_no_grad_end(ng);
    return y;
}

td_var *td_vae_sample(td_tape *t, const td_vae *m, int64_t n, td_rng *rng) {
    return td_vae_decode(t, m, td_randn(t, rng, TD_SHAPE(n, m->cfg.latent)));
}

td_var *td_vae_reconstruct(td_tape *t, const td_vae *m, td_var *x) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *mu, *lv;
    td_vae_encode(t, m, x, &mu, &lv);
    td_no_grad_end(ng);
    return td_vae_decode(t, m, mu);
}
