/* `tinyad train` under mpirun (docs/distributed.md), the VAE on a small
 * synthetic data set, against one process on the same global batches:
 *   - 200 steps, one per epoch (so metrics.csv holds every step's loss),
 *     a batch of 41 split 20 / 21: every step's loss within TOL of one
 *     process, and a rerun with 2 ranks gives the same bits;
 *   - 3 ranks with a last batch of 2 rows (one rank without rows);
 *   - --same-bits-any-ranks: 1, 2 and 4 ranks byte for byte;
 *   - resume 2 -> 1, 1 -> 2 (within TOL of the uninterrupted run) and
 *     2 -> 2 (the same bits as the uninterrupted run);
 *   - kill -9 one rank, then the writer (rank 0): the job ends (no hang)
 *     with Open MPI's message naming the rank and the signal, the last
 *     checkpoint reads back whole, and --resume finishes the same bits as a
 *     run never killed;
 *   - Ctrl-C on mpirun: every rank stops, rank 0 saves, --resume finishes
 *     the same bits as a run never stopped;
 *   - eval and sample on a checkpoint written by 2 ranks.
 * The weights are compared across ranks at every epoch's end by tinyad
 * itself (its closing line says so; test_dist proves the check catches a
 * one-bit difference).
 *
 * argv: tinyad, mpirun, and the part to run (steps, resume, kill; all by
 * default). Exit 77 (skipped) without MPI. */
#include <dirent.h>

#include "cli_harness.h"
#include "nn/dist.h"

/* Per-step losses of 2 ranks against one process: each rank sums its rows,
 * the ranks' sums are added, so a batch's float sums are taken in another
 * order; measured worst over 200 steps here: 1.0e-7 relative on these
 * images, 1.7e-7 on the first MNIST images (2-3 float epsilons). TOL is ten times that: a wrong noise slice or a gradient
 * counted twice moves the loss by 1e-3 or more. */
#define TOL 1e-6

static const char *mpirun;
static char data[1100];

/* `tinyad ARGS` in np processes (np 1: a plain process, as without MPI),
 * stdout and stderr into h_out and h_err. */
static pid_t spawn_np(int np, const char *env, const char *args) {
    char cmd[8192], launcher[1200] = "";
    if (np > 1) snprintf(launcher, sizeof launcher, "'%s' -np %d", mpirun, np);
    snprintf(cmd, sizeof cmd, "%s exec %s '%s' %s >'%s' 2>'%s'", env ? env : "", launcher, h_exe, args, h_out,
             h_err);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int run_np(int np, const char *env, const char *args) { return h_wait(spawn_np(np, env, args)); }

/* train_loss of every row of RUN/metrics.csv; returns the row count. */
static int losses(const char *run, double *out, int max) {
    char path[2048], line[512];
    snprintf(path, sizeof path, "%s/metrics.csv", run);
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f) return 0;
    if (!fgets(line, sizeof line, f)) line[0] = 0; /* the header */
    while (n < max && fgets(line, sizeof line, f)) {
        const char *c = strchr(line, ',');
        out[n++] = c ? atof(c + 1) : NAN;
    }
    fclose(f);
    return n;
}

/* The worst relative difference of two runs' per-row losses; rows: how
 * many rows both must have. */
static double worst_diff(const char *a, const char *b, int rows) {
    static double la[1024], lb[1024];
    const int na = losses(a, la, 1024), nb = losses(b, lb, 1024);
    CHECK(na == rows && nb == rows, "%s, %s: %d and %d rows of metrics (expected %d)", a, b, na, nb, rows);
    double worst = na == nb && na == rows ? 0 : INFINITY;
    for (int i = 0; i < na && i < nb; i++) {
        const double d = fabs(la[i] - lb[i]) / fabs(la[i]);
        worst = d > worst || d != d ? d : worst;
    }
    return worst;
}

