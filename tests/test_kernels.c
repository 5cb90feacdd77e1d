/* Kernels against independent references: hand-worked cases and naive loops
 * in double (broadcasting by explicit 4-d index arithmetic), stable forms at
 * extreme inputs, reductions on both sides of the parallel threshold, and
 * bit-identical results for 1 and 2 threads. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "tensor/isa.h"
#include "tinyad.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Elementwise tolerance of the build's precision. */
#define RTOL (sizeof(td_real) == 4 ? 2e-6 : 1e-14)

/* Deterministic test data without the RNG under test elsewhere. */
static uint64_t lcg_state = 12345;
static double lcg(void) { /* in [-1, 1) */
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * 0x1p-52 - 1.0;
}
static td_tensor rand_tensor(td_shape s) {
    td_tensor t = td_tensor_zeros(s);
    for (int64_t i = 0; i < t.size; i++) t.data[i] = (td_real)(3 * lcg());
    return t;
}

static void pad(td_shape s, int64_t o[4]) {
    for (int j = 0; j < 4; j++) o[j] = j < 4 - s.ndim ? 1 : s.d[j - (4 - s.ndim)];
}
/* Flat index into x (padded dims x4) of the output position i[4]. */
static int64_t bidx(const int64_t x4[4], const int64_t i[4]) {
    int64_t k = 0;
    for (int j = 0; j < 4; j++) k = k * x4[j] + (x4[j] == 1 ? 0 : i[j]);
    return k;
}

static double ref_op(td_binop op, double x, double y) {
    switch (op) {
    case TD_BIN_ADD: return x + y;
    case TD_BIN_SUB: return x - y;
    case TD_BIN_MUL: return x * y;
    default: return x / y;
    }
}

/* out = a op b via the kernel vs the naive 4-d loop, for all four ops. */
static void check_binary(td_shape sa, td_shape sb, td_shape so) {
    td_tensor a = rand_tensor(sa), b = rand_tensor(sb), o = td_tensor_zeros(so);
    for (int64_t i = 0; i < b.size; i++) b.data[i] += b.data[i] >= 0 ? 1 : -1; /* no /0 */
    int64_t a4[4], b4[4], o4[4];
    pad(sa, a4), pad(sb, b4), pad(so, o4);
    char s1[64], s2[64];
    for (int op = TD_BIN_ADD; op <= TD_BIN_DIV; op++) {
        td_k_binary((td_binop)op, &o, &a, &b);
        int bad = 0;
        int64_t i[4], p = 0;
        for (i[0] = 0; i[0] < o4[0]; i[0]++)
            for (i[1] = 0; i[1] < o4[1]; i[1]++)
                for (i[2] = 0; i[2] < o4[2]; i[2]++)
                    for (i[3] = 0; i[3] < o4[3]; i[3]++, p++) {
                        double want = ref_op((td_binop)op, a.data[bidx(a4, i)], b.data[bidx(b4, i)]);
                        bad += fabs(o.data[p] - want) > RTOL * (1 + fabs(want));
                    }
        CHECK(bad == 0, "%s op%d %s: %d wrong", td_shape_str(sa, s1, 64), op,
              td_shape_str(sb, s2, 64), bad);
    }
    td_tensor_release(&a), td_tensor_release(&b), td_tensor_release(&o);
}

/* out += g folded over broadcast dims vs the naive loop over g. */
static void check_reduce_add(td_shape so, td_shape sg) {
    td_tensor o = rand_tensor(so), g = rand_tensor(sg);
    int64_t o4[4], g4[4];
    pad(so, o4), pad(sg, g4);
    double *want = calloc((size_t)o.size, sizeof *want);
    for (int64_t k = 0; k < o.size; k++) want[k] = o.data[k];
    int64_t i[4], p = 0;
    for (i[0] = 0; i[0] < g4[0]; i[0]++)
        for (i[1] = 0; i[1] < g4[1]; i[1]++)
            for (i[2] = 0; i[2] < g4[2]; i[2]++)
                for (i[3] = 0; i[3] < g4[3]; i[3]++, p++) want[bidx(o4, i)] += g.data[p];
    td_k_reduce_add_to(&o, &g);
    int bad = 0;
    for (int64_t k = 0; k < o.size; k++)
        bad += fabs(o.data[k] - want[k]) > RTOL * 4 * (1 + sqrt((double)g.size));
    char s1[64], s2[64];
    CHECK(bad == 0, "reduce %s <- %s: %d wrong", td_shape_str(so, s1, 64), td_shape_str(sg, s2, 64),
          bad);
    free(want);
    td_tensor_release(&o), td_tensor_release(&g);
}

