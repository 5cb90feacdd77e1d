/* The bottleneck autoencoder, and the pieces the denoising (dae.h) and
 * sparse (sae.h) autoencoders share with it.
 *
 *   encoder  x -> MLP (hidden sizes, activation) -> code h = code_act(..)
 *   decoder  h -> MLP (hidden sizes mirrored)    -> output
 *
 * The output is compared with the target by
 *   MSE: sum over the values of (out - x)^2, out used as is (linear);
 *   BCE: out are Bernoulli logits, -sum log p(x | out) (x in [0, 1]);
 * either way summed over each image and averaged over the batch, so the
 * loss is "per image" whatever the batch size.
 *
 * With no hidden layers, a linear code and MSE this is PCA in disguise
 * (Baldi & Hornik 1989): the decoder's columns span the top principal
 * subspace of the (centred) data. tests/test_ae.c checks exactly that. */
#ifndef TD_AE_H
#define TD_AE_H

#include <stddef.h>

#include "../nn/layers.h"

typedef enum td_recon_kind { TD_RECON_MSE, TD_RECON_BCE } td_recon_kind;
int td_recon_parse(const char *name); /* "mse" | "bce"; -1 if unknown */
const char *td_recon_name(td_recon_kind k);

#define TD_AE_MAX_HIDDEN (TD_MLP_MAX_LAYERS - 1)

typedef struct td_ae_config {
    int64_t input;                    /* values per example (784) */
    int n_hidden;                     /* hidden layers each side, 0..TD_AE_MAX_HIDDEN */
    int64_t hidden[TD_AE_MAX_HIDDEN]; /* encoder sizes; the decoder mirrors them */
    td_activation act;                /* between layers (none: a linear net) */
    int64_t code;                     /* code size (may exceed input: over-complete) */
    td_activation code_act;           /* on the code (none: linear; sigmoid for the KL penalty) */
    td_recon_kind recon;
} td_ae_config;

/* 784 -> 256 -> 32 -> 256 -> 784, relu, linear code, BCE (images in [0, 1]). */
td_ae_config td_ae_defaults(void);

typedef struct td_ae {
    td_ae_config cfg;
    td_mlp enc; /* input -> hidden.. -> code (code_act applied by td_ae_encode) */
    td_mlp dec; /* code -> hidden reversed.. -> input */
} td_ae;

/* Registers "enc.*" and "dec.*" in p (the caller finalizes p). Returns -1
 * with td_error() if the config makes no sense. */
int td_ae_init(td_ae *m, td_params *p, const td_ae_config *cfg);

/* Figures of one batch, as plain numbers (per image, like the loss). */
typedef struct td_ae_terms {
    double loss;  /* what was minimized */
    double recon; /* reconstruction term */
    double reg;   /* the penalty (sparse model), else 0 */
} td_ae_terms;

/* The graph pieces, recorded on t in the current grad mode (models built on
 * the autoencoder call them inside their own losses). */
td_var *td_ae_encode(td_tape *t, const td_ae *m, td_var *x);   /* codes [B, code] */
td_var *td_ae_decode_raw(td_tape *t, const td_ae *m, td_var *h); /* outputs: values or logits */
/* Reconstruction loss of raw outputs against targets x [B, input]: summed
 * over each row, averaged over rows: a [1] var. */
td_var *td_ae_recon_loss(td_tape *t, const td_ae *m, td_var *out, td_var *x);

/* The training loss for a batch x [B, input]: td_ae_recon_loss of
 * decode(encode(x)) against x. terms may be NULL. */
td_var *td_ae_loss(td_tape *t, const td_ae *m, td_var *x, td_ae_terms *terms);

/* Inference, no-grad (results are arena vars of t):
 *   decode: the reconstruction's mean (sigmoid of the logits for BCE,
 *           the raw output for MSE) from codes
 *   reconstruct: decode(encode(x)) */
td_var *td_ae_decode(td_tape *t, const td_ae *m, td_var *h);
td_var *td_ae_reconstruct(td_tape *t, const td_ae *m, td_var *x);

/* Mean per-image reconstruction loss (the training criterion) over all
 * rows of x, in chunks of `batch` rows, no-grad. Resets t. */
double td_ae_recon_error(td_tape *t, const td_ae *m, const td_tensor *x, int64_t batch);

/* The first layer's weights as pictures: row j of enc.0.w ([units, input])
 * scaled to [0, 1] by its own largest |w| (0.5 = zero), written to
 * out[units * input]. Returns units (the code size when n_hidden is 0). */
int64_t td_ae_filters(const td_ae *m, td_real *out);

#endif
