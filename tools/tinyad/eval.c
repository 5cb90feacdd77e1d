/* tinyad eval (test figures of a run) and tinyad sample (a grid of images
 * from the prior). */
#include <math.h>
#include <string.h>

#include "commands.h"
#include "pics.h"

/* What eval and sample start from: their own options (a), and the run
 * they name, with its config (c) and its model (rm). */
typedef struct opened {
    cli_config a, c;
    run_model rm;
    char path[4200]; /* the checkpoint */
} opened;

/* Parses the command line of cmd and opens the run it names. 0, -1 after
 * --help, or an exit status; o->rm is safe to free either way. */
static int open_target(int cmd, int argc, char **argv, opened *o) {
    memset(o, 0, sizeof *o);
    cli_config_defaults(&o->a);
    const char *target = NULL;
    int rc = cli_parse(cmd, "tinyad", argc, argv, 2, &o->a, &target, NULL);
    if (rc) return rc;
    if (!target) {
        fprintf(stderr, "tinyad %s: which %s?\n\n", cmd == OPT_EVAL ? "eval" : "sample",
                cmd == OPT_EVAL ? "run or checkpoint" : "checkpoint");
        cli_usage(stderr, cmd, "tinyad");
        return CLI_USAGE;
    }
    if ((rc = cli_check_limits(cmd, &o->a))) return rc;
    cli_set_threads(o->a.threads);
    /* 784 inputs for MNIST-format data; the checkpoint's shapes decide. */
    return run_open(target, &o->c, &o->rm, 784, o->path, sizeof o->path) ? cli_fail(td_error()) : 0;
}

/* The test figures of the model: per-image loss and terms, --iw-k's
 * -log p(x), the model's extra figures; printed as text or JSON. */
static int eval_figures(opened *o, const run_data *d) {
    const cli_config *a = &o->a;
    run_model *rm = &o->rm;
    td_rng base, r;
    td_rng_init(&base, (uint64_t)a->seed);
    r = td_rng_stream(&base, RNG_EVAL - 2);
    const double t0 = cli_now();
    cli_terms e = run_eval_dataset(rm, &d->test, &r);
    if (a->iw_k > 0 && !rm->ops->iw_nll) return cli_fail("--iw-k: this model has no likelihood estimate");
    /* the whole set at once for the rest: the draws depend on how it is chunked */
    td_tensor x = {0};
    if (a->iw_k > 0 || rm->ops->eval_extra) {
        x = td_tensor_zeros(TD_SHAPE(d->test.n, d->test.dim));
        td_dataset_rows(&d->test, 0, d->test.n, x.data);
    }
    double iw = NAN, iw_se = NAN, iw_secs = 0;
    if (a->iw_k > 0) {
        const double t1 = cli_now();
        double *nll = td_alloc(sizeof(double) * (size_t)d->test.n), s = 0, ss = 0;
        rm->ops->iw_nll(rm->m, rm->tape, &x, a->iw_k, &r, nll);
        for (int64_t i = 0; i < d->test.n; i++) s += nll[i];
        iw = s / (double)d->test.n;
        /* the standard error of the mean over the images (sample sd / sqrt(n)):
         * what another test set of that size would move the figure by */
        for (int64_t i = 0; i < d->test.n; i++) ss += (nll[i] - iw) * (nll[i] - iw);
        iw_se = d->test.n > 1 ? sqrt(ss / (double)(d->test.n - 1) / (double)d->test.n) : NAN;
        iw_secs = cli_now() - t1;
        td_free(nll);
    }
    const char *extra_names[8];
    double extra[8];
    const int n_extra = rm->ops->eval_extra ? rm->ops->eval_extra(rm->m, rm->tape, &x, extra_names, extra) : 0;
    td_tensor_release(&x);
    const double secs = cli_now() - t0;
    const char *reg = rm->ops->reg_name;
    if (a->json) {
        printf("{\"test_loss\": %.4f, \"recon\": %.4f, \"%s\": %.4f, \"n\": %lld", e.loss, e.recon, reg, e.reg,
               (long long)d->test.n);
        for (int i = 0; i < n_extra; i++) printf(", \"%s\": %.6g", extra_names[i], extra[i]);
        if (a->iw_k > 0)
        {
            char se[32] = "null"; /* one image has no spread */
            if (isfinite(iw_se)) snprintf(se, sizeof se, "%.4f", iw_se);
            printf(", \"iw_nll\": %.4f, \"iw_nll_se\": %s, \"iw_k\": %lld, \"iw_seconds\": %.1f", iw, se,
                   (long long)a->iw_k, iw_secs);
        }
        printf("}\n");
    } else {
        printf("%s on %lld test images (%s)\n", o->path, (long long)d->test.n, d->dir);
        printf("test loss per image %.4f  (recon %.4f + %s %.4f)\n", e.loss, e.recon, reg, e.reg);
        if (a->iw_k > 0)
            printf("-log p(x) with K=%lld importance samples: %.4f +- %.4f (standard error over the images; "
                   "%.1f s)\n", (long long)a->iw_k, iw, iw_se, iw_secs);
        for (int i = 0; i < n_extra; i++) printf("%s %.6g\n", extra_names[i], extra[i]);
        printf("%.1f s\n", secs);
    }
    return CLI_OK;
}

/* The test set of the run: --data, else where the run found its data
 * (when that is still there), else the standard places. */
static int eval_data(opened *o, run_data *d) {
    const cli_config *c = &o->c;
    const char *data = o->a.data[0] ? o->a.data : NULL;
    char probe[4200];
    if (!data && c->data[0] && td_data_dir_resolve(c->data, probe, sizeof probe)) data = c->data;
    int rc = run_load_data(c, data, 0, o->a.limit, d);
    if (rc || !c->input || d->test.dim == c->input) return rc;
    char msg[1200];
    snprintf(msg, sizeof msg, "the model takes images of %lld values but %s has %lld", (long long)c->input,
             d->dir, (long long)d->test.dim);
    return cli_fail(msg);
}

int cmd_eval(int argc, char **argv) {
    opened *o = td_alloc(sizeof *o);
    run_data d;
    memset(&d, 0, sizeof d);
    int rc = open_target(OPT_EVAL, argc, argv, o);
    if (!rc && !(rc = eval_data(o, &d))) rc = eval_figures(o, &d);
    run_free_model(&o->rm);
    run_release_data(&d);
    td_free(o);
    return rc < 0 ? CLI_OK : rc;
}

int cmd_sample(int argc, char **argv) {
    opened *o = td_alloc(sizeof *o);
    int rc = open_target(OPT_SAMPLE, argc, argv, o);
    if (!rc && !o->rm.ops->sample) rc = cli_fail("this model has no prior to sample from");
    if (!rc) {
        const int64_t n = o->a.n;
        td_rng base, r;
        td_rng_init(&base, (uint64_t)o->a.seed);
        r = td_rng_stream(&base, RNG_EVAL - 3);
        td_var *x = o->rm.ops->sample(o->rm.m, o->rm.tape, n, &r);
        const char *out = o->a.out[0] ? o->a.out : "samples.png";
        const int64_t side = (int64_t)lround(sqrt((double)td_dim(x, 1)));
        const int64_t cols = (int64_t)ceil(sqrt((double)n));
        if (cli_png_grid(out, x->value.data, n, side, side, cols))
            rc = cli_fail(td_error());
        else
            fprintf(stderr, "wrote %lld samples to %s\n", (long long)n, out);
    }
    run_free_model(&o->rm);
    td_free(o);
    return rc < 0 ? CLI_OK : rc;
}
