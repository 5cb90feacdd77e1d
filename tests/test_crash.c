/* Crash safety of `tinyad train` (docs/reliability.md): nothing on disk is ever lost or
 * half-written, whatever stops the run.
 *
 *  1. SIGKILL at random moments, many times (TINYAD_KILL_ITERATIONS, 40 by
 *     default; half at random times, half aimed at checkpoint writes with
 *     inotify: as the temporary file is created, when it is closed, or just
 *     after the rename). After every kill the checkpoint on disk must open
 *     (CRCs verified) and hold exactly the state of the uninterrupted run
 *     after the same epoch; the run is then resumed (or started again if it
 *     died before its first checkpoint), killed again, ..., and each run that
 *     reaches the end must have the very same checkpoint file, byte for byte,
 *     and the same metrics.csv figures as the uninterrupted run.
 *  2. SIGINT / SIGTERM at random moments: exit 130 after saving (mid-epoch
 *     state included), the checkpoint valid, resuming reaches the same final
 *     checkpoint.
 *  3. A full disk (RLIMIT_FSIZE, and a real full tmpfs when mounting is
 *     allowed) and a read-only run directory: exit 1 with the reason, the old
 *     checkpoint, config.txt and metrics.csv intact, no temporary file left,
 *     and the run resumes to the uninterrupted run's state once there is room.
 *
 * The test's own random choices come from TINYAD_KILL_SEED (default: the
 * clock; printed, so a failure can be replayed).
 *
 * usage: test_crash PATH_TO_TINYAD */
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mount.h>

#include "cli_harness.h"

enum { EPOCHS = 8 };
static char data[1200], common[2048], ref_full[1300], ref_epoch[EPOCHS + 1][1300];
static char ref_metrics[8192];
static double t_ref; /* seconds of one uninterrupted run */

/* Mount points to undo however the test ends. */
static char mounts[2][1300];
static void unmount_all(void) {
    for (int i = 0; i < 2; i++)
        if (mounts[i][0]) {
            umount2(mounts[i], MNT_DETACH);
            mounts[i][0] = 0;
        }
}

