/* The model kinds of the command line, one row each (see models.h): the
 * kind's options and their checks, and an adapter from cli_config to the
 * model file's own API. */
#include "models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/convvae.h"
#include "models/dae.h"
#include "models/gauss.h"
#include "models/hvae.h"
#include "models/sae.h"
#include "models/vae.h"

/* The kind's own options in c (cli_config.model, laid out by its table). */
#define KIND_OPTIONS(type, c) ((const type *)(const void *)(c)->model.bytes)
#define TABLE(t) {t, (int)(sizeof t / sizeof *t)}

/* ---- vae ------------------------------------------------------------------- */

/* The options of the bound, which both VAEs (vae, convvae) take: rows for a
 * struct S holding a bound_options named bound. */
typedef struct bound_options {
    double beta;
    int64_t warmup, samples, iw_k;
} bound_options;

#define BOUND_OPTS(S)                                                                              \
    {"beta", T_REAL, offsetof(S, bound.beta), 0, "1", 0, 0, OPT_TRAIN, 1, NULL, "weight of the KL term", 0}, \
    {"warmup", T_INT, offsetof(S, bound.warmup), 0, "0", 0, 0, OPT_TRAIN, 1, NULL,                  \
     "epochs over which beta ramps up from 0", 0},                                                 \
    {"samples", T_INT, offsetof(S, bound.samples), 0, "1", 1, 0, OPT_TRAIN, 1, NULL,                \
     "samples of z per datapoint in the ELBO", 1 << 20},                                           \
    {"iw-k", T_INT, offsetof(S, bound.iw_k), 0, "0", 0, 0, OPT_TRAIN, 1, NULL,                      \
     "train on the IWAE bound with K samples (0: the ELBO)", 1 << 20}

static int bound_check(const bound_options *o, char *why, size_t len) {
    if (o->iw_k == 1)
        snprintf(why, len, "--iw-k 1 is the ELBO: use 0 (ELBO) or K >= 2");
    else if (o->samples > 1 && o->iw_k > 1)
        snprintf(why, len, "--samples and --iw-k are alternatives: give one of them");
    else
        return 0;
    return 1;
}

/* Both VAE kinds are a cli_vae: the model and how the shared bounds see it,
 * so that they share the adapters below. */
typedef struct cli_vae {
    td_vae_core core[1];
    double beta;
    int warmup;
    union { td_vae vae; td_convvae conv; } u;
} cli_vae;

static cli_vae *cli_vae_new(const bound_options *o) {
    cli_vae *m = td_alloc_zero(sizeof *m);
    m->beta = o->beta;
    m->warmup = (int)o->warmup;
    return m;
}

/* ---- vae ------------------------------------------------------------------- */

typedef struct vae_options {
    char gauss_var[16];
    bound_options bound;
} vae_options;
_Static_assert(sizeof(vae_options) <= CLI_MODEL_OPTIONS_SIZE, "vae options do not fit");

static const cli_opt vae_opts[] = {
    CLI_STR(vae_options, "gauss-var", gauss_var, "learned", OPT_TRAIN, 1, NULL,
            "gaussian variance: 'learned' (per pixel) or a fixed log-variance, e.g. -4"),
    BOUND_OPTS(vae_options),
};

static int vae_check(const cli_config *c, char *why, size_t len) {
    const vae_options *o = KIND_OPTIONS(vae_options, c);
    char *end;
    if (!strcmp(c->hidden, "none"))
        snprintf(why, len, "--hidden none: the vae needs at least one hidden layer");
    else if (strcmp(o->gauss_var, "learned") &&
             (!o->gauss_var[0] || !isfinite(strtod(o->gauss_var, &end)) || *end))
        snprintf(why, len, "--gauss-var: '%s' is neither 'learned' nor a number", o->gauss_var);
    else
        return bound_check(&o->bound, why, len);
    return 1;
}

