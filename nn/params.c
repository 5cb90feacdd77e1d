/* Parameter sets: registration, one contiguous block for values and one for
 * grads, initialization, norms, and save/load by name. */
#include "params.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../tensor/kernels.h"

td_params *td_params_create(void) {
    td_params *p = td_alloc_zero(sizeof *p);
    p->cap = 16;
    p->vars = td_alloc(sizeof(td_var *) * (size_t)p->cap);
    p->inits = td_alloc(sizeof(td_init) * (size_t)p->cap);
    return p;
}

void td_params_destroy(td_params *p) {
    if (!p) return;
    /* The vars wrap views of the two blocks: free the structs and the name
     * copies here, and the blocks once (td_param_destroy would leave the
     * names and is meant for vars that own their storage). */
    for (int i = 0; i < p->count; i++) {
        td_free((char *)p->vars[i]->name);
        td_free(p->vars[i]);
    }
    td_free(p->vars);
    td_free(p->inits);
    td_free(p->values);
    td_free(p->grads);
    td_free(p);
}

static char *copy_name(const char *name) {
    size_t n = strlen(name) + 1;
    char *s = td_alloc(n);
    memcpy(s, name, n);
    return s;
}

td_var *td_params_add(td_params *p, const char *name, td_shape s, td_init init) {
    TD_ASSERT(!p->finalized, "td_params_add('%s') after td_params_finalize: register every "
              "parameter first, then finalize once", name);
    TD_ASSERT(name && *name && strlen(name) < 200, "parameter names are 1..199 bytes");
    TD_ASSERT(!td_params_get(p, name), "parameter '%s' registered twice: names must be unique "
              "(give each layer its own prefix)", name);
    TD_ASSERT(init.kind == TD_INIT_ZEROS || init.fan_in > 0,
              "parameter '%s': this init needs fan_in > 0", name);
    if (p->count == p->cap) {
        p->cap *= 2;
        td_var **vars = td_alloc(sizeof(td_var *) * (size_t)p->cap);
        td_init *inits = td_alloc(sizeof(td_init) * (size_t)p->cap);
        memcpy(vars, p->vars, sizeof(td_var *) * (size_t)p->count);
        memcpy(inits, p->inits, sizeof(td_init) * (size_t)p->count);
        td_free(p->vars);
        td_free(p->inits);
        p->vars = vars;
        p->inits = inits;
    }
    /* Storage is attached at finalize; until then data is NULL. */
    td_var *v = td_param_wrap(copy_name(name), td_tensor_wrap(s, NULL), td_tensor_wrap(s, NULL));
    p->vars[p->count] = v;
    p->inits[p->count] = init;
    p->count++;
    p->total += td_shape_size(s);
    return v;
}

static void init_one(td_real *x, int64_t n, td_init in, td_rng *r) {
    switch (in.kind) {
    case TD_INIT_ZEROS: break; /* the block is zeroed; draws nothing */
    case TD_INIT_PYTORCH: {
        td_real a = (td_real)(1.0 / sqrt((double)in.fan_in));
        td_rng_uniform(r, x, n, -a, a);
        break;
    }
    case TD_INIT_XAVIER: {
        td_real a = (td_real)sqrt(6.0 / (double)(in.fan_in + in.fan_out));
        td_rng_uniform(r, x, n, -a, a);
        break;
    }
    case TD_INIT_KAIMING:
        td_rng_normal(r, x, n, 0, (td_real)sqrt(2.0 / (double)in.fan_in));
        break;
    }
}

void td_params_finalize(td_params *p, td_rng *r) {
    TD_ASSERT(!p->finalized, "td_params_finalize called twice");
    /* At least one element so an empty set still has valid blocks. */
    size_t bytes = sizeof(td_real) * (size_t)(p->total > 0 ? p->total : 1);
    p->values = td_alloc_zero(bytes);
    p->grads = td_alloc_zero(bytes);
    int64_t off = 0;
    for (int i = 0; i < p->count; i++) {
        td_var *v = p->vars[i];
        v->value.data = p->values + off;
        v->grad.data = p->grads + off;
        /* Registration order fixes the draws, so a seed gives the same model. */
        init_one(v->value.data, v->value.size, p->inits[i], r);
        off += v->value.size;
    }
    p->finalized = 1;
}

