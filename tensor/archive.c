/* The tensor archive that checkpoints are made of (archive.h).
 *
 * Rules the reader follows: a size read from the file is checked against
 * sane limits and against the file's real length before anything is
 * allocated from it; every length is checked before the bytes it describes
 * are touched; and every failure leaves a message naming the file, what is
 * wrong and what to do. The writer goes through td_write_atomic (PATH.tmp,
 * fsync, rename). Integers are little-endian on disk, encoded byte by byte,
 * so the code is independent of the host's byte order. */
#include "archive.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "write_atomic.h"

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Layout (docs/formats.md has the full description and a Python reader):
 *
 *   header, 40 bytes, little-endian:
 *     0  8  magic "TDARCHIV"
 *     8  4  u32 format version (1)
 *    12  4  u32 entry count
 *    16  8  u64 body length, uncompressed
 *    24  8  u64 body length, compressed (= file size - 40)
 *    32  4  u32 CRC-32 of the uncompressed body
 *    36  4  u32 CRC-32 of header bytes 0..35
 *   body: one zlib stream (RFC 1950) holding the entries back to back:
 *     u16 name length (1..255), name bytes, u8 kind, u8 ndim,
 *     ndim x i64 dims, u64 payload length, payload */

#define AR_MAGIC "TDARCHIV"
#define AR_VERSION 1
#define AR_HEADER 40
#define AR_MAX_NAME 255
#define AR_MAX_ENTRIES (1 << 16) /* lookups are linear: checkpoints hold tens */
#define AR_MAX_BODY ((uint64_t)1 << 34) /* 16 GiB: far beyond any model here */
#define AR_MAX_DIM ((int64_t)1 << 40)
/* deflate cannot expand more than 1032:1, so a larger claimed body length
 * is a lie, whatever the file size: refuse it before allocating. */
#define AR_MAX_RATIO 1032

enum { KIND_F32 = 1, KIND_F64 = 2, KIND_BYTES = 3 };

typedef struct entry {
    char name[AR_MAX_NAME + 1];
    int kind;
    td_shape shape; /* tensors only */
    uint8_t *data;  /* payload exactly as stored on disk, plus a trailing NUL */
    size_t len;     /* payload bytes (without the NUL) */
} entry;

struct td_archive {
    entry *e;
    int n, cap;
    char *source; /* file it was read from, for messages; NULL if built in memory */
};

static const char *ar_src(const td_archive *a) { return a->source ? a->source : "the archive"; }

td_archive *td_archive_create(void) {
    td_archive *a = calloc(1, sizeof *a);
    TD_ASSERT(a, "out of memory creating an archive");
    return a;
}

void td_archive_destroy(td_archive *a) {
    if (!a) return;
    for (int i = 0; i < a->n; i++) free(a->e[i].data);
    free(a->e);
    free(a->source);
    free(a);
}

static entry *ar_find(const td_archive *a, const char *name) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->e[i].name, name) == 0) return &a->e[i];
    return NULL;
}

/* The entry called name, emptied for new contents (replacing keeps its
 * position, so an archive's order is the order names were first put). */
static entry *ar_slot(td_archive *a, const char *name) {
    TD_ASSERT(name && name[0] && strlen(name) <= AR_MAX_NAME,
              "archive entry names must be 1..%d bytes (got \"%.40s...\")", AR_MAX_NAME,
              name ? name : "(null)");
    entry *e = ar_find(a, name);
    if (e) {
        free(e->data);
    } else {
        TD_ASSERT(a->n < AR_MAX_ENTRIES, "archive holds the maximum of %d entries", AR_MAX_ENTRIES);
        if (a->n == a->cap) {
            a->cap = a->cap ? 2 * a->cap : 16;
            a->e = realloc(a->e, (size_t)a->cap * sizeof *a->e);
            TD_ASSERT(a->e, "out of memory growing an archive");
        }
        e = &a->e[a->n++];
        strcpy(e->name, name);
    }
    e->data = NULL;
    e->len = 0;
    return e;
}

