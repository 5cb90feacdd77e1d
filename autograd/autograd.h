/* tinyad autograd: a tape of ops, run backwards.
 *
 * Ops execute eagerly. Each differentiable op appends one node to the tape
 * (op, inputs, output, scalar parameters, a tensor it saved for backward).
 * td_backward(tape, loss) seeds dloss = 1 and walks the nodes in reverse,
 * accumulating (+=) into the grads of the inputs.
 *
 * Memory: parameters (td_param_create) live on the heap and persist, with a
 * grad that only td_var_zero_grad clears. Everything an op makes (output
 * vars, their values and grads, saved tensors) lives in the tape's arena,
 * which td_tape_reset rewinds in O(1). So a training step is:
 *
 *     td_tape_reset(t);  loss = model(t, batch);  zero grads;
 *     td_backward(t, loss);  optimizer step;
 *
 * and after the first step it allocates nothing.
 *
 * Shapes are checked when an op is recorded; a mismatch is a programmer
 * error and stops the program with the op's name and both shapes. */
#ifndef TD_AUTOGRAD_H
#define TD_AUTOGRAD_H

#include "../tensor/random.h"
#include "../tensor/tensor.h"

typedef struct td_var {
    td_tensor value;
    td_tensor grad;      /* .data is NULL until the var needs a gradient */
    int requires_grad;
    /* Inside td_backward only: grad.data is allocated but not yet written
     * and stands for zeros; the first op to write it assigns rather than
     * adds (no zero-fill, no read of the zeros). 0 whenever td_backward is
     * not running. */
    int grad_fresh;
    const char *name;    /* parameters: their name; ops: the op's name */
} td_var;

typedef struct td_tape td_tape;

td_tape *td_tape_create(void);
void td_tape_destroy(td_tape *t);
/* Forget every node and rewind the arena (O(1)). Vars made by ops before the
 * reset must not be used after it. */
void td_tape_reset(td_tape *t);
/* No-grad mode: ops compute their values but record nothing. Returns the
 * previous setting, so callers can restore it. */
int td_tape_set_grad(td_tape *t, int enabled);
int td_tape_grad_enabled(const td_tape *t);

/* A no-grad scope: values only, nothing recorded, then the previous mode
 * back (so scopes nest). Every path out of the scope, early returns
 * included, must call td_no_grad_end:
 *
 *     td_no_grad ng = td_no_grad_begin(t);
 *     ... ops ...
 *     td_no_grad_end(ng); */
typedef struct td_no_grad {
    td_tape *tape;
    int was; /* the mode before td_no_grad_begin */
} td_no_grad;
static inline td_no_grad td_no_grad_begin(td_tape *t) {
    td_no_grad ng = {t, td_tape_set_grad(t, 0)};
    return ng;
}
static inline void td_no_grad_end(td_no_grad ng) { td_tape_set_grad(ng.tape, ng.was); }
td_arena *td_tape_arena(td_tape *t);
int64_t td_tape_node_count(const td_tape *t);

/* Debug switch: check every op's output (forward) and every gradient it
 * produces (backward) for NaN/Inf. The first one found is remembered with the
 * op's name and node index; td_tape_finite_error() returns that message, or
 * NULL while everything is finite. Costs one pass over each tensor. */
void td_tape_set_check_finite(td_tape *t, int enabled);
const char *td_tape_finite_error(const td_tape *t);

/* Data parallelism (nn/dist.h): the tape computes rows [first, first + rows)
 * of a batch of `total` rows. The sampling nodes below then draw the noise of
 * the whole batch from their generator and keep this slice, so every rank
 * draws the same numbers for a row as one process running the whole batch,
 * and every rank's generator advances alike. A draw's batch axis is axis 0,
 * or axis 1 of a 3-d draw [samples, batch, dim] (the layout td_reparam
 * broadcasts); the other axes are the slice's own. total 0 (the default, kept
 * across td_tape_reset) or rows == total: plain draws. */
void td_tape_set_batch_slice(td_tape *t, int64_t first, int64_t rows, int64_t total);
/* The slice as set; all 0 when none. */
void td_tape_batch_slice(const td_tape *t, int64_t *first, int64_t *rows, int64_t *total);

/* Backward from a scalar (size-1) loss. Grads of intermediates are zeroed
 * first, so calling it twice after zeroing the parameter grads gives the same
 * gradients. Returns 0, or -1 if the finite check is on and found NaN/Inf
 * (td_error() then names the op). */
int td_backward(td_tape *t, td_var *loss);

/* The value of a one-element var (a loss, a sum, a mean), as stored. */
static inline td_real td_item(const td_var *v) {
    TD_ASSERT(v->value.size == 1, "td_item: the var has %lld elements, not 1",
              (long long)v->value.size);
    return v->value.data[0];
}
/* Size of dimension i of v's value (i < ndim). */
static inline int64_t td_dim(const td_var *v, int i) { return v->value.shape.d[i]; }

/* ---- leaves ------------------------------------------------------------------ */
/* A persistent parameter: heap value (zeros) and heap grad (zeros). */
td_var *td_param_create(const char *name, td_shape s);
/* A parameter over storage somebody else owns (a parameter set's block). */
td_var *td_param_wrap(const char *name, td_tensor value, td_tensor grad);
void td_param_destroy(td_var *v);
void td_var_zero_grad(td_var *v);
/* A constant for this step (an input batch, a target): wraps value without
 * copying; lives until td_tape_reset. */