static void *vae_create(const cli_config *c, int64_t input, td_params *p) {
    const vae_options *o = KIND_OPTIONS(vae_options, c);
    td_vae_config vc = td_vae_defaults();
    vc.input = input;
    vc.n_hidden = cli_parse_hidden(c->hidden, vc.hidden, TD_VAE_MAX_HIDDEN);
    vc.act = (td_activation)td_activation_parse(c->activation);
    vc.latent = c->latent;
    vc.lik = (td_likelihood)td_likelihood_parse(c->likelihood);
    vc.learn_var = !strcmp(o->gauss_var, "learned");
    vc.fixed_logvar = vc.learn_var ? 0 : strtod(o->gauss_var, NULL);
    vc.samples = (int)o->bound.samples;
    vc.iw_k = (int)o->bound.iw_k;
    vc.beta = o->bound.beta;
    vc.warmup = (int)o->bound.warmup;
    if ((int)vc.act < 0 || (int)vc.lik < 0) {
        td_set_error("vae: unknown activation '%s' or likelihood '%s'", c->activation, c->likelihood);
        return NULL;
    }
    cli_vae *m = cli_vae_new(&o->bound);
    if (td_vae_init(&m->u.vae, p, &vc)) {
        td_free(m);
        return NULL;
    }
    *m->core = td_vae_as_core(&m->u.vae);
    return m;
}

static void vae_destroy(void *m) { td_free(m); }

static td_var *vae_train_loss(void *m, td_tape *t, td_var *x, td_rng *rng, int64_t epoch,
                              cli_terms *terms) {
    const cli_vae *v = m;
    td_vae_terms vt;
    td_var *loss = td_vae_core_loss(t, v->core, x, rng, td_vae_core_beta(v->beta, v->warmup, epoch), &vt);
    *terms = (cli_terms){vt.loss, vt.recon, vt.kl};
    return loss;
}

static void vae_eval_batch(void *m, td_tape *t, const td_tensor *x, td_rng *rng, cli_terms *terms) {
    td_vae_terms vt;
    td_vae_core_elbo_batch(t, ((cli_vae *)m)->core, x, rng, &vt);
    *terms = (cli_terms){vt.loss, vt.recon, vt.kl};
}

static int64_t vae_latent(void *m) { return ((cli_vae *)m)->core->latent; }

static td_var *vae_encode(void *m, td_tape *t, td_var *x) {
    const td_vae_core *c = ((cli_vae *)m)->core;
    td_var *mu, *lv;
    td_no_grad ng = td_no_grad_begin(t);
    c->encode(t, c->model, x, &mu, &lv);
    td_no_grad_end(ng);
    return mu;
}

static td_var *vae_decode(void *m, td_tape *t, td_var *z) {
    return td_vae_core_decode(t, ((cli_vae *)m)->core, z);
}

static td_var *vae_reconstruct(void *m, td_tape *t, td_var *x) {
    return td_vae_core_reconstruct(t, ((cli_vae *)m)->core, x);
}

static td_var *vae_sample(void *m, td_tape *t, int64_t n, td_rng *rng) {
    return td_vae_core_sample(t, ((cli_vae *)m)->core, n, rng);
}

static double vae_beta(void *m, int64_t epoch) {
    const cli_vae *v = m;
    return td_vae_core_beta(v->beta, v->warmup, epoch);
}

static void vae_iw_nll(void *m, td_tape *t, const td_tensor *x, int64_t k, td_rng *rng, double *out) {
    td_vae_core_iw_nll(t, ((cli_vae *)m)->core, x, k, rng, out);
}

/* Active units of the means of q(z|x) over x (Burda et al.'s Table 2). */
static int vae_eval_extra(void *m, td_tape *t, const td_tensor *x, const char **names, double *values) {
    const int64_t n = x->shape.d[0], d = vae_latent(m), chunk = 500;
    td_real *mu = td_alloc(sizeof(td_real) * (size_t)(n * d + 1));
    for (int64_t i = 0; i < n; i += chunk) {
        const int64_t rows = n - i < chunk ? n - i : chunk;
        td_tape_reset(t);
        td_var *z = vae_encode(m, t, td_const(t, td_tensor_rows(x, i, rows)));
        memcpy(mu + i * d, z->value.data, sizeof(td_real) * (size_t)(rows * d));
    }
    td_tape_reset(t);
    names[0] = "active_units", values[0] = (double)td_active_units(mu, n, d, 0.01);
    td_free(mu);
    return 1;
}

/* The bias of an MLP's last layer: the Bernoulli logits', for --output-bias data. */
static td_var *last_bias(const td_mlp *net) { return net->layers[net->n_layers - 1].b; }

static td_var *vae_output_bias(void *m) { return last_bias(&((cli_vae *)m)->u.vae.dec); }

