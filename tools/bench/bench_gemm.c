/* bench_gemm: GFLOP/s of td_gemm against the naive triple loop and, when
 * built with -DTD_BENCH_OPENBLAS (meson finds openblas), OpenBLAS, at the
 * GEMMs of one VAE training step (batch 128, 784-400-20) plus squares.
 *
 *   bench_gemm [--threads N] [--reps N] [--target-ms T] [--only NAME] [--no-naive]
 *
 * Operands are laid out as tinyad's linear layer calls td_gemm: forward
 * y = x W^T (W is [out, in], so trans_b), dX = g W, dW = g^T x (trans_a),
 * all with beta = 1 (bias / gradient accumulation). Samples are taken
 * round-robin over shapes and libraries, so a slow spell of a noisy machine
 * hits all alike. Each sample times `inner` calls calibrated to ~target-ms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"
#include "tensor/gemm.h"
#include "tensor/isa.h"
#include "tensor/tensor.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef TD_BENCH_OPENBLAS
#include <cblas.h>
#endif

typedef struct shape {
    const char *name;
    int ta, tb;
    int64_t M, N, K;
    int naive; /* time the naive loop too (skipped where it takes seconds) */
} shape;

static const shape shapes[] = {
    {"fwd fc1  128x784 @ (400x784)^T", 0, 1, 128, 400, 784, 1},
    {"fwd fc2x 128x400 @ (20x400)^T", 0, 1, 128, 20, 400, 1},
    {"fwd fc2  128x400 @ (40x400)^T", 0, 1, 128, 40, 400, 1},
    {"fwd fc3  128x20 @ (400x20)^T", 0, 1, 128, 400, 20, 1},
    {"fwd fc4  128x400 @ (784x400)^T", 0, 1, 128, 784, 400, 1},
    {"dX  fc4  128x784 @ 784x400", 0, 0, 128, 400, 784, 1},
    {"dW  fc4  (128x784)^T @ 128x400", 1, 0, 784, 400, 128, 1},
    {"dX  fc3  128x400 @ 400x20", 0, 0, 128, 20, 400, 1},
    {"dW  fc3  (128x400)^T @ 128x20", 1, 0, 400, 20, 128, 1},
    {"dX  fc2x 128x20 @ 20x400", 0, 0, 128, 400, 20, 1},
    {"dW  fc2x (128x20)^T @ 128x400", 1, 0, 20, 400, 128, 1},
    {"dW  fc1  (128x400)^T @ 128x784", 1, 0, 400, 784, 128, 1},
    {"square 512", 0, 0, 512, 512, 512, 1},
    {"square 1024", 0, 0, 1024, 1024, 1024, 0},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

enum { LIB_TINYAD, LIB_NAIVE, LIB_OPENBLAS, NLIB };
static const char *lib_names[NLIB] = {"tinyad", "naive", "openblas"};

typedef struct operands {
    td_real *A, *B, *C;
    int64_t lda, ldb, ldc;
} operands;

static void run(int lib, const shape *s, const operands *o) {
    switch (lib) {
    case LIB_TINYAD:
        td_gemm(s->ta, s->tb, s->M, s->N, s->K, 1, o->A, o->lda, o->B, o->ldb, 1, o->C, o->ldc);
        break;
    case LIB_NAIVE:
        td_gemm_naive(s->ta, s->tb, s->M, s->N, s->K, 1, o->A, o->lda, o->B, o->ldb, 1, o->C,
                      o->ldc);
        break;
#ifdef TD_BENCH_OPENBLAS
    case LIB_OPENBLAS:
#ifdef TD_DOUBLE
        cblas_dgemm(
#else
        cblas_sgemm(
#endif
            CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
            (int)s->M, (int)s->N, (int)s->K, 1, o->A, (int)o->lda, o->B, (int)o->ldb, 1, o->C,
            (int)o->ldc);
        break;
#endif
    default:
        break;
    }
}

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void usage(void) {
    fprintf(stderr, "usage: bench_gemm [--threads N] [--reps N] [--target-ms T] [--only SUBSTR] "
                    "[--no-naive]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int threads = 0, reps = 11, no_naive = 0;
    double target_ms = 20;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--target-ms") && i + 1 < argc)
            target_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--no-naive"))
            no_naive = 1;
        else
            usage();
    }
    if (reps < 1) reps = 1;
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
    threads = omp_get_max_threads();
#else
    threads = 1;
#endif
    int have_blas = 0;
#ifdef TD_BENCH_OPENBLAS
    openblas_set_num_threads(threads);
    have_blas = 1;
#endif

    printf("bench_gemm: %s, %d thread(s), compiler %s\n", TD_REAL_NAME, threads, __VERSION__);
    printf("%s; build:", td_isa_summary());
#ifdef __OPTIMIZE__
    printf(" optimized");
#endif
#ifdef _OPENMP
    printf(" OpenMP");
#endif
    printf(have_blas ? " +OpenBLAS %s\n" : " (no OpenBLAS)\n",
#ifdef TD_BENCH_OPENBLAS
           openblas_get_config()
#else
           ""
#endif
    );
    printf("%d samples per case, ~%.0f ms each; GFLOP/s median [min, max]\n\n", reps, target_ms);

    /* operands (C is re-used: beta = 1 accumulates, which is what training
     * does; the values stay bounded because samples are few) */
    operands ops[NSHAPES];
    int active[NSHAPES];
    int inner[NSHAPES][NLIB];
    double *samples[NSHAPES][NLIB];
    unsigned seed = 12345;
    for (int s = 0; s < NSHAPES; s++) {
        const shape *sh = &shapes[s];
        active[s] = !only || strstr(sh->name, only);
        if (!active[s]) continue;
        int64_t ar = sh->ta ? sh->K : sh->M, ac = sh->ta ? sh->M : sh->K;
        int64_t br = sh->tb ? sh->N : sh->K, bc = sh->tb ? sh->K : sh->N;
        operands *o = &ops[s];
        o->lda = ac;
        o->ldb = bc;
        o->ldc = sh->N;
        o->A = td_alloc(sizeof(td_real) * (size_t)(ar * ac));
        o->B = td_alloc(sizeof(td_real) * (size_t)(br * bc));
        o->C = td_alloc(sizeof(td_real) * (size_t)(sh->M * sh->N));
        for (int64_t i = 0; i < ar * ac; i++)
            o->A[i] = (td_real)((seed = seed * 1103515245u + 12345u) >> 16 & 1023) / 1024 - 0.5f;
        for (int64_t i = 0; i < br * bc; i++)
            o->B[i] = (td_real)((seed = seed * 1103515245u + 12345u) >> 16 & 1023) / 1024 - 0.5f;
        memset(o->C, 0, sizeof(td_real) * (size_t)(sh->M * sh->N));
        for (int l = 0; l < NLIB; l++) {
            samples[s][l] = calloc((size_t)reps, sizeof(double));
            int use = l == LIB_TINYAD || (l == LIB_NAIVE && sh->naive && !no_naive) ||
                      (l == LIB_OPENBLAS && have_blas);
            inner[s][l] = use; /* calibrated below */
        }
        /* sanity: td_gemm agrees with the reference on this shape */
        if (sh->naive) {
            td_real *c1 = calloc((size_t)(sh->M * sh->N), sizeof(td_real));
            td_real *c2 = calloc((size_t)(sh->M * sh->N), sizeof(td_real));
            td_gemm(sh->ta, sh->tb, sh->M, sh->N, sh->K, 1, o->A, o->lda, o->B, o->ldb, 0, c1,
                    o->ldc);
            td_gemm_naive(sh->ta, sh->tb, sh->M, sh->N, sh->K, 1, o->A, o->lda, o->B, o->ldb, 0,
                          c2, o->ldc);
            double err = 0;
            for (int64_t i = 0; i < sh->M * sh->N; i++)
                err = fmax(err, fabs((double)c1[i] - (double)c2[i]));
            if (err > 1e-3 * sqrt((double)sh->K)) {
                fprintf(stderr, "bench_gemm: %s: td_gemm differs from the reference by %g\n",
                        sh->name, err);
                return 1;
            }
            free(c1);
            free(c2);
        }
    }

    /* calibrate, library by library: as many calls as fit target_ms */
    for (int l = 0; l < NLIB; l++) {
        pause_ms(300);
        for (int s = 0; s < NSHAPES; s++) {
            if (!active[s] || !inner[s][l]) continue;
            run(l, &shapes[s], &ops[s]);
            double t0 = bench_now();
            int n = 0;
            do {
                run(l, &shapes[s], &ops[s]);
                n++;
            } while (bench_now() - t0 < 0.2 * target_ms * 1e-3);
            double per = (bench_now() - t0) / n;
            inner[s][l] = (int)(target_ms * 1e-3 / per);
            if (inner[s][l] < 1) inner[s][l] = 1;
        }
    }

    /* Samples: in each round every library in turn (the order alternates)
     * runs one sample of every shape. Between libraries the bench sleeps:
     * OpenBLAS's and OpenMP's idle threads spin for a while after a call,
     * and on a 2-core machine a spinning pool of the OTHER library halves
     * the speed of this one. A training process only ever has one pool. */
    for (int r = 0; r < reps; r++)
        for (int li = 0; li < NLIB; li++) {
            int l = r % 2 ? NLIB - 1 - li : li;
            pause_ms(300);
            for (int s = 0; s < NSHAPES; s++) {
                if (!active[s] || !inner[s][l]) continue;
                run(l, &shapes[s], &ops[s]); /* wake this library's threads */
                double t0 = bench_now();
                for (int i = 0; i < inner[s][l]; i++) run(l, &shapes[s], &ops[s]);
                samples[s][l][r] = (bench_now() - t0) / inner[s][l];
            }
        }

    printf("%-32s %6s %6s %6s  %-22s %-22s %-22s %8s %8s\n", "shape", "M", "N", "K",
           lib_names[0], lib_names[1], lib_names[2], "x naive", "/openblas");
    for (int s = 0; s < NSHAPES; s++) {
        if (!active[s]) continue;
        const shape *sh = &shapes[s];
        double flops = 2.0 * (double)sh->M * (double)sh->N * (double)sh->K;
        double med[NLIB] = {0};
        printf("%-32s %6lld %6lld %6lld ", sh->name, (long long)sh->M, (long long)sh->N,
               (long long)sh->K);
        for (int l = 0; l < NLIB; l++) {
            if (!inner[s][l]) {
                printf(" %-22s", "-");
                continue;
            }
            double *t = samples[s][l];
            qsort(t, (size_t)reps, sizeof(double), bench_cmp_double);
            med[l] = flops / t[reps / 2] / 1e9;
            char buf[64];
            snprintf(buf, sizeof buf, "%6.1f [%5.1f,%6.1f]", med[l], flops / t[reps - 1] / 1e9,
                     flops / t[0] / 1e9);
            printf(" %-22s", buf);
        }
        if (med[LIB_NAIVE] > 0)
            printf(" %8.1f", med[LIB_TINYAD] / med[LIB_NAIVE]);
        else
            printf(" %8s", "-");
        if (med[LIB_OPENBLAS] > 0)
            printf(" %8.2f", med[LIB_TINYAD] / med[LIB_OPENBLAS]);
        else
            printf(" %8s", "-");
        printf("\n");
    }
    for (int s = 0; s < NSHAPES; s++) {
        if (!active[s]) continue;
        for (int l = 0; l < NLIB; l++) free(samples[s][l]);
        td_free(ops[s].A);
        td_free(ops[s].B);
        td_free(ops[s].C);
    }
    return 0;
}
