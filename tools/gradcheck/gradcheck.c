/* gradcheck: every differentiable op in the table against central finite
 * differences, in double precision.
 *
 *   gradcheck            check every op, one line each; exit 1 on any failure
 *   gradcheck --op NAME  check one op
 *   gradcheck --list     list the table (name, differentiable or not) */
#include <stdio.h>
#include <string.h>

#include "autograd/gradcheck.h"

static int usage(FILE *f, int status) {
    fprintf(f, "usage: gradcheck [--op NAME] [--list] [--seed N]\n"
               "Checks each differentiable op's backward against central finite differences\n"
               "(double precision, several shapes including broadcasting ones).\n");
    return status;
}

int main(int argc, char **argv) {
    const char *only = NULL;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list")) {
            for (int op = 0; op < TD_OP_COUNT; op++)
                printf("%-16s %s\n", td_ops[op].name,
                       td_ops[op].differentiable ? "differentiable" : "not differentiable (noise)");
            return 0;
        } else if (!strcmp(argv[i], "--op") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            if (sscanf(argv[++i], "%llu", &seed) != 1) return usage(stderr, 2);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            return usage(stdout, 0);
        } else {
            fprintf(stderr, "gradcheck: unknown argument '%s'\n", argv[i]);
            return usage(stderr, 2);
        }
    }
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
        printf("%-16s %-4s max_abs %.2e max_rel %.2e tol %.0e  %lld derivatives  shapes %s\n",
               td_ops[op].name, r.pass ? "ok" : "FAIL", r.max_abs, r.max_rel, tol,
               (long long)r.n_checked, shapes);
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
