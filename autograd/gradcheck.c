/* Gradient checking: analytic gradients from td_backward against central
 * finite differences (see gradcheck.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"

#define GC_MAX_LEAVES 32

struct td_gc {
    td_var *own[GC_MAX_LEAVES]; /* the leaves td_gc_input made */
    td_gc_inputs inputs;        /* what td_gc_input hands the function (td_gradcheck_op) */
    td_var *computed[GC_MAX_LEAVES]; /* this pass's computed stand-ins (NULL: the leaf itself) */
    td_tensor shared_w[GC_MAX_LEAVES]; /* TD_GC_COMPUTED_SHARED: each stand-in's weights */
    td_var *const *leaves;      /* what is perturbed: own, or a parameter set */
    int n_leaves, cursor;
    td_gc_loss_fn loss;         /* td_gradcheck_params: the loss of the parameters */
    td_rng values;        /* draws the leaves' values (once) */
    td_rng noise;         /* handed to the function; rewound before each pass */
    uint64_t noise_seed;
    char shapes[256];     /* the leaves' shapes, for the report */
};

#ifdef TD_DOUBLE
static const double step = 1e-6;
#else
static const double step = 1e-2; /* float: a coarse check only */
#endif

td_rng *td_gc_rng(td_gc *g) { return &g->noise; }

static double draw(td_gc *g, td_gc_domain dom) {
    double u = td_rng_double(&g->values);
    switch (dom) {
    case TD_GC_POSITIVE: return 0.5 + 1.5 * u;
    case TD_GC_AWAY: return (u < 0.5 ? -1 : 1) * (0.2 + 1.8 * td_rng_double(&g->values));
    case TD_GC_UNIT: return 0.05 + 0.9 * u;
    default: return -2 + 4 * u;
    }
}

/* The leaf itself, or (computed inputs) leaf * 1 recorded on the tape: the
 * same values, but an op's output, whose grad starts fresh. */
static td_var *hand_out(td_gc *g, td_tape *t, td_var *v) {
    const int k = g->cursor - 1;
    g->computed[k] = NULL;
    if (g->inputs == TD_GC_LEAF_INPUTS || !v->requires_grad) return v;
    return g->computed[k] = td_mul_scalar(t, v, 1);
}

td_var *td_gc_input(td_gc *g, td_tape *t, td_shape s, td_gc_domain dom, int requires_grad) {
    TD_ASSERT(g->leaves == g->own, "gradcheck: td_gc_input inside a td_gradcheck_params loss");
    if (g->cursor < g->n_leaves) { /* a replay: the same leaf as last time */
        td_var *v = g->leaves[g->cursor++];
        TD_ASSERT(td_shape_equal(v->value.shape, s), "gradcheck: the function asked for leaf %d "
                  "with a different shape on replay (it must be deterministic)", g->cursor - 1);
        return hand_out(g, t, v);
    }
    TD_ASSERT(g->n_leaves < GC_MAX_LEAVES, "gradcheck: at most %d leaves", GC_MAX_LEAVES);
    td_var *v = td_param_create("gradcheck_leaf", s);
    v->requires_grad = requires_grad;
    for (int64_t i = 0; i < v->value.size; i++) v->value.data[i] = (td_real)draw(g, dom);
    g->own[g->n_leaves++] = v;
    g->cursor++;
    size_t used = strlen(g->shapes);
    char buf[64];
    snprintf(g->shapes + used, sizeof g->shapes - used, "%s%s%s", used ? "," : "",
             td_shape_str(s, buf, sizeof buf), requires_grad ? "" : "(const)");
    return hand_out(g, t, v);
}

/* TD_GC_COMPUTED_SHARED: sum(w_k * x_k) over the computed stand-ins x_k,
 * recorded after the op under check, so that in the backward each x_k has
 * a gradient already when the op's backward writes to it (it must add). */
static td_var *shared_terms(td_gc *g, td_tape *t, td_var *loss) {
    for (int k = 0; k < g->n_leaves; k++)
        if (g->computed[k])
            loss = td_add(t, loss, td_sum(t, td_mul(t, g->computed[k], td_const(t, g->shared_w[k]))));
    return loss;
}
static double shared_terms_value(const td_gc *g) {
    double acc = 0;
    for (int k = 0; k < g->n_leaves; k++)
        if (g->computed[k])
            for (int64_t i = 0; i < g->computed[k]->value.size; i++)
                acc += (double)g->shared_w[k].data[i] * g->computed[k]->value.data[i];
    return acc;
}