/* meson's timeout sends SIGTERM: leave no mount behind in the build tree */
static void on_term(int sig) {
    for (int i = 0; i < 2; i++)
        if (mounts[i][0]) umount2(mounts[i], MNT_DETACH);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int try_mount_tmpfs(int slot, const char *dir, const char *size) {
    mkdir(dir, 0777);
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s", size);
    if (mount("tmpfs", dir, "tmpfs", 0, opts)) return -1;
    snprintf(mounts[slot], sizeof mounts[slot], "%s", dir);
    return 0;
}

static void fresh_args(char *a, size_t len, const char *run, int epochs) {
    snprintf(a, len, "train vae --data '%s' %s --epochs %d --out '%s'", data, common, epochs, run);
}

static void resume_args(char *a, size_t len, const char *run, int epochs) {
    if (epochs)
        snprintf(a, len, "train --resume '%s' --threads 1 --epochs %d", run, epochs);
    else
        snprintf(a, len, "train --resume '%s' --threads 1", run);
}

/* The uninterrupted run, and the state after each epoch (a chain of runs
 * of 1, 2, ... epochs, each resuming the last). */
static void references(void) {
    char a[4096], run[1300], path[1400];
    snprintf(run, sizeof run, "%s/ref", h_tmp);
    fresh_args(a, sizeof a, run, EPOCHS);
    double t0 = h_now();
    int rc = h_run(NULL, a);
    t_ref = h_now() - t0;
    CHECK(rc == 0, "reference run: status %d: %s", rc, h_slurp(h_err));
    snprintf(ref_full, sizeof ref_full, "%s/checkpoint.tdc", run);
    snprintf(path, sizeof path, "%s/metrics.csv", run);
    h_metrics_values(path, ref_metrics, sizeof ref_metrics);

    snprintf(run, sizeof run, "%s/chain", h_tmp);
    for (int e = 1; e <= EPOCHS; e++) {
        if (e == 1)
            fresh_args(a, sizeof a, run, 1);
        else
            resume_args(a, sizeof a, run, e);
        rc = h_run(NULL, a);
        CHECK(rc == 0, "reference chain, epoch %d: status %d: %s", e, rc, h_slurp(h_err));
        snprintf(path, sizeof path, "%s/checkpoint.tdc", run);
        snprintf(ref_epoch[e], sizeof ref_epoch[e], "%s/ref-epoch-%d.tdc", h_tmp, e);
        h_copy(path, ref_epoch[e]);
    }
    const char *d = h_state_diff(ref_epoch[EPOCHS], ref_full, 1);
    CHECK(!d, "resuming epoch by epoch differs from the uninterrupted run: %s", d);
    printf("reference: %d epochs in %.2f s\n", EPOCHS, t_ref);
}

/* A run directory that reached the end: the uninterrupted run's files. */
static void check_finished(const char *run, const char *what) {
    char path[1400], m[8192];
    snprintf(path, sizeof path, "%s/checkpoint.tdc", run);
    CHECK(h_same_file(path, ref_full), "%s: the final checkpoint differs from the uninterrupted run's (%s)", what,
          h_state_diff(path, ref_full, 0) ? h_state_diff(path, ref_full, 0) : "only in bytes outside the entries");
    snprintf(path, sizeof path, "%s/metrics.csv", run);
    h_metrics_values(path, m, sizeof m);
    CHECK(!strcmp(m, ref_metrics), "%s: metrics.csv differs from the uninterrupted run's:\n%s\nvs\n%s", what, m,
          ref_metrics);
    snprintf(path, sizeof path, "%s/samples.png", run);
    CHECK(h_exists(path), "%s: no samples.png", what);
}

/* ---- 1. SIGKILL --------------------------------------------------------------------- */

static const char *phase_name[3] = {"the temporary file created", "the temporary file closed",
                                    "the checkpoint renamed into place"};

static void kill_test(int iterations) {
    char run[1300], ck[1400], tmpf[1400], a[4096];
    snprintf(run, sizeof run, "%s/kill", h_tmp);
    snprintf(ck, sizeof ck, "%s/checkpoint.tdc", run);
    snprintf(tmpf, sizeof tmpf, "%s/checkpoint.tdc.tmp", run);
    int kills = 0, spawns = 0, rounds = 0, in_write = 0, before_first = 0, elsewhere = 0, at_random = 0;
    int aimed_hits[3] = {0, 0, 0}, resumed_from[EPOCHS + 1] = {0}, fresh_starts = 0;
    int round_active = 0;
    int64_t last_epoch = -1;
    const double t0_all = h_now();

    while (spawns < iterations * 4 + 20) {
        if (!round_active) {
            if (kills >= iterations) break;
            h_system("rm -rf '%s'", run);
            mkdir(run, 0777); /* exists already, so inotify can watch it from the start */
            last_epoch = -1;
            round_active = 1;
        }
        const int have = h_exists(ck);
        const int finishing = kills >= iterations; /* no more kills: run to the end */
        if (have) {
            resume_args(a, sizeof a, run, 0);
            resumed_from[last_epoch >= 0 && last_epoch <= EPOCHS ? last_epoch : 0]++;
        } else {
            fresh_args(a, sizeof a, run, EPOCHS);
            fresh_starts++;
        }
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd >= 0) inotify_add_watch(fd, run, IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO);
        const int aimed = fd >= 0 && h_uniform() < 0.5;
        const int phase = (int)(h_uniform() * 3), nth = 1 + (int)(h_uniform() * 3);
        const double delay = h_uniform() * t_ref * 1.1;
        const uint32_t want = phase == 0 ? IN_CREATE : phase == 1 ? IN_CLOSE_WRITE : IN_MOVED_TO;
        const char *want_name = phase == 2 ? "checkpoint.tdc" : "checkpoint.tdc.tmp";

        pid_t pid = h_spawn(NULL, a, 0);
        spawns++;
        const double t0 = h_now();
        int st = 0, exited = 0, seen = 0;
        for (;;) {
            if (waitpid(pid, &st, WNOHANG) == pid) {
                exited = 1;
                break;
            }
            if (finishing) {
                h_sleep(0.002);
                continue;
            }
            if (!aimed && h_now() - t0 >= delay) {
                kill(pid, SIGKILL);
                break;
            }
            if (fd < 0) {
                h_sleep(0.0005);
                continue;
            }
            struct pollfd p = {fd, POLLIN, 0};
            poll(&p, 1, 1);
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            ssize_t n = read(fd, buf, sizeof buf);
            int fire = 0;
            for (ssize_t off = 0; n > 0 && off < n && !fire;) {
                const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
                if ((ev->mask & want) && ev->len && !strcmp(ev->name, want_name) && ++seen == nth) fire = 1;
                off += (ssize_t)(sizeof *ev + ev->len);
            }
            if (fire) {
                kill(pid, SIGKILL); /* at once: the writer is microseconds past the event */
                break;
            }
        }
        if (!exited) waitpid(pid, &st, 0);
        if (fd >= 0) close(fd);
        h_check_sanitizers(a);
        const int status = h_status(st);

        if (status == 0) { /* reached the end before any kill */
            check_finished(run, "a run killed and resumed");
            rounds++;
            round_active = 0;
            continue;
        }
        const int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        CHECK(killed, "a training run ended with status %d: %s", status, h_slurp(h_err));
        if (!killed) {
            round_active = 0;
            continue;
        }
        kills++;
        if (h_exists(tmpf))
            in_write++;
        else if (!h_exists(ck))
            before_first++;
        else
            elsewhere++;
        if (aimed)
            aimed_hits[phase]++;
        else
            at_random++;
        /* what is on disk now */
        if (h_exists(ck)) {
            const int64_t e = h_checkpoint_epoch(ck);
            CHECK(e >= 1 && e <= EPOCHS, "after kill %d the checkpoint does not open: %s", kills, td_error());
            CHECK(e >= last_epoch, "after kill %d the checkpoint went back from epoch %lld to %lld", kills,
                  (long long)last_epoch, (long long)e);
            if (e >= 1 && e <= EPOCHS) {
                const char *d = h_state_diff(ck, ref_epoch[e], 1);
                CHECK(!d, "after kill %d the checkpoint of epoch %lld differs from the uninterrupted run's: %s",
                      kills, (long long)e, d);
                last_epoch = e;
            }
        } else {
            CHECK(last_epoch < 0, "after kill %d the checkpoint of epoch %lld is gone", kills, (long long)last_epoch);
        }
    }
    CHECK(kills >= iterations, "only %d kills landed in %d runs", kills, spawns);
    CHECK(!round_active, "the last round did not finish");
    printf("SIGKILL: %d kills in %d runs (%.1f s), %d runs killed and resumed to the end, every one identical "
           "to the uninterrupted run\n", kills, spawns, h_now() - t0_all, rounds);
    printf("  kills at a random time: %d; aimed at a checkpoint write: %s %d, %s %d, %s %d\n", at_random,
           phase_name[0], aimed_hits[0], phase_name[1], aimed_hits[1], phase_name[2], aimed_hits[2]);
    printf("  where they landed: inside a checkpoint write (checkpoint.tdc.tmp left behind) %d, before the "
           "first checkpoint %d, elsewhere (training, evaluation, pictures, between writes) %d\n",
           in_write, before_first, elsewhere);
    printf("  restarts: %d from scratch, resumes from epoch", fresh_starts);
    for (int e = 1; e <= EPOCHS; e++) printf(" %d: %d%s", e, resumed_from[e], e < EPOCHS ? "," : "\n");
}

