/* tinyad: train, evaluate and sample models from the command line.
 *
 *   tinyad train vae [options]          trains, writes a run directory
 *   tinyad eval RUN_OR_CHECKPOINT       test loss (+ --iw-k K: NLL estimate)
 *   tinyad sample CHECKPOINT            a PNG grid of prior samples
 *
 * Exit status: 0 ok, 1 runtime failure, 2 bad command line, 130 stopped by
 * Ctrl-C / SIGTERM after saving the checkpoint. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../nn/checkpoint.h"
#include "../tensor/kernels.h"
#include "cli.h"

/* The streams of one run, all derived from --seed, so every random choice is
 * reproducible and independent of the others. */
enum { RNG_INIT = 1, RNG_MODEL = 2, RNG_ORDER = 3, RNG_NOISE = 4, RNG_EVAL = 1000 };
/* Dynamic binarization draws the validation and test sets once, from a
 * fixed generator, so test figures compare across runs and seeds. */
static const uint64_t TEST_BINARIZE_SEED = 0x7E57;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "tinyad: %s\n", what);
    return CLI_FAIL;
}

/* A file the run could not write, with the system's reason (errno). */
static int fail_write(const char *what, const char *path) {
    fprintf(stderr, "tinyad: cannot %s %s: %s (is the disk full or the directory read-only?)\n", what,
            path, strerror(errno));
    return CLI_FAIL;
}

/* A command-line mistake found after parsing: the message, then the usage. */
static int usage_fail(int cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "tinyad %s: ", cmd == OPT_TRAIN ? "train" : cmd == OPT_EVAL ? "eval" : "sample");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    cli_usage(stderr, cmd, "tinyad");
    return CLI_USAGE;
}

/* Upper limits the option table does not express: sizes past these overflow
 * int64 shapes or the OpenMP runtime (which crashes at ~100000 threads)
 * long before they are useful. 0, or 1 with the reason in msg. */
static int over_limits(int cmd, const cli_config *c, char *msg, size_t len) {
    static const struct {
        const char *flag;
        size_t offset;
        int cmds;
        int64_t max;
    } lim[] = {
        {"epochs", offsetof(cli_config, epochs), OPT_TRAIN, 1000000},
        {"latent", offsetof(cli_config, latent), OPT_TRAIN, 1 << 24},
        {"samples", offsetof(cli_config, samples), OPT_TRAIN, 1 << 20},
        {"iw-k", offsetof(cli_config, iw_k), OPT_TRAIN | OPT_EVAL, 1 << 20},
        {"threads", offsetof(cli_config, threads), OPT_TRAIN | OPT_EVAL | OPT_SAMPLE, 1024},
        {"n", offsetof(cli_config, n), OPT_SAMPLE, 65536},
    };
    for (size_t i = 0; i < sizeof lim / sizeof *lim; i++) {
        const int64_t v = *(const int64_t *)((const char *)c + lim[i].offset);
        if (!(lim[i].cmds & cmd) || v <= lim[i].max) continue;
        snprintf(msg, len, "--%s %lld is too large (at most %lld)", lim[i].flag, (long long)v,
                 (long long)lim[i].max);
        return 1;
    }
    int64_t h[64];
    const int nh = cmd == OPT_TRAIN ? cli_parse_hidden(c->hidden, h, 64) : 0;
    for (int i = 0; i < nh; i++)
        if (h[i] > 1 << 24) {
            snprintf(msg, len, "--hidden: a layer of %lld units is too large (at most %d)", (long long)h[i],
                     1 << 24);
            return 1;
        }
    return 0;
}

static int check_limits(int cmd, const cli_config *c) {
    char msg[160];
    return over_limits(cmd, c, msg, sizeof msg) ? usage_fail(cmd, "%s", msg) : 0;
}

static void set_threads(int64_t n) {
#ifdef _OPENMP
    if (n > 0)
        omp_set_num_threads((int)n);
    else if (!getenv("OMP_NUM_THREADS"))
        omp_set_num_threads(omp_get_num_procs());
#else
    (void)n;
#endif
}

/* ---- data -------------------------------------------------------------------- */

typedef struct run_data {
    char dir[1024];
    td_dataset train_all, test; /* owning */
    td_dataset train, val;      /* views of train_all */
} run_data;

static void binarize_fixed(td_dataset *d) {
    td_rng r;
    td_rng_init(&r, TEST_BINARIZE_SEED);
    td_dataset_binarize_random(d, &r);
}

/* Loads what the config asks for. want_train 0: the test set only.
 * Returns 0, CLI_USAGE (no data directory), or CLI_FAIL (bad files). */
static int load_data(const cli_config *c, const char *data_flag, int want_train, int64_t test_limit,
                     run_data *d) {
    memset(d, 0, sizeof *d);
    const int cmd = want_train ? OPT_TRAIN : OPT_EVAL;
    if (!td_data_dir_resolve(data_flag, d->dir, sizeof d->dir)) return usage_fail(cmd, "%s", td_error());
    char note[1200];
    if (want_train) fprintf(stderr, "%s\n", td_data_describe(data_flag, d->dir, note, sizeof note));
    if (want_train) {
        if (td_dataset_load(d->dir, "train", c->limit, &d->train_all)) return fail(td_error());
        if (td_dataset_split(&d->train_all, c->val, &d->train, &d->val))
            return usage_fail(cmd, "--val: %s", td_error());
    }
    if (td_dataset_load(d->dir, "t10k", test_limit, &d->test)) return fail(td_error());
    td_binarize b = (td_binarize)td_binarize_parse(c->binarize);
    if (b == TD_BINARIZE_STATIC) {
        td_dataset_binarize(&d->train_all, (td_real)0.5);
        td_dataset_binarize(&d->test, (td_real)0.5);
    } else if (b == TD_BINARIZE_DYNAMIC) {
        if (want_train && d->val.n) binarize_fixed(&d->val);
        binarize_fixed(&d->test);
    }
    return 0;
}

