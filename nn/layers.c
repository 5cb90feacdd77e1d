/* Activations, the Linear layer (one fused td_linear op) and the MLP. */
#include "layers.h"

#include <stdio.h>
#include <string.h>

static const char *const act_names[] = {
    [TD_ACT_NONE] = "none", [TD_ACT_RELU] = "relu", [TD_ACT_TANH] = "tanh",
    [TD_ACT_SIGMOID] = "sigmoid", [TD_ACT_SOFTPLUS] = "softplus",
};
#define N_ACTS ((int)(sizeof act_names / sizeof act_names[0]))

int td_activation_parse(const char *name) {
    for (int i = 0; i < N_ACTS; i++)
        if (strcmp(name, act_names[i]) == 0) return i;
    if (strcmp(name, "identity") == 0 || strcmp(name, "linear") == 0) return TD_ACT_NONE;
    return -1;
}

const char *td_activation_name(td_activation a) {
    return (int)a >= 0 && (int)a < N_ACTS ? act_names[a] : "?";
}

td_var *td_activate(td_tape *t, td_var *x, td_activation a) {
    switch (a) {
    case TD_ACT_NONE: return x;
    case TD_ACT_RELU: return td_relu(t, x);
    case TD_ACT_TANH: return td_tanh(t, x);
    case TD_ACT_SIGMOID: return td_sigmoid(t, x);
    case TD_ACT_SOFTPLUS: return td_softplus(t, x);
    }
    TD_ASSERT(0, "td_activate: unknown activation %d", (int)a);
    return NULL;
}

/* Registers "<name>.w" and "<name>.b" (of n_bias entries). PyTorch's
 * default draws the bias from the weight's bound too; the Xavier/Kaiming
 * recipes start the bias at zero. */
static void add_weight_bias(td_params *p, const char *name, td_shape ws, int64_t n_bias,
                            int64_t fan_in, int64_t fan_out, td_init_kind init, td_var **w,
                            td_var **b) {
    char key[200];
    td_init wi = {init, fan_in, fan_out}, bi = {init, fan_in, fan_out};
    if (init != TD_INIT_PYTORCH) bi.kind = TD_INIT_ZEROS;
    snprintf(key, sizeof key, "%s.w", name);
    *w = td_params_add(p, key, ws, wi);
    snprintf(key, sizeof key, "%s.b", name);
    *b = td_params_add(p, key, TD_SHAPE(n_bias), bi);
}

void td_linear_layer_init(td_linear_layer *l, td_params *p, const char *name, int64_t in,
                          int64_t out, td_init_kind init) {
    TD_ASSERT(in > 0 && out > 0, "linear layer '%s': sizes must be positive (in %lld, out %lld)",
              name, (long long)in, (long long)out);
    add_weight_bias(p, name, TD_SHAPE(out, in), out, in, out, init, &l->w, &l->b);
    l->in = in;
    l->out = out;
}

/* x may have leading sample dims ([K, B, in]): they are folded into rows for
 * the matrix multiply and restored after, both as views. */
td_var *td_linear_layer_forward(td_tape *t, const td_linear_layer *l, td_var *x) {
    td_shape s = x->value.shape;
    TD_ASSERT(s.d[s.ndim - 1] == l->in, "linear layer '%s': input has %lld features, expected %lld",
              l->w->name, (long long)s.d[s.ndim - 1], (long long)l->in);
    if (s.ndim == 2) return td_linear(t, x, l->w, l->b);
    int64_t rows = td_tensor_rows_count(&x->value);
    td_var *y = td_linear(t, td_reshape(t, x, TD_SHAPE(rows, l->in)), l->w, l->b);
    s.d[s.ndim - 1] = l->out;
    return td_reshape(t, y, s);
}

static void check_conv_sizes(const char *kind, const char *name, int64_t in, int64_t out,
                             int64_t kernel) {
    TD_ASSERT(in > 0 && out > 0 && kernel > 0, "%s layer '%s': channels and kernel must be "
              "positive (in %lld, out %lld, kernel %lld)", kind, name, (long long)in,
              (long long)out, (long long)kernel);
}

void td_conv2d_layer_init(td_conv2d_layer *l, td_params *p, const char *name, int64_t in,
                          int64_t out, int64_t kernel, int64_t stride, int64_t pad,
                          td_init_kind init) {
    check_conv_sizes("conv2d", name, in, out, kernel);
    const int64_t kk = kernel * kernel;
    add_weight_bias(p, name, TD_SHAPE(out, in, kernel, kernel), out, in * kk, out * kk, init,
                    &l->w, &l->b);
    *l = (td_conv2d_layer){l->w, l->b, in, out, kernel, td_conv_square(stride, pad, 0)};
}

td_var *td_conv2d_layer_forward(td_tape *t, const td_conv2d_layer *l, td_var *x) {
    return td_conv2d_spec(t, x, l->w, l->b, l->spec);
}

void td_conv_transpose2d_layer_init(td_conv_transpose2d_layer *l, td_params *p, const char *name,
                                    int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                    int64_t pad, int64_t out_pad, td_init_kind init) {
    check_conv_sizes("conv_transpose2d", name, in, out, kernel);
    const int64_t kk = kernel * kernel;
    /* PyTorch's fan_in is w.shape[1] * k * k, here out * k * k */
    add_weight_bias(p, name, TD_SHAPE(in, out, kernel, kernel), out, out * kk, in * kk, init,
                    &l->w, &l->b);
    *l = (td_conv_transpose2d_layer){l->w, l->b, in, out, kernel,
                                     td_conv_square(stride, pad, out_pad)};
}

td_var *td_conv_transpose2d_layer_forward(td_tape *t, const td_conv_transpose2d_layer *l,
                                          td_var *x) {
    return td_conv_transpose2d_spec(t, x, l->w, l->b, l->spec);
}

void td_mlp_init(td_mlp *m, td_params *p, const char *name, int n_sizes, const int64_t *sizes,
                 td_activation act, td_init_kind init) {
    TD_ASSERT(n_sizes >= 2 && n_sizes - 1 <= TD_MLP_MAX_LAYERS,
              "MLP '%s': %d sizes make %d layers; allowed 1..%d", name, n_sizes, n_sizes - 1,
              TD_MLP_MAX_LAYERS);
    char key[180];
    m->n_layers = n_sizes - 1;
    m->act = act;
    for (int i = 0; i < m->n_layers; i++) {
        snprintf(key, sizeof key, "%s.%d", name, i);
        td_linear_layer_init(&m->layers[i], p, key, sizes[i], sizes[i + 1], init);
    }
}

td_var *td_mlp_forward(td_tape *t, const td_mlp *m, td_var *x) {
    for (int i = 0; i < m->n_layers; i++) {
        x = td_linear_layer_forward(t, &m->layers[i], x);
        if (i + 1 < m->n_layers) x = td_activate(t, x, m->act);
    }
    return x;
}

void td_mlp_mirror_sizes(int64_t in, int n_hidden, const int64_t *hidden, int64_t code,
                         int64_t *enc, int64_t *dec) {
    TD_ASSERT(n_hidden >= 0 && n_hidden < TD_MLP_MAX_LAYERS, "td_mlp_mirror_sizes: %d hidden "
              "layers; allowed 0..%d", n_hidden, TD_MLP_MAX_LAYERS - 1);
    enc[0] = dec[n_hidden + 1] = in;
    for (int i = 0; i < n_hidden; i++) enc[i + 1] = dec[n_hidden - i] = hidden[i];
    enc[n_hidden + 1] = dec[0] = code;
}
