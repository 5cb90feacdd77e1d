/* I/O tests: IDX reading (plain, gzip, every kind of damage), PNG writing
 * (checked by decoding the file by hand), and the tensor archive (round
 * trip, hand-built files per docs/formats.md, every truncation, every
 * flipped byte, failed writes that must leave the old file intact). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "tensor/io.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static char tmp_dir[3000];

static const char *tmp_path(const char *name) {
    static char buf[4][3200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

static int has(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

static void write_gz(const char *path, const void *data, size_t len) {
    gzFile g = gzopen(path, "wb");
    if (!g) {
        perror(path);
        exit(2);
    }
    gzwrite(g, data, (unsigned)len);
    gzclose(g);
}

static uint8_t *read_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n ? (size_t)n : 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

static int file_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- IDX ---------------------------------------------------------------------- */

/* header 00 00 08 ndim, dims big-endian, then data */
static size_t make_idx(uint8_t *out, int ndim, const uint32_t *dims, const uint8_t *data,
                       size_t len) {
    out[0] = 0, out[1] = 0, out[2] = 8, out[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        for (int b = 0; b < 4; b++) out[4 + 4 * i + b] = (uint8_t)(dims[i] >> (24 - 8 * b));
    memcpy(out + 4 + 4 * ndim, data, len);
    return 4 + 4 * (size_t)ndim + len;
}

static int idx_fails(const char *path, const char *want_in_message) {
    td_idx idx;
    td_clear_error();
    int rc = td_idx_load(path, &idx);
    int ok = rc == -1 && idx.data == NULL && has(td_error(), want_in_message) && has(td_error(), path);
    if (!ok) fprintf(stderr, "  %s: rc %d, message: %s\n", path, rc, td_error());
    return ok;
}

static void test_idx(void) {
    uint8_t pix[3 * 2 * 2];
    for (int i = 0; i < 12; i++) pix[i] = (uint8_t)(i * 20 + 1);
    uint8_t file[256];
    size_t n = make_idx(file, 3, (uint32_t[]){3, 2, 2}, pix, sizeof pix);

    /* Round trip, plain and gzip: the same bytes must come back. */
    const char *plain = tmp_path("io_small.idx"), *gz = tmp_path("io_small.idx.gz");
    write_bytes(plain, file, n);
    write_gz(gz, file, n);
    const char *both[2] = {plain, gz};
    for (int k = 0; k < 2; k++) {
        td_idx idx;
        int rc = td_idx_load(both[k], &idx);
        CHECK(rc == 0, "load %s: %s", both[k], td_error());
        if (rc) continue;
        CHECK(idx.ndim == 3 && idx.dims[0] == 3 && idx.dims[1] == 2 && idx.dims[2] == 2,
              "dims of %s", both[k]);
        CHECK(idx.count == 3 && idx.item_size == 4, "count %lld item %lld", (long long)idx.count,
              (long long)idx.item_size);
        CHECK(memcmp(idx.data, pix, sizeof pix) == 0, "data of %s", both[k]);
        td_idx_release(&idx);
        CHECK(idx.data == NULL, "release clears");
    }

    /* 1-d (labels) */
    uint8_t labels[5] = {5, 0, 4, 1, 9};
    n = make_idx(file, 1, (uint32_t[]){5}, labels, 5);
    write_gz(tmp_path("io_labels.idx.gz"), file, n);
    td_idx lab;
    CHECK(td_idx_load(tmp_path("io_labels.idx.gz"), &lab) == 0, "labels: %s", td_error());
    CHECK(lab.ndim == 1 && lab.count == 5 && lab.item_size == 1 && lab.data && lab.data[4] == 9,
          "labels content");
    td_idx_release(&lab);

    /* Truncated: the message gives the expected and found byte counts. */
    n = make_idx(file, 3, (uint32_t[]){3, 2, 2}, pix, sizeof pix);
    write_bytes(tmp_path("io_trunc.idx"), file, n - 5);
    CHECK(idx_fails(tmp_path("io_trunc.idx"),
                    "truncated: expected 12 bytes of data after the header, found 7"),
          "truncated plain");
    write_gz(tmp_path("io_trunc.idx.gz"), file, n - 5);
    CHECK(idx_fails(tmp_path("io_trunc.idx.gz"), "found 7"), "truncated (cleanly gzipped)");
    write_bytes(tmp_path("io_trunch.idx"), file, 10); /* inside the dims */
    CHECK(idx_fails(tmp_path("io_trunch.idx"), "truncated inside its header"), "truncated header");
    write_bytes(tmp_path("io_tiny.idx"), file, 2);
    CHECK(idx_fails(tmp_path("io_tiny.idx"), "too short"), "2-byte file");
    write_bytes(tmp_path("io_empty.idx"), file, 0);
    CHECK(idx_fails(tmp_path("io_empty.idx"), "too short"), "empty file");

    /* Trailing bytes after the described data. */
    file[n] = 7;
    write_bytes(tmp_path("io_trail.idx"), file, n + 1);
    CHECK(idx_fails(tmp_path("io_trail.idx"), "data after"), "trailing byte");

    /* Wrong magic, wrong type, bad ndim, zero dim. */
    write_bytes(tmp_path("io_text.idx"), "hello, world\n", 13);
    CHECK(idx_fails(tmp_path("io_text.idx"), "not an IDX file"), "text file");
    uint8_t bad[32];
    memcpy(bad, file, n);
    bad[2] = 0x0D; /* float32 IDX */
    write_bytes(tmp_path("io_type.idx"), bad, n);
    CHECK(idx_fails(tmp_path("io_type.idx"), "0x0d"), "float IDX refused");
    memcpy(bad, file, n);
    bad[3] = 5;
    write_bytes(tmp_path("io_ndim.idx"), bad, n);
    CHECK(idx_fails(tmp_path("io_ndim.idx"), "not an IDX file"), "ndim 5");
    memcpy(bad, file, n);
    bad[3] = 0;
    write_bytes(tmp_path("io_ndim0.idx"), bad, n);
    CHECK(idx_fails(tmp_path("io_ndim0.idx"), "not an IDX file"), "ndim 0");
    n = make_idx(bad, 3, (uint32_t[]){3, 0, 2}, pix, 0);
    write_bytes(tmp_path("io_dim0.idx"), bad, n);
    CHECK(idx_fails(tmp_path("io_dim0.idx"), "equal to 0"), "zero dim");

    /* A header claiming (2^32 - 1) x 28 x 28 bytes (~3.4 TB): refused from
     * the header alone, at once. */
    n = make_idx(bad, 3, (uint32_t[]){0xffffffffu, 28, 28}, pix, 12);
    write_gz(tmp_path("io_huge.idx.gz"), bad, n);
    double t0 = now_s();
    CHECK(idx_fails(tmp_path("io_huge.idx.gz"), "more than"), "huge header refused");
    CHECK(now_s() - t0 < 1.0, "huge header refused quickly (%.2f s)", now_s() - t0);

    /* A header claiming 4e9 bytes (under the limit) on a 28-byte file: the
     * reader must grow its buffer only as data arrives, so with the address
     * space capped at 1 GiB more than now it still reports truncation
     * instead of running out of memory. (ASan reserves huge address
     * ranges, so the cap is only applied without it.) */
    n = make_idx(bad, 3, (uint32_t[]){4000, 1000, 1000}, pix, 12);
    write_bytes(tmp_path("io_big.idx"), bad, n);
    struct rlimit old;
    int capped = 0;
    if (!UNDER_ASAN && getrlimit(RLIMIT_AS, &old) == 0) {
        struct rlimit cap = old;
        cap.rlim_cur = (rlim_t)3 << 30; /* 3 GiB of address space: 4e9 cannot fit */
        if (old.rlim_max == RLIM_INFINITY || old.rlim_max >= cap.rlim_cur)
            capped = setrlimit(RLIMIT_AS, &cap) == 0;
    }
    CHECK(idx_fails(tmp_path("io_big.idx"), "expected 4000000000 bytes of data after the header, "
                                            "found 12"), "lying header on a short file");
    if (capped) setrlimit(RLIMIT_AS, &old);

    /* Corrupt gzip: flip bytes inside the deflate data; cut the trailer;
     * gzip magic followed by garbage. Each must be an error, not a crash. */
    n = make_idx(file, 3, (uint32_t[]){3, 2, 2}, pix, sizeof pix);
    write_gz(tmp_path("io_ok.idx.gz"), file, n);
    size_t glen;
    uint8_t *g = read_bytes(tmp_path("io_ok.idx.gz"), &glen);
    CHECK(g && glen > 20, "gzip written");
    uint8_t *gbad = malloc(glen);
    int undetected = 0;
    for (size_t i = 10; i < glen; i++) { /* every byte after the 10-byte gzip header */
        memcpy(gbad, g, glen);
        gbad[i] ^= 0x55;
        write_bytes(tmp_path("io_flip.idx.gz"), gbad, glen);
        td_idx idx;
        if (td_idx_load(tmp_path("io_flip.idx.gz"), &idx) == 0) {
            /* only acceptable if the flip hit a bit deflate ignores */
            if (idx.count != 3 || memcmp(idx.data, pix, sizeof pix) != 0) undetected++;
            td_idx_release(&idx);
        }
    }
    CHECK(undetected == 0, "%d corrupted gzip files loaded with wrong data", undetected);
    write_bytes(tmp_path("io_cut.idx.gz"), g, glen - 4); /* no ISIZE */
    CHECK(idx_fails(tmp_path("io_cut.idx.gz"), "gzip"), "gzip trailer cut");
    write_bytes(tmp_path("io_cut2.idx.gz"), g, glen / 2);
    CHECK(idx_fails(tmp_path("io_cut2.idx.gz"), "re-download"), "gzip cut in half");
    memcpy(gbad, g, 10);
    for (size_t i = 10; i < glen; i++) gbad[i] = (uint8_t)(i * 37 + 11);
    write_bytes(tmp_path("io_garbage.idx.gz"), gbad, glen);
    CHECK(idx_fails(tmp_path("io_garbage.idx.gz"), "re-download"), "gzip of garbage");
    free(gbad);
    free(g);

    CHECK(idx_fails(tmp_path("io_no_such_file.idx"), "No such file"), "missing file");
}

static void test_mnist(void) {
    const char *dir = test_mnist_dir();
    if (!dir) return;
    const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    const int64_t counts[4] = {60000, 60000, 10000, 10000};
    for (int k = 0; k < 4; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.gz", dir, names[k]);
        if (!file_exists(path)) snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        td_idx idx;
        int rc = td_idx_load(path, &idx);
        CHECK(rc == 0, "%s: %s", path, td_error());
        if (rc) continue;
        int images = k % 2 == 0;
        CHECK(idx.ndim == (images ? 3 : 1), "%s ndim %d", names[k], idx.ndim);
        CHECK(idx.count == counts[k], "%s count %lld", names[k], (long long)idx.count);
        if (images)
            CHECK(idx.dims[1] == 28 && idx.dims[2] == 28 && idx.item_size == 784, "%s 28x28",
                  names[k]);
        if (k == 1) CHECK(idx.data[0] == 5, "first training label %d, expected 5", idx.data[0]);
        if (!images) {
            int max = 0;
            for (int64_t i = 0; i < idx.count; i++)
                if (idx.data[i] > max) max = idx.data[i];
            CHECK(max == 9, "%s labels in 0..9 (max %d)", names[k], max);
        }
        td_idx_release(&idx);
    }
}

/* ---- PNG ------------------------------------------------------------------------ */

/* Decodes a PNG written by td_png_write: checks signature, chunk order and
 * CRCs, IHDR, and that IDAT inflates to rows each "0, pixels...". */
static void check_png(const char *path, int w, int h, int channels, const uint8_t *pixels) {
    size_t len;
    uint8_t *f = read_bytes(path, &len);
    CHECK(f != NULL, "read back %s", path);
    if (!f) return;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(len > 8 && memcmp(f, sig, 8) == 0, "PNG signature");
    size_t pos = 8, idat_len = 0;
    uint8_t *idat = malloc(len);
    int nchunk = 0, seen_iend = 0, crc_ok = 1;
    while (pos + 12 <= len && !seen_iend) {
        uint32_t clen = be32(f + pos);
        if (pos + 12 + clen > len) break;
        const uint8_t *type = f + pos + 4, *data = f + pos + 8;
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), type, 4 + clen);
        if (crc != be32(data + clen)) crc_ok = 0;
        if (nchunk == 0) {
            CHECK(memcmp(type, "IHDR", 4) == 0 && clen == 13, "first chunk is IHDR");
            CHECK(be32(data) == (uint32_t)w && be32(data + 4) == (uint32_t)h, "IHDR size %ux%u",
                  be32(data), be32(data + 4));
            CHECK(data[8] == 8, "bit depth %d", data[8]);
            CHECK(data[9] == (channels == 1 ? 0 : 2), "color type %d", data[9]);
            CHECK(data[10] == 0 && data[11] == 0 && data[12] == 0, "compression/filter/interlace");
        } else if (memcmp(type, "IDAT", 4) == 0) {
            memcpy(idat + idat_len, data, clen);
            idat_len += clen;
        } else if (memcmp(type, "IEND", 4) == 0) {
            seen_iend = 1;
            CHECK(clen == 0, "IEND empty");
        }
        nchunk++;
        pos += 12 + clen;
    }
    CHECK(crc_ok, "all chunk CRCs match");
    CHECK(seen_iend && pos == len, "IEND is last and ends the file (pos %zu of %zu)", pos, len);
    size_t row = 1 + (size_t)w * channels;
    uLongf rlen = row * h + 16;
    uint8_t *raw = malloc(rlen);
    int zr = uncompress(raw, &rlen, idat, idat_len);
    CHECK(zr == Z_OK && rlen == row * h, "IDAT inflates to %zu bytes (zr %d, got %lu)", row * h,
          zr, (unsigned long)rlen);
    if (zr == Z_OK && rlen == row * h) {
        int rows_ok = 1;
        for (int y = 0; y < h; y++)
            if (raw[y * row] != 0 || memcmp(raw + y * row + 1, pixels + y * (row - 1), row - 1))
                rows_ok = 0;
        CHECK(rows_ok, "every row is filter 0 + the pixels");
    }
    free(raw);
    free(idat);
    free(f);
}

