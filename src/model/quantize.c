/*
 * quantize.c - ag_quantize: rewrite a GGUF model with its weight matrices in another type.
 *
 * Which type each tensor gets (choose): 1-D tensors stay F32; with `pure` every matrix gets the
 * requested type; otherwise the common presets' rules apply: the output head is kept at higher
 * precision (Q6_K), and the K-quant mixes give some tensors more bits (k_mix, below). A matrix
 * whose row length is not a multiple of the chosen type's block falls back to a compatible type
 * (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0 as the reference does; Q2_K/Q3_K -> Q4_0 where the
 * reference takes IQ4_NL, which we cannot write), finally F16.
 *
 * The output is written tensor by tensor (a deferred writer), each quantized by row blocks in
 * parallel on the thread pool, so memory stays at one tensor's worth.
 * Relies on: gguf/ (reader, writer), tensor/quant.h (from_float), base/threadpool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "gguf/gguf.h"
#include "tensor/quant.h"

typedef enum { MIX_NONE, MIX_Q2_K, MIX_Q3_K_M, MIX_Q4_K_M, MIX_Q5_K_M } mix_kind;

typedef struct {
    const char *name;  /* as the user types it */
    ag_type base;      /* type of most matrices */
    mix_kind mix;      /* which K-quant mix rules apply (k_mix) */
    uint32_t ftype;    /* general.file_type value */
} preset;

static const preset PRESETS[] = {
    {"F32", AG_TYPE_F32, MIX_NONE, 0},        {"F16", AG_TYPE_F16, MIX_NONE, 1},
    {"BF16", AG_TYPE_BF16, MIX_NONE, 32},     {"Q8_0", AG_TYPE_Q8_0, MIX_NONE, 7},
    {"Q4_0", AG_TYPE_Q4_0, MIX_NONE, 2},      {"Q4_1", AG_TYPE_Q4_1, MIX_NONE, 3},
    {"Q5_0", AG_TYPE_Q5_0, MIX_NONE, 8},      {"Q5_1", AG_TYPE_Q5_1, MIX_NONE, 9},
    {"Q2_K", AG_TYPE_Q2_K, MIX_Q2_K, 10},     {"Q3_K_M", AG_TYPE_Q3_K, MIX_Q3_K_M, 12},
    {"Q4_K_M", AG_TYPE_Q4_K, MIX_Q4_K_M, 15}, {"Q5_K_M", AG_TYPE_Q5_K, MIX_Q5_K_M, 17},
    {"Q6_K", AG_TYPE_Q6_K, MIX_NONE, 18},
    /* the reference's short names for the _M mixes */
    {"Q3_K", AG_TYPE_Q3_K, MIX_Q3_K_M, 12},   {"Q4_K", AG_TYPE_Q4_K, MIX_Q4_K_M, 15},
    {"Q5_K", AG_TYPE_Q5_K, MIX_Q5_K_M, 17},
};

/* Model facts the mixes depend on. */
typedef struct {
    int n_layer;
    int n_gqa; /* query heads per KV head */
} model_shape;

static bool can_write(ag_type t) {
    const ag_type_traits *tr = ag_type_traits_get(t);
    return t == AG_TYPE_F32 || (tr && tr->from_float && tr->to_float);
}

/* A type whose block fits rows of n elements and that we can write. */
static ag_type compatible(ag_type t, int64_t n) {
    static const struct { ag_type from, to; } FALLBACK[] = {
        {AG_TYPE_Q2_K, AG_TYPE_Q4_0}, {AG_TYPE_Q3_K, AG_TYPE_Q4_0}, {AG_TYPE_Q4_K, AG_TYPE_Q5_0},
        {AG_TYPE_Q5_K, AG_TYPE_Q5_1}, {AG_TYPE_Q6_K, AG_TYPE_Q8_0},
    };
    for (size_t i = 0; i < sizeof FALLBACK / sizeof FALLBACK[0]; i++)
        if (t == FALLBACK[i].from && (n % ag_type_block_size(t) != 0 || !can_write(t))) t = FALLBACK[i].to;
    if (n % ag_type_block_size(t) != 0 || !can_write(t)) t = AG_TYPE_F16;
    return t;
}

static bool name_has(const char *name, const char *part) { return strstr(name, part) != NULL; }

/* Layer index from "blk.N.", or -1. */
static int layer_of(const char *name) {
    return strncmp(name, "blk.", 4) == 0 ? atoi(name + 4) : -1;
}

/* The reference's "use more bits" layers: the first and last eighth, and every third between. */
static bool more_bits_layer(int il, int n_layer) {
    return il < n_layer / 8 || il >= 7 * n_layer / 8 || (il - n_layer / 8) % 3 == 2;
}

