/* The bottleneck autoencoder: an encoder MLP, a decoder MLP, a reconstruction
 * loss. Everything is autograd ops; td_backward does the rest. */
#include "ae.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/loss.h"

int td_recon_parse(const char *name) {
    if (!strcmp(name, "mse")) return TD_RECON_MSE;
    if (!strcmp(name, "bce")) return TD_RECON_BCE;
    return -1;
}

const char *td_recon_name(td_recon_kind k) { return k == TD_RECON_MSE ? "mse" : "bce"; }

td_ae_config td_ae_defaults(void) {
    td_ae_config c = {0};
    c.input = 784;
    c.n_hidden = 1;
    c.hidden[0] = 256;
    c.act = TD_ACT_RELU;
    c.code = 32;
    c.code_act = TD_ACT_NONE;
    c.recon = TD_RECON_BCE;
    return c;
}

int td_ae_init(td_ae *m, td_params *p, const td_ae_config *cfg) {
    memset(m, 0, sizeof *m);
    if (cfg->input <= 0 || cfg->code <= 0 || cfg->n_hidden < 0 || cfg->n_hidden > TD_AE_MAX_HIDDEN) {
        td_set_error("ae: bad config (input %lld, code %lld, %d hidden layers (0..%d))",
                     (long long)cfg->input, (long long)cfg->code, cfg->n_hidden, TD_AE_MAX_HIDDEN);
        return -1;
    }
    for (int i = 0; i < cfg->n_hidden; i++)
        if (cfg->hidden[i] <= 0) {
            td_set_error("ae: hidden layer %d has size %lld", i + 1, (long long)cfg->hidden[i]);
            return -1;
        }
    m->cfg = *cfg;
    const int nh = cfg->n_hidden;
    int64_t sizes[TD_MLP_MAX_LAYERS + 1];
    sizes[0] = cfg->input;
    for (int i = 0; i < nh; i++) sizes[i + 1] = cfg->hidden[i];
    sizes[nh + 1] = cfg->code;
    td_mlp_init(&m->enc, p, "enc", nh + 2, sizes, cfg->act, TD_INIT_PYTORCH);
    sizes[0] = cfg->code;
    for (int i = 0; i < nh; i++) sizes[i + 1] = cfg->hidden[nh - 1 - i];
    sizes[nh + 1] = cfg->input;
    td_mlp_init(&m->dec, p, "dec", nh + 2, sizes, cfg->act, TD_INIT_PYTORCH);
    return 0;
}

td_var *td_ae_encode(td_tape *t, const td_ae *m, td_var *x) {
    /* the MLP leaves its last layer linear; the code's activation is ours */
    return td_activate(t, td_mlp_forward(t, &m->enc, x), m->cfg.code_act);
}

td_var *td_ae_decode_raw(td_tape *t, const td_ae *m, td_var *h) {
    return td_mlp_forward(t, &m->dec, h);
}

td_var *td_ae_recon_loss(td_tape *t, const td_ae *m, td_var *out, td_var *x) {
    const int64_t rows = td_tensor_rows_count(&x->value);
    td_var *total;
    if (m->cfg.recon == TD_RECON_BCE)
        total = td_sum(t, td_bce_logits_rows(t, out, x)); /* fused, stable */
    else
        total = td_sum(t, td_square(t, td_sub(t, out, x)));
    return td_mul_scalar(t, total, (td_real)(1.0 / (double)rows));
}

td_var *td_ae_loss(td_tape *t, const td_ae *m, td_var *x, td_ae_terms *terms) {
    td_var *loss = td_ae_recon_loss(t, m, td_ae_decode_raw(t, m, td_ae_encode(t, m, x)), x);
    if (terms) {
        terms->loss = terms->recon = td_item(loss);
        terms->reg = 0;
    }
    return loss;
}

td_var *td_ae_decode(td_tape *t, const td_ae *m, td_var *h) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *y = td_ae_decode_raw(t, m, h);
    if (m->cfg.recon == TD_RECON_BCE) y = td_sigmoid(t, y);
    td_no_grad_end(ng);
    return y;
}

td_var *td_ae_reconstruct(td_tape *t, const td_ae *m, td_var *x) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *h = td_ae_encode(t, m, x);
    td_no_grad_end(ng);
    return td_ae_decode(t, m, h);
}

double td_ae_recon_error(td_tape *t, const td_ae *m, const td_tensor *x, int64_t batch) {
    const int64_t n = td_tensor_rows_count(x);
    TD_ASSERT(batch > 0 && n > 0, "td_ae_recon_error: need rows (%lld) and a batch size (%lld)",
              (long long)n, (long long)batch);
    td_no_grad ng = td_no_grad_begin(t);
    double sum = 0;
    for (int64_t i = 0; i < n; i += batch) {
        const int64_t b = n - i < batch ? n - i : batch;
        td_tape_reset(t);
        td_tensor xb = td_tensor_rows(x, i, b);
        td_var *xv = td_const(t, xb);
        td_var *l = td_ae_recon_loss(t, m, td_ae_decode_raw(t, m, td_ae_encode(t, m, xv)), xv);
        sum += (double)td_item(l) * (double)b; /* back to a sum over images */
    }
    td_tape_reset(t);
    td_no_grad_end(ng);
    return sum / (double)n;
}