/* What the two VAE rows share. */
#define VAE_FAMILY                                                                                 \
    .reg_name = "kl", .destroy = vae_destroy, .train_loss = vae_train_loss,                        \
    .eval_batch = vae_eval_batch, .beta = vae_beta, .latent = vae_latent, .encode = vae_encode,    \
    .reconstruct = vae_reconstruct, .decode = vae_decode, .sample = vae_sample,                    \
    .iw_nll = vae_iw_nll, .eval_extra = vae_eval_extra

static const cli_model vae_row = {
    .kind = "vae", .summary = "variational autoencoder (Kingma & Welling)",
    .opts = TABLE(vae_opts), .check = vae_check,
    .tiny = "hidden = 5\nactivation = tanh\nlatent = 2\n",
    .create = vae_create, VAE_FAMILY, .output_bias = vae_output_bias,
};

/* ---- hvae -------------------------------------------------------------------
 * The two-stochastic-layer VAE: --hidden, --latent and --activation give the
 * first layer (x -> z1), --hidden2 and --latent2 the second (z1 -> z2). The
 * defaults are the paper's model: --hidden 200,200 --latent 100 --activation
 * tanh, --hidden2 100,100 --latent2 50. Bernoulli pixels only. */

typedef struct hvae_options {
    char hidden2[128];
    int64_t latent2, iw_k;
} hvae_options;
_Static_assert(sizeof(hvae_options) <= CLI_MODEL_OPTIONS_SIZE, "hvae options do not fit");

static const cli_opt hvae_opts[] = {
    CLI_STR(hvae_options, "hidden2", hidden2, "100,100", OPT_TRAIN, 1, NULL,
            "hidden sizes of q(z2|z1), mirrored in p(z1|z2)"),
    {"latent2", T_INT, offsetof(hvae_options, latent2), 0, "50", 1, 0, OPT_TRAIN, 1, NULL,
     "size of the top latent z2 (--latent is z1's)", 1 << 24},
    {"iw-k", T_INT, offsetof(hvae_options, iw_k), 0, "0", 0, 0, OPT_TRAIN, 1, NULL,
     "train on the IWAE bound with K samples (0: the ELBO)", 1 << 20},
};

static int hvae_check(const cli_config *c, char *why, size_t len) {
    const hvae_options *o = KIND_OPTIONS(hvae_options, c);
    int64_t h[TD_HVAE_MAX_HIDDEN];
    if (!strcmp(c->hidden, "none"))
        snprintf(why, len, "--hidden none: the hvae needs at least one hidden layer");
    else if (cli_parse_hidden(o->hidden2, h, TD_HVAE_MAX_HIDDEN) < 1)
        snprintf(why, len, "--hidden2: '%s' is not a comma-separated list of 1..%d positive sizes",
                 o->hidden2, TD_HVAE_MAX_HIDDEN);
    else if (strcmp(c->likelihood, "bernoulli"))
        snprintf(why, len, "--likelihood %s: the hvae has Bernoulli pixels only", c->likelihood);
    else if (o->iw_k == 1)
        snprintf(why, len, "--iw-k 1 is the ELBO: use 0 (ELBO) or K >= 2");
    else
        return 0;
    return 1;
}

static void *hvae_create(const cli_config *c, int64_t input, td_params *p) {
    const hvae_options *o = KIND_OPTIONS(hvae_options, c);
    td_hvae_config hc = td_hvae_defaults();
    hc.input = input;
    hc.n_hidden1 = cli_parse_hidden(c->hidden, hc.hidden1, TD_HVAE_MAX_HIDDEN);
    hc.n_hidden2 = cli_parse_hidden(o->hidden2, hc.hidden2, TD_HVAE_MAX_HIDDEN);
    hc.latent1 = c->latent;
    hc.latent2 = o->latent2;
    hc.act = (td_activation)td_activation_parse(c->activation);
    hc.iw_k = (int)o->iw_k;
    if ((int)hc.act < 0) {
        td_set_error("hvae: unknown activation '%s'", c->activation);
        return NULL;
    }
    td_hvae *m = td_alloc_zero(sizeof *m);
    if (td_hvae_init(m, p, &hc)) {
        td_free(m);
        return NULL;
    }
    return m;
}

