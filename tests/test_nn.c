/* nn/ in float: parameter sets, init statistics, layers, optimizers against
 * PyTorch's update equations, clipping, schedules, save/load and checkpoints
 * (round trip and refusals). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyad.h"
#include "check.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static char tmp_path[1024];
static const char *tmp_file(const char *name) {
    const char *dir = getenv("TINYAD_TEST_TMP");
    snprintf(tmp_path, sizeof tmp_path, "%s/test_nn_%s", dir && *dir ? dir : "/tmp", name);
    return tmp_path;
}

static void stats(const td_real *x, int64_t n, double *mean, double *var, double *maxabs) {
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        if (fabs(x[i]) > m) m = fabs(x[i]);
    }
    *mean = s / (double)n;
    *var = s2 / (double)n - *mean * *mean;
    *maxabs = m;
}

static void test_params(void) {
    td_params *p = td_params_create();
    td_var *a = td_params_add(p, "a", TD_SHAPE(3, 4), (td_init){TD_INIT_ZEROS, 0, 0});
    td_var *b = td_params_add(p, "b", TD_SHAPE(5), (td_init){TD_INIT_PYTORCH, 4, 5});
    /* more than the initial capacity, to exercise growth */
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "extra%d", i);
        td_params_add(p, name, TD_SHAPE(2), (td_init){TD_INIT_ZEROS, 0, 0});
    }
    td_rng r;
    td_rng_init(&r, 1);
    td_params_finalize(p, &r);
    CHECK(p->total == 12 + 5 + 80, "total %lld", (long long)p->total);
    CHECK(a->value.data == p->values && b->value.data == p->values + 12, "values are one block");
    CHECK(a->grad.data == p->grads && b->grad.data == p->grads + 12, "grads are one block");
    td_var *last = td_params_get(p, "extra39");
    CHECK(last && last->value.data == p->values + p->total - 2, "last parameter ends the block");
    CHECK(td_params_get(p, "b") == b && td_params_get(p, "nope") == NULL, "get by name");
    CHECK(strcmp(b->name, "b") == 0 && b->requires_grad, "name and requires_grad");
    int zero = 1;
    for (int64_t i = 0; i < 12; i++) zero &= a->value.data[i] == 0;
    CHECK(zero, "zeros init");
    for (int64_t i = 0; i < p->total; i++) p->grads[i] = 1;
    td_params_zero_grad(p);
    int gz = 1;
    for (int64_t i = 0; i < p->total; i++) gz &= p->grads[i] == 0;
    CHECK(gz, "zero_grad clears the grad block");
    CHECK(td_params_all_finite(p), "all finite");
    b->grad.data[2] = NAN;
    CHECK(!td_params_all_finite(p), "NaN grad detected");
    b->grad.data[2] = 0;
    b->value.data[1] = INFINITY;
    CHECK(!td_params_all_finite(p), "Inf value detected");
    td_params_destroy(p);
}

static void test_init(void) {
    td_rng r;
    td_rng_init(&r, 42);
    td_params *p = td_params_create();
    td_linear_layer lp, lx, lk;
    td_linear_layer_init(&lp, p, "pt", 100, 500, TD_INIT_PYTORCH);
    td_linear_layer_init(&lx, p, "xa", 100, 300, TD_INIT_XAVIER);
    td_linear_layer_init(&lk, p, "ka", 200, 500, TD_INIT_KAIMING);
    td_params_finalize(p, &r);
    double mean, var, mx;

    /* PyTorch default: U(-1/sqrt(in), 1/sqrt(in)), variance bound^2 / 3 */
    double bound = 0.1;
    stats(lp.w->value.data, lp.w->value.size, &mean, &var, &mx);
    CHECK(mx <= bound && mx > 0.99 * bound, "pytorch w max |w| %g, bound %g", mx, bound);
    CHECK_CLOSE(mean, 0, 2e-3, 0);
    CHECK_CLOSE(var, bound * bound / 3, 0, 0.03);
    stats(lp.b->value.data, lp.b->value.size, &mean, &var, &mx);
    CHECK(mx <= bound && mx > 0.9 * bound, "pytorch bias also from U(+-1/sqrt(in)): max %g", mx);

    /* Xavier: U(-a, a), a = sqrt(6 / (in + out)) */
    bound = sqrt(6.0 / 400);
    stats(lx.w->value.data, lx.w->value.size, &mean, &var, &mx);
    CHECK(mx <= bound && mx > 0.99 * bound, "xavier max |w| %g, bound %g", mx, bound);
    CHECK_CLOSE(var, bound * bound / 3, 0, 0.03);
    stats(lx.b->value.data, lx.b->value.size, &mean, &var, &mx);
    CHECK(mx == 0, "xavier bias is zero");

    /* Kaiming: N(0, 2 / in); 100k draws: the variance is within ~0.5% */
    stats(lk.w->value.data, lk.w->value.size, &mean, &var, &mx);
    CHECK_CLOSE(mean, 0, 2e-3, 0);
    CHECK_CLOSE(var, 2.0 / 200, 0, 0.03);
    stats(lk.b->value.data, lk.b->value.size, &mean, &var, &mx);
    CHECK(mx == 0, "kaiming bias is zero");

    /* the same seed gives the same model */
    td_params *q = td_params_create();
    td_linear_layer_init(&lp, q, "pt", 100, 500, TD_INIT_PYTORCH);
    td_linear_layer_init(&lx, q, "xa", 100, 300, TD_INIT_XAVIER);
    td_linear_layer_init(&lk, q, "ka", 200, 500, TD_INIT_KAIMING);
    td_rng_init(&r, 42);
    td_params_finalize(q, &r);
    CHECK(memcmp(p->values, q->values, sizeof(td_real) * (size_t)p->total) == 0,
          "init is reproducible from the seed");
    td_params_destroy(p);
    td_params_destroy(q);
}

