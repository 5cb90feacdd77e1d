/* conv2d and conv_transpose2d: forward (the public function), backward and
 * gradcheck example side by side; their rows are in op_rows.h.
 *
 * Both lower onto the kernels of tensor/conv.h, which see one geometry: an
 * image side and a column side (conv2d's input and output; the other way
 * round for the transpose). So conv_transpose2d's forward is conv2d's
 * input gradient, and its input gradient is conv2d's forward. The im2col
 * scratch is taken from the tape's arena and handed back after each call
 * (td_arena_rewind), so a step holds one call's scratch at a time. */
#include "../tensor/conv.h"
#include "conv.h"
#include "op_rows.h"

#define NEEDS(v) ((v) && (v)->requires_grad)
#define KEEP_MAX ((int64_t)1 << 23) /* elements of a conv2d's input kept in CHWN for its backward */

void td_op_shape_fail(int op, const td_var *a, const td_var *b, const char *why) {
    char sa[64], sb[64];
    td_fatal_at(__FILE__, __LINE__, "op '%s': %s (shapes %s and %s)", td_ops[op].name, why,
                td_shape_str(a->value.shape, sa, sizeof sa),
                b ? td_shape_str(b->value.shape, sb, sizeof sb) : "-");
}

/* Stride and padding ride in the node's first two integer parameters
 * (high and low 32 bits), the layout and the ReLU in the third's bits 0
 * and 1; the output padding follows from the shapes. */
static void spec_store(td_node *n, td_conv_spec s) {
    if (!n) return;
    n->iparam[0] = s.stride_h << 32 | s.stride_w;
    n->iparam[1] = s.pad_h << 32 | s.pad_w;
    n->iparam[2] = s.chwn | s.relu << 1;
}
static td_conv_spec spec_load(const td_node *n) {
    const int64_t lo = 0xffffffff;
    return (td_conv_spec){n->iparam[0] >> 32, n->iparam[0] & lo, n->iparam[1] >> 32,
                          n->iparam[1] & lo, 0, 0, (int)(n->iparam[2] & 1),
                          (int)(n->iparam[2] >> 1 & 1)};
}

/* A 4-D tensor's batch, channels, height and width in either layout, and
 * the shape of given ones. */
typedef struct dims4 {
    int64_t n, c, h, w;
} dims4;
static dims4 dims_of(td_shape s, int chwn) {
    return chwn ? (dims4){s.d[3], s.d[0], s.d[1], s.d[2]} : (dims4){s.d[0], s.d[1], s.d[2], s.d[3]};
}
static td_shape shape_of(dims4 d, int chwn) {
    return chwn ? TD_SHAPE(d.c, d.h, d.w, d.n) : TD_SHAPE(d.n, d.c, d.h, d.w);
}

/* image [N, C, H, W] and columns [N, O, OH, OW] (or both CHWN) with a
 * [O, C, KH, KW]-shaped weight (conv2d: x, y, w; the transpose: y, x, w
 * with O = C_in). */
static td_conv_geom geom(td_shape img, td_shape cols, td_shape w, td_conv_spec s) {
    const dims4 i = dims_of(img, s.chwn), c = dims_of(cols, s.chwn);
    return (td_conv_geom){.n = i.n, .c = i.c, .h = i.h, .w = i.w, .o = c.c, .oh = c.h, .ow = c.w,
                          .kh = w.d[2], .kw = w.d[3], .sh = s.stride_h, .sw = s.stride_w,
                          .ph = s.pad_h, .pw = s.pad_w, .chwn = s.chwn};
}

/* The output's side (image_side: conv_transpose2d's): with a fused ReLU
 * (y, the output, not NULL) its gradient dy masked where y > 0 into dm,
 * and db (NULL: no bias) += that summed over everything but the channels.
 * Returns the gradient the convolution itself gets: dm, or dy. */