static td_var *hvae_train_loss(void *m, td_tape *t, td_var *x, td_rng *rng, int64_t epoch,
                               cli_terms *terms) {
    (void)epoch;
    td_hvae_terms ht;
    td_var *loss = td_hvae_loss(t, m, x, rng, &ht);
    *terms = (cli_terms){ht.loss, ht.recon, ht.kl};
    return loss;
}

static void hvae_eval_batch(void *m, td_tape *t, const td_tensor *x, td_rng *rng, cli_terms *terms) {
    td_hvae_terms ht;
    td_hvae_elbo_batch(t, m, x, rng, &ht);
    *terms = (cli_terms){ht.loss, ht.recon, ht.kl};
}

static int64_t hvae_latent(void *m) { return ((td_hvae *)m)->cfg.latent2; }
static td_var *hvae_encode(void *m, td_tape *t, td_var *x) { return td_hvae_encode(t, m, x); }
static td_var *hvae_decode(void *m, td_tape *t, td_var *z) { return td_hvae_decode(t, m, z); }
static td_var *hvae_reconstruct(void *m, td_tape *t, td_var *x) { return td_hvae_reconstruct(t, m, x); }
static td_var *hvae_sample(void *m, td_tape *t, int64_t n, td_rng *rng) { return td_hvae_sample(t, m, n, rng); }

static void hvae_iw_nll(void *m, td_tape *t, const td_tensor *x, int64_t k, td_rng *rng, double *out) {
    td_hvae_iw_nll(t, m, x, k, rng, out);
}

static int hvae_eval_extra(void *m, td_tape *t, const td_tensor *x, const char **names, double *values) {
    td_rng r; /* the z1 draws of layer 2's means: fixed, so the figure repeats */
    td_rng_init(&r, 0xAC71);
    int64_t a1, a2;
    td_hvae_active_units(t, m, x, &r, &a1, &a2);
    names[0] = "active_units_z1", values[0] = (double)a1;
    names[1] = "active_units_z2", values[1] = (double)a2;
    return 2;
}

static td_var *hvae_output_bias(void *m) { return last_bias(&((td_hvae *)m)->px); }

static const cli_model hvae_row = {
    .kind = "hvae", .summary = "VAE with two stochastic layers (Burda et al. 2016)", .reg_name = "kl",
    /* the paper's first layer: 784-200-200-100 tanh */
    .defaults = "hidden = 200,200\nactivation = tanh\nlatent = 100\n",
    .opts = TABLE(hvae_opts), .check = hvae_check,
    .tiny = "hidden = 4\nactivation = tanh\nlatent = 3\nhidden2 = 3\nlatent2 = 2\niw-k = 3\n",
    .create = hvae_create, .destroy = vae_destroy, .train_loss = hvae_train_loss,
    .eval_batch = hvae_eval_batch, .latent = hvae_latent, .encode = hvae_encode,
    .reconstruct = hvae_reconstruct, .decode = hvae_decode, .sample = hvae_sample, .iw_nll = hvae_iw_nll,
    .eval_extra = hvae_eval_extra, .output_bias = hvae_output_bias,
};

/* ---- convvae ----------------------------------------------------------------- */

typedef struct convvae_options {
    char channels[32];
    bound_options bound;
} convvae_options;
_Static_assert(sizeof(convvae_options) <= CLI_MODEL_OPTIONS_SIZE, "convvae options do not fit");

static const cli_opt convvae_opts[] = {
    CLI_STR(convvae_options, "channels", channels, "32,64", OPT_TRAIN, 1, NULL,
            "channels of the two convolutions (the decoder mirrors them)"),
    BOUND_OPTS(convvae_options),
};

static int convvae_check(const cli_config *c, char *why, size_t len) {
    const convvae_options *o = KIND_OPTIONS(convvae_options, c);
    int64_t ch[2], h[2];
    if (cli_parse_hidden(o->channels, ch, 2) != 2 || ch[0] > 4096 || ch[1] > 4096)
        snprintf(why, len, "--channels: '%s' is not two sizes in 1..4096, e.g. 32,64", o->channels);
    else if (cli_parse_hidden(c->hidden, h, 2) != 1)
        snprintf(why, len, "--hidden: '%s': the convvae has one dense layer, give one size (e.g. 16)",
                 c->hidden);
    else if (strcmp(c->likelihood, "bernoulli"))
        snprintf(why, len, "--likelihood %s: the convvae's likelihood is bernoulli", c->likelihood);
    else
        return bound_check(&o->bound, why, len);
    return 1;
}

