/* libFuzzer harness: the IDX reader (td_idx_load), plain and gzip.
 *
 * The first byte picks how the rest becomes the file:
 *   even: the rest is the file as it is (plain IDX, or a gzip stream the
 *         fuzzer mutates byte by byte: damaged headers, CRCs, lengths);
 *   odd:  the rest is gzip-compressed first, so the fuzzer can explore the
 *         IDX header and sizes behind a valid gzip layer.
 * An accepted file must be self-consistent: ndim 1..4, dims > 0 whose
 * product is the data length, count = dims[0], and every data byte
 * readable (ASan checks the reads). */
#include <zlib.h>

#include "fuzz.h"
#include "tensor/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    const char *path;
    if (data[0] & 1) {
        path = fuzz_tmp_path(0);
        gzFile g = gzopen(path, "wb1");
        FUZZ_CHECK(g, "cannot create %s", path);
        FUZZ_CHECK(len == 0 || gzwrite(g, body, (unsigned)len) == (int)len, "gzwrite failed");
        FUZZ_CHECK(gzclose(g) == Z_OK, "gzclose failed");
    } else {
        path = fuzz_write_tmp(0, body, len);
    }

    td_idx idx;
    if (td_idx_load(path, &idx) < 0) {
        const char *msg = td_error();
        FUZZ_CHECK(msg && *msg, "refused without a message");
        FUZZ_CHECK(idx.data == NULL && idx.count == 0, "a refused load left data behind");
        return 0;
    }
    FUZZ_CHECK(idx.ndim >= 1 && idx.ndim <= 4, "ndim %d", idx.ndim);
    int64_t total = 1;
    for (int i = 0; i < idx.ndim; i++) {
        FUZZ_CHECK(idx.dims[i] > 0, "dim %d is %lld", i, (long long)idx.dims[i]);
        total *= idx.dims[i];
    }
    FUZZ_CHECK(idx.count == idx.dims[0], "count %lld vs dims[0] %lld", (long long)idx.count,
               (long long)idx.dims[0]);
    FUZZ_CHECK(idx.count * idx.item_size == total, "count x item_size != product of dims");
    /* The file holds at least the data; a plain file exactly header + data. */
    if (!(data[0] & 1) && len >= 2 && !(body[0] == 0x1f && body[1] == 0x8b))
        FUZZ_CHECK((size_t)total + 4 + 4 * (size_t)idx.ndim == len,
                   "accepted a plain file of %zu bytes for %lld data bytes", len, (long long)total);
    unsigned sum = 0;
    for (int64_t i = 0; i < total; i++) sum += idx.data[i];
    FUZZ_CHECK(sum <= 255u * (unsigned)total, "impossible");
    td_idx_release(&idx);
    FUZZ_CHECK(idx.data == NULL, "release left a pointer");
    return 0;
}
