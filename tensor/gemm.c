/* Matrix multiply: a Goto/BLIS-style blocked, packed, parallel GEMM.
 *
 * The loops around the micro-kernel (row-major C; vectors run along N):
 *
 *   for pc: K in blocks of kc                 (the same for every thread)
 *     for jc: N in blocks of nc
 *       pack this thread's NR-column panels of B[pc.., jc..] (kc x NR each,
 *       k-major) into its own buffer
 *       for each MR-row strip of C this thread owns:
 *         for each NR-column panel this thread owns:
 *           micro-kernel: MR x NR accumulators in registers, one FMA chain
 *           per element over the kc values of this block, then C update
 *
 * The micro-kernel broadcasts one value of A per row and multiplies it into
 * NV vectors of packed B. The MR x kc piece of A (~16 KB at most) stays in
 * L1 while the thread walks the B panels of the block, which sit in L2.
 * A is read in place rather than packed (see gemm_thread for why).
 *
 * Determinism: the block sizes (kc, nc) and the tile grid depend only on
 * M, N, K, never on the thread count; each element of C is summed by exactly
 * one accumulator lane over k in order, block after block. Threads only
 * decide WHO computes a tile, so C is bit-identical for any thread count.
 *
 * Edges: partial panels are packed with zeros, so the kernel always runs a
 * full-height tile; only the store to C is trimmed. The last column panel
 * runs with as few vectors (or half vectors) as it needs, which matters for
 * the narrow VAE layers (N = 20, 40).
 *
 * Buffers: one packing buffer per team thread, owned by the calling thread
 * (_Thread_local), grown with td_alloc when a bigger problem comes and then
 * reused: after warm-up a call allocates nothing.
 *
 * Compiled once per instruction-set path (dispatch.h): the tile below is
 * chosen by the path's vector width, and td_gemm is defined as
 * TD_ISA_FN(td_gemm). */
#include "gemm.h"

#include <string.h>

#include "dispatch.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- register tile ---------------------------------------------------------
 * VL lanes per vector; the tile is MR rows x NV vectors. Accumulators plus
 * NV B vectors plus one broadcast must fit the register file:
 *   AVX-512 (32 regs):    8 x 2 -> 16 accumulators (float 8x32, double 8x16)
 *   AVX/AVX2 (16 regs):   6 x 2 -> 12 accumulators (float 6x16)
 *   SSE2 baseline (16):   6 x 2 -> 12 accumulators (float 6x8) */
#if defined(__AVX512F__)
#define VEC_BYTES 64
#define MR 8
#define NV 2
#elif defined(__AVX__)
#define VEC_BYTES 32
#define MR 6
#define NV 2
#else
#define VEC_BYTES 16
#define MR 6
#define NV 2
#endif
#define VL ((int)(VEC_BYTES / sizeof(td_real)))
#define NR (NV * VL)

typedef td_real vreal __attribute__((vector_size(VEC_BYTES)));
/* Half a vector, for the last few columns of a narrow panel (N = 20 is one
 * zmm + one ymm rather than two zmm). Only where half a vector is still a
 * real register (AVX and up). */
#if VEC_BYTES >= 32
#define HALF_VECTORS 1
typedef td_real vhalf __attribute__((vector_size(VEC_BYTES / 2)));
#else
#define HALF_VECTORS 0
#endif

/* ---- cache blocks ----------------------------------------------------------
 * kc: the A rows of a tile (MR x kc) are at most KC_BYTES, half of L1d.
 * nc: a B block (kc x nc) is at most NC_BYTES, inside a 1 MB L2.
 * Both are cut into equal blocks (K = 784 -> 2 x 392 rather than 512 + 272);
 * nc is a multiple of NR, so the tile grid of C is the same for the whole
 * matrix. (The #ifndefs are for tuning experiments.) */
#ifndef KC_BYTES
#define KC_BYTES 16384
#endif
#define KC_MAX ((int64_t)(KC_BYTES / (MR * sizeof(td_real))))
#ifndef NC_BYTES
#define NC_BYTES ((int64_t)768 * 1024)
#endif

