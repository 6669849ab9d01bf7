/*
 * convert_mmproj.c - the vision projector ("mmproj") GGUF of a GLM-4.1V checkpoint
 * (Glm4vForConditionalGeneration): the vision tower and its patch merger, in the layout
 * llama.cpp's mtmd/clip reads (general.architecture "clip", clip.projector_type "glm4v",
 * clip.vision.* keys, v.* / mm.* tensors; docs/VISION.md lists them).
 *
 * Tensors (HF name under model.visual. -> GGUF):
 *   patch_embed.proj.weight [d, 3, T, P, P]  -> v.patch_embd.weight, v.patch_embd.weight.1 (one
 *                                                Conv2d kernel [d, 3, P, P] per temporal slice)
 *   patch_embed.proj.bias   -> v.patch_embd.bias        embeddings.position_embedding -> v.position_embd
 *   post_conv_layernorm     -> v.pre_ln                 post_layernorm -> v.post_ln
 *   blocks.N.norm1/norm2    -> v.blk.N.ln1/ln2          blocks.N.attn.qkv/proj -> v.blk.N.attn_qkv/attn_out
 *   blocks.N.mlp.gate_proj/up_proj/down_proj -> v.blk.N.ffn_gate/ffn_up/ffn_down
 *   downsample (Conv2d [out, d, m, m])       -> mm.patch_merger
 *   merger.proj -> mm.model.fc   merger.post_projection_norm -> mm.post_norm
 *   merger.gate_proj/up_proj/down_proj -> mm.gate/mm.up/mm.down
 * Matrices take the conversion's type; convolution kernels F16 (F32 for an f32 conversion);
 * 1-D tensors and the position table F32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "convert/convert_impl.h"
#include "tensor/quant.h"

typedef struct {
    char name[128];
    ag_type type;
    uint32_t n_dims;
    int64_t ne[4];
    const ag_st_tensor *src;
    int t_slice; /* >= 0: this temporal slice of a Conv3d kernel [out, c, T, P, P] */
    int n_t;
} mm_tensor;

typedef struct {
    mm_tensor *t;
    int n, cap;
    float *row;
    int64_t max_ne0;
} mm_plan;

static const struct {
    const char *hf, *gguf;
} TOP[] = {
    {"patch_embed.proj", "v.patch_embd"},
    {"embeddings.position_embedding", "v.position_embd"},
    {"post_conv_layernorm", "v.pre_ln"},
    {"post_layernorm", "v.post_ln"},
    {"downsample", "mm.patch_merger"},
    {"merger.proj", "mm.model.fc"},
    {"merger.post_projection_norm", "mm.post_norm"},
    {"merger.gate_proj", "mm.gate"},
    {"merger.up_proj", "mm.up"},
    {"merger.down_proj", "mm.down"},
}, BLOCK[] = {
    {"norm1", "ln1"}, {"norm2", "ln2"}, {"attn.qkv", "attn_qkv"}, {"attn.proj", "attn_out"},
    {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"}, {"mlp.down_proj", "ffn_down"},
};

static bool starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* The vision tensor's name after its prefix, or NULL for a text-model tensor. */
static const char *vision_rest(const char *name) {
    if (starts(name, "model.visual.")) return name + 13;
    if (starts(name, "visual.")) return name + 7;
    return NULL;
}

/* GGUF base name of a vision tensor base name (no .weight/.bias). */
static bool map_name(const char *base, char *out, size_t cap) {
    for (size_t i = 0; i < sizeof TOP / sizeof TOP[0]; i++)
        if (strcmp(base, TOP[i].hf) == 0) return snprintf(out, cap, "%s", TOP[i].gguf) < (int)cap;
    if (!starts(base, "blocks.")) return false;
    char *end;
    long il = strtol(base + 7, &end, 10);
    if (end == base + 7 || *end != '.' || il < 0 || il > 10000) return false;
    for (size_t i = 0; i < sizeof BLOCK / sizeof BLOCK[0]; i++)
        if (strcmp(end + 1, BLOCK[i].hf) == 0) return snprintf(out, cap, "v.blk.%ld.%s", il, BLOCK[i].gguf) < (int)cap;
    return false;
}

static mm_tensor *add_out(mm_plan *p, ag_error *err) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        mm_tensor *t = realloc(p->t, (size_t)cap * sizeof *t);
        if (!t) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
        p->t = t;
        p->cap = cap;
    }
    mm_tensor *o = &p->t[p->n++];
    memset(o, 0, sizeof *o);
    o->t_slice = -1;
    return o;
}