/* metrics.csv of two runs equal but for the seconds column. */
static int same_metrics(const char *a, const char *b) {
    char pa[2048], pb[2048];
    snprintf(pa, sizeof pa, "%s/metrics.csv", a);
    snprintf(pb, sizeof pb, "%s/metrics.csv", b);
    FILE *fa = fopen(pa, "r"), *fb = fopen(pb, "r");
    int same = fa && fb;
    char la[512], lb[512];
    while (same) {
        char *ra = fgets(la, sizeof la, fa), *rb = fgets(lb, sizeof lb, fb);
        if (!ra || !rb) {
            same = !ra && !rb;
            break;
        }
        char *ca = strrchr(la, ','), *cb = strrchr(lb, ',');
        if (ca) *ca = 0;
        if (cb) *cb = 0;
        same = !strcmp(la, lb);
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static const char *ckpt(const char *run) {
    static char path[2][2048];
    static int k;
    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/checkpoint.tdc", run);
    return path[k];
}

/* Trains RUN with np ranks and checks it went well. */
static void train(int np, const char *env, const char *common, const char *run, const char *what) {
    char args[4096];
    snprintf(args, sizeof args, "train vae %s --out %s/%s", common, h_tmp, run);
    const int rc = run_np(np, env, args);
    const char *e = h_slurp(h_err);
    CHECK(rc == 0, "%s: %d rank(s): status %d: %.1500s", what, np, rc, e);
    if (np > 1)
        CHECK(strstr(e, "were identical on every rank"), "%s: the ranks' weights were compared: %.600s", what, e);
}

static void path_of(char *out, size_t len, const char *run) { snprintf(out, len, "%s/%s", h_tmp, run); }

/* ---- every step against one process, and a rerun ---------------------------------------- */

static void per_step(void) {
    char common[2048], a[1200], b[1200], c[1200];
    snprintf(common, sizeof common, "--data %s --limit 41 --batch 41 --epochs 200 --hidden 16 --latent 2 "
             "--seed 3", data);
    train(1, NULL, common, "one", "200 steps");
    train(2, NULL, common, "two", "200 steps");
    train(2, NULL, common, "two_again", "200 steps, again");
    path_of(a, sizeof a, "one"), path_of(b, sizeof b, "two"), path_of(c, sizeof c, "two_again");
    const double w = worst_diff(a, b, 200);
    printf("200 steps, 2 ranks against 1 process: worst relative difference of a step's loss %.2g\n", w);
    CHECK(w <= TOL, "per-step losses of 2 ranks within %g of one process: %.3g", TOL, w);
    const char *why = h_state_diff(ckpt(b), ckpt(c), 0);
    CHECK(!why && same_metrics(b, c), "2 ranks twice: the same bits (%s)", why ? why : "metrics differ");

    /* 232 images in batches of 23: a last batch of 2 rows, none for rank 0 */
    snprintf(common, sizeof common, "--data %s --limit 232 --batch 23 --epochs 3 --hidden 16 --latent 2", data);
    train(1, NULL, common, "one_232", "3 epochs");
    train(3, "OMPI_MCA_rmaps_base_oversubscribe=1", common, "three_232", "3 epochs");
    path_of(a, sizeof a, "one_232"), path_of(b, sizeof b, "three_232");
    const double w3 = worst_diff(a, b, 3);
    CHECK(w3 <= TOL, "3 ranks, a rank without rows in the last batch: within %g of one process: %.3g", TOL, w3);

    /* --same-bits-any-ranks 5: micro-batches 5, 5, 5, 5, 3 and a last
     * batch of one micro-batch of 2 rows: 1, 2 and 4 ranks byte for byte */
    snprintf(common, sizeof common, "--data %s --limit 232 --batch 23 --epochs 2 --hidden 16 --latent 2 "
             "--same-bits-any-ranks 5", data);
    train(1, NULL, common, "same1", "--same-bits-any-ranks, 1 process");
    train(2, NULL, common, "same2", "--same-bits-any-ranks, 2 ranks");
    train(4, "OMPI_MCA_rmaps_base_oversubscribe=1", common, "same4", "--same-bits-any-ranks, 4 ranks");
    path_of(a, sizeof a, "same1"), path_of(b, sizeof b, "same2"), path_of(c, sizeof c, "same4");
    const char *w2 = h_state_diff(ckpt(a), ckpt(b), 0), *w4 = h_state_diff(ckpt(a), ckpt(c), 0);
    CHECK(!w2 && !w4 && same_metrics(a, b) && same_metrics(a, c),
          "--same-bits-any-ranks: 1, 2 and 4 ranks give the same bits (2: %s, 4: %s)", w2 ? w2 : "same",
          w4 ? w4 : "same");

    /* the NaN policy decides alike on every rank: a NaN in row 0 (rank 0's) */
    snprintf(common, sizeof common, "--data %s --limit 232 --batch 23 --epochs 2 --hidden 16 --latent 2", data);
    train(2, "TINYAD_TEST_NAN_STEP=3", common, "nan_skip --on-nan skip", "a NaN skipped");
    CHECK(strstr(h_slurp(h_err), "rank 0: the loss is NaN/Inf at epoch 1, step 3"), "the rank that saw it says so");
    char args[4096];
    snprintf(args, sizeof args, "train vae %s --out %s/nan_stop", common, h_tmp);
    const int rc = run_np(2, "TINYAD_TEST_NAN_STEP=3", args);
    CHECK(rc != 0 && strstr(h_slurp(h_err), "tinyad: stopped;"), "--on-nan stop stops every rank: status %d: %.600s",
          rc, h_slurp(h_err));

    /* eval and sample know nothing of ranks */
    snprintf(args, sizeof args, "eval %s/two --json", h_tmp);
    CHECK(run_np(1, NULL, args) == 0 && strstr(h_slurp(h_out), "loss"), "eval of a 2-rank checkpoint: %.300s",
          h_slurp(h_err));
    snprintf(args, sizeof args, "sample %s/two --n 4 --out %s/s.png", h_tmp, h_tmp);
    CHECK(run_np(1, NULL, args) == 0, "sample from a 2-rank checkpoint: %.300s", h_slurp(h_err));
}

/* ---- resume with another rank count --------------------------------------------------- */

/* 235 images, batches of 23: 11 steps an epoch, the last of 5 rows. */
static void resume_common(char *c, size_t len, int epochs) {
    snprintf(c, len, "--data %s --limit 235 --batch 23 --epochs %d --hidden 16 --latent 2 --seed 5", data, epochs);
}

/* Stopped after step 25 (in epoch 3) with `from` ranks, resumed with `to`. */
static void stop_and_resume(int from, int to, const char *run) {
    char common[2048], args[4096];
    resume_common(common, sizeof common, 6);
    snprintf(args, sizeof args, "train vae %s --out %s/%s", common, h_tmp, run);
    int rc = run_np(from, "TINYAD_STOP_AFTER_STEPS=25", args);
    CHECK(rc == 130, "%d rank(s) stopped after step 25 (130, as one process): status %d: %.600s", from, rc, h_slurp(h_err));
    snprintf(args, sizeof args, "train --resume %s/%s", h_tmp, run);
    rc = run_np(to, NULL, args);
    const char *e = h_slurp(h_err);
    CHECK(rc == 0 && strstr(e, "resuming") && strstr(e, "mid-epoch"), "resumed with %d rank(s): status %d: %.600s",
          to, rc, e);
}

static void resume_test(void) {
    char common[2048], full1[1200], full2[1200], r[1200];
    resume_common(common, sizeof common, 6);
    train(1, NULL, common, "full1", "6 epochs");
    train(2, NULL, common, "full2", "6 epochs");
    path_of(full1, sizeof full1, "full1"), path_of(full2, sizeof full2, "full2");

    stop_and_resume(2, 1, "r21");
    path_of(r, sizeof r, "r21");
    double w = worst_diff(full2, r, 6);
    CHECK(w <= TOL, "2 -> 1 ranks continues the run: within %g of it: %.3g", TOL, w);
    stop_and_resume(1, 2, "r12");
    path_of(r, sizeof r, "r12");
    w = worst_diff(full1, r, 6);
    CHECK(w <= TOL, "1 -> 2 ranks continues the run: within %g of it: %.3g", TOL, w);
    stop_and_resume(2, 2, "r22");
    path_of(r, sizeof r, "r22");
    const char *why = h_state_diff(ckpt(full2), ckpt(r), 0);
    CHECK(!why && same_metrics(full2, r), "2 -> 2 ranks: the same bits as never stopped (%s)",
          why ? why : "metrics differ");
}

/* ---- kill -9 one rank -------------------------------------------------------------------- */

/* The pid of rank `rank` among mpirun's children, or -1. */
static pid_t rank_pid(pid_t parent, int rank) {
    DIR *d = opendir("/proc");
    pid_t found = -1;
    struct dirent *de;
    while (d && found < 0 && (de = readdir(d))) {
        const pid_t pid = (pid_t)atoi(de->d_name);
        char path[300], buf[8192];
        if (pid <= 0) continue;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        int ppid = -1;
        if (f) {
            if (fscanf(f, "%*d %*s %*c %d", &ppid) != 1) ppid = -1;
            fclose(f);
        }
        if (ppid != parent) continue;
        snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
        f = fopen(path, "r");
        if (!f) continue;
        const size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        char want[64];
        snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
        for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
            if (!strcmp(buf + i, want)) found = pid;
    }
    if (d) closedir(d);
    return found;
}

static int metrics_rows(const char *run) {
    double l[1024];
    return losses(run, l, 1024);
}

/* The runs that get a signal are started with far more epochs than the
 * reference (SIGNALLED_EPOCHS): on a fast machine a 20-epoch run of this
 * size ends in a fraction of a second, before the signal could arrive.
 * --resume then gives the reference's --epochs. */
#define SIGNALLED_EPOCHS 100000

static void kill_test(const char *full, int epochs) {
    char common[2048], args[4096], run[1200];
    resume_common(common, sizeof common, SIGNALLED_EPOCHS);
    for (int victim = 1; victim >= 0; victim--) {
        snprintf(run, sizeof run, "%s/killed%d", h_tmp, victim);
        snprintf(args, sizeof args, "train vae %s --out %s", common, run);
        const pid_t job = spawn_np(2, NULL, args);
        /* after the second checkpoint, in the middle of the run */
        const double t0 = h_now();
        while (metrics_rows(run) < 2 && h_now() - t0 < 30) h_sleep(0.001);
        const pid_t pid = rank_pid(job, victim);
        CHECK(pid > 0, "rank %d of the job found", victim);
        if (pid > 0) kill(pid, SIGKILL);
        int st = 0, done = 0;
        while (!done && h_now() - t0 < 60) {
            done = waitpid(job, &st, WNOHANG) == job;
            if (!done) h_sleep(0.01);
        }
        if (!done) { /* a hang: end it, and say so */
            kill(job, SIGKILL);
            waitpid(job, &st, 0);
        }
        const char *e = h_slurp(h_err);
        char want[64];
        snprintf(want, sizeof want, "rank %d", victim);
        CHECK(done && h_status(st) != 0 && strstr(e, want) && strstr(e, "signal 9"),
              "kill -9 of rank %d: the job ends (%s, status %d) naming it: %.800s", victim, done ? "ended" : "HUNG",
              h_status(st), e);
        const int64_t ep = h_checkpoint_epoch(ckpt(run));
        CHECK(ep >= 1 && ep < epochs, "after the kill the checkpoint reads back whole, before epoch %d: "
              "epoch %lld (%s)", epochs, (long long)ep, ep < 0 ? td_error() : "");
        snprintf(args, sizeof args, "train --resume %s --epochs %d", run, epochs);
        const int rc = run_np(2, NULL, args);
        CHECK(rc == 0, "--resume after the kill: status %d: %.600s", rc, h_slurp(h_err));
        const char *why = h_state_diff(ckpt(full), ckpt(run), 0);
        CHECK(!why && same_metrics(full, run), "killed at epoch %lld, resumed: the same bits as never killed (%s)",
              (long long)ep + 1, why ? why : "metrics differ");
    }
}

/* Ctrl-C on mpirun: Open MPI passes SIGTERM to every rank; they agree on
 * the step to stop after, rank 0 saves, and --resume finishes the same bits
 * as a run never stopped. mpirun takes its time to pass the signal on
 * (tens of these tiny epochs went by, measured on a Zen 4), so the run to
 * compare with is made afterwards, a few epochs longer than the stop. */
static void interrupt_test(void) {
    char common[2048], args[4096], run[1200], full[1200], name[64];
    resume_common(common, sizeof common, SIGNALLED_EPOCHS);
    snprintf(run, sizeof run, "%s/interrupted", h_tmp);
    snprintf(args, sizeof args, "train vae %s --out %s", common, run);
    const pid_t job = spawn_np(2, NULL, args);
    const double t0 = h_now();
    while (metrics_rows(run) < 2 && h_now() - t0 < 30) h_sleep(0.001);
    kill(job, SIGINT);
    int st = 0, done = 0;
    while (!done && h_now() - t0 < 60) {
        done = waitpid(job, &st, WNOHANG) == job;
        if (!done) h_sleep(0.01);
    }
    if (!done) {
        kill(job, SIGKILL);
        waitpid(job, &st, 0);
    }
    const char *e = h_slurp(h_err);
    CHECK(done && strstr(e, "interrupted") && strstr(e, "--resume"),
          "Ctrl-C on mpirun: the ranks stop and rank 0 saves (%s): %.800s", done ? "ended" : "HUNG", e);
    const int64_t ep = h_checkpoint_epoch(ckpt(run));
    CHECK(ep >= 1 && ep < SIGNALLED_EPOCHS - 3, "after Ctrl-C the checkpoint reads back: epoch %lld (%s)",
          (long long)ep, ep < 0 ? td_error() : "");
    const int epochs = (int)ep + 3;
    resume_common(common, sizeof common, epochs);
    snprintf(name, sizeof name, "full%d", epochs);
    train(2, NULL, common, name, "the run to compare with");
    path_of(full, sizeof full, name);
    snprintf(args, sizeof args, "train --resume %s --epochs %d", run, epochs);
    const int rc = run_np(2, NULL, args);
    CHECK(rc == 0, "--resume after Ctrl-C: status %d: %.600s", rc, h_slurp(h_err));
    const char *why = h_state_diff(ckpt(full), ckpt(run), 0);
    CHECK(!why && same_metrics(full, run), "interrupted, resumed: the same bits as never interrupted (%s)",
          why ? why : "metrics differ");
}

int main(int argc, char **argv) {
    if (!td_dist_built_with_mpi() || argc < 3) {
        printf("dist_train: this build has no MPI (or no mpirun was found): skipped\n");
        return 77;
    }
    const char *part = argc > 3 ? argv[3] : "all"; /* meson runs each part as a test of its own */
    char name[64];
    snprintf(name, sizeof name, "dist_train_%s", part);
    /* One-step epochs write a checkpoint (and fsync it) every step: on
     * tmpfs that costs nothing, on a busy disk it is most of the test. */
    char shm[256];
    snprintf(shm, sizeof shm, "/dev/shm/tinyad-test-%d", (int)getpid());
    if (mkdir(shm, 0777) == 0) setenv("TINYAD_TEST_TMP", shm, 1);
    h_init(argv[1], name);
    mpirun = argv[2];
    snprintf(data, sizeof data, "%s/data", h_tmp);
    /* synthetic 12x12 images always (h_data would take real MNIST when
     * present): the properties tested do not depend on the data, and the
     * steps are 5x cheaper than at 28x28 */
    mkdir(data, 0777);
    h_data_part(data, NULL, "train", 240);
    h_data_part(data, NULL, "t10k", 40);
    const double t0 = h_now();
    const int all = !strcmp(part, "all");
    if (all || !strcmp(part, "steps")) per_step();
    if (all || !strcmp(part, "resume")) resume_test();
    if (all || !strcmp(part, "kill")) {
        char common[2048], full[1200];
        resume_common(common, sizeof common, 20);
        train(2, NULL, common, "full20", "20 epochs");
        path_of(full, sizeof full, "full20");
        kill_test(full, 20);
        interrupt_test();
    }
    printf("%s: %.1f s\n", part, h_now() - t0);
    const int status = check_done(name);
    if (!strncmp(h_tmp, "/dev/shm/", 9) && status == 0) h_system("rm -rf '%s'", shm);
    return status;
}