static uint8_t *ar_payload(entry *e, size_t len) {
    e->data = malloc(len + 1);
    TD_ASSERT(e->data, "out of memory: archive entry '%s' needs %zu bytes", e->name, len);
    e->data[len] = 0;
    e->len = len;
    return e->data;
}

void td_archive_put_tensor(td_archive *a, const char *name, const td_tensor *t) {
    TD_ASSERT(t && t->shape.ndim >= 1 && t->shape.ndim <= TD_MAX_DIMS && (t->data || !t->size) &&
                  t->size == td_shape_size(t->shape),
              "td_archive_put_tensor('%s'): not a valid tensor", name ? name : "(null)");
    entry *e = ar_slot(a, name);
    e->kind = sizeof(td_real) == 4 ? KIND_F32 : KIND_F64;
    e->shape = t->shape;
    uint8_t *p = ar_payload(e, (size_t)t->size * sizeof(td_real));
    for (int64_t i = 0; i < t->size; i++) {
        if (sizeof(td_real) == 4) {
            float f = (float)t->data[i];
            uint32_t u;
            memcpy(&u, &f, 4);
            put_le(p + 4 * i, u, 4);
        } else {
            double d = (double)t->data[i];
            uint64_t u;
            memcpy(&u, &d, 8);
            put_le(p + 8 * i, u, 8);
        }
    }
}

void td_archive_put_bytes(td_archive *a, const char *name, const void *data, size_t len) {
    TD_ASSERT(data || !len, "td_archive_put_bytes('%s'): NULL data", name ? name : "(null)");
    entry *e = ar_slot(a, name);
    e->kind = KIND_BYTES;
    e->shape = (td_shape){0};
    uint8_t *p = ar_payload(e, len);
    if (len) memcpy(p, data, len);
}

void td_archive_put_string(td_archive *a, const char *name, const char *s) {
    td_archive_put_bytes(a, name, s, strlen(s));
}

void td_archive_put_u64(td_archive *a, const char *name, uint64_t v) {
    uint8_t b[8];
    put_le(b, v, 8);
    td_archive_put_bytes(a, name, b, 8);
}

static size_t entry_size(const entry *e) {
    return 2 + strlen(e->name) + 2 + 8 * (size_t)(e->kind == KIND_BYTES ? 0 : e->shape.ndim) + 8 +
           e->len;
}

/* The compressor's output buffer [cap]: deflate's avail_out is a uInt, so
 * it is handed out 1 GiB at a time. */
typedef struct ar_out {
    z_stream s;
    uint8_t *z;
    size_t cap, used;
} ar_out;

static int ar_deflate(ar_out *o, int flush) {
    for (;;) {
        size_t room = o->cap - o->used;
        o->s.next_out = o->z + o->used;
        o->s.avail_out = (uInt)(room > (1u << 30) ? (1u << 30) : room);
        const uInt given = o->s.avail_out;
        int zr = deflate(&o->s, flush);
        o->used += given - o->s.avail_out;
        if (zr == Z_STREAM_END) return Z_OK;
        if (zr != Z_OK && zr != Z_BUF_ERROR) return zr;
        if (flush == Z_NO_FLUSH && o->s.avail_in == 0) return Z_OK;
        if (o->used == o->cap) return Z_BUF_ERROR; /* beyond deflateBound: cannot happen */
    }
}

/* Compresses len more bytes of the body and adds them to the CRC. */
static int ar_feed(ar_out *o, uint32_t *crc, const uint8_t *p, size_t len) {
    while (len > 0) {
        const uInt n = (uInt)(len > (1u << 30) ? (1u << 30) : len);
        *crc = (uint32_t)crc32(*crc, p, n);
        o->s.next_in = (Bytef *)(uintptr_t)p;
        o->s.avail_in = n;
        int zr = ar_deflate(o, Z_NO_FLUSH);
        if (zr != Z_OK) return zr;
        p += n;
        len -= n;
    }
    return Z_OK;
}

