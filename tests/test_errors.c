/* Bad input at every door of the tinyad program, and numeric blow-ups during
 * training (docs/reliability.md). Every flag of every command with values out of range,
 * of the wrong type or naming nothing; missing, corrupt and hostile files;
 * unwritable outputs. A usage error exits 2 with a message and the usage, a
 * runtime failure exits 1 with a message, nothing crashes (status > 2, a
 * signal or a sanitizer report fails the test). The table in
 * docs/reliability.md lists these cases.
 *
 * Blow-ups: an exploding learning rate stops the run with the op, epoch and
 * step named and the last good checkpoint left in place; --on-nan skip skips
 * a poisoned step and finishes.
 *
 * usage: test_errors PATH_TO_TINYAD */
#include "cli_harness.h"

static char data[1200], run[1300], ck[1400];
static int n_usage, n_fail; /* cases tried */

#define USAGE(what, ...)                                 \
    do {                                                 \
        char a_[8192];                                   \
        snprintf(a_, sizeof a_, __VA_ARGS__);            \
        H_USAGE(a_, what);                               \
        n_usage++;                                       \
    } while (0)
#define FAIL(what, ...)                                  \
    do {                                                 \
        char a_[8192];                                   \
        snprintf(a_, sizeof a_, __VA_ARGS__);            \
        H_FAIL(a_, what);                                \
        n_fail++;                                        \
    } while (0)

static void write_file(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(bytes, 1, n, f);
    fclose(f);
}

/* ---- the command line itself ---------------------------------------------------- */