/* Axis reductions vs naive loops over [outer, len, inner]. */
static void check_axis(td_shape s, int axis) {
    td_tensor a = rand_tensor(s);
    td_shape rs = s;
    rs.d[axis] = 1;
    td_tensor o = td_tensor_zeros(rs);
    int64_t outer = 1, len = s.d[axis], inner = 1;
    for (int j = 0; j < axis; j++) outer *= s.d[j];
    for (int j = axis + 1; j < s.ndim; j++) inner *= s.d[j];
    for (int kind = 0; kind < 3; kind++) {
        if (kind == 0) td_k_sum_axis(&o, &a, axis);
        if (kind == 1) td_k_max_axis(&o, &a, axis);
        if (kind == 2) td_k_logsumexp_axis(&o, &a, axis);
        int bad = 0;
        for (int64_t r = 0; r < outer; r++)
            for (int64_t c = 0; c < inner; c++) {
                double sum = 0, mx = -INFINITY, se = 0;
                for (int64_t j = 0; j < len; j++) {
                    double v = a.data[(r * len + j) * inner + c];
                    sum += v;
                    mx = v > mx ? v : mx;
                    se += exp(v);
                }
                double want = kind == 0 ? sum : kind == 1 ? mx : log(se);
                bad += fabs(o.data[r * inner + c] - want) > RTOL * 4 * (1 + fabs(want) + sqrt((double)len));
            }
        char b[64];
        CHECK(bad == 0, "axis kind %d of %s axis %d: %d wrong", kind, td_shape_str(s, b, 64), axis,
              bad);
    }
    td_tensor_release(&a), td_tensor_release(&o);
}

static int same_bits(const td_tensor *x, const td_tensor *y) {
    return x->size == y->size && !memcmp(x->data, y->data, (size_t)x->size * sizeof(td_real));
}

static void test_binary(void) {
    /* hand-worked: [2,2] + [2], [2,1] * [1,2], scalar - [2,2] */
    td_real av[4] = {1, 2, 3, 4}, bv[2] = {10, 20};
    td_tensor a = td_tensor_from(TD_SHAPE(2, 2), av), b = td_tensor_from(TD_SHAPE(2), bv);
    td_tensor o = td_tensor_zeros(TD_SHAPE(2, 2));
    td_k_binary(TD_BIN_ADD, &o, &a, &b);
    CHECK(o.data[0] == 11 && o.data[1] == 22 && o.data[2] == 13 && o.data[3] == 24, "[2,2]+[2]");
    td_tensor col = td_tensor_from(TD_SHAPE(2, 1), bv), row = td_tensor_from(TD_SHAPE(1, 2), av);
    td_k_binary(TD_BIN_MUL, &o, &col, &row);
    CHECK(o.data[0] == 10 && o.data[1] == 20 && o.data[2] == 20 && o.data[3] == 40, "outer");
    td_tensor s = td_tensor_full(TD_SHAPE(1), 5);
    td_k_binary(TD_BIN_SUB, &o, &s, &a);
    CHECK(o.data[0] == 4 && o.data[3] == 1, "scalar - [2,2]");
    td_k_binary(TD_BIN_DIV, &a, &a, &b); /* in place, out aliases a */
    CHECK(a.data[0] == (td_real)0.1 && a.data[3] == (td_real)0.2, "in-place div");
    td_tensor_release(&a), td_tensor_release(&b), td_tensor_release(&o);
    td_tensor_release(&col), td_tensor_release(&row), td_tensor_release(&s);

    /* every fast path, its mirror, and the general fallback */
    check_binary(TD_SHAPE(3, 4), TD_SHAPE(3, 4), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(3, 4), TD_SHAPE(4), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(3, 4), TD_SHAPE(1, 4), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(4), TD_SHAPE(3, 4), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(3, 4), TD_SHAPE(3, 1), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(3, 1), TD_SHAPE(3, 4), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(3, 1), TD_SHAPE(1, 4), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(2, 3, 4), TD_SHAPE(3, 1), TD_SHAPE(2, 3, 4));
    check_binary(TD_SHAPE(2, 3, 4), TD_SHAPE(3, 4), TD_SHAPE(2, 3, 4));
    check_binary(TD_SHAPE(2, 3, 4), TD_SHAPE(2, 1, 1), TD_SHAPE(2, 3, 4));
    check_binary(TD_SHAPE(2, 1, 4), TD_SHAPE(3, 1), TD_SHAPE(2, 3, 4));
    check_binary(TD_SHAPE(2, 3, 4, 5), TD_SHAPE(3, 1, 5), TD_SHAPE(2, 3, 4, 5));
    check_binary(TD_SHAPE(2, 1, 4, 1), TD_SHAPE(1, 3, 1, 5), TD_SHAPE(2, 3, 4, 5));
    check_binary(TD_SHAPE(1), TD_SHAPE(3, 4), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(3, 4), TD_SHAPE(1, 1), TD_SHAPE(3, 4));
    check_binary(TD_SHAPE(1), TD_SHAPE(1), TD_SHAPE(1));
    check_binary(TD_SHAPE(0, 4), TD_SHAPE(4), TD_SHAPE(0, 4));
    /* above TD_PARALLEL_MIN, including a ragged tail */
    check_binary(TD_SHAPE(40001), TD_SHAPE(40001), TD_SHAPE(40001));
    check_binary(TD_SHAPE(300, 201), TD_SHAPE(201), TD_SHAPE(300, 201));
    check_binary(TD_SHAPE(300, 201), TD_SHAPE(300, 1), TD_SHAPE(300, 201));
    check_binary(TD_SHAPE(50, 40, 30), TD_SHAPE(40, 1), TD_SHAPE(50, 40, 30));
    check_binary(TD_SHAPE(1), TD_SHAPE(40001), TD_SHAPE(40001));
}

