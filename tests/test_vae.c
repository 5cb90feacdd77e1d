/* The VAE in float32: the reparameterized sample, the KL against Monte
 * Carlo, ELBO <= IW(K=5) <= IW(K=50), a short training run, checkpoints
 * (round trip, resume = uninterrupted bit for bit, corrupt/truncated files). */
#include <string.h>
#include <sys/stat.h>

#include "../models/vae.h"
#include "../nn/checkpoint.h"
#include "../nn/data.h"
#include "../nn/loss.h"
#include "check.h"
#include "harness.h"

static char tmpdir[1024];

/* ---- sampling and the KL ------------------------------------------------------- */

static void test_reparam_and_kl(void) {
    td_tape *t = td_tape_create();
    td_rng r;
    td_rng_init(&r, 11);
    const int64_t n = 200000;
    const double mu_v[2] = {0.5, -1.0}, lv_v[2] = {log(4.0), log(0.25)};
    td_var *mu = td_const_new(t, TD_SHAPE(1, 2)), *lv = td_const_new(t, TD_SHAPE(1, 2));
    for (int j = 0; j < 2; j++) mu->value.data[j] = (td_real)mu_v[j], lv->value.data[j] = (td_real)lv_v[j];
    td_var *z = td_reparam(t, mu, lv, td_randn(t, &r, TD_SHAPE(n, 1, 2)));
    for (int j = 0; j < 2; j++) {
        double s = 0, ss = 0;
        for (int64_t i = 0; i < n; i++) s += z->value.data[2 * i + j];
        const double m = s / (double)n;
        for (int64_t i = 0; i < n; i++) ss += (z->value.data[2 * i + j] - m) * (z->value.data[2 * i + j] - m);
        const double var = ss / (double)(n - 1), sd = exp(lv_v[j] / 2);
        /* 5 standard errors: the mean's is sd/sqrt(n), the variance's ~ var*sqrt(2/n) */
        CHECK_CLOSE(m, mu_v[j], 5 * sd / sqrt((double)n), 0);
        CHECK_CLOSE(var, sd * sd, 5 * sd * sd * sqrt(2.0 / (double)n), 0);
    }
    /* KL(q || p) closed form against the Monte-Carlo mean of log q(z) - log p(z) */
    td_var *zz = td_reshape(t, z, TD_SHAPE(n, 2));
    td_var *lq = td_log_normal_rows(t, zz, mu, lv), *lp = td_log_std_normal_rows(t, zz);
    double mc = 0, mc2 = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = lq->value.data[i] - lp->value.data[i];
        mc += d, mc2 += d * d;
    }
    mc /= (double)n;
    const double se = sqrt((mc2 / (double)n - mc * mc) / (double)n);
    td_var *kl = td_kl_std_normal_rows(t, mu, lv);
    CHECK_CLOSE(td_item(kl), mc, 5 * se, 0);
    td_tape_destroy(t);
}

/* ---- data: real MNIST when present, else synthetic bars ------------------------- */

static int load_data(td_dataset *d) {
    const char *dir = test_mnist_dir();
    if (dir && td_dataset_load(dir, "train", 600, d) == 0) {
        printf("training on the first 600 real MNIST images from %s\n", dir);
        return 1;
    }
    printf("training on 600 synthetic 8x8 images (real MNIST absent)\n");
    test_bars(d, 600, 3);
    return 0;
}

/* ---- a small training harness ------------------------------------------------- */

typedef struct harness {
    test_harness r;
    td_vae m;
} harness;

static void harness_init(harness *h, const td_vae_config *cfg, const td_dataset *d, uint64_t seed,
                         td_binarize bin) {
    td_params *p = td_params_create();
    int rc = td_vae_init(&h->m, p, cfg);
    TD_ASSERT(rc == 0, "vae init: %s", td_error());
    test_harness_init(&h->r, p, d, seed, bin);
}

static void harness_free(harness *h) { test_harness_free(&h->r); }

static td_var *vae_loss(void *m, td_tape *t, td_var *x, td_rng *rng, double *value) {
    td_vae_terms terms;
    td_var *loss = td_vae_loss(t, m, x, rng, 1, &terms);
    *value = terms.loss;
    return loss;
}

/* One epoch; returns the mean loss per image. */
static double train_epoch(harness *h) { return test_harness_epoch(&h->r, vae_loss, &h->m); }

