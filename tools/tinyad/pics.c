/* Pictures of a run: image grids, the latent scatter, the learning curve.
 * Plain rasterizing into byte buffers, written with td_png_write. */
#include "pics.h"

#include <math.h>
#include <string.h>

#include "tensor/io.h"

int cli_png_grid(const char *path, const td_real *x, int64_t n, int64_t h, int64_t w, int64_t cols) {
    const int64_t pad = 2, rows = (n + cols - 1) / cols;
    const int64_t W = cols * (w + pad) + pad, H = rows * (h + pad) + pad;
    uint8_t *px = td_alloc_zero((size_t)(W * H));
    memset(px, 40, (size_t)(W * H)); /* dark gray gutters */
    for (int64_t i = 0; i < n; i++) {
        const int64_t oy = pad + (i / cols) * (h + pad), ox = pad + (i % cols) * (w + pad);
        for (int64_t y = 0; y < h; y++)
            for (int64_t xx = 0; xx < w; xx++) {
                double v = x[i * h * w + y * w + xx];
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                px[(oy + y) * W + ox + xx] = (uint8_t)lround(255 * v);
            }
    }
    int rc = td_png_write(path, W, H, 1, px);
    td_free(px);
    return rc;
}

/* Ten distinguishable colours (Tableau 10), one per label. */
static const uint8_t palette[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
    {140, 86, 75}, {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

typedef struct canvas {
    int64_t w, h;
    uint8_t *px; /* RGB */
} canvas;

static canvas canvas_new(int64_t w, int64_t h) {
    canvas c = {w, h, td_alloc((size_t)(w * h * 3))};
    memset(c.px, 255, (size_t)(w * h * 3));
    return c;
}

static void plot(canvas *c, int64_t x, int64_t y, const uint8_t rgb[3]) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    memcpy(c->px + (y * c->w + x) * 3, rgb, 3);
}

static void line(canvas *c, double x0, double y0, double x1, double y1, const uint8_t rgb[3], int thick) {
    const double len = fmax(fabs(x1 - x0), fabs(y1 - y0));
    const int steps = (int)len + 1;
    for (int i = 0; i <= steps; i++) {
        const double t = (double)i / steps;
        const int64_t x = lround(x0 + t * (x1 - x0)), y = lround(y0 + t * (y1 - y0));
        for (int dy = 0; dy < thick; dy++)
            for (int dx = 0; dx < thick; dx++) plot(c, x + dx - thick / 2, y + dy - thick / 2, rgb);
    }
}

/* A 3x5 pixel font for digits, '.', '-' and 'e': enough to label axes. */
static const char *glyph(char ch) {
    static const char *digits[10] = {"111101101101111", "010110010010111", "111001111100111",
                                     "111001111001111", "101101111001001", "111100111001111",
                                     "111100111101111", "111001001001001", "111101111101111",
                                     "111101111001111"};
    if (ch >= '0' && ch <= '9') return digits[ch - '0'];
    if (ch == '.') return "000000000000010";
    if (ch == '-') return "000000111000000";
    if (ch == 'e') return "000111111100111";
    return "000000000000000";
}

static void text(canvas *c, int64_t x, int64_t y, const char *s, int scale) {
    static const uint8_t black[3] = {0, 0, 0};
    for (; *s; s++, x += 4 * scale) {
        const char *g = glyph(*s);
        for (int r = 0; r < 5; r++)
            for (int k = 0; k < 3; k++)
                if (g[r * 3 + k] == '1')
                    for (int a = 0; a < scale; a++)
                        for (int b = 0; b < scale; b++) plot(c, x + k * scale + b, y + r * scale + a, black);
    }
}

static int canvas_write(canvas *c, const char *path) {
    int rc = td_png_write(path, c->w, c->h, 3, c->px);
    td_free(c->px);
    return rc;
}

int cli_png_scatter(const char *path, const double *xy, const uint8_t *labels, int64_t n) {
    const int64_t S = 600, m = 20;
    canvas c = canvas_new(S, S);
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) lo[k] = fmin(lo[k], xy[2 * i + k]), hi[k] = fmax(hi[k], xy[2 * i + k]);
    for (int k = 0; k < 2; k++)
        if (!(hi[k] > lo[k])) lo[k] -= 1, hi[k] += 1;
    static const uint8_t gray[3] = {160, 160, 160};
    line(&c, m, m, S - m, m, gray, 1);
    line(&c, S - m, m, S - m, S - m, gray, 1);
    line(&c, S - m, S - m, m, S - m, gray, 1);
    line(&c, m, S - m, m, m, gray, 1);
    for (int64_t i = 0; i < n; i++) {
        const double u = (xy[2 * i] - lo[0]) / (hi[0] - lo[0]), v = (xy[2 * i + 1] - lo[1]) / (hi[1] - lo[1]);
        const int64_t px = m + 2 + lround(u * (double)(S - 2 * m - 4));
        const int64_t py = S - m - 2 - lround(v * (double)(S - 2 * m - 4));
        const uint8_t *col = palette[labels[i] % 10];
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) plot(&c, px + dx, py + dy, col);
    }
    /* a legend: label colours from 0 to 9 along the top */
    for (int d = 0; d < 10; d++) {
        char s[2] = {(char)('0' + d), 0};
        for (int dy = 0; dy < 8; dy++)
            for (int dx = 0; dx < 8; dx++) plot(&c, m + 40 * d + dx, 6 + dy - 2, palette[d]);
        text(&c, m + 40 * d + 11, 4, s, 2);
    }
    return canvas_write(&c, path);
}

