/* Atomic file writing for the writers in tensor/ (PNG, archive); private to
 * the library (not installed). */
#ifndef TD_WRITE_ATOMIC_H
#define TD_WRITE_ATOMIC_H

#include <stddef.h>

#include "tensor.h"

/* One part of a file's bytes. */
typedef struct td_piece {
    const void *data;
    size_t len;
} td_piece;

/* Writes the pieces to PATH.tmp, optionally (durable) fsyncs, closes,
 * renames over PATH (then fsyncs the directory when durable). On any
 * failure the temp file is removed, PATH is untouched and td_error() says
 * what failed; `what` names the kind of file for the message ("archive",
 * "PNG"). Returns 0 or -1. */
int td_write_atomic(const char *path, const td_piece *parts, int nparts, int durable,
                    const char *what);

#endif
