/* A run's data, model and directory: loading, building, evaluating,
 * checkpoints with the run state, metrics.csv. */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Dynamic binarization draws the validation and test sets once, from a
 * fixed generator, so test figures compare across runs and seeds. */
static const uint64_t TEST_BINARIZE_SEED = 0x7E57;

static void binarize_fixed(td_dataset *d) {
    td_rng r;
    td_rng_init(&r, TEST_BINARIZE_SEED);
    td_dataset_binarize_random(d, &r);
}

int run_load_data(const cli_config *c, const char *data_flag, int want_train, int64_t test_limit,
                  run_data *d) {
    memset(d, 0, sizeof *d);
    const int cmd = want_train ? OPT_TRAIN : OPT_EVAL;
    if (!td_data_dir_resolve(data_flag, d->dir, sizeof d->dir)) return cli_usage_fail(cmd, "%s", td_error());
    char note[1200];
    if (want_train) fprintf(stderr, "%s\n", td_data_describe(data_flag, d->dir, note, sizeof note));
    if (want_train) {
        if (td_dataset_load(d->dir, "train", c->limit, &d->train_all)) return cli_fail(td_error());
        if (td_dataset_split(&d->train_all, c->val, &d->train, &d->val))
            return cli_usage_fail(cmd, "--val: %s", td_error());
    }
    if (td_dataset_load(d->dir, "t10k", test_limit, &d->test)) return cli_fail(td_error());
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

void run_release_data(run_data *d) {
    td_dataset_release(&d->train_all);
    td_dataset_release(&d->test);
}

int run_build_model(const cli_config *c, int64_t input, int with_optimizer, run_model *rm) {
    memset(rm, 0, sizeof *rm);
    rm->ops = cli_config_model(c);
    rm->params = td_params_create();
    rm->m = rm->ops->create(c, input, rm->params);
    if (!rm->m) {
        td_params_destroy(rm->params);
        rm->params = NULL; /* rm stays safe to free */
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

void run_free_model(run_model *rm) {
    if (rm->m) rm->ops->destroy(rm->m);
    if (rm->opt) td_optimizer_destroy(rm->opt);
    if (rm->params) td_params_destroy(rm->params);
    if (rm->tape) td_tape_destroy(rm->tape);
    memset(rm, 0, sizeof *rm);
}

typedef struct eval_sums {
    run_model *rm;
    const td_dataset *d;
    td_rng *rng;
    td_real *buf; /* one batch of images */
    cli_terms sum;
} eval_sums;

static void eval_batch(td_tape *t, int64_t first, int64_t rows, void *ctx) {
    eval_sums *s = ctx;
    td_dataset_rows(s->d, first, rows, s->buf);
    td_tensor x = td_tensor_wrap(TD_SHAPE(rows, s->d->dim), s->buf);
    cli_terms b;
    s->rm->ops->eval_batch(s->rm->m, t, &x, s->rng, &b);
    s->sum.loss += b.loss, s->sum.recon += b.recon, s->sum.reg += b.reg;
}

cli_terms run_eval_dataset(run_model *rm, const td_dataset *d, td_rng *rng) {
    enum { BATCH = 128 };
    eval_sums s = {rm, d, rng, td_alloc(sizeof(td_real) * (size_t)(BATCH * d->dim)), {0, 0, 0}};
    td_no_grad_batches(rm->tape, d->n, BATCH, eval_batch, &s);
    td_free(s.buf);
    const double n = d->n > 0 ? (double)d->n : 1;
    return (cli_terms){s.sum.loss / n, s.sum.recon / n, s.sum.reg / n};
}

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

int run_get_state(const td_checkpoint *c, const char *path, run_extra *ex) {
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

const char *run_non_finite_param(const td_params *p) {
    for (int i = 0; i < p->count; i++) {
        const td_tensor *v = &p->vars[i]->value;
        for (int64_t k = 0; k < v->size; k++)
            if (!isfinite(v->data[k])) return p->vars[i]->name;
    }
    return NULL;
}

int run_save_checkpoint(const char *path, const char *config_text, run_model *rm, td_rng *rng,
                        uint64_t epoch, const run_extra *ex) {
    const char *bad = run_non_finite_param(rm->params);
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

int run_mkdir_p(const char *dir) {
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

int run_write_text(const char *path, const char *text) {
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

int run_reload_metrics(const char *path, int64_t keep, double *train, double *val) {
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
        rc = run_write_text(path, kept) ? -2 : 0; /* -2: could not rewrite it (errno) */
    }
    td_free(kept);
    return rc;
}

int run_config_from_checkpoint(cli_config *c, const td_checkpoint *ck) {
    cli_config_defaults(c);
    const char *kind = td_checkpoint_kind(ck);
    if (cli_config_set_kind(c, kind) || cli_config_from_text(c, td_checkpoint_config(ck))) return -1;
    if (strcmp(c->kind, kind)) {
        td_set_error("its config is for a '%s' model, but it holds a '%s' model", c->kind, kind);
        return -1;
    }
    return 0;
}

int run_open(const char *arg, cli_config *c, run_model *rm, int64_t input_hint, char *path, size_t plen) {
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(path, plen, "%s/checkpoint.tdc", arg);
    else
        snprintf(path, plen, "%s", arg);
    td_checkpoint *ck = td_checkpoint_open(path);
    if (!ck) return -1;
    int rc = run_config_from_checkpoint(c, ck);
    char why[160];
    if (!rc && cli_config_over_limits(OPT_TRAIN, c, why, sizeof why)) { /* a file we did not write */
        td_set_error("its config is unusable: %s", why);
        rc = -1;
    }
    if (!rc) rc = run_build_model(c, c->input > 0 ? c->input : input_hint, 0, rm);
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

