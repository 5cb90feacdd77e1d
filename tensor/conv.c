/* Convolution by im2col + td_gemm, pooling and upsampling (see conv.h).
 *
 * Compiled once: the GEMM inside dispatches to the instruction-set path,
 * and the loops here are copies and strided adds over rows of 7-28 pixels,
 * too short for the wider paths to pay (SSE2, which every x86-64 has,
 * takes their stride-2 case: row_gather). Every parallel loop gives each
 * thread whole rows or planes of its output, so no two threads write the
 * same element and nothing depends on how the work was split. */
#include "conv.h"

#include <string.h>

#if defined(__SSE2__) && !defined(TD_DOUBLE)
#include <emmintrin.h>
#define ROW_SSE2 1
#else
#define ROW_SSE2 0
#endif

#include "gemm.h"
#include "parallel.h"

/* Elements of scratch per chunk: 1M (4 MB in float) holds, e.g., 73 images
 * of the VAE's second conv (288 x 49 im2col rows plus 64 x 49 outputs) and
 * keeps the GEMM's N in the thousands. */
#define SCRATCH_BUDGET ((int64_t)1 << 20)

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t ckk(const td_conv_geom *g) { return g->c * g->kh * g->kw; }
static inline int64_t opix(const td_conv_geom *g) { return g->oh * g->ow; }

int64_t td_conv_chunk(const td_conv_geom *g) {
    const int64_t per = (ckk(g) + g->o) * opix(g);
    int64_t chunk = per > 0 ? SCRATCH_BUDGET / per : g->n;
    return chunk < 1 ? 1 : min64(chunk, g->n > 0 ? g->n : 1);
}

/* col and G per chunk, and the o x K weight gradient's transposed sum (dw_gemm) */
int64_t td_conv_scratch_size(const td_conv_geom *g) {
    return td_conv_chunk(g) * (ckk(g) + g->o) * opix(g) + ckk(g) * g->o;
}

/* The weight gradient of one chunk, dW += G col^T (o x K, summed over the
 * chunk's P columns). td_gemm copies its B operand into panels; for
 * G col^T that is col^T, all K x P of it, transposed, each value then used
 * by only o rows (32 or 64). When K > o, col G^T = dW^T packs G^T instead:
 * K/o times fewer values (4.5x for the Keras VAE's 64 -> 32 layer), each
 * used by K rows. Its K x o sum over the chunks goes into t and is added to
 * dW, transposed, once at the end (dw_finish). Either way the sum over the
 * batch runs chunk by chunk in order, whatever the thread count. */
static int dw_transposed(const td_conv_geom *g) { return ckk(g) > g->o; }

void td_conv_dw_gemm(const td_conv_geom *g, const td_real *G, const td_real *col, int64_t P,
                     int first, td_real *dw, td_real *t) {
    const int64_t K = ckk(g);
    if (dw_transposed(g))
        td_gemm(0, 1, K, g->o, P, 1, col, P, G, P, first ? 0 : 1, t, g->o);
    else
        td_gemm(0, 1, g->o, K, P, 1, G, P, col, P, 1, dw, K);
}

static void dw_finish(const td_conv_geom *g, const td_real *t, td_real *dw) {
    if (!dw_transposed(g)) return;
    const int64_t K = ckk(g);
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t k = 0; k < K; k++) dw[o * K + k] += t[k * g->o + o];
}

/* Output positions [lo, hi) whose input position q*s - p + k lies in
 * [0, len): the unpadded stretch of an im2col row. */
static void valid_range(int64_t out, int64_t s, int64_t p, int64_t k, int64_t len, int64_t *lo,
                        int64_t *hi) {
    const int64_t a = p - k, b = len + p - k; /* need q*s >= a and q*s < b */
    int64_t l = a <= 0 ? 0 : (a + s - 1) / s, h = b <= 0 ? 0 : (b + s - 1) / s;
    h = min64(h, out);
    *lo = min64(l, h);
    *hi = h;
}

/* One image row's part of an im2col row and back: dst[x] = src[x*s] and
 * dst[x*s] += src[x] for x < n. The rows are short (7, 14, 28 pixels), so
 * these are written out rather than left to the compiler, which turned
 * the s = 1 copy into a call to memmove and left s = 2 scalar (about
 * three cycles per element of im2col). With SSE2 (every x86-64; float only),
 * s = 2 takes four pixels at a time: the even lanes of two loads, and
 * the adds interleaved with -0.0, which leaves the odd pixels exactly as
 * they were (x + -0.0 == x for every x, -0.0 included). A vector step
 * reads or writes up to src or dst[x*2 + 7], so it runs only while that
 * is within the row (x + 5 <= n); the rest is scalar. The adds are the
 * scalar loop's, in its order, so the result is the same bits. */
