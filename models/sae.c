/* The sparse autoencoder: a td_ae plus a sparsity penalty on its code. */
#include "sae.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int td_sparsity_parse(const char *name) {
    if (!strcmp(name, "kl")) return TD_SPARSE_KL;
    if (!strcmp(name, "l1")) return TD_SPARSE_L1;
    return -1;
}

const char *td_sparsity_name(td_sparsity_kind k) { return k == TD_SPARSE_L1 ? "l1" : "kl"; }

td_sae_config td_sae_defaults(void) {
    td_sae_config c = {.ae = td_ae_defaults(), .kind = TD_SPARSE_KL, .weight = 1, .rho = 0.05};
    c.ae.n_hidden = 0;
    c.ae.code = 64;
    c.ae.code_act = TD_ACT_SIGMOID;
    return c;
}

int td_sae_init(td_sae *m, td_params *p, const td_sae_config *cfg) {
    memset(m, 0, sizeof *m);
    if (!(cfg->weight >= 0) || (cfg->kind != TD_SPARSE_KL && cfg->kind != TD_SPARSE_L1)) {
        td_set_error("sae: the sparsity weight must be >= 0 (got %g)", cfg->weight);
        return -1;
    }
    if (cfg->kind == TD_SPARSE_KL) {
        if (!(cfg->rho > 0 && cfg->rho < 1)) {
            td_set_error("sae: the target activation rho must be in (0, 1) (got %g)", cfg->rho);
            return -1;
        }
        if (cfg->ae.code_act != TD_ACT_SIGMOID) {
            td_set_error("sae: the KL penalty needs code activations in (0, 1): use a sigmoid "
                         "code (code_activation = sigmoid), or the l1 penalty");
            return -1;
        }
    }
    m->cfg = *cfg;
    return td_ae_init(&m->ae, p, &cfg->ae);
}

td_var *td_sparsity_l1(td_tape *t, td_var *h) {
    const int64_t rows = td_tensor_rows_count(&h->value);
    return td_mul_scalar(t, td_sum(t, td_abs(t, h)), (td_real)(1.0 / (double)rows));
}

/* sum_j KL(rho || q_j) = C - rho sum_j log q_j - (1 - rho) sum_j log(1 - q_j),
 * C = code * (rho log rho + (1 - rho) log(1 - rho)), so the value is the
 * KL itself (0 at q = rho), not just something with the same gradient.
 * q is clamped to [TD_SAE_Q_MIN, 1 - TD_SAE_Q_MIN] before the logs: in float a
 * sigmoid code saturates, so a unit's mean can be exactly 0 or 1, and log(0)
 * would make the loss and its gradient Inf/NaN. */
td_var *td_sparsity_kl(td_tape *t, td_var *h, double rho) {
    TD_ASSERT(h->value.shape.ndim == 2, "td_sparsity_kl: codes must be [rows, units]");
    const int64_t rows = td_dim(h, 0), units = td_dim(h, 1);
    /* the column mean: no mean_axis op, so sum_axis then scale */
    td_var *q = td_mul_scalar(t, td_sum_axis(t, h, 0), (td_real)(1.0 / (double)rows));
    q = td_clamp(t, q, (td_real)TD_SAE_Q_MIN, (td_real)(1 - TD_SAE_Q_MIN));
    td_var *log_q = td_sum(t, td_log(t, q));
    td_var *log_1mq = td_sum(t, td_log(t, td_add_scalar(t, td_neg(t, q), 1)));
    const double c = (double)units * (rho * log(rho) + (1 - rho) * log(1 - rho));
    td_var *s = td_add(t, td_mul_scalar(t, log_q, (td_real)rho),
                       td_mul_scalar(t, log_1mq, (td_real)(1 - rho)));
    return td_add_scalar(t, td_neg(t, s), (td_real)c);
}

td_var *td_sae_penalty(td_tape *t, const td_sae_config *c, td_var *h) {
    td_var *p = c->kind == TD_SPARSE_L1 ? td_sparsity_l1(t, h) : td_sparsity_kl(t, h, c->rho);
    return td_mul_scalar(t, p, (td_real)c->weight);
}

td_var *td_sae_loss(td_tape *t, const td_sae *m, td_var *x, td_ae_terms *terms) {
    td_var *h = td_ae_encode(t, &m->ae, x);
    td_var *recon = td_ae_recon_loss(t, &m->ae, td_ae_decode_raw(t, &m->ae, h), x);
    td_var *pen = td_sae_penalty(t, &m->cfg, h);
    td_var *loss = td_add(t, recon, pen);
    if (terms) {
        terms->loss = td_item(loss);
        terms->recon = td_item(recon);
        terms->reg = td_item(pen);
    }
    return loss;
}

/* What td_sae_eval sums over the batches. */
typedef struct code_sums {
    const td_sae *m;
    const td_tensor *x;
    double *unit_act, *unit_abs; /* [code]: sums of h_j and |h_j| over images */
    double recon, near;          /* sum over images; count of near-zero values */
} code_sums;

static void code_batch(td_tape *t, int64_t first, int64_t rows, void *ctx) {
    code_sums *s = ctx;
    const td_ae *ae = &s->m->ae;
    const int64_t units = ae->cfg.code;
    td_var *xv = td_const(t, td_tensor_rows(s->x, first, rows));
    td_var *h = td_ae_encode(t, ae, xv);
    td_var *l = td_ae_recon_loss(t, ae, td_ae_decode_raw(t, ae, h), xv);
    s->recon += (double)td_item(l) * (double)rows;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < units; j++) {
            const double v = h->value.data[r * units + j];
            s->unit_act[j] += v;
            s->unit_abs[j] += fabs(v);
            s->near += fabs(v) < TD_SAE_NEAR_ZERO;
        }
}

void td_sae_eval(td_tape *t, const td_sae *m, const td_tensor *x, int64_t batch,
                 td_sae_figures *f) {
    const int64_t n = td_tensor_rows_count(x), units = m->cfg.ae.code;
    TD_ASSERT(batch > 0 && n > 0, "td_sae_eval: need rows (%lld) and a batch size (%lld)",
              (long long)n, (long long)batch);
    code_sums s = {m, x, td_alloc_zero(sizeof(double) * (size_t)units),
                   td_alloc_zero(sizeof(double) * (size_t)units), 0, 0};
    td_no_grad_batches(t, n, batch, code_batch, &s);
    double *unit_act = s.unit_act, *unit_abs = s.unit_abs, recon = s.recon, near = s.near;
    memset(f, 0, sizeof *f);
    f->recon = recon / (double)n;
    f->near_zero = near / ((double)n * (double)units);
    f->rho_min = INFINITY;
    f->rho_max = -INFINITY;
    for (int64_t j = 0; j < units; j++) {
        const double a = unit_act[j] / (double)n, ab = unit_abs[j] / (double)n;
        f->mean_act += a / (double)units;
        f->mean_abs += ab / (double)units;
        f->dead_units += (ab < TD_SAE_NEAR_ZERO) / (double)units;
        f->rho_min = a < f->rho_min ? a : f->rho_min;
        f->rho_max = a > f->rho_max ? a : f->rho_max;
    }
    td_free(unit_abs);
    td_free(unit_act);
}
