/* The option table: one row per flag gives its type, where it is stored,
 * its default, its limits and its help line. Parsing, validation, --help
 * and the config text of a run all walk this one table. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae.h"
#include "options.h"

typedef enum { T_INT, T_REAL, T_STR, T_FLAG } opt_type; /* FLAG: no value, sets 1 */

typedef struct opt {
    const char *name;
    opt_type type;
    size_t offset, size; /* where in cli_config; size for strings */
    const char *def;
    double min;          /* numbers: smallest allowed value */
    int strictly_above;  /* numbers: min itself not allowed */
    int cmds;            /* OPT_ bits */
    int in_config;       /* written to config.txt / the checkpoint */
    const char *choices; /* strings: "a|b|c", or NULL for free text */
    const char *help;
} opt;

#define NUM(field, type_, def, min, above, cmds, help) \
    {#field, type_, offsetof(cli_config, field), 0, def, min, above, cmds, 1, NULL, help}
#define STR(name, field, def, cmds, cfg, choices, help) \
    {name, T_STR, offsetof(cli_config, field), sizeof(((cli_config *)0)->field), def, 0, 0, cmds, cfg, choices, help}

static const opt opts[] = {
    STR("data", data, "", OPT_TRAIN | OPT_EVAL, 1, NULL,
        "dataset directory (MNIST-format IDX files; default: $TINYAD_DATA, then standard places)"),
    NUM(epochs, T_INT, "10", 1, 0, OPT_TRAIN, "training epochs"),
    NUM(batch, T_INT, "128", 1, 0, OPT_TRAIN, "mini-batch size (the loss is summed over it)"),
    NUM(lr, T_REAL, "1e-3", 0, 1, OPT_TRAIN, "learning rate"),
    STR("optimizer", optimizer, "adam", OPT_TRAIN, 1, "adam|adamw|sgd", "optimizer"),
    NUM(momentum, T_REAL, "0", 0, 0, OPT_TRAIN, "SGD momentum"),
    {"weight-decay", T_REAL, offsetof(cli_config, weight_decay), 0, "0", 0, 0, OPT_TRAIN, 1, NULL,
     "weight decay (L2 for sgd/adam, decoupled for adamw)"},
    NUM(clip, T_REAL, "0", 0, 0, OPT_TRAIN, "clip the global gradient norm to this (0: off)"),
    STR("schedule", schedule, "constant", OPT_TRAIN, 1, "constant|step|exp",
        "learning-rate schedule over epochs"),
    NUM(gamma, T_REAL, "0.5", 0, 1, OPT_TRAIN, "schedule decay factor"),
    {"step-size", T_INT, offsetof(cli_config, step_size), 0, "10", 1, 0, OPT_TRAIN, 1, NULL,
     "epochs between decays (--schedule step)"},
    STR("hidden", hidden, "400", OPT_TRAIN, 1, NULL,
        "hidden layer sizes, e.g. 400 or 200,200 (autoencoders: also none)"),
    STR("activation", activation, "relu", OPT_TRAIN, 1, "relu|tanh|sigmoid|softplus",
        "hidden activation"),
    NUM(latent, T_INT, "20", 1, 0, OPT_TRAIN, "latent size"),
    STR("likelihood", likelihood, "bernoulli", OPT_TRAIN, 1, "bernoulli|gaussian", "p(x|z)"),
    {"gauss-var", T_STR, offsetof(cli_config, gauss_var), sizeof(((cli_config *)0)->gauss_var),
     "learned", 0, 0, OPT_TRAIN, 1, NULL,
     "gaussian variance: 'learned' (per pixel) or a fixed log-variance, e.g. -4"},
    NUM(beta, T_REAL, "1", 0, 0, OPT_TRAIN, "weight of the KL term"),
    NUM(warmup, T_INT, "0", 0, 0, OPT_TRAIN, "epochs over which beta ramps up from 0"),
    NUM(samples, T_INT, "1", 1, 0, OPT_TRAIN, "samples of z per datapoint in the ELBO"),
    {"iw-k", T_INT, offsetof(cli_config, iw_k), 0, "0", 0, 0, OPT_TRAIN | OPT_EVAL, 1, NULL,
     "train: IWAE bound with K samples (0: ELBO); eval: importance-sampled NLL with K samples"},
    STR("binarize", binarize, "none", OPT_TRAIN, 1, "none|static|dynamic",
        "input binarization"),
    NUM(seed, T_INT, "1", 0, 0, OPT_TRAIN | OPT_EVAL | OPT_SAMPLE, "random seed"),
    {"threads", T_INT, offsetof(cli_config, threads), 0, "0", 0, 0, OPT_TRAIN | OPT_EVAL | OPT_SAMPLE,
     0, NULL, "OpenMP threads (0: $OMP_NUM_THREADS, else all cores)"},
    STR("out", out, "", OPT_TRAIN | OPT_SAMPLE, 0, NULL,
        "train: run directory (default runs/KIND-SEED); sample: PNG file (default samples.png)"),
    STR("resume", resume, "", OPT_TRAIN, 0, NULL,
        "continue the run in this directory (its config is used; --epochs, --threads, --data may change)"),
    {"force", T_FLAG, offsetof(cli_config, force), 0, "0", 0, 0, OPT_TRAIN, 0, NULL,
     "let a fresh run overwrite a trained run (checkpoint.tdc) already in the --out directory"},
    /* 0 by default: the PyTorch example, the reference, trains on all 60000 */
    NUM(val, T_INT, "0", 0, 0, OPT_TRAIN,
        "held-out validation images, the last of the training file (e.g. 10000; 0: none)"),
    NUM(limit, T_INT, "0", 0, 0, OPT_TRAIN | OPT_EVAL,
        "use only the first N images of each file (0: all)"),
    STR("noise", noise, "masking", OPT_TRAIN, 1, "masking|gaussian|salt-and-pepper",
        "dae: corruption of the inputs"),
    {"noise-level", T_REAL, offsetof(cli_config, noise_level), 0, "0.3", 0, 0, OPT_TRAIN, 1, NULL,
     "dae: fraction masked or flipped (masking, salt-and-pepper), or the Gaussian sd"},
    STR("sparsity", sparsity, "kl", OPT_TRAIN, 1, "kl|l1",
        "sae: KL(rho || mean activation) on sigmoid codes, or L1 on relu codes"),
    {"sparsity-weight", T_REAL, offsetof(cli_config, sparsity_weight), 0, "3", 0, 0, OPT_TRAIN, 1,
     NULL, "sae: weight of the sparsity penalty (beta for kl, lambda for l1)"},
    {"sparsity-target", T_REAL, offsetof(cli_config, sparsity_target), 0, "0.05", 0, 1, OPT_TRAIN, 1,
     NULL, "sae: target mean activation rho (kl), in (0, 1)"},
    {"input", T_INT, offsetof(cli_config, input), 0, "0", 0, 0, 0, 1, NULL,
     "values per image (set from the data; not a flag)"},
    STR("on-nan", on_nan, "stop", OPT_TRAIN, 0, "stop|skip",
        "when the loss or a gradient is NaN/Inf: stop (the last good checkpoint is kept) or skip the step"),
    {"json", T_FLAG, offsetof(cli_config, json), 0, "0", 0, 0, OPT_EVAL, 0, NULL,
     "print one JSON object with the figures on stdout"},
    {"n", T_INT, offsetof(cli_config, n), 0, "64", 1, 0, OPT_SAMPLE, 0, NULL, "images in the grid"},
};
#define N_OPTS ((int)(sizeof opts / sizeof *opts))


static void *field(cli_config *c, const opt *o) { return (char *)c + o->offset; }

static int set_value(cli_config *c, const opt *o, const char *v, char *why, size_t wlen) {
    if (o->type == T_STR) {
        if (strlen(v) >= o->size) {
            snprintf(why, wlen, "--%s: value too long (at most %zu characters)", o->name, o->size - 1);
            return -1;
        }
        if (o->choices) {
            int ok = 0;
            const char *p = o->choices;
            size_t n = strlen(v);
            while (*p) {
                const char *bar = strchr(p, '|');
                size_t len = bar ? (size_t)(bar - p) : strlen(p);
                if (len == n && !strncmp(p, v, n)) ok = 1;
                p += len + (bar ? 1 : 0);
            }
            if (!ok) {
                snprintf(why, wlen, "--%s: '%s' is not one of %s", o->name, v, o->choices);
                return -1;
            }
        }
        snprintf(field(c, o), o->size, "%s", v);
        return 0;
    }
    if (o->type == T_FLAG) {
        *(int64_t *)field(c, o) = strcmp(v, "0") != 0;
        return 0;
    }
    char *end;
    errno = 0;
    double x = o->type == T_INT ? (double)strtoll(v, &end, 10) : strtod(v, &end);
    if (!*v || *end || errno == ERANGE || !isfinite(x)) {
        snprintf(why, wlen, "--%s: '%s' is not %s", o->name, v,
                 o->type == T_INT ? "an integer" : "a finite number");
        return -1;
    }
    if (x < o->min || (o->strictly_above && x <= o->min)) {
        snprintf(why, wlen, "--%s: %s is too small (must be %s %g)", o->name, v,
                 o->strictly_above ? ">" : ">=", o->min);
        return -1;
    }
    if (o->type == T_INT)
        *(int64_t *)field(c, o) = strtoll(v, NULL, 10);
    else
        *(double *)field(c, o) = x;
    return 0;
}

void cli_config_defaults(cli_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->kind, sizeof c->kind, "vae");
    char why[256];
    for (int i = 0; i < N_OPTS; i++) {
        int rc = set_value(c, &opts[i], opts[i].def, why, sizeof why);
        TD_ASSERT(rc == 0, "bad default in the option table: %s", why);
    }
}

