/* tinyad train: set up a fresh or resumed run, then epochs of steps (with
 * the NaN policy), each ending in validation, a metrics row and a
 * checkpoint; pictures at the end. Every path out goes through
 * train_release.
 *
 * Under mpirun every rank runs all of this in step (docs/distributed.md):
 * each takes its share of every global batch, the gradients are summed
 * across ranks, and every decision (a failure, the NaN policy, a stop
 * request) is agreed by a collective so no rank is left waiting. Rank 0
 * alone writes the run directory and prints. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "nn/dist.h"
#include "pics.h"
#include "tensor/isa.h"
#include "tensor/kernels.h"

/* --on-nan skip gives up after this many NaN/Inf steps in a row. */
enum { MAX_SKIPS_IN_A_ROW = 10 };
/* What a step or set-up stage returns besides an exit status. */
enum { STEP_SKIPPED = -1, SETUP_HELP = -2 };

/* ---- signals ---------------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    stop_requested = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C kills at once */
}

/* ---- the state of a run ---------------------------------------------------------------------- */

typedef struct train_run {
    cli_config c;
    char run[4096], ckpt[4200], path[4200];
    char config_text[8192];
    td_checkpoint *resume; /* open while setting up a resumed run */
    run_data d;
    run_model rm;
    td_rng base, model_rng, order, noise;
    run_extra ex;
    int64_t start_epoch;
    double *train_curve, *val_curve; /* [epochs + 1] */
    td_schedule sched;
    td_batcher b;
    int tty;
    int64_t stop_after, nan_step; /* test hooks (environment), -1: off */
    int64_t steps, skipped_in_row, skipped;
    int skip_nan;
    int have_ckpt; /* a good checkpoint is on disk */
    int rank, size; /* td_dist: 0 and 1 without mpirun */
    int split;      /* ranks share each batch; 0: each computes all of it (couples_rows) */
    int stop;       /* a stop every rank agreed on (stop_agreed) */
    int interrupted; /* the epochs ended early for it (train_epochs): no pictures, exit 130 */
    double reduce_secs; /* in the gradient all-reduce */
    int64_t reduces, same_checks; /* all-reduces; epochs whose weights were compared */
    td_real *micro_grads;  /* --same-bits-any-ranks: [micro-batches of a batch][params] */
    double *micro_terms;   /* [micro-batches][4]: loss, recon, reg, NaN/Inf (1 loss, 2 gradient) */
    FILE *quiet;     /* rank > 0: its set-up messages, shown if it alone fails */
    int saved_fd[2]; /* its stdout and stderr meanwhile */
} train_run;

typedef struct epoch_state {
    int64_t epoch;
    double lr, t0, last_draw;
    double sums[3]; /* loss, recon, reg over the epoch's images */
    int64_t seen;   /* images trained on */
    int64_t skip;   /* batches done before a mid-epoch resume */
    int64_t batch_i;
} epoch_state;

static void train_release(train_run *tr) {
    td_checkpoint_close(tr->resume);
    if (tr->b.d) td_batcher_release(&tr->b);
    td_free(tr->micro_grads);
    td_free(tr->micro_terms);
    td_free(tr->train_curve);
    td_free(tr->val_curve);
    run_free_model(&tr->rm);
    run_release_data(&tr->d);
    td_free(tr);
}

/* ---- ranks ------------------------------------------------------------------------------------ */

/* The signal reaches the ranks at different moments: they act on it only
 * where they all ask (one tiny collective), so all stop after the same
 * step. One process: exactly stop_requested. */
static int stop_agreed(train_run *tr) {
    tr->stop = tr->stop || td_dist_any(stop_requested);
    return tr->stop;
}

/* A status every rank returns alike: a rank that failed printed why; the
 * others fail with it, quietly. */
static int agree(int rc) { return td_dist_any(rc != 0) ? (rc ? rc : CLI_FAIL) : 0; }

/* Every rank reads the same command line and files, so set-up messages
 * (and --help) on ranks > 0 would only repeat rank 0's: they go to a
 * temporary file instead, shown when that rank alone failed (its data
 * missing on its machine, say). */
static void quiet_end(train_run *tr) {
    fflush(stdout), fflush(stderr);
    for (int fd = 1; fd <= 2; fd++)
        if (tr->saved_fd[fd - 1] >= 0) dup2(tr->saved_fd[fd - 1], fd), close(tr->saved_fd[fd - 1]);
}

static void quiet_begin(train_run *tr) {
    tr->saved_fd[0] = tr->saved_fd[1] = -1;
    if (tr->rank == 0 || !(tr->quiet = tmpfile())) return;
    fflush(stdout), fflush(stderr);
    int ok = 1;
    for (int fd = 1; fd <= 2 && ok; fd++)
        ok = (tr->saved_fd[fd - 1] = dup(fd)) >= 0 && dup2(fileno(tr->quiet), fd) >= 0;
    if (!ok) { /* then it speaks */
        quiet_end(tr);
        fclose(tr->quiet);
        tr->quiet = NULL;
    }
}