static void test_layers(void) {
    CHECK(td_activation_parse("relu") == TD_ACT_RELU && td_activation_parse("tanh") == TD_ACT_TANH &&
              td_activation_parse("softplus") == TD_ACT_SOFTPLUS &&
              td_activation_parse("none") == TD_ACT_NONE && td_activation_parse("gelu") == -1,
          "activation parse");
    CHECK(strcmp(td_activation_name(TD_ACT_SIGMOID), "sigmoid") == 0, "activation name");

    td_rng r;
    td_rng_init(&r, 3);
    td_params *p = td_params_create();
    td_mlp m;
    td_mlp_init(&m, p, "enc", 3, (int64_t[]){5, 7, 3}, TD_ACT_TANH, TD_INIT_PYTORCH);
    td_params_finalize(p, &r);
    CHECK(m.n_layers == 2 && td_params_get(p, "enc.0.w") && td_params_get(p, "enc.1.b"),
          "MLP parameter names");
    CHECK(p->total == 7 * 5 + 7 + 3 * 7 + 3, "MLP parameter count %lld", (long long)p->total);

    td_tape *t = td_tape_create();
    td_tensor xt = td_tensor_normal(TD_SHAPE(4, 5), &r, 0, 1);
    td_var *x = td_const(t, xt); /* a non-owning wrap: xt is released below */
    td_var *y = td_mlp_forward(t, &m, x);
    CHECK(y->value.shape.ndim == 2 && td_dim(y, 0) == 4 && td_dim(y, 1) == 3,
          "MLP output shape");
    /* by hand: tanh(x W0^T + b0) W1^T + b1, row 2 */
    const td_real *w0 = m.layers[0].w->value.data, *b0 = m.layers[0].b->value.data;
    const td_real *w1 = m.layers[1].w->value.data, *b1 = m.layers[1].b->value.data;
    double h[7];
    for (int j = 0; j < 7; j++) {
        double s = b0[j];
        for (int k = 0; k < 5; k++) s += x->value.data[2 * 5 + k] * w0[j * 5 + k];
        h[j] = tanh(s);
    }
    for (int o = 0; o < 3; o++) {
        double s = b1[o];
        for (int j = 0; j < 7; j++) s += h[j] * w1[o * 7 + j];
        CHECK_CLOSE(y->value.data[2 * 3 + o], s, 1e-5, 1e-5);
    }
    /* leading sample dims are carried through: [2, 2, 5] -> [2, 2, 3] */
    td_var *x3 = td_reshape(t, x, TD_SHAPE(2, 2, 5));
    td_var *y3 = td_mlp_forward(t, &m, x3);
    CHECK(y3->value.shape.ndim == 3 && td_dim(y3, 2) == 3, "3-D MLP output shape");
    CHECK(memcmp(y3->value.data, y->value.data, sizeof(td_real) * 12) == 0, "3-D equals 2-D");
    /* and gradients reach the parameters through it */
    td_params_zero_grad(p);
    CHECK(td_backward(t, td_sum(t, y3)) == 0, "backward");
    CHECK(td_params_grad_norm(p) > 0, "grads reach the MLP parameters");
    td_tensor_release(&xt);
    td_tape_destroy(t);
    td_params_destroy(p);
}

