/* The op table: one row per op (name, arity, backward, gradcheck example).
 *
 * To add an op: add its TD_OP_ id here, write its forward (the public
 * function), backward and example next to each other in autograd/ops.c (or
 * in a file of its own, e.g. ops_conv.c, whose rows op_rows.h lists), and
 * add its row to td_ops[]. A static assertion beside td_ops[] counts the
 * ids, so a new id fails the build until its row is written (and the count
 * raised); test_op_table checks that every id has a filled-in, uniquely
 * named row and gradchecks every differentiable op; an op without a
 * backward must say so (differentiable 0). Messages and output vars take
 * an op's name from its row (td_ops[op].name), never from a second copy.
 * A backward simply adds into its inputs' grads; one that is hot may set
 * fresh_grads and assign where grad_take_fresh says so (see below).
 * gradcheck hands every example computed inputs too (td_gc_inputs), so a
 * backward that mishandles a fresh or an already written grad fails. */
#ifndef TD_OP_TABLE_H
#define TD_OP_TABLE_H

#include "../tensor/kernels.h" /* td_k_zero */
#include "autograd.h"

typedef enum td_op_id {
    TD_OP_ADD, TD_OP_SUB, TD_OP_MUL, TD_OP_DIV, TD_OP_NEG,
    TD_OP_ADD_SCALAR, TD_OP_MUL_SCALAR,
    TD_OP_MATMUL, TD_OP_BIAS_ADD, TD_OP_LINEAR,
    TD_OP_EXP, TD_OP_LOG, TD_OP_SOFTPLUS, TD_OP_SIGMOID, TD_OP_LOG_SIGMOID,
    TD_OP_TANH, TD_OP_RELU, TD_OP_SQUARE, TD_OP_SQRT, TD_OP_ABS, TD_OP_CLAMP,
    TD_OP_SUM, TD_OP_MEAN, TD_OP_SUM_AXIS, TD_OP_LOGSUMEXP_AXIS,
    TD_OP_RESHAPE, TD_OP_SLICE_COLS, TD_OP_CONCAT_COLS, TD_OP_TRANSPOSE,
    TD_OP_BCE_LOGITS, TD_OP_BCE_LOGITS_ROWS,
    TD_OP_RANDN, TD_OP_BERNOULLI, TD_OP_BERNOULLI_MASK, TD_OP_REPARAM,
    /* rows in autograd/op_rows.h (ops outside ops.c) */
    TD_OP_CONV2D, TD_OP_CONV_TRANSPOSE2D, TD_OP_MAX_POOL2D, TD_OP_UPSAMPLE2D,
    TD_OP_LOG_SOFTMAX, TD_OP_CROSS_ENTROPY,
    TD_OP_COUNT
} td_op_id;

#define TD_MAX_INPUTS 3

/* One recorded op. */
typedef struct td_node {
    int op;                          /* td_op_id */
    int n_in;
    td_var *in[TD_MAX_INPUTS];
    td_var *out;
    double scalar, scalar2;          /* op parameters: the s of add_scalar etc.; clamp's lo, hi */
    int64_t iparam[3];               /* op parameters: axis, transposes, slice start */
    td_tensor saved;                 /* what backward needs beyond in/out values */
} td_node;

typedef struct td_gc td_gc; /* gradcheck context, see gradcheck.h */

typedef struct td_op_info {
    const char *name;
    int differentiable;              /* 0: explicitly no backward (noise ops) */
    /* Accumulate into the grads of the inputs that require grad, from
     * node->out->grad. Temporaries come from the tape's arena. */
    void (*backward)(td_tape *t, td_node *node);
    /* Build gradcheck case number `variant` with leaves from td_gc_input and
     * return the op's output; NULL when there are no more variants. */
    td_var *(*example)(td_tape *t, td_gc *g, int variant);
    /* 1: backward may be handed input grads that are fresh (td_var's
     * grad_fresh) and writes each with grad_take_fresh below; 0: td_backward
     * zero-fills them first, and backward simply adds. */
    int fresh_grads;
} td_op_info;

/* For a backward whose row has fresh_grads: 1 if v's grad holds nothing yet
 * (assign to it), 0 if it holds a sum to add to. Call it once per input,
 * just before writing that input's grad. */
static inline int grad_take_fresh(td_var *v) {
    const int fresh = v->grad_fresh;
    v->grad_fresh = 0;
    return fresh;
}
/* For an input such a backward only adds into (a weight, a bias): its grad,
 * zeroed first if fresh. A parameter's never is, but a computed weight's
 * (w = f(p), an op's output) is, and adding into it without taking it
 * would leave it marked fresh: its garbage kept, and nothing passed on to
 * p. */
static inline td_real *grad_to_add(td_var *v) {
    if (grad_take_fresh(v)) td_k_zero(v->grad.data, v->grad.size);
    return v->grad.data;
}

/* Mutable so a test can swap in a deliberately wrong backward and prove
 * that gradcheck catches it. */
extern td_op_info td_ops[TD_OP_COUNT];

/* Used by ops.c: record a node (when grad is on and an input requires grad)
 * and return it, or NULL when nothing is recorded. */
td_node *td_tape_record(td_tape *t, int op, td_var *out, int n_in, td_var *a, td_var *b,
                        td_var *c);
/* An output var with an arena value of shape s; requires_grad is set when
 * grad mode is on and any of the inputs requires grad. */
td_var *td_tape_new_var(td_tape *t, td_shape s, const char *name, td_var *a, td_var *b,
                        td_var *c);
/* Make sure v->grad exists (arena, zeroed) and return it. */
td_tensor *td_var_grad(td_tape *t, td_var *v);
/* Hook for the finite check after a forward op. */
void td_tape_check_forward(td_tape *t, td_var *out, int op);

#endif