/* The images are square: their side is the root of the values per image. */
static void *convvae_create(const cli_config *c, int64_t input, td_params *p) {
    const convvae_options *o = KIND_OPTIONS(convvae_options, c);
    td_convvae_config cc = td_convvae_defaults();
    int64_t ch[2] = {0, 0};
    int64_t side = (int64_t)llround(sqrt((double)input));
    if (side * side != input) {
        td_set_error("convvae: images of %lld values are not square", (long long)input);
        return NULL;
    }
    cc.height = cc.width = side;
    cli_parse_hidden(o->channels, ch, 2);
    cc.ch1 = ch[0], cc.ch2 = ch[1];
    cli_parse_hidden(c->hidden, &cc.hidden, 1);
    cc.latent = c->latent;
    cc.act = (td_activation)td_activation_parse(c->activation);
    cc.samples = (int)o->bound.samples;
    cc.iw_k = (int)o->bound.iw_k;
    cc.beta = o->bound.beta;
    cc.warmup = (int)o->bound.warmup;
    if ((int)cc.act < 0) {
        td_set_error("convvae: unknown activation '%s'", c->activation);
        return NULL;
    }
    cli_vae *m = cli_vae_new(&o->bound);
    if (td_convvae_init(&m->u.conv, p, &cc)) {
        td_free(m);
        return NULL;
    }
    *m->core = td_convvae_as_core(&m->u.conv);
    return m;
}

static const cli_model convvae_row = {
    .kind = "convvae", .summary = "convolutional VAE (the Keras example's networks)",
    .defaults = "hidden = 16\nlatent = 2\n",
    .opts = TABLE(convvae_opts), .check = convvae_check,
    /* 4x4 images: 2x2 and 1x1 after the convolutions */
    .tiny = "input = 16\nchannels = 2,3\nhidden = 3\nactivation = tanh\nlatent = 2\n",
    .create = convvae_create, VAE_FAMILY,
};

/* ---- ae, dae, sae ---------------------------------------------------------------
 * One adapter for the three: each wraps a td_ae (the network), and the
 * model files give the loss. Their losses are per image; the CLI wants
 * batch sums. --latent is the code size, --likelihood bernoulli|gaussian
 * picks the BCE|MSE reconstruction. */

typedef struct dae_options {
    char noise[24]; /* masking | gaussian | salt-and-pepper */
    double noise_level;
} dae_options;

typedef struct sae_options {
    char sparsity[8]; /* kl | l1 */
    double sparsity_weight, sparsity_target;
} sae_options;
_Static_assert(sizeof(dae_options) <= CLI_MODEL_OPTIONS_SIZE && sizeof(sae_options) <= CLI_MODEL_OPTIONS_SIZE,
               "autoencoder options do not fit");

static const cli_opt dae_opts[] = {
    CLI_STR(dae_options, "noise", noise, "masking", OPT_TRAIN, 1, "masking|gaussian|salt-and-pepper",
            "corruption of the inputs"),
    {"noise-level", T_REAL, offsetof(dae_options, noise_level), 0, "0.3", 0, 0, OPT_TRAIN, 1, NULL,
     "fraction masked or flipped (masking, salt-and-pepper), or the Gaussian sd", 0},
};

static const cli_opt sae_opts[] = {
    CLI_STR(sae_options, "sparsity", sparsity, "kl", OPT_TRAIN, 1, "kl|l1",
            "KL(rho || mean activation) on sigmoid codes, or L1 on relu codes"),
    {"sparsity-weight", T_REAL, offsetof(sae_options, sparsity_weight), 0, "3", 0, 0, OPT_TRAIN, 1,
     NULL, "weight of the sparsity penalty (beta for kl, lambda for l1)", 0},
    {"sparsity-target", T_REAL, offsetof(sae_options, sparsity_target), 0, "0.05", 0, 1, OPT_TRAIN, 1,
     NULL, "target mean activation rho (kl), in (0, 1)", 0},
};

