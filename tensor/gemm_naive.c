/* The reference matrix multiply the tests and benchmarks compare td_gemm
 * against: a plain triple loop, summed in double (compiled once). */
#include "gemm.h"

void td_gemm_naive(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
                   const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
                   td_real *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t jj = 0; jj < N; jj++) {
            double s = 0;
            for (int64_t p = 0; p < K; p++) {
                double a = trans_a ? A[p * lda + i] : A[i * lda + p];
                double b = trans_b ? B[jj * ldb + p] : B[p * ldb + jj];
                s += a * b;
            }
            double r = (double)alpha * s;
            if (beta != 0) r += (double)beta * C[i * ldc + jj];
            C[i * ldc + jj] = (td_real)r;
        }
}
