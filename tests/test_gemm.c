/* td_gemm against the naive reference: every transpose combination, edge
 * sizes around the register tile, alpha/beta variants, padded leading
 * dimensions, operands in panels; bit-identical results for any thread
 * count; no allocation after warm-up. Runs in float (the default) or double (-DTD_DOUBLE). */
#include <float.h>
#include <string.h>

#include "check.h"
#include "tensor/gemm.h"
#include "tensor/tensor.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define EPS (sizeof(td_real) == sizeof(float) ? (double)FLT_EPSILON : DBL_EPSILON)

static unsigned rng_state = 1;
static td_real urand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (td_real)((double)(rng_state >> 8) / (1 << 23) - 1.0);
}

/* A rows x cols matrix with row stride ld >= cols; the padding holds NaN,
 * so reading past a row shows up as a NaN in the result. */
static td_real *matrix(int64_t rows, int64_t cols, int64_t ld) {
    td_real *m = td_alloc(sizeof(td_real) * (size_t)(rows * ld + 1));
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < ld; j++) m[i * ld + j] = j < cols ? urand() : (td_real)NAN;
    return m;
}

/* op (R x C, row-major at row stride ldx) in td_gemm's panels (gemm.h)
 * of ld >= R rows: rows past R hold NaN (never read), lanes past C zero. */
static td_real *panels_of(const td_real *X, int64_t R, int64_t C, int64_t ldx, int64_t ld) {
    const int64_t w = td_gemm_panel_width(), np = (C + w - 1) / w;
    td_real *p = td_alloc(sizeof(td_real) * (size_t)(np * ld * w + 1));
    for (int64_t q = 0; q < np; q++)
        for (int64_t r = 0; r < ld; r++)
            for (int64_t l = 0; l < w; l++) {
                const int64_t j = q * w + l;
                p[(q * ld + r) * w + l] = r >= R ? (td_real)NAN : j < C ? X[r * ldx + j] : 0;
            }
    return p;
}

typedef struct problem {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    td_real alpha, beta;
    int nan_c; /* fill C with NaN (only meaningful with beta == 0) */
} problem;

/* Runs td_gemm and the reference on the same inputs; returns how far the
 * worst element is from the reference in units of its error bound
 * (<= 1 passes), or +inf on a NaN / a write outside C. */
static double compare(const problem *p) {
    /* an operand in panels is made as op(X) row-major (ta, lda: how the
     * reference reads it), then copied into panels for td_gemm */
    const int pa = p->ta == TD_GEMM_PANELS, pb = p->tb == TD_GEMM_PANELS;
    const int ta = pa ? 0 : p->ta, tb = pb ? 0 : p->tb;
    const int64_t lda = pa ? p->K : p->lda, ldb = pb ? p->N : p->ldb;
    int64_t ar = ta ? p->K : p->M, ac = ta ? p->M : p->K;
    int64_t br = tb ? p->N : p->K, bc = tb ? p->K : p->N;
    td_real *A = matrix(ar, ac, lda), *B = matrix(br, bc, ldb);
    td_real *Ap = pa ? panels_of(A, p->M, p->K, lda, p->lda) : A;
    td_real *Bp = pb ? panels_of(B, p->K, p->N, ldb, p->ldb) : B;
    td_real *C = matrix(p->M, p->N, p->ldc);
    if (p->nan_c)
        for (int64_t i = 0; i < p->M; i++)
            for (int64_t j = 0; j < p->N; j++) C[i * p->ldc + j] = (td_real)NAN;
    size_t cbytes = sizeof(td_real) * (size_t)(p->M * p->ldc);
    td_real *R = td_alloc(cbytes + sizeof(td_real)), *Cabs = td_alloc(cbytes + sizeof(td_real));
    memcpy(R, C, cbytes);
    /* |A| |B| for the error bound */
    td_real *Aa = td_alloc(sizeof(td_real) * (size_t)(ar * lda + 1));
    td_real *Ba = td_alloc(sizeof(td_real) * (size_t)(br * ldb + 1));
    for (int64_t i = 0; i < ar * lda; i++) Aa[i] = (td_real)fabs((double)A[i]);
    for (int64_t i = 0; i < br * ldb; i++) Ba[i] = (td_real)fabs((double)B[i]);
    memset(Cabs, 0, cbytes);
    td_gemm_naive(ta, tb, p->M, p->N, p->K, 1, Aa, lda, Ba, ldb, 0, Cabs, p->ldc);

    td_gemm(p->ta, p->tb, p->M, p->N, p->K, p->alpha, Ap, p->lda, Bp, p->ldb, p->beta, C,
            p->ldc);
    td_gemm_naive(ta, tb, p->M, p->N, p->K, p->alpha, A, lda, B, ldb, p->beta, R, p->ldc);
    double worst = 0;
    for (int64_t i = 0; i < p->M; i++)
        for (int64_t j = 0; j < p->ldc; j++) {
            double c = C[i * p->ldc + j], r = R[i * p->ldc + j];
            if (j >= p->N) { /* padding must be untouched (NaN in both) */
                if (!isnan(c)) worst = INFINITY;
                continue;
            }
            if (!isfinite(c)) {
                worst = INFINITY;
                continue;
            }
            /* a K-term dot product in td_real: |error| <= ~K eps sum|a b|,
             * plus the rounding of the alpha/beta update */
            double scale = fabs((double)p->alpha) * Cabs[i * p->ldc + j] + fabs(r);
            double bound = 2.0 * (double)(p->K + 4) * EPS * scale + 1e-30;
            double q = fabs(c - r) / bound;
            if (q > worst) worst = q;
        }
    if (pa) td_free(Ap);
    if (pb) td_free(Bp);
    td_free(A);
    td_free(B);
    td_free(C);
    td_free(R);
    td_free(Cabs);
    td_free(Aa);
    td_free(Ba);
    return worst;
}

