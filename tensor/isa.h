/* Which instruction-set path the kernels run.
 *
 * The library carries every hot kernel (GEMM, the elementwise, reduction,
 * cross-entropy and optimizer loops: everything in gemm.c and kernels.c)
 * compiled once per path, and picks one when the program starts:
 *
 *   sse2    the x86-64 baseline (every x86-64 CPU)
 *   avx2    AVX2 + FMA (Haswell, Zen and later)
 *   avx512  AVX-512 F/VL/BW/DQ (Skylake-X, Ice Lake, Zen 4 and later)
 *
 * The best path the CPU supports is the default. TINYAD_ISA=sse2|avx2|avx512
 * in the environment asks for a path; a path the CPU lacks, or a name that is
 * none of these, is refused with a message on stderr and the default is kept.
 * On other architectures there is one path, "generic".
 *
 * Within a path results do not depend on the thread count. Between paths
 * they may differ in the last bits, and only in two places: the matrix
 * multiply (its tiles differ in shape per path, a few narrow ones sum k in
 * two interleaved halves, and SSE2 has no fused multiply-add) and the
 * polynomials of exp, log1p, softplus, sigmoid and tanh (tensor/vmath.h),
 * which use fused multiply-adds on the avx2 and avx512 paths (one rounding)
 * and separate ones on sse2 (two). Everything else computes the same
 * operations in the same order on every path: the build never contracts
 * a*b+c on its own (with GCC; Clang contracts within an expression where
 * the target has FMA), and sums run over fixed lanes. A run is therefore
 * reproducible bit for bit on one path; on another it follows the same
 * course to float rounding.
 */
#ifndef TD_ISA_H
#define TD_ISA_H

typedef enum td_isa { TD_ISA_SSE2, TD_ISA_AVX2, TD_ISA_AVX512, TD_ISA_COUNT } td_isa;

/* The path in use, and the best one this CPU supports. */
td_isa td_isa_active(void);
td_isa td_isa_best(void);
/* "sse2", "avx2", "avx512" (or "generic" off x86-64); "?" for a bad value. */
const char *td_isa_name(td_isa isa);
/* The path named, or -1 when the name is none of them. */
int td_isa_parse(const char *name);
/* 1 if this build and CPU can run the path. */
int td_isa_supported(td_isa isa);
/* Switch paths (tests and benchmarks compare them): 0, or -1 with td_error()
 * saying why. Call it between kernels, never while one runs on another
 * thread. */
int td_isa_use(td_isa isa);
/* One line for a program's banner: "avx2 kernels (CPU best: avx512)". */
const char *td_isa_summary(void);

#endif
