/* The tape: node storage, leaves, backward. */
#include <stdio.h>
#include <string.h>

#include "../tensor/kernels.h"
#include "op_table.h"

struct td_tape {
    td_arena *arena;
    td_node *nodes; /* heap array, grows by doubling; kept across resets */
    int64_t n_nodes, cap_nodes;
    int grad_enabled;
    int check_finite;
    char finite_error[256];
    int64_t slice_first, slice_rows, slice_total; /* td_tape_set_batch_slice */
};

td_tape *td_tape_create(void) {
    td_tape *t = td_alloc_zero(sizeof *t);
    t->arena = td_arena_create(4 << 20);
    t->cap_nodes = 256;
    t->nodes = td_alloc(sizeof(td_node) * (size_t)t->cap_nodes);
    t->grad_enabled = 1;
    return t;
}

void td_tape_destroy(td_tape *t) {
    if (!t) return;
    td_arena_destroy(t->arena);
    td_free(t->nodes);
    td_free(t);
}

void td_tape_reset(td_tape *t) {
    t->n_nodes = 0;
    td_arena_reset(t->arena);
}

int td_tape_set_grad(td_tape *t, int enabled) {
    int was = t->grad_enabled;
    t->grad_enabled = enabled;
    return was;
}

int td_tape_grad_enabled(const td_tape *t) { return t->grad_enabled; }
td_arena *td_tape_arena(td_tape *t) { return t->arena; }
int64_t td_tape_node_count(const td_tape *t) { return t->n_nodes; }

void td_tape_set_check_finite(td_tape *t, int enabled) {
    t->check_finite = enabled;
    t->finite_error[0] = 0;
}

const char *td_tape_finite_error(const td_tape *t) {
    return t->finite_error[0] ? t->finite_error : NULL;
}

void td_tape_set_batch_slice(td_tape *t, int64_t first, int64_t rows, int64_t total) {
    TD_ASSERT(total == 0 || (first >= 0 && rows >= 1 && first + rows <= total),
              "td_tape_set_batch_slice: rows [%lld, %lld) do not lie in a batch of %lld",
              (long long)first, (long long)(first + rows), (long long)total);
    t->slice_first = first, t->slice_rows = rows, t->slice_total = total;
}

void td_tape_batch_slice(const td_tape *t, int64_t *first, int64_t *rows, int64_t *total) {
    *first = t->slice_first, *rows = t->slice_rows, *total = t->slice_total;
}

static void note_non_finite(td_tape *t, const char *what, int op, int64_t node) {
    if (t->finite_error[0]) return; /* keep the first */
    snprintf(t->finite_error, sizeof t->finite_error,
             "NaN/Inf first appeared in the %s of op '%s' (node %lld of the tape)", what,
             td_ops[op].name, (long long)node);
}

void td_tape_check_forward(td_tape *t, td_var *out, int op) {
    if (t->check_finite && !td_k_all_finite(&out->value))
        note_non_finite(t, "forward output", op, t->n_nodes);
}

/* ---- vars ------------------------------------------------------------------ */

static td_var *arena_var(td_tape *t) {
    td_var *v = td_arena_alloc(t->arena, sizeof *v);
    memset(v, 0, sizeof *v);
    return v;
}

td_var *td_tape_new_var(td_tape *t, td_shape s, const char *name, td_var *a, td_var *b,
                        td_var *c) {
    td_var *v = arena_var(t);
    v->value = td_tensor_arena(t->arena, s);
    v->name = name;
    v->requires_grad = t->grad_enabled && ((a && a->requires_grad) || (b && b->requires_grad) ||
                                           (c && c->requires_grad));
    return v;
}

td_tensor *td_var_grad(td_tape *t, td_var *v) {
    if (!v->grad.data) {
        v->grad = td_tensor_arena(t->arena, v->value.shape);
        td_k_zero(v->grad.data, v->grad.size);
    }
    return &v->grad;
}

td_var *td_const(td_tape *t, td_tensor value) {
    td_var *v = arena_var(t);
    v->value = value;
    v->value.owns = 0;
    v->name = "const";
    return v;
}

td_var *td_const_new(td_tape *t, td_shape s) {
    return td_const(t, td_tensor_arena(t->arena, s));
}

td_var *td_scalar(td_tape *t, td_real x) {
    td_var *v = td_const_new(t, TD_SHAPE(1));
    v->value.data[0] = x;
    return v;
}

td_var *td_param_create(const char *name, td_shape s) {
    return td_param_wrap(name, td_tensor_zeros(s), td_tensor_zeros(s));
}

td_var *td_param_wrap(const char *name, td_tensor value, td_tensor grad) {
    TD_ASSERT(td_shape_equal(value.shape, grad.shape), "parameter '%s': value and grad shapes differ",
              name ? name : "?");
    td_var *v = td_alloc_zero(sizeof *v);
    v->value = value;
    v->grad = grad;
    v->requires_grad = 1;
    v->name = name;
    return v;
}

