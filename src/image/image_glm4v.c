/*
 * image_glm4v.c - the GLM-4.1V image processor (transformers Glm4vImageProcessor; we match its PIL
 * backend, Glm4vImageProcessorPil in transformers 5, see docs/VISION.md):
 *   1. smart_resize: height/width to multiples of factor = patch * merge, the pixel budget
 *      [min_pixels, max_pixels] counting temporal_patch_size frames (Python's round/floor/ceil);
 *   2. PIL bicubic resize of the 8-bit image to that size (image_resize.c);
 *   3. x = float32(v * (1/255) in double), then (x - mean) / std in float32, per channel;
 *   4. the still frame repeated temporal_patch_size times;
 *   5. rows = patches in the order (block row, block col, row in block, col in block) with
 *      merge x merge blocks; each row = (channel, frame, y in patch, x in patch).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/image.h"
#include "base/error.h"

#define GLM4V_MAX_ASPECT 200.0

void ag_image_preproc_params_glm4v_default(ag_image_preproc_params *p) {
    memset(p, 0, sizeof *p);
    p->patch_size = 14;
    p->merge_size = 2;
    p->temporal_patch_size = 2;
    p->min_pixels = 12544;   /* size.shortest_edge = 112 * 112 */
    p->max_pixels = 9633792; /* size.longest_edge = 14 * 14 * 2 * 2 * 2 * 6144 */
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}; /* OPENAI_CLIP_MEAN */
    const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f}; /* OPENAI_CLIP_STD */
    memcpy(p->mean, mean, sizeof mean);
    memcpy(p->std, std, sizeof std);
}

static ag_status check_params(const ag_image_preproc_params *p, ag_error *err) {
    if (!p || p->patch_size <= 0 || p->merge_size <= 0 || p->temporal_patch_size <= 0 || p->patch_size > 1024 ||
        p->merge_size > 64 || p->temporal_patch_size > 64 || p->min_pixels <= 0 || p->max_pixels < p->min_pixels)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "image preprocessing: invalid processor parameters");
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
            return ag_error_set(err, AG_ERR_INVALID_ARG, "image preprocessing: invalid mean/std");
    return AG_OK;
}

ag_status ag_image_glm4v_target_size(int height, int width, const ag_image_preproc_params *p, int *out_height,
                                     int *out_width, ag_error *err) {
    ag_status st = check_params(p, err);
    if (st != AG_OK) return st;
    if (height <= 0 || width <= 0)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "image preprocessing: empty image (%d x %d)", width, height);
    const double factor = (double)p->patch_size * p->merge_size;
    const int64_t frames = p->temporal_patch_size; /* num_frames == temporal_factor: t_bar = frames */
    double h = height, w = width;
    if (h < factor || w < factor) { /* small images are first scaled up so the short side is factor */
        double scale = fmax(factor / h, factor / w);
        h = trunc(h * scale);
        w = trunc(w * scale);
    }
    double ratio = fmax(h, w) / fmin(h, w);
    if (ratio > GLM4V_MAX_ASPECT)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "image is %d x %d: aspect ratio %.1f is over %.0f", width,
                            height, ratio, GLM4V_MAX_ASPECT);
    double h_bar = rint(h / factor) * factor, w_bar = rint(w / factor) * factor; /* Python round: half to even */
    double hw = h * w;
    if ((double)frames * h_bar * w_bar > (double)p->max_pixels) {
        double beta = sqrt((double)frames * hw / (double)p->max_pixels);
        h_bar = fmax(factor, floor(h / beta / factor) * factor);
        w_bar = fmax(factor, floor(w / beta / factor) * factor);
    } else if ((double)frames * h_bar * w_bar < (double)p->min_pixels) {
        double beta = sqrt((double)p->min_pixels / ((double)frames * hw));
        h_bar = ceil(h * beta / factor) * factor;
        w_bar = ceil(w * beta / factor) * factor;
    }
    if (h_bar > 4.0 * AG_IMAGE_MAX_SIDE || w_bar > 4.0 * AG_IMAGE_MAX_SIDE)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "image preprocessing: target size %.0f x %.0f too large", w_bar,
                            h_bar);
    *out_height = (int)h_bar;
    *out_width = (int)w_bar;
    return AG_OK;
}

ag_status ag_image_preprocess_glm4v(const ag_image *img, const ag_image_preproc_params *p, ag_image_patches *out,
                                    ag_error *err) {
    if (!out) return ag_error_set(err, AG_ERR_INVALID_ARG, "image preprocessing: no output");
    memset(out, 0, sizeof *out);
    if (!img || !img->rgb) return ag_error_set(err, AG_ERR_INVALID_ARG, "image preprocessing: no image");
    int rh, rw;
    ag_status st = ag_image_glm4v_target_size(img->height, img->width, p, &rh, &rw, err);
    if (st != AG_OK) return st;
    ag_image resized;
    st = ag_image_resize_bicubic(img, rw, rh, &resized, err);
    if (st != AG_OK) return st;

    /* per channel and byte value: float32(v / 255 in double), then (x - mean) / std in float32 */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float x = (float)((double)v * (1.0 / 255.0));
            lut[c][v] = (x - p->mean[c]) / p->std[c];
        }

    const int ps = p->patch_size, ms = p->merge_size, tp = p->temporal_patch_size;
    const int gh = rh / ps, gw = rw / ps;
    const int patch_dim = 3 * tp * ps * ps;
    const size_t n_rows = (size_t)gh * gw;
    float *pix = malloc(n_rows * patch_dim * sizeof(float));
    if (!pix) {
        ag_image_free(&resized);
        return ag_error_set(err, AG_ERR_NOMEM, "image preprocessing: out of memory (%zu patches)", n_rows);
    }
    /* pixels (n_rows, 3, tp, ps, ps): row order (bh, bw, mh, mw) over gh/ms x gw/ms blocks */
    float *row = pix;
    for (int bh = 0; bh < gh / ms; bh++)
        for (int bw = 0; bw < gw / ms; bw++)
            for (int mh = 0; mh < ms; mh++)
                for (int mw = 0; mw < ms; mw++, row += patch_dim) {
                    int y0 = (bh * ms + mh) * ps, x0 = (bw * ms + mw) * ps;
                    for (int c = 0; c < 3; c++) {
                        float *frame0 = row + (size_t)c * tp * ps * ps;
                        for (int py = 0; py < ps; py++) {
                            const uint8_t *src = resized.rgb + ((size_t)(y0 + py) * rw + x0) * 3 + c;
                            for (int px = 0; px < ps; px++) frame0[py * ps + px] = lut[c][src[3 * px]];
                        }
                        for (int t = 1; t < tp; t++) /* the still image repeated */
                            memcpy(frame0 + (size_t)t * ps * ps, frame0, sizeof(float) * ps * ps);
                    }
                }
    ag_image_free(&resized);
    out->grid_t = 1;
    out->grid_h = gh;
    out->grid_w = gw;
    out->patch_dim = patch_dim;
    out->pixels = pix;
    return AG_OK;
}