static ag_status add_tensor(mm_plan *p, const ag_st_tensor *t, const char *rest, ag_type want, ag_error *err) {
    const bool is_w = strlen(rest) > 7 && strcmp(rest + strlen(rest) - 7, ".weight") == 0;
    const bool is_b = strlen(rest) > 5 && strcmp(rest + strlen(rest) - 5, ".bias") == 0;
    char base[128], gguf[80];
    if (!is_w && !is_b) return ag_error_set(err, AG_ERR_UNSUPPORTED, "vision tensor '%s': no GGUF name for it", t->name);
    snprintf(base, sizeof base, "%.*s", (int)(strlen(rest) - (is_w ? 7 : 5)), rest);
    if (!map_name(base, gguf, sizeof gguf - 8))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "vision tensor '%s': no GGUF name for it (not a GLM-4.1V vision tensor)", t->name);
    if (t->dtype != AG_ST_F32 && t->dtype != AG_ST_F16 && t->dtype != AG_ST_BF16)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s' has dtype %s; only F32/F16/BF16 can be converted", t->name,
                            ag_st_dtype_name(t->dtype));
    const bool conv3d = t->n_dims == 5;
    const int n_out = conv3d ? (int)t->shape[2] : 1;
    if (conv3d && (n_out < 1 || n_out > 8))
        return ag_error_set(err, AG_ERR_FORMAT, "tensor '%s': %d temporal slices", t->name, n_out);
    for (int s = 0; s < n_out; s++) {
        mm_tensor *o = add_out(p, err);
        if (!o) return AG_ERR_NOMEM;
        if (s == 0) snprintf(o->name, sizeof o->name, "%s%s", gguf, is_w ? ".weight" : ".bias");
        else snprintf(o->name, sizeof o->name, "%s.weight.%d", gguf, s);
        o->src = t;
        if (conv3d) { /* [out, c, T, P, P] -> ne [P, P, c, out] per slice */
            o->n_dims = 4, o->t_slice = s, o->n_t = n_out;
            o->ne[0] = t->shape[4], o->ne[1] = t->shape[3], o->ne[2] = t->shape[1], o->ne[3] = t->shape[0];
        } else {
            o->n_dims = (uint32_t)t->n_dims;
            for (int d = 0; d < 4; d++) o->ne[d] = d < t->n_dims ? t->shape[t->n_dims - 1 - d] : 1;
        }
        if (o->n_dims == 1 || strcmp(gguf, "v.position_embd") == 0) o->type = AG_TYPE_F32;
        else if (o->n_dims > 2) o->type = want == AG_TYPE_F32 ? AG_TYPE_F32 : AG_TYPE_F16;
        else if (ag_type_is_quantized(want) && o->ne[0] % ag_type_block_size(want) != 0) o->type = AG_TYPE_F16;
        else o->type = want;
        if (o->ne[0] > p->max_ne0) p->max_ne0 = o->ne[0];
    }
    return AG_OK;
}

static ag_status fill(void *ctx, int64_t index, void *buf, size_t nbytes, ag_error *err) {
    mm_plan *p = ctx;
    if (index < 0 || index >= p->n) return ag_error_set(err, AG_ERR_INVALID_ARG, "bad tensor index %lld", (long long)index);
    const mm_tensor *o = &p->t[index];
    const int64_t rows = o->ne[1] * o->ne[2] * o->ne[3], ne0 = o->ne[0];
    const size_t row_bytes = ag_type_row_size(o->type, ne0);
    if (row_bytes * (size_t)rows != nbytes) return ag_error_set(err, AG_ERR_INVALID_ARG, "%s: size mismatch", o->name);
    const ag_type_traits *tr = ag_type_traits_get(o->type);
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = r * ne0;
        if (o->t_slice >= 0) { /* row r = (kernel k = out*c + ch, y): source [k][t][y][.] */
            const int64_t k = r / o->ne[1], y = r % o->ne[1];
            off = ((k * o->n_t + o->t_slice) * o->ne[1] + y) * ne0;
        }
        for (int64_t i = 0; i < ne0; i++) p->row[i] = ag_st_get_f32(o->src, off + i);
        uint8_t *dst = (uint8_t *)buf + (size_t)r * row_bytes;
        if (o->type == AG_TYPE_F32) memcpy(dst, p->row, row_bytes);
        else tr->from_float(p->row, dst, ne0);
    }
    return AG_OK;
}

