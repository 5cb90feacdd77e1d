/* Elementwise, broadcasting and reduction kernels (contract in kernels.h).
 *
 * Shapes are handled by padding them to 4 dims from the left with 1s (NumPy
 * alignment from the right). Every elementwise op ends in one "row" loop
 * out[i] = a[i*sa] op b[i*sb] with sa, sb in {0, 1}; the broadcasting cases
 * only differ in how they cut the output into such rows.
 *
 * Determinism: elementwise results are per element. Reductions use a fixed
 * summation tree (blocks of TD_SUM_BLOCK elements summed with 8 lanes, then
 * the block partials added in order), so threads only change who computes a
 * partial, never how partials are combined.
 *
 * This file is compiled once per instruction-set path (dispatch.h): each
 * public kernel is defined as TD_ISA_FN(name), and the table at the end
 * lists this path's copies. */
#include "kernels.h"

#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "dispatch.h"
#include "parallel.h"

/* Elementwise math in td_real: the float builds must not detour through
 * double libm calls on the hot path. */
#ifdef TD_DOUBLE
#define R_EXP exp
#define R_LOG log
#define R_SQRT sqrt
#define R_FABS fabs
#else
#define R_EXP expf
#define R_LOG logf
#define R_SQRT sqrtf
#define R_FABS fabsf
#endif

#define TD_SUM_BLOCK 4096  /* elements per partial sum */
#define TD_SUPER_BLOCKS 256 /* partials kept on the stack at once */
#define TD_ACC_CHUNK 256   /* double accumulators for column-wise sums */