int td_archive_write(const td_archive *a, const char *path) {
    size_t body_len = 0;
    for (int i = 0; i < a->n; i++) body_len += entry_size(&a->e[i]);
    if (body_len > AR_MAX_BODY || (uLong)body_len != body_len) {
        td_set_error("cannot write archive %s: %zu bytes is more than the format's limit", path,
                     body_len);
        return -1;
    }
    /* The body (entry headers and payloads) goes through deflate piece by
     * piece, never assembled in memory: the same bytes as compress2 on the
     * assembled body, without a second copy of every tensor. */
    ar_out o = {0};
    int zr = deflateInit(&o.s, 6);
    if (zr != Z_OK) {
        td_set_error("cannot write archive %s: zlib could not start (%s)", path, zError(zr));
        return -1;
    }
    o.cap = deflateBound(&o.s, (uLong)body_len);
    o.z = malloc(o.cap);
    if (!o.z) {
        deflateEnd(&o.s);
        td_set_error("cannot write archive %s: out of memory (%zu bytes)", path, o.cap);
        return -1;
    }
    uint32_t body_crc = (uint32_t)crc32(0L, Z_NULL, 0);
    size_t fed = 0;
    for (int i = 0; i < a->n && zr == Z_OK; i++) {
        const entry *e = &a->e[i];
        uint8_t head[2 + AR_MAX_NAME + 2 + 8 * TD_MAX_DIMS + 8], *p = head;
        size_t nl = strlen(e->name);
        int ndim = e->kind == KIND_BYTES ? 0 : e->shape.ndim;
        put_le(p, nl, 2);
        memcpy(p + 2, e->name, nl);
        p += 2 + nl;
        *p++ = (uint8_t)e->kind;
        *p++ = (uint8_t)ndim;
        for (int d = 0; d < ndim; d++, p += 8) put_le(p, (uint64_t)e->shape.d[d], 8);
        put_le(p, e->len, 8);
        p += 8;
        zr = ar_feed(&o, &body_crc, head, (size_t)(p - head));
        if (zr == Z_OK) zr = ar_feed(&o, &body_crc, e->data, e->len);
        fed += (size_t)(p - head) + e->len;
    }
    if (zr == Z_OK) {
        o.s.next_in = Z_NULL;
        o.s.avail_in = 0;
        zr = ar_deflate(&o, Z_FINISH);
    }
    deflateEnd(&o.s);
    if (zr != Z_OK) {
        free(o.z);
        td_set_error("cannot write archive %s: zlib compression failed (%s)", path, zError(zr));
        return -1;
    }
    TD_ASSERT(fed == body_len, "archive body size mismatch");
    const size_t zlen = o.used;
    uint8_t *z = o.z;

    uint8_t h[AR_HEADER];
    memcpy(h, AR_MAGIC, 8);
    put_le(h + 8, AR_VERSION, 4);
    put_le(h + 12, (uint64_t)a->n, 4);
    put_le(h + 16, body_len, 8);
    put_le(h + 24, zlen, 8);
    put_le(h + 32, body_crc, 4);
    put_le(h + 36, crc32(crc32(0L, Z_NULL, 0), h, 36), 4);

    td_piece parts[2] = {{h, sizeof h}, {z, zlen}};
    int rc = td_write_atomic(path, parts, 2, 1, "archive");
    free(z);
    return rc;
}