static int dae_check(const cli_config *c, char *why, size_t len) {
    const dae_options *o = KIND_OPTIONS(dae_options, c);
    if (!strcmp(o->noise, "gaussian") || o->noise_level <= 1) return 0;
    snprintf(why, len, "--noise-level %g: %s noise corrupts a fraction of the inputs, at most 1",
             o->noise_level, o->noise);
    return 1;
}

static int sae_check(const cli_config *c, char *why, size_t len) {
    const sae_options *o = KIND_OPTIONS(sae_options, c);
    if (o->sparsity_target < 1) return 0;
    snprintf(why, len, "--sparsity-target %g: a mean sigmoid activation is below 1", o->sparsity_target);
    return 1;
}

typedef struct cli_ae {
    char kind; /* 'a', 'd', 's' */
    td_ae *net;
    union { td_ae ae; td_dae dae; td_sae sae; } u;
} cli_ae;

static void *ae_family_create(const cli_config *c, int64_t input, td_params *p, char kind) {
    td_ae_config ac = td_ae_defaults();
    ac.input = input;
    ac.n_hidden = cli_parse_hidden(c->hidden, ac.hidden, TD_AE_MAX_HIDDEN);
    ac.act = (td_activation)td_activation_parse(c->activation);
    ac.code = c->latent;
    ac.recon = !strcmp(c->likelihood, "gaussian") ? TD_RECON_MSE : TD_RECON_BCE;
    if (ac.n_hidden < 0 || (int)ac.act < 0) {
        td_set_error("%s: bad --hidden '%s' or --activation '%s'", c->kind, c->hidden, c->activation);
        return NULL;
    }
    cli_ae *m = td_alloc_zero(sizeof *m);
    m->kind = kind;
    int rc;
    if (kind == 'd') {
        const dae_options *o = KIND_OPTIONS(dae_options, c);
        td_dae_config dc = td_dae_defaults();
        dc.ae = ac;
        dc.noise = (td_noise_kind)td_noise_parse(o->noise);
        dc.level = o->noise_level;
        rc = td_dae_init(&m->u.dae, p, &dc);
        m->net = &m->u.dae.ae;
    } else if (kind == 's') {
        const sae_options *o = KIND_OPTIONS(sae_options, c);
        td_sae_config sc = td_sae_defaults();
        sc.kind = (td_sparsity_kind)td_sparsity_parse(o->sparsity);
        /* the KL penalty reads codes as firing probabilities; L1 wants exact zeros */
        ac.code_act = sc.kind == TD_SPARSE_KL ? TD_ACT_SIGMOID : TD_ACT_RELU;
        sc.ae = ac;
        sc.weight = o->sparsity_weight;
        sc.rho = o->sparsity_target;
        rc = td_sae_init(&m->u.sae, p, &sc);
        m->net = &m->u.sae.ae;
    } else {
        rc = td_ae_init(&m->u.ae, p, &ac);
        m->net = &m->u.ae;
    }
    if (rc) {
        td_free(m);
        return NULL;
    }
    return m;
}

static void *ae_create(const cli_config *c, int64_t input, td_params *p) {
    return ae_family_create(c, input, p, 'a');
}
static void *dae_create(const cli_config *c, int64_t input, td_params *p) {
    return ae_family_create(c, input, p, 'd');
}
static void *sae_create(const cli_config *c, int64_t input, td_params *p) {
    return ae_family_create(c, input, p, 's');
}

static td_var *ae_family_loss(cli_ae *m, td_tape *t, td_var *x, td_rng *rng, cli_terms *terms) {
    td_ae_terms at;
    td_var *loss = m->kind == 'd' ? td_dae_loss(t, &m->u.dae, x, rng, &at, NULL)
                 : m->kind == 's' ? td_sae_loss(t, &m->u.sae, x, &at)
                                  : td_ae_loss(t, &m->u.ae, x, &at);
    const double b = (double)td_tensor_rows_count(&x->value);
    *terms = (cli_terms){at.loss * b, at.recon * b, at.reg * b};
    return td_mul_scalar(t, loss, (td_real)b);
}

static td_var *ae_train_loss(void *m, td_tape *t, td_var *x, td_rng *rng, int64_t epoch,
                             cli_terms *terms) {
    (void)epoch;
    return ae_family_loss(m, t, x, rng, terms);
}

