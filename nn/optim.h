/* Optimizers over a parameter set: SGD (momentum, Nesterov, weight decay),
 * Adam, AdamW, and the Adam of the IWAE paper's code; one fused pass over the contiguous parameter block per step.
 * Gradient clipping and learning-rate schedules. */
#ifndef TD_OPTIM_H
#define TD_OPTIM_H

#include "params.h"

/* TD_OPT_ADAM_IWAE is Adam as yburda/iwae's optimizers.py runs it (Burda et
 * al. 2016): second moments start at ones, eps is added to sqrt(v) with the
 * bias correction folded into the step size, and - Theano computes every
 * update from the values before the step - the parameters move by the
 * moments of the previous step:
 *   p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)   (t from 1)
 *   then m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 * Its defaults are the paper's: beta1 0.99, beta2 0.999, eps 1e-4. */
typedef enum td_optim_kind { TD_OPT_SGD, TD_OPT_ADAM, TD_OPT_ADAMW, TD_OPT_ADAM_IWAE } td_optim_kind;

typedef struct td_optim_config {
    td_optim_kind kind;
    double lr;
    double momentum;      /* SGD */
    int nesterov;         /* SGD */
    double weight_decay;  /* SGD and Adam: L2 added to the grad; AdamW: decoupled */
    double beta1, beta2, eps; /* Adam(W) */
    double clip_norm;     /* > 0: clip the global grad norm before the step */
} td_optim_config;

/* PyTorch's defaults for the kind (lr 1e-3 for Adam, 1e-2 for SGD). */
td_optim_config td_optim_defaults(td_optim_kind kind);
int td_optim_parse(const char *name); /* "sgd" | "adam" | "adamw" | "adam-iwae"; -1 if unknown */
const char *td_optim_name(td_optim_kind kind);

typedef struct td_optimizer {
    td_optim_config cfg;
    td_params *params;
    td_real *m, *v;   /* moment buffers, [params->total] each (v: Adam only) */
    int64_t steps;
} td_optimizer;

td_optimizer *td_optimizer_create(td_params *p, td_optim_config cfg);
void td_optimizer_destroy(td_optimizer *o);
/* One update with learning rate lr (from a schedule, or cfg.lr). Returns the
 * grad norm before clipping when clipping is on, else 0. */
double td_optimizer_step(td_optimizer *o, double lr);
/* Entries "optim.kind", "optim.config", "optim.steps", "optim.m", "optim.v"
 * (v for Adam(W) only). Load refuses a missing state, another optimizer kind
 * or moments of another size (td_error() says which) and then changes
 * nothing; on success it restores the moments, the step count and the saved
 * config (set o->cfg afterwards to change a hyperparameter on purpose). */
void td_optimizer_save(const td_optimizer *o, td_archive *a);
int td_optimizer_load(td_optimizer *o, const td_archive *a);

typedef enum td_schedule_kind { TD_SCHED_CONSTANT, TD_SCHED_STEP, TD_SCHED_EXP, TD_SCHED_IWAE } td_schedule_kind;
typedef struct td_schedule {
    td_schedule_kind kind;
    double gamma;       /* decay factor */
    int64_t step_size;  /* TD_SCHED_STEP: epochs between decays */
} td_schedule;
/* Learning rate for an epoch (0-based): base * gamma^(epoch / step_size)
 * for step, base * gamma^epoch for exp. iwae: the IWAE paper's 8 stages,
 * stage i = 1..8 running 3^(i-1) epochs (3280 in all) at
 * base * round(10^(1 - (i-1)/7), 1) / 10 - with base 1e-3 the paper's
 * 1e-4 * round(10^(1 - (i-1)/7), 1), from 1e-3 down to 1e-4; epochs past
 * the last stage stay at its rate. */
double td_schedule_lr(const td_schedule *s, double base_lr, int64_t epoch);
/* The iwae schedule's stage (1..8) of an epoch (0-based). */
int td_schedule_iwae_stage(int64_t epoch);
int td_schedule_parse(const char *name); /* "constant" | "step" | "exp" | "iwae"; -1 if unknown */
const char *td_schedule_name(td_schedule_kind kind);

#endif
