/* The autoencoder family: each test would fail if the model's defining idea
 * were missing.
 *   ae   linear + MSE finds the top principal subspace (Baldi & Hornik)
 *   dae  trained on masked inputs, it restores clean images better than a
 *        plain AE of the same size and budget
 *   sae  the KL penalty pulls mean activations to rho; a larger L1 weight
 *        gives smaller, sparser codes; the KL penalty and its gradient stay
 *        finite when the codes saturate at exactly 0 or 1
 * plus config text round trips. The linear algebra the checks need (a
 * Jacobi eigen-solver, Gram-Schmidt) is written here, in double, so it is
 * independent of the library. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "models/ae.h"
#include "models/dae.h"
#include "models/sae.h"
#include "nn/data.h"
#include "nn/optim.h"

/* ---- small dense linear algebra (double, row-major) --------------------------- */

/* Cyclic Jacobi on the symmetric n x n matrix a (destroyed): eigenvalues in
 * val, eigenvectors in the columns of vec, sorted by decreasing eigenvalue. */
static void jacobi_eigen(int n, double *a, double *val, double *vec) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) vec[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
        if (off < 1e-26) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                if (fabs(a[p * n + q]) < 1e-300) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q]);
                double tt = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(tt * tt + 1), s = tt * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = vec[k * n + p], vkq = vec[k * n + q];
                    vec[k * n + p] = c * vkp - s * vkq;
                    vec[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) val[i] = a[i * n + i];
    for (int i = 0; i < n; i++) { /* selection sort, descending */
        int best = i;
        for (int j = i + 1; j < n; j++) if (val[j] > val[best]) best = j;
        double tv = val[i]; val[i] = val[best]; val[best] = tv;
        for (int k = 0; k < n; k++) {
            double tx = vec[k * n + i]; vec[k * n + i] = vec[k * n + best]; vec[k * n + best] = tx;
        }
    }
}

/* Orthonormalize the k columns of the n x k matrix m in place (twice-run
 * modified Gram-Schmidt, for accuracy). */
static void orthonormalize(int n, int k, double *m) {
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < k; j++) {
            for (int i = 0; i < j; i++) {
                double d = 0;
                for (int r = 0; r < n; r++) d += m[r * k + i] * m[r * k + j];
                for (int r = 0; r < n; r++) m[r * k + j] -= d * m[r * k + i];
            }
            double nrm = 0;
            for (int r = 0; r < n; r++) nrm += m[r * k + j] * m[r * k + j];
            nrm = sqrt(nrm);
            for (int r = 0; r < n; r++) m[r * k + j] /= nrm;
        }
}

/* Principal angles (degrees, largest first) between the column spaces of
 * the orthonormal n x k matrices a and b: acos of the singular values of
 * a^T b, i.e. of the square roots of the eigenvalues of (a^T b)^T (a^T b). */
static void principal_angles(int n, int k, const double *a, const double *b, double *deg) {
    double m[16], s[16], val[4], vec[16];
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double d = 0;
            for (int r = 0; r < n; r++) d += a[r * k + i] * b[r * k + j];
            m[i * k + j] = d;
        }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double d = 0;
            for (int r = 0; r < k; r++) d += m[r * k + i] * m[r * k + j];
            s[i * k + j] = d;
        }
    jacobi_eigen(k, s, val, vec);
    for (int i = 0; i < k; i++) {
        double c = sqrt(fmax(0, fmin(1, val[k - 1 - i])));
        deg[i] = acos(c) * 180 / M_PI;
    }
}

/* ---- training -------------------------------------------------------------------- */

typedef td_var *(*loss_fn)(td_tape *t, const void *model, td_var *x, td_rng *rng);

static td_var *ae_loss_fn(td_tape *t, const void *m, td_var *x, td_rng *rng) {
    (void)rng;
    return td_ae_loss(t, m, x, NULL);
}
static td_var *dae_loss_fn(td_tape *t, const void *m, td_var *x, td_rng *rng) {
    return td_dae_loss(t, m, x, rng, NULL, NULL);
}
static td_var *sae_loss_fn(td_tape *t, const void *m, td_var *x, td_rng *rng) {
    (void)rng;
    return td_sae_loss(t, m, x, NULL);
}

