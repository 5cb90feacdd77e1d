/* Datasets: IDX loading, directory resolution, binarization, batching. */
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tensor/io.h"

int td_binarize_parse(const char *name) {
    if (!strcmp(name, "none")) return TD_BINARIZE_NONE;
    if (!strcmp(name, "static")) return TD_BINARIZE_STATIC;
    if (!strcmp(name, "dynamic")) return TD_BINARIZE_DYNAMIC;
    return -1;
}

const char *td_binarize_name(td_binarize b) {
    static const char *names[] = {"none", "static", "dynamic"};
    return (unsigned)b < 3 ? names[b] : "?";
}

/* DIR/NAME or DIR/NAME.gz, whichever exists (plain first); 0 if neither. */
static int find_file(const char *dir, const char *name, char *path, size_t len) {
    snprintf(path, len, "%s/%s", dir, name);
    if (access(path, R_OK) == 0) return 1;
    snprintf(path, len, "%s/%s.gz", dir, name);
    return access(path, R_OK) == 0;
}

/* The standard places, in the order they are searched: MNIST first, then
 * the Fashion-MNIST of Debian's dataset-fashion-mnist package. */
static const char *const mnist_places[] = {"../shared/data/mnist", "data/mnist",
                                           "/usr/share/datasets/mnist"};
static const char fashion_place[] = "/usr/share/datasets/fashion-mnist";
#define N_MNIST_PLACES (sizeof mnist_places / sizeof *mnist_places)

static int has_train_images(const char *dir) {
    char path[4096];
    return find_file(dir, "train-images-idx3-ubyte", path, sizeof path);
}

const char *td_data_dir_resolve(const char *flag, char *buf, size_t len) {
    if (flag && *flag) {
        if (!has_train_images(flag)) {
            td_set_error("--data %s: no train-images-idx3-ubyte(.gz) there "
                         "(expected the four MNIST-format IDX files)", flag);
            return NULL;
        }
        snprintf(buf, len, "%s", flag);
        return buf;
    }
    const char *env = getenv("TINYAD_DATA");
    if (env && *env) {
        if (!has_train_images(env)) {
            td_set_error("TINYAD_DATA=%s: no train-images-idx3-ubyte(.gz) there", env);
            return NULL;
        }
        snprintf(buf, len, "%s", env);
        return buf;
    }
    for (size_t i = 0; i < N_MNIST_PLACES; i++) {
        if (has_train_images(mnist_places[i])) {
            snprintf(buf, len, "%s", mnist_places[i]);
            return buf;
        }
    }
    if (has_train_images(fashion_place)) {
        snprintf(buf, len, "%s", fashion_place);
        return buf;
    }
    td_set_error("no data found: give --data DIR or set TINYAD_DATA (looked for MNIST in "
                 "%s, %s and %s, then for Fashion-MNIST in %s). To use MNIST, put its four "
                 "files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                 "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in data/mnist, or "
                 "point --data at the directory holding them; on Debian, "
                 "`apt-get install dataset-fashion-mnist` gives Fashion-MNIST in %s",
                 mnist_places[0], mnist_places[1], mnist_places[2], fashion_place, fashion_place);
    return NULL;
}

const char *td_data_describe(const char *flag, const char *dir, char *buf, size_t len) {
    const char *env = getenv("TINYAD_DATA");
    const char *what = "MNIST-format IDX files", *how = "";
    for (size_t i = 0; i < N_MNIST_PLACES; i++)
        if (!strcmp(dir, mnist_places[i])) what = "MNIST";
    if (!strcmp(dir, fashion_place)) what = "Fashion-MNIST from Debian's dataset-fashion-mnist";
    if (flag && *flag)
        how = ", from --data";
    else if (env && *env)
        how = ", from $TINYAD_DATA";
    else if (!strcmp(dir, fashion_place))
        how = ": no MNIST found, --data DIR names other data";
    snprintf(buf, len, "data: %s (%s%s)", dir, what, how);
    return buf;
}