/* Below this many multiply-adds a parallel region costs more than it saves. */
#define PAR_MIN_FLOPS ((double)64 * 64 * 64)

/* -std=c17 turns off FMA contraction in GCC (-ffp-contract=off); the kernel
 * wants a*b+c fused where the target has FMA. Clang contracts by default. */
#if defined(__GNUC__) && !defined(__clang__)
#define TD_CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define TD_CONTRACT
#endif

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

static inline vreal vload(const td_real *p) {
    vreal v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(td_real *p, vreal v) { memcpy(p, &v, sizeof v); }

/* ---- packing ---------------------------------------------------------------
 * op(A) is M x K. Only its bottom edge is packed (the kernel reads full
 * MR-row strips in place): rows i0..i0+mr, columns k0..k0+kc, stored
 * k-major, ap[k*MR + i], with rows mr..MR zero. */
static void pack_a(int trans, const td_real *A, int64_t lda, int64_t i0, int64_t mr,
                   int64_t k0, int64_t kc, td_real *restrict ap) {
    if (trans) { /* A stored K x M: row k of storage is contiguous along i */
        for (int64_t k = 0; k < kc; k++) {
            const td_real *src = A + (k0 + k) * lda + i0;
            td_real *dst = ap + k * MR;
            int64_t i = 0;
            for (; i < mr; i++) dst[i] = src[i];
            for (; i < MR; i++) dst[i] = 0;
        }
    } else { /* A stored M x K: gather MR rows, each contiguous along k */
        for (int64_t i = 0; i < MR; i++) {
            if (i < mr) {
                const td_real *src = A + (i0 + i) * lda + k0;
                for (int64_t k = 0; k < kc; k++) ap[k * MR + i] = src[k];
            } else {
                for (int64_t k = 0; k < kc; k++) ap[k * MR + i] = 0;
            }
        }
    }
}

/* dst[t*lds + i] = src[i*ld + t] for a VL x VL block, in registers: log2(VL)
 * rounds of "perfect shuffles" (row i and row i + VL/2 interleaved, low
 * halves into row 2i, high halves into row 2i+1) transpose the block. GCC's
 * __builtin_shuffle becomes unpck/vpermt2 instructions; other compilers get
 * the plain loop. This is what makes the forward pass's x W^T (B stored
 * N x K) as fast as an untransposed B. */
static inline void transpose_block(const td_real *src, int64_t ld, td_real *dst, int64_t lds) {
#if defined(__GNUC__) && !defined(__clang__)
#if defined(TD_DOUBLE)
    typedef int64_t vidx __attribute__((vector_size(VEC_BYTES)));
#else
    typedef int32_t vidx __attribute__((vector_size(VEC_BYTES)));
#endif
    vidx lo, hi;
    for (int t = 0; t < VL / 2; t++) {
        lo[2 * t] = t;
        lo[2 * t + 1] = VL + t;
        hi[2 * t] = VL / 2 + t;
        hi[2 * t + 1] = VL + VL / 2 + t;
    }
    vreal r[VL], o[VL];
    for (int i = 0; i < VL; i++) r[i] = vload(src + i * ld);
    for (int round = 1; round < VL; round *= 2) {
        for (int i = 0; i < VL / 2; i++) {
            o[2 * i] = __builtin_shuffle(r[i], r[i + VL / 2], lo);
            o[2 * i + 1] = __builtin_shuffle(r[i], r[i + VL / 2], hi);
        }
        memcpy(r, o, sizeof r);
    }
    for (int i = 0; i < VL; i++) vstore(dst + i * lds, r[i]);
#else
    for (int t = 0; t < VL; t++)
        for (int i = 0; i < VL; i++) dst[t * lds + i] = src[i * ld + t];
#endif
}

/* op(B) is K x N. A B panel holds rows k0..k0+kc, columns j0..j0+NR of op(B),
 * k-major: bp[k*NR + j]. Columns past N are zero. */
static void pack_b(int trans, const td_real *B, int64_t ldb, int64_t j0, int64_t nr,
                   int64_t k0, int64_t kc, td_real *restrict bp) {
    if (!trans) { /* B stored K x N: each panel row is a contiguous copy */
        for (int64_t k = 0; k < kc; k++) {
            const td_real *src = B + (k0 + k) * ldb + j0;
            td_real *dst = bp + k * NR;
            int64_t j = 0;
            for (; j < nr; j++) dst[j] = src[j];
            for (; j < NR; j++) dst[j] = 0;
        }
    } else { /* B stored N x K (a weight matrix [out, in]): transpose */
        int64_t j = 0;
        for (; j + VL <= nr; j += VL) { /* VL x VL blocks with vector shuffles */
            const td_real *src = B + (j0 + j) * ldb + k0;
            int64_t k = 0;
            for (; k + VL <= kc; k += VL) transpose_block(src + k, ldb, bp + k * NR + j, NR);
            for (; k < kc; k++)
                for (int64_t t = 0; t < VL; t++) bp[k * NR + j + t] = src[t * ldb + k];
        }
        for (; j < NR; j++) { /* the rest of the rows, and the zero padding */
            const td_real *src = B + (j0 + j) * ldb + k0;
            for (int64_t k = 0; k < kc; k++) bp[k * NR + j] = j < nr ? src[k] : 0;
        }
    }
}

/* ---- micro-kernel ----------------------------------------------------------
 * C[0..mr, 0..nr] = alpha * (A^T bp) + beta * C, over kc values of k.
 * bp: a packed B panel, kc x NR; the kernel reads the first nv vectors of
 * each row, plus half a vector after them if half is set.
 * A (MR rows x kc) comes in one of three layouts (amode):
 *   A_ROWS    op(A) in place, stored M x K: a[i*lda + k]
 *   A_COLS    op(A) in place, stored K x M: a[k*lda + i]
 *   A_PACKED  the zero-padded bottom edge, a[k*MR + i]
 * beta == 0 means C is not read. amode, nv and half are compile-time
 * constants in each instantiation below, so the loops over i and v unroll
 * completely and the accumulators live in registers. */
enum { A_PACKED, A_ROWS, A_COLS };
static inline __attribute__((always_inline)) void
micro_kernel(const int amode, const int nv, const int half, int64_t kc,
             const td_real *restrict a, int64_t lda, const td_real *restrict bp,
             td_real *restrict c, int64_t ldc, int64_t mr, int64_t nr,
             td_real alpha, td_real beta) {
    const int64_t ars = amode == A_PACKED ? MR : amode == A_ROWS ? 1 : lda; /* k stride */
    const int64_t acs = amode == A_ROWS ? lda : 1;                          /* i stride */
    vreal acc[MR][NV];
#if HALF_VECTORS
    vhalf acch[MR];
#endif
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[i][v] = (vreal){0};
#if HALF_VECTORS
        if (half) acch[i] = (vhalf){0};
#endif
    }

    for (int64_t k = 0; k < kc; k++) {
        const td_real *b = bp + k * NR;
        vreal bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) bv[v] = vload(b + v * VL);
#if HALF_VECTORS
        vhalf bh = {0};
        if (half) memcpy(&bh, b + nv * VL, sizeof bh);
#endif
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            const td_real ai = a[k * ars + i * acs]; /* broadcast */
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[i][v] += ai * bv[v];
#if HALF_VECTORS
            if (half) acch[i] += ai * bh;
#endif
        }
    }

    const int width = nv * VL + half * VL / 2;
    if (mr == MR && nr == width) { /* full tile: update C with vectors */
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                td_real *cp = c + i * ldc + v * VL;
                vreal r = alpha * acc[i][v];
                if (beta != 0) r += beta * vload(cp);
                vstore(cp, r);
            }
