/* The lowering's copies and the bias gradients (tensor/conv.h): im2col,
 * col2im and td_conv_relu_bias_grad, compiled once per instruction-set
 * path like the GEMM they feed (dispatch.h). Compiled once, with the
 * baseline's SSE2, col2im's adds of 128-image runs were half as fast:
 * bench_conv --lowering --chwn, all five layers of the convolutional VAE,
 * 7.4-8.7 ms against 3.7-4.0 ms with AVX2 (BENCHMARKS.md, tenth session).
 *
 * Every parallel loop gives each thread whole rows of its output, so no
 * two threads write the same element, and every sum runs in a fixed
 * order: the same bits for any thread count. */
#include "conv.h"

#include <string.h>

#include "dispatch.h"
#include "parallel.h"

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- im2col and col2im over a chunk in CHWN --------------------------------
 * col [K, qc*mc]: row k = (c, i, j); column u*mc + m is output pixel q0 + u
 * of image m, which reads the image side at (y*sh - ph + i, x*sw - pw + j)
 * for the pixel's (y, x): one run of mc values, zero in the padding.
 *
 * im2col writes col in td_gemm's panels (gemm.h), the form td_gemm would
 * copy it into before multiplying (W col), and which it reads in place as
 * the A of the weight gradient's col G^T: that copy, from rows 14 KB
 * apart, cost ~8 % of the convolutional VAE's step (BENCHMARKS.md,
 * ninth session). Pixel by pixel, each tap's run of mc images is read
 * whole and cut where the panels are (a whole panel per piece when the
 * panel width divides mc); the lanes past the last column are zero. */

/* n values from src (NULL: zeros) into dst: whole panels as fixed-size
 * copies the compiler inlines (a call per 64 bytes would cost more than
 * the copy) */
static inline void copy_piece(td_real *dst, const td_real *src, int64_t n) {
    if (!src)
        memset(dst, 0, sizeof(td_real) * (size_t)n);
    else if (n == 8)
        memcpy(dst, src, sizeof(td_real) * 8);
    else if (n == 16)
        memcpy(dst, src, sizeof(td_real) * 16);
    else if (n == 32)
        memcpy(dst, src, sizeof(td_real) * 32);
    else
        memcpy(dst, src, sizeof(td_real) * (size_t)n);
}

void TD_ISA_FN(td_conv_im2col)(const td_conv_geom *g, const td_real *it, int64_t mc, int64_t q0,
                               int64_t qc, td_real *col) {
    const int64_t K = td_conv_taps(g), P = qc * mc,
                  w = TD_ISA_FN(td_gemm_panel_width)();    /* this path's */
    const int lw = __builtin_ctzll((unsigned long long)w); /* w is a power of two */
    TD_ASSERT(w == (int64_t)1 << lw, "td_conv_im2col: panels of %lld columns", (long long)w);
    const int whole = mc % w == 0; /* every piece a whole panel */
    /* two threads may share a panel, never an element */
    PAR_FOR_IF(K * P > TD_PARALLEL_MIN, u, qc, {
        const int64_t y = (q0 + u) / g->ow, x = (q0 + u) % g->ow;
        int64_t c = 0, i = 0, jj = 0; /* tap (c, i, jj) of row k */
        for (int64_t k = 0; k < K; k++) {
            const int64_t iy = y * g->sh - g->ph + i, ix = x * g->sw - g->pw + jj;
            const td_real *src = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w
                                     ? it + ((c * g->h + iy) * g->w + ix) * mc
                                     : NULL;
            if (whole) { /* the pixel's mc / w panels, each one piece */
                td_real *dst = col + ((u * mc >> lw) * K + k) * w;
                for (int64_t m = 0; m < mc; m += w, dst += K * w)
                    copy_piece(dst, src ? src + m : NULL, w);
            } else {
                for (int64_t m = 0, j = u * mc; m < mc;) { /* column j = u*mc + m */
                    const int64_t lane = j & (w - 1), len = min64(w - lane, mc - m);
                    copy_piece(col + (((j >> lw) * K + k) << lw) + lane, src ? src + m : NULL, len);
                    j += len, m += len;
                }
            }
            if (++jj == g->kw) {
                jj = 0;
                if (++i == g->kh) i = 0, c++;
            }
        }
    });
    const int64_t used = P & (w - 1); /* lanes of the last panel */
    if (used)
        for (int64_t k = 0; k < K; k++)
            memset(col + (((P >> lw) * K + k) << lw) + used, 0,
                   sizeof(td_real) * (size_t)(w - used));
}

