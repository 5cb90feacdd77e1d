/* bench_step: one VAE training step, timed by phase, with allocations and
 * peak memory. The model is the canonical one (784-400-20, ReLU, Bernoulli
 * logits, Adam 1e-3, batch 128), or with --model convvae the convolutional
 * VAE (the Keras example's networks, 28x28, latent --latent, default 16);
 * the step the same as `tinyad train` runs: tape reset, forward + loss,
 * zero-grad, backward, gradient finiteness check, Adam update.
 *
 *   bench_step [--threads N] [--reps R] [--steps S] [--batch B] [--model vae|convvae]
 *              [--latent N] [--by-shape]
 *
 * The batch is synthetic (uniform [0, 1] pixels): the step's cost does not
 * depend on the values. After 20 warm-up steps, R samples each time S steps;
 * the figures are per step: median, and min..max over the samples.
 *
 * The bound: the step's matrix multiplies (recorded from one step as they
 * are called) timed alone, hot in cache, with OpenBLAS when bench_step is
 * built with -DTD_BENCH_OPENBLAS (meson finds openblas) and with td_gemm;
 * their sum at OpenBLAS's speed is what a step that did nothing but its
 * GEMMs would take. --by-shape also prints each distinct shape's calls
 * timed alone both ways, to show which shapes a gap between the two is in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "timing.h"
#include "models/convvae.h"
#include "models/vae.h"
#include "nn/optim.h"
#include "tensor/dispatch.h" /* to record the step's GEMM calls */
#include "tensor/isa.h"
#include "tensor/kernels.h"
#include "tensor/random.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef TD_BENCH_OPENBLAS
#include <cblas.h>
#endif

enum { PH_FORWARD, PH_ZERO, PH_BACKWARD, PH_CHECK, PH_OPTIM, PH_STEP, NPH };
static const char *phase_names[NPH] = {"forward+loss", "zero-grad", "backward", "finite-check",
                                       "adam", "step"};

typedef struct bench {
    td_vae m;
    td_convvae conv;
    td_vae_core core; /* the one of the two being timed */
    td_params *p;
    td_optimizer *opt;
    td_tape *tape;
    td_rng rng;
    td_tensor x;
} bench;

/* One training step; t[phase] += seconds. Returns 0 if the loss and the
 * gradients are finite. */
static int step(bench *b, double t[NPH]) {
    double t0 = bench_now();
    td_tape_reset(b->tape);
    td_vae_terms terms;
    td_var *loss = td_vae_core_loss(b->tape, &b->core, td_const(b->tape, b->x), &b->rng, 1.0, &terms);
    double t1 = bench_now();
    td_params_zero_grad(b->p);
    double t2 = bench_now();
    if (td_backward(b->tape, loss)) return -1;
    double t3 = bench_now();
    const td_tensor g = td_tensor_wrap(TD_SHAPE(b->p->total), b->p->grads);
    int ok = td_k_all_finite(&g);
    double t4 = bench_now();
    td_optimizer_step(b->opt, 1e-3);
    double t5 = bench_now();
    t[PH_FORWARD] += t1 - t0, t[PH_ZERO] += t2 - t1, t[PH_BACKWARD] += t3 - t2;
    t[PH_CHECK] += t4 - t3, t[PH_OPTIM] += t5 - t4, t[PH_STEP] += t5 - t0;
    return ok ? 0 : -1;
}

/* ---- the GEMM bound ---------------------------------------------------------- */
typedef struct gemm_call {
    int ta, tb;
    int64_t M, N, K;
} gemm_call;
#define MAX_CALLS 4096 /* the convolutions call td_gemm per chunk of images */
static gemm_call calls[MAX_CALLS];
static int ncalls;
static const td_kernel_set *real_kernels;