static void test_unary(void) {
    /* each op vs libm in double on moderate inputs */
    const int n = 2001;
    td_tensor x = td_tensor_zeros(TD_SHAPE(n)), o = td_tensor_zeros(TD_SHAPE(n));
    for (int i = 0; i < n; i++) x.data[i] = (td_real)(-20 + 40.0 * i / (n - 1));
    for (int op = TD_UN_NEG; op <= TD_UN_ABS; op++) {
        td_k_unary((td_unop)op, &o, &x);
        int bad = 0;
        for (int i = 0; i < n; i++) {
            double v = x.data[i], w;
            switch (op) {
            case TD_UN_NEG: w = -v; break;
            case TD_UN_EXP: w = exp(v); break;
            case TD_UN_LOG: w = log(v); break;
            case TD_UN_SOFTPLUS: w = log1p(exp(v)); break; /* libm, no branch */
            case TD_UN_SIGMOID: w = 1 / (1 + exp(-v)); break;
            case TD_UN_LOGSIGMOID: w = -log1p(exp(-v)); break;
            case TD_UN_TANH: w = tanh(v); break;
            case TD_UN_RELU: w = v > 0 ? v : 0; break;
            case TD_UN_SQUARE: w = v * v; break;
            case TD_UN_SQRT: w = sqrt(v); break;
            default: w = fabs(v); break;
            }
            double got = o.data[i];
            if (isnan(w)) bad += !isnan(got); /* log, sqrt of negatives */
            else bad += fabs(got - w) > 4 * RTOL * fabs(w) + 1e-300;
        }
        CHECK(bad == 0, "unary op %d: %d wrong", op, bad);
    }

    /* extreme inputs: the stable forms stay exact and finite */
    td_real ev[8] = {100, -100, 1000, -1000, 0, 30, -30, NAN};
    td_tensor e = td_tensor_from(TD_SHAPE(8), ev), r = td_tensor_zeros(TD_SHAPE(8));
    td_k_unary(TD_UN_SOFTPLUS, &r, &e);
    CHECK(r.data[0] == 100 && r.data[2] == 1000, "softplus(100) = %g", (double)r.data[0]);
    CHECK(r.data[3] == 0 && r.data[1] >= 0 && r.data[1] < 1e-40, "softplus(-100) = %g",
          (double)r.data[1]);
    if (sizeof(td_real) == 8) CHECK_CLOSE(r.data[1], exp(-100.0), 0, 1e-14);
    CHECK_CLOSE(r.data[4], log(2.0), 0, RTOL);
    td_k_unary(TD_UN_LOGSIGMOID, &r, &e);
    CHECK(r.data[1] == -100 && r.data[3] == -1000, "log_sigmoid(-100) = %g", (double)r.data[1]);
    CHECK(r.data[0] <= 0 && r.data[0] > -1e-40 && r.data[2] == 0, "log_sigmoid(100) = %g",
          (double)r.data[0]);
    td_k_unary(TD_UN_SIGMOID, &r, &e);
    CHECK(r.data[0] == 1 && r.data[2] == 1 && r.data[3] == 0 && r.data[1] >= 0 && r.data[1] < 1e-40,
          "sigmoid(+-100, +-1000) = %g %g", (double)r.data[0], (double)r.data[1]);
    CHECK(r.data[4] == (td_real)0.5, "sigmoid(0)");
    CHECK_CLOSE(r.data[6], 1 / (1 + exp(30.0)), 0, 4 * RTOL);
    int finite = 1;
    for (int op = TD_UN_SOFTPLUS; op <= TD_UN_TANH; op++) {
        td_k_unary((td_unop)op, &r, &e);
        for (int i = 0; i < 7; i++) finite &= isfinite(r.data[i]);
        CHECK(isnan(r.data[7]), "op %d passes NaN", op);
    }
    CHECK(finite, "stable forms are finite at +-100, +-1000");
    td_k_unary(TD_UN_RELU, &r, &e);
    CHECK(isnan(r.data[7]) && r.data[1] == 0 && r.data[0] == 100, "relu passes NaN");

    /* in place (out aliases a) */
    td_k_unary(TD_UN_SQUARE, &e, &e);
    CHECK(e.data[1] == 10000, "in-place square");

    /* affine, axpy */
    td_real v3[3] = {1, -2, 3}, w3[3] = {10, 20, 30};
    td_tensor p = td_tensor_from(TD_SHAPE(3), v3), q = td_tensor_from(TD_SHAPE(3), w3);
    td_k_affine(&p, &p, 2, 1);
    CHECK(p.data[0] == 3 && p.data[1] == -3 && p.data[2] == 7, "affine");
    td_k_axpy(&q, -2, &p);
    CHECK(q.data[0] == 4 && q.data[1] == 26 && q.data[2] == 16, "axpy");
    td_tensor_release(&x), td_tensor_release(&o), td_tensor_release(&e), td_tensor_release(&r);
    td_tensor_release(&p), td_tensor_release(&q);
}

