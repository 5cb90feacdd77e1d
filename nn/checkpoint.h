/* Checkpoints: a whole training state in one file.
 *
 * A checkpoint is a td_archive (compressed, CRC-checked, written to a
 * temporary file and renamed) with the entries listed in docs/formats.md
 * ("Checkpoints"): format version, model kind and config text, parameters,
 * optimizer state, RNG state, epoch, and any "extra." entries the caller
 * adds.
 *
 * Saving, the common case:
 *
 *     td_ckpt_state s = {.kind = "vae", .config = cfg_text, .params = p,
 *                        .optim = opt, .rng = &rng, .epoch = epochs_done};
 *     if (td_checkpoint_save(path, &s) != 0) fprintf(stderr, "%s\n", td_error());
 *
 * With extra entries: a = td_checkpoint_pack(&s); td_checkpoint_put_u64(a,
 * "best_epoch", 7); td_checkpoint_write(a, path) (which destroys a).
 *
 * Loading is two steps, so the model can be built from the file:
 *
 *     td_checkpoint *c = td_checkpoint_open(path);      // NULL: td_error()
 *     build the model from td_checkpoint_kind(c) and td_checkpoint_config(c)
 *     td_ckpt_state s = {.kind = "vae", .config = my_cfg_text, .params = p,
 *                        .optim = opt, .rng = &rng};
 *     if (td_checkpoint_restore(c, &s) != 0) ... td_error()
 *     s.epoch is now the saved epoch
 *     td_checkpoint_close(c);
 *
 * Every refusal leaves a message in td_error() that starts with the path. */
#ifndef TD_CHECKPOINT_H
#define TD_CHECKPOINT_H

#include "optim.h"

/* Bump when the entries change meaning; older files are then refused with a
 * message rather than misread. */
#define TD_CHECKPOINT_VERSION 1

/* The parts of a training state. The caller owns everything pointed to. */
typedef struct td_ckpt_state {
    const char *kind;      /* model kind, e.g. "vae" (restore: NULL skips the check) */
    const char *config;    /* model config text, e.g. key=value lines; restore compares it
                              byte for byte (NULL skips the check) */
    td_params *params;     /* required */
    td_optimizer *optim;   /* NULL: not saved / not restored (evaluation) */
    td_rng *rng;           /* NULL: not saved / not restored */
    uint64_t epoch;        /* save: written; restore: set from the file */
} td_ckpt_state;

/* ---- saving ---- */
/* Build, write (atomically) and free the archive. 0 or -1 (td_error()). */
int td_checkpoint_save(const char *path, const td_ckpt_state *s);
/* The archive with every standard entry, for a caller that adds extras. */
td_archive *td_checkpoint_pack(const td_ckpt_state *s);
/* Caller entries, stored as "extra.<name>". */
void td_checkpoint_put_u64(td_archive *a, const char *name, uint64_t v);
void td_checkpoint_put_bytes(td_archive *a, const char *name, const void *data, size_t len);
/* Write a packed archive to path and destroy it (also on failure). */
int td_checkpoint_write(td_archive *a, const char *path);

/* ---- loading ---- */
typedef struct td_checkpoint td_checkpoint;

/* Reads and verifies the file (archive errors: missing, truncated, corrupt,
 * pass through) and checks it is a checkpoint of a version this build reads.
 * NULL on failure. */
td_checkpoint *td_checkpoint_open(const char *path);
void td_checkpoint_close(td_checkpoint *c);
const char *td_checkpoint_kind(const td_checkpoint *c);
const char *td_checkpoint_config(const td_checkpoint *c);
uint64_t td_checkpoint_epoch(const td_checkpoint *c);
uint64_t td_checkpoint_version(const td_checkpoint *c);
/* The underlying archive (read only), for anything not covered here. */
const td_archive *td_checkpoint_archive(const td_checkpoint *c);

/* Check kind and config against s (when given) and that the file holds an
 * optimizer / RNG state when s asks for one; then load the parameters (every
 * name and shape checked before any is copied), the optimizer state (if
 * s->optim; kind and sizes checked first), the RNG state (if s->rng) and set
 * s->epoch. Refuses a mismatch with a message naming the first difference.
 * The checks before the parameters change nothing; a refused optimizer state
 * comes after the parameters were loaded, so discard the model then. */
int td_checkpoint_restore(td_checkpoint *c, td_ckpt_state *s);
/* open + restore + close. */
int td_checkpoint_load(const char *path, td_ckpt_state *s);

/* Caller entries ("extra.<name>"); -1 / NULL if absent. */
int td_checkpoint_get_u64(const td_checkpoint *c, const char *name, uint64_t *v);
const void *td_checkpoint_get_bytes(const td_checkpoint *c, const char *name, size_t *len);

#endif