static void pad4(td_shape s, int64_t o[4]) {
    int k = TD_MAX_DIMS - s.ndim;
    for (int j = 0; j < TD_MAX_DIMS; j++) o[j] = j < k ? 1 : s.d[j - k];
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- elementwise binary ------------------------------------------------- */

#define OP_ADD(x, y) ((x) + (y))
#define OP_SUB(x, y) ((x) - (y))
#define OP_MUL(x, y) ((x) * (y))
#define OP_DIV(x, y) ((x) / (y))

/* Strides are hoisted into four loops so each one is a plain vectorizable
 * loop. o may equal a or b (same-position aliasing is fine elementwise). */
#define ROW_LOOPS(OP)                                                        \
    if (sa && sb) {                                                          \
        for (int64_t i = 0; i < n; i++) o[i] = OP(a[i], b[i]);               \
    } else if (sa) {                                                         \
        const td_real y = *b;                                                \
        for (int64_t i = 0; i < n; i++) o[i] = OP(a[i], y);                  \
    } else if (sb) {                                                         \
        const td_real x = *a;                                                \
        for (int64_t i = 0; i < n; i++) o[i] = OP(x, b[i]);                  \
    } else {                                                                 \
        const td_real v = OP(*a, *b);                                        \
        for (int64_t i = 0; i < n; i++) o[i] = v;                            \
    }

static void row_op(td_binop op, td_real *o, const td_real *a, int sa, const td_real *b, int sb,
                   int64_t n) {
    switch (op) {
    case TD_BIN_ADD: ROW_LOOPS(OP_ADD) break;
    case TD_BIN_SUB: ROW_LOOPS(OP_SUB) break;
    case TD_BIN_MUL: ROW_LOOPS(OP_MUL) break;
    case TD_BIN_DIV: ROW_LOOPS(OP_DIV) break;
    default: TD_ASSERT(0, "td_k_binary: unknown op %d", (int)op);
    }
}

/* How an operand (padded dims x) maps onto the output (padded dims o):
 * FULL   same shape: flat index;
 * SCALAR one element;
 * SUFFIX leading dims 1, the rest equal to o's: x repeats every x.size
 *        elements ([R,C] op [C], [B,R,C] op [R,C]);
 * PREFIX trailing dims 1, the rest equal: each x element covers
 *        out.size / x.size consecutive outputs ([R,C] op [R,1]). */
enum { BC_FULL, BC_SCALAR, BC_SUFFIX, BC_PREFIX, BC_OTHER };

static int classify(const int64_t x[4], const int64_t o[4], int64_t xsize) {
    int j = 0, full = 1, suffix = 1, prefix = 1;
    for (j = 0; j < 4; j++) full &= x[j] == o[j];
    if (full) return BC_FULL;
    if (xsize == 1) return BC_SCALAR;
    for (j = 0; j < 4 && x[j] == 1; j++) {}
    for (; j < 4; j++) suffix &= x[j] == o[j];
    for (j = 3; j >= 0 && x[j] == 1; j--) {}
    for (; j >= 0; j--) prefix &= x[j] == o[j];
    return suffix ? BC_SUFFIX : prefix ? BC_PREFIX : BC_OTHER;
}

/* R rows of C outputs; row r reads a at a + r*ar (column stride ac), etc. */
static void run_rows(td_binop op, td_real *o, const td_real *a, int64_t ar, int ac,
                     const td_real *b, int64_t br, int bc, int64_t R, int64_t C) {
    if (R * C > TD_PARALLEL_MIN) {
        TD_OMP_FOR for (int64_t r = 0; r < R; r++)
            row_op(op, o + r * C, a + r * ar, ac, b + r * br, bc, C);
    } else {
        for (int64_t r = 0; r < R; r++) row_op(op, o + r * C, a + r * ar, ac, b + r * br, bc, C);
    }
}

/* A flat loop cut into TD_SUM_BLOCK-sized rows so it can go parallel. */
static void run_flat(td_binop op, td_real *o, const td_real *a, int sa, const td_real *b, int sb,
                     int64_t n) {
    const int64_t C = TD_SUM_BLOCK, R = n / C, done = R * C;
    run_rows(op, o, a, sa * C, sa, b, sb * C, sb, R, C);
    if (done < n) row_op(op, o + done, a + done * sa, sa, b + done * sb, sb, n - done);
}

static void assert_shape(const char *who, td_shape want, td_shape got) {
    if (td_shape_equal(want, got)) return;
    char w[64], g[64];
    td_fatal_at(__FILE__, __LINE__, "%s: output is %s, expected %s", who,
                td_shape_str(got, g, sizeof g), td_shape_str(want, w, sizeof w));
}

void TD_ISA_FN(td_k_binary)(td_binop op, td_tensor *out, const td_tensor *a, const td_tensor *b) {
    td_shape bs;
    TD_ASSERT(td_shape_broadcast(a->shape, b->shape, &bs) == 0, "td_k_binary: %s", td_error());
    assert_shape("td_k_binary", bs, out->shape);
    const int64_t n = out->size;
    if (n == 0) return;
    int64_t o4[4], a4[4], b4[4];
    pad4(out->shape, o4), pad4(a->shape, a4), pad4(b->shape, b4);
    const int ka = classify(a4, o4, a->size), kb = classify(b4, o4, b->size);
    td_real *o = out->data;
    const td_real *x = a->data, *y = b->data;

    if (ka == BC_FULL && (kb == BC_FULL || kb == BC_SCALAR)) {
        run_flat(op, o, x, 1, y, kb == BC_FULL, n);
    } else if (kb == BC_FULL && ka == BC_SCALAR) {
        run_flat(op, o, x, 0, y, 1, n);
    } else if (ka == BC_FULL && kb == BC_SUFFIX) {
        run_rows(op, o, x, b->size, 1, y, 0, 1, n / b->size, b->size);
    } else if (kb == BC_FULL && ka == BC_SUFFIX) {
        run_rows(op, o, x, 0, 1, y, a->size, 1, n / a->size, a->size);
    } else if (ka == BC_FULL && kb == BC_PREFIX) {
        run_rows(op, o, x, n / b->size, 1, y, 1, 0, b->size, n / b->size);
    } else if (kb == BC_FULL && ka == BC_PREFIX) {
        run_rows(op, o, x, 1, 0, y, n / a->size, 1, a->size, n / a->size);
    } else {
        /* General case: rows along the last dim, stride 0 on broadcast dims. */
        int64_t sa[4], sb[4], ra = 1, rb = 1;
        for (int j = 3; j >= 0; j--) {
            sa[j] = a4[j] == 1 ? 0 : ra;
            sb[j] = b4[j] == 1 ? 0 : rb;
            ra *= a4[j], rb *= b4[j];
        }
        const int64_t R = o4[0] * o4[1] * o4[2], C = o4[3];
        PAR_FOR_IF(n > TD_PARALLEL_MIN, r, R,
            const int64_t i2 = r % o4[2], i1 = (r / o4[2]) % o4[1], i0 = r / (o4[2] * o4[1]);
            row_op(op, o + r * C, x + i0 * sa[0] + i1 * sa[1] + i2 * sa[2], (int)sa[3],
                   y + i0 * sb[0] + i1 * sb[1] + i2 * sb[2], (int)sb[3], C););
    }
}

/* ---- elementwise unary -------------------------------------------------- */

void TD_ISA_FN(td_k_unary)(td_unop op, td_tensor *out, const td_tensor *a) {
    TD_ASSERT(out->size == a->size, "td_k_unary: sizes differ (%lld vs %lld)",
              (long long)out->size, (long long)a->size);
    td_real *o = out->data;
    const td_real *x = a->data;
    const int64_t n = a->size;
#define UN(EXPR) PAR_FOR(i, n, const td_real v = x[i]; o[i] = (EXPR);); break
    switch (op) {
    case TD_UN_NEG: UN(-v);
    case TD_UN_EXP: UN(R_EXP(v));
    case TD_UN_LOG: UN(R_LOG(v));
    case TD_UN_SOFTPLUS: UN(td_softplus_r(v));
    case TD_UN_SIGMOID: UN(td_sigmoid_r(v));
    case TD_UN_LOGSIGMOID: UN(-td_softplus_r(-v));
    case TD_UN_TANH: UN(td_tanh_r(v));
    /* v < 0 ? 0 : v rather than v > 0 ? v : 0 so a NaN passes through. */
    case TD_UN_RELU: UN(v < 0 ? (td_real)0 : v);
    case TD_UN_SQUARE: UN(v * v);
    case TD_UN_SQRT: UN(R_SQRT(v));
    case TD_UN_ABS: UN(R_FABS(v));
    default: TD_ASSERT(0, "td_k_unary: unknown op %d", (int)op);
    }
#undef UN
}

/* The backward of td_k_unary, next to it: dx = f'(x) * g, or dx += it
 * with accumulate. Each derivative uses whichever of the input x and the
 * output y = f(x) is cheaper (sigmoid and tanh from y, softplus from x).
 * A kernel rather than a loop in the op so that it runs on every path's
 * vectors and in parallel: ReLU's backward over the conv VAE's 6 M
 * activations was serial, one of the parts of that step that did not
 * speed up with a second thread.
 * The four arrays are distinct, and g[i] is loaded whatever the
 * derivative selects: without both, GCC left ReLU's loop scalar. */
void TD_ISA_FN(td_k_unary_backward)(td_unop op, td_real *restrict dx, const td_real *restrict x,
                                    const td_real *restrict y, const td_real *restrict g,
                                    int64_t n, int accumulate) {
#define UB(DERIV)                                                              \
    if (accumulate) PAR_FOR(i, n, const td_real gi = g[i]; dx[i] += (DERIV);); \
    else PAR_FOR(i, n, const td_real gi = g[i]; dx[i] = (DERIV););             \
    break
    switch (op) {
    case TD_UN_NEG: UB(-gi);
    case TD_UN_EXP: UB(gi * y[i]);
    case TD_UN_LOG: UB(gi / x[i]);
    case TD_UN_SOFTPLUS: UB(gi * td_sigmoid_r(x[i]));
    case TD_UN_SIGMOID: UB(gi * y[i] * (1 - y[i]));
    case TD_UN_LOGSIGMOID: UB(gi * td_sigmoid_r(-x[i]));
    case TD_UN_TANH: UB(gi * (1 - y[i] * y[i]));
    case TD_UN_RELU: UB(x[i] > 0 ? gi : 0);
    case TD_UN_SQUARE: UB(gi * 2 * x[i]);
    case TD_UN_SQRT: UB(gi * (td_real)0.5 / y[i]);
    case TD_UN_ABS: UB(x[i] > 0 ? gi : x[i] < 0 ? -gi : 0);
    default: TD_ASSERT(0, "td_k_unary_backward: unknown op %d", (int)op);
    }
#undef UB
}

void TD_ISA_FN(td_k_affine)(td_tensor *out, const td_tensor *a, td_real mul, td_real add) {
    TD_ASSERT(out->size == a->size, "td_k_affine: sizes differ (%lld vs %lld)",
              (long long)out->size, (long long)a->size);
    td_real *o = out->data;
    const td_real *x = a->data;
    PAR_FOR(i, a->size, o[i] = x[i] * mul + add;);
}

void TD_ISA_FN(td_k_axpy)(td_tensor *y, td_real alpha, const td_tensor *x) {
    TD_ASSERT(y->size == x->size, "td_k_axpy: sizes differ (%lld vs %lld)",
              (long long)y->size, (long long)x->size);
    td_real *o = y->data;
    const td_real *v = x->data;
    PAR_FOR(i, x->size, o[i] += alpha * v[i];);
}

/* ---- reductions over everything ----------------------------------------- */

/* Sum of n elements in double with 8 independent lanes (vectorizable without
 * reassociation), lanes added in a fixed order. */
static double block_sum(const td_real *x, int64_t n) {
    double s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += x[i + l];
    for (int l = 0; i < n; i++, l++) s[l] += x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Maximum, propagating NaN (once m is NaN every comparison keeps it). */
static td_real block_max(const td_real *x, int64_t n, td_real m) {
    for (int64_t i = 0; i < n; i++) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
    return m;
}

double TD_ISA_FN(td_k_sum)(const td_tensor *a) {
    const td_real *x = a->data;
    const int64_t n = a->size, super = (int64_t)TD_SUPER_BLOCKS * TD_SUM_BLOCK;
    double total = 0;
    /* Super-blocks only bound the stack buffer; the tree is: partials of
     * TD_SUM_BLOCK elements, added left to right. */
    for (int64_t s = 0; s < n; s += super) {
        const int64_t m = min64(n - s, super), nb = (m + TD_SUM_BLOCK - 1) / TD_SUM_BLOCK;
        double part[TD_SUPER_BLOCKS];
        PAR_FOR_IF(m > TD_PARALLEL_MIN, b, nb,
            part[b] = block_sum(x + s + b * TD_SUM_BLOCK, min64(TD_SUM_BLOCK, m - b * TD_SUM_BLOCK)););
        for (int64_t b = 0; b < nb; b++) total += part[b];
    }
    return total;
}

double TD_ISA_FN(td_k_max)(const td_tensor *a) {
    const td_real *x = a->data;
    const int64_t n = a->size, nb = (n + TD_SUM_BLOCK - 1) / TD_SUM_BLOCK;
    td_real m = -INFINITY;
    if (n > TD_PARALLEL_MIN) {
        /* max is order-independent (NaN included, see block_max), so a
         * per-thread result combined in any order is still exact. */
#ifdef _OPENMP
#pragma omp parallel
#endif
        {
            td_real mine = -INFINITY;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t b = 0; b < nb; b++)
                mine = block_max(x + b * TD_SUM_BLOCK, min64(TD_SUM_BLOCK, n - b * TD_SUM_BLOCK), mine);
#ifdef _OPENMP
#pragma omp critical(td_k_max)
#endif
            m = block_max(&mine, 1, m);
        }
    } else {
        m = block_max(x, n, m);
    }
    return m;
}

/* ---- binary cross-entropy with logits ------------------------------------ */

/* loss = softplus(x) - y x and (d not NULL) d = sigmoid(x) - y over n
 * elements, from one t = e^-|x| each; the loop vectorizes (vmath.h). */
static void bce_run(const td_real *restrict x, const td_real *restrict y, int64_t n,
                    td_real *restrict loss, td_real *restrict d) {
    if (d) {
        for (int64_t j = 0; j < n; j++) {
            const td_real v = x[j], t = td_exp_neg_abs(v);
            loss[j] = td_softplus_from(v, t) - y[j] * v;
            d[j] = td_sigmoid_from(v, t) - y[j];
        }
    } else {
        for (int64_t j = 0; j < n; j++) loss[j] = td_softplus_r(x[j]) - y[j] * x[j];
    }
}

#define BCE_CHUNK 1024 /* elements of a row in the stack buffer at once */

/* One row's loss: chunks summed with block_sum, chunk sums in order. */
static td_real bce_row(const td_real *x, const td_real *y, int64_t n, td_real *d) {
    td_real l[BCE_CHUNK];
    double total = 0;
    for (int64_t j = 0; j < n; j += BCE_CHUNK) {
        const int64_t len = min64(BCE_CHUNK, n - j);
        bce_run(x + j, y + j, len, l, d ? d + j : NULL);
        total += block_sum(l, len);
    }
    return (td_real)total;
}

void TD_ISA_FN(td_k_bce_logits_rows)(const td_real *x, const td_real *y, int64_t rows, int64_t cols,
                          td_real *loss, td_real *dlogits) {
    PAR_FOR_IF(rows * cols > TD_PARALLEL_MIN, r, rows,
        loss[r] = bce_row(x + r * cols, y + r * cols, cols, dlogits ? dlogits + r * cols : NULL););
}

void TD_ISA_FN(td_k_bce_logits)(const td_real *x, const td_real *y, int64_t n, td_real *loss,
                     td_real *dlogits) {
    const int64_t nb = (n + BCE_CHUNK - 1) / BCE_CHUNK;
    PAR_FOR_IF(n > TD_PARALLEL_MIN, b, nb,
        const int64_t j = b * BCE_CHUNK;
        bce_run(x + j, y + j, min64(BCE_CHUNK, n - j), loss + j, dlogits ? dlogits + j : NULL););
}

void TD_ISA_FN(td_k_add_scaled_rows)(td_real *y, const td_real *scale, const td_real *x, int64_t rows,
                          int64_t cols, int accumulate) {
    PAR_FOR_IF(rows * cols > TD_PARALLEL_MIN, r, rows,
        td_real *restrict yr = y + r * cols;
        const td_real *restrict xr = x + r * cols;
        const td_real s = scale[r];
        if (accumulate)
            for (int64_t j = 0; j < cols; j++) yr[j] += s * xr[j];
        else
            for (int64_t j = 0; j < cols; j++) yr[j] = s * xr[j];);
}

/* ---- reductions over one axis ------------------------------------------- */

/* a seen as [outer, len, inner] around the axis. */
typedef struct { int64_t outer, len, inner; } axis_view;

static axis_view axis_split(const char *who, const td_tensor *out, const td_tensor *a, int axis) {
    TD_ASSERT(axis >= 0 && axis < a->shape.ndim, "%s: axis %d out of range for %d dims", who,
              axis, a->shape.ndim);
    td_shape want = a->shape;
    want.d[axis] = 1;
    assert_shape(who, want, out->shape);
    axis_view v = {1, a->shape.d[axis], 1};
    for (int j = 0; j < axis; j++) v.outer *= a->shape.d[j];
    for (int j = axis + 1; j < a->shape.ndim; j++) v.inner *= a->shape.d[j];
    return v;
}

typedef enum { RED_SUM, RED_MAX, RED_LSE } red_kind;

/* One output row: a contiguous run of len elements (inner == 1). */
static td_real reduce_run(red_kind k, const td_real *x, int64_t len) {
    if (k == RED_SUM) return (td_real)block_sum(x, len);
    const td_real m = block_max(x, len, -INFINITY);
    if (k == RED_MAX || isinf(m)) return m; /* all -inf (or empty): -inf; any +inf: +inf */
    double s = 0;
    for (int64_t j = 0; j < len; j++) s += R_EXP(x[j] - m);
    return (td_real)(m + log(s));
}

/* Outputs c0..c0+cn-1 of one outer index, reduced over len with stride
 * inner; summed in double in the order j = 0..len-1. */
static void reduce_cols(red_kind k, td_real *o, const td_real *x, int64_t len, int64_t inner,
                        int64_t cn) {
    td_real m[TD_ACC_CHUNK];
    double s[TD_ACC_CHUNK];
    if (k == RED_SUM) {
        for (int64_t c = 0; c < cn; c++) s[c] = 0;
        for (int64_t j = 0; j < len; j++)
            for (int64_t c = 0; c < cn; c++) s[c] += x[j * inner + c];
        for (int64_t c = 0; c < cn; c++) o[c] = (td_real)s[c];
        return;
    }
    for (int64_t c = 0; c < cn; c++) m[c] = -INFINITY;
    for (int64_t j = 0; j < len; j++)
        for (int64_t c = 0; c < cn; c++) {
            const td_real v = x[j * inner + c];
            m[c] = (v > m[c] || v != v) ? v : m[c];
        }
    if (k == RED_MAX) {
        memcpy(o, m, (size_t)cn * sizeof *o);
        return;
    }
    /* Shift by the max; an infinite max (all -inf, or a +inf) is the answer
     * itself, and shifting by it would make inf - inf = NaN. */
    td_real shift[TD_ACC_CHUNK];
    for (int64_t c = 0; c < cn; c++) shift[c] = isinf(m[c]) ? 0 : m[c], s[c] = 0;
    for (int64_t j = 0; j < len; j++)
        for (int64_t c = 0; c < cn; c++) s[c] += R_EXP(x[j * inner + c] - shift[c]);
    for (int64_t c = 0; c < cn; c++) o[c] = isinf(m[c]) ? m[c] : (td_real)(m[c] + log(s[c]));
}

static void reduce_axis(red_kind k, const char *who, td_tensor *out, const td_tensor *a, int axis) {
    const axis_view v = axis_split(who, out, a, axis);
    const td_real *x = a->data;
    td_real *o = out->data;
    if (k == RED_SUM && v.outer * v.inner == 1) {
        o[0] = (td_real)td_k_sum(a); /* one output: use the parallel blocked sum */
        return;
    }
    if (k == RED_MAX && v.outer * v.inner == 1) {
        o[0] = (td_real)td_k_max(a);
        return;
    }
    if (v.inner == 1) {
        PAR_FOR_IF(a->size > TD_PARALLEL_MIN, r, v.outer, o[r] = reduce_run(k, x + r * v.len, v.len););
        return;
    }
    /* Jobs are (outer index, chunk of TD_ACC_CHUNK columns). */
    const int64_t nch = (v.inner + TD_ACC_CHUNK - 1) / TD_ACC_CHUNK;
    PAR_FOR_IF(a->size > TD_PARALLEL_MIN, q, v.outer * nch,
        const int64_t r = q / nch, c0 = (q % nch) * TD_ACC_CHUNK;
        reduce_cols(k, o + r * v.inner + c0, x + r * v.len * v.inner + c0, v.len, v.inner,
                    min64(TD_ACC_CHUNK, v.inner - c0)););
}

void TD_ISA_FN(td_k_sum_axis)(td_tensor *out, const td_tensor *a, int axis) {
    reduce_axis(RED_SUM, "td_k_sum_axis", out, a, axis);
}
void TD_ISA_FN(td_k_max_axis)(td_tensor *out, const td_tensor *a, int axis) {
    reduce_axis(RED_MAX, "td_k_max_axis", out, a, axis);
}
void TD_ISA_FN(td_k_logsumexp_axis)(td_tensor *out, const td_tensor *a, int axis) {
    reduce_axis(RED_LSE, "td_k_logsumexp_axis", out, a, axis);
}

/* ---- folding broadcast gradients back ------------------------------------ */

/* o_p plus the sum of the g elements that broadcast from output p: on
 * broadcast dims the index runs over g's extent, elsewhere it is fixed. */
static td_real fold_one(td_real o_p, const td_real *x, int64_t p, const int64_t o4[4],
                        const int64_t g4[4], const int64_t gs[4]) {
    int64_t lo[4], hi[4];
    for (int j = 3; j >= 0; j--) {
        const int64_t idx = p % o4[j];
        p /= o4[j];
        const int bc = o4[j] == 1 && g4[j] != 1;
        lo[j] = bc ? 0 : idx;
        hi[j] = bc ? g4[j] : idx + 1;
    }
    double s = o_p;
    for (int64_t i0 = lo[0]; i0 < hi[0]; i0++)
        for (int64_t i1 = lo[1]; i1 < hi[1]; i1++)
            for (int64_t i2 = lo[2]; i2 < hi[2]; i2++)
                for (int64_t i3 = lo[3]; i3 < hi[3]; i3++)
                    s += x[i0 * gs[0] + i1 * gs[1] + i2 * gs[2] + i3 * gs[3]];
    return (td_real)s;
}

void TD_ISA_FN(td_k_reduce_add_to)(td_tensor *out, const td_tensor *g) {
    int64_t o4[4], g4[4];
    pad4(out->shape, o4), pad4(g->shape, g4);
    int ok = 1;
    for (int j = 0; j < 4; j++) ok &= o4[j] == g4[j] || o4[j] == 1;
    if (!ok) {
        char so[64], sg[64];
        td_fatal_at(__FILE__, __LINE__, "td_k_reduce_add_to: %s does not broadcast to %s",
                    td_shape_str(out->shape, so, sizeof so), td_shape_str(g->shape, sg, sizeof sg));
    }
    td_real *o = out->data;
    const td_real *x = g->data;
    const int64_t n = g->size;
    if (out->size == 0 || n == 0) return;
    switch (classify(o4, g4, out->size)) {
    case BC_FULL:
        PAR_FOR(i, n, o[i] += x[i];);
        return;
    case BC_SCALAR:
        o[0] = (td_real)(o[0] + td_k_sum(g));
        return;
    case BC_PREFIX: { /* [R,C] -> [R,1]: one contiguous run per output */
        const int64_t C = n / out->size;
        PAR_FOR_IF(n > TD_PARALLEL_MIN, r, out->size,
                   o[r] = (td_real)(o[r] + block_sum(x + r * C, C)););
        return;
    }
    case BC_SUFFIX: { /* [R,C] -> [C]: column sums, R rows in order */
        const int64_t C = out->size, R = n / C, nch = (C + TD_ACC_CHUNK - 1) / TD_ACC_CHUNK;
        PAR_FOR_IF(n > TD_PARALLEL_MIN, q, nch,
            const int64_t c0 = q * TD_ACC_CHUNK, cn = min64(TD_ACC_CHUNK, C - c0);
            double s[TD_ACC_CHUNK];
            for (int64_t c = 0; c < cn; c++) s[c] = o[c0 + c];
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < cn; c++) s[c] += x[r * C + c0 + c];
            for (int64_t c = 0; c < cn; c++) o[c0 + c] = (td_real)s[c];);
        return;
    }
    default:
        break;
    }
    /* General: one output at a time (fold_one); g's row-major strides. */
    int64_t gs[4], acc = 1;
    for (int j = 3; j >= 0; j--) gs[j] = acc, acc *= g4[j];
    PAR_FOR_IF(n > TD_PARALLEL_MIN, p, out->size, o[p] = fold_one(o[p], x, p, o4, g4, gs););
}