static int setup_agreed(train_run *tr, int rc) {
    if (tr->quiet) quiet_end(tr);
    double failed[2] = {rc != 0, tr->rank == 0 && rc != 0};
    td_dist_sum(failed, 2);
    if (failed[0] > 0 && failed[1] == 0) { /* rank 0 went through: say who did not */
        if (rc && tr->quiet) {
            char line[512];
            rewind(tr->quiet);
            while (fgets(line, sizeof line, tr->quiet)) fprintf(stderr, "rank %d: %s", tr->rank, line);
        }
        if (tr->rank == 0)
            fprintf(stderr, "tinyad: %.0f of %d ranks could not set up the run (their messages are above): "
                    "every machine needs the data and the run directory at the same paths\n", failed[0], tr->size);
    }
    if (tr->quiet) fclose(tr->quiet);
    tr->quiet = NULL;
    return failed[0] > 0 ? (rc ? rc : CLI_FAIL) : 0;
}

/* ---- set-up ------------------------------------------------------------------------------------ */

/* --resume: the run's own config, with the few overrides that are allowed. */
static int resume_config(train_run *tr, const char *kind, const unsigned char *given) {
    static const char *may_change[] = {"epochs", "threads", "data", "resume", "on-nan", "same-bits-any-ranks"};
    for (int i = 0; i < CLI_GIVEN_SIZE; i++) {
        if (!given[i]) continue;
        int ok = 0;
        for (int k = 0; k < 6; k++) ok |= i == cli_option_index(may_change[k]);
        if (!ok)
            return cli_usage_fail(OPT_TRAIN, "%s", "with --resume the run's own config is used; only "
                                  "--epochs, --threads, --data and --on-nan may be given (and --same-bits-any-ranks, "
                                  "an option of the invocation)");
    }
    cli_config *c = &tr->c;
    snprintf(tr->ckpt, sizeof tr->ckpt, "%s/checkpoint.tdc", c->resume);
    tr->resume = td_checkpoint_open(tr->ckpt);
    if (!tr->resume) return cli_fail(td_error());
    cli_config r;
    if (run_config_from_checkpoint(&r, tr->resume)) {
        fprintf(stderr, "tinyad: %s: %s\n", tr->ckpt, td_error());
        return CLI_FAIL;
    }
    if (kind && strcmp(kind, r.kind)) return cli_usage_fail(OPT_TRAIN, "--resume: that run is a '%s' run", r.kind);
    if (given[cli_option_index("epochs")]) r.epochs = c->epochs;
    if (given[cli_option_index("data")]) snprintf(r.data, sizeof r.data, "%s", c->data);
    r.threads = c->threads;
    r.same_bits = c->same_bits;
    snprintf(r.on_nan, sizeof r.on_nan, "%s", c->on_nan);
    snprintf(tr->run, sizeof tr->run, "%s", c->resume);
    *c = r;
    return 0;
}

static int fresh_config(train_run *tr, const char *kind, const unsigned char *given) {
    cli_config *c = &tr->c;
    if (!kind) {
        fprintf(stderr, "tinyad train: which model? (%s)\n\n", cli_model_kinds());
        cli_usage(stderr, OPT_TRAIN, "tinyad");
        return CLI_USAGE;
    }
    /* cli_parse set a known kind (and read its options) */
    if (strcmp(c->kind, kind) && cli_config_set_kind(c, kind)) return cli_usage_fail(OPT_TRAIN, "%s", td_error());
    if (cli_config_apply_recipe(c, given)) return cli_usage_fail(OPT_TRAIN, "%s", td_error());
    if (c->out[0])
        snprintf(tr->run, sizeof tr->run, "%s", c->out);
    else
        snprintf(tr->run, sizeof tr->run, "runs/%s-%lld", c->kind, (long long)c->seed);
    /* Never replace an earlier run's checkpoint by accident. */
    snprintf(tr->ckpt, sizeof tr->ckpt, "%s/checkpoint.tdc", tr->run);
    if (!c->force && access(tr->ckpt, F_OK) == 0) {
        char msg[2 * sizeof tr->run + 200];
        snprintf(msg, sizeof msg, "the run directory %s already holds a trained run (checkpoint.tdc); use "
                 "`--resume %s` to continue it, another --out, or --force to overwrite it", tr->run, tr->run);
        return cli_usage_fail(OPT_TRAIN, "%s", msg);
    }
    return 0;
}

/* The command line -> the run's config. SETUP_HELP after --help. */
static int train_config(train_run *tr, int argc, char **argv) {
    cli_config_defaults(&tr->c);
    const char *kind = NULL;
    unsigned char given[CLI_GIVEN_SIZE] = {0};
    int rc = cli_parse(OPT_TRAIN, "tinyad", argc, argv, 2, &tr->c, &kind, given);
    if (rc) return rc < 0 ? SETUP_HELP : rc;
    /* From here on Ctrl-C / SIGTERM only ask the run to stop after saving. */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = tr->c.resume[0] ? resume_config(tr, kind, given) : fresh_config(tr, kind, given);
    if (!rc) rc = cli_config_check(&tr->c);
    if (!rc) rc = cli_check_limits(OPT_TRAIN, &tr->c);
    if (!rc) cli_set_threads(tr->c.threads);
    return rc;
}

/* --output-bias data (yburda/iwae's get_train_bias): the logits' bias of
 * pixel j is the logit of the mean training pixel j, clipped to [0.001,
 * 0.999], so the untrained decoder already draws the mean image. */