/* Mini-batch Adam over the rows of x; lr decays by `decay` per epoch. */
static void train(const void *model, loss_fn fn, td_params *p, td_dataset *d, int64_t batch,
                  int epochs, double lr, double decay, uint64_t seed) {
    td_optim_config oc = td_optim_defaults(TD_OPT_ADAM);
    td_optimizer *opt = td_optimizer_create(p, oc);
    td_tape *t = td_tape_create();
    td_rng order, noise;
    td_rng_init(&order, seed);
    td_rng_init(&noise, seed + 1);
    td_batcher b;
    td_batcher_init(&b, d, batch, 1, TD_BINARIZE_NONE, &order, NULL);
    for (int e = 0; e < epochs; e++, lr *= decay) {
        td_batcher_start(&b);
        td_tensor xb;
        while (td_batcher_next(&b, &xb) > 0) {
            td_tape_reset(t);
            td_params_zero_grad(p);
            td_var *loss = fn(t, model, td_const(t, xb), &noise);
            td_backward(t, loss);
            td_optimizer_step(opt, lr);
        }
    }
    td_batcher_release(&b);
    td_tape_destroy(t);
    td_optimizer_destroy(opt);
}

/* ---- ae: PCA in disguise ---------------------------------------------------------- */

enum { PCA_N = 2000, PCA_D = 20, PCA_K = 3 };

static void test_ae_pca(void) {
    /* Eigenvalues 9, 6, 4 | then 1.0 down to 0.2: distinct, with a clear gap. */
    double lam[PCA_D];
    lam[0] = 9, lam[1] = 6, lam[2] = 4;
    for (int i = PCA_K; i < PCA_D; i++) lam[i] = 1.0 - 0.8 * (i - PCA_K) / (PCA_D - PCA_K - 1);
    td_rng rng;
    td_rng_init(&rng, 42);
    /* A random orthonormal basis: Gram-Schmidt on Gaussian columns. */
    static double basis[PCA_D * PCA_D];
    for (int i = 0; i < PCA_D * PCA_D; i++) basis[i] = td_rng_double(&rng) - 0.5;
    orthonormalize(PCA_D, PCA_D, basis);
    /* x = basis * diag(sqrt(lam)) * z, then centred exactly. */
    static td_real x[PCA_N * PCA_D];
    td_real z[PCA_D];
    double mean[PCA_D] = {0};
    for (int r = 0; r < PCA_N; r++) {
        td_rng_normal(&rng, z, PCA_D, 0, 1);
        for (int i = 0; i < PCA_D; i++) {
            double v = 0;
            for (int j = 0; j < PCA_D; j++) v += basis[i * PCA_D + j] * sqrt(lam[j]) * z[j];
            x[r * PCA_D + i] = (td_real)v;
            mean[i] += v / PCA_N;
        }
    }
    for (int r = 0; r < PCA_N; r++)
        for (int i = 0; i < PCA_D; i++) x[r * PCA_D + i] -= (td_real)mean[i];

    /* The reference: eigen-decomposition of the sample covariance (of the
     * float data the model sees, divided by n like the per-image loss). */
    static double cov[PCA_D * PCA_D], val[PCA_D], vec[PCA_D * PCA_D];
    for (int i = 0; i < PCA_D; i++)
        for (int j = 0; j < PCA_D; j++) {
            double s = 0;
            for (int r = 0; r < PCA_N; r++) s += (double)x[r * PCA_D + i] * x[r * PCA_D + j];
            cov[i * PCA_D + j] = s / PCA_N;
        }
    jacobi_eigen(PCA_D, cov, val, vec);
    double discarded = 0;
    for (int i = PCA_K; i < PCA_D; i++) discarded += val[i];
    double top[PCA_D * PCA_K];
    for (int i = 0; i < PCA_D; i++)
        for (int j = 0; j < PCA_K; j++) top[i * PCA_K + j] = vec[i * PCA_D + j];

    /* The model: 20 -> 3 -> 20, all linear, MSE. */
    td_ae_config c = td_ae_defaults();
    c.input = PCA_D;
    c.n_hidden = 0;
    c.act = TD_ACT_NONE;
    c.code = PCA_K;
    c.code_act = TD_ACT_NONE;
    c.recon = TD_RECON_MSE;
    td_params *p = td_params_create();
    td_ae m;
    CHECK(td_ae_init(&m, p, &c) == 0, "%s", td_error());
    td_rng init;
    td_rng_init(&init, 7);
    td_params_finalize(p, &init);
    td_dataset d;
    td_dataset_from(&d, PCA_N, 1, PCA_D, x, NULL);
    /* Adam with a decaying rate: fast early, then settles into the optimum
     * (a constant rate leaves mini-batch jitter in the error). */
    train(&m, ae_loss_fn, p, &d, 100, 60, 0.02, 0.92, 3);

    td_tape *t = td_tape_create();
    double err = td_ae_recon_error(t, &m, &(td_tensor){.data = x, .shape = TD_SHAPE(PCA_N, PCA_D),
                                                       .size = PCA_N * PCA_D}, 500);
    td_tape_destroy(t);
    /* The decoder's weight is [out = 20, in = 3]: its columns. */
    double w[PCA_D * PCA_K], deg[PCA_K];
    for (int i = 0; i < PCA_D * PCA_K; i++) w[i] = m.dec.layers[0].w->value.data[i];
    orthonormalize(PCA_D, PCA_K, w);
    principal_angles(PCA_D, PCA_K, w, top, deg);
    printf("ae/pca: principal angles %.3f %.3f %.3f deg; recon %.5f vs discarded eigenvalues "
           "%.5f (ratio %.4f)\n", deg[0], deg[1], deg[2], err, discarded, err / discarded);
    for (int i = 0; i < PCA_K; i++) CHECK(deg[i] < 2, "principal angle %d is %.3f degrees", i, deg[i]);
    CHECK(fabs(err / discarded - 1) < 0.02, "recon %.5f vs discarded %.5f", err, discarded);
    td_dataset_release(&d);
    td_params_destroy(p);
}

