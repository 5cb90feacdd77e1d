/* The bottleneck autoencoder: an encoder MLP, a decoder MLP, a reconstruction
 * loss. Everything is autograd ops; td_backward does the rest. */
#include "ae.h"

#include <math.h>
#include <stdio.h>
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
    int64_t enc[TD_MLP_MAX_LAYERS + 1], dec[TD_MLP_MAX_LAYERS + 1];
    td_mlp_mirror_sizes(cfg->input, nh, cfg->hidden, cfg->code, enc, dec);
    td_mlp_init(&m->enc, p, "enc", nh + 2, enc, cfg->act, TD_INIT_PYTORCH);
    td_mlp_init(&m->dec, p, "dec", nh + 2, dec, cfg->act, TD_INIT_PYTORCH);
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

typedef struct recon_sum {
    const td_ae *m;
    const td_tensor *x;
    double sum; /* over images */
} recon_sum;

static void recon_batch(td_tape *t, int64_t first, int64_t rows, void *ctx) {
    recon_sum *s = ctx;
    td_var *xv = td_const(t, td_tensor_rows(s->x, first, rows));
    td_var *l = td_ae_recon_loss(t, s->m, td_ae_decode_raw(t, s->m, td_ae_encode(t, s->m, xv)), xv);
    s->sum += (double)td_item(l) * (double)rows; /* back to a sum over images */
}

double td_ae_recon_error(td_tape *t, const td_ae *m, const td_tensor *x, int64_t batch) {
    const int64_t n = td_tensor_rows_count(x);
    TD_ASSERT(batch > 0 && n > 0, "td_ae_recon_error: need rows (%lld) and a batch size (%lld)",
              (long long)n, (long long)batch);
    recon_sum s = {m, x, 0};
    td_no_grad_batches(t, n, batch, recon_batch, &s);
    return s.sum / (double)n;
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