/* td_k_unary_backward against each derivative in double, both as dx = and
 * as dx +=. Sigmoid's and tanh's are taken from the forward kernel's y =
 * f(x) as the kernel takes them (1 - y^2 near y = 1 has no more digits than
 * y, so the true derivative is not the reference there). */
static void test_unary_backward(void) {
    const int n = 2001;
    td_tensor x = td_tensor_zeros(TD_SHAPE(n)), y = td_tensor_zeros(TD_SHAPE(n));
    td_tensor g = rand_tensor(TD_SHAPE(n)), dx = td_tensor_zeros(TD_SHAPE(n));
    for (int i = 0; i < n; i++) x.data[i] = (td_real)(-10 + 20.0 * i / (n - 1) + 1e-3);
    for (int op = TD_UN_NEG; op <= TD_UN_ABS; op++) {
        const int positive = op == TD_UN_LOG || op == TD_UN_SQRT;
        td_tensor in = td_tensor_zeros(TD_SHAPE(n));
        for (int i = 0; i < n; i++) in.data[i] = positive ? (td_real)fabs(x.data[i]) : x.data[i];
        td_k_unary((td_unop)op, &y, &in);
        int bad = 0;
        for (int acc = 0; acc < 2; acc++) {
            for (int i = 0; i < n; i++) dx.data[i] = (td_real)(acc ? 0.25 * i : 99);
            td_k_unary_backward((td_unop)op, dx.data, in.data, y.data, g.data, n, acc);
            for (int i = 0; i < n; i++) {
                const double v = in.data[i], s = 1 / (1 + exp(-v)), w = y.data[i];
                double d;
                switch (op) {
                case TD_UN_NEG: d = -1; break;
                case TD_UN_EXP: d = exp(v); break;
                case TD_UN_LOG: d = 1 / v; break;
                case TD_UN_SOFTPLUS: d = s; break;
                case TD_UN_SIGMOID: d = w * (1 - w); break;
                case TD_UN_LOGSIGMOID: d = 1 - s; break;
                case TD_UN_TANH: d = 1 - w * w; break;
                case TD_UN_RELU: d = v > 0; break;
                case TD_UN_SQUARE: d = 2 * v; break;
                case TD_UN_SQRT: d = 0.5 / sqrt(v); break;
                default: d = v > 0 ? 1 : -1; break;
                }
                const double want = (acc ? 0.25 * i : 0) + d * g.data[i];
                /* 1 - y^2 and y (1 - y) in working precision: errors of
                 * a few eps times g, whatever the derivative's size */
                const double scale = fabs(want) + fabs(g.data[i]) * (fabs(d) + 1);
                bad += !(fabs(dx.data[i] - want) <= 8 * RTOL * scale);
            }
        }
        CHECK(bad == 0, "unary backward op %d: %d wrong", op, bad);
        td_tensor_release(&in);
    }
    td_tensor_release(&x), td_tensor_release(&y), td_tensor_release(&g), td_tensor_release(&dx);
}

/* vmath.h against double libm on a dense sweep: the relative error in
 * units of the precision's epsilon. In float these are the vectorized
 * polynomial forms; in double, libm itself. */
static double rel_err(double got, double want) {
    return want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
}

