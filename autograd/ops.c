/* Every differentiable op: forward (the public function), backward, and the
 * gradcheck example, side by side; the table at the bottom registers them.
 *
 * Conventions: `g` is the output's gradient, `ga`/`gb` the inputs' grads
 * (accumulated with +=, only when that input requires grad). Shape checks
 * happen at record time and stop with the op's name and the shapes. */
#include <math.h>
#include <string.h>

#include "../tensor/gemm.h"
#include "../tensor/kernels.h"
#include "gradcheck.h"
#include "op_rows.h"
#include "op_table.h"

#define NEEDS(v) ((v) && (v)->requires_grad)

static td_tensor tmp_like(td_tape *t, td_shape s) { return td_tensor_arena(td_tape_arena(t), s); }

/* The op's name, for messages and output vars: from the table, never a
 * second copy of it. */
static const char *op_name(int op) { return td_ops[op].name; }

static void shape_fail(int op, const td_var *a, const td_var *b, const char *why) {
    char sa[64], sb[64];
    td_fatal_at(__FILE__, __LINE__, "op '%s': %s (shapes %s and %s)", op_name(op), why,
                td_shape_str(a->value.shape, sa, sizeof sa),
                b ? td_shape_str(b->value.shape, sb, sizeof sb) : "-");
}

static void require_2d(int op, const td_var *a) {
    if (a->value.shape.ndim != 2) shape_fail(op, a, NULL, "needs a 2-D input");
}

/* ===== elementwise binary ops with broadcasting ============================ */

static td_var *binary(td_tape *t, int op, td_binop kind, td_var *a, td_var *b) {
    td_shape s;
    if (td_shape_broadcast(a->value.shape, b->value.shape, &s))
        shape_fail(op, a, b, "shapes do not broadcast");
    td_var *out = td_tape_new_var(t, s, td_ops[op].name, a, b, NULL);
    td_k_binary(kind, &out->value, &a->value, &b->value);
    td_tape_record(t, op, out, 2, a, b, NULL);
    return out;
}

/* grad += reduce(g (kind) other), folded back to grad's shape; other NULL
 * means g itself. */
static void accumulate(td_tape *t, td_var *x, const td_tensor *g, td_binop kind,
                       const td_tensor *other, td_real sign) {
    if (!NEEDS(x)) return;
    td_tensor prod = *g;
    if (other || sign != 1) {
        prod = tmp_like(t, g->shape);
        if (other)
            td_k_binary(kind, &prod, g, other);
        else
            td_tensor_copy(&prod, g);
        if (sign != 1) td_k_affine(&prod, &prod, sign, 0);
    }
    td_k_reduce_add_to(&x->grad, &prod);
}

td_var *td_add(td_tape *t, td_var *a, td_var *b) { return binary(t, TD_OP_ADD, TD_BIN_ADD, a, b); }
static void add_backward(td_tape *t, td_node *n) {
    accumulate(t, n->in[0], &n->out->grad, TD_BIN_ADD, NULL, 1);
    accumulate(t, n->in[1], &n->out->grad, TD_BIN_ADD, NULL, 1);
}

td_var *td_sub(td_tape *t, td_var *a, td_var *b) { return binary(t, TD_OP_SUB, TD_BIN_SUB, a, b); }
static void sub_backward(td_tape *t, td_node *n) {
    accumulate(t, n->in[0], &n->out->grad, TD_BIN_ADD, NULL, 1);
    accumulate(t, n->in[1], &n->out->grad, TD_BIN_ADD, NULL, -1);
}

td_var *td_mul(td_tape *t, td_var *a, td_var *b) { return binary(t, TD_OP_MUL, TD_BIN_MUL, a, b); }
static void mul_backward(td_tape *t, td_node *n) {
    accumulate(t, n->in[0], &n->out->grad, TD_BIN_MUL, &n->in[1]->value, 1);
    accumulate(t, n->in[1], &n->out->grad, TD_BIN_MUL, &n->in[0]->value, 1);
}

td_var *td_div(td_tape *t, td_var *a, td_var *b) { return binary(t, TD_OP_DIV, TD_BIN_DIV, a, b); }
static void div_backward(td_tape *t, td_node *n) {
    /* d(a/b)/da = 1/b;  d(a/b)/db = -(a/b)/b = -y/b */
    accumulate(t, n->in[0], &n->out->grad, TD_BIN_DIV, &n->in[1]->value, 1);
    if (NEEDS(n->in[1])) {
        td_tensor gy = tmp_like(t, n->out->value.shape);
        td_k_binary(TD_BIN_MUL, &gy, &n->out->grad, &n->out->value);
        accumulate(t, n->in[1], &gy, TD_BIN_DIV, &n->in[1]->value, -1);
    }
}

/* Broadcasting shapes the binary examples try. */
static const int64_t bin_shapes[][2][4] = {
    {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {3, 1}}, {{5}, {1}},
};
static td_var *binary_example(td_tape *t, td_gc *g, int variant, int op, td_gc_domain db) {
    if (variant >= (int)(sizeof bin_shapes / sizeof bin_shapes[0])) return NULL;
    td_shape sa = td_shape_make(bin_shapes[variant][0][2] ? 3 : bin_shapes[variant][0][1] ? 2 : 1,
                                bin_shapes[variant][0]);
    td_shape sb = td_shape_make(bin_shapes[variant][1][2] ? 3 : bin_shapes[variant][1][1] ? 2 : 1,
                                bin_shapes[variant][1]);
    td_var *a = td_gc_input(g, t, sa, TD_GC_ANY, 1);
    td_var *b = td_gc_input(g, t, sb, db, 1);
    switch (op) {
    case TD_OP_ADD: return td_add(t, a, b);
    case TD_OP_SUB: return td_sub(t, a, b);
    case TD_OP_MUL: return td_mul(t, a, b);
    default: return td_div(t, a, b);
    }
}
static td_var *add_example(td_tape *t, td_gc *g, int v) { return binary_example(t, g, v, TD_OP_ADD, TD_GC_ANY); }
static td_var *sub_example(td_tape *t, td_gc *g, int v) { return binary_example(t, g, v, TD_OP_SUB, TD_GC_ANY); }
static td_var *mul_example(td_tape *t, td_gc *g, int v) { return binary_example(t, g, v, TD_OP_MUL, TD_GC_ANY); }
static td_var *div_example(td_tape *t, td_gc *g, int v) { return binary_example(t, g, v, TD_OP_DIV, TD_GC_POSITIVE); }

