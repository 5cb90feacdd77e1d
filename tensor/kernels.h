/* Elementwise, broadcasting and reduction kernels on plain tensors.
 *
 * Every kernel writes a caller-provided output of the right shape; none
 * allocates. Results never depend on the thread count: elementwise loops are
 * independent per element, and reductions sum in fixed-size blocks whose
 * partial sums are then added in order. Loops go parallel (OpenMP) only above
 * TD_PARALLEL_MIN elements, so tiny tensors never open a parallel region. */
#ifndef TD_KERNELS_H
#define TD_KERNELS_H

#include "tensor.h"
#include "vmath.h"

#define TD_PARALLEL_MIN 32768

typedef enum td_binop { TD_BIN_ADD, TD_BIN_SUB, TD_BIN_MUL, TD_BIN_DIV } td_binop;

typedef enum td_unop {
    TD_UN_NEG,
    TD_UN_EXP,
    TD_UN_LOG,
    TD_UN_SOFTPLUS,   /* log(1 + e^x), stable for any x */
    TD_UN_SIGMOID,
    TD_UN_LOGSIGMOID, /* -softplus(-x), stable */
    TD_UN_TANH,
    TD_UN_RELU,
    TD_UN_SQUARE,
    TD_UN_SQRT,
    TD_UN_ABS,
} td_unop;

/* out = a (op) b with NumPy broadcasting; out must have the broadcast shape. */
void td_k_binary(td_binop op, td_tensor *out, const td_tensor *a, const td_tensor *b);
/* out = f(a), same size; out may alias a. */
void td_k_unary(td_unop op, td_tensor *out, const td_tensor *a);
/* Its backward over n elements: dx = f'(x) * g, or dx += f'(x) * g when
 * accumulate is set; x is f's input, y = f(x) its output, g the output's
 * gradient. dx must not alias x, y or g. */
void td_k_unary_backward(td_unop op, td_real *dx, const td_real *x, const td_real *y,
                         const td_real *g, int64_t n, int accumulate);
/* out = a * mul + add; out may alias a. */
void td_k_affine(td_tensor *out, const td_tensor *a, td_real mul, td_real add);
/* y += alpha * x (same size). */
void td_k_axpy(td_tensor *y, td_real alpha, const td_tensor *x);

/* Binary cross-entropy with logits x against targets y in [0, 1], fused
 * for the VAE's decoder: loss[r] = sum over row r of softplus(x) - y x
 * (summed in double in a fixed order), and, when dlogits is not NULL, the
 * gradient dlogits = sigmoid(x) - y from the same exponentials. x, y and
 * dlogits are rows x cols. td_k_bce_logits is the elementwise form
 * (loss has rows x cols entries). */
void td_k_bce_logits_rows(const td_real *x, const td_real *y, int64_t rows, int64_t cols,
                          td_real *loss, td_real *dlogits);
void td_k_bce_logits(const td_real *x, const td_real *y, int64_t n, td_real *loss,
                     td_real *dlogits);
/* y[r, :] += scale[r] * x[r, :] for rows x cols matrices (a gradient
 * with one factor per row, as the backward of a row sum); with accumulate
 * 0, y[r, :] = scale[r] * x[r, :] (y is not read). */
void td_k_add_scaled_rows(td_real *y, const td_real *scale, const td_real *x, int64_t rows,
                          int64_t cols, int accumulate);

/* Reductions over all elements (accumulated in double, fixed blocking). */
double td_k_sum(const td_tensor *a);
double td_k_max(const td_tensor *a);

/* Reductions over one axis; out has a's shape with that dim set to 1
 * (keepdims), so it broadcasts back against a. */
void td_k_sum_axis(td_tensor *out, const td_tensor *a, int axis);
void td_k_max_axis(td_tensor *out, const td_tensor *a, int axis);
void td_k_logsumexp_axis(td_tensor *out, const td_tensor *a, int axis);

/* out += g summed over the dims in which out was broadcast to g's shape.
 * This is the one place broadcast gradients are folded back. */
void td_k_reduce_add_to(td_tensor *out, const td_tensor *g);

/* Rows/columns of matrices: out[:, 0:n] etc. All are plain copies. */
void td_k_copy_cols(td_tensor *dst, int64_t dst_col, const td_tensor *src, int64_t src_col,
                    int64_t ncols);

/* 1 if every element is finite. */
int td_k_all_finite(const td_tensor *a);

/* x[0..n) = 0, parallel in the same blocks as the optimizer updates, so
 * each thread clears the part of a gradient block it last updated (in its
 * own cache: a cache line another core wrote costs a cross-core transfer,
 * which on a VM whose two vCPUs sat on different core complexes made a
 * serial zero-grad of the VAE's 1.27 MB ten times slower at 2 threads). */
void td_k_zero(td_real *x, int64_t n);

/* out[r, :] = row[:] for r < rows: a bias in every row of a layer's output
 * before the GEMM adds x W^T to it (in parallel: serial, it was 1 % of the
 * 1-thread VAE step and twice that share at 2 threads). */
void td_k_fill_rows(td_real *out, const td_real *row, int64_t rows, int64_t cols);

/* dst[j*rows + i] = src[i*cols + j] (+ add[i / group] when add is not
 * NULL) for i < rows, j < cols: the rows x cols matrix src transposed;
 * accumulate: dst += that instead. add holds one value per group of
 * consecutive rows of src (a bias per channel of group pixels). The
 * convolutions' change of layout, NCHW <-> [C, H, W, N] (tensor/conv.c):
 * in 8 x 8 (AVX) or 4 x 4 (SSE2) blocks in registers, in parallel over
 * tiles of dst, so the result does not depend on the thread count. */
void td_k_transpose(const td_real *src, int64_t rows, int64_t cols, const td_real *add,
                    int64_t group, int accumulate, td_real *dst);

/* The optimizer updates over n contiguous parameters p with gradients g
 * (PyTorch's equations; nn/optim.c derives the coefficients):
 *   SGD:  d = g + wd p; with momentum: buf = mu buf + d, d = nesterov ?
 *         d + mu buf : buf; p -= lr d
 *   Adam: gi = g + l2 p; m = b1 m + (1-b1) gi; v = b2 v + (1-b2) gi^2;
 *         p = p shrink - step_size m / (sqrt(v) / bc2_sqrt + eps) */
typedef struct td_sgd_coef {
    td_real lr, weight_decay, momentum;
    int nesterov;
} td_sgd_coef;
typedef struct td_adam_coef {
    td_real beta1, beta2, eps, l2, shrink, step_size, bc2_sqrt;
} td_adam_coef;
void td_k_sgd_update(td_real *p, const td_real *g, td_real *buf, int64_t n, td_sgd_coef c);
void td_k_adam_update(td_real *p, const td_real *g, td_real *m, td_real *v, int64_t n,
                      td_adam_coef c);

#endif
