/* Picking the instruction-set path (isa.h) and the public kernels, each a
 * call through the chosen table (dispatch.h). Compiled once, with the
 * baseline flags. */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#define HAVE_X86_PATHS 1
extern const td_kernel_set td_kernel_set_sse2, td_kernel_set_avx2, td_kernel_set_avx512;
static const td_kernel_set *const sets[TD_ISA_COUNT] = {
    [TD_ISA_SSE2] = &td_kernel_set_sse2,
    [TD_ISA_AVX2] = &td_kernel_set_avx2,
    [TD_ISA_AVX512] = &td_kernel_set_avx512,
};
static const char *const names[TD_ISA_COUNT] = {"sse2", "avx2", "avx512"};
#define BASELINE_SET (&td_kernel_set_sse2)
#else
#define HAVE_X86_PATHS 0
extern const td_kernel_set td_kernel_set_generic;
static const td_kernel_set *const sets[TD_ISA_COUNT] = {[TD_ISA_SSE2] = &td_kernel_set_generic};
static const char *const names[TD_ISA_COUNT] = {"generic", "avx2", "avx512"};
#define BASELINE_SET (&td_kernel_set_generic)
#endif

/* Valid before the constructor runs too (another constructor may call a
 * kernel): the baseline runs everywhere. (BASELINE_SET rather than
 * sets[TD_ISA_SSE2]: clang wants an address constant here.) */
const td_kernel_set *td_kernels = BASELINE_SET;
static td_isa active = TD_ISA_SSE2;

/* The CPU, and the operating system (which must save the wider registers
 * on a context switch: libgcc's cpu model checks XCR0 for that), support
 * every extension the path's objects were compiled with. */
int td_isa_supported(td_isa isa) {
    if (isa == TD_ISA_SSE2) return 1;
#if HAVE_X86_PATHS
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == TD_ISA_AVX2) return avx2;
    if (isa == TD_ISA_AVX512)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#endif
    return 0;
}

td_isa td_isa_best(void) {
    td_isa best = TD_ISA_SSE2;
    for (int i = 0; i < TD_ISA_COUNT; i++)
        if (td_isa_supported((td_isa)i)) best = (td_isa)i;
    return best;
}

td_isa td_isa_active(void) { return active; }

const char *td_isa_name(td_isa isa) {
    return (int)isa >= 0 && isa < TD_ISA_COUNT ? names[isa] : "?";
}

int td_isa_parse(const char *name) {
    for (int i = 0; i < TD_ISA_COUNT; i++)
        if (name && strcmp(name, names[i]) == 0) return i;
    return -1;
}

int td_isa_use(td_isa isa) {
    if (!td_isa_supported(isa)) {
        td_set_error("the %s kernels need a CPU with %s; this one runs at most %s",
                     td_isa_name(isa),
                     isa == TD_ISA_AVX512 ? "AVX-512 F/VL/BW/DQ" : "AVX2 and FMA",
                     td_isa_name(td_isa_best()));
        return -1;
    }
    active = isa;
    td_kernels = sets[isa];
    return 0;
}

const char *td_isa_summary(void) {
    static char line[64];
    snprintf(line, sizeof line, "%s kernels (CPU best: %s)", td_isa_name(active),
             td_isa_name(td_isa_best()));
    return line;
}

/* The best path, or the one TINYAD_ISA names when this CPU has it. */
__attribute__((constructor)) static void choose_path(void) {
    td_isa_use(td_isa_best());
    const char *want = getenv("TINYAD_ISA");
    if (!want || !*want) return;
    const int isa = td_isa_parse(want);
    if (isa < 0) {
        fprintf(stderr,
                "tinyad: TINYAD_ISA=%s is not a kernel path (%s, %s or %s); using %s\n", want,
                names[0], names[1], names[2], td_isa_name(active));
    } else if (td_isa_use((td_isa)isa) != 0) {
        fprintf(stderr, "tinyad: TINYAD_ISA=%s: %s; using %s\n", want, td_error(),
                td_isa_name(active));
        td_clear_error();
    }
}

/* ---- the public kernels (kernels.h, gemm.h) -------------------------------- */

