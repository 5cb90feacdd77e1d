/* The shared option table, and the command line over it and the kind's
 * row: parsing, --help grouped by kind, the config text of a run. */
#include "config.h"

#include <string.h>

#include "nn/layers.h"

#define NUM(field, type_, def, min, above, cmds, help) CLI_NUM(cli_config, field, type_, def, min, above, cmds, help)
#define STR(name, field, def, cmds, cfg, choices, help) CLI_STR(cli_config, name, field, def, cmds, cfg, choices, help)
enum { ALL = OPT_TRAIN | OPT_EVAL | OPT_SAMPLE };

static const cli_opt opts[] = {
    STR("data", data, "", OPT_TRAIN | OPT_EVAL, 1, NULL,
        "dataset directory (MNIST-format IDX files; default: $TINYAD_DATA, then standard places)"),
    {"epochs", T_INT, offsetof(cli_config, epochs), 0, "10", 0, 0, OPT_TRAIN, 1, NULL,
     "training epochs (0: save the initialized model and stop)",
     1000000},
    NUM(batch, T_INT, "128", 1, 0, OPT_TRAIN, "mini-batch size (the loss is summed over it)"),
    NUM(lr, T_REAL, "1e-3", 0, 1, OPT_TRAIN, "learning rate"),
    STR("optimizer", optimizer, "adam", OPT_TRAIN, 1, "adam|adamw|sgd|adam-iwae",
        "optimizer (adam-iwae: the IWAE paper's Adam, nn/optim.h)"),
    NUM(momentum, T_REAL, "0", 0, 0, OPT_TRAIN, "SGD momentum"),
    {"weight-decay", T_REAL, offsetof(cli_config, weight_decay), 0, "0", 0, 0, OPT_TRAIN, 1, NULL,
     "weight decay (L2 for sgd/adam, decoupled for adamw)", 0},
    NUM(clip, T_REAL, "0", 0, 0, OPT_TRAIN, "clip the global gradient norm to this (0: off)"),
    STR("schedule", schedule, "constant", OPT_TRAIN, 1, "constant|step|exp|iwae",
        "learning-rate schedule over epochs (iwae: the IWAE paper's 8 stages, 3280 epochs)"),
    NUM(gamma, T_REAL, "0.5", 0, 1, OPT_TRAIN, "schedule decay factor"),
    {"step-size", T_INT, offsetof(cli_config, step_size), 0, "10", 1, 0, OPT_TRAIN, 1, NULL,
     "epochs between decays (--schedule step)", 0},
    STR("hidden", hidden, "400", OPT_TRAIN, 1, NULL,
        "hidden layer sizes, e.g. 400 or 200,200 (autoencoders: also none)"),
    STR("activation", activation, "relu", OPT_TRAIN, 1, "relu|tanh|sigmoid|softplus",
        "hidden activation"),
    {"latent", T_INT, offsetof(cli_config, latent), 0, "20", 1, 0, OPT_TRAIN, 1, NULL,
     "latent size (the autoencoders' code size)", 1 << 24},
    STR("likelihood", likelihood, "bernoulli", OPT_TRAIN, 1, "bernoulli|gaussian",
        "p(x|z) (autoencoders: BCE or squared-error reconstruction)"),
    STR("binarize", binarize, "none", OPT_TRAIN, 1, "none|static|dynamic", "input binarization"),
    NUM(seed, T_INT, "1", 0, 0, ALL, "random seed"),
    {"threads", T_INT, offsetof(cli_config, threads), 0, "0", 0, 0, ALL, 0, NULL,
     "OpenMP threads (0: $OMP_NUM_THREADS, else all cores)", 1024},
    STR("out", out, "", OPT_TRAIN | OPT_SAMPLE, 0, NULL,
        "train: run directory (default runs/KIND-SEED); sample: PNG file (default samples.png)"),
    STR("resume", resume, "", OPT_TRAIN, 0, NULL,
        "continue the run in this directory (its config is used; --epochs, --threads, --data may change)"),
    {"force", T_FLAG, offsetof(cli_config, force), 0, "0", 0, 0, OPT_TRAIN, 0, NULL,
     "let a fresh run overwrite a trained run (checkpoint.tdc) already in the --out directory", 0},
    /* 0 by default: the PyTorch example, the reference, trains on all 60000 */
    NUM(val, T_INT, "0", 0, 0, OPT_TRAIN,
        "held-out validation images, the last of the training file (e.g. 10000; 0: none)"),
    NUM(limit, T_INT, "0", 0, 0, OPT_TRAIN | OPT_EVAL, "use only the first N images of each file (0: all)"),
    {"input", T_INT, offsetof(cli_config, input), 0, "0", 0, 0, 0, 1, NULL,
     "values per image (set from the data; not a flag)", 0},
    STR("on-nan", on_nan, "stop", OPT_TRAIN, 0, "stop|skip",
        "when the loss or a gradient is NaN/Inf: stop (the last good checkpoint is kept) or skip the step"),
    {"same-bits-any-ranks", T_INT, offsetof(cli_config, same_bits), 0, "0", 0, 0, OPT_TRAIN, 0, NULL,
     "M: the gradient as micro-batches of M rows summed in one order: the same bits for any rank count "
     "under mpirun (0: off; give it again with --resume)", 1 << 20},
    STR("recipe", recipe, "none", OPT_TRAIN, CLI_IF_SET, "none|iwae",
        "iwae: the IWAE paper's training (--schedule iwae --optimizer adam-iwae --epochs 3280 "
        "--batch 20 --output-bias data --binarize dynamic); flags given override its parts"),
    STR("output-bias", output_bias, "init", OPT_TRAIN, CLI_IF_SET, "init|data",
        "vae, hvae: the output logits' bias from the init, or the logit of the mean training image"),
    {"iw-k", T_INT, offsetof(cli_config, iw_k), 0, "0", 0, 0, OPT_EVAL, 0, NULL,
     "also the importance-sampled negative log-likelihood with K samples (0: not)", 1 << 20},
    {"json", T_FLAG, offsetof(cli_config, json), 0, "0", 0, 0, OPT_EVAL, 0, NULL,
     "print one JSON object with the figures on stdout", 0},
    {"n", T_INT, offsetof(cli_config, n), 0, "64", 1, 0, OPT_SAMPLE, 0, NULL, "images in the grid", 65536},
};
static const cli_opts shared = {opts, (int)(sizeof opts / sizeof *opts)};
_Static_assert(sizeof opts / sizeof *opts < CLI_GIVEN_KIND_OPTION, "`given` has a slot per option");