static void release_data(run_data *d) {
    td_dataset_release(&d->train_all);
    td_dataset_release(&d->test);
}

/* ---- a model with its parameters ------------------------------------------------ */

typedef struct run_model {
    const cli_model_ops *ops;
    void *m;
    td_params *params;
    td_optimizer *opt;
    td_tape *tape;
} run_model;

static int build_model(const cli_config *c, int64_t input, int with_optimizer, run_model *rm) {
    memset(rm, 0, sizeof *rm);
    rm->ops = cli_model_find(c->kind);
    if (!rm->ops) {
        td_set_error("unknown model kind '%s' (known: %s)", c->kind, cli_model_kinds());
        return -1;
    }
    rm->params = td_params_create();
    rm->m = rm->ops->create(c, input, rm->params);
    if (!rm->m) {
        td_params_destroy(rm->params);
        return -1;
    }
    td_rng base, init;
    td_rng_init(&base, (uint64_t)c->seed);
    init = td_rng_stream(&base, RNG_INIT);
    td_params_finalize(rm->params, &init);
    if (with_optimizer) {
        td_optim_config oc = td_optim_defaults((td_optim_kind)td_optim_parse(c->optimizer));
        oc.lr = c->lr;
        oc.momentum = c->momentum;
        oc.weight_decay = c->weight_decay;
        oc.clip_norm = c->clip;
        rm->opt = td_optimizer_create(rm->params, oc);
    }
    rm->tape = td_tape_create();
    return 0;
}

static void free_model(run_model *rm) {
    if (rm->m) rm->ops->destroy(rm->m);
    if (rm->opt) td_optimizer_destroy(rm->opt);
    if (rm->params) td_params_destroy(rm->params);
    if (rm->tape) td_tape_destroy(rm->tape);
    memset(rm, 0, sizeof *rm);
}

/* Figures over a whole dataset, per image. */
static cli_terms eval_dataset(run_model *rm, const td_dataset *d, td_rng *rng) {
    cli_terms sum = {0, 0, 0};
    const int64_t bs = 128;
    td_real *buf = td_alloc(sizeof(td_real) * (size_t)(bs * d->dim));
    for (int64_t i = 0; i < d->n; i += bs) {
        const int64_t rows = d->n - i < bs ? d->n - i : bs;
        td_dataset_rows(d, i, rows, buf);
        td_tensor x = td_tensor_wrap(TD_SHAPE(rows, d->dim), buf);
        cli_terms t;
        td_tape_reset(rm->tape);
        rm->ops->eval_batch(rm->m, rm->tape, &x, rng, &t);
        sum.loss += t.loss, sum.recon += t.recon, sum.reg += t.reg;
    }
    td_tape_reset(rm->tape);
    td_free(buf);
    const double n = d->n > 0 ? (double)d->n : 1;
    return (cli_terms){sum.loss / n, sum.recon / n, sum.reg / n};
}

/* ---- pictures ------------------------------------------------------------------------ */

/* The most test images a picture shows (latent.png): all a training run
 * loads of the test set. */
enum { PICTURE_TEST_IMAGES = 5000 };

static void picture(const char *dir, const char *name, int rc) {
    if (rc) fprintf(stderr, "tinyad: could not write %s/%s: %s\n", dir, name, td_error());
}

static void write_pictures(const char *dir, run_model *rm, const run_data *d, const double *train_curve,
                           const double *val_curve, int64_t n_epochs, uint64_t seed) {
    char path[4200];
    td_tape *t = rm->tape;
    const td_dataset *test = &d->test;
    const int64_t h = test->height, w = test->width, dim = test->dim;
    td_rng base, r;
    td_rng_init(&base, seed);
    r = td_rng_stream(&base, RNG_EVAL - 1);
    /* test images as values, 500 at a time (the most any picture uses at once) */
    const int64_t chunk = test->n < 500 ? test->n : 500;
    td_real *xs = td_alloc(sizeof(td_real) * (size_t)(chunk * dim));
    if (rm->ops->has_prior) {
        td_tape_reset(t);
        td_var *z = td_randn(t, &r, TD_SHAPE(64, rm->ops->latent(rm->m)));
        td_var *x = rm->ops->decode(rm->m, t, z);
        snprintf(path, sizeof path, "%s/samples.png", dir);
        picture(dir, "samples.png", cli_png_grid(path, x->value.data, 64, h, w, 8));
    }
    { /* groups of rows: 8 test inputs, (the corrupted inputs a denoiser
       * sees,) their reconstructions */
        const int64_t n = test->n < 32 ? test->n : 32;
        td_tape_reset(t);
        td_var *rows[3];
        int n_rows = 0;
        td_dataset_rows(test, 0, n, xs);
        td_var *x = rows[n_rows++] = td_const(t, td_tensor_wrap(TD_SHAPE(n, dim), xs));
        if (rm->ops->corrupt) x = rows[n_rows++] = rm->ops->corrupt(rm->m, t, x, &r);
        rows[n_rows++] = rm->ops->decode(rm->m, t, rm->ops->encode(rm->m, t, x));
        td_real *grid = td_alloc(sizeof(td_real) * (size_t)(n_rows * (n + 8) * dim));
        int64_t k = 0;
        for (int64_t r0 = 0; r0 < n; r0 += 8) {
            const int64_t c = n - r0 < 8 ? n - r0 : 8;
            for (int src = 0; src < n_rows; src++)
                for (int64_t j = 0; j < 8; j++, k++) {
                    td_real *dst = grid + k * dim;
                    if (j < c)
                        memcpy(dst, rows[src]->value.data + (r0 + j) * dim, sizeof(td_real) * (size_t)dim);
                    else
                        memset(dst, 0, sizeof(td_real) * (size_t)dim);
                }
        }
        snprintf(path, sizeof path, "%s/recon.png", dir);
        picture(dir, "recon.png", cli_png_grid(path, grid, k, h, w, 8));
        td_free(grid);
    }
    if (rm->ops->filters) { /* one tile per code unit: what each unit responds to */
        const int64_t units = rm->ops->filters(rm->m, NULL);
        td_real *tiles = td_alloc(sizeof(td_real) * (size_t)(units * dim));
        rm->ops->filters(rm->m, tiles);
        snprintf(path, sizeof path, "%s/filters.png", dir);
        picture(dir, "filters.png", cli_png_grid(path, tiles, units, h, w, 16));
        td_free(tiles);
    }
    { /* the test codes, coloured by label (the first PICTURE_TEST_IMAGES) */
        const int64_t n = test->n < PICTURE_TEST_IMAGES ? test->n : PICTURE_TEST_IMAGES, d_lat = rm->ops->latent(rm->m);
        td_real *codes = td_alloc(sizeof(td_real) * (size_t)(n * d_lat));
        for (int64_t i = 0; i < n; i += 500) {
            const int64_t rows = n - i < 500 ? n - i : 500;
            td_tape_reset(t);
            td_dataset_rows(test, i, rows, xs);
            td_var *x = td_const(t, td_tensor_wrap(TD_SHAPE(rows, dim), xs));
            td_var *z = rm->ops->encode(rm->m, t, x);
            memcpy(codes + i * d_lat, z->value.data, sizeof(td_real) * (size_t)(rows * d_lat));
        }
        double *xy = td_alloc(sizeof(double) * (size_t)(2 * n));
        cli_project2(codes, n, d_lat, xy);
        snprintf(path, sizeof path, "%s/latent.png", dir);
        picture(dir, "latent.png", cli_png_scatter(path, xy, test->labels, n));
        td_free(xy);
        td_free(codes);
    }
    if (rm->ops->has_prior && rm->ops->latent(rm->m) == 2) { /* decoder over prior quantiles */
        const int64_t g = 20;
        td_tape_reset(t);
        td_var *z = td_const_new(t, TD_SHAPE(g * g, 2));
        for (int64_t i = 0; i < g; i++)     /* rows: z2 from high to low */
            for (int64_t j = 0; j < g; j++) { /* cols: z1 from low to high */
                z->value.data[(i * g + j) * 2] = (td_real)cli_probit((j + 0.5) / (double)g);
                z->value.data[(i * g + j) * 2 + 1] = (td_real)cli_probit(1 - (i + 0.5) / (double)g);
            }
        td_var *x = rm->ops->decode(rm->m, t, z);
        snprintf(path, sizeof path, "%s/manifold.png", dir);
        picture(dir, "manifold.png", cli_png_grid(path, x->value.data, g * g, h, w, g));
    }
    snprintf(path, sizeof path, "%s/curve.png", dir);
    picture(dir, "curve.png", cli_png_curve(path, train_curve, val_curve, n_epochs));
    td_tape_reset(t);
    td_free(xs);
}