int cli_png_curve(const char *path, const double *train, const double *val, int64_t n) {
    const int64_t W = 640, H = 400, L = 70, R = 20, T = 20, B = 40;
    canvas c = canvas_new(W, H);
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(train[i])) lo = fmin(lo, train[i]), hi = fmax(hi, train[i]);
        if (val && isfinite(val[i])) lo = fmin(lo, val[i]), hi = fmax(hi, val[i]);
    }
    if (!(hi > lo)) lo -= 1, hi += 1;
    const double pad = 0.05 * (hi - lo);
    lo -= pad, hi += pad;
    static const uint8_t black[3] = {0, 0, 0}, grid[3] = {225, 225, 225};
    static const uint8_t blue[3] = {31, 119, 180}, orange[3] = {255, 127, 14};
    /* y grid and labels at 5 levels, x labels at the first and last epoch */
    for (int k = 0; k <= 4; k++) {
        const double yv = lo + (hi - lo) * k / 4, y = (double)(H - B) - (double)(H - B - T) * k / 4;
        line(&c, L, y, W - R, y, grid, 1);
        char s[32];
        snprintf(s, sizeof s, "%.1f", yv);
        text(&c, 4, lround(y) - 5, s, 2);
    }
    line(&c, L, T, L, H - B, black, 1);
    line(&c, L, H - B, W - R, H - B, black, 1);
    const double span = n > 1 ? (double)(n - 1) : 1;
    for (int64_t e = 0; e < n; e++) { /* ticks at each epoch */
        const double x = L + (double)(W - L - R) * (double)e / span;
        line(&c, x, H - B, x, H - B + 4, black, 1);
    }
    char s[32];
    snprintf(s, sizeof s, "1");
    text(&c, L - 2, H - B + 10, s, 2);
    snprintf(s, sizeof s, "%lld", (long long)n);
    text(&c, W - R - 8 * (int64_t)strlen(s), H - B + 10, s, 2);
    for (int which = 0; which < 2; which++) {
        const double *ys = which ? val : train;
        if (!ys) continue;
        double px = NAN, py = NAN;
        for (int64_t e = 0; e < n; e++) {
            if (!isfinite(ys[e])) continue;
            const double x = L + (double)(W - L - R) * (double)e / span;
            const double y = (double)(H - B) - (double)(H - B - T) * (ys[e] - lo) / (hi - lo);
            if (isfinite(px)) line(&c, px, py, x, y, which ? orange : blue, 2);
            else line(&c, x, y, x, y, which ? orange : blue, 3);
            px = x, py = y;
        }
    }
    /* legend: blue = train, orange = validation */
    line(&c, W - R - 110, T + 10, W - R - 80, T + 10, blue, 3);
    line(&c, W - R - 110, T + 25, W - R - 80, T + 25, orange, 3);
    return canvas_write(&c, path);
}

