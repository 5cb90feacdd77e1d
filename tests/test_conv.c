/* conv2d and conv_transpose2d against a naive direct convolution (in
 * double), forward and both gradients, over strides 1-3, paddings 0-2,
 * output paddings, odd and non-square sizes, 1 and several channels, batch
 * 1 and 7, in NCHW and in CHWN; col2im bit for bit against a scatter; the
 * same bits for 1 and 2 threads; no allocation per step after warm-up;
 * reshape between conv and dense parts; the layers' initialization.
 * Linked against the double-precision library, and built once more
 * against the float one (test "conv_f32"), the one the models use, whose
 * GEMM and transposes take other vector paths. In float the reference's
 * tolerance is float's and the finite-difference check is left to the
 * double build. */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/gradcheck.h"
#include "tensor/conv.h"
#include "tinyad.h"
#include "check.h"

typedef struct ccase {
    int64_t n, c, h, w;       /* the op's input x */
    int64_t o, kh, kw;        /* output channels, kernel */
    int64_t sh, sw, ph, pw, oph, opw;
} ccase;

/* ---- the reference: every (input pixel, kernel tap, output pixel) triple,
 * summed in double. conv2d: y[n,o,oy,ox] += x[n,c,iy,ix] w[o,c,i,j] with
 * iy = oy*sh - ph + i. The transpose scatters the other way: y[n,o,iy,ix] +=
 * x[n,c,oy,ox] w[c,o,i,j] over x's pixels (oy, ox). ---------------------- */
typedef struct ref {
    int64_t oh, ow;
    double *y, *dx, *dw, *db;
} ref;

static int64_t at4(int64_t a, int64_t b, int64_t c, int64_t d, int64_t B, int64_t C, int64_t D) {
    return ((a * B + b) * C + c) * D + d;
}

static void reference(const ccase *k, int transpose, const double *x, const double *w,
                      const double *b, const double *gy, ref *r) {
    const int64_t co = k->o;
    r->oh = transpose ? (k->h - 1) * k->sh - 2 * k->ph + k->kh + k->oph
                      : (k->h + 2 * k->ph - k->kh) / k->sh + 1;
    r->ow = transpose ? (k->w - 1) * k->sw - 2 * k->pw + k->kw + k->opw
                      : (k->w + 2 * k->pw - k->kw) / k->sw + 1;
    const int64_t ny = k->n * co * r->oh * r->ow;
    r->y = calloc((size_t)ny, sizeof(double));
    r->dx = calloc((size_t)(k->n * k->c * k->h * k->w), sizeof(double));
    r->dw = calloc((size_t)(co * k->c * k->kh * k->kw), sizeof(double));
    r->db = calloc((size_t)co, sizeof(double));
    /* the small side (conv2d's output, the transpose's input) and the big one */
    const int64_t sh = transpose ? k->h : r->oh, sw = transpose ? k->w : r->ow;
    const int64_t bh = transpose ? r->oh : k->h, bw = transpose ? r->ow : k->w;
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < co; o++)
            for (int64_t c = 0; c < k->c; c++)
                for (int64_t i = 0; i < k->kh; i++)
                    for (int64_t j = 0; j < k->kw; j++)
                        for (int64_t sy = 0; sy < sh; sy++)
                            for (int64_t sx = 0; sx < sw; sx++) {
                                const int64_t by = sy * k->sh - k->ph + i, bx = sx * k->sw - k->pw + j;
                                if (by < 0 || by >= bh || bx < 0 || bx >= bw) continue;
                                const int64_t wi = transpose ? at4(c, o, i, j, co, k->kh, k->kw)
                                                             : at4(o, c, i, j, k->c, k->kh, k->kw);
                                const int64_t xi = transpose ? at4(n, c, sy, sx, k->c, sh, sw)
                                                             : at4(n, c, by, bx, k->c, bh, bw);
                                const int64_t yi = transpose ? at4(n, o, by, bx, co, bh, bw)
                                                             : at4(n, o, sy, sx, co, sh, sw);
                                r->y[yi] += x[xi] * w[wi];
                                r->dx[xi] += gy[yi] * w[wi];
                                r->dw[wi] += gy[yi] * x[xi];
                            }
    for (int64_t q = 0; q < ny; q++) {
        const int64_t o = q / (r->oh * r->ow) % co;
        if (b) r->y[q] += b[o];
        r->db[o] += gy[q];
    }
}

