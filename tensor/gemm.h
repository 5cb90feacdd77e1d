/* Matrix multiply, row-major:  C = alpha * op(A) op(B) + beta * C
 * op(A) is M x K, op(B) is K x N, C is M x N. trans_a means A is stored
 * K x M (so op(A) = A^T), likewise trans_b. lda/ldb/ldc are row strides of
 * the matrices as stored. beta == 0 means C is overwritten (never read, so
 * NaNs in C do not leak).
 *
 * td_gemm is blocked, packed and parallel (OpenMP); every element of C is
 * summed in the same order whatever the thread count, so results are
 * bit-identical across thread counts. td_gemm_naive is the reference triple
 * loop the tests compare against. */
#ifndef TD_GEMM_H
#define TD_GEMM_H

#include "tensor.h"

void td_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
             const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
             td_real *C, int64_t ldc);

void td_gemm_naive(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
                   const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
                   td_real *C, int64_t ldc);

#endif
