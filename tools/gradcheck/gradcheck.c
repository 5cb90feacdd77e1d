/* gradcheck: backward passes against central finite differences, in double
 * precision.
 *
 *   gradcheck              check every op, one line each; exit 1 on any failure
 *   gradcheck --op NAME    check one op
 *   gradcheck --list       list the table (name, differentiable or not)
 *   gradcheck --model KIND the loss of a small instance of a model kind of
 *                          `tinyad train` (or all of them), every parameter */
#include <stdio.h>
#include <string.h>

#include "../tinyad/config.h"
#include "autograd/gradcheck.h"

static int usage(FILE *f, int status) {
    fprintf(f, "usage: gradcheck [--op NAME | --model KIND|all] [--list] [--seed N]\n"
               "Checks each differentiable op's backward against central finite differences\n"
               "(double precision, several shapes including broadcasting ones; each with leaf\n"
               "inputs, computed inputs, and computed inputs another op also uses); with --model\n"
               "the training loss of a small model of that kind (%s), built by the\n"
               "tinyad command line's row for it, for every parameter.\n", cli_model_kinds());
    return status;
}

/* ---- models ------------------------------------------------------------------ */

typedef struct model_check {
    const cli_model *row;
    void *m;
    td_tensor x; /* a batch of 3 images of 6 values (or the row's input) in (0.05, 0.95) */
} model_check;

static td_var *model_loss(td_tape *t, td_rng *rng, void *ctx) {
    const model_check *c = ctx;
    cli_terms terms;
    return c->row->train_loss(c->m, t, td_const(t, c->x), rng, 0, &terms);
}

/* The row's tiny instance, at its initial weights (from seed); 0 if it passes. */
static int check_model(const cli_model *row, unsigned long long seed) {
    enum { INPUT = 6, BATCH = 3 };
    const double tol = 1e-6;
    cli_config c;
    cli_config_defaults(&c);
    if (cli_config_set_kind(&c, row->kind) || cli_config_from_text(&c, row->tiny)) {
        fprintf(stderr, "gradcheck: %s: its tiny config: %s\n", row->kind, td_error());
        return 1;
    }
    const int64_t input = c.input > 0 ? c.input : INPUT; /* a tiny config may need its own shape */
    td_params *p = td_params_create();
    model_check mc = {row, row->create(&c, input, p), td_tensor_zeros(TD_SHAPE(BATCH, input))};
    if (!mc.m) {
        fprintf(stderr, "gradcheck: %s: %s\n", row->kind, td_error());
        td_params_destroy(p);
        td_tensor_release(&mc.x);
        return 1;
    }
    td_rng r;
    td_rng_init(&r, seed);
    td_params_finalize(p, &r);
    for (int64_t i = 0; i < mc.x.size; i++) mc.x.data[i] = (td_real)(0.05 + 0.9 * td_rng_double(&r));
    td_gc_result res = td_gradcheck_params(p->vars, p->count, model_loss, &mc, tol, seed);
    printf("%-7s %-4s max_abs %.2e max_rel %.2e tol %.0e  %lld derivatives in %d parameters  worst %s\n",
           row->kind, res.pass ? "ok" : "FAIL", res.max_abs, res.max_rel, tol, (long long)res.n_checked,
           p->count, p->count ? p->vars[res.worst_leaf]->name : "-");
    row->destroy(mc.m);
    td_params_destroy(p);
    td_tensor_release(&mc.x);
    return !res.pass;
}

static int check_models(const char *kind, unsigned long long seed) {
    int checked = 0, failed = 0;
    for (int i = 0; i < cli_n_models; i++) {
        if (strcmp(kind, "all") && strcmp(kind, cli_models[i]->kind)) continue;
        failed += check_model(cli_models[i], seed);
        checked++;
    }
    if (!checked) {
        fprintf(stderr, "gradcheck: no model kind '%s' (kinds: %s, or all)\n", kind, cli_model_kinds());
        return 2;
    }
    printf("gradcheck: %d passed, %d failed\n", checked - failed, failed);
    return failed ? 1 : 0;
}

/* ---- ops ---------------------------------------------------------------------- */

int main(int argc, char **argv) {
    const char *only = NULL, *model = NULL;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list")) {
            for (int op = 0; op < TD_OP_COUNT; op++)
                printf("%-16s %s\n", td_ops[op].name,
                       td_ops[op].differentiable ? "differentiable" : "not differentiable (noise)");
            return 0;
        } else if (!strcmp(argv[i], "--op") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            if (sscanf(argv[++i], "%llu", &seed) != 1) return usage(stderr, 2);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            return usage(stdout, 0);
        } else {
            fprintf(stderr, "gradcheck: unknown argument '%s'\n", argv[i]);
            return usage(stderr, 2);
        }
    }
    if (model) return only ? usage(stderr, 2) : check_models(model, seed);
    int checked = 0, failed = 0;
    for (int op = 0; op < TD_OP_COUNT; op++) {
        if (only && strcmp(only, td_ops[op].name)) continue;
        if (!td_ops[op].differentiable) {
            if (only) printf("%-16s not differentiable (noise): nothing to check\n", td_ops[op].name);
            if (only) checked++;
            continue;
        }
        char shapes[1024];
        double tol = td_gradcheck_tolerance(op);
        td_gc_result r = td_gradcheck_op(op, tol, seed, shapes, sizeof shapes);
        static const char *const inputs[] = {"leaf inputs", "computed inputs",
                                             "computed inputs another op also uses"};
        printf("%-16s %-4s max_abs %.2e max_rel %.2e tol %.0e  %lld derivatives  shapes %s%s%s\n",
               td_ops[op].name, r.pass ? "ok" : "FAIL", r.max_abs, r.max_rel, tol,
               (long long)r.n_checked, shapes, r.pass ? "" : "  failed with ",
               r.pass ? "" : inputs[r.failed_inputs]);
        checked++;
        failed += !r.pass;
    }
    if (only && !checked) {
        fprintf(stderr, "gradcheck: no op named '%s' (gradcheck --list shows the table)\n", only);
        return 2;
    }
    printf("gradcheck: %d passed, %d failed\n", checked - failed, failed);
    return failed ? 1 : 0;
}
