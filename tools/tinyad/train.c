/* tinyad train: set up a fresh or resumed run, then epochs of steps (with
 * the NaN policy), each ending in validation, a metrics row and a
 * checkpoint; pictures at the end. Every path out goes through
 * train_release. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
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
    td_free(tr->train_curve);
    td_free(tr->val_curve);
    run_free_model(&tr->rm);
    run_release_data(&tr->d);
    td_free(tr);
}

/* ---- set-up ------------------------------------------------------------------------------------ */

/* --resume: the run's own config, with the few overrides that are allowed. */
static int resume_config(train_run *tr, const char *kind, const unsigned char *given) {
    static const char *may_change[] = {"epochs", "threads", "data", "resume", "on-nan"};
    for (int i = 0; i < CLI_GIVEN_SIZE; i++) {
        if (!given[i]) continue;
        int ok = 0;
        for (int k = 0; k < 5; k++) ok |= i == cli_option_index(may_change[k]);
        if (!ok)
            return cli_usage_fail(OPT_TRAIN, "%s", "with --resume the run's own config is used; only "
                                  "--epochs, --threads, --data and --on-nan may be given");
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
    int rc = run_reload_metrics(tr->path, tr->start_epoch, tr->train_curve, tr->val_curve);
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
    int rc = tr->resume ? resume_state(tr) : fresh_dir(tr);
    if (rc) return rc;
    snprintf(tr->path, sizeof tr->path, "%s/config.txt", tr->run);
    if (run_write_text(tr->path, tr->config_text)) return cli_fail_write("write", tr->path);
    snprintf(tr->ckpt, sizeof tr->ckpt, "%s/checkpoint.tdc", tr->run);
    tr->sched = (td_schedule){(td_schedule_kind)td_schedule_parse(c->schedule), c->gamma, c->step_size};
    td_batcher_init(&tr->b, &tr->d.train, c->batch, 1, (td_binarize)td_binarize_parse(c->binarize),
                    &tr->order, &tr->noise);
    tr->tty = isatty(2);
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
 * MAX_SKIPS_IN_A_ROW steps in a row failed; otherwise the run stops. */
static int nan_policy(train_run *tr, const epoch_state *e, td_tensor xb, td_rng rng_before, int in_grad) {
    char why[400], msg[700];
    const int weights_ok = explain_non_finite(&tr->rm, xb, rng_before, e->epoch, why, sizeof why);
    snprintf(msg, sizeof msg, "%s at epoch %lld, step %lld (of %lld): %s",
             in_grad ? "NaN/Inf in the gradient" : "the loss is NaN/Inf", (long long)e->epoch + 1,
             (long long)e->batch_i + 1, (long long)td_batcher_count(&tr->b), why);
    if (tr->tty) fputc('\n', stderr);
    if (tr->skip_nan && weights_ok && ++tr->skipped_in_row < MAX_SKIPS_IN_A_ROW) {
        fprintf(stderr, "tinyad: %s; step skipped (--on-nan skip)\n", msg);
        tr->skipped++;
        return STEP_SKIPPED;
    }
    fprintf(stderr, "tinyad: %s\n", msg);
    const int skip = tr->skip_nan;
    fprintf(stderr, "tinyad: stopped%s; %s%s; try a lower --lr or --clip 10%s\n",
            skip ? weights_ok ? " after 10 skipped steps in a row" : " (the weights cannot be "
            "recovered by skipping)" : "", tr->have_ckpt ? "the last good checkpoint is unchanged: " :
            "no checkpoint had been written yet", tr->have_ckpt ? tr->ckpt : "",
            skip ? "" : " (or --on-nan skip)");
    return CLI_FAIL;
}

/* One optimizer step on batch xb: 0, STEP_SKIPPED, or an exit status. */
static int train_step(train_run *tr, epoch_state *e, td_tensor xb, int64_t rows) {
    run_model *rm = &tr->rm;
    td_tape_reset(rm->tape);
    cli_terms tm;
    const td_rng rng_before = tr->model_rng; /* to replay the step if it goes wrong */
    if (tr->steps + 1 == tr->nan_step) xb.data[0] = NAN;
    td_var *loss = rm->ops->train_loss(rm->m, rm->tape, td_const(rm->tape, xb), &tr->model_rng, e->epoch, &tm);
    int non_finite = !isfinite(tm.loss);
    if (!non_finite) {
        td_params_zero_grad(rm->params);
        if (td_backward(rm->tape, loss)) return cli_fail(td_error());
        non_finite = !grads_finite(rm->params) ? 2 : 0;
    }
    if (non_finite) return nan_policy(tr, e, xb, rng_before, non_finite == 2);
    tr->skipped_in_row = 0;
    td_optimizer_step(rm->opt, e->lr);
    e->sums[0] += tm.loss, e->sums[1] += tm.recon, e->sums[2] += tm.reg;
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
        const int rc = train_step(tr, e, xb, rows);
        if (rc > 0) return rc;
        e->batch_i++;
        if (++tr->steps == tr->stop_after) stop_requested = 1;
        if (rc == 0 && tr->tty && (cli_now() - e->last_draw > 0.2 || b->pos >= b->d->n)) {
            e->last_draw = cli_now();
            progress(e->epoch + 1, tr->c.epochs, b->pos, b->d->n,
                     (double)(e->seen - e->skip * tr->c.batch) / (cli_now() - e->t0 + 1e-9),
                     e->sums[0] / (double)e->seen);
        }
        if (stop_requested && b->pos < b->d->n) break;
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
    if (tr->tty) fputc('\n', stderr);
    if (run_save_checkpoint(tr->ckpt, tr->config_text, &tr->rm, &tr->model_rng, (uint64_t)e->epoch, ex))
        return cli_fail(td_error());
    fprintf(stderr, "interrupted in epoch %lld: saved %s; continue with `tinyad train %s --resume %s`\n",
            (long long)e->epoch + 1, tr->ckpt, tr->c.kind, tr->run);
    return 0;
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

/* Validation, the metrics row, the summary line and the checkpoint. */
static int end_of_epoch(train_run *tr, const epoch_state *e) {
    const cli_config *c = &tr->c;
    if (e->seen == 0) { /* --on-nan skip skipped the whole epoch */
        char msg[200];
        snprintf(msg, sizeof msg, "every step of epoch %lld gave NaN/Inf and was skipped; stopped",
                 (long long)e->epoch + 1);
        return cli_fail(msg);
    }
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
    tr->have_ckpt = 1;
    if (stop_requested)
        fprintf(stderr, "interrupted: saved %s after epoch %lld; continue with `tinyad train %s --resume %s`\n",
                tr->ckpt, (long long)e->epoch + 1, c->kind, tr->run);
    return 0;
}

static int train_epochs(train_run *tr) {
    for (int64_t epoch = tr->start_epoch; epoch < tr->c.epochs && !stop_requested; epoch++) {
        epoch_state e;
        epoch_begin(tr, epoch, &e);
        int rc = epoch_steps(tr, &e);
        if (rc) return rc;
        if (stop_requested && tr->b.pos < tr->b.d->n) return save_mid_epoch(tr, &e);
        if ((rc = end_of_epoch(tr, &e))) return rc;
    }
    return 0;
}

/* The pictures of a complete run, and the closing messages. */
static int train_finish(train_run *tr, int status) {
    /* A Ctrl-C during the pictures (every epoch is saved by then) lets them
     * finish: the run is complete, and says so with status 0. */
    const int interrupted = stop_requested;
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
    train_run *tr = td_alloc_zero(sizeof *tr);
    int status = train_config(tr, argc, argv);
    if (status == SETUP_HELP) status = CLI_OK;
    else if (!status && !(status = train_load(tr)) && !(status = train_start(tr)))
        status = train_finish(tr, train_epochs(tr));
    train_release(tr);
    return status;
}
