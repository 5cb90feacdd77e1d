/* bench_kernels: throughput of the fused and elementwise kernels a VAE step
 * runs, in elements per nanosecond, on every instruction-set path this CPU
 * supports, next to a memory yardstick: memcpy of the same bytes at the same
 * working-set size (what a kernel bound by moving its data could reach).
 *
 *   bench_kernels [--threads N] [--reps R] [--target-ms T]
 *
 * Sizes are the canonical VAE's (batch 128, 784-400-20): the decoder's
 * 128 x 784 logits, a 128 x 400 hidden layer, the 318,710 parameters. Each
 * sample times enough calls for ~T ms; the figure is the median over R
 * samples, taken round-robin over kernels and paths so a noisy spell hits
 * all alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"
#include "tensor/isa.h"
#include "tensor/kernels.h"
#include "tensor/random.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define ROWS 128
#define COLS 784
#define HIDDEN 400
#define PARAMS 318710

/* Operands, big enough for every kernel. */
static td_tensor x, y, out, d, p, g, m, v, bias;
static td_real rowloss[ROWS];

typedef struct kernel {
    const char *name;
    int64_t n;       /* elements processed per call */
    int bytes;       /* bytes read + written per element */
    void (*run)(int64_t n);
    int big;         /* 1: compare with the big memcpy (the parameter blocks) */
} kernel;

static td_tensor flat(td_tensor *t, int64_t n) { return td_tensor_wrap(TD_SHAPE(n), t->data); }

static void run_copy(int64_t n) { memcpy(out.data, x.data, (size_t)n * sizeof(td_real)); }
static void run_bce(int64_t n) {
    td_k_bce_logits_rows(x.data, y.data, ROWS, n / ROWS, rowloss, d.data);
}
#define UNARY(NAME, OP)                                                     \
    static void run_##NAME(int64_t n) {                                     \
        td_tensor a = flat(&x, n), o = flat(&out, n);                       \
        td_k_unary(OP, &o, &a);                                             \
    }
UNARY(relu, TD_UN_RELU)
UNARY(tanh, TD_UN_TANH)
UNARY(softplus, TD_UN_SOFTPLUS)
UNARY(sigmoid, TD_UN_SIGMOID)
UNARY(exp, TD_UN_EXP)
static void run_mul(int64_t n) {
    td_tensor a = flat(&x, n), b = flat(&y, n), o = flat(&out, n);
    td_k_binary(TD_BIN_MUL, &o, &a, &b);
}
static void run_bias_add(int64_t n) { /* [rows, hidden] + [hidden] */
    td_tensor a = td_tensor_wrap(TD_SHAPE(n / HIDDEN, HIDDEN), x.data);
    td_tensor o = td_tensor_wrap(TD_SHAPE(n / HIDDEN, HIDDEN), out.data);
    td_k_binary(TD_BIN_ADD, &o, &a, &bias);
}
static void run_axpy(int64_t n) {
    td_tensor a = flat(&x, n), o = flat(&out, n);
    td_k_axpy(&o, (td_real)0.5, &a);
}
static void run_bias_grad(int64_t n) { /* column sums [rows, hidden] -> [hidden] */
    td_tensor gg = td_tensor_wrap(TD_SHAPE(n / HIDDEN, HIDDEN), x.data);
    td_k_reduce_add_to(&bias, &gg);
}
static double sink;
static void run_sum(int64_t n) {
    td_tensor a = flat(&x, n);
    sink += td_k_sum(&a);
}
static void run_finite(int64_t n) {
    td_tensor a = flat(&g, n);
    sink += td_k_all_finite(&a);
}
static void run_adam(int64_t n) {
    const td_adam_coef c = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .l2 = 0, .shrink = 1,
                            .step_size = 1e-3f, .bc2_sqrt = 0.5f};
    td_k_adam_update(p.data, g.data, m.data, v.data, n, c);
}

static const kernel kernels[] = {
    {"memcpy (yardstick) 128x784", ROWS * COLS, 8, run_copy, 0},
    {"bce_logits_rows+grad 128x784", ROWS * COLS, 12, run_bce, 0},
    {"relu 128x400", ROWS * HIDDEN, 8, run_relu, 0},
    {"tanh 128x400", ROWS * HIDDEN, 8, run_tanh, 0},
    {"softplus 128x400", ROWS * HIDDEN, 8, run_softplus, 0},
    {"sigmoid 128x784", ROWS * COLS, 8, run_sigmoid, 0},
    {"exp 128x400", ROWS * HIDDEN, 8, run_exp, 0},
    {"mul 128x400", ROWS * HIDDEN, 12, run_mul, 0},
    {"bias add 128x400 + 400", ROWS * HIDDEN, 8, run_bias_add, 0},
    {"axpy 128x400", ROWS * HIDDEN, 12, run_axpy, 0},
    {"bias grad 128x400 -> 400", ROWS * HIDDEN, 4, run_bias_grad, 0},
    {"sum 128x784", ROWS * COLS, 4, run_sum, 0},
    {"all_finite 318710", PARAMS, 4, run_finite, 1},
    {"adam 318710", PARAMS, 28, run_adam, 1},
    {"memcpy (yardstick) 8.9 MB", PARAMS * 7 / 2, 8, run_copy, 1},
};
#define NK ((int)(sizeof kernels / sizeof kernels[0]))

