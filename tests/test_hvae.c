/* The two-stochastic-layer VAE (models/hvae.c) in float32, on its own
 * synthetic data: a short training run lowers the loss, the bounds keep
 * their order (-ELBO >= -log p estimated with K = 5, 50, 5000, the last in
 * chunks), and active units are counted right on constructed cases. The
 * command line's hvae (resume bit for bit, eval) is in test_cli.c, its
 * gradients in gradcheck --model hvae. */
#include <string.h>

#include "../models/gauss.h"
#include "../models/hvae.h"
#include "check.h"
#include "harness.h"

typedef struct harness {
    test_harness r;
    td_hvae m;
} harness;

static void harness_init(harness *h, int iw_k, const td_dataset *d) {
    td_hvae_config c = td_hvae_defaults();
    c.input = 64;
    c.hidden1[0] = 32, c.hidden1[1] = 32, c.latent1 = 8;
    c.hidden2[0] = 16, c.hidden2[1] = 16, c.latent2 = 4;
    c.iw_k = iw_k;
    td_params *p = td_params_create();
    int rc = td_hvae_init(&h->m, p, &c);
    TD_ASSERT(rc == 0, "hvae init: %s", td_error());
    test_harness_init(&h->r, p, d, 5, TD_BINARIZE_DYNAMIC);
}

static td_var *hvae_loss(void *m, td_tape *t, td_var *x, td_rng *rng, double *value) {
    td_hvae_terms terms;
    td_var *loss = td_hvae_loss(t, m, x, rng, &terms);
    CHECK(fabs(terms.recon + terms.kl - terms.loss) < 1e-3 * fabs(terms.loss), "recon + kl = loss");
    *value = terms.loss;
    return loss;
}

static double train_epoch(harness *h) { return test_harness_epoch(&h->r, hvae_loss, &h->m); }

static double mean(const double *v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return s / (double)n;
}

static void test_training_and_bounds(const td_dataset *d, const td_dataset *test) {
    for (int iw = 0; iw <= 5; iw += 5) {
        harness h;
        harness_init(&h, iw, d);
        const double first = train_epoch(&h);
        double last = first;
        for (int e = 1; e < 6; e++) last = train_epoch(&h);
        printf("hvae %s: loss per image %.2f after 1 epoch, %.2f after 6\n", iw ? "IWAE k=5" : "ELBO", first, last);
        CHECK(isfinite(last) && last < first - 5, "%s: the loss falls (%.3f -> %.3f)", iw ? "iwae" : "elbo",
              first, last);
        if (iw) {
            test_harness_free(&h.r);
            continue;
        }
        /* -ELBO (averaged over 20 draws) >= IW(5) >= IW(50) >= IW(5000), each in expectation */
        td_tensor x = td_tensor_zeros(TD_SHAPE(test->n, 64));
        td_dataset_rows(test, 0, test->n, x.data);
        td_rng r;
        td_rng_init(&r, 9);
        double elbo = 0;
        for (int rep = 0; rep < 20; rep++) {
            td_hvae_terms t;
            td_tape_reset(h.r.t);
            td_hvae_elbo_batch(h.r.t, &h.m, &x, &r, &t);
            elbo += t.loss / (double)test->n / 20;
        }
        double *nll = td_alloc(sizeof(double) * (size_t)test->n), iwk[3];
        const int64_t ks[3] = {5, 50, 5000};
        for (int k = 0; k < 3; k++) {
            td_hvae_iw_nll(h.r.t, &h.m, &x, ks[k], &r, nll);
            iwk[k] = mean(nll, test->n);
        }
        printf("hvae bounds on %lld images: -ELBO %.3f, IW K=5 %.3f, K=50 %.3f, K=5000 %.3f\n",
               (long long)test->n, elbo, iwk[0], iwk[1], iwk[2]);
        CHECK(isfinite(iwk[2]) && iwk[2] > 0, "IW(5000) finite: %g", iwk[2]);
        CHECK(iwk[0] <= elbo + 0.1 && iwk[1] <= iwk[0] + 0.1 && iwk[2] <= iwk[1] + 0.1,
              "the bounds tighten with K: %.3f %.3f %.3f %.3f", elbo, iwk[0], iwk[1], iwk[2]);
        CHECK(elbo > iwk[2], "the ELBO is looser than IW(5000): %.3f vs %.3f", elbo, iwk[2]);
        /* a single image, K above the chunk size: the same estimate within noise */
        td_tensor one = td_tensor_rows(&x, 0, 1);
        double a, b;
        td_hvae_iw_nll(h.r.t, &h.m, &one, 8000, &r, &a);
        td_hvae_iw_nll(h.r.t, &h.m, &one, 8000, &r, &b);
        CHECK(isfinite(a) && fabs(a - b) < 0.5, "K = 8000 in chunks, twice: %.4f %.4f", a, b);
        td_free(nll);
        td_tensor_release(&x);
        test_harness_free(&h.r);
    }
}

