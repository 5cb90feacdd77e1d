/* A small convolutional MNIST classifier, written with the public API only:
 *
 *   conv 1->16 5x5 pad 2, relu, max-pool 2   [N, 16, 14, 14]
 *   conv 16->32 5x5 pad 2, relu, max-pool 2  [N, 32, 7, 7]
 *   flatten, linear 1568->128, relu, linear 128->10, cross-entropy
 *
 * Adam 1e-3, batches of 64. Usage: lenet [TRAIN_IMAGES EPOCHS TEST_IMAGES]
 * (MNIST from $TINYAD_DATA or the usual places). With no arguments it is
 * the test: 1000 training images, 4 epochs, the first 500 test images, and
 * it exits 0 when the accuracy is well above chance (70%; chance is 10%).
 * "lenet 60000 2 10000" is the full run. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nn/data.h"
#include "tinyad.h"

typedef struct lenet {
    td_conv2d_layer c1, c2;
    td_linear_layer f1, f2;
} lenet;

static void lenet_init(lenet *m, td_params *p) {
    td_conv2d_layer_init(&m->c1, p, "c1", 1, 16, 5, 1, 2, TD_INIT_PYTORCH);
    td_conv2d_layer_init(&m->c2, p, "c2", 16, 32, 5, 1, 2, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->f1, p, "f1", 32 * 7 * 7, 128, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->f2, p, "f2", 128, 10, TD_INIT_PYTORCH);
}

/* x [N, 784] pixels -> [N, 10] logits */
static td_var *lenet_forward(td_tape *t, const lenet *m, td_var *x) {
    const int64_t n = x->value.shape.d[0];
    td_var *h = td_reshape(t, x, TD_SHAPE(n, 1, 28, 28));
    h = td_max_pool2d(t, td_relu(t, td_conv2d_layer_forward(t, &m->c1, h)), 2, 2);
    h = td_max_pool2d(t, td_relu(t, td_conv2d_layer_forward(t, &m->c2, h)), 2, 2);
    h = td_reshape(t, h, TD_SHAPE(n, 32 * 7 * 7));
    return td_linear_layer_forward(t, &m->f2, td_relu(t, td_linear_layer_forward(t, &m->f1, h)));
}

/* The batch's labels as the constant var td_cross_entropy takes. */
static td_var *labels_var(td_tape *t, const uint8_t *labels, int64_t n) {
    td_var *y = td_const_new(t, TD_SHAPE(n));
    for (int64_t i = 0; i < n; i++) y->value.data[i] = labels[i];
    return y;
}

/* Fraction of test images whose largest logit is their label. */
static double accuracy(td_tape *t, const lenet *m, const td_dataset *test) {
    td_tensor x = td_tensor_zeros(TD_SHAPE(500, test->dim));
    int64_t right = 0;
    const int was = td_tape_set_grad(t, 0);
    for (int64_t first = 0; first < test->n; first += 500) {
        const int64_t n = test->n - first < 500 ? test->n - first : 500;
        td_tape_reset(t);
        td_dataset_rows(test, first, n, x.data);
        td_var *logits = lenet_forward(t, m, td_const(t, td_tensor_rows(&x, 0, n)));
        for (int64_t i = 0; i < n; i++) {
            const td_real *row = logits->value.data + i * 10;
            int best = 0;
            for (int k = 1; k < 10; k++) best = row[k] > row[best] ? k : best;
            right += best == test->labels[first + i];
        }
    }
    td_tape_set_grad(t, was);
    td_tensor_release(&x);
    return (double)right / (double)test->n;
}

int main(int argc, char **argv) {
    const int64_t n_train = argc > 3 ? atoll(argv[1]) : 1000, n_test = argc > 3 ? atoll(argv[3]) : 500;
    const int epochs = argc > 3 ? atoi(argv[2]) : 4;
    char dir[4096];
    td_dataset train, test;
    if (!td_data_dir_resolve(NULL, dir, sizeof dir)) {
        printf("%s\nskipped\n", td_error());
        return 77; /* meson: skipped */
    }
    if (td_dataset_load(dir, "train", n_train, &train) || td_dataset_load(dir, "t10k", n_test, &test)) {
        fprintf(stderr, "lenet: %s\n", td_error());
        return 1;
    }
    td_rng rng, order;
    td_rng_init(&rng, 1);
    td_rng_init(&order, 2);
    td_params *p = td_params_create();
    lenet m;
    lenet_init(&m, p);
    td_params_finalize(p, &rng);
    td_optimizer *adam = td_optimizer_create(p, td_optim_defaults(TD_OPT_ADAM));
    td_tape *t = td_tape_create();
    td_batcher b;
    td_batcher_init(&b, &train, 64, 1, TD_BINARIZE_NONE, &order, NULL);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int e = 0; e < epochs; e++) {
        td_tensor x;
        double sum = 0;
        int64_t rows, seen = 0;
        td_batcher_start(&b);
        while ((rows = td_batcher_next(&b, &x)) > 0) {
            td_tape_reset(t);
            td_params_zero_grad(p);
            td_var *loss = td_cross_entropy(t, lenet_forward(t, &m, td_const(t, x)),
                                            labels_var(t, b.labels, rows));
            td_backward(t, loss);
            td_optimizer_step(adam, 1e-3);
            sum += loss->value.data[0] * (double)rows, seen += rows;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("epoch %d: train loss %.4f, %.1f s\n", e + 1, sum / (double)seen,
               (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
        fflush(stdout); /* progress shows even when stdout is a file */
    }
    const double acc = accuracy(t, &m, &test);
    printf("test accuracy %.2f%% on %lld images\n", 100 * acc, (long long)test.n);

    td_batcher_release(&b);
    td_tape_destroy(t);
    td_optimizer_destroy(adam);
    td_params_destroy(p);
    td_dataset_release(&train);
    td_dataset_release(&test);
    return acc >= 0.7 ? 0 : 1;
}
