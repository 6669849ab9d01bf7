/*
 * image.c - the image layer's entry points: ag_image_decode picks the decoder by the magic bytes
 * and applies the size limits; loading a file; freeing images and patches.
 *
 * Relies on image_png.c and image_jpeg.c (image_internal.h) and base/file.c.
 */
#include <stdlib.h>
#include <string.h>

#include "autoglm/image.h"
#include "base/error.h"
#include "base/file.h"
#include "image/image_internal.h"

#define AG_IMAGE_MAX_FILE_BYTES ((size_t)256 * 1024 * 1024)

void ag_image_free(ag_image *img) {
    if (!img) return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

void ag_image_patches_free(ag_image_patches *p) {
    if (!p) return;
    free(p->pixels);
    memset(p, 0, sizeof *p);
}

ag_status ag_image_check_size(const ag_image_limits *lim, int64_t width, int64_t height, ag_error *err) {
    if (width <= 0 || height <= 0)
        return ag_error_set(err, AG_ERR_FORMAT, "image has no pixels (%lld x %lld)", (long long)width,
                            (long long)height);
    if (width > lim->max_side || height > lim->max_side || width * height > lim->max_pixels)
        return ag_error_set(err, AG_ERR_INVALID_ARG,
                            "image is %lld x %lld, larger than %d x %d or %lld pixels in all", (long long)width,
                            (long long)height, lim->max_side, lim->max_side, (long long)lim->max_pixels);
    return AG_OK;
}

ag_status ag_image_decode_limited(const void *bytes, size_t n, int max_side, int64_t max_pixels, ag_image *out,
                                  ag_error *err) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!out) return ag_error_set(err, AG_ERR_INVALID_ARG, "ag_image_decode: no output image");
    memset(out, 0, sizeof *out);
    if (!bytes || n == 0) return ag_error_set(err, AG_ERR_INVALID_ARG, "image is empty (0 bytes)");
    if (max_side <= 0 || max_pixels <= 0)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "ag_image_decode: limits must be positive");
    ag_image_limits lim = {max_side, max_pixels};
    const uint8_t *b = bytes;
    ag_status st;
    if (n >= 8 && memcmp(b, png_magic, 8) == 0)
        st = ag_image_decode_png(b, n, &lim, out, err);
    else if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        st = ag_image_decode_jpeg(b, n, &lim, out, err);
    else
        return ag_error_set(err, AG_ERR_INVALID_ARG, "not a PNG or JPEG image (%zu bytes)", n);
    if (st != AG_OK) ag_image_free(out);
    return st;
}

ag_status ag_image_decode(const void *bytes, size_t n, ag_image *out, ag_error *err) {
    return ag_image_decode_limited(bytes, n, AG_IMAGE_MAX_SIDE, AG_IMAGE_MAX_PIXELS, out, err);
}

ag_status ag_image_load_file(const char *path, ag_image *out, ag_error *err) {
    if (out) memset(out, 0, sizeof *out);
    size_t len = 0;
    char *data = ag_read_file(path, AG_IMAGE_MAX_FILE_BYTES, &len, err);
    if (!data) return err ? err->code : AG_ERR_IO;
    ag_status st = ag_image_decode(data, len, out, err);
    free(data);
    if (st != AG_OK) ag_error_prefix(err, "%s", path);
    return st;
}
