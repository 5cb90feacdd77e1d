/* libFuzzer harness: the checkpoint loader (td_checkpoint_open, _restore).
 *
 * Input encoding as in fuzz_archive.c (bit 0 of the first byte: even = the
 * file as it is, odd = [count][body] wrapped in a valid archive); bit 1
 * picks whether restore checks the model kind and config ("fuzz", FUZZ_CFG)
 * or skips them, so the fuzzer reaches the parameter, optimizer and RNG
 * loading either way.
 *
 * The model is fixed: parameters "enc.w" [3, 4] and "enc.b" [3], an Adam
 * optimizer and a generator. A checkpoint that opens must answer every
 * accessor; one that restores must save and load again to the same
 * parameters, optimizer state, RNG state and epoch. */
#include <math.h>

#include "fuzz.h"
#include "nn/checkpoint.h"

#define FUZZ_CFG "in=4\nout=3\n"

typedef struct model {
    td_params *p;
    td_optimizer *o;
    td_rng rng;
} model;

static void model_init(model *m) {
    m->p = td_params_create();
    td_params_add(m->p, "enc.w", TD_SHAPE(3, 4), (td_init){TD_INIT_PYTORCH, 4, 3});
    td_params_add(m->p, "enc.b", TD_SHAPE(3), (td_init){TD_INIT_PYTORCH, 4, 3});
    td_rng_init(&m->rng, 1);
    td_params_finalize(m->p, &m->rng);
    m->o = td_optimizer_create(m->p, td_optim_defaults(TD_OPT_ADAM));
}

static void model_release(model *m) {
    td_optimizer_destroy(m->o);
    td_params_destroy(m->p);
}

static int same_real(td_real a, td_real b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Used by make_corpus.c too: a real checkpoint of this model. */
int fuzz_checkpoint_seed(const char *path, uint64_t epoch);
int fuzz_checkpoint_seed(const char *path, uint64_t epoch) {
    model m;
    model_init(&m);
    for (int64_t i = 0; i < m.p->total; i++) m.p->grads[i] = (td_real)(i % 5) - 2;
    td_optimizer_step(m.o, 1e-3);
    td_ckpt_state s = {.kind = "fuzz", .config = FUZZ_CFG, .params = m.p, .optim = m.o,
                       .rng = &m.rng, .epoch = epoch};
    td_archive *a = td_checkpoint_pack(&s);
    td_checkpoint_put_u64(a, "best_epoch", epoch / 2);
    int rc = td_checkpoint_write(a, path);
    model_release(&m);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *path;
    if (data[0] & 1) {
        if (size < 2) return 0;
        path = fuzz_write_archive(0, data[1], data + 2, size - 2);
    } else {
        path = fuzz_write_tmp(0, data + 1, size - 1);
    }
    const int check_model = (data[0] & 2) != 0;

    td_checkpoint *c = td_checkpoint_open(path);
    if (!c) {
        const char *msg = td_error();
        FUZZ_CHECK(msg && *msg, "refused without a message");
        return 0;
    }
    const char *kind = td_checkpoint_kind(c), *cfg = td_checkpoint_config(c);
    if (kind) (void)strlen(kind);
    if (cfg) (void)strlen(cfg);
    (void)td_checkpoint_epoch(c);
    FUZZ_CHECK(td_checkpoint_version(c) == TD_CHECKPOINT_VERSION, "opened version %llu",
               (unsigned long long)td_checkpoint_version(c));
    FUZZ_CHECK(td_checkpoint_archive(c), "no archive");
    uint64_t v;
    (void)td_checkpoint_get_u64(c, "best_epoch", &v);
    size_t len;
    const uint8_t *extra = td_checkpoint_get_bytes(c, "best_epoch", &len);
    if (extra && len) (void)extra[len - 1];

    model m;
    model_init(&m);
    td_ckpt_state s = {.kind = check_model ? "fuzz" : NULL, .config = check_model ? FUZZ_CFG : NULL,
                       .params = m.p, .optim = m.o, .rng = &m.rng};
    int rc = td_checkpoint_restore(c, &s);
    td_checkpoint_close(c);
    if (rc != 0) {
        const char *msg = td_error();
        FUZZ_CHECK(msg && *msg, "restore refused without a message");
        model_release(&m);
        return 0;
    }

    /* Round trip: save what was restored, load it into a fresh model. */
    const char *again = fuzz_tmp_path(1);
    td_ckpt_state out = {.kind = "fuzz", .config = FUZZ_CFG, .params = m.p, .optim = m.o,
                         .rng = &m.rng, .epoch = s.epoch};
    FUZZ_CHECK(td_checkpoint_save(again, &out) == 0, "saving a restored state failed: %s",
               td_error());
    model m2;
    model_init(&m2);
    td_ckpt_state in = {.kind = "fuzz", .config = FUZZ_CFG, .params = m2.p, .optim = m2.o,
                        .rng = &m2.rng};
    FUZZ_CHECK(td_checkpoint_load(again, &in) == 0, "re-loading failed: %s", td_error());
    FUZZ_CHECK(in.epoch == s.epoch, "epoch %llu became %llu", (unsigned long long)s.epoch,
               (unsigned long long)in.epoch);
    for (int64_t i = 0; i < m.p->total; i++)
        FUZZ_CHECK(same_real(m.p->values[i], m2.p->values[i]), "parameter %lld changed",
                   (long long)i);
    for (int64_t i = 0; i < m.p->total; i++) {
        FUZZ_CHECK(same_real(m.o->m[i], m2.o->m[i]), "optimizer m[%lld] changed", (long long)i);
        FUZZ_CHECK(same_real(m.o->v[i], m2.o->v[i]), "optimizer v[%lld] changed", (long long)i);
    }
    FUZZ_CHECK(m.o->steps == m2.o->steps, "optimizer steps changed");
    const td_optim_config *k1 = &m.o->cfg, *k2 = &m2.o->cfg;
    const double d1[7] = {k1->lr, k1->momentum, k1->weight_decay, k1->beta1, k1->beta2, k1->eps,
                          k1->clip_norm};
    const double d2[7] = {k2->lr, k2->momentum, k2->weight_decay, k2->beta1, k2->beta2, k2->eps,
                          k2->clip_norm};
    for (int i = 0; i < 7; i++)
        FUZZ_CHECK(d1[i] == d2[i] || (isnan(d1[i]) && isnan(d2[i])),
                   "optimizer config field %d: %.17g became %.17g", i, d1[i], d2[i]);
    FUZZ_CHECK(k1->kind == k2->kind && k1->nesterov == k2->nesterov, "optimizer kind/nesterov");
    FUZZ_CHECK(memcmp(&m.rng, &m2.rng, sizeof m.rng) == 0, "RNG state changed");
    model_release(&m2);
    model_release(&m);
    return 0;
}