static inline void row_gather(td_real *restrict dst, const td_real *restrict src, int64_t n,
                              int64_t s) {
    int64_t x = 0;
    if (s == 1) {
#if ROW_SSE2
        for (; x + 4 <= n; x += 4) _mm_storeu_ps(dst + x, _mm_loadu_ps(src + x));
#endif
        for (; x < n; x++) dst[x] = src[x];
        return;
    }
#if ROW_SSE2
    if (s == 2)
        for (; x + 5 <= n; x += 4) {
            const __m128 a = _mm_loadu_ps(src + 2 * x), b = _mm_loadu_ps(src + 2 * x + 4);
            _mm_storeu_ps(dst + x, _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
        }
#endif
    for (; x < n; x++) dst[x] = src[x * s];
}

static inline void row_scatter_add(td_real *restrict dst, const td_real *restrict src, int64_t n,
                                   int64_t s) {
    int64_t x = 0;
#if ROW_SSE2
    if (s == 2) {
        const __m128 nz = _mm_set1_ps(-0.0f);
        for (; x + 5 <= n; x += 4) {
            const __m128 v = _mm_loadu_ps(src + x);
            _mm_storeu_ps(dst + 2 * x, _mm_add_ps(_mm_loadu_ps(dst + 2 * x), _mm_unpacklo_ps(v, nz)));
            _mm_storeu_ps(dst + 2 * x + 4,
                          _mm_add_ps(_mm_loadu_ps(dst + 2 * x + 4), _mm_unpackhi_ps(v, nz)));
        }
    }
#endif
    for (; x < n; x++) dst[x * s] += src[x];
}

/* Row (i, j) of one image plane's im2col: dst[y*ow + x] is the plane at
 * (y*sh - ph + i, x*sw - pw + j), zero in the padding. */
static void im2col_row(const td_conv_geom *g, const td_real *plane, int64_t i, int64_t j,
                       td_real *restrict dst) {
    int64_t x0, x1;
    valid_range(g->ow, g->sw, g->pw, j, g->w, &x0, &x1);
    for (int64_t y = 0; y < g->oh; y++, dst += g->ow) {
        const int64_t iy = y * g->sh - g->ph + i;
        if (iy < 0 || iy >= g->h) {
            memset(dst, 0, sizeof(td_real) * (size_t)g->ow);
            continue;
        }
        const td_real *src = plane + iy * g->w + j - g->pw;
        for (int64_t x = 0; x < x0; x++) dst[x] = 0;
        row_gather(dst + x0, src + x0 * g->sw, x1 - x0, g->sw);
        for (int64_t x = x1; x < g->ow; x++) dst[x] = 0;
    }
}

/* col [c*kh*kw, cn*oh*ow] for the cn images starting at img: row k = (c, i, j),
 * image m's pixels in columns m*oh*ow .. (m+1)*oh*ow. */
void td_conv_im2col(const td_conv_geom *g, const td_real *img, int64_t cn, td_real *col) {
    const int64_t K = ckk(g), khw = g->kh * g->kw, P = cn * opix(g);
    PAR_FOR_IF(K * P > TD_PARALLEL_MIN, r, K * cn, {
        const int64_t k = r / cn, m = r % cn, c = k / khw, ij = k % khw;
        im2col_row(g, img + (m * g->c + c) * g->h * g->w, ij / g->kw, ij % g->kw,
                   col + k * P + m * opix(g));
    });
}

/* The adjoint of im2col for one plane (image m, channel c): every row
 * (c, i, j) adds back to where it was read from, rows and pixels in order.
 * assign: the plane starts from zero rather than from what it holds; bias:
 * then added to every pixel. Both happen here, while the plane (at most a
 * few KB) is in L1, rather than as passes of their own over the whole
 * output, in the same order as those passes: the same bits. */
static void col2im_plane(const td_conv_geom *g, const td_real *col, int64_t P, int64_t m,
                         int64_t c, int assign, const td_real *bias, td_real *plane) {
    const int64_t hw = g->h * g->w;
    if (assign) memset(plane, 0, sizeof(td_real) * (size_t)hw);
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            const td_real *src = col + ((c * g->kh + i) * g->kw + j) * P + m * opix(g);
            int64_t x0, x1;
            valid_range(g->ow, g->sw, g->pw, j, g->w, &x0, &x1);
            for (int64_t y = 0; y < g->oh; y++, src += g->ow) {
                const int64_t iy = y * g->sh - g->ph + i;
                if (iy < 0 || iy >= g->h) continue;
                td_real *dst = plane + iy * g->w + j - g->pw;
                row_scatter_add(dst + x0 * g->sw, src + x0, x1 - x0, g->sw);
            }
        }
    if (bias)
        for (int64_t q = 0; q < hw; q++) plane[q] += bias[c];
}