void td_params_zero_grad(td_params *p) {
    TD_ASSERT(p->finalized, "td_params_zero_grad before td_params_finalize");
    td_k_zero(p->grads, p->total); /* parallel, each thread its own part (kernels.h) */
}

td_var *td_params_get(const td_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->vars[i]->name, name) == 0) return p->vars[i];
    return NULL;
}

/* One sequential pass in double: a fixed order, so the norm (and the clipped
 * grads) do not depend on the thread count. It is one read of the grads per
 * step, small next to the matrix multiplies. */
double td_params_grad_norm(const td_params *p) {
    TD_ASSERT(p->finalized, "td_params_grad_norm before td_params_finalize");
    double s = 0;
    for (int64_t i = 0; i < p->total; i++) s += (double)p->grads[i] * p->grads[i];
    return sqrt(s);
}

double td_params_clip_grad_norm(td_params *p, double max_norm) {
    double norm = td_params_grad_norm(p);
    /* PyTorch's clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied
     * only when below 1. A non-finite norm leaves the grads alone: the caller
     * sees it in the return value (and td_params_all_finite). */
    if (isfinite(norm) && norm > max_norm) {
        td_real coef = (td_real)(max_norm / (norm + 1e-6));
        for (int64_t i = 0; i < p->total; i++) p->grads[i] *= coef;
    }
    return norm;
}

int td_params_all_finite(const td_params *p) {
    TD_ASSERT(p->finalized, "td_params_all_finite before td_params_finalize");
    int ok = 1;
    for (int64_t i = 0; i < p->total; i++) ok &= isfinite(p->values[i]) && isfinite(p->grads[i]);
    return ok;
}

/* ---- save / load ----------------------------------------------------------- */

static void entry_name(char *buf, size_t len, const char *prefix, const char *name) {
    int n = snprintf(buf, len, "%s%s", prefix ? prefix : "", name);
    TD_ASSERT(n >= 0 && (size_t)n < len, "archive entry name '%s%s' is too long", prefix, name);
}

void td_params_save(const td_params *p, td_archive *a, const char *prefix) {
    TD_ASSERT(p->finalized, "td_params_save before td_params_finalize");
    char key[256];
    for (int i = 0; i < p->count; i++) {
        entry_name(key, sizeof key, prefix, p->vars[i]->name);
        td_archive_put_tensor(a, key, &p->vars[i]->value);
    }
}

int td_params_load(td_params *p, const td_archive *a, const char *prefix) {
    TD_ASSERT(p->finalized, "td_params_load before td_params_finalize");
    const char *pre = prefix ? prefix : "";
    size_t plen = strlen(pre);
    char key[256], s1[64], s2[64];
    /* Check everything before copying anything, so a refused file leaves the
     * model as it was. */
    for (int i = 0; i < p->count; i++) {
        const td_var *v = p->vars[i];
        td_shape s;
        entry_name(key, sizeof key, pre, v->name);
        if (td_archive_tensor_shape(a, key, &s) != 0) {
            td_set_error("parameter '%s' (shape %s) is missing from the file: it was saved by a "
                         "different model or configuration; build the model from the file's "
                         "config, or start without it",
                         v->name, td_shape_str(v->value.shape, s1, sizeof s1));
            return -1;
        }
        if (!td_shape_equal(s, v->value.shape)) {
            td_set_error("parameter '%s' has shape %s in the file but %s in the model: the model "
                         "config differs from the one the file was saved with; use the same "
                         "sizes (hidden, latent, input) as when it was saved",
                         v->name, td_shape_str(s, s1, sizeof s1),
                         td_shape_str(v->value.shape, s2, sizeof s2));
            return -1;
        }
    }
    /* An entry under the prefix that the model lacks means a different model. */
    if (plen > 0) {
        for (int i = 0; i < td_archive_count(a); i++) {
            const char *n = td_archive_name(a, i);
            if (strncmp(n, pre, plen) == 0 && !td_params_get(p, n + plen)) {
                td_set_error("the file has parameter '%s' that this model does not have: it was "
                             "saved by a different model or configuration; build the model from "
                             "the file's config",
                             n + plen);
                return -1;
            }
        }
    }
    for (int i = 0; i < p->count; i++) {
        entry_name(key, sizeof key, pre, p->vars[i]->name);
        if (td_archive_get_tensor(a, key, &p->vars[i]->value) != 0) return -1;
    }
    return 0;
}
