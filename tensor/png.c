/* PNG writing (8-bit grayscale or RGB) through zlib, written atomically.
 * PNG integers are big-endian (the spec says so), encoded byte by byte. */
#include "png.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "write_atomic.h"

static void put_be32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* One chunk: length (BE), type, data, CRC over type+data. */
static uint8_t *png_chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t len) {
    put_be32(p, len);
    memcpy(p + 4, type, 4);
    if (len) memcpy(p + 8, data, len);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, p + 4, 4 + len);
    put_be32(p + 8 + len, (uint32_t)crc);
    return p + 12 + len;
}

int td_png_write(const char *path, int64_t width, int64_t height, int channels,
                 const uint8_t *pixels) {
    /* 2^31-1 is PNG's own limit per dimension; the byte cap keeps one IDAT
     * chunk (also limited to 2^31-1) and compress2's sizes in range. */
    const int64_t max_raw = (int64_t)1 << 30;
    if (width < 1 || height < 1 || width > INT32_MAX || height > INT32_MAX ||
        (channels != 1 && channels != 3) || !pixels) {
        td_set_error("cannot write PNG %s: invalid image %lld x %lld with %d channels (need "
                     "width, height >= 1, channels 1 or 3, and pixel data)",
                     path, (long long)width, (long long)height, channels);
        return -1;
    }
    int64_t row = 1 + width * channels; /* filter byte + pixels */
    if (row > max_raw / height) {
        td_set_error("cannot write PNG %s: %lld x %lld is too large (limit %lld bytes)", path,
                     (long long)width, (long long)height, (long long)max_raw);
        return -1;
    }
    size_t raw_len = (size_t)(row * height);
    uint8_t *raw = malloc(raw_len);
    uLong zcap = compressBound((uLong)raw_len);
    uint8_t *file = malloc(8 + 25 + 12 + zcap + 12);
    if (!raw || !file) {
        free(raw);
        free(file);
        td_set_error("cannot write PNG %s: out of memory", path);
        return -1;
    }
    size_t w = (size_t)width * (size_t)channels;
    for (int64_t y = 0; y < height; y++) {
        raw[y * row] = 0; /* filter type 0: None */
        memcpy(raw + y * row + 1, pixels + (size_t)y * w, w);
    }

    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)width);
    put_be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;                       /* bit depth */
    ihdr[9] = channels == 1 ? 0 : 2;   /* color type: gray or RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */

    /* Compress straight into the IDAT chunk's data slot. */
    uint8_t *idat = file + 8 + 25;
    uLongf zlen = zcap;
    int zr = compress2(idat + 8, &zlen, raw, (uLong)raw_len, Z_DEFAULT_COMPRESSION);
    free(raw);
    if (zr != Z_OK) {
        free(file);
        td_set_error("cannot write PNG %s: zlib compression failed (%s)", path, zError(zr));
        return -1;
    }
    memcpy(file, sig, 8);
    png_chunk(file + 8, "IHDR", ihdr, 13);
    /* IDAT data is already in place: png_chunk's memcpy would overlap, so
     * write the frame around it by hand. */
    put_be32(idat, (uint32_t)zlen);
    memcpy(idat + 4, "IDAT", 4);
    put_be32(idat + 8 + zlen, (uint32_t)crc32(crc32(0L, Z_NULL, 0), idat + 4, 4 + (uInt)zlen));
    uint8_t *end = png_chunk(idat + 12 + zlen, "IEND", NULL, 0);

    td_piece part = {file, (size_t)(end - file)};
    int rc = td_write_atomic(path, &part, 1, 0, "PNG");
    free(file);
    return rc;
}