static void set_output_bias(run_model *rm, const td_dataset *d) {
    td_var *b = rm->ops->output_bias(rm->m);
    const int64_t dim = d->dim, chunk = 1000;
    double *sum = td_alloc_zero(sizeof(double) * (size_t)dim);
    td_real *buf = td_alloc(sizeof(td_real) * (size_t)(chunk * dim));
    for (int64_t i = 0; i < d->n; i += chunk) {
        const int64_t rows = d->n - i < chunk ? d->n - i : chunk;
        td_dataset_rows(d, i, rows, buf);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < dim; j++) sum[j] += buf[r * dim + j];
    }
    for (int64_t j = 0; j < dim; j++) {
        double p = sum[j] / (double)d->n;
        p = p < 0.001 ? 0.001 : p > 0.999 ? 0.999 : p;
        b->value.data[j] = (td_real)log(p / (1 - p));
    }
    td_free(buf);
    td_free(sum);
}

/* The data, the model and the generators. */
static int train_load(train_run *tr) {
    cli_config *c = &tr->c;
    run_data *d = &tr->d;
    int rc = run_load_data(c, c->data[0] ? c->data : NULL, 1, PICTURE_TEST_IMAGES, d);
    if (rc) return rc;
    snprintf(c->data, sizeof c->data, "%s", d->dir); /* record where the data came from */
    fprintf(stderr, "compute: %s, %d thread%s\n", td_isa_summary(), cli_threads(),
            cli_threads() == 1 ? "" : "s");
    if (c->input && c->input != d->train.dim) {
        fprintf(stderr, "tinyad: the run was trained on images of %lld values; %s has %lld\n",
                (long long)c->input, d->dir, (long long)d->train.dim);
        return CLI_FAIL;
    }
    c->input = d->train.dim;
    if (c->batch > d->train.n) {
        char msg[128];
        snprintf(msg, sizeof msg, "--batch %lld is larger than the %lld training images",
                 (long long)c->batch, (long long)d->train.n);
        return cli_usage_fail(OPT_TRAIN, "%s", msg);
    }
    if (run_build_model(c, d->train.dim, 1, &tr->rm)) {
        fprintf(stderr, "tinyad: %s\n", td_error());
        return CLI_USAGE;
    }
    /* (a resumed run's checkpoint replaces it with the trained bias) */
    if (!strcmp(c->output_bias, "data")) set_output_bias(&tr->rm, &tr->d.train);
    cli_config_text(c, tr->config_text, sizeof tr->config_text);
    td_rng_init(&tr->base, (uint64_t)c->seed);
    tr->model_rng = td_rng_stream(&tr->base, RNG_MODEL);
    tr->order = td_rng_stream(&tr->base, RNG_ORDER);
    tr->noise = td_rng_stream(&tr->base, RNG_NOISE);
    tr->ex = (run_extra){.order_at_epoch_start = tr->order, .noise = tr->noise};
    tr->train_curve = td_alloc_zero(sizeof(double) * (size_t)(c->epochs + 1));
    tr->val_curve = td_alloc_zero(sizeof(double) * (size_t)(c->epochs + 1));
    return 0;
}

/* --resume: the weights, optimizer and run state from the checkpoint, and
 * metrics.csv cut to its epochs. */
static int resume_state(train_run *tr) {
    const cli_config *c = &tr->c;
    td_ckpt_state s = {.kind = c->kind, .config = NULL, .params = tr->rm.params, .optim = tr->rm.opt,
                       .rng = &tr->model_rng};
    run_extra *ex = &tr->ex;
    if (run_get_state(tr->resume, tr->ckpt, ex) || td_checkpoint_restore(tr->resume, &s))
        return cli_fail(td_error());
    const int64_t n = tr->d.train.n;
    if (ex->batches_done >= (uint64_t)((n + c->batch - 1) / c->batch) ||
        ex->seen > ex->batches_done * (uint64_t)c->batch) {
        char msg[4600];
        snprintf(msg, sizeof msg, "checkpoint '%s': its run state (%llu batches, %llu images done in "
                 "the epoch) does not fit an epoch of %lld training images in batches of %lld", tr->ckpt,
                 (unsigned long long)ex->batches_done, (unsigned long long)ex->seen, (long long)n,
                 (long long)c->batch);
        return cli_fail(msg);
    }
    tr->start_epoch = (int64_t)s.epoch;
    tr->order = ex->order_at_epoch_start;
    tr->noise = ex->noise;
    td_checkpoint_close(tr->resume);
    tr->resume = NULL;
    if (tr->start_epoch > c->epochs) {
        char msg[128];
        snprintf(msg, sizeof msg, "--epochs %lld: the run already has %lld epochs", (long long)c->epochs,
                 (long long)tr->start_epoch);
        return cli_usage_fail(OPT_TRAIN, "%s", msg);
    }
    snprintf(tr->path, sizeof tr->path, "%s/metrics.csv", tr->run);
    /* the curves are rank 0's (its pictures), and so is the file */
    int rc = tr->rank ? 0 : run_reload_metrics(tr->path, tr->start_epoch, tr->train_curve, tr->val_curve);
    if (rc)
        return rc == -2 ? cli_fail_write("rewrite", tr->path)
                        : cli_fail("metrics.csv of the run is missing or shorter than its checkpoint");
    fprintf(stderr, "resuming %s at epoch %lld%s\n", tr->run, (long long)tr->start_epoch + 1,
            ex->batches_done ? " (mid-epoch)" : "");
    return 0;
}