/* ---- optimizers against hand-computed PyTorch updates ---------------------
 * p0 = [1, -0.5], lr = 0.1, grads g1 = [1, 0.5], g2 = [-2, 0.25],
 * g3 = [0.5, -1]. Expected values from the update equations of
 * torch.optim.SGD / Adam / AdamW (docs' pseudo-code), evaluated in double. */
static const double G[3][2] = {{1, 0.5}, {-2, 0.25}, {0.5, -1}};

static void run_opt(const char *label, td_optim_config cfg, const double expect[3][2]) {
    td_rng r;
    td_rng_init(&r, 1);
    td_params *p = td_params_create();
    td_var *x = td_params_add(p, "x", TD_SHAPE(2), (td_init){TD_INIT_ZEROS, 0, 0});
    td_params_finalize(p, &r);
    x->value.data[0] = 1, x->value.data[1] = -0.5;
    td_optimizer *o = td_optimizer_create(p, cfg);
    for (int s = 0; s < 3; s++) {
        x->grad.data[0] = (td_real)G[s][0], x->grad.data[1] = (td_real)G[s][1];
        td_optimizer_step(o, cfg.lr);
        for (int i = 0; i < 2; i++)
            CHECK(fabs(x->value.data[i] - expect[s][i]) <= 2e-6,
                  "%s step %d [%d]: %.9g, expected %.9g", label, s + 1, i, x->value.data[i],
                  expect[s][i]);
    }
    CHECK(o->steps == 3, "%s counts steps", label);
    td_optimizer_destroy(o);
    td_params_destroy(p);
}

static void test_optimizers(void) {
    td_optim_config c = td_optim_defaults(TD_OPT_SGD);
    CHECK(c.lr == 1e-2 && c.momentum == 0 && c.weight_decay == 0, "SGD defaults");
    c = td_optim_defaults(TD_OPT_ADAM);
    CHECK(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8 &&
              c.weight_decay == 0, "Adam defaults");
    c = td_optim_defaults(TD_OPT_ADAMW);
    CHECK(c.weight_decay == 1e-2, "AdamW default weight decay");
    CHECK(td_optim_parse("adamw") == TD_OPT_ADAMW && td_optim_parse("rmsprop") == -1 &&
              strcmp(td_optim_name(TD_OPT_SGD), "sgd") == 0, "optimizer names");

    c = td_optim_defaults(TD_OPT_SGD);
    c.lr = 0.1;
    run_opt("sgd", c, (const double[3][2]){{0.9, -0.55}, {1.1, -0.575}, {1.05, -0.475}});
    c.momentum = 0.9; /* buf = 0.9 buf + g; p -= lr buf */
    run_opt("sgd momentum", c, (const double[3][2]){{0.9, -0.55}, {1.01, -0.62}, {1.059, -0.583}});
    c.nesterov = 1; /* p -= lr (g + 0.9 buf) */
    run_opt("sgd nesterov", c,
            (const double[3][2]){{0.81, -0.595}, {1.109, -0.683}, {1.1031, -0.5497}});
    c.nesterov = 0, c.weight_decay = 0.1; /* g += 0.1 p */
    run_opt("sgd momentum+wd", c,
            (const double[3][2]){{0.89, -0.545}, {0.9821, -0.60505}, {1.005169, -0.5530445}});

    c = td_optim_defaults(TD_OPT_ADAM);
    c.lr = 0.1;
    run_opt("adam", c,
            (const double[3][2]){{0.900000001, -0.599999998},
                                 {0.936610353472, -0.693217959523},
                                 {0.950279419674, -0.672582257115}});
    c.weight_decay = 0.1; /* L2: g += 0.1 p */
    run_opt("adam l2", c,
            (const double[3][2]){{0.900000000909, -0.599999997778},
                                 {0.931064294839, -0.690681540707},
                                 {0.937642154937, -0.661677610008}});
    /* yburda/iwae's Adam: v from ones, the step from the previous moments
     * (so the first leaves p), alpha_t = lr sqrt(1 - b2^t) / (1 - b1^t),
     * p -= alpha_t m / (sqrt(v) + 1e-4); evaluated in double by hand */
    c = td_optim_defaults(TD_OPT_ADAM_IWAE);
    CHECK(c.lr == 1e-3 && c.beta1 == 0.99 && c.beta2 == 0.999 && c.eps == 1e-4 && c.weight_decay == 0,
          "adam-iwae defaults: the paper's");
    CHECK(td_optim_parse("adam-iwae") == TD_OPT_ADAM_IWAE && !strcmp(td_optim_name(TD_OPT_ADAM_IWAE), "adam-iwae"),
          "adam-iwae name");
    c.lr = 0.1;
    run_opt("adam-iwae", c,
            (const double[3][2]){{1, -0.5}, {0.997753482048, -0.501123680393},
                                 {0.999612141896, -0.502497886149}});
    c = td_optim_defaults(TD_OPT_ADAMW);
    c.lr = 0.1, c.weight_decay = 0.1; /* decoupled: p *= 1 - lr wd */
    run_opt("adamw", c,
            (const double[3][2]){{0.890000001, -0.594999998},
                                 {0.917710353462, -0.682267959543},
                                 {0.922202316129, -0.654809577539}});
}

