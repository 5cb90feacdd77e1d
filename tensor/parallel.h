/* The parallel loops of tinyad's kernels and optimizers (private: not
 * installed). Loops open an OpenMP parallel region only above
 * TD_PARALLEL_MIN elements of work, so small tensors never open one. */
#ifndef TD_PARALLEL_H
#define TD_PARALLEL_H

#include "kernels.h"

#ifdef _OPENMP
#define TD_OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define TD_OMP_FOR
#endif

/* PAR_FOR_IF(par, i, n, body): `for (int64_t i = 0; i < n; i++) body`,
 * parallel when par holds (callers pass "more than TD_PARALLEL_MIN elements
 * of work"), each thread taking a contiguous n / threads of the iterations:
 * for loops over rows, blocks or chunks. */
#define PAR_FOR_IF(par, i, n, ...)                                          \
    do {                                                                    \
        const int64_t n_ = (n);                                             \
        if (par) {                                                          \
            TD_OMP_FOR for (int64_t i = 0; i < n_; i++) { __VA_ARGS__ }     \
        } else {                                                            \
            for (int64_t i = 0; i < n_; i++) { __VA_ARGS__ }                \
        }                                                                   \
    } while (0)

/* PAR_FOR(i, n, body): the same over n elements of contiguous arrays,
 * parallel above TD_PARALLEL_MIN, with threads taking whole blocks of
 * TD_PAR_BLOCK elements so that every thread's part starts on a cache line
 * (buffers are 64-byte aligned). Split at n / threads instead, the other
 * thread's vector loads and stores straddle lines whenever that is not a
 * multiple of 16, and it ran at half speed (Adam over the VAE's 318710
 * parameters). */
#define TD_PAR_BLOCK 1024

static inline int64_t td_par_block_end(int64_t block, int64_t n) {
    const int64_t end = (block + 1) * TD_PAR_BLOCK;
    return end < n ? end : n;
}

#define PAR_FOR(i, n, ...)                                                     \
    do {                                                                       \
        const int64_t n_ = (n);                                                \
        if (n_ > TD_PARALLEL_MIN) {                                            \
            const int64_t blocks_ = (n_ + TD_PAR_BLOCK - 1) / TD_PAR_BLOCK;    \
            TD_OMP_FOR for (int64_t b_ = 0; b_ < blocks_; b_++) {              \
                const int64_t end_ = td_par_block_end(b_, n_);                 \
                for (int64_t i = b_ * TD_PAR_BLOCK; i < end_; i++) { __VA_ARGS__ } \
            }                                                                  \
        } else {                                                               \
            for (int64_t i = 0; i < n_; i++) { __VA_ARGS__ }                   \
        }                                                                      \
    } while (0)

#endif
