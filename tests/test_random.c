/* Philox known answers, distribution moments, reproducibility, thread-count
 * independence and how consecutive draws continue the stream. */
#include <string.h>

#include "check.h"
#include "tinyad.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Numbers per Philox block in uniform/bernoulli/normal draws (random.c). */
#define PER_BLOCK (sizeof(td_real) == 4 ? 4 : 2)

static void test_known_answers(void) {
    /* Random123's kat_vectors for philox4x32_10. */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        td_philox4x32(kat[k], kat[k] + 4, out);
        CHECK(!memcmp(out, kat[k] + 6, sizeof out), "KAT %d: %08x %08x %08x %08x", k, out[0],
              out[1], out[2], out[3]);
    }
    /* The generator's block b is philox(ctr = (b, 0, 0, 0), key = seed). */
    td_rng r;
    td_rng_init(&r, 0);
    CHECK(td_rng_u32(&r) == 0x6627e8d5 && r.counter == 1, "u32 is lane 0 of block 0");
    td_rng_init(&r, ((uint64_t)0x299f31d0 << 32) | 0xa4093822);
    uint32_t ctr[4] = {5, 0, 0, 0}, key[2] = {0xa4093822, 0x299f31d0}, want[4];
    td_philox4x32(ctr, key, want);
    r.counter = 5;
    CHECK(td_rng_u32(&r) == want[0], "seed split low/high into the key");
}

static void test_uniform(void) {
    const int64_t n = 1000000;
    td_real *x = malloc((size_t)n * sizeof *x);
    td_rng r;
    td_rng_init(&r, 42);
    td_rng_uniform(&r, x, n, 0, 1);
    CHECK(r.counter == (uint64_t)((n + PER_BLOCK - 1) / PER_BLOCK), "counter advanced by blocks");
    double sum = 0, sq = 0, lo = 1, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += x[i], sq += x[i] * x[i];
        lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    /* standard errors: mean 1/sqrt(12 n), variance sqrt(1/180 n) */
    CHECK(fabs(mean - 0.5) < 5 / sqrt(12.0 * n), "uniform mean %g", mean);
    CHECK(fabs(var - 1 / 12.0) < 5 * sqrt(1 / (180.0 * n)), "uniform var %g", var);
    CHECK(lo >= 0 && hi < 1, "in [0, 1): %g %g", lo, hi);
    /* bins: each tenth within 5 sigma */
    int64_t bins[10] = {0};
    for (int64_t i = 0; i < n; i++) bins[(int)(x[i] * 10)]++;
    int bad = 0;
    for (int k = 0; k < 10; k++) bad += fabs(bins[k] - n / 10.0) > 5 * sqrt(n * 0.09);
    CHECK(bad == 0, "deciles");
    td_rng_uniform(&r, x, 1000, -3, 5);
    lo = 5, hi = -3;
    for (int i = 0; i < 1000; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    CHECK(lo >= -3 && hi <= 5 && lo < -2.9 && hi > 4.9, "range [-3, 5): %g %g", lo, hi);

    double d = 0;
    for (int i = 0; i < 100000; i++) d += td_rng_double(&r);
    CHECK(fabs(d / 100000 - 0.5) < 5 / sqrt(12.0 * 100000), "td_rng_double mean");
    free(x);
}

static void test_normal(void) {
    const int64_t n = 1000000;
    td_real *x = malloc((size_t)n * sizeof *x);
    td_rng r;
    td_rng_init(&r, 7);
    td_rng_normal(&r, x, n, 0, 1);
    double sum = 0, sq = 0, m4 = 0;
    int64_t tail2 = 0, tail3 = 0, finite = 1;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        sum += v, sq += v * v, m4 += v * v * v * v;
        tail2 += fabs(v) > 2, tail3 += fabs(v) > 3;
        finite &= isfinite(v);
    }
    double mean = sum / n, var = sq / n - mean * mean;
    CHECK(finite, "all finite");
    CHECK(fabs(mean) < 5 / sqrt((double)n), "normal mean %g", mean);
    CHECK(fabs(var - 1) < 5 * sqrt(2.0 / n), "normal var %g", var);
    CHECK(fabs(m4 / n - 3) < 5 * sqrt(96.0 / n), "fourth moment %g", m4 / n);
    /* P(|z| > 2) = 0.0455, P(|z| > 3) = 0.0027 */
    CHECK(fabs(tail2 - 0.0455003 * n) < 5 * sqrt(0.0455 * n), "|z|>2: %lld", (long long)tail2);
    CHECK(fabs(tail3 - 0.0026998 * n) < 5 * sqrt(0.0027 * n), "|z|>3: %lld", (long long)tail3);
    td_rng_normal(&r, x, 100000, 3, 2);
    sum = 0;
    for (int i = 0; i < 100000; i++) sum += x[i];
    CHECK(fabs(sum / 100000 - 3) < 5 * 2 / sqrt(100000.0), "mean 3, std 2: %g", sum / 100000);
    free(x);
}