/* ===== scalar ops =========================================================== */

static td_var *affine(td_tape *t, int op, td_var *a, td_real mul, td_real add, double scalar) {
    td_var *out = td_tape_new_var(t, a->value.shape, td_ops[op].name, a, NULL, NULL);
    td_k_affine(&out->value, &a->value, mul, add);
    td_node *n = td_tape_record(t, op, out, 1, a, NULL, NULL);
    if (n) n->scalar = scalar;
    return out;
}

td_var *td_neg(td_tape *t, td_var *a) { return affine(t, TD_OP_NEG, a, -1, 0, -1); }
td_var *td_add_scalar(td_tape *t, td_var *a, td_real s) { return affine(t, TD_OP_ADD_SCALAR, a, 1, s, 1); }
td_var *td_mul_scalar(td_tape *t, td_var *a, td_real s) { return affine(t, TD_OP_MUL_SCALAR, a, s, 0, s); }
/* All three: da += g * (the multiplier kept in n->scalar). */
static void affine_backward(td_tape *t, td_node *n) {
    (void)t;
    td_k_axpy(&n->in[0]->grad, (td_real)n->scalar, &n->out->grad);
}
static td_var *neg_example(td_tape *t, td_gc *g, int v) {
    return v ? NULL : td_neg(t, td_gc_input(g, t, TD_SHAPE(3, 5), TD_GC_ANY, 1));
}
static td_var *add_scalar_example(td_tape *t, td_gc *g, int v) {
    return v ? NULL : td_add_scalar(t, td_gc_input(g, t, TD_SHAPE(3, 5), TD_GC_ANY, 1), 1.5);
}
static td_var *mul_scalar_example(td_tape *t, td_gc *g, int v) {
    return v ? NULL : td_mul_scalar(t, td_gc_input(g, t, TD_SHAPE(3, 5), TD_GC_ANY, 1), -0.75);
}

/* ===== matrix products ======================================================= */

td_var *td_matmul(td_tape *t, td_var *a, td_var *b, int trans_a, int trans_b) {
    require_2d(TD_OP_MATMUL, a);
    require_2d(TD_OP_MATMUL, b);
    int64_t m = trans_a ? td_dim(a, 1) : td_dim(a, 0);
    int64_t k = trans_a ? td_dim(a, 0) : td_dim(a, 1);
    int64_t kb = trans_b ? td_dim(b, 1) : td_dim(b, 0);
    int64_t nn = trans_b ? td_dim(b, 0) : td_dim(b, 1);
    if (k != kb) shape_fail(TD_OP_MATMUL, a, b, "inner dimensions differ");
    td_var *out = td_tape_new_var(t, TD_SHAPE(m, nn), op_name(TD_OP_MATMUL), a, b, NULL);
    td_gemm(trans_a, trans_b, m, nn, k, 1, a->value.data, td_dim(a, 1), b->value.data,
            td_dim(b, 1), 0, out->value.data, nn);
    td_node *n = td_tape_record(t, TD_OP_MATMUL, out, 2, a, b, NULL);
    if (n) {
        n->iparam[0] = trans_a;
        n->iparam[1] = trans_b;
    }
    return out;
}
static void matmul_backward(td_tape *t, td_node *n) {
    (void)t;
    td_var *a = n->in[0], *b = n->in[1];
    int ta = (int)n->iparam[0], tb = (int)n->iparam[1];
    int64_t m = td_dim(n->out, 0), nn = td_dim(n->out, 1);
    int64_t k = ta ? td_dim(a, 0) : td_dim(a, 1);
    int64_t lda = td_dim(a, 1), ldb = td_dim(b, 1);
    const td_real *g = n->out->grad.data;
    if (NEEDS(a)) {
        if (!ta) /* dA[m,k] += G[m,n] op(B)^T */
            td_gemm(0, !tb, m, k, nn, 1, g, nn, b->value.data, ldb, 1, a->grad.data, lda);
        else /* A stored [k,m]: dA += op(B)[k,n] G^T */
            td_gemm(tb, 1, k, m, nn, 1, b->value.data, ldb, g, nn, 1, a->grad.data, lda);
    }
    if (NEEDS(b)) {
        if (!tb) /* dB[k,n] += op(A)^T G */
            td_gemm(!ta, 0, k, nn, m, 1, a->value.data, lda, g, nn, 1, b->grad.data, ldb);
        else /* B stored [n,k]: dB += G^T op(A) */
            td_gemm(1, ta, nn, k, m, 1, g, nn, a->value.data, lda, 1, b->grad.data, ldb);
    }
}
static td_var *matmul_example(td_tape *t, td_gc *g, int v) {
    if (v >= 4) return NULL;
    int ta = v & 1, tb = (v >> 1) & 1;
    td_var *a = td_gc_input(g, t, ta ? TD_SHAPE(4, 3) : TD_SHAPE(3, 4), TD_GC_ANY, 1);
    td_var *b = td_gc_input(g, t, tb ? TD_SHAPE(5, 4) : TD_SHAPE(4, 5), TD_GC_ANY, 1);
    return td_matmul(t, a, b, ta, tb);
}

