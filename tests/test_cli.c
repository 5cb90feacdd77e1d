/* The tinyad command line, run as a user would: usage errors exit 2 with a
 * usage message, runtime failures exit 1, a tiny training run writes the
 * whole run directory, and --resume (at an epoch boundary or after an
 * interruption mid-epoch) ends with the very same checkpoint, byte for byte,
 * as the run that was never stopped; a fresh run does not overwrite a
 * trained one without --force; the same for the convolutional VAE.
 * Synthetic MNIST-format data.
 *
 * usage: test_cli PATH_TO_TINYAD */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>

#include "check.h"
#include "nn/checkpoint.h"
#include "nn/data.h"

static const char *exe;
static char tmp[1024], data[1100], out_path[1200], err_path[1200];

/* Runs `tinyad ARGS` with stdout/stderr into files; returns the exit status. */
static int run(const char *env, const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s '%s' %s >'%s' 2>'%s'", env ? env : "", exe, args, out_path, err_path);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path) {
    static char buf[1 << 16];
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int exists(const char *dir, const char *name) {
    char p[2048];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && st.st_size > 0;
}

static int same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void write_idx(const char *path, int gz, int ndim, const int *dims, const uint8_t *bytes) {
    uint8_t head[16] = {0, 0, 8, (uint8_t)ndim};
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        for (int k = 0; k < 4; k++) head[4 + 4 * i + k] = (uint8_t)(dims[i] >> (24 - 8 * k));
        n *= (size_t)dims[i];
    }
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, head, 4 + 4 * (unsigned)ndim);
        gzwrite(f, bytes, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(head, 1, 4 + 4 * (size_t)ndim, f);
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
}

/* side x side images of one horizontal or vertical bar (label = bar % 10),
 * plain IDX files in dir. */
static void write_bars(const char *dir, const char *prefix, int n, int side, int gz) {
    const int np = side * side;
    uint8_t *px = malloc((size_t)n * (size_t)np), *lb = malloc((size_t)n);
    uint32_t s = 12345u + (uint32_t)n;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        int k = (int)((s >> 16) % (uint32_t)(2 * side));
        lb[i] = (uint8_t)(k % 10);
        for (int p = 0; p < np; p++) {
            s = s * 1664525u + 1013904223u;
            int on = k < side ? p / side == k : p % side == k - side;
            px[i * np + p] = on ? 240 : (uint8_t)((s >> 24) % 30);
        }
    }
    char path[1300];
    int di[3] = {n, side, side}, dl[1] = {n};
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx(path, gz, 3, di, px);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx(path, gz, 1, dl, lb);
    free(px);
    free(lb);
}

/* The 12x12 data set of these tests. */
static void write_data(const char *prefix, int n, int gz) { write_bars(data, prefix, n, 12, gz); }
static void write_data_to(const char *dir, const char *prefix, int n, int side) {
    write_bars(dir, prefix, n, side, 0);
}

/* Expect a usage error: status 2 and "usage:" on stderr. */
static void usage_error(const char *args) {
    int rc = run(NULL, args);
    const char *err = slurp(err_path);
    CHECK(rc == 2 && strstr(err, "usage") != NULL, "`tinyad %s`: status %d, stderr: %.300s", args, rc, err);
}