static void test_active_units(const td_dataset *test) {
    /* columns with variances 0.0225, 0.0025, 0 and 1 (ddof 0): two above 0.01 */
    const td_real means[4 * 4] = {0, 0, 5, -1, (td_real)0.3, (td_real)0.1, 5, 1,
                                  0, 0, 5, -1, (td_real)0.3, (td_real)0.1, 5, 1};
    CHECK(td_active_units(means, 4, 4, 0.01) == 2, "active units of a constructed set");
    CHECK(td_active_units(means, 4, 4, 0.03) == 1, "a higher threshold");
    CHECK(td_active_units(means, 0, 4, 0.01) == 0, "no images, no active units");

    /* the hvae: means that ignore x are inactive; one unit that reads x is active */
    harness h;
    harness_init(&h, 0, test);
    td_tensor x = td_tensor_zeros(TD_SHAPE(test->n, 64));
    td_dataset_rows(test, 0, test->n, x.data);
    td_rng r;
    td_rng_init(&r, 3);
    int64_t a1, a2;
    td_hvae_active_units(h.r.t, &h.m, &x, &r, &a1, &a2);
    CHECK(a1 >= 0 && a1 <= 8 && a2 >= 0 && a2 <= 4, "counts in range: %lld %lld", (long long)a1, (long long)a2);
    td_tensor_fill(&h.m.q1_mu.w->value, 0);
    td_tensor_fill(&h.m.q2_mu.w->value, 0);
    td_hvae_active_units(h.r.t, &h.m, &x, &r, &a1, &a2);
    CHECK(a1 == 0 && a2 == 0, "constant means: %lld, %lld active", (long long)a1, (long long)a2);
    /* unit 0 of z1 = 3 * (sum of the hidden units): varies with the bar */
    for (int64_t j = 0; j < h.m.q1_mu.in; j++) h.m.q1_mu.w->value.data[j] = 3;
    h.m.q2_mu.w->value.data[0] = 10; /* z2 unit 0 reads z1 unit 0 (a sample of it) */
    td_hvae_active_units(h.r.t, &h.m, &x, &r, &a1, &a2);
    CHECK(a1 == 1 && a2 == 1, "one unit reading x per layer: %lld, %lld active", (long long)a1, (long long)a2);
    td_tensor_release(&x);
    test_harness_free(&h.r);
}

/* The density is normalized: over all 16 binary images of 4 pixels, the
 * importance-sampled p(x) (unbiased for each x) sums to 1. A wrong constant
 * in any of the five log densities would shift every estimate alike, which
 * the order of the bounds cannot see; this sees it. */
static void test_normalized(void) {
    td_hvae_config c = td_hvae_defaults();
    c.input = 4;
    c.n_hidden1 = c.n_hidden2 = 1;
    c.hidden1[0] = 5, c.hidden2[0] = 4, c.latent1 = 3, c.latent2 = 2;
    td_params *p = td_params_create();
    td_hvae m;
    int rc = td_hvae_init(&m, p, &c);
    TD_ASSERT(rc == 0, "hvae init: %s", td_error());
    td_rng r;
    td_rng_init(&r, 17);
    td_params_finalize(p, &r);
    td_tensor x = td_tensor_zeros(TD_SHAPE(16, 4));
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 4; j++) x.data[i * 4 + j] = (td_real)((i >> j) & 1);
    double nll[16], total = 0;
    td_tape *t = td_tape_create();
    td_hvae_iw_nll(t, &m, &x, 20000, &r, nll);
    for (int i = 0; i < 16; i++) total += exp(-nll[i]);
    printf("hvae: sum over the 16 images of 4 pixels of p(x), K = 20000: %.5f\n", total);
    CHECK(fabs(total - 1) < 0.02, "sum_x p(x) = %.5f", total);
    td_tape_destroy(t);
    td_tensor_release(&x);
    td_params_destroy(p);
}

static void test_bad_config(void) {
    td_params *p = td_params_create();
    td_hvae m;
    td_hvae_config c = td_hvae_defaults();
    c.latent2 = 0;
    CHECK(td_hvae_init(&m, p, &c) == -1 && strstr(td_error(), "latents"), "latent2 0 refused: %s", td_error());
    c = td_hvae_defaults();
    c.n_hidden2 = 0;
    CHECK(td_hvae_init(&m, p, &c) == -1 && strstr(td_error(), "hidden2"), "no hidden2 refused: %s", td_error());
    td_params_destroy(p);
}

int main(void) {
    td_dataset train, test;
    test_bars(&train, 1000, 3);
    test_bars(&test, 100, 4);
    test_bad_config();
    test_normalized();
    test_active_units(&test);
    test_training_and_bounds(&train, &test);
    td_dataset_release(&train);
    td_dataset_release(&test);
    return check_done("hvae");
}
