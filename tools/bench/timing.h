/* What every benchmark here times with: a monotonic clock in seconds, and
 * the comparison qsort needs to take medians. */
#ifndef TD_BENCH_TIMING_H
#define TD_BENCH_TIMING_H

#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
