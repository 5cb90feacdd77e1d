/* Convolution by im2col + td_gemm, pooling and upsampling (see conv.h).
 *
 * The lowering works in the batch-innermost layout [C, H, W, N] ("CHWN").
 * There an im2col row for tap (c, i, j) is, output pixel after output
 * pixel, one contiguous run of images (the same input pixel of each), and
 * col2im adds such runs back: plain copies and vector adds whatever the
 * stride. In NCHW they were pieces of image rows, 7-28 pixels long and
 * strided by 2, at ~1-2 ns per element where a copy costs a tenth of
 * that (BENCHMARKS.md, 2026-12-02 and 12-03). The GEMMs read and write
 * the column side in place: W col is its [o, oh*ow*N] directly.
 *
 * Ops on CHWN tensors (g->chwn) run on them as they are, the whole batch
 * at once. NCHW tensors are moved into CHWN a chunk of images at a time
 * (to_chwn) and the results back (from_chwn): two transposes per op,
 * which cost about what the cheaper copies save, so a model that wants
 * speed keeps its convolutions in CHWN (models/convvae.c).
 *
 * Compiled once: the GEMM, the transposes (td_k_transpose), im2col,
 * col2im and the bias gradients it calls dispatch to the instruction-set
 * path (the last three are tensor/conv_lower.c). Every parallel loop
 * gives each thread whole rows or blocks of its output, so no two threads
 * write the same element, and the chunks (of images, then of output
 * pixels) depend only on the geometry: the same bits for any thread
 * count. */
#include "conv.h"

#include <string.h>

#include "gemm.h"
#include "parallel.h"

/* Elements of one image chunk's image and column sides in CHWN (1M: 4 MB
 * in float; 24 images of the VAE's largest layer, 64 of its 7 x 7 ones),
 * and of one im2col block (pixels x images of the chunk, times the taps),
 * which keeps the GEMM's N in the thousands. */
#define CHUNK_BUDGET ((int64_t)1 << 20)
#define COL_BUDGET ((int64_t)1 << 20)

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
/* the image side's and the column side's values per image */
static inline int64_t img_size(const td_conv_geom *g) { return g->c * g->h * g->w; }
static inline int64_t col_size(const td_conv_geom *g) { return g->o * td_conv_pixels(g); }

/* Images per chunk: as many as fit CHUNK_BUDGET, in equal chunks, a
 * multiple of 8 where that still fits (whole vectors in every run). */
int64_t td_conv_chunk(const td_conv_geom *g) {
    const int64_t n = max64(g->n, 1), per = img_size(g) + col_size(g);
    if (g->chwn) return n; /* the tensors are the CHWN buffers */
    int64_t most = per > 0 ? CHUNK_BUDGET / per : n;
    if (most >= 8) most -= most % 8;
    most = min64(max64(most, 1), n);
    const int64_t even = ceil_div(n, ceil_div(n, most)), even8 = ceil_div(even, 8) * 8;
    return even8 <= most ? even8 : even;
}

/* Output pixels per im2col block: whole output rows (col2im needs them),
 * as many as fit COL_BUDGET (at least one row), in equal blocks. */
int64_t td_conv_pixel_chunk(const td_conv_geom *g) {
    const int64_t oh = max64(g->oh, 1), ow = max64(g->ow, 1);
    const int64_t most = max64(COL_BUDGET / max64(td_conv_taps(g) * td_conv_chunk(g) * ow, 1), 1);
    return (most >= oh ? oh : ceil_div(oh, ceil_div(oh, most))) * ow;
}

/* Where a call's buffers go in its scratch: the chunk's image side (it),
 * its column side (ct), one more of either (spare: the input gradient's
 * image side, or the transpose's second column side), the im2col block,
 * and the K x o sum of a transposed weight gradient (t). */
typedef struct lowering {
    int64_t mc, qc; /* images per chunk, pixels per block */
    td_real *it, *ct, *spare, *col, *t;
} lowering;

