/* log_softmax and cross_entropy: forward (the public function), backward
 * and gradcheck example side by side; their rows are in op_rows.h. */
#include <math.h>

#include "../tensor/kernels.h"
#include "op_rows.h"
#include "softmax.h"

/* ===== log_softmax ========================================================= */

td_var *td_log_softmax(td_tape *t, td_var *x, int axis) {
    const int op = TD_OP_LOG_SOFTMAX;
    if (axis < 0 || axis >= x->value.shape.ndim) td_op_shape_fail(op, x, NULL, "axis out of range");
    td_var *out = td_tape_new_var(t, x->value.shape, td_ops[op].name, x, NULL, NULL);
    td_shape rs = x->value.shape;
    rs.d[axis] = 1;
    td_tensor lse = td_tensor_arena(td_tape_arena(t), rs);
    td_k_logsumexp_axis(&lse, &x->value, axis);
    td_k_binary(TD_BIN_SUB, &out->value, &x->value, &lse);
    td_node *n = td_tape_record(t, op, out, 1, x, NULL, NULL);
    if (n) n->iparam[0] = axis;
    return out;
}
/* dx += dy - softmax(x) * sum(dy along the axis), softmax(x) = exp(y) */
void td_op_log_softmax_backward(td_tape *t, td_node *n) {
    const td_tensor *y = &n->out->value, *dy = &n->out->grad;
    td_shape rs = y->shape;
    rs.d[n->iparam[0]] = 1;
    td_tensor s = td_tensor_arena(td_tape_arena(t), rs);
    td_tensor p = td_tensor_arena(td_tape_arena(t), y->shape);
    td_k_sum_axis(&s, dy, (int)n->iparam[0]);
    td_k_unary(TD_UN_EXP, &p, y);
    td_k_binary(TD_BIN_MUL, &p, &p, &s);
    td_k_axpy(&n->in[0]->grad, 1, dy);
    td_k_axpy(&n->in[0]->grad, -1, &p);
}
td_var *td_op_log_softmax_example(td_tape *t, td_gc *g, int v) {
    if (v >= 3) return NULL;
    td_shape s = v == 2 ? TD_SHAPE(2, 3, 4) : TD_SHAPE(3, 5);
    return td_log_softmax(t, td_gc_input(g, t, s, TD_GC_ANY, 1), v);
}

/* ===== cross_entropy ======================================================= */

static int64_t label_at(const td_var *logits, const td_var *labels, int64_t r) {
    const td_real v = labels->value.data[r];
    const int64_t k = (int64_t)v, classes = logits->value.shape.d[1];
    if ((td_real)k != v || k < 0 || k >= classes)
        td_fatal_at(__FILE__, __LINE__, "op 'cross_entropy': label %lld is %g, not a class index "
                    "in [0, %lld)", (long long)r, (double)v, (long long)classes);
    return k;
}

td_var *td_cross_entropy(td_tape *t, td_var *logits, td_var *labels) {
    const int op = TD_OP_CROSS_ENTROPY;
    if (logits->value.shape.ndim != 2) td_op_shape_fail(op, logits, labels, "logits must be [N, K]");
    const int64_t rows = logits->value.shape.d[0], k = logits->value.shape.d[1];
    if (labels->value.size != rows) td_op_shape_fail(op, logits, labels, "one label per row of logits");
    td_var *out = td_tape_new_var(t, TD_SHAPE(1), td_ops[op].name, logits, NULL, NULL);
    td_tensor lse = td_tensor_arena(td_tape_arena(t), TD_SHAPE(rows, 1));
    td_k_logsumexp_axis(&lse, &logits->value, 1);
    double sum = 0;
    for (int64_t r = 0; r < rows; r++)
        sum += (double)lse.data[r] - logits->value.data[r * k + label_at(logits, labels, r)];
    out->value.data[0] = (td_real)(sum / (double)rows);
    td_node *n = td_tape_record(t, op, out, 1, logits, NULL, NULL);
    if (n) { /* the gradient (softmax - one_hot) / rows, from the same lse */
        n->saved = td_tensor_arena(td_tape_arena(t), logits->value.shape);
        td_k_binary(TD_BIN_SUB, &n->saved, &logits->value, &lse);
        td_k_unary(TD_UN_EXP, &n->saved, &n->saved);
        for (int64_t r = 0; r < rows; r++) n->saved.data[r * k + label_at(logits, labels, r)] -= 1;
        td_k_affine(&n->saved, &n->saved, (td_real)(1.0 / (double)rows), 0);
    }
    return out;
}
/* dlogits += dloss * (softmax - one_hot) / rows, saved by the forward */
void td_op_cross_entropy_backward(td_tape *t, td_node *n) {
    (void)t;
    td_k_axpy(&n->in[0]->grad, n->out->grad.data[0], &n->saved);
}
/* Labels are a constant made here (not a leaf: they are not perturbed). */
td_var *td_op_cross_entropy_example(td_tape *t, td_gc *g, int v) {
    if (v >= 3) return NULL;
    static const int64_t rows[] = {4, 1, 6}, classes[] = {5, 3, 10};
    td_var *x = td_gc_input(g, t, TD_SHAPE(rows[v], classes[v]), TD_GC_ANY, 1);
    td_var *y = td_const_new(t, v == 2 ? TD_SHAPE(rows[v], 1) : TD_SHAPE(rows[v]));
    for (int64_t r = 0; r < rows[v]; r++) y->value.data[r] = (td_real)((r * 7 + v) % classes[v]);
    return td_cross_entropy(t, x, y);
}
