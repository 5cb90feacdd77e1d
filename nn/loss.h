/* Losses and log-likelihoods, built from autograd ops (so gradcheck covers
 * them). "rows" forms return one value per row ([rows, 1]); reduce with
 * td_sum or td_mean. */
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
/* log N(z; mu, exp(logvar)) per row (mu/logvar may broadcast against z). */
td_var *td_log_normal_rows(td_tape *t, td_var *z, td_var *mu, td_var *logvar);
/* log N(z; 0, I) per row. */
td_var *td_log_std_normal_rows(td_tape *t, td_var *z);

#endif
