/* Atomic file writing: PATH.tmp, then rename, so a failure never damages
 * the previous file (write_atomic.h). */
#include "write_atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len > ((size_t)1 << 30) ? (size_t)1 << 30 : len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) { /* should not happen for regular files; avoid spinning */
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Makes the rename itself durable; best effort (some filesystems refuse). */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir) return;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int td_write_atomic(const char *path, const td_piece *parts, int nparts, int durable,
                    const char *what) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) {
        td_set_error("cannot write %s %s: out of memory", what, path);
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    /* A PATH.tmp left by a crash may be a stale file, or a symlink or hard
     * link to some other file: remove it and create a fresh one (O_EXCL),
     * so the write can never go through it into another file. */
    (void)unlink(tmp); /* if this fails (e.g. a directory is in the way), open says why */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        td_set_error("cannot write %s %s: cannot create %s: %s (check that the directory "
                     "exists and is writable)", what, path, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    /* step names what failed, for the message. */
    const char *step = NULL;
    for (int i = 0; i < nparts && !step; i++)
        if (write_all(fd, parts[i].data, parts[i].len) < 0) step = "writing";
    /* fsync so the data is on disk before the rename makes it the file;
     * EINVAL means the target cannot be synced at all (not an error here). */
    if (!step && durable && fsync(fd) < 0 && errno != EINVAL) step = "syncing";
    int saved = errno;
    if (close(fd) < 0 && !step) {
        step = "closing";
        saved = errno;
    }
    if (!step && rename(tmp, path) < 0) {
        step = "renaming the temporary file";
        saved = errno;
    }
    if (step) {
        unlink(tmp);
        td_set_error("cannot write %s %s: %s %s failed: %s (is the disk full or the directory "
                     "read-only?); the previous %s, if any, was left unchanged",
                     what, path, step, tmp, strerror(saved), path);
        free(tmp);
        return -1;
    }
    free(tmp);
    if (durable) sync_parent_dir(path);
    return 0;
}