/* One evaluation of fn: sum(w * out) in double (w NULL: just build). */
static td_var *evaluate(td_gc *g, td_tape *t, td_gc_fn fn, void *ctx, const td_tensor *w,
                        double *loss) {
    td_tape_reset(t);
    g->cursor = 0;
    td_rng_init(&g->noise, g->noise_seed);
    td_var *out = fn(t, g, ctx);
    if (out && w) {
        double acc = 0;
        for (int64_t i = 0; i < out->value.size; i++) acc += (double)w->data[i] * out->value.data[i];
        if (g->inputs == TD_GC_COMPUTED_SHARED) acc += shared_terms_value(g);
        *loss = acc;
    }
    return out;
}

static td_gc *gc_create(uint64_t seed) {
    td_gc *g = td_alloc_zero(sizeof *g);
    g->leaves = g->own;
    td_rng_init(&g->values, seed);
    g->noise_seed = seed ^ 0x9e3779b97f4a7c15ull;
    return g;
}

/* Analytic against numeric derivatives of fn for every leaf of g. Returns
 * 0 when fn built nothing (no such variant). */
static int compare(td_gc *g, td_gc_fn fn, void *ctx, double tol, td_gc_result *res) {
    td_tape *t = td_tape_create();
    memset(res, 0, sizeof *res);
    res->pass = 1;

    td_var *out = evaluate(g, t, fn, ctx, NULL, NULL);
    if (!out) {
        td_tape_destroy(t);
        return 0;
    }
    /* Fixed random weights make every output element matter. */
    td_tensor w = td_tensor_zeros(out->value.shape);
    for (int64_t i = 0; i < w.size; i++) w.data[i] = (td_real)(0.5 + td_rng_double(&g->values));
    if (g->inputs == TD_GC_COMPUTED_SHARED)
        for (int k = 0; k < g->n_leaves; k++) {
            if (!g->computed[k]) continue;
            g->shared_w[k] = td_tensor_zeros(g->computed[k]->value.shape);
            for (int64_t i = 0; i < g->shared_w[k].size; i++)
                g->shared_w[k].data[i] = (td_real)(0.5 + td_rng_double(&g->values));
        }

    /* Analytic: d sum(w * out) / d leaf. */
    for (int i = 0; i < g->n_leaves; i++) td_var_zero_grad(g->leaves[i]);
    TD_ASSERT(out->requires_grad, "gradcheck: the output does not depend on any leaf that "
              "requires grad");
    td_var *loss = td_sum(t, td_mul(t, out, td_const(t, w)));
    if (g->inputs == TD_GC_COMPUTED_SHARED) loss = shared_terms(g, t, loss);
    TD_ASSERT(td_backward(t, loss) == 0, "gradcheck: backward failed: %s", td_error());

    /* Numeric: central differences, one element at a time, no tape. */
    td_tape_set_grad(t, 0);
    for (int li = 0; li < g->n_leaves; li++) {
        td_var *v = g->leaves[li];
        if (!v->requires_grad) continue;
        for (int64_t i = 0; i < v->value.size; i++) {
            td_real x0 = v->value.data[i];
            double lp = 0, lm = 0;
            v->value.data[i] = (td_real)(x0 + step);
            evaluate(g, t, fn, ctx, &w, &lp);
            v->value.data[i] = (td_real)(x0 - step);
            evaluate(g, t, fn, ctx, &w, &lm);
            v->value.data[i] = x0;
            double numeric = (lp - lm) / (2 * step);
            double analytic = v->grad.data[i];
            double err = fabs(analytic - numeric);
            double rel = err / fmax(fabs(numeric), 1.0);
            if (err > res->max_abs) res->max_abs = err;
            if (rel > res->max_rel || !(rel == rel)) {
                res->max_rel = rel == rel ? rel : INFINITY;
                res->worst_leaf = li;
                res->worst_index = i;
            }
            if (!(rel <= tol)) res->pass = 0;
            res->n_checked++;
        }
    }
    td_tensor_release(&w);
    for (int k = 0; k < g->n_leaves; k++) td_tensor_release(&g->shared_w[k]);
    td_tape_destroy(t);
    return 1;
}