/* A fresh run: the directory, and metrics.csv with its header. */
static int fresh_dir(train_run *tr) {
    if (run_mkdir_p(tr->run)) {
        char msg[4300];
        snprintf(msg, sizeof msg, "cannot create the run directory %s: %s", tr->run, strerror(errno));
        return cli_fail(msg);
    }
    if (tr->c.force && unlink(tr->ckpt) && errno != ENOENT) /* --force: the old run goes */
        return cli_fail_write("remove", tr->ckpt);
    snprintf(tr->path, sizeof tr->path, "%s/metrics.csv", tr->run);
    const char *reg = tr->rm.ops->reg_name;
    char header[256];
    snprintf(header, sizeof header,
             "epoch,train_loss,train_recon,train_%s,val_loss,val_recon,val_%s,lr,beta,seconds\n", reg, reg);
    return run_write_text(tr->path, header) ? cli_fail_write("write", tr->path) : 0;
}

/* The run directory ready, config.txt written, the batcher and the
 * schedule set up. */
static int train_start(train_run *tr) {
    const cli_config *c = &tr->c;
    tr->have_ckpt = tr->resume != NULL; /* the resumed run's checkpoint */
    int rc = tr->resume ? resume_state(tr) : tr->rank ? 0 : fresh_dir(tr);
    if (rc) return rc;
    snprintf(tr->path, sizeof tr->path, "%s/config.txt", tr->run);
    if (!tr->rank && run_write_text(tr->path, tr->config_text)) return cli_fail_write("write", tr->path);
    snprintf(tr->ckpt, sizeof tr->ckpt, "%s/checkpoint.tdc", tr->run);
    tr->sched = (td_schedule){(td_schedule_kind)td_schedule_parse(c->schedule), c->gamma, c->step_size};
    td_batcher_init(&tr->b, &tr->d.train, c->batch, 1, (td_binarize)td_binarize_parse(c->binarize),
                    &tr->order, &tr->noise);
    tr->tty = tr->rank == 0 && isatty(2);
    /* Tests stop a run after N steps as if interrupted (deterministically) ... */
    const char *stop_env = getenv("TINYAD_STOP_AFTER_STEPS");
    tr->stop_after = stop_env ? atoll(stop_env) : -1;
    /* ... and poison the input of step N with a NaN (the --on-nan paths). */
    const char *nan_env = getenv("TINYAD_TEST_NAN_STEP");
    tr->nan_step = nan_env ? atoll(nan_env) : -1;
    tr->skip_nan = !strcmp(c->on_nan, "skip");
    if (stop_requested)
        fprintf(stderr, "interrupted before the first step: nothing to save%s\n",
                tr->have_ckpt ? " (the checkpoint is unchanged)" : "");
    return 0;
}

/* ---- steps ------------------------------------------------------------------------------------ */

/* 1 if every parameter gradient is finite: one branch-free pass over the
 * gradient block, about 1 % of a training step. */
static int grads_finite(const td_params *p) {
    const td_tensor g = td_tensor_wrap(TD_SHAPE(p->total), p->grads);
    return td_k_all_finite(&g);
}

/* A step gave a NaN/Inf loss or gradient. Replays it (same weights, batch
 * and noise: rng is the model generator as it was before the step) with the
 * tape's finite check on, so the message names the op where the first
 * NaN/Inf appeared; the check costs nothing while training goes well.
 * Returns 1 if the weights are still finite (the step can be skipped). */
static int explain_non_finite(run_model *rm, td_tensor xb, td_rng rng, int64_t epoch, char *why,
                              size_t len) {
    const char *param = run_non_finite_param(rm->params);
    if (param) {
        snprintf(why, len, "parameter '%s' already holds NaN/Inf (the previous update overflowed)", param);
        return 0;
    }
    td_tape_reset(rm->tape);
    td_tape_set_check_finite(rm->tape, 1);
    cli_terms tm;
    td_var *loss = rm->ops->train_loss(rm->m, rm->tape, td_const(rm->tape, xb), &rng, epoch, &tm);
    if (!td_tape_finite_error(rm->tape)) {
        td_params_zero_grad(rm->params);
        (void)td_backward(rm->tape, loss);
    }
    const char *e = td_tape_finite_error(rm->tape);
    snprintf(why, len, "%s", e ? e : "(replaying the step with the finite check did not reproduce it)");
    td_tape_set_check_finite(rm->tape, 0);
    td_tape_reset(rm->tape);
    td_params_zero_grad(rm->params);
    return 1;
}

/* The NaN policy: never let NaN/Inf into the weights. --on-nan skip drops
 * the step (STEP_SKIPPED) while the weights are finite and fewer than
 * MAX_SKIPS_IN_A_ROW steps in a row failed; otherwise the run stops.
 * Every rank runs it when any rank saw a NaN/Inf (in_grad: 1 if it was in a
 * gradient), and decides alike: the weights and counters are the same on
 * all. A rank that saw it itself (mine) explains it from its own rows. */