/* "archive PATH is damaged: <detail>; restore ..." */
static void ar_bad(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ar_bad(const char *path, const char *fmt, ...) {
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    td_set_error("archive %s is unusable: %s; the file is truncated or damaged (restore it from "
                 "a backup or write it again)", path, detail);
}

/* Parses and checks the uncompressed body into a (whose entries must be
 * empty). Every length is checked against what is left before it is used. */
static int ar_parse(td_archive *a, const char *path, const uint8_t *b, size_t len, uint32_t count) {
    size_t pos = 0;
    for (uint32_t i = 0; i < count; i++) {
        size_t left = len - pos;
        if (left < 2) {
            ar_bad(path, "entry %u of %u is cut off before its name", i, count);
            return -1;
        }
        size_t nl = (size_t)get_le(b + pos, 2);
        if (nl < 1 || nl > AR_MAX_NAME || left < 2 + nl + 2) {
            ar_bad(path, "entry %u has a bad name length %zu (must be 1..%d and fit the body)", i,
                   nl, AR_MAX_NAME);
            return -1;
        }
        char name[AR_MAX_NAME + 1];
        memcpy(name, b + pos + 2, nl);
        name[nl] = 0;
        if (strlen(name) != nl) {
            ar_bad(path, "entry %u has a NUL byte inside its name", i);
            return -1;
        }
        if (ar_find(a, name)) {
            ar_bad(path, "entry name '%s' appears twice", name);
            return -1;
        }
        pos += 2 + nl;
        int kind = b[pos], ndim = b[pos + 1];
        pos += 2;
        if (kind != KIND_F32 && kind != KIND_F64 && kind != KIND_BYTES) {
            ar_bad(path, "entry '%s' has unknown kind %d (1 f32, 2 f64, 3 bytes)", name, kind);
            return -1;
        }
        if (kind == KIND_BYTES ? ndim != 0 : (ndim < 1 || ndim > TD_MAX_DIMS)) {
            ar_bad(path, "entry '%s' has ndim %d (tensors need 1..%d, bytes 0)", name, ndim,
                   TD_MAX_DIMS);
            return -1;
        }
        if (len - pos < 8 * (size_t)ndim + 8) {
            ar_bad(path, "entry '%s' is cut off in its shape", name);
            return -1;
        }
        td_shape shape = {.ndim = ndim, .d = {1, 1, 1, 1}};
        uint64_t elems = 1, nonzero = 1;
        for (int d = 0; d < ndim; d++, pos += 8) {
            uint64_t v = get_le(b + pos, 8);
            if (v > (uint64_t)AR_MAX_DIM) {
                ar_bad(path, "entry '%s' has dimension %d = %llu", name, d, (unsigned long long)v);
                return -1;
            }
            shape.d[d] = (int64_t)v;
            /* Saturate at len + 1 (already more than the body can hold) so
             * the product never overflows; a later 0 still makes it 0. */
            if (v == 0)
                elems = 0;
            else
                elems = elems > len / v ? (uint64_t)len + 1 : elems * v;
            /* The same product without the zeros, saturated past the limit:
             * an empty [2^40, 2^40, 0] must not pass, since shape arithmetic
             * (td_shape_size) multiplies the dims in order and would
             * overflow int64 before reaching the 0 and abort (regression file
             * in tests/fuzz/regressions/archive). */
            if (v) nonzero = nonzero > (uint64_t)AR_MAX_DIM / v ? (uint64_t)AR_MAX_DIM + 1 : nonzero * v;
        }
        /* Without a 0 such a shape fails the payload check below. */
        if (elems == 0 && nonzero > (uint64_t)AR_MAX_DIM) {
            ar_bad(path, "entry '%s' is empty but its other dims multiply past 2^40", name);
            return -1;
        }
        uint64_t plen = get_le(b + pos, 8);
        pos += 8;
        if (plen > len - pos) {
            ar_bad(path, "entry '%s' claims %llu payload bytes but only %zu remain in the body",
                   name, (unsigned long long)plen, len - pos);
            return -1;
        }
        if (kind != KIND_BYTES && plen != elems * (kind == KIND_F32 ? 4 : 8)) {
            char s[64];
            ar_bad(path, "entry '%s' has shape %s but %llu payload bytes", name,
                   td_shape_str(shape, s, sizeof s), (unsigned long long)plen);
            return -1;
        }
        entry *e = ar_slot(a, name);
        e->kind = kind;
        e->shape = kind == KIND_BYTES ? (td_shape){0} : shape;
        uint8_t *p = ar_payload(e, (size_t)plen);
        if (plen) memcpy(p, b + pos, (size_t)plen);
        pos += (size_t)plen;
    }
    if (pos != len) {
        ar_bad(path, "%zu unexplained bytes after the last of %u entries", len - pos, count);
        return -1;
    }
    return 0;
}

td_archive *td_archive_read(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        td_set_error("cannot open archive %s: %s (check the path)", path, strerror(errno));
        return NULL;
    }
    td_archive *a = NULL;
    uint8_t *z = NULL, *body = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        td_set_error("cannot read archive %s: not a regular file", path);
        goto done;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    uint8_t h[AR_HEADER];
    size_t got = fread(h, 1, fsize < AR_HEADER ? (size_t)fsize : AR_HEADER, f);
    if (got >= 8 && memcmp(h, AR_MAGIC, 8) != 0) {
        td_set_error("%s is not a tinyad archive (it does not start with \"" AR_MAGIC "\"); "
                     "check the path", path);
        goto done;
    }
    if (fsize < AR_HEADER || got < AR_HEADER) {
        ar_bad(path, "%llu bytes, shorter than the %d-byte header", (unsigned long long)fsize,
               AR_HEADER);
        goto done;
    }
    uint32_t version = (uint32_t)get_le(h + 8, 4);
    if (version != AR_VERSION) {
        td_set_error("archive %s has format version %u but this tinyad reads version %d "
                     "(written by a different tinyad version, or damaged)", path, version,
                     AR_VERSION);
        goto done;
    }
    if (get_le(h + 36, 4) != (crc32(crc32(0L, Z_NULL, 0), h, 36) & 0xffffffffu)) {
        ar_bad(path, "header checksum mismatch");
        goto done;
    }
    uint32_t count = (uint32_t)get_le(h + 12, 4);
    uint64_t ulen = get_le(h + 16, 8), zlen = get_le(h + 24, 8);
    uint32_t body_crc = (uint32_t)get_le(h + 32, 4);
    if (zlen != fsize - AR_HEADER) {
        ar_bad(path, "header says %llu compressed bytes follow it, the file has %llu",
               (unsigned long long)zlen, (unsigned long long)(fsize - AR_HEADER));
        goto done;
    }
    if (count > AR_MAX_ENTRIES || ulen > AR_MAX_BODY || ulen / AR_MAX_RATIO > zlen + 1 ||
        ulen < (uint64_t)count * 13 /* smallest entry */ || (uLong)ulen != ulen || (uLong)zlen != zlen) {
        ar_bad(path, "header claims %u entries in %llu bytes (from %llu compressed), which is "
               "impossible", count, (unsigned long long)ulen, (unsigned long long)zlen);
        goto done;
    }
    z = malloc(zlen ? (size_t)zlen : 1);
    body = malloc(ulen ? (size_t)ulen : 1);
    if (!z || !body) {
        td_set_error("cannot read archive %s: out of memory (%llu bytes)", path,
                     (unsigned long long)(zlen + ulen));
        goto done;
    }
    if (fread(z, 1, (size_t)zlen, f) != zlen) {
        td_set_error("cannot read archive %s: %s", path, ferror(f) ? strerror(errno)
                                                                   : "file shrank while reading");
        goto done;
    }
    uLongf out_len = (uLongf)ulen;
    uLong in_len = (uLong)zlen;
    int zr = uncompress2(body, &out_len, z, &in_len);
    if (zr != Z_OK || out_len != ulen || in_len != zlen) {
        ar_bad(path, "the compressed body does not decode to the %llu bytes the header says "
               "(zlib: %s)", (unsigned long long)ulen,
               zr != Z_OK ? zError(zr) : "length mismatch");
        goto done;
    }
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < ulen;) {
        size_t n = ulen - off > (1u << 30) ? (1u << 30) : (size_t)(ulen - off);
        crc = (uint32_t)crc32(crc, body + off, (uInt)n);
        off += n;
    }
    if (crc != body_crc) {
        ar_bad(path, "body checksum mismatch (CRC-32 %08x, header says %08x)", crc, body_crc);
        goto done;
    }
    a = td_archive_create();
    if (ar_parse(a, path, body, (size_t)ulen, count) < 0) {
        td_archive_destroy(a);
        a = NULL;
        goto done;
    }
    a->source = strdup(path);