/* ---- 2. SIGINT / SIGTERM ------------------------------------------------------------- */

static void signal_test(int iterations) {
    char run[1300], ck[1400], prev[1400], a[4096];
    snprintf(run, sizeof run, "%s/sig", h_tmp);
    snprintf(ck, sizeof ck, "%s/checkpoint.tdc", run);
    snprintf(prev, sizeof prev, "%s/sig-prev.tdc", h_tmp);
    int sent = 0, mid = 0, boundary = 0, early = 0, no_handler = 0, rounds = 0, finished_first = 0;
    h_system("rm -rf '%s'", run);
    for (int i = 0; i < 3 * iterations + 20 && (sent < iterations || h_exists(ck)); i++) {
        const int have = h_exists(ck);
        if (have) {
            h_copy(ck, prev);
            resume_args(a, sizeof a, run, 0);
        } else {
            fresh_args(a, sizeof a, run, EPOCHS);
        }
        const int sig = sent % 2 ? SIGTERM : SIGINT;
        const int send = sent < iterations;
        const double delay = h_uniform() * t_ref;
        pid_t pid = h_spawn(NULL, a, 0);
        const double t0 = h_now();
        int st = 0, exited = 0;
        while (!(exited = waitpid(pid, &st, WNOHANG) == pid) && (!send || h_now() - t0 < delay)) h_sleep(0.001);
        if (!exited) {
            kill(pid, sig);
            sent++;
            waitpid(pid, &st, 0);
        }
        h_check_sanitizers(a);
        const int status = h_status(st);
        const char *err = h_slurp(h_err);
        if (status == 0) {
            finished_first += !exited;
            check_finished(run, "a run stopped by SIGINT/SIGTERM and resumed");
            rounds++;
            h_system("rm -rf '%s'", run);
            continue;
        }
        if (WIFSIGNALED(st) && WTERMSIG(st) == sig) { /* before main() installed the handler: nothing changed */
            no_handler++;
            CHECK(have ? h_same_file(ck, prev) : !h_exists(ck), "a run killed by signal %d at start changed the "
                  "checkpoint (have %d, after %.3f s): %s", sig, have, delay, err);
            continue;
        }
        CHECK(status == 130, "%s: status %d (expected 130): %s", sig == SIGINT ? "SIGINT" : "SIGTERM", status, err);
        CHECK(strstr(err, "interrupted"), "no message after an interruption: %s", err);
        if (strstr(err, "interrupted in epoch")) mid++;
        else if (strstr(err, "interrupted: saved")) boundary++;
        else if (strstr(err, "before the first step")) early++;
        if (h_exists(ck)) {
            const int64_t e = h_checkpoint_epoch(ck);
            CHECK(e >= 0 && e <= EPOCHS, "after %s the checkpoint does not open: %s", sig == SIGINT ? "SIGINT" :
                  "SIGTERM", td_error());
        }
    }
    CHECK(sent >= iterations && !h_exists(ck), "signals sent %d, run unfinished: %d", sent, h_exists(ck));
    printf("SIGINT/SIGTERM: %d signals, %d runs stopped and resumed to the end, every one identical to the "
           "uninterrupted run; saved mid-epoch %d, at an epoch's end %d, before the first step %d, while the "
           "pictures were written (finished them, status 0) %d, before the handler was installed %d (nothing "
           "changed)\n", sent, rounds, mid, boundary, early, finished_first, no_handler);
}