void cli_project2(const td_real *codes, int64_t n, int64_t d, double *xy) {
    if (d == 1) {
        for (int64_t i = 0; i < n; i++) xy[2 * i] = codes[i], xy[2 * i + 1] = 0;
        return;
    }
    if (d == 2) {
        for (int64_t i = 0; i < 2 * n; i++) xy[i] = codes[i];
        return;
    }
    /* Covariance, then the top two eigenvectors by power iteration with
     * deflation (d is small: the latent size). */
    double *mean = td_alloc_zero(sizeof(double) * (size_t)d);
    double *cov = td_alloc_zero(sizeof(double) * (size_t)(d * d));
    double *v[2] = {td_alloc(sizeof(double) * (size_t)d), td_alloc(sizeof(double) * (size_t)d)};
    double *tmp = td_alloc(sizeof(double) * (size_t)d);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) mean[j] += codes[i * d + j] / (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = 0; b < d; b++)
                cov[a * d + b] += (codes[i * d + a] - mean[a]) * (codes[i * d + b] - mean[b]);
    for (int k = 0; k < 2; k++) {
        for (int64_t j = 0; j < d; j++) v[k][j] = 1.0 / (1.0 + (double)j + 7.0 * k); /* fixed start */
        double lambda = 0;
        for (int it = 0; it < 300; it++) {
            for (int64_t a = 0; a < d; a++) {
                double s = 0;
                for (int64_t b = 0; b < d; b++) s += cov[a * d + b] * v[k][b];
                tmp[a] = s;
            }
            double norm = 0;
            for (int64_t a = 0; a < d; a++) norm += tmp[a] * tmp[a];
            norm = sqrt(norm);
            if (norm == 0) break;
            for (int64_t a = 0; a < d; a++) v[k][a] = tmp[a] / norm;
            lambda = norm;
        }
        for (int64_t a = 0; a < d; a++) /* deflate */
            for (int64_t b = 0; b < d; b++) cov[a * d + b] -= lambda * v[k][a] * v[k][b];
    }
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            double s = 0;
            for (int64_t j = 0; j < d; j++) s += (codes[i * d + j] - mean[j]) * v[k][j];
            xy[2 * i + k] = s;
        }
    td_free(mean);
    td_free(cov);
    td_free(v[0]);
    td_free(v[1]);
    td_free(tmp);
}