/* The K-quant mixes, as the common presets define them (dense models): which matrices get a
 * higher type than the preset's base. */
static ag_type k_mix(const preset *p, const char *name, const model_shape *ms) {
    const int il = layer_of(name), n = ms->n_layer;
    if (name_has(name, "attn_v.weight")) {
        switch (p->mix) {
        case MIX_Q2_K: return ms->n_gqa >= 4 ? AG_TYPE_Q4_K : AG_TYPE_Q3_K;
        case MIX_Q3_K_M: return il < 2 ? AG_TYPE_Q5_K : AG_TYPE_Q4_K;
        case MIX_Q4_K_M:
        case MIX_Q5_K_M: return more_bits_layer(il, n) ? AG_TYPE_Q6_K : p->base;
        default: return p->base;
        }
    }
    if (name_has(name, "ffn_down")) {
        switch (p->mix) {
        case MIX_Q2_K: return AG_TYPE_Q3_K;
        case MIX_Q3_K_M: return il < n / 16 ? AG_TYPE_Q5_K : AG_TYPE_Q4_K;
        case MIX_Q4_K_M:
        case MIX_Q5_K_M: return more_bits_layer(il, n) ? AG_TYPE_Q6_K : p->base;
        default: return p->base;
        }
    }
    if (name_has(name, "attn_output.weight")) {
        if (p->mix == MIX_Q2_K) return AG_TYPE_Q3_K;
        if (p->mix == MIX_Q3_K_M) return AG_TYPE_Q4_K;
    }
    if (name_has(name, "attn_qkv.weight")) {
        if (p->mix == MIX_Q3_K_M) return AG_TYPE_Q4_K;
        if (p->mix == MIX_Q4_K_M) return AG_TYPE_Q5_K;
        if (p->mix == MIX_Q5_K_M) return AG_TYPE_Q6_K;
    }
    return p->base;
}

static ag_type choose(const preset *p, bool pure, const ag_gguf_tensor *t, const char *name, const model_shape *ms) {
    if (t->n_dims < 2) return AG_TYPE_F32;
    ag_type want = p->base;
    if (!pure && ag_type_is_quantized(p->base)) {
        if (strcmp(name, "output.weight") == 0) want = p->base == AG_TYPE_Q8_0 ? AG_TYPE_Q8_0 : AG_TYPE_Q6_K;
        else want = k_mix(p, name, ms);
    }
    return compatible(want, t->ne[0]);
}

/* ---------------------------------------------------------------- conversion of one tensor */

typedef struct {
    const ag_gguf_file *in;
    ag_type *types;       /* output type per tensor */
    ag_threadpool *pool;
    void (*progress)(void *ctx, int done, int total, const char *tensor);
    void *progress_ctx;
    /* per tensor being filled */
    const ag_gguf_tensor *src;
    ag_type dst_type;
    uint8_t *dst;
    float *rows_f32;      /* (n_threads, ne[0]) */
    ag_status status;
} quant_job;

static void quant_rows_task(void *ctx, int64_t row, int thread) {
    quant_job *j = ctx;
    const ag_gguf_tensor *t = j->src;
    const int64_t n = t->ne[0];
    float *tmp = j->rows_f32 + (size_t)thread * n;
    const size_t src_row = ag_type_row_size(t->type, n), dst_row = ag_type_row_size(j->dst_type, n);
    const uint8_t *src = (const uint8_t *)t->data + (size_t)row * src_row;
    if (t->type == AG_TYPE_F32) memcpy(tmp, src, (size_t)n * sizeof(float));
    else ag_type_traits_get(t->type)->to_float(src, tmp, n);
    uint8_t *dst = j->dst + (size_t)row * dst_row;
    if (j->dst_type == AG_TYPE_F32) memcpy(dst, tmp, (size_t)n * sizeof(float));
    else ag_type_traits_get(j->dst_type)->from_float(tmp, dst, n);
}

static ag_status fill_tensor(void *ctx, int64_t i, void *buf, size_t nbytes, ag_error *err) {
    quant_job *j = ctx;
    const ag_gguf_tensor *t = ag_gguf_tensor_at(j->in, i);
    (void)nbytes;
    if (j->progress) {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 127 ? t->name.len : 127), t->name.data);
        j->progress(j->progress_ctx, (int)i, (int)ag_gguf_tensor_count(j->in), name);
    }
    if (t->type == j->types[i]) { /* unchanged: copy */
        memcpy(buf, t->data, t->nbytes);
        return AG_OK;
    }
    if (t->type != AG_TYPE_F32 && !ag_type_traits_get(t->type)->to_float)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%.*s': cannot read type %s", (int)t->name.len, t->name.data,
                            ag_type_name(t->type));
    j->src = t;
    j->dst_type = j->types[i];
    j->dst = buf;
    const int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    ag_threadpool_run(j->pool, quant_rows_task, j, rows);
    return AG_OK;
}