td_var *td_bias_add(td_tape *t, td_var *x, td_var *b) {
    int64_t cols = td_tensor_cols(&x->value);
    if (b->value.size != cols)
        shape_fail(TD_OP_BIAS_ADD, x, b, "bias length differs from the columns");
    td_var *out = td_tape_new_var(t, x->value.shape, op_name(TD_OP_BIAS_ADD), x, b, NULL);
    td_tensor brow = td_tensor_reshape(&b->value, TD_SHAPE(cols));
    td_k_binary(TD_BIN_ADD, &out->value, &x->value, &brow);
    td_tape_record(t, TD_OP_BIAS_ADD, out, 2, x, b, NULL);
    return out;
}
/* Column sums of g into a bias gradient. */
static void bias_grad(td_var *b, const td_tensor *g) {
    td_tensor gb = td_tensor_reshape(&b->grad, TD_SHAPE(td_tensor_cols(g)));
    td_k_reduce_add_to(&gb, g);
}
static void bias_add_backward(td_tape *t, td_node *n) {
    (void)t;
    if (NEEDS(n->in[0])) td_k_axpy(&n->in[0]->grad, 1, &n->out->grad);
    if (NEEDS(n->in[1])) bias_grad(n->in[1], &n->out->grad);
}
static td_var *bias_add_example(td_tape *t, td_gc *g, int v) {
    if (v) return NULL;
    td_var *x = td_gc_input(g, t, TD_SHAPE(4, 3), TD_GC_ANY, 1);
    td_var *b = td_gc_input(g, t, TD_SHAPE(3), TD_GC_ANY, 1);
    return td_bias_add(t, x, b);
}

td_var *td_linear(td_tape *t, td_var *x, td_var *w, td_var *b) {
    require_2d(TD_OP_LINEAR, x);
    require_2d(TD_OP_LINEAR, w);
    int64_t rows = td_dim(x, 0), in = td_dim(x, 1), outn = td_dim(w, 0);
    if (td_dim(w, 1) != in)
        shape_fail(TD_OP_LINEAR, x, w, "x is [rows, in] but w is not [out, in]");
    if (b && b->value.size != outn)
        shape_fail(TD_OP_LINEAR, w, b, "bias length differs from w's rows");
    td_var *out = td_tape_new_var(t, TD_SHAPE(rows, outn), op_name(TD_OP_LINEAR), x, w, b);
    /* start from the bias in every row, then accumulate x w^T */
    if (b) td_k_fill_rows(out->value.data, b->value.data, rows, outn);
    td_gemm(0, 1, rows, outn, in, 1, x->value.data, in, w->value.data, in, b ? 1 : 0,
            out->value.data, outn);
    td_tape_record(t, TD_OP_LINEAR, out, b ? 3 : 2, x, w, b);
    return out;
}
static void linear_backward(td_tape *t, td_node *n) {
    (void)t;
    td_var *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    int64_t rows = td_dim(x, 0), in = td_dim(x, 1), outn = td_dim(w, 0);
    const td_real *g = n->out->grad.data;
    if (NEEDS(x))
        td_gemm(0, 0, rows, in, outn, 1, g, outn, w->value.data, in, grad_take_fresh(x) ? 0 : 1,
                x->grad.data, in);
    if (NEEDS(w))
        td_gemm(1, 0, outn, in, rows, 1, g, outn, x->value.data, in, 1, grad_to_add(w), in);
    if (NEEDS(b)) {
        grad_to_add(b);
        bias_grad(b, &n->out->grad);
    }
}
static td_var *linear_example(td_tape *t, td_gc *g, int v) {
    if (v >= 2) return NULL;
    td_var *x = td_gc_input(g, t, TD_SHAPE(5, 4), TD_GC_ANY, 1);
    td_var *w = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    td_var *b = v ? td_gc_input(g, t, TD_SHAPE(3), TD_GC_ANY, 1) : NULL;
    return td_linear(t, x, w, b);
}

/* ===== elementwise unary ops ================================================== */

static td_var *unary(td_tape *t, int op, td_unop kind, td_var *a) {
    td_var *out = td_tape_new_var(t, a->value.shape, td_ops[op].name, a, NULL, NULL);
    td_k_unary(kind, &out->value, &a->value);
    td_tape_record(t, op, out, 1, a, NULL, NULL);
    return out;
}

/* The backward of every unary op is td_k_unary_backward (tensor/kernels.c,
 * next to the forward td_k_unary): dx = f'(x) * g, or += when dx already
 * holds a gradient. The derivative each op uses is named beside it below. */
#define UNARY_BACKWARD(fname, KIND)                                                    \
    static void fname(td_tape *t, td_node *n) {                                        \
        (void)t;                                                                       \
        const int accumulate = !grad_take_fresh(n->in[0]);                             \
        td_k_unary_backward(KIND, n->in[0]->grad.data, n->in[0]->value.data,           \
                            n->out->value.data, n->out->grad.data, n->out->value.size, \
                            accumulate);                                               \
    }

#define UNARY_EXAMPLE(fname, fn, domain)                                               \
    static td_var *fname(td_tape *t, td_gc *g, int v) {                                \
        if (v >= 2) return NULL;                                                       \
        return fn(t, td_gc_input(g, t, v ? TD_SHAPE(2, 3, 4) : TD_SHAPE(7), domain, 1)); \
    }

td_var *td_exp(td_tape *t, td_var *a) { return unary(t, TD_OP_EXP, TD_UN_EXP, a); }
UNARY_BACKWARD(exp_backward, TD_UN_EXP) /* y */
UNARY_EXAMPLE(exp_example, td_exp, TD_GC_ANY)

td_var *td_log(td_tape *t, td_var *a) { return unary(t, TD_OP_LOG, TD_UN_LOG, a); }
UNARY_BACKWARD(log_backward, TD_UN_LOG) /* 1 / x */
UNARY_EXAMPLE(log_example, td_log, TD_GC_POSITIVE)

