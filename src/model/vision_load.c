/*
 * vision_load.c - a GLM-4.1V vision projector file (convert_mmproj.c's layout: "clip",
 * projector type glm4v) loaded for a language model: its keys (sizes, the image processor's
 * settings), its tensors bound in the mapping, and the two convolution kernels rearranged into
 * matrices the encoder (vision_glm4v.c) multiplies by: the Conv3d patch embedding in the
 * pixel rows' (channel, frame, row, column) order, the 2x2 downsample in the (dy, dx, channel)
 * order of four consecutive patch rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "model/arch.h"
#include "model/vision_cache.h"
#include "model/vision_impl.h"
#include "tensor/quant.h"

static ag_status get_u32(const ag_gguf_file *f, const char *key, int *out, bool required, ag_error *err) {
    uint32_t v;
    if (!ag_gguf_find_kv(f, key)) return required ? ag_error_set(err, AG_ERR_FORMAT, "projector file: missing key '%s'", key) : AG_OK;
    ag_status st = ag_gguf_get_u32(f, key, &v, err);
    if (st) return st;
    if (v == 0 || v > (1u << 28)) return ag_error_set(err, AG_ERR_FORMAT, "projector file: %s=%u is out of range", key, v);
    *out = (int)v;
    return AG_OK;
}

static ag_status f32_vec(const ag_gguf_file *f, const char *name, int64_t n, bool required, const float **out, ag_error *err) {
    ag_weight w;
    ag_status st = ag_bind_weight(f, &w, name, n, 0, required, err);
    *out = w.data;
    return st;
}

/* A tensor of exactly these dims as floats (owned). */
static float *tensor_floats(const ag_gguf_file *f, const char *name, const int64_t ne[4], ag_error *err) {
    const ag_gguf_tensor *t = ag_gguf_find_tensor(f, name);
    if (!t) return ag_error_set(err, AG_ERR_FORMAT, "projector file: missing tensor '%s'", name), NULL;
    for (int i = 0; i < 4; i++)
        if (t->ne[i] != ne[i])
            return ag_error_set(err, AG_ERR_FORMAT, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld, %lld]",
                                name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                                (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)ne[3]), NULL;
    const int64_t n = ne[0] * ne[1] * ne[2] * ne[3];
    const ag_type_traits *tr = ag_type_traits_get(t->type);
    if (t->type != AG_TYPE_F32 && (!tr || !tr->to_float || n % ag_type_block_size(t->type) != 0))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s' has type %s, not supported", name, ag_type_name(t->type)), NULL;
    float *out = malloc((size_t)n * sizeof(float));
    if (!out) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
    if (t->type == AG_TYPE_F32) memcpy(out, t->data, (size_t)n * sizeof(float));
    else tr->to_float(t->data, out, n);
    return out;
}

