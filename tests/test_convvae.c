/* The convolutional VAE in float32, on 300 synthetic 8x8 images: training
 * lowers the loss, a training step allocates nothing after the first
 * epoch (the arena), and -ELBO >= -IW(K=5) >= -IW(K=50), the K = 1
 * estimate agreeing with the ELBO evaluation; its ReLUs fused into the
 * convolutions give the bits of td_relu ops; configs it cannot build say
 * why. Its gradients are checked in test_vae_grad; checkpoints, resume and
 * the pictures are the command line's, tested through it in test_cli. */
#include <string.h>

#include "../models/convvae.h"
#include "../nn/data.h"
#include "../nn/optim.h"
#include "check.h"

enum { N = 300, SIDE = 8 };

/* Each image a horizontal or vertical bar over faint noise. */
static void bars(td_tensor *x) {
    td_rng r;
    td_rng_init(&r, 3);
    for (int64_t i = 0; i < N; i++) {
        const int k = (int)(td_rng_u32(&r) % (2 * SIDE));
        for (int p = 0; p < SIDE * SIDE; p++) {
            const int on = k < SIDE ? p / SIDE == k : p % SIDE == k - SIDE;
            x->data[i * SIDE * SIDE + p] = on ? (td_real)0.95 : (td_real)(0.1 * td_rng_double(&r));
        }
    }
}

/* -ELBO per image over x, one z per image. */
static double eval_loss(td_tape *t, const td_vae_core *c, const td_tensor *x, uint64_t seed) {
    td_rng r;
    td_rng_init(&r, seed);
    double s = 0;
    for (int64_t i = 0; i < N; i += 100) {
        const td_tensor xb = td_tensor_rows(x, i, 100);
        td_vae_terms terms;
        td_tape_reset(t);
        td_vae_core_elbo_batch(t, c, &xb, &r, &terms);
        s += terms.loss;
    }
    return s / N;
}

/* The loss and gradients of one batch, with the convolutions' ReLUs fused
 * (as td_convvae_init sets them) or as ops of their own: the same bits. */
static void test_fused_relu(const td_convvae_config *cfg, const td_tensor *x) {
    td_real *grads[2];
    double loss[2];
    int64_t total = 0;
    for (int fused = 1; fused >= 0; fused--) {
        td_params *p = td_params_create();
        td_convvae m;
        CHECK(td_convvae_init(&m, p, cfg) == 0, "init: %s", td_error());
        CHECK(m.conv1.spec.relu && m.conv2.spec.relu && m.deconv1.spec.relu && m.deconv2.spec.relu &&
                  !m.deconv3.spec.relu, "init fuses the ReLU of every convolution but the last");
        m.conv1.spec.relu = m.conv2.spec.relu = m.deconv1.spec.relu = m.deconv2.spec.relu = fused;
        td_rng init, noise;
        td_rng_init(&init, 7);
        td_rng_init(&noise, 8);
        td_params_finalize(p, &init);
        td_tape *t = td_tape_create();
        td_vae_terms terms;
        td_var *l = td_convvae_loss(t, &m, td_const(t, td_tensor_rows(x, 0, 50)), &noise, 1, &terms);
        td_params_zero_grad(p);
        td_backward(t, l);
        loss[fused] = l->value.data[0];
        total = p->total;
        grads[fused] = malloc(sizeof(td_real) * (size_t)total);
        memcpy(grads[fused], p->grads, sizeof(td_real) * (size_t)total);
        td_tape_destroy(t);
        td_params_destroy(p);
    }
    CHECK(loss[0] == loss[1] && memcmp(grads[0], grads[1], sizeof(td_real) * (size_t)total) == 0,
          "fused ReLUs change the loss (%.9g against %.9g) or the gradients", loss[1], loss[0]);
    free(grads[0]);
    free(grads[1]);
}

