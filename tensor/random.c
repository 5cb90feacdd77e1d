/* Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw,
 * "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
 *
 * Block b of a generator is philox(ctr = (b low, b high, 0, 0), key = seed
 * split into two 32-bit words). A draw of n numbers starting at r->counter
 * reads blocks r->counter, r->counter + 1, ... with a fixed layout:
 *
 *   uniform, bernoulli  float: 4 per block, lane i%4 of block i/4 (24 bits)
 *                       double: 2 per block, lanes 2(i%2), 2(i%2)+1 (53 bits)
 *   normal              float: 4 per block, Box-Muller on lanes (0,1), (2,3)
 *                       double: 2 per block, Box-Muller on 53-bit uniforms
 *                       from lanes (0,1) and (2,3)
 *
 * and afterwards advances r->counter by the number of blocks it touched,
 * ceil(n / per_block). So output i depends only on (seed, counter, i), any
 * thread split gives the same bits, and a draw of n followed by a draw of m
 * equals one draw of n + m exactly when n is a multiple of per_block
 * (otherwise the second draw starts on a fresh block and the unused lanes of
 * the last block are skipped). */
#include "random.h"

#include <math.h>

#include "parallel.h"

/* Blocks per draw above which the block loop goes parallel (a block is
 * ~40 multiplies, so this is about TD_PARALLEL_MIN numbers). */
#define RNG_PARALLEL_BLOCKS 8192

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void philox(const uint32_t in[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = in[0], c1 = in[1], c2 = in[2], c3 = in[3], k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        const uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0; /* the key bump after the last round is unused */
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void td_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    philox(ctr, key, out);
}

/* Block number b (absolute, i.e. counter included) of seed. */
static inline void block(uint64_t seed, uint64_t b, uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0, 0};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    philox(ctr, key, out);
}

/* Uniforms in [0, 1): two words give 53 bits for a double, and (below, in
 * the float build) the top 24 bits fill a float mantissa exactly. */
static inline uint64_t bits53(uint32_t hi, uint32_t lo) {
    return ((uint64_t)hi << 21) | (lo >> 11);
}
static inline double u53(uint32_t hi, uint32_t lo) { return (double)bits53(hi, lo) * 0x1p-53; }

#ifdef TD_DOUBLE
#define PER_BLOCK 2
/* Uniform number j (0 or 1) of a block. */
#define BLOCK_UNIFORM(w, j) ((td_real)u53((w)[2 * (j)], (w)[2 * (j) + 1]))
#else
static inline float u24(uint32_t w) { return (float)(w >> 8) * 0x1p-24f; }
#define PER_BLOCK 4
#define BLOCK_UNIFORM(w, j) ((td_real)u24((w)[j]))
#endif

void td_rng_init(td_rng *r, uint64_t seed) {
    r->seed = seed;
    r->counter = 0;
}

/* splitmix64's finalizer: a bijective 64-bit mix. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The state is only (seed, counter), so a stream cannot live in the
 * counter's spare words: it becomes a new key, seed' = mix(seed ^ mix(stream
 * + golden)). Philox streams under different keys are independent by design;
 * the derived key collides with another generator's only by 64-bit chance.
 * The derived generator starts at counter 0 whatever r has consumed. */
td_rng td_rng_stream(const td_rng *r, uint64_t stream) {
    td_rng s = {mix64(r->seed ^ mix64(stream + 0x9E3779B97F4A7C15ull)), 0};
    return s;
}

uint32_t td_rng_u32(td_rng *r) {
    uint32_t w[4];
    block(r->seed, r->counter++, w);
    return w[0];
}

double td_rng_double(td_rng *r) {
    uint32_t w[4];
    block(r->seed, r->counter++, w);
    return u53(w[0], w[1]);
}

/* One block per call: 64 random bits. */
static uint64_t rng_u64(td_rng *r) {
    uint32_t w[4];
    block(r->seed, r->counter++, w);
    return ((uint64_t)w[0] << 32) | w[1];
}

/* Runs `body` for every full block b (absolute block r->counter + b, words
 * in w, outputs b*per .. b*per+per-1), in parallel for big draws, then the
 * partial last block with `tail`, and advances the counter. */