int cli_option_index(const char *name) {
    for (int i = 0; i < N_OPTS; i++)
        if (!strcmp(opts[i].name, name)) return i;
    return -1;
}

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
    fprintf(f, "options:\n");
    for (int i = 0; i < N_OPTS; i++) {
        const opt *o = &opts[i];
        if (!(o->cmds & cmd)) continue;
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s %s", o->name,
                 o->type == T_FLAG ? "" : o->type == T_INT ? "N" : o->type == T_REAL ? "X"
                 : o->choices ? "NAME" : "VALUE");
        if (o->type == T_FLAG) {
            fprintf(f, "  %-22s %s\n", lhs, o->help);
            continue;
        }
        const char *def = o->def[0] ? o->def : "none";
        if (cmd == OPT_EVAL && !strcmp(o->name, "seed")) def = "1";
        fprintf(f, "  %-22s %s (default: %s)\n", lhs, o->help, def);
        if (o->choices) fprintf(f, "  %-22s   one of: %s\n", "", o->choices);
    }
    fprintf(f, "  %-22s this help\n", "--help");
}

int cli_parse(int cmd, const char *prog, int argc, char **argv, int first, cli_config *c,
              const char **positional, unsigned char *given) {
    char why[512];
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
        int k = cli_option_index(key);
        if (k < 0 || !(opts[k].cmds & cmd)) {
            snprintf(why, sizeof why, "unknown option '--%s' for %s", key, cmd_name(cmd));
            goto bad;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (opts[k].type == T_FLAG) {
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
        if (set_value(c, &opts[k], v, why, sizeof why)) goto bad;
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
    for (int i = 0; i < N_OPTS && n < len; i++) {
        const opt *o = &opts[i];
        if (!o->in_config) continue;
        const void *p = (const char *)c + o->offset;
        if (o->type == T_INT)
            n += (size_t)snprintf(buf + n, len - n, "%s = %lld\n", o->name, (long long)*(const int64_t *)p);
        else if (o->type == T_REAL) { /* shortest text that reads back to the same double */
            char num[32];
            const double x = *(const double *)p;
            for (int digits = 6; digits <= 17; digits++) {
                snprintf(num, sizeof num, "%.*g", digits, x);
                if (strtod(num, NULL) == x) break;
            }
            n += (size_t)snprintf(buf + n, len - n, "%s = %s\n", o->name, num);
        }
        else
            n += (size_t)snprintf(buf + n, len - n, "%s = %s\n", o->name, (const char *)p);
    }
    return n;
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
            snprintf(c->kind, sizeof c->kind, "%s", v);
            continue;
        }
        int k = cli_option_index(key);
        if (k < 0 || !opts[k].in_config) {
            td_set_error("config line %d: unknown key '%s'", lineno, key);
            return -1;
        }
        if (set_value(c, &opts[k], v, why, sizeof why)) {
            td_set_error("config line %d: %s", lineno, why);
            return -1;
        }
    }
    return 0;
}

