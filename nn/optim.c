/* SGD / Adam / AdamW over a parameter set: each step is one fused loop over
 * the contiguous value, grad and moment blocks (PyTorch's update equations),
 * run by the kernels td_k_sgd_update / td_k_adam_update (tensor/kernels.h),
 * which are compiled for each instruction set and parallel. */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/kernels.h"

static const char *const optim_names[] = {
    [TD_OPT_SGD] = "sgd", [TD_OPT_ADAM] = "adam", [TD_OPT_ADAMW] = "adamw", [TD_OPT_ADAM_IWAE] = "adam-iwae"};
enum { N_OPTIM = sizeof optim_names / sizeof *optim_names };

td_optim_config td_optim_defaults(td_optim_kind kind) {
    td_optim_config c = {.kind = kind, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    switch (kind) {
    case TD_OPT_SGD: c.lr = 1e-2; break;
    case TD_OPT_ADAM: c.lr = 1e-3; break;
    case TD_OPT_ADAMW: c.lr = 1e-3, c.weight_decay = 1e-2; break;
    case TD_OPT_ADAM_IWAE: c.lr = 1e-3, c.beta1 = 0.99, c.eps = 1e-4; break;
    }
    return c;
}

int td_optim_parse(const char *name) {
    for (int i = 0; i < N_OPTIM; i++)
        if (strcmp(name, optim_names[i]) == 0) return i;
    return -1;
}

const char *td_optim_name(td_optim_kind kind) {
    return (int)kind >= 0 && (int)kind < N_OPTIM ? optim_names[kind] : "?";
}

/* NULL when the config is usable, else what is wrong with it. */
static const char *config_problem(const td_optim_config *c) {
    if ((int)c->kind < 0 || (int)c->kind >= N_OPTIM) return "unknown optimizer kind";
    if (c->nesterov && !(c->kind == TD_OPT_SGD && c->momentum > 0))
        return "Nesterov momentum needs SGD with momentum > 0";
    if (!(c->momentum >= 0 && c->weight_decay >= 0 && c->eps >= 0))
        return "momentum, weight decay and eps must be >= 0";
    if (!(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1))
        return "Adam betas must be in [0, 1)";
    return NULL;
}

td_optimizer *td_optimizer_create(td_params *p, td_optim_config cfg) {
    TD_ASSERT(p->finalized, "td_optimizer_create before td_params_finalize");
    const char *bad = config_problem(&cfg);
    TD_ASSERT(!bad, "td_optimizer_create: %s", bad);
    td_optimizer *o = td_alloc_zero(sizeof *o);
    o->cfg = cfg;
    o->params = p;
    size_t bytes = sizeof(td_real) * (size_t)(p->total > 0 ? p->total : 1);
    o->m = td_alloc_zero(bytes); /* SGD momentum buffer or Adam's first moment */
    if (cfg.kind != TD_OPT_SGD) o->v = td_alloc_zero(bytes);
    if (cfg.kind == TD_OPT_ADAM_IWAE) /* yburda/iwae: shared_ones_like */
        for (int64_t i = 0; i < p->total; i++) o->v[i] = 1;
    return o;
}

void td_optimizer_destroy(td_optimizer *o) {
    if (!o) return;
    td_free(o->m);
    td_free(o->v);
    td_free(o);
}

/* PyTorch SGD (dampening 0): g = grad + wd p; buf = mu buf + g (buf starts
 * at zero, so the first step gives buf = g as PyTorch's clone does);
 * nesterov: g = g + mu buf, else g = buf; p -= lr g. */
static void sgd_step(td_optimizer *o, double lr) {
    const td_sgd_coef c = {.lr = (td_real)lr, .weight_decay = (td_real)o->cfg.weight_decay,
                           .momentum = (td_real)o->cfg.momentum, .nesterov = o->cfg.nesterov};
    td_k_sgd_update(o->params->values, o->params->grads, o->m, o->params->total, c);
}

/* PyTorch Adam / AdamW (amsgrad off), step t counted from 1:
 *   Adam:  g = grad + wd p          AdamW: p *= 1 - lr wd
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps) */
static void adam_step(td_optimizer *o, double lr) {
    const double t = (double)o->steps;
    const int decoupled = o->cfg.kind == TD_OPT_ADAMW;
    const td_adam_coef c = {
        .beta1 = (td_real)o->cfg.beta1, .beta2 = (td_real)o->cfg.beta2,
        .eps = (td_real)o->cfg.eps, .l2 = decoupled ? 0 : (td_real)o->cfg.weight_decay,
        .shrink = decoupled ? (td_real)(1.0 - lr * o->cfg.weight_decay) : 1,
        .step_size = (td_real)(lr / (1.0 - pow(o->cfg.beta1, t))),
        .bc2_sqrt = (td_real)sqrt(1.0 - pow(o->cfg.beta2, t))};
    td_k_adam_update(o->params->values, o->params->grads, o->m, o->v, o->params->total, c);
}

/* yburda/iwae's Adam (optim.h): the step from the previous moments, then
 * the moments. A plain loop: it is a small part of a step. */
static void adam_iwae_step(td_optimizer *o, double lr) {
    const double t = (double)o->steps, b1 = o->cfg.beta1, b2 = o->cfg.beta2;
    const td_real alpha = (td_real)(lr * sqrt(1.0 - pow(b2, t)) / (1.0 - pow(b1, t)));
    const td_real rb1 = (td_real)b1, rb2 = (td_real)b2, eps = (td_real)o->cfg.eps,
                  l2 = (td_real)o->cfg.weight_decay;
    td_real *p = o->params->values, *m = o->m, *v = o->v;
    const td_real *g = o->params->grads;
    for (int64_t i = 0; i < o->params->total; i++) {
        const td_real gi = g[i] + l2 * p[i];
        p[i] -= alpha * m[i] / ((td_real)sqrt((double)v[i]) + eps);
        m[i] = rb1 * m[i] + (1 - rb1) * gi;
        v[i] = rb2 * v[i] + (1 - rb2) * gi * gi;
    }
}

double td_optimizer_step(td_optimizer *o, double lr) {
    double norm = 0;
    if (o->cfg.clip_norm > 0) norm = td_params_clip_grad_norm(o->params, o->cfg.clip_norm);
    o->steps++;
    if (o->cfg.kind == TD_OPT_SGD) sgd_step(o, lr);
    else if (o->cfg.kind == TD_OPT_ADAM_IWAE) adam_iwae_step(o, lr);
    else adam_step(o, lr);
    return norm;
}

/* ---- save / load -------------------------------------------------------------
 * Entries: optim.kind (string), optim.config (key=value lines, %.17g so
 * doubles round-trip exactly), optim.steps (u64), optim.m and, for Adam(W),
 * optim.v (tensors [total]). */

void td_optimizer_save(const td_optimizer *o, td_archive *a) {
    const td_optim_config *c = &o->cfg;
    char text[512];
    snprintf(text, sizeof text,
             "lr=%.17g\nmomentum=%.17g\nnesterov=%d\nweight_decay=%.17g\nbeta1=%.17g\n"
             "beta2=%.17g\neps=%.17g\nclip_norm=%.17g\n",
             c->lr, c->momentum, c->nesterov, c->weight_decay, c->beta1, c->beta2, c->eps,
             c->clip_norm);
    td_archive_put_string(a, "optim.kind", td_optim_name(c->kind));
    td_archive_put_string(a, "optim.config", text);
    td_archive_put_u64(a, "optim.steps", (uint64_t)o->steps);
    td_shape s = TD_SHAPE(o->params->total);
    td_tensor m = td_tensor_wrap(s, o->m);
    td_archive_put_tensor(a, "optim.m", &m);
    if (o->v) {
        td_tensor v = td_tensor_wrap(s, o->v);
        td_archive_put_tensor(a, "optim.v", &v);
    }
}

static int parse_config(const char *text, td_optim_config *c) {
    struct { const char *key; double *dst; } keys[] = {
        {"lr", &c->lr}, {"momentum", &c->momentum}, {"weight_decay", &c->weight_decay},
        {"beta1", &c->beta1}, {"beta2", &c->beta2}, {"eps", &c->eps}, {"clip_norm", &c->clip_norm},
    };
    const int nkeys = (int)(sizeof keys / sizeof keys[0]);
    int seen = 0;
    for (const char *line = text; *line;) {
        const char *eq = strchr(line, '='), *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        if (!eq || eq > end) return -1;
        size_t klen = (size_t)(eq - line);
        char *after;
        double val = strtod(eq + 1, &after);
        if (after != end) return -1;
        if (klen == 8 && strncmp(line, "nesterov", 8) == 0) {
            c->nesterov = val != 0, seen++;
        } else {
            for (int k = 0; k < nkeys; k++)
                if (strlen(keys[k].key) == klen && strncmp(line, keys[k].key, klen) == 0)
                    *keys[k].dst = val, seen++;
        }
        line = *end ? end + 1 : end;
    }
    return seen == nkeys + 1 ? 0 : -1;
}

static int check_moment(const td_archive *a, const char *name, int64_t total) {
    td_shape s;
    if (td_archive_tensor_shape(a, name, &s) != 0) {
        td_set_error("optimizer state is incomplete: entry '%s' is missing", name);
        return -1;
    }
    if (td_shape_size(s) != total) {
        td_set_error("optimizer state '%s' holds %lld values but the model has %lld parameters: "
                     "the file belongs to a different model configuration",
                     name, (long long)td_shape_size(s), (long long)total);
        return -1;
    }
    return 0;
}

int td_optimizer_load(td_optimizer *o, const td_archive *a) {
    const char *kind = td_archive_get_string(a, "optim.kind");
    const char *text = td_archive_get_string(a, "optim.config");
    uint64_t steps;
    if (!kind || !text || td_archive_get_u64(a, "optim.steps", &steps) != 0) {
        td_set_error("the file has no optimizer state (optim.kind/config/steps): it was saved "
                     "without one, so training cannot resume from it exactly");
        return -1;
    }
    if (td_optim_parse(kind) != (int)o->cfg.kind) {
        td_set_error("the file's optimizer is '%s' but this run uses '%s': resume with the same "
                     "optimizer",
                     kind, td_optim_name(o->cfg.kind));
        return -1;
    }
    td_optim_config c = o->cfg;
    if (parse_config(text, &c) != 0 || config_problem(&c)) {
        td_set_error("the file's optimizer config is unreadable or invalid:\n%s", text);
        return -1;
    }
    const int64_t total = o->params->total;
    if (check_moment(a, "optim.m", total) != 0) return -1;
    if (o->v && check_moment(a, "optim.v", total) != 0) return -1;
    /* Everything checked: now overwrite. The saved config replaces ours so a
     * resumed run continues the same run; a caller that means to change a
     * hyperparameter sets o->cfg after loading. */
    td_tensor m = td_tensor_wrap(TD_SHAPE(total), o->m);
    if (td_archive_get_tensor(a, "optim.m", &m) != 0) return -1;
    if (o->v) {
        td_tensor v = td_tensor_wrap(TD_SHAPE(total), o->v);
        if (td_archive_get_tensor(a, "optim.v", &v) != 0) return -1;
    }
    o->cfg = c;
    o->steps = (int64_t)steps;
    return 0;
}

/* ---- schedules ------------------------------------------------------------------ */

static const char *const sched_names[] = {
    [TD_SCHED_CONSTANT] = "constant", [TD_SCHED_STEP] = "step", [TD_SCHED_EXP] = "exp", [TD_SCHED_IWAE] = "iwae"};
enum { N_SCHED = sizeof sched_names / sizeof *sched_names };

int td_schedule_parse(const char *name) {
    for (int i = 0; i < N_SCHED; i++)
        if (strcmp(name, sched_names[i]) == 0) return i;
    return -1;
}

const char *td_schedule_name(td_schedule_kind kind) {
    return (int)kind >= 0 && (int)kind < N_SCHED ? sched_names[kind] : "?";
}

int td_schedule_iwae_stage(int64_t epoch) {
    int stage = 1;
    for (int64_t end = 1, len = 1; stage < 8 && epoch >= end; stage++) /* stage i ends at (3^i - 1) / 2 */
        len *= 3, end += len;
    return stage;
}

double td_schedule_lr(const td_schedule *s, double base_lr, int64_t epoch) {
    switch (s->kind) {
    case TD_SCHED_CONSTANT: return base_lr;
    case TD_SCHED_STEP:
        TD_ASSERT(s->step_size > 0, "step schedule needs step_size > 0");
        return base_lr * pow(s->gamma, (double)(epoch / s->step_size));
    case TD_SCHED_EXP: return base_lr * pow(s->gamma, (double)epoch);
    case TD_SCHED_IWAE: {
        const int i = td_schedule_iwae_stage(epoch);
        return base_lr * (round(10 * pow(10.0, 1 - (i - 1) / 7.0)) / 10) / 10;
    }
    }
    TD_ASSERT(0, "unknown schedule kind %d", (int)s->kind);
    return base_lr;
}