td_var *td_softplus(td_tape *t, td_var *a) { return unary(t, TD_OP_SOFTPLUS, TD_UN_SOFTPLUS, a); }
UNARY_BACKWARD(softplus_backward, TD_UN_SOFTPLUS) /* sigmoid(x) */
UNARY_EXAMPLE(softplus_example, td_softplus, TD_GC_ANY)

td_var *td_sigmoid(td_tape *t, td_var *a) { return unary(t, TD_OP_SIGMOID, TD_UN_SIGMOID, a); }
UNARY_BACKWARD(sigmoid_backward, TD_UN_SIGMOID) /* y (1 - y) */
UNARY_EXAMPLE(sigmoid_example, td_sigmoid, TD_GC_ANY)

td_var *td_log_sigmoid(td_tape *t, td_var *a) { return unary(t, TD_OP_LOG_SIGMOID, TD_UN_LOGSIGMOID, a); }
UNARY_BACKWARD(log_sigmoid_backward, TD_UN_LOGSIGMOID) /* sigmoid(-x) */
UNARY_EXAMPLE(log_sigmoid_example, td_log_sigmoid, TD_GC_ANY)

td_var *td_tanh(td_tape *t, td_var *a) { return unary(t, TD_OP_TANH, TD_UN_TANH, a); }
UNARY_BACKWARD(tanh_backward, TD_UN_TANH) /* 1 - y^2 */
UNARY_EXAMPLE(tanh_example, td_tanh, TD_GC_ANY)

td_var *td_relu(td_tape *t, td_var *a) { return unary(t, TD_OP_RELU, TD_UN_RELU, a); }
UNARY_BACKWARD(relu_backward, TD_UN_RELU) /* 1 where x > 0, else 0 */
UNARY_EXAMPLE(relu_example, td_relu, TD_GC_AWAY)

td_var *td_square(td_tape *t, td_var *a) { return unary(t, TD_OP_SQUARE, TD_UN_SQUARE, a); }
UNARY_BACKWARD(square_backward, TD_UN_SQUARE) /* 2 x */
UNARY_EXAMPLE(square_example, td_square, TD_GC_ANY)

td_var *td_sqrt(td_tape *t, td_var *a) { return unary(t, TD_OP_SQRT, TD_UN_SQRT, a); }
UNARY_BACKWARD(sqrt_backward, TD_UN_SQRT) /* 0.5 / y */
UNARY_EXAMPLE(sqrt_example, td_sqrt, TD_GC_POSITIVE)

td_var *td_abs(td_tape *t, td_var *a) { return unary(t, TD_OP_ABS, TD_UN_ABS, a); }
UNARY_BACKWARD(abs_backward, TD_UN_ABS) /* sign(x), 0 at 0 */
UNARY_EXAMPLE(abs_example, td_abs, TD_GC_AWAY)

td_var *td_clamp(td_tape *t, td_var *a, td_real lo, td_real hi) {
    TD_ASSERT(lo <= hi, "td_clamp: lo (%g) must not exceed hi (%g)", (double)lo, (double)hi);
    td_var *out = td_tape_new_var(t, a->value.shape, op_name(TD_OP_CLAMP), a, NULL, NULL);
    const td_real *x = a->value.data;
    td_real *y = out->value.data;
    for (int64_t i = 0; i < a->value.size; i++) y[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
    td_node *n = td_tape_record(t, TD_OP_CLAMP, out, 1, a, NULL, NULL);
    if (n) n->scalar = lo, n->scalar2 = hi;
    return out;
}
/* dx += g where lo < x < hi (strictly: 0 at the bounds and outside) */
static void clamp_backward(td_tape *t, td_node *n) {
    (void)t;
    const td_real lo = (td_real)n->scalar, hi = (td_real)n->scalar2;
    const td_real *x = n->in[0]->value.data, *g = n->out->grad.data;
    td_real *dx = n->in[0]->grad.data;
    for (int64_t i = 0; i < n->out->value.size; i++) dx[i] += x[i] > lo && x[i] < hi ? g[i] : 0;
}
/* |x| in [0.2, 2], bounds at +-0.1 and +-5: every value is at least 0.1 from
 * a bound, so finite differences never straddle one. Variant 0 clamps the
 * negative values at lo, variant 1 the positive ones at hi. */
static td_var *clamp_example(td_tape *t, td_gc *g, int v) {
    if (v >= 2) return NULL;
    td_var *x = td_gc_input(g, t, v ? TD_SHAPE(2, 3, 4) : TD_SHAPE(7), TD_GC_AWAY, 1);
    return v ? td_clamp(t, x, -5, (td_real)0.1) : td_clamp(t, x, (td_real)-0.1, 5);
}

/* ===== reductions ================================================================ */

td_var *td_sum(td_tape *t, td_var *a) {
    td_var *out = td_tape_new_var(t, TD_SHAPE(1), op_name(TD_OP_SUM), a, NULL, NULL);
    out->value.data[0] = (td_real)td_k_sum(&a->value);
    td_tape_record(t, TD_OP_SUM, out, 1, a, NULL, NULL);
    return out;
}
td_var *td_mean(td_tape *t, td_var *a) {
    td_var *out = td_tape_new_var(t, TD_SHAPE(1), op_name(TD_OP_MEAN), a, NULL, NULL);
    out->value.data[0] = (td_real)(td_k_sum(&a->value) / (double)a->value.size);
    td_tape_record(t, TD_OP_MEAN, out, 1, a, NULL, NULL);
    return out;
}
static void sum_backward(td_tape *t, td_node *n) {
    (void)t;
    td_real g = n->out->grad.data[0];
    if (n->op == TD_OP_MEAN) g /= (td_real)n->in[0]->value.size;
    td_k_affine(&n->in[0]->grad, &n->in[0]->grad, 1, g);
}
static td_var *sum_example(td_tape *t, td_gc *g, int v) {
    return v ? NULL : td_sum(t, td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1));
}
static td_var *mean_example(td_tape *t, td_gc *g, int v) {
    return v ? NULL : td_mean(t, td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1));
}

