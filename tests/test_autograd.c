/* The tape's behaviour: backward twice, accumulation, no-grad mode, the
 * finite check, views, and a training step that allocates nothing after
 * warm-up. (Each op's derivative is proven by test_op_table.) */
#include <string.h>

#include "autograd/op_table.h"
#include "check.h"
#include "tinyad.h"

/* A tiny two-layer net: loss = sum(bce(w2 relu(w1 x + b1) + b2, y)) / rows */
typedef struct net { td_var *w1, *b1, *w2, *b2; } net;

static td_var *forward(td_tape *t, net *n, td_tensor *x, td_tensor *y) {
    td_var *h = td_relu(t, td_linear(t, td_const(t, *x), n->w1, n->b1));
    td_var *logits = td_linear(t, h, n->w2, n->b2);
    td_var *per_row = td_bce_logits_rows(t, logits, td_const(t, *y));
    return td_mean(t, per_row);
}

/* An op whose weight and bias are computed (w = 2 p, b = 2 q: tied or
 * scaled weights) must pass their gradients on to p and q: exactly twice
 * the gradients that leaf weights holding the same values get. (linear
 * once dropped them: its backward added into a computed weight's grad as
 * into a parameter's, which left it marked as holding nothing.) */
typedef td_var *(*weighted_op)(td_tape *t, td_var *x, td_var *w, td_var *b);
static td_var *op_linear(td_tape *t, td_var *x, td_var *w, td_var *b) { return td_linear(t, x, w, b); }
static td_var *op_conv(td_tape *t, td_var *x, td_var *w, td_var *b) { return td_conv2d(t, x, w, b, 2, 1); }
static td_var *op_convt(td_tape *t, td_var *x, td_var *w, td_var *b) {
    return td_conv_transpose2d(t, x, w, b, 2, 1, 1);
}
static void check_computed_weights(td_tape *t, const char *name, weighted_op f, td_shape xs,
                                   td_shape ws, int64_t nb) {
    td_var *x = td_param_create("x", xs), *p = td_param_create("p", ws),
           *q = td_param_create("q", TD_SHAPE(nb)), *w = td_param_create("w", ws),
           *b = td_param_create("b", TD_SHAPE(nb));
    for (int64_t i = 0; i < x->value.size; i++) x->value.data[i] = (td_real)sin(0.7 * (double)i);
    for (int64_t i = 0; i < p->value.size; i++) {
        p->value.data[i] = (td_real)cos(0.3 * (double)i);
        w->value.data[i] = 2 * p->value.data[i];
    }
    for (int64_t i = 0; i < nb; i++) {
        q->value.data[i] = (td_real)(0.1 * (double)i);
        b->value.data[i] = 2 * q->value.data[i];
    }
    td_tape_reset(t);
    td_backward(t, td_sum(t, td_square(t, f(t, x, w, b))));
    td_tape_reset(t);
    td_backward(t, td_sum(t, td_square(t, f(t, x, td_mul_scalar(t, p, 2), td_mul_scalar(t, q, 2)))));
    int64_t bad = 0;
    for (int64_t i = 0; i < p->grad.size; i++) bad += p->grad.data[i] != 2 * w->grad.data[i];
    for (int64_t i = 0; i < nb; i++) bad += q->grad.data[i] != 2 * b->grad.data[i];
    CHECK(bad == 0 && w->grad.data[0] != 0, "%s with a computed weight and bias: %lld gradients "
          "differ from twice the leaf weights' (dp[0] %g, dw[0] %g)", name, (long long)bad,
          (double)p->grad.data[0], (double)w->grad.data[0]);
    td_param_destroy(x), td_param_destroy(p), td_param_destroy(q), td_param_destroy(w),
        td_param_destroy(b);
}