static void test_png(void) {
    uint8_t gray[5 * 3], rgb[4 * 2 * 3];
    for (int i = 0; i < 15; i++) gray[i] = (uint8_t)(i * 17);
    for (int i = 0; i < 24; i++) rgb[i] = (uint8_t)(255 - i * 9);
    const char *p1 = tmp_path("io_gray.png"), *p2 = tmp_path("io_rgb.png");
    CHECK(td_png_write(p1, 5, 3, 1, gray) == 0, "gray png: %s", td_error());
    check_png(p1, 5, 3, 1, gray);
    CHECK(td_png_write(p2, 4, 2, 3, rgb) == 0, "rgb png: %s", td_error());
    check_png(p2, 4, 2, 3, rgb);
    char tmp[3300];
    snprintf(tmp, sizeof tmp, "%s.tmp", p1);
    CHECK(!file_exists(tmp), "no temp file left behind");

    /* A bigger image, so IDAT really compresses. */
    static uint8_t big[280 * 280];
    for (int i = 0; i < 280 * 280; i++) big[i] = (uint8_t)((i % 280) ^ (i / 280));
    CHECK(td_png_write(p1, 280, 280, 1, big) == 0, "280x280 png: %s", td_error());
    check_png(p1, 280, 280, 1, big);

    td_clear_error();
    CHECK(td_png_write(tmp_path("no-such-dir/x.png"), 5, 3, 1, gray) == -1 &&
              has(td_error(), "No such file"), "png into a missing directory: %s", td_error());
    CHECK(td_png_write(p1, 5, 3, 2, gray) == -1 && has(td_error(), "channels"),
          "2 channels refused: %s", td_error());
    CHECK(td_png_write(p1, 0, 3, 1, gray) == -1, "zero width refused");
}

