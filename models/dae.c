/* The denoising autoencoder: a td_ae whose encoder sees corrupted inputs. */
#include "dae.h"

#include <stdio.h>
#include <stdlib.h>
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

double td_dae_denoise_error(td_tape *t, const td_dae *m, const td_tensor *x, int64_t batch,
                            td_rng *rng) {
    const int64_t n = td_tensor_rows_count(x);
    TD_ASSERT(batch > 0 && n > 0, "td_dae_denoise_error: need rows (%lld) and a batch size (%lld)",
              (long long)n, (long long)batch);
    td_no_grad ng = td_no_grad_begin(t);
    double sum = 0;
    for (int64_t i = 0; i < n; i += batch) {
        const int64_t b = n - i < batch ? n - i : batch;
        td_tape_reset(t);
        td_var *l = td_dae_loss(t, m, td_const(t, td_tensor_rows(x, i, b)), rng, NULL, NULL);
        sum += (double)td_item(l) * (double)b;
    }
    td_tape_reset(t);
    td_no_grad_end(ng);
    return sum / (double)n;
}

size_t td_dae_config_text(const td_dae_config *c, char *buf, size_t len) {
    size_t n = td_ae_config_text(&c->ae, buf, len);
    int k = snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0,
                     "noise = %s\nnoise_level = %.17g\n", td_noise_name(c->noise), c->level);
    return n + (k < 0 ? 0 : (size_t)k);
}

static int dae_set(void *ctx, const char *key, const char *v) {
    td_dae_config *c = ctx;
    if (!strcmp(key, "noise")) {
        int k = td_noise_parse(v);
        if (k < 0) {
            td_set_error("config: noise = '%s': use masking, gaussian or salt-and-pepper", v);
            return -1;
        }
        c->noise = (td_noise_kind)k;
        return 1;
    }
    if (!strcmp(key, "noise_level")) {
        char *end;
        double x = strtod(v, &end);
        if (end == v || *end || !(x >= 0)) {
            td_set_error("config: noise_level = '%s' is not a number >= 0", v);
            return -1;
        }
        c->level = x;
        return 1;
    }
    return td_ae_config_set(&c->ae, key, v);
}

int td_dae_config_parse(td_dae_config *c, const char *text) {
    return td_config_each(text, dae_set, c);
}