/* The buffers' sizes in order, in elements; the sum is the scratch size. */
static void lowering_sizes(const td_conv_geom *g, int64_t mc, int64_t qc, int64_t size[5]) {
    const int64_t staged = g->chwn ? 0 : mc; /* CHWN tensors need no copies */
    size[0] = staged * img_size(g);
    size[1] = staged * col_size(g);
    size[2] = staged * max64(img_size(g), col_size(g));
    const int64_t w = td_gemm_panel_width(); /* im2col's panels, whole */
    size[3] = td_conv_taps(g) * ceil_div(qc * mc, w) * w;
    size[4] = td_conv_taps(g) * g->o;
}

static lowering lowering_of(const td_conv_geom *g, td_real *scratch) {
    lowering L = {.mc = td_conv_chunk(g), .qc = td_conv_pixel_chunk(g)};
    int64_t size[5];
    lowering_sizes(g, L.mc, L.qc, size);
    L.it = scratch;
    L.ct = L.it + size[0];
    L.spare = L.ct + size[1];
    L.col = L.spare + size[2];
    L.t = L.col + size[3];
    return L;
}

int64_t td_conv_scratch_size(const td_conv_geom *g) {
    int64_t size[5], sum = 0;
    lowering_sizes(g, td_conv_chunk(g), td_conv_pixel_chunk(g), size);
    for (int b = 0; b < 5; b++) sum += size[b];
    return sum;
}

int64_t td_conv_keep_size(const td_conv_geom *g) { return g->chwn ? 0 : g->n * img_size(g); }

/* ---- layout ----------------------------------------------------------------
 * dst [F, mc] = src [mc, F] (mc images of F values each), and back, = or
 * += and + bias[f / plane] (a bias per channel; NULL: none). */
static void to_chwn(const td_real *src, int64_t mc, int64_t F, td_real *dst) {
    td_k_transpose(src, mc, F, NULL, 1, 0, dst);
}

static void from_chwn(const td_real *src, int64_t mc, int64_t F, int64_t plane, const td_real *bias,
                      int assign, td_real *dst) {
    td_k_transpose(src, F, mc, bias, plane, !assign, dst);
}

/* A chunk's side in CHWN, per images of it: the tensor itself when the
 * op's tensors are CHWN (one chunk: the batch), else its images m0.. moved
 * into buf. */
static const td_real *chwn_in(const td_conv_geom *g, const td_real *x, int64_t m0, int64_t cn,
                              int64_t per, td_real *buf) {
    if (g->chwn) return x;
    to_chwn(x + m0 * per, cn, per, buf);
    return buf;
}

/* x [ch, plane] = (assign) or += bias[c] per channel: a CHWN tensor's
 * bias, written before the sums that go on top of it where the output is
 * assigned (one pass that writes, not one that reads and writes after). */
static void bias_chwn(td_real *x, int64_t ch, int64_t plane, const td_real *bias, int assign) {
    PAR_FOR_IF(ch * plane > TD_PARALLEL_MIN, c, ch, {
        td_real *p = x + c * plane;
        if (assign)
            for (int64_t i = 0; i < plane; i++) p[i] = bias[c];
        else
            for (int64_t i = 0; i < plane; i++) p[i] += bias[c];
    });
}

/* rows of n values at stride ld through a ReLU, in place: a fused
 * activation, applied where its values were just written (the block a
 * GEMM left in L2) rather than in a pass of its own over the tensor */
static void relu_rows(td_real *x, int64_t rows, int64_t n, int64_t ld) {
    PAR_FOR_IF(rows * n > TD_PARALLEL_MIN, r, rows, {
        td_real *p = x + r * ld;
        for (int64_t i = 0; i < n; i++) p[i] = td_conv_relu(p[i]);
    });
}

/* ---- im2col, col2im and the bias gradients: tensor/conv_lower.c ---------- */

/* ---- the weight gradient ---------------------------------------------------
 * One block's dW += G col^T (o x K, summed over the block's P columns),
 * with G its column side [o, P] at row stride ldg, runs as col G^T =
 * dW^T: col is read in place, in its panels, and td_gemm packs G^T, o
 * values per column of the block where G col^T would pack col^T, K of
 * them (K / o = 4.5 times more for the Keras VAE's 64 -> 32 layer, and
 * for one image channel, K = 9, a single panel of mostly padding). The
 * K x o sum over the blocks goes into t and is added to dW, transposed,
 * once at the end (dw_finish). The sum over the batch runs block by block
 * in order, whatever the thread count. */
