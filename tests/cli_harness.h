/* Shared by the tests that drive the built `tinyad` program as a user (or a
 * crash) would: test_crash, test_errors, test_determinism.
 *
 *   h_init(argv[1], "name")   scratch directory $TINYAD_TEST_TMP/name_tmp
 *   h_data(dir, n_train, n_test)  a small MNIST-format data set: the first
 *                              images of the real MNIST files when present,
 *                              else synthetic 12x12 bars
 *   h_spawn / h_run           start tinyad (a shell line of arguments), with
 *                              stdout and stderr in h_out / h_err
 *   h_same_file, h_state_diff compare whole files, or checkpoints entry by
 *                              entry (optionally ignoring model.config) */
#ifndef TD_TEST_CLI_HARNESS_H
#define TD_TEST_CLI_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Paths and command lines are built with snprintf into fixed buffers that
 * are ample for the test's own directories. */
#if defined(__GNUC__) && !defined(__clang__) /* a GCC-only warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include "nn/checkpoint.h"
#include "tensor/io.h"

static const char *h_exe;
static char h_tmp[1024], h_out[1200], h_err[1200];
static int h_real_mnist; /* the data set was cut from the real MNIST files */

static inline double h_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void h_sleep(double seconds) {
    if (seconds <= 0) return;
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

/* A small deterministic generator for the tests' own choices. */
static uint64_t h_rng_state = 0x9E3779B97F4A7C15ull;
static inline double h_uniform(void) {
    h_rng_state ^= h_rng_state << 13;
    h_rng_state ^= h_rng_state >> 7;
    h_rng_state ^= h_rng_state << 17;
    return (double)(h_rng_state >> 11) * 0x1.0p-53;
}

static inline int h_system(const char *fmt, const char *a) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, a);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void h_init(const char *exe, const char *name) {
    static char abs_exe[4096]; /* absolute: tests may chdir */
    h_exe = realpath(exe, abs_exe) ? abs_exe : exe;
    const char *t = getenv("TINYAD_TEST_TMP");
    snprintf(h_tmp, sizeof h_tmp, "%s/%s_tmp", t && *t ? t : "/tmp", name);
    h_system("rm -rf '%s'", h_tmp);
    mkdir(h_tmp, 0777);
    snprintf(h_out, sizeof h_out, "%s/stdout.txt", h_tmp);
    snprintf(h_err, sizeof h_err, "%s/stderr.txt", h_tmp);
    /* Thread count does not matter here (and busy-waiting gemm threads are
     * slow on a loaded machine); tests that care pass --threads. */
    setenv("OMP_NUM_THREADS", "1", 1);
}

