/* Checkpoints: the training state as named entries of one td_archive.
 * The archive does the hard parts (compression, CRC, temp file + rename);
 * this file decides the entry names and refuses mismatches clearly. */
#include "checkpoint.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FORMAT_NAME "tinyad-checkpoint"

struct td_checkpoint {
    td_archive *archive;
    char *path;
    uint64_t version, epoch;
    const char *kind, *config; /* owned by the archive */
};

/* td_error() prefixed with the checkpoint's path (the message is copied
 * first: td_set_error writes the same buffer). */
static void fail(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *path, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    td_set_error("checkpoint '%s': %s", path, msg);
}

/* ---- saving ------------------------------------------------------------------ */

td_archive *td_checkpoint_pack(const td_ckpt_state *s) {
    TD_ASSERT(s->kind && s->config && s->params, "td_checkpoint_pack: kind, config and params "
              "are required");
    td_archive *a = td_archive_create();
    td_archive_put_string(a, "checkpoint.format", FORMAT_NAME);
    td_archive_put_u64(a, "checkpoint.version", TD_CHECKPOINT_VERSION);
    td_archive_put_string(a, "checkpoint.real", TD_REAL_NAME);
    td_archive_put_string(a, "model.kind", s->kind);
    td_archive_put_string(a, "model.config", s->config);
    td_params_save(s->params, a, "param.");
    if (s->optim) td_optimizer_save(s->optim, a);
    if (s->rng) {
        td_archive_put_u64(a, "rng.seed", s->rng->seed);
        td_archive_put_u64(a, "rng.counter", s->rng->counter);
    }
    td_archive_put_u64(a, "train.epoch", s->epoch);
    return a;
}

static void extra_name(char *buf, size_t len, const char *name) {
    int n = snprintf(buf, len, "extra.%s", name);
    TD_ASSERT(n > 0 && (size_t)n < len, "checkpoint extra name '%s' is too long", name);
}

void td_checkpoint_put_u64(td_archive *a, const char *name, uint64_t v) {
    char key[256];
    extra_name(key, sizeof key, name);
    td_archive_put_u64(a, key, v);
}

void td_checkpoint_put_bytes(td_archive *a, const char *name, const void *data, size_t len) {
    char key[256];
    extra_name(key, sizeof key, name);
    td_archive_put_bytes(a, key, data, len);
}

int td_checkpoint_write(td_archive *a, const char *path) {
    int rc = td_archive_write(a, path); /* its message already names the file */
    td_archive_destroy(a);
    return rc;
}

int td_checkpoint_save(const char *path, const td_ckpt_state *s) {
    return td_checkpoint_write(td_checkpoint_pack(s), path);
}

/* ---- loading ------------------------------------------------------------------ */

static char *copy_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = td_alloc(n);
    memcpy(d, s, n);
    return d;
}

td_checkpoint *td_checkpoint_open(const char *path) {
    td_archive *a = td_archive_read(path); /* missing / truncated / corrupt: its message */
    if (!a) return NULL;
    const char *format = td_archive_get_string(a, "checkpoint.format");
    uint64_t version = 0, epoch = 0;
    const char *kind = td_archive_get_string(a, "model.kind");
    const char *config = td_archive_get_string(a, "model.config");
    if (!format || strcmp(format, FORMAT_NAME) != 0) {
        fail(path, "this is a tinyad archive but not a checkpoint (no '%s' format entry)",
             FORMAT_NAME);
    } else if (td_archive_get_u64(a, "checkpoint.version", &version) != 0) {
        fail(path, "the format version entry is missing");
    } else if (version != TD_CHECKPOINT_VERSION) {
        fail(path, "format version %llu, but this build reads version %d: %s",
             (unsigned long long)version, TD_CHECKPOINT_VERSION,
             version > TD_CHECKPOINT_VERSION ? "it was written by a newer tinyad; use that one"
                                             : "it was written by an older tinyad; retrain");
    } else if (!kind || !config) {
        fail(path, "the model kind or config entry is missing");
    } else if (td_archive_get_u64(a, "train.epoch", &epoch) != 0) {
        fail(path, "the epoch entry is missing");
    } else {
        td_checkpoint *c = td_alloc_zero(sizeof *c);
        c->archive = a;
        c->path = copy_str(path);
        c->version = version;
        c->epoch = epoch;
        c->kind = kind;
        c->config = config;
        return c;
    }
    td_archive_destroy(a);
    return NULL;
}