static int nan_policy(train_run *tr, const epoch_state *e, td_tensor xb, td_rng rng_before, int mine,
                      int in_grad) {
    char why[400], msg[700], who[32] = "";
    int weights_ok = !run_non_finite_param(tr->rm.params);
    if (mine)
        weights_ok = explain_non_finite(&tr->rm, xb, rng_before, e->epoch, why, sizeof why);
    else
        snprintf(why, sizeof why, "on another rank");
    if (tr->size > 1) snprintf(who, sizeof who, "rank %d: ", tr->rank);
    if (mine) in_grad = mine == 2;
    snprintf(msg, sizeof msg, "%s%s at epoch %lld, step %lld (of %lld): %s", who,
             in_grad ? "NaN/Inf in the gradient" : "the loss is NaN/Inf", (long long)e->epoch + 1,
             (long long)e->batch_i + 1, (long long)td_batcher_count(&tr->b), why);
    if (tr->tty) fputc('\n', stderr);
    if (tr->skip_nan && weights_ok && ++tr->skipped_in_row < MAX_SKIPS_IN_A_ROW) {
        if (mine) fprintf(stderr, "tinyad: %s; step skipped (--on-nan skip)\n", msg);
        tr->skipped++;
        return STEP_SKIPPED;
    }
    if (mine) fprintf(stderr, "tinyad: %s\n", msg);
    const int skip = tr->skip_nan;
    if (tr->rank == 0)
    fprintf(stderr, "tinyad: stopped%s; %s%s; try a lower --lr or --clip 10%s\n",
            skip ? weights_ok ? " after 10 skipped steps in a row" : " (the weights cannot be "
            "recovered by skipping)" : "", tr->have_ckpt ? "the last good checkpoint is unchanged: " :
            "no checkpoint had been written yet", tr->have_ckpt ? tr->ckpt : "",
            skip ? "" : " (or --on-nan skip)");
    return CLI_FAIL;
}

/* One optimizer step on the global batch xb: 0, STEP_SKIPPED, or an exit
 * status. This rank computes rows [r0, r1) of it (all of them without
 * tr->split): a remainder of rows / size goes to the last ranks. The tape's batch slice makes the
 * model's noise that of the whole batch, so a row gets the same noise on
 * any number of ranks and every rank's generator advances alike; a rank
 * with no rows (a batch smaller than the job) runs one row for that and
 * counts nothing. The losses are sums over rows, so the gradients are
 * summed across ranks. */
static int train_step(train_run *tr, epoch_state *e, td_tensor xb, int64_t rows) {
    run_model *rm = &tr->rm;
    td_tape_reset(rm->tape);
    cli_terms tm;
    const td_rng rng_before = tr->model_rng; /* to replay the step if it goes wrong */
    if (tr->steps + 1 == tr->nan_step) xb.data[0] = NAN;
    const int64_t r0 = rows * tr->rank / tr->size, r1 = rows * (tr->rank + 1) / tr->size;
    const int empty = tr->split && r1 == r0;
    td_tensor xs = !tr->split ? xb : td_tensor_rows(&xb, empty ? 0 : r0, empty ? 1 : r1 - r0);
    if (tr->split) td_tape_set_batch_slice(rm->tape, empty ? 0 : r0, xs.shape.d[0], rows);
    td_var *loss = rm->ops->train_loss(rm->m, rm->tape, td_const(rm->tape, xs), &tr->model_rng, e->epoch, &tm);
    int non_finite = !isfinite(tm.loss);
    if (!non_finite) {
        td_params_zero_grad(rm->params);
        if (td_backward(rm->tape, loss)) return cli_fail(td_error());
        non_finite = !grads_finite(rm->params) ? 2 : 0;
    }
    if (empty) {
        td_params_zero_grad(rm->params);
        tm = (cli_terms){0, 0, 0}, non_finite = 0;
    }
    if (!tr->split && tr->rank) tm = (cli_terms){0, 0, 0}; /* rank 0's whole-batch figures count */
    /* the batch's losses and whether any rank saw a NaN/Inf (in its loss, in
     * its gradient) */
    double g[5] = {tm.loss, tm.recon, tm.reg, non_finite == 1, non_finite == 2};
    td_dist_sum(g, 5);
    int rc = 0;
    if (g[3] > 0 || g[4] > 0) {
        rc = nan_policy(tr, e, xs, rng_before, non_finite, g[3] == 0);
    } else {
        if (tr->split) { /* else every rank has the whole batch's gradient already */
            const double t0 = cli_now();
            td_dist_reduce_grads(rm->params, TD_DIST_SUM);
            tr->reduce_secs += cli_now() - t0, tr->reduces++;
        }
        tr->skipped_in_row = 0;
        td_optimizer_step(rm->opt, e->lr);
        e->sums[0] += g[0], e->sums[1] += g[1], e->sums[2] += g[2];
        e->seen += rows;
    }
    td_tape_set_batch_slice(rm->tape, 0, 0, 0); /* validation and pictures draw plainly */
    return rc;
}

/* --same-bits-any-ranks M: the step's gradient is the sum, in the order of
 * the batch, of the gradients of its micro-batches of M rows; rank r
 * computes micro-batches [k r / N, k (r + 1) / N) of the k, every rank then
 * holds all k (one all-gather) and adds them in that order, so the bits do
 * not depend on N (one process computes the same k). Each micro-batch
 * starts from the step's generator and draws the whole batch's noise
 * (the tape's slice): the same numbers per row as without the option. A
 * rank without micro-batches runs the first one to advance its generator
 * alike and discards it. */
