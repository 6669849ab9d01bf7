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
    /* ag_vision_image_key's result, remembered by ag_vision_remember_key so that the encoder does
       not hash the pixels again (0 / unset by ag_image_preprocess_*: hashed when needed) */
    int keyed;
    unsigned char key[32];
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

/* ---------------------------------------------------------------- functions (added with src/image) */

/* Decoding limits checked on the header, before any pixel buffer is allocated. */
#define AG_IMAGE_MAX_SIDE 16384
#define AG_IMAGE_MAX_PIXELS ((int64_t)64 * 1024 * 1024)

/* PNG or JPEG bytes (the format told by the magic bytes) -> 8-bit RGB, as PIL's
 * Image.open(...).convert("RGB") gives it: grey replicated, palette looked up, alpha dropped,
 * 16-bit samples cut to their high byte, CMYK converted with PIL's formula, EXIF orientation not
 * applied. Errors: AG_ERR_INVALID_ARG (empty, not a PNG or JPEG, too large), AG_ERR_FORMAT
 * (truncated or corrupt data), AG_ERR_NOMEM. On failure *out is left empty. */
ag_status ag_image_decode(const void *bytes, size_t n, ag_image *out, ag_error *err);

/* ag_image_decode with other limits (max_side per dimension, max_pixels in all), e.g. smaller
 * ones for fuzzing. */
ag_status ag_image_decode_limited(const void *bytes, size_t n, int max_side, int64_t max_pixels,
                                  ag_image *out, ag_error *err);

/* The whole file at path, decoded (AG_ERR_IO when it cannot be read; files over 256 MiB refused). */
ag_status ag_image_load_file(const char *path, ag_image *out, ag_error *err);

/* The GLM-4.1V processor settings of THUDM/GLM-4.1V-9B-Thinking and zai-org/AutoGLM-Phone-9B
 * (preprocessor_config.json): patch 14, merge 2, temporal patch 2, 12544..9633792 pixels, the
 * OpenAI CLIP mean and std. */
void ag_image_preproc_params_glm4v_default(ag_image_preproc_params *p);

/* The size smart_resize picks for a height x width image (multiples of patch * merge within the
 * pixel budget, which counts temporal_patch_size frames). AG_ERR_INVALID_ARG when the aspect
 * ratio exceeds 200 or the parameters are invalid. */
ag_status ag_image_glm4v_target_size(int height, int width, const ag_image_preproc_params *p,
                                     int *out_height, int *out_width, ag_error *err);

/* The transformers Glm4vImageProcessor (PIL backend, Glm4vImageProcessorPil in transformers 5):
 * smart_resize, PIL's bicubic resize of the 8-bit image, rescale by 1/255, normalize, the still
 * frame repeated temporal_patch_size times, patches in merge-size groups (docs/VISION.md). */
ag_status ag_image_preprocess_glm4v(const ag_image *img, const ag_image_preproc_params *p,
                                    ag_image_patches *out, ag_error *err);

/* PIL's Image.resize(..., BICUBIC) of 8-bit RGB: separable, antialiased, fixed-point with an
 * 8-bit intermediate image, bit-identical to Pillow. out is allocated (out_w x out_h). */
ag_status ag_image_resize_bicubic(const ag_image *in, int out_width, int out_height, ag_image *out,
                                  ag_error *err);

#ifdef __cplusplus
}
#endif

#endif