/* The adjoint: it += every run of col, back where im2col read it, input
 * row by input row. A row (w*mc values, 14 KB for 28 pixels of 128
 * images) takes all of the block's taps that land in it, tap after tap,
 * while it sits in L1; each value gets its terms in tap order (c, i, j),
 * so the bits are those of a scatter over the whole plane ("zero it, then
 * += every run", which went over the plane once per tap from L2 and
 * needed a zeroing or bias pass first; test_conv compares the two).
 *
 * A block is whole output rows (td_conv_pixel_chunk), so an input row
 * gets all of the block's taps at once. With assign, a row that no
 * earlier block reads starts from bias[c] (0 when bias is NULL); the
 * others, and every row without assign, add to what is there; the first
 * block also sets the rows that no output pixel reads. With relu, a row
 * goes through the ReLU in the block of its last reader, while in L1. A
 * thread takes a channel (and, with few channels, a quarter of the
 * images), so no two threads write the same value. */
static int64_t first_reader(const td_conv_geom *g, int64_t iy) { /* oh: none */
    const int64_t lo = iy + g->ph - g->kh + 1; /* the rows oy with oy*sh in [lo, iy + ph] */
    const int64_t oy = lo <= 0 ? 0 : ceil_div(lo, g->sh);
    return oy * g->sh <= iy + g->ph && oy < g->oh ? oy : g->oh;
}

/* The last output row that reads input row iy, if any reads it. */
static int64_t last_reader(const td_conv_geom *g, int64_t iy) {
    return min64((iy + g->ph) / g->sh, g->oh - 1);
}

/* Whether tap row i of output rows [r0, r1) reads input row iy. */
static int row_reads(const td_conv_geom *g, int64_t iy, int64_t i, int64_t r0, int64_t r1) {
    const int64_t sy = iy + g->ph - i;
    return sy >= 0 && sy % g->sh == 0 && sy / g->sh >= r0 && sy / g->sh < r1;
}