static void test_vmath(void) {
    const double eps = sizeof(td_real) == 4 ? 0x1p-23 : 0x1p-52;
    const int n = 200001;
    double e_exp = 0, e_log1p = 0, e_sp = 0, e_sig = 0, e_tanh = 0;
    for (int i = 0; i < n; i++) {
        const td_real x = (td_real)(-87.0 * i / (n - 1)); /* [-87, 0] */
        e_exp = fmax(e_exp, rel_err(td_exp_nonpos(x), exp((double)x)));
        const td_real u = (td_real)((double)i / (n - 1)); /* [0, 1] */
        e_log1p = fmax(e_log1p, rel_err(td_log1p_unit(u), log1p((double)u)));
        const td_real v = (td_real)(-90.0 + 180.0 * i / (n - 1)); /* [-90, 90] */
        const double dv = v;
        const td_real w = (td_real)(-10.0 + 20.0 * i / (n - 1)); /* [-10, 10], through 0 */
        e_tanh = fmax(e_tanh, rel_err(td_tanh_r(w), tanh((double)w)));
        const double sp = dv > 0 ? dv + log1p(exp(-dv)) : log1p(exp(dv)), sg = 1 / (1 + exp(-dv));
        if (v > -87) { /* below, float results are subnormal and flushed */
            e_sp = fmax(e_sp, rel_err(td_softplus_r(v), sp));
            e_sig = fmax(e_sig, rel_err(td_sigmoid_r(v), sg));
        } else {
            e_sp = fmax(e_sp, fabs(td_softplus_r(v) - sp) > 0x1p-126 ? 1 : 0);
            e_sig = fmax(e_sig, fabs(td_sigmoid_r(v) - sg) > 0x1p-126 ? 1 : 0);
        }
    }
    CHECK(e_exp <= 2 * eps, "exp: max relative error %.2f eps", e_exp / eps);
    CHECK(e_log1p <= 2 * eps, "log1p: max relative error %.2f eps", e_log1p / eps);
    printf("vmath: max relative error exp %.2f, log1p %.2f, softplus %.2f, sigmoid %.2f, tanh %.2f eps\n",
           e_exp / eps, e_log1p / eps, e_sp / eps, e_sig / eps, e_tanh / eps);
    CHECK(e_tanh <= 4 * eps, "tanh: max relative error %.2f eps", e_tanh / eps);
    CHECK(td_tanh_r((td_real)1e-30) == (td_real)1e-30 && td_tanh_r(100) == 1 && td_tanh_r(-100) == -1 &&
              isnan(td_tanh_r(NAN)), "tanh at 1e-30, +-100, NaN");
    CHECK(e_sp <= 4 * eps, "softplus: max relative error %.2f eps", e_sp / eps);
    CHECK(e_sig <= 4 * eps, "sigmoid: max relative error %.2f eps", e_sig / eps);
    /* tiny arguments: log1p(t) ~ t, exp(-0) = 1, flush below ln(FLT_MIN) */
    CHECK(rel_err(td_log1p_unit((td_real)1e-30), 1e-30) <= 2 * eps, "log1p(1e-30)");
    CHECK(td_exp_nonpos(0) == 1 && td_exp_nonpos(-200) == 0 && td_exp_nonpos(-INFINITY) == 0,
          "exp at 0, -200, -inf");
    CHECK(isnan(td_exp_nonpos(NAN)) && isnan(td_softplus_r(NAN)) && isnan(td_sigmoid_r(NAN)),
          "NaN passes through");
}

/* The same functions as the kernels run them: td_k_unary is compiled once
 * per instruction-set path (with fused multiply-adds where the path has
 * them), so this sweep runs each path's own code (meson runs the test on
 * every path). Same bounds as above. */
static void test_vmath_kernels(void) {
    const double eps = sizeof(td_real) == 4 ? 0x1p-23 : 0x1p-52;
    const int64_t n = 200001;
    td_tensor v = td_tensor_zeros(TD_SHAPE(n)), w = td_tensor_zeros(TD_SHAPE(n));
    td_tensor sp = td_tensor_zeros(TD_SHAPE(n)), sg = td_tensor_zeros(TD_SHAPE(n)),
              th = td_tensor_zeros(TD_SHAPE(n));
    for (int64_t i = 0; i < n; i++) {
        v.data[i] = (td_real)(-87.0 + 174.0 * (double)i / (double)(n - 1)); /* [-87, 87] */
        w.data[i] = (td_real)(-10.0 + 20.0 * (double)i / (double)(n - 1));
    }
    td_k_unary(TD_UN_SOFTPLUS, &sp, &v);
    td_k_unary(TD_UN_SIGMOID, &sg, &v);
    td_k_unary(TD_UN_TANH, &th, &w);
    double e_sp = 0, e_sig = 0, e_tanh = 0;
    for (int64_t i = 0; i < n; i++) {
        const double x = v.data[i];
        const double want_sp = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
        e_sp = fmax(e_sp, rel_err(sp.data[i], want_sp));
        e_sig = fmax(e_sig, rel_err(sg.data[i], 1 / (1 + exp(-x))));
        e_tanh = fmax(e_tanh, rel_err(th.data[i], tanh((double)w.data[i])));
    }
    printf("vmath on the %s path: max relative error softplus %.2f, sigmoid %.2f, tanh %.2f eps\n",
           td_isa_name(td_isa_active()), e_sp / eps, e_sig / eps, e_tanh / eps);
    CHECK(e_sp <= 4 * eps, "softplus kernel: max relative error %.2f eps", e_sp / eps);
    CHECK(e_sig <= 4 * eps, "sigmoid kernel: max relative error %.2f eps", e_sig / eps);
    CHECK(e_tanh <= 4 * eps, "tanh kernel: max relative error %.2f eps", e_tanh / eps);
    td_tensor_release(&v), td_tensor_release(&w), td_tensor_release(&sp);
    td_tensor_release(&sg), td_tensor_release(&th);
}

