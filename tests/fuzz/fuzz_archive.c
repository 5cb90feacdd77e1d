/* libFuzzer harness: the tensor archive reader (td_archive_read).
 *
 * The first byte picks how the rest becomes the file:
 *   even: the rest is the file as it is (every header field, checksum and
 *         compressed byte is the fuzzer's to damage);
 *   odd:  the byte after it is the entry count and the rest is an
 *         uncompressed body; the harness wraps it in a valid header
 *         (lengths, CRCs, zlib stream), so the fuzzer reaches the entry
 *         parser instead of stopping at the checksums.
 * An archive that reads must be usable and must round-trip: every entry's
 * shape, bytes and values are read through the public lookups, the archive
 * is written again, read again, and must be the same entry for entry. */
#include <math.h>

#include "fuzz.h"
#include "tensor/io.h"

/* Same value, counting NaN equal to NaN (payload bits may differ). */
static int same_real(td_real a, td_real b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Everything about entry i of a, through the public API; with b, also
 * checks b's entry of that name is the same. */
static void check_entry(const td_archive *a, int i, const td_archive *b) {
    const char *name = td_archive_name(a, i);
    FUZZ_CHECK(name && *name && strlen(name) <= 255, "entry %d has no valid name", i);
    td_shape s;
    if (td_archive_tensor_shape(a, name, &s) == 0) {
        FUZZ_CHECK(s.ndim >= 1 && s.ndim <= TD_MAX_DIMS, "entry '%s': ndim %d", name, s.ndim);
        FUZZ_CHECK(td_archive_get_bytes(a, name, NULL) == NULL, "'%s' is a tensor and bytes", name);
        td_tensor t = td_tensor_zeros(s); /* sizes were bounded by the body on read */
        FUZZ_CHECK(td_archive_get_tensor(a, name, &t) == 0, "get_tensor('%s'): %s", name,
                   td_error());
        if (b) {
            td_shape sb;
            FUZZ_CHECK(td_archive_tensor_shape(b, name, &sb) == 0 && td_shape_equal(s, sb),
                       "'%s' changed shape in the round trip", name);
            td_tensor u = td_tensor_zeros(sb);
            FUZZ_CHECK(td_archive_get_tensor(b, name, &u) == 0, "re-read '%s': %s", name, td_error());
            for (int64_t k = 0; k < t.size; k++)
                FUZZ_CHECK(same_real(t.data[k], u.data[k]), "'%s'[%lld] changed in the round trip",
                           name, (long long)k);
            td_tensor_release(&u);
        }
        td_tensor_release(&t);
    } else {
        size_t len;
        const uint8_t *p = td_archive_get_bytes(a, name, &len);
        FUZZ_CHECK(p, "entry '%s' is neither a tensor nor bytes", name);
        FUZZ_CHECK(p[len] == 0, "bytes entry '%s' lacks its trailing NUL", name);
        uint64_t v;
        FUZZ_CHECK((td_archive_get_u64(a, name, &v) == 0) == (len == 8), "get_u64('%s')", name);
        (void)td_archive_get_string(a, name);
        if (b) {
            size_t lb;
            const uint8_t *q = td_archive_get_bytes(b, name, &lb);
            FUZZ_CHECK(q && lb == len && memcmp(p, q, len) == 0, "'%s' bytes changed", name);
        }
    }
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

    td_archive *a = td_archive_read(path);
    if (!a) {
        const char *msg = td_error();
        FUZZ_CHECK(msg && *msg, "refused without a message");
        return 0;
    }
    int n = td_archive_count(a);
    FUZZ_CHECK(n >= 0 && td_archive_name(a, n) == NULL, "count %d", n);
    for (int i = 0; i < n; i++) check_entry(a, i, NULL);
    FUZZ_CHECK(td_archive_get_bytes(a, "\x01 no such entry", NULL) == NULL, "found a ghost");

    /* Round trip: write, read back, compare entry for entry, in order. */
    const char *again = fuzz_tmp_path(1);
    FUZZ_CHECK(td_archive_write(a, again) == 0, "rewriting a valid archive failed: %s", td_error());
    td_archive *b = td_archive_read(again);
    FUZZ_CHECK(b, "reading back a rewritten archive failed: %s", td_error());
    FUZZ_CHECK(td_archive_count(b) == n, "round trip: %d entries became %d", n,
               td_archive_count(b));
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(strcmp(td_archive_name(a, i), td_archive_name(b, i)) == 0,
                   "round trip: entry %d renamed", i);
        check_entry(a, i, b);
    }
    td_archive_destroy(b);
    td_archive_destroy(a);
    return 0;
}