int main(void) {
    td_rng rng;
    td_rng_init(&rng, 7);
    net n = {td_param_create("w1", TD_SHAPE(8, 5)), td_param_create("b1", TD_SHAPE(8)),
             td_param_create("w2", TD_SHAPE(5, 8)), td_param_create("b2", TD_SHAPE(5))};
    td_var *params[4] = {n.w1, n.b1, n.w2, n.b2};
    for (int i = 0; i < 4; i++) td_rng_uniform(&rng, params[i]->value.data, params[i]->value.size, -0.5f, 0.5f);
    td_tensor x = td_tensor_uniform(TD_SHAPE(16, 5), &rng, 0, 1);
    td_tensor y = td_tensor_uniform(TD_SHAPE(16, 5), &rng, 0, 1);
    td_tape *t = td_tape_create();

    /* backward twice after zero-grad: the same gradients, bit for bit */
    td_var *loss = forward(t, &n, &x, &y);
    CHECK(td_tape_node_count(t) > 0, "ops were recorded");
    CHECK(td_backward(t, loss) == 0, "backward: %s", td_error());
    td_tensor first = td_tensor_clone(&n.w1->grad);
    for (int i = 0; i < 4; i++) td_var_zero_grad(params[i]);
    CHECK(td_backward(t, loss) == 0, "second backward");
    CHECK(!memcmp(first.data, n.w1->grad.data, sizeof(td_real) * (size_t)first.size),
          "backward twice after zero-grad gives the same gradients");
    /* without zero-grad, gradients accumulate */
    CHECK(td_backward(t, loss) == 0, "third backward");
    int doubled = 1;
    for (int64_t i = 0; i < first.size; i++) doubled &= n.w1->grad.data[i] == 2 * first.data[i];
    CHECK(doubled, "a second backward without zero-grad accumulates (+=)");

    /* no-grad mode records nothing and gives the same value */
    td_real with_grad = td_item(loss);
    td_tape_reset(t);
    int was = td_tape_set_grad(t, 0);
    CHECK(was == 1, "grad was on");
    td_var *l2 = forward(t, &n, &x, &y);
    CHECK(td_tape_node_count(t) == 0 && !l2->requires_grad, "no-grad mode records nothing (%lld nodes)",
          (long long)td_tape_node_count(t));
    CHECK(td_item(l2) == with_grad, "same value without the tape");
    CHECK(td_backward(t, l2) == -1 && strstr(td_error(), "no-grad"), "backward on a no-grad loss: %s", td_error());
    td_tape_set_grad(t, 1);

    /* the named scope: nothing recorded inside, the previous mode back after, nested too */
    td_tape_reset(t);
    td_no_grad outer = td_no_grad_begin(t);
    td_no_grad inner = td_no_grad_begin(t);
    td_var *l3 = forward(t, &n, &x, &y);
    td_no_grad_end(inner);
    CHECK(!td_tape_grad_enabled(t) && td_tape_node_count(t) == 0 && td_item(l3) == with_grad,
          "inside nested no-grad scopes: grad off, nothing recorded, the same value");
    td_no_grad_end(outer);
    CHECK(td_tape_grad_enabled(t), "after the outer scope grad is on again");
    CHECK(td_dim(l3, 0) == 1 && td_dim(n.w1, 0) == n.w1->value.shape.d[0] &&
              td_dim(n.w1, 1) == n.w1->value.shape.d[1], "td_dim reads the value's shape");

    /* a training step allocates nothing after warm-up */
    int64_t allocs_after_warmup = -1;
    for (int step = 0; step < 5; step++) {
        int64_t before = td_alloc_count();
        td_tape_reset(t);
        for (int i = 0; i < 4; i++) td_var_zero_grad(params[i]);
        td_var *l = forward(t, &n, &x, &y);
        td_backward(t, l);
        for (int i = 0; i < 4; i++) td_k_axpy(&params[i]->value, -0.1f, &params[i]->grad);
        if (step >= 2) allocs_after_warmup = td_alloc_count() - before;
    }
    CHECK(allocs_after_warmup == 0, "allocations in a step after warm-up: %lld", (long long)allocs_after_warmup);

    /* the finite check names the op where NaN first appeared */
    td_tape_reset(t);
    td_tape_set_check_finite(t, 1);
    td_var *neg = td_param_create("neg", TD_SHAPE(3));
    td_tensor_fill(&neg->value, -1);
    td_var *bad = td_sum(t, td_exp(t, td_log(t, neg)));
    CHECK(td_tape_finite_error(t) && strstr(td_tape_finite_error(t), "'log'"), "finite error: %s",
          td_tape_finite_error(t) ? td_tape_finite_error(t) : "(none)");
    CHECK(td_backward(t, bad) == -1, "backward reports the NaN");
    td_tape_set_check_finite(t, 0);
    CHECK(td_tape_finite_error(t) == NULL, "switching the check off clears it");
    /* a NaN that only appears in backward: sqrt(0) has an infinite slope */
    td_tape_reset(t);
    td_tape_set_check_finite(t, 1);
    td_var *zero = td_param_create("zero", TD_SHAPE(2));
    td_var *s = td_sum(t, td_sqrt(t, zero));
    CHECK(td_tape_finite_error(t) == NULL, "forward of sqrt(0) is finite");
    CHECK(td_backward(t, s) == -1 && strstr(td_error(), "backward") && strstr(td_error(), "'sqrt'"),
          "backward NaN/Inf names sqrt: %s", td_error());
    td_tape_set_check_finite(t, 0);

    /* reshape is a view; its gradient flows back */
    td_tape_reset(t);
    td_var *r = td_reshape(t, n.w1, TD_SHAPE(40));
    CHECK(r->value.data == n.w1->value.data, "reshape shares the value");
    td_var_zero_grad(n.w1);
    td_backward(t, td_sum(t, r));
    CHECK(n.w1->grad.data[39] == 1, "reshape gradient");

    /* slice + concat round trip: gradients land in the right columns */
    td_tape_reset(t);
    td_var_zero_grad(n.w1);
    td_var *left = td_slice_cols(t, n.w1, 0, 2), *right = td_slice_cols(t, n.w1, 2, 3);
    td_var *joined = td_concat_cols(t, td_mul_scalar(t, left, 2), right);
    CHECK(joined->value.data[2] == n.w1->value.data[2] && joined->value.data[0] == 2 * n.w1->value.data[0],
          "concat values");
    td_backward(t, td_sum(t, joined));
    CHECK(n.w1->grad.data[0] == 2 && n.w1->grad.data[1] == 2 && n.w1->grad.data[4] == 1, "slice grads");

    /* logsumexp over a row that is all -inf: weight 0, not NaN */
    td_tape_reset(t);
    td_var *lx = td_param_create("lx", TD_SHAPE(2, 3));
    for (int i = 0; i < 3; i++) lx->value.data[i] = -INFINITY;
    for (int i = 3; i < 6; i++) lx->value.data[i] = (td_real)i;
    td_var *lse = td_logsumexp_axis(t, lx, 1);
    CHECK(lse->value.data[0] == -INFINITY, "lse of all -inf is -inf");
    td_var *pick = td_const_new(t, TD_SHAPE(2, 1));
    pick->value.data[0] = 1, pick->value.data[1] = 1;
    td_backward(t, td_sum(t, td_mul(t, lse, pick)));
    double row1 = 0;
    int finite = 1;
    for (int i = 0; i < 6; i++) finite &= isfinite(lx->grad.data[i]);
    for (int i = 3; i < 6; i++) row1 += lx->grad.data[i];
    CHECK(finite && lx->grad.data[0] == 0, "all -inf row gets zero gradient, not NaN (%g)", lx->grad.data[0]);
    CHECK_CLOSE(row1, 1, 1e-6, 0);
    td_param_destroy(lx);

    check_computed_weights(t, "linear", op_linear, TD_SHAPE(5, 4), TD_SHAPE(3, 4), 3);
    check_computed_weights(t, "conv2d", op_conv, TD_SHAPE(2, 3, 7, 6), TD_SHAPE(4, 3, 3, 3), 4);
    check_computed_weights(t, "conv_transpose2d", op_convt, TD_SHAPE(2, 3, 4, 5),
                           TD_SHAPE(3, 2, 3, 3), 2);

    td_param_destroy(neg);
    td_param_destroy(zero);
    for (int i = 0; i < 4; i++) td_param_destroy(params[i]);
    td_tensor_release(&first);
    td_tensor_release(&x);
    td_tensor_release(&y);
    td_tape_destroy(t);
    return check_done("autograd");
}