static ag_status load_keys(ag_vision *v, ag_error *err) {
    const ag_gguf_file *f = v->gguf;
    ag_gguf_str s;
    ag_status st;
    if ((st = ag_gguf_get_str(f, "clip.projector_type", &s, err))) return st;
    if (!ag_gguf_str_eq(s, "glm4v"))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "projector type '%.*s' is not supported (glm4v: GLM-4.1V)", (int)(s.len > 64 ? 64 : s.len), s.data);
    int image_size = 0;
    v->merge = 2, v->tpatch = 2;
    if ((st = get_u32(f, "clip.vision.embedding_length", &v->d, true, err)) ||
        (st = get_u32(f, "clip.vision.block_count", &v->n_layer, true, err)) ||
        (st = get_u32(f, "clip.vision.attention.head_count", &v->n_head, true, err)) ||
        (st = get_u32(f, "clip.vision.patch_size", &v->patch, true, err)) ||
        (st = get_u32(f, "clip.vision.image_size", &image_size, true, err)) ||
        (st = get_u32(f, "clip.vision.spatial_merge_size", &v->merge, false, err)) ||
        (st = get_u32(f, "clip.vision.temporal_patch_size", &v->tpatch, false, err)))
        return st;
    v->eps = 1e-5f;
    if (ag_gguf_find_kv(f, "clip.vision.attention.layer_norm_epsilon") &&
        (st = ag_gguf_get_f32(f, "clip.vision.attention.layer_norm_epsilon", &v->eps, err)))
        return st;
    if (v->d % v->n_head != 0 || (v->d / v->n_head) % 4 != 0 || v->merge > 8 || v->tpatch > 8 || v->patch > 64 || !(v->eps > 0))
        return ag_error_set(err, AG_ERR_FORMAT, "projector file: inconsistent vision sizes (width %d, %d heads, merge %d)", v->d,
                            v->n_head, v->merge);
    v->hd = v->d / v->n_head;
    if (v->hd > 512) return ag_error_set(err, AG_ERR_UNSUPPORTED, "projector file: vision heads of %d values (at most 512)", v->hd);
    v->pos_side = image_size / v->patch;
    v->patch_dim = 3 * v->tpatch * v->patch * v->patch;
    ag_image_preproc_params *pp = &v->pp;
    *pp = (ag_image_preproc_params){v->patch, v->merge, v->tpatch, 112 * 112, 28 * 28 * 15000,
                                    {0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f}};
    int mn = 0, mx = 0;
    if ((st = get_u32(f, "clip.vision.image_min_pixels", &mn, false, err)) || (st = get_u32(f, "clip.vision.image_max_pixels", &mx, false, err)))
        return st;
    if (mn) pp->min_pixels = mn;
    if (mx) pp->max_pixels = mx;
    const char *names[2] = {"clip.vision.image_mean", "clip.vision.image_std"};
    for (int k = 0; k < 2; k++) {
        const ag_gguf_value *a;
        if (!ag_gguf_find_kv(f, names[k])) continue;
        if ((st = ag_gguf_get_arr(f, names[k], AG_GGUF_FLOAT32, &a, err))) return st;
        if (a->arr.count != 3) return ag_error_set(err, AG_ERR_FORMAT, "%s must have 3 values", names[k]);
        for (int c = 0; c < 3; c++) (k ? pp->std : pp->mean)[c] = (float)ag_gguf_arr_f64(a, (uint64_t)c);
    }
    return AG_OK;
}

