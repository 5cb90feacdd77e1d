/* Ops on images: 2-D convolution and its transpose, max pooling and
 * nearest upsampling, over NCHW tensors ([batch, channels, height, width],
 * row-major, as in PyTorch). Differentiable in every input that requires
 * grad; forward, backward and gradcheck examples are in autograd/ops_conv.c
 * and autograd/ops_pool.c, the kernels in tensor/conv.c.
 *
 * Between a convolutional part and a dense part, td_reshape (a view) turns
 * [N, C, H, W] into [N, C*H*W] and back. */
#ifndef TD_CONV_OPS_H
#define TD_CONV_OPS_H

#include "autograd.h"

/* Stride and zero padding per dimension; out_pad is for the transposed
 * convolution only (extra rows / columns at the bottom / right, each less
 * than its stride: it picks one of the input sizes a strided conv2d maps to
 * the same output size). */
typedef struct td_conv_spec {
    int64_t stride_h, stride_w; /* >= 1 */
    int64_t pad_h, pad_w;       /* >= 0 */
    int64_t out_pad_h, out_pad_w;
    /* 0: x and the output are NCHW. 1: both are [C, H, W, N] ("CHWN", the
     * batch innermost), the layout the kernels compute in: a model that
     * keeps its images in it from one convolution to the next (ReLU and
     * the other elementwise ops do not care) skips two transposes per op.
     * td_transpose and td_reshape move a [N, C*H*W] matrix into it and
     * back. The weights are the same in both. */
    int chwn;
    /* 1: the output goes through a ReLU (td_relu's max(v, 0)) inside the
     * op, where the kernels write it, and the backward masks the
     * output's gradient and sums the bias gradient in one pass: a conv +
     * td_relu pair costs three more passes over the tensor and one more
     * tensor (6.5 % of the convolutional VAE's step by perf, Zen 3, and 34
     * of its 120 MiB at peak). Same values, same
     * bits as the pair. */
    int relu;
} td_conv_spec;

/* The same stride, padding and output padding in both dimensions, NCHW,
 * no ReLU. */
static inline td_conv_spec td_conv_square(int64_t stride, int64_t pad, int64_t out_pad) {
    return (td_conv_spec){stride, stride, pad, pad, out_pad, out_pad, 0, 0};
}

/* Cross-correlation, as PyTorch's Conv2d: x [N, C, H, W], w [O, C, KH, KW],
 * b [O] or NULL -> [N, O, OH, OW] with OH = (H + 2 pad_h - KH) / stride_h + 1
 * (rounded down), likewise OW. */
td_var *td_conv2d(td_tape *t, td_var *x, td_var *w, td_var *b, int64_t stride, int64_t pad);
td_var *td_conv2d_spec(td_tape *t, td_var *x, td_var *w, td_var *b, td_conv_spec s);

/* The transposed convolution (the gradient of conv2d with respect to its
 * input, as an op of its own), as PyTorch's ConvTranspose2d: x [N, C_in, H,
 * W], w [C_in, C_out, KH, KW], b [C_out] or NULL -> [N, C_out, OH, OW] with
 * OH = (H - 1) stride_h - 2 pad_h + KH + out_pad_h, likewise OW. */
td_var *td_conv_transpose2d(td_tape *t, td_var *x, td_var *w, td_var *b, int64_t stride,
                            int64_t pad, int64_t out_pad);
td_var *td_conv_transpose2d_spec(td_tape *t, td_var *x, td_var *w, td_var *b, td_conv_spec s);

/* Max over kernel x kernel windows taken every stride pixels, no padding:
 * [N, C, H, W] -> [N, C, (H - kernel) / stride + 1, (W - kernel) / stride + 1].
 * The gradient goes to each window's maximum (the first one on ties). Max
 * rather than average pooling: it is what the classifiers tinyad gets
 * compared with use (PyTorch's MNIST example, KANN's mnist-cnn), while the
 * smooth downsampling an average gives is a strided convolution away. */
td_var *td_max_pool2d(td_tape *t, td_var *x, int64_t kernel, int64_t stride);

/* Nearest-neighbour upsampling by an integer factor: [N, C, H, W] ->
 * [N, C, H*factor, W*factor], each pixel repeated in a factor x factor
 * block (PyTorch's Upsample(scale_factor=factor, mode='nearest')). */
td_var *td_upsample2d(td_tape *t, td_var *x, int64_t factor);

#endif