/* ---- progress ------------------------------------------------------------------------------ */

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

/* ---- signals ---------------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    stop_requested = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C kills at once */
}

/* ---- train ------------------------------------------------------------------------------------ */

/* What a checkpoint holds beyond the standard entries, to resume exactly,
 * also in the middle of an epoch. */
typedef struct run_extra {
    td_rng order_at_epoch_start, noise;
    uint64_t batches_done; /* in the current (unfinished) epoch; 0 at a boundary */
    double sums[3];        /* loss/recon/reg sums of those batches */
    uint64_t seen;         /* images in those batches */
} run_extra;

/* The run state in the checkpoint: one u64 entry ("extra.<name>",
 * little-endian) per field, so a checkpoint resumes on any machine; the
 * sums are stored as their IEEE-754 binary64 bit patterns. Listed in
 * docs/formats.md ("Checkpoint extras"). */
_Static_assert(sizeof(double) == sizeof(uint64_t), "the sums are stored as 64-bit patterns");
static const struct {
    const char *name;
    size_t offset; /* of a uint64_t or double field of run_extra */
} run_entries[] = {
    {"run.order.seed", offsetof(run_extra, order_at_epoch_start) + offsetof(td_rng, seed)},
    {"run.order.counter", offsetof(run_extra, order_at_epoch_start) + offsetof(td_rng, counter)},
    {"run.noise.seed", offsetof(run_extra, noise) + offsetof(td_rng, seed)},
    {"run.noise.counter", offsetof(run_extra, noise) + offsetof(td_rng, counter)},
    {"run.batches_done", offsetof(run_extra, batches_done)},
    {"run.seen", offsetof(run_extra, seen)},
    {"run.loss_sum", offsetof(run_extra, sums) + 0 * sizeof(double)},
    {"run.recon_sum", offsetof(run_extra, sums) + 1 * sizeof(double)},
    {"run.reg_sum", offsetof(run_extra, sums) + 2 * sizeof(double)},
};
enum { N_RUN_ENTRIES = sizeof run_entries / sizeof *run_entries };

static void put_run_state(td_archive *a, const run_extra *ex) {
    for (int i = 0; i < N_RUN_ENTRIES; i++) {
        uint64_t v;
        memcpy(&v, (const char *)ex + run_entries[i].offset, sizeof v);
        td_checkpoint_put_u64(a, run_entries[i].name, v);
    }
}

/* Reads every run-state entry into ex; -1 with td_error() naming the file
 * and the first missing entry. */
static int get_run_state(const td_checkpoint *c, const char *path, run_extra *ex) {
    for (int i = 0; i < N_RUN_ENTRIES; i++) {
        uint64_t v;
        if (td_checkpoint_get_u64(c, run_entries[i].name, &v) == 0) {
            memcpy((char *)ex + run_entries[i].offset, &v, sizeof v);
            continue;
        }
        size_t len;
        if (td_checkpoint_get_bytes(c, "run_state", &len))
            td_set_error("checkpoint '%s': it was written by an older tinyad, whose run state "
                         "(extra.run_state) is machine-specific, so training cannot resume from it; "
                         "`tinyad eval` and `sample` still read it (or finish the run with the tinyad "
                         "that started it)", path);
        else
            td_set_error("checkpoint '%s': the run-state entry 'extra.%s' is missing, so training "
                         "cannot resume exactly (was it written by `tinyad train`?)", path,
                         run_entries[i].name);
        return -1;
    }
    return 0;
}