static void ref_free(ref *r) {
    free(r->y);
    free(r->dx);
    free(r->dw);
    free(r->db);
}

static void fill(td_var *v, uint64_t seed) {
    td_rng r;
    td_rng_init(&r, seed);
    td_rng_uniform(&r, v->value.data, v->value.size, -1, 1);
}

/* A variable's values in double, for the reference (malloc'd). */
static double *as_double(const td_var *v) {
    double *d = malloc(sizeof(double) * (size_t)v->value.size);
    for (int64_t i = 0; i < v->value.size; i++) d[i] = v->value.data[i];
    return d;
}

static double max_diff(const td_real *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* a [n, F] as [F, n] (to_chwn) or back, in a new array */
static double *relayout(double *a, int64_t n, int64_t F, int to_chwn) {
    double *r = malloc(sizeof(double) * (size_t)(n * F));
    for (int64_t m = 0; m < n; m++)
        for (int64_t f = 0; f < F; f++) {
            if (to_chwn) r[f * n + m] = a[m * F + f];
            else r[m * F + f] = a[f * n + m];
        }
    free(a);
    return r;
}

/* One case through the op and td_backward (loss = sum(gy * y)) against the
 * reference, with NCHW or (chwn) CHWN tensors, and with the ReLU fused
 * (relu): then the reference's y goes through it, and its gradients take
 * gy where the op's y is positive (the op's own signs, so that a value
 * within rounding of 0 cannot split the two); returns 1 when it was a
 * valid geometry. */
static int run_case(const ccase *k, int transpose, int bias, int chwn, int relu) {
    if (!transpose && (k->h + 2 * k->ph < k->kh || k->w + 2 * k->pw < k->kw)) return 0;
    if (transpose && ((k->h - 1) * k->sh - 2 * k->ph + k->kh + k->oph < 1 ||
                      (k->w - 1) * k->sw - 2 * k->pw + k->kw + k->opw < 1)) return 0;
    td_var *x = td_param_create("x", chwn ? TD_SHAPE(k->c, k->h, k->w, k->n)
                                          : TD_SHAPE(k->n, k->c, k->h, k->w));
    td_var *w = td_param_create("w", transpose ? TD_SHAPE(k->c, k->o, k->kh, k->kw)
                                               : TD_SHAPE(k->o, k->c, k->kh, k->kw));
    td_var *b = bias ? td_param_create("b", TD_SHAPE(k->o)) : NULL;
    fill(x, 1);
    fill(w, 2);
    if (b) fill(b, 3);
    td_tape *t = td_tape_create();
    const td_conv_spec s = {k->sh, k->sw, k->ph, k->pw, transpose ? k->oph : 0,
                            transpose ? k->opw : 0, chwn, relu};
    td_var *y = transpose ? td_conv_transpose2d_spec(t, x, w, b, s) : td_conv2d_spec(t, x, w, b, s);
    td_var *gy = td_const_new(t, y->value.shape);
    fill(gy, 4);
    ref r;
    const int64_t fx = x->value.size / k->n, fy = y->value.size / k->n; /* per image */
    double *xd = as_double(x), *wd = as_double(w), *bd = b ? as_double(b) : NULL, *gd = as_double(gy);
    if (chwn) xd = relayout(xd, k->n, fx, 0), gd = relayout(gd, k->n, fy, 0);
    double *yd = as_double(y);
    if (chwn) yd = relayout(yd, k->n, fy, 0);
    for (int64_t q = 0; relu && q < y->value.size; q++)
        if (!(yd[q] > 0)) gd[q] = 0;
    reference(k, transpose, xd, wd, bd, gd, &r);
    for (int64_t q = 0; relu && q < y->value.size; q++) r.y[q] = fmax(r.y[q], 0);
    free(xd), free(wd), free(bd), free(gd), free(yd);
    if (chwn) r.y = relayout(r.y, k->n, fy, 1), r.dx = relayout(r.dx, k->n, fx, 1);
    const int64_t yh = y->value.shape.d[chwn ? 1 : 2], yw = y->value.shape.d[chwn ? 2 : 3];
    CHECK(yh == r.oh && yw == r.ow, "output %lld x %lld, expected %lld x %lld", (long long)yh,
          (long long)yw, (long long)r.oh, (long long)r.ow);
    td_backward(t, td_sum(t, td_mul(t, y, gy)));
    /* float: sums of up to 576 products of values in [-1, 1] */
    const double tol = sizeof(td_real) == 8 ? 1e-12 : 2e-4;
    const char *op = transpose ? "conv_transpose2d" : "conv2d";
#define CASE_FMT "%s%s%s n%lld c%lld %lldx%lld o%lld k%lldx%lld s%lld,%lld p%lld,%lld op%lld,%lld: %s off by %.3g"
#define CASE_ARGS op, chwn ? " (CHWN)" : "", relu ? " + relu" : "", (long long)k->n, (long long)k->c, (long long)k->h, (long long)k->w, (long long)k->o, \
        (long long)k->kh, (long long)k->kw, (long long)k->sh, (long long)k->sw, (long long)k->ph, \
        (long long)k->pw, (long long)s.out_pad_h, (long long)s.out_pad_w
    double d;
    CHECK((d = max_diff(y->value.data, r.y, y->value.size)) < tol, CASE_FMT, CASE_ARGS, "y", d);
    CHECK((d = max_diff(x->grad.data, r.dx, x->value.size)) < tol, CASE_FMT, CASE_ARGS, "dx", d);
    CHECK((d = max_diff(w->grad.data, r.dw, w->value.size)) < tol, CASE_FMT, CASE_ARGS, "dw", d);
    if (b) CHECK((d = max_diff(b->grad.data, r.db, k->o)) < tol, CASE_FMT, CASE_ARGS, "db", d);
    ref_free(&r);
    td_tape_destroy(t);
    td_param_destroy(x);
    td_param_destroy(w);
    td_param_destroy(b);
    return 1;
}

static void test_against_reference(void) {
    /* n, c, h, w, o, kh, kw: batch 1 and 7, 1 and several channels, odd
     * and non-square images and kernels */
    static const int64_t shapes[][7] = {
        {1, 1, 7, 5, 1, 3, 3}, {7, 3, 9, 6, 4, 3, 2}, {1, 2, 5, 8, 3, 5, 5}, {7, 1, 6, 7, 2, 1, 3},
    };
    int ran = 0;
    for (int chwn = 0; chwn < 2; chwn++)
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int64_t sh = 1; sh <= 3; sh++)
            for (int64_t p = 0; p <= 2; p++)
                for (int transpose = 0; transpose < 2; transpose++) {
                    const int64_t *z = shapes[si];
                    /* stride along W differs from H's in every other case */
                    const int64_t sw = si % 2 ? sh % 3 + 1 : sh;
                    ccase k = {z[0], z[1], z[2], z[3], z[4], z[5], z[6], sh, sw, p, (p + si) % 3,
                               sh - 1, sw > 1 ? 1 : 0};
                    /* the ReLU in every other case, across the bias's */
                    const int relu = (int)(sh + p) % 2;
                    ran += run_case(&k, transpose, (int)(si + p) % 2 == 0, chwn, relu);
                    if (transpose) { /* and without output padding */
                        k.oph = k.opw = 0;
                        ran += run_case(&k, transpose, 1, chwn, !relu);
                    }
                }
    /* the VAE's shapes at a small batch, large enough for several chunks */
    ccase big = {7, 32, 28, 28, 32, 3, 3, 1, 1, 1, 1, 0, 0};
    ccase vae = {3, 64, 7, 7, 64, 3, 3, 2, 2, 1, 1, 1, 1};
    /* a batch that is a multiple of every panel width (im2col's whole-panel
     * copies; the batches above take its general path) */
    ccase panels = {32, 8, 7, 7, 8, 3, 3, 2, 2, 1, 1, 1, 1};
    for (int chwn = 0; chwn < 2; chwn++) {
        ran += run_case(&big, 0, 1, chwn, 0);
        ran += run_case(&big, 1, 1, chwn, 1);
        ran += run_case(&vae, 1, 1, chwn, 1);
        ran += run_case(&panels, 0, 1, chwn, 1);
        ran += run_case(&panels, 1, 1, chwn, 0);
    }
    /* tall and wide planes, strided and not: sizes at which a blocked
     * im2col/col2im (bands of rows sharing halo rows) would change path */
    ccase tall = {2, 2, 500, 9, 2, 3, 3, 1, 1, 1, 1, 0, 0};
    ccase tall_strided = {1, 2, 333, 12, 3, 3, 3, 2, 2, 1, 1, 1, 1};
    ccase wide = {1, 2, 3, 3000, 2, 3, 3, 1, 2, 1, 1, 0, 1};
    const ccase *edges[] = {&tall, &tall_strided, &wide};
    for (size_t e = 0; e < 3; e++)
        for (int transpose = 0; transpose < 2; transpose++)
            for (int chwn = 0; chwn < 2; chwn++)
                ran += run_case(edges[e], transpose, 1, chwn, transpose); /* col2im's ReLU over blocks */
    printf("reference: %d geometries, each in both layouts\n", ran / 2);
    CHECK(ran == 2 * 119, "%d geometries ran, expected all 119 in both layouts", ran);
}

