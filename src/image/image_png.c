/*
 * image_png.c - PNG bytes -> 8-bit RGB with libpng (Debian libpng-dev), as PIL's
 * convert("RGB") gives it: palette looked up, grey (1/2/4/8-bit) replicated, alpha and tRNS
 * dropped, 16-bit samples cut to their high byte, Adam7 interlacing undone, gAMA ignored.
 *
 * libpng reports errors by longjmp: the error callback jumps back to png_decode_body's setjmp.
 * Everything that changes after setjmp lives in the png_ctx that the caller owns (not in locals of
 * the function that called setjmp), so it is valid after the jump; the caller frees it.
 */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "image/image_internal.h"

typedef struct {
    const uint8_t *bytes; /* the whole file */
    size_t n, pos;        /* size and read position */
    jmp_buf jump;         /* where libpng errors land */
    char msg[200];        /* libpng's error message */
    png_structp png;
    png_infop info;
    png_bytep *rows; /* (height) pointers into out->rgb */
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "error");
    longjmp(c->jump, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* ancillary-chunk problems: libpng skips the chunk, as PIL does */
}

static void png_read_from_memory(png_structp png, png_bytep dst, size_t len) {
    png_ctx *c = png_get_io_ptr(png);
    if (len > c->n - c->pos) png_error(png, "truncated PNG data");
    memcpy(dst, c->bytes + c->pos, len);
    c->pos += len;
}

static uint32_t read_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The decode proper; returns AG_OK, or an error status with err set. */
static ag_status png_decode_body(png_ctx *c, const ag_image_limits *lim, ag_image *out, ag_error *err) {
    if (setjmp(c->jump)) return ag_error_set(err, AG_ERR_FORMAT, "corrupt PNG image: %s", c->msg);
    png_set_read_fn(c->png, c, png_read_from_memory);
    /* our own limits are checked below with a clearer message; libpng's only stop absurd sizes */
    png_set_user_limits(c->png, 0x7fffffffU, 0x7fffffffU);
    png_read_info(c->png, c->info);

    png_uint_32 width = png_get_image_width(c->png, c->info), height = png_get_image_height(c->png, c->info);
    ag_status st = ag_image_check_size(lim, width, height, err);
    if (st != AG_OK) return st;
    int color = png_get_color_type(c->png, c->info), depth = png_get_bit_depth(c->png, c->info);

    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(c->png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(c->png);
    if (depth == 16) png_set_strip_16(c->png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(c->png);
    png_set_strip_alpha(c->png); /* also drops the alpha that expanding a palette's tRNS adds */
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    if (png_get_rowbytes(c->png, c->info) != (size_t)width * 3 || png_get_channels(c->png, c->info) != 3)
        return ag_error_set(err, AG_ERR_FORMAT, "PNG image: unexpected layout after conversion to RGB");

    out->rgb = malloc((size_t)width * height * 3);
    c->rows = malloc(sizeof(png_bytep) * height);
    if (!out->rgb || !c->rows) return ag_error_set(err, AG_ERR_NOMEM, "PNG image %u x %u: out of memory", width, height);
    for (png_uint_32 y = 0; y < height; y++) c->rows[y] = out->rgb + (size_t)y * width * 3;
    out->width = (int)width;
    out->height = (int)height;
    png_read_image(c->png, c->rows);
    png_read_end(c->png, NULL);
    return AG_OK;
}

ag_status ag_image_decode_png(const uint8_t *bytes, size_t n, const ag_image_limits *lim, ag_image *out,
                              ag_error *err) {
    /* the header's size, checked before libpng sees the file (signature, IHDR length + type) */
    if (n < 33) return ag_error_set(err, AG_ERR_FORMAT, "truncated PNG image (%zu bytes)", n);
    if (memcmp(bytes + 12, "IHDR", 4) != 0)
        return ag_error_set(err, AG_ERR_FORMAT, "corrupt PNG image: IHDR is not the first chunk");
    ag_status st = ag_image_check_size(lim, read_be32(bytes + 16), read_be32(bytes + 20), err);
    if (st != AG_OK) return st;

    png_ctx *c = calloc(1, sizeof *c);
    if (!c) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    c->bytes = bytes;
    c->n = n;
    c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, png_on_error, png_on_warning);
    if (c->png) c->info = png_create_info_struct(c->png);
    if (!c->png || !c->info)
        st = ag_error_set(err, AG_ERR_NOMEM, "out of memory (libpng)");
    else
        st = png_decode_body(c, lim, out, err);
    png_destroy_read_struct(c->png ? &c->png : NULL, c->info ? &c->info : NULL, NULL);
    free(c->rows);
    free(c);
    return st;
}