/* ---- dae: denoising beats plain reconstruction on corrupted inputs ------------------ */

/* Stand-in images when MNIST is absent: 28x28 "digits": ten classes, each
 * two or three thick strokes, drawn with per-image jitter of the endpoints
 * and the thickness, in [0, 1]. Like MNIST, few degrees of freedom per
 * image, so masked pixels can be inferred from the rest. */
static void synth_strokes(td_rng *r, td_real *x, int64_t n) {
    double ends[10][3][4];
    int count[10];
    for (int c = 0; c < 10; c++) {
        count[c] = 2 + (int)(td_rng_u32(r) % 2);
        for (int s = 0; s < 3; s++)
            for (int k = 0; k < 4; k++) ends[c][s][k] = 5 + 18 * td_rng_double(r);
    }
    for (int64_t k = 0; k < n; k++) {
        td_real *im = x + k * 784;
        memset(im, 0, sizeof(td_real) * 784);
        const int c = (int)(td_rng_u32(r) % 10);
        const double width = 1.2 + 0.8 * td_rng_double(r);
        for (int s = 0; s < count[c]; s++) {
            double e[4];
            for (int q = 0; q < 4; q++) e[q] = ends[c][s][q] + 3 * (td_rng_double(r) - 0.5);
            const double dx = e[2] - e[0], dy = e[3] - e[1], l2 = dx * dx + dy * dy + 1e-9;
            for (int i = 0; i < 28; i++)
                for (int j = 0; j < 28; j++) { /* by the distance to the segment */
                    double u = fmax(0, fmin(1, ((j - e[0]) * dx + (i - e[1]) * dy) / l2));
                    double ex = j - e[0] - u * dx, ey = i - e[1] - u * dy;
                    double v = fmax(0, fmin(1, width - sqrt(ex * ex + ey * ey)));
                    if (v > im[i * 28 + j]) im[i * 28 + j] = (td_real)v;
                }
        }
    }
}

