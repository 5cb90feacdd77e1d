/* NCHW convolution and pooling kernels (private: not installed).
 *
 * A 2-D convolution is lowered onto td_gemm through im2col. Both sides of
 * a convolution are described by one geometry: the IMAGE side [n, c, h, w]
 * (conv2d's input, conv_transpose2d's output) and the COLUMN side
 * [n, o, oh, ow] (conv2d's output, conv_transpose2d's input), joined by a
 * kernel kh x kw, stride and zero padding. The weight is [o, c*kh*kw] in
 * both cases (conv2d's [O, C, KH, KW]; conv_transpose2d's [C_in, C_out, KH,
 * KW] with C_in on the column side). Then
 *
 *   td_conv_forward         cols  = W  @ im2col(img)       conv2d forward
 *   td_conv_backward_data   img  += col2im(W^T @ cols)     conv2d dx, convT forward
 *   dW                      dW   += cols @ im2col(img)^T   both ops' weight gradient
 *
 * and each op's backward (td_conv2d_backward, td_conv_transpose2d_backward)
 * computes both gradients block by block, sharing the im2col or the
 * column side the two need.
 *
 * The lowering works in [C, H, W, N] ("CHWN", the batch innermost), where
 * im2col and col2im move contiguous runs of images. Tensors are either
 * CHWN already (g->chwn: then they are used in place, the whole batch at
 * once) or NCHW, and then a chunk of images at a time (td_conv_chunk) is
 * transposed in and out. The im2col matrix is built for a block of output
 * pixels at a time (td_conv_pixel_chunk), so the scratch stays a few MB
 * whatever the batch.
 * Both chunks depend only on the geometry, never on the thread count, and
 * every element is summed in a fixed order, so results are bit-identical
 * for any number of threads. Nothing here allocates: the caller hands in
 * td_conv_scratch_size elements (the tape's arena). */
#ifndef TD_CONV_H
#define TD_CONV_H

#include "tensor.h"

typedef struct td_conv_geom {
    int64_t n, c, h, w;     /* image side: batch, channels, height, width */
    int64_t o, oh, ow;      /* column side: channels, height, width */
    int64_t kh, kw;         /* kernel */
    int64_t sh, sw, ph, pw; /* stride, zero padding */
    int chwn;               /* 1: both sides' tensors are [c, h, w, n] and [o, oh, ow, n] */
} td_conv_geom;

/* Rows of the column matrix (one per tap (c, i, j)) and output pixels
 * per image: the two sizes conv.c and conv_lower.c both work in. */
static inline int64_t td_conv_taps(const td_conv_geom *g) { return g->c * g->kh * g->kw; }
static inline int64_t td_conv_pixels(const td_conv_geom *g) { return g->oh * g->ow; }

/* td_relu's ReLU: NaN stays NaN. */
static inline td_real td_conv_relu(td_real v) { return v < 0 ? (td_real)0 : v; }

/* Images per chunk, output pixels per im2col block, and the scratch (in
 * td_real elements) a call needs. */
int64_t td_conv_chunk(const td_conv_geom *g);
int64_t td_conv_pixel_chunk(const td_conv_geom *g);
int64_t td_conv_scratch_size(const td_conv_geom *g);

/* cols [n, o, oh, ow] = W img (+ bias[o] when bias is not NULL), through
 * a ReLU (v < 0 ? 0 : v) when relu is 1. keep:
 * NULL, or room for td_conv_keep_size(g) elements, where the image side
 * of the whole batch is then left in CHWN, chunk by chunk, for
 * td_conv2d_backward (which otherwise transposes it again for the weight
 * gradient). */
void td_conv_forward(const td_conv_geom *g, const td_real *img, const td_real *w,
                     const td_real *bias, int relu, td_real *cols, td_real *scratch,
                     td_real *keep);
int64_t td_conv_keep_size(const td_conv_geom *g);
/* img [n, c, h, w] += the transpose of td_conv_forward applied to cols
 * (assign: img = it, img's old contents never read), + bias[c] when bias
 * is not NULL; relu (only with assign): img = ReLU of that. */
void td_conv_backward_data(const td_conv_geom *g, const td_real *cols, const td_real *w,
                           const td_real *bias, int relu, int assign, td_real *img,
                           td_real *scratch);