/* The fused cross-entropy kernels against the definition in double. */
static void test_bce(void) {
    const int64_t rows = 5, cols = 1500; /* more than one chunk per row */
    td_tensor x = rand_tensor(TD_SHAPE(rows, cols)), y = td_tensor_zeros(TD_SHAPE(rows, cols));
    for (int64_t i = 0; i < x.size; i++) {
        x.data[i] *= 10; /* logits in [-30, 30) */
        y.data[i] = (td_real)(0.5 + 0.5 * lcg());
    }
    x.data[7] = 100, x.data[8] = -100; /* saturated */
    td_real loss[5], *d = td_alloc(sizeof(td_real) * (size_t)x.size);
    td_real *le = td_alloc(sizeof(td_real) * (size_t)x.size), *de = td_alloc(sizeof(td_real) * (size_t)x.size);
    td_k_bce_logits_rows(x.data, y.data, rows, cols, loss, d);
    td_k_bce_logits(x.data, y.data, x.size, le, de);
    int bad_d = 0, bad_e = 0;
    for (int64_t r = 0; r < rows; r++) {
        double want = 0;
        for (int64_t j = r * cols; j < (r + 1) * cols; j++) {
            const double v = x.data[j], w = y.data[j];
            const double l = (v > 0 ? v + log1p(exp(-v)) : log1p(exp(v))) - w * v;
            const double g = 1 / (1 + exp(-v)) - w;
            want += l;
            bad_d += fabs(d[j] - g) > 8 * RTOL;
            bad_e += fabs(le[j] - l) > 8 * RTOL * (1 + fabs(l)) || de[j] != d[j];
        }
        CHECK_CLOSE(loss[r], want, 0, 8 * RTOL);
    }
    CHECK(bad_d == 0, "bce gradient: %d wrong", bad_d);
    CHECK(bad_e == 0, "elementwise bce: %d wrong", bad_e);
    /* without the gradient buffer: the same losses */
    td_real loss2[5];
    td_k_bce_logits_rows(x.data, y.data, rows, cols, loss2, NULL);
    CHECK(memcmp(loss, loss2, sizeof loss) == 0, "loss is the same without the gradient");

    /* y[r, :] += s[r] x[r, :] */
    td_real s3[2] = {2, -1}, xs[6] = {1, 2, 3, 4, 5, 6}, ys[6] = {1, 1, 1, 1, 1, 1};
    td_k_add_scaled_rows(ys, s3, xs, 2, 3, 1);
    CHECK(ys[0] == 3 && ys[2] == 7 && ys[3] == -3 && ys[5] == -5, "add_scaled_rows");
    td_k_add_scaled_rows(ys, s3, xs, 2, 3, 0); /* y[r, :] = s[r] x[r, :] */
    CHECK(ys[0] == 2 && ys[2] == 6 && ys[3] == -4 && ys[5] == -6, "add_scaled_rows, assigning");
    td_k_fill_rows(ys, s3, 3, 2); /* every row (2, -1) */
    CHECK(ys[0] == 2 && ys[1] == -1 && ys[4] == 2 && ys[5] == -1, "fill_rows");
    td_free(d), td_free(le), td_free(de);
    td_tensor_release(&x), td_tensor_release(&y);
}