/* ---- col2im, bit for bit ---------------------------------------------------
 * td_conv_col2im goes input row by input row, each row set or kept and
 * then given its taps while in L1. It must give exactly the bits of the
 * plain scatter below (set or keep the image, then += every run, block after
 * block, tap after tap), whatever the blocks (here one output row, two,
 * and all), with strides below, equal to and above the kernel (rows and
 * columns no tap reads), and with few channels and many images (the
 * threads split the images). */
static void col2im_by_scatter(const td_conv_geom *g, const td_real *col, int64_t mc, int64_t q0,
                              int64_t qc, td_real *it) {
    const int64_t P = qc * mc;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                for (int64_t u = 0; u < qc; u++) {
                    const int64_t y = (q0 + u) / g->ow, x = (q0 + u) % g->ow;
                    const int64_t iy = y * g->sh - g->ph + i, ix = x * g->sw - g->pw + j;
                    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
                    const td_real *s = col + ((c * g->kh + i) * g->kw + j) * P + u * mc;
                    td_real *d = it + ((c * g->h + iy) * g->w + ix) * mc;
                    for (int64_t m = 0; m < mc; m++) d[m] += s[m];
                }
}

static void test_col2im_bits(void) {
    /* c, h, w, kh, kw, sh, sw, ph, pw; mc */
    const int64_t cases[][10] = {
        {2, 9, 7, 3, 3, 2, 2, 1, 1, 5},   {1, 10, 11, 3, 3, 1, 1, 1, 1, 40},
        {3, 11, 8, 2, 3, 3, 2, 0, 2, 16}, {2, 9, 9, 1, 1, 3, 3, 0, 0, 7},
        {9, 6, 5, 3, 2, 2, 1, 2, 0, 3},   {1, 28, 28, 3, 3, 1, 1, 1, 1, 33},
    };
    int checked = 0;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t *k = cases[t];
        td_conv_geom g = {.c = k[0], .h = k[1], .w = k[2], .kh = k[3], .kw = k[4], .sh = k[5],
                          .sw = k[6], .ph = k[7], .pw = k[8], .o = 1, .chwn = 1};
        g.oh = (g.h + 2 * g.ph - g.kh) / g.sh + 1;
        g.ow = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
        const int64_t mc = k[9], K = g.c * g.kh * g.kw, op = g.oh * g.ow, size = g.c * g.h * g.w * mc;
        g.n = mc;
        td_real *col = malloc(sizeof(td_real) * (size_t)(K * op * mc));
        td_real *got = malloc(sizeof(td_real) * (size_t)size), *want = malloc(sizeof(td_real) * (size_t)size);
        td_real bias[9];
        td_rng rng;
        td_rng_init(&rng, 100 + t);
        td_rng_normal(&rng, col, K * op * mc, 0, 1);
        td_rng_normal(&rng, bias, g.c, 0, 1);
        const int64_t row_counts[] = {1, 2, g.oh};
        for (int r = 0; r < 3; r++)
            for (int mode = 0; mode < 3; mode++) { /* assign, assign + bias, add */
                for (int64_t e = 0; e < size; e++) got[e] = want[e] = (td_real)(e % 7) - 3;
                if (mode < 2)
                    for (int64_t e = 0; e < size; e++) want[e] = mode ? bias[e / (size / g.c)] : 0;
                const int64_t qc = row_counts[r] * g.ow;
                for (int64_t q0 = 0; q0 < op; q0 += qc) {
                    const int64_t qn = op - q0 < qc ? op - q0 : qc;
                    /* a block's runs, as the caller's im2col block holds them */
                    const td_real *block = col + q0 * mc * K;
                    td_conv_col2im(&g, block, mc, q0, qn, mode < 2, mode == 1 ? bias : NULL, 0, got);
                    col2im_by_scatter(&g, block, mc, q0, qn, want);
                }
                CHECK(memcmp(got, want, sizeof(td_real) * (size_t)size) == 0,
                      "col2im case %zu, %lld row(s) per block, mode %d: not the scatter's bits", t,
                      (long long)row_counts[r], mode);
                checked++;
            }
        free(col);
        free(got);
        free(want);
    }
    printf("col2im: %d cases bit for bit a scatter's\n", checked);
}