static double eval_loss(harness *h, const td_dataset *d, uint64_t seed) {
    td_rng r;
    td_rng_init(&r, seed);
    double s = 0;
    td_real *buf = td_alloc(sizeof(td_real) * (size_t)(100 * d->dim));
    for (int64_t i = 0; i < d->n; i += 100) {
        const int64_t rows = d->n - i < 100 ? d->n - i : 100;
        td_dataset_rows(d, i, rows, buf);
        td_tensor x = td_tensor_wrap(TD_SHAPE(rows, d->dim), buf);
        td_vae_terms terms;
        td_tape_reset(h->r.t);
        td_vae_elbo_batch(h->r.t, &h->m, &x, &r, &terms);
        s += terms.loss;
    }
    td_free(buf);
    return s / (double)d->n;
}

static td_vae_config small_config(int64_t input) {
    td_vae_config c = td_vae_defaults();
    c.input = input;
    c.hidden[0] = 64;
    c.latent = 4;
    return c;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_training_and_bounds(const td_dataset *d) {
    harness h;
    td_vae_config cfg = small_config(d->dim);
    harness_init(&h, &cfg, d, 7, TD_BINARIZE_NONE);
    const double before = eval_loss(&h, d, 99);
    double first = 0, last = 0;
    int64_t allocs_after_first = 0; /* a training step allocates nothing after the first */
    for (int e = 0; e < 8; e++) {
        const int64_t a0 = td_alloc_count();
        last = train_epoch(&h);
        if (!e) first = last;
        else allocs_after_first += td_alloc_count() - a0;
    }
    CHECK(allocs_after_first == 0, "training steps after the first epoch allocated %lld times",
          (long long)allocs_after_first);
    const double after = eval_loss(&h, d, 99);
    printf("loss per image: before %.2f, first epoch %.2f, last epoch %.2f, after %.2f\n", before, first,
           last, after);
    CHECK(after < 0.75 * before, "training did not lower the loss clearly: %.2f -> %.2f", before, after);
    CHECK(last < first, "the last epoch (%.2f) is not better than the first (%.2f)", last, first);

    /* ELBO <= IW bound K=5 <= K=50, on the first 200 images, averaged over repetitions. */
    const int64_t n = 200;
    td_tensor x = td_tensor_zeros(TD_SHAPE(n, d->dim));
    td_dataset_rows(d, 0, n, x.data);
    double *nll = td_alloc(sizeof(double) * (size_t)n), mean[3] = {0, 0, 0};
    const int64_t ks[3] = {1, 5, 50};
    const int reps[3] = {20, 8, 2};
    td_rng r;
    td_rng_init(&r, 1234);
    for (int k = 0; k < 3; k++) {
        for (int rep = 0; rep < reps[k]; rep++) {
            td_vae_iw_nll(h.r.t, &h.m, &x, ks[k], &r, nll);
            for (int64_t i = 0; i < n; i++) mean[k] += nll[i] / (double)(n * reps[k]);
        }
    }
    /* the K=1 estimate is the ELBO: it must agree with the ELBO evaluation */
    td_dataset head = *d;
    head.n = n;
    head.owns = 0;
    const double elbo = eval_loss(&h, &head, 5);
    printf("-ELBO %.3f (eval %.3f), -IW5 %.3f, -IW50 %.3f\n", mean[0], elbo, mean[1], mean[2]);
    CHECK_CLOSE(mean[0], elbo, 0.5, 0.005);
    CHECK(mean[0] > mean[1] && mean[1] > mean[2], "bounds out of order: %.3f %.3f %.3f", mean[0], mean[1], mean[2]);
    td_free(nll);

    /* the IWAE training bound with K samples, at the same point, is between the two */
    td_tape_reset(h.r.t);
    td_vae_terms terms;
    h.m.cfg.iw_k = 5;
    double iw_train = 0;
    for (int rep = 0; rep < 8; rep++) {
        td_tape_reset(h.r.t);
        td_vae_loss(h.r.t, &h.m, td_const(h.r.t, x), &r, 1, &terms);
        iw_train += terms.loss / (double)(n * 8);
    }
    h.m.cfg.iw_k = 0;
    CHECK_CLOSE(iw_train, mean[1], 0.5, 0.005);
    td_tensor_release(&x);
    harness_free(&h);
}

static void params_copy(const td_params *p, td_real *out) {
    memcpy(out, p->values, sizeof(td_real) * (size_t)p->total);
}

/* Saves the state the harness needs to resume exactly. */
static int save(const char *path, harness *h, uint64_t epoch) {
    td_ckpt_state s = {.kind = "vae", .config = "test", .params = h->r.p, .optim = h->r.opt,
                       .rng = &h->r.model_rng, .epoch = epoch};
    td_archive *a = td_checkpoint_pack(&s);
    td_rng rngs[2] = {h->r.order, h->r.noise};
    td_checkpoint_put_bytes(a, "rngs", rngs, sizeof rngs);
    return td_checkpoint_write(a, path);
}

static int restore(const char *path, harness *h, uint64_t *epoch) {
    td_checkpoint *c = td_checkpoint_open(path);
    if (!c) return -1;
    td_ckpt_state s = {.kind = "vae", .config = "test", .params = h->r.p, .optim = h->r.opt,
                       .rng = &h->r.model_rng};
    int rc = td_checkpoint_restore(c, &s);
    size_t len = 0;
    const td_rng *rngs = td_checkpoint_get_bytes(c, "rngs", &len);
    if (!rc && rngs && len == 2 * sizeof(td_rng)) {
        h->r.order = rngs[0];
        h->r.noise = rngs[1];
    } else if (!rc) {
        td_set_error("no rngs entry");
        rc = -1;
    }
    *epoch = s.epoch;
    td_checkpoint_close(c);
    return rc;
}

static void test_checkpoints(const td_dataset *d) {
    char path[1200], bad[1300];
    snprintf(path, sizeof path, "%s/vae.tdc", tmpdir);
    td_vae_config cfg = small_config(d->dim);
    /* Dynamic binarization, so the noise generator is part of the state too. */
    harness a, b;
    harness_init(&a, &cfg, d, 21, TD_BINARIZE_DYNAMIC);
    for (int e = 0; e < 3; e++) train_epoch(&a);
    td_real *wa = td_alloc(sizeof(td_real) * (size_t)a.r.p->total);
    params_copy(a.r.p, wa);

    harness_init(&b, &cfg, d, 21, TD_BINARIZE_DYNAMIC);
    train_epoch(&b);
    CHECK(save(path, &b, 1) == 0, "save: %s", td_error());
    harness_free(&b);
    harness_init(&b, &cfg, d, 999, TD_BINARIZE_DYNAMIC); /* different init: the load must overwrite it */
    uint64_t epoch = 0;
    CHECK(restore(path, &b, &epoch) == 0 && epoch == 1, "restore: %s", td_error());
    for (uint64_t e = epoch; e < 3; e++) train_epoch(&b);
    CHECK(memcmp(wa, b.r.p->values, sizeof(td_real) * (size_t)a.r.p->total) == 0,
          "resumed weights differ from the uninterrupted run's");
    CHECK(memcmp(a.r.opt->m, b.r.opt->m, sizeof(td_real) * (size_t)a.r.p->total) == 0, "Adam moments differ");

    /* round trip: the saved model evaluates exactly as the one in memory */
    CHECK(save(path, &a, 3) == 0, "save: %s", td_error());
    harness c;
    harness_init(&c, &cfg, d, 5, TD_BINARIZE_NONE);
    CHECK(restore(path, &c, &epoch) == 0 && epoch == 3, "restore: %s", td_error());
    CHECK(memcmp(wa, c.r.p->values, sizeof(td_real) * (size_t)a.r.p->total) == 0, "round trip changed weights");
    CHECK(eval_loss(&a, d, 3) == eval_loss(&c, d, 3), "round trip changed the loss");
    harness_free(&c);

    /* a model of another shape is refused, naming what differs */
    td_vae_config other = cfg;
    other.latent = 5;
    harness_init(&c, &other, d, 5, TD_BINARIZE_NONE);
    CHECK(restore(path, &c, &epoch) == -1, "a checkpoint of another shape was accepted");
    printf("shape mismatch: %s\n", td_error());
    harness_free(&c);

    /* truncated and corrupted files are refused with the path in the message */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)len);
    CHECK(fread(bytes, 1, (size_t)len, f) == (size_t)len, "read back");
    fclose(f);
    snprintf(bad, sizeof bad, "%s/truncated.tdc", tmpdir);
    f = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)len / 2, f);
    fclose(f);
    CHECK(td_checkpoint_open(bad) == NULL && strstr(td_error(), "truncated.tdc"), "truncated: %s", td_error());
    printf("truncated: %s\n", td_error());
    bytes[len / 2] ^= 0x5A;
    snprintf(bad, sizeof bad, "%s/corrupt.tdc", tmpdir);
    f = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)len, f);
    fclose(f);
    CHECK(td_checkpoint_open(bad) == NULL && strstr(td_error(), "corrupt.tdc"), "corrupt: %s", td_error());
    printf("corrupt: %s\n", td_error());
    free(bytes);

    td_free(wa);
    harness_free(&a);
    harness_free(&b);
}

int main(void) {
    const char *t = getenv("TINYAD_TEST_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_vae_tmp", t ? t : "/tmp");
    mkdir(tmpdir, 0777);
    test_reparam_and_kl();
    td_dataset d;
    load_data(&d);
    test_training_and_bounds(&d);
    test_checkpoints(&d);
    td_dataset_release(&d);
    return check_done("vae");
}