void td_conv_dw_gemm(const td_conv_geom *g, const td_real *G, int64_t ldg, const td_real *col,
                     int64_t P, int first, td_real *t) {
    td_gemm(TD_GEMM_PANELS, 1, td_conv_taps(g), g->o, P, 1, col, td_conv_taps(g), G, ldg,
            first ? 0 : 1, t, g->o);
}

static void dw_finish(const td_conv_geom *g, const td_real *t, td_real *dw) {
    const int64_t K = td_conv_taps(g);
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t k = 0; k < K; k++) dw[o * K + k] += t[k * g->o + o];
}

/* ---- the three products, chunk by chunk -------------------------------------
 * In every function: images m0.. (cn of them) per chunk, pixels q0.. (qn)
 * per im2col block; P = qn * cn columns; a column side in CHWN is the
 * GEMM's [o, op*cn] matrix, and block q0's columns start at q0 * cn. */
#define FOR_CHUNKS(g, L, body)                                                        \
    for (int64_t m0 = 0; m0 < (g)->n; m0 += (L).mc) {                                 \
        const int64_t cn = min64((L).mc, (g)->n - m0), ldc_ = td_conv_pixels(g) * cn; \
        (void)ldc_;                                                                   \
        body                                                                          \
    }
#define FOR_BLOCKS(g, L, body)                                                 \
    for (int64_t q0 = 0; q0 < td_conv_pixels(g); q0 += (L).qc) {               \
        const int64_t qn = min64((L).qc, td_conv_pixels(g) - q0), P = qn * cn; \
        body                                                                   \
    }

/* In each function below, a result in CHWN goes straight into the output
 * tensor when that is CHWN (g->chwn), else into scratch and then to NCHW. */
void td_conv_forward(const td_conv_geom *g, const td_real *img, const td_real *w,
                     const td_real *bias, int relu, td_real *cols, td_real *scratch,
                     td_real *keep) {
    const lowering L = lowering_of(g, scratch);
    const int64_t K = td_conv_taps(g);
    FOR_CHUNKS(g, L, {
        /* kept as the backward reads it */
        td_real *buf = keep ? keep + m0 * img_size(g) : L.it;
        const td_real *it = chwn_in(g, img, m0, cn, img_size(g), buf);
        td_real *ct = g->chwn ? cols : L.ct;
        const int on_bias = g->chwn && bias; /* the GEMM adds onto it */
        if (on_bias) bias_chwn(cols, g->o, ldc_, bias, 1);
        FOR_BLOCKS(g, L, {
            td_conv_im2col(g, it, cn, q0, qn, L.col);
            td_gemm(0, TD_GEMM_PANELS, g->o, P, K, 1, w, K, L.col, K, on_bias, ct + q0 * cn, ldc_);
            if (relu && g->chwn) relu_rows(ct + q0 * cn, g->o, P, ldc_); /* the block, in L2 */
        });
        if (!g->chwn) {
            td_real *dst = cols + m0 * col_size(g);
            from_chwn(ct, cn, col_size(g), td_conv_pixels(g), bias, 1, dst);
            if (relu) relu_rows(dst, cn, col_size(g), col_size(g));
        }
    });
}

/* conv2d's backward, and (with bias) conv_transpose2d's forward: dimg is
 * assigned or added to, plus a bias per image channel. kept: the
 * forward's image side in CHWN. */