/* ---- copies and checks ---------------------------------------------------- */

void TD_ISA_FN(td_k_copy_cols)(td_tensor *dst, int64_t dst_col, const td_tensor *src, int64_t src_col,
                    int64_t ncols) {
    const int64_t dc = dst->shape.d[dst->shape.ndim - 1], sc = src->shape.d[src->shape.ndim - 1];
    const int64_t rows = dc ? dst->size / dc : 0;
    TD_ASSERT((sc ? src->size / sc : 0) == rows, "td_k_copy_cols: %lld rows vs %lld rows",
              (long long)rows, (long long)(sc ? src->size / sc : 0));
    TD_ASSERT(ncols >= 0 && dst_col >= 0 && src_col >= 0 && dst_col + ncols <= dc &&
                  src_col + ncols <= sc,
              "td_k_copy_cols: columns [%lld, %lld) of %lld -> [%lld, %lld) of %lld out of range",
              (long long)src_col, (long long)(src_col + ncols), (long long)sc, (long long)dst_col,
              (long long)(dst_col + ncols), (long long)dc);
    for (int64_t r = 0; r < rows; r++)
        memmove(dst->data + r * dc + dst_col, src->data + r * sc + src_col,
                (size_t)ncols * sizeof(td_real));
}

int TD_ISA_FN(td_k_all_finite)(const td_tensor *a) {
    const td_real *x = a->data;
    const int64_t n = a->size;
    int bad = 0;
    /* x - x is 0 for finite x and NaN for inf/NaN: branch-free. */
    if (n > TD_PARALLEL_MIN) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(| : bad)
#endif
        for (int64_t i = 0; i < n; i++) bad |= !(x[i] - x[i] == 0);
    } else {
        for (int64_t i = 0; i < n; i++) bad |= !(x[i] - x[i] == 0);
    }
    return !bad;
}