/* ---- archive ------------------------------------------------------------------- */

/* A growable byte buffer, to build archives by hand from docs/formats.md. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void b_le(buf *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    b_put(b, t, (size_t)n);
}

static void b_entry(buf *b, const char *name, int kind, int ndim, const uint64_t *dims,
                    const void *payload, uint64_t plen) {
    b_le(b, strlen(name), 2);
    b_put(b, name, strlen(name));
    b_le(b, (uint64_t)kind, 1);
    b_le(b, (uint64_t)ndim, 1);
    for (int i = 0; i < ndim; i++) b_le(b, dims[i], 8);
    b_le(b, plen, 8);
    b_put(b, payload, (size_t)plen);
}

/* header per docs/formats.md around the body; claimed_ulen 0 = the truth */
static void write_raw_archive(const char *path, const buf *body, uint32_t count,
                              uint32_t version, uint64_t claimed_ulen) {
    uLongf zlen = compressBound(body->n);
    uint8_t *z = malloc(zlen);
    compress2(z, &zlen, body->p, body->n, 6);
    buf f = {0};
    b_put(&f, "TDARCHIV", 8);
    b_le(&f, version, 4);
    b_le(&f, count, 4);
    b_le(&f, claimed_ulen ? claimed_ulen : body->n, 8);
    b_le(&f, zlen, 8);
    b_le(&f, crc32(crc32(0L, Z_NULL, 0), body->p, (uInt)body->n), 4);
    b_le(&f, crc32(crc32(0L, Z_NULL, 0), f.p, 36), 4);
    b_put(&f, z, zlen);
    write_bytes(path, f.p, f.n);
    free(f.p);
    free(z);
}