static inline char *h_slurp(const char *path) {
    static char buf[1 << 16];
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static inline int h_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static inline int h_same_file(const char *a, const char *b) {
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

static inline int h_copy(const char *from, const char *to) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- data ------------------------------------------------------------------ */

static inline void h_write_idx(const char *path, int ndim, const int *dims, const uint8_t *bytes) {
    uint8_t head[16] = {0, 0, 8, (uint8_t)ndim};
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        for (int k = 0; k < 4; k++) head[4 + 4 * i + k] = (uint8_t)(dims[i] >> (24 - 8 * k));
        n *= (size_t)dims[i];
    }
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(head, 1, 4 + 4 * (size_t)ndim, f);
    fwrite(bytes, 1, n, f);
    fclose(f);
}

/* The first n images and labels of the real file set `prefix` (train, t10k),
 * or synthetic 12x12 images of one bar each. */
static inline void h_data_part(const char *dir, const char *mnist, const char *prefix, int n) {
    char path[2048];
    uint8_t *px = NULL, *lb = malloc((size_t)n);
    int side = 12;
    if (mnist) {
        td_idx im, la;
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", mnist, prefix);
        int ok = td_idx_load(path, &im) == 0;
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", mnist, prefix);
        ok = ok && td_idx_load(path, &la) == 0;
        if (ok && im.count >= n && im.ndim == 3) {
            side = (int)im.dims[1];
            px = malloc((size_t)n * (size_t)(side * side));
            memcpy(px, im.data, (size_t)n * (size_t)(side * side));
            memcpy(lb, la.data, (size_t)n);
        }
        if (ok) {
            td_idx_release(&im);
            td_idx_release(&la);
        }
    }
    if (!px) {
        side = 12;
        px = malloc((size_t)n * 144);
        uint32_t s = 12345u + (uint32_t)n;
        for (int i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            int k = (int)((s >> 16) % 24);
            lb[i] = (uint8_t)(k % 10);
            for (int p = 0; p < 144; p++) {
                s = s * 1664525u + 1013904223u;
                int on = k < 12 ? p / 12 == k : p % 12 == k - 12;
                px[i * 144 + p] = on ? 240 : (uint8_t)((s >> 24) % 30);
            }
        }
    }
    int di[3] = {n, side, side}, dl[1] = {n};
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    h_write_idx(path, 3, di, px);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    h_write_idx(path, 1, dl, lb);
    free(px);
    free(lb);
}

/* dir receives n_train training and n_test test images. */
static inline void h_data(const char *dir, int n_train, int n_test) {
    mkdir(dir, 0777);
    const char *mnist = test_mnist_dir();
    h_real_mnist = mnist != NULL;
    h_data_part(dir, mnist, "train", n_train);
    h_data_part(dir, mnist, "t10k", n_test);
    printf("data: %d training and %d test images (%s)\n", n_train, n_test,
           mnist ? "the first of the real MNIST files" : "synthetic 12x12");
}

/* ---- running tinyad ---------------------------------------------------------- */

/* Starts `tinyad ARGS` (ARGS: shell words) with stdout and stderr into h_out
 * and h_err. fsize_limit > 0: RLIMIT_FSIZE in bytes, SIGXFSZ ignored, so a
 * write past it fails with EFBIG as on a full disk. Returns the pid. */
static inline pid_t h_spawn(const char *env, const char *args, long fsize_limit) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s exec '%s' %s >'%s' 2>'%s'", env ? env : "", h_exe, args, h_out, h_err);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (fsize_limit > 0) {
            struct rlimit rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
            signal(SIGXFSZ, SIG_IGN); /* stays ignored across exec */
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Exit status, or 128 + signal if it was killed. */
static inline int h_status(int st) {
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/* Sanitizer builds: a report in the child's stderr fails the test, whatever
 * the exit status (ASan's own status is 1, like a runtime failure). */
static inline void h_check_sanitizers(const char *args) {
    const char *e = h_slurp(h_err);
    CHECK(!strstr(e, "Sanitizer") && !strstr(e, "runtime error:"), "`tinyad %s`: sanitizer report: %.2000s",
          args ? args : "", e);
}

static inline int h_wait(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    h_check_sanitizers(NULL);
    return h_status(st);
}

static inline int h_run(const char *env, const char *args) { return h_wait(h_spawn(env, args, 0)); }

/* Expect a usage error: status 2, the message and "usage:" on stderr. */
#define H_USAGE(args, what)                                                                    \
    do {                                                                                       \
        int rc_ = h_run(NULL, args);                                                           \
        const char *e_ = h_slurp(h_err);                                                       \
        CHECK(rc_ == 2 && strstr(e_, what) && strstr(e_, "usage:"),                            \
              "`tinyad %s`: status %d (expected 2 and \"%s\"), stderr: %.300s", args, rc_, what, e_); \
    } while (0)

/* Expect a runtime failure: status 1 and a message. */
#define H_FAIL(args, what)                                                                     \
    do {                                                                                       \
        int rc_ = h_run(NULL, args);                                                           \
        const char *e_ = h_slurp(h_err);                                                       \
        CHECK(rc_ == 1 && strstr(e_, what) && !strstr(e_, "usage:"),                           \
              "`tinyad %s`: status %d (expected 1 and \"%s\"), stderr: %.300s", args, rc_, what, e_); \
    } while (0)

/* ---- checkpoints ------------------------------------------------------------------ */

/* NULL if the two checkpoints hold the same entries with the same bytes
 * (model.config skipped if skip_config: it records --epochs), else the name
 * of the first difference (static buffer). */
static inline const char *h_state_diff(const char *pa, const char *pb, int skip_config) {
    static char why[600];
    td_archive *a = td_archive_read(pa), *b = td_archive_read(pb);
    why[0] = 0;
    if (!a || !b) {
        snprintf(why, sizeof why, "cannot read: %s", td_error());
    } else if (td_archive_count(a) != td_archive_count(b)) {
        snprintf(why, sizeof why, "%d vs %d entries", td_archive_count(a), td_archive_count(b));
    } else {
        for (int i = 0; i < td_archive_count(a) && !why[0]; i++) {
            const char *name = td_archive_name(a, i);
            if (skip_config && !strcmp(name, "model.config")) continue;
            td_shape sa, sb;
            if (td_archive_tensor_shape(a, name, &sa) == 0) {
                if (td_archive_tensor_shape(b, name, &sb) || !td_shape_equal(sa, sb)) {
                    snprintf(why, sizeof why, "%s: missing or another shape", name);
                    continue;
                }
                td_tensor ta = td_tensor_zeros(sa), tb = td_tensor_zeros(sb);
                td_archive_get_tensor(a, name, &ta);
                td_archive_get_tensor(b, name, &tb);
                if (memcmp(ta.data, tb.data, sizeof(td_real) * (size_t)ta.size))
                    snprintf(why, sizeof why, "%s: values differ", name);
                td_tensor_release(&ta);
                td_tensor_release(&tb);
            } else {
                size_t la = 0, lb = 0;
                const void *da = td_archive_get_bytes(a, name, &la), *db = td_archive_get_bytes(b, name, &lb);
                if (!da || !db || la != lb || memcmp(da, db, la)) snprintf(why, sizeof why, "%s differs", name);
            }
        }
    }
    if (a) td_archive_destroy(a);
    if (b) td_archive_destroy(b);
    return why[0] ? why : NULL;
}

/* Opens (verifying the CRCs and entries) and returns the epoch, or -1. */
static inline int64_t h_checkpoint_epoch(const char *path) {
    td_checkpoint *c = td_checkpoint_open(path);
    if (!c) return -1;
    int64_t e = (int64_t)td_checkpoint_epoch(c);
    td_checkpoint_close(c);
    return e;
}

/* metrics.csv without its last column (seconds), so runs compare exactly. */
static inline void h_metrics_values(const char *path, char *buf, size_t len) {
    const char *m = h_slurp(path);
    size_t n = 0;
    for (const char *p = m; *p && n + 1 < len;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        const char *last = end;
        while (last > p && last[-1] != ',') last--;
        size_t keep = (size_t)(last > p ? last - p : end - p);
        if (n + keep + 2 >= len) break;
        memcpy(buf + n, p, keep);
        n += keep;
        buf[n++] = '\n';
        p = nl ? nl + 1 : end;
    }
    buf[n] = 0;
}

#endif