/* The shared options named by a kind's defaults lines back to the shared
 * defaults (restore 1), or to the kind's (restore 0). */
static void kind_defaults(cli_config *c, const char *lines, int restore) {
    char key[64], v[128], why[256];
    for (const char *p = lines; p && sscanf(p, "%63s = %127s", key, v) == 2; p = strchr(p, '\n') + 1) {
        const int k = cli_opts_find(shared, key, 0);
        const int rc = k < 0 ? -1 : cli_opt_set(c, &opts[k], restore ? opts[k].def : v, why, sizeof why);
        TD_ASSERT(rc == 0, "bad defaults line '%s = %s' in a model row", key, v);
    }
}

int cli_config_set_kind(cli_config *c, const char *kind) {
    const cli_model *m = cli_model_find(kind), *was = cli_model_find(c->kind);
    if (!m) {
        td_set_error("unknown model kind '%s' (known: %s)", kind, cli_model_kinds());
        return -1;
    }
    /* a kind is set before the options, so its defaults replace the last kind's */
    if (was) kind_defaults(c, was->defaults, 1);
    kind_defaults(c, m->defaults, 0);
    snprintf(c->kind, sizeof c->kind, "%s", kind);
    memset(&c->model, 0, sizeof c->model);
    cli_opts_defaults(c->model.bytes, m->opts);
    return 0;
}

const cli_model *cli_config_model(const cli_config *c) {
    const cli_model *m = cli_model_find(c->kind);
    TD_ASSERT(m, "cli_config: kind '%s' was not set through cli_config_set_kind", c->kind);
    return m;
}

void cli_config_defaults(cli_config *c) {
    memset(c, 0, sizeof *c);
    cli_opts_defaults(c, shared);
    cli_config_set_kind(c, "vae");
}

int cli_option_index(const char *name) { return cli_opts_find(shared, name, 0); }

static const char *cmd_name(int cmd) {
    return cmd == OPT_TRAIN ? "train" : cmd == OPT_EVAL ? "eval" : "sample";
}

