/* Writes the seed corpus for the fuzz harnesses: small valid inputs of each
 * kind, in the harnesses' input encoding (first byte: mode, see each
 * harness). Run from the build directory:
 *
 *     ./tests/fuzz/fuzz_make_corpus SRC/tests/fuzz/corpus [MNIST_DIR]
 *
 * With MNIST_DIR, also writes real-format seeds cut from the MNIST test set
 * (the first images and labels, re-headed with the smaller count). The
 * output is deterministic; the files are checked in. */
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz.h"
#include "tensor/io.h"

static const char *root;

static void seed(const char *harness, const char *name, uint8_t mode, const void *data,
                 size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, harness);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f, "cannot write %s", path);
    fputc(mode, f);
    if (len) fwrite(data, 1, len, f);
    fclose(f);
    printf("%s (%zu bytes)\n", path, len + 1);
}

/* ---- IDX ----------------------------------------------------------------- */

static size_t idx_make(uint8_t *out, int ndim, const uint32_t *dims, const uint8_t *pixels) {
    out[0] = out[1] = 0;
    out[2] = 0x08;
    out[3] = (uint8_t)ndim;
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        for (int b = 0; b < 4; b++) out[4 + 4 * i + b] = (uint8_t)(dims[i] >> (24 - 8 * b));
        total *= dims[i];
    }
    size_t off = 4 + 4 * (size_t)ndim;
    for (size_t i = 0; i < total; i++) out[off + i] = pixels ? pixels[i] : (uint8_t)(i * 37 + 11);
    return off + total;
}

