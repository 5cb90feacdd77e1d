/* Datasets: loading MNIST-format files (plain and gzip), bad files, the
 * directory search and its order, the validation split, binarization and batching. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../nn/data.h"
#include "check.h"

static char tmpdir[1024];

/* Writes an IDX file of unsigned bytes: dims, then count*item bytes. */
static void write_idx(const char *path, int gz, int ndim, const int *dims, const uint8_t *data,
                      size_t truncate_to) {
    uint8_t head[4 + 4 * 4];
    head[0] = head[1] = 0;
    head[2] = 0x08;
    head[3] = (uint8_t)ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        head[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        head[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        head[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        head[7 + 4 * i] = (uint8_t)dims[i];
        n *= (size_t)dims[i];
    }
    size_t hl = 4 + 4 * (size_t)ndim;
    uint8_t *all = malloc(hl + n);
    memcpy(all, head, hl);
    memcpy(all + hl, data, n);
    size_t len = truncate_to ? truncate_to : hl + n;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, all, (unsigned)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(all, 1, len, f);
        fclose(f);
    }
    free(all);
}

/* A set of n 4x5 images (pixel = (i + j) % 256) with labels i % 10. */
static void write_set(const char *dir, const char *prefix, int n, int gz, int n_labels) {
    char path[2048];
    int di[3] = {n, 4, 5}, dl[1] = {n_labels};
    uint8_t *px = malloc((size_t)n * 20), *lb = malloc((size_t)n_labels);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 20; j++) px[i * 20 + j] = (uint8_t)((i + j * 13) % 256);
    for (int i = 0; i < n_labels; i++) lb[i] = (uint8_t)(i % 10);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx(path, gz, 3, di, px, 0);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx(path, gz, 1, dl, lb, 0);
    free(px);
    free(lb);
}

static void test_load(void) {
    char dir[1100];
    for (int gz = 0; gz < 2; gz++) {
        snprintf(dir, sizeof dir, "%s/data_ok%d", tmpdir, gz);
        write_set(dir, "train", 50, gz, 50);
        td_dataset d;
        CHECK(td_dataset_load(dir, "train", 0, &d) == 0, "load (gz %d): %s", gz, td_error());
        CHECK(d.n == 50 && d.dim == 20 && d.height == 4 && d.width == 5, "shape %lld x %lld",
              (long long)d.n, (long long)d.dim);
        td_real row[20];
        td_dataset_rows(&d, 3, 1, row);
        CHECK(d.pixels && !d.x && d.pixels[3 * 20 + 2] == 3 + 2 * 13, "stored as the file's bytes");
        CHECK(row[2] == (td_real)(3 + 2 * 13) / (td_real)255, "value %g", (double)row[2]);
        CHECK(d.labels[13] == 3, "label %d", d.labels[13]);
        td_dataset_release(&d);
        CHECK(td_dataset_load(dir, "train", 7, &d) == 0 && d.n == 7, "--limit 7 gave %lld", (long long)d.n);
        td_dataset_release(&d);
        char buf[1100];
        CHECK(td_data_dir_resolve(dir, buf, sizeof buf) && !strcmp(buf, dir), "resolve --data");
        setenv("TINYAD_DATA", dir, 1);
        CHECK(td_data_dir_resolve(NULL, buf, sizeof buf) && !strcmp(buf, dir), "resolve $TINYAD_DATA");
        unsetenv("TINYAD_DATA");
    }
}