static void conv2d_backward(const td_conv_geom *g, const td_real *img, const td_real *dcols,
                            const td_real *w, td_real *dimg, int assign, const td_real *bias,
                            int relu, td_real *dw, td_real *scratch, const td_real *kept) {
    TD_ASSERT(!relu || assign, "td_conv_backward_data: a ReLU needs the output assigned");
    const lowering L = lowering_of(g, scratch);
    const int64_t K = td_conv_taps(g);
    FOR_CHUNKS(g, L, {
        const td_real *ct = chwn_in(g, dcols, m0, cn, col_size(g), L.ct);
        const td_real *it = kept && !g->chwn ? kept + m0 * img_size(g)
                            : dw ? chwn_in(g, img, m0, cn, img_size(g), L.it) : NULL;
        /* col2im writes the result in CHWN: staged in scratch (assigned,
         * the bias added on the way to NCHW) or in place (with the bias
         * where it assigns) */
        td_real *dit = g->chwn ? dimg : L.spare;
        const int start = assign || !g->chwn;
        const td_real *start_bias = g->chwn && assign ? bias : NULL;
        FOR_BLOCKS(g, L, {
            if (dw) {
                td_conv_im2col(g, it, cn, q0, qn, L.col);
                td_conv_dw_gemm(g, ct + q0 * cn, ldc_, L.col, P, m0 == 0 && q0 == 0, L.t);
            }
            if (dimg) {
                td_gemm(1, 0, K, P, g->o, 1, w, K, ct + q0 * cn, ldc_, 0, L.col, P); /* W^T G */
                td_conv_col2im(g, L.col, cn, q0, qn, start, start_bias, relu && g->chwn, dit);
            }
        });
        if (dimg && !g->chwn) {
            td_real *dst = dimg + m0 * img_size(g);
            from_chwn(dit, cn, img_size(g), g->h * g->w, bias, assign, dst);
            if (relu) relu_rows(dst, cn, img_size(g), img_size(g));
        } else if (dimg && bias && !assign)
            bias_chwn(dimg, g->c, g->h * g->w * cn, bias, 0);
    });
    if (dw) dw_finish(g, L.t, dw);
}

void td_conv_backward_data(const td_conv_geom *g, const td_real *cols, const td_real *w,
                           const td_real *bias, int relu, int assign, td_real *img,
                           td_real *scratch) {
    conv2d_backward(g, NULL, cols, w, img, assign, bias, relu, NULL, scratch, NULL);
}

/* Per block the column side is read in place by both gradients. */
void td_conv2d_backward(const td_conv_geom *g, const td_real *img, const td_real *dcols,
                        const td_real *w, td_real *dimg, int assign, td_real *dw,
                        td_real *scratch, const td_real *kept) {
    conv2d_backward(g, img, dcols, w, dimg, assign, NULL, 0, dw, scratch, kept);
}

/* Per block the image side's gradient goes through im2col once for both. */
void td_conv_transpose2d_backward(const td_conv_geom *g, const td_real *dimg, const td_real *cols,
                                  const td_real *w, td_real *dcols, int assign, td_real *dw,
                                  td_real *scratch) {
    const lowering L = lowering_of(g, scratch);
    const int64_t K = td_conv_taps(g);
    FOR_CHUNKS(g, L, {
        const td_real *it = chwn_in(g, dimg, m0, cn, img_size(g), L.it);
        const td_real *ct = dw ? chwn_in(g, cols, m0, cn, col_size(g), L.spare) : NULL;
        td_real *dct = g->chwn ? dcols : L.ct;
        const td_real beta = g->chwn && !assign ? 1 : 0;
        FOR_BLOCKS(g, L, {
            td_conv_im2col(g, it, cn, q0, qn, L.col);
            if (dcols) /* W col */
                td_gemm(0, TD_GEMM_PANELS, g->o, P, K, 1, w, K, L.col, K, beta, dct + q0 * cn, ldc_);
            if (dw) td_conv_dw_gemm(g, ct + q0 * cn, ldc_, L.col, P, m0 == 0 && q0 == 0, L.t);
        });
        if (dcols && !g->chwn)
            from_chwn(dct, cn, col_size(g), td_conv_pixels(g), NULL, assign,
                      dcols + m0 * col_size(g));
    });
    if (dw) dw_finish(g, L.t, dw);
}

void td_conv_bias_grad(int64_t n, int64_t ch, int64_t plane, const td_real *x, td_real *db) {
    td_conv_relu_bias_grad(n, ch, plane, NULL, x, NULL, db);
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
