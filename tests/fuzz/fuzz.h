/* Shared by the fuzz harnesses: a private temporary file to hand the bytes
 * to the readers, and a check that aborts with a message.
 *
 * The readers are fed through real files on purpose: td_idx_load goes
 * through gzopen (which tells gzip from plain by content) and
 * td_archive_read through fopen/fstat, so the harnesses exercise exactly
 * the code path a user's file takes. The files live in /dev/shm when it is
 * writable (no disk I/O per input), else $TMPDIR or /tmp; TINYAD_FUZZ_TMP
 * overrides. They are removed at exit. */
#ifndef TD_FUZZ_H
#define TD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                     \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            abort();                                                              \
        }                                                                         \
    } while (0)

static char fuzz_path_buf[2][480];

static inline void fuzz_cleanup(void) {
    for (int i = 0; i < 2; i++)
        if (fuzz_path_buf[i][0]) {
            unlink(fuzz_path_buf[i]);
            char tmp[1024]; /* a writer's leftover PATH.tmp */
            snprintf(tmp, sizeof tmp, "%s.tmp", fuzz_path_buf[i]);
            unlink(tmp);
        }
}

/* Path number k (0 or 1) of this process's temporary files. */
static inline const char *fuzz_tmp_path(int k) {
    if (!fuzz_path_buf[0][0]) {
        const char *dir = getenv("TINYAD_FUZZ_TMP");
        if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        if (!dir || !*dir) dir = "/tmp";
        for (int i = 0; i < 2; i++)
            snprintf(fuzz_path_buf[i], sizeof fuzz_path_buf[i], "%s/tinyad-fuzz-%ld-%d", dir,
                     (long)getpid(), i);
        atexit(fuzz_cleanup);
    }
    return fuzz_path_buf[k];
}

/* Writes the bytes to temporary file k and returns its path. */
static inline const char *fuzz_write_tmp(int k, const void *data, size_t size) {
    const char *path = fuzz_tmp_path(k);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f, "cannot create %s", path);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size, "cannot write %s", path);
    FUZZ_CHECK(fclose(f) == 0, "cannot close %s", path);
    return path;
}

/* Temporary file k holding a valid archive (docs/formats.md: header,
 * lengths, both CRCs, one zlib stream) around an arbitrary body. Lets the
 * fuzzer reach the entry parser past the checksums. */
static inline const char *fuzz_write_archive(int k, uint32_t count, const uint8_t *body,
                                             size_t len) {
    uLongf zcap = compressBound((uLong)len);
    uint8_t *file = malloc(40 + zcap);
    FUZZ_CHECK(file, "out of memory");
    FUZZ_CHECK(compress2(file + 40, &zcap, body, (uLong)len, 1) == Z_OK, "compress2 failed");
    uint64_t fields[5] = {1, count, len, zcap, crc32(crc32(0L, Z_NULL, 0), body, (uInt)len)};
    const int widths[5] = {4, 4, 8, 8, 4};
    memcpy(file, "TDARCHIV", 8);
    for (int f = 0, off = 8; f < 5; off += widths[f++])
        for (int i = 0; i < widths[f]; i++) file[off + i] = (uint8_t)(fields[f] >> (8 * i));
    uint32_t hcrc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), file, 36);
    for (int i = 0; i < 4; i++) file[36 + i] = (uint8_t)(hcrc >> (8 * i));
    const char *path = fuzz_write_tmp(k, file, 40 + zcap);
    free(file);
    return path;
}

#endif
