/* Option tables: parsing a value, defaults, --help lines, config text and
 * limits, for any table (the shared options in config.c, each model kind's
 * in models.c). */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void *field(void *base, const cli_opt *o) { return (char *)base + o->offset; }

/* 1 if v is one of the "a|b|c" choices. */
static int is_choice(const char *choices, const char *v) {
    const size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        const size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return 1;
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

int cli_opt_set(void *base, const cli_opt *o, const char *v, char *why, size_t wlen) {
    if (o->type == T_STR) {
        if (strlen(v) >= o->size) {
            snprintf(why, wlen, "--%s: value too long (at most %zu characters)", o->name, o->size - 1);
            return -1;
        }
        if (o->choices && !is_choice(o->choices, v)) {
            snprintf(why, wlen, "--%s: '%s' is not one of %s", o->name, v, o->choices);
            return -1;
        }
        snprintf(field(base, o), o->size, "%s", v);
        return 0;
    }
    if (o->type == T_FLAG) {
        *(int64_t *)field(base, o) = strcmp(v, "0") != 0;
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
        *(int64_t *)field(base, o) = strtoll(v, NULL, 10);
    else
        *(double *)field(base, o) = x;
    return 0;
}

void cli_opts_defaults(void *base, cli_opts t) {
    char why[256];
    for (int i = 0; i < t.n; i++) {
        int rc = cli_opt_set(base, &t.opt[i], t.opt[i].def, why, sizeof why);
        TD_ASSERT(rc == 0, "bad default in an option table: %s", why);
    }
}

int cli_opts_find(cli_opts t, const char *name, int cmds) {
    for (int i = 0; i < t.n; i++)
        if (!strcmp(t.opt[i].name, name) && (!cmds || (t.opt[i].cmds & cmds))) return i;
    return -1;
}

void cli_opts_usage(FILE *f, cli_opts t, int cmd) {
    for (int i = 0; i < t.n; i++) {
        const cli_opt *o = &t.opt[i];
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
}

size_t cli_opts_text(const void *base, cli_opts t, char *buf, size_t n, size_t len) {
    for (int i = 0; i < t.n && n < len; i++) {
        const cli_opt *o = &t.opt[i];
        if (!o->in_config) continue;
        const void *p = (const char *)base + o->offset;
        if (o->in_config == CLI_IF_SET && o->type == T_STR && !strcmp((const char *)p, o->def)) continue;
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
        } else
            n += (size_t)snprintf(buf + n, len - n, "%s = %s\n", o->name, (const char *)p);
    }
    return n;
}

/* Sizes past the limits overflow int64 shapes or the OpenMP runtime (which
 * crashes at ~100000 threads) long before they are useful. */
int cli_opts_over_limit(const void *base, cli_opts t, int cmd, char *msg, size_t len) {
    for (int i = 0; i < t.n; i++) {
        const cli_opt *o = &t.opt[i];
        if (!o->max || !(o->cmds & cmd)) continue;
        const int64_t v = *(const int64_t *)((const char *)base + o->offset);
        if (v <= o->max) continue;
        snprintf(msg, len, "--%s %lld is too large (at most %lld)", o->name, (long long)v,
                 (long long)o->max);
        return 1;
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