/* ---- a small conv net step: threads, allocations ---------------------------------- */
typedef struct net {
    td_params *p;
    td_conv2d_layer c1, c2;
    td_conv_transpose2d_layer t1;
    td_linear_layer fc;
} net;

static void net_init(net *m) {
    m->p = td_params_create();
    td_conv2d_layer_init(&m->c1, m->p, "c1", 1, 32, 3, 2, 1, TD_INIT_PYTORCH);
    td_conv2d_layer_init(&m->c2, m->p, "c2", 32, 64, 3, 2, 1, TD_INIT_PYTORCH);
    td_conv_transpose2d_layer_init(&m->t1, m->p, "t1", 64, 32, 3, 2, 1, 1, TD_INIT_PYTORCH);
    td_linear_layer_init(&m->fc, m->p, "fc", 32 * 7 * 7, 10, TD_INIT_PYTORCH);
    td_rng r;
    td_rng_init(&r, 5);
    td_params_finalize(m->p, &r);
}

/* x [16, 1, 28, 28] -> conv s2 -> conv s2 -> convT s2 -> pool -> fc ->
 * cross-entropy: every new op, forward and backward. Each ReLU is td_relu,
 * or fused into its convolution when the layer's spec says so. */
static td_var *relu_unless_fused(td_tape *t, td_var *h, td_conv_spec s) {
    return s.relu ? h : td_relu(t, h);
}
static double net_step(net *m, td_tape *t, const td_tensor *x, const td_tensor *labels) {
    td_tape_reset(t);
    td_params_zero_grad(m->p);
    td_var *h = relu_unless_fused(t, td_conv2d_layer_forward(t, &m->c1, td_const(t, *x)), m->c1.spec);
    h = relu_unless_fused(t, td_conv2d_layer_forward(t, &m->c2, h), m->c2.spec); /* [16, 64, 7, 7] */
    h = relu_unless_fused(t, td_conv_transpose2d_layer_forward(t, &m->t1, h),
                          m->t1.spec); /* [16, 32, 14, 14] */
    h = td_max_pool2d(t, td_upsample2d(t, h, 2), 4, 4);                  /* [16, 32, 7, 7] */
    h = td_reshape(t, h, TD_SHAPE(16, 32 * 7 * 7));
    td_var *loss = td_cross_entropy(t, td_linear_layer_forward(t, &m->fc, h), td_const(t, *labels));
    td_backward(t, loss);
    return loss->value.data[0];
}