#if HALF_VECTORS
            if (half) {
                td_real *cp = c + i * ldc + nv * VL;
                vhalf r = alpha * acch[i], old;
                if (beta != 0) {
                    memcpy(&old, cp, sizeof old);
                    r += beta * old;
                }
                memcpy(cp, &r, sizeof r);
            }
#endif
        }
    } else { /* edge tile: spill the accumulators, store what lies inside C */
        td_real t[MR][NR] __attribute__((aligned(64)));
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) vstore(&t[i][v * VL], acc[i][v]);
#if HALF_VECTORS
            if (half) memcpy(&t[i][nv * VL], &acch[i], sizeof acch[i]);
#endif
        }
        for (int64_t i = 0; i < mr; i++)
            for (int64_t j = 0; j < nr; j++) {
                td_real r = alpha * t[i][j];
                if (beta != 0) r += beta * c[i * ldc + j];
                c[i * ldc + j] = r;
            }
    }
}

typedef void kernel_fn(int64_t kc, const td_real *a, int64_t lda, const td_real *bp, td_real *c,
                       int64_t ldc, int64_t mr, int64_t nr, td_real alpha, td_real beta);

#define DEFINE_KERNEL(amode, nv, half)                                                     \
    TD_CONTRACT static void kernel_##amode##_##nv##_##half(                                 \
        int64_t kc, const td_real *a, int64_t lda, const td_real *bp, td_real *c,           \
        int64_t ldc, int64_t mr, int64_t nr, td_real alpha, td_real beta) {                 \
        micro_kernel(amode, nv, half, kc, a, lda, bp, c, ldc, mr, nr, alpha, beta);        \
    }