static ag_status load_tensors(ag_vision *v, ag_error *err) {
    const ag_gguf_file *f = v->gguf;
    const int d = v->d, P = v->patch, T = v->tpatch, m = v->merge;
    ag_status st;
    const ag_gguf_tensor *g = ag_gguf_find_tensor(f, "v.blk.0.ffn_gate.weight");
    const ag_gguf_tensor *fc = ag_gguf_find_tensor(f, "mm.model.fc.weight"), *mg = ag_gguf_find_tensor(f, "mm.gate.weight");
    if (!g || !fc || !mg) return ag_error_set(err, AG_ERR_FORMAT, "projector file: missing v.blk.0.ffn_gate, mm.model.fc or mm.gate");
    if (g->ne[1] < 1 || g->ne[1] > (1 << 24) || fc->ne[1] < 1 || fc->ne[1] > (1 << 24) || mg->ne[1] < 1 || mg->ne[1] > (1 << 24))
        return ag_error_set(err, AG_ERR_FORMAT, "projector file: feed-forward sizes out of range");
    v->n_ff = (int)g->ne[1], v->out = (int)fc->ne[1], v->ctx = (int)mg->ne[1];
    if (v->out != v->n_embd)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "the projector outputs %d values per token, the language model's embedding has %d",
                            v->out, v->n_embd);
    char last[64]; /* every block present before anything is sized by the block count */
    snprintf(last, sizeof last, "v.blk.%d.ln1.weight", v->n_layer - 1);
    if (!ag_gguf_find_tensor(f, last)) return ag_error_set(err, AG_ERR_FORMAT, "projector file: missing tensor '%s'", last);
    /* Conv3d: one [P, P, 3, d] kernel per temporal slice -> (d, patch_dim) in (c, t, y, x) order */
    for (int t = 0; t < T; t++) {
        char name[64];
        if (t == 0) snprintf(name, sizeof name, "v.patch_embd.weight");
        else snprintf(name, sizeof name, "v.patch_embd.weight.%d", t);
        const int64_t ne[4] = {P, P, 3, d};
        float *k = tensor_floats(f, name, ne, err); /* its shape checked: d is the file's */
        if (!k) return err ? err->code : AG_ERR_FORMAT;
        if (!v->patch_w && !(v->patch_w = malloc((size_t)d * v->patch_dim * sizeof(float)))) {
            free(k);
            return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        }
        for (int o = 0; o < d; o++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < P; y++)
                    memcpy(v->patch_w + (size_t)o * v->patch_dim + ((size_t)(c * T + t) * P + y) * P, k + (((size_t)o * 3 + c) * P + y) * P,
                           (size_t)P * sizeof(float));
        free(k);
    }
    /* the 2x2 downsample Conv2d [m, m, d, out] -> (out, m*m*d) in (dy, dx, c) order */
    const int64_t mne[4] = {m, m, d, v->out};
    float *k = tensor_floats(f, "mm.patch_merger.weight", mne, err);
    if (!k) return err ? err->code : AG_ERR_FORMAT;
    const size_t row = (size_t)m * m * d;
    if (!(v->merge_w = malloc((size_t)v->out * row * sizeof(float)))) {
        free(k);
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    for (int o = 0; o < v->out; o++)
        for (int c = 0; c < d; c++)
            for (int q = 0; q < m * m; q++) v->merge_w[(size_t)o * row + (size_t)q * d + c] = k[((size_t)o * d + c) * m * m + q];
    free(k);
    ag_weight pos;
    if ((st = f32_vec(f, "v.patch_embd.bias", d, false, &v->patch_b, err)) ||
        (st = ag_bind_weight(f, &pos, "v.position_embd.weight", d, (int64_t)v->pos_side * v->pos_side, true, err)) ||
        (st = f32_vec(f, "v.pre_ln.weight", d, true, &v->pre_ln, err)) || (st = f32_vec(f, "v.post_ln.weight", d, true, &v->post_ln, err)) ||
        (st = f32_vec(f, "mm.patch_merger.bias", v->out, false, &v->merge_b, err)) ||
        (st = ag_bind_weight(f, &v->fc, "mm.model.fc.weight", v->out, v->out, true, err)) ||
        (st = f32_vec(f, "mm.post_norm.weight", v->out, true, &v->post_norm_w, err)) ||
        (st = f32_vec(f, "mm.post_norm.bias", v->out, true, &v->post_norm_b, err)) ||
        (st = ag_bind_weight(f, &v->gate, "mm.gate.weight", v->out, v->ctx, true, err)) ||
        (st = ag_bind_weight(f, &v->up, "mm.up.weight", v->out, v->ctx, true, err)) ||
        (st = ag_bind_weight(f, &v->down, "mm.down.weight", v->ctx, v->out, true, err)))
        return st;
    if (pos.type != AG_TYPE_F32) return ag_error_set(err, AG_ERR_UNSUPPORTED, "v.position_embd.weight must be F32");
    v->pos = pos.data;
    if (!(v->blk = calloc((size_t)v->n_layer, sizeof *v->blk))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int il = 0; il < v->n_layer; il++) {
        vblock *b = &v->blk[il];
        char n[10][64];
        const char *suffix[10] = {"ln1.weight", "ln2.weight", "attn_qkv.bias", "attn_out.bias", "attn_qkv.weight",
                                  "attn_out.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", ""};
        for (int i = 0; i < 9; i++) snprintf(n[i], sizeof n[i], "v.blk.%d.%s", il, suffix[i]);
        if ((st = f32_vec(f, n[0], d, true, &b->ln1, err)) || (st = f32_vec(f, n[1], d, true, &b->ln2, err)) ||
            (st = f32_vec(f, n[2], 3 * d, false, &b->qkv_b, err)) || (st = f32_vec(f, n[3], d, false, &b->out_b, err)) ||
            (st = ag_bind_weight(f, &b->qkv, n[4], d, 3 * d, true, err)) || (st = ag_bind_weight(f, &b->out, n[5], d, d, true, err)) ||
            (st = ag_bind_weight(f, &b->gate, n[6], d, v->n_ff, true, err)) || (st = ag_bind_weight(f, &b->up, n[7], d, v->n_ff, true, err)) ||
            (st = ag_bind_weight(f, &b->down, n[8], v->n_ff, d, true, err)))
            return st;
    }
    return AG_OK;
}

