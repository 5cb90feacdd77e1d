/* Matrix multiply: a Goto/BLIS-style blocked, packed, parallel GEMM.
 *
 * The loops around the micro-kernel (row-major C; vectors run along N):
 *
 *   for pc: K in blocks of kc                 (the same for every thread)
 *     for jc: N in blocks of nc
 *       pack this thread's NR-column panels of B[pc.., jc..] (kc x NR each,
 *       k-major) into its own buffer
 *       for each row strip of C (MR or 4 rows, see make_strips):
 *         for each NR-column panel, where this thread owns the tile:
 *           micro-kernel: rows x NR accumulators in registers, one FMA
 *           chain per element over the kc values of this block (two for
 *           narrow tiles), then C update
 *
 * The micro-kernel broadcasts one value of A per row and multiplies it into
 * NV vectors of packed B. The strip's kc-long piece of A (~16 KB at most)
 * stays in L1 while the thread walks the B panels of the block, in L2.
 * A is read in place rather than packed (see gemm_thread for why).
 *
 * Either operand may come in panels (gemm.h, TD_GEMM_PANELS): B in panels
 * is the packed form already, so its blocks are read where they are; A in
 * panels is read in place a panel (NR values of k) at a time.
 *
 * Determinism: the block sizes (kc, nc) and the tile grid depend only on
 * M, N, K, never on the thread count; each element of C is summed by exactly
 * one accumulator lane over k in order, block after block (in a narrow
 * tile by two, even and odd k, added at the end of the block). Threads only
 * decide WHO computes a tile, so C is bit-identical for any thread count.
 *
 * Edges: a strip that overhangs M (odd M) and the last panel are packed
 * with zeros, so the kernel always runs a full-height tile; only the store
 * to C is trimmed. The last column panel
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
 * nc: a B block (kc x nc) is at most NC_BYTES, inside L2: 768 KB of the
 * 1-2 MB of an AVX-512 core, 384 KB of the 512 KB of a Zen 2/3 (on a Zen 4
 * the AVX2 path runs as fast with either).
 * Both are cut into equal blocks (K = 784 -> 2 x 392 rather than 512 + 272);
 * nc is a multiple of NR, so the tile grid of C is the same for the whole
 * matrix. (The #ifndefs are for tuning experiments.) */
#ifndef KC_BYTES
#define KC_BYTES 16384
#endif
#define KC_MAX ((int64_t)(KC_BYTES / (MR * sizeof(td_real))))
#ifndef NC_BYTES
#if VEC_BYTES >= 64
#define NC_BYTES ((int64_t)768 * 1024)
#else /* AVX2 / SSE2 machines: 256 KB (Intel) to 512 KB (Zen 2/3) of L2 */
#define NC_BYTES ((int64_t)384 * 1024)
#endif
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
 * op(A) is M x K. Only a partial bottom strip is packed (the kernel reads
 * full strips in place): rows i0..i0+mr, columns k0..k0+kc, stored k-major,
 * ap[k*h + i] for a strip h rows high, with rows mr..h zero. */
