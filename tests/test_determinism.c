/* Same seed, same results (docs/reliability.md), through the built tinyad:
 *
 *  - across thread counts: each model kind trained with --threads 1 and
 *    --threads 2 ends with byte-identical checkpoints (parameters, optimizer
 *    moments, RNG state) and metrics, and `eval --iw-k` prints the same
 *    figures with 1 and 2 threads;
 *  - across runs: the same command twice gives byte-identical checkpoints,
 *    metrics and pictures;
 *  - a different seed gives a different checkpoint (so the checks above can
 *    fail).
 * Across a stop and resume: test_cli (mid-epoch and at an epoch boundary)
 * and test_crash (after SIGKILL and SIGINT/SIGTERM at random moments).
 *
 * The models are large enough for the matrix products to be split between
 * the two threads (gemm, and the OpenMP kernels above TD_PARALLEL_MIN).
 *
 * usage: test_determinism PATH_TO_TINYAD */
#include "cli_harness.h"

static char data[1200];

static void train(const char *kind, const char *opts, int threads, int seed, const char *name) {
    char a[4096];
    snprintf(a, sizeof a, "train %s --data '%s' %s --threads %d --seed %d --out '%s/%s'", kind, data, opts,
             threads, seed, h_tmp, name);
    int rc = h_run(NULL, a);
    CHECK(rc == 0, "`tinyad %s`: status %d: %s", a, rc, h_slurp(h_err));
}

static int same(const char *name_a, const char *name_b, const char *file) {
    char pa[1400], pb[1400];
    snprintf(pa, sizeof pa, "%s/%s/%s", h_tmp, name_a, file);
    snprintf(pb, sizeof pb, "%s/%s/%s", h_tmp, name_b, file);
    if (!strcmp(file, "metrics.csv")) {
        static char ma[8192], mb[8192];
        h_metrics_values(pa, ma, sizeof ma);
        h_metrics_values(pb, mb, sizeof mb);
        return ma[0] && !strcmp(ma, mb);
    }
    return h_same_file(pa, pb);
}

/* eval's JSON without its timing */
static void eval_figures(const char *name, int threads, char *out, size_t len) {
    char a[2048];
    snprintf(a, sizeof a, "eval '%s/%s' --json --iw-k 16 --threads %d", h_tmp, name, threads);
    int rc = h_run(NULL, a);
    CHECK(rc == 0, "`tinyad %s`: status %d: %s", a, rc, h_slurp(h_err));
    snprintf(out, len, "%s", h_slurp(h_out));
    char *t = strstr(out, ", \"iw_seconds\"");
    if (t) *t = 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_determinism PATH_TO_TINYAD\n");
        return 2;
    }
    h_init(argv[1], "determinism");
    snprintf(data, sizeof data, "%s/data", h_tmp);
    h_data(data, 400, 200);

    /* 1 vs 2 threads, every model kind, with the noise each one draws */
    static const struct {
        const char *kind, *opts;
    } runs[] = {
        {"vae", "--epochs 2 --batch 100 --hidden 256,128 --latent 8 --binarize dynamic"},
        {"vae", "--epochs 1 --batch 100 --hidden 128 --latent 4 --iw-k 4 --optimizer adamw --clip 50"},
        {"ae", "--epochs 2 --batch 100 --hidden 256 --latent 16 --likelihood gaussian --optimizer sgd --lr 1e-4 --momentum 0.9"},
        {"dae", "--epochs 2 --batch 100 --hidden 256 --latent 16 --noise salt-and-pepper"},
        {"sae", "--epochs 2 --batch 100 --hidden 256 --latent 32 --sparsity kl"},
        {"hvae", "--recipe iwae --epochs 1 --batch 100 --hidden 256,128 --latent 16 --hidden2 64 --latent2 8 "
                 "--activation tanh --iw-k 3"},
    };
    const int n_runs = (int)(sizeof runs / sizeof *runs);
    for (int i = 0; i < n_runs; i++) {
        char t1[64], t2[64];
        snprintf(t1, sizeof t1, "%s%d-t1", runs[i].kind, i);
        snprintf(t2, sizeof t2, "%s%d-t2", runs[i].kind, i);
        train(runs[i].kind, runs[i].opts, 1, 3, t1);
        train(runs[i].kind, runs[i].opts, 2, 3, t2);
        CHECK(same(t1, t2, "checkpoint.tdc"), "%s %s: 1 and 2 threads give different checkpoints", runs[i].kind,
              runs[i].opts);
        CHECK(same(t1, t2, "metrics.csv"), "%s %s: 1 and 2 threads give different metrics", runs[i].kind,
              runs[i].opts);
    }
    char e1[4096], e2[4096];
    eval_figures("vae0-t1", 1, e1, sizeof e1);
    eval_figures("vae0-t1", 2, e2, sizeof e2);
    CHECK(strstr(e1, "\"iw_nll\"") && !strcmp(e1, e2), "eval with 1 and 2 threads:\n%s\n%s", e1, e2);
    {
        char h1[4096], h2[4096];
        eval_figures("hvae5-t1", 1, h1, sizeof h1);
        eval_figures("hvae5-t1", 2, h2, sizeof h2);
        CHECK(strstr(h1, "\"active_units_z2\"") && !strcmp(h1, h2), "hvae eval with 1 and 2 threads:\n%s\n%s", h1, h2);
    }

    /* the same command twice */
    train("vae", runs[0].opts, 2, 3, "vae-again");
    static const char *files[] = {"checkpoint.tdc", "metrics.csv", "samples.png", "recon.png", "latent.png",
                                  "curve.png", "config.txt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        CHECK(same("vae0-t2", "vae-again", files[i]), "two runs of the same command: %s differs", files[i]);
    eval_figures("vae-again", 1, e2, sizeof e2);
    CHECK(!strcmp(e1, e2), "eval of two identical runs:\n%s\n%s", e1, e2);

    /* another seed: another result */
    train("vae", runs[0].opts, 1, 4, "vae-seed4");
    CHECK(!same("vae0-t1", "vae-seed4", "checkpoint.tdc"), "--seed 3 and --seed 4 give the same checkpoint");

    printf("%d training configurations identical with 1 and 2 threads; two runs identical in every file; "
           "eval --iw-k identical with 1 and 2 threads\n", n_runs);
    return check_done("determinism");
}