static void check_problem(problem p) {
    double q = compare(&p);
    CHECK(q <= 1.0,
          "ta=%d tb=%d M=%lld N=%lld K=%lld lda=%lld ldb=%lld ldc=%lld alpha=%g beta=%g "
          "nan_c=%d: error %.3g x the bound",
          p.ta, p.tb, (long long)p.M, (long long)p.N, (long long)p.K, (long long)p.lda,
          (long long)p.ldb, (long long)p.ldc, (double)p.alpha, (double)p.beta, p.nan_c, q);
}

static problem make(int ta, int tb, int64_t M, int64_t N, int64_t K, int pad) {
    problem p = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = 1, .beta = 0};
    p.lda = (ta ? M : K) + pad;
    p.ldb = (tb ? K : N) + pad;
    p.ldc = N + pad;
    return p;
}

/* All sizes from a set, all transposes, three alpha/beta variants. */
static void test_against_reference(void) {
    const int64_t sizes[] = {1, 7, 33, 130};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    for (int t = 0; t < 4; t++)
        for (int a = 0; a < ns; a++)
            for (int b = 0; b < ns; b++)
                for (int c = 0; c < ns; c++) {
                    int ta = t & 1, tb = t >> 1;
                    int64_t M = sizes[a], N = sizes[b], K = sizes[c];
                    /* beta 0 over a NaN-filled C: C must not be read */
                    problem p = make(ta, tb, M, N, K, 0);
                    p.nan_c = 1;
                    check_problem(p);
                    /* beta 1, padded leading dimensions */
                    p = make(ta, tb, M, N, K, 3);
                    p.beta = 1;
                    check_problem(p);
                    /* alpha 0.5, beta -0.75, more padding */
                    p = make(ta, tb, M, N, K, 17);
                    p.alpha = 0.5;
                    p.beta = (td_real)-0.75;
                    check_problem(p);
                }
}

/* The VAE's shapes (batch 128, 784-400-20) as tinyad's layers call them, a
 * few sizes that cross the cache blocks (K > kc, N > nc, M > mc), and
 * sizes just around the register tile. */
static void test_big_shapes(void) {
    const struct { int ta, tb; int64_t M, N, K; } s[] = {
        {0, 1, 128, 400, 784}, {0, 1, 128, 20, 400}, {0, 1, 128, 40, 400},
        {0, 1, 128, 400, 20},  {0, 1, 128, 784, 400}, {0, 0, 128, 400, 784},
        {1, 0, 784, 400, 128}, {1, 0, 400, 20, 128},  {1, 0, 20, 400, 128},
        {0, 0, 128, 784, 400}, {1, 1, 129, 1100, 1500}, {0, 0, 1100, 65, 700},
        {0, 0, 17, 15, 3},     {0, 0, 9, 33, 1},       {1, 1, 15, 17, 64},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        problem p = make(s[i].ta, s[i].tb, s[i].M, s[i].N, s[i].K, (int)(i % 3) * 5);
        p.beta = i % 2 ? 1 : 0;
        p.nan_c = !p.beta;
        check_problem(p);
    }
}

/* Operands in panels (as im2col writes them for the convolutions): A, B
 * or both, against the other layouts, at sizes around the tile and the
 * panel width, K across two blocks (an A in panels is cut at whole
 * panels), with spare rows in the panels (ld > R). */