static void test_clip_and_schedules(void) {
    td_rng r;
    td_rng_init(&r, 1);
    td_params *p = td_params_create();
    td_var *a = td_params_add(p, "a", TD_SHAPE(1), (td_init){TD_INIT_ZEROS, 0, 0});
    td_var *b = td_params_add(p, "b", TD_SHAPE(1), (td_init){TD_INIT_ZEROS, 0, 0});
    td_params_finalize(p, &r);
    a->grad.data[0] = 3, b->grad.data[0] = 4;
    CHECK_CLOSE(td_params_grad_norm(p), 5, 1e-12, 0);
    CHECK_CLOSE(td_params_clip_grad_norm(p, 10), 5, 1e-12, 0);
    CHECK(a->grad.data[0] == 3 && b->grad.data[0] == 4, "no clipping below the limit");
    CHECK_CLOSE(td_params_clip_grad_norm(p, 1), 5, 1e-12, 0);
    CHECK_CLOSE(a->grad.data[0], 0.6, 1e-6, 0);
    CHECK_CLOSE(b->grad.data[0], 0.8, 1e-6, 0);
    CHECK_CLOSE(td_params_grad_norm(p), 1, 1e-6, 0);

    /* the optimizer clips before its step and reports the norm before */
    td_optim_config c = td_optim_defaults(TD_OPT_SGD);
    c.lr = 1, c.clip_norm = 1;
    td_optimizer *o = td_optimizer_create(p, c);
    a->grad.data[0] = 30, b->grad.data[0] = -40;
    CHECK_CLOSE(td_optimizer_step(o, c.lr), 50, 1e-9, 0);
    CHECK_CLOSE(td_item(a), -0.6, 1e-6, 0);
    CHECK_CLOSE(td_item(b), 0.8, 1e-6, 0);
    td_optimizer_destroy(o);
    td_params_destroy(p);

    td_schedule s = {TD_SCHED_STEP, 0.5, 2};
    CHECK(td_schedule_lr(&s, 1, 0) == 1 && td_schedule_lr(&s, 1, 1) == 1 &&
              td_schedule_lr(&s, 1, 2) == 0.5 && td_schedule_lr(&s, 1, 3) == 0.5 &&
              td_schedule_lr(&s, 1, 4) == 0.25, "step schedule");
    s = (td_schedule){TD_SCHED_EXP, 0.9, 0};
    CHECK_CLOSE(td_schedule_lr(&s, 2, 3), 2 * 0.729, 1e-12, 0);
    s = (td_schedule){TD_SCHED_CONSTANT, 0.1, 0};
    CHECK(td_schedule_lr(&s, 3e-4, 99) == 3e-4, "constant schedule");
    /* the IWAE paper's stages: stage i runs 3^(i-1) epochs, ending after
     * epoch (3^i - 1) / 2, at 1e-4 * round(10^(1 - (i-1)/7), 1) */
    s = (td_schedule){TD_SCHED_IWAE, 0.5, 10};
    static const int64_t first[9] = {0, 1, 4, 13, 40, 121, 364, 1093, 3280};
    static const double rate[8] = {10, 7.2, 5.2, 3.7, 2.7, 1.9, 1.4, 1};
    for (int i = 0; i < 8; i++) {
        CHECK(td_schedule_iwae_stage(first[i]) == i + 1 && td_schedule_iwae_stage(first[i + 1] - 1) == i + 1,
              "stage %d spans epochs %lld..%lld", i + 1, (long long)first[i], (long long)first[i + 1] - 1);
        CHECK_CLOSE(td_schedule_lr(&s, 1e-3, first[i]), 1e-4 * rate[i], 1e-15, 1e-12);
        CHECK_CLOSE(td_schedule_lr(&s, 1e-3, first[i + 1] - 1), 1e-4 * rate[i], 1e-15, 1e-12);
    }
    CHECK(td_schedule_iwae_stage(100000) == 8 && td_schedule_lr(&s, 1e-3, 100000) == td_schedule_lr(&s, 1e-3, 3279),
          "past the last stage: its rate");
    CHECK(td_schedule_parse("iwae") == TD_SCHED_IWAE && !strcmp(td_schedule_name(TD_SCHED_IWAE), "iwae"),
          "iwae schedule name");
    CHECK(td_schedule_parse("exp") == TD_SCHED_EXP && td_schedule_parse("cosine") == -1 &&
              strcmp(td_schedule_name(TD_SCHED_STEP), "step") == 0, "schedule names");
}

