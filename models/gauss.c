/* Gaussian latent layers: see gauss.h. */
#include "gauss.h"

#include <string.h>

static const double LOG_2PI = 1.8378770664093453;

td_var *td_tile_rows(td_tape *t, td_var *x, int64_t s) {
    if (s == 1) return x;
    int64_t b = td_dim(x, 0), n = td_dim(x, 1);
    td_var *r = td_const_new(t, TD_SHAPE(s * b, n));
    for (int64_t k = 0; k < s; k++)
        memcpy(r->value.data + k * b * n, x->value.data, sizeof(td_real) * (size_t)(b * n));
    return r;
}

td_var *td_gauss_sample(td_tape *t, td_var *mu, td_var *logvar, int64_t s, td_rng *rng,
                        td_var **eps_out) {
    int64_t b = td_dim(mu, 0), d = td_dim(mu, 1);
    td_var *eps = td_randn(t, rng, s == 1 ? TD_SHAPE(b, d) : TD_SHAPE(s, b, d));
    td_var *z = td_reparam(t, mu, logvar, eps);
    if (eps_out) *eps_out = eps;
    return s == 1 ? z : td_reshape(t, z, TD_SHAPE(s * b, d));
}

td_var *td_gauss_neg_logq_const(td_tape *t, const td_var *eps) {
    const td_shape sh = eps->value.shape;
    const int64_t d = sh.d[sh.ndim - 1], rows = eps->value.size / d;
    td_var *c = td_const_new(t, TD_SHAPE(rows, 1));
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)eps->value.data[r * d + j] * eps->value.data[r * d + j];
        c->value.data[r] = (td_real)(0.5 * s + 0.5 * (double)d * LOG_2PI);
    }
    return c;
}

int64_t td_active_units(const td_real *means, int64_t n, int64_t d, double threshold) {
    int64_t active = 0;
    for (int64_t j = 0; j < d && n > 0; j++) { /* two passes in double: exact enough for any n */
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += means[i * d + j];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) var += (means[i * d + j] - mean) * (means[i * d + j] - mean);
        active += var / (double)n > threshold;
    }
    return active;
}