static void test_panels(void) {
    const int64_t Ms[] = {1, 9, 33}, Ns[] = {1, 17, 130}, Ks[] = {1, 16, 33, 700};
    const int pairs[][2] = {{TD_GEMM_PANELS, 0}, {TD_GEMM_PANELS, 1}, {0, TD_GEMM_PANELS},
                            {1, TD_GEMM_PANELS}, {TD_GEMM_PANELS, TD_GEMM_PANELS}};
    for (int c = 0; c < 5; c++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                for (int k = 0; k < 4; k++) {
                    const int ta = pairs[c][0], tb = pairs[c][1], pad = (a + b + k) % 2 * 3;
                    problem p = make(ta, tb, Ms[a], Ns[b], Ks[k], pad);
                    if (ta == TD_GEMM_PANELS) p.lda = Ms[a] + pad; /* rows of a panel */
                    if (tb == TD_GEMM_PANELS) p.ldb = Ks[k] + pad;
                    p.beta = (a + k) % 2 ? 1 : 0;
                    p.nan_c = !p.beta;
                    check_problem(p);
                }
}

/* K == 0 and alpha == 0: C = beta C, A and B not read. */
static void test_degenerate(void) {
    td_real C[6] = {1, 2, 3, 4, 5, 6};
    td_real A[1] = {NAN}, B[1] = {NAN};
    td_gemm(0, 0, 2, 3, 0, 1, A, 1, B, 3, 2, C, 3);
    CHECK(C[0] == 2 && C[5] == 12, "K = 0 should scale C by beta: %g %g", (double)C[0],
          (double)C[5]);
    td_gemm(0, 0, 2, 3, 1, 0, A, 1, B, 3, 0.5, C, 3);
    CHECK(C[0] == 1 && C[5] == 6, "alpha = 0 should scale C by beta: %g %g", (double)C[0],
          (double)C[5]);
    for (int i = 0; i < 6; i++) C[i] = (td_real)NAN;
    td_gemm(0, 0, 2, 3, 0, 1, A, 1, B, 3, 0, C, 3);
    CHECK(C[0] == 0 && C[5] == 0, "K = 0, beta = 0 should zero C");
    td_gemm(0, 0, 0, 3, 4, 1, A, 4, B, 3, 0, C, 3); /* M = 0: nothing to do */
    CHECK(C[0] == 0, "M = 0 must not touch C");
}

/* 1, 2 and 3 threads give the same bits, and repeated calls allocate nothing. */
static void test_threads(void) {
#ifdef _OPENMP
    const struct { int ta, tb; int64_t M, N, K; } s[] = {
        {0, 1, 128, 400, 784}, {1, 0, 784, 400, 128}, {0, 0, 128, 20, 400},
        {1, 1, 130, 130, 130}, {0, 0, 1100, 65, 700}, {1, 0, 20, 400, 128},
    };
    int saved = omp_get_max_threads();
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        int64_t ar = s[i].ta ? s[i].K : s[i].M, ac = s[i].ta ? s[i].M : s[i].K;
        int64_t br = s[i].tb ? s[i].N : s[i].K, bc = s[i].tb ? s[i].K : s[i].N;
        td_real *A = matrix(ar, ac, ac), *B = matrix(br, bc, bc);
        td_real *C[3];
        for (int t = 0; t < 3; t++) {
            omp_set_num_threads(t + 1);
            C[t] = matrix(s[i].M, s[i].N, s[i].N); /* same seed stream: reset below */
        }
        /* identical starting C for the beta = 1 accumulation */
        for (int t = 1; t < 3; t++)
            memcpy(C[t], C[0], sizeof(td_real) * (size_t)(s[i].M * s[i].N));
        for (int t = 0; t < 3; t++) {
            omp_set_num_threads(t + 1);
            td_gemm(s[i].ta, s[i].tb, s[i].M, s[i].N, s[i].K, (td_real)0.7, A, ac, B, bc, 1, C[t],
                    s[i].N);
            int64_t before = td_alloc_count();
            td_gemm(s[i].ta, s[i].tb, s[i].M, s[i].N, s[i].K, (td_real)0.7, A, ac, B, bc, 1, C[t],
                    s[i].N);
            CHECK(td_alloc_count() == before, "a repeated call allocated (%d threads)", t + 1);
        }
        size_t bytes = sizeof(td_real) * (size_t)(s[i].M * s[i].N);
        CHECK(memcmp(C[0], C[1], bytes) == 0, "1 and 2 threads differ at %lldx%lldx%lld",
              (long long)s[i].M, (long long)s[i].N, (long long)s[i].K);
        CHECK(memcmp(C[0], C[2], bytes) == 0, "1 and 3 threads differ at %lldx%lldx%lld",
              (long long)s[i].M, (long long)s[i].N, (long long)s[i].K);
        for (int t = 0; t < 3; t++) td_free(C[t]);
        td_free(A);
        td_free(B);
    }
    omp_set_num_threads(saved);
#else
    printf("built without OpenMP: thread-count determinism not tested\n");
#endif
}

int main(void) {
    printf("td_gemm test in %s\n", TD_REAL_NAME);
    test_degenerate();
    test_against_reference();
    test_big_shapes();
    test_panels();
    test_threads();
    return check_done("gemm");
}
