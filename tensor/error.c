/* User-facing error messages, fatal programmer errors, checked allocation. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

static _Thread_local char error_message[1024];

const char *td_error(void) { return error_message[0] ? error_message : "no error recorded"; }

void td_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
}

void td_clear_error(void) { error_message[0] = 0; }

void td_fatal_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "tinyad: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* Counted so tests can prove a training step allocates nothing. Relaxed
 * atomics: the count is only read between steps. */
static int64_t alloc_count;

void *td_alloc(size_t bytes) {
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    p = aligned_alloc(64, rounded);
    if (!p) {
        fprintf(stderr,
                "tinyad: out of memory: could not allocate %zu bytes (%.1f MiB); "
                "use a smaller batch or model\n",
                bytes, (double)bytes / (1 << 20));
        exit(1);
    }
    __atomic_fetch_add(&alloc_count, 1, __ATOMIC_RELAXED);
    return p;
}

void *td_alloc_zero(size_t bytes) {
    void *p = td_alloc(bytes);
    memset(p, 0, bytes);
    return p;
}

void td_free(void *p) { free(p); }

int64_t td_alloc_count(void) { return __atomic_load_n(&alloc_count, __ATOMIC_RELAXED); }