int main(void) {
    td_tensor x = td_tensor_zeros(TD_SHAPE(N, SIDE * SIDE));
    bars(&x);
    td_convvae_config cfg = td_convvae_defaults();
    cfg.height = cfg.width = SIDE;
    cfg.ch1 = 8, cfg.ch2 = 16, cfg.hidden = 16, cfg.latent = 4;
    td_params *p = td_params_create();
    td_convvae m;
    CHECK(td_convvae_init(&m, p, &cfg) == 0, "init: %s", td_error());
    td_rng init, noise;
    td_rng_init(&init, 7);
    td_rng_init(&noise, 8);
    td_params_finalize(p, &init);
    td_optimizer *opt = td_optimizer_create(p, td_optim_defaults(TD_OPT_ADAM));
    td_tape *t = td_tape_create();
    const td_vae_core core = td_convvae_as_core(&m);

    /* the shapes the bounds rely on */
    td_var *mu, *lv;
    td_convvae_encode(t, &m, td_const(t, td_tensor_rows(&x, 0, 5)), &mu, &lv);
    td_var *img = td_vae_core_sample(t, &core, 3, &noise);
    CHECK(td_dim(mu, 0) == 5 && td_dim(mu, 1) == 4 && td_dim(lv, 1) == 4, "codes [5, 4]");
    CHECK(td_dim(img, 0) == 3 && td_dim(img, 1) == SIDE * SIDE, "samples [3, %d]", SIDE * SIDE);
    test_fused_relu(&cfg, &x);

    const double before = eval_loss(t, &core, &x, 99);
    double first = 0, last = 0;
    int64_t allocs_after_first = 0;
    for (int e = 0; e < 6; e++) {
        const int64_t a0 = td_alloc_count();
        double s = 0;
        for (int64_t i = 0; i < N; i += 50) {
            td_tape_reset(t);
            td_vae_terms terms;
            td_var *loss = td_convvae_loss(t, &m, td_const(t, td_tensor_rows(&x, i, 50)), &noise, 1, &terms);
            td_params_zero_grad(p);
            td_backward(t, loss);
            td_optimizer_step(opt, 3e-3);
            s += terms.loss / N;
        }
        if (e) allocs_after_first += td_alloc_count() - a0;
        first = e ? first : s, last = s;
    }
    const double after = eval_loss(t, &core, &x, 99);
    printf("loss per image: before %.2f, first epoch %.2f, last %.2f, after %.2f\n", before, first, last, after);
    CHECK(allocs_after_first == 0, "training steps after the first epoch allocated %lld times",
          (long long)allocs_after_first);
    CHECK(after < 0.75 * before && last < first, "training did not lower the loss: %.2f -> %.2f", before, after);

    /* the bounds, averaged over repetitions */
    double *nll = td_alloc(sizeof(double) * N), mean[3] = {0, 0, 0};
    const int64_t ks[3] = {1, 5, 50};
    const int reps[3] = {10, 4, 1};
    for (int k = 0; k < 3; k++)
        for (int rep = 0; rep < reps[k]; rep++) {
            td_vae_core_iw_nll(t, &core, &x, ks[k], &noise, nll);
            for (int64_t i = 0; i < N; i++) mean[k] += nll[i] / (double)(N * reps[k]);
        }
    const double elbo = eval_loss(t, &core, &x, 5);
    printf("-ELBO %.3f (eval %.3f), -IW5 %.3f, -IW50 %.3f\n", mean[0], elbo, mean[1], mean[2]);
    CHECK_CLOSE(mean[0], elbo, 0.5, 0.005);
    CHECK(mean[0] > mean[1] && mean[1] > mean[2], "bounds out of order: %.3f %.3f %.3f", mean[0], mean[1], mean[2]);

    td_free(nll);

    td_params *q = td_params_create();
    td_convvae bad;
    td_convvae_config c = cfg;
    c.width = 6;
    CHECK(td_convvae_init(&bad, q, &c) < 0 && strstr(td_error(), "multiples of 4"), "6 wide: %s", td_error());
    c = cfg;
    c.ch1 = 0;
    CHECK(td_convvae_init(&bad, q, &c) < 0 && strstr(td_error(), "bad config"), "no channels: %s", td_error());
    td_params_destroy(q);
    td_tape_destroy(t);
    td_optimizer_destroy(opt);
    td_params_destroy(p);
    td_tensor_release(&x);
    return check_done("convvae");
}