void td_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, td_real alpha,
             const td_real *A, int64_t lda, const td_real *B, int64_t ldb, td_real beta,
             td_real *C, int64_t ldc) {
    td_kernels->td_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
int64_t td_gemm_panel_width(void) { return td_kernels->td_gemm_panel_width(); }
void td_k_binary(td_binop op, td_tensor *out, const td_tensor *a, const td_tensor *b) {
    td_kernels->td_k_binary(op, out, a, b);
}
void td_k_unary(td_unop op, td_tensor *out, const td_tensor *a) {
    td_kernels->td_k_unary(op, out, a);
}
void td_k_unary_backward(td_unop op, td_real *dx, const td_real *x, const td_real *y,
                         const td_real *g, int64_t n, int accumulate) {
    td_kernels->td_k_unary_backward(op, dx, x, y, g, n, accumulate);
}
void td_k_affine(td_tensor *out, const td_tensor *a, td_real mul, td_real add) {
    td_kernels->td_k_affine(out, a, mul, add);
}
void td_k_axpy(td_tensor *y, td_real alpha, const td_tensor *x) {
    td_kernels->td_k_axpy(y, alpha, x);
}
void td_k_bce_logits_rows(const td_real *x, const td_real *y, int64_t rows, int64_t cols,
                          td_real *loss, td_real *dlogits) {
    td_kernels->td_k_bce_logits_rows(x, y, rows, cols, loss, dlogits);
}
void td_k_bce_logits(const td_real *x, const td_real *y, int64_t n, td_real *loss,
                     td_real *dlogits) {
    td_kernels->td_k_bce_logits(x, y, n, loss, dlogits);
}
void td_k_add_scaled_rows(td_real *y, const td_real *scale, const td_real *x, int64_t rows,
                          int64_t cols, int accumulate) {
    td_kernels->td_k_add_scaled_rows(y, scale, x, rows, cols, accumulate);
}
double td_k_sum(const td_tensor *a) { return td_kernels->td_k_sum(a); }
double td_k_max(const td_tensor *a) { return td_kernels->td_k_max(a); }
void td_k_sum_axis(td_tensor *out, const td_tensor *a, int axis) {
    td_kernels->td_k_sum_axis(out, a, axis);
}
void td_k_max_axis(td_tensor *out, const td_tensor *a, int axis) {
    td_kernels->td_k_max_axis(out, a, axis);
}
void td_k_logsumexp_axis(td_tensor *out, const td_tensor *a, int axis) {
    td_kernels->td_k_logsumexp_axis(out, a, axis);
}
void td_k_reduce_add_to(td_tensor *out, const td_tensor *g) {
    td_kernels->td_k_reduce_add_to(out, g);
}
void td_k_copy_cols(td_tensor *dst, int64_t dst_col, const td_tensor *src, int64_t src_col,
                    int64_t ncols) {
    td_kernels->td_k_copy_cols(dst, dst_col, src, src_col, ncols);
}
int td_k_all_finite(const td_tensor *a) { return td_kernels->td_k_all_finite(a); }
void td_k_zero(td_real *x, int64_t n) { td_kernels->td_k_zero(x, n); }
void td_k_fill_rows(td_real *out, const td_real *row, int64_t rows, int64_t cols) {
    td_kernels->td_k_fill_rows(out, row, rows, cols);
}
void td_k_transpose(const td_real *src, int64_t rows, int64_t cols, const td_real *add,
                    int64_t group, int accumulate, td_real *dst) {
    td_kernels->td_k_transpose(src, rows, cols, add, group, accumulate, dst);
}
void td_k_sgd_update(td_real *p, const td_real *g, td_real *buf, int64_t n, td_sgd_coef c) {
    td_kernels->td_k_sgd_update(p, g, buf, n, c);
}
void td_k_adam_update(td_real *p, const td_real *g, td_real *m, td_real *v, int64_t n,
                      td_adam_coef c) {
    td_kernels->td_k_adam_update(p, g, m, v, n, c);
}

/* ---- the lowering's copies (conv.h) ----------------------------------------- */

void td_conv_im2col(const td_conv_geom *g, const td_real *it, int64_t mc, int64_t q0, int64_t qc,
                    td_real *col) {
    td_kernels->td_conv_im2col(g, it, mc, q0, qc, col);
}
void td_conv_col2im(const td_conv_geom *g, const td_real *col, int64_t mc, int64_t q0, int64_t qc,
                    int assign, const td_real *bias, int relu, td_real *it) {
    td_kernels->td_conv_col2im(g, col, mc, q0, qc, assign, bias, relu, it);
}
void td_conv_relu_bias_grad(int64_t n, int64_t ch, int64_t plane, const td_real *y,
                            const td_real *x, td_real *dx, td_real *db) {
    td_kernels->td_conv_relu_bias_grad(n, ch, plane, y, x, dx, db);
}
