/* The pictures of a run directory (PNG), and the drawing they are made of. */
#ifndef TD_CLI_PICS_H
#define TD_CLI_PICS_H

#include "run.h"

/* The most test images a picture shows (latent.png): all a training run
 * loads of the test set. */
enum { PICTURE_TEST_IMAGES = 5000 };

/* samples.png (models with a prior), recon.png, filters.png (models with
 * filters), latent.png, manifold.png (prior, latent size 2) and curve.png
 * into dir; a picture that cannot be written is reported and skipped. */
void run_write_pictures(const char *dir, run_model *rm, const run_data *d, const double *train_curve,
                        const double *val_curve, int64_t n_epochs, uint64_t seed);

/* Images [n, h*w] in [0, 1] as a grid with `cols` columns. */
int cli_png_grid(const char *path, const td_real *x, int64_t n, int64_t h, int64_t w, int64_t cols);
/* 2-D points coloured by label (0..9), with a frame. */
int cli_png_scatter(const char *path, const double *xy, const uint8_t *labels, int64_t n);
/* Learning curves: train and val per epoch (val may be NULL or NaN). */
int cli_png_curve(const char *path, const double *train, const double *val, int64_t n);
/* First two principal components of codes [n, d] -> xy [n, 2]. */
void cli_project2(const td_real *codes, int64_t n, int64_t d, double *xy);
/* Standard-normal quantile (inverse CDF) of p in (0, 1). */
double cli_probit(double p);

#endif