static void pack_a(int trans, const td_real *A, int64_t lda, int64_t i0, int64_t mr, int64_t h,
                   int64_t k0, int64_t kc, td_real *restrict ap) {
    if (trans == TD_GEMM_PANELS) { /* A in panels: NR values of a row together */
        memset(ap, 0, sizeof(td_real) * (size_t)(kc * h));
        for (int64_t k = 0; k < kc;) { /* the part of one panel */
            const int64_t lane = (k0 + k) % NR, len = min64(NR - lane, kc - k);
            const td_real *src = A + ((k0 + k) / NR * lda + i0) * NR + lane;
            for (int64_t t = 0; t < len; t++, k++)
                for (int64_t i = 0; i < mr; i++) ap[k * h + i] = src[i * NR + t];
        }
    } else if (trans) { /* A stored K x M: row k of storage is contiguous along i */
        for (int64_t k = 0; k < kc; k++) {
            const td_real *src = A + (k0 + k) * lda + i0;
            td_real *dst = ap + k * h;
            int64_t i = 0;
            for (; i < mr; i++) dst[i] = src[i];
            for (; i < h; i++) dst[i] = 0;
        }
    } else { /* A stored M x K: gather the rows, each contiguous along k */
        for (int64_t i = 0; i < h; i++) {
            if (i < mr) {
                const td_real *src = A + (i0 + i) * lda + k0;
                for (int64_t k = 0; k < kc; k++) ap[k * h + i] = src[k];
            } else {
                for (int64_t k = 0; k < kc; k++) ap[k * h + i] = 0;
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
    if (!trans && nr == NR) { /* B stored K x N, a full panel: fixed-size row copies */
        for (int64_t k = 0; k < kc; k++)
            memcpy(bp + k * NR, B + (k0 + k) * ldb + j0, NR * sizeof(td_real));
    } else if (!trans) { /* the last, narrower panel: copy and zero-fill */
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
 * rows: the tile's height, MR or MR_LOW (see strips below); mr <= rows.
 * bp: a packed B panel, kc x NR; the kernel reads the first nv vectors of
 * each row, plus half a vector after them if half is set.
 * A (rows x kc) comes in one of three layouts (amode):
 *   A_ROWS    op(A) in place, stored M x K: a[i*lda + k]
 *   A_COLS    op(A) in place, stored K x M: a[k*lda + i]
 *   A_PACKED  a zero-padded partial strip, a[k*rows + i]
 *   A_PANELS  op(A) in place, in panels: a[(k/NR)*lda*NR + i*NR + k%NR]
 * beta == 0 means C is not read. amode, rows, nv and half are compile-time
 * constants in each instantiation below, so the loops over i and v unroll
 * completely and the accumulators live in registers. */
enum { A_PACKED, A_ROWS, A_COLS, A_PANELS };
static inline __attribute__((always_inline)) void
micro_kernel(const int amode, const int rows, const int nv, const int half, int64_t kc,
             const td_real *restrict a, int64_t lda, const td_real *restrict bp,
             td_real *restrict c, int64_t ldc, int64_t mr, int64_t nr, td_real alpha,
             td_real beta) {
    const int64_t ars = amode == A_PACKED ? rows : amode == A_ROWS ? 1 : lda; /* k stride */
    const int64_t acs = amode == A_ROWS ? lda : amode == A_PANELS ? NR : 1;  /* i stride */
    /* An FMA has a latency of 4 cycles and two issue a cycle: a tile needs
     * 8 independent accumulator chains to keep both FMA units busy. Narrow
     * tiles (6 x 1 vector, 4 x 1, 6 x half: the last panel of N = 20 or 40)
     * have fewer, so they keep two sets of accumulators, for even and odd
     * k, added at the end: the same operations in the same order for any
     * thread count, so still deterministic. */
    const int KS = rows * (nv + half) < 8 ? 2 : 1;
    vreal acc[2][MR][NV];
#if HALF_VECTORS
    vhalf acch[2][MR];
#endif
#pragma GCC unroll 2
    for (int s = 0; s < KS; s++)
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[s][i][v] = (vreal){0};
#if HALF_VECTORS
            if (half) acch[s][i] = (vhalf){0};
#endif
        }
    int64_t k = 0;
/* one k: ak points at element (0, k) of the strip */
#define TD_KSTEP(s, ak)                                                                    \
    do {                                                                                   \
        const td_real *b = bp + k * NR;                                                    \
        vreal bv[NV];                                                                      \
        _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) bv[v] = vload(b + v * VL);   \
        TD_KSTEP_HALF_LOAD                                                                 \
        _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++) {                          \
            const td_real ai = (ak)[i * acs]; /* broadcast */                              \
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) acc[s][i][v] += ai * bv[v]; \
            TD_KSTEP_HALF_FMA(s)                                                           \
        }                                                                                  \
        k++;                                                                               \
    } while (0)
#if HALF_VECTORS
#define TD_KSTEP_HALF_LOAD \
    vhalf bh = {0};        \
    if (half) memcpy(&bh, b + nv * VL, sizeof bh);
#define TD_KSTEP_HALF_FMA(s) \
    if (half) acch[s][i] += ai * bh;
#else
#define TD_KSTEP_HALF_LOAD
#define TD_KSTEP_HALF_FMA(s)
#endif
    if (amode == A_PANELS) {
        /* a panel's NR values of k, then the next panel, lda * NR on (the
         * block starts at a panel, and NR is even: the even and odd sets
         * get the same k as in the other layouts) */
        for (int64_t kb = 0; kb < kc; kb += NR) {
            const td_real *ap = a + kb / NR * lda * NR;
            const int64_t ke = kb + NR < kc ? kb + NR : kc;
            /* the strip's rows of a panel are a few lines, lda * NR values
             * from those of the last one: too far apart for the hardware
             * prefetchers, so ask for those of the panel after next */
            if (kb + 2 * NR < kc)
#pragma GCC unroll 16
                for (int i = 0; i < rows; i++) __builtin_prefetch(ap + 2 * lda * NR + i * NR);
            if (KS == 2)
                while (k + 2 <= ke) {
                    TD_KSTEP(0, ap + (k - kb));
                    TD_KSTEP(KS - 1, ap + (k - kb));
                }
            while (k < ke) TD_KSTEP(0, ap + (k - kb));
        }
    } else {
        if (KS == 2)
            while (k + 2 <= kc) {
                TD_KSTEP(0, a + k * ars);
                TD_KSTEP(KS - 1, a + k * ars);
            }
        while (k < kc) TD_KSTEP(0, a + k * ars);
    }
#undef TD_KSTEP
#undef TD_KSTEP_HALF_LOAD
#undef TD_KSTEP_HALF_FMA
    if (KS == 2)
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[0][i][v] += acc[KS - 1][i][v];
#if HALF_VECTORS
            if (half) acch[0][i] += acch[KS - 1][i];
#endif
        }

    const int width = nv * VL + half * VL / 2;
    if (mr == rows && nr == width) { /* full tile: update C with vectors */
        /* one loop per case, so no test is left inside: beta = 0 (C not
         * read), alpha = beta = 1 (tinyad's accumulating calls: one add per
         * vector), and the general alpha * acc + beta * C */
        const int cmode = beta == 0 ? 0 : alpha == 1 && beta == 1 ? 1 : 2;
#define TD_STORE_TILE(cmode)                                                               \
    _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++) {                              \
        _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) {                             \
            td_real *cp = c + i * ldc + v * VL;                                            \
            vreal r = cmode == 1 ? acc[0][i][v] : alpha * acc[0][i][v];                    \
            if (cmode == 1) r += vload(cp);                                                \
            if (cmode == 2) r += beta * vload(cp);                                         \
            vstore(cp, r);                                                                 \
        }                                                                                  \
        TD_STORE_HALF(cmode)                                                               \
    }