static const td_real *relu_bias_grad(const td_conv_geom *g, int image_side, const td_real *y,
                                     const td_real *dy, td_real *dm, td_real *db) {
    const int64_t ch = image_side ? g->c : g->o, plane = image_side ? g->h * g->w : g->oh * g->ow;
    if (!y && !db) return dy;
    if (g->chwn)
        td_conv_relu_bias_grad(1, ch, plane * g->n, y, dy, dm, db);
    else
        td_conv_relu_bias_grad(g->n, ch, plane, y, dy, dm, db);
    return y ? dm : dy;
}

/* What both ops check: 4-D x and w, w's dimension in_dim matching x's
 * channels, b (if any) as long as w's dimension out_dim, strides and
 * paddings in range. */
static void check_common(int op, const td_var *x, const td_var *w, const td_var *b, int in_dim,
                         int out_dim, td_conv_spec s) {
    if (s.chwn != 0 && s.chwn != 1) td_op_shape_fail(op, x, w, "the layout flag chwn must be 0 or 1");
    if (s.relu != 0 && s.relu != 1) td_op_shape_fail(op, x, w, "the flag relu must be 0 or 1");
    if (x->value.shape.ndim != 4)
        td_op_shape_fail(op, x, w, s.chwn ? "x must be [C, H, W, N]" : "x must be [N, C, H, W]");
    if (w->value.shape.ndim != 4) td_op_shape_fail(op, x, w, "w must be 4-D");
    if (w->value.shape.d[in_dim] != dims_of(x->value.shape, s.chwn).c)
        td_op_shape_fail(op, x, w, in_dim ? "w must be [O, C, KH, KW] with x's C"
                                          : "w must be [C_in, C_out, KH, KW] with x's C_in");
    if (b && b->value.size != w->value.shape.d[out_dim])
        td_op_shape_fail(op, w, b, "b must have one entry per output channel");
    const int64_t big = (int64_t)1 << 31;
    if (s.stride_h < 1 || s.stride_w < 1 || s.stride_h >= big || s.stride_w >= big)
        td_op_shape_fail(op, x, w, "strides must be at least 1");
    if (s.pad_h < 0 || s.pad_w < 0 || s.pad_h >= big || s.pad_w >= big)
        td_op_shape_fail(op, x, w, "paddings must be at least 0");
}

static td_real *scratch(td_tape *t, const td_conv_geom *g, size_t *mark) {
    td_arena *a = td_tape_arena(t);
    *mark = td_arena_mark(a);
    return td_arena_alloc(a, sizeof(td_real) * (size_t)td_conv_scratch_size(g));
}

/* A backward's gradient before the fused ReLU, in the arena after its
 * scratch (handed back with it), or NULL without a ReLU. */
static td_real *masked(td_tape *t, const td_var *out, int relu) {
    return relu ? td_arena_alloc(td_tape_arena(t), sizeof(td_real) * (size_t)out->value.size)
                : NULL;
}

/* ===== conv2d ============================================================== */

