/* Softplus, sigmoid and their two building blocks, written so that loops
 * calling them vectorize.
 *
 * Why: libm's expf and log1pf are opaque scalar calls (10-20 ns each here),
 * and the binary cross-entropy over a VAE's 128 x 784 decoder logits cost
 * more than the decoder's matrix multiply. These are plain arithmetic and
 * selects (no calls, no branches, no integer overflow), so GCC and Clang
 * turn a loop over them into SSE2, AVX2 or AVX-512 code without
 * -ffast-math. (GCC needs -fno-trapping-math, set in meson.build, to blend
 * the selects below AVX-512; it changes no result.)
 *
 * Float builds use them; double builds (gradcheck, the gradient tests) use
 * libm, so the finite-difference checks still run against correctly
 * rounded functions. Accuracy in float, measured by tests/test_kernels.c
 * against double libm on a dense sweep: exp and log1p within 2 ulp,
 * softplus, sigmoid and tanh within 4 ulp (relative), except that exp of x below
 * ln(FLT_MIN) ~ -87.34 is flushed to 0 (no subnormal results). */
#ifndef TD_VMATH_H
#define TD_VMATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor.h"

#ifdef TD_DOUBLE

static inline td_real td_fabs_r(td_real x) { return fabs(x); }
static inline td_real td_exp_nonpos(td_real x) { return exp(x); }
static inline td_real td_log1p_unit(td_real t) { return log1p(t); }
static inline td_real td_tanh_r(td_real x) { return tanh(x); }

#else

/* a * b + c, fused (one rounding) on the paths with FMA (AVX2, AVX-512),
 * two roundings elsewhere. Fused, a polynomial step is one instruction of
 * 4 cycles' latency instead of two of 3 each; the loops over these
 * functions are bound by their long dependency chains (the fused BCE over
 * 128 x 784 logits on Zen 4, best of 30 calls: 0.47 -> 0.75 elements/ns on
 * the avx2 path, 0.79 -> 1.14 on avx512). */
#ifdef __FMA__
static inline float td_madd(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
#else
static inline float td_madd(float a, float b, float c) { return a * b + c; }
#endif

/* exp(x) for x <= 0 (x > 0 is treated as 0); NaN gives NaN.
 * x = n ln2 + r with |r| <= ln2 / 2; exp(r) by the Cephes expf polynomial;
 * 2^n assembled in the exponent bits. ln2 is split in two (C1 has few
 * significant bits, so n * C1 is exact) to keep r accurate. */
static inline float td_fabs_r(float x) { return fabsf(x); }

static inline float td_exp_nonpos(float x) {
    const float lo = -87.33654f; /* ln(FLT_MIN): 2^n stays a normal float */
    float xc = x > lo ? x : lo;  /* NaN -> lo here; put back at the end */
    xc = xc < 0.0f ? xc : 0.0f;
    /* adding 1.5 * 2^23 rounds to an integer (round to nearest) */
    const float shifter = 12582912.0f;
    const float n = (xc * 1.44269504088896341f + shifter) - shifter;
    float r = td_madd(n, -0.693359375f, xc);
    r = td_madd(n, 2.12194440e-4f, r);
    const float z = r * r;
    float p = 1.9875691500e-4f;
    p = td_madd(p, r, 1.3981999507e-3f);
    p = td_madd(p, r, 8.3334519073e-3f);
    p = td_madd(p, r, 4.1665795894e-2f);
    p = td_madd(p, r, 1.6666665459e-1f);
    p = td_madd(p, r, 5.0000001201e-1f);
    p = td_madd(p, z, r) + 1.0f;
    /* 2^n for n in [-126, 0]: exponent field n + 127 */
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale;
    e = x < lo ? 0.0f : e;
    return x == x ? e : x;
}

/* log(1 + t) for t in [0, 1]: with u = t / (2 + t) in [0, 1/3],
 * log(1 + t) = 2 atanh(u) = 2u (1 + u^2/3 + u^4/5 + ...); the terms after
 * u^12/13 are below 2^-26 relative. Relative accuracy holds down to t = 0
 * (the result tends to t), which softplus of a large |x| relies on. */
static inline float td_log1p_unit(float t) {
    const float u = t / (2.0f + t), w = u * u;
    float p = 1.0f / 13;
    p = td_madd(p, w, 1.0f / 11);
    p = td_madd(p, w, 1.0f / 9);
    p = td_madd(p, w, 1.0f / 7);
    p = td_madd(p, w, 1.0f / 5);
    p = td_madd(p, w, 1.0f / 3);
    p = td_madd(p, w, 1.0f);
    return 2.0f * u * p;
}

/* tanh: for |x| < 0.625 the Cephes tanhf odd polynomial (1 - e^-2|x|
 * would cancel there), else sign(x) (1 - 2 t / (1 + t)) with t = e^-2|x|;
 * both are computed and one selected, so the loop stays branch-free. */
static inline float td_tanh_r(float x) {
    const float ax = fabsf(x), z = x * x;
    float p = -5.70498872745e-3f;
    p = td_madd(p, z, 2.06390887954e-2f);
    p = td_madd(p, z, -5.37397155531e-2f);
    p = td_madd(p, z, 1.33314422036e-1f);
    p = td_madd(p, z, -3.33332819422e-1f);
    const float small = p * z * x + x;
    const float t = td_exp_nonpos(-2.0f * ax), big = 1.0f - 2.0f * t / (1.0f + t);
    return ax < 0.625f ? small : copysignf(big, x);
}

#endif

/* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), and
 * sigmoid(x) = 1 / (1 + e^-x), both from t = e^-|x| (so one exp serves
 * both in the cross-entropy) and neither ever overflows. x > 0 ? x : 0
 * keeps a NaN flowing through the log1p term. */
static inline td_real td_softplus_from(td_real x, td_real t) {
    return (x > 0 ? x : (td_real)0) + td_log1p_unit(t);
}
static inline td_real td_sigmoid_from(td_real x, td_real t) {
    const td_real s = 1 / (1 + t);
    return x >= 0 ? s : t * s;
}
static inline td_real td_exp_neg_abs(td_real x) { return td_exp_nonpos(-td_fabs_r(x)); }

static inline td_real td_softplus_r(td_real x) { return td_softplus_from(x, td_exp_neg_abs(x)); }
static inline td_real td_sigmoid_r(td_real x) { return td_sigmoid_from(x, td_exp_neg_abs(x)); }

#endif
