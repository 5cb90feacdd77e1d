/* bench_conv: forward + backward time of the convolutions of the Keras VAE
 * example's encoder and decoder at batch 128, and how much of it is GEMM.
 *
 *   bench_conv [--threads N] [--reps R] [--batch B] [--lowering] [--chwn]
 *
 * Runs the kernels of tensor/conv.h as the ops call them, on NCHW tensors
 * or (--chwn) on CHWN ones, as models/convvae.c does (conv2d: forward,
 * then the input and weight gradients in one pass, and the bias gradient;
 * an NCHW conv2d's forward keeps its input in CHWN for the weight
 * gradient, as the op does at these sizes; conv_transpose2d: forward = conv2d's input
 * gradient, plus a bias;
 * backward = conv2d's forward into dx and the weight gradient in one pass,
 * and the bias gradient). The first conv's input is data:
 * no input gradient, as in the model. The GEMM share comes from the same
 * td_gemm calls (shapes, chunks, transposes) replayed alone on the same
 * buffers. Figures are medians over R repetitions, wall clock and this
 * thread's CPU time (on a shared machine the CPU time is the steadier one
 * at 1 thread). "outside" is the time outside the GEMMs, forward +
 * backward - gemm alone of the same repetition (wall), then the median:
 * taken within a repetition, it drifts less with the host's speed than
 * the difference of the medians, so it is the figure to compare when
 * changing the non-GEMM kernels (im2col, col2im, the transposes).
 *
 * --lowering times instead the two copies alone, each over the whole
 * batch chunk by chunk into the same scratch: im2col of the image side
 * and col2im (assigning) back into it: the figure to watch when changing
 * those two (tensor/conv.c), without the GEMMs' noise around them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"
#include "tensor/conv.h"
#include "tensor/gemm.h"
#include "tensor/random.h"

#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct layer {
    const char *name;
    int transpose;
    int64_t cin, cout, h, w, stride, pad, out_pad;
    int input_grad;
} layer;

static const layer layers[] = {
    {"enc conv  1->32 s2 p1 28x28", 0, 1, 32, 28, 28, 2, 1, 0, 0},
    {"enc conv 32->64 s2 p1 14x14", 0, 32, 64, 14, 14, 2, 1, 0, 1},
    {"dec convT 64->64 s2 p1 op1 7x7", 1, 64, 64, 7, 7, 2, 1, 1, 1},
    {"dec convT 64->32 s2 p1 op1 14x14", 1, 64, 32, 14, 14, 2, 1, 1, 1},
    {"dec convT 32->1 s1 p1 28x28", 1, 32, 1, 28, 28, 1, 1, 0, 1},
};
#define N_LAYERS ((int)(sizeof layers / sizeof layers[0]))

typedef struct bufs {
    td_conv_geom g;
    td_real *x, *y, *w, *b, *dx, *dy, *dw, *db, *scratch, *keep;
} bufs;

static double cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static td_real *filled(int64_t n, td_rng *r) {
    td_real *p = td_alloc(sizeof(td_real) * (size_t)n);
    td_rng_uniform(r, p, n, -0.5, 0.5);
    return p;
}

/* The im2col block's elements: whole panels (td_gemm's, gemm.h). */
static int64_t col_block(const td_conv_geom *g) {
    const int64_t w = td_gemm_panel_width(), cols = td_conv_pixel_chunk(g) * td_conv_chunk(g);
    return g->c * g->kh * g->kw * ((cols + w - 1) / w) * w;
}

/* The geometry (image side = the larger one) and buffers of a layer;
 * chwn: its tensors are CHWN (conv.h). */