void cli_usage(FILE *f, int cmd, const char *prog) {
    if (cmd == OPT_TRAIN)
        fprintf(f, "usage: %s train KIND [options]    (KIND: %s)\n\n"
                   "Trains a model on MNIST-format data and writes a run directory:\n"
                   "config.txt, metrics.csv, checkpoint.tdc and PNG pictures.\n\n",
                prog, cli_model_kinds());
    else if (cmd == OPT_EVAL)
        fprintf(f, "usage: %s eval RUN_OR_CHECKPOINT [options]\n\n"
                   "Test-set loss per image (and its two terms); with --iw-k K the\n"
                   "importance-sampled negative log-likelihood.\n\n", prog);
    else
        fprintf(f, "usage: %s sample CHECKPOINT [options]\n\n"
                   "A PNG grid of images decoded from prior samples.\n\n", prog);
    fprintf(f, cmd == OPT_TRAIN ? "options of every kind:\n" : "options:\n");
    cli_opts_usage(f, shared, cmd);
    fprintf(f, "  %-22s this help\n", "--help");
    for (int i = 0; cmd == OPT_TRAIN && i < cli_n_models; i++) {
        const cli_model *m = cli_models[i];
        fprintf(f, "\n%s, %s:%s\n", m->kind, m->summary, m->opts.n ? "" : " no options of its own");
        char key[64], v[128];
        for (const char *p = m->defaults; p && sscanf(p, "%63s = %127s", key, v) == 2; p = strchr(p, '\n') + 1)
            fprintf(f, "  --%-20s defaults to %s for this kind\n", key, v);
        cli_opts_usage(f, m->opts, cmd);
    }
}

/* The row and index of a model option for train, in any kind; NULL if none. */
static const cli_model *kind_option(const char *name, int *index) {
    for (int i = 0; i < cli_n_models; i++)
        if ((*index = cli_opts_find(cli_models[i]->opts, name, OPT_TRAIN)) >= 0) return cli_models[i];
    return NULL;
}

/* train: the first positional argument (the kind), found before parsing so
 * that the kind's options are known wherever they stand. */
static const char *first_positional(int argc, char **argv, int first) {
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h")) continue;
        if (strncmp(a, "--", 2) || !a[2]) return a;
        if (strchr(a, '=')) continue;
        int k = cli_option_index(a + 2);
        if (k >= 0 ? opts[k].type != T_FLAG : kind_option(a + 2, &k) != NULL) i++; /* its value */
    }
    return NULL;
}

/* The option named key for cmd: a shared one, or one of the kind's (model
 * NULL: none). *base receives where it is stored. NULL with why if none. */
static const cli_opt *find_option(int cmd, const char *key, cli_config *c, const cli_model *model,
                                  void **base, int *index, char *why, size_t wlen) {
    int k = cli_opts_find(shared, key, cmd);
    if (k >= 0) {
        *base = c, *index = k;
        return &opts[k];
    }
    if (model && (k = cli_opts_find(model->opts, key, cmd)) >= 0) {
        *base = c->model.bytes, *index = CLI_GIVEN_KIND_OPTION;
        return &model->opts.opt[k];
    }
    const cli_model *other = cmd == OPT_TRAIN ? kind_option(key, &k) : NULL;
    if (other)
        snprintf(why, wlen, "--%s is an option of the %s model only", key, other->kind);
    else
        snprintf(why, wlen, "unknown option '--%s' for %s", key, cmd_name(cmd));
    return NULL;
}

int cli_parse(int cmd, const char *prog, int argc, char **argv, int first, cli_config *c,
              const char **positional, unsigned char *given) {
    char why[512];
    const cli_model *model = NULL;
    const char *kind = cmd == OPT_TRAIN ? first_positional(argc, argv, first) : NULL;
    if (kind && (model = cli_model_find(kind))) cli_config_set_kind(c, kind);
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_usage(stdout, cmd, prog);
            return -1;
        }
        if (strncmp(a, "--", 2) || !a[2]) {
            if (positional && !*positional) {
                *positional = a;
                continue;
            }
            snprintf(why, sizeof why, "unexpected argument '%s'", a);
            goto bad;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        char key[64];
        size_t klen = eq ? (size_t)(eq - name) : strlen(name);
        snprintf(key, sizeof key, "%.*s", (int)(klen < 63 ? klen : 63), name);
        void *base;
        int k;
        const cli_opt *o = find_option(cmd, key, c, model, &base, &k, why, sizeof why);
        if (!o) goto bad;
        const char *v = eq ? eq + 1 : NULL;
        if (o->type == T_FLAG) {
            if (v) {
                snprintf(why, sizeof why, "--%s takes no value", key);
                goto bad;
            }
            v = "1";
        }
        if (!v) {
            if (i + 1 >= argc) {
                snprintf(why, sizeof why, "--%s needs a value", key);
                goto bad;
            }
            v = argv[++i];
        }
        if (cli_opt_set(base, o, v, why, sizeof why)) goto bad;
        if (given) given[k] = 1;
    }
    return 0;
bad:
    fprintf(stderr, "%s %s: %s\n\n", prog, cmd_name(cmd), why);
    cli_usage(stderr, cmd, prog);
    return CLI_USAGE;
}

size_t cli_config_text(const cli_config *c, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "kind = %s\n", c->kind);
    n = cli_opts_text(c, shared, buf, n, len);
    return cli_opts_text(c->model.bytes, cli_config_model(c)->opts, buf, n, len);
}