static int check(td_gc_fn fn, void *ctx, td_gc_inputs inputs, double tol, uint64_t seed,
                 td_gc_result *res, char *shapes, size_t shapes_len) {
    td_gc *g = gc_create(seed);
    g->inputs = inputs;
    const int built = compare(g, fn, ctx, tol, res);
    if (built && shapes) snprintf(shapes, shapes_len, "%s", g->shapes);
    for (int i = 0; i < g->n_leaves; i++) td_param_destroy(g->own[i]);
    td_free(g);
    return built;
}

static td_var *params_loss(td_tape *t, td_gc *g, void *ctx) { return g->loss(t, &g->noise, ctx); }

td_gc_result td_gradcheck_params(td_var *const *params, int count, td_gc_loss_fn loss, void *ctx,
                                 double tol, uint64_t seed) {
    td_gc *g = gc_create(seed);
    g->leaves = params;
    g->n_leaves = count;
    g->loss = loss;
    td_gc_result r;
    if (!compare(g, params_loss, ctx, tol, &r)) r.pass = 0;
    td_free(g);
    return r;
}

td_gc_result td_gradcheck_fn(td_gc_fn fn, void *ctx, double tol, uint64_t seed) {
    td_gc_result r;
    if (!check(fn, ctx, TD_GC_LEAF_INPUTS, tol, seed, &r, NULL, 0)) r.pass = 0;
    return r;
}

static td_var *op_example(td_tape *t, td_gc *g, void *ctx) {
    const int *op_variant = ctx;
    return td_ops[op_variant[0]].example(t, g, op_variant[1]);
}

td_gc_result td_gradcheck_op(int op, double tol, uint64_t seed, char *shapes_out,
                             size_t shapes_len) {
    td_gc_result all = {.pass = 1};
    TD_ASSERT(op >= 0 && op < TD_OP_COUNT, "gradcheck: no op %d", op);
    TD_ASSERT(td_ops[op].differentiable && td_ops[op].example,
              "gradcheck: op '%s' is not differentiable or has no example", td_ops[op].name);
    if (shapes_out && shapes_len) shapes_out[0] = 0;
    int variant;
    for (variant = 0;; variant++) {
        int ctx[2] = {op, variant};
        char shapes[256];
        td_gc_result r;
        if (!check(op_example, ctx, TD_GC_LEAF_INPUTS, tol, seed + (uint64_t)variant, &r, shapes,
                   sizeof shapes))
            break;
        /* the same variant again with computed inputs, fresh and shared */
        for (int in = TD_GC_LEAF_INPUTS; in <= TD_GC_COMPUTED_SHARED; in++) {
            if (in != TD_GC_LEAF_INPUTS)
                check(op_example, ctx, (td_gc_inputs)in, tol, seed + (uint64_t)variant, &r, NULL, 0);
            if (r.max_abs > all.max_abs) all.max_abs = r.max_abs;
            if (r.max_rel > all.max_rel) all.max_rel = r.max_rel;
            all.n_checked += r.n_checked;
            if (!r.pass && all.pass) all.failed_inputs = (td_gc_inputs)in;
            all.pass &= r.pass;
        }
        if (shapes_out) {
            size_t used = strlen(shapes_out);
            snprintf(shapes_out + used, shapes_len - used, "%s%s", used ? " " : "", shapes);
        }
    }
    if (variant == 0) all.pass = 0; /* an example that builds nothing checks nothing */
    return all;
}

double td_gradcheck_tolerance(int op) {
#ifdef TD_DOUBLE
    /* Central differences with h = 1e-6 agree to ~1e-9 for smooth ops; ops
     * that chain several exps through a reduction lose a little more. */
    switch (op) {
    case TD_OP_LOGSUMEXP_AXIS:
    case TD_OP_REPARAM:
    /* the transpose's example sums ~1300 outputs of ~10 products each: the
     * loss's rounding divided by 2h reaches a few 1e-7 */
    case TD_OP_CONV2D:
    case TD_OP_CONV_TRANSPOSE2D: return 1e-6;
    default: return 1e-7;
    }
#else
    (void)op;
    return 5e-2;
#endif
}