static void test_dae(void) {
    enum { N_TRAIN = 3000, N_TEST = 1000 };
    td_dataset train_set, test_set;
    const char *dir = test_mnist_dir();
    int real = dir && td_dataset_load(dir, "train", N_TRAIN, &train_set) == 0;
    if (real && td_dataset_load(dir, "t10k", N_TEST, &test_set) != 0) {
        td_dataset_release(&train_set);
        real = 0;
    }
    if (!real) {
        if (dir) printf("dae: could not read MNIST (%s)\n", td_error());
        printf("dae: using synthetic stroke images instead of MNIST\n");
        td_real *buf = td_alloc(sizeof(td_real) * (N_TRAIN + N_TEST) * 784);
        td_rng r;
        td_rng_init(&r, 5);
        synth_strokes(&r, buf, N_TRAIN + N_TEST);
        td_dataset_from(&train_set, N_TRAIN, 28, 28, buf, NULL);
        td_dataset_from(&test_set, N_TEST, 28, 28, buf + N_TRAIN * 784, NULL);
        td_free(buf);
    }

    /* The same network and budget for both; only the inputs differ. */
    td_dae_config dc = td_dae_defaults();
    dc.ae.input = 784;
    dc.ae.n_hidden = 1;
    dc.ae.hidden[0] = 128;
    dc.ae.code = 32;
    dc.noise = TD_NOISE_MASK;
    dc.level = 0.7;
    td_rng init;
    td_params *pa = td_params_create(), *pd = td_params_create();
    td_ae ae;
    td_dae dae;
    CHECK(td_ae_init(&ae, pa, &dc.ae) == 0, "%s", td_error());
    CHECK(td_dae_init(&dae, pd, &dc) == 0, "%s", td_error());
    td_rng_init(&init, 11);
    td_params_finalize(pa, &init);
    td_rng_init(&init, 11);
    td_params_finalize(pd, &init);
    train(&ae, ae_loss_fn, pa, &train_set, 50, 10, 2e-3, 1, 21);
    train(&dae, dae_loss_fn, pd, &train_set, 50, 10, 2e-3, 1, 21);

    /* Score both on the same masked test images: the plain AE's network
     * dressed as a DAE so td_dae_denoise_error corrupts its inputs too. */
    td_dae ae_as_dae = {.cfg = dc, .ae = ae};
    td_tape *t = td_tape_create();
    td_rng noise;
    td_tensor test_x = td_tensor_zeros(TD_SHAPE(N_TEST, 784));
    td_dataset_rows(&test_set, 0, N_TEST, test_x.data);
    td_rng_init(&noise, 99);
    double e_ae = td_dae_denoise_error(t, &ae_as_dae, &test_x, 250, &noise);
    td_rng_init(&noise, 99);
    double e_dae = td_dae_denoise_error(t, &dae, &test_x, 250, &noise);
    double clean_ae = td_ae_recon_error(t, &ae, &test_x, 250);
    td_tensor_release(&test_x);
    printf("dae (%s, masking %.1f): BCE per image of clean targets from masked inputs: "
           "dae %.2f, plain ae %.2f (ratio %.3f); plain ae on clean inputs %.2f\n",
           real ? "MNIST" : "synthetic", dc.level, e_dae, e_ae, e_dae / e_ae, clean_ae);
    CHECK(e_dae < 0.9 * e_ae, "denoising error %.3f is not clearly below the plain AE's %.3f",
          e_dae, e_ae);
    td_tape_destroy(t);
    td_params_destroy(pa);
    td_params_destroy(pd);
    td_dataset_release(&train_set);
    td_dataset_release(&test_set);
}

/* ---- sae ----------------------------------------------------------------------------- */

/* 8x8 images, each the (clipped) sum of two of 16 random bar-and-block
 * patterns: a few causes per input, which a sparse code can pick out. */
enum { SAE_N = 2000, SAE_D = 64 };
static void synth_parts(td_real *x) {
    td_rng r;
    td_rng_init(&r, 8);
    static td_real atoms[16][SAE_D];
    for (int a = 0; a < 16; a++)
        for (int i = 0; i < SAE_D; i++) atoms[a][i] = td_rng_double(&r) < 0.2 ? 1 : 0;
    for (int k = 0; k < SAE_N; k++) {
        int a = (int)(td_rng_u32(&r) % 16), b = (int)(td_rng_u32(&r) % 16);
        for (int i = 0; i < SAE_D; i++) {
            td_real v = atoms[a][i] + atoms[b][i];
            x[k * SAE_D + i] = v > 1 ? 1 : v;
        }
    }
}

static void sae_fit(td_sae_config c, const td_real *x, int epochs, td_sae_figures *f) {
    td_params *p = td_params_create();
    td_sae m;
    CHECK(td_sae_init(&m, p, &c) == 0, "%s", td_error());
    td_rng init;
    td_rng_init(&init, 13);
    td_params_finalize(p, &init);
    td_dataset d;
    td_dataset_from(&d, SAE_N, 8, 8, x, NULL);
    train(&m, sae_loss_fn, p, &d, 100, epochs, 1e-2, 0.97, 31);
    td_tape *t = td_tape_create();
    td_tensor xs = td_tensor_zeros(TD_SHAPE(SAE_N, SAE_D));
    td_dataset_rows(&d, 0, SAE_N, xs.data);
    td_sae_eval(t, &m, &xs, 500, f);
    td_tensor_release(&xs);
    td_tape_destroy(t);
    td_dataset_release(&d);
    td_params_destroy(p);
}