done:
    free(z);
    free(body);
    fclose(f);
    return a;
}

/* ---- lookups ------------------------------------------------------------------- */

/* Sets "no entry NAME in SRC (it has: a, b, ...)" */
static void ar_missing(const td_archive *a, const char *name, const char *want) {
    char list[400];
    size_t used = 0;
    list[0] = 0;
    for (int i = 0; i < a->n && used + 4 < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, i ? ", %s" : "%s", a->e[i].name);
    td_set_error("no %s named '%s' in %s (it has: %s); is it from a different model or "
                 "tinyad version?", want, name, ar_src(a), a->n ? list : "nothing");
}

int td_archive_get_tensor(const td_archive *a, const char *name, td_tensor *dst) {
    const entry *e = ar_find(a, name);
    if (!e || e->kind == KIND_BYTES) {
        ar_missing(a, name, "tensor");
        return -1;
    }
    int64_t n = td_shape_size(e->shape);
    if (n != dst->size) {
        char s1[64], s2[64];
        td_set_error("tensor '%s' in %s has shape %s but the destination has shape %s; the "
                     "model configuration does not match the one saved", name, ar_src(a),
                     td_shape_str(e->shape, s1, sizeof s1), td_shape_str(dst->shape, s2, sizeof s2));
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (e->kind == KIND_F32) {
            uint32_t u = (uint32_t)get_le(e->data + 4 * i, 4);
            float f;
            memcpy(&f, &u, 4);
            dst->data[i] = (td_real)f;
        } else {
            uint64_t u = get_le(e->data + 8 * i, 8);
            double d;
            memcpy(&d, &u, 8);
            dst->data[i] = (td_real)d;
        }
    }
    return 0;
}