static int micro_step(train_run *tr, epoch_state *e, td_tensor xb, int64_t rows) {
    run_model *rm = &tr->rm;
    const int64_t m = tr->c.same_bits, k = (rows + m - 1) / m, np = rm->params->total;
    const int64_t j0 = k * tr->rank / tr->size, j1 = k * (tr->rank + 1) / tr->size;
    const td_rng start = tr->model_rng;
    if (tr->steps + 1 == tr->nan_step) xb.data[0] = NAN;
    for (int64_t j = j0 < j1 ? j0 : 0; j < (j0 < j1 ? j1 : 1); j++) {
        const int64_t first = j * m, n = rows - first < m ? rows - first : m;
        td_rng r = start;
        cli_terms tm;
        td_tape_reset(rm->tape);
        td_tape_set_batch_slice(rm->tape, first, n, rows);
        td_var *loss = rm->ops->train_loss(rm->m, rm->tape, td_const(rm->tape, td_tensor_rows(&xb, first, n)), &r,
                                           e->epoch, &tm);
        tr->model_rng = r;
        if (j0 == j1) break; /* no share: the generator only */
        double *t = tr->micro_terms + 4 * j;
        t[0] = tm.loss, t[1] = tm.recon, t[2] = tm.reg, t[3] = !isfinite(tm.loss);
        if (!t[3]) {
            td_params_zero_grad(rm->params);
            if (td_backward(rm->tape, loss)) return cli_fail(td_error());
            t[3] = grads_finite(rm->params) ? 0 : 2;
        }
        memcpy(tr->micro_grads + j * np, rm->params->grads, sizeof(td_real) * (size_t)np);
    }
    const double t0 = cli_now();
    td_dist_allgather(tr->micro_terms, 4 * sizeof(double), k);
    td_dist_allgather(tr->micro_grads, sizeof(td_real) * (size_t)np, k);
    if (tr->size > 1) tr->reduce_secs += cli_now() - t0, tr->reduces++;
    double g[3] = {0, 0, 0};
    int64_t bad = -1;
    for (int64_t j = 0; j < k; j++) {
        const double *t = tr->micro_terms + 4 * j;
        g[0] += t[0], g[1] += t[1], g[2] += t[2];
        if (t[3] && bad < 0) bad = j;
    }
    if (bad >= 0) { /* the first micro-batch that failed; its rank explains it */
        const int64_t first = bad * m, n = rows - first < m ? rows - first : m;
        td_tape_set_batch_slice(rm->tape, first, n, rows);
        const int kind = (int)tr->micro_terms[4 * bad + 3], mine = bad >= j0 && bad < j1 ? kind : 0;
        const int rc = nan_policy(tr, e, td_tensor_rows(&xb, first, n), start, mine, kind == 2);
        td_tape_set_batch_slice(rm->tape, 0, 0, 0);
        return rc;
    }
    td_tape_set_batch_slice(rm->tape, 0, 0, 0);
    td_real *grads = rm->params->grads;
    memcpy(grads, tr->micro_grads, sizeof(td_real) * (size_t)np);
    for (int64_t j = 1; j < k; j++) {
        const td_real *gj = tr->micro_grads + j * np;
        for (int64_t i = 0; i < np; i++) grads[i] += gj[i];
    }
    tr->skipped_in_row = 0;
    td_optimizer_step(rm->opt, e->lr);
    e->sums[0] += g[0], e->sums[1] += g[1], e->sums[2] += g[2];
    e->seen += rows;
    return 0;
}

static void progress(int64_t epoch, int64_t epochs, int64_t done, int64_t total, double rate,
                     double loss_per_image) {
    const int width = 30;
    const int fill = total ? (int)(width * done / total) : width;
    const double eta = rate > 0 ? (double)(total - done) / rate : 0;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[width] = 0;
    fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %3d%% %6.0f img/s ETA %d:%02d loss %.2f",
            (long long)epoch, (long long)epochs, bar, total ? (int)(100 * done / total) : 100, rate,
            (int)eta / 60, (int)eta % 60, loss_per_image);
    fflush(stderr);
}

/* ---- epochs ------------------------------------------------------------------------------------ */

static void epoch_begin(train_run *tr, int64_t epoch, epoch_state *e) {
    *e = (epoch_state){.epoch = epoch, .lr = td_schedule_lr(&tr->sched, tr->c.lr, epoch), .t0 = cli_now()};
    tr->ex.order_at_epoch_start = tr->order;
    td_batcher_start(&tr->b);
    if (epoch == tr->start_epoch && tr->ex.batches_done) { /* resume mid-epoch: same order, skip ahead */
        e->skip = (int64_t)tr->ex.batches_done;
        tr->b.pos = e->skip * tr->c.batch;
        memcpy(e->sums, tr->ex.sums, sizeof e->sums);
        e->seen = (int64_t)tr->ex.seen;
    }
    e->batch_i = e->skip;
}

/* The steps of an epoch, until its end or a stop request. 0 or a status. */
static int epoch_steps(train_run *tr, epoch_state *e) {
    td_batcher *b = &tr->b;
    td_tensor xb;
    int64_t rows;
    while ((rows = td_batcher_next(b, &xb)) > 0) {
        const int rc = tr->c.same_bits ? micro_step(tr, e, xb, rows) : train_step(tr, e, xb, rows);
        if (rc > 0) return rc;
        e->batch_i++;
        if (++tr->steps == tr->stop_after) stop_requested = 1; /* on every rank */
        if (rc == 0 && tr->tty && (cli_now() - e->last_draw > 0.2 || b->pos >= b->d->n)) {
            e->last_draw = cli_now();
            progress(e->epoch + 1, tr->c.epochs, b->pos, b->d->n,
                     (double)(e->seen - e->skip * tr->c.batch) / (cli_now() - e->t0 + 1e-9),
                     e->sums[0] / (double)e->seen);
        }
        if (stop_agreed(tr) && b->pos < b->d->n) break;
    }
    return 0;
}