static long arg_long(int argc, char **argv, int *i) {
    char *end;
    long val = *i + 1 < argc ? strtol(argv[++*i], &end, 10) : 0;
    if (val < 1 || *end) {
        fprintf(stderr, "bench_kernels: %s needs a positive whole number\n", argv[*i]);
        exit(2);
    }
    return val;
}

int main(int argc, char **argv) {
    long threads = 1, reps = 7, target_ms = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads")) threads = arg_long(argc, argv, &i);
        else if (!strcmp(argv[i], "--reps")) reps = arg_long(argc, argv, &i);
        else if (!strcmp(argv[i], "--target-ms")) target_ms = arg_long(argc, argv, &i);
        else {
            fprintf(stderr, "usage: bench_kernels [--threads N] [--reps R] [--target-ms T]\n");
            return 2;
        }
    }
#ifdef _OPENMP
    omp_set_num_threads((int)threads);
#endif
    const int64_t big = PARAMS * 4;
    td_tensor *all[] = {&x, &y, &out, &d, &p, &g, &m, &v};
    td_rng rng;
    td_rng_init(&rng, 1);
    for (int i = 0; i < 8; i++) {
        *all[i] = td_tensor_zeros(TD_SHAPE(big));
        td_rng_uniform(&rng, all[i]->data, big, -3, 3);
    }
    td_rng_uniform(&rng, y.data, big, 0, 1);        /* targets in [0, 1] */
    td_rng_uniform(&rng, v.data, big, 0, 1);        /* second moments >= 0 */
    bias = td_tensor_zeros(TD_SHAPE(HIDDEN));

    int paths[TD_ISA_COUNT], np = 0;
    for (int i = 0; i < TD_ISA_COUNT; i++)
        if (td_isa_supported((td_isa)i)) paths[np++] = i;
    const td_isa start = td_isa_active();

    /* calls per sample, calibrated on the starting path */
    long inner[NK];
    for (int k = 0; k < NK; k++) {
        inner[k] = 1;
        for (;;) {
            double t0 = bench_now();
            for (long c = 0; c < inner[k]; c++) kernels[k].run(kernels[k].n);
            if (bench_now() - t0 > 1e-3 * (double)target_ms || inner[k] > (1L << 24)) break;
            inner[k] *= 2;
        }
    }
    double *ns = calloc((size_t)(NK * np * reps), sizeof(double));
    for (long r = 0; r < reps; r++)
        for (int q = 0; q < np; q++) {
            td_isa_use((td_isa)paths[q]);
            for (int k = 0; k < NK; k++) {
                kernels[k].run(kernels[k].n); /* warm */
                double t0 = bench_now();
                for (long c = 0; c < inner[k]; c++) kernels[k].run(kernels[k].n);
                ns[(k * np + q) * reps + r] = 1e9 * (bench_now() - t0) / (double)inner[k];
            }
        }
    td_isa_use(start);

    double *med = calloc((size_t)(NK * np), sizeof(double)); /* ns per call */
    for (int i = 0; i < NK * np; i++) {
        qsort(ns + i * reps, (size_t)reps, sizeof *ns, bench_cmp_double);
        med[i] = ns[i * reps + reps / 2];
    }
    printf("bench_kernels: %s, %ld thread(s), %s, median of %ld samples\n", TD_REAL_NAME, threads,
           td_isa_summary(), reps);
    printf("elements per ns (higher is better); copy bound: memcpy's bytes per ns on the best\n"
           "path at a like size (first or last row), over the kernel's bytes per element\n");
    printf("%-32s %6s", "kernel", "B/elem");
    for (int q = 0; q < np; q++) printf(" %8s", td_isa_name((td_isa)paths[q]));
    printf(" %11s\n", "copy bound");
    for (int k = 0; k < NK; k++) {
        printf("%-32s %6d", kernels[k].name, kernels[k].bytes);
        for (int q = 0; q < np; q++) printf(" %8.2f", (double)kernels[k].n / med[k * np + q]);
        const int yard = kernels[k].big ? NK - 1 : 0;
        const double copy_bytes_per_ns =
            (double)kernels[yard].n * kernels[yard].bytes / med[yard * np + np - 1];
        printf(" %11.2f\n", copy_bytes_per_ns / kernels[k].bytes);
    }
    free(med);
    for (int i = 0; i < 8; i++) td_tensor_release(all[i]);
    td_tensor_release(&bias);
    free(ns);
    return sink == 12345.678 ? 1 : 0; /* keep the sums alive */
}