void td_checkpoint_close(td_checkpoint *c) {
    if (!c) return;
    td_archive_destroy(c->archive);
    td_free(c->path);
    td_free(c);
}

const char *td_checkpoint_kind(const td_checkpoint *c) { return c->kind; }
const char *td_checkpoint_config(const td_checkpoint *c) { return c->config; }
uint64_t td_checkpoint_epoch(const td_checkpoint *c) { return c->epoch; }
uint64_t td_checkpoint_version(const td_checkpoint *c) { return c->version; }
const td_archive *td_checkpoint_archive(const td_checkpoint *c) { return c->archive; }

/* The first line where two config texts differ, as "'a' vs 'b'". */
static void first_difference(const char *a, const char *b, char *out, size_t len) {
    while (*a || *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || strncmp(a, b, la) != 0) {
            snprintf(out, len, "the file has '%.*s' where this model has '%.*s'", (int)la, a,
                     (int)lb, b);
            return;
        }
        a += la + (a[la] == '\n'), b += lb + (b[lb] == '\n');
    }
    snprintf(out, len, "they differ in line endings");
}

int td_checkpoint_restore(td_checkpoint *c, td_ckpt_state *s) {
    TD_ASSERT(s->params, "td_checkpoint_restore: params are required");
    const td_archive *a = c->archive;
    char msg[1024];
    if (s->kind && strcmp(s->kind, c->kind) != 0) {
        fail(c->path, "it holds a '%s' model, not a '%s' one", c->kind, s->kind);
        return -1;
    }
    if (s->config && strcmp(s->config, c->config) != 0) {
        first_difference(c->config, s->config, msg, sizeof msg);
        fail(c->path, "the model config differs from the one it was saved with: %s; build the "
             "model from the checkpoint's config (or drop the options that change it)", msg);
        return -1;
    }
    uint64_t seed = 0, counter = 0;
    int has_rng = td_archive_get_u64(a, "rng.seed", &seed) == 0 &&
                  td_archive_get_u64(a, "rng.counter", &counter) == 0;
    if (s->rng && !has_rng) {
        fail(c->path, "it has no random-generator state, so training cannot resume exactly");
        return -1;
    }
    if (s->optim && !td_archive_get_string(a, "optim.kind")) {
        fail(c->path, "it has no optimizer state (saved for evaluation only), so training "
             "cannot resume from it");
        return -1;
    }
    if (td_params_load(s->params, a, "param.") != 0 ||
        (s->optim && td_optimizer_load(s->optim, a) != 0)) {
        snprintf(msg, sizeof msg, "%s", td_error());
        fail(c->path, "%s", msg);
        return -1;
    }
    if (s->rng) s->rng->seed = seed, s->rng->counter = counter;
    s->epoch = c->epoch;
    return 0;
}

int td_checkpoint_load(const char *path, td_ckpt_state *s) {
    td_checkpoint *c = td_checkpoint_open(path);
    if (!c) return -1;
    int rc = td_checkpoint_restore(c, s);
    td_checkpoint_close(c);
    return rc;
}

int td_checkpoint_get_u64(const td_checkpoint *c, const char *name, uint64_t *v) {
    char key[256];
    extra_name(key, sizeof key, name);
    return td_archive_get_u64(c->archive, key, v);
}

const void *td_checkpoint_get_bytes(const td_checkpoint *c, const char *name, size_t *len) {
    char key[256];
    extra_name(key, sizeof key, name);
    return td_archive_get_bytes(c->archive, key, len);
}