void td_param_destroy(td_var *v) {
    if (!v) return;
    td_tensor_release(&v->value);
    td_tensor_release(&v->grad);
    td_free(v);
}

void td_var_zero_grad(td_var *v) {
    if (v->grad.data) td_k_zero(v->grad.data, v->grad.size);
}

/* ---- recording and backward ------------------------------------------------ */

td_node *td_tape_record(td_tape *t, int op, td_var *out, int n_in, td_var *a, td_var *b,
                        td_var *c) {
    td_tape_check_forward(t, out, op);
    if (!out->requires_grad) return NULL;
    if (t->n_nodes == t->cap_nodes) { /* grows during warm-up only */
        td_node *bigger = td_alloc(sizeof(td_node) * (size_t)t->cap_nodes * 2);
        memcpy(bigger, t->nodes, sizeof(td_node) * (size_t)t->n_nodes);
        td_free(t->nodes);
        t->nodes = bigger;
        t->cap_nodes *= 2;
    }
    td_node *n = &t->nodes[t->n_nodes++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->n_in = n_in;
    n->in[0] = a;
    n->in[1] = b;
    n->in[2] = c;
    n->out = out;
    return n;
}

/* Makes v's grad ready for a backward to write: allocated, and zero unless
 * the op assigns to fresh grads itself (its row's fresh_grads). */
static void grad_for_backward(td_tape *t, td_var *v, int fresh_ok) {
    if (!v->grad.data) {
        v->grad = td_tensor_arena(t->arena, v->value.shape);
        v->grad_fresh = 1;
    }
    if (v->grad_fresh && !fresh_ok) {
        td_k_zero(v->grad.data, v->grad.size);
        v->grad_fresh = 0;
    }
}

/* A grad nothing wrote to is zero, as td_var_grad's readers expect. */
static void settle_fresh(td_var *v) {
    if (v && v->grad_fresh) {
        td_k_zero(v->grad.data, v->grad.size);
        v->grad_fresh = 0;
    }
}

int td_backward(td_tape *t, td_var *loss) {
    TD_ASSERT(loss->value.size == 1, "backward needs a scalar loss; this one has %lld elements "
              "(reduce it with td_sum or td_mean first)", (long long)loss->value.size);
    if (!loss->requires_grad) {
        td_set_error("backward: the loss does not depend on anything that requires grad "
                     "(was it computed in no-grad mode?)");
        return -1;
    }
    /* The grads of intermediates start from zero (params keep theirs: they
     * accumulate until td_var_zero_grad), so a second backward gives the
     * same result. They are only marked fresh here: whoever writes first
     * assigns, and nothing is zero-filled that is overwritten anyway. */
    for (int64_t i = 0; i < t->n_nodes; i++) {
        td_var *out = t->nodes[i].out;
        if (out->grad.data) out->grad_fresh = 1;
    }
    grad_for_backward(t, loss, 0);
    loss->grad.data[0] = 1;
    for (int64_t i = t->n_nodes - 1; i >= 0; i--) {
        td_node *n = &t->nodes[i];
        if (!n->out->grad.data || n->out->grad_fresh) continue; /* nothing flowed back to it */
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] && n->in[k]->requires_grad)
                grad_for_backward(t, n->in[k], td_ops[n->op].fresh_grads);
        td_ops[n->op].backward(t, n);
        if (t->check_finite) {
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] && n->in[k]->requires_grad && !n->in[k]->grad_fresh &&
                    !td_k_all_finite(&n->in[k]->grad))
                    note_non_finite(t, "backward (input gradient)", n->op, i);
        }
    }
    for (int64_t i = 0; i < t->n_nodes; i++) {
        settle_fresh(t->nodes[i].out);
        for (int k = 0; k < t->nodes[i].n_in; k++) settle_fresh(t->nodes[i].in[k]);
    }
    if (t->check_finite && td_tape_finite_error(t)) {
        td_set_error("%s", t->finite_error);
        return -1;
    }
    return 0;
}

void td_no_grad_batches(td_tape *t, int64_t n, int64_t batch, td_batch_fn fn, void *ctx) {
    TD_ASSERT(batch > 0 && n >= 0, "td_no_grad_batches: need n >= 0 (%lld) and batch > 0 (%lld)",
              (long long)n, (long long)batch);
    const td_no_grad ng = td_no_grad_begin(t);
    for (int64_t i = 0; i < n; i += batch) {
        td_tape_reset(t);
        fn(t, i, n - i < batch ? n - i : batch, ctx);
    }
    td_tape_reset(t);
    td_no_grad_end(ng);
}