/* The first parameter holding a NaN/Inf value, or NULL. */
static const char *non_finite_param(const td_params *p) {
    for (int i = 0; i < p->count; i++) {
        const td_tensor *v = &p->vars[i]->value;
        for (int64_t k = 0; k < v->size; k++)
            if (!isfinite(v->data[k])) return p->vars[i]->name;
    }
    return NULL;
}

/* 1 if every parameter gradient is finite: one branch-free pass over the
 * gradient block, about 1 % of a training step. */
static int grads_finite(const td_params *p) {
    const td_tensor g = td_tensor_wrap(TD_SHAPE(p->total), p->grads);
    return td_k_all_finite(&g);
}

static int save_checkpoint(const char *path, const char *config_text, run_model *rm, td_rng *rng,
                           uint64_t epoch, const run_extra *ex) {
    const char *bad = non_finite_param(rm->params);
    if (bad) { /* never replace a good checkpoint with broken weights */
        td_set_error("not saving %s: parameter '%s' holds NaN/Inf; the previous checkpoint, if any, "
                     "was left unchanged", path, bad);
        return -1;
    }
    td_ckpt_state s = {.kind = rm->ops->kind, .config = config_text, .params = rm->params,
                       .optim = rm->opt, .rng = rng, .epoch = epoch};
    td_archive *a = td_checkpoint_pack(&s);
    put_run_state(a, ex);
    return td_checkpoint_write(a, path);
}

static int mkdir_p(const char *dir) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(buf, 0777) && errno != EEXIST) return -1;
    struct stat st;
    if (stat(buf, &st)) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR; /* a file is in the way */
        return -1;
    }
    return 0;
}

/* Writes PATH.tmp and renames it over PATH, so a full disk or a crash
 * leaves the previous file whole. -1 with errno on failure. */
static int write_text(const char *path, const char *text) {
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int bad = fputs(text, f) < 0 || fflush(f) != 0;
    int saved = bad ? errno : 0;
    if (fclose(f) != 0 && !bad) bad = 1, saved = errno;
    if (!bad && rename(tmp, path) == 0) return 0;
    if (!bad) saved = errno;
    unlink(tmp);
    errno = saved;
    return -1;
}

/* Reads the first `keep` data rows of metrics.csv into the curves, and
 * rewrites the file with exactly those rows (a row written after the last
 * checkpoint is dropped, it will be recomputed). */
static int reload_metrics(const char *path, int64_t keep, double *train, double *val) {
    FILE *f = fopen(path, "r");
    if (!f) return keep ? -1 : 0;
    char line[1024], *kept = td_alloc_zero((size_t)(keep + 1) * sizeof line);
    size_t used = 0;
    int64_t row = -1;
    while (fgets(line, sizeof line, f) && row < keep) {
        if (row >= 0) {
            double e, tl, tr, tk, vl;
            if (sscanf(line, "%lf,%lf,%lf,%lf,%lf", &e, &tl, &tr, &tk, &vl) < 5) break;
            train[row] = tl;
            val[row] = vl;
        }
        memcpy(kept + used, line, strlen(line));
        used += strlen(line);
        row++;
    }
    fclose(f);
    int rc = row == keep ? 0 : -1;
    if (!rc) {
        kept[used] = 0;
        rc = write_text(path, kept) ? -2 : 0; /* -2: could not rewrite it (errno) */
    }
    td_free(kept);
    return rc;
}

/* A step gave a NaN/Inf loss or gradient. Replays it (same weights, batch
 * and noise: rng is the model generator as it was before the step) with the
 * tape's finite check on, so the message names the op where the first
 * NaN/Inf appeared; the check costs nothing while training goes well.
 * Returns 1 if the weights are still finite (the step can be skipped). */