static void test_bad_files(void) {
    char dir[1100], path[1200];
    td_dataset d;
    /* images and labels that do not belong together */
    snprintf(dir, sizeof dir, "%s/data_mismatch", tmpdir);
    write_set(dir, "train", 30, 1, 29);
    CHECK(td_dataset_load(dir, "train", 0, &d) == -1, "count mismatch accepted");
    CHECK(strstr(td_error(), "30 images") && strstr(td_error(), "29 labels"), "message: %s", td_error());
    /* a truncated image file */
    snprintf(dir, sizeof dir, "%s/data_trunc", tmpdir);
    write_set(dir, "train", 30, 0, 30);
    uint8_t px[600] = {0};
    int di[3] = {30, 4, 5};
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_idx(path, 0, 3, di, px, 16 + 300);
    CHECK(td_dataset_load(dir, "train", 0, &d) == -1, "truncated file accepted");
    CHECK(strstr(td_error(), "train-images-idx3-ubyte") != NULL, "message does not name the file: %s",
          td_error());
    printf("truncated: %s\n", td_error());
    /* garbage instead of an IDX file */
    FILE *f = fopen(path, "wb");
    fputs("this is not an IDX file at all", f);
    fclose(f);
    CHECK(td_dataset_load(dir, "train", 0, &d) == -1, "garbage accepted");
    printf("garbage: %s\n", td_error());
    /* missing files and directories */
    CHECK(td_dataset_load(dir, "t10k", 0, &d) == -1 && strstr(td_error(), "t10k-images"),
          "missing: %s", td_error());
    char buf[1024];
    snprintf(dir, sizeof dir, "%s/no_such_dir", tmpdir);
    CHECK(td_data_dir_resolve(dir, buf, sizeof buf) == NULL, "a missing --data dir resolved");
    setenv("TINYAD_DATA", dir, 1);
    CHECK(td_data_dir_resolve(NULL, buf, sizeof buf) == NULL && strstr(td_error(), "TINYAD_DATA"),
          "bad TINYAD_DATA: %s", td_error());
    unsetenv("TINYAD_DATA");
}

static void test_split_binarize_batches(void) {
    enum { N = 103, H = 3, W = 4 };
    td_real x[N * H * W];
    uint8_t lb[N];
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)(i % 10);
        for (int j = 0; j < H * W; j++) x[i * H * W + j] = (td_real)(j == 0 ? i / 1000.0 : (j % 4) / 4.0);
    }
    td_dataset all, tr, va;
    td_dataset_from(&all, N, H, W, x, lb);
    CHECK(td_dataset_split(&all, 23, &tr, &va) == 0 && tr.n == 80 && va.n == 23, "split");
    CHECK(va.x == all.x + 80 * H * W && va.labels[0] == 0, "val is the last 23");
    CHECK(td_dataset_split(&all, 0, &tr, &va) == 0 && tr.n == N && va.n == 0, "split 0");
    CHECK(td_dataset_split(&all, N, &tr, &va) == -1, "split of everything accepted");
    td_dataset_split(&all, 23, &tr, &va);

    /* every training image exactly once per epoch, last batch partial, no allocation per step */
    td_rng order, noise;
    td_rng_init(&order, 5);
    td_rng_init(&noise, 6);
    td_batcher b;
    td_batcher_init(&b, &tr, 32, 1, TD_BINARIZE_NONE, &order, &noise);
    CHECK(td_batcher_count(&b) == 3, "batches %lld", (long long)td_batcher_count(&b));
    int64_t first_perm[80];
    for (int epoch = 0; epoch < 2; epoch++) {
        int seen[80] = {0}, nb = 0;
        int64_t allocs = td_alloc_count(), rows, sizes[4] = {0};
        td_tensor xb;
        td_batcher_start(&b);
        if (epoch == 0) memcpy(first_perm, b.perm, sizeof first_perm);
        else CHECK(memcmp(first_perm, b.perm, sizeof first_perm) != 0, "same order in two epochs");
        while ((rows = td_batcher_next(&b, &xb)) > 0) {
            if (nb < 4) sizes[nb] = rows;
            nb++;
            for (int64_t r = 0; r < rows; r++) {
                int i = (int)lround(xb.data[r * H * W] * 1000);
                if (i >= 0 && i < 80) seen[i]++;
                CHECK(b.labels[r] == i % 10, "label of image %d", i);
            }
        }
        CHECK(td_alloc_count() == allocs, "batching allocated");
        CHECK(nb == 3 && sizes[0] == 32 && sizes[2] == 16, "batches %d: %lld %lld %lld", nb,
              (long long)sizes[0], (long long)sizes[1], (long long)sizes[2]);
        int once = 1;
        for (int i = 0; i < 80; i++) once &= seen[i] == 1;
        CHECK(once, "epoch %d did not see every image once", epoch);
    }
    td_batcher_release(&b);

    /* dynamic binarization: 0/1 values with the pixel's mean */
    td_batcher_init(&b, &tr, 80, 0, TD_BINARIZE_DYNAMIC, NULL, &noise);
    double s = 0;
    int binary = 1, n = 0;
    for (int rep = 0; rep < 50; rep++) {
        td_tensor xb;
        td_batcher_start(&b);
        td_batcher_next(&b, &xb);
        for (int64_t r = 0; r < 80; r++) {
            td_real v = xb.data[r * H * W + 2]; /* intensity 0.5 */
            binary &= v == 0 || v == 1;
            s += v;
            n++;
        }
    }
    CHECK(binary, "dynamic binarization gave a value other than 0/1");
    CHECK_CLOSE(s / n, 0.5, 0.03, 0);
    CHECK(tr.x[2] == (td_real)0.5, "dynamic binarization changed the dataset");
    td_batcher_release(&b);

    td_dataset_binarize(&all, (td_real)0.5);
    CHECK(all.x[1] == 0 && all.x[3] == 1 && all.x[2] == 0, "static threshold 0.5: %g %g %g", (double)all.x[1],
          (double)all.x[2], (double)all.x[3]);
    td_dataset_release(&all);
}