static void test_bernoulli_permutation(void) {
    const int64_t n = 1000000;
    td_real *x = malloc((size_t)n * sizeof *x), *p = malloc((size_t)n * sizeof *p);
    td_rng r;
    td_rng_init(&r, 99);
    td_rng_bernoulli_p(&r, x, n, (td_real)0.3);
    double ones = 0;
    int binary = 1;
    for (int64_t i = 0; i < n; i++) ones += x[i], binary &= x[i] == 0 || x[i] == 1;
    CHECK(binary, "values are 0 or 1");
    CHECK(fabs(ones / n - 0.3) < 5 * sqrt(0.21 / n), "bernoulli_p freq %g", ones / n);
    /* per-element p: half the elements 0.9, half 0.1; p = 0 and 1 exact */
    for (int64_t i = 0; i < n; i++) p[i] = (td_real)(i % 2 ? 0.9 : 0.1);
    td_rng_bernoulli(&r, x, n, p);
    double odd = 0, even = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i % 2) odd += x[i];
        else even += x[i];
    }
    CHECK(fabs(odd / (n / 2) - 0.9) < 5 * sqrt(0.09 / (n / 2)), "p=0.9 freq %g", odd / (n / 2));
    CHECK(fabs(even / (n / 2) - 0.1) < 5 * sqrt(0.09 / (n / 2)), "p=0.1 freq %g", even / (n / 2));
    td_rng_bernoulli_p(&r, x, 1000, 0);
    td_rng_bernoulli_p(&r, p, 1000, 1);
    double s0 = 0, s1 = 0;
    for (int i = 0; i < 1000; i++) s0 += x[i], s1 += p[i];
    CHECK(s0 == 0 && s1 == 1000, "p = 0 and p = 1 are exact");

    /* permutation: every index once; every position roughly uniform */
    const int64_t m = 100000;
    int64_t *idx = malloc((size_t)m * sizeof *idx);
    char *seen = calloc((size_t)m, 1);
    td_rng_permutation(&r, idx, m);
    int ok = 1, moved = 0;
    for (int64_t i = 0; i < m; i++) {
        ok &= idx[i] >= 0 && idx[i] < m && !seen[idx[i]];
        if (idx[i] >= 0 && idx[i] < m) seen[idx[i]] = 1;
        moved += idx[i] != i;
    }
    CHECK(ok, "permutation of 0..%lld", (long long)m - 1);
    CHECK(moved > m - 100, "shuffled (%d moved)", moved);
    int counts[5][5] = {{0}};
    for (int t = 0; t < 50000; t++) {
        int64_t q[5];
        td_rng_permutation(&r, q, 5);
        for (int i = 0; i < 5; i++) counts[i][q[i]]++;
    }
    int bad = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) bad += fabs(counts[i][j] - 10000.0) > 5 * sqrt(8000.0);
    CHECK(bad == 0, "positions of a 5-permutation uniform");
    int64_t one;
    td_rng_permutation(&r, &one, 1);
    CHECK(one == 0, "n = 1");
    td_rng_permutation(&r, NULL, 0);
    free(idx), free(seen), free(x), free(p);
}

