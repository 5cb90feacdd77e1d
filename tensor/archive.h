/* The tensor archive that checkpoints are made of.
 *
 * An ordered list of named entries, each a tensor (stored as float64 or
 * float32 with its shape) or a byte string (text, JSON, integer state).
 * Written compressed, with a CRC-32 over the content, to PATH.tmp then
 * renamed over PATH (after fsync), so a crash mid-write leaves the previous
 * file intact. The byte layout is documented in docs/formats.md.
 *
 * The reader validates what it reads (magic, version, lengths, checksums)
 * and never trusts a size from the header before checking it against the
 * file's real length and sane limits; on failure it returns NULL and
 * td_error() says what is wrong and what to do. */
#ifndef TD_ARCHIVE_H
#define TD_ARCHIVE_H

#include "tensor.h"

typedef struct td_archive td_archive;

td_archive *td_archive_create(void);
void td_archive_destroy(td_archive *a);

/* put copies the data in. A name is at most 255 bytes; putting an existing
 * name replaces that entry. */
void td_archive_put_tensor(td_archive *a, const char *name, const td_tensor *t);
void td_archive_put_bytes(td_archive *a, const char *name, const void *data, size_t len);
void td_archive_put_string(td_archive *a, const char *name, const char *s);
void td_archive_put_u64(td_archive *a, const char *name, uint64_t v);

int td_archive_write(const td_archive *a, const char *path);
td_archive *td_archive_read(const char *path);

/* Lookups. get_tensor copies into dst, which must already have the stored
 * size (returns -1 with a message naming both shapes if not, or if the entry
 * is missing or is not a tensor). The others return -1 / NULL if absent. */
int td_archive_get_tensor(const td_archive *a, const char *name, td_tensor *dst);
int td_archive_tensor_shape(const td_archive *a, const char *name, td_shape *shape);
const void *td_archive_get_bytes(const td_archive *a, const char *name, size_t *len);
/* NUL-terminated copy in a static-lifetime-of-archive buffer. */
const char *td_archive_get_string(const td_archive *a, const char *name);
int td_archive_get_u64(const td_archive *a, const char *name, uint64_t *v);
int td_archive_count(const td_archive *a);
const char *td_archive_name(const td_archive *a, int i);

#endif