static void recording_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, td_real alpha,
                           const td_real *A, int64_t lda, const td_real *B, int64_t ldb,
                           td_real beta, td_real *C, int64_t ldc) {
    if (ncalls < MAX_CALLS) calls[ncalls++] = (gemm_call){ta, tb, M, N, K};
    real_kernels->td_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static int same_shape(const gemm_call *a, const gemm_call *b) {
    return a->ta == b->ta && a->tb == b->tb && a->M == b->M && a->N == b->N && a->K == b->K;
}

/* Median seconds of the recorded calls, one pass over all of them (or, if
 * only is given, over those of its shape), with td_gemm (openblas 0) or
 * OpenBLAS (1); operands as the layers have them (row-major, beta 1). */
static double time_calls(int openblas, long reps, const gemm_call *only) {
    int64_t most = 1;
    for (int c = 0; c < ncalls; c++) {
        const int64_t m = calls[c].M, n = calls[c].N, k = calls[c].K;
        if (m * k > most) most = m * k;
        if (k * n > most) most = k * n;
        if (m * n > most) most = m * n;
    }
    td_real *a = td_alloc_zero((size_t)most * sizeof(td_real));
    td_real *bm = td_alloc_zero((size_t)most * sizeof(td_real));
    td_real *cm = td_alloc_zero((size_t)most * sizeof(td_real));
    double *t = calloc((size_t)reps, sizeof(double));
    for (long r = -2; r < reps; r++) { /* two warm-up passes */
        const double t0 = bench_now();
        for (int c = 0; c < ncalls; c++) {
            const gemm_call g = calls[c];
            if (only && !same_shape(&g, only)) continue;
            const int64_t lda = g.ta ? g.M : g.K, ldb = g.tb ? g.K : g.N;
            if (!openblas) {
                td_gemm(g.ta, g.tb, g.M, g.N, g.K, 1, a, lda, bm, ldb, 1, cm, g.N);
                continue;
            }
#ifdef TD_BENCH_OPENBLAS
            cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans,
                        g.tb ? CblasTrans : CblasNoTrans, (int)g.M, (int)g.N, (int)g.K, 1, a,
                        (int)lda, bm, (int)ldb, 1, cm, (int)g.N);
#endif
        }
        if (r >= 0) t[r] = bench_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
    const double med = t[reps / 2];
    free(t);
    td_free(a), td_free(bm), td_free(cm);
    return med;
}

/* --by-shape: each distinct GEMM shape of the step, its calls, and their
 * time with td_gemm and with OpenBLAS, to see which shapes the gap is in. */
static void print_shapes(long reps) {
    printf("%-4s %6s %6s %6s %5s %10s %10s %7s\n", "op", "M", "N", "K", "calls", "td_gemm ms",
           "OpenBLAS", "ratio");
    for (int c = 0; c < ncalls; c++) {
        int seen = 0, count = 0;
        for (int d = 0; d < ncalls; d++) {
            if (!same_shape(&calls[c], &calls[d])) continue;
            if (d < c) seen = 1;
            count++;
        }
        if (seen) continue;
        const gemm_call *g = &calls[c];
        const double own = 1e3 * time_calls(0, reps, g);
        printf("%c%c   %6lld %6lld %6lld %5d %10.3f", g->ta ? 'T' : 'N', g->tb ? 'T' : 'N',
               (long long)g->M, (long long)g->N, (long long)g->K, count, own);
#ifdef TD_BENCH_OPENBLAS
        const double blas = 1e3 * time_calls(1, reps, g);
        printf(" %10.3f %7.2f\n", blas, own / blas);
#else
        printf(" %10s %7s\n", "-", "-");
#endif
    }
}

static long arg_long(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "bench_step: %s needs a value\n", argv[*i]);
        exit(2);
    }
    char *end;
    long v = strtol(argv[++*i], &end, 10);
    if (*end || v < 1) {
        fprintf(stderr, "bench_step: %s %s: expected a positive integer\n", argv[*i - 1], argv[*i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    long threads = 0, reps = 9, steps = 50, batch = 128, latent = 16;
    int conv = 0, by_shape = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc && (!strcmp(argv[i + 1], "vae") || !strcmp(argv[i + 1], "convvae")))
            conv = !strcmp(argv[++i], "convvae");
        else if (!strcmp(argv[i], "--latent")) latent = arg_long(argc, argv, &i);
        else if (!strcmp(argv[i], "--threads")) threads = arg_long(argc, argv, &i);
        else if (!strcmp(argv[i], "--reps")) reps = arg_long(argc, argv, &i);
        else if (!strcmp(argv[i], "--steps")) steps = arg_long(argc, argv, &i);
        else if (!strcmp(argv[i], "--batch")) batch = arg_long(argc, argv, &i);
        else if (!strcmp(argv[i], "--by-shape")) by_shape = 1;
        else {
            fprintf(stderr, "usage: bench_step [--threads N] [--reps R] [--steps S] [--batch B] "
                            "[--model vae|convvae] [--latent N] [--by-shape]\n");
            return 2;
        }
    }
#ifdef _OPENMP
    if (threads) omp_set_num_threads((int)threads);
    threads = omp_get_max_threads();
#else
    threads = 1;
#endif

    bench b;
    td_vae_config cfg = td_vae_defaults();
    td_convvae_config ccfg = td_convvae_defaults();
    ccfg.latent = latent;
    b.p = td_params_create();
    if (conv ? td_convvae_init(&b.conv, b.p, &ccfg) : td_vae_init(&b.m, b.p, &cfg)) {
        fprintf(stderr, "bench_step: %s\n", td_error());
        return 1;
    }
    b.core = conv ? td_convvae_as_core(&b.conv) : td_vae_as_core(&b.m);
    td_rng_init(&b.rng, 1);
    td_params_finalize(b.p, &b.rng);
    b.opt = td_optimizer_create(b.p, td_optim_defaults(TD_OPT_ADAM));
    b.tape = td_tape_create();
    b.x = td_tensor_zeros(TD_SHAPE(batch, cfg.input));
    td_rng_uniform(&b.rng, b.x.data, b.x.size, 0, 1);

    double scratch[NPH] = {0};
    for (int i = 0; i < 20; i++)
        if (step(&b, scratch)) {
            fprintf(stderr, "bench_step: the loss or a gradient is not finite\n");
            return 1;
        }
    /* one step with the GEMMs recorded */
    td_kernel_set recording = *td_kernels;
    real_kernels = td_kernels;
    recording.td_gemm = recording_gemm;
    td_kernels = &recording;
    step(&b, scratch);
    td_kernels = real_kernels;

    const int64_t allocs0 = td_alloc_count();
    double *samples = calloc((size_t)(reps * NPH), sizeof(double));
    for (long r = 0; r < reps; r++) {
        double t[NPH] = {0};
        for (long s = 0; s < steps; s++) step(&b, t);
        for (int ph = 0; ph < NPH; ph++) samples[ph * reps + r] = 1e3 * t[ph] / (double)steps;
    }
    const int64_t allocs = td_alloc_count() - allocs0;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char model[96];
    if (conv)
        snprintf(model, sizeof model, "convolutional VAE (Keras example's), latent %ld", latent);
    else
        snprintf(model, sizeof model, "VAE 784-400-20 relu");
    printf("bench_step: %s, batch %ld, Adam; %ld threads; %s%s, %s\n", model, batch,
           threads, td_isa_summary(),
#ifdef _OPENMP
           ", OpenMP",
#else
           ", no OpenMP",
#endif
           TD_REAL_NAME);
    printf("compiler %s; %ld samples of %ld steps after 20 warm-up steps\n", __VERSION__, reps,
           steps);
    printf("%-14s %10s %10s %10s %8s\n", "phase", "median ms", "min", "max", "share");
    for (int ph = 0; ph < NPH; ph++) {
        double *s = samples + ph * reps;
        qsort(s, (size_t)reps, sizeof *s, bench_cmp_double);
        const double med = s[reps / 2], step_med = samples[PH_STEP * reps + reps / 2];
        printf("%-14s %10.3f %10.3f %10.3f %7.1f%%\n", phase_names[ph], med, s[0], s[reps - 1],
               100 * med / step_med);
    }
    const double step_ms = samples[PH_STEP * reps + reps / 2];
    printf("images/s %.0f; epoch of 60000 images at this rate %.2f s\n", 1e3 * (double)batch / step_ms,
           60000.0 / (double)batch * step_ms / 1e3);
    double macs = 0;
    for (int c = 0; c < ncalls; c++) macs += (double)calls[c].M * calls[c].N * calls[c].K;
    if (ncalls == MAX_CALLS) printf("warning: more than %d GEMM calls in a step; the bound counts the first %d\n", MAX_CALLS, MAX_CALLS);
    const double own_ms = 1e3 * time_calls(0, reps, NULL);
    printf("GEMMs of one step: %d calls, %.1f M multiply-adds; alone: td_gemm %.3f ms", ncalls,
           macs / 1e6, own_ms);
#ifdef TD_BENCH_OPENBLAS
    openblas_set_num_threads((int)threads);
    const double blas_ms = 1e3 * time_calls(1, reps, NULL);
    printf(", OpenBLAS %.3f ms (%s)\n", blas_ms, openblas_get_corename());
    printf("bound (the GEMMs at OpenBLAS's speed) %.3f ms; step / bound = %.3f\n", blas_ms,
           step_ms / blas_ms);
#else
    printf("\nbound: needs OpenBLAS (libopenblas-dev) at build time; step / td_gemm alone = %.3f\n",
           step_ms / own_ms);
#endif
    if (by_shape) print_shapes(reps);
    printf("allocations per step after warm-up: %.3f (%lld in %ld steps)\n",
           (double)allocs / (double)(reps * steps), (long long)allocs, reps * steps);
    printf("peak resident memory: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);

    free(samples);
    td_tensor_release(&b.x);
    td_tape_destroy(b.tape);
    td_optimizer_destroy(b.opt);
    td_params_destroy(b.p);
    return 0;
}
