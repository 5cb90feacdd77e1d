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

const char *td_data_dir_resolve(const char *flag, char *buf, size_t len) {
    char path[4096];
    if (flag && *flag) {
        if (!find_file(flag, "train-images-idx3-ubyte", path, sizeof path)) {
            td_set_error("--data %s: no train-images-idx3-ubyte(.gz) there "
                         "(expected the four MNIST-format IDX files)", flag);
            return NULL;
        }
        snprintf(buf, len, "%s", flag);
        return buf;
    }
    const char *env = getenv("TINYAD_DATA");
    if (env && *env) {
        if (!find_file(env, "train-images-idx3-ubyte", path, sizeof path)) {
            td_set_error("TINYAD_DATA=%s: no train-images-idx3-ubyte(.gz) there", env);
            return NULL;
        }
        snprintf(buf, len, "%s", env);
        return buf;
    }
    static const char *places[] = {"/usr/share/datasets/mnist", "/usr/share/datasets/fashion-mnist",
                                   "../shared/data/mnist", "data/mnist"};
    for (size_t i = 0; i < sizeof places / sizeof *places; i++) {
        if (find_file(places[i], "train-images-idx3-ubyte", path, sizeof path)) {
            snprintf(buf, len, "%s", places[i]);
            return buf;
        }
    }
    td_set_error("no MNIST found: give --data DIR or set TINYAD_DATA (looked in "
                 "/usr/share/datasets/mnist, /usr/share/datasets/fashion-mnist, "
                 "../shared/data/mnist, data/mnist). To get it: download "
                 "{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from "
                 "https://ossci-datasets.s3.amazonaws.com/mnist/ into data/mnist, "
                 "or on Debian `apt-get install mnist`");
    return NULL;
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
        out->x = td_alloc(sizeof(td_real) * (size_t)(n * out->dim));
        out->labels = td_alloc((size_t)n);
        for (int64_t i = 0; i < n * out->dim; i++) out->x[i] = (td_real)im.data[i] / (td_real)255;
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
        td_free(d->x);
        td_free(d->labels);
    }
    memset(d, 0, sizeof *d);
}

void td_dataset_from(td_dataset *out, int64_t n, int64_t height, int64_t width,
                     const td_real *x, const uint8_t *labels) {
    out->n = n;
    out->height = height;
    out->width = width;
    out->dim = height * width;
    out->x = td_alloc(sizeof(td_real) * (size_t)(n * out->dim));
    memcpy(out->x, x, sizeof(td_real) * (size_t)(n * out->dim));
    out->labels = td_alloc_zero((size_t)n);
    if (labels) memcpy(out->labels, labels, (size_t)n);
    out->owns = 1;
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
    val->x = all->x + train->n * all->dim;
    val->labels = all->labels + train->n;
    return 0;
}

void td_dataset_binarize(td_dataset *d, td_real threshold) {
    for (int64_t i = 0; i < d->n * d->dim; i++) d->x[i] = d->x[i] > threshold ? 1 : 0;
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
        memcpy(b->buf.data + r * d->dim, d->x + i * d->dim, sizeof(td_real) * (size_t)d->dim);
        b->labels[r] = d->labels[i];
    }
    b->pos += rows;
    *x = td_tensor_rows(&b->buf, 0, rows);
    /* In place: each pixel becomes 1 with probability equal to its intensity. */
    if (b->binarize == TD_BINARIZE_DYNAMIC) td_rng_bernoulli(b->noise, x->data, x->size, x->data);
    return rows;
}

int64_t td_batcher_count(const td_batcher *b) { return (b->d->n + b->batch - 1) / b->batch; }
