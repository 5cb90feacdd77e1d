/* Layers: Linear, activations, and an MLP made of them. */
#ifndef TD_LAYERS_H
#define TD_LAYERS_H

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