static void usage_errors(void) {
    const char *D = data;
    CHECK(h_run(NULL, "") == 2 && strstr(h_slurp(h_err), "usage:"), "no command: %s", h_slurp(h_err));
    n_usage++;
    USAGE("unknown command 'frobnicate'", "frobnicate");
    USAGE("which model?", "train");
    USAGE("unknown model kind 'nosuch'", "train nosuch --data '%s'", D);
    USAGE("unknown option '--bogus'", "train vae --bogus 1");
    USAGE("--epochs needs a value", "train vae --epochs");
    USAGE("'abc' is not an integer", "train vae --epochs abc");
    USAGE("'3x' is not an integer", "train vae --epochs 3x");
    USAGE("'2.5' is not an integer", "train vae --batch 2.5");
    USAGE("unexpected argument 'extra'", "train vae extra");
    USAGE("--json takes no value", "eval somewhere --json=1");
    /* negative and zero sizes */
    USAGE("--epochs: -1 is too small", "train vae --epochs -1");
    USAGE("--batch: -5 is too small", "train vae --batch -5");
    USAGE("--batch: 0 is too small", "train vae --batch 0");
    USAGE("--latent: 0 is too small", "train vae --latent 0");
    USAGE("--latent: -3 is too small", "train vae --latent -3");
    USAGE("--samples: 0 is too small", "train vae --samples 0");
    USAGE("--limit: -1 is too small", "train vae --limit -1");
    USAGE("--val: -1 is too small", "train vae --val -1");
    USAGE("--seed: -1 is too small", "train vae --seed -1");
    USAGE("--threads: -2 is too small", "train vae --threads -2");
    USAGE("--warmup: -1 is too small", "train vae --warmup -1");
    USAGE("--step-size: 0 is too small", "train vae --step-size 0");
    USAGE("--iw-k: -1 is too small", "train vae --iw-k -1");
    USAGE("--hidden: '-3' is not", "train vae --hidden -3");
    USAGE("--hidden: '0' is not", "train vae --hidden 0");
    USAGE("--hidden: '400,,3' is not", "train vae --hidden 400,,3");
    USAGE("--hidden: 'abc' is not", "train vae --hidden abc");
    USAGE("--hidden: '1,2,3,4,5,6,7,8' is not", "train vae --hidden 1,2,3,4,5,6,7,8");
    USAGE("the vae needs at least one hidden layer", "train vae --hidden none");
    /* reals */
    USAGE("--lr: 0 is too small", "train vae --lr 0");
    USAGE("--lr: -1 is too small", "train vae --lr -1");
    USAGE("--lr: 'nan' is not a finite number", "train vae --lr nan");
    USAGE("--lr: 'inf' is not a finite number", "train vae --lr inf");
    USAGE("--lr: '1e999' is not a finite number", "train vae --lr 1e999");
    USAGE("--momentum: -1 is too small", "train vae --momentum -1");
    USAGE("--weight-decay: -0.1 is too small", "train vae --weight-decay -0.1");
    USAGE("--clip: -1 is too small", "train vae --clip -1");
    USAGE("--gamma: 0 is too small", "train vae --gamma 0");
    USAGE("--beta: -1 is too small", "train vae --beta -1");
    USAGE("--noise-level: -0.5 is too small", "train dae --noise-level -0.5");
    USAGE("--noise-level 2: masking noise", "train dae --noise-level 2");
    USAGE("--sparsity-target: 0 is too small", "train sae --sparsity-target 0");
    USAGE("--sparsity-target 1:", "train sae --sparsity-target 1");
    USAGE("--sparsity-weight: -1 is too small", "train sae --sparsity-weight -1");
    USAGE("--gauss-var: 'abc' is neither", "train vae --likelihood gaussian --gauss-var abc");
    /* choices */
    USAGE("--optimizer: 'lbfgs' is not one of", "train vae --optimizer lbfgs");
    USAGE("--activation: 'swish' is not one of", "train vae --activation swish");
    USAGE("--likelihood: 'poisson' is not one of", "train vae --likelihood poisson");
    USAGE("--binarize: 'maybe' is not one of", "train vae --binarize maybe");
    USAGE("--schedule: 'cosine' is not one of", "train vae --schedule cosine");
    USAGE("--noise: 'pink' is not one of", "train dae --noise pink");
    USAGE("--sparsity: 'l2' is not one of", "train sae --sparsity l2");
    USAGE("--on-nan: 'ignore' is not one of", "train vae --on-nan ignore");
    /* combinations */
    USAGE("--iw-k 1 is the ELBO", "train vae --iw-k 1");
    USAGE("--samples and --iw-k are alternatives", "train vae --samples 2 --iw-k 5");
    /* too large: would overflow int64 shapes or the OpenMP runtime */
    USAGE("--epochs 2000000 is too large", "train vae --data '%s' --epochs 2000000", D);
    USAGE("--hidden: a layer of 99999999999 units is too large", "train vae --data '%s' --hidden 32,99999999999", D);
    USAGE("--latent 9223372036854775807 is too large", "train vae --data '%s' --latent 9223372036854775807", D);
    USAGE("--samples 9999999 is too large", "train vae --data '%s' --samples 9999999", D);
    USAGE("--threads 100000 is too large", "train vae --data '%s' --threads 100000", D);
    USAGE("'99999999999999999999' is not an integer", "train vae --epochs 99999999999999999999");
    char longv[1500];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    USAGE("--out: value too long", "train vae --out %s", longv);
    /* data */
    USAGE("--data /nonexistent/dir", "train vae --data /nonexistent/dir");
    USAGE("no train-images-idx3-ubyte", "train vae --data '%s'", h_tmp); /* a directory without the files */
    USAGE("--batch 100000 is larger than the 300 training images", "train vae --data '%s' --batch 100000 --out '%s/never'", D, h_tmp);
    USAGE("--batch 128 is larger than the 100 training images", "train vae --data '%s' --limit 100 --out '%s/never'", D, h_tmp);
    USAGE("--val: validation split of 300 images leaves nothing", "train vae --data '%s' --val 300 --batch 10 --out '%s/never'", D, h_tmp);
    USAGE("--batch 50 is larger than the 20 training images", "train vae --data '%s' --val 280 --batch 50 --out '%s/never'", D, h_tmp);
    USAGE("--val 100 leaves no training images out of --limit 100", "train vae --data '%s' --val 100 --limit 100", D);
    CHECK(!h_exists("never"), "a refused run created its directory");
    /* eval and sample */
    USAGE("which run or checkpoint?", "eval");
    USAGE("unknown option '--epochs' for eval", "eval somewhere --epochs 3");
    USAGE("--iw-k: 'abc' is not an integer", "eval somewhere --iw-k abc");
    USAGE("--iw-k 2000000 is too large", "eval somewhere --iw-k 2000000");
    USAGE("--limit: -1 is too small", "eval somewhere --limit -1");
    USAGE("which checkpoint?", "sample");
    USAGE("--n: 0 is too small", "sample somewhere --n 0");
    USAGE("--n 100000 is too large", "sample somewhere --n 100000");
    USAGE("--threads 5000 is too large", "sample somewhere --threads 5000");
    USAGE("unknown option '--data' for sample", "sample somewhere --data x");
}