static void test_reductions(void) {
    td_real v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    td_tensor a = td_tensor_from(TD_SHAPE(10), v);
    CHECK(td_k_sum(&a) == 55 && td_k_max(&a) == 10, "sum, max of 1..10");
    a.data[3] = -INFINITY;
    CHECK(td_k_max(&a) == 10 && td_k_sum(&a) == -INFINITY, "with -inf");
    a.data[3] = NAN;
    CHECK(isnan(td_k_max(&a)) && isnan(td_k_sum(&a)), "NaN propagates");
    td_tensor_release(&a);

    /* below and above the threshold (and more than one stack super-block) */
    const int64_t sizes[] = {1, 7, 4096, 4097, 32768, 32769, 100003, 1300001};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        td_tensor t = rand_tensor(TD_SHAPE(sizes[k]));
        double sum = 0, mx = -INFINITY;
        for (int64_t i = 0; i < t.size; i++) sum += t.data[i], mx = t.data[i] > mx ? t.data[i] : mx;
        CHECK_CLOSE(td_k_sum(&t), sum, 1e-9, 1e-12);
        CHECK(td_k_max(&t) == mx, "max of %lld", (long long)sizes[k]);
        td_tensor_release(&t);
    }
    td_tensor empty = td_tensor_zeros(TD_SHAPE(0));
    CHECK(td_k_sum(&empty) == 0 && td_k_max(&empty) == -INFINITY, "empty");
    td_tensor_release(&empty);

    /* axis reductions: every axis, small and above the threshold */
    check_axis(TD_SHAPE(7), 0);
    check_axis(TD_SHAPE(3, 4), 0);
    check_axis(TD_SHAPE(3, 4), 1);
    for (int ax = 0; ax < 3; ax++) check_axis(TD_SHAPE(2, 3, 4), ax);
    for (int ax = 0; ax < 4; ax++) check_axis(TD_SHAPE(2, 3, 4, 5), ax);
    check_axis(TD_SHAPE(300, 700), 0); /* inner > TD_ACC_CHUNK: several column chunks */
    check_axis(TD_SHAPE(300, 700), 1);
    check_axis(TD_SHAPE(20, 50, 60), 1);
    check_axis(TD_SHAPE(100000), 0);

    /* logsumexp at extremes: [1000, 1000], all -inf, a -inf among finite,
     * +inf; along the last axis (rows) and the first (columns). */
    td_real lv[8] = {1000, 1000, -INFINITY, -INFINITY, -INFINITY, 0, INFINITY, 1};
    td_tensor l = td_tensor_from(TD_SHAPE(4, 2), lv), lo = td_tensor_zeros(TD_SHAPE(4, 1));
    td_k_logsumexp_axis(&lo, &l, 1);
    CHECK_CLOSE(lo.data[0], 1000 + log(2.0), 0, RTOL);
    CHECK(lo.data[1] == -INFINITY && lo.data[2] == 0 && lo.data[3] == INFINITY,
          "lse rows: %g %g %g", (double)lo.data[1], (double)lo.data[2], (double)lo.data[3]);
    td_tensor lt = td_tensor_zeros(TD_SHAPE(2, 4)), lo2 = td_tensor_zeros(TD_SHAPE(1, 4));
    for (int i = 0; i < 4; i++) lt.data[i] = lv[2 * i], lt.data[4 + i] = lv[2 * i + 1];
    td_k_logsumexp_axis(&lo2, &lt, 0);
    CHECK_CLOSE(lo2.data[0], 1000 + log(2.0), 0, RTOL);
    CHECK(lo2.data[1] == -INFINITY && lo2.data[2] == 0 && lo2.data[3] == INFINITY,
          "lse cols: %g %g %g", (double)lo2.data[1], (double)lo2.data[2], (double)lo2.data[3]);
    td_k_max_axis(&lo2, &lt, 0);
    CHECK(lo2.data[0] == 1000 && lo2.data[1] == -INFINITY && lo2.data[3] == INFINITY, "max cols");
    td_tensor_release(&l), td_tensor_release(&lo), td_tensor_release(&lt), td_tensor_release(&lo2);

    /* reduce_add_to: each fast path, the general case, big sizes */
    check_reduce_add(TD_SHAPE(3, 4), TD_SHAPE(3, 4));
    check_reduce_add(TD_SHAPE(4), TD_SHAPE(3, 4));
    check_reduce_add(TD_SHAPE(1, 4), TD_SHAPE(3, 4));
    check_reduce_add(TD_SHAPE(3, 1), TD_SHAPE(3, 4));
    check_reduce_add(TD_SHAPE(1), TD_SHAPE(3, 4));
    check_reduce_add(TD_SHAPE(1, 1), TD_SHAPE(3, 4));
    check_reduce_add(TD_SHAPE(3, 1), TD_SHAPE(2, 3, 4));
    check_reduce_add(TD_SHAPE(2, 1, 4), TD_SHAPE(2, 3, 4));
    check_reduce_add(TD_SHAPE(1, 3, 1, 5), TD_SHAPE(2, 3, 4, 5));
    check_reduce_add(TD_SHAPE(400, 300), TD_SHAPE(400, 300));
    check_reduce_add(TD_SHAPE(300), TD_SHAPE(400, 300));
    check_reduce_add(TD_SHAPE(400, 1), TD_SHAPE(400, 300));
    check_reduce_add(TD_SHAPE(1), TD_SHAPE(400, 300));
    check_reduce_add(TD_SHAPE(40, 1, 30), TD_SHAPE(40, 100, 30));
}

static void test_copy_finite(void) {
    td_real sv[6] = {1, 2, 3, 4, 5, 6};
    td_tensor src = td_tensor_from(TD_SHAPE(2, 3), sv), dst = td_tensor_zeros(TD_SHAPE(2, 4));
    td_k_copy_cols(&dst, 1, &src, 1, 2); /* dst[:, 1:3] = src[:, 1:3] */
    td_real want[8] = {0, 2, 3, 0, 0, 5, 6, 0};
    CHECK(!memcmp(dst.data, want, sizeof want), "copy_cols");
    td_k_copy_cols(&dst, 3, &src, 0, 1);
    CHECK(dst.data[3] == 1 && dst.data[7] == 4, "copy_cols one column");
    CHECK(td_k_all_finite(&dst), "finite");
    dst.data[5] = INFINITY;
    CHECK(!td_k_all_finite(&dst), "inf");
    dst.data[5] = NAN;
    CHECK(!td_k_all_finite(&dst), "nan");
    td_tensor big = td_tensor_zeros(TD_SHAPE(100000));
    CHECK(td_k_all_finite(&big), "big finite");
    big.data[99999] = -INFINITY;
    CHECK(!td_k_all_finite(&big), "big with -inf at the end");
    td_tensor_release(&src), td_tensor_release(&dst), td_tensor_release(&big);
}