static int archive_fails(const char *path, const char *want_in_message) {
    td_clear_error();
    td_archive *a = td_archive_read(path);
    int ok = a == NULL && has(td_error(), want_in_message) && has(td_error(), path);
    if (!ok) fprintf(stderr, "  %s: %s, message: %s\n", path, a ? "read" : "refused", td_error());
    td_archive_destroy(a);
    return ok;
}

static td_archive *sample_archive(td_tensor *w, td_tensor *v, td_tensor *q, td_tensor *e) {
    *w = td_tensor_zeros(TD_SHAPE(2, 3));
    *v = td_tensor_zeros(TD_SHAPE(5));
    *q = td_tensor_zeros(TD_SHAPE(2, 1, 2, 2));
    *e = td_tensor_zeros(TD_SHAPE(0, 7));
    for (int i = 0; i < 6; i++) w->data[i] = (td_real)(i * 0.37 - 1.1);
    for (int i = 0; i < 5; i++) v->data[i] = (td_real)(1e-30 * (i + 1) + (i == 4 ? 3e30 : 0));
    for (int i = 0; i < 8; i++) q->data[i] = (td_real)(-i);
    td_archive *a = td_archive_create();
    td_archive_put_tensor(a, "enc.w", w);
    td_archive_put_tensor(a, "enc.b", v);
    td_archive_put_string(a, "config", "{\"model\": \"vae\", \"latent\": 2}");
    td_archive_put_tensor(a, "four.d", q);
    td_archive_put_tensor(a, "empty", e);
    td_archive_put_u64(a, "step", 1234567890123ULL);
    td_archive_put_u64(a, "max", UINT64_MAX);
    td_archive_put_bytes(a, "blob", "a\0b\xff", 4);
    td_archive_put_bytes(a, "nothing", "", 0);
    return a;
}

