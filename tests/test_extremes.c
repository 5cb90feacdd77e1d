/* Stable formulations at extreme inputs (docs/reliability.md, "Numeric blow-ups"):
 * forward and backward of softplus, log_sigmoid, sigmoid, bce_logits and
 * bce_logits_rows at logits of +-100 and +-1000; exp, reparam and the
 * closed-form Gaussian KL at log-variance +-50; BCE targets of exactly 0
 * and 1; logsumexp over rows holding huge and -inf entries.
 *
 * Float32 build. Each value is checked against its limit (worked out by
 * hand in the comments), each gradient for being finite and right, and
 * every case runs with the tape's finite check on, so a NaN/Inf anywhere
 * in the forward or backward pass fails with the op's name. The finite
 * range of exp in float is tested where it ends, not just inside it. */
#include <float.h>
#include <string.h>

#include "autograd/autograd.h"
#include "check.h"

static td_tape *tape;

/* x as a parameter (so it gets a gradient) holding vals. */
static td_var *param(const char *name, td_shape s, const td_real *vals) {
    td_var *v = td_param_create(name, s);
    memcpy(v->value.data, vals, (size_t)v->value.size * sizeof(td_real));
    return v;
}

static td_var *target(td_shape s, const td_real *vals) {
    td_var *v = td_const_new(tape, s);
    memcpy(v->value.data, vals, (size_t)v->value.size * sizeof(td_real));
    return v;
}

/* Sums y into a scalar loss, runs backward with the finite check on, and
 * reports any NaN/Inf it saw. */
static void backward_finite(td_var *y, const char *what) {
    td_var *loss = td_sum(tape, y);
    int rc = td_backward(tape, loss);
    const char *err = td_tape_finite_error(tape);
    CHECK(rc == 0 && err == NULL, "%s: %s", what, err ? err : "backward failed");
}

static void start(void) {
    td_tape_reset(tape);
    td_tape_set_check_finite(tape, 1);
}

/* Relative check with an absolute floor, for values whose limit is 0. */
#define NEAR(a, b) CHECK_CLOSE(a, b, 1e-30, 1e-6)

enum { N = 4 };
static const td_real X[N] = {100, -100, 1000, -1000};

/* ---- unary ops ------------------------------------------------------------- */

static void test_softplus(void) {
    start();
    td_var *x = param("x", TD_SHAPE(N), X);
    td_var *y = td_softplus(tape, x);
    /* log(1 + e^x): x + log1p(e^-x) -> x for large x; e^x -> 0 for very negative x */
    NEAR(y->value.data[0], 100);
    CHECK(y->value.data[1] >= 0 && y->value.data[1] < 1e-40, "softplus(-100) = %g, want ~3.7e-44",
          (double)y->value.data[1]);
    NEAR(y->value.data[2], 1000);
    CHECK(y->value.data[3] == 0, "softplus(-1000) = %g", (double)y->value.data[3]);
    backward_finite(y, "softplus");
    /* d/dx = sigmoid(x) */
    NEAR(x->grad.data[0], 1);
    NEAR(x->grad.data[1], 0);
    NEAR(x->grad.data[2], 1);
    NEAR(x->grad.data[3], 0);
    td_param_destroy(x);
}

static void test_log_sigmoid(void) {
    start();
    td_var *x = param("x", TD_SHAPE(N), X);
    td_var *y = td_log_sigmoid(tape, x);
    /* -softplus(-x): -> 0 for large x, -> x for very negative x */
    NEAR(y->value.data[0], 0);
    NEAR(y->value.data[1], -100);
    NEAR(y->value.data[2], 0);
    NEAR(y->value.data[3], -1000);
    backward_finite(y, "log_sigmoid");
    /* d/dx = sigmoid(-x) */
    NEAR(x->grad.data[0], 0);
    NEAR(x->grad.data[1], 1);
    NEAR(x->grad.data[2], 0);
    NEAR(x->grad.data[3], 1);
    td_param_destroy(x);
}

static void test_sigmoid(void) {
    start();
    td_var *x = param("x", TD_SHAPE(N), X);
    td_var *y = td_sigmoid(tape, x);
    NEAR(y->value.data[0], 1);
    NEAR(y->value.data[1], 0);
    NEAR(y->value.data[2], 1);
    NEAR(y->value.data[3], 0);
    for (int i = 0; i < N; i++)
        CHECK(y->value.data[i] >= 0 && y->value.data[i] <= 1, "sigmoid(%g) = %g outside [0, 1]",
              (double)X[i], (double)y->value.data[i]);
    backward_finite(y, "sigmoid");
    /* y (1 - y): saturated, so 0 (to within e^-100) */
    for (int i = 0; i < N; i++) NEAR(x->grad.data[i], 0);
    td_param_destroy(x);
}

