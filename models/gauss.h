/* Pieces shared by the latent-variable models (vae_core.c, hvae.c): Gaussian
 * layers sampled by reparameterization, log q written through the noise,
 * and the running log-sum-exp of importance-weighted estimates. */
#ifndef TD_GAUSS_H
#define TD_GAUSS_H

#include <math.h>

#include "../autograd/autograd.h"

/* x [B, n] repeated s times as a constant [s*B, n] (targets for s samples). */
td_var *td_tile_rows(td_tape *t, td_var *x, int64_t s);

/* s samples z = mu + exp(logvar / 2) * eps per row of mu, logvar [B, d]:
 * [s*B, d], sample-major. eps_out (may be NULL) receives the noise, [B, d]
 * or [s, B, d]. */
td_var *td_gauss_sample(td_tape *t, td_var *mu, td_var *logvar, int64_t s, td_rng *rng,
                        td_var **eps_out);

/* With z = mu + sd * eps, log q(z|x) = -sum_d (eps^2 / 2 + logvar / 2) - d/2 log(2 pi).
 * Written through eps its total derivative in (mu, logvar) is exactly that
 * of log q(z(mu, logvar)|x). This is the part that does not depend on the
 * parameters, as a constant [rows, 1]: sum_d eps^2 / 2 + d/2 log(2 pi) for
 * each row of eps ([.., d], rows = everything but d). -log q = it +
 * sum(logvar) / 2. */
td_var *td_gauss_neg_logq_const(td_tape *t, const td_var *eps);

/* Active units (Burda et al. 2016, Table 2): of the d columns of means
 * [n, d] (E_q[z|x] for n images), how many have a variance over the images
 * (ddof 0, as NumPy's var) above threshold (the paper's 0.01). */
int64_t td_active_units(const td_real *means, int64_t n, int64_t d, double threshold);

/* A running log(sum exp(lw)): max m and sum s of exp(lw - m). Start with
 * {-INFINITY, 0}; the value is m + log(s). */
typedef struct td_lse {
    double max, sum;
} td_lse;

static inline void td_lse_add(td_lse *a, double lw) {
    if (lw > a->max) {
        a->sum = a->sum * exp(a->max - lw) + 1;
        a->max = lw;
    } else {
        a->sum += exp(lw - a->max);
    }
}

#endif