static void test_sae(void) {
    static td_real x[SAE_N * SAE_D];
    synth_parts(x);
    /* KL: over-complete sigmoid code (100 units for 64 inputs). */
    td_sae_config c = td_sae_defaults();
    c.ae.input = SAE_D;
    c.ae.n_hidden = 0;
    c.ae.code = 100;
    c.ae.code_act = TD_ACT_SIGMOID;
    c.kind = TD_SPARSE_KL;
    c.rho = 0.05;
    c.weight = 10;
    td_sae_figures kl, free_fig;
    sae_fit(c, x, 100, &kl);
    c.weight = 0; /* the same model without the penalty, for contrast */
    sae_fit(c, x, 100, &free_fig);
    printf("sae/kl (rho %.2f, beta %g, 64 -> 100): mean activation %.4f (units %.4f..%.4f), "
           "recon %.3f; without the penalty %.4f, recon %.3f\n", c.rho, 10.0, kl.mean_act, kl.rho_min,
           kl.rho_max, kl.recon, free_fig.mean_act, free_fig.recon);
    CHECK(fabs(kl.mean_act - c.rho) < 0.15 * c.rho, "mean activation %.4f, target %.3f",
          kl.mean_act, c.rho);
    CHECK(kl.rho_max < 2 * c.rho, "a unit's mean activation is %.4f (target %.3f)", kl.rho_max, c.rho);
    CHECK(fabs(free_fig.mean_act - c.rho) > 3 * fabs(kl.mean_act - c.rho),
          "without the penalty the mean activation %.4f is as close to rho as with it (%.4f)",
          free_fig.mean_act, kl.mean_act);

    /* L1: relu code; a larger lambda gives smaller and sparser codes. */
    c.kind = TD_SPARSE_L1;
    c.ae.code_act = TD_ACT_RELU;
    td_sae_figures small, large;
    c.weight = 1e-3;
    sae_fit(c, x, 30, &small);
    c.weight = 3e-2;
    sae_fit(c, x, 30, &large);
    printf("sae/l1: lambda 1e-3: mean |h| %.4f, near-zero values %.3f, near-zero units %.2f, "
           "recon %.3f; lambda 3e-2: mean |h| %.4f, near-zero values %.3f, near-zero units %.2f, "
           "recon %.3f\n", small.mean_abs, small.near_zero, small.dead_units, small.recon,
           large.mean_abs, large.near_zero, large.dead_units, large.recon);
    CHECK(large.mean_abs < 0.5 * small.mean_abs, "mean |h| %.4f (large) vs %.4f (small)",
          large.mean_abs, small.mean_abs);
    CHECK(large.near_zero > small.near_zero, "near-zero fraction %.3f (large) vs %.3f (small)",
          large.near_zero, small.near_zero);
    CHECK(large.dead_units > small.dead_units, "near-zero units %.3f (large) vs %.3f (small)",
          large.dead_units, small.dead_units);
}

/* The KL penalty when the codes saturate: every unit's mean activation is
 * exactly 0 (or exactly 1), as a float sigmoid code gives. log(q) or
 * log(1 - q) would be -Inf; the clamp of q to [1e-6, 1 - 1e-6] keeps the
 * penalty finite (the KL at the clamped q) and its gradient finite (0: the
 * clamped q does not move). Directly on the codes, and through a sigmoid of
 * +-200 (which rounds to exactly 0 and 1 in float). */
