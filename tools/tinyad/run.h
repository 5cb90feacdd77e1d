/* A run: its data, its model with parameters, and its directory (config,
 * metrics, the checkpoint with the run state to resume exactly). */
#ifndef TD_CLI_RUN_H
#define TD_CLI_RUN_H

#include "common.h"
#include "nn/checkpoint.h"

typedef struct run_data {
    char dir[1024];
    td_dataset train_all, test; /* owning */
    td_dataset train, val;      /* views of train_all */
} run_data;

/* Loads what the config asks for. want_train 0: the test set only.
 * Returns 0, CLI_USAGE (no data directory), or CLI_FAIL (bad files); d is
 * safe to release either way. */
int run_load_data(const cli_config *c, const char *data_flag, int want_train, int64_t test_limit,
                  run_data *d);
void run_release_data(run_data *d);

typedef struct run_model {
    const cli_model *ops;
    void *m;
    td_params *params;
    td_optimizer *opt; /* training only */
    td_tape *tape;
} run_model;

/* The model of c for images of `input` values, its parameters drawn from
 * the seed's init stream. -1 with td_error(). */
int run_build_model(const cli_config *c, int64_t input, int with_optimizer, run_model *rm);
void run_free_model(run_model *rm);
/* Figures over a whole dataset, per image (the model's eval_batch, in
 * batches of 128, no-grad). */
cli_terms run_eval_dataset(run_model *rm, const td_dataset *d, td_rng *rng);

/* The config a checkpoint was trained with: its kind, then its config text
 * over the defaults. -1 with td_error(). */
int run_config_from_checkpoint(cli_config *c, const td_checkpoint *ck);
/* RUN or RUN/checkpoint.tdc -> the model (no optimizer) and its config;
 * path receives the checkpoint's path. -1 with td_error() naming it. */
int run_open(const char *arg, cli_config *c, run_model *rm, int64_t input_hint, char *path, size_t plen);

/* What a checkpoint holds beyond the standard entries, to resume exactly,
 * also in the middle of an epoch. */
typedef struct run_extra {
    td_rng order_at_epoch_start, noise;
    uint64_t batches_done; /* in the current (unfinished) epoch; 0 at a boundary */
    double sums[3];        /* loss/recon/reg sums of those batches */
    uint64_t seen;         /* images in those batches */
} run_extra;

/* Reads every run-state entry into ex; -1 with td_error() naming the file
 * and the first missing entry. */
int run_get_state(const td_checkpoint *c, const char *path, run_extra *ex);
/* The first parameter holding a NaN/Inf value, or NULL. */
const char *run_non_finite_param(const td_params *p);
/* Writes the checkpoint (atomically) unless a parameter is NaN/Inf. -1 with
 * td_error(). */
int run_save_checkpoint(const char *path, const char *config_text, run_model *rm, td_rng *rng,
                        uint64_t epoch, const run_extra *ex);

/* mkdir -p; -1 with errno (ENOTDIR if a file is in the way). */
int run_mkdir_p(const char *dir);
/* Writes PATH.tmp and renames it over PATH, so a full disk or a crash
 * leaves the previous file whole. -1 with errno on failure. */
int run_write_text(const char *path, const char *text);
/* Reads the first `keep` data rows of metrics.csv into the curves and
 * rewrites the file with exactly those rows (a row written after the last
 * checkpoint is dropped, it will be recomputed). 0, -1 (missing or short),
 * -2 (could not rewrite it: errno). */
int run_reload_metrics(const char *path, int64_t keep, double *train, double *val);

#endif