/* ---- 3. full disk, read-only directory ------------------------------------------------ */

/* A finished 2-epoch run in dir, with copies of its files to compare. */
static int two_epochs(const char *run) {
    char a[4096];
    fresh_args(a, sizeof a, run, 2);
    int rc = h_run(NULL, a);
    CHECK(rc == 0, "2-epoch run in %s: status %d: %s", run, rc, h_slurp(h_err));
    return rc;
}

/* The run's files are what they were (copies in h_tmp/keep-*). */
static void snapshot(const char *run) {
    static const char *files[] = {"checkpoint.tdc", "config.txt", "metrics.csv"};
    char from[1400], to[1400];
    for (int i = 0; i < 3; i++) {
        snprintf(from, sizeof from, "%s/%s", run, files[i]);
        snprintf(to, sizeof to, "%s/keep-%s", h_tmp, files[i]);
        h_copy(from, to);
    }
}

static void check_kept(const char *run, const char *what) {
    static const char *files[] = {"checkpoint.tdc", "config.txt", "metrics.csv"};
    char from[1400], to[1400];
    for (int i = 0; i < 3; i++) {
        snprintf(from, sizeof from, "%s/%s", run, files[i]);
        snprintf(to, sizeof to, "%s/keep-%s", h_tmp, files[i]);
        if (i == 1) { /* rewritten whole (atomically) with the new --epochs, or not at all */
            char want[8192];
            const char *old = h_slurp(to), *at = strstr(old, "epochs = 2\n");
            snprintf(want, sizeof want, "%.*sepochs = 4\n%s", (int)(at ? at - old : 0), old,
                     at ? at + strlen("epochs = 2\n") : "");
            const int same = h_same_file(from, to);
            CHECK(same || (at && !strcmp(h_slurp(from), want)), "%s: config.txt is damaged: %s", what, h_slurp(from));
        } else if (i == 2) { /* metrics.csv may have gained the row of the epoch whose save failed */
            char m1[8192], m2[8192];
            h_metrics_values(from, m1, sizeof m1);
            h_metrics_values(to, m2, sizeof m2);
            CHECK(!strncmp(m1, m2, strlen(m2)), "%s: metrics.csv lost rows", what);
        } else {
            CHECK(h_same_file(from, to), "%s: %s changed", what, files[i]);
        }
    }
    snprintf(from, sizeof from, "%s/checkpoint.tdc.tmp", run);
    CHECK(!h_exists(from), "%s: a temporary file was left behind", what);
}