static td_shape reduced_shape(int op, td_var *a, int axis) {
    if (axis < 0 || axis >= a->value.shape.ndim) shape_fail(op, a, NULL, "axis out of range");
    td_shape s = a->value.shape;
    s.d[axis] = 1;
    return s;
}

td_var *td_sum_axis(td_tape *t, td_var *a, int axis) {
    td_var *out = td_tape_new_var(t, reduced_shape(TD_OP_SUM_AXIS, a, axis),
                                  op_name(TD_OP_SUM_AXIS), a, NULL, NULL);
    td_k_sum_axis(&out->value, &a->value, axis);
    td_node *n = td_tape_record(t, TD_OP_SUM_AXIS, out, 1, a, NULL, NULL);
    if (n) n->iparam[0] = axis;
    return out;
}
static void sum_axis_backward(td_tape *t, td_node *n) {
    (void)t; /* dx += g broadcast along the reduced axis */
    td_k_binary(TD_BIN_ADD, &n->in[0]->grad, &n->in[0]->grad, &n->out->grad);
}
static td_var *sum_axis_example(td_tape *t, td_gc *g, int v) {
    if (v >= 3) return NULL;
    td_shape s = v == 2 ? TD_SHAPE(2, 3, 4) : TD_SHAPE(3, 4);
    return td_sum_axis(t, td_gc_input(g, t, s, TD_GC_ANY, 1), v == 2 ? 1 : v);
}

td_var *td_logsumexp_axis(td_tape *t, td_var *a, int axis) {
    td_var *out = td_tape_new_var(t, reduced_shape(TD_OP_LOGSUMEXP_AXIS, a, axis),
                                  op_name(TD_OP_LOGSUMEXP_AXIS), a, NULL, NULL);
    td_k_logsumexp_axis(&out->value, &a->value, axis);
    td_node *n = td_tape_record(t, TD_OP_LOGSUMEXP_AXIS, out, 1, a, NULL, NULL);
    if (n) n->iparam[0] = axis;
    return out;
}
static void logsumexp_axis_backward(td_tape *t, td_node *n) {
    /* dx += g * softmax(x) = g * exp(x - y), broadcast along the axis */
    td_tensor w = tmp_like(t, n->in[0]->value.shape);
    td_k_binary(TD_BIN_SUB, &w, &n->in[0]->value, &n->out->value);
    /* An entry of -inf has weight 0, even in an all -inf row where x - y
     * would be -inf - -inf = NaN. */
    for (int64_t i = 0; i < w.size; i++)
        if (n->in[0]->value.data[i] == -INFINITY) w.data[i] = -INFINITY;
    td_k_unary(TD_UN_EXP, &w, &w);
    td_k_binary(TD_BIN_MUL, &w, &w, &n->out->grad);
    td_k_axpy(&n->in[0]->grad, 1, &w);
}
static td_var *logsumexp_axis_example(td_tape *t, td_gc *g, int v) {
    if (v >= 3) return NULL;
    td_shape s = v == 2 ? TD_SHAPE(2, 3, 4) : TD_SHAPE(3, 4);
    return td_logsumexp_axis(t, td_gc_input(g, t, s, TD_GC_ANY, 1), v == 2 ? 0 : v);
}

/* ===== shape ops ================================================================== */

td_var *td_reshape(td_tape *t, td_var *a, td_shape s) {
    td_var *out = td_tape_new_var(t, TD_SHAPE(0), op_name(TD_OP_RESHAPE), a, NULL, NULL);
    out->value = td_tensor_reshape(&a->value, s); /* a view: no copy */
    td_tape_record(t, TD_OP_RESHAPE, out, 1, a, NULL, NULL);
    return out;
}
static void reshape_backward(td_tape *t, td_node *n) {
    (void)t;
    td_tensor g = td_tensor_reshape(&n->out->grad, n->in[0]->value.shape);
    td_k_axpy(&n->in[0]->grad, 1, &g);
}
static td_var *reshape_example(td_tape *t, td_gc *g, int v) {
    return v ? NULL : td_reshape(t, td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1), TD_SHAPE(2, 6));
}

td_var *td_transpose(td_tape *t, td_var *a) {
    require_2d(TD_OP_TRANSPOSE, a);
    const int64_t r = td_dim(a, 0), c = td_dim(a, 1);
    td_var *out = td_tape_new_var(t, TD_SHAPE(c, r), op_name(TD_OP_TRANSPOSE), a, NULL, NULL);
    td_k_transpose(a->value.data, r, c, NULL, 1, 0, out->value.data);
    td_tape_record(t, TD_OP_TRANSPOSE, out, 1, a, NULL, NULL);
    return out;
}
/* da (=, when fresh, or +=) dy^T */
static void transpose_backward(td_tape *t, td_node *n) {
    (void)t;
    td_var *a = n->in[0];
    const int assign = grad_take_fresh(a);
    td_k_transpose(n->out->grad.data, td_dim(n->out, 0), td_dim(n->out, 1), NULL, 1, !assign,
                   a->grad.data);
}
/* odd sizes, and one past the 8 x 8 blocks both ways */
static td_var *transpose_example(td_tape *t, td_gc *g, int v) {
    static const int64_t sizes[][2] = {{3, 5}, {17, 9}, {1, 4}};
    if (v >= 3) return NULL;
    return td_transpose(t, td_gc_input(g, t, TD_SHAPE(sizes[v][0], sizes[v][1]), TD_GC_ANY, 1));
}

