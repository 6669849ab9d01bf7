/*
 * image.h - images for vision-language models: decoding PNG/JPEG bytes into RGB pixels and
 * turning pixels into the patches a vision encoder takes, exactly as the model's image processor
 * does (resize to a multiple of patch x merge size within a pixel budget, rescale, normalize,
 * cut into patches in the processor's order).
 *
 * Ownership: ag_image_decode and ag_image_preprocess_* fill caller-provided structs whose
 * buffers the caller releases with ag_image_free / ag_image_patches_free.
 */
#ifndef AUTOGLM_IMAGE_H
#define AUTOGLM_IMAGE_H

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Decoded pixels: 8-bit RGB, row-major, width * height * 3 bytes. */
typedef struct {
    int width, height;
    uint8_t *rgb; /* owned: ag_image_free */
} ag_image;

/* What the vision encoder takes for one image, as the processor's pixel_values and
 * image_grid_thw: grid_t * grid_h * grid_w rows of patch_dim floats (channels x temporal patch x
 * patch x patch), in the processor's row order (merge-size groups of neighbouring patches). */
typedef struct {
    int grid_t, grid_h, grid_w; /* patches along time, height, width */
    int patch_dim;              /* 3 * temporal_patch_size * patch_size * patch_size */
    float *pixels;              /* owned: ag_image_patches_free */
} ag_image_patches;

/* The processor's settings; a vision projector file (mmproj GGUF) carries them. */
typedef struct {
    int patch_size;          /* pixels per patch side (14) */
    int merge_size;          /* patches merged per side by the projector (2) */
    int temporal_patch_size; /* frames per patch (2; a still image is repeated) */
    int64_t min_pixels;      /* pixel budget of the resized image */
    int64_t max_pixels;
    float mean[3], std[3];   /* per-channel normalization after rescaling to [0, 1] */
} ag_image_preproc_params;

void ag_image_free(ag_image *img);
void ag_image_patches_free(ag_image_patches *p);

#ifdef __cplusplus
}
#endif

#endif