td_var *td_const(td_tape *t, td_tensor value);
/* A fresh arena tensor as a constant var (filled by the caller). */
td_var *td_const_new(td_tape *t, td_shape s);
/* A scalar constant. */
td_var *td_scalar(td_tape *t, td_real v);

/* ---- ops (forward; backward is registered in the op table) ------------------
 * Elementwise binary ops broadcast with NumPy rules. */
td_var *td_add(td_tape *t, td_var *a, td_var *b);
td_var *td_sub(td_tape *t, td_var *a, td_var *b);
td_var *td_mul(td_tape *t, td_var *a, td_var *b);
td_var *td_div(td_tape *t, td_var *a, td_var *b);
td_var *td_neg(td_tape *t, td_var *a);
td_var *td_add_scalar(td_tape *t, td_var *a, td_real s);
td_var *td_mul_scalar(td_tape *t, td_var *a, td_real s);

/* op(a) @ op(b) for 2-D a, b; trans_a / trans_b use the transpose without
 * materializing it. */
td_var *td_matmul(td_tape *t, td_var *a, td_var *b, int trans_a, int trans_b);
/* x[rows, n] + b[n] (b broadcast over rows). */
td_var *td_bias_add(td_tape *t, td_var *x, td_var *b);
/* x @ w^T + b: a Linear layer in one op (w is [out, in], b is [out] or NULL). */
td_var *td_linear(td_tape *t, td_var *x, td_var *w, td_var *b);

td_var *td_exp(td_tape *t, td_var *a);
td_var *td_log(td_tape *t, td_var *a);
td_var *td_softplus(td_tape *t, td_var *a);
td_var *td_sigmoid(td_tape *t, td_var *a);
td_var *td_log_sigmoid(td_tape *t, td_var *a);
td_var *td_tanh(td_tape *t, td_var *a);
td_var *td_relu(td_tape *t, td_var *a);
td_var *td_square(td_tape *t, td_var *a);
td_var *td_sqrt(td_tape *t, td_var *a);
td_var *td_abs(td_tape *t, td_var *a);
/* min(max(a, lo), hi) elementwise (lo <= hi); the gradient passes where
 * lo < a < hi and is 0 elsewhere. Keeps a value off the poles of log, div, ...
 * A NaN stays NaN. */
td_var *td_clamp(td_tape *t, td_var *a, td_real lo, td_real hi);

/* Reductions. sum/mean give a [1] var; sum_axis and logsumexp_axis keep the
 * reduced dim with size 1 (so the result broadcasts against the input). */
td_var *td_sum(td_tape *t, td_var *a);
td_var *td_mean(td_tape *t, td_var *a);
td_var *td_sum_axis(td_tape *t, td_var *a, int axis);
td_var *td_logsumexp_axis(td_tape *t, td_var *a, int axis);

/* Shape ops. reshape is a view of the value (no copy). slice_cols copies
 * columns [start, start+count) of a 2-D var; concat_cols joins two 2-D vars
 * with the same number of rows; transpose turns a 2-D [r, c] into [c, r]
 * (a copy: with reshape, it moves a batch of images between [N, C*H*W]
 * and the convolutions' CHWN layout, [C*H*W, N]). */
td_var *td_reshape(td_tape *t, td_var *a, td_shape s);
td_var *td_slice_cols(td_tape *t, td_var *a, int64_t start, int64_t count);
td_var *td_concat_cols(td_tape *t, td_var *a, td_var *b);
td_var *td_transpose(td_tape *t, td_var *a);

/* Binary cross-entropy with logits, elementwise:
 * softplus(x) - target * x = -[t log sigmoid(x) + (1-t) log(1-sigmoid(x))],
 * stable for any x. Differentiable in the logits (target is a constant). */
td_var *td_bce_logits(td_tape *t, td_var *logits, td_var *target);
/* The same, summed over each row: [rows, n] -> [rows, 1]; fused (one pass,
 * nothing elementwise kept). */
td_var *td_bce_logits_rows(td_tape *t, td_var *logits, td_var *target);

/* ---- sampling nodes -------------------------------------------------------------
 * Noise is a constant for the tape: no gradient flows into it. */
td_var *td_randn(td_tape *t, td_rng *r, td_shape s);
/* Each element 1 with probability p (a var, e.g. pixel intensities for
 * dynamic binarization), else 0. */
td_var *td_bernoulli(td_tape *t, td_rng *r, td_var *p);
/* Each element 1 with probability keep, else 0 (masking noise). */
td_var *td_bernoulli_mask(td_tape *t, td_rng *r, td_shape s, td_real keep);
/* z = mu + exp(logvar / 2) * eps, differentiable in mu and logvar. */
td_var *td_reparam(td_tape *t, td_var *mu, td_var *logvar, td_var *eps);

/* ---- evaluation in batches ------------------------------------------------------
 * The loop every "figures over a whole set" function shares: rows [0, n) in
 * chunks of at most `batch`, each chunk on a freshly reset tape in no-grad
 * mode; fn(t, first, rows, ctx) builds what it needs for rows first ..
 * first + rows - 1 and adds its figures into ctx. The tape is reset after
 * the last chunk and the previous grad mode restored. n may be 0. */
typedef void (*td_batch_fn)(td_tape *t, int64_t first, int64_t rows, void *ctx);
void td_no_grad_batches(td_tape *t, int64_t n, int64_t batch, td_batch_fn fn, void *ctx);

#endif