static int explain_non_finite(run_model *rm, td_tensor xb, td_rng rng, int64_t epoch, char *why,
                              size_t len) {
    const char *param = non_finite_param(rm->params);
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

/* --on-nan skip gives up after this many NaN/Inf steps in a row. */
enum { MAX_SKIPS_IN_A_ROW = 10 };

static int cmd_train(int argc, char **argv) {
    cli_config c;
    cli_config_defaults(&c);
    const char *kind = NULL;
    unsigned char given[128] = {0};
    int rc = cli_parse(OPT_TRAIN, "tinyad", argc, argv, 2, &c, &kind, given);
    if (rc) return rc < 0 ? CLI_OK : rc;
    /* From here on Ctrl-C / SIGTERM only ask the run to stop after saving. */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    char run[4096], ckpt[4200], path[4200];
    td_checkpoint *resume = NULL;
    if (c.resume[0]) {
        /* The run's own config, with the few overrides that are allowed. */
        static const char *may_change[] = {"epochs", "threads", "data", "resume", "on-nan"};
        for (int i = 0; i < 128; i++) {
            if (!given[i]) continue;
            int ok = 0;
            for (int k = 0; k < 5; k++) ok |= i == cli_option_index(may_change[k]);
            if (!ok)
                return usage_fail(OPT_TRAIN, "%s", "with --resume the run's own config is used; only "
                                  "--epochs, --threads, --data and --on-nan may be given");
        }
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.tdc", c.resume);
        resume = td_checkpoint_open(ckpt);
        if (!resume) return fail(td_error());
        cli_config r;
        cli_config_defaults(&r);
        if (cli_config_from_text(&r, td_checkpoint_config(resume))) {
            fprintf(stderr, "tinyad: %s: %s\n", ckpt, td_error());
            td_checkpoint_close(resume);
            return CLI_FAIL;
        }
        snprintf(r.kind, sizeof r.kind, "%s", td_checkpoint_kind(resume));
        if (kind && strcmp(kind, r.kind)) {
            td_checkpoint_close(resume);
            return usage_fail(OPT_TRAIN, "--resume: that run is a '%s' run", r.kind);
        }
        if (given[cli_option_index("epochs")]) r.epochs = c.epochs;
        if (given[cli_option_index("data")]) snprintf(r.data, sizeof r.data, "%s", c.data);
        r.threads = c.threads;
        snprintf(r.on_nan, sizeof r.on_nan, "%s", c.on_nan);
        snprintf(run, sizeof run, "%s", c.resume);
        c = r;
    } else {
        if (!kind) {
            fprintf(stderr, "tinyad train: which model? (%s)\n\n", cli_model_kinds());
            cli_usage(stderr, OPT_TRAIN, "tinyad");
            return CLI_USAGE;
        }
        snprintf(c.kind, sizeof c.kind, "%s", kind);
        if (c.out[0])
            snprintf(run, sizeof run, "%s", c.out);
        else
            snprintf(run, sizeof run, "runs/%s-%lld", c.kind, (long long)c.seed);
        /* Never replace an earlier run's checkpoint by accident. */
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.tdc", run);
        if (!c.force && access(ckpt, F_OK) == 0) {
            char msg[2 * sizeof run + 200];
            snprintf(msg, sizeof msg, "the run directory %s already holds a trained run (checkpoint.tdc); use "
                     "`--resume %s` to continue it, another --out, or --force to overwrite it", run, run);
            return usage_fail(OPT_TRAIN, "%s", msg);
        }
    }
    if ((rc = cli_config_check(&c)) || (rc = check_limits(OPT_TRAIN, &c))) {
        td_checkpoint_close(resume);
        return rc;
    }
    set_threads(c.threads);

    run_data d;
    if ((rc = load_data(&c, c.data[0] ? c.data : NULL, 1, PICTURE_TEST_IMAGES, &d))) {
        td_checkpoint_close(resume);
        release_data(&d);
        return rc;
    }
    snprintf(c.data, sizeof c.data, "%s", d.dir); /* record where the data came from */
    if (c.input && c.input != d.train.dim) {
        fprintf(stderr, "tinyad: the run was trained on images of %lld values; %s has %lld\n",
                (long long)c.input, d.dir, (long long)d.train.dim);
        td_checkpoint_close(resume);
        release_data(&d);
        return CLI_FAIL;
    }
    c.input = d.train.dim;
    if (c.batch > d.train.n) {
        char msg[128];
        snprintf(msg, sizeof msg, "--batch %lld is larger than the %lld training images",
                 (long long)c.batch, (long long)d.train.n);
        usage_fail(OPT_TRAIN, "%s", msg);
        td_checkpoint_close(resume);
        release_data(&d);
        return CLI_USAGE;
    }

    run_model rm;
    if (build_model(&c, d.train.dim, 1, &rm)) {
        fprintf(stderr, "tinyad: %s\n", td_error());
        td_checkpoint_close(resume);
        release_data(&d);
        return CLI_USAGE;
    }
    char config_text[8192];
    cli_config_text(&c, config_text, sizeof config_text);

    td_rng base, model_rng, order, noise;
    td_rng_init(&base, (uint64_t)c.seed);
    model_rng = td_rng_stream(&base, RNG_MODEL);
    order = td_rng_stream(&base, RNG_ORDER);
    noise = td_rng_stream(&base, RNG_NOISE);
    run_extra ex = {.order_at_epoch_start = order, .noise = noise};
    int64_t start_epoch = 0;
    double *train_curve = td_alloc_zero(sizeof(double) * (size_t)(c.epochs + 1));
    double *val_curve = td_alloc_zero(sizeof(double) * (size_t)(c.epochs + 1));
    int status = CLI_OK;

    if (resume) {
        td_ckpt_state s = {.kind = c.kind, .config = NULL, .params = rm.params, .optim = rm.opt,
                           .rng = &model_rng};
        if (get_run_state(resume, ckpt, &ex) || td_checkpoint_restore(resume, &s)) {
            status = fail(td_error());
        } else if (ex.batches_done >= (uint64_t)((d.train.n + c.batch - 1) / c.batch) ||
                   ex.seen > ex.batches_done * (uint64_t)c.batch) {
            char msg[4600];
            snprintf(msg, sizeof msg, "checkpoint '%s': its run state (%llu batches, %llu images done in "
                     "the epoch) does not fit an epoch of %lld training images in batches of %lld", ckpt,
                     (unsigned long long)ex.batches_done, (unsigned long long)ex.seen, (long long)d.train.n,
                     (long long)c.batch);
            status = fail(msg);
        } else {
            start_epoch = (int64_t)s.epoch;
            order = ex.order_at_epoch_start;
            noise = ex.noise;
        }
        td_checkpoint_close(resume);
        snprintf(path, sizeof path, "%s/metrics.csv", run);
        if (!status && start_epoch > c.epochs) {
            char msg[128];
            snprintf(msg, sizeof msg, "--epochs %lld: the run already has %lld epochs", (long long)c.epochs,
                     (long long)start_epoch);
            status = usage_fail(OPT_TRAIN, "%s", msg);
        }
        if (!status && (rc = reload_metrics(path, start_epoch, train_curve, val_curve)))
            status = rc == -2 ? fail_write("rewrite", path)
                              : fail("metrics.csv of the run is missing or shorter than its checkpoint");
        if (!status)
            fprintf(stderr, "resuming %s at epoch %lld%s\n", run, (long long)start_epoch + 1,
                    ex.batches_done ? " (mid-epoch)" : "");
    } else {
        if (mkdir_p(run)) {
            char msg[4300];
            snprintf(msg, sizeof msg, "cannot create the run directory %s: %s", run, strerror(errno));
            status = fail(msg);
        } else if (c.force && unlink(ckpt) && errno != ENOENT) { /* --force: the old run goes */
            status = fail_write("remove", ckpt);
        } else {
            snprintf(path, sizeof path, "%s/metrics.csv", run);
            char header[256];
            snprintf(header, sizeof header,
                     "epoch,train_loss,train_recon,train_%s,val_loss,val_recon,val_%s,lr,beta,seconds\n",
                     rm.ops->reg_name, rm.ops->reg_name);
            if (write_text(path, header)) status = fail_write("write", path);
        }
    }
    snprintf(path, sizeof path, "%s/config.txt", run);
    if (!status && write_text(path, config_text)) status = fail_write("write", path);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.tdc", run);

    td_schedule sched = {TD_SCHED_CONSTANT, c.gamma, c.step_size};
    if (!strcmp(c.schedule, "step")) sched.kind = TD_SCHED_STEP;
    if (!strcmp(c.schedule, "exp")) sched.kind = TD_SCHED_EXP;
    td_binarize bin = (td_binarize)td_binarize_parse(c.binarize);
    td_batcher b;
    td_batcher_init(&b, &d.train, c.batch, 1, bin, &order, &noise);
    const int tty = isatty(2);
    /* Tests stop a run after N steps as if interrupted (deterministically). */
    const char *stop_env = getenv("TINYAD_STOP_AFTER_STEPS");
    int64_t stop_after = stop_env ? atoll(stop_env) : -1, steps = 0;
    /* ... and poison the input of step N with a NaN (the --on-nan paths). */
    const char *nan_env = getenv("TINYAD_TEST_NAN_STEP");
    const int64_t nan_step = nan_env ? atoll(nan_env) : -1;
    const int skip_nan = !strcmp(c.on_nan, "skip");
    int64_t skipped_in_row = 0, skipped = 0;
    int have_ckpt = resume != NULL; /* a good checkpoint is on disk */
    if (!status && stop_requested)
        fprintf(stderr, "interrupted before the first step: nothing to save%s\n",
                have_ckpt ? " (the checkpoint is unchanged)" : "");

    for (int64_t epoch = start_epoch; epoch < c.epochs && !status && !stop_requested; epoch++) {
        const double lr = td_schedule_lr(&sched, c.lr, epoch);
        const double t0 = now();
        double sums[3] = {0, 0, 0};
        int64_t seen = 0, skip = 0;
        ex.order_at_epoch_start = order;
        td_batcher_start(&b);
        if (epoch == start_epoch && ex.batches_done) { /* resume mid-epoch: same order, skip ahead */
            skip = (int64_t)ex.batches_done;
            b.pos = skip * c.batch;
            memcpy(sums, ex.sums, sizeof sums);
            seen = (int64_t)ex.seen;
        }
        td_tensor xb;
        int64_t rows, batch_i = skip;
        double last_draw = 0;
        while (!status && (rows = td_batcher_next(&b, &xb)) > 0) {
            td_tape_reset(rm.tape);
            cli_terms tm;
            const td_rng rng_before = model_rng; /* to replay the step if it goes wrong */
            if (steps + 1 == nan_step) xb.data[0] = NAN;
            td_var *loss = rm.ops->train_loss(rm.m, rm.tape, td_const(rm.tape, xb), &model_rng, epoch, &tm);
            int non_finite = !isfinite(tm.loss);
            if (!non_finite) {
                td_params_zero_grad(rm.params);
                if (td_backward(rm.tape, loss)) {
                    status = fail(td_error());
                    break;
                }
                non_finite = !grads_finite(rm.params) ? 2 : 0;
            }
            if (non_finite) { /* never let NaN/Inf into the weights */
                char why[400], msg[700];
                const int weights_ok = explain_non_finite(&rm, xb, rng_before, epoch, why, sizeof why);
                snprintf(msg, sizeof msg, "%s at epoch %lld, step %lld (of %lld): %s",
                         non_finite == 2 ? "NaN/Inf in the gradient" : "the loss is NaN/Inf",
                         (long long)epoch + 1, (long long)batch_i + 1, (long long)td_batcher_count(&b), why);
                if (tty) fputc('\n', stderr);
                if (skip_nan && weights_ok && ++skipped_in_row < MAX_SKIPS_IN_A_ROW) {
                    fprintf(stderr, "tinyad: %s; step skipped (--on-nan skip)\n", msg);
                    skipped++;
                    batch_i++;
                    if (++steps == stop_after) stop_requested = 1;
                    if (stop_requested && b.pos < b.d->n) break;
                    continue;
                }
                fprintf(stderr, "tinyad: %s\n", msg);
                fprintf(stderr, "tinyad: stopped%s; %s%s; try a lower --lr or --clip 10%s\n",
                        skip_nan ? weights_ok ? " after 10 skipped steps in a row" : " (the weights cannot be "
                        "recovered by skipping)" : "", have_ckpt ? "the last good checkpoint is unchanged: " :
                        "no checkpoint had been written yet", have_ckpt ? ckpt : "",
                        skip_nan ? "" : " (or --on-nan skip)");
                status = CLI_FAIL;
                break;
            }
            skipped_in_row = 0;
            td_optimizer_step(rm.opt, lr);
            sums[0] += tm.loss, sums[1] += tm.recon, sums[2] += tm.reg;
            seen += rows;
            batch_i++;
            if (++steps == stop_after) stop_requested = 1;
            if (tty && (now() - last_draw > 0.2 || b.pos >= b.d->n)) {
                last_draw = now();
                progress(epoch + 1, c.epochs, b.pos, b.d->n, (double)(seen - skip * c.batch) / (now() - t0 + 1e-9),
                         sums[0] / (double)seen);
            }
            if (stop_requested && b.pos < b.d->n) break;
        }
        if (status) break;
        if (stop_requested && b.pos < b.d->n) { /* interrupted mid-epoch: save where we are */
            ex.batches_done = (uint64_t)batch_i;
            memcpy(ex.sums, sums, sizeof sums);
            ex.seen = (uint64_t)seen;
            ex.noise = noise;
            if (tty) fputc('\n', stderr);
            if (save_checkpoint(ckpt, config_text, &rm, &model_rng, (uint64_t)epoch, &ex))
                status = fail(td_error());
            else
                fprintf(stderr, "interrupted in epoch %lld: saved %s; continue with "
                        "`tinyad train %s --resume %s`\n", (long long)epoch + 1, ckpt, c.kind, run);
            break;
        }
        if (seen == 0) { /* --on-nan skip skipped the whole epoch */
            char msg[200];
            snprintf(msg, sizeof msg, "every step of epoch %lld gave NaN/Inf and was skipped; stopped",
                     (long long)epoch + 1);
            status = fail(msg);
            break;
        }
        const double secs = now() - t0;
        td_rng er = td_rng_stream(&base, RNG_EVAL + (uint64_t)epoch);
        cli_terms v = d.val.n ? eval_dataset(&rm, &d.val, &er) : (cli_terms){NAN, NAN, NAN};
        const double n = (double)seen;
        /* the KL weight of this epoch (--beta ramped over --warmup epochs) */
        const double beta = c.warmup > 0 ? c.beta * fmin(1.0, (double)(epoch + 1) / (double)c.warmup) : c.beta;
        train_curve[epoch] = sums[0] / n;
        val_curve[epoch] = v.loss;
        snprintf(path, sizeof path, "%s/metrics.csv", run);
        FILE *f = fopen(path, "a");
        int ok = f && fprintf(f, "%lld,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6g,%.6g,%.3f\n", (long long)epoch + 1,
                              sums[0] / n, sums[1] / n, sums[2] / n, v.loss, v.recon, v.reg, lr, beta, secs) > 0
                 && fflush(f) == 0;
        int err = errno;
        if (f && fclose(f) && ok) ok = 0, err = errno;
        if (!ok) { /* a partial row is dropped by --resume, which keeps one row per saved epoch */
            errno = err;
            status = fail_write("append to", path);
            break;
        }
        if (tty) fputs("\r\033[K", stderr); /* the summary line replaces the bar */
        char val_text[64] = "";
        if (d.val.n) snprintf(val_text, sizeof val_text, "  val %.3f", v.loss);
        fprintf(stderr, "epoch %lld/%lld  train %.3f (recon %.3f, %s %.3f)%s  lr %.3g  %.1f s  %.0f img/s\n",
                (long long)epoch + 1, (long long)c.epochs, sums[0] / n, sums[1] / n, rm.ops->reg_name,
                sums[2] / n, val_text, lr, secs, (double)(seen - skip * c.batch) / secs);
        ex.batches_done = 0;
        ex.seen = 0;
        memset(ex.sums, 0, sizeof ex.sums);
        ex.order_at_epoch_start = order;
        ex.noise = noise;
        if (save_checkpoint(ckpt, config_text, &rm, &model_rng, (uint64_t)epoch + 1, &ex)) {
            status = fail(td_error());
            break;
        }
        have_ckpt = 1;
        if (stop_requested) {
            fprintf(stderr, "interrupted: saved %s after epoch %lld; continue with "
                    "`tinyad train %s --resume %s`\n", ckpt, (long long)epoch + 1, c.kind, run);
            break;
        }
    }
    /* A Ctrl-C during the pictures (every epoch is saved by then) lets them
     * finish: the run is complete, and says so with status 0. */
    const int interrupted = stop_requested;
    if (!status && !interrupted) {
        write_pictures(run, &rm, &d, train_curve, val_curve, c.epochs, (uint64_t)c.seed);
        if (stop_requested) fprintf(stderr, "interrupt received while writing the pictures: finished them\n");
        const int prior = rm.ops->has_prior;
        fprintf(stderr, "run directory: %s (config.txt, metrics.csv, checkpoint.tdc, %srecon.png, %s"
                "latent.png%s, curve.png)\n", run, prior ? "samples.png, " : "",
                rm.ops->filters ? "filters.png, " : "", prior && c.latent == 2 ? ", manifold.png" : "");
    }
    if (skipped)
        fprintf(stderr, "tinyad: %lld step%s skipped for NaN/Inf (--on-nan skip)\n", (long long)skipped,
                skipped == 1 ? "" : "s");
    if (!status && interrupted) status = CLI_INTERRUPTED;
    td_batcher_release(&b);
    td_free(train_curve);
    td_free(val_curve);
    free_model(&rm);
    release_data(&d);
    return status;
}

/* ---- eval and sample ---------------------------------------------------------------------------- */

/* RUN or RUN/checkpoint.tdc -> the model and its config. */
static int open_run(const char *arg, cli_config *c, run_model *rm, int64_t input_hint, char *path,
                    size_t plen) {
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(path, plen, "%s/checkpoint.tdc", arg);
    else
        snprintf(path, plen, "%s", arg);
    td_checkpoint *ck = td_checkpoint_open(path);
    if (!ck) return -1;
    cli_config_defaults(c);
    int rc = cli_config_from_text(c, td_checkpoint_config(ck));
    char why[160];
    if (!rc && over_limits(OPT_TRAIN, c, why, sizeof why)) { /* a file we did not write */
        td_set_error("its config is unusable: %s", why);
        rc = -1;
    }
    if (!rc) {
        snprintf(c->kind, sizeof c->kind, "%s", td_checkpoint_kind(ck));
        rc = build_model(c, c->input > 0 ? c->input : input_hint, 0, rm);
    }
    if (!rc) {
        td_ckpt_state s = {.kind = c->kind, .params = rm->params};
        rc = td_checkpoint_restore(ck, &s);
    }
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: %s", path, td_error());
        td_set_error("%s", msg);
    }
    td_checkpoint_close(ck);
    return rc;
}