/* ---------------------------------------------------------------- the file */

static const preset *find_preset(const char *name) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (strcasecmp(PRESETS[i].name, name) == 0) return &PRESETS[i];
    return NULL;
}

static ag_status build_writer(ag_gguf_writer *w, const ag_gguf_file *in, const preset *p, bool pure, ag_type *types,
                              int64_t *max_row, ag_error *err) {
    if (ag_gguf_copy_kv(w, in) != AG_OK || ag_gguf_set_u32(w, "general.file_type", p->ftype) != AG_OK ||
        ag_gguf_set_u32(w, "general.quantization_version", 2) != AG_OK)
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    uint32_t n_layer = 0, n_head = 0, n_head_kv = 0;
    ag_gguf_str arch;
    if (ag_gguf_get_str(in, "general.architecture", &arch, NULL) == AG_OK) {
        char key[96];
        const int al = (int)(arch.len < 64 ? arch.len : 64);
        snprintf(key, sizeof key, "%.*s.block_count", al, arch.data);
        ag_gguf_get_u32(in, key, &n_layer, NULL);
        snprintf(key, sizeof key, "%.*s.attention.head_count", al, arch.data);
        ag_gguf_get_u32(in, key, &n_head, NULL);
        snprintf(key, sizeof key, "%.*s.attention.head_count_kv", al, arch.data);
        if (ag_gguf_get_u32(in, key, &n_head_kv, NULL) != AG_OK) n_head_kv = n_head;
    }
    const model_shape ms = {(int)n_layer, n_head_kv ? (int)(n_head / n_head_kv) : 1};
    for (int64_t i = 0; i < ag_gguf_tensor_count(in); i++) {
        const ag_gguf_tensor *t = ag_gguf_tensor_at(in, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 255 ? t->name.len : 255), t->name.data);
        types[i] = t->n_dims < 2 && t->type != AG_TYPE_F32 ? t->type : choose(p, pure, t, name, &ms);
        if (t->ne[0] > *max_row) *max_row = t->ne[0];
        if (ag_gguf_add_tensor_deferred(w, name, types[i], t->n_dims, t->ne) != AG_OK)
            return ag_error_set(err, AG_ERR_NOMEM, "cannot add tensor '%s'", name);
    }
    return AG_OK;
}

ag_status ag_quantize(const char *in_path, const char *out_path, const ag_quantize_params *params, ag_error *err) {
    const preset *p = params && params->type ? find_preset(params->type) : NULL;
    if (!p) {
        char list[256] = "";
        for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
            if (can_write(PRESETS[i].base))
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", PRESETS[i].name);
        return ag_error_set(err, AG_ERR_INVALID_ARG, "unknown quantization type '%s' (one of: %s)",
                            params && params->type ? params->type : "", list);
    }
    if (!can_write(p->base))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "quantization to %s is not supported yet", p->name);
    ag_gguf_file *in = ag_gguf_open(in_path, err);
    if (!in) return err ? err->code : AG_ERR_FORMAT;
    ag_status st = AG_OK;
    ag_gguf_writer *w = ag_gguf_writer_new();
    ag_type *types = calloc((size_t)ag_gguf_tensor_count(in) + 1, sizeof *types);
    int64_t max_row = 1;
    const int n_threads = params->n_threads > 0 ? params->n_threads : ag_default_threads();
    quant_job job = {.in = in, .types = types, .progress = params->progress, .progress_ctx = params->progress_ctx};
    if (!w || !types) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    if (!st) st = build_writer(w, in, p, params->pure, types, &max_row, err);
    if (!st) {
        job.pool = ag_threadpool_new(n_threads);
        job.rows_f32 = malloc((size_t)ag_threadpool_n_threads(job.pool) * (size_t)max_row * sizeof(float));
        if (!job.pool || !job.rows_f32) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    if (!st) {
        ag_gguf_writer_set_filler(w, fill_tensor, &job);
        st = ag_gguf_writer_write(w, out_path, err);
    }
    if (!st && params->progress)
        params->progress(params->progress_ctx, (int)ag_gguf_tensor_count(in), (int)ag_gguf_tensor_count(in), "");
    free(job.rows_f32);
    ag_threadpool_free(job.pool);
    free(types);
    ag_gguf_writer_free(w);
    ag_gguf_close(in);
    return st;
}