static void test_usage(void) {
    char a[4096];
    CHECK(run(NULL, "") == 2, "no command");
    usage_error("frobnicate");
    CHECK(run(NULL, "--help") == 0 && strstr(slurp(out_path), "train"), "--help");
    CHECK(run(NULL, "train --help") == 0, "train --help");
    const char *help = slurp(out_path);
    static const char *listed[] = {"--data", "--epochs", "--batch", "--lr", "--optimizer", "--hidden",
                                   "--activation", "--latent", "--likelihood", "--beta", "--warmup",
                                   "--samples", "--iw-k", "--binarize", "--seed", "--threads", "--out",
                                   "--resume", "--force", "--val", "--limit", "--clip", "--schedule"};
    for (size_t i = 0; i < sizeof listed / sizeof *listed; i++)
        CHECK(strstr(help, listed[i]) != NULL, "train --help does not list %s", listed[i]);
    CHECK(strstr(help, "(default: 128)") && strstr(help, "(default: 20)"), "defaults not shown");
    CHECK(run(NULL, "eval --help") == 0 && strstr(slurp(out_path), "--json"), "eval --help");
    CHECK(run(NULL, "sample --help") == 0 && strstr(slurp(out_path), "--n N"), "sample --help");

    usage_error("train");
    usage_error("train nosuchmodel");
    usage_error("train vae --bogus 1");
    usage_error("train vae --epochs");
    usage_error("train vae --epochs abc");
    usage_error("train vae --epochs 3x");
    usage_error("train vae --batch -5");
    usage_error("train vae --latent 0");
    usage_error("train vae --lr 0");
    usage_error("train vae --lr nan");
    usage_error("train vae --hidden 400,,3");
    usage_error("train vae --hidden 0");
    usage_error("train vae --activation swish");
    usage_error("train vae --binarize maybe");
    usage_error("train vae --likelihood poisson");
    usage_error("train vae --iw-k 1");
    usage_error("train vae --val -1");
    usage_error("train vae --data /nonexistent/dir");
    snprintf(a, sizeof a, "train vae --data '%s' --batch 100000 --out '%s/never'", data, tmp);
    usage_error(a);
    snprintf(a, sizeof a, "train vae --data '%s' --val 600 --out '%s/never'", data, tmp);
    usage_error(a);
    usage_error("eval");
    usage_error("eval somewhere --iw-k abc");
    usage_error("eval somewhere --json=1");
    usage_error("eval somewhere --epochs 3");
    usage_error("sample");
    usage_error("sample somewhere --n 0");
}

/* Trains KIND with COMMON (3 epochs) into DIR_a, checking its run
 * directory; then resumes at an epoch boundary (DIR_b: 2 epochs, then on to
 * 3) and after an interruption in the middle of epoch 2 (DIR_c, as by
 * Ctrl-C after step 13): both end with DIR_a's checkpoint, byte for byte. */
