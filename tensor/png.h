/* PNG images: 8-bit grayscale (channels 1) or RGB (channels 3), rows top to
 * bottom. Written to a temporary file and renamed, so a failure leaves any
 * previous file intact; returns 0, or -1 with td_error() saying why. */
#ifndef TD_PNG_H
#define TD_PNG_H

#include "tensor.h"

int td_png_write(const char *path, int64_t width, int64_t height, int channels,
                 const uint8_t *pixels);

#endif