int td_archive_tensor_shape(const td_archive *a, const char *name, td_shape *shape) {
    const entry *e = ar_find(a, name);
    if (!e || e->kind == KIND_BYTES) {
        ar_missing(a, name, "tensor");
        return -1;
    }
    *shape = e->shape;
    return 0;
}

const void *td_archive_get_bytes(const td_archive *a, const char *name, size_t *len) {
    const entry *e = ar_find(a, name);
    if (!e || e->kind != KIND_BYTES) {
        ar_missing(a, name, "byte entry");
        return NULL;
    }
    if (len) *len = e->len;
    return e->data;
}

const char *td_archive_get_string(const td_archive *a, const char *name) {
    /* Payloads carry a trailing NUL (ar_payload), so the data is the string. */
    return td_archive_get_bytes(a, name, NULL);
}

int td_archive_get_u64(const td_archive *a, const char *name, uint64_t *v) {
    size_t len;
    const uint8_t *p = td_archive_get_bytes(a, name, &len);
    if (!p) return -1;
    if (len != 8) {
        td_set_error("entry '%s' in %s is %zu bytes, not an 8-byte integer", name, ar_src(a), len);
        return -1;
    }
    *v = get_le(p, 8);
    return 0;
}

int td_archive_count(const td_archive *a) { return a->n; }

const char *td_archive_name(const td_archive *a, int i) {
    return i >= 0 && i < a->n ? a->e[i].name : NULL;
}