/* Sets one "key = value" of a config text; 1 if the key is another kind's. */
static int config_key(cli_config *c, const char *key, const char *v, char *why, size_t wlen) {
    const cli_model *model = cli_config_model(c);
    int k = cli_opts_find(shared, key, 0);
    if (k >= 0 && opts[k].in_config) return cli_opt_set(c, &opts[k], v, why, wlen);
    if ((k = cli_opts_find(model->opts, key, 0)) >= 0)
        return cli_opt_set(c->model.bytes, &model->opts.opt[k], v, why, wlen);
    if (kind_option(key, &k)) return 1;
    snprintf(why, wlen, "unknown key '%.400s'", key);
    return -1;
}

int cli_config_from_text(cli_config *c, const char *text) {
    char line[2048], why[512];
    const char *p = text;
    int lineno = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        p += n + (nl ? 1 : 0);
        lineno++;
        if (!line[0] || line[0] == '#') continue;
        char *eq = strstr(line, " = ");
        if (!eq) {
            td_set_error("config line %d: expected 'key = value', found '%s'", lineno, line);
            return -1;
        }
        *eq = 0;
        const char *key = line, *v = eq + 3;
        if (!strcmp(key, "kind")) {
            if (cli_config_set_kind(c, v)) return -1;
        } else if (config_key(c, key, v, why, sizeof why) < 0) {
            td_set_error("config line %d: %s", lineno, why);
            return -1;
        }
    }
    return 0;
}

int cli_config_apply_recipe(cli_config *c, const unsigned char *given) {
    static const struct { const char *name, *value; } iwae[] = {
        {"schedule", "iwae"}, {"optimizer", "adam-iwae"}, {"lr", "1e-3"}, {"epochs", "3280"},
        {"batch", "20"}, {"output-bias", "data"}, {"binarize", "dynamic"},
    };
    if (strcmp(c->recipe, "iwae")) return 0;
    char why[256];
    for (size_t i = 0; i < sizeof iwae / sizeof *iwae; i++) {
        const int k = cli_option_index(iwae[i].name);
        TD_ASSERT(k >= 0, "recipe: no option '%s'", iwae[i].name);
        if (given && given[k]) continue; /* the user's own choice wins */
        if (cli_opt_set(c, &opts[k], iwae[i].value, why, sizeof why)) {
            td_set_error("recipe: %s", why);
            return -1;
        }
    }
    return 0;
}

int cli_config_over_limits(int cmd, const cli_config *c, char *msg, size_t len) {
    if (cli_opts_over_limit(c, shared, cmd, msg, len) ||
        cli_opts_over_limit(c->model.bytes, cli_config_model(c)->opts, cmd, msg, len))
        return 1;
    int64_t h[64];
    const int nh = cmd == OPT_TRAIN ? cli_parse_hidden(c->hidden, h, 64) : 0;
    for (int i = 0; i < nh; i++)
        if (h[i] > 1 << 24) {
            snprintf(msg, len, "--hidden: a layer of %lld units is too large (at most %d)", (long long)h[i],
                     1 << 24);
            return 1;
        }
    return 0;
}

int cli_config_check(const cli_config *c) {
    char why[512] = "";
    int64_t h[TD_MLP_MAX_LAYERS - 1];
    const cli_model *m = cli_model_find(c->kind);
    if (!m)
        snprintf(why, sizeof why, "unknown model kind '%s' (known: %s)", c->kind, cli_model_kinds());
    else if (cli_parse_hidden(c->hidden, h, TD_MLP_MAX_LAYERS - 1) < 0)
        snprintf(why, sizeof why, "--hidden: '%s' is not a comma-separated list of 1..%d positive sizes "
                 "(or 'none')", c->hidden, TD_MLP_MAX_LAYERS - 1);
    else if (m->check && m->check(c, why, sizeof why))
        ;
    else if (strcmp(c->output_bias, "init") && !m->output_bias)
        snprintf(why, sizeof why, "--output-bias %s: the %s model has no Bernoulli output bias to set%s",
                 c->output_bias, c->kind, strcmp(c->recipe, "none") ? " (--recipe sets it: add --output-bias init)" : "");
    else if (c->limit > 0 && c->val >= c->limit)
        snprintf(why, sizeof why, "--val %lld leaves no training images out of --limit %lld",
                 (long long)c->val, (long long)c->limit);
    if (!why[0]) return 0;
    fprintf(stderr, "tinyad train: %s\n\n", why);
    cli_usage(stderr, OPT_TRAIN, "tinyad");
    return CLI_USAGE;
}
