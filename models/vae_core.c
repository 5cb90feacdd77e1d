/* The bounds every VAE shares, over the encoder and decoder a model hands
 * in (vae_core.h); td_backward does the rest. */
#include "vae_core.h"

#include <math.h>
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

double td_vae_core_beta(double beta, int warmup, int64_t epoch) {
    if (warmup <= 0) return beta;
    double r = (double)(epoch + 1) / warmup;
    return beta * (r < 1 ? r : 1);
}

/* -log p(x|z) per row, from the decoder's raw output (logits, or the
 * Gaussian mean before its sigmoid). */
static td_var *recon_rows(td_tape *t, const td_vae_core *c, td_var *out, td_var *x) {
    if (c->lik == TD_LIK_BERNOULLI) return td_nll_bernoulli_rows(t, out, x);
    td_var *mean = td_sigmoid(t, out);
    /* the per-pixel [input] log-variance broadcasts against [rows, input] */
    td_var *lv = c->dec_logvar ? c->dec_logvar : td_scalar(t, (td_real)c->fixed_logvar);
    return td_nll_gaussian_rows(t, mean, lv, x);
}

static td_var *elbo_loss(td_tape *t, const td_vae_core *c, td_var *x, td_rng *rng, int64_t L,
                         double beta, td_vae_terms *terms) {
    td_var *mu, *logvar;
    c->encode(t, c->model, x, &mu, &logvar);
    td_var *z = td_gauss_sample(t, mu, logvar, L, rng, NULL);
    td_var *out = c->decode(t, c->model, z);
    td_var *recon = td_sum(t, recon_rows(t, c, out, td_tile_rows(t, x, L)));
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
static td_var *iwae_loss(td_tape *t, const td_vae_core *c, td_var *x, td_rng *rng, int64_t K,
                         td_vae_terms *terms) {
    int64_t b = td_dim(x, 0);
    td_var *mu, *logvar, *eps;
    c->encode(t, c->model, x, &mu, &logvar);
    td_var *z = td_gauss_sample(t, mu, logvar, K, rng, &eps);
    td_var *out = c->decode(t, c->model, z);
    td_var *nll = recon_rows(t, c, out, td_tile_rows(t, x, K));          /* [K*B, 1] */
    td_var *lpz = td_log_std_normal_rows(t, z);                        /* [K*B, 1] */
    td_var *cq = td_gauss_neg_logq_const(t, eps); /* the constant part of -log q */
    td_var *lw = td_add(t, td_sub(t, lpz, nll), cq);
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

td_var *td_vae_core_loss(td_tape *t, const td_vae_core *c, td_var *x, td_rng *rng, double beta,
                         td_vae_terms *terms) {
    if (c->iw_k > 1) return iwae_loss(t, c, x, rng, c->iw_k, terms);
    return elbo_loss(t, c, x, rng, c->samples, beta, terms);
}

void td_vae_core_elbo_batch(td_tape *t, const td_vae_core *c, const td_tensor *x, td_rng *rng,
                            td_vae_terms *terms) {
    td_no_grad ng = td_no_grad_begin(t);
    elbo_loss(t, c, td_const(t, *x), rng, 1, 1, terms);
    td_no_grad_end(ng);
}

void td_vae_core_iw_nll(td_tape *t, const td_vae_core *c, const td_tensor *x, int64_t k,
                        td_rng *rng, double *nll_out) {
    TD_ASSERT(k >= 1, "iw_nll needs k >= 1");
    const int64_t n = x->shape.d[0], d = c->latent;
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
        c->encode(t, c->model, td_const(t, xb), &mu, &lv);
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
            td_var *out = c->decode(t, c->model, z);
            td_var *nll = recon_rows(t, c, out, td_tile_rows(t, td_const(t, xb), s));
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

td_var *td_vae_core_decode(td_tape *t, const td_vae_core *c, td_var *z) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *y = td_sigmoid(t, c->decode(t, c->model, z));
    td_no_grad_end(ng);
    return y;
}

td_var *td_vae_core_sample(td_tape *t, const td_vae_core *c, int64_t n, td_rng *rng) {
    return td_vae_core_decode(t, c, td_randn(t, rng, TD_SHAPE(n, c->latent)));
}

td_var *td_vae_core_reconstruct(td_tape *t, const td_vae_core *c, td_var *x) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *mu, *lv;
    c->encode(t, c->model, x, &mu, &lv);
    td_no_grad_end(ng);
    return td_vae_core_decode(t, c, mu);
}
