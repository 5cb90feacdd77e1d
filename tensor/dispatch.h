/* The kernels compiled once per instruction-set path (private: not
 * installed). How it fits together:
 *
 *   gemm.c, kernels.c and conv_lower.c are compiled once per path
 *   (meson: tensor/meson.build), each time with that path's -m flags and
 *   -DTD_ISA_NAME=sse2|avx2|avx512. Their kernels are defined under the
 *   suffixed name TD_ISA_FN(td_k_sum) = td_k_sum_avx2, and each copy of
 *   kernels.c ends with its table, td_kernel_set_avx2 = {.td_k_sum =
 *   td_k_sum_avx2, ...}.
 *
 *   dispatch.c is compiled once. It picks a table when the program starts
 *   (isa.h) and defines the public, unsuffixed td_k_sum(...) etc. of
 *   kernels.h and gemm.h, each a one-line call through the table.
 *
 * Adding a kernel to kernels.c: declare it in kernels.h, define it as
 * TD_ISA_FN(name), add it to TD_KERNEL_LIST and write its forwarder in
 * dispatch.c. */
#ifndef TD_DISPATCH_H
#define TD_DISPATCH_H

#include "conv.h"
#include "gemm.h"
#include "isa.h"
#include "kernels.h"

#define TD_KERNEL_LIST(X)                                                                     \
    X(td_gemm) X(td_gemm_panel_width) X(td_k_binary) X(td_k_unary) X(td_k_unary_backward)     \
    X(td_k_affine) X(td_k_axpy) X(td_k_bce_logits_rows) X(td_k_bce_logits)                    \
    X(td_k_add_scaled_rows) X(td_k_sum) X(td_k_max) X(td_k_sum_axis) X(td_k_max_axis)         \
    X(td_k_logsumexp_axis) X(td_k_reduce_add_to) X(td_k_copy_cols) X(td_k_all_finite)         \
    X(td_k_zero) X(td_k_fill_rows) X(td_k_transpose) X(td_k_sgd_update) X(td_k_adam_update)  \
    X(td_conv_im2col) X(td_conv_col2im) X(td_conv_relu_bias_grad)

/* One path's kernels: a member per kernel, named and typed as the public
 * function. */
#define TD_KERNEL_MEMBER(f) __typeof__(f) *f;
typedef struct td_kernel_set {
    TD_KERNEL_LIST(TD_KERNEL_MEMBER)
} td_kernel_set;
#undef TD_KERNEL_MEMBER

/* The table in use; never NULL once main() runs (dispatch.c fills it in a
 * constructor). */
extern const td_kernel_set *td_kernels;

#ifdef TD_ISA_NAME
/* Inside a per-path compilation: td_k_sum -> td_k_sum_avx2 etc. */
#define TD_ISA_CAT2(f, isa) f##_##isa
#define TD_ISA_CAT(f, isa) TD_ISA_CAT2(f, isa)
#define TD_ISA_FN(f) TD_ISA_CAT(f, TD_ISA_NAME)
#define TD_KERNEL_DECL(f) extern __typeof__(f) TD_ISA_FN(f);
TD_KERNEL_LIST(TD_KERNEL_DECL)
#undef TD_KERNEL_DECL
extern const td_kernel_set TD_ISA_FN(td_kernel_set);
#endif

#endif
