/*
 * image_internal.h - what the decoders of the image layer share: the size limits and the
 * per-format decoders that image.c dispatches to by magic bytes.
 */
#ifndef AG_IMAGE_INTERNAL_H
#define AG_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "autoglm/image.h"

typedef struct {
    int max_side;       /* largest width or height */
    int64_t max_pixels; /* largest width * height */
} ag_image_limits;

/* AG_OK when a width x height image is within lim; AG_ERR_INVALID_ARG "image is W x H, larger
 * than ..." otherwise (AG_ERR_FORMAT for a zero size). */
ag_status ag_image_check_size(const ag_image_limits *lim, int64_t width, int64_t height, ag_error *err);

/* Decoders of whole in-memory files into out (RGB). On failure out may hold a partial buffer that
 * the caller frees. */
ag_status ag_image_decode_png(const uint8_t *bytes, size_t n, const ag_image_limits *lim, ag_image *out,
                              ag_error *err);
ag_status ag_image_decode_jpeg(const uint8_t *bytes, size_t n, const ag_image_limits *lim, ag_image *out,
                               ag_error *err);

#endif