/* Above TD_PARALLEL_MIN the update runs in parallel, in blocks: every
 * parameter is updated (but for a rare one whose step rounds away; a block
 * split that dropped the ragged tail would leave 248), the result does not depend on the thread
 * count, and a step allocates nothing. */
static void big_run(td_optim_kind kind, int threads, td_real *out, int64_t *allocs,
                    int64_t *unchanged) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    td_rng r;
    td_rng_init(&r, 8);
    td_params *p = td_params_create();
    td_params_add(p, "w", TD_SHAPE(300, 250), (td_init){TD_INIT_KAIMING, 250, 300});
    td_params_finalize(p, &r);
    static td_real initial[75000];
    memcpy(initial, p->values, sizeof(td_real) * (size_t)p->total);
    td_optim_config c = td_optim_defaults(kind);
    c.momentum = kind == TD_OPT_SGD ? 0.9 : 0, c.weight_decay = 0.01, c.clip_norm = 1;
    td_optimizer *o = td_optimizer_create(p, c);
    td_rng g;
    td_rng_init(&g, 9);
    int64_t before = 0;
    for (int s = 0; s < 3; s++) {
        td_rng_normal(&g, p->grads, p->total, 0, 1);
        if (s == 2) before = td_alloc_count();
        td_optimizer_step(o, c.lr);
    }
    *allocs = td_alloc_count() - before;
    memcpy(out, p->values, sizeof(td_real) * (size_t)p->total);
    *unchanged = 0;
    for (int64_t i = 0; i < p->total; i++) *unchanged += p->values[i] == initial[i];
    td_optimizer_destroy(o);
    td_params_destroy(p);
}

static void test_threads(void) {
    static td_real one[75000], four[75000];
    for (int k = 0; k < 3; k++) {
        int64_t a1, a4, same1, same4;
        big_run((td_optim_kind)k, 1, one, &a1, &same1);
        big_run((td_optim_kind)k, 4, four, &a4, &same4);
        /* rounding may leave a rare one as it was; a lost tail is 248 */
        CHECK(same1 < 20 && same4 < 20, "%s: %lld / %lld of 75000 parameters not updated",
              td_optim_name((td_optim_kind)k), (long long)same1, (long long)same4);
        CHECK(memcmp(one, four, sizeof one) == 0, "%s: 1 and 4 threads differ",
              td_optim_name((td_optim_kind)k));
        CHECK(a1 == 0 && a4 == 0, "%s: a step allocated (%lld, %lld)",
              td_optim_name((td_optim_kind)k), (long long)a1, (long long)a4);
    }
}

/* minimize sum(a * (x - c)^2) through the tape */
static double quadratic(td_optim_kind kind, double lr, double momentum, int steps) {
    td_rng r;
    td_rng_init(&r, 5);
    td_params *p = td_params_create();
    td_var *x = td_params_add(p, "x", TD_SHAPE(4), (td_init){TD_INIT_PYTORCH, 1, 1});
    td_params_finalize(p, &r);
    td_real cv[4] = {1, -2, 0.5, 3}, av[4] = {1, 2, 0.5, 4};
    td_tensor ct = td_tensor_wrap(TD_SHAPE(4), cv), at = td_tensor_wrap(TD_SHAPE(4), av);
    td_optim_config c = td_optim_defaults(kind);
    c.lr = lr, c.momentum = momentum;
    td_optimizer *o = td_optimizer_create(p, c);
    td_tape *t = td_tape_create();
    for (int s = 0; s < steps; s++) {
        td_tape_reset(t);
        td_var *d = td_sub(t, x, td_const(t, ct));
        td_var *loss = td_sum(t, td_mul(t, td_square(t, d), td_const(t, at)));
        td_params_zero_grad(p);
        td_backward(t, loss);
        td_optimizer_step(o, c.lr);
    }
    double err = 0;
    for (int i = 0; i < 4; i++) err = fmax(err, fabs(x->value.data[i] - cv[i]));
    td_tape_destroy(t);
    td_optimizer_destroy(o);
    td_params_destroy(p);
    return err;
}

