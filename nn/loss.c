/* Losses and log-densities, composed from autograd ops only: every gradient
 * here comes from the ops' own backward passes (and gradcheck covers the
 * compositions in tests/test_nn_grad.c). */
#include "loss.h"

#define TD_LOG_2PI 1.8378770664093454836

static int last_axis(const td_var *v) { return v->value.shape.ndim - 1; }

td_var *td_nll_bernoulli_rows(td_tape *t, td_var *logits, td_var *x) {
    /* softplus(l) - x*l summed per row, fused in one op. */
    return td_bce_logits_rows(t, logits, x);
}

/* Per row (over the last axis of the broadcast shape):
 *   sum_j [ (x_j - mean_j)^2 / exp(logvar_j) + logvar_j ]
 * and the number of terms D. Dividing by exp(logvar) (rather than
 * multiplying by exp(-logvar)) keeps a zero residual at zero when the
 * variance is huge instead of making 0 * inf. */
static td_var *gauss_rows(td_tape *t, td_var *x, td_var *mean, td_var *logvar, int64_t *d) {
    td_var *sq = td_square(t, td_sub(t, x, mean));
    td_var *s = td_add(t, td_div(t, sq, td_exp(t, logvar)), logvar);
    *d = td_dim(s, last_axis(s));
    return td_sum_axis(t, s, last_axis(s));
}

td_var *td_nll_gaussian_rows(td_tape *t, td_var *mean, td_var *logvar, td_var *x) {
    int64_t d;
    td_var *r = gauss_rows(t, x, mean, logvar, &d);
    return td_add_scalar(t, td_mul_scalar(t, r, 0.5), (td_real)(0.5 * (double)d * TD_LOG_2PI));
}

td_var *td_log_normal_rows(td_tape *t, td_var *z, td_var *mu, td_var *logvar) {
    int64_t d;
    td_var *r = gauss_rows(t, z, mu, logvar, &d);
    return td_add_scalar(t, td_mul_scalar(t, r, -0.5), (td_real)(-0.5 * (double)d * TD_LOG_2PI));
}

td_var *td_log_std_normal_rows(td_tape *t, td_var *z) {
    int64_t d = td_dim(z, last_axis(z));
    td_var *r = td_sum_axis(t, td_square(t, z), last_axis(z));
    return td_add_scalar(t, td_mul_scalar(t, r, -0.5), (td_real)(-0.5 * (double)d * TD_LOG_2PI));
}

td_var *td_mse(td_tape *t, td_var *pred, td_var *target) {
    return td_mean(t, td_square(t, td_sub(t, pred, target)));
}

/* -1/2 sum(1 + lv - mu^2 - e^lv) = 1/2 sum(mu^2 + e^lv - lv) - D/2 */
td_var *td_kl_std_normal_rows(td_tape *t, td_var *mu, td_var *logvar) {
    td_var *s = td_sub(t, td_add(t, td_square(t, mu), td_exp(t, logvar)), logvar);
    int64_t d = td_dim(s, last_axis(s));
    td_var *r = td_sum_axis(t, s, last_axis(s));
    return td_add_scalar(t, td_mul_scalar(t, r, 0.5), (td_real)(-0.5 * (double)d));
}
