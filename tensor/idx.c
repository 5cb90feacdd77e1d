/* IDX datasets (MNIST format), gzip or plain, through zlib.
 *
 * A size read from the header is checked against sane limits before
 * anything is allocated from it, the buffer grows only as bytes arrive,
 * and every failure leaves a message naming the file, what is wrong and
 * what to do. IDX integers are big-endian (the format says so), decoded
 * byte by byte, so the code is independent of the host's byte order. */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Larger than any image dataset this library is meant for (MNIST training
 * images are 47 MB); a header claiming more is corrupt or not a dataset. */
#define IDX_MAX_BYTES ((int64_t)1 << 32)
/* The data buffer starts at this size and doubles as bytes actually arrive,
 * so a lying header on a short file never causes a large allocation. */
#define IDX_FIRST_CHUNK ((size_t)1 << 20)

/* Reads up to n bytes; *got < n only at the end of the data. -1 on a gzip
 * error (corrupt stream). */
static int gz_read_full(gzFile g, void *buf, size_t n, size_t *got) {
    uint8_t *p = buf;
    *got = 0;
    while (*got < n) {
        size_t want = n - *got;
        if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;
        int r = gzread(g, p + *got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        *got += (size_t)r;
    }
    return 0;
}

static void idx_gz_error(const char *path, gzFile g) {
    int err;
    const char *msg = gzerror(g, &err);
    size_t plen = strlen(path); /* zlib prefixes its message with the path */
    if (strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0) msg += plen + 2;
    td_set_error("%s: the gzip data is corrupt or truncated (zlib: %s); re-download the file",
                 path, err == Z_ERRNO ? strerror(errno) : msg);
}

int td_idx_load(const char *path, td_idx *out) {
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile g = gzopen(path, "rb"); /* reads gzip or plain files transparently */
    if (!g) {
        td_set_error("cannot open dataset file %s: %s (check the path and the data directory)",
                     path, errno ? strerror(errno) : "out of memory");
        return -1;
    }
    gzbuffer(g, 1 << 17);

    uint8_t head[4 + 4 * 4];
    size_t got;
    if (gz_read_full(g, head, 4, &got) < 0) goto gz_fail;
    if (got < 4) {
        td_set_error("%s is too short to be an IDX file (%zu bytes); re-download it", path, got);
        goto fail;
    }
    if (head[0] != 0 || head[1] != 0 || head[3] < 1 || head[3] > 4) {
        td_set_error("%s is not an IDX file: it starts with %02x %02x %02x %02x, expected "
                     "00 00 08 0N with N = 1..4 (is this the right file? re-download it)",
                     path, head[0], head[1], head[2], head[3]);
        goto fail;
    }
    if (head[2] != 0x08) {
        td_set_error("%s has IDX element type 0x%02x; only unsigned bytes (0x08, as in MNIST, "
                     "Fashion-MNIST, KMNIST) are supported", path, head[2]);
        goto fail;
    }
    int ndim = head[3];
    if (gz_read_full(g, head + 4, 4 * (size_t)ndim, &got) < 0) goto gz_fail;
    if (got < 4 * (size_t)ndim) {
        td_set_error("%s is truncated inside its header (%d dims need %d bytes, found %zu); "
                     "re-download it", path, ndim, 4 * ndim, got);
        goto fail;
    }
    int64_t total = 1;
    char dims_str[80];
    size_t used = 0;
    for (int i = 0; i < ndim; i++) {
        int64_t d = get_be32(head + 4 + 4 * i);
        out->dims[i] = d;
        used += (size_t)snprintf(dims_str + used, sizeof dims_str - used, i ? " x %lld" : "%lld",
                                 (long long)d);
        if (d == 0) {
            td_set_error("%s: IDX header has dimension %d equal to 0; the file is corrupt, "
                         "re-download it", path, i);
            goto fail;
        }
    }
    for (int i = 0; i < ndim; i++) {
        if (total > IDX_MAX_BYTES / out->dims[i]) {
            double claimed = 1;
            for (int j = 0; j < ndim; j++) claimed *= (double)out->dims[j];
            td_set_error("%s: IDX header claims %s = %.3g bytes of data, more than the %lld "
                         "this reader accepts; the file is corrupt or not a dataset, "
                         "re-download it", path, dims_str, claimed, (long long)IDX_MAX_BYTES);
            goto fail;
        }
        total *= out->dims[i];
    }
    out->ndim = ndim;
    out->count = out->dims[0];
    out->item_size = total / out->count;

    /* Grow the buffer only as data arrives (see IDX_FIRST_CHUNK). */
    size_t want = (size_t)total, cap = want < IDX_FIRST_CHUNK ? want : IDX_FIRST_CHUNK, have = 0;
    uint8_t *data = malloc(cap);
    if (!data) goto oom;
    out->data = data;
    for (;;) {
        if (gz_read_full(g, data + have, cap - have, &got) < 0) goto gz_fail;
        have += got;
        if (have < cap || cap == want) break;
        cap = cap > want / 2 ? want : cap * 2;
        data = realloc(out->data, cap);
        if (!data) goto oom;
        out->data = data;
    }
    if (have < want) {
        int err;
        gzerror(g, &err);
        td_set_error("%s is truncated: expected %zu bytes of data after the header, found %zu%s; "
                     "re-download it", path, want, have,
                     err == Z_BUF_ERROR ? " (the gzip stream ends early)" : "");
        goto fail;
    }
    /* The header must describe the whole file: one more byte is an error,
     * and so is a gzip stream whose end (CRC, length) is missing or wrong. */
    uint8_t extra;
    if (gz_read_full(g, &extra, 1, &got) < 0) goto gz_fail;
    if (got) {
        td_set_error("%s has data after the %zu bytes its IDX header (%s) describes; the file "
                     "is corrupt or not what it seems, re-download it", path, want, dims_str);
        goto fail;
    }
    int err;
    gzerror(g, &err);
    if (err != Z_OK) goto gz_fail;
    gzclose_r(g);
    return 0;

oom:
    td_set_error("%s: out of memory reading %lld bytes of data", path, (long long)total);
    goto fail;
gz_fail:
    idx_gz_error(path, g);
fail:
    gzclose_r(g);
    td_idx_release(out);
    return -1;
}

void td_idx_release(td_idx *idx) {
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