td_var *td_slice_cols(td_tape *t, td_var *a, int64_t start, int64_t count) {
    require_2d(TD_OP_SLICE_COLS, a);
    if (start < 0 || count < 0 || start + count > td_dim(a, 1))
        shape_fail(TD_OP_SLICE_COLS, a, NULL, "column range out of bounds");
    td_var *out =
        td_tape_new_var(t, TD_SHAPE(td_dim(a, 0), count), op_name(TD_OP_SLICE_COLS), a, NULL, NULL);
    td_k_copy_cols(&out->value, 0, &a->value, start, count);
    td_node *n = td_tape_record(t, TD_OP_SLICE_COLS, out, 1, a, NULL, NULL);
    if (n) n->iparam[0] = start;
    return out;
}
static void slice_cols_backward(td_tape *t, td_node *n) {
    /* add g into the sliced columns: copy those columns out, add, copy back */
    int64_t start = n->iparam[0], count = td_dim(n->out, 1);
    td_tensor cols = tmp_like(t, n->out->value.shape);
    td_k_copy_cols(&cols, 0, &n->in[0]->grad, start, count);
    td_k_axpy(&cols, 1, &n->out->grad);
    td_k_copy_cols(&n->in[0]->grad, start, &cols, 0, count);
}
static td_var *slice_cols_example(td_tape *t, td_gc *g, int v) {
    if (v >= 2) return NULL;
    return td_slice_cols(t, td_gc_input(g, t, TD_SHAPE(3, 6), TD_GC_ANY, 1), v ? 2 : 0, v ? 4 : 3);
}

td_var *td_concat_cols(td_tape *t, td_var *a, td_var *b) {
    require_2d(TD_OP_CONCAT_COLS, a);
    require_2d(TD_OP_CONCAT_COLS, b);
    int64_t rows = td_dim(a, 0), ca = td_dim(a, 1), cb = td_dim(b, 1);
    if (td_dim(b, 0) != rows) shape_fail(TD_OP_CONCAT_COLS, a, b, "row counts differ");
    td_var *out =
        td_tape_new_var(t, TD_SHAPE(rows, ca + cb), op_name(TD_OP_CONCAT_COLS), a, b, NULL);
    td_k_copy_cols(&out->value, 0, &a->value, 0, ca);
    td_k_copy_cols(&out->value, ca, &b->value, 0, cb);
    td_tape_record(t, TD_OP_CONCAT_COLS, out, 2, a, b, NULL);
    return out;
}
static void concat_cols_backward(td_tape *t, td_node *n) {
    int64_t ca = td_dim(n->in[0], 1);
    for (int k = 0; k < 2; k++) {
        td_var *x = n->in[k];
        if (!NEEDS(x)) continue;
        td_tensor part = tmp_like(t, x->value.shape);
        td_k_copy_cols(&part, 0, &n->out->grad, k ? ca : 0, td_dim(x, 1));
        td_k_axpy(&x->grad, 1, &part);
    }
}
static td_var *concat_cols_example(td_tape *t, td_gc *g, int v) {
    if (v) return NULL;
    td_var *a = td_gc_input(g, t, TD_SHAPE(3, 2), TD_GC_ANY, 1);
    td_var *b = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    return td_concat_cols(t, a, b);
}

/* ===== binary cross-entropy with logits ============================================ */

static void check_target(int op, td_var *logits, td_var *target) {
    if (!td_shape_equal(logits->value.shape, target->value.shape))
        shape_fail(op, logits, target, "logits and target shapes differ");
}

/* The gradient sigmoid(x) - y comes out of the forward kernel (same
 * exponentials) when the op will be differentiated; backward only scales
 * it. The target is a constant. */
static td_tensor bce_grad_buffer(td_tape *t, const td_var *out, const td_var *logits) {
    return out->requires_grad ? tmp_like(t, logits->value.shape) : (td_tensor){0};
}

td_var *td_bce_logits(td_tape *t, td_var *logits, td_var *target) {
    check_target(TD_OP_BCE_LOGITS, logits, target);
    td_var *out =
        td_tape_new_var(t, logits->value.shape, op_name(TD_OP_BCE_LOGITS), logits, NULL, NULL);
    td_tensor d = bce_grad_buffer(t, out, logits);
    td_k_bce_logits(logits->value.data, target->value.data, out->value.size, out->value.data,
                    d.data);
    td_node *n = td_tape_record(t, TD_OP_BCE_LOGITS, out, 1, logits, NULL, NULL);
    if (n) n->saved = d;
    return out;
}
/* d/dx [softplus(x) - y x] = sigmoid(x) - y, saved by the forward. */
static void bce_logits_backward(td_tape *t, td_node *n) {
    (void)t;
    const td_real *d = n->saved.data, *g = n->out->grad.data;
    td_real *dx = n->in[0]->grad.data;
    /* the rows form has one g per row; the elementwise form, one per entry */
    const int64_t size = n->in[0]->value.size,
                  cols = n->op == TD_OP_BCE_LOGITS_ROWS ? td_tensor_cols(&n->in[0]->value) : 1;
    td_k_add_scaled_rows(dx, g, d, size / cols, cols, !grad_take_fresh(n->in[0]));
}
static td_var *bce_example(td_tape *t, td_gc *g, int v, int rows_form) {
    if (v) return NULL;
    td_var *x = td_gc_input(g, t, TD_SHAPE(4, 5), TD_GC_ANY, 1);
    td_var *y = td_gc_input(g, t, TD_SHAPE(4, 5), TD_GC_UNIT, 0);
    return rows_form ? td_bce_logits_rows(t, x, y) : td_bce_logits(t, x, y);
}
static td_var *bce_logits_example(td_tape *t, td_gc *g, int v) { return bce_example(t, g, v, 0); }