/* ---- a run to misuse ------------------------------------------------------------------ */

static void make_run(void) {
    char a[4096];
    snprintf(run, sizeof run, "%s/run", h_tmp);
    snprintf(ck, sizeof ck, "%s/checkpoint.tdc", run);
    snprintf(a, sizeof a, "train vae --data '%s' --epochs 2 --batch 50 --hidden 32 --latent 2 --out '%s'", data, run);
    int rc = h_run(NULL, a);
    CHECK(rc == 0, "training run: status %d: %s", rc, h_slurp(h_err));
}

/* A copy of the run in h_tmp/NAME whose checkpoint lacks the entries whose
 * names start with `drop` (NULL: none) and has the entry `set` (NULL:
 * nothing added) holding n bytes. */
static void altered_run(const char *name, const char *drop, const char *set, const void *bytes, size_t n,
                        char *dir, size_t len) {
    char cmd[4096], path[1500];
    snprintf(dir, len, "%s/%s", h_tmp, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dir, run, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    td_archive *a = td_archive_read(ck), *b = td_archive_create();
    CHECK(a != NULL, "read %s: %s", ck, td_error());
    for (int i = 0; a && i < td_archive_count(a); i++) {
        const char *e = td_archive_name(a, i);
        td_shape s;
        if (drop && !strncmp(e, drop, strlen(drop))) continue;
        if (td_archive_tensor_shape(a, e, &s) == 0) {
            td_tensor t = td_tensor_zeros(s);
            td_archive_get_tensor(a, e, &t);
            td_archive_put_tensor(b, e, &t);
            td_tensor_release(&t);
        } else {
            size_t k = 0;
            const void *d = td_archive_get_bytes(a, e, &k);
            td_archive_put_bytes(b, e, d, k);
        }
    }
    if (set) td_archive_put_bytes(b, set, bytes, n);
    snprintf(path, sizeof path, "%s/checkpoint.tdc", dir);
    CHECK(td_archive_write(b, path) == 0, "write %s: %s", path, td_error());
    if (a) td_archive_destroy(a);
    td_archive_destroy(b);
}

/* The run state is one 8-byte (u64) entry per field (docs/formats.md,
 * "Checkpoint extras"). A checkpoint without one of them, one written by an
 * older tinyad (the raw struct, extra.run_state), or one whose state does
 * not fit the data is refused by --resume; the older one still evaluates. */
static void run_state_errors(void) {
    static const char *entries[] = {"run.order.seed", "run.order.counter", "run.noise.seed", "run.noise.counter",
                                    "run.batches_done", "run.seen", "run.loss_sum", "run.recon_sum", "run.reg_sum"};
    char dir[1400], name[1500];
    td_archive *a = td_archive_read(ck);
    CHECK(a != NULL, "read %s: %s", ck, td_error());
    for (size_t i = 0; a && i < sizeof entries / sizeof *entries; i++) {
        size_t len = 0;
        snprintf(name, sizeof name, "extra.%s", entries[i]);
        const void *p = td_archive_get_bytes(a, name, &len);
        CHECK(p && len == 8, "the checkpoint's %s: %s", name, p ? "not 8 bytes" : "missing");
        altered_run("run_no_entry", name, NULL, NULL, 0, dir, sizeof dir);
        FAIL(name, "train --resume '%s' --epochs 3", dir);
        CHECK(strstr(h_slurp(h_err), "is missing, so training cannot resume"), "%s", h_slurp(h_err));
    }
    if (a) td_archive_destroy(a);
    static const uint8_t old_state[72]; /* the older tinyad's struct on x86-64 */
    altered_run("run_old", "extra.run.", "extra.run_state", old_state, sizeof old_state, dir, sizeof dir);
    FAIL("it was written by an older tinyad", "train --resume '%s' --epochs 3", dir);
    snprintf(name, sizeof name, "eval '%s' --json", dir);
    CHECK(h_run(NULL, name) == 0 && strstr(h_slurp(h_out), "\"test_loss\""), "eval of an older checkpoint: %s",
          h_slurp(h_err));
    const uint8_t many[8] = {0xe8, 0x03}; /* 1000 batches done: more than an epoch has */
    altered_run("run_unfit", NULL, "extra.run.batches_done", many, sizeof many, dir, sizeof dir);
    FAIL("does not fit an epoch of", "train --resume '%s' --epochs 3", dir);
}

static void resume_errors(void) {
    char path[1500];
    USAGE("only --epochs, --threads, --data and --on-nan may be given", "train vae --resume '%s' --lr 0.1", run);
    USAGE("--resume: that run is a 'vae' run", "train ae --resume '%s'", run);
    USAGE("--epochs 1: the run already has 2 epochs", "train --resume '%s' --epochs 1 --data '%s'", run, data);
    USAGE("--data /nonexistent", "train --resume '%s' --epochs 3 --data /nonexistent", run);
    FAIL("cannot open archive", "train vae --resume '%s/nothing_here'", h_tmp);
    /* data of another image size */
    char other[1300];
    snprintf(other, sizeof other, "%s/other", h_tmp);
    mkdir(other, 0777);
    snprintf(path, sizeof path, "cp '%s'/* '%s'/", data, other);
    if (system(path)) {}
    {   /* 10x10 images */
        static uint8_t img[4 + 12 + 300 * 100], lab[8 + 300];
        const uint8_t hi[16] = {0, 0, 8, 3, 0, 0, 1, 44, 0, 0, 0, 10, 0, 0, 0, 10};
        const uint8_t hl[8] = {0, 0, 8, 1, 0, 0, 1, 44};
        memcpy(img, hi, 16);
        memcpy(lab, hl, 8);
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", other);
        write_file(path, img, 16 + 300 * 100);
        snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", other);
        write_file(path, lab, 8 + 300);
    }
    FAIL("the run was trained on images of", "train --resume '%s' --epochs 3 --data '%s'", run, other);
    /* metrics.csv gone */
    char copy[1300];
    snprintf(copy, sizeof copy, "%s/run_copy", h_tmp);
    snprintf(path, sizeof path, "cp -r '%s' '%s' && rm '%s/metrics.csv'", run, copy, copy);
    if (system(path)) {}
    FAIL("metrics.csv of the run is missing", "train --resume '%s' --epochs 3", copy);
}

static void data_errors(void) {
    char bad[1300], path[1500];
    /* garbage, truncated */
    snprintf(bad, sizeof bad, "%s/bad_data", h_tmp);
    mkdir(bad, 0777);
    snprintf(path, sizeof path, "cp '%s'/* '%s'/", data, bad);
    if (system(path)) {}
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", bad);
    write_file(path, "this is not an IDX file at all", 30);
    FAIL("train-images-idx3-ubyte", "train vae --data '%s' --batch 10 --out '%s/never'", bad, h_tmp);
    static const uint8_t head[16] = {0, 0, 8, 3, 0, 0, 1, 44, 0, 0, 0, 28, 0, 0, 0, 28}; /* 300 x 28 x 28 */
    static uint8_t part[16 + 1000];
    memcpy(part, head, 16);
    write_file(path, part, sizeof part);
    FAIL("truncated", "train vae --data '%s' --batch 10 --out '%s/never'", bad, h_tmp);
    /* a header claiming 2^32 - 1 images: refused before allocating */
    static const uint8_t huge[16] = {0, 0, 8, 3, 255, 255, 255, 255, 0, 0, 0, 28, 0, 0, 0, 28};
    write_file(path, huge, 16);
    FAIL("train-images-idx3-ubyte", "train vae --data '%s' --batch 10 --out '%s/never'", bad, h_tmp);
}

static void output_errors(void) {
    char file[1300];
    snprintf(file, sizeof file, "%s/a_file", h_tmp);
    write_file(file, "x", 1);
    const char *small = "--epochs 1 --batch 50 --hidden 8 --latent 2";
    FAIL("cannot create the run directory", "train vae --data '%s' %s --out '%s'", data, small, file);
    FAIL("Not a directory", "train vae --data '%s' %s --out '%s/sub/run'", data, small, file);
    FAIL("cannot create the run directory /proc/", "train vae --data '%s' %s --out /proc/tinyad-run", data, small);
    FAIL("cannot write PNG", "sample '%s' --n 4 --out '%s/missing/dir/s.png'", run, h_tmp);
    FAIL("cannot write PNG", "sample '%s' --n 4 --out '%s'", run, h_tmp); /* a directory */
}

static void checkpoint_errors(void) {
    char path[1500], bytes[1 << 16];
    FAIL("No such file", "eval '%s/nothing_here'", h_tmp);
    FAIL("No such file", "sample '%s/nothing_here.tdc'", h_tmp);
    FAIL("checkpoint.tdc", "eval '%s'", h_tmp); /* a directory without a checkpoint */
    snprintf(path, sizeof path, "%s/garbage.tdc", h_tmp);
    write_file(path, "not a checkpoint", 16);
    FAIL("garbage.tdc", "eval '%s'", path);
    FAIL("garbage.tdc", "sample '%s'", path);
    snprintf(path, sizeof path, "%s/empty.tdc", h_tmp);
    write_file(path, "", 0);
    FAIL("empty.tdc", "eval '%s'", path);
    /* a real checkpoint, cut short, and with one byte flipped */
    FILE *f = fopen(ck, "rb");
    size_t n = f ? fread(bytes, 1, sizeof bytes, f) : 0;
    if (f) fclose(f);
    CHECK(n > 1000, "checkpoint of %zu bytes", n);
    snprintf(path, sizeof path, "%s/cut.tdc", h_tmp);
    write_file(path, bytes, n / 2);
    FAIL("cut.tdc", "eval '%s'", path);
    FAIL("cut.tdc", "sample '%s'", path);
    bytes[n / 2] ^= 0x10;
    snprintf(path, sizeof path, "%s/flipped.tdc", h_tmp);
    write_file(path, bytes, n);
    FAIL("flipped.tdc", "eval '%s'", path);
    bytes[n / 2] ^= 0x10;
    /* a valid archive that is not a checkpoint */
    td_archive *a = td_archive_create();
    td_archive_put_string(a, "hello", "world");
    snprintf(path, sizeof path, "%s/notckpt.tdc", h_tmp);
    td_archive_write(a, path);
    td_archive_destroy(a);
    FAIL("not a checkpoint", "eval '%s'", path);
    /* a valid checkpoint whose config asks for an absurd model */
    a = td_archive_read(ck);
    CHECK(a != NULL, "read %s: %s", ck, td_error());
    if (a) {
        char cfg[8192];
        const char *c = td_archive_get_string(a, "model.config"), *at = c ? strstr(c, "latent = 2\n") : NULL;
        CHECK(at != NULL, "no 'latent = 2' in the config");
        if (at) {
            snprintf(cfg, sizeof cfg, "%.*slatent = 9223372036854775807\n%s", (int)(at - c), c,
                     at + strlen("latent = 2\n"));
            td_archive_put_string(a, "model.config", cfg);
            snprintf(path, sizeof path, "%s/absurd.tdc", h_tmp);
            td_archive_write(a, path);
            FAIL("its config is unusable: --latent 9223372036854775807 is too large", "eval '%s'", path);
            FAIL("its config is unusable", "sample '%s'", path);
        }
        td_archive_destroy(a);
    }
    /* eval: data of another image size, and a model without a likelihood */
    char other[1300];
    snprintf(other, sizeof other, "%s/other", h_tmp);
    {
        static uint8_t img[16 + 100 * 100], lab[8 + 100];
        const uint8_t hi[16] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 10, 0, 0, 0, 10};
        const uint8_t hl[8] = {0, 0, 8, 1, 0, 0, 0, 100};
        memcpy(img, hi, 16);
        memcpy(lab, hl, 8);
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", other);
        write_file(path, img, sizeof img);
        snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", other);
        write_file(path, lab, sizeof lab);
    }
    FAIL("the model takes images of", "eval '%s' --data '%s'", run, other);
    char ae[1300];
    snprintf(ae, sizeof ae, "%s/ae", h_tmp);
    snprintf(path, sizeof path, "train ae --data '%s' --epochs 1 --batch 50 --hidden 16 --latent 2 --out '%s'", data, ae);
    CHECK(h_run(NULL, path) == 0, "ae run: %s", h_slurp(h_err));
    FAIL("this model has no likelihood estimate", "eval '%s' --iw-k 5", ae);
    FAIL("this model has no prior to sample from", "sample '%s' --out '%s/ae.png'", ae, h_tmp);
}