td_var *td_conv2d_spec(td_tape *t, td_var *x, td_var *w, td_var *b, td_conv_spec s) {
    const int op = TD_OP_CONV2D;
    check_common(op, x, w, b, 1, 0, s);
    const td_shape xs = x->value.shape, ws = w->value.shape;
    const dims4 xd = dims_of(xs, s.chwn);
    if (s.out_pad_h || s.out_pad_w) td_op_shape_fail(op, x, w, "output padding is for conv_transpose2d");
    if (xd.h + 2 * s.pad_h < ws.d[2] || xd.w + 2 * s.pad_w < ws.d[3])
        td_op_shape_fail(op, x, w, "the kernel is larger than the padded image");
    const dims4 yd = {xd.n, ws.d[0], (xd.h + 2 * s.pad_h - ws.d[2]) / s.stride_h + 1,
                      (xd.w + 2 * s.pad_w - ws.d[3]) / s.stride_w + 1};
    const td_shape ys = shape_of(yd, s.chwn);
    td_var *out = td_tape_new_var(t, ys, td_ops[op].name, x, w, b);
    const td_conv_geom g = geom(xs, ys, ws, s);
    /* The weight gradient needs an NCHW x in the lowering's CHWN layout
     * again: kept from here (in the arena until the tape's reset) when it
     * is at most KEEP_MAX elements (3 MB for a 32 x 14 x 14 input at batch
     * 128), else transposed again. A CHWN x is read where it is. */
    td_tensor keep = {0};
    if (out->requires_grad && NEEDS(w) && td_conv_keep_size(&g) > 0 &&
        td_conv_keep_size(&g) <= KEEP_MAX)
        keep = td_tensor_arena(td_tape_arena(t), TD_SHAPE(td_conv_keep_size(&g)));
    size_t mark;
    td_real *sc = scratch(t, &g, &mark);
    td_conv_forward(&g, x->value.data, w->value.data, b ? b->value.data : NULL, s.relu,
                    out->value.data, sc, keep.data);
    td_arena_rewind(td_tape_arena(t), mark);
    td_node *n = td_tape_record(t, op, out, b ? 3 : 2, x, w, b);
    spec_store(n, s);
    if (n) n->saved = keep;
    return out;
}
td_var *td_conv2d(td_tape *t, td_var *x, td_var *w, td_var *b, int64_t stride, int64_t pad) {
    return td_conv2d_spec(t, x, w, b, td_conv_square(stride, pad, 0));
}
/* With the ReLU, dy = dy where y > 0, else 0; then
 * dx += col2im(W^T dy);  dw += dy im2col(x)^T;  db += dy summed over N, OH, OW */
void td_op_conv2d_backward(td_tape *t, td_node *n) {
    td_var *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    const td_conv_spec s = spec_load(n);
    const td_conv_geom g = geom(x->value.shape, n->out->value.shape, w->value.shape, s);
    size_t mark;
    td_real *sc = scratch(t, &g, &mark);
    const td_real *dy = relu_bias_grad(&g, 0, s.relu ? n->out->value.data : NULL,
                                       n->out->grad.data, masked(t, n->out, s.relu),
                                       NEEDS(b) ? grad_to_add(b) : NULL);
    const int assign = NEEDS(x) && grad_take_fresh(x);
    td_conv2d_backward(&g, x->value.data, dy, w->value.data, NEEDS(x) ? x->grad.data : NULL,
                       assign, NEEDS(w) ? grad_to_add(w) : NULL, sc, n->saved.data);
    td_arena_rewind(td_tape_arena(t), mark);
}

/* The shapes the examples of both convolutions try:
 * N, C_x, H, W (the op's input), channels out, KH, KW, stride h/w, pad h/w,
 * out_pad h/w (transpose only), bias, fused ReLU. */
