/* Data-parallel training across processes (MPI).
 *
 * Every process ("rank") holds the same parameters, computes the gradient of
 * its share of a batch, and the shares are combined with one all-reduce over
 * the parameter set's contiguous gradient block, so that every rank applies
 * the same optimizer step and the weights stay identical by construction
 * (td_dist_check_same checks it).
 *
 * Built without MPI (meson -Dmpi=disabled, or no MPI found), or started
 * without mpirun, this is one rank of one: every call is then a no-op that
 * leaves the data as it is, so a program written for many ranks runs
 * unchanged in one process.
 *
 *   td_dist_init(&argc, &argv);
 *   td_dist_broadcast_params(params);        // rank 0's initial weights
 *   for each batch:
 *       loss = forward(this rank's rows); td_backward(...)
 *       td_dist_reduce_grads(params, TD_DIST_SUM);   // loss summed over rows
 *       td_optimizer_step(...)
 *   td_dist_finalize();
 */
#ifndef TD_DIST_H
#define TD_DIST_H

#include "params.h"

/* Start (MPI_Init when built with MPI) and stop. init returns 0, or -1 with
 * td_error() when MPI fails to start. */
int td_dist_init(int *argc, char ***argv);
void td_dist_finalize(void);

int td_dist_rank(void);  /* 0 .. size-1 */
int td_dist_size(void);  /* ranks in the job: 1 without MPI */
/* 1 when this library was built with MPI. */
int td_dist_built_with_mpi(void);

/* Copy rank 0's parameter values to every rank. */
void td_dist_broadcast_params(td_params *p);

/* Combine the ranks' gradients in place: TD_DIST_SUM for a loss summed over
 * the global batch (each rank's share summed over its rows), TD_DIST_MEAN
 * for one averaged over ranks. Every rank gets the same bits. */
typedef enum td_dist_op { TD_DIST_SUM, TD_DIST_MEAN } td_dist_op;
void td_dist_reduce_grads(td_params *p, td_dist_op op);

/* buf holds `items` items of item_bytes each; rank r owns items
 * [items r / size, items (r + 1) / size) and has filled those. Afterwards
 * every rank holds every item (MPI_Allgatherv in place): to combine
 * per-item partial sums in one fixed order whatever the rank count. */
void td_dist_allgather(void *buf, size_t item_bytes, int64_t items);
/* x[0..n) summed over ranks, in place (losses and counts, in double). */
void td_dist_sum(double *x, int n);
/* 1 on every rank if flag is non-zero on any rank (a NaN seen anywhere
 * decides the same way everywhere). */
int td_dist_any(int flag);

/* A checksum of the parameter values compared across ranks: 0 when every
 * rank holds the same bits, else -1 with td_error() naming a rank that
 * differs from rank 0. */
int td_dist_check_same(const td_params *p);

#endif