/* conv2d's gradients from dcols (the output's): dimg += W^T dcols (the
 * input's; assign: dimg = it) and dw [o, c*kh*kw] += dcols im2col(img)^T;
 * either may be NULL. kept: the forward's keep, or NULL to transpose img
 * again. */
void td_conv2d_backward(const td_conv_geom *g, const td_real *img, const td_real *dcols,
                        const td_real *w, td_real *dimg, int assign, td_real *dw,
                        td_real *scratch, const td_real *kept);
/* conv_transpose2d's gradients from dimg (the output's): dcols += W dimg
 * (the input's; assign: dcols = it) and dw += cols im2col(dimg)^T; either
 * may be NULL. */
void td_conv_transpose2d_backward(const td_conv_geom *g, const td_real *dimg, const td_real *cols,
                                  const td_real *w, td_real *dcols, int assign, td_real *dw,
                                  td_real *scratch);
/* One block's weight gradient, G col^T with G the block's column side
 * [o, P] at row stride ldg and col its im2col [c*kh*kw, P], summed
 * transposed into t [c*kh*kw, o] (scratch's last o*c*kh*kw elements; first:
 * the batch's first block, which sets t), which the two backward functions
 * above add to dw after the last block. Exposed for bench_conv. */
void td_conv_dw_gemm(const td_conv_geom *g, const td_real *G, int64_t ldg, const td_real *col,
                     int64_t P, int first, td_real *t);
/* The lowering's two copies for a chunk of mc images in CHWN (it: [c, h,
 * w, mc]) and the block of qc output pixels from q0, as the functions above
 * use them: col [c*kh*kw, qc*mc] = im2col(it) (row k = (c, i, j), column
 * u*mc + m for pixel q0 + u of image m), written in td_gemm's panels
 * (gemm.h: ceil(qc*mc / w) of them, c*kh*kw rows each), and it += its
 * adjoint, which reads a col [c*kh*kw, qc*mc] in rows (W^T G). The
 * blocks are whole output rows, taken in order from q0 = 0; with assign,
 * the image side is set instead, each value to bias[c] (0 for NULL) plus
 * what the blocks add to it, and with relu as well, passed through a ReLU
 * once the last block has added to it. Exposed for bench_conv --lowering.
 * These two and td_conv_relu_bias_grad are compiled per instruction-set
 * path (tensor/conv_lower.c). */
void td_conv_im2col(const td_conv_geom *g, const td_real *it, int64_t mc, int64_t q0, int64_t qc,
                    td_real *col);
void td_conv_col2im(const td_conv_geom *g, const td_real *col, int64_t mc, int64_t q0, int64_t qc,
                    int assign, const td_real *bias, int relu, td_real *it);

/* The gradients of a side's bias and of what went into its ReLU, in one
 * pass over x [n, ch, plane] (the side's gradient; plane values per image
 * and channel): with y (the ReLU's output) not NULL, dx = x where y > 0,
 * else 0 (dx may be x itself); then db[ch] += the sum of dx over the batch
 * and the plane (db NULL: none). td_conv_bias_grad is the case without a
 * ReLU. The sums run in a fixed order, the same in both. */
void td_conv_relu_bias_grad(int64_t n, int64_t ch, int64_t plane, const td_real *y,
                            const td_real *x, td_real *dx, td_real *db);
void td_conv_bias_grad(int64_t n, int64_t ch, int64_t plane, const td_real *x, td_real *db);

/* ---- pooling and upsampling over planes [n*c] of h x w -------------------- */
/* y [planes, oh, ow] = max over each k x k window (stride s, no padding);
 * arg receives each maximum's index in its plane (the first on ties), for
 * the backward. */
void td_max_pool2d_forward(int64_t planes, int64_t h, int64_t w, int64_t k, int64_t s,
                           const td_real *x, td_real *y, td_real *arg);
/* dx[plane][arg] += dy, one plane per thread (windows may overlap). */
void td_max_pool2d_backward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                            const td_real *dy, const td_real *arg, td_real *dx);
/* Nearest-neighbour upsampling by an integer factor: y [planes, h*f, w*f];
 * the backward sums each f x f block into its source. */
void td_upsample2d_forward(int64_t planes, int64_t h, int64_t w, int64_t f, const td_real *x,
                           td_real *y);
void td_upsample2d_backward(int64_t planes, int64_t h, int64_t w, int64_t f, const td_real *dy,
                            td_real *dx);

#endif
