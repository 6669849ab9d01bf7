/*
 * image_jpeg.c - JPEG bytes -> 8-bit RGB with libjpeg-turbo (Debian libjpeg62-turbo-dev), with
 * the settings PIL's decoder uses (islow IDCT, fancy upsampling): YCbCr/RGB as RGB, grey
 * replicated, CMYK/YCCK converted with PIL's CMYK -> RGB formula (Adobe files store inverted CMYK),
 * baseline and progressive; EXIF orientation not applied (PIL does not by default).
 *
 * libjpeg reports errors through error_exit, which must not return: it longjmps back to
 * jpeg_decode_body's setjmp. The state that changes after setjmp lives in the caller's jpeg_ctx.
 * Truncated data (libjpeg's "premature end" warnings) is an error, as in PIL; a cap on the number of
 * progressive scans stops files built to make decoding slow.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "base/error.h"
#include "image/image_internal.h"

#define JPEG_MAX_SCANS 500 /* progressive files have ~10; thousands only make decoding slow */

typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg passes &pub as cinfo->err */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err_ctx;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_ctx jerr;
    struct jpeg_progress_mgr progress;
    bool created;
    uint8_t *row; /* (width * components) one decoded row before conversion */
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings that mean the data ended early or is damaged become errors; others (extraneous bytes
 * between markers, unknown markers) are skipped as PIL skips them. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        int code = cinfo->err->msg_code;
        if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC ||
            code == JWRN_HUFF_BAD_CODE || code == JWRN_BOGUS_PROGRESSION)
            jpeg_on_error(cinfo);
    }
}

static void jpeg_on_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_err_ctx *e = (jpeg_err_ctx *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

/* PIL's cmyk2rgb: channel = (255 - K) - C * (255 - K) / 255 with its rounding. */
static uint8_t cmyk_channel(int c, int k) {
    int nk = 255 - k, t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static ag_status jpeg_decode_body(jpeg_ctx *c, const uint8_t *bytes, size_t n, const ag_image_limits *lim,
                                  ag_image *out, ag_error *err) {
    struct jpeg_decompress_struct *d = &c->cinfo;
    if (setjmp(c->jerr.jump)) return ag_error_set(err, AG_ERR_FORMAT, "corrupt JPEG image: %s", c->jerr.msg);
    jpeg_create_decompress(d);
    c->created = true;
    c->progress.progress_monitor = jpeg_on_progress;
    d->progress = &c->progress;
    jpeg_mem_src(d, bytes, (unsigned long)n);
    jpeg_read_header(d, TRUE);

    ag_status st = ag_image_check_size(lim, d->image_width, d->image_height, err);
    if (st != AG_OK) return st;
    int in_components;
    bool cmyk = false, inverted = false;
    switch (d->jpeg_color_space) {
    case JCS_GRAYSCALE: d->out_color_space = JCS_GRAYSCALE; in_components = 1; break;
    case JCS_CMYK:
    case JCS_YCCK:
        d->out_color_space = JCS_CMYK;
        in_components = 4;
        cmyk = true;
        inverted = d->saw_Adobe_marker; /* PIL reads these as "CMYK;I" */
        break;
    default: d->out_color_space = JCS_RGB; in_components = 3; break;
    }
    d->dct_method = JDCT_ISLOW;
    d->do_fancy_upsampling = TRUE;
    jpeg_start_decompress(d);
    if (d->output_components != in_components)
        return ag_error_set(err, AG_ERR_FORMAT, "JPEG image: %d components, expected %d", d->output_components,
                            in_components);

    size_t w = d->output_width, h = d->output_height;
    out->rgb = malloc(w * h * 3);
    c->row = malloc(w * (size_t)in_components);
    if (!out->rgb || !c->row) return ag_error_set(err, AG_ERR_NOMEM, "JPEG image %zu x %zu: out of memory", w, h);
    out->width = (int)w;
    out->height = (int)h;
    while (d->output_scanline < d->output_height) {
        size_t y = d->output_scanline;
        JSAMPROW rows[1] = {c->row};
        if (jpeg_read_scanlines(d, rows, 1) != 1)
            return ag_error_set(err, AG_ERR_FORMAT, "corrupt JPEG image: no data for row %zu", y);
        uint8_t *dst = out->rgb + y * w * 3;
        const uint8_t *src = c->row;
        if (in_components == 3)
            memcpy(dst, src, w * 3);
        else if (in_components == 1)
            for (size_t x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[x];
        else if (cmyk)
            for (size_t x = 0; x < w; x++) {
                int v[4];
                for (int i = 0; i < 4; i++) v[i] = inverted ? 255 - src[4 * x + i] : src[4 * x + i];
                for (int i = 0; i < 3; i++) dst[3 * x + i] = cmyk_channel(v[i], v[3]);
            }
    }
    jpeg_finish_decompress(d);
    return AG_OK;
}

ag_status ag_image_decode_jpeg(const uint8_t *bytes, size_t n, const ag_image_limits *lim, ag_image *out,
                               ag_error *err) {
    jpeg_ctx *c = calloc(1, sizeof *c);
    if (!c) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    c->cinfo.err = jpeg_std_error(&c->jerr.pub);
    c->jerr.pub.error_exit = jpeg_on_error;
    c->jerr.pub.emit_message = jpeg_on_message;
    ag_status st = jpeg_decode_body(c, bytes, n, lim, out, err);
    if (c->created) jpeg_destroy_decompress(&c->cinfo);
    free(c->row);
    free(c);
    return st;
}