td_var *td_bce_logits_rows(td_tape *t, td_var *logits, td_var *target) {
    check_target(TD_OP_BCE_LOGITS_ROWS, logits, target);
    int64_t cols = td_tensor_cols(&logits->value), rows = td_tensor_rows_count(&logits->value);
    td_var *out =
        td_tape_new_var(t, TD_SHAPE(rows, 1), op_name(TD_OP_BCE_LOGITS_ROWS), logits, NULL, NULL);
    td_tensor d = bce_grad_buffer(t, out, logits);
    td_k_bce_logits_rows(logits->value.data, target->value.data, rows, cols, out->value.data,
                         d.data);
    td_node *n = td_tape_record(t, TD_OP_BCE_LOGITS_ROWS, out, 1, logits, NULL, NULL);
    if (n) n->saved = d;
    return out;
}
static td_var *bce_logits_rows_example(td_tape *t, td_gc *g, int v) { return bce_example(t, g, v, 1); }

/* ===== sampling nodes ================================================================
 * randn / bernoulli / bernoulli_mask make constants: nothing is recorded, and
 * their table rows say differentiable 0. */

/* Under a batch slice (td_tape_set_batch_slice) a draw is made for the whole
 * batch and this tape's rows are kept: where they lie in the whole draw. */
typedef struct batch_slice {
    td_shape whole;
    int64_t outer, inner, first, rows, total; /* [outer, total, inner] of which rows first.. */
} batch_slice;

/* 1 and *b when the draw of shape s is sliced, 0 for a plain draw. */
static int batch_slice_of(const td_tape *t, td_shape s, batch_slice *b) {
    int64_t first, rows, total;
    td_tape_batch_slice(t, &first, &rows, &total);
    if (total == 0 || rows == total) return 0;
    const int axis = s.ndim == 3 && s.d[1] == rows ? 1 : 0; /* [samples, batch, dim] */
    TD_ASSERT(s.d[axis] == rows,
              "a random draw of %lld rows under a batch slice of %lld rows: draw the batch on axis 0 "
              "(or axis 1 of [samples, batch, dim])", (long long)s.d[axis], (long long)rows);
    *b = (batch_slice){.whole = s, .outer = 1, .inner = 1, .first = first, .rows = rows, .total = total};
    b->whole.d[axis] = total;
    for (int i = 0; i < s.ndim; i++) *(i < axis ? &b->outer : &b->inner) *= i == axis ? 1 : s.d[i];
    return 1;
}

/* Copies the slice's rows between the whole draw and the tape's part. */
static void batch_slice_move(const batch_slice *b, td_real *whole, td_real *part, int to_part) {
    const size_t len = sizeof(td_real) * (size_t)(b->rows * b->inner);
    for (int64_t o = 0; o < b->outer; o++) {
        td_real *w = whole + (o * b->total + b->first) * b->inner, *q = part + o * b->rows * b->inner;
        memcpy(to_part ? q : w, to_part ? w : q, len);
    }
}

td_var *td_randn(td_tape *t, td_rng *r, td_shape s) {
    td_var *v = td_const_new(t, s);
    batch_slice b;
    if (batch_slice_of(t, s, &b)) {
        td_tensor w = tmp_like(t, b.whole);
        td_rng_normal(r, w.data, w.size, 0, 1);
        batch_slice_move(&b, w.data, v->value.data, 1);
    } else {
        td_rng_normal(r, v->value.data, v->value.size, 0, 1);
    }
    v->name = op_name(TD_OP_RANDN);
    return v;
}

td_var *td_bernoulli(td_tape *t, td_rng *r, td_var *p) {
    td_var *v = td_const_new(t, p->value.shape);
    batch_slice b;
    if (batch_slice_of(t, p->value.shape, &b)) { /* the other rows' p do not matter: 0 */
        td_tensor w = tmp_like(t, b.whole);
        memset(w.data, 0, sizeof(td_real) * (size_t)w.size);
        batch_slice_move(&b, w.data, p->value.data, 0);
        td_rng_bernoulli(r, w.data, w.size, w.data);
        batch_slice_move(&b, w.data, v->value.data, 1);
    } else {
        td_rng_bernoulli(r, v->value.data, v->value.size, p->value.data);
    }
    v->name = op_name(TD_OP_BERNOULLI);
    return v;
}

td_var *td_bernoulli_mask(td_tape *t, td_rng *r, td_shape s, td_real keep) {
    td_var *v = td_const_new(t, s);
    batch_slice b;
    if (batch_slice_of(t, s, &b)) {
        td_tensor w = tmp_like(t, b.whole);
        td_rng_bernoulli_p(r, w.data, w.size, keep);
        batch_slice_move(&b, w.data, v->value.data, 1);
    } else {
        td_rng_bernoulli_p(r, v->value.data, v->value.size, keep);
    }
    v->name = op_name(TD_OP_BERNOULLI_MASK);
    return v;
}

/* z = mu + exp(logvar/2) * eps with broadcasting (eps may carry extra leading
 * sample dims, e.g. [K, B, D] against mu [B, D]). */
