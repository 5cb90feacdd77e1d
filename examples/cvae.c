/* A conditional VAE (Sohn, Lee & Yan 2015), written with the public API only:
 * a model that is not in models/, in one file.
 *
 *   encoder  q(z | x, y):  [x, onehot(y)] -> MLP -> [mu | logvar]
 *   decoder  p(x | z, y):  [z, onehot(y)] -> MLP -> Bernoulli logits
 *   loss     -ELBO per image = BCE(x | logits) + KL(q(z | x, y) || N(0, I))
 *
 * Trained on a few thousand MNIST digits (or, when MNIST is absent,
 * synthetic stroke "digits" in ten classes). The check: images generated
 * for label c, from random z, must look like class c: each is assigned to
 * the nearest class-mean image of the training data, and the generated
 * images must land on their own label at least 80% as often as real images
 * do under the same rule (chance is 10%). Exit status 0 means it passed.
 *
 * Built against the double-precision library (-DTD_DOUBLE) the same file
 * instead checks the loss's gradients against finite differences: see
 * main() at the bottom and docs/writing-a-model.md. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "tinyad.h"

enum { CLASSES = 10 };

/* ---- the model ------------------------------------------------------------------ */

typedef struct cvae {
    int64_t input, classes, latent;
    td_mlp enc; /* input + classes -> hidden -> 2 * latent */
    td_mlp dec; /* latent + classes -> hidden -> input */
} cvae;

/* Registers the parameters; the caller finalizes p. */
static void cvae_init(cvae *m, td_params *p, int64_t input, int64_t classes, int64_t hidden,
                      int64_t latent) {
    m->input = input, m->classes = classes, m->latent = latent;
    td_mlp_init(&m->enc, p, "enc", 3, (int64_t[]){input + classes, hidden, 2 * latent},
                TD_ACT_RELU, TD_INIT_PYTORCH);
    td_mlp_init(&m->dec, p, "dec", 3, (int64_t[]){latent + classes, hidden, input}, TD_ACT_RELU,
                TD_INIT_PYTORCH);
}

/* Labels as a [rows, classes] one-hot constant for this step. */
static td_var *one_hot(td_tape *t, const uint8_t *labels, int64_t rows, int64_t classes) {
    td_var *y = td_const_new(t, TD_SHAPE(rows, classes));
    td_tensor_fill(&y->value, 0);
    for (int64_t i = 0; i < rows; i++) y->value.data[i * classes + labels[i]] = 1;
    return y;
}

/* The negative ELBO, averaged over the rows of x: a [1] var. */
static td_var *cvae_loss(td_tape *t, const cvae *m, td_var *x, td_var *y, td_rng *rng) {
    td_var *stats = td_mlp_forward(t, &m->enc, td_concat_cols(t, x, y));
    td_var *mu = td_slice_cols(t, stats, 0, m->latent);
    td_var *logvar = td_slice_cols(t, stats, m->latent, m->latent);
    td_var *z = td_reparam(t, mu, logvar, td_randn(t, rng, mu->value.shape));
    td_var *logits = td_mlp_forward(t, &m->dec, td_concat_cols(t, z, y));
    td_var *per_image = td_add(t, td_nll_bernoulli_rows(t, logits, x),
                               td_kl_std_normal_rows(t, mu, logvar));
    return td_mean(t, per_image);
}

#ifndef TD_DOUBLE
/* Images for the given labels from z ~ N(0, I), in [0, 1]; no-grad. */
static td_var *cvae_generate(td_tape *t, const cvae *m, const uint8_t *labels, int64_t n,
                             td_rng *rng) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *z = td_randn(t, rng, TD_SHAPE(n, m->latent));
    td_var *y = one_hot(t, labels, n, m->classes);
    td_var *x = td_sigmoid(t, td_mlp_forward(t, &m->dec, td_concat_cols(t, z, y)));
    td_no_grad_end(ng);
    return x;
}

/* ---- data ------------------------------------------------------------------------- */