/* Byte storage (what td_dataset_load keeps) against the float storage it
 * replaced: the same values, binarizations and batches, bit for bit. */
static void float_twin(const td_dataset *bytes, td_dataset *out) {
    const int64_t total = bytes->n * bytes->dim;
    td_real *x = malloc(sizeof(td_real) * (size_t)total);
    for (int64_t i = 0; i < total; i++) x[i] = (td_real)bytes->pixels[i] / (td_real)255; /* the old loader */
    td_dataset_from(out, bytes->n, bytes->height, bytes->width, x, bytes->labels);
    free(x);
}

static int same_values(const td_dataset *a, const td_dataset *b) {
    if (a->n != b->n || a->dim != b->dim) return 0;
    const size_t len = (size_t)(a->n * a->dim);
    td_real *va = malloc(sizeof(td_real) * (len ? len : 1)), *vb = malloc(sizeof(td_real) * (len ? len : 1));
    td_dataset_rows(a, 0, a->n, va);
    td_dataset_rows(b, 0, b->n, vb);
    int same = !memcmp(va, vb, sizeof(td_real) * len);
    free(va);
    free(vb);
    return same;
}

static void test_byte_storage(void) {
    /* every byte value once, in a 16x16 image */
    uint8_t all_bytes[256];
    for (int v = 0; v < 256; v++) all_bytes[v] = (uint8_t)v;
    const td_real thresholds[] = {(td_real)0.5, 0, (td_real)0.25, (td_real)0.3, (td_real)0.7, 1,
                                  (td_real)127 / (td_real)255, (td_real)128 / (td_real)255,
                                  (td_real)0.5 - (td_real)1e-7, (td_real)-1};
    for (size_t k = 0; k < sizeof thresholds / sizeof *thresholds; k++) {
        td_dataset b, f;
        td_dataset_from_pixels(&b, 1, 16, 16, all_bytes, NULL);
        float_twin(&b, &f);
        CHECK(same_values(&b, &f), "byte values differ from the float loader's");
        td_dataset_binarize(&b, thresholds[k]);
        td_dataset_binarize(&f, thresholds[k]);
        int agree = 1, zero_or_255 = 1;
        for (int v = 0; v < 256; v++) zero_or_255 &= b.pixels[v] == 0 || b.pixels[v] == 255;
        CHECK(zero_or_255 && same_values(&b, &f), "static binarization at %.9g: bytes and floats disagree",
              (double)thresholds[k]);
        if (k == 0) /* the --binarize static threshold: pixel >= 128 */
            for (int v = 0; v < 256; v++) agree &= (b.pixels[v] == 255) == (v >= 128);
        CHECK(agree, "threshold 0.5 is not pixel >= 128");
        td_dataset_release(&b);
        td_dataset_release(&f);
    }

    /* 301 images of 15x17: 76755 values, more than one chunk of the random
     * binarization and not a multiple of the generator's block */
    enum { N = 301, H = 15, W = 17, D = H * W };
    uint8_t *px = malloc((size_t)N * D), lb[N];
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)(i % 10);
        for (int j = 0; j < D; j++) px[i * D + j] = (uint8_t)((i * 7 + j * 3) % 256);
    }
    td_dataset b, f, b_tr, b_va, f_tr, f_va;
    td_dataset_from_pixels(&b, N, H, W, px, lb);
    float_twin(&b, &f);
    CHECK(same_values(&b, &f), "byte values");
    CHECK(td_dataset_split(&b, 40, &b_tr, &b_va) == 0 && td_dataset_split(&f, 40, &f_tr, &f_va) == 0, "split");
    CHECK(b_va.pixels == b.pixels + (N - 40) * D && !b_va.x, "a byte view stays bytes");
    CHECK(same_values(&b_tr, &f_tr) && same_values(&b_va, &f_va), "split views differ");

    /* batches, shuffled and dynamically binarized: the same draws */
    for (int mode = 0; mode < 2; mode++) {
        const td_binarize bz = mode ? TD_BINARIZE_DYNAMIC : TD_BINARIZE_NONE;
        td_rng ob, nb, of, nf;
        td_rng_init(&ob, 8), td_rng_init(&of, 8), td_rng_init(&nb, 9), td_rng_init(&nf, 9);
        td_batcher bb, bf;
        td_batcher_init(&bb, &b_tr, 64, 1, bz, &ob, &nb);
        td_batcher_init(&bf, &f_tr, 64, 1, bz, &of, &nf);
        int same = 1;
        int64_t allocs = td_alloc_count();
        for (int epoch = 0; epoch < 2; epoch++) {
            td_batcher_start(&bb);
            td_batcher_start(&bf);
            td_tensor xb, xf;
            int64_t rb, rf;
            while ((rb = td_batcher_next(&bb, &xb)) > 0) {
                rf = td_batcher_next(&bf, &xf);
                same &= rb == rf && !memcmp(xb.data, xf.data, sizeof(td_real) * (size_t)(rb * D)) &&
                        !memcmp(bb.labels, bf.labels, (size_t)rb);
            }
        }
        CHECK(td_alloc_count() == allocs, "batching byte data allocated");
        CHECK(same, "batches (%s) differ between byte and float storage", td_binarize_name(bz));
        td_batcher_release(&bb);
        td_batcher_release(&bf);
    }

    /* a fixed random binarization of the validation view, as tinyad does */
    td_rng rb, rf, rw;
    td_rng_init(&rb, 12), td_rng_init(&rf, 12), td_rng_init(&rw, 12);
    td_dataset_binarize_random(&b_va, &rb);
    td_dataset_binarize_random(&f_va, &rf);
    CHECK(same_values(&b_va, &f_va) && same_values(&b_tr, &f_tr), "random binarization differs");
    CHECK(rb.counter == rf.counter, "the generators advanced differently: %llu vs %llu",
          (unsigned long long)rb.counter, (unsigned long long)rf.counter);
    int zero_or_255 = 1;
    for (int64_t i = 0; i < b_va.n * D; i++) zero_or_255 &= b_va.pixels[i] == 0 || b_va.pixels[i] == 255;
    CHECK(zero_or_255, "random binarization stored a byte other than 0/255");
    /* and a whole fresh set in one go, against td_rng_bernoulli over it */
    td_dataset c;
    td_dataset_from_pixels(&c, N, H, W, px, lb);
    td_dataset_binarize_random(&c, &rw);
    td_real *want = malloc(sizeof(td_real) * N * D), *got = malloc(sizeof(td_real) * N * D);
    for (int64_t i = 0; i < (int64_t)N * D; i++) want[i] = (td_real)px[i] / (td_real)255;
    td_rng r1;
    td_rng_init(&r1, 12);
    td_rng_bernoulli(&r1, want, (int64_t)N * D, want);
    td_dataset_rows(&c, 0, N, got);
    CHECK(!memcmp(want, got, sizeof(td_real) * N * D) && r1.counter == rw.counter,
          "random binarization of %d values is not one td_rng_bernoulli draw", N * D);
    free(want);
    free(got);
    free(px);
    td_dataset_release(&b);
    td_dataset_release(&c);
    td_dataset_release(&f);
}