/* ---- binary cross-entropy with logits ------------------------------------------ */

/* bce(x, t) = softplus(x) - t x >= 0, and d/dx = sigmoid(x) - t.
 * For each logit, targets exactly 0, exactly 1, and 1/2. */
static void test_bce(int rows_form) {
    const char *name = rows_form ? "bce_logits_rows" : "bce_logits";
    static const td_real T[3] = {0, 1, 0.5f};
    td_real xs[3 * N], ts[3 * N], want[3 * N], dwant[3 * N];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < N; i++) {
            const double x = X[i], t = T[k];
            xs[k * N + i] = X[i];
            ts[k * N + i] = T[k];
            /* softplus(x) is x for x = 100, 1000 and 0 for -100, -1000
             * (to within e^-100, far below float resolution at these sizes) */
            want[k * N + i] = (td_real)((x > 0 ? x : 0) - t * x);
            dwant[k * N + i] = (td_real)((x > 0 ? 1 : 0) - t);
        }
    start();
    td_shape s = TD_SHAPE(3, N); /* row k: target T[k] */
    td_var *x = param("x", s, xs);
    td_var *y = rows_form ? td_bce_logits_rows(tape, x, target(s, ts))
                          : td_bce_logits(tape, x, target(s, ts));
    if (rows_form) {
        for (int k = 0; k < 3; k++) {
            double sum = 0;
            for (int i = 0; i < N; i++) sum += want[k * N + i];
            CHECK_CLOSE(y->value.data[k], sum, 1e-30, 1e-6);
        }
    } else {
        for (int i = 0; i < 3 * N; i++) {
            NEAR(y->value.data[i], want[i]);
            CHECK(y->value.data[i] >= 0, "%s(%g, t=%g) = %g < 0", name, (double)xs[i],
                  (double)ts[i], (double)y->value.data[i]);
        }
    }
    backward_finite(y, name);
    for (int i = 0; i < 3 * N; i++)
        CHECK(fabs(x->grad.data[i] - dwant[i]) <= 1e-6, "%s: d/dx at x=%g, t=%g is %g, want %g",
              name, (double)xs[i], (double)ts[i], (double)x->grad.data[i], (double)dwant[i]);
    /* the classic overflow case: d/dx bce(x=100, t=0) = 1 */
    CHECK(x->grad.data[0] == 1, "d/dx bce(100, 0) = %g", (double)x->grad.data[0]);
    td_param_destroy(x);
}

/* ---- exp, reparam and the KL term at log-variance +-50 ------------------------- */

static void test_exp_range(void) {
    /* e^50 = 5.18e21 and e^-50 = 1.93e-22 are comfortably inside float;
     * the finite range of exp in float32 is x < 88.72 (ln FLT_MAX), and
     * exp(x) is a normal number for x > -87.3 (ln FLT_MIN), a subnormal
     * down to -103.3, then 0. */
    start();
    td_var *x = param("lv", TD_SHAPE(2), (td_real[]){50, -50});
    td_var *y = td_exp(tape, x);
    NEAR(y->value.data[0], exp(50.0));
    NEAR(y->value.data[1], exp(-50.0));
    backward_finite(y, "exp");
    NEAR(x->grad.data[0], exp(50.0));
    NEAR(x->grad.data[1], exp(-50.0));
    td_param_destroy(x);

    /* The edges, without the finite check (the overflow is the point). */
    td_tape_reset(tape);
    td_tape_set_check_finite(tape, 0);
    td_var *e = td_exp(tape, td_const(tape, td_tensor_wrap(TD_SHAPE(4), (td_real[]){88.7f, 88.8f,
                                                                                   -87.3f, -104})));
    CHECK(isfinite(e->value.data[0]) && e->value.data[0] > 3e38, "exp(88.7) = %g",
          (double)e->value.data[0]);
    CHECK(isinf(e->value.data[1]), "exp(88.8) = %g: float overflows here",
          (double)e->value.data[1]);
    CHECK(e->value.data[2] >= FLT_MIN * 0.99, "exp(-87.3) = %g", (double)e->value.data[2]);
    CHECK(e->value.data[3] == 0, "exp(-104) = %g", (double)e->value.data[3]);
}