static const cJSON *obj(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static double num(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = obj(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* preprocessor_config.json (optional): the image processor's settings. */
static cJSON *read_preproc(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

static ag_status write_keys(ag_gguf_writer *w, const cJSON *vc, const cJSON *pre, const char *name, uint32_t file_type,
                            ag_error *err) {
    const int d = (int)num(vc, "hidden_size", 1536), heads = (int)num(vc, "num_heads", 12);
    const char *act = cJSON_IsString(obj(vc, "hidden_act")) ? obj(vc, "hidden_act")->valuestring : "silu";
    float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, stdv[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    const cJSON *m = obj(pre, "image_mean"), *s = obj(pre, "image_std"), *size = obj(pre, "size");
    for (int i = 0; i < 3; i++) {
        if (cJSON_IsArray(m) && cJSON_IsNumber(cJSON_GetArrayItem(m, i))) mean[i] = (float)cJSON_GetArrayItem(m, i)->valuedouble;
        if (cJSON_IsArray(s) && cJSON_IsNumber(cJSON_GetArrayItem(s, i))) stdv[i] = (float)cJSON_GetArrayItem(s, i)->valuedouble;
    }
    const double min_px = num(size, "shortest_edge", num(pre, "min_pixels", 112 * 112));
    const double max_px = num(size, "longest_edge", num(pre, "max_pixels", 28 * 28 * 15000));
    ag_status st;
    if ((st = ag_gguf_set_str(w, "general.architecture", "clip")) || (st = ag_gguf_set_str(w, "general.name", name)) ||
        (st = ag_gguf_set_u32(w, "general.file_type", file_type)) ||
        (st = ag_gguf_set_str(w, "clip.projector_type", "glm4v")) || (st = ag_gguf_set_bool(w, "clip.has_vision_encoder", true)) ||
        (st = ag_gguf_set_bool(w, strcmp(act, "gelu") == 0 ? "clip.use_gelu" : "clip.use_silu", true)) ||
        (st = ag_gguf_set_u32(w, "clip.vision.image_size", (uint32_t)num(vc, "image_size", 336))) ||
        (st = ag_gguf_set_u32(w, "clip.vision.patch_size", (uint32_t)num(vc, "patch_size", 14))) ||
        (st = ag_gguf_set_u32(w, "clip.vision.embedding_length", (uint32_t)d)) ||
        (st = ag_gguf_set_u32(w, "clip.vision.feed_forward_length", (uint32_t)num(vc, "intermediate_size", 13696))) ||
        (st = ag_gguf_set_u32(w, "clip.vision.projection_dim", (uint32_t)num(vc, "out_hidden_size", 4096))) ||
        (st = ag_gguf_set_u32(w, "clip.vision.block_count", (uint32_t)num(vc, "depth", 24))) ||
        (st = ag_gguf_set_u32(w, "clip.vision.attention.head_count", (uint32_t)heads)) ||
        (st = ag_gguf_set_f32(w, "clip.vision.attention.layer_norm_epsilon", (float)num(vc, "rms_norm_eps", 1e-5))) ||
        (st = ag_gguf_set_u32(w, "clip.vision.spatial_merge_size", (uint32_t)num(vc, "spatial_merge_size", 2))) ||
        (st = ag_gguf_set_u32(w, "clip.vision.temporal_patch_size", (uint32_t)num(vc, "temporal_patch_size", 2))) ||
        (st = ag_gguf_set_u32(w, "clip.vision.image_min_pixels", (uint32_t)min_px)) ||
        (st = ag_gguf_set_u32(w, "clip.vision.image_max_pixels", (uint32_t)max_px)) ||
        (st = ag_gguf_set_arr_data(w, "clip.vision.image_mean", AG_GGUF_FLOAT32, mean, 3)) ||
        (st = ag_gguf_set_arr_data(w, "clip.vision.image_std", AG_GGUF_FLOAT32, stdv, 3)))
        return ag_error_set(err, st, "out of memory");
    return AG_OK;
}

ag_status ag_conv_write_mmproj(const char *dir, const ag_hf_config *c, const ag_st_set *sts, ag_type type,
                               uint32_t file_type, const char *name, const char *out, ag_error *err) {
    const cJSON *vc = obj(c->root, "vision_config");
    if (!cJSON_IsObject(vc))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "config.json has no vision_config: the model has no vision tower to convert");
    mm_plan p = {0};
    ag_status st = AG_OK;
    for (int64_t i = 0; !st && i < ag_st_count(sts); i++) {
        const ag_st_tensor *t = ag_st_at(sts, i);
        const char *rest = vision_rest(t->name);
        if (rest && !strstr(rest, "rotary_pos_emb")) st = add_tensor(&p, t, rest, type, err);
    }
    if (!st && p.n == 0) st = ag_error_set(err, AG_ERR_FORMAT, "the checkpoint has no vision tensors (model.visual.*)");
    if (!st && !(p.row = malloc((size_t)p.max_ne0 * sizeof(float)))) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    cJSON *pre = st ? NULL : read_preproc(dir);
    ag_gguf_writer *w = st ? NULL : ag_gguf_writer_new();
    if (!st && !w) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    if (!st) st = write_keys(w, vc, pre, name, file_type, err);
    for (int i = 0; !st && i < p.n; i++)
        if ((st = ag_gguf_add_tensor_deferred(w, p.t[i].name, p.t[i].type, p.t[i].n_dims, p.t[i].ne)))
            ag_error_set(err, st, "cannot add tensor %s", p.t[i].name);
    if (!st) {
        ag_gguf_writer_set_filler(w, fill, &p);
        st = ag_gguf_writer_write(w, out, err);
    }
    ag_gguf_writer_free(w);
    cJSON_Delete(pre);
    free(p.t);
    free(p.row);
    return st;
}