void TD_ISA_FN(td_k_zero)(td_real *x, int64_t n) { PAR_FOR(i, n, x[i] = 0;); }

void TD_ISA_FN(td_k_fill_rows)(td_real *out, const td_real *row, int64_t rows, int64_t cols) {
    PAR_FOR_IF(rows * cols > TD_PARALLEL_MIN, r, rows,
        memcpy(out + r * cols, row, (size_t)cols * sizeof(td_real)););
}

/* ---- transpose ---------------------------------------------------------------
 * dst tiles of TILE x TILE (4 KB of float each side, in L1), the tiles in
 * row-major order of dst split among the threads; inside a tile, VB x VB
 * blocks transposed in registers where whole, element by element at the
 * edges. Every dst element is written once, by the same expression in
 * every path but the register shuffles, so threads change nothing. */
#if !defined(TD_DOUBLE) && defined(__AVX__)
#include <immintrin.h>
#define TR_VB 8
#elif !defined(TD_DOUBLE) && defined(__SSE2__)
#include <emmintrin.h>
#define TR_VB 4
#else
#define TR_VB 1
#endif
#define TR_TILE 32

/* the VB x VB block at s (row stride ls) into d (row stride ld), transposed */
static inline void tr_block(const td_real *s, int64_t ls, td_real *d, int64_t ld, const td_real *a,
                            int acc) {
#if TR_VB == 8
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ls), r2 = _mm256_loadu_ps(s + 2 * ls),
           r3 = _mm256_loadu_ps(s + 3 * ls), r4 = _mm256_loadu_ps(s + 4 * ls),
           r5 = _mm256_loadu_ps(s + 5 * ls), r6 = _mm256_loadu_ps(s + 6 * ls),
           r7 = _mm256_loadu_ps(s + 7 * ls);
    /* pairs of rows interleaved, then pairs of pairs, then 128-bit halves */
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    __m256 o[8] = {_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                   _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                   _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                   _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
    const __m256 av = a ? _mm256_loadu_ps(a) : _mm256_setzero_ps();
    for (int u = 0; u < 8; u++) {
        if (a) o[u] = _mm256_add_ps(o[u], av);
        if (acc) o[u] = _mm256_add_ps(_mm256_loadu_ps(d + u * ld), o[u]);
        _mm256_storeu_ps(d + u * ld, o[u]);
    }
#elif TR_VB == 4
    __m128 o[4] = {_mm_loadu_ps(s), _mm_loadu_ps(s + ls), _mm_loadu_ps(s + 2 * ls),
                   _mm_loadu_ps(s + 3 * ls)};
    _MM_TRANSPOSE4_PS(o[0], o[1], o[2], o[3]);
    const __m128 av = a ? _mm_loadu_ps(a) : _mm_setzero_ps();
    for (int u = 0; u < 4; u++) {
        if (a) o[u] = _mm_add_ps(o[u], av);
        if (acc) o[u] = _mm_add_ps(_mm_loadu_ps(d + u * ld), o[u]);
        _mm_storeu_ps(d + u * ld, o[u]);
    }
#else
    const td_real v = a ? *s + *a : *s;
    *d = acc ? *d + v : v;
    (void)ls, (void)ld;
#endif
}