#if NV != 2
#error "add kernel instantiations for NV"
#endif
#if HALF_VECTORS
/* kernels[amode][h]: the kernel for a panel h half-vectors wide */
#define DEFINE_KERNELS(amode) \
    DEFINE_KERNEL(amode, 0, 1) DEFINE_KERNEL(amode, 1, 0) DEFINE_KERNEL(amode, 1, 1) \
    DEFINE_KERNEL(amode, 2, 0)
#define KERNEL_ROW(amode) \
    {NULL, kernel_##amode##_0_1, kernel_##amode##_1_0, kernel_##amode##_1_1, kernel_##amode##_2_0}
#define HALF_WIDTH (VL / 2)
#else
/* kernels[amode][v]: the kernel for a panel v vectors wide */
#define DEFINE_KERNELS(amode) DEFINE_KERNEL(amode, 1, 0) DEFINE_KERNEL(amode, 2, 0)
#define KERNEL_ROW(amode) {NULL, kernel_##amode##_1_0, kernel_##amode##_2_0}
#define HALF_WIDTH VL
#endif
DEFINE_KERNELS(A_PACKED)
DEFINE_KERNELS(A_ROWS)
DEFINE_KERNELS(A_COLS)
static kernel_fn *const kernels[3][NR / HALF_WIDTH + 1] = {
    KERNEL_ROW(A_PACKED), KERNEL_ROW(A_ROWS), KERNEL_ROW(A_COLS)};

/* ---- the blocked driver ----------------------------------------------------- */
typedef struct gemm_job {
    int ta, tb;
    int64_t M, N, K;
    td_real alpha, beta;
    const td_real *A, *B;
    int64_t lda, ldb, ldc;
    td_real *C;
    int64_t kcb, ncb; /* block sizes (functions of N and K only) */
} gemm_job;

/* Split n units into parts: the p-th of parts gets [*lo, *hi). */
static inline void split(int64_t n, int parts, int p, int64_t *lo, int64_t *hi) {
    *lo = n * p / parts;
    *hi = n * (p + 1) / parts;
}

/* The thread grid for one block of mt x nt tiles: tm x tn = nth threads,
 * each owning a rectangle of tiles (a thread may get none when there are
 * fewer tiles than threads). The cost of a grid is its largest share, in
 * vectors computed. Among grids within GRID_SLACK of the cheapest, the one
 * with the most threads along N wins: threads that share a column range
 * each pack its B panels, so splitting along M duplicates packing. Any
 * choice gives the same C. */
#ifndef GRID_SLACK
#define GRID_SLACK 0.05
#endif
static double grid_cost(int64_t mt, int64_t nt, double last_nv, int m, int n) {
    double widest = 0;
    for (int q = 0; q < n; q++) {
        int64_t lo, hi;
        split(nt, n, q, &lo, &hi);
        /* the last share holds the edge panel, last_nv vectors wide */
        double w = q == n - 1 && hi > lo ? (double)(hi - lo - 1) * NV + last_nv
                                         : (double)(hi - lo) * NV;
        if (w > widest) widest = w;
    }
    return (double)ceil_div(mt, m) * widest;
}

static void choose_grid(int64_t mt, int64_t nt, double last_nv, int nth, int *tm, int *tn) {
    double best = -1;
    for (int n = 1; n <= nth; n++) {
        if (nth % n) continue;
        double c = grid_cost(mt, nt, last_nv, nth / n, n);
        if (best < 0 || c < best) best = c;
    }
    for (int n = 1; n <= nth; n++) {
        if (nth % n) continue;
        if (grid_cost(mt, nt, last_nv, nth / n, n) <= best * (1 + GRID_SLACK)) {
            *tm = nth / n;
            *tn = n;
        }
    }
}

/* One thread's part of the multiply: thread tid of nth computes its
 * rectangle of tiles in every block, packing the B panels (and the bottom
 * edge of A) it needs into its own buffer.
 *
 * No barriers: nothing a thread writes is read by another. The grid of a
 * block depends only on its tile counts, so a thread owns the same part of
 * C in every K block and applies them in order; the only synchronization is
 * the end of the parallel region. (Barriers would also make a 2-core
 * machine fragile: one descheduled thread stalls the team at each.)
 *
 * A is not packed: the kernel reads MR rows of op(A) where they are (their
 * kc-long pieces, a few KB, stay in L1 while the thread walks the B panels).
 * Measured on Zen 4 this is as fast as packing at every VAE shape and up to
 * 1024^3, and much faster when N is narrow (N = 20: packing A would cost as
 * much as the multiply). Only the bottom edge (M % MR rows) is packed, with
 * zero rows, so the kernel never reads past A. */
static void gemm_thread(const gemm_job *j, int tid, int nth, td_real *buf) {
    td_real *const ap = buf;                /* MR x kc: the bottom edge of A */
    td_real *const bp = buf + MR * j->kcb;  /* this thread's B panels */
    const int64_t mt = ceil_div(j->M, MR), medge = j->M % MR;
    for (int64_t pc = 0; pc < j->K; pc += j->kcb) {
        const int64_t kc = min64(j->kcb, j->K - pc);
        /* beta applies once, on the first K block; later blocks accumulate */
        const td_real beta = pc == 0 ? j->beta : (td_real)1;
        int64_t edge_packed = 0;
        for (int64_t jc = 0; jc < j->N; jc += j->ncb) {
            const int64_t nc = min64(j->ncb, j->N - jc), nt = ceil_div(nc, NR);
            /* the last panel's width in vectors, for balancing the threads */
            const double last_nv =
                (double)ceil_div(nc - (nt - 1) * NR, HALF_WIDTH) * HALF_WIDTH / VL;
            int tm = 1, tn = 1;
            choose_grid(mt, nt, last_nv, nth, &tm, &tn);
            int64_t m0, m1, n0, n1; /* this thread's tiles: [m0, m1) x [n0, n1) */
            split(mt, tm, tid / tn, &m0, &m1);
            split(nt, tn, tid % tn, &n0, &n1);
            if (m0 == m1 || n0 == n1) continue;

            for (int64_t p = n0; p < n1; p++)
                pack_b(j->tb, j->B, j->ldb, jc + p * NR, min64(NR, nc - p * NR), pc, kc,
                       bp + (p - n0) * NR * kc);
            if (medge && m1 == mt && !edge_packed) {
                pack_a(j->ta, j->A, j->lda, (mt - 1) * MR, medge, pc, kc, ap);
                edge_packed = 1;
            }

            for (int64_t ir = m0; ir < m1; ir++) {
                const int64_t i0 = ir * MR, mr = min64(MR, j->M - i0);
                const td_real *a = j->ta ? j->A + pc * j->lda + i0 : j->A + i0 * j->lda + pc;
                int amode = j->ta ? A_COLS : A_ROWS;
                if (mr < MR) {
                    a = ap;
                    amode = A_PACKED;
                }
                for (int64_t jr = n0; jr < n1; jr++) {
                    const int64_t nr = min64(NR, nc - jr * NR);
                    kernels[amode][ceil_div(nr, HALF_WIDTH)](
                        kc, a, j->lda, bp + (jr - n0) * NR * kc, j->C + i0 * j->ldc + jc + jr * NR,
                        j->ldc, mr, nr, j->alpha, beta);
                }
            }
        }
    }
}

/* Packing buffers, one per thread of the team, owned by the calling thread
 * (so concurrent callers never share one). Grown with td_alloc before the
 * parallel region when a bigger problem or team comes, then reused. */
typedef struct pack_buf {
    td_real *p;
    size_t cap;
} pack_buf;
static _Thread_local pack_buf *pack_bufs;
static _Thread_local int pack_bufs_n;

static void grow_buffers(int nth, size_t n) {
    if (nth > pack_bufs_n) {
        pack_buf *nb = td_alloc_zero(sizeof(pack_buf) * (size_t)nth);
        if (pack_bufs_n) memcpy(nb, pack_bufs, sizeof(pack_buf) * (size_t)pack_bufs_n);
        td_free(pack_bufs);
        pack_bufs = nb;
        pack_bufs_n = nth;
    }
    for (int t = 0; t < nth; t++)
        if (n > pack_bufs[t].cap) {
            td_free(pack_bufs[t].p);
            pack_bufs[t].p = td_alloc(n * sizeof(td_real));
            pack_bufs[t].cap = n;
        }
}

/* C = beta * C (the K == 0 / alpha == 0 case); beta == 0 writes zeros. */
static void scale_c(int64_t M, int64_t N, td_real beta, td_real *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        td_real *c = C + i * ldc;
        if (beta == 0)
            memset(c, 0, (size_t)N * sizeof(td_real));
        else if (beta != 1)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

void TD_ISA_FN(td_gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
             const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
             td_real *C, int64_t ldc) {
    TD_ASSERT(M >= 0 && N >= 0 && K >= 0, "td_gemm: negative size %lld x %lld x %lld",
              (long long)M, (long long)N, (long long)K);
    TD_ASSERT(ldc >= N && lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N),
              "td_gemm: a leading dimension is smaller than its row (lda %lld, ldb %lld, "
              "ldc %lld for %lld x %lld x %lld, trans %d %d)",
              (long long)lda, (long long)ldb, (long long)ldc, (long long)M, (long long)N,
              (long long)K, trans_a, trans_b);
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }

    gemm_job j = {.ta = trans_a, .tb = trans_b, .M = M, .N = N, .K = K, .alpha = alpha,
                  .beta = beta, .A = A, .B = B, .lda = lda, .ldb = ldb, .ldc = ldc, .C = C};
    /* equal blocks no bigger than the limits */
    j.kcb = ceil_div(K, ceil_div(K, KC_MAX));
    int64_t nc_max = NC_BYTES / (j.kcb * (int64_t)sizeof(td_real)) / NR * NR;
    if (nc_max < NR) nc_max = NR;
    j.ncb = round_up(ceil_div(N, ceil_div(N, nc_max)), NR);

    int nth = 1;
#ifdef _OPENMP
    /* small products stay on this thread: no parallel region at all */
    if ((double)M * (double)N * (double)K >= PAR_MIN_FLOPS && !omp_in_parallel()) {
        nth = omp_get_max_threads();
        int64_t tiles = ceil_div(M, MR) * ceil_div(min64(N, j.ncb), NR);
        if (nth > tiles) nth = (int)tiles;
    }
#endif
    /* per thread: the edge of A, and at most one block of B panels */
    grow_buffers(nth, (size_t)(j.kcb * (MR + min64(j.ncb, round_up(N, NR)))));
    pack_buf *bufs = pack_bufs; /* the caller's: the team sees this copy */
#ifdef _OPENMP
    if (nth > 1) {
#pragma omp parallel num_threads(nth)
        {
            /* the team may be smaller than asked (OMP_DYNAMIC, limits) */
            int t = omp_get_thread_num(), n = omp_get_num_threads();
            gemm_thread(&j, t, n, bufs[t].p);
        }
        return;
    }
#endif
    gemm_thread(&j, 0, 1, bufs[0].p);
}