#if HALF_VECTORS
#define TD_STORE_HALF(cmode)                                                               \
    if (half) {                                                                            \
        td_real *cp = c + i * ldc + nv * VL;                                               \
        vhalf r = cmode == 1 ? acch[0][i] : alpha * acch[0][i], old;                       \
        if (cmode != 0) memcpy(&old, cp, sizeof old);                                      \
        if (cmode == 1) r += old;                                                          \
        if (cmode == 2) r += beta * old;                                                   \
        memcpy(cp, &r, sizeof r);                                                          \
    }
#else
#define TD_STORE_HALF(cmode)
#endif
        if (cmode == 0) {
            TD_STORE_TILE(0)
        } else if (cmode == 1) {
            TD_STORE_TILE(1)
        } else {
            TD_STORE_TILE(2)
        }
#undef TD_STORE_TILE
#undef TD_STORE_HALF
    } else { /* edge tile: spill the accumulators, store what lies inside C */
        td_real t[MR][NR] __attribute__((aligned(64)));
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) vstore(&t[i][v * VL], acc[0][i][v]);
#if HALF_VECTORS
            if (half) memcpy(&t[i][nv * VL], &acch[0][i], sizeof acch[0][i]);
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

#define DEFINE_KERNEL(amode, rows, nv, half)                                               \
    TD_CONTRACT static void kernel_##amode##_##rows##_##nv##_##half(                        \
        int64_t kc, const td_real *a, int64_t lda, const td_real *bp, td_real *c,           \
        int64_t ldc, int64_t mr, int64_t nr, td_real alpha, td_real beta) {                 \
        micro_kernel(amode, rows, nv, half, kc, a, lda, bp, c, ldc, mr, nr, alpha, beta);  \
    }
#if NV != 2
#error "add kernel instantiations for NV"
#endif
#if HALF_VECTORS
/* kernels[h][amode][w]: the kernel for strip height h (0: MR, 1: MR_LOW)
 * and a panel w half-vectors wide */
#define DEFINE_KERNELS(amode, rows)                                                 \
    DEFINE_KERNEL(amode, rows, 0, 1) DEFINE_KERNEL(amode, rows, 1, 0)               \
    DEFINE_KERNEL(amode, rows, 1, 1) DEFINE_KERNEL(amode, rows, 2, 0)
