/* Matrix multiply, row-major:  C = alpha * op(A) op(B) + beta * C
 * op(A) is M x K, op(B) is K x N, C is M x N. trans_a means A is stored
 * K x M (so op(A) = A^T), likewise trans_b. lda/ldb/ldc are row strides of
 * the matrices as stored. beta == 0 means C is overwritten (never read, so
 * NaNs in C do not leak).
 *
 * trans_a / trans_b may also be TD_GEMM_PANELS: the operand is op(A) (or
 * op(B)) itself, R x C (M x K, or K x N), stored in panels of w =
 * td_gemm_panel_width() columns: element (r, j) at ((j / w) * ld + r) * w
 * + j % w, with ld >= R the rows of a panel (lda or ldb) and the lanes of
 * the last panel past C zero. That is the layout td_gemm copies B into
 * before it multiplies; a caller that writes its operand that way (im2col,
 * tensor/conv.c) saves the copy: given B in panels td_gemm reads them in
 * place, and A in panels is read in place like a row-major A.
 *
 * td_gemm is blocked, packed and parallel (OpenMP); every element of C is
 * summed in the same order whatever the thread count, so results are
 * bit-identical across thread counts. td_gemm_naive is the reference triple
 * loop the tests compare against. */
#ifndef TD_GEMM_H
#define TD_GEMM_H

#include "tensor.h"

#define TD_GEMM_PANELS 2
/* w above: the columns of a panel on the kernel path in use (16 floats
 * on AVX2, 32 on AVX-512, 8 on SSE2; half as many doubles). */
int64_t td_gemm_panel_width(void);

void td_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
             const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
             td_real *C, int64_t ldc);

void td_gemm_naive(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
                   const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
                   td_real *C, int64_t ldc);

#endif