/* td_k_transpose against the plain loop: exact (a copy, plus one add of
 * the row's value and one of the old dst), at sizes below, at and past
 * the 4 x 4 and 8 x 8 blocks and the 32 x 32 tiles, in every mode; and
 * the same bits for 1 and 2 threads past the parallel threshold. */
static void test_transpose(void) {
    static const int64_t sizes[][2] = {{1, 1}, {3, 5}, {8, 8}, {9, 17}, {33, 31}, {128, 49}, {300, 200}};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int mode = 0; mode < 4; mode++) { /* bit 0: add per group of rows; bit 1: accumulate */
            const int64_t r = sizes[si][0], c = sizes[si][1], group = 3;
            const int with_add = mode & 1, acc = mode >> 1;
            td_tensor src = rand_tensor(TD_SHAPE(r, c)), dst = rand_tensor(TD_SHAPE(c, r));
            td_tensor add = rand_tensor(TD_SHAPE((r + group - 1) / group)), want = td_tensor_clone(&dst);
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < c; j++) {
                    const td_real v = with_add ? src.data[i * c + j] + add.data[i / group] : src.data[i * c + j];
                    want.data[j * r + i] = acc ? want.data[j * r + i] + v : v;
                }
            td_k_transpose(src.data, r, c, with_add ? add.data : NULL, group, acc, dst.data);
            CHECK(!memcmp(dst.data, want.data, sizeof(td_real) * (size_t)dst.size),
                  "transpose %lld x %lld, add %d, accumulate %d: not the plain loop's result",
                  (long long)r, (long long)c, with_add, acc);
            td_tensor_release(&src), td_tensor_release(&dst), td_tensor_release(&add), td_tensor_release(&want);
        }
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    td_tensor src = rand_tensor(TD_SHAPE(130, 2001)), add = rand_tensor(TD_SHAPE(130));
    td_tensor d[2] = {td_tensor_zeros(TD_SHAPE(2001, 130)), td_tensor_zeros(TD_SHAPE(2001, 130))};
    for (int th = 0; th < 2; th++) {
        omp_set_num_threads(th + 1);
        td_k_transpose(src.data, 130, 2001, add.data, 1, 1, d[th].data);
    }
    omp_set_num_threads(saved);
    CHECK(!memcmp(d[0].data, d[1].data, sizeof(td_real) * (size_t)d[0].size), "transpose: 1 and 2 threads differ");
    td_tensor_release(&src), td_tensor_release(&add), td_tensor_release(&d[0]), td_tensor_release(&d[1]);
#endif
}

/* Results must not depend on the thread count. */
static void test_threads(void) {
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    td_tensor a = rand_tensor(TD_SHAPE(1000, 3001)), b = rand_tensor(TD_SHAPE(3001));
    td_tensor o1 = td_tensor_zeros(a.shape), o2 = td_tensor_zeros(a.shape);
    td_tensor c1 = td_tensor_zeros(TD_SHAPE(1, 3001)), c2 = td_tensor_zeros(TD_SHAPE(1, 3001));
    td_tensor g1 = td_tensor_zeros(TD_SHAPE(3001)), g2 = td_tensor_zeros(TD_SHAPE(3001));
    double s[3], m[3];
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(k == 0 ? 1 : k == 1 ? 2 : 3);
        s[k] = td_k_sum(&a);
        m[k] = td_k_max(&a);
        td_tensor *o = k ? &o2 : &o1, *c = k ? &c2 : &c1, *g = k ? &g2 : &g1;
        td_k_binary(TD_BIN_MUL, o, &a, &b);
        td_k_unary(TD_UN_SOFTPLUS, o, o);
        td_k_unary_backward(TD_UN_TANH, o->data, a.data, a.data, a.data, a.size, 1);
        td_k_sum_axis(c, &a, 0);
        td_tensor_fill(g, 0);
        td_k_reduce_add_to(g, &a);
        if (k) {
            CHECK(same_bits(&o1, &o2) && same_bits(&c1, &c2) && same_bits(&g1, &g2),
                  "elementwise / axis results identical for 1 and %d threads", k + 1);
        }
    }
    CHECK(!memcmp(&s[0], &s[1], sizeof(double)) && !memcmp(&s[0], &s[2], sizeof(double)),
          "sum with 1, 2, 3 threads: %.17g %.17g %.17g", s[0], s[1], s[2]);
    CHECK(m[0] == m[1] && m[0] == m[2], "max");
    omp_set_num_threads(saved);
    td_tensor_release(&a), td_tensor_release(&b), td_tensor_release(&o1), td_tensor_release(&o2);
    td_tensor_release(&c1), td_tensor_release(&c2), td_tensor_release(&g1), td_tensor_release(&g2);
#else
    printf("built without OpenMP: thread-count test skipped\n");
#endif
}

int main(void) {
    test_binary();
    test_unary();
    test_unary_backward();
    test_vmath();
    test_vmath_kernels();
    test_bce();
    test_reductions();
    test_copy_finite();
    test_transpose();
    test_threads();
    return check_done("kernels");
}