void td_conv_col2im(const td_conv_geom *g, const td_real *col, int64_t cn, int assign,
                    const td_real *bias, td_real *img) {
    const int64_t P = cn * opix(g);
    PAR_FOR_IF(ckk(g) * P > TD_PARALLEL_MIN, r, cn * g->c, {
        col2im_plane(g, col, P, r / g->c, r % g->c, assign, bias, img + r * g->h * g->w);
    });
}

/* The column side of cn images, [cn, o, oh*ow], as G [o, cn*oh*ow] (the
 * GEMM's layout), and back (= or +=, plus a bias per channel). */
static void gather(const td_conv_geom *g, const td_real *cols, int64_t cn, td_real *G) {
    const int64_t op = opix(g), P = cn * op;
    PAR_FOR_IF(g->o * P > TD_PARALLEL_MIN, r, cn * g->o, {
        memcpy(G + (r % g->o) * P + (r / g->o) * op, cols + r * op, sizeof(td_real) * (size_t)op);
    });
}

static void scatter(const td_conv_geom *g, const td_real *G, int64_t cn, const td_real *bias,
                    int accumulate, td_real *cols) {
    const int64_t op = opix(g), P = cn * op;
    PAR_FOR_IF(g->o * P > TD_PARALLEL_MIN, r, cn * g->o, {
        const td_real *src = G + (r % g->o) * P + (r / g->o) * op;
        td_real *dst = cols + r * op;
        const td_real b = bias ? bias[r % g->o] : 0;
        if (accumulate)
            for (int64_t p = 0; p < op; p++) dst[p] += src[p] + b;
        else
            for (int64_t p = 0; p < op; p++) dst[p] = src[p] + b;
    });
}

int64_t td_conv_keep_size(const td_conv_geom *g) { return ckk(g) * g->n * opix(g); }

void td_conv_forward(const td_conv_geom *g, const td_real *img, const td_real *w,
                     const td_real *bias, td_real *cols, td_real *scratch, td_real *keep) {
    const int64_t K = ckk(g), chunk = td_conv_chunk(g), op = opix(g);
    td_real *G = scratch + chunk * K * op;
    for (int64_t n0 = 0; n0 < g->n; n0 += chunk) {
        const int64_t cn = min64(chunk, g->n - n0), P = cn * op;
        td_real *col = keep ? keep + n0 * K * op : scratch; /* chunk by chunk, as the backward reads it */
        td_conv_im2col(g, img + n0 * g->c * g->h * g->w, cn, col);
        td_gemm(0, 0, g->o, P, K, 1, w, K, col, P, 0, G, P);
        scatter(g, G, cn, bias, 0, cols + n0 * g->o * op);
    }
}

/* conv2d's backward, and (with bias) conv_transpose2d's forward: dimg is
 * assigned or added to, plus a bias per image channel. */
static void conv2d_backward(const td_conv_geom *g, const td_real *img, const td_real *dcols,
                            const td_real *w, td_real *dimg, int assign, const td_real *bias,
                            td_real *dw, td_real *scratch, const td_real *kept) {
    const int64_t K = ckk(g), chunk = td_conv_chunk(g), op = opix(g);
    td_real *col = scratch, *G = scratch + chunk * K * op, *t = G + chunk * g->o * op;
    for (int64_t n0 = 0; n0 < g->n; n0 += chunk) {
        const int64_t cn = min64(chunk, g->n - n0), P = cn * op;
        gather(g, dcols + n0 * g->o * op, cn, G);
        if (dw) {
            const td_real *c = kept ? kept + n0 * K * op : col;
            if (!kept) td_conv_im2col(g, img + n0 * g->c * g->h * g->w, cn, col);
            td_conv_dw_gemm(g, G, c, P, n0 == 0, dw, t);
        }
        if (dimg) {
            td_gemm(1, 0, K, P, g->o, 1, w, K, G, P, 0, col, P); /* W^T G */
            td_conv_col2im(g, col, cn, assign, bias, dimg + n0 * g->c * g->h * g->w);
        }
    }
    if (dw) dw_finish(g, t, dw);
}

void td_conv_backward_data(const td_conv_geom *g, const td_real *cols, const td_real *w,
                           const td_real *bias, int assign, td_real *img, td_real *scratch) {
    conv2d_backward(g, NULL, cols, w, img, assign, bias, NULL, scratch, NULL);
}

/* Chunk after chunk in order, so the weight gradient's sum over the batch
 * has a fixed order. Per chunk the column side is gathered once for both
 * gradients. */