static void test_reparam(void) {
    /* z = mu + exp(lv / 2) eps; sd = e^25 = 7.2e10 or e^-25 = 1.4e-11.
     * dz/dmu = 1, dz/dlv = eps sd / 2. */
    start();
    td_var *mu = param("mu", TD_SHAPE(2), (td_real[]){0.5f, 0.5f});
    td_var *lv = param("lv", TD_SHAPE(2), (td_real[]){50, -50});
    td_var *eps = target(TD_SHAPE(2), (td_real[]){-1.5f, 2});
    td_var *z = td_reparam(tape, mu, lv, eps);
    NEAR(z->value.data[0], 0.5 - 1.5 * exp(25.0));
    NEAR(z->value.data[1], 0.5 + 2 * exp(-25.0));
    backward_finite(z, "reparam");
    NEAR(mu->grad.data[0], 1);
    NEAR(mu->grad.data[1], 1);
    NEAR(lv->grad.data[0], -1.5 * exp(25.0) / 2);
    NEAR(lv->grad.data[1], 2 * exp(-25.0) / 2);
    td_param_destroy(mu);
    td_param_destroy(lv);

    /* Honest range: sd = exp(lv / 2) stays finite for lv < 177.4; beyond,
     * z is +-inf and the finite check names the op. */
    start();
    mu = param("mu", TD_SHAPE(2), (td_real[]){0, 0});
    lv = param("lv", TD_SHAPE(2), (td_real[]){177, 178});
    z = td_reparam(tape, mu, lv, target(TD_SHAPE(2), (td_real[]){1, 1}));
    CHECK(isfinite(z->value.data[0]), "reparam at lv = 177: %g", (double)z->value.data[0]);
    CHECK(isinf(z->value.data[1]), "reparam at lv = 178: %g", (double)z->value.data[1]);
    const char *err = td_tape_finite_error(tape);
    CHECK(err && strstr(err, "reparam"), "the finite check should name reparam: %s",
          err ? err : "(nothing)");
    td_param_destroy(mu);
    td_param_destroy(lv);
}

static void test_kl(void) {
    /* KL(N(mu, e^lv) || N(0, 1)) = -1/2 sum(1 + lv - mu^2 - e^lv), from ops.
     * Per element: dKL/dlv = (e^lv - 1) / 2, dKL/dmu = mu.
     *   lv = 50,  mu = 3: (e^50 + 9 - 51) / 2 = 2.59e21
     *   lv = -50, mu = 0: (e^-50 + 0 + 49) / 2 = 24.5
     *   lv = 0,   mu = 0: 0 (the prior itself) */
    start();
    td_var *mu = param("mu", TD_SHAPE(3), (td_real[]){3, 0, 0});
    td_var *lv = param("lv", TD_SHAPE(3), (td_real[]){50, -50, 0});
    td_var *inner = td_sub(tape, td_sub(tape, td_add_scalar(tape, lv, 1), td_square(tape, mu)),
                           td_exp(tape, lv));
    td_var *kl = td_mul_scalar(tape, inner, -0.5f); /* per element; backward_finite sums */
    NEAR(kl->value.data[0], (exp(50.0) + 9 - 51) / 2);
    NEAR(kl->value.data[1], 24.5);
    NEAR(kl->value.data[2], 0);
    backward_finite(kl, "kl");
    NEAR(lv->grad.data[0], (exp(50.0) - 1) / 2);
    NEAR(lv->grad.data[1], -0.5);
    NEAR(lv->grad.data[2], 0);
    NEAR(mu->grad.data[0], 3);
    NEAR(mu->grad.data[1], 0);
    td_param_destroy(mu);
    td_param_destroy(lv);
}

/* ---- logsumexp over rows with huge and -inf entries ----------------------------- */