/* Interrupted mid-epoch: save where we are. */
static int save_mid_epoch(train_run *tr, const epoch_state *e) {
    run_extra *ex = &tr->ex;
    ex->batches_done = (uint64_t)e->batch_i;
    memcpy(ex->sums, e->sums, sizeof e->sums);
    ex->seen = (uint64_t)e->seen;
    ex->noise = tr->noise;
    if (tr->rank) return agree(0); /* rank 0 writes */
    if (tr->tty) fputc('\n', stderr);
    if (run_save_checkpoint(tr->ckpt, tr->config_text, &tr->rm, &tr->model_rng, (uint64_t)e->epoch, ex))
        return agree(cli_fail(td_error()));
    fprintf(stderr, "interrupted in epoch %lld: saved %s; continue with `tinyad train %s --resume %s`\n",
            (long long)e->epoch + 1, tr->ckpt, tr->c.kind, tr->run);
    return agree(0);
}

/* One row of metrics.csv; 0 or a status. A partial row is dropped by
 * --resume, which keeps one row per saved epoch. */
static int append_metrics(train_run *tr, const epoch_state *e, const cli_terms *v, double secs) {
    const double n = (double)e->seen;
    const double beta = tr->rm.ops->beta ? tr->rm.ops->beta(tr->rm.m, e->epoch) : 1;
    snprintf(tr->path, sizeof tr->path, "%s/metrics.csv", tr->run);
    FILE *f = fopen(tr->path, "a");
    int ok = f && fprintf(f, "%lld,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6g,%.6g,%.3f\n", (long long)e->epoch + 1,
                          e->sums[0] / n, e->sums[1] / n, e->sums[2] / n, v->loss, v->recon, v->reg, e->lr,
                          beta, secs) > 0 && fflush(f) == 0;
    int err = errno;
    if (f && fclose(f) && ok) ok = 0, err = errno;
    if (ok) return 0;
    errno = err;
    return cli_fail_write("append to", tr->path);
}

/* Validation, the metrics row, the summary line and the checkpoint: rank
 * 0's. */
static int epoch_write(train_run *tr, const epoch_state *e) {
    const cli_config *c = &tr->c;
    const double secs = cli_now() - e->t0;
    td_rng er = td_rng_stream(&tr->base, RNG_EVAL + (uint64_t)e->epoch);
    const int has_val = tr->d.val.n > 0;
    cli_terms v = has_val ? run_eval_dataset(&tr->rm, &tr->d.val, &er) : (cli_terms){NAN, NAN, NAN};
    const double n = (double)e->seen;
    tr->train_curve[e->epoch] = e->sums[0] / n;
    tr->val_curve[e->epoch] = v.loss;
    int rc = append_metrics(tr, e, &v, secs);
    if (rc) return rc;
    if (tr->tty) fputs("\r\033[K", stderr); /* the summary line replaces the bar */
    char val_text[64] = "";
    if (has_val) snprintf(val_text, sizeof val_text, "  val %.3f", v.loss);
    fprintf(stderr, "epoch %lld/%lld  train %.3f (recon %.3f, %s %.3f)%s  lr %.3g  %.1f s  %.0f img/s\n",
            (long long)e->epoch + 1, (long long)c->epochs, e->sums[0] / n, e->sums[1] / n,
            tr->rm.ops->reg_name, e->sums[2] / n, val_text, e->lr, secs,
            (double)(e->seen - e->skip * c->batch) / secs);
    run_extra *ex = &tr->ex;
    ex->batches_done = 0;
    ex->seen = 0;
    memset(ex->sums, 0, sizeof ex->sums);
    ex->order_at_epoch_start = tr->order;
    ex->noise = tr->noise;
    if (run_save_checkpoint(tr->ckpt, tr->config_text, &tr->rm, &tr->model_rng, (uint64_t)e->epoch + 1, ex))
        return cli_fail(td_error());
    return 0;
}

/* The end of an epoch on every rank: the weights checked identical, then
 * rank 0 writes, and all agree on how it went. */
static int end_of_epoch(train_run *tr, const epoch_state *e) {
    if (e->seen == 0) { /* --on-nan skip skipped the whole epoch (e->seen is global) */
        char msg[200];
        snprintf(msg, sizeof msg, "every step of epoch %lld gave NaN/Inf and was skipped; stopped",
                 (long long)e->epoch + 1);
        return tr->rank ? CLI_FAIL : cli_fail(msg);
    }
    if (td_dist_check_same(tr->rm.params)) { /* the last checkpoint stays the last good one */
        if (tr->rank == 0) fprintf(stderr, "tinyad: after epoch %lld: %s; stopped\n", (long long)e->epoch + 1,
                                   td_error());
        return CLI_FAIL;
    }
    tr->same_checks += tr->size > 1;
    int rc = agree(tr->rank ? 0 : epoch_write(tr, e));
    if (rc) return rc;
    tr->have_ckpt = 1;
    return 0;
}