static void resume_after(const char *run, const char *what) {
    char a[4096], ck[1400];
    resume_args(a, sizeof a, run, 4);
    int rc = h_run(NULL, a);
    CHECK(rc == 0, "%s: resuming once there is room: status %d: %s", what, rc, h_slurp(h_err));
    snprintf(ck, sizeof ck, "%s/checkpoint.tdc", run);
    const char *d = h_state_diff(ck, ref_epoch[4], 1);
    CHECK(!d, "%s: resumed to epoch 4, the state differs from the uninterrupted run's: %s", what, d);
}

static void disk_full_test(void) {
    char run[1300], a[4096];
    /* a file-size limit: every write past 32 KiB fails with EFBIG, as on a
     * full disk (the checkpoint is larger; config.txt and metrics.csv not) */
    snprintf(run, sizeof run, "%s/fsize", h_tmp);
    if (two_epochs(run)) return;
    snapshot(run);
    resume_args(a, sizeof a, run, 4);
    int rc = h_wait(h_spawn(NULL, a, 32 << 10));
    const char *err = h_slurp(h_err);
    CHECK(rc == 1 && strstr(err, "checkpoint.tdc") && strstr(err, "File too large") &&
          strstr(err, "left unchanged"), "RLIMIT_FSIZE: status %d: %s", rc, err);
    printf("file too large (RLIMIT_FSIZE 32 KiB): status %d: %s", rc, err);
    check_kept(run, "RLIMIT_FSIZE");
    resume_after(run, "RLIMIT_FSIZE");

    /* a real full file system */
    char mnt[1300], filler[1400];
    snprintf(mnt, sizeof mnt, "%s/tmpfs", h_tmp);
    if (try_mount_tmpfs(0, mnt, "8m")) {
        printf("full disk: cannot mount a tmpfs here (%s; needs root), covered by RLIMIT_FSIZE only\n",
               strerror(errno));
        return;
    }
    snprintf(run, sizeof run, "%s/run", mnt);
    if (two_epochs(run)) {
        unmount_all();
        return;
    }
    snapshot(run);
    /* fill it, then free 16 KiB: room for config.txt and metrics.csv, not for a checkpoint */
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    FILE *f = fopen(filler, "wb");
    static char block[16 << 10];
    long filled = 0;
    while (f && fwrite(block, 1, sizeof block, f) == sizeof block && fflush(f) == 0) filled += sizeof block;
    if (f) fclose(f);
    if (truncate(filler, filled > (long)sizeof block ? filled - (long)sizeof block : 0)) {}
    resume_args(a, sizeof a, run, 4);
    rc = h_run(NULL, a);
    err = h_slurp(h_err);
    CHECK(rc == 1 && strstr(err, "No space left on device") && strstr(err, "checkpoint.tdc"),
          "full tmpfs: status %d: %s", rc, err);
    printf("full disk (tmpfs of 8 MiB filled, 16 KiB left): status %d: %s", rc, err);
    check_kept(run, "full tmpfs");
    /* completely full: even metrics.csv cannot be rewritten */
    f = fopen(filler, "ab");
    while (f && fwrite(block, 1, 4096, f) == 4096 && fflush(f) == 0) {}
    if (f) fclose(f);
    rc = h_run(NULL, a);
    err = h_slurp(h_err);
    CHECK(rc == 1 && strstr(err, "No space left on device"), "completely full tmpfs: status %d: %s", rc, err);
    printf("full disk (completely): status %d: %s", rc, err);
    check_kept(run, "completely full tmpfs");
    unlink(filler);
    resume_after(run, "full tmpfs");
    unmount_all();
}

