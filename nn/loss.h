/* Losses and log-likelihoods, built from autograd ops (so gradcheck covers
 * them). "rows" forms return one value per row ([rows, 1]); reduce with
 * td_sum or td_mean.
 *
 * A "row" is everything but the last axis: the Gaussian forms sum over the
 * last axis of the broadcast shape and keep it as size 1. With K samples per
 * datapoint keep the sample axis explicit instead of flattening it:
 * z [K, B, D] against mu, logvar [B, D] (NumPy broadcasting) gives
 * log q(z|x) as [K, B, 1], and td_log_std_normal_rows(z) gives log p(z) as
 * [K, B, 1]; td_logsumexp_axis(.., 0) then reduces over the samples. A
 * flattened [K*B, D] would not broadcast against [B, D]. */
#ifndef TD_LOSS_H
#define TD_LOSS_H

#include "../autograd/autograd.h"

/* -log p(x | logits) for Bernoulli pixels, summed over each row (x in [0,1]:
 * grayscale targets give the usual BCE). */
td_var *td_nll_bernoulli_rows(td_tape *t, td_var *logits, td_var *x);
/* -log N(x; mean, exp(logvar)) summed over each row. logvar may be a [1]
 * var (one shared variance) or mean's shape. */
td_var *td_nll_gaussian_rows(td_tape *t, td_var *mean, td_var *logvar, td_var *x);
/* mean((pred - target)^2) over all elements: a [1] var. */
td_var *td_mse(td_tape *t, td_var *pred, td_var *target);
/* KL(N(mu, exp(logvar)) || N(0, I)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar)),
 * per row. */
td_var *td_kl_std_normal_rows(td_tape *t, td_var *mu, td_var *logvar);
/* log N(z; mu, exp(logvar)) per row (mu/logvar may broadcast against z:
 * z [K, B, D] with mu, logvar [B, D] gives [K, B, 1]). */
td_var *td_log_normal_rows(td_tape *t, td_var *z, td_var *mu, td_var *logvar);
/* log N(z; 0, I) per row ([.., D] -> [.., 1]). */
td_var *td_log_std_normal_rows(td_tape *t, td_var *z);

#endif
