/* A tiny test harness: CHECK counts, prints what failed with file:line, and
 * check_done() prints the closing "N passed, N failed" line and returns the
 * exit status. Each test program is one `meson test` case. */
#ifndef TD_TEST_CHECK_H
#define TD_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tensor/isa.h"

#ifndef TD_TEST_MNIST_DEFAULT
#define TD_TEST_MNIST_DEFAULT "../shared/data/mnist"
#endif

static int check_passed, check_failed;

/* Before main: the scratch directory $TINYAD_TEST_TMP exists (each
 * instruction-set path's runs get their own, so they can run in parallel),
 * and under TINYAD_ISA=PATH (meson registers the kernel, GEMM and gradient
 * tests once per path) a test on a CPU without that path is skipped (exit
 * 77, meson's "skipped") rather than passed on another. */
__attribute__((constructor)) static void check_setup(void) {
    const char *tmp = getenv("TINYAD_TEST_TMP");
    if (tmp && *tmp) mkdir(tmp, 0777);
    const char *want = getenv("TINYAD_ISA");
    if (!want || !*want) return;
    const int isa = td_isa_parse(want);
    if (isa < 0 || !td_isa_supported((td_isa)isa)) {
        printf("TINYAD_ISA=%s: this build or CPU has no such path; skipped\n", want);
        exit(77);
    }
}

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (cond) {                                                       \
            check_passed++;                                               \
        } else {                                                          \
            check_failed++;                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
        }                                                                 \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                           \
    do {                                                                        \
        double ca_ = (double)(a), cb_ = (double)(b);                            \
        CHECK(fabs(ca_ - cb_) <= (atol) + (rtol)*fabs(cb_), "%s = %.9g, %s = %.9g", #a, ca_, #b, cb_); \
    } while (0)

static inline int check_done(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* Where the real MNIST files are: $TINYAD_DATA, else the meson option
 * mnist_dir, else a directory named shared/data/mnist beside the
 * repository (nothing in the repository provides it). NULL (and a message
 * saying so) when absent: the real-data parts are then skipped. */
static inline const char *test_mnist_dir(void) {
    const char *env = getenv("TINYAD_DATA");
    const char *dir = env && *env ? env : TD_TEST_MNIST_DEFAULT;
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
        f = fopen(path, "rb");
    }
    if (!f) {
        printf("MNIST not found in %s (set TINYAD_DATA to the directory holding "
               "train-images-idx3-ubyte.gz); skipping the real-data part\n", dir);
        return NULL;
    }
    fclose(f);
    return dir;
}

#endif
