/* bench_allreduce: the gradient all-reduce of nn/dist.h, timed under mpirun
 * (the all-reduce figures of docs/distributed.md and BENCHMARKS.md).
 *
 *   mpirun -np N bench_allreduce [REPS]
 *
 * The block is the canonical VAE's gradient (td_vae_defaults, 784 inputs),
 * then pieces of it from 1 KB up, to fit the ring model's two terms:
 * t(S) = latency + S / bandwidth. Each size: REPS all-reduces (default
 * 200), each after the ranks met (a tiny collective), the median printed by
 * rank 0 with the bus bandwidth 2 (N - 1) / N * S / t that a ring moves per
 * rank. */
#include <stdio.h>
#include <stdlib.h>

#include "timing.h"
#include "models/vae.h"
#include "nn/dist.h"

int main(int argc, char **argv) {
    if (td_dist_init(&argc, &argv)) {
        fprintf(stderr, "bench_allreduce: %s\n", td_error());
        return 1;
    }
    const int reps = argc > 1 ? atoi(argv[1]) : 200;
    if (reps < 1) {
        fprintf(stderr, "usage: mpirun -np N bench_allreduce [REPS >= 1]\n");
        return 2;
    }
    const int rank = td_dist_rank(), size = td_dist_size();
    td_params *p = td_params_create();
    td_vae vae;
    td_vae_config vc = td_vae_defaults();
    vc.input = 784;
    if (td_vae_init(&vae, p, &vc)) {
        fprintf(stderr, "bench_allreduce: %s\n", td_error());
        return 1;
    }
    td_rng rng;
    td_rng_init(&rng, 1);
    td_params_finalize(p, &rng);
    const int64_t whole = p->total;
    if (rank == 0)
        printf("%d ranks; the canonical VAE's gradient block: %lld floats, %.3f MB\n"
               "%12s %12s %12s\n", size, (long long)whole, 4e-6 * (double)whole, "bytes", "median ms",
               "bus GB/s");
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int64_t n = 256;; n = n * 4 < whole ? n * 4 : whole) {
        p->total = n; /* the first n floats of the block */
        for (int r = 0; r < reps; r++) {
            (void)td_dist_any(0); /* start together */
            const double t0 = bench_now();
            td_dist_reduce_grads(p, TD_DIST_SUM);
            t[r] = bench_now() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
        const double med = t[reps / 2], bytes = 4.0 * (double)n;
        if (rank == 0)
            printf("%12.0f %12.4f %12.2f\n", bytes, 1e3 * med,
                   size > 1 ? 2.0 * (size - 1) / size * bytes / med * 1e-9 : 0);
        if (n == whole) break;
    }
    p->total = whole;
    free(t);
    td_params_destroy(p);
    td_dist_finalize();
    return 0;
}