static void read_only_test(void) {
    char mnt[1300], run[1300], a[4096];
    snprintf(mnt, sizeof mnt, "%s/ro", h_tmp);
    int how = 0; /* 1: read-only mount, 2: chattr +i, 3: chmod (not root) */
    if (geteuid() != 0) {
        snprintf(run, sizeof run, "%s/run", mnt);
        mkdir(mnt, 0777);
        if (two_epochs(run)) return;
        chmod(run, 0555);
        how = 3;
    } else if (try_mount_tmpfs(1, mnt, "8m") == 0) {
        snprintf(run, sizeof run, "%s/run", mnt);
        if (two_epochs(run)) return;
        if (mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0) how = 1;
    }
    if (!how) { /* root without mount rights: the immutable attribute, where the file system has it */
        unmount_all();
        snprintf(run, sizeof run, "%s/run-i", h_tmp);
        if (two_epochs(run)) return;
        if (h_system("chattr +i '%s' 2>/dev/null", run) == 0) how = 2;
    }
    if (!how) {
        printf("read-only directory: cannot make one here (no mount, chattr or non-root chmod); skipped\n");
        return;
    }
    snapshot(run);
    resume_args(a, sizeof a, run, 4);
    int rc = h_run(NULL, a);
    const char *err = h_slurp(h_err);
    CHECK(rc == 1 && strstr(err, "cannot") && (strstr(err, "Read-only file system") || strstr(err, "not permitted") ||
          strstr(err, "Permission denied")), "read-only run directory: status %d: %s", rc, err);
    printf("read-only run directory (%s): status %d: %s", how == 1 ? "tmpfs remounted read-only" :
           how == 2 ? "chattr +i" : "chmod 555", rc, err);
    check_kept(run, "read-only");
    if (how == 1) { /* a new run there cannot even create its directory */
        char fresh[1400];
        snprintf(fresh, sizeof fresh, "%s/new", mnt);
        fresh_args(a, sizeof a, fresh, 2);
        rc = h_run(NULL, a);
        err = h_slurp(h_err);
        CHECK(rc == 1 && strstr(err, "cannot create the run directory") && strstr(err, "Read-only"),
              "new run on a read-only file system: status %d: %s", rc, err);
        mount(NULL, mnt, NULL, MS_REMOUNT, NULL);
    } else if (how == 2) {
        h_system("chattr -i '%s'", run);
    } else {
        chmod(run, 0755);
    }
    resume_after(run, "read-only");
    unmount_all();
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_crash PATH_TO_TINYAD\n");
        return 2;
    }
    /* leftovers of an earlier run that was itself killed */
    const char *t = getenv("TINYAD_TEST_TMP");
    char old[1300];
    snprintf(old, sizeof old, "%s/crash_tmp/tmpfs", t && *t ? t : "/tmp");
    umount2(old, MNT_DETACH);
    snprintf(old, sizeof old, "%s/crash_tmp/ro", t && *t ? t : "/tmp");
    umount2(old, MNT_DETACH);
    atexit(unmount_all);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    h_init(argv[1], "crash");

    const char *seed_env = getenv("TINYAD_KILL_SEED");
    uint64_t seed = seed_env && *seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
    h_rng_state ^= seed * 0x2545F4914F6CDD1Dull;
    const char *it_env = getenv("TINYAD_KILL_ITERATIONS");
    const int iterations = it_env && *it_env ? atoi(it_env) : 40;
    printf("TINYAD_KILL_SEED=%llu TINYAD_KILL_ITERATIONS=%d\n", (unsigned long long)seed, iterations);

    snprintf(data, sizeof data, "%s/data", h_tmp);
    h_data(data, 300, 100);
    snprintf(common, sizeof common, "--batch 50 --hidden 32 --latent 2 --threads 1 --seed 7");
    references();
    if (check_failed) return check_done("crash");
    kill_test(iterations);
    signal_test(iterations / 4 > 4 ? iterations / 4 : 4);
    disk_full_test();
    read_only_test();
    unmount_all();
    return check_done("crash");
}
