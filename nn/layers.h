/* Layers: Linear, activations, an MLP made of them, and the 2-D
 * convolution and transposed convolution layers. */
#ifndef TD_LAYERS_H
#define TD_LAYERS_H

#include "../autograd/conv.h"
#include "params.h"

typedef enum td_activation {
    TD_ACT_NONE, TD_ACT_RELU, TD_ACT_TANH, TD_ACT_SIGMOID, TD_ACT_SOFTPLUS,
} td_activation;

/* "relu" -> TD_ACT_RELU; -1 if unknown. */
int td_activation_parse(const char *name);
const char *td_activation_name(td_activation a);
td_var *td_activate(td_tape *t, td_var *x, td_activation a);

typedef struct td_linear_layer {
    td_var *w; /* [out, in] */
    td_var *b; /* [out] */
    int64_t in, out;
} td_linear_layer;

/* Registers "<name>.w" and "<name>.b" in p. TD_INIT_PYTORCH draws both from
 * U(+-1/sqrt(in)); Xavier and Kaiming draw w and start b at zero. */
void td_linear_layer_init(td_linear_layer *l, td_params *p, const char *name, int64_t in,
                          int64_t out, td_init_kind init);
/* x @ w^T + b with the fused td_linear op. x is [rows, in], or has leading
 * sample dims ([K, B, in] -> [K, B, out]) that are folded into rows. */
td_var *td_linear_layer_forward(td_tape *t, const td_linear_layer *l, td_var *x);

/* Convolution layers over NCHW tensors (td_conv2d, td_conv_transpose2d),
 * or CHWN ones after l.spec.chwn = 1 (autograd/conv.h: the faster layout
 * for a stack of convolutions), with square kernels and the same stride /
 * padding in both dimensions.
 * Registers "<name>.w" and "<name>.b". TD_INIT_PYTORCH is PyTorch's
 * default (kaiming_uniform with a = sqrt(5), which comes to the same
 * U(+-1/sqrt(fan_in)) as Linear, for the bias too), with PyTorch's fan_in
 * = w.shape[1] * k * k: in * k * k for Conv2d, out * k * k for
 * ConvTranspose2d (its weight is [in, out, k, k]). */
typedef struct td_conv2d_layer {
    td_var *w; /* [out, in, k, k] */
    td_var *b; /* [out] */
    int64_t in, out, kernel;
    td_conv_spec spec;
} td_conv2d_layer;

void td_conv2d_layer_init(td_conv2d_layer *l, td_params *p, const char *name, int64_t in,
                          int64_t out, int64_t kernel, int64_t stride, int64_t pad,
                          td_init_kind init);
/* x [N, in, H, W] -> [N, out, OH, OW] */
td_var *td_conv2d_layer_forward(td_tape *t, const td_conv2d_layer *l, td_var *x);

typedef struct td_conv_transpose2d_layer {
    td_var *w; /* [in, out, k, k] (PyTorch's layout) */
    td_var *b; /* [out] */
    int64_t in, out, kernel;
    td_conv_spec spec;
} td_conv_transpose2d_layer;

void td_conv_transpose2d_layer_init(td_conv_transpose2d_layer *l, td_params *p, const char *name,
                                    int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                    int64_t pad, int64_t out_pad, td_init_kind init);
/* x [N, in, H, W] -> [N, out, (H - 1) stride - 2 pad + k + out_pad, ...] */
td_var *td_conv_transpose2d_layer_forward(td_tape *t, const td_conv_transpose2d_layer *l,
                                          td_var *x);

#define TD_MLP_MAX_LAYERS 8

/* sizes[0] -> sizes[1] -> ... -> sizes[n_sizes-1]; the activation between
 * layers, none after the last (the caller decides what the output means).
 * Layer i's parameters are "<name>.<i>.w" and "<name>.<i>.b". */
typedef struct td_mlp {
    int n_layers;
    td_linear_layer layers[TD_MLP_MAX_LAYERS];
    td_activation act;
} td_mlp;

void td_mlp_init(td_mlp *m, td_params *p, const char *name, int n_sizes, const int64_t *sizes,
                 td_activation act, td_init_kind init);
td_var *td_mlp_forward(td_tape *t, const td_mlp *m, td_var *x);

/* The sizes of an encoder in -> hidden[0] .. hidden[n_hidden - 1] -> code and
 * of the decoder that mirrors it, code -> hidden[n_hidden - 1] .. hidden[0]
 * -> in: n_hidden + 2 sizes each into enc and dec (room for
 * TD_MLP_MAX_LAYERS + 1). */
void td_mlp_mirror_sizes(int64_t in, int n_hidden, const int64_t *hidden, int64_t code,
                         int64_t *enc, int64_t *dec);

#endif