static const int64_t conv_cases[][15] = {
    {1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 0},  /* the plain case */
    {2, 3, 7, 6, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0},  /* odd, non-square, stride 2 pad 1 */
    {1, 2, 6, 9, 3, 2, 3, 3, 1, 2, 0, 2, 0, 0, 0},  /* non-square kernel and strides, no bias */
    {3, 2, 5, 4, 2, 1, 1, 1, 2, 0, 1, 0, 1, 1, 0},  /* 1x1 kernel, padding only along W */
    {2, 1, 4, 3, 2, 3, 2, 2, 3, 1, 1, 1, 2, 1, 0},  /* 1 input channel, several out */
    {2, 3, 7, 6, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  /* the second, through a ReLU */
    {1, 2, 6, 9, 3, 2, 3, 3, 1, 2, 0, 2, 0, 0, 1},  /* the third (no bias), through a ReLU */
};
#define N_CONV_CASES ((int)(sizeof conv_cases / sizeof conv_cases[0]))

/* Variants 0.. N_CONV_CASES - 1 in NCHW, then the same cases in CHWN. */
static td_var *conv_example(td_tape *t, td_gc *g, int v, int transpose) {
    if (v >= 2 * N_CONV_CASES) return NULL;
    const int chwn = v >= N_CONV_CASES;
    const int64_t *c = conv_cases[v % N_CONV_CASES];
    const td_conv_spec s = {c[7], c[8], c[9], c[10], transpose ? c[11] : 0, transpose ? c[12] : 0,
                            chwn, (int)c[14]};
    td_var *x = td_gc_input(g, t, shape_of((dims4){c[0], c[1], c[2], c[3]}, chwn), TD_GC_ANY, 1);
    const td_shape ws = transpose ? TD_SHAPE(c[1], c[4], c[5], c[6]) : TD_SHAPE(c[4], c[1], c[5], c[6]);
    td_var *w = td_gc_input(g, t, ws, TD_GC_ANY, 1);
    td_var *b = c[13] ? td_gc_input(g, t, TD_SHAPE(c[4]), TD_GC_ANY, 1) : NULL;
    return transpose ? td_conv_transpose2d_spec(t, x, w, b, s) : td_conv2d_spec(t, x, w, b, s);
}
td_var *td_op_conv2d_example(td_tape *t, td_gc *g, int v) { return conv_example(t, g, v, 0); }

/* ===== conv_transpose2d =================================================== */

td_var *td_conv_transpose2d_spec(td_tape *t, td_var *x, td_var *w, td_var *b, td_conv_spec s) {
    const int op = TD_OP_CONV_TRANSPOSE2D;
    check_common(op, x, w, b, 0, 1, s);
    const td_shape xs = x->value.shape, ws = w->value.shape;
    const dims4 xd = dims_of(xs, s.chwn);
    if (s.out_pad_h < 0 || s.out_pad_w < 0 || s.out_pad_h >= s.stride_h || s.out_pad_w >= s.stride_w)
        td_op_shape_fail(op, x, w, "output padding must be at least 0 and less than the stride");
    const int64_t oh = (xd.h - 1) * s.stride_h - 2 * s.pad_h + ws.d[2] + s.out_pad_h,
                  ow = (xd.w - 1) * s.stride_w - 2 * s.pad_w + ws.d[3] + s.out_pad_w;
    if (oh < 1 || ow < 1) td_op_shape_fail(op, x, w, "the padding leaves no output");
    td_var *out = td_tape_new_var(t, shape_of((dims4){xd.n, ws.d[1], oh, ow}, s.chwn),
                                  td_ops[op].name, x, w, b);
    const td_conv_geom g = geom(out->value.shape, xs, ws, s);
    size_t mark;
    td_real *sc = scratch(t, &g, &mark);
    td_conv_backward_data(&g, x->value.data, w->value.data, b ? b->value.data : NULL, s.relu, 1,
                          out->value.data, sc);
    td_arena_rewind(td_tape_arena(t), mark);
    spec_store(td_tape_record(t, op, out, b ? 3 : 2, x, w, b), s);
    return out;
}
td_var *td_conv_transpose2d(td_tape *t, td_var *x, td_var *w, td_var *b, int64_t stride,
                            int64_t pad, int64_t out_pad) {
    return td_conv_transpose2d_spec(t, x, w, b, td_conv_square(stride, pad, out_pad));
}
/* With the ReLU, dy = dy where y > 0, else 0; then
 * dx += conv2d(dy, w) (no bias);  dw += x im2col(dy)^T;  db += dy summed */
void td_op_conv_transpose2d_backward(td_tape *t, td_node *n) {
    td_var *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    const td_conv_spec s = spec_load(n);
    const td_conv_geom g = geom(n->out->value.shape, x->value.shape, w->value.shape, s);
    size_t mark;
    td_real *sc = scratch(t, &g, &mark);
    const td_real *dy = relu_bias_grad(&g, 1, s.relu ? n->out->value.data : NULL,
                                       n->out->grad.data, masked(t, n->out, s.relu),
                                       NEEDS(b) ? grad_to_add(b) : NULL);
    const int assign = NEEDS(x) && grad_take_fresh(x);
    td_conv_transpose2d_backward(&g, dy, x->value.data, w->value.data,
                                 NEEDS(x) ? x->grad.data : NULL, assign,
                                 NEEDS(w) ? grad_to_add(w) : NULL, sc);
    td_arena_rewind(td_tape_arena(t), mark);
}
td_var *td_op_conv_transpose2d_example(td_tape *t, td_gc *g, int v) { return conv_example(t, g, v, 1); }