void TD_ISA_FN(td_conv_col2im)(const td_conv_geom *g, const td_real *col, int64_t mc, int64_t q0,
                               int64_t qc, int assign, const td_real *bias, int relu, td_real *it) {
    TD_ASSERT(q0 % g->ow == 0 && (qc % g->ow == 0 || q0 + qc == td_conv_pixels(g)),
              "td_conv_col2im: a block of %lld pixels from %lld is not whole rows of %lld",
              (long long)qc, (long long)q0, (long long)g->ow);
    TD_ASSERT(!relu || assign, "td_conv_col2im: a ReLU needs the image side assigned");
    const int64_t P = qc * mc, parts = g->c >= 8 || mc < 16 ? 1 : 4;
    const int64_t r0 = q0 / g->ow, r1 = (q0 + qc) / g->ow; /* the block's output rows */
    const int64_t y0 = max64(r0 * g->sh - g->ph, 0);
    const int64_t y1 = min64((r1 - 1) * g->sh - g->ph + g->kh, g->h); /* rows it reaches */
    PAR_FOR_IF(td_conv_taps(g) * P > TD_PARALLEL_MIN, r, g->c * parts, {
        const int64_t c = r / parts, m0 = mc * (r % parts) / parts,
                      m1 = mc * (r % parts + 1) / parts;
        const td_real b = bias ? bias[c] : 0, unread = relu ? td_conv_relu(b) : b;
        td_real *plane = it + c * g->h * g->w * mc;
        for (int64_t iy = 0; assign && q0 == 0 && iy < g->h; iy++)
            if (first_reader(g, iy) == g->oh)
                for (int64_t x = 0; x < g->w * mc; x += mc)
                    for (int64_t m = m0; m < m1; m++) plane[iy * g->w * mc + x + m] = unread;
        for (int64_t iy = y0; iy < y1; iy++) {
            int64_t reads = 0; /* taps of the block that read row iy */
            for (int64_t i = 0; i < g->kh; i++) reads += row_reads(g, iy, i, r0, r1);
            if (!reads) continue;
            td_real *row = plane + iy * g->w * mc; /* in L1 for all its taps */
            if (assign && first_reader(g, iy) >= r0)
                for (int64_t x = 0; x < g->w * mc; x += mc)
                    for (int64_t m = m0; m < m1; m++) row[x + m] = b;
            for (int64_t i = 0; i < g->kh; i++) {
                if (!row_reads(g, iy, i, r0, r1)) continue;
                const int64_t oy = (iy + g->ph - i) / g->sh;
                for (int64_t j = 0; j < g->kw; j++) {
                    /* the output pixels ox whose tap j lands in the row */
                    const int64_t last = g->w - 1 + g->pw - j;
                    if (last < 0) continue;
                    const int64_t ox0 = max64(ceil_div(g->pw - j, g->sw), 0);
                    const int64_t ox1 = min64(last / g->sw + 1, g->ow);
                    const td_real *src =
                        col + ((c * g->kh + i) * g->kw + j) * P + (oy - r0) * g->ow * mc;
                    for (int64_t ox = ox0; ox < ox1; ox++) {
                        td_real *restrict d = row + (ox * g->sw - g->pw + j) * mc;
                        const td_real *restrict s = src + ox * mc;
                        for (int64_t m = m0; m < m1; m++) d[m] += s[m];
                    }
                }
            }
            if (relu && last_reader(g, iy) < r1) /* its last terms are in */
                for (int64_t x = 0; x < g->w * mc; x += mc)
                    for (int64_t m = m0; m < m1; m++) row[x + m] = td_conv_relu(row[x + m]);
        }
    });
}

/* Eight partial sums per plane, in double: vectorizable, and in a fixed
 * order whatever the thread count. With a ReLU the masked values are
 * stored and then summed a piece at a time, while in L1: one pass over
 * the tensor where the ReLU's own backward and the bias gradient took two
 * (and a tensor between them). The pieces are whole groups of eight, so
 * the sums are the same with and without the ReLU. */
#define SUM_PIECE 2048
static inline void sum_groups(const td_real *p, int64_t n, double acc[8]) { /* n % 8 == 0 */
    for (int64_t q = 0; q < n; q += 8)
        for (int u = 0; u < 8; u++) acc[u] += p[q + u];
}

void TD_ISA_FN(td_conv_relu_bias_grad)(int64_t n, int64_t ch, int64_t plane, const td_real *y,
                                       const td_real *x, td_real *dx, td_real *db) {
    PAR_FOR_IF(n * ch * plane > TD_PARALLEL_MIN, c, ch, {
        double acc[8] = {0};
        for (int64_t m = 0; m < n; m++) {
            const int64_t at = (m * ch + c) * plane, groups = plane - plane % 8;
            const td_real *p = x + at;
            if (y) { /* the masked piece, then its sums */
                for (int64_t q0 = 0; q0 < plane; q0 += SUM_PIECE) {
                    const int64_t q1 = min64(q0 + SUM_PIECE, plane);
                    const td_real *restrict py = y + at, *restrict px = p;
                    td_real *restrict pd = dx + at;
                    for (int64_t q = q0; q < q1; q++) { /* both read: a vector select */
                        const td_real v = px[q];
                        pd[q] = py[q] > 0 ? v : 0;
                    }
                    if (db) sum_groups(pd + q0, max64(min64(q1, groups) - q0, 0), acc);
                }
                p = dx + at;
            } else if (db) {
                sum_groups(p, groups, acc);
            }
            for (int64_t q = groups; db && q < plane; q++) acc[0] += p[q];
        }
        if (db)
            db[c] += (td_real)(((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                               ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    });
}
