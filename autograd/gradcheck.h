/* Gradient checking against central finite differences.
 *
 * Meant to be built in double precision (the tinyad_f64 library), where
 * analytic and numeric derivatives agree to ~1e-7 and a wrong backward
 * shows up as an error of order one.
 *
 * A check builds a function f(leaves) -> output, draws fixed random weights
 * w of the output's shape, and compares d(sum(w * out))/d(leaf) from
 * td_backward with (L(x+h) - L(x-h)) / 2h for every element of every leaf.
 * Noise drawn inside the function comes from td_gc_rng, which is rewound
 * before every evaluation, so noise is the same constant each time.
 *
 * A model (its own or one of models/) is checked through its parameter
 * set with td_gradcheck_params: every element of every parameter. */
#ifndef TD_GRADCHECK_H
#define TD_GRADCHECK_H

#include "op_table.h"

/* Where random leaf values are drawn from (kept away from kinks and poles). */
typedef enum td_gc_domain {
    TD_GC_ANY,      /* uniform in [-2, 2] */
    TD_GC_POSITIVE, /* uniform in [0.5, 2] (log, sqrt, div denominators) */
    TD_GC_AWAY,     /* |x| in [0.2, 2], either sign (relu, abs kinks) */
    TD_GC_UNIT,     /* uniform in [0.05, 0.95] (probabilities, targets) */
} td_gc_domain;

/* A leaf for the function under check. The first evaluation creates it
 * (requires_grad as asked); later evaluations return the same leaf in the
 * same order. Constant leaves (requires_grad 0) are not perturbed. With
 * computed inputs (td_gc_inputs) a leaf that requires grad comes back as
 * a computed var holding the same values. */
td_var *td_gc_input(td_gc *g, td_tape *t, td_shape s, td_gc_domain dom, int requires_grad);
/* The generator for noise inside the function (rewound before each pass). */
td_rng *td_gc_rng(td_gc *g);

/* What td_gc_input hands the function under check. td_gradcheck_op runs
 * every example all three ways, because a backward meets its inputs' grads
 * in three states: a leaf's (a parameter: always added to); a computed
 * input's used by this op alone (fresh: it must be written, and taken,
 * or td_backward never passes it on); and a computed input's that another
 * op has written already (it must be added to). A computed input is the
 * leaf times 1, recorded on the tape; for the shared case the checked
 * loss gains sum(w_k * x_k) over those inputs, recorded after the op. */
typedef enum td_gc_inputs {
    TD_GC_LEAF_INPUTS,
    TD_GC_COMPUTED_FRESH,
    TD_GC_COMPUTED_SHARED,
} td_gc_inputs;

typedef struct td_gc_result {
    double max_abs;     /* max |analytic - numeric| */
    double max_rel;     /* max |analytic - numeric| / max(|numeric|, 1) */
    int64_t n_checked;  /* derivatives compared */
    int worst_leaf;     /* where max_rel was found */
    int64_t worst_index;
    int pass;
    td_gc_inputs failed_inputs; /* td_gradcheck_op: the first way of handing inputs that failed */
} td_gc_result;

/* The function under check: returns the output (any shape) built from
 * td_gc_input leaves. */
typedef td_var *(*td_gc_fn)(td_tape *t, td_gc *g, void *ctx);

/* Check fn. tol: a derivative passes when |a - n| <= tol * max(|n|, 1). */
td_gc_result td_gradcheck_fn(td_gc_fn fn, void *ctx, double tol, uint64_t seed);

/* A scalar loss of the parameters under check, recorded on t; noise from
 * rng, which is rewound before every evaluation (the same draws each time). */
typedef td_var *(*td_gc_loss_fn)(td_tape *t, td_rng *rng, void *ctx);

/* Checks the gradient of loss with respect to every element of
 * params[0 .. count) (e.g. a td_params' vars and count) at their current
 * values: td_backward against central differences, each element moved in
 * place and put back. The parameters' grads are overwritten; worst_leaf is
 * the index of the parameter with the largest error. tol as for
 * td_gradcheck_fn. */
td_gc_result td_gradcheck_params(td_var *const *params, int count, td_gc_loss_fn loss, void *ctx,
                                 double tol, uint64_t seed);

/* Check one row of the op table over all its example variants, each with
 * leaf, computed and shared computed inputs (td_gc_inputs). shapes_out
 * (may be NULL) receives a short text of the shapes tried. */
td_gc_result td_gradcheck_op(int op, double tol, uint64_t seed, char *shapes_out,
                             size_t shapes_len);

/* The tolerance used for an op: in double 1e-7, or 1e-6 for the ops that
 * chain several exps through a reduction (logsumexp_axis, reparam); 5e-2
 * in float, where the check is coarse. */
double td_gradcheck_tolerance(int op);

#endif
