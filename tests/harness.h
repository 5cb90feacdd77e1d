/* What the model tests train with: a model's parameters (registered by the
 * test, then drawn here from the seed's stream 1), Adam at its defaults, a
 * tape, the model / order / noise generators (streams 2, 3, 4) and a
 * batcher of 50 over a dataset; and the synthetic 8x8 bar images the tests
 * use when they need no real data. */
#ifndef TD_TEST_HARNESS_H
#define TD_TEST_HARNESS_H

#include <string.h>

#include "../nn/data.h"
#include "../nn/optim.h"

typedef struct test_harness {
    td_params *p;
    td_optimizer *opt;
    td_tape *t;
    td_rng model_rng, order, noise;
    td_batcher b;
} test_harness;

/* p: created, the model's parameters registered, not finalized. */
static inline void test_harness_init(test_harness *h, td_params *p, const td_dataset *d, uint64_t seed,
                                     td_binarize bin) {
    memset(h, 0, sizeof *h);
    h->p = p;
    td_rng base, init;
    td_rng_init(&base, seed);
    init = td_rng_stream(&base, 1);
    td_params_finalize(h->p, &init);
    h->opt = td_optimizer_create(h->p, td_optim_defaults(TD_OPT_ADAM));
    h->t = td_tape_create();
    h->model_rng = td_rng_stream(&base, 2);
    h->order = td_rng_stream(&base, 3);
    h->noise = td_rng_stream(&base, 4);
    td_batcher_init(&h->b, d, 50, 1, bin, &h->order, &h->noise);
}

static inline void test_harness_free(test_harness *h) {
    td_batcher_release(&h->b);
    td_tape_destroy(h->t);
    td_optimizer_destroy(h->opt);
    td_params_destroy(h->p);
}

/* One epoch of Adam steps on loss(model, batch) (which also gives the
 * batch's loss as a number); returns the mean loss per image. */
typedef td_var *(*test_loss_fn)(void *model, td_tape *t, td_var *x, td_rng *rng, double *loss);
static inline double test_harness_epoch(test_harness *h, test_loss_fn loss_fn, void *model) {
    double s = 0;
    int64_t n = 0, rows;
    td_tensor x;
    td_batcher_start(&h->b);
    while ((rows = td_batcher_next(&h->b, &x)) > 0) {
        td_tape_reset(h->t);
        double value;
        td_var *loss = loss_fn(model, h->t, td_const(h->t, x), &h->model_rng, &value);
        td_params_zero_grad(h->p);
        td_backward(h->t, loss);
        td_optimizer_step(h->opt, h->opt->cfg.lr);
        s += value;
        n += rows;
    }
    return s / (double)n;
}

/* n 8x8 images, each a horizontal or vertical bar (label = which) over faint noise. */
static inline void test_bars(td_dataset *d, int64_t n, uint64_t seed) {
    td_real *x = td_alloc(sizeof(td_real) * (size_t)(n * 64));
    uint8_t *lb = td_alloc((size_t)n);
    td_rng r;
    td_rng_init(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        const int k = (int)(td_rng_u32(&r) % 16);
        lb[i] = (uint8_t)(k % 10);
        for (int p = 0; p < 64; p++) {
            const int on = k < 8 ? p / 8 == k : p % 8 == k - 8;
            x[i * 64 + p] = on ? (td_real)0.95 : (td_real)(0.1 * td_rng_double(&r));
        }
    }
    td_dataset_from(d, n, 8, 8, x, lb);
    td_free(x);
    td_free(lb);
}

#endif