#define KERNEL_ROW(amode, rows)                                                     \
    {NULL, kernel_##amode##_##rows##_0_1, kernel_##amode##_##rows##_1_0,            \
     kernel_##amode##_##rows##_1_1, kernel_##amode##_##rows##_2_0}
#define HALF_WIDTH (VL / 2)
#else
/* kernels[h][amode][v]: the kernel for strip height h and a panel v vectors wide */
#define DEFINE_KERNELS(amode, rows) \
    DEFINE_KERNEL(amode, rows, 1, 0) DEFINE_KERNEL(amode, rows, 2, 0)
#define KERNEL_ROW(amode, rows) \
    {NULL, kernel_##amode##_##rows##_1_0, kernel_##amode##_##rows##_2_0}
#define HALF_WIDTH VL
#endif
/* the instantiations, by height: MR (6 or 8) and MR_LOW (4) */
#define DEFINE_HEIGHT(rows)                                                        \
    DEFINE_KERNELS(A_PACKED, rows) DEFINE_KERNELS(A_ROWS, rows)                    \
    DEFINE_KERNELS(A_COLS, rows) DEFINE_KERNELS(A_PANELS, rows)
#define HEIGHT_ROW(rows)                                                           \
    {KERNEL_ROW(A_PACKED, rows), KERNEL_ROW(A_ROWS, rows), KERNEL_ROW(A_COLS, rows), \
     KERNEL_ROW(A_PANELS, rows)}
#if MR == 8
DEFINE_HEIGHT(8)
DEFINE_HEIGHT(4)
static kernel_fn *const kernels[2][4][NR / HALF_WIDTH + 1] = {HEIGHT_ROW(8), HEIGHT_ROW(4)};
#elif MR == 6
DEFINE_HEIGHT(6)
DEFINE_HEIGHT(4)
static kernel_fn *const kernels[2][4][NR / HALF_WIDTH + 1] = {HEIGHT_ROW(6), HEIGHT_ROW(4)};
#else
#error "add kernel instantiations for MR"
#endif

/* ---- strips ----------------------------------------------------------------
 * The rows of C are cut into strips: first ns_hi strips of MR rows, then
 * ns_lo strips of MR_LOW = 4 rows, the fewest rows that cover M (M = 128
 * on AVX2 is 20 x 6 + 2 x 4 rather than 22 x 6 with 4 rows of padding;
 * M = 20 is 2 x 6 + 2 x 4, or 2 x 8 + 4 on AVX-512). A 4-row tile still
 * has 8 independent FMA chains, enough to hide the FMA latency. Only a
 * strip that overhangs M (odd M) is packed, with zero rows. */
#define MR_LOW 4
typedef struct strips {
    int64_t hi, lo; /* strip counts: hi of MR rows, then lo of MR_LOW */
} strips;

static strips make_strips(int64_t M) {
    strips best = {ceil_div(M, MR), 0};
    int64_t best_rows = best.hi * MR;
    for (int64_t lo = 1; lo * MR_LOW < 2 * MR && lo * MR_LOW <= round_up(M, MR_LOW); lo++) {
        int64_t rest = M - lo * MR_LOW;
        int64_t hi = rest > 0 ? ceil_div(rest, MR) : 0;
        int64_t rows = hi * MR + lo * MR_LOW;
        if (rows < best_rows) {
            best = (strips){hi, lo};
            best_rows = rows;
        }
    }
    return best;
}
static inline int64_t strip_start(strips s, int64_t ir) {
    return ir < s.hi ? ir * MR : s.hi * MR + (ir - s.hi) * MR_LOW;
}
static inline int strip_height(strips s, int64_t ir) { return ir < s.hi ? MR : MR_LOW; }

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

/* Who computes which tile. The tiles of a block (mt strips x nt panels)
 * are lined up panel by panel, each panel top to bottom, and cut into nth
 * runs of about equal cost: thread q owns the tiles whose
 * cost-so-far falls in [T q / nth, T (q + 1) / nth). A thread's tiles are
 * whole panels plus part of a panel at each end, so it packs only the
 * panels it works on (a panel shared by two threads is packed by both),
 * and the shares are equal to within a tile whatever the shape: with 25
 * panels, splitting whole panels would leave 13 against 12. The split
 * depends only on the block's tile counts, so a thread owns the same tiles
 * in every K block. Any split gives the same C.
 *
 * A tile's cost is rows x (FMAs per k + NV): a half vector takes an FMA
 * slot like a whole one, and a tile has costs that do not shrink with its
 * width (streaming its A rows, the C update). Measured on Zen 4, AVX2, K =
 * 400: a 6 x 4 or 6 x 8 tile takes 0.7-0.75 of the time of a 6 x 16, where
 * the lanes say 0.25 or 0.5; counting lanes gave the thread with the last
 * panel of N = 20 0.69 of the 1-thread time and the other 0.36. */
typedef struct tile_split {
    int64_t mt, nt, W, U; /* strips, panels; total rows W, total cost per row U */
    int64_t last_u;       /* the last panel's cost per row (others 2 NV) */
    int64_t c0, c1;       /* this thread's cost range */
} tile_split;

static inline int64_t panel_u(const tile_split *t, int64_t p) {
    return p == t->nt - 1 ? t->last_u : 2 * NV;
}
/* the cost of all tiles before tile (strip s, panel p) in the panel-major order */
static inline int64_t tile_pos(const tile_split *t, strips st, int64_t s, int64_t p) {
    return p * 2 * NV * t->W + panel_u(t, p) * strip_start(st, s);
}
static inline int tile_mine(const tile_split *t, strips st, int64_t s, int64_t p) {
    const int64_t c = tile_pos(t, st, s, p);
    return c >= t->c0 && c < t->c1;
}

/* The B panels [n0, n1) of block (pc, jc), one after another in bp. Full
 * panels of a B stored K x N are copied row by row across all of them: the
 * reads then run along each row of B, one stream the prefetcher follows,
 * rather than down one panel's column of 64-byte pieces, one per row and
 * page after page (on Zen 4, AVX2 path, that copy was a twentieth of the
 * VAE step, nearly all of it waiting for B). */
static void pack_panels(const gemm_job *j, int64_t jc, int64_t nc, int64_t n0, int64_t n1,
                        int64_t pc, int64_t kc, td_real *restrict bp) {
    int64_t full = n1;
    if (!j->tb) {
        while (full > n0 && (full - 1) * NR + NR > nc) full--; /* panels of NR columns */
        const int64_t np = full - n0;
        for (int64_t k = 0; k < kc; k++) {
            const td_real *src = j->B + (pc + k) * j->ldb + jc + n0 * NR;
            for (int64_t p = 0; p < np; p++)
                memcpy(bp + p * NR * kc + k * NR, src + p * NR, NR * sizeof(td_real));
        }
    } else {
        full = n0;
    }
    for (int64_t p = full; p < n1; p++)
        pack_b(j->tb, j->B, j->ldb, jc + p * NR, min64(NR, nc - p * NR), pc, kc,
               bp + (p - n0) * NR * kc);
}

/* One thread's part of the multiply: thread tid of nth computes its
 * run of tiles (tile_split) in every block, packing the B panels (and the
 * partial bottom strip of A) it needs into its own buffer.
 *
 * No barriers: nothing a thread writes is read by another. The split of a
 * block depends only on its tile counts, so a thread owns the same part of
 * C in every K block and applies them in order; the only synchronization is
 * the end of the parallel region. (Barriers would also make a 2-core
 * machine fragile: one descheduled thread stalls the team at each.)
 *
 * A is not packed: the kernel reads the rows of a strip of op(A) where they are (their
 * kc-long pieces, a few KB, stay in L1 while the thread walks the B panels).
 * Measured on Zen 4 this is as fast as packing at every VAE shape and up to
 * 1024^3, and much faster when N is narrow (N = 20: packing A would cost as
 * much as the multiply). Only a strip that overhangs M is packed, with zero
 * rows, so the kernel never reads past A. */
static void gemm_thread(const gemm_job *j, int tid, int nth, td_real *buf) {
    td_real *const ap = buf;                /* MR x kc: a partial bottom strip of A */
    td_real *const bp = buf + MR * j->kcb;  /* this thread's B panels */
    const strips st = make_strips(j->M);
    const int64_t mt = st.hi + st.lo;
    const int64_t last0 = strip_start(st, mt - 1), last_h = strip_height(st, mt - 1);
    const int64_t medge = last0 + last_h > j->M ? j->M - last0 : 0; /* rows of a partial strip */
    for (int64_t pc = 0; pc < j->K; pc += j->kcb) {
        const int64_t kc = min64(j->kcb, j->K - pc);
        /* beta applies once, on the first K block; later blocks accumulate */
        const td_real beta = pc == 0 ? j->beta : (td_real)1;
        int64_t edge_packed = 0;
        for (int64_t jc = 0; jc < j->N; jc += j->ncb) {
            const int64_t nc = min64(j->ncb, j->N - jc), nt = ceil_div(nc, NR);
            tile_split t = {.mt = mt, .nt = nt, .W = last0 + last_h};
            t.last_u = ceil_div(nc - (nt - 1) * NR, VL) + NV; /* see tile_split */
            t.U = (nt - 1) * 2 * NV + t.last_u;
            t.c0 = t.W * t.U * tid / nth;
            t.c1 = t.W * t.U * (tid + 1) / nth;
            if (t.c0 == t.c1) continue;
            /* the panels this thread works on: [n0, n1) */
            int64_t n0 = 0, n1;
            while (n0 < nt && tile_pos(&t, st, mt - 1, n0) < t.c0) n0++; /* none mine */
            for (n1 = n0; n1 < nt && tile_pos(&t, st, 0, n1) < t.c1; n1++) {}
            if (n0 >= n1) continue;

            /* this thread's panels of the block: packed, or in place */
            const td_real *bpan = bp;
            int64_t bstep = NR * kc;
            if (j->tb == TD_GEMM_PANELS) {
                bpan = j->B + ((jc / NR + n0) * j->ldb + pc) * NR;
                bstep = NR * j->ldb;
            } else {
                pack_panels(j, jc, nc, n0, n1, pc, kc, bp);
            }
            /* the partial strip, if this thread has a tile of it (then it has
             * the one in its first panel: bottom tiles after it come later) */
            if (medge && !edge_packed && tile_mine(&t, st, mt - 1, n0)) {
                pack_a(j->ta, j->A, j->lda, last0, medge, last_h, pc, kc, ap);
                edge_packed = 1;
            }

            for (int64_t ir = 0; ir < mt; ir++) {
                const int64_t i0 = strip_start(st, ir);
                const int h = strip_height(st, ir);
                const int64_t mr = min64(h, j->M - i0);
                const td_real *a = j->A + i0 * j->lda + pc;
                int amode = A_ROWS;
                if (j->ta == TD_GEMM_PANELS) {
                    a = j->A + (pc / NR * j->lda + i0) * NR;
                    amode = A_PANELS;
                } else if (j->ta) {
                    a = j->A + pc * j->lda + i0;
                    amode = A_COLS;
                }
                if (mr < h) {
                    a = ap;
                    amode = A_PACKED;
                }
                kernel_fn *const *row = kernels[h == MR ? 0 : 1][amode];
                for (int64_t jr = n0; jr < n1; jr++) {
                    if (!tile_mine(&t, st, ir, jr)) continue;
                    const int64_t nr = min64(NR, nc - jr * NR);
                    row[ceil_div(nr, HALF_WIDTH)](kc, a, j->lda, bpan + (jr - n0) * bstep,
                                                  j->C + i0 * j->ldc + jc + jr * NR, j->ldc, mr,
                                                  nr, j->alpha, beta);
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

int64_t TD_ISA_FN(td_gemm_panel_width)(void) { return NR; }

void TD_ISA_FN(td_gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
             const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
             td_real *C, int64_t ldc) {
    TD_ASSERT(M >= 0 && N >= 0 && K >= 0, "td_gemm: negative size %lld x %lld x %lld",
              (long long)M, (long long)N, (long long)K);
    TD_ASSERT(trans_a >= 0 && trans_a <= TD_GEMM_PANELS && trans_b >= 0 &&
                  trans_b <= TD_GEMM_PANELS,
              "td_gemm: trans_a %d, trans_b %d: each must be 0, 1 or TD_GEMM_PANELS", trans_a,
              trans_b);
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
    /* equal blocks no bigger than the limits; whole panels of an A in panels */
    const int64_t kc_max = trans_a == TD_GEMM_PANELS ? KC_MAX / NR * NR : KC_MAX;
    j.kcb = ceil_div(K, ceil_div(K, kc_max));
    if (trans_a == TD_GEMM_PANELS) j.kcb = round_up(j.kcb, NR);
    int64_t nc_max = NC_BYTES / (j.kcb * (int64_t)sizeof(td_real)) / NR * NR;
    if (nc_max < NR) nc_max = NR;
    j.ncb = round_up(ceil_div(N, ceil_div(N, nc_max)), NR);

    int nth = 1;
#ifdef _OPENMP
    /* small products stay on this thread: no parallel region at all */
    if ((double)M * (double)N * (double)K >= PAR_MIN_FLOPS && !omp_in_parallel()) {
        nth = omp_get_max_threads();
        strips st = make_strips(M);
        int64_t tiles = (st.hi + st.lo) * ceil_div(min64(N, j.ncb), NR);
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