/* Acklam's rational approximation of the normal quantile (rel. error ~1e-9). */
double cli_probit(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double pl = 0.02425;
    if (p < pl) {
        const double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - pl) return -cli_probit(1 - p);
    const double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* ---- the pictures of a run ------------------------------------------------------------ */


static void picture(const char *dir, const char *name, int rc) {
    if (rc) fprintf(stderr, "tinyad: could not write %s/%s: %s\n", dir, name, td_error());
}

void run_write_pictures(const char *dir, run_model *rm, const run_data *d, const double *train_curve,
                        const double *val_curve, int64_t n_epochs, uint64_t seed) {
    char path[4200];
    td_tape *t = rm->tape;
    const td_dataset *test = &d->test;
    const int64_t h = test->height, w = test->width, dim = test->dim;
    td_rng base, r;
    td_rng_init(&base, seed);
    r = td_rng_stream(&base, RNG_EVAL - 1);
    /* test images as values, 500 at a time (the most any picture uses at once) */
    const int64_t chunk = test->n < 500 ? test->n : 500;
    td_real *xs = td_alloc(sizeof(td_real) * (size_t)(chunk * dim));
    if (rm->ops->sample) {
        td_tape_reset(t);
        td_var *x = rm->ops->sample(rm->m, t, 64, &r);
        snprintf(path, sizeof path, "%s/samples.png", dir);
        picture(dir, "samples.png", cli_png_grid(path, x->value.data, 64, h, w, 8));
    }
    { /* groups of rows: 8 test inputs, (the corrupted inputs a denoiser
       * sees,) their reconstructions */
        const int64_t n = test->n < 32 ? test->n : 32;
        td_tape_reset(t);
        td_var *rows[3];
        int n_rows = 0;
        td_dataset_rows(test, 0, n, xs);
        td_var *x = rows[n_rows++] = td_const(t, td_tensor_wrap(TD_SHAPE(n, dim), xs));
        if (rm->ops->corrupt) x = rows[n_rows++] = rm->ops->corrupt(rm->m, t, x, &r);
        rows[n_rows++] = rm->ops->reconstruct(rm->m, t, x);
        td_real *grid = td_alloc(sizeof(td_real) * (size_t)(n_rows * (n + 8) * dim));
        int64_t k = 0;
        for (int64_t r0 = 0; r0 < n; r0 += 8) {
            const int64_t c = n - r0 < 8 ? n - r0 : 8;
            for (int src = 0; src < n_rows; src++)
                for (int64_t j = 0; j < 8; j++, k++) {
                    td_real *dst = grid + k * dim;
                    if (j < c)
                        memcpy(dst, rows[src]->value.data + (r0 + j) * dim, sizeof(td_real) * (size_t)dim);
                    else
                        memset(dst, 0, sizeof(td_real) * (size_t)dim);
                }
        }
        snprintf(path, sizeof path, "%s/recon.png", dir);
        picture(dir, "recon.png", cli_png_grid(path, grid, k, h, w, 8));
        td_free(grid);
    }
    if (rm->ops->filters) { /* one tile per code unit: what each unit responds to */
        const int64_t units = rm->ops->filters(rm->m, NULL);
        td_real *tiles = td_alloc(sizeof(td_real) * (size_t)(units * dim));
        rm->ops->filters(rm->m, tiles);
        snprintf(path, sizeof path, "%s/filters.png", dir);
        picture(dir, "filters.png", cli_png_grid(path, tiles, units, h, w, 16));
        td_free(tiles);
    }
    { /* the test codes, coloured by label (the first PICTURE_TEST_IMAGES) */
        const int64_t n = test->n < PICTURE_TEST_IMAGES ? test->n : PICTURE_TEST_IMAGES, d_lat = rm->ops->latent(rm->m);
        td_real *codes = td_alloc(sizeof(td_real) * (size_t)(n * d_lat));
        for (int64_t i = 0; i < n; i += 500) {
            const int64_t rows = n - i < 500 ? n - i : 500;
            td_tape_reset(t);
            td_dataset_rows(test, i, rows, xs);
            td_var *x = td_const(t, td_tensor_wrap(TD_SHAPE(rows, dim), xs));
            td_var *z = rm->ops->encode(rm->m, t, x);
            memcpy(codes + i * d_lat, z->value.data, sizeof(td_real) * (size_t)(rows * d_lat));
        }
        double *xy = td_alloc(sizeof(double) * (size_t)(2 * n));
        cli_project2(codes, n, d_lat, xy);
        snprintf(path, sizeof path, "%s/latent.png", dir);
        picture(dir, "latent.png", cli_png_scatter(path, xy, test->labels, n));
        td_free(xy);
        td_free(codes);
    }
    if (rm->ops->decode && rm->ops->latent(rm->m) == 2) { /* decoder over prior quantiles */
        const int64_t g = 20;
        td_tape_reset(t);
        td_var *z = td_const_new(t, TD_SHAPE(g * g, 2));
        for (int64_t i = 0; i < g; i++)     /* rows: z2 from high to low */
            for (int64_t j = 0; j < g; j++) { /* cols: z1 from low to high */
                z->value.data[(i * g + j) * 2] = (td_real)cli_probit((j + 0.5) / (double)g);
                z->value.data[(i * g + j) * 2 + 1] = (td_real)cli_probit(1 - (i + 0.5) / (double)g);
            }
        td_var *x = rm->ops->decode(rm->m, t, z);
        snprintf(path, sizeof path, "%s/manifold.png", dir);
        picture(dir, "manifold.png", cli_png_grid(path, x->value.data, g * g, h, w, g));
    }
    snprintf(path, sizeof path, "%s/curve.png", dir);
    picture(dir, "curve.png", cli_png_curve(path, train_curve, val_curve, n_epochs));
    td_tape_reset(t);
    td_free(xs);
}