static void test_minimize(void) {
    double e;
    e = quadratic(TD_OPT_SGD, 0.05, 0.9, 300);
    CHECK(e < 1e-4, "SGD momentum reaches the minimum (error %g)", e);
    e = quadratic(TD_OPT_ADAM, 0.05, 0, 1000);
    CHECK(e < 1e-3, "Adam reaches the minimum (error %g)", e);
    e = quadratic(TD_OPT_ADAMW, 0.05, 0, 1000);
    CHECK(e < 0.05, "AdamW gets close to the minimum (error %g)", e);
}

/* ---- save / load ------------------------------------------------------------- */

typedef struct model {
    td_params *p;
    td_mlp m;
    td_optimizer *o;
} model;

static void model_make(model *md, uint64_t seed, int64_t hidden, td_optim_kind kind) {
    td_rng r;
    td_rng_init(&r, seed);
    md->p = td_params_create();
    td_mlp_init(&md->m, md->p, "net", 3, (int64_t[]){6, hidden, 2}, TD_ACT_RELU, TD_INIT_PYTORCH);
    td_params_finalize(md->p, &r);
    md->o = td_optimizer_create(md->p, td_optim_defaults(kind));
}

static void model_free(model *md) {
    td_optimizer_destroy(md->o);
    td_params_destroy(md->p);
}

/* one training step on fixed data */
static void model_step(model *md, td_tape *t, const td_tensor *xin) {
    td_tape_reset(t);
    td_var *y = td_mlp_forward(t, &md->m, td_const(t, *xin));
    td_var *loss = td_mean(t, td_square(t, y));
    td_params_zero_grad(md->p);
    td_backward(t, loss);
    td_optimizer_step(md->o, md->o->cfg.lr);
}

static int same_state(const model *a, const model *b) {
    size_t n = sizeof(td_real) * (size_t)a->p->total;
    return a->p->total == b->p->total && memcmp(a->p->values, b->p->values, n) == 0 &&
           memcmp(a->o->m, b->o->m, n) == 0 && (!a->o->v || memcmp(a->o->v, b->o->v, n) == 0) &&
           a->o->steps == b->o->steps;
}

static void test_save_load(void) {
    td_rng r;
    td_rng_init(&r, 9);
    td_tensor xin = td_tensor_normal(TD_SHAPE(8, 6), &r, 0, 1);
    td_tape *t = td_tape_create();
    model a, b;
    model_make(&a, 1, 5, TD_OPT_ADAM);
    a.o->cfg.lr = 0.01, a.o->cfg.clip_norm = 2.5;
    for (int s = 0; s < 3; s++) model_step(&a, t, &xin);

    td_archive *ar = td_archive_create();
    td_params_save(a.p, ar, "param.");
    td_optimizer_save(a.o, ar);
    CHECK(td_archive_write(ar, tmp_file("params.tda")) == 0, "write: %s", td_error());
    td_archive_destroy(ar);
    ar = td_archive_read(tmp_path);
    CHECK(ar != NULL, "read: %s", td_error());
    if (!ar) return;

    model_make(&b, 2, 5, TD_OPT_ADAM); /* another seed: different values */
    CHECK(td_params_load(b.p, ar, "param.") == 0, "params load: %s", td_error());
    CHECK(td_optimizer_load(b.o, ar) == 0, "optimizer load: %s", td_error());
    CHECK(same_state(&a, &b), "round trip restores values, moments and steps");
    CHECK(b.o->cfg.lr == 0.01 && b.o->cfg.clip_norm == 2.5 && b.o->cfg.beta2 == 0.999,
          "round trip restores the optimizer config");
    /* resuming continues bit for bit */
    model_step(&a, t, &xin);
    model_step(&b, t, &xin);
    CHECK(same_state(&a, &b), "a step after loading equals a step without the round trip");

    /* refusals name the parameter */
    model c;
    model_make(&c, 1, 4, TD_OPT_ADAM);
    CHECK(td_params_load(c.p, ar, "param.") != 0 && strstr(td_error(), "net.0.w") &&
              strstr(td_error(), "[5, 6]") && strstr(td_error(), "[4, 6]"),
          "wrong shape refused: %s", td_error());
    CHECK(td_optimizer_load(c.o, ar) != 0 && strstr(td_error(), "optim.m"),
          "moments of another size refused: %s", td_error());
    model_free(&c);
    model_make(&c, 1, 5, TD_OPT_SGD);
    CHECK(td_optimizer_load(c.o, ar) != 0 && strstr(td_error(), "adam") && strstr(td_error(), "sgd"),
          "another optimizer kind refused: %s", td_error());
    model_free(&c);
    td_params *q = td_params_create();
    td_params_add(q, "net.0.w", TD_SHAPE(5, 6), (td_init){TD_INIT_ZEROS, 0, 0});
    td_params_add(q, "other", TD_SHAPE(2), (td_init){TD_INIT_ZEROS, 0, 0});
    td_params_finalize(q, &r);
    CHECK(td_params_load(q, ar, "param.") != 0 && strstr(td_error(), "'other'") &&
              strstr(td_error(), "missing"), "missing parameter refused: %s", td_error());
    CHECK(q->values[0] == 0, "a refused load changes nothing");
    td_params_destroy(q);
    q = td_params_create();
    td_params_add(q, "net.0.w", TD_SHAPE(5, 6), (td_init){TD_INIT_ZEROS, 0, 0});
    td_params_finalize(q, &r);
    CHECK(td_params_load(q, ar, "param.") != 0 && strstr(td_error(), "net.0.b") &&
              strstr(td_error(), "does not have"), "extra parameter refused: %s", td_error());
    td_params_destroy(q);

    td_archive_destroy(ar);
    remove(tmp_path);
    model_free(&a);
    model_free(&b);
    td_tape_destroy(t);
    td_tensor_release(&xin);
}