static int cmd_eval(int argc, char **argv) {
    cli_config a;
    cli_config_defaults(&a);
    const char *target = NULL;
    int rc = cli_parse(OPT_EVAL, "tinyad", argc, argv, 2, &a, &target, NULL);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!target) {
        fprintf(stderr, "tinyad eval: which run or checkpoint?\n\n");
        cli_usage(stderr, OPT_EVAL, "tinyad");
        return CLI_USAGE;
    }
    if ((rc = check_limits(OPT_EVAL, &a))) return rc;
    set_threads(a.threads);
    cli_config c;
    run_model rm;
    char path[4200];
    /* 784 inputs for MNIST-format data; the checkpoint's shapes decide. */
    if (open_run(target, &c, &rm, 784, path, sizeof path)) return fail(td_error());
    run_data d;
    const char *data = a.data[0] ? a.data : NULL;
    char probe[4200];
    if (!data && c.data[0] && td_data_dir_resolve(c.data, probe, sizeof probe)) data = c.data;
    if ((rc = load_data(&c, data, 0, a.limit, &d))) {
        free_model(&rm);
        release_data(&d);
        return rc;
    }
    if (c.input && d.test.dim != c.input) {
        char msg[1200];
        snprintf(msg, sizeof msg, "the model takes images of %lld values but %s has %lld",
                 (long long)c.input, d.dir, (long long)d.test.dim);
        free_model(&rm);
        release_data(&d);
        return fail(msg);
    }
    td_rng base, r;
    td_rng_init(&base, (uint64_t)a.seed);
    r = td_rng_stream(&base, RNG_EVAL - 2);
    const double t0 = now();
    cli_terms e = eval_dataset(&rm, &d.test, &r);
    double iw = NAN, iw_secs = 0;
    if (a.iw_k > 0) {
        if (!rm.ops->iw_nll) {
            free_model(&rm);
            release_data(&d);
            return fail("--iw-k: this model has no likelihood estimate");
        }
        const double t1 = now();
        double *nll = td_alloc(sizeof(double) * (size_t)d.test.n), s = 0;
        /* the whole set in one call: the draws depend on how it is chunked */
        td_tensor x = td_tensor_zeros(TD_SHAPE(d.test.n, d.test.dim));
        td_dataset_rows(&d.test, 0, d.test.n, x.data);
        rm.ops->iw_nll(rm.m, rm.tape, &x, a.iw_k, &r, nll);
        td_tensor_release(&x);
        for (int64_t i = 0; i < d.test.n; i++) s += nll[i];
        iw = s / (double)d.test.n;
        iw_secs = now() - t1;
        td_free(nll);
    }
    const char *extra_names[8];
    double extra[8];
    int n_extra = 0;
    if (rm.ops->eval_extra) {
        td_tensor x = td_tensor_zeros(TD_SHAPE(d.test.n, d.test.dim));
        td_dataset_rows(&d.test, 0, d.test.n, x.data);
        n_extra = rm.ops->eval_extra(rm.m, rm.tape, &x, extra_names, extra);
        td_tensor_release(&x);
    }
    const double secs = now() - t0;
    if (a.json) {
        printf("{\"test_loss\": %.4f, \"recon\": %.4f, \"%s\": %.4f, \"n\": %lld", e.loss, e.recon,
               rm.ops->reg_name, e.reg, (long long)d.test.n);
        for (int i = 0; i < n_extra; i++) printf(", \"%s\": %.6g", extra_names[i], extra[i]);
        if (a.iw_k > 0) printf(", \"iw_nll\": %.4f, \"iw_k\": %lld, \"iw_seconds\": %.1f", iw, (long long)a.iw_k, iw_secs);
        printf("}\n");
    } else {
        printf("%s on %lld test images (%s)\n", path, (long long)d.test.n, d.dir);
        printf("test loss per image %.4f  (recon %.4f + %s %.4f)\n", e.loss, e.recon, rm.ops->reg_name, e.reg);
        if (a.iw_k > 0) printf("-log p(x) with K=%lld importance samples: %.4f (%.1f s)\n", (long long)a.iw_k, iw, iw_secs);
        for (int i = 0; i < n_extra; i++) printf("%s %.6g\n", extra_names[i], extra[i]);
        printf("%.1f s\n", secs);
    }
    free_model(&rm);
    release_data(&d);
    return CLI_OK;
}

