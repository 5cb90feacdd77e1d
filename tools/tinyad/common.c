#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cli_fail(const char *what) {
    fprintf(stderr, "tinyad: %s\n", what);
    return CLI_FAIL;
}

int cli_fail_write(const char *what, const char *path) {
    fprintf(stderr, "tinyad: cannot %s %s: %s (is the disk full or the directory read-only?)\n", what,
            path, strerror(errno));
    return CLI_FAIL;
}

int cli_usage_fail(int cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "tinyad %s: ", cmd == OPT_TRAIN ? "train" : cmd == OPT_EVAL ? "eval" : "sample");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    cli_usage(stderr, cmd, "tinyad");
    return CLI_USAGE;
}

int cli_check_limits(int cmd, const cli_config *c) {
    char msg[160];
    return cli_config_over_limits(cmd, c, msg, sizeof msg) ? cli_usage_fail(cmd, "%s", msg) : 0;
}

int cli_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void cli_set_threads(int64_t n) {
#ifdef _OPENMP
    if (n > 0)
        omp_set_num_threads((int)n);
    else if (!getenv("OMP_NUM_THREADS"))
        omp_set_num_threads(omp_get_num_procs());
#else
    (void)n;
#endif
}