static void test_sae_kl_saturated(void) {
    enum { ROWS = 4, UNITS = 6 };
    const double rho = 0.05;
    td_tape *t = td_tape_create();
    for (int through_sigmoid = 0; through_sigmoid < 2; through_sigmoid++)
        for (int one = 0; one < 2; one++) {
            const char *what = one ? "all 1" : "all 0";
            td_tape_reset(t);
            td_tape_set_check_finite(t, 1); /* a NaN/Inf anywhere fails with the op's name */
            td_var *x = td_param_create("codes", TD_SHAPE(ROWS, UNITS));
            const td_real v = through_sigmoid ? (one ? 200 : -200) : (td_real)one;
            for (int64_t i = 0; i < x->value.size; i++) x->value.data[i] = v;
            td_var *h = through_sigmoid ? td_sigmoid(t, x) : x;
            for (int64_t i = 0; i < h->value.size; i++)
                CHECK(h->value.data[i] == (td_real)one, "codes %s: h = %.9g", what, (double)h->value.data[i]);
            td_var *pen = td_sparsity_kl(t, h, rho);
            const double q = one ? 1 - TD_SAE_Q_MIN : TD_SAE_Q_MIN;
            const double want = UNITS * (rho * log(rho / q) + (1 - rho) * log((1 - rho) / (1 - q)));
            const double got = td_item(pen);
            CHECK(isfinite(got), "codes %s%s: KL penalty %g", what, through_sigmoid ? " (sigmoid)" : "", got);
            CHECK(fabs(got - want) <= 1e-2 * want, "codes %s: KL penalty %.6g, want %.6g (the KL at q = %g)",
                  what, got, want, q);
            const int rc = td_backward(t, pen);
            const char *err = td_tape_finite_error(t);
            CHECK(rc == 0 && !err, "codes %s%s: backward: %s", what, through_sigmoid ? " (sigmoid)" : "",
                  err ? err : td_error());
            int64_t bad = 0;
            for (int64_t i = 0; i < x->grad.size; i++) bad += !isfinite(x->grad.data[i]) || x->grad.data[i] != 0;
            CHECK(bad == 0, "codes %s%s: %lld of %lld gradient values are not 0 (e.g. %g)", what,
                  through_sigmoid ? " (sigmoid)" : "", (long long)bad, (long long)x->grad.size,
                  (double)x->grad.data[0]);
            td_tape_set_check_finite(t, 0);
            td_param_destroy(x);
        }
    printf("sae/kl with saturated codes: penalty and gradient finite (q clamped to [%g, 1 - %g])\n",
           TD_SAE_Q_MIN, TD_SAE_Q_MIN);
    td_tape_destroy(t);
}

/* The corruptions do what they say, at the level asked for. */
static void test_corruptions(void) {
    enum { N = 20000 };
    td_tape *t = td_tape_create();
    td_rng rng;
    td_rng_init(&rng, 4);
    td_var *x = td_const_new(t, TD_SHAPE(N / 100, 100));
    for (int i = 0; i < N; i++) x->value.data[i] = (td_real)(0.25 + 0.5 * (i % 2)); /* 0.25, 0.75 */
    td_var *m = td_dae_corrupt(t, TD_NOISE_MASK, 0.3, x, &rng);
    td_var *g = td_dae_corrupt(t, TD_NOISE_GAUSSIAN, 0.2, x, &rng);
    td_var *sp = td_dae_corrupt(t, TD_NOISE_SALT_PEPPER, 0.4, x, &rng);
    double zeros = 0, kept = 0, var = 0, salt = 0, pepper = 0, sp_kept = 0;
    for (int i = 0; i < N; i++) {
        const double v = x->value.data[i], mv = m->value.data[i], s = sp->value.data[i];
        zeros += mv == 0;
        kept += mv == v;
        var += (g->value.data[i] - v) * (g->value.data[i] - v) / N;
        salt += s == 1;
        pepper += s == 0;
        sp_kept += s == v;
    }
    printf("corruptions: masking 0.3 zeroed %.3f; gaussian 0.2 sd %.3f; salt-and-pepper 0.4: "
           "%.3f ones, %.3f zeros\n", zeros / N, sqrt(var), salt / N, pepper / N);
    CHECK(fabs(zeros / N - 0.3) < 0.02 && zeros + kept == N, "masking: %g zeroed, %g kept", zeros, kept);
    CHECK(fabs(sqrt(var) - 0.2) < 0.01, "gaussian: sd %.4f", sqrt(var));
    CHECK(fabs(salt / N - 0.2) < 0.02 && fabs(pepper / N - 0.2) < 0.02 && salt + pepper + sp_kept == N,
          "salt-and-pepper: %g ones, %g zeros, %g kept", salt, pepper, sp_kept);
    td_tape_destroy(t);
}

/* ---- refusals ------------------------------------------------------------------------ */

static void test_refusals(void) {
    td_params *p = td_params_create();
    td_sae m;
    td_sae_config s = td_sae_defaults();
    s.ae.code_act = TD_ACT_RELU; /* KL needs a sigmoid code */
    CHECK(td_sae_init(&m, p, &s) != 0 && strstr(td_error(), "sigmoid"), "%s", td_error());
    td_params_destroy(p);
}

/* Wall time of each part, printed (never asserted: machines differ). */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void) {
    void (*parts[])(void) = {test_refusals, test_corruptions, test_sae_kl_saturated, test_ae_pca, test_sae,
                             test_dae};
    const char *names[] = {"refusals", "corruptions", "sae/kl saturated", "ae/pca", "sae", "dae"};
    for (int i = 0; i < 6; i++) {
        double t0 = now();
        parts[i]();
        printf("  (%s: %.1f s)\n", names[i], now() - t0);
    }
    return check_done("ae");
}