static int cmd_sample(int argc, char **argv) {
    cli_config a;
    cli_config_defaults(&a);
    const char *target = NULL;
    int rc = cli_parse(OPT_SAMPLE, "tinyad", argc, argv, 2, &a, &target, NULL);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!target) {
        fprintf(stderr, "tinyad sample: which checkpoint?\n\n");
        cli_usage(stderr, OPT_SAMPLE, "tinyad");
        return CLI_USAGE;
    }
    if ((rc = check_limits(OPT_SAMPLE, &a))) return rc;
    set_threads(a.threads);
    cli_config c;
    run_model rm;
    char path[4200];
    if (open_run(target, &c, &rm, 784, path, sizeof path)) return fail(td_error());
    if (!rm.ops->has_prior) {
        free_model(&rm);
        return fail("this model has no prior to sample from");
    }
    td_rng base, r;
    td_rng_init(&base, (uint64_t)a.seed);
    r = td_rng_stream(&base, RNG_EVAL - 3);
    td_var *z = td_randn(rm.tape, &r, TD_SHAPE(a.n, rm.ops->latent(rm.m)));
    td_var *x = rm.ops->decode(rm.m, rm.tape, z);
    const char *out = a.out[0] ? a.out : "samples.png";
    int64_t side = (int64_t)lround(sqrt((double)x->value.shape.d[1]));
    int64_t cols = (int64_t)ceil(sqrt((double)a.n));
    rc = cli_png_grid(out, x->value.data, a.n, side, side, cols);
    free_model(&rm);
    if (rc) return fail(td_error());
    fprintf(stderr, "wrote %lld samples to %s\n", (long long)a.n, out);
    return CLI_OK;
}

static void main_usage(FILE *f) {
    fprintf(f, "usage: tinyad COMMAND [options]\n\n"
               "commands:\n"
               "  train KIND [options]            train a model (KIND: %s); writes a run directory\n"
               "  eval RUN_OR_CHECKPOINT [opts]   test loss; --iw-k K for the importance-sampled NLL\n"
               "  sample CHECKPOINT [options]     a PNG grid of samples from the prior\n\n"
               "`tinyad COMMAND --help` lists a command's options with their defaults.\n",
            cli_model_kinds());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        main_usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        main_usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc, argv);
    fprintf(stderr, "tinyad: unknown command '%s'\n\n", cmd);
    main_usage(stderr);
    return CLI_USAGE;
}
