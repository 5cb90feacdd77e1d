/* Parameter sets: named parameters whose values live in one contiguous block
 * and whose grads live in another, so an optimizer updates all of them in
 * one pass and a checkpoint saves them by name.
 *
 * Two phases: a model registers its parameters (td_params_add, with the
 * initialization each wants), then td_params_finalize allocates the blocks
 * and initializes every parameter from a generator. */
#ifndef TD_PARAMS_H
#define TD_PARAMS_H

#include "../autograd/autograd.h"
#include "../tensor/io.h"

typedef enum td_init_kind {
    TD_INIT_ZEROS,
    TD_INIT_PYTORCH,  /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's Linear default, weights and biases */
    TD_INIT_XAVIER,   /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
    TD_INIT_KAIMING,  /* N(0, 2 / fan_in) */
} td_init_kind;

typedef struct td_init {
    td_init_kind kind;
    int64_t fan_in, fan_out;
} td_init;

typedef struct td_params {
    int count, cap;
    td_var **vars;     /* vars[i]->name is the parameter's name (owned copy) */
    td_init *inits;
    int64_t total;     /* elements in all parameters */
    td_real *values;   /* [total], after finalize */
    td_real *grads;    /* [total], after finalize */
    int finalized;
} td_params;

td_params *td_params_create(void);
/* Frees the blocks, the vars and their names. The vars wrap views of the
 * blocks: never td_param_destroy one of them. */
void td_params_destroy(td_params *p);
/* Register a parameter; its storage appears at finalize (value.data is NULL
 * until then). Names are unique. */
td_var *td_params_add(td_params *p, const char *name, td_shape s, td_init init);
void td_params_finalize(td_params *p, td_rng *r);
void td_params_zero_grad(td_params *p);
td_var *td_params_get(const td_params *p, const char *name); /* NULL if absent */

/* Global L2 norm of all grads (double accumulation, fixed order). */
double td_params_grad_norm(const td_params *p);
/* Scale grads so their global norm is at most max_norm; returns the norm
 * before clipping. */
double td_params_clip_grad_norm(td_params *p, double max_norm);
/* 1 if every value and grad is finite. */
int td_params_all_finite(const td_params *p);

/* Save as tensor entries "<prefix><name>"; load checks every name and shape
 * and says which one is missing or wrong (and, with a non-empty prefix, an
 * entry under the prefix that the model lacks) before copying anything, so
 * a refused load leaves the values as they were. */
void td_params_save(const td_params *p, td_archive *a, const char *prefix);
int td_params_load(td_params *p, const td_archive *a, const char *prefix);

#endif