void TD_ISA_FN(td_k_transpose)(const td_real *src, int64_t rows, int64_t cols, const td_real *add,
                               int64_t group, int accumulate, td_real *dst) {
    const int64_t ti = (rows + TR_TILE - 1) / TR_TILE, tj = (cols + TR_TILE - 1) / TR_TILE;
    PAR_FOR_IF(rows * cols > TD_PARALLEL_MIN, t, ti * tj, {
        /* tile (j0, i0) of dst: its rows j0.., columns i0.. */
        const int64_t j0 = t / ti * TR_TILE, i0 = t % ti * TR_TILE;
        const int64_t j1 = min64(j0 + TR_TILE, cols), i1 = min64(i0 + TR_TILE, rows);
        td_real a[TR_TILE]; /* add[] for this tile's rows of src */
        if (add)
            for (int64_t i = i0; i < i1; i++) a[i - i0] = add[i / group];
        int64_t i = i0;
        for (; i + TR_VB <= i1; i += TR_VB) {
            int64_t j = j0;
            for (; j + TR_VB <= j1; j += TR_VB)
                tr_block(src + i * cols + j, cols, dst + j * rows + i, rows, add ? a + (i - i0) : NULL,
                         accumulate);
            for (; j < j1; j++)
                for (int64_t u = i; u < i + TR_VB; u++) {
                    const td_real v = add ? src[u * cols + j] + a[u - i0] : src[u * cols + j];
                    dst[j * rows + u] = accumulate ? dst[j * rows + u] + v : v;
                }
        }
        for (; i < i1; i++)
            for (int64_t j = j0; j < j1; j++) {
                const td_real v = add ? src[i * cols + j] + a[i - i0] : src[i * cols + j];
                dst[j * rows + i] = accumulate ? dst[j * rows + i] + v : v;
            }
    });
}