/* Stand-in for MNIST: ten classes of 28x28 stroke figures with jitter. */
static void synthetic_digits(td_dataset *d, int64_t n) {
    td_rng r;
    td_rng_init(&r, 3);
    double ends[CLASSES][3][4];
    for (int c = 0; c < CLASSES; c++)
        for (int s = 0; s < 3; s++)
            for (int k = 0; k < 4; k++) ends[c][s][k] = 5 + 18 * td_rng_double(&r);
    td_real *x = td_alloc(sizeof(td_real) * (size_t)(n * 784));
    uint8_t *labels = td_alloc((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        td_real *im = x + i * 784;
        memset(im, 0, sizeof(td_real) * 784);
        labels[i] = (uint8_t)(td_rng_u32(&r) % CLASSES);
        for (int s = 0; s < 3; s++) {
            double e[4];
            for (int k = 0; k < 4; k++) e[k] = ends[labels[i]][s][k] + 3 * (td_rng_double(&r) - 0.5);
            const double dx = e[2] - e[0], dy = e[3] - e[1], l2 = dx * dx + dy * dy + 1e-9;
            for (int py = 0; py < 28; py++)
                for (int px = 0; px < 28; px++) {
                    double u = fmax(0, fmin(1, ((px - e[0]) * dx + (py - e[1]) * dy) / l2));
                    double ex = px - e[0] - u * dx, ey = py - e[1] - u * dy;
                    double v = fmax(0, fmin(1, 1.5 - sqrt(ex * ex + ey * ey)));
                    if (v > im[py * 28 + px]) im[py * 28 + px] = (td_real)v;
                }
        }
    }
    td_dataset_from(d, n, 28, 28, x, labels);
    td_free(x);
    td_free(labels);
}

/* Mean image of each class. */
static void class_means(const td_dataset *d, double *means) {
    int64_t count[CLASSES] = {0};
    memset(means, 0, sizeof(double) * CLASSES * (size_t)d->dim);
    td_real *row = td_alloc(sizeof(td_real) * (size_t)d->dim);
    for (int64_t i = 0; i < d->n; i++) {
        count[d->labels[i]]++;
        td_dataset_rows(d, i, 1, row);
        for (int64_t j = 0; j < d->dim; j++) means[d->labels[i] * d->dim + j] += row[j];
    }
    td_free(row);
    for (int c = 0; c < CLASSES; c++)
        for (int64_t j = 0; j < d->dim; j++) means[c * d->dim + j] /= count[c] ? (double)count[c] : 1;
}

static int nearest_class(const double *means, const td_real *x, int64_t dim) {
    int best = 0;
    double best_d = INFINITY;
    for (int c = 0; c < CLASSES; c++) {
        double s = 0;
        for (int64_t j = 0; j < dim; j++) s += (x[j] - means[c * dim + j]) * (x[j] - means[c * dim + j]);
        if (s < best_d) best_d = s, best = c;
    }
    return best;
}

/* ---- train, generate, check --------------------------------------------------------- */

int main(void) {
    td_dataset data;
    char dir[4096], note[4200];
    if (td_data_dir_resolve(NULL, dir, sizeof dir) && td_dataset_load(dir, "train", 4000, &data) == 0) {
        printf("cvae: %lld images, %s\n", (long long)data.n,
               td_data_describe(NULL, dir, note, sizeof note));
    } else {
        printf("cvae: MNIST not found; synthetic stroke digits instead\n");
        synthetic_digits(&data, 4000);
    }

    td_rng rng;
    td_rng_init(&rng, 1);
    td_rng order = td_rng_stream(&rng, 1), noise = td_rng_stream(&rng, 2), init = td_rng_stream(&rng, 3);
    td_params *params = td_params_create();
    cvae m;
    cvae_init(&m, params, data.dim, CLASSES, 128, 2);
    td_params_finalize(params, &init);
    td_optimizer *adam = td_optimizer_create(params, td_optim_defaults(TD_OPT_ADAM));
    td_tape *tape = td_tape_create();

    td_batcher batches;
    td_batcher_init(&batches, &data, 50, 1, TD_BINARIZE_NONE, &order, NULL);
    double loss_sum = 0;
    int64_t seen = 0;
    for (int epoch = 0; epoch < 6; epoch++) {
        td_batcher_start(&batches);
        td_tensor xb;
        int64_t rows;
        loss_sum = 0, seen = 0;
        while ((rows = td_batcher_next(&batches, &xb)) > 0) {
            td_tape_reset(tape);
            td_params_zero_grad(params);
            td_var *y = one_hot(tape, batches.labels, rows, CLASSES);
            td_var *loss = cvae_loss(tape, &m, td_const(tape, xb), y, &noise);
            td_backward(tape, loss);
            td_optimizer_step(adam, 2e-3);
            loss_sum += td_item(loss) * (double)rows, seen += rows;
        }
        printf("epoch %d: -ELBO per image %.2f\n", epoch + 1, loss_sum / (double)seen);
    }

    /* 30 generated images per label, each assigned to the nearest class mean. */
    enum { PER_CLASS = 30 };
    uint8_t labels[CLASSES * PER_CLASS];
    for (int i = 0; i < CLASSES * PER_CLASS; i++) labels[i] = (uint8_t)(i / PER_CLASS);
    td_tape_reset(tape);
    td_var *gen = cvae_generate(tape, &m, labels, CLASSES * PER_CLASS, &noise);
    double *means = td_alloc(sizeof(double) * CLASSES * (size_t)data.dim);
    class_means(&data, means);
    int right = 0;
    for (int i = 0; i < CLASSES * PER_CLASS; i++)
        right += nearest_class(means, gen->value.data + i * data.dim, data.dim) == labels[i];
    const double acc = (double)right / (CLASSES * PER_CLASS);
    /* How good is the judge? The same rule on the real training images. */
    int real_right = 0;
    td_real *row = td_alloc(sizeof(td_real) * (size_t)data.dim);
    for (int64_t i = 0; i < data.n; i++) {
        td_dataset_rows(&data, i, 1, row);
        real_right += nearest_class(means, row, data.dim) == data.labels[i];
    }
    td_free(row);
    const double real_acc = (double)real_right / (double)data.n;
    printf("generated images nearest to their label's class mean: %d of %d (%.0f%%); "
           "real images: %.0f%%; chance: 10%%\n", right, CLASSES * PER_CLASS, 100 * acc, 100 * real_acc);
    const int pass = acc >= 0.8 * real_acc && isfinite(loss_sum);
    printf("%s\n", pass ? "ok: the label controls what is generated"
                        : "FAILED: generated images do not follow their labels");

    td_free(means);
    td_batcher_release(&batches);
    td_tape_destroy(tape);
    td_optimizer_destroy(adam);
    td_params_destroy(params);
    td_dataset_release(&data);
    return pass ? 0 : 1;
}

#else
/* ---- gradcheck (double build) --------------------------------------------------------
 * td_gradcheck_params moves every element of every parameter in the set and
 * compares the loss's change with its gradient. */
typedef struct under_check {
    cvae m;
    td_tensor x; /* [4, input], pixels in (0, 1) */
} under_check;

static td_var *loss_under_check(td_tape *t, td_rng *rng, void *ctx) {
    const under_check *c = ctx;
    const uint8_t labels[4] = {0, 2, 1, 2};
    /* noise from rng, rewound by the checker: the same eps on every evaluation */
    return cvae_loss(t, &c->m, td_const(t, c->x), one_hot(t, labels, 4, c->m.classes), rng);
}

int main(void) {
    td_params *p = td_params_create();
    under_check c;
    cvae_init(&c.m, p, 6, 3, 5, 2); /* tiny: 6 pixels, 3 classes, 5 hidden, 2 latent */
    td_rng r;
    td_rng_init(&r, 7);
    td_params_finalize(p, &r);
    c.x = td_tensor_zeros(TD_SHAPE(4, c.m.input));
    for (int64_t i = 0; i < c.x.size; i++) c.x.data[i] = (td_real)(0.05 + 0.9 * td_rng_double(&r));
    td_gc_result res = td_gradcheck_params(p->vars, p->count, loss_under_check, &c, 1e-6, 7);
    printf("cvae loss gradcheck: %lld derivatives, max relative error %.2e: %s\n",
           (long long)res.n_checked, res.max_rel, res.pass ? "pass" : "FAIL");
    td_tensor_release(&c.x);
    td_params_destroy(p);
    return res.pass ? 0 : 1;
}
#endif