int td_dataset_load(const char *dir, const char *prefix, int64_t limit, td_dataset *out) {
    memset(out, 0, sizeof *out);
    char ipath[4096], lpath[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    if (!find_file(dir, name, ipath, sizeof ipath)) {
        td_set_error("%s/%s(.gz): not found", dir, name);
        return -1;
    }
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if (!find_file(dir, name, lpath, sizeof lpath)) {
        td_set_error("%s/%s(.gz): not found", dir, name);
        return -1;
    }
    td_idx im, lb;
    if (td_idx_load(ipath, &im)) return -1; /* io.c's message names the file */
    if (td_idx_load(lpath, &lb)) {
        td_idx_release(&im);
        return -1;
    }
    int rc = -1;
    if (im.ndim != 3) {
        td_set_error("%s: expected 3-D images [n, rows, cols], found %d dimensions", ipath, im.ndim);
    } else if (lb.ndim != 1) {
        td_set_error("%s: expected 1-D labels, found %d dimensions", lpath, lb.ndim);
    } else if (im.count != lb.count) {
        td_set_error("%s has %lld images but %s has %lld labels: the files do not belong together",
                     ipath, (long long)im.count, lpath, (long long)lb.count);
    } else if (im.count == 0) {
        td_set_error("%s: no images", ipath);
    } else {
        int64_t n = limit > 0 && limit < im.count ? limit : im.count;
        out->n = n;
        out->height = im.dims[1];
        out->width = im.dims[2];
        out->dim = im.item_size;
        /* Keep the bytes as read (no copy: a second 47 MB at load time for
         * MNIST), trimmed to the images kept. */
        const size_t bytes = (size_t)(n * out->dim);
        out->pixels = im.data;
        im.data = NULL;
        if (n < im.count) {
            uint8_t *trimmed = realloc(out->pixels, bytes);
            if (trimmed) out->pixels = trimmed;
        }
        out->labels = td_alloc((size_t)n);
        memcpy(out->labels, lb.data, (size_t)n);
        out->owns = 1;
        rc = 0;
    }
    td_idx_release(&im);
    td_idx_release(&lb);
    return rc;
}

void td_dataset_release(td_dataset *d) {
    if (d->owns) {
        free(d->pixels); /* from td_idx_load's malloc, or td_alloc */
        td_free(d->x);
        td_free(d->labels);
    }
    memset(d, 0, sizeof *d);
}

/* The sizes and labels of a dataset made from memory; the caller sets x or pixels. */
static void dataset_from_common(td_dataset *out, int64_t n, int64_t height, int64_t width,
                                const uint8_t *labels) {
    out->n = n;
    out->height = height;
    out->width = width;
    out->dim = height * width;
    out->x = NULL;
    out->pixels = NULL;
    out->labels = td_alloc_zero((size_t)n);
    if (labels) memcpy(out->labels, labels, (size_t)n);
    out->owns = 1;
}

void td_dataset_from(td_dataset *out, int64_t n, int64_t height, int64_t width,
                     const td_real *x, const uint8_t *labels) {
    dataset_from_common(out, n, height, width, labels);
    out->x = td_alloc(sizeof(td_real) * (size_t)(n * out->dim));
    memcpy(out->x, x, sizeof(td_real) * (size_t)(n * out->dim));
}

void td_dataset_from_pixels(td_dataset *out, int64_t n, int64_t height, int64_t width,
                            const uint8_t *pixels, const uint8_t *labels) {
    dataset_from_common(out, n, height, width, labels);
    out->pixels = td_alloc((size_t)(n * out->dim));
    memcpy(out->pixels, pixels, (size_t)(n * out->dim));
}

/* count values from bytes: a division per value, as the float loader did
 * (vectorized; a multiply by 1/255 would round differently). */
/* A table of the 256 values rather than a division per pixel: the same
 * numbers, and the batch copy stops being a serial slice of a step. */
static void pixels_to_real(const uint8_t *p, int64_t count, td_real *out) {
    td_real value[256];
    for (int v = 0; v < 256; v++) value[v] = td_pixel_value((uint8_t)v);
    for (int64_t i = 0; i < count; i++) out[i] = value[p[i]];
}

void td_dataset_rows(const td_dataset *d, int64_t first, int64_t count, td_real *out) {
    TD_ASSERT(first >= 0 && count >= 0 && first + count <= d->n,
              "td_dataset_rows: images %lld..%lld of a dataset of %lld", (long long)first,
              (long long)(first + count), (long long)d->n);
    const int64_t at = first * d->dim, len = count * d->dim;
    if (d->pixels)
        pixels_to_real(d->pixels + at, len, out);
    else
        memcpy(out, d->x + at, sizeof(td_real) * (size_t)len);
}

int td_dataset_split(const td_dataset *all, int64_t n_val, td_dataset *train, td_dataset *val) {
    if (n_val < 0 || n_val >= all->n) {
        td_set_error("validation split of %lld images leaves nothing to train on (the data has %lld)",
                     (long long)n_val, (long long)all->n);
        return -1;
    }
    *train = *all;
    *val = *all;
    train->owns = val->owns = 0;
    train->n = all->n - n_val;
    val->n = n_val;
    if (all->pixels) val->pixels = all->pixels + train->n * all->dim;
    if (all->x) val->x = all->x + train->n * all->dim;
    val->labels = all->labels + train->n;
    return 0;
}

void td_dataset_binarize(td_dataset *d, td_real threshold) {
    if (d->pixels) {
        uint8_t to[256]; /* the float comparison, once per byte value */
        for (int v = 0; v < 256; v++) to[v] = td_pixel_value((uint8_t)v) > threshold ? 255 : 0;
        for (int64_t i = 0; i < d->n * d->dim; i++) d->pixels[i] = to[d->pixels[i]];
    } else {
        for (int64_t i = 0; i < d->n * d->dim; i++) d->x[i] = d->x[i] > threshold ? 1 : 0;
    }
}

void td_dataset_binarize_random(td_dataset *d, td_rng *r) {
    const int64_t total = d->n * d->dim;
    if (!d->pixels) {
        td_rng_bernoulli(r, d->x, total, d->x);
        return;
    }
    /* Chunks whose length is a multiple of 4 values (a whole number of
     * generator blocks in float and double): consecutive draws then equal
     * one draw over everything. 65536 values keeps the draw parallel. */
    enum { CHUNK = 1 << 16 };
    td_real *buf = td_alloc(sizeof(td_real) * CHUNK);
    for (int64_t at = 0; at < total; at += CHUNK) {
        const int64_t len = total - at < CHUNK ? total - at : CHUNK;
        pixels_to_real(d->pixels + at, len, buf);
        td_rng_bernoulli(r, buf, len, buf);
        for (int64_t i = 0; i < len; i++) d->pixels[at + i] = buf[i] != 0 ? 255 : 0;
    }
    td_free(buf);
}

void td_batcher_init(td_batcher *b, const td_dataset *d, int64_t batch, int shuffle,
                     td_binarize binarize, td_rng *order, td_rng *noise) {
    TD_ASSERT(batch > 0, "batch size must be positive");
    TD_ASSERT(!shuffle || order, "a shuffling batcher needs an order generator");
    TD_ASSERT(binarize != TD_BINARIZE_DYNAMIC || noise, "dynamic binarization needs a noise generator");
    memset(b, 0, sizeof *b);
    b->d = d;
    b->batch = batch;
    b->shuffle = shuffle;
    b->binarize = binarize;
    b->order = order;
    b->noise = noise;
    b->perm = td_alloc(sizeof(int64_t) * (size_t)(d->n > 0 ? d->n : 1));
    for (int64_t i = 0; i < d->n; i++) b->perm[i] = i;
    b->buf = td_tensor_zeros(TD_SHAPE(batch, d->dim));
    b->labels = td_alloc_zero((size_t)batch);
    b->pos = d->n; /* nothing until td_batcher_start */
}

void td_batcher_release(td_batcher *b) {
    td_free(b->perm);
    td_tensor_release(&b->buf);
    td_free(b->labels);
    memset(b, 0, sizeof *b);
}

void td_batcher_start(td_batcher *b) {
    if (b->shuffle) td_rng_permutation(b->order, b->perm, b->d->n);
    b->pos = 0;
}

int64_t td_batcher_next(td_batcher *b, td_tensor *x) {
    const td_dataset *d = b->d;
    int64_t rows = d->n - b->pos < b->batch ? d->n - b->pos : b->batch;
    if (rows <= 0) return 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t i = b->perm[b->pos + r];
        td_dataset_rows(d, i, 1, b->buf.data + r * d->dim);
        b->labels[r] = d->labels[i];
    }
    b->pos += rows;
    *x = td_tensor_rows(&b->buf, 0, rows);
    /* In place: each pixel becomes 1 with probability equal to its intensity. */
    if (b->binarize == TD_BINARIZE_DYNAMIC) td_rng_bernoulli(b->noise, x->data, x->size, x->data);
    return rows;
}

int64_t td_batcher_count(const td_batcher *b) { return (b->d->n + b->batch - 1) / b->batch; }