/* The DAE's test figure is its denoising loss (corrupted in, clean out). */
static void ae_eval_batch(void *m, td_tape *t, const td_tensor *x, td_rng *rng, cli_terms *terms) {
    td_no_grad ng = td_no_grad_begin(t);
    ae_family_loss(m, t, td_const(t, *x), rng, terms);
    td_no_grad_end(ng);
}

static void ae_destroy(void *m) { td_free(m); }

static int64_t ae_latent(void *m) { return ((cli_ae *)m)->net->cfg.code; }

static td_var *ae_encode(void *m, td_tape *t, td_var *x) {
    td_no_grad ng = td_no_grad_begin(t);
    td_var *h = td_ae_encode(t, ((cli_ae *)m)->net, x);
    td_no_grad_end(ng);
    return h;
}

static td_var *ae_reconstruct(void *m, td_tape *t, td_var *x) {
    return td_ae_reconstruct(t, ((cli_ae *)m)->net, x);
}

static td_var *dae_corrupt(void *m, td_tape *t, td_var *x, td_rng *rng) {
    const td_dae *d = &((cli_ae *)m)->u.dae;
    return td_dae_corrupt(t, d->cfg.noise, d->cfg.level, x, rng);
}

static int64_t sae_filters(void *m, td_real *out) {
    const td_ae *net = ((cli_ae *)m)->net;
    if (!out) return td_dim(net->enc.layers[0].w, 0);
    return td_ae_filters(net, out);
}

static int sae_eval_extra(void *m, td_tape *t, const td_tensor *x, const char **names, double *values) {
    td_sae_figures f;
    td_sae_eval(t, &((cli_ae *)m)->u.sae, x, 128, &f);
    static const char *n[] = {"mean_activation", "mean_abs_code", "near_zero_values", "near_zero_units",
                              "unit_mean_min", "unit_mean_max"};
    const double v[] = {f.mean_act, f.mean_abs, f.near_zero, f.dead_units, f.rho_min, f.rho_max};
    for (int i = 0; i < 6; i++) names[i] = n[i], values[i] = v[i];
    return 6;
}

/* What the three rows share; each adds its own options, checks and parts. */
#define AE_FAMILY                                                                                  \
    .destroy = ae_destroy, .train_loss = ae_train_loss, .eval_batch = ae_eval_batch,             \
    .latent = ae_latent, .encode = ae_encode, .reconstruct = ae_reconstruct

static const cli_model ae_row = {
    .kind = "ae", .summary = "bottleneck autoencoder", .reg_name = "reg",
    .tiny = "hidden = 4\nactivation = tanh\nlatent = 2\nlikelihood = gaussian\n",
    .create = ae_create, AE_FAMILY,
};

static const cli_model dae_row = {
    .kind = "dae", .summary = "denoising autoencoder", .reg_name = "reg",
    .opts = TABLE(dae_opts), .check = dae_check,
    .tiny = "hidden = 4\nactivation = tanh\nlatent = 3\n",
    .create = dae_create, AE_FAMILY, .corrupt = dae_corrupt,
};

static int sae_couples_rows(const cli_config *c) {
    return !strcmp(KIND_OPTIONS(sae_options, c)->sparsity, "kl"); /* l1 is per row */
}

static const cli_model sae_row = {
    .kind = "sae", .summary = "sparse autoencoder", .reg_name = "sparsity",
    .opts = TABLE(sae_opts), .check = sae_check,
    .tiny = "hidden = 4\nactivation = tanh\nlatent = 6\n",
    .create = sae_create, AE_FAMILY, .filters = sae_filters, .eval_extra = sae_eval_extra,
    .couples_rows = sae_couples_rows,
};

/* ---- the rows ---------------------------------------------------------------- */

const cli_model *const cli_models[] = {&vae_row, &hvae_row, &convvae_row, &ae_row, &dae_row, &sae_row};
const int cli_n_models = (int)(sizeof cli_models / sizeof *cli_models);

const cli_model *cli_model_find(const char *kind) {
    for (int i = 0; i < cli_n_models; i++)
        if (!strcmp(cli_models[i]->kind, kind)) return cli_models[i];
    return NULL;
}

const char *cli_model_kinds(void) {
    static char list[256];
    if (!list[0])
        for (int i = 0; i < cli_n_models; i++) {
            const size_t n = strlen(list);
            snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", cli_models[i]->kind);
        }
    return list;
}