/* gzip framing, as gzip(1) writes it. */
static size_t gzip_mem(uint8_t *out, size_t cap, const uint8_t *in, size_t len) {
    z_stream z = {0};
    FUZZ_CHECK(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflate");
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
    size_t n = z.total_out;
    deflateEnd(&z);
    return n;
}

static void idx_seeds(const char *mnist) {
    uint8_t buf[8192], gz[8192];
    size_t n;
    n = idx_make(buf, 1, (uint32_t[]){10}, (const uint8_t[]){7, 2, 1, 0, 4, 1, 4, 9, 5, 9});
    seed("idx", "labels-plain", 0, buf, n);
    seed("idx", "labels-gzip", 0, gz, gzip_mem(gz, sizeof gz, buf, n));
    n = idx_make(buf, 3, (uint32_t[]){2, 4, 4}, NULL);
    seed("idx", "images-plain", 0, buf, n);
    seed("idx", "images-gzip", 0, gz, gzip_mem(gz, sizeof gz, buf, n));
    seed("idx", "images-via-gzip-mode", 1, buf, n);
    n = idx_make(buf, 2, (uint32_t[]){3, 5}, NULL);
    seed("idx", "matrix-via-gzip-mode", 1, buf, n);
    n = idx_make(buf, 4, (uint32_t[]){2, 1, 3, 2}, NULL);
    seed("idx", "four-dims-plain", 0, buf, n);
    /* A header that lies: 2^32-1 images of 28 x 28 and no data. Refused
     * before any allocation; here so the fuzzer starts near the limits. */
    static const uint8_t huge[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28};
    seed("idx", "huge-claim", 0, huge, sizeof huge);

    if (!mnist) return;
    /* Real data: the first 2 test images and 16 test labels. */
    const char *files[2] = {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    for (int k = 0; k < 2; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", mnist, files[k]);
        td_idx idx;
        if (td_idx_load(path, &idx) < 0) {
            fprintf(stderr, "skipping real MNIST seeds: %s\n", td_error());
            return;
        }
        uint32_t dims[4];
        for (int i = 0; i < idx.ndim; i++) dims[i] = (uint32_t)idx.dims[i];
        dims[0] = k == 0 ? 2 : 16;
        n = idx_make(buf, idx.ndim, dims, idx.data);
        seed("idx", k == 0 ? "mnist-t10k-images-2-gzip" : "mnist-t10k-labels-16-gzip", 0, gz,
             gzip_mem(gz, sizeof gz, buf, n));
        if (k == 1) seed("idx", "mnist-t10k-labels-16-plain", 0, buf, n);
        td_idx_release(&idx);
    }
}

/* ---- archive ------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* An archive written by the library, as a raw-mode seed. */
static void archive_seed(const char *name, td_archive *a) {
    const char *path = fuzz_tmp_path(0);
    FUZZ_CHECK(td_archive_write(a, path) == 0, "%s", td_error());
    FILE *f = fopen(path, "rb");
    uint8_t buf[16384];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    seed("archive", name, 0, buf, n);
    td_archive_destroy(a);
}

/* Appends one entry to a hand-built body (docs/formats.md, "Body"). */
static size_t body_entry(uint8_t *p, const char *name, int kind, int ndim, const int64_t *dims,
                         const void *payload, size_t plen) {
    size_t nl = strlen(name), o = 0;
    put_le(p, nl, 2);
    memcpy(p + 2, name, nl);
    o = 2 + nl;
    p[o++] = (uint8_t)kind;
    p[o++] = (uint8_t)ndim;
    for (int d = 0; d < ndim; d++, o += 8) put_le(p + o, (uint64_t)dims[d], 8);
    put_le(p + o, plen, 8);
    o += 8;
    if (plen) memcpy(p + o, payload, plen);
    return o + plen;
}

static void archive_seeds(void) {
    td_archive *a = td_archive_create();
    archive_seed("empty", a);

    a = td_archive_create();
    td_tensor w = td_tensor_from(TD_SHAPE(2, 3), (td_real[]){1, -2, 0.5f, 3e-8f, -0.0f, 1e30f});
    td_archive_put_tensor(a, "enc.w", &w);
    td_tensor b = td_tensor_from(TD_SHAPE(3), (td_real[]){0.25f, -1, 2});
    td_archive_put_tensor(a, "enc.b", &b);
    td_archive_put_string(a, "config", "{\"model\":\"vae\",\"latent\":2}");
    td_archive_put_u64(a, "step", 1234);
    archive_seed("small-model", a);

    a = td_archive_create();
    td_tensor t4 = td_tensor_zeros(TD_SHAPE(2, 1, 2, 2));
    for (int i = 0; i < 8; i++) t4.data[i] = (td_real)i - 3.5f;
    td_archive_put_tensor(a, "t4", &t4);
    td_tensor z = td_tensor_zeros(TD_SHAPE(0, 5));
    td_archive_put_tensor(a, "empty_rows", &z);
    td_archive_put_bytes(a, "nothing", "", 0);
    archive_seed("shapes", a);
    td_tensor_release(&w), td_tensor_release(&b), td_tensor_release(&t4), td_tensor_release(&z);

    /* Body mode: [mode 1][count][body]. */
    uint8_t body[2048];
    size_t n = 0;
    double d2[2] = {1.5, -1e300};
    uint8_t raw[16];
    for (int i = 0; i < 2; i++) {
        uint64_t u;
        memcpy(&u, &d2[i], 8);
        put_le(raw + 8 * i, u, 8);
    }
    n += body_entry(body + n, "f64", 2, 1, (int64_t[]){2}, raw, 16);
    float f1 = 3.0f;
    uint32_t u32;
    memcpy(&u32, &f1, 4);
    uint8_t raw4[4];
    put_le(raw4, u32, 4);
    n += body_entry(body + n, "f32", 1, 3, (int64_t[]){1, 1, 1}, raw4, 4);
    n += body_entry(body + n, "text", 3, 0, NULL, "hello", 5);
    uint8_t with_count[2049];
    with_count[0] = 3;
    memcpy(with_count + 1, body, n);
    seed("archive", "body-three-kinds", 1, with_count, n + 1);

    n = body_entry(body, "u", 3, 0, NULL, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    with_count[0] = 1;
    memcpy(with_count + 1, body, n);
    seed("archive", "body-u64", 1, with_count, n + 1);
}

/* ---- checkpoint ---------------------------------------------------------- */

int fuzz_checkpoint_seed(const char *path, uint64_t epoch); /* fuzz_checkpoint.c */

static void checkpoint_seeds(void) {
    const char *path = fuzz_tmp_path(1);
    FUZZ_CHECK(fuzz_checkpoint_seed(path, 7) == 0, "%s", td_error());
    FILE *f = fopen(path, "rb");
    uint8_t file[16384];
    size_t n = fread(file, 1, sizeof file, f);
    fclose(f);
    seed("checkpoint", "adam-epoch7", 0, file, n);
    seed("checkpoint", "adam-epoch7-check-model", 2, file, n);
    /* The same in body mode: [count][uncompressed body]. */
    uLongf ulen = (uLongf)(file[16] | file[17] << 8 | file[18] << 16 | (uLong)file[19] << 24);
    uint8_t body[16385];
    body[0] = file[12]; /* entry count (< 256 here) */
    FUZZ_CHECK(uncompress(body + 1, &ulen, file + 40, (uLong)(n - 40)) == Z_OK, "uncompress");
    seed("checkpoint", "adam-epoch7-body", 1, body, ulen + 1);
    seed("checkpoint", "adam-epoch7-body-check-model", 3, body, ulen + 1);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [MNIST_DIR]\n", argv[0]);
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    idx_seeds(argc > 2 ? argv[2] : NULL);
    archive_seeds();
    checkpoint_seeds();
    return 0;
}
