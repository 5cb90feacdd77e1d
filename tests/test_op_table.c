/* The op table: every row is complete, every differentiable op passes
 * gradcheck (with leaf and computed inputs), and gradcheck has teeth (a
 * deliberately wrong backward fails, and so does one that mishandles a
 * fresh or a shared gradient). */
#include <string.h>

#include "autograd/gradcheck.h"
#include "tensor/kernels.h"
#include "check.h"

/* mul's backward with the factor forgotten: da += g, db += g. */
static void wrong_mul_backward(td_tape *t, td_node *n) {
    (void)t;
    for (int k = 0; k < 2; k++)
        if (n->in[k]->requires_grad) td_k_reduce_add_to(&n->in[k]->grad, &n->out->grad);
}

/* A subtler bug: sigmoid's derivative off by 1%. */
static void wrong_sigmoid_backward(td_tape *t, td_node *n) {
    (void)t;
    for (int64_t i = 0; i < n->out->value.size; i++) {
        td_real y = n->out->value.data[i];
        n->in[0]->grad.data[i] += n->out->grad.data[i] * y * (1 - y) * (td_real)1.01;
    }
}

/* sigmoid's right derivative, written without regard to where its input's
 * grad stands (sigmoid's row has fresh_grads): always added, so a fresh
 * grad keeps its garbage and stays marked empty; or always assigned, so
 * another op's contribution is lost. Leaf inputs cannot tell either from
 * the real one; computed inputs must. */
static void sigmoid_grad_always_added(td_tape *t, td_node *n) {
    (void)t;
    for (int64_t i = 0; i < n->out->value.size; i++) {
        td_real y = n->out->value.data[i];
        n->in[0]->grad.data[i] += n->out->grad.data[i] * y * (1 - y);
    }
}
static void sigmoid_grad_always_assigned(td_tape *t, td_node *n) {
    (void)t;
    grad_take_fresh(n->in[0]);
    for (int64_t i = 0; i < n->out->value.size; i++) {
        td_real y = n->out->value.data[i];
        n->in[0]->grad.data[i] = n->out->grad.data[i] * y * (1 - y);
    }
}

int main(void) {
    /* every row is filled in */
    for (int op = 0; op < TD_OP_COUNT; op++) {
        CHECK(td_ops[op].name != NULL, "op id %d has no row in td_ops", op);
        if (!td_ops[op].name) continue;
        if (td_ops[op].differentiable) {
            CHECK(td_ops[op].backward && td_ops[op].example,
                  "differentiable op '%s' lacks a backward or a gradcheck example", td_ops[op].name);
        } else {
            CHECK(td_ops[op].backward == NULL, "op '%s' is marked non-differentiable but has a backward",
                  td_ops[op].name);
        }
        for (int other = 0; other < op; other++)
            CHECK(!td_ops[other].name || strcmp(td_ops[other].name, td_ops[op].name),
                  "two ops named '%s'", td_ops[op].name);
    }

    /* every differentiable op passes, over two seeds */
    for (int op = 0; op < TD_OP_COUNT; op++) {
        if (!td_ops[op].name || !td_ops[op].differentiable) continue;
        for (uint64_t seed = 1; seed <= 2; seed++) {
            td_gc_result r = td_gradcheck_op(op, td_gradcheck_tolerance(op), seed, NULL, 0);
            CHECK(r.pass && r.n_checked > 0, "op '%s' seed %llu: max_rel %.3g over %lld derivatives",
                  td_ops[op].name, (unsigned long long)seed, r.max_rel, (long long)r.n_checked);
        }
    }

    /* teeth: wrong backwards must fail */
    void (*saved)(td_tape *, td_node *) = td_ops[TD_OP_MUL].backward;
    td_ops[TD_OP_MUL].backward = wrong_mul_backward;
    td_gc_result r = td_gradcheck_op(TD_OP_MUL, td_gradcheck_tolerance(TD_OP_MUL), 1, NULL, 0);
    CHECK(!r.pass && r.max_rel > 0.01, "a wrong mul backward passed gradcheck (max_rel %.3g)", r.max_rel);
    td_ops[TD_OP_MUL].backward = saved;

    saved = td_ops[TD_OP_SIGMOID].backward;
    td_ops[TD_OP_SIGMOID].backward = wrong_sigmoid_backward;
    r = td_gradcheck_op(TD_OP_SIGMOID, td_gradcheck_tolerance(TD_OP_SIGMOID), 1, NULL, 0);
    CHECK(!r.pass, "a sigmoid backward 1%% off passed gradcheck (max_rel %.3g)", r.max_rel);
    td_ops[TD_OP_SIGMOID].backward = saved;

    /* teeth for the computed inputs: each wrong way fails there, and only there */
    td_ops[TD_OP_SIGMOID].backward = sigmoid_grad_always_added;
    r = td_gradcheck_op(TD_OP_SIGMOID, td_gradcheck_tolerance(TD_OP_SIGMOID), 1, NULL, 0);
    CHECK(!r.pass && r.failed_inputs == TD_GC_COMPUTED_FRESH,
          "a sigmoid backward that adds into a fresh grad was not caught with computed inputs "
          "(pass %d, failed with inputs %d)", r.pass, (int)r.failed_inputs);
    td_ops[TD_OP_SIGMOID].backward = sigmoid_grad_always_assigned;
    r = td_gradcheck_op(TD_OP_SIGMOID, td_gradcheck_tolerance(TD_OP_SIGMOID), 1, NULL, 0);
    CHECK(!r.pass && r.failed_inputs == TD_GC_COMPUTED_SHARED,
          "a sigmoid backward that overwrites another op's gradient was not caught with shared "
          "computed inputs (pass %d, failed with inputs %d)", r.pass, (int)r.failed_inputs);
    td_ops[TD_OP_SIGMOID].backward = saved;

    r = td_gradcheck_op(TD_OP_MUL, td_gradcheck_tolerance(TD_OP_MUL), 1, NULL, 0);
    CHECK(r.pass, "restored mul backward fails (max_rel %.3g)", r.max_rel);
    r = td_gradcheck_op(TD_OP_SIGMOID, td_gradcheck_tolerance(TD_OP_SIGMOID), 1, NULL, 0);
    CHECK(r.pass, "restored sigmoid backward fails (max_rel %.3g)", r.max_rel);
    return check_done("op_table");
}