/* ---- checkpoints ---------------------------------------------------------------- */

static const char *CFG = "hidden=5\nactivation=relu\n";

static int copy_truncated(const char *src, const char *dst, long keep, long flip_at) {
    FILE *f = fopen(src, "rb");
    if (!f) return -1;
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (keep >= 0 && (size_t)keep < n) n = (size_t)keep;
    if (flip_at >= 0 && (size_t)flip_at < n) buf[flip_at] ^= 0x5a;
    f = fopen(dst, "wb");
    if (!f) return -1;
    fwrite(buf, 1, n, f);
    fclose(f);
    return (int)n;
}

static void test_checkpoint(void) {
    td_rng r;
    td_rng_init(&r, 9);
    td_tensor xin = td_tensor_normal(TD_SHAPE(8, 6), &r, 0, 1);
    td_tape *t = td_tape_create();
    model a, b;
    model_make(&a, 1, 5, TD_OPT_ADAMW);
    for (int s = 0; s < 2; s++) model_step(&a, t, &xin);
    td_rng train_rng;
    td_rng_init(&train_rng, 77);
    td_rng_u32(&train_rng);

    char path[1024], bad[1024];
    snprintf(path, sizeof path, "%s", tmp_file("ckpt.tda"));
    snprintf(bad, sizeof bad, "%s", tmp_file("bad.tda"));
    td_ckpt_state s = {.kind = "toy", .config = CFG, .params = a.p, .optim = a.o,
                       .rng = &train_rng, .epoch = 3};
    td_archive *ar = td_checkpoint_pack(&s);
    td_checkpoint_put_u64(ar, "best_epoch", 2);
    td_checkpoint_put_bytes(ar, "note", "hello", 5);
    CHECK(td_checkpoint_write(ar, path) == 0, "checkpoint write: %s", td_error());

    /* open: kind and config first, then restore into a model built from them */
    td_checkpoint *c = td_checkpoint_open(path);
    CHECK(c != NULL, "open: %s", td_error());
    if (!c) return;
    CHECK(strcmp(td_checkpoint_kind(c), "toy") == 0 && strcmp(td_checkpoint_config(c), CFG) == 0 &&
              td_checkpoint_epoch(c) == 3 && td_checkpoint_version(c) == TD_CHECKPOINT_VERSION,
          "kind, config, epoch, version");
    uint64_t best = 0;
    size_t len = 0;
    const void *note = td_checkpoint_get_bytes(c, "note", &len);
    CHECK(td_checkpoint_get_u64(c, "best_epoch", &best) == 0 && best == 2, "extra u64");
    CHECK(note && len == 5 && memcmp(note, "hello", 5) == 0, "extra bytes");
    CHECK(td_checkpoint_get_u64(c, "absent", &best) != 0, "absent extra");

    model_make(&b, 2, 5, TD_OPT_ADAMW);
    td_rng rng_b;
    td_rng_init(&rng_b, 1);
    td_ckpt_state sb = {.kind = "toy", .config = CFG, .params = b.p, .optim = b.o, .rng = &rng_b};
    CHECK(td_checkpoint_restore(c, &sb) == 0, "restore: %s", td_error());
    CHECK(same_state(&a, &b), "checkpoint restores params and optimizer");
    CHECK(rng_b.seed == train_rng.seed && rng_b.counter == train_rng.counter && sb.epoch == 3,
          "checkpoint restores rng and epoch");
    model_step(&a, t, &xin);
    model_step(&b, t, &xin);
    CHECK(same_state(&a, &b), "training continues identically after a restore");

    /* refusals */
    td_ckpt_state sw = sb;
    sw.kind = "vae";
    CHECK(td_checkpoint_restore(c, &sw) != 0 && strstr(td_error(), "'toy'") &&
              strstr(td_error(), "'vae'") && strstr(td_error(), path),
          "wrong kind refused: %s", td_error());
    sw = sb;
    sw.config = "hidden=7\nactivation=relu\n";
    CHECK(td_checkpoint_restore(c, &sw) != 0 && strstr(td_error(), "hidden=5") &&
              strstr(td_error(), "hidden=7"), "wrong config refused: %s", td_error());
    model d;
    model_make(&d, 1, 7, TD_OPT_ADAMW);
    sw = (td_ckpt_state){.params = d.p, .optim = d.o}; /* no kind/config check: shapes decide */
    CHECK(td_checkpoint_restore(c, &sw) != 0 && strstr(td_error(), "net.0.w") &&
              strstr(td_error(), "[5, 6]") && strstr(td_error(), "[7, 6]"),
          "wrong parameter shape refused: %s", td_error());
    model_free(&d);
    td_checkpoint_close(c);

    /* evaluation-only checkpoint: loads without optimizer, refuses a resume */
    td_ckpt_state se = {.kind = "toy", .config = CFG, .params = a.p, .epoch = 4};
    CHECK(td_checkpoint_save(bad, &se) == 0, "save: %s", td_error());
    td_ckpt_state le = {.kind = "toy", .config = CFG, .params = b.p};
    CHECK(td_checkpoint_load(bad, &le) == 0 && le.epoch == 4, "eval load: %s", td_error());
    le.optim = b.o;
    CHECK(td_checkpoint_load(bad, &le) != 0 && strstr(td_error(), "optimizer"),
          "resume from an eval-only checkpoint refused: %s", td_error());
    le.optim = NULL, le.rng = &rng_b;
    CHECK(td_checkpoint_load(bad, &le) != 0 && strstr(td_error(), "random"),
          "missing rng state refused: %s", td_error());

    /* a missing, truncated or corrupt file: the archive's errors */
    remove(bad);
    CHECK(td_checkpoint_open(bad) == NULL && *td_error(), "missing file refused: %s", td_error());
    int size = copy_truncated(path, bad, -1, -1);
    CHECK(size > 100, "copied %d bytes", size);
    c = td_checkpoint_open(bad);
    CHECK(c != NULL, "an intact copy opens: %s", td_error());
    td_checkpoint_close(c);
    copy_truncated(path, bad, size / 2, -1);
    CHECK(td_checkpoint_open(bad) == NULL && *td_error(), "truncated file refused");
    printf("truncated: %s\n", td_error());
    copy_truncated(path, bad, -1, size / 2);
    CHECK(td_checkpoint_open(bad) == NULL && *td_error(), "corrupt file refused");
    printf("corrupt: %s\n", td_error());

    /* an archive that is not a checkpoint, and a future format version */
    ar = td_archive_create();
    td_archive_put_u64(ar, "x", 1);
    td_archive_write(ar, bad);
    td_archive_destroy(ar);
    CHECK(td_checkpoint_open(bad) == NULL && strstr(td_error(), "not a checkpoint"),
          "non-checkpoint archive refused: %s", td_error());
    ar = td_checkpoint_pack(&s);
    td_archive_put_u64(ar, "checkpoint.version", TD_CHECKPOINT_VERSION + 1);
    td_checkpoint_write(ar, bad);
    CHECK(td_checkpoint_open(bad) == NULL && strstr(td_error(), "newer"),
          "newer format version refused: %s", td_error());

    remove(bad);
    remove(path);
    model_free(&a);
    model_free(&b);
    td_tape_destroy(t);
    td_tensor_release(&xin);
}

int main(void) {
    test_params();
    test_init();
    test_layers();
    test_optimizers();
    test_clip_and_schedules();
    test_minimize();
    test_threads();
    test_save_load();
    test_checkpoint();
    return check_done("nn");
}