static void test_logsumexp(int axis) {
    const td_real inf = INFINITY, big = 3e38f;
    /* Rows (axis 1), or the same numbers as columns (axis 0):
     * 0: one huge maximum -> big; softmax weights 1, 0, 0, 0 (two equal
     *    huge maxima: see note_logsumexp_rounding)
     * 1: -inf entries weigh nothing -> log 2; weights 0, 1/2, 0, 1/2
     * 2: all -inf -> -inf, and a zero gradient (not NaN: fixed in e96db85)
     * 3: -3e38 next to 3e38: their difference overflows to -inf, weight 0 */
    const td_real rows[16] = {big, big / 2, -big, 0, -inf, 0, -inf, 0,
                              -inf, -inf, -inf, -inf, -big, big, 1, 2};
    const double want[4] = {big, log(2.0), -INFINITY, big};
    const double w[16] = {1, 0, 0, 0, 0, 0.5, 0, 0.5, 0, 0, 0, 0, 0, 1, 0, 0};
    td_real xs[16];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) xs[axis ? r * 4 + c : c * 4 + r] = rows[r * 4 + c];
    /* The -inf output of row 2 is the right answer, so no finite check;
     * the loss (their sum) is -inf, but d loss / d y is still 1 per row. */
    td_tape_reset(tape);
    td_tape_set_check_finite(tape, 0);
    td_var *x = param("x", TD_SHAPE(4, 4), xs);
    td_var *y = td_logsumexp_axis(tape, x, axis);
    for (int r = 0; r < 4; r++) {
        if (isinf(want[r]))
            CHECK(y->value.data[r] == (td_real)want[r], "axis %d, %d: lse = %g", axis, r,
                  (double)y->value.data[r]);
        else
            CHECK_CLOSE(y->value.data[r], want[r], 1e-30, 1e-6);
    }
    CHECK(td_backward(tape, td_sum(tape, y)) == 0, "logsumexp backward");
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            int i = axis ? r * 4 + c : c * 4 + r;
            CHECK(isfinite(x->grad.data[i]) && fabs(x->grad.data[i] - w[r * 4 + c]) <= 1e-6,
                  "axis %d: d lse / dx at line %d, entry %d (x = %g) is %g, want %g", axis, r, c,
                  (double)xs[i], (double)x->grad.data[i], w[r * 4 + c]);
        }
    td_param_destroy(x);
}

/* The backward forms the softmax weights as exp(x - y) from the rounded
 * output y. Where y is large, log(sum) is lost in y's rounding and the
 * weights no longer sum to 1: for [m, m] they are exp(-rounding error),
 * each 1/2 in exact arithmetic. In float the error is below 1e-3 while
 * |y| <= 1e4 (checked), about 3 % at 1e6, and the weights are 1, 1 from
 * 2^24 on (printed). Recomputing the weights from the row maximum,
 * exp(x - max) / sum exp(x - max), would not depend on y's rounding; that
 * is the lead's to change (autograd/ops.c), so this only reports. */
static void note_logsumexp_rounding(void) {
    const double ms[4] = {1e2, 1e4, 1e6, 3e38};
    for (int k = 0; k < 4; k++) {
        td_tape_reset(tape);
        td_tape_set_check_finite(tape, 0);
        td_var *x = param("x", TD_SHAPE(1, 2), (td_real[]){(td_real)ms[k], (td_real)ms[k]});
        td_var *y = td_logsumexp_axis(tape, x, 1);
        td_backward(tape, td_sum(tape, y));
        double sum = (double)x->grad.data[0] + x->grad.data[1];
        if (ms[k] <= 1e4)
            CHECK(fabs(x->grad.data[0] - 0.5) < 1e-3 && fabs(x->grad.data[1] - 0.5) < 1e-3,
                  "logsumexp([%g, %g]) weights %g %g", ms[k], ms[k], (double)x->grad.data[0],
                  (double)x->grad.data[1]);
        else
            printf("note: logsumexp([%g, %g]) backward weights sum to %.4g (exact: 1)\n", ms[k],
                   ms[k], sum);
        td_param_destroy(x);
    }
}

/* A +inf entry: the value is +inf (right), but its weight exp(x - y) is
 * exp(inf - inf) = NaN. The limit is weight 1 on the +inf entry (0 on the
 * others, which do come out 0). Reported to the lead, not fixed here
 * (autograd/ops.c); this prints what happens and fails nothing. */
static void note_logsumexp_plus_inf(void) {
    td_tape_reset(tape);
    td_tape_set_check_finite(tape, 0);
    td_var *x = param("x", TD_SHAPE(1, 3), (td_real[]){INFINITY, 0, 1});
    td_var *y = td_logsumexp_axis(tape, x, 1);
    CHECK(isinf(td_item(y)) && td_item(y) > 0, "lse with +inf = %g", (double)td_item(y));
    td_backward(tape, td_sum(tape, y));
    CHECK(x->grad.data[1] == 0 && x->grad.data[2] == 0, "finite entries next to +inf: %g %g",
          (double)x->grad.data[1], (double)x->grad.data[2]);
    printf("note: logsumexp backward at a +inf entry gives %g (the limit is 1)\n",
           (double)x->grad.data[0]);
    td_param_destroy(x);
}

int main(void) {
    tape = td_tape_create();
    test_softplus();
    test_log_sigmoid();
    test_sigmoid();
    test_bce(0);
    test_bce(1);
    test_exp_range();
    test_reparam();
    test_kl();
    test_logsumexp(1);
    test_logsumexp(0);
    note_logsumexp_rounding();
    note_logsumexp_plus_inf();
    td_tape_destroy(tape);
    return check_done("extremes");
}