ag_vision *ag_vision_from_gguf(ag_gguf_file *f, int n_embd, int n_threads, ag_error *err) {
    ag_vision *v = f ? calloc(1, sizeof *v) : NULL;
    if (!v) {
        ag_gguf_close(f);
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
    }
    v->gguf = f;
    v->n_embd = n_embd;
    ag_status st = load_keys(v, err);
    if (!st) st = load_tensors(v, err);
    if (!st && !(v->pool = ag_threadpool_new(n_threads > 0 ? n_threads : 1))) st = ag_error_set(err, AG_ERR_NOMEM, "cannot start threads");
    if (!st && !(v->cache = ag_vision_cache_new(AG_VISION_CACHE_DEFAULT))) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    if (st) {
        ag_vision_free(v);
        return NULL;
    }
    return v;
}

ag_vision *ag_vision_load(const char *path, const ag_model *lm, ag_error *err) {
    if (!path || !lm) return ag_error_set(err, AG_ERR_INVALID_ARG, "no projector path or model"), NULL;
    ag_gguf_file *f = ag_gguf_open(path, err);
    if (!f) return NULL;
    ag_vision *v = ag_vision_from_gguf(f, lm->hp.n_embd, lm->n_threads, err);
    if (!v) return NULL;
    ag_token t[4];
    if (ag_tokenize(lm, "<|image|>", 9, t, 4, false, true) != 1) {
        ag_vision_free(v);
        return ag_error_set(err, AG_ERR_FORMAT, "the language model's vocabulary has no <|image|> token"), NULL;
    }
    v->image_token = t[0];
    /* the language model on a GPU: the tower goes to the same device (an error if it cannot);
     * a model left on the CPU by device auto only for its family: the tower tries the GPU and
     * stays on the CPU if that fails */
    if (lm->cuda && ag_vision_gpu_attach(v, lm->cuda_device, false, 0, err) != AG_OK) {
        ag_vision_free(v);
        return NULL;
    }
    if (!lm->cuda && lm->vision_gpu > 0) {
        ag_error ignored = {0};
        (void)ag_vision_gpu_attach(v, lm->vision_gpu - 1, false, 0, &ignored);
    }
    return v;
}

void ag_vision_free(ag_vision *v) {
    if (!v) return;
    ag_vision_gpu_detach(v);
    ag_vision_cache_free(v->cache);
    ag_threadpool_free(v->pool);
    free(v->patch_w);
    free(v->merge_w);
    free(v->blk);
    ag_gguf_close(v->gguf);
    free(v);
}

const ag_image_preproc_params *ag_vision_preproc(const ag_vision *v) { return &v->pp; }
ag_token ag_vision_image_token(const ag_vision *v) { return v->image_token; }

void ag_vision_set_cache_bytes(ag_vision *v, size_t max_bytes) {
    if (v) ag_vision_cache_set_limit(v->cache, max_bytes);
}

bool ag_vision_image_key(const ag_image_patches *img, unsigned char key[32]) {
    return img && img->pixels && ag_vision_cache_key(img, key);
}

bool ag_vision_remember_key(ag_image_patches *img) {
    if (!img || !img->pixels) return false;
    if (img->keyed) return true;
    img->keyed = ag_vision_cache_key(img, img->key) ? 1 : 0;
    return img->keyed != 0;
}

void ag_vision_cache_counts(const ag_vision *v, uint64_t *hits, uint64_t *lookups) {
    ag_vision_cache_stats(v ? v->cache : NULL, hits, lookups);
}

int ag_vision_n_tokens(const ag_vision *v, int grid_t, int grid_h, int grid_w) {
    const int m = v->merge;
    if (grid_t < 1 || grid_h < m || grid_w < m || grid_h % m || grid_w % m || grid_t > 64 || grid_h > 4096 || grid_w > 4096) return 0;
    const int64_t n = (int64_t)grid_t * grid_h * grid_w / (m * m);
    return n > (1 << 24) ? 0 : (int)n;
}