static void train_and_resume(const char *kind, const char *common, const char *dir) {
    char a[4096], ra[1200], rb[1200], rc_[1200], p1[1300], p2[1300];
    snprintf(ra, sizeof ra, "%s_a", dir);
    snprintf(rb, sizeof rb, "%s_b", dir);
    snprintf(rc_, sizeof rc_, "%s_c", dir);

    snprintf(a, sizeof a, "train %s --data '%s' %s --out '%s'", kind, data, common, ra);
    int rc = run(NULL, a);
    CHECK(rc == 0, "%s training run: status %d: %s", kind, rc, slurp(err_path));
    static const char *files[] = {"config.txt", "metrics.csv", "checkpoint.tdc", "samples.png",
                                  "recon.png", "latent.png", "manifold.png", "curve.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        CHECK(exists(ra, files[i]), "%s run directory lacks %s", kind, files[i]);
    snprintf(p1, sizeof p1, "%s/metrics.csv", ra);
    const char *m = slurp(p1);
    CHECK(!strncmp(m, "epoch,train_loss,train_recon,train_kl,val_loss,val_recon,val_kl,lr,beta,seconds\n", 80),
          "%s metrics.csv header: %.100s", kind, m);
    int lines = 0;
    for (const char *c = m; *c; c++) lines += *c == '\n';
    CHECK(lines == 4, "%s metrics.csv has %d lines", kind, lines);

    snprintf(a, sizeof a, "train %s --data '%s' %s --out '%s' --epochs 2", kind, data, common, rb);
    CHECK(run(NULL, a) == 0, "%s 2-epoch run: %s", kind, slurp(err_path));
    snprintf(a, sizeof a, "train %s --resume '%s' --epochs 3 --lr 0.1", kind, rb);
    usage_error(a); /* with --resume the config is the run's */
    snprintf(a, sizeof a, "train %s --resume '%s' --epochs 3", kind, rb);
    CHECK(run(NULL, a) == 0, "%s resume: %s", kind, slurp(err_path));
    snprintf(p1, sizeof p1, "%s/checkpoint.tdc", ra);
    snprintf(p2, sizeof p2, "%s/checkpoint.tdc", rb);
    CHECK(same_file(p1, p2), "%s: resumed checkpoint differs from the uninterrupted run's", kind);

    snprintf(a, sizeof a, "train %s --data '%s' %s --out '%s'", kind, data, common, rc_);
    CHECK(run("TINYAD_STOP_AFTER_STEPS=13", a) == 130 && strstr(slurp(err_path), "interrupted"),
          "%s interrupted run: %s", kind, slurp(err_path));
    snprintf(p2, sizeof p2, "%s/metrics.csv", rc_);
    m = slurp(p2);
    lines = 0;
    for (const char *c = m; *c; c++) lines += *c == '\n';
    CHECK(lines == 2, "%s: the interrupted run's metrics.csv has %d lines", kind, lines);
    snprintf(a, sizeof a, "train --resume '%s'", rc_);
    CHECK(run(NULL, a) == 0, "%s resume mid-epoch: %s", kind, slurp(err_path));
    snprintf(p2, sizeof p2, "%s/checkpoint.tdc", rc_);
    CHECK(same_file(p1, p2), "%s: mid-epoch resume differs from the uninterrupted run", kind);

    /* --epochs 0 saves the initialized model; resumed, it is the fresh run */
    snprintf(rc_, sizeof rc_, "%s_d", dir);
    snprintf(a, sizeof a, "train %s --data '%s' %s --out '%s' --epochs 0", kind, data, common, rc_);
    CHECK(run(NULL, a) == 0, "%s 0-epoch run: %s", kind, slurp(err_path));
    snprintf(p2, sizeof p2, "%s/metrics.csv", rc_);
    CHECK(!strcmp(slurp(p2), "epoch,train_loss,train_recon,train_kl,val_loss,val_recon,val_kl,lr,beta,seconds\n"),
          "%s: the 0-epoch run's metrics.csv: %.200s", kind, slurp(p2));
    snprintf(a, sizeof a, "train %s --resume '%s' --epochs 3", kind, rc_);
    CHECK(run(NULL, a) == 0, "%s resume from epoch 0: %s", kind, slurp(err_path));
    snprintf(p2, sizeof p2, "%s/checkpoint.tdc", rc_);
    CHECK(same_file(p1, p2), "%s: resumed from its initial checkpoint, differs from the uninterrupted run", kind);
}

static void test_runs(void) {
    char a[4096], ra[1200], p1[1300];
    snprintf(a, sizeof a, "%s/run", tmp);
    train_and_resume("vae", "--epochs 3 --batch 50 --hidden 32 --latent 2 --val 100 --threads 1", a);
    snprintf(ra, sizeof ra, "%s/run_a", tmp);

    /* eval: JSON on stdout, the IW estimate, a limit */
    snprintf(a, sizeof a, "eval '%s' --json", ra);
    CHECK(run(NULL, a) == 0, "eval: %s", slurp(err_path));
    const char *o = slurp(out_path);
    CHECK(!strncmp(o, "{\"test_loss\": ", 14) && strstr(o, "\"recon\": ") && strstr(o, "\"kl\": "), "eval json: %s", o);
    double loss = atof(o + 14);
    CHECK(loss > 0 && loss < 200, "test loss %g", loss);
    snprintf(a, sizeof a, "eval '%s/checkpoint.tdc' --json --iw-k 20 --limit 50", ra);
    CHECK(run(NULL, a) == 0 && strstr(slurp(out_path), "\"iw_nll\": ") && strstr(slurp(out_path), "\"n\": 50"),
          "eval --iw-k: %s %s", slurp(out_path), slurp(err_path));

    /* sample */
    snprintf(a, sizeof a, "sample '%s' --n 16 --out '%s/s.png'", ra, tmp);
    CHECK(run(NULL, a) == 0 && exists(tmp, "s.png"), "sample: %s", slurp(err_path));
    snprintf(p1, sizeof p1, "%s/s.png", tmp);
    CHECK(!memcmp(slurp(p1), "\x89PNG", 4), "sample did not write a PNG");

    /* runtime failures: status 1 and a message */
    snprintf(a, sizeof a, "eval '%s/nothing_here'", tmp);
    CHECK(run(NULL, a) == 1 && strlen(slurp(err_path)) > 10, "eval of a missing run: %s", slurp(err_path));
    snprintf(p1, sizeof p1, "%s/bad.tdc", tmp);
    FILE *f = fopen(p1, "wb");
    fputs("not a checkpoint", f);
    fclose(f);
    snprintf(a, sizeof a, "eval '%s'", p1);
    CHECK(run(NULL, a) == 1 && strstr(slurp(err_path), "bad.tdc"), "eval of garbage: %s", slurp(err_path));

    /* the other likelihood, binarizations and bounds run too */
    snprintf(a, sizeof a, "train vae --data '%s' --epochs 1 --batch 50 --hidden 16,8 --latent 3 --activation tanh "
             "--binarize dynamic --iw-k 3 --out '%s/run_iw' --threads 1", data, tmp);
    CHECK(run(NULL, a) == 0, "IWAE run: %s", slurp(err_path));
    snprintf(a, sizeof a, "train vae --data '%s' --epochs 1 --batch 50 --hidden 16 --latent 3 --likelihood gaussian "
             "--binarize static --samples 2 --warmup 3 --schedule exp --clip 100 --optimizer sgd --lr 1e-4 "
             "--out '%s/run_g' --threads 1", data, tmp);
    CHECK(run(NULL, a) == 0, "gaussian run: %s", slurp(err_path));
}

/* The convolutional VAE through the same doors: its usage errors, a run
 * directory with every picture, resume at an epoch boundary and mid-epoch
 * equal to the uninterrupted run byte for byte, eval with --iw-k, sample,
 * --on-nan, and images it cannot take. Small channels: the 12x12 data
 * trains in a second. */
static void test_convvae(void) {
    char a[4096], ra[1200], p1[1300];
    usage_error("train convvae --channels 3");
    usage_error("train convvae --channels 4,0");
    usage_error("train convvae --hidden 16,8");
    usage_error("train convvae --likelihood gaussian");
    usage_error("train convvae --iw-k 1");
    usage_error("train convvae --gauss-var -4");
    snprintf(ra, sizeof ra, "%s/cv", tmp);
    train_and_resume("convvae", "--epochs 3 --batch 50 --channels 4,8 --hidden 8 --val 100 --threads 1", ra);
    snprintf(ra, sizeof ra, "%s/cv_a", tmp);
    snprintf(p1, sizeof p1, "%s/config.txt", ra);
    const char *cfg = slurp(p1);
    CHECK(strstr(cfg, "kind = convvae\n") && strstr(cfg, "hidden = 8\n") && strstr(cfg, "latent = 2\n") &&
          strstr(cfg, "channels = 4,8\n") && strstr(cfg, "iw-k = 0\n") && !strstr(cfg, "gauss-var"),
          "convvae config.txt: %s", cfg);

    /* eval, the IW estimate, sample */
    snprintf(a, sizeof a, "eval '%s' --json --iw-k 20 --limit 50", ra);
    CHECK(run(NULL, a) == 0, "convvae eval: %s", slurp(err_path));
    const char *o = slurp(out_path);
    const double loss = atof(o + 14), iw = strstr(o, "\"iw_nll\": ") ? atof(strstr(o, "\"iw_nll\": ") + 10) : 0;
    CHECK(!strncmp(o, "{\"test_loss\": ", 14) && loss > 0 && loss < 200 && iw > 0 && iw < loss + 1,
          "convvae eval: %s", o);
    snprintf(a, sizeof a, "sample '%s' --n 16 --out '%s/cv.png'", ra, tmp);
    CHECK(run(NULL, a) == 0 && exists(tmp, "cv.png"), "convvae sample: %s", slurp(err_path));

    /* the IWAE and multi-sample bounds train; a poisoned step is skipped or stops the run */
    snprintf(a, sizeof a, "train convvae --data '%s' --epochs 1 --batch 50 --channels 2,3 --hidden 4 --latent 3 "
             "--iw-k 3 --binarize dynamic --out '%s/cv_iw' --threads 1", data, tmp);
    CHECK(run(NULL, a) == 0, "convvae IWAE run: %s", slurp(err_path));
    snprintf(a, sizeof a, "train convvae --data '%s' --epochs 1 --batch 50 --channels 2,3 --hidden 4 --samples 2 "
             "--on-nan skip --out '%s/cv_nan' --threads 1", data, tmp);
    CHECK(run("TINYAD_TEST_NAN_STEP=3", a) == 0 && strstr(slurp(err_path), "1 step skipped"),
          "convvae --on-nan skip: %s", slurp(err_path));
    snprintf(a, sizeof a, "train convvae --data '%s' --epochs 1 --batch 50 --channels 2,3 --hidden 4 "
             "--out '%s/cv_nan2' --threads 1", data, tmp);
    CHECK(run("TINYAD_TEST_NAN_STEP=3", a) == 1 && strstr(slurp(err_path), "NaN/Inf at epoch 1, step 3"),
          "convvae --on-nan stop: %s", slurp(err_path));

    /* 10x10 images: a clear message, not a crash */
    char odd[1300];
    snprintf(odd, sizeof odd, "%s/odd", tmp);
    mkdir(odd, 0777);
    write_data_to(odd, "train", 100, 10);
    write_data_to(odd, "t10k", 50, 10);
    snprintf(a, sizeof a, "train convvae --data '%s' --epochs 1 --batch 50 --out '%s/cv_odd'", odd, tmp);
    int rc = run(NULL, a); /* the config does not fit the data: status 2, as for --batch */
    CHECK(rc == 2 && strstr(slurp(err_path), "multiples of 4"), "10x10 images: status %d: %s", rc, slurp(err_path));
}

/* A fresh run into a directory that holds a trained run is refused (status
 * 2), leaving it untouched; --force overwrites it. */
static void test_overwrite(void) {
    char a[4096], rd[1200], keep[1300], p1[1300], p2[1300];
    const char *common = "--epochs 2 --batch 50 --hidden 16 --latent 2 --val 100 --threads 1";
    snprintf(rd, sizeof rd, "%s/run_o", tmp);
    snprintf(keep, sizeof keep, "%s/run_o_keep.tdc", tmp);
    snprintf(p1, sizeof p1, "%s/checkpoint.tdc", rd);
    snprintf(p2, sizeof p2, "%s/metrics.csv", rd);
    snprintf(a, sizeof a, "train vae --data '%s' %s --out '%s'", data, common, rd);
    CHECK(run(NULL, a) == 0, "first run: %s", slurp(err_path));
    snprintf(a, sizeof a, "cp '%s' '%s'", p1, keep);
    CHECK(system(a) == 0, "%s", a);
    /* the same command again, and another config into the same directory */
    for (int k = 0; k < 2; k++) {
        snprintf(a, sizeof a, "train %s --data '%s' %s --out '%s'", k ? "ae" : "vae", data, common, rd);
        int rc = run(NULL, a);
        const char *err = slurp(err_path);
        CHECK(rc == 2 && strstr(err, "already holds a trained run") && strstr(err, "--resume") &&
              strstr(err, "--force") && strstr(err, "usage"), "second run into %s: status %d: %.400s", rd, rc, err);
        CHECK(same_file(p1, keep), "a refused run changed the checkpoint");
    }
    const char *m = slurp(p2);
    int lines = 0;
    for (const char *c = m; *c; c++) lines += *c == '\n';
    CHECK(lines == 3, "a refused run changed metrics.csv (%d lines)", lines);
    /* --force is for fresh runs only */
    snprintf(a, sizeof a, "train vae --resume '%s' --epochs 3 --force", rd);
    usage_error(a);
    CHECK(same_file(p1, keep), "train --resume --force changed the checkpoint");
    /* --force: a 1-epoch run replaces the 2-epoch one */
    snprintf(a, sizeof a, "train vae --data '%s' %s --epochs 1 --out '%s' --force", data, common, rd);
    CHECK(run(NULL, a) == 0, "--force: %s", slurp(err_path));
    td_checkpoint *c = td_checkpoint_open(p1);
    CHECK(c && td_checkpoint_epoch(c) == 1, "after --force the checkpoint is not the new run's: %s",
          c ? "another epoch" : td_error());
    td_checkpoint_close(c);
    m = slurp(p2);
    lines = 0;
    for (const char *q = m; *q; q++) lines += *q == '\n';
    CHECK(lines == 2, "after --force metrics.csv has %d lines", lines);
}

/* The two-layer VAE and the IWAE paper's recipe through the command line:
 * resume (at an epoch boundary and mid-epoch) gives the uninterrupted
 * run's checkpoint bit for bit, with the recipe's optimizer state and
 * schedule too; eval --iw-k and the active units; what is refused. */
static void test_hvae_and_recipe(void) {
    char a[4096], r1[1200], r2[1200], r3[1200], p1[1300], p2[1300];
    const char *common = "--epochs 3 --batch 50 --hidden 16,16 --latent 6 --hidden2 8 --latent2 3 "
                         "--activation tanh --binarize dynamic --threads 1";
    for (int recipe = 0; recipe < 2; recipe++) {
        const char *extra = recipe ? "--recipe iwae --batch 40 --iw-k 2" : "";
        snprintf(r1, sizeof r1, "%s/hvae%d_a", tmp, recipe);
        snprintf(r2, sizeof r2, "%s/hvae%d_b", tmp, recipe);
        snprintf(r3, sizeof r3, "%s/hvae%d_c", tmp, recipe);
        snprintf(a, sizeof a, "train hvae --data '%s' %s %s --out '%s'", data, common, extra, r1);
        CHECK(run(NULL, a) == 0, "hvae run (recipe %d): %s", recipe, slurp(err_path));
        static const char *files[] = {"samples.png", "recon.png", "latent.png", "curve.png"};
        for (size_t i = 0; i < sizeof files / sizeof *files; i++)
            CHECK(exists(r1, files[i]), "hvae run directory lacks %s", files[i]);
        snprintf(p1, sizeof p1, "%s/config.txt", r1);
        const char *cfg = slurp(p1);
        CHECK(!recipe || (strstr(cfg, "recipe = iwae\n") && strstr(cfg, "schedule = iwae\n") &&
                          strstr(cfg, "optimizer = adam-iwae\n") && strstr(cfg, "output-bias = data\n") &&
                          strstr(cfg, "batch = 40\n") && strstr(cfg, "epochs = 3\n")),
              "the recipe's config, given flags winning: %s", cfg);
        CHECK(recipe || (!strstr(cfg, "recipe") && !strstr(cfg, "output-bias")),
              "no recipe lines when it is not used: %s", cfg);
        snprintf(p1, sizeof p1, "%s/metrics.csv", r1);
        const char *m = slurp(p1);
        if (recipe) { /* stages 1 and 2: 1e-3, then 7.2e-4 */
            CHECK(strstr(m, "\n1,") && strstr(strstr(m, "\n1,"), ",0.001,") && strstr(m, ",0.00072,"),
                  "the recipe's learning rates: %s", m);
        }
        /* boundary resume */
        snprintf(a, sizeof a, "train hvae --data '%s' %s %s --epochs 2 --out '%s'", data, common, extra, r2);
        CHECK(run(NULL, a) == 0, "2-epoch hvae run: %s", slurp(err_path));
        snprintf(a, sizeof a, "train hvae --resume '%s' --epochs 3", r2);
        CHECK(run(NULL, a) == 0, "hvae resume: %s", slurp(err_path));
        snprintf(p1, sizeof p1, "%s/checkpoint.tdc", r1);
        snprintf(p2, sizeof p2, "%s/checkpoint.tdc", r2);
        CHECK(same_file(p1, p2), "resumed hvae checkpoint differs (recipe %d)", recipe);
        /* mid-epoch resume */
        snprintf(a, sizeof a, "train hvae --data '%s' %s %s --out '%s'", data, common, extra, r3);
        CHECK(run("TINYAD_STOP_AFTER_STEPS=17", a) == 130, "interrupted hvae run: %s", slurp(err_path));
        snprintf(a, sizeof a, "train hvae --resume '%s'", r3);
        CHECK(run(NULL, a) == 0, "hvae resume mid-epoch: %s", slurp(err_path));
        snprintf(p2, sizeof p2, "%s/checkpoint.tdc", r3);
        CHECK(same_file(p1, p2), "mid-epoch hvae resume differs (recipe %d)", recipe);
    }
    /* eval: -log p(x) with its standard error, the ELBO above it, active units of both layers */
    snprintf(a, sizeof a, "eval '%s/hvae0_a' --json --iw-k 200 --limit 60", tmp);
    CHECK(run(NULL, a) == 0, "hvae eval: %s", slurp(err_path));
    const char *o = slurp(out_path), *iw = strstr(o, "\"iw_nll\": "), *se = strstr(o, "\"iw_nll_se\": ");
    const char *a1 = strstr(o, "\"active_units_z1\": "), *a2 = strstr(o, "\"active_units_z2\": ");
    CHECK(iw && se && a1 && a2 && strstr(o, "\"n\": 60"), "hvae eval json: %s", o);
    if (iw && se && a1 && a2) {
        const double elbo = atof(o + 14), nll = atof(iw + 10), err = atof(se + 13);
        CHECK(isfinite(nll) && nll > 0 && nll <= elbo + 1 && err > 0 && err < 50, "hvae -log p(x) %g (se %g), -ELBO %g",
              nll, err, elbo);
        CHECK(atof(a1 + 19) >= 0 && atof(a1 + 19) <= 6 && atof(a2 + 19) >= 0 && atof(a2 + 19) <= 3,
              "active units in range: %s", o);
    }
    snprintf(a, sizeof a, "eval '%s/hvae0_a' --iw-k 20 --limit 10", tmp);
    CHECK(run(NULL, a) == 0 && strstr(slurp(out_path), "standard error") && strstr(slurp(out_path), "active_units_z2"),
          "hvae eval text: %s", slurp(out_path));
    snprintf(a, sizeof a, "eval '%s/run_a' --json", tmp); /* the one-layer VAE's active units */
    CHECK(run(NULL, a) == 0 && strstr(slurp(out_path), "\"active_units\": "), "vae eval: %s", slurp(out_path));
    /* --output-bias data: one step of adam-iwae moves nothing (its first step
     * uses the zero first moments), so the checkpoint holds the bias as set:
     * the logit of the mean training pixel, clipped to [0.001, 0.999] */
    snprintf(r1, sizeof r1, "%s/bias", tmp);
    snprintf(a, sizeof a, "train vae --data '%s' --hidden 16 --latent 2 --recipe iwae --binarize none "
             "--epochs 1 --batch 600 --out '%s' --threads 1", data, r1);
    CHECK(run(NULL, a) == 0, "output-bias run: %s", slurp(err_path));
    snprintf(p1, sizeof p1, "%s/checkpoint.tdc", r1);
    td_checkpoint *ck = td_checkpoint_open(p1);
    td_dataset d;
    CHECK(ck && td_dataset_load(data, "train", 0, &d) == 0, "open: %s", td_error());
    if (ck) {
        td_tensor b = td_tensor_zeros(TD_SHAPE(d.dim));
        CHECK(td_archive_get_tensor(td_checkpoint_archive(ck), "param.dec.1.b", &b) == 0, "%s", td_error());
        td_real *x = td_alloc(sizeof(td_real) * (size_t)(d.n * d.dim));
        td_dataset_rows(&d, 0, d.n, x);
        int bad = 0;
        for (int64_t j = 0; j < d.dim; j++) {
            double m = 0;
            for (int64_t i = 0; i < d.n; i++) m += x[i * d.dim + j];
            m /= (double)d.n;
            m = m < 0.001 ? 0.001 : m > 0.999 ? 0.999 : m;
            bad += fabs(b.data[j] - log(m / (1 - m))) > 1e-4;
        }
        CHECK(bad == 0, "%d of %lld output biases are not the logit of the mean pixel", bad, (long long)d.dim);
        td_free(x);
        td_tensor_release(&b);
        td_dataset_release(&d);
        td_checkpoint_close(ck);
    }
    /* refused: what the kind or the recipe cannot do */
    usage_error("train hvae --likelihood gaussian");
    usage_error("train hvae --hidden2 0");
    usage_error("train hvae --hidden2 8,,8");
    usage_error("train hvae --iw-k 1");
    usage_error("train hvae --latent2 0");
    usage_error("train hvae --samples 2");
    usage_error("train ae --output-bias data");
    usage_error("train vae --recipe paper");
    usage_error("train vae --optimizer adam-iwa");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_cli PATH_TO_TINYAD\n");
        return 2;
    }
    exe = argv[1];
    const char *t = getenv("TINYAD_TEST_TMP");
    snprintf(tmp, sizeof tmp, "%s/test_cli_tmp", t ? t : "/tmp");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) return 1;
    mkdir(tmp, 0777);
    snprintf(data, sizeof data, "%s/data", tmp);
    mkdir(data, 0777);
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmp);
    write_data("train", 600, 1);
    write_data("t10k", 200, 0);
    test_usage();
    test_runs();
    test_hvae_and_recipe();
    test_convvae();
    test_overwrite();
    return check_done("cli");
}
