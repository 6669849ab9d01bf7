/*
 * cuda_vision.h - the interface between the engine (C) and the CUDA vision encoder
 * (cuda_vision.cu): GLM-4.1V's vision tower and patch merger on the GPU (docs/VISION.md, "On the
 * GPU"). Plain C types only; src/gpu/gpu_vision.c describes an ag_vision with it, and
 * src/gpu/cuda_vision_stub.c implements it with errors in a build without CUDA.
 *
 * Ownership: ag_cuda_vision_new copies every weight into device memory (one allocation, converted
 * once); the caller may free the description afterwards. The encoder owns its stream, cuBLAS
 * handle and a scratch pool sized by the largest image encoded so far (grown, never per layer).
 * Not thread-safe: one encode at a time.
 */
#ifndef AG_CUDA_VISION_H
#define AG_CUDA_VISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cuda/cuda_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One block of the tower: vectors are F32 host pointers (biases NULL when absent). */
typedef struct {
    const float *ln1, *ln2, *qkv_b, *out_b;
    ag_cuda_weight qkv, out, gate, up, down;
} ag_cuda_vision_block;

typedef struct {
    int d, n_head, n_layer, n_ff, out, ctx, merge, patch_dim, pos_side;
    float eps;
    /* Matrix precision: false keeps each matrix as the file has it (F32 -> F32 products on the
     * CUDA cores, F16 -> F16 tensor cores with F32 accumulation; other types -> F16); true makes
     * every matrix F16. The attention products follow the qkv matrix's precision. */
    bool f16;
    int max_attn_rows;                /* > 0: query rows per attention block at most (tests); 0: by memory */
    ag_cuda_weight patch;             /* (d, patch_dim) F32: the Conv3d kernel as rows */
    const float *patch_b;             /* (d) or NULL */
    const float *pos;                 /* (pos_side^2, d) the learned position table */
    const float *pre_ln, *post_ln;    /* (d) */
    const ag_cuda_vision_block *blk;  /* n_layer */
    ag_cuda_weight merge_w;           /* (out, merge^2 d) F32: the 2x2 downsample kernel as rows */
    const float *merge_b;             /* (out) or NULL */
    ag_cuda_weight fc, gate, up, down;
    const float *post_norm_w, *post_norm_b; /* (out) */
} ag_cuda_vision_desc;

typedef struct ag_cuda_vision ag_cuda_vision;

ag_cuda_vision *ag_cuda_vision_new(const ag_cuda_vision_desc *d, int device, ag_error *err);
void ag_cuda_vision_free(ag_cuda_vision *v);

/* Device bytes of the weights, and of the scratch pool now held. */
uint64_t ag_cuda_vision_weight_bytes(const ag_cuda_vision *v);
uint64_t ag_cuda_vision_scratch_bytes(const ag_cuda_vision *v);

/* Encodes one image: pixels (grid_t * grid_h * grid_w, patch_dim) host floats in the processor's
 * order (frames, merge blocks row-major, the block's merge x merge patches); out (host) receives
 * grid_t * grid_h * grid_w / merge^2 rows of `out` floats. The caller validated the grid. */
ag_status ag_cuda_vision_encode(ag_cuda_vision *v, const float *pixels, int grid_t, int grid_h, int grid_w, float *out,
                                ag_error *err);

#ifdef __cplusplus
}
#endif
#endif
