/* Replays files through a harness's LLVMFuzzerTestOneInput without
 * libFuzzer, so every build (gcc included, release and sanitizers) runs the
 * seed corpus and the regressions as an ordinary test.
 *
 * usage: fuzz_NAME_replay DIR_OR_FILE...   (a missing directory is skipped
 * with a note: a harness may have no regressions yet). Files in a directory
 * are replayed in name order. A bad input shows up as a crash, an abort
 * from FUZZ_CHECK or TD_ASSERT, or a sanitizer report, naming the file. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    FUZZ_CHECK(buf, "out of memory");
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            buf = realloc(buf, cap *= 2);
            FUZZ_CHECK(buf, "out of memory");
        }
    }
    fclose(f);
    fprintf(stderr, "replaying %s (%zu bytes)\n", path, len);
    /* libFuzzer hands the harness a buffer of exactly the input's size. */
    uint8_t *exact = malloc(len ? len : 1);
    FUZZ_CHECK(exact, "out of memory");
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    int files = 0, errors = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            printf("%s: absent, skipped\n", argv[i]);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            errors += replay_file(argv[i]) < 0;
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "cannot open directory %s: %s\n", argv[i], strerror(errno));
            errors++;
            continue;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue; /* ., .. and hidden files */
            if (n == cap) {
                names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
                FUZZ_CHECK(names, "out of memory");
            }
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, by_name);
        for (size_t j = 0; j < n; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[j]);
            errors += replay_file(path) < 0;
            files++;
            free(names[j]);
        }
        free(names);
    }
    printf("replay: %d files, %d unreadable\n", files, errors);
    return errors ? 1 : 0;
}