static void setup(const layer *l, int64_t batch, int chwn, bufs *B, td_rng *r) {
    const int64_t k = 3;
    int64_t oh, ow;
    if (!l->transpose) {
        oh = (l->h + 2 * l->pad - k) / l->stride + 1, ow = (l->w + 2 * l->pad - k) / l->stride + 1;
        B->g = (td_conv_geom){batch, l->cin, l->h, l->w, l->cout, oh, ow, k, k,
                              l->stride, l->stride, l->pad, l->pad, chwn};
    } else {
        oh = (l->h - 1) * l->stride - 2 * l->pad + k + l->out_pad, ow = oh;
        B->g = (td_conv_geom){batch, l->cout, oh, ow, l->cin, l->h, l->w, k, k,
                              l->stride, l->stride, l->pad, l->pad, chwn};
    }
    const td_conv_geom *g = &B->g;
    const int64_t img = g->n * g->c * g->h * g->w, cols = g->n * g->o * g->oh * g->ow;
    const int64_t nx = l->transpose ? cols : img, ny = l->transpose ? img : cols;
    const int64_t nb = l->transpose ? g->c : g->o;
    B->x = filled(nx, r), B->dx = filled(nx, r), B->y = filled(ny, r), B->dy = filled(ny, r);
    B->w = filled(g->o * g->c * 9, r), B->dw = filled(g->o * g->c * 9, r);
    B->b = filled(nb, r), B->db = filled(nb, r);
    /* the op's scratch, or what gemms() and lower() lay out in it if more:
     * the image side's chunk and the im2col block, or the block, the column
     * side's chunk and the transposed weight gradient */
    const int64_t mc = td_conv_chunk(g), K = g->c * g->kh * g->kw;
    const int64_t block = col_block(g), it = mc * g->c * g->h * g->w;
    int64_t need = td_conv_scratch_size(g);
    if (it + block > need) need = it + block;
    if (block + mc * g->o * g->oh * g->ow + K * g->o > need) need = block + mc * g->o * g->oh * g->ow + K * g->o;
    B->scratch = filled(need, r);
    B->keep = l->transpose || chwn ? NULL : filled(td_conv_keep_size(g), r);
}

static void bufs_free(bufs *B) {
    td_real *all[] = {B->x, B->y, B->w, B->b, B->dx, B->dy, B->dw, B->db, B->scratch, B->keep};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) td_free(all[i]);
}

static void forward(const layer *l, bufs *B) {
    const td_conv_geom *g = &B->g;
    if (!l->transpose) {
        td_conv_forward(g, B->x, B->w, B->b, 0, B->y, B->scratch, B->keep);
    } else {
        td_conv_backward_data(g, B->x, B->w, B->b, 0, 1, B->y, B->scratch);
    }
}

static void backward(const layer *l, bufs *B) {
    const td_conv_geom *g = &B->g;
    td_real *dx = l->input_grad ? B->dx : NULL;
    if (!l->transpose) {
        td_conv2d_backward(g, B->x, B->dy, B->w, dx, 1, B->dw, B->scratch, B->keep);
        td_conv_bias_grad(g->n, g->o, g->oh * g->ow, B->dy, B->db);
    } else {
        td_conv_transpose2d_backward(g, B->dy, B->x, B->w, dx, 1, B->dw, B->scratch);
        td_conv_bias_grad(g->n, g->c, g->h * g->w, B->dy, B->db);
    }
}

/* The GEMMs of one lowering, chunk by chunk and block by block, as
 * tensor/conv.c issues them (on scratch, which holds whatever was there):
 * kind 0 forward (W col), 1 input gradient (W^T G), 2 weight gradient. */
static void gemms(const td_conv_geom *g, int kind, bufs *B) {
    const int64_t K = g->c * g->kh * g->kw, mc = td_conv_chunk(g), qc = td_conv_pixel_chunk(g);
    const int64_t op = g->oh * g->ow;
    td_real *col = B->scratch, *G = col + col_block(g), *t = G + g->o * op * mc;
    for (int64_t m0 = 0; m0 < g->n; m0 += mc) {
        const int64_t cn = g->n - m0 < mc ? g->n - m0 : mc;
        for (int64_t q0 = 0; q0 < op; q0 += qc) {
            const int64_t P = (op - q0 < qc ? op - q0 : qc) * cn;
            if (kind == 0)
                td_gemm(0, TD_GEMM_PANELS, g->o, P, K, 1, B->w, K, col, K, 0, G + q0 * cn, op * cn);
            if (kind == 1) td_gemm(1, 0, K, P, g->o, 1, B->w, K, G + q0 * cn, op * cn, 0, col, P);
            if (kind == 2)
                td_conv_dw_gemm(g, G + q0 * cn, op * cn, col, P, m0 == 0 && q0 == 0, t);
        }
    }
}