/* ---- optimizer updates ---------------------------------------------------
 * One fused loop over the contiguous parameter, gradient and moment blocks;
 * elementwise, so the thread split cannot change a bit (PAR_FOR gives each
 * thread whole blocks: see parallel.h for why). */

void TD_ISA_FN(td_k_sgd_update)(td_real *restrict p, const td_real *restrict g,
                                td_real *restrict buf, int64_t n, td_sgd_coef c) {
    const td_real wd = c.weight_decay, mu = c.momentum, a = c.lr;
    const int nesterov = c.nesterov, use_mom = c.momentum != 0;
    PAR_FOR(i, n, {
        td_real d = g[i] + wd * p[i];
        if (use_mom) {
            buf[i] = mu * buf[i] + d;
            d = nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= a * d;
    });
}

void TD_ISA_FN(td_k_adam_update)(td_real *restrict p, const td_real *restrict g,
                                 td_real *restrict m, td_real *restrict v, int64_t n,
                                 td_adam_coef c) {
    const td_real b1 = c.beta1, b2 = c.beta2, eps = c.eps, l2 = c.l2, shrink = c.shrink,
                  step_size = c.step_size, bc2_sqrt = c.bc2_sqrt;
    PAR_FOR(i, n, {
        const td_real gi = g[i] + l2 * p[i];
        const td_real pi = p[i] * shrink;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] = pi - step_size * m[i] / (R_SQRT(v[i]) / bc2_sqrt + eps);
    });
}

/* ---- this path's table ---------------------------------------------------- */
#define TD_KERNEL_ENTRY(f) .f = TD_ISA_FN(f),
const td_kernel_set TD_ISA_FN(td_kernel_set) = {TD_KERNEL_LIST(TD_KERNEL_ENTRY)};
