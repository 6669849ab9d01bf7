/*
 * fuzz_image.c - libFuzzer target for image input: any bytes go through ag_image_decode_limited
 * (PNG by libpng, JPEG by libjpeg-turbo; small limits so that each run stays fast) and, when they
 * decode, through the GLM-4.1V preprocessing with a small pixel budget; every output pixel is read
 * so that a bad size computation shows up as an ASan report.
 */
#include <stdint.h>
#include <stdlib.h>

#include "autoglm/image.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ag_image img;
    ag_error err = {0};
    if (ag_image_decode_limited(data, size, 1024, 256 * 1024, &img, &err) != AG_OK) return 0;
    sink += img.rgb[0] + img.rgb[(size_t)img.width * img.height * 3 - 1];
    ag_image_preproc_params p;
    ag_image_preproc_params_glm4v_default(&p);
    p.max_pixels = 2 * 28 * 28 * 32; /* at most ~32 merged tokens */
    ag_image_patches pt;
    if (ag_image_preprocess_glm4v(&img, &p, &pt, &err) == AG_OK) {
        size_t n = (size_t)pt.grid_t * pt.grid_h * pt.grid_w * pt.patch_dim;
        float s = 0;
        for (size_t i = 0; i < n; i++) s += pt.pixels[i];
        sink += s;
        ag_image_patches_free(&pt);
    }
    ag_image_free(&img);
    return 0;
}