/* --epochs 0 on a fresh run: the initialized model is the checkpoint (to
 * start another program from tinyad's init, or to look at it), and
 * `--resume` trains on from it exactly as a fresh run of the same seed. */
static int save_initial(train_run *tr) {
    int rc = agree(tr->rank ? 0
                   : run_save_checkpoint(tr->ckpt, tr->config_text, &tr->rm, &tr->model_rng, 0, &tr->ex)
                   ? cli_fail(td_error()) : 0);
    if (!rc) tr->have_ckpt = 1;
    return rc;
}

static int train_epochs(train_run *tr) {
    int64_t epoch = tr->start_epoch;
    if (tr->c.epochs == 0 && !tr->have_ckpt) return save_initial(tr);
    for (; epoch < tr->c.epochs && !stop_agreed(tr); epoch++) {
        epoch_state e;
        epoch_begin(tr, epoch, &e);
        int rc = epoch_steps(tr, &e);
        if (rc) return rc;
        if (tr->stop && tr->b.pos < tr->b.d->n) {
            tr->interrupted = 1;
            return save_mid_epoch(tr, &e);
        }
        if ((rc = end_of_epoch(tr, &e))) return rc;
    }
    /* A stop that came at an epoch's end, or after the last one: decided
     * here once (stop_agreed latches), so the message and train_finish agree
     * even when the signal lands between two checks. */
    if (stop_agreed(tr)) {
        tr->interrupted = 1;
        if (tr->rank == 0 && tr->have_ckpt)
            fprintf(stderr, "interrupted: saved %s after epoch %lld; continue with `tinyad train %s --resume %s`\n",
                    tr->ckpt, (long long)epoch, tr->c.kind, tr->run);
        else if (tr->rank == 0)
            fprintf(stderr, "interrupted before the first epoch ended: nothing was saved\n");
    }
    return 0;
}

/* The pictures of a complete run, and the closing messages. */
static int train_finish(train_run *tr, int status) {
    /* A Ctrl-C during the pictures (every epoch is saved by then) lets them
     * finish: the run is complete, and says so with status 0. */
    const int interrupted = tr->interrupted;
    if (tr->rank) return !status && interrupted ? CLI_INTERRUPTED : status; /* rank 0 writes */
    if (tr->size > 1 && tr->reduces)
        fprintf(stderr, "%d ranks: the gradient all-reduce took %.3f ms per step\n", tr->size,
                1e3 * tr->reduce_secs / (double)tr->reduces);
    if (tr->same_checks)
        fprintf(stderr, "%d ranks: the weights, compared at the end of %lld epoch%s, were identical on "
                "every rank\n", tr->size, (long long)tr->same_checks, tr->same_checks == 1 ? "" : "s");
    if (!status && !interrupted) {
        run_model *rm = &tr->rm;
        run_write_pictures(tr->run, rm, &tr->d, tr->train_curve, tr->val_curve, tr->c.epochs,
                           (uint64_t)tr->c.seed);
        if (stop_requested) fprintf(stderr, "interrupt received while writing the pictures: finished them\n");
        const int prior = rm->ops->sample != NULL;
        fprintf(stderr, "run directory: %s (config.txt, metrics.csv, checkpoint.tdc, %srecon.png, %s"
                "latent.png%s, curve.png)\n", tr->run, prior ? "samples.png, " : "",
                rm->ops->filters ? "filters.png, " : "", prior && rm->ops->latent(rm->m) == 2 ? ", manifold.png" : "");
    }
    if (tr->skipped)
        fprintf(stderr, "tinyad: %lld step%s skipped for NaN/Inf (--on-nan skip)\n", (long long)tr->skipped,
                tr->skipped == 1 ? "" : "s");
    return !status && interrupted ? CLI_INTERRUPTED : status;
}

int cmd_train(int argc, char **argv) {
    if (td_dist_init(&argc, &argv)) return cli_fail(td_error());
    train_run *tr = td_alloc_zero(sizeof *tr);
    tr->rank = td_dist_rank(), tr->size = td_dist_size();
    quiet_begin(tr);
    int status = train_config(tr, argc, argv);
    if (!status && !(status = train_load(tr))) status = train_start(tr);
    status = setup_agreed(tr, status);
    if (status == SETUP_HELP) status = CLI_OK;
    else if (!status) {
        td_dist_broadcast_params(tr->rm.params); /* equal already (one seed, one checkpoint): made sure */
        const cli_model *ops = tr->rm.ops;
        tr->split = tr->size > 1 && !(ops->couples_rows && ops->couples_rows(&tr->c));
        if (tr->c.same_bits) { /* room for every micro-batch of a batch */
            const int64_t k = (tr->c.batch + tr->c.same_bits - 1) / tr->c.same_bits;
            tr->micro_grads = td_alloc(sizeof(td_real) * (size_t)(k * tr->rm.params->total));
            tr->micro_terms = td_alloc(sizeof(double) * (size_t)(4 * k));
            tr->split = tr->size > 1;
        }
        if (tr->size > 1 && !tr->split && tr->rank == 0)
            fprintf(stderr, "note: this %s's loss is not a sum over the batch's rows (a batch statistic), so "
                    "its gradient cannot be split: each of the %d ranks computes every batch (no speed-up)\n",
                    ops->kind, tr->size);
        status = train_finish(tr, train_epochs(tr));
    }
    train_release(tr);
    td_dist_finalize();
    return status;
}
