/* What every command uses: failing with a message, usage errors, limits,
 * threads, the clock, and the generator streams of a run. */
#ifndef TD_CLI_COMMON_H
#define TD_CLI_COMMON_H

#include "config.h"

/* The streams of one run, all derived from --seed, so every random choice is
 * reproducible and independent of the others. */
enum { RNG_INIT = 1, RNG_MODEL = 2, RNG_ORDER = 3, RNG_NOISE = 4, RNG_EVAL = 1000 };

double cli_now(void); /* seconds, monotonic */
/* "tinyad: what" on stderr; returns CLI_FAIL. */
int cli_fail(const char *what);
/* A file the run could not write, with the system's reason (errno). */
int cli_fail_write(const char *what, const char *path);
/* A command-line mistake found after parsing: the message (fmt with one
 * string), then the usage; returns CLI_USAGE. */
int cli_usage_fail(int cmd, const char *fmt, const char *arg);
/* cli_config_over_limits as a usage error: 0 or CLI_USAGE. */
int cli_check_limits(int cmd, const cli_config *c);
/* --threads n (0: $OMP_NUM_THREADS, else every core). */
void cli_set_threads(int64_t n);
/* The thread count the kernels will use. */
int cli_threads(void);

#endif