/* The search order without --data and $TINYAD_DATA, from a scratch working
 * directory: ../shared/data/mnist, data/mnist, /usr/share/datasets/mnist,
 * then Fashion-MNIST in /usr/share/datasets/fashion-mnist; and the message
 * when there is nothing. The /usr/share places are this machine's: the
 * test expects what is there. */
static void test_search_order(void) {
    char cwd[4096], root[1100], dir[1200], buf[1200], note[1400];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    const char *env = getenv("TINYAD_DATA");
    char saved_env[4096] = "";
    if (env) snprintf(saved_env, sizeof saved_env, "%s", env);
    unsetenv("TINYAD_DATA");
    snprintf(root, sizeof root, "%s/search", tmpdir);
    char rm[1200];
    snprintf(rm, sizeof rm, "rm -rf '%s'", root); /* what an earlier run left */
    CHECK(system(rm) == 0, "%s", rm);
    mkdir(root, 0777);
    snprintf(dir, sizeof dir, "%s/repo", root);
    mkdir(dir, 0777);
    CHECK(chdir(dir) == 0, "chdir %s", dir);

    const int sys_mnist =
        access("/usr/share/datasets/mnist/train-images-idx3-ubyte.gz", R_OK) == 0 ||
        access("/usr/share/datasets/mnist/train-images-idx3-ubyte", R_OK) == 0;
    const int sys_fashion =
        access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0 ||
        access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte", R_OK) == 0;
    const char *got = td_data_dir_resolve(NULL, buf, sizeof buf);
    if (sys_mnist) {
        CHECK(got && !strcmp(got, "/usr/share/datasets/mnist"), "system MNIST: %s",
              got ? got : td_error());
    } else if (sys_fashion) {
        CHECK(got && !strcmp(got, "/usr/share/datasets/fashion-mnist"), "fallback: %s",
              got ? got : td_error());
        td_data_describe(NULL, got, note, sizeof note);
        CHECK(strstr(note, "Fashion-MNIST") && strstr(note, "dataset-fashion-mnist") &&
                  strstr(note, "no MNIST found"),
              "%s", note);
        printf("no MNIST: %s\n", note);
    } else {
        const char *e = td_error();
        CHECK(!got, "resolved %s with no data anywhere", got);
        CHECK(strstr(e, "train-images-idx3-ubyte.gz") && strstr(e, "train-labels-idx1-ubyte.gz") &&
                  strstr(e, "t10k-images-idx3-ubyte.gz") &&
                  strstr(e, "t10k-labels-idx1-ubyte.gz") && strstr(e, "data/mnist") &&
                  strstr(e, "--data") && strstr(e, "apt-get install dataset-fashion-mnist"),
              "the no-data message should name the four files, data/mnist, --data and the "
              "Debian package: %s",
              e);
        printf("no data: %s\n", e);
    }
    write_set("data", "train", 10, 1, 10); /* makes data/ */
    write_set("data/mnist", "train", 10, 1, 10);
    got = td_data_dir_resolve(NULL, buf, sizeof buf);
    CHECK(got && !strcmp(got, "data/mnist"), "data/mnist before /usr/share: %s",
          got ? got : td_error());
    CHECK(!strcmp(td_data_describe(NULL, "data/mnist", note, sizeof note),
                  "data: data/mnist (MNIST)"),
          "%s", note);
    snprintf(dir, sizeof dir, "%s/shared", root);
    mkdir(dir, 0777);
    snprintf(dir, sizeof dir, "%s/shared/data", root);
    mkdir(dir, 0777);
    write_set("../shared/data/mnist", "train", 10, 1, 10);
    got = td_data_dir_resolve(NULL, buf, sizeof buf);
    CHECK(got && !strcmp(got, "../shared/data/mnist"), "../shared/data/mnist first: %s",
          got ? got : td_error());
    setenv("TINYAD_DATA", "data", 1);
    got = td_data_dir_resolve(NULL, buf, sizeof buf);
    CHECK(got && !strcmp(got, "data"), "$TINYAD_DATA before the standard places: %s",
          got ? got : td_error());
    got = td_data_dir_resolve("data/mnist", buf, sizeof buf);
    CHECK(got && !strcmp(got, "data/mnist"), "--data before $TINYAD_DATA: %s",
          got ? got : td_error());
    CHECK(!strcmp(td_data_describe(NULL, "data", note, sizeof note),
                  "data: data (MNIST-format IDX files, from $TINYAD_DATA)"),
          "%s", note);
    const char *fashion = "/usr/share/datasets/fashion-mnist";
    CHECK(!strcmp(td_data_describe(fashion, fashion, note, sizeof note),
                  "data: /usr/share/datasets/fashion-mnist (Fashion-MNIST from Debian's "
                  "dataset-fashion-mnist, from --data)"),
          "%s", note);

    if (saved_env[0])
        setenv("TINYAD_DATA", saved_env, 1);
    else
        unsetenv("TINYAD_DATA");
    CHECK(chdir(cwd) == 0, "chdir back");
}

int main(void) {
    const char *t = getenv("TINYAD_TEST_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_data_tmp", t ? t : "/tmp");
    mkdir(tmpdir, 0777);
    test_load();
    test_bad_files();
    test_split_binarize_batches();
    test_byte_storage();
    test_search_order();
    return check_done("data");
}