/* The GEMMs of a layer's forward and backward, in the order the ops run them. */
static void layer_gemms(const layer *l, bufs *B) {
    gemms(&B->g, l->transpose ? 1 : 0, B);
    if (l->input_grad) gemms(&B->g, l->transpose ? 0 : 1, B);
    gemms(&B->g, 2, B);
}

/* The median of n timings in seconds, in ms (sorts them). */
static double median_ms(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return 1e3 * v[n / 2];
}

/* im2col (kind 0) or col2im (1) of a layer's whole batch, chunk by chunk
 * and block by block, on the image side already in CHWN (scratch's first
 * chunk, whatever it holds) and the im2col block after it. */
static void lower(const layer *l, bufs *B, int kind) {
    (void)l;
    const td_conv_geom *g = &B->g;
    const int64_t mc = td_conv_chunk(g), qc = td_conv_pixel_chunk(g), op = g->oh * g->ow;
    td_real *it = B->scratch, *col = it + mc * g->c * g->h * g->w;
    for (int64_t m0 = 0; m0 < g->n; m0 += mc) {
        const int64_t cn = g->n - m0 < mc ? g->n - m0 : mc;
        for (int64_t q0 = 0; q0 < op; q0 += qc) {
            const int64_t qn = op - q0 < qc ? op - q0 : qc;
            if (kind == 0) td_conv_im2col(g, it, cn, q0, qn, col);
            else td_conv_col2im(g, col, cn, q0, qn, 1, NULL, 0, it);
        }
    }
}

/* [layer][im2col wall, col2im wall, im2col CPU, col2im CPU][rep], medians */
static void lowering_table(bufs *B, int64_t batch, int threads, int reps) {
    double *t = calloc((size_t)(N_LAYERS * 4 * reps), sizeof(double));
#define TL(l, k, rep) t[((l) * 4 + (k)) * reps + (rep)]
    for (int rep = -1; rep < reps; rep++)
        for (int i = 0; i < N_LAYERS; i++)
            for (int kind = 0; kind < 2; kind++) {
                const double w0 = bench_now(), c0 = cpu();
                lower(&layers[i], &B[i], kind);
                if (rep >= 0) TL(i, kind, rep) = bench_now() - w0, TL(i, 2 + kind, rep) = cpu() - c0;
            }
    printf("batch %lld, %d thread(s), median of %d; ms (wall / this thread's CPU)\n",
           (long long)batch, threads, reps);
    printf("%-34s %15s %15s %12s\n", "layer", "im2col", "col2im", "elements");
    double sum[4] = {0};
    for (int i = 0; i < N_LAYERS; i++) {
        double med[4];
        for (int k = 0; k < 4; k++) sum[k] += med[k] = median_ms(&TL(i, k, 0), reps);
        const td_conv_geom *g = &B[i].g;
        printf("%-34s %7.3f/%7.3f %7.3f/%7.3f %12lld\n", layers[i].name, med[0], med[2], med[1],
               med[3], (long long)(g->n * g->c * g->kh * g->kw * g->oh * g->ow));
    }
    printf("%-34s %7.3f/%7.3f %7.3f/%7.3f\n", "all five", sum[0], sum[2], sum[1], sum[3]);
#undef TL
    free(t);
}

/* Multiply-adds of one pass (the forward; each gradient costs the same). */
static double macs(const td_conv_geom *g) {
    return (double)g->n * g->o * g->oh * g->ow * g->c * g->kh * g->kw;
}

