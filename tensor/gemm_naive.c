/* The reference matrix multiply the tests and benchmarks compare td_gemm
 * against: a plain triple loop, summed in double (compiled once). */
#include "gemm.h"

/* element (r, j) of an operand stored as td_gemm reads it (gemm.h) */
static double elem(int layout, const td_real *X, int64_t ld, int64_t r, int64_t j, int64_t w) {
    if (layout == TD_GEMM_PANELS) return X[((j / w) * ld + r) * w + j % w];
    return layout ? X[j * ld + r] : X[r * ld + j];
}

void td_gemm_naive(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
                   const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
                   td_real *C, int64_t ldc) {
    const int64_t w = td_gemm_panel_width();
    for (int64_t i = 0; i < M; i++)
        for (int64_t jj = 0; jj < N; jj++) {
            double s = 0;
            for (int64_t p = 0; p < K; p++) {
                s += elem(trans_a, A, lda, i, p, w) * elem(trans_b, B, ldb, p, jj, w);
            }
            double r = (double)alpha * s;
            if (beta != 0) r += (double)beta * C[i * ldc + jj];
            C[i * ldc + jj] = (td_real)r;
        }
}