static void test_archive_roundtrip(void) {
    td_tensor w, v, q, e;
    td_archive *a = sample_archive(&w, &v, &q, &e);
    td_archive_put_string(a, "config", "{\"model\": \"vae\", \"latent\": 2, \"beta\": 1}");
    CHECK(td_archive_count(a) == 9, "replacing a name keeps the count (%d)", td_archive_count(a));
    const char *path = tmp_path("io_rt.tda");
    CHECK(td_archive_write(a, path) == 0, "write: %s", td_error());
    CHECK(!file_exists(tmp_path("io_rt.tda.tmp")), "no temp file left");
    td_archive_destroy(a);

    td_archive *r = td_archive_read(path);
    CHECK(r != NULL, "read: %s", td_error());
    if (!r) return;
    CHECK(td_archive_count(r) == 9, "count %d", td_archive_count(r));
    const char *order[9] = {"enc.w", "enc.b", "config", "four.d", "empty",
                            "step",  "max",   "blob",   "nothing"};
    for (int i = 0; i < 9; i++)
        CHECK(td_archive_name(r, i) && strcmp(td_archive_name(r, i), order[i]) == 0,
              "name %d: %s", i, td_archive_name(r, i));
    CHECK(td_archive_name(r, 9) == NULL && td_archive_name(r, -1) == NULL, "names out of range");

    td_tensor w2 = td_tensor_zeros(TD_SHAPE(2, 3)), v2 = td_tensor_zeros(TD_SHAPE(5)),
              q2 = td_tensor_zeros(TD_SHAPE(2, 1, 2, 2)), e2 = td_tensor_zeros(TD_SHAPE(0, 7));
    CHECK(td_archive_get_tensor(r, "enc.w", &w2) == 0, "get enc.w: %s", td_error());
    CHECK(td_archive_get_tensor(r, "enc.b", &v2) == 0, "get enc.b: %s", td_error());
    CHECK(td_archive_get_tensor(r, "four.d", &q2) == 0, "get four.d: %s", td_error());
    CHECK(td_archive_get_tensor(r, "empty", &e2) == 0, "get empty: %s", td_error());
    CHECK(memcmp(w.data, w2.data, 6 * sizeof(td_real)) == 0, "enc.w bit-exact");
    CHECK(memcmp(v.data, v2.data, 5 * sizeof(td_real)) == 0, "enc.b bit-exact (tiny and huge)");
    CHECK(memcmp(q.data, q2.data, 8 * sizeof(td_real)) == 0, "four.d bit-exact");
    td_shape s;
    CHECK(td_archive_tensor_shape(r, "four.d", &s) == 0 && td_shape_equal(s, q.shape), "4-d shape");
    CHECK(td_archive_tensor_shape(r, "empty", &s) == 0 && s.ndim == 2 && s.d[0] == 0 && s.d[1] == 7,
          "empty shape");

    const char *cfg = td_archive_get_string(r, "config");
    CHECK(cfg && strcmp(cfg, "{\"model\": \"vae\", \"latent\": 2, \"beta\": 1}") == 0,
          "string: %s", cfg ? cfg : "(null)");
    uint64_t u = 0;
    CHECK(td_archive_get_u64(r, "step", &u) == 0 && u == 1234567890123ULL, "u64 step");
    CHECK(td_archive_get_u64(r, "max", &u) == 0 && u == UINT64_MAX, "u64 max");
    size_t len = 99;
    const uint8_t *blob = td_archive_get_bytes(r, "blob", &len);
    CHECK(blob && len == 4 && memcmp(blob, "a\0b\xff", 4) == 0, "binary bytes");
    CHECK(td_archive_get_bytes(r, "nothing", &len) && len == 0, "empty bytes");
    CHECK(td_archive_get_string(r, "nothing") && td_archive_get_string(r, "nothing")[0] == 0,
          "empty string");

    /* Wrong size: both shapes in the message; missing or wrong-kind entries. */
    td_tensor wrong = td_tensor_zeros(TD_SHAPE(4, 4));
    td_clear_error();
    CHECK(td_archive_get_tensor(r, "enc.w", &wrong) == -1 && has(td_error(), "[2, 3]") &&
              has(td_error(), "[4, 4]") && has(td_error(), path),
          "size mismatch message: %s", td_error());
    td_clear_error();
    CHECK(td_archive_get_tensor(r, "dec.w", &wrong) == -1 && has(td_error(), "dec.w") &&
              has(td_error(), "enc.w"), "missing tensor message: %s", td_error());
    CHECK(td_archive_get_tensor(r, "config", &wrong) == -1, "bytes entry is not a tensor");
    CHECK(td_archive_get_string(r, "enc.w") == NULL, "tensor is not a string");
    CHECK(td_archive_get_string(r, "nope") == NULL, "missing string");
    CHECK(td_archive_get_u64(r, "config", &u) == -1, "a long string is not a u64");
    CHECK(td_archive_get_u64(r, "nope", &u) == -1, "missing u64");
    CHECK(td_archive_tensor_shape(r, "nope", &s) == -1, "missing shape");

    /* Re-writing what was read gives the same bytes (deterministic). */
    size_t l1, l2;
    CHECK(td_archive_write(r, tmp_path("io_rt2.tda")) == 0, "rewrite: %s", td_error());
    uint8_t *f1 = read_bytes(path, &l1), *f2 = read_bytes(tmp_path("io_rt2.tda"), &l2);
    CHECK(f1 && f2 && l1 == l2 && memcmp(f1, f2, l1) == 0, "rewrite is byte-identical");
    free(f1);
    free(f2);

    /* An empty archive is valid. */
    td_archive *none = td_archive_create();
    CHECK(td_archive_write(none, tmp_path("io_none.tda")) == 0, "write empty: %s", td_error());
    td_archive_destroy(none);
    none = td_archive_read(tmp_path("io_none.tda"));
    CHECK(none && td_archive_count(none) == 0, "read empty: %s", td_error());
    td_archive_destroy(none);

    td_archive_destroy(r);
    td_tensor *all[] = {&w, &v, &q, &e, &w2, &v2, &q2, &e2, &wrong};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) td_tensor_release(all[i]);
}