int main(int argc, char **argv) {
    int threads = 1, reps = 7, lowering = 0, chwn = 0;
    int64_t batch = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lowering")) lowering = 1;
        else if (!strcmp(argv[i], "--chwn")) chwn = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--batch")) batch = atoll(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: bench_conv [--threads N] [--reps R] [--batch B] [--lowering] [--chwn]\n");
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || batch < 1) {
        fprintf(stderr, "bench_conv: --threads, --reps and --batch must be at least 1\n");
        return 2;
    }
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    td_rng r;
    td_rng_init(&r, 1);
    bufs B[N_LAYERS];
    for (int i = 0; i < N_LAYERS; i++) setup(&layers[i], batch, chwn, &B[i], &r);
    if (lowering) {
        lowering_table(B, batch, threads, reps);
        for (int i = 0; i < N_LAYERS; i++) bufs_free(&B[i]);
        return 0;
    }
    /* [layer][0 fwd wall, 1 bwd wall, 2 gemm wall, 3 fwd cpu, 4 bwd cpu, 5 gemm cpu,
     * 6 outside the GEMMs: fwd + bwd - gemm, wall, of the same rep][rep] */
    enum { NK = 7 };
    double *t = calloc((size_t)(N_LAYERS * NK * reps), sizeof(double));
#define T(l, k, rep) t[((l) * NK + (k)) * reps + (rep)]
    for (int rep = -1; rep < reps; rep++) /* rep -1 warms up */
        for (int i = 0; i < N_LAYERS; i++) {
            double w0 = bench_now(), c0 = cpu();
            forward(&layers[i], &B[i]);
            double w1 = bench_now(), c1 = cpu();
            backward(&layers[i], &B[i]);
            double w2 = bench_now(), c2 = cpu();
            layer_gemms(&layers[i], &B[i]);
            double w3 = bench_now(), c3 = cpu();
            if (rep < 0) continue;
            T(i, 0, rep) = w1 - w0, T(i, 1, rep) = w2 - w1, T(i, 2, rep) = w3 - w2;
            T(i, 3, rep) = c1 - c0, T(i, 4, rep) = c2 - c1, T(i, 5, rep) = c3 - c2;
            T(i, 6, rep) = (w2 - w0) - (w3 - w2);
        }
    printf("batch %lld, %d thread(s), median of %d; ms (wall / this thread's CPU)\n",
           (long long)batch, threads, reps);
    printf("%-34s %15s %15s %15s %8s %7s %8s\n", "layer", "forward", "backward", "gemm alone",
           "share", "GFLOP/s", "outside");
    double sum[NK] = {0}, total_macs = 0, fwd_macs = 0;
    for (int i = 0; i < N_LAYERS; i++) {
        double med[NK];
        for (int k = 0; k < NK; k++) sum[k] += med[k] = median_ms(&T(i, k, 0), reps);
        /* forward, weight gradient and (but for the first) input gradient */
        const double m = macs(&B[i].g) * (2 + layers[i].input_grad);
        total_macs += m;
        fwd_macs += macs(&B[i].g);
        printf("%-34s %7.2f/%7.2f %7.2f/%7.2f %7.2f/%7.2f %7.0f%% %7.1f %8.2f\n", layers[i].name,
               med[0], med[3], med[1], med[4], med[2], med[5], 100 * med[5] / (med[3] + med[4]),
               2 * m / (1e6 * (med[0] + med[1])), med[6]);
    }
    printf("%-34s %7.2f/%7.2f %7.2f/%7.2f %7.2f/%7.2f %7.0f%% %7.1f %8.2f\n", "all five", sum[0],
           sum[3], sum[1], sum[4], sum[2], sum[5], 100 * sum[5] / (sum[3] + sum[4]),
           2 * total_macs / (1e6 * (sum[0] + sum[1])), sum[6]);
    printf("%.3g GFLOP per forward+backward (%.2f M multiply-adds per image forward)\n",
           2 * total_macs / 1e9, fwd_macs / 1e6 / (double)batch);
    for (int i = 0; i < N_LAYERS; i++) bufs_free(&B[i]);
    free(t);
    return 0;
}
