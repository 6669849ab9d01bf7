/*
 * gpu_vision.c - an ag_vision's GPU half: describes the loaded projector (vision_impl.h) to the
 * CUDA vision encoder (cuda/cuda_vision.h), which uploads its weights once; ag_vision_encode then
 * runs there (docs/VISION.md, "On the GPU"). ag_vision_load attaches when the language model
 * runs on a GPU; benchmarks and tests attach explicitly.
 */
#include <stdlib.h>

#include "base/error.h"
#include "cuda/cuda_vision.h"
#include "model/vision_impl.h"
#include "tensor/quant.h"

static ag_cuda_weight vw(const ag_weight *w) {
    const ag_type_traits *tr = ag_type_traits_get(w->type);
    return (ag_cuda_weight){w->data, (int)w->type, w->ne[0], w->ne[1], w->row_bytes, tr ? tr->to_float : NULL};
}

static ag_cuda_weight f32_mat(const float *p, int64_t k, int64_t rows) {
    return (ag_cuda_weight){p, (int)AG_TYPE_F32, k, rows, (size_t)k * sizeof(float), NULL};
}

ag_status ag_vision_gpu_attach(ag_vision *v, int device, bool f16, int max_attn_rows, ag_error *err) {
    if (!v) return ag_error_set(err, AG_ERR_INVALID_ARG, "no projector");
    ag_cuda_vision_block *blk = calloc((size_t)v->n_layer, sizeof *blk);
    if (!blk) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int il = 0; il < v->n_layer; il++) {
        const vblock *b = &v->blk[il];
        blk[il] = (ag_cuda_vision_block){b->ln1, b->ln2, b->qkv_b, b->out_b, vw(&b->qkv), vw(&b->out), vw(&b->gate), vw(&b->up), vw(&b->down)};
    }
    const ag_cuda_vision_desc d = {
        .d = v->d, .n_head = v->n_head, .n_layer = v->n_layer, .n_ff = v->n_ff, .out = v->out, .ctx = v->ctx, .merge = v->merge,
        .patch_dim = v->patch_dim, .pos_side = v->pos_side, .eps = v->eps, .f16 = f16, .max_attn_rows = max_attn_rows,
        .patch = f32_mat(v->patch_w, v->patch_dim, v->d), .patch_b = v->patch_b, .pos = v->pos, .pre_ln = v->pre_ln,
        .post_ln = v->post_ln, .blk = blk, .merge_w = f32_mat(v->merge_w, (int64_t)v->merge * v->merge * v->d, v->out),
        .merge_b = v->merge_b, .fc = vw(&v->fc), .gate = vw(&v->gate), .up = vw(&v->up), .down = vw(&v->down),
        .post_norm_w = v->post_norm_w, .post_norm_b = v->post_norm_b,
    };
    ag_cuda_vision *g = ag_cuda_vision_new(&d, device, err);
    free(blk);
    if (!g) return err && err->code ? err->code : AG_ERR_IO;
    ag_vision_gpu_detach(v);
    v->gpu = g;
    return AG_OK;
}

void ag_vision_gpu_detach(ag_vision *v) {
    if (!v || !v->gpu) return;
    ag_cuda_vision_free(v->gpu);
    v->gpu = NULL;
}