/* ---- numeric blow-ups --------------------------------------------------------------- */

static void blow_ups(void) {
    char a[4096], r[1300], p[1400], ref[1300], rp[1400];
    const char *sgd = "--batch 50 --hidden 32 --latent 2 --optimizer sgd";
    /* 1. --lr 1e6 from the start: stops in epoch 1, no checkpoint to keep */
    snprintf(r, sizeof r, "%s/nan1", h_tmp);
    snprintf(a, sizeof a, "train vae --data '%s' %s --lr 1e6 --epochs 3 --out '%s'", data, sgd, r);
    int rc = h_run(NULL, a);
    const char *err = h_slurp(h_err);
    CHECK(rc == 1 && strstr(err, "NaN/Inf") && strstr(err, "of op '") && strstr(err, "at epoch 1, step ") &&
          strstr(err, "no checkpoint had been written yet"), "--lr 1e6: status %d: %s", rc, err);
    printf("--lr 1e6 (sgd): status %d:\n%s", rc, err);
    snprintf(p, sizeof p, "%s/checkpoint.tdc", r);
    CHECK(!h_exists(p), "--lr 1e6 wrote a checkpoint");

    /* 2. a learning rate that explodes after a good epoch (x 1e4 per epoch):
     * stops in epoch 2 and leaves epoch 1's checkpoint, which equals a run
     * of just that epoch */
    const char *explode = "--lr 1e-4 --schedule step --step-size 1 --gamma 1e4";
    snprintf(r, sizeof r, "%s/nan2", h_tmp);
    snprintf(a, sizeof a, "train vae --data '%s' %s %s --epochs 4 --out '%s'", data, sgd, explode, r);
    rc = h_run(NULL, a);
    err = h_slurp(h_err);
    CHECK(rc == 1 && strstr(err, "NaN/Inf") && strstr(err, "of op '") && strstr(err, "at epoch 2, step ") &&
          strstr(err, "the last good checkpoint is unchanged"), "exploding schedule: status %d: %s", rc, err);
    printf("exploding schedule: status %d:\n%s", rc, err);
    snprintf(p, sizeof p, "%s/checkpoint.tdc", r);
    CHECK(h_checkpoint_epoch(p) == 1, "the last good checkpoint: %s", td_error());
    snprintf(ref, sizeof ref, "%s/nan2ref", h_tmp);
    snprintf(a, sizeof a, "train vae --data '%s' %s %s --epochs 1 --out '%s'", data, sgd, explode, ref);
    CHECK(h_run(NULL, a) == 0, "1-epoch run: %s", h_slurp(h_err));
    snprintf(rp, sizeof rp, "%s/checkpoint.tdc", ref);
    const char *d = h_state_diff(p, rp, 1);
    CHECK(!d, "the checkpoint left by the blow-up is not epoch 1's: %s", d);
    /* it still evaluates */
    snprintf(a, sizeof a, "eval '%s' --json", r);
    CHECK(h_run(NULL, a) == 0 && strstr(h_slurp(h_out), "\"test_loss\""), "eval after a blow-up: %s", h_slurp(h_err));
    /* resuming it hits the same wall, at the same place */
    snprintf(a, sizeof a, "train --resume '%s'", r);
    rc = h_run(NULL, a);
    CHECK(rc == 1 && strstr(h_slurp(h_err), "at epoch 2, step "), "resumed blow-up: status %d: %s", rc,
          h_slurp(h_err));
    CHECK(h_checkpoint_epoch(p) == 1 && !h_state_diff(p, rp, 1), "the resumed blow-up changed the checkpoint");

    /* 3. one poisoned step (the test hook TINYAD_TEST_NAN_STEP puts a NaN in
     * that step's input): stop names the step and the op; skip finishes */
    snprintf(r, sizeof r, "%s/nan3", h_tmp);
    snprintf(a, sizeof a, "train vae --data '%s' --batch 50 --hidden 32 --latent 2 --epochs 2 --out '%s'", data, r);
    rc = h_run("TINYAD_TEST_NAN_STEP=9", a);
    err = h_slurp(h_err);
    CHECK(rc == 1 && strstr(err, "the loss is NaN/Inf at epoch 2, step 3 (of 6)") && strstr(err, "op 'linear'") &&
          strstr(err, "the last good checkpoint is unchanged"), "poisoned step, stop: status %d: %s", rc, err);
    printf("poisoned step 9, --on-nan stop: status %d:\n%s", rc, err);
    snprintf(p, sizeof p, "%s/checkpoint.tdc", r);
    CHECK(h_checkpoint_epoch(p) == 1, "after the poisoned step: %s", td_error());
    snprintf(a, sizeof a, "train --resume '%s' --on-nan skip", r);
    rc = h_run("TINYAD_TEST_NAN_STEP=3", a); /* the same step: the resumed run counts from its own start */
    err = h_slurp(h_err);
    CHECK(rc == 0 && strstr(err, "step skipped (--on-nan skip)") && strstr(err, "1 step skipped"),
          "poisoned step, skip: status %d: %s", rc, err);
    printf("the same step, --on-nan skip: status %d:\n%s", rc, err);
    CHECK(h_checkpoint_epoch(p) == 2, "after the skipped step: %s", td_error());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_errors PATH_TO_TINYAD\n");
        return 2;
    }
    h_init(argv[1], "errors");
    if (chdir(h_tmp)) return 1; /* relative default outputs (runs/, samples.png) land here */
    snprintf(data, sizeof data, "%s/data", h_tmp);
    h_data(data, 300, 100);
    usage_errors();
    make_run();
    resume_errors();
    run_state_errors();
    data_errors();
    output_errors();
    checkpoint_errors();
    blow_ups();
    printf("%d usage errors (status 2) and %d runtime failures (status 1) tried\n", n_usage, n_fail);
    return check_done("errors");
}
