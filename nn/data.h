/* Datasets: MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST) loaded
 * as [n, dim] arrays of td_real in [0, 1], a held-out validation split, and
 * shuffled mini-batches copied into one reusable buffer.
 *
 * Randomness (shuffling, dynamic binarization) comes from td_rng generators
 * the caller owns, so a training run can save them and resume exactly. */
#ifndef TD_DATA_H
#define TD_DATA_H

#include "../tensor/random.h"
#include "../tensor/tensor.h"

typedef enum td_binarize {
    TD_BINARIZE_NONE,    /* grayscale targets in [0, 1] (the PyTorch example) */
    TD_BINARIZE_STATIC,  /* x > 0.5, once at load time */
    TD_BINARIZE_DYNAMIC, /* a fresh Bernoulli(x) draw every time an image is used */
} td_binarize;

int td_binarize_parse(const char *name); /* "none" | "static" | "dynamic"; -1 if unknown */
const char *td_binarize_name(td_binarize b);

typedef struct td_dataset {
    int64_t n;       /* images */
    int64_t dim;     /* values per image (784) */
    int64_t height, width;
    td_real *x;      /* [n, dim], in [0, 1] */
    uint8_t *labels; /* [n] */
    int owns;        /* views (td_dataset_split) do not free */
} td_dataset;

/* The directory to read: flag (--data) if given, else $TINYAD_DATA, else
 * the first standard place that holds train-images-idx3-ubyte(.gz):
 * /usr/share/datasets/mnist, /usr/share/datasets/fashion-mnist,
 * ../shared/data/mnist, ./data/mnist. Writes it to buf and returns buf, or
 * NULL with td_error() saying where it looked and how to get MNIST. */
const char *td_data_dir_resolve(const char *flag, char *buf, size_t len);

/* Loads DIR/{prefix}-images-idx3-ubyte[.gz] and the labels beside it;
 * prefix is "train" or "t10k". limit > 0 keeps only the first limit images.
 * Checks that the two files agree in count. Returns 0, or -1 with
 * td_error() naming the file and what is wrong. */
int td_dataset_load(const char *dir, const char *prefix, int64_t limit, td_dataset *out);
void td_dataset_release(td_dataset *d);

/* A dataset made from memory (copied; labels may be NULL): for tests and
 * synthetic data. */
void td_dataset_from(td_dataset *out, int64_t n, int64_t height, int64_t width,
                     const td_real *x, const uint8_t *labels);

/* The last n_val images of all become val, the rest train; both are views
 * of all (which must outlive them). n_val may be 0 (val then has n = 0).
 * Returns -1 if n_val >= all->n. */
int td_dataset_split(const td_dataset *all, int64_t n_val, td_dataset *train, td_dataset *val);

/* x = x > threshold ? 1 : 0, in place. */
void td_dataset_binarize(td_dataset *d, td_real threshold);

/* Mini-batches. Each epoch draws a permutation from *order (when shuffle
 * is on) and hands out batches in that order; the last batch may be
 * smaller (PyTorch's drop_last=False). A batch is copied into buf, which is
 * allocated once: no allocation per step. */
typedef struct td_batcher {
    const td_dataset *d;
    int64_t batch;
    int shuffle;
    td_binarize binarize; /* DYNAMIC draws from *noise at every batch */
    td_rng *order, *noise; /* caller-owned generators */
    int64_t *perm;        /* [d->n] */
    int64_t pos;
    td_tensor buf;        /* [batch, dim] */
    uint8_t *labels;      /* [batch] labels of the current batch */
} td_batcher;

void td_batcher_init(td_batcher *b, const td_dataset *d, int64_t batch, int shuffle,
                     td_binarize binarize, td_rng *order, td_rng *noise);
void td_batcher_release(td_batcher *b);
/* Starts an epoch (a new permutation when shuffling). */
void td_batcher_start(td_batcher *b);
/* The next batch as a view of the first rows of buf ([rows, dim]); returns
 * rows, or 0 when the epoch is over. */
int64_t td_batcher_next(td_batcher *b, td_tensor *x);
/* Batches per epoch. */
int64_t td_batcher_count(const td_batcher *b);

#endif