int cli_parse_hidden(const char *s, int64_t *sizes, int max) {
    int n = 0;
    const char *p = s;
    if (!strcmp(s, "none")) return 0; /* no hidden layer: input <-> code directly */
    if (!*p) return -1;
    for (;;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || errno == ERANGE || n == max) return -1;
        sizes[n++] = v;
        if (!*end) return n;
        if (*end != ',') return -1;
        p = end + 1;
    }
}

int cli_config_check(const cli_config *c) {
    char why[512] = "";
    int64_t h[TD_VAE_MAX_HIDDEN];
    if (!cli_model_find(c->kind))
        snprintf(why, sizeof why, "unknown model kind '%s' (known: %s)", c->kind, cli_model_kinds());
    else if (cli_parse_hidden(c->hidden, h, TD_VAE_MAX_HIDDEN) < 0)
        snprintf(why, sizeof why, "--hidden: '%s' is not a comma-separated list of 1..%d positive sizes "
                 "(or 'none')", c->hidden, TD_VAE_MAX_HIDDEN);
    else if (!strcmp(c->kind, "vae") && !strcmp(c->hidden, "none"))
        snprintf(why, sizeof why, "--hidden none: the vae needs at least one hidden layer");
    else if (strcmp(c->gauss_var, "learned")) {
        char *end;
        double v = strtod(c->gauss_var, &end);
        if (!c->gauss_var[0] || *end || !isfinite(v))
            snprintf(why, sizeof why, "--gauss-var: '%s' is neither 'learned' nor a number", c->gauss_var);
    }
    if (!why[0] && c->iw_k == 1)
        snprintf(why, sizeof why, "--iw-k 1 is the ELBO: use 0 (ELBO) or K >= 2");
    if (!why[0] && c->samples > 1 && c->iw_k > 1)
        snprintf(why, sizeof why, "--samples and --iw-k are alternatives: give one of them");
    if (!why[0] && c->sparsity_target >= 1)
        snprintf(why, sizeof why, "--sparsity-target %g: a mean sigmoid activation is below 1",
                 c->sparsity_target);
    if (!why[0] && strcmp(c->noise, "gaussian") && c->noise_level > 1)
        snprintf(why, sizeof why, "--noise-level %g: %s noise corrupts a fraction of the inputs, "
                 "at most 1", c->noise_level, c->noise);
    if (!why[0] && c->limit > 0 && c->val >= c->limit)
        snprintf(why, sizeof why, "--val %lld leaves no training images out of --limit %lld",
                 (long long)c->val, (long long)c->limit);
    if (!why[0]) return 0;
    fprintf(stderr, "tinyad train: %s\n\n", why);
    cli_usage(stderr, OPT_TRAIN, "tinyad");
    return CLI_USAGE;
}
