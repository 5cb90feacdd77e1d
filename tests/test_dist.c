/* nn/dist.h: run as one process, and under mpirun with 2 and 3 ranks
 * (tests/meson.build, when MPI was found). Each rank checks:
 *   - broadcast makes differently initialized ranks identical, and
 *     td_dist_check_same agrees; a weight one bit off on one rank is caught
 *     and the rank named;
 *   - the summed gradient of the ranks' slices of a batch equals the
 *     gradient of the whole batch computed in one process (float rounding:
 *     the slices' sums are added in another order);
 *   - a few Adam steps on reduced gradients keep the ranks identical;
 *   - td_dist_sum and td_dist_any. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "nn/dist.h"
#include "tinyad.h"

enum { BATCH = 23, IN = 7, HID = 5, OUT = 3 };

/* The loss of rows [r0, r1) of the batch, summed over rows; backward into
 * the grads. */
static void slice_grad(td_tape *t, td_params *p, const td_mlp *net, const td_real *x,
                       const td_real *y, int r0, int r1) {
    td_tape_reset(t);
    td_params_zero_grad(p);
    if (r1 <= r0) return; /* an empty share: zero gradient */
    td_tensor xs = td_tensor_wrap(TD_SHAPE(r1 - r0, IN), (td_real *)x + r0 * IN);
    td_tensor ys = td_tensor_wrap(TD_SHAPE(r1 - r0, OUT), (td_real *)y + r0 * OUT);
    td_var *logits = td_mlp_forward(t, net, td_const(t, xs));
    td_var *loss = td_sum(t, td_bce_logits(t, logits, td_const(t, ys)));
    td_backward(t, loss);
}

int main(int argc, char **argv) {
    if (td_dist_init(&argc, &argv)) {
        fprintf(stderr, "test_dist: %s\n", td_error());
        return 1;
    }
    const int rank = td_dist_rank(), size = td_dist_size();
    printf("dist: rank %d of %d (%s MPI)\n", rank, size, td_dist_built_with_mpi() ? "with" : "without");

    td_rng rng;
    td_rng_init(&rng, 100 + (uint64_t)rank); /* every rank starts from other weights */
    td_params *p = td_params_create();
    td_mlp net;
    td_mlp_init(&net, p, "net", 3, (int64_t[]){IN, HID, OUT}, TD_ACT_TANH, TD_INIT_XAVIER);
    td_params_finalize(p, &rng);

    td_dist_broadcast_params(p);
    CHECK(td_dist_check_same(p) == 0, "after broadcast: %s", td_error());
    if (size > 1) {
        const td_real keep = p->values[3];
        /* the smallest change there is: one bit of one weight */
        if (rank == size - 1) p->values[3] = nextafterf(p->values[3], INFINITY);
        CHECK(td_dist_check_same(p) != 0 && strstr(td_error(), "rank"),
              "a perturbed weight on the last rank is caught: %s", td_error());
        char want[32];
        snprintf(want, sizeof want, "rank %d ", size - 1);
        CHECK(strstr(td_error(), want) != NULL, "the message names the rank: %s", td_error());
        p->values[3] = keep;
        td_clear_error();
        CHECK(td_dist_check_same(p) == 0, "restored: %s", td_error());
    }

    /* the same batch on every rank (one seed) */
    td_real x[BATCH * IN], y[BATCH * OUT];
    td_rng data;
    td_rng_init(&data, 7);
    td_rng_uniform(&data, x, BATCH * IN, -2, 2);
    td_rng_uniform(&data, y, BATCH * OUT, 0, 1);

    td_tape *t = td_tape_create();
    td_real whole[64], mine[64];
    TD_ASSERT(p->total <= 64, "test_dist: grow the buffers");
    slice_grad(t, p, &net, x, y, 0, BATCH);
    memcpy(whole, p->grads, sizeof(td_real) * (size_t)p->total);

    /* this rank's contiguous share of the batch (a remainder goes to the
     * first ranks) */
    const int r0 = BATCH * rank / size, r1 = BATCH * (rank + 1) / size;
    slice_grad(t, p, &net, x, y, r0, r1);
    td_dist_reduce_grads(p, TD_DIST_SUM);
    memcpy(mine, p->grads, sizeof(td_real) * (size_t)p->total);
    double worst = 0;
    for (int64_t i = 0; i < p->total; i++) {
        const double d = fabs((double)mine[i] - whole[i]) / (1e-6 + fabs((double)whole[i]));
        worst = d > worst ? d : worst;
    }
    CHECK(worst < 1e-5, "summed slices vs the whole batch: relative difference %.3g", worst);

    /* mean: the sum over ranks divided by the rank count */
    slice_grad(t, p, &net, x, y, r0, r1);
    td_dist_reduce_grads(p, TD_DIST_MEAN);
    CHECK_CLOSE(p->grads[0], mine[0] / size, 1e-6, 1e-5);

    td_optimizer *adam = td_optimizer_create(p, td_optim_defaults(TD_OPT_ADAM));
    for (int s = 0; s < 20; s++) {
        slice_grad(t, p, &net, x, y, r0, r1);
        td_dist_reduce_grads(p, TD_DIST_SUM);
        td_optimizer_step(adam, 1e-2);
    }
    CHECK(td_dist_check_same(p) == 0, "after 20 Adam steps: %s", td_error());

    double sums[2] = {1, (double)rank};
    td_dist_sum(sums, 2);
    CHECK(sums[0] == size && sums[1] == size * (size - 1) / 2.0, "td_dist_sum: %g %g", sums[0],
          sums[1]);
    CHECK(td_dist_any(rank == size - 1) == 1 && td_dist_any(0) == 0, "td_dist_any");

    td_optimizer_destroy(adam);
    td_tape_destroy(t);
    td_params_destroy(p);
    char name[32];
    snprintf(name, sizeof name, "dist rank %d", rank);
    const int status = check_done(name);
    td_dist_finalize();
    return status;
}