void td_conv2d_backward(const td_conv_geom *g, const td_real *img, const td_real *dcols,
                        const td_real *w, td_real *dimg, int assign, td_real *dw,
                        td_real *scratch, const td_real *kept) {
    conv2d_backward(g, img, dcols, w, dimg, assign, NULL, dw, scratch, kept);
}

/* Per chunk the image side's gradient goes through im2col once for both. */
void td_conv_transpose2d_backward(const td_conv_geom *g, const td_real *dimg, const td_real *cols,
                                  const td_real *w, td_real *dcols, int assign, td_real *dw,
                                  td_real *scratch) {
    const int64_t K = ckk(g), chunk = td_conv_chunk(g), op = opix(g);
    td_real *col = scratch, *G = scratch + chunk * K * op, *t = G + chunk * g->o * op;
    for (int64_t n0 = 0; n0 < g->n; n0 += chunk) {
        const int64_t cn = min64(chunk, g->n - n0), P = cn * op;
        td_conv_im2col(g, dimg + n0 * g->c * g->h * g->w, cn, col);
        if (dcols) {
            td_gemm(0, 0, g->o, P, K, 1, w, K, col, P, 0, G, P); /* W col */
            scatter(g, G, cn, NULL, !assign, dcols + n0 * g->o * op);
        }
        if (dw) {
            gather(g, cols + n0 * g->o * op, cn, G);
            td_conv_dw_gemm(g, G, col, P, n0 == 0, dw, t);
        }
    }
    if (dw) dw_finish(g, t, dw);
}

/* Eight partial sums per plane, in double: vectorizable, and in a fixed
 * order whatever the thread count. */
void td_conv_bias_grad(int64_t n, int64_t ch, int64_t plane, const td_real *x, td_real *db) {
    PAR_FOR_IF(n * ch * plane > TD_PARALLEL_MIN, c, ch, {
        double acc[8] = {0};
        for (int64_t m = 0; m < n; m++) {
            const td_real *p = x + (m * ch + c) * plane;
            int64_t q = 0;
            for (; q + 8 <= plane; q += 8)
                for (int u = 0; u < 8; u++) acc[u] += p[q + u];
            for (; q < plane; q++) acc[0] += p[q];
        }
        db[c] += (td_real)(((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                           ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    });
}

/* ---- pooling and upsampling ---------------------------------------------------- */

void td_max_pool2d_forward(int64_t planes, int64_t h, int64_t w, int64_t k, int64_t s,
                           const td_real *x, td_real *y, td_real *arg) {
    const int64_t oh = (h - k) / s + 1, ow = (w - k) / s + 1;
    PAR_FOR_IF(planes * h * w > TD_PARALLEL_MIN, pl, planes, {
        const td_real *xp = x + pl * h * w;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t best = oy * s * w + ox * s;
                for (int64_t i = 0; i < k; i++)
                    for (int64_t j = 0; j < k; j++) {
                        const int64_t q = (oy * s + i) * w + ox * s + j;
                        /* a NaN wins and stays (as in PyTorch) */
                        if (xp[q] > xp[best] || (xp[q] != xp[q] && xp[best] == xp[best])) best = q;
                    }
                y[(pl * oh + oy) * ow + ox] = xp[best];
                arg[(pl * oh + oy) * ow + ox] = (td_real)best;
            }
    });
}

void td_max_pool2d_backward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                            const td_real *dy, const td_real *arg, td_real *dx) {
    PAR_FOR_IF(planes * h * w > TD_PARALLEL_MIN, pl, planes, {
        td_real *dp = dx + pl * h * w;
        for (int64_t q = pl * oh * ow; q < (pl + 1) * oh * ow; q++) dp[(int64_t)arg[q]] += dy[q];
    });
}

void td_upsample2d_forward(int64_t planes, int64_t h, int64_t w, int64_t f, const td_real *x,
                           td_real *y) {
    const int64_t W = w * f;
    PAR_FOR_IF(planes * h * w * f * f > TD_PARALLEL_MIN, pl, planes, {
        for (int64_t Y = 0; Y < h * f; Y++) {
            const td_real *src = x + (pl * h + Y / f) * w;
            td_real *dst = y + (pl * h * f + Y) * W;
            for (int64_t X = 0; X < W; X++) dst[X] = src[X / f];
        }
    });
}

void td_upsample2d_backward(int64_t planes, int64_t h, int64_t w, int64_t f, const td_real *dy,
                            td_real *dx) {
    const int64_t W = w * f;
    PAR_FOR_IF(planes * h * w * f * f > TD_PARALLEL_MIN, pl, planes, {
        for (int64_t Y = 0; Y < h * f; Y++) {
            const td_real *src = dy + (pl * h * f + Y) * W;
            td_real *dst = dx + (pl * h + Y / f) * w;
            for (int64_t X = 0; X < W; X++) dst[X / f] += src[X];
        }
    });
}