static void test_reproducible(void) {
    enum { N = 1003 };
    td_real a[N], b[N], c[2 * N];
    td_rng r1, r2;
    td_rng_init(&r1, 2024), td_rng_init(&r2, 2024);
    td_rng_normal(&r1, a, N, 0, 1), td_rng_normal(&r2, b, N, 0, 1);
    CHECK(!memcmp(a, b, sizeof a), "same seed, same numbers");
    CHECK(r1.counter == r2.counter, "same counter");
    td_rng_init(&r2, 2025);
    td_rng_normal(&r2, b, N, 0, 1);
    CHECK(memcmp(a, b, sizeof a), "other seed, other numbers");

    /* Restoring (seed, counter) replays exactly: what checkpoints rely on. */
    td_rng saved = r1;
    td_rng_uniform(&r1, a, N, 0, 1);
    r2 = saved;
    td_rng_uniform(&r2, b, N, 0, 1);
    CHECK(!memcmp(a, b, sizeof a), "restored state replays");

    /* Streams: reproducible, distinct from the parent and from each other. */
    td_rng_init(&r1, 5);
    td_rng s1 = td_rng_stream(&r1, 1), s1b = td_rng_stream(&r1, 1), s2 = td_rng_stream(&r1, 2);
    CHECK(s1.seed == s1b.seed && s1.seed != s2.seed && s1.seed != r1.seed && s1.counter == 0,
          "streams");
    td_rng_uniform(&s1, a, N, 0, 1), td_rng_uniform(&s2, b, N, 0, 1);
    td_rng_uniform(&r1, c, N, 0, 1);
    CHECK(memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a), "streams draw different numbers");

    /* A draw of 2n is two draws of n when n is a multiple of the numbers per
     * block (4 float, 2 double) ... */
    const int n = 1000; /* multiple of 4 */
    td_rng_init(&r1, 11), td_rng_init(&r2, 11);
    td_rng_normal(&r1, c, 2 * n, 0, 1);
    td_rng_normal(&r2, a, n, 0, 1), td_rng_normal(&r2, b, n, 0, 1);
    CHECK(!memcmp(c, a, n * sizeof *a) && !memcmp(c + n, b, n * sizeof *b), "2n = n + n (normal)");
    CHECK(r1.counter == r2.counter, "same blocks consumed");
    td_rng_init(&r1, 11), td_rng_init(&r2, 11);
    td_rng_uniform(&r1, c, 2 * n, 0, 1);
    td_rng_uniform(&r2, a, n, 0, 1), td_rng_uniform(&r2, b, n, 0, 1);
    CHECK(!memcmp(c, a, n * sizeof *a) && !memcmp(c + n, b, n * sizeof *b), "2n = n + n (uniform)");
    /* ... otherwise the second draw starts on the next whole block: the
     * draw of m = 1001 ends mid-block, and the following draw equals the
     * big draw from index ceil(1001 / per_block) * per_block. */
    const int m = 1001, next = (int)((m + PER_BLOCK - 1) / PER_BLOCK * PER_BLOCK);
    td_rng_init(&r1, 11), td_rng_init(&r2, 11);
    td_rng_uniform(&r1, c, 2 * N, 0, 1);
    td_rng_uniform(&r2, a, m, 0, 1), td_rng_uniform(&r2, b, N - 10, 0, 1);
    CHECK(!memcmp(c, a, m * sizeof *a) && !memcmp(c + next, b, (N - 10) * sizeof *b),
          "ragged draws continue at the next block");
    CHECK(r2.counter == (uint64_t)(next / PER_BLOCK + (N - 10 + PER_BLOCK - 1) / PER_BLOCK),
          "counter counts blocks");
}

/* Large draws (parallel) give the same bits for any thread count. */
static void test_threads(void) {
#ifdef _OPENMP
    const int64_t n = 1000003;
    const int saved = omp_get_max_threads();
    td_real *x[3], *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = (td_real)((i % 7) / 7.0);
    int same = 1;
    for (int kind = 0; kind < 3; kind++) {
        for (int t = 0; t < 3; t++) {
            x[t] = malloc((size_t)n * sizeof *x[t]);
            omp_set_num_threads(t + 1);
            td_rng r;
            td_rng_init(&r, 31337);
            r.counter = 17;
            if (kind == 0) td_rng_uniform(&r, x[t], n, -1, 1);
            if (kind == 1) td_rng_normal(&r, x[t], n, 0, 1);
            if (kind == 2) td_rng_bernoulli(&r, x[t], n, p);
        }
        same &= !memcmp(x[0], x[1], (size_t)n * sizeof *p) && !memcmp(x[0], x[2], (size_t)n * sizeof *p);
        CHECK(same, "draw kind %d identical for 1, 2, 3 threads", kind);
        for (int t = 0; t < 3; t++) free(x[t]);
    }
    omp_set_num_threads(saved);
    free(p);
#else
    printf("built without OpenMP: thread-count test skipped\n");
#endif
}

static void test_tensors(void) {
    td_rng r1, r2;
    td_rng_init(&r1, 3), td_rng_init(&r2, 3);
    td_tensor t = td_tensor_normal(TD_SHAPE(4, 5), &r1, 1, 2);
    td_real want[20];
    td_rng_normal(&r2, want, 20, 1, 2);
    CHECK(t.size == 20 && t.owns && !memcmp(t.data, want, sizeof want), "tensor_normal");
    td_tensor u = td_tensor_uniform(TD_SHAPE(3, 3), &r1, 2, 3);
    td_rng_uniform(&r2, want, 9, 2, 3);
    CHECK(!memcmp(u.data, want, 9 * sizeof *want), "tensor_uniform");
    td_tensor_release(&t), td_tensor_release(&u);
}

int main(void) {
    test_known_answers();
    test_uniform();
    test_normal();
    test_bernoulli_permutation();
    test_reproducible();
    test_threads();
    test_tensors();
    return check_done("random");
}
