/* Datasets: MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST) kept as
 * their original [n, dim] bytes (a quarter of the memory of td_real; 47 MB
 * instead of 188 MB for MNIST's training set), a held-out validation split,
 * and shuffled mini-batches converted to td_real in [0, 1] into one reusable
 * buffer. Code that needs values asks td_dataset_rows for them, whichever
 * storage the dataset has.
 *
 * Randomness (shuffling, dynamic binarization) comes from td_rng generators
 * the caller owns, so a training run can save them and resume exactly. */
#ifndef TD_DATA_H
#define TD_DATA_H

#include "../tensor/random.h"
#include "../tensor/tensor.h"

typedef enum td_binarize {
    TD_BINARIZE_NONE,    /* grayscale targets in [0, 1] (the PyTorch example) */
    TD_BINARIZE_STATIC,  /* x > 0.5, once at load time (td_dataset_binarize) */
    TD_BINARIZE_DYNAMIC, /* a fresh Bernoulli(x) draw every time an image is used */
} td_binarize;

int td_binarize_parse(const char *name); /* "none" | "static" | "dynamic"; -1 if unknown */
const char *td_binarize_name(td_binarize b);

/* Exactly one of pixels and x holds the data. Read values through
 * td_dataset_rows rather than either pointer. */
typedef struct td_dataset {
    int64_t n;       /* images */
    int64_t dim;     /* values per image (784) */
    int64_t height, width;
    uint8_t *pixels; /* [n, dim] bytes, value = td_pixel_value(byte) (td_dataset_load,
                        td_dataset_from_pixels), or NULL */
    td_real *x;      /* [n, dim] in [0, 1] (td_dataset_from), or NULL */
    uint8_t *labels; /* [n] */
    int owns;        /* views (td_dataset_split) do not free */
} td_dataset;

/* The value of a byte pixel: byte / 255 in td_real, the same bits as the
 * float loader this replaced. */
static inline td_real td_pixel_value(uint8_t p) { return (td_real)p / (td_real)255; }

/* The directory to read: flag (--data) if given, else $TINYAD_DATA, else
 * the first place holding train-images-idx3-ubyte(.gz): for MNIST
 * ../shared/data/mnist (a directory named shared/data/mnist beside the
 * working directory), data/mnist, /usr/share/datasets/mnist; then
 * Fashion-MNIST in /usr/share/datasets/fashion-mnist (Debian's
 * dataset-fashion-mnist package). Writes it to buf and returns buf, or
 * NULL with td_error() saying where it looked, how to get MNIST and which
 * Debian package gives Fashion-MNIST. */
const char *td_data_dir_resolve(const char *flag, char *buf, size_t len);
/* One line for the user naming the data in dir, which td_data_dir_resolve
 * gave for flag: e.g. "data: data/mnist (MNIST)", where --data or
 * $TINYAD_DATA pointed, or the Fashion-MNIST fallback and why. Writes it
 * to buf and returns buf. */
const char *td_data_describe(const char *flag, const char *dir, char *buf, size_t len);

/* Loads DIR/{prefix}-images-idx3-ubyte[.gz] and the labels beside it;
 * prefix is "train" or "t10k". limit > 0 keeps only the first limit images.
 * Checks that the two files agree in count. Returns 0, or -1 with
 * td_error() naming the file and what is wrong. */
int td_dataset_load(const char *dir, const char *prefix, int64_t limit, td_dataset *out);
void td_dataset_release(td_dataset *d);

/* A dataset made from memory (copied; labels may be NULL): for tests and
 * synthetic data. _from stores td_real values as given; _from_pixels stores
 * bytes, read as td_pixel_value(byte) like a loaded file. */
void td_dataset_from(td_dataset *out, int64_t n, int64_t height, int64_t width,
                     const td_real *x, const uint8_t *labels);
void td_dataset_from_pixels(td_dataset *out, int64_t n, int64_t height, int64_t width,
                            const uint8_t *pixels, const uint8_t *labels);

/* Images first .. first + count - 1 as td_real into out [count, dim], from
 * either storage. Allocates nothing. */
void td_dataset_rows(const td_dataset *d, int64_t first, int64_t count, td_real *out);

/* The last n_val images of all become val, the rest train; both are views
 * of all (which must outlive them), in its storage. n_val may be 0 (val
 * then has n = 0). Returns -1 if n_val >= all->n. */
int td_dataset_split(const td_dataset *all, int64_t n_val, td_dataset *train, td_dataset *val);

/* x = x > threshold ? 1 : 0, in place. Byte data stays bytes: 0 or 255
 * (values 0 and 1), decided by the same td_real comparison
 * td_pixel_value(byte) > threshold as float data, so the two storages agree
 * for every byte value. */
void td_dataset_binarize(td_dataset *d, td_real threshold);

/* Each value becomes 1 with probability equal to itself, once, in place
 * (a fixed binarized test or validation set). The draws are exactly those
 * of td_rng_bernoulli(r, x, n * dim, x) over the whole [n, dim] array, for
 * either storage; byte data stores 0 or 255. */
void td_dataset_binarize_random(td_dataset *d, td_rng *r);

/* Mini-batches. Each epoch draws a permutation from *order (when shuffle
 * is on) and hands out batches in that order; the last batch may be
 * smaller (PyTorch's drop_last=False). A batch is gathered into buf as
 * td_real (byte data converted on the way), which is allocated once: no
 * allocation per step. */
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
