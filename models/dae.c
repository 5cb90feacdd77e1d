/* The denoising autoencoder: a td_ae whose encoder sees corrupted inputs. */
#include "dae.h"

#include <stdio.h>
#include <string.h>

static const char *const noise_names[] = {
    [TD_NOISE_MASK] = "masking", [TD_NOISE_GAUSSIAN] = "gaussian",
    [TD_NOISE_SALT_PEPPER] = "salt-and-pepper",
};

int td_noise_parse(const char *name) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, noise_names[i])) return i;
    if (!strcmp(name, "mask") || !strcmp(name, "masking-noise")) return TD_NOISE_MASK;
    if (!strcmp(name, "salt-pepper") || !strcmp(name, "saltpepper")) return TD_NOISE_SALT_PEPPER;
    return -1;
}

const char *td_noise_name(td_noise_kind k) {
    return (int)k >= 0 && (int)k < 3 ? noise_names[k] : "?";
}

td_dae_config td_dae_defaults(void) {
    td_dae_config c = {.ae = td_ae_defaults(), .noise = TD_NOISE_MASK, .level = 0.3};
    return c;
}

int td_dae_init(td_dae *m, td_params *p, const td_dae_config *cfg) {
    memset(m, 0, sizeof *m);
    const int bounded = cfg->noise != TD_NOISE_GAUSSIAN;
    if (!(cfg->level >= 0) || (bounded && cfg->level > 1) || (int)cfg->noise < 0 ||
        (int)cfg->noise > 2) {
        td_set_error("dae: noise level %g is out of range (masking and salt-and-pepper: a "
                     "fraction in [0, 1]; gaussian: a standard deviation >= 0)", cfg->level);
        return -1;
    }
    m->cfg = *cfg;
    return td_ae_init(&m->ae, p, &cfg->ae);
}

td_var *td_dae_corrupt(td_tape *t, td_noise_kind kind, double level, td_var *x, td_rng *rng) {
    const td_shape s = x->value.shape;
    switch (kind) {
    case TD_NOISE_MASK: /* keep each value with probability 1 - level */
        return td_mul(t, x, td_bernoulli_mask(t, rng, s, (td_real)(1 - level)));
    case TD_NOISE_GAUSSIAN:
        return td_add(t, x, td_mul_scalar(t, td_randn(t, rng, s), (td_real)level));
    case TD_NOISE_SALT_PEPPER: { /* x*keep + (1-keep)*salt, salt 0 or 1 at even odds */
        td_var *keep = td_bernoulli_mask(t, rng, s, (td_real)(1 - level));
        td_var *salt = td_bernoulli_mask(t, rng, s, (td_real)0.5);
        td_var *hit = td_add_scalar(t, td_neg(t, keep), 1);
        return td_add(t, td_mul(t, x, keep), td_mul(t, hit, salt));
    }
    }
    TD_ASSERT(0, "td_dae_corrupt: unknown noise kind %d", (int)kind);
    return NULL;
}

td_var *td_dae_loss(td_tape *t, const td_dae *m, td_var *x, td_rng *rng, td_ae_terms *terms,
                    td_var **corrupted_out) {
    td_var *xc = td_dae_corrupt(t, m->cfg.noise, m->cfg.level, x, rng);
    if (corrupted_out) *corrupted_out = xc;
    td_var *out = td_ae_decode_raw(t, &m->ae, td_ae_encode(t, &m->ae, xc));
    td_var *loss = td_ae_recon_loss(t, &m->ae, out, x); /* the clean x is the target */
    if (terms) {
        terms->loss = terms->recon = td_item(loss);
        terms->reg = 0;
    }
    return loss;
}

typedef struct denoise_sum {
    const td_dae *m;
    const td_tensor *x;
    td_rng *rng;
    double sum; /* over images */
} denoise_sum;

static void denoise_batch(td_tape *t, int64_t first, int64_t rows, void *ctx) {
    denoise_sum *s = ctx;
    td_var *l = td_dae_loss(t, s->m, td_const(t, td_tensor_rows(s->x, first, rows)), s->rng, NULL, NULL);
    s->sum += (double)td_item(l) * (double)rows;
}

double td_dae_denoise_error(td_tape *t, const td_dae *m, const td_tensor *x, int64_t batch,
                            td_rng *rng) {
    const int64_t n = td_tensor_rows_count(x);
    TD_ASSERT(batch > 0 && n > 0, "td_dae_denoise_error: need rows (%lld) and a batch size (%lld)",
              (long long)n, (long long)batch);
    denoise_sum s = {m, x, rng, 0};
    td_no_grad_batches(t, n, batch, denoise_batch, &s);
    return s.sum / (double)n;
}