int64_t td_ae_filters(const td_ae *m, td_real *out) {
    const td_tensor *w = &m->enc.layers[0].w->value;
    const int64_t units = w->shape.d[0], in = w->shape.d[1];
    for (int64_t j = 0; j < units; j++) {
        const td_real *r = w->data + j * in;
        double mx = 0;
        for (int64_t i = 0; i < in; i++) mx = fabs((double)r[i]) > mx ? fabs((double)r[i]) : mx;
        const double s = mx > 0 ? 0.5 / mx : 0;
        for (int64_t i = 0; i < in; i++) out[j * in + i] = (td_real)(0.5 + s * r[i]);
    }
    return units;
}

/* ---- config text ------------------------------------------------------------- */

size_t td_ae_config_text(const td_ae_config *c, char *buf, size_t len) {
    char hidden[160] = "";
    size_t used = 0;
    for (int i = 0; i < c->n_hidden && used < sizeof hidden; i++)
        used += (size_t)snprintf(hidden + used, sizeof hidden - used, "%s%lld", i ? "," : "",
                                 (long long)c->hidden[i]);
    int n = snprintf(buf, len,
                     "input = %lld\nhidden = %s\nactivation = %s\ncode = %lld\n"
                     "code_activation = %s\nrecon = %s\n",
                     (long long)c->input, c->n_hidden ? hidden : "none", td_activation_name(c->act),
                     (long long)c->code, td_activation_name(c->code_act), td_recon_name(c->recon));
    return n < 0 ? 0 : (size_t)n;
}

static int parse_i64(const char *key, const char *v, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x <= 0) {
        td_set_error("config: %s = '%s' is not a positive integer", key, v);
        return -1;
    }
    *out = x;
    return 1;
}

int td_ae_config_set(td_ae_config *c, const char *key, const char *v) {
    if (!strcmp(key, "input")) return parse_i64(key, v, &c->input);
    if (!strcmp(key, "code")) return parse_i64(key, v, &c->code);
    if (!strcmp(key, "hidden")) { /* "256,64" or "none" */
        int n = 0;
        if (strcmp(v, "none") && *v) {
            for (const char *s = v;; n++) {
                char item[32];
                size_t k = strcspn(s, ",");
                if (n == TD_AE_MAX_HIDDEN || k == 0 || k >= sizeof item) {
                    td_set_error("config: hidden = '%s': give up to %d sizes like 256,64, or none",
                                 v, TD_AE_MAX_HIDDEN);
                    return -1;
                }
                memcpy(item, s, k);
                item[k] = 0;
                if (parse_i64(key, item, &c->hidden[n]) < 0) return -1;
                if (!s[k]) { n++; break; }
                s += k + 1;
            }
        }
        c->n_hidden = n;
        return 1;
    }
    if (!strcmp(key, "activation") || !strcmp(key, "code_activation")) {
        int a = td_activation_parse(v);
        if (a < 0) {
            td_set_error("config: %s = '%s': use none, relu, tanh, sigmoid or softplus", key, v);
            return -1;
        }
        *(key[0] == 'a' ? &c->act : &c->code_act) = (td_activation)a;
        return 1;
    }
    if (!strcmp(key, "recon")) {
        int r = td_recon_parse(v);
        if (r < 0) {
            td_set_error("config: recon = '%s': use mse or bce", v);
            return -1;
        }
        c->recon = (td_recon_kind)r;
        return 1;
    }
    return 0;
}

int td_config_each(const char *text, int (*set)(void *ctx, const char *key, const char *value),
                   void *ctx) {
    char line[512];
    for (const char *s = text; *s;) {
        size_t n = strcspn(s, "\n");
        if (n >= sizeof line) {
            td_set_error("config: a line is longer than %zu characters", sizeof line - 1);
            return -1;
        }
        memcpy(line, s, n);
        line[n] = 0;
        s += n + (s[n] == '\n');
        char *k = line;
        while (isspace((unsigned char)*k)) k++;
        if (!*k || *k == '#') continue;
        char *eq = strchr(k, '=');
        if (!eq) {
            td_set_error("config: '%s' is not a key = value line", k);
            return -1;
        }
        char *v = eq + 1, *e = eq;
        while (e > k && isspace((unsigned char)e[-1])) e--;
        *e = 0;
        while (isspace((unsigned char)*v)) v++;
        for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]);) *--e = 0;
        int r = set(ctx, k, v);
        if (r < 0) return -1;
        if (r == 0) {
            td_set_error("config: unknown key '%s'", k);
            return -1;
        }
    }
    return 0;
}

static int ae_set(void *ctx, const char *key, const char *value) {
    return td_ae_config_set(ctx, key, value);
}

int td_ae_config_parse(td_ae_config *c, const char *text) {
    return td_config_each(text, ae_set, c);
}