/* 1 and 2 threads, the ReLUs as ops; then 2 threads with them fused into
 * the convolutions (td_conv_spec.relu): all the same loss and gradient
 * bits (test_convvae compares the fused CHWN layers). */
static void test_threads_and_allocs(void) {
    td_tensor x = td_tensor_zeros(TD_SHAPE(16, 1, 28, 28)), labels = td_tensor_zeros(TD_SHAPE(16));
    td_rng r;
    td_rng_init(&r, 9);
    td_rng_uniform(&r, x.data, x.size, 0, 1);
    for (int64_t i = 0; i < 16; i++) labels.data[i] = (td_real)(i % 10);
    td_real *grads[2];
    double loss[2];
    const char *runs[] = {"1 thread", "2 threads", "2 threads, fused ReLUs"};
    for (int run = 0; run < 3; run++) {
#ifdef _OPENMP
        omp_set_num_threads(run ? 2 : 1);
#endif
        net m;
        net_init(&m);
        m.c1.spec.relu = m.c2.spec.relu = m.t1.spec.relu = run == 2;
        td_tape *t = td_tape_create();
        int64_t allocs = 0;
        const int k = run ? 1 : 0; /* run 2 replaces run 1's results */
        for (int step = 0; step < 3; step++) {
            const int64_t before = td_alloc_count();
            loss[k] = net_step(&m, t, &x, &labels);
            if (step == 2) allocs = td_alloc_count() - before;
        }
        CHECK(allocs == 0, "%s: the third step made %lld allocations", runs[run], (long long)allocs);
        if (run < 2) grads[k] = malloc(sizeof(td_real) * (size_t)m.p->total);
        memcpy(grads[k], m.p->grads, sizeof(td_real) * (size_t)m.p->total);
        if (run)
            CHECK(memcmp(grads[0], grads[1], sizeof(td_real) * (size_t)m.p->total) == 0 && loss[0] == loss[1],
                  "%s and %s give different gradients or losses (%.17g, %.17g)", runs[0], runs[run],
                  loss[0], loss[1]);
        td_tape_destroy(t);
        td_params_destroy(m.p);
    }
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    free(grads[0]);
    free(grads[1]);
    td_tensor_release(&x);
    td_tensor_release(&labels);
}

