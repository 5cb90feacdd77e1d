/* Counter-based random numbers (Philox4x32-10).
 *
 * The n-th number of a draw is a pure function of (seed, counter + n), so a
 * draw can be split among any number of threads and still give the same
 * bits. A generator's whole state is two integers: it is saved in
 * checkpoints and restored exactly. */
#ifndef TD_RANDOM_H
#define TD_RANDOM_H

#include "tensor.h"

typedef struct td_rng {
    uint64_t seed;
    uint64_t counter; /* Philox blocks consumed so far */
} td_rng;

void td_rng_init(td_rng *r, uint64_t seed);
/* An independent generator derived from r's seed and a stream id. */
td_rng td_rng_stream(const td_rng *r, uint64_t stream);

uint32_t td_rng_u32(td_rng *r);
double td_rng_double(td_rng *r); /* uniform in [0, 1) */

void td_rng_uniform(td_rng *r, td_real *out, int64_t n, td_real lo, td_real hi);
void td_rng_normal(td_rng *r, td_real *out, int64_t n, td_real mean, td_real std);
/* out[i] = 1 with probability p[i], else 0. */
void td_rng_bernoulli(td_rng *r, td_real *out, int64_t n, const td_real *p);
/* out[i] = 1 with probability p, else 0. */
void td_rng_bernoulli_p(td_rng *r, td_real *out, int64_t n, td_real p);
/* A uniformly random permutation of 0..n-1 (Fisher-Yates). */
void td_rng_permutation(td_rng *r, int64_t *idx, int64_t n);

/* Tensor forms. */
td_tensor td_tensor_uniform(td_shape s, td_rng *r, td_real lo, td_real hi);
td_tensor td_tensor_normal(td_shape s, td_rng *r, td_real mean, td_real std);

/* One Philox4x32-10 block: exposed for the known-answer test. */
void td_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

#endif
