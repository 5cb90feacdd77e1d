/* Data-parallel training across processes (contract in dist.h): MPI when the
 * build found it (TD_HAVE_MPI), else one rank of one. */
#include "dist.h"

#include <stdlib.h>
#include <string.h>

#ifdef TD_HAVE_MPI
#include <mpi.h>
#endif

int td_dist_built_with_mpi(void) {
#ifdef TD_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef TD_HAVE_MPI

/* FNV-1a over the bytes of the values: equal bits, equal sums. */
static uint64_t checksum(const td_params *p) {
    const unsigned char *b = (const unsigned char *)p->values;
    const size_t n = sizeof(td_real) * (size_t)p->total;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int started; /* this library called MPI_Init (so it finalizes) */

#ifdef TD_DOUBLE
#define MPI_REAL_T MPI_DOUBLE
#else
#define MPI_REAL_T MPI_FLOAT
#endif

/* MPI counts are int: long blocks go in pieces of at most 2^30. */
#define PIECE ((int64_t)1 << 30)

/* Started by an MPI launcher (mpirun, srun, hydra)? A program started on
 * its own stays one process: MPI's singleton start-up costs time and would
 * gain nothing. */
static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int td_dist_init(int *argc, char ***argv) {
    int ready = 0;
    MPI_Initialized(&ready);
    if (ready || !launched_by_mpi()) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        td_set_error("MPI_Init failed: is this run under mpirun, with Open MPI installed?");
        return -1;
    }
    started = 1;
    return 0;
}

void td_dist_finalize(void) {
    int ready = 0, done = 0;
    MPI_Initialized(&ready);
    MPI_Finalized(&done);
    if (started && ready && !done) MPI_Finalize();
    started = 0;
}

static int running(void) {
    int ready = 0, done = 0;
    MPI_Initialized(&ready);
    MPI_Finalized(&done);
    return ready && !done;
}

int td_dist_rank(void) {
    int r = 0;
    if (running()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int td_dist_size(void) {
    int n = 1;
    if (running()) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

void td_dist_broadcast_params(td_params *p) {
    if (td_dist_size() == 1) return;
    for (int64_t i = 0; i < p->total; i += PIECE) {
        const int n = (int)(p->total - i < PIECE ? p->total - i : PIECE);
        MPI_Bcast(p->values + i, n, MPI_REAL_T, 0, MPI_COMM_WORLD);
    }
}

void td_dist_reduce_grads(td_params *p, td_dist_op op) {
    const int size = td_dist_size();
    if (size == 1) return;
    for (int64_t i = 0; i < p->total; i += PIECE) {
        const int n = (int)(p->total - i < PIECE ? p->total - i : PIECE);
        MPI_Allreduce(MPI_IN_PLACE, p->grads + i, n, MPI_REAL_T, MPI_SUM, MPI_COMM_WORLD);
    }
    if (op == TD_DIST_MEAN) {
        const td_real s = (td_real)1 / (td_real)size;
        for (int64_t i = 0; i < p->total; i++) p->grads[i] *= s;
    }
}

void td_dist_allgather(void *buf, size_t item_bytes, int64_t items) {
    const int size = td_dist_size();
    if (size == 1) return;
    TD_ASSERT((double)item_bytes * (double)items < 2147483647.0,
              "td_dist_allgather: %lld items of %zu bytes exceed MPI's int counts", (long long)items, item_bytes);
    int counts[size], displs[size];
    for (int r = 0; r < size; r++) {
        const int64_t i0 = items * r / size, i1 = items * (r + 1) / size;
        displs[r] = (int)(i0 * (int64_t)item_bytes);
        counts[r] = (int)((i1 - i0) * (int64_t)item_bytes);
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
}

void td_dist_sum(double *x, int n) {
    if (td_dist_size() > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int td_dist_any(int flag) {
    int any = flag != 0;
    if (td_dist_size() > 1) MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    return any;
}

int td_dist_check_same(const td_params *p) {
    const int size = td_dist_size();
    if (size == 1) return 0;
    unsigned long long mine = checksum(p), first = mine;
    MPI_Bcast(&first, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    /* the lowest rank whose weights differ from rank 0's, or size if none */
    int bad = mine == first ? size : td_dist_rank();
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (bad == size) return 0;
    td_set_error("the weights of rank %d differ from rank 0's (checksums of the parameter "
                 "block disagree): the ranks no longer train the same model",
                 bad);
    return -1;
}

#else /* one process */

int td_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return 0;
}
void td_dist_finalize(void) {}
int td_dist_rank(void) { return 0; }
int td_dist_size(void) { return 1; }
void td_dist_broadcast_params(td_params *p) { (void)p; }
void td_dist_reduce_grads(td_params *p, td_dist_op op) { (void)p, (void)op; }
void td_dist_allgather(void *buf, size_t item_bytes, int64_t items) { (void)buf, (void)item_bytes, (void)items; }
void td_dist_sum(double *x, int n) { (void)x, (void)n; }
int td_dist_any(int flag) { return flag != 0; }
int td_dist_check_same(const td_params *p) {
    (void)p;
    return 0;
}

#endif