/* Archives built by hand from the documented layout: the reader accepts a
 * correct one (including the other precision) and refuses each kind of
 * inconsistency, even with every checksum right. */
static void test_archive_handmade(void) {
    const char *path = tmp_path("io_hand.tda");
    double d[3] = {1.0 / 3, -2.5e-8, 1e10};
    float f[2] = {0.1f, -7.0f};
    buf b = {0};
    b_entry(&b, "x64", 2, 1, (uint64_t[]){3}, d, sizeof d);
    b_entry(&b, "x32", 1, 2, (uint64_t[]){1, 2}, f, sizeof f);
    b_entry(&b, "note", 3, 0, NULL, "hi", 2);
    write_raw_archive(path, &b, 3, 1, 0);
    td_archive *a = td_archive_read(path);
    CHECK(a != NULL, "hand-built archive: %s", td_error());
    if (a) {
        td_tensor t3 = td_tensor_zeros(TD_SHAPE(3)), t2 = td_tensor_zeros(TD_SHAPE(2));
        CHECK(td_archive_get_tensor(a, "x64", &t3) == 0, "get f64: %s", td_error());
        CHECK(td_archive_get_tensor(a, "x32", &t2) == 0, "get f32: %s", td_error());
        for (int i = 0; i < 3; i++) CHECK(t3.data[i] == (td_real)d[i], "f64 -> td_real %d", i);
        for (int i = 0; i < 2; i++) CHECK(t2.data[i] == (td_real)f[i], "f32 -> td_real %d", i);
        CHECK(strcmp(td_archive_get_string(a, "note"), "hi") == 0, "note");
        td_tensor_release(&t3);
        td_tensor_release(&t2);
        td_archive_destroy(a);
    }

    struct {
        const char *what, *expect;
    } cases[] = {
        {"shape/payload mismatch", "payload bytes"},
        {"ndim 5", "ndim 5"},
        {"bytes with ndim", "ndim 1"},
        {"unknown kind", "unknown kind 4"},
        {"empty name", "bad name length 0"},
        {"NUL in name", "NUL"},
        {"duplicate name", "appears twice"},
        {"payload past the end", "remain in the body"},
        {"bytes after the last entry", "after the last"},
        {"fewer entries than the count", "cut off"},
        {"huge dimension", "dimension 0"},
        {"dims product overflow", "payload bytes"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        buf c = {0};
        uint32_t count = 1;
        switch (k) {
        case 0: b_entry(&c, "t", 1, 2, (uint64_t[]){2, 2}, f, sizeof f); break;
        case 1: b_entry(&c, "t", 1, 5, (uint64_t[]){1, 1, 1, 1, 2}, f, sizeof f); break;
        case 2: b_entry(&c, "t", 3, 1, (uint64_t[]){2}, f, sizeof f); break;
        case 3: b_entry(&c, "t", 4, 0, NULL, f, sizeof f); break;
        case 4: b_entry(&c, "", 3, 0, NULL, f, sizeof f); break;
        case 5: b_entry(&c, "t", 3, 0, NULL, f, sizeof f); c.p[2] = 0; break; /* name "\0" */
        case 6:
            b_entry(&c, "t", 3, 0, NULL, f, 1);
            b_entry(&c, "t", 3, 0, NULL, f, 1);
            count = 2;
            break;
        case 7:
            b_entry(&c, "t", 3, 0, NULL, f, sizeof f);
            c.n -= 2; /* payload length now exceeds the body */
            break;
        case 8: b_entry(&c, "t", 3, 0, NULL, f, sizeof f); b_put(&c, "zz", 2); break;
        case 9: /* (payload big enough that the header's size check passes) */
            b_entry(&c, "t", 3, 0, NULL, d, sizeof d);
            count = 2;
            break;
        case 10: b_entry(&c, "t", 1, 1, (uint64_t[]){UINT64_MAX}, f, sizeof f); break;
        case 11:
            b_entry(&c, "t", 1, 4, (uint64_t[]){1ULL << 40, 1ULL << 40, 1ULL << 40, 1ULL << 40},
                    f, sizeof f);
            break;
        }
        write_raw_archive(path, &c, count, 1, 0);
        CHECK(archive_fails(path, cases[k].expect), "hand-made: %s", cases[k].what);
        free(c.p);
    }

    /* Header-level lies, with a valid header checksum. */
    write_raw_archive(path, &b, 3, 2, 0);
    CHECK(archive_fails(path, "version 2"), "future version");
    write_raw_archive(path, &b, 3, 1, (uint64_t)1 << 33); /* 8 GiB from a few bytes */
    double t0 = now_s();
    CHECK(archive_fails(path, "impossible"), "huge uncompressed length refused");
    CHECK(now_s() - t0 < 1.0, "refused quickly");
    write_raw_archive(path, &b, 3, 1, b.n + 1);
    CHECK(archive_fails(path, "does not decode"), "uncompressed length off by one");
    write_raw_archive(path, &b, 1u << 30, 1, 0);
    CHECK(archive_fails(path, "impossible"), "absurd entry count");
    write_bytes(path, "PK\3\4 not an archive at all, clearly", 36);
    CHECK(archive_fails(path, "not a tinyad archive"), "foreign file");
    CHECK(archive_fails(tmp_path("io_missing.tda"), "No such file"), "missing file");
    free(b.p);
}

/* Every prefix and every single-byte corruption of a real archive is refused. */
static void test_archive_damage(void) {
    td_tensor w, v, q, e;
    td_archive *a = sample_archive(&w, &v, &q, &e);
    const char *good = tmp_path("io_good.tda"), *bad = tmp_path("io_bad.tda");
    CHECK(td_archive_write(a, good) == 0, "write: %s", td_error());
    td_archive_destroy(a);
    size_t len;
    uint8_t *f = read_bytes(good, &len);
    CHECK(f && len > 40, "archive has a body (%zu bytes)", len);
    if (!f) return;

    int accepted = 0, silent = 0;
    for (size_t cut = 0; cut < len; cut++) {
        write_bytes(bad, f, cut);
        td_clear_error();
        td_archive *r = td_archive_read(bad);
        if (r) accepted++;
        else if (!has(td_error(), bad)) silent++;
        td_archive_destroy(r);
    }
    CHECK(accepted == 0, "%d of %zu truncated archives were accepted", accepted, len);
    CHECK(silent == 0, "%d truncations gave no message naming the file", silent);

    uint8_t *g = malloc(len + 1);
    memcpy(g, f, len);
    g[len] = 0;
    write_bytes(bad, g, len + 1);
    CHECK(archive_fails(bad, "the file has"), "one trailing byte");

    /* A flipped bit must never give different data. It can leave the data
     * unchanged: deflate's encoding has a few bits that do not affect the
     * output (e.g. code lengths of unused symbols), and then reading is
     * right to succeed. The writer is deterministic, so "same data" is
     * checked as "re-writing gives the original file". */
    int wrong = 0, harmless = 0;
    for (size_t i = 0; i < len; i++) {
        for (int m = 0; m < 2; m++) {
            memcpy(g, f, len);
            g[i] ^= m ? 0xff : 0x01;
            write_bytes(bad, g, len);
            td_archive *r = td_archive_read(bad);
            if (r) {
                size_t l2 = 0;
                uint8_t *again = NULL;
                if (td_archive_write(r, tmp_path("io_again.tda")) == 0)
                    again = read_bytes(tmp_path("io_again.tda"), &l2);
                if (again && l2 == len && memcmp(again, f, len) == 0 && i >= 40)
                    harmless++;
                else
                    wrong++;
                free(again);
            }
            td_archive_destroy(r);
        }
    }
    CHECK(wrong == 0, "%d of %zu byte-flipped archives read back different data", wrong, 2 * len);
    CHECK(harmless < 8, "%d flips accepted as harmless; expected very few", harmless);
    free(g);
    free(f);
    td_tensor *all[] = {&w, &v, &q, &e};
    for (size_t i = 0; i < 4; i++) td_tensor_release(all[i]);
}

/* A failed write reports what failed and leaves the old file as it was. */
static void test_archive_write_failures(void) {
    td_tensor w, v, q, e;
    td_archive *a = sample_archive(&w, &v, &q, &e);
    td_archive *b = td_archive_create();
    td_archive_put_string(b, "other", "a different archive");

    td_clear_error();
    CHECK(td_archive_write(a, tmp_path("io-no-such-dir/ck.tda")) == -1 &&
              has(td_error(), "No such file") && has(td_error(), "io-no-such-dir/ck.tda"),
          "missing directory: %s", td_error());
    write_bytes(tmp_path("io_x.file"), "x", 1);
    td_clear_error();
    CHECK(td_archive_write(a, tmp_path("io_x.file/sub/ck.tda")) == -1 &&
              has(td_error(), "Not a directory"), "path under a regular file: %s", td_error());

    /* The old file survives each failure below byte for byte. */
    const char *path = tmp_path("io_keep.tda");
    char tmp[3300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    rmdir(tmp);
    CHECK(td_archive_write(a, path) == 0, "write the old file: %s", td_error());
    size_t len0, len1;
    uint8_t *before = read_bytes(path, &len0);

    /* A write that fails midway, as on a full disk: a file-size limit makes
     * write() fail with EFBIG after 100 bytes (works as root too). */
    struct rlimit fs_old, fs_cap;
    if (getrlimit(RLIMIT_FSIZE, &fs_old) == 0) {
        fs_cap = fs_old;
        fs_cap.rlim_cur = 100;
        signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of being killed */
        CHECK(setrlimit(RLIMIT_FSIZE, &fs_cap) == 0, "setrlimit: %s", strerror(errno));
        td_clear_error();
        int rc = td_archive_write(a, path);
        setrlimit(RLIMIT_FSIZE, &fs_old);
        signal(SIGXFSZ, SIG_DFL);
        CHECK(rc == -1 && has(td_error(), "File too large") && has(td_error(), "writing") &&
                  has(td_error(), "left unchanged"), "write failing midway: %s", td_error());
        CHECK(!file_exists(tmp), "temp file removed after a failed write");
        uint8_t *after = read_bytes(path, &len1);
        CHECK(after && len1 == len0 && memcmp(before, after, len0) == 0, "old file intact (EFBIG)");
        free(after);
    }

    /* A stale PATH.tmp that is a symlink to another file: the writer must
     * replace the link, never write through it. */
    const char *victim = tmp_path("io_victim.txt");
    write_bytes(victim, "precious", 8);
    unlink(tmp);
    CHECK(symlink(victim, tmp) == 0, "symlink: %s", strerror(errno));
    CHECK(td_archive_write(a, path) == 0, "write over a stale temp link: %s", td_error());
    uint8_t *vic = read_bytes(victim, &len1);
    CHECK(vic && len1 == 8 && memcmp(vic, "precious", 8) == 0, "symlink target untouched");
    free(vic);
    CHECK(!file_exists(tmp), "no temp left");

    /* The temp name is taken by a directory: creating it fails. */
    CHECK(mkdir(tmp, 0755) == 0, "mkdir %s: %s", tmp, strerror(errno));
    td_clear_error();
    CHECK(td_archive_write(b, path) == -1 && has(td_error(), "cannot create"),
          "temp name blocked: %s", td_error());
    rmdir(tmp);
    uint8_t *after = read_bytes(path, &len1);
    CHECK(after && len1 == len0 && memcmp(before, after, len0) == 0, "old file intact (blocked)");
    free(after);

    /* Read-only directory: only meaningful when not root (root ignores the
     * mode bits). */
    if (geteuid() != 0) {
        const char *ro = tmp_path("io_ro_dir"), *rop = tmp_path("io_ro_dir/ck.tda");
        mkdir(ro, 0755);
        CHECK(td_archive_write(a, rop) == 0, "write into the directory: %s", td_error());
        chmod(ro, 0555);
        td_clear_error();
        CHECK(td_archive_write(b, rop) == -1 && has(td_error(), "Permission denied"),
              "read-only directory: %s", td_error());
        chmod(ro, 0755);
        td_archive *r = td_archive_read(rop);
        CHECK(r && td_archive_count(r) == 9, "old file intact (read-only dir)");
        td_archive_destroy(r);
    } else {
        printf("running as root: the read-only directory case is covered by the cases above\n");
    }

    /* And a successful overwrite replaces it. */
    CHECK(td_archive_write(b, path) == 0, "overwrite: %s", td_error());
    td_archive *r = td_archive_read(path);
    CHECK(r && td_archive_count(r) == 1 && td_archive_get_string(r, "other"), "new contents");
    td_archive_destroy(r);

    free(before);
    td_archive_destroy(a);
    td_archive_destroy(b);
    td_tensor *all[] = {&w, &v, &q, &e};
    for (size_t i = 0; i < 4; i++) td_tensor_release(all[i]);
}

/* A sample for checking docs/formats.md's Python reader by hand:
 * TINYAD_IO_SAMPLE=path test_io writes it there. */
static void write_python_sample(void) {
    const char *out = getenv("TINYAD_IO_SAMPLE");
    if (!out || !*out) return;
    td_tensor w, v, q, e;
    td_archive *a = sample_archive(&w, &v, &q, &e);
    CHECK(td_archive_write(a, out) == 0, "sample: %s", td_error());
    printf("wrote %s\n", out);
    td_archive_destroy(a);
    td_tensor *all[] = {&w, &v, &q, &e};
    for (size_t i = 0; i < 4; i++) td_tensor_release(all[i]);
}

int main(void) {
    const char *t = getenv("TINYAD_TEST_TMP");
    snprintf(tmp_dir, sizeof tmp_dir, "%s", t && *t ? t : "/tmp");
    test_idx();
    test_mnist();
    test_png();
    test_archive_roundtrip();
    test_archive_handmade();
    test_archive_damage();
    test_archive_write_failures();
    write_python_sample();
    return check_done("io");
}
