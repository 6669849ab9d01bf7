/*
 * vision_impl.h - the inside of an ag_vision (include/autoglm/vision.h), shared by its loader
 * (vision_load.c: the projector file's keys and tensors) and the encoder (vision_glm4v.c).
 */
#ifndef AG_MODEL_VISION_IMPL_H
#define AG_MODEL_VISION_IMPL_H

#include "autoglm/vision.h"
#include "base/threadpool.h"
#include "model/model.h"

typedef struct {
    const float *ln1, *ln2, *qkv_b, *out_b;
    ag_weight qkv, out, gate, up, down;
} vblock;

struct ag_vision {
    ag_gguf_file *gguf;
    int n_embd;           /* the language model's: the projector's output size */
    ag_threadpool *pool;
    int d, n_head, hd, n_layer, n_ff, out, ctx, merge, patch, tpatch, pos_side, patch_dim;
    float eps;
    ag_image_preproc_params pp;
    ag_token image_token;
    float *patch_w;       /* (d, patch_dim) owned: the Conv3d kernel in pixel-row order (c, t, y, x) */
    const float *patch_b; /* (d) or NULL */
    const float *pos;     /* (pos_side^2, d) */
    const float *pre_ln, *post_ln;
    vblock *blk;          /* n_layer, owned */
    float *merge_w;       /* (out, merge^2 * d) owned: the downsample kernel in (dy, dx, c) order */
    const float *merge_b;
    ag_weight fc, gate, up, down;
    const float *post_norm_w, *post_norm_b;
    struct ag_cuda_vision *gpu; /* the tower on a GPU (src/gpu/gpu_vision.c), owned; NULL: the CPU encodes */
    struct ag_vision_cache *cache; /* recent images' encodings (vision_cache.h), owned; NULL: none */
};

/* The projector of an open file (taken over, closed on failure too) for a language model of n_embd,
 * without the vocabulary's image token (ag_vision_load adds it; the fuzzer calls this directly). */
ag_vision *ag_vision_from_gguf(ag_gguf_file *f, int n_embd, int n_threads, ag_error *err);

/* Uploads the projector to GPU `device` (src/gpu/gpu_vision.c); ag_vision_encode runs there from
 * then on. f16: every matrix F16 (tensor cores), else each as the file has it (F32 or F16).
 * max_attn_rows > 0 caps the attention's query rows per block (tests); 0 sizes them by memory. */
ag_status ag_vision_gpu_attach(ag_vision *v, int device, bool f16, int max_attn_rows, ag_error *err);
/* Back to the CPU (frees the device copy). */
void ag_vision_gpu_detach(ag_vision *v);

#endif
