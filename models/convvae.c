/* The convolutional VAE: its networks; the bounds are models/vae_core.c's. */
#include "convvae.h"

#include <string.h>

td_convvae_config td_convvae_defaults(void) {
    td_convvae_config c = {0};
    c.height = c.width = 28;
    c.ch1 = 32;
    c.ch2 = 64;
    c.hidden = 16;
    c.latent = 2;
    c.act = TD_ACT_RELU;
    c.samples = 1;
    c.beta = 1;
    return c;
}

/* The convolutions run in the CHWN layout (autograd/conv.h): each stack of
 * them takes the batch in with one transpose, [N, C*H*W] -> [C*H*W, N],
 * and gives it back with another, where NCHW convolutions would each
 * transpose their input and output inside. The flattened features are
 * in NCHW's order either way (channel, row, column).
 *
 * A ReLU after a convolution runs inside it (td_conv_spec.relu, set in
 * td_convvae_init); other activations are ops of their own. */
static td_var *conv_act(td_tape *t, td_var *h, td_conv_spec s, td_activation act) {
    return s.relu ? h : td_activate(t, h, act);
}

void td_convvae_encode(td_tape *t, const td_convvae *m, td_var *x, td_var **mu, td_var **logvar) {
    const td_convvae_config *c = &m->cfg;
    const int64_t n = td_dim(x, 0), flat = c->ch2 * (c->height / 4) * (c->width / 4);
    td_var *h = td_reshape(t, td_transpose(t, x), TD_SHAPE(1, c->height, c->width, n));
    h = conv_act(t, td_conv2d_layer_forward(t, &m->conv1, h), m->conv1.spec, c->act);
    h = conv_act(t, td_conv2d_layer_forward(t, &m->conv2, h), m->conv2.spec, c->act);
    h = td_transpose(t, td_reshape(t, h, TD_SHAPE(flat, n)));
    h = td_activate(t, td_linear_layer_forward(t, &m->fc, h), c->act);
    *mu = td_linear_layer_forward(t, &m->fc_mu, h);
    *logvar = td_linear_layer_forward(t, &m->fc_logvar, h);
}

static void encode(td_tape *t, const void *m, td_var *x, td_var **mu, td_var **logvar) {
    td_convvae_encode(t, m, x, mu, logvar);
}

/* z [N, latent] -> logits [N, H*W] */
static td_var *decode_raw(td_tape *t, const void *model, td_var *z) {
    const td_convvae *m = model;
    const td_convvae_config *c = &m->cfg;
    const int64_t n = td_dim(z, 0);
    td_var *h = td_activate(t, td_linear_layer_forward(t, &m->dec_fc, z), c->act);
    h = td_reshape(t, td_transpose(t, h), TD_SHAPE(c->ch2, c->height / 4, c->width / 4, n));
    h = conv_act(t, td_conv_transpose2d_layer_forward(t, &m->deconv1, h), m->deconv1.spec, c->act);
    h = conv_act(t, td_conv_transpose2d_layer_forward(t, &m->deconv2, h), m->deconv2.spec, c->act);
    h = td_conv_transpose2d_layer_forward(t, &m->deconv3, h);
    return td_transpose(t, td_reshape(t, h, TD_SHAPE(c->height * c->width, n)));
}

int td_convvae_init(td_convvae *m, td_params *p, const td_convvae_config *cfg) {
    memset(m, 0, sizeof *m);
    const td_convvae_config *c = cfg;
    /* Two stride-2 convolutions halve the image twice (rounding up), and the
     * two stride-2 transposed ones double it: only multiples of 4 come back
     * at their own size. */
    if (c->height < 4 || c->width < 4 || c->height % 4 || c->width % 4) {
        td_set_error("convvae: images of %lldx%lld: the convolutional VAE needs a height and width "
                     "that are multiples of 4 (MNIST's 28x28 is)", (long long)c->height,
                     (long long)c->width);
        return -1;
    }
    if (c->ch1 <= 0 || c->ch2 <= 0 || c->hidden <= 0 || c->latent <= 0 || c->samples < 1 ||
        c->iw_k < 0) {
        td_set_error("convvae: bad config (channels %lld,%lld, hidden %lld, latent %lld, samples %d, "
                     "iw_k %d)", (long long)c->ch1, (long long)c->ch2, (long long)c->hidden,
                     (long long)c->latent, c->samples, c->iw_k);
        return -1;
    }
    m->cfg = *cfg;
    const int64_t flat = c->ch2 * (c->height / 4) * (c->width / 4);
    const td_init_kind init = TD_INIT_PYTORCH;
    td_conv2d_layer_init(&m->conv1, p, "enc.conv1", 1, c->ch1, 3, 2, 1, init);
    td_conv2d_layer_init(&m->conv2, p, "enc.conv2", c->ch1, c->ch2, 3, 2, 1, init);
    td_linear_layer_init(&m->fc, p, "enc.fc", flat, c->hidden, init);
    td_linear_layer_init(&m->fc_mu, p, "enc.mu", c->hidden, c->latent, init);
    td_linear_layer_init(&m->fc_logvar, p, "enc.logvar", c->hidden, c->latent, init);
    td_linear_layer_init(&m->dec_fc, p, "dec.fc", c->latent, flat, init);
    td_conv_transpose2d_layer_init(&m->deconv1, p, "dec.deconv1", c->ch2, c->ch2, 3, 2, 1, 1, init);
    td_conv_transpose2d_layer_init(&m->deconv2, p, "dec.deconv2", c->ch2, c->ch1, 3, 2, 1, 1, init);
    td_conv_transpose2d_layer_init(&m->deconv3, p, "dec.deconv3", c->ch1, 1, 3, 1, 1, 0, init);
    m->conv1.spec.chwn = m->conv2.spec.chwn = 1; /* see td_convvae_encode */
    m->deconv1.spec.chwn = m->deconv2.spec.chwn = m->deconv3.spec.chwn = 1;
    const int relu = c->act == TD_ACT_RELU; /* fused, see td_convvae_encode */
    m->conv1.spec.relu = m->conv2.spec.relu = m->deconv1.spec.relu = m->deconv2.spec.relu = relu;
    return 0;
}

td_vae_core td_convvae_as_core(const td_convvae *m) {
    const td_convvae_config *c = &m->cfg;
    return (td_vae_core){m, encode, decode_raw, c->latent, TD_LIK_BERNOULLI, NULL, 0, c->samples,
                         c->iw_k};
}