td_var *td_reparam(td_tape *t, td_var *mu, td_var *logvar, td_var *eps) {
    if (!td_shape_equal(mu->value.shape, logvar->value.shape))
        shape_fail(TD_OP_REPARAM, mu, logvar, "mu and logvar shapes differ");
    td_shape s;
    if (td_shape_broadcast(mu->value.shape, eps->value.shape, &s))
        shape_fail(TD_OP_REPARAM, mu, eps, "mu and eps do not broadcast");
    td_var *out = td_tape_new_var(t, s, op_name(TD_OP_REPARAM), mu, logvar, NULL);
    td_tensor sd = tmp_like(t, logvar->value.shape);
    td_k_affine(&sd, &logvar->value, (td_real)0.5, 0);
    td_k_unary(TD_UN_EXP, &sd, &sd);
    td_k_binary(TD_BIN_MUL, &out->value, &eps->value, &sd);
    td_k_binary(TD_BIN_ADD, &out->value, &out->value, &mu->value);
    td_node *n = td_tape_record(t, TD_OP_REPARAM, out, 3, mu, logvar, eps);
    if (n) n->saved = sd;
    return out;
}
/* dmu += g;  dlogvar += g * eps * sd / 2 (both folded over sample dims) */
static void reparam_backward(td_tape *t, td_node *n) {
    accumulate(t, n->in[0], &n->out->grad, TD_BIN_ADD, NULL, 1);
    if (NEEDS(n->in[1])) {
        td_tensor w = tmp_like(t, n->out->value.shape);
        td_k_binary(TD_BIN_MUL, &w, &n->out->grad, &n->in[2]->value);
        td_k_binary(TD_BIN_MUL, &w, &w, &n->saved);
        td_k_affine(&w, &w, (td_real)0.5, 0);
        td_k_reduce_add_to(&n->in[1]->grad, &w);
    }
}
static td_var *reparam_example(td_tape *t, td_gc *g, int v) {
    if (v >= 2) return NULL;
    td_var *mu = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    td_var *lv = td_gc_input(g, t, TD_SHAPE(3, 4), TD_GC_ANY, 1);
    td_var *eps = td_randn(t, td_gc_rng(g), v ? TD_SHAPE(2, 3, 4) : TD_SHAPE(3, 4));
    return td_reparam(t, mu, lv, eps);
}

/* ===== the table ======================================================================= */

/* One row per td_op_id. The count is the number of ids in op_table.h:
 * adding an id there stops the build here until its row is written below
 * and the count raised with it. test_op_table then checks at run time that
 * every id has a filled-in row and that no two rows share a name. */
_Static_assert(TD_OP_COUNT == 41, "a new td_op_id needs its row in td_ops[] below; add the row, "
                                  "then raise this count to TD_OP_COUNT");

td_op_info td_ops[TD_OP_COUNT] = {
    [TD_OP_ADD] = {"add", 1, add_backward, add_example, 0},
    [TD_OP_SUB] = {"sub", 1, sub_backward, sub_example, 0},
    [TD_OP_MUL] = {"mul", 1, mul_backward, mul_example, 0},
    [TD_OP_DIV] = {"div", 1, div_backward, div_example, 0},
    [TD_OP_NEG] = {"neg", 1, affine_backward, neg_example, 0},
    [TD_OP_ADD_SCALAR] = {"add_scalar", 1, affine_backward, add_scalar_example, 0},
    [TD_OP_MUL_SCALAR] = {"mul_scalar", 1, affine_backward, mul_scalar_example, 0},
    [TD_OP_MATMUL] = {"matmul", 1, matmul_backward, matmul_example, 0},
    [TD_OP_BIAS_ADD] = {"bias_add", 1, bias_add_backward, bias_add_example, 0},
    [TD_OP_LINEAR] = {"linear", 1, linear_backward, linear_example, 1},
    [TD_OP_EXP] = {"exp", 1, exp_backward, exp_example, 1},
    [TD_OP_LOG] = {"log", 1, log_backward, log_example, 1},
    [TD_OP_SOFTPLUS] = {"softplus", 1, softplus_backward, softplus_example, 1},
    [TD_OP_SIGMOID] = {"sigmoid", 1, sigmoid_backward, sigmoid_example, 1},
    [TD_OP_LOG_SIGMOID] = {"log_sigmoid", 1, log_sigmoid_backward, log_sigmoid_example, 1},
    [TD_OP_TANH] = {"tanh", 1, tanh_backward, tanh_example, 1},
    [TD_OP_RELU] = {"relu", 1, relu_backward, relu_example, 1},
    [TD_OP_SQUARE] = {"square", 1, square_backward, square_example, 1},
    [TD_OP_SQRT] = {"sqrt", 1, sqrt_backward, sqrt_example, 1},
    [TD_OP_ABS] = {"abs", 1, abs_backward, abs_example, 1},
    [TD_OP_CLAMP] = {"clamp", 1, clamp_backward, clamp_example, 0},
    [TD_OP_SUM] = {"sum", 1, sum_backward, sum_example, 0},
    [TD_OP_MEAN] = {"mean", 1, sum_backward, mean_example, 0},
    [TD_OP_SUM_AXIS] = {"sum_axis", 1, sum_axis_backward, sum_axis_example, 0},
    [TD_OP_LOGSUMEXP_AXIS] = {"logsumexp_axis", 1, logsumexp_axis_backward, logsumexp_axis_example, 0},
    [TD_OP_RESHAPE] = {"reshape", 1, reshape_backward, reshape_example, 0},
    [TD_OP_SLICE_COLS] = {"slice_cols", 1, slice_cols_backward, slice_cols_example, 0},
    [TD_OP_CONCAT_COLS] = {"concat_cols", 1, concat_cols_backward, concat_cols_example, 0},
    [TD_OP_TRANSPOSE] = {"transpose", 1, transpose_backward, transpose_example, 1},
    [TD_OP_BCE_LOGITS] = {"bce_logits", 1, bce_logits_backward, bce_logits_example, 1},
    [TD_OP_BCE_LOGITS_ROWS] = {"bce_logits_rows", 1, bce_logits_backward, bce_logits_rows_example, 1},
    [TD_OP_RANDN] = {"randn", 0, NULL, NULL, 0},
    [TD_OP_BERNOULLI] = {"bernoulli", 0, NULL, NULL, 0},
    [TD_OP_BERNOULLI_MASK] = {"bernoulli_mask", 0, NULL, NULL, 0},
    [TD_OP_REPARAM] = {"reparam", 1, reparam_backward, reparam_example, 0},
    TD_OP_ROWS_CONV TD_OP_ROWS_POOL TD_OP_ROWS_SOFTMAX
};
/* A forgotten row would have a NULL name: tests/test_op_table.c walks the
 * table and fails on it, and on any differentiable row without a backward
 * or a gradcheck example. */