#define FOR_BLOCKS(r, n, per, body, tail)                                       \
    do {                                                                        \
        const uint64_t seed_ = (r)->seed, base_ = (r)->counter;                 \
        const int64_t full_ = (n) / (per), rest_ = (n) - full_ * (per);         \
        if (full_ > RNG_PARALLEL_BLOCKS) {                                      \
            TD_OMP_FOR for (int64_t b = 0; b < full_; b++) {                    \
                uint32_t w[4];                                                  \
                block(seed_, base_ + (uint64_t)b, w);                           \
                body                                                            \
            }                                                                   \
        } else {                                                                \
            for (int64_t b = 0; b < full_; b++) {                               \
                uint32_t w[4];                                                  \
                block(seed_, base_ + (uint64_t)b, w);                           \
                body                                                            \
            }                                                                   \
        }                                                                       \
        if (rest_ > 0) {                                                        \
            const int64_t b = full_;                                            \
            uint32_t w[4];                                                      \
            block(seed_, base_ + (uint64_t)b, w);                               \
            for (int64_t j = 0; j < rest_; j++) { tail }                        \
        }                                                                       \
        (r)->counter = base_ + (uint64_t)(full_ + (rest_ > 0));                 \
    } while (0)

void td_rng_uniform(td_rng *r, td_real *out, int64_t n, td_real lo, td_real hi) {
    const td_real span = hi - lo;
    FOR_BLOCKS(r, n, PER_BLOCK,
        for (int j = 0; j < PER_BLOCK; j++) out[b * PER_BLOCK + j] = lo + span * BLOCK_UNIFORM(w, j);,
        out[b * PER_BLOCK + j] = lo + span * BLOCK_UNIFORM(w, j););
}

void td_rng_bernoulli(td_rng *r, td_real *out, int64_t n, const td_real *p) {
    FOR_BLOCKS(r, n, PER_BLOCK,
        for (int j = 0; j < PER_BLOCK; j++) {
            const int64_t i = b * PER_BLOCK + j;
            out[i] = BLOCK_UNIFORM(w, j) < p[i];
        },
        out[b * PER_BLOCK + j] = BLOCK_UNIFORM(w, j) < p[b * PER_BLOCK + j];);
}

void td_rng_bernoulli_p(td_rng *r, td_real *out, int64_t n, td_real p) {
    FOR_BLOCKS(r, n, PER_BLOCK,
        for (int j = 0; j < PER_BLOCK; j++) out[b * PER_BLOCK + j] = BLOCK_UNIFORM(w, j) < p;,
        out[b * PER_BLOCK + j] = BLOCK_UNIFORM(w, j) < p;);
}

/* Normals of one block into z[0..PER_BLOCK). Box-Muller in double:
 * u1 is in (0, 1] so log(u1) is finite (largest radius ~6.7 for 32-bit u1,
 * ~8.6 for 53-bit), u2 in [0, 1) gives the angle. */
static inline void block_normals(const uint32_t w[4], double z[PER_BLOCK]) {
    const double two_pi = 6.283185307179586;
#ifdef TD_DOUBLE
    const double u1 = (double)(bits53(w[0], w[1]) + 1) * 0x1p-53, u2 = u53(w[2], w[3]);
    const double rad = sqrt(-2.0 * log(u1));
    z[0] = rad * cos(two_pi * u2);
    z[1] = rad * sin(two_pi * u2);
#else
    for (int k = 0; k < 2; k++) {
        const double u1 = ((double)w[2 * k] + 1.0) * 0x1p-32, u2 = (double)w[2 * k + 1] * 0x1p-32;
        const double rad = sqrt(-2.0 * log(u1));
        z[2 * k] = rad * cos(two_pi * u2);
        z[2 * k + 1] = rad * sin(two_pi * u2);
    }
#endif
}

void td_rng_normal(td_rng *r, td_real *out, int64_t n, td_real mean, td_real std) {
    FOR_BLOCKS(r, n, PER_BLOCK,
        double z[PER_BLOCK];
        block_normals(w, z);
        for (int j = 0; j < PER_BLOCK; j++) out[b * PER_BLOCK + j] = (td_real)(mean + std * z[j]);,
        double z[PER_BLOCK];
        block_normals(w, z);
        out[b * PER_BLOCK + j] = (td_real)(mean + std * z[j]););
}

/* Unbiased integer in [0, range): reject the 2^64 mod range lowest values
 * so every residue is equally likely (one block per attempt). */
static uint64_t bounded(td_rng *r, uint64_t range) {
    const uint64_t threshold = (0 - range) % range;
    uint64_t x;
    do x = rng_u64(r);
    while (x < threshold);
    return x % range;
}

void td_rng_permutation(td_rng *r, int64_t *idx, int64_t n) {
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)bounded(r, (uint64_t)i + 1);
        const int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

td_tensor td_tensor_uniform(td_shape s, td_rng *r, td_real lo, td_real hi) {
    td_tensor t = td_tensor_zeros(s);
    td_rng_uniform(r, t.data, t.size, lo, hi);
    return t;
}

td_tensor td_tensor_normal(td_shape s, td_rng *r, td_real mean, td_real std) {
    td_tensor t = td_tensor_zeros(s);
    td_rng_normal(r, t.data, t.size, mean, std);
    return t;
}