/* ---- reshape between conv and dense parts, with gradients -------------------------- */
static td_var *flatten_and_back(td_tape *t, td_gc *g, void *ctx) {
    (void)ctx;
    td_var *x = td_gc_input(g, t, TD_SHAPE(2, 3, 4, 5), TD_GC_ANY, 1);
    td_var *w = td_gc_input(g, t, TD_SHAPE(2, 3, 3, 3), TD_GC_ANY, 1);
    td_var *flat = td_reshape(t, td_conv2d(t, x, w, NULL, 1, 1), TD_SHAPE(2, 2 * 4 * 5));
    td_var *back = td_reshape(t, td_tanh(t, flat), TD_SHAPE(2, 2, 4, 5));
    return td_conv_transpose2d(t, back, td_gc_input(g, t, TD_SHAPE(2, 1, 2, 2), TD_GC_ANY, 1), NULL, 2, 0, 1);
}

static void test_reshape(void) {
    td_gc_result r = td_gradcheck_fn(flatten_and_back, NULL, 1e-6, 3);
    CHECK(r.pass && r.n_checked == 120 + 54 + 8, "conv -> flatten -> tanh -> unflatten -> convT: "
          "max_rel %.3g over %lld", r.max_rel, (long long)r.n_checked);
}

/* ---- initialization: PyTorch's bounds (fan_in = w.shape[1] * k * k) ----------------- */
static void check_uniform(const td_var *v, double bound, const char *what) {
    double lo = 0, hi = 0, sq = 0;
    for (int64_t i = 0; i < v->value.size; i++) {
        const double a = v->value.data[i];
        lo = fmin(lo, a), hi = fmax(hi, a), sq += a * a;
    }
    const double rms = sqrt(sq / (double)v->value.size);
    CHECK(lo >= -bound && hi <= bound, "%s: values in [%g, %g], expected U(+-%g)", what, lo, hi, bound);
    if (v->value.size < 1000) return; /* a bias: too few values for the spread */
    CHECK(hi > 0.99 * bound && lo < -0.99 * bound, "%s: values in [%g, %g], expected U(+-%g)", what,
          lo, hi, bound);
    CHECK(fabs(rms - bound / sqrt(3)) < 0.02 * bound, "%s: rms %g, expected %g", what, rms, bound / sqrt(3));
}

static void test_init(void) {
    td_params *p = td_params_create();
    td_conv2d_layer c;
    td_conv_transpose2d_layer ct;
    td_conv2d_layer_init(&c, p, "c", 32, 64, 3, 2, 1, TD_INIT_PYTORCH);
    td_conv_transpose2d_layer_init(&ct, p, "ct", 64, 16, 3, 2, 1, 1, TD_INIT_PYTORCH);
    td_rng r;
    td_rng_init(&r, 11);
    td_params_finalize(p, &r);
    CHECK(c.w->value.shape.d[0] == 64 && c.w->value.shape.d[1] == 32, "conv weight is [out, in, k, k]");
    CHECK(ct.w->value.shape.d[0] == 64 && ct.w->value.shape.d[1] == 16, "convT weight is [in, out, k, k]");
    check_uniform(c.w, 1 / sqrt(32 * 9.0), "conv2d w");
    check_uniform(c.b, 1 / sqrt(32 * 9.0), "conv2d b");
    check_uniform(ct.w, 1 / sqrt(16 * 9.0), "conv_transpose2d w");
    check_uniform(ct.b, 1 / sqrt(16 * 9.0), "conv_transpose2d b");
    td_params_destroy(p);
}

int main(void) {
    test_against_reference();
    test_col2im_bits();
    test_threads_and_allocs();
    if (sizeof(td_real) == 8) test_reshape(); /* finite differences need double */
    test_init();
    return check_done("conv");
}
