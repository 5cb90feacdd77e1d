/* max_pool2d and upsample2d: forward (the public function), backward and
 * gradcheck example side by side; their rows are in op_rows.h. The loops
 * are in tensor/conv.c. */
#include "../tensor/conv.h"
#include "conv.h"
#include "op_rows.h"

static void require_4d(int op, const td_var *x) {
    if (x->value.shape.ndim != 4) td_op_shape_fail(op, x, NULL, "x must be [N, C, H, W]");
}

/* ===== max_pool2d ========================================================== */

td_var *td_max_pool2d(td_tape *t, td_var *x, int64_t kernel, int64_t stride) {
    const int op = TD_OP_MAX_POOL2D;
    require_4d(op, x);
    const td_shape s = x->value.shape;
    if (kernel < 1 || stride < 1) td_op_shape_fail(op, x, NULL, "kernel and stride must be at least 1");
    if (kernel > s.d[2] || kernel > s.d[3]) td_op_shape_fail(op, x, NULL, "the window is larger than the image");
    /* indices within a plane are kept as td_real: exact below 2^24 */
    if (s.d[2] * s.d[3] > ((int64_t)1 << 24)) td_op_shape_fail(op, x, NULL, "planes over 2^24 pixels");
    const int64_t oh = (s.d[2] - kernel) / stride + 1, ow = (s.d[3] - kernel) / stride + 1;
    td_var *out = td_tape_new_var(t, TD_SHAPE(s.d[0], s.d[1], oh, ow), td_ops[op].name, x, NULL, NULL);
    /* where each maximum came from, kept for the backward */
    td_tensor arg = td_tensor_arena(td_tape_arena(t), out->value.shape);
    td_max_pool2d_forward(s.d[0] * s.d[1], s.d[2], s.d[3], kernel, stride, x->value.data,
                          out->value.data, arg.data);
    td_node *n = td_tape_record(t, op, out, 1, x, NULL, NULL);
    if (n) n->saved = arg;
    return out;
}
/* dx[argmax] += dy, window by window */
void td_op_max_pool2d_backward(td_tape *t, td_node *n) {
    (void)t;
    const td_shape s = n->in[0]->value.shape, o = n->out->value.shape;
    td_max_pool2d_backward(s.d[0] * s.d[1], s.d[2], s.d[3], o.d[2], o.d[3], n->out->grad.data,
                           n->saved.data, n->in[0]->grad.data);
}
/* Random values: ties (where the gradient is not defined) have probability
 * zero, and no two values in a window come within the finite-difference
 * step of each other in practice. Variant 1 overlaps windows (3, stride 2)
 * and leaves a border unused; variant 2 is a single window. */
td_var *td_op_max_pool2d_example(td_tape *t, td_gc *g, int v) {
    static const int64_t cases[][6] = {{2, 3, 6, 4, 2, 2}, {1, 2, 7, 8, 3, 2}, {3, 1, 3, 3, 3, 1}};
    if (v >= 3) return NULL;
    const int64_t *c = cases[v];
    td_var *x = td_gc_input(g, t, TD_SHAPE(c[0], c[1], c[2], c[3]), TD_GC_ANY, 1);
    return td_max_pool2d(t, x, c[4], c[5]);
}

/* ===== upsample2d ========================================================== */

td_var *td_upsample2d(td_tape *t, td_var *x, int64_t factor) {
    const int op = TD_OP_UPSAMPLE2D;
    require_4d(op, x);
    if (factor < 1) td_op_shape_fail(op, x, NULL, "the factor must be at least 1");
    const td_shape s = x->value.shape;
    td_var *out = td_tape_new_var(t, TD_SHAPE(s.d[0], s.d[1], s.d[2] * factor, s.d[3] * factor),
                                  td_ops[op].name, x, NULL, NULL);
    td_upsample2d_forward(s.d[0] * s.d[1], s.d[2], s.d[3], factor, x->value.data, out->value.data);
    td_node *n = td_tape_record(t, op, out, 1, x, NULL, NULL);
    if (n) n->iparam[0] = factor;
    return out;
}
/* dx += dy summed over each factor x factor block */
void td_op_upsample2d_backward(td_tape *t, td_node *n) {
    (void)t;
    const td_shape s = n->in[0]->value.shape;
    td_upsample2d_backward(s.d[0] * s.d[1], s.d[2], s.d[3], n->iparam[0], n->out->grad.data,
                           n->in[0]->grad.data);
}
td_var *td_op_upsample2d_example(td_tape *t, td_gc *g, int v) {
    if (v >= 2) return NULL;
    td_var *x = td_gc_input(g, t, v ? TD_SHAPE(1, 1, 2, 3) : TD_SHAPE(2, 3, 3, 4), TD_GC_ANY, 1);
    return td_upsample2d(t, x, v ? 3 : 2);
}
