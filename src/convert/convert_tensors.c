/*
 * convert_tensors.c - the plan of a conversion's output tensors and the filler that produces
 * their bytes while the GGUF file is written (gguf_write.c's deferred tensors), one row at a time
 * so that nothing larger than a row is held in memory.
 *
 * Each output tensor lists its source tensors (several for experts, stacked along ne[2]) and the
 * row transforms: the llama Q/K row reordering (for interleaved rotary pairs), GLM-4.1V's Q/K
 * rotary part to halves (rows and bias elements), gemma's (1 + w) norms. Shapes: a PyTorch [rows, cols] tensor becomes GGUF ne = [cols, rows].
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "convert/convert_impl.h"
#include "tensor/quant.h"

typedef struct {
    char name[112];
    ag_type type;
    uint32_t n_dims;
    int64_t ne[3];
    const ag_st_tensor **src; /* n_src; experts in order */
    int n_src;
    int permute_heads;        /* > 0: reorder rows for interleaved rotary pairs, per head */
    int rot_halves, head_dim; /* > 0: the first rot_halves of each head_dim rows (elements of a bias)
                                 from interleaved pairs to halves (GLM-4.1V) */
    bool plus_one;
    float *gen;               /* generated F32 data (rope_freqs), owned */
} out_tensor;

struct ag_conv_plan {
    out_tensor *t;
    int n, cap;
    float *row; /* one row of floats, the widest ne[0] */
    int64_t max_ne0;
};

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static out_tensor *find_out(ag_conv_plan *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0) return &p->t[i];
    return NULL;
}

static out_tensor *new_out(ag_conv_plan *p, const char *name, int n_src, ag_error *err) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        out_tensor *t = realloc(p->t, (size_t)cap * sizeof *t);
        if (!t) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
        p->t = t;
        p->cap = cap;
    }
    out_tensor *o = &p->t[p->n];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->n_src = n_src;
    if (!(o->src = calloc((size_t)n_src, sizeof *o->src))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
    p->n++;
    return o;
}

static ag_type pick_type(ag_type want, uint32_t n_dims, int64_t ne0) {
    if (n_dims == 1) return AG_TYPE_F32;
    if (ag_type_is_quantized(want) && ne0 % ag_type_block_size(want) != 0) return AG_TYPE_F16;
    return want;
}

static ag_status add_source(ag_conv_plan *p, const ag_conv_family *fam, const ag_hf_config *c,
                            const ag_st_tensor *t, ag_type want, ag_error *err) {
    char base[160], gguf[112];
    const char *suffix = ends_with(t->name, ".weight") ? ".weight" : ends_with(t->name, ".bias") ? ".bias" : NULL;
    if (!suffix) return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s': no GGUF name for it (architecture %s)", t->name, fam->hf_arch);
    snprintf(base, sizeof base, "%.*s", (int)(strlen(t->name) - strlen(suffix)), t->name);
    int expert;
    if (!ag_conv_map_name(fam, base, gguf, sizeof gguf - 8, &expert))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s': no GGUF name for it (architecture %s)", t->name, fam->hf_arch);
    strcat(gguf, suffix);
    if (t->dtype != AG_ST_F32 && t->dtype != AG_ST_F16 && t->dtype != AG_ST_BF16 && t->dtype != AG_ST_F64)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s' has dtype %s; only F32/F16/BF16 checkpoints can be converted",
                            t->name, ag_st_dtype_name(t->dtype));
    if (t->n_dims < 1 || t->n_dims > 2)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s' has %d dimensions (1 or 2 expected)", t->name, t->n_dims);
    const int64_t ne0 = t->shape[t->n_dims - 1], ne1 = t->n_dims == 2 ? t->shape[0] : 1;
    if (strcmp(gguf, "output.weight") == 0 && ag_hf_bool(c, "tie_word_embeddings", false)) return AG_OK;
    out_tensor *o = find_out(p, gguf);
    if (o && expert < 0) return ag_error_set(err, AG_ERR_FORMAT, "tensor '%s' maps to %s a second time", t->name, gguf);
    if (!o) {
        const int n_expert = (int)ag_hf_num(c, "num_local_experts", ag_hf_num(c, "num_experts", 0));
        if (expert >= 0 && n_expert <= 0)
            return ag_error_set(err, AG_ERR_FORMAT, "tensor '%s' is an expert but config.json has no num_experts", t->name);
        if (!(o = new_out(p, gguf, expert >= 0 ? n_expert : 1, err))) return AG_ERR_NOMEM;
        o->n_dims = expert >= 0 ? 3 : (uint32_t)t->n_dims;
        o->ne[0] = ne0;
        o->ne[1] = ne1;
        o->ne[2] = expert >= 0 ? n_expert : 1;
        o->type = pick_type(want, o->n_dims, ne0);
        o->plus_one = fam->norm_plus_one && ends_with(gguf, "_norm.weight");
        if (fam->qk_rot_halves && (ends_with(base, "q_proj") || ends_with(base, "k_proj"))) {
            const double n_embd = ag_hf_num(c, "hidden_size", 0), n_head = ag_hf_num(c, "num_attention_heads", 1);
            const cJSON *rp = ag_hf_get(c, "rope_parameters"), *prf = cJSON_IsObject(rp) ? cJSON_GetObjectItemCaseSensitive(rp, "partial_rotary_factor") : NULL;
            o->head_dim = (int)ag_hf_num(c, "head_dim", n_embd / n_head);
            o->rot_halves = (int)(o->head_dim * (cJSON_IsNumber(prf) ? prf->valuedouble : ag_hf_num(c, "partial_rotary_factor", 1.0)));
            const int64_t len = t->n_dims == 2 ? ne1 : ne0;
            if (o->head_dim <= 0 || o->rot_halves % 2 != 0 || o->rot_halves > o->head_dim || len % o->head_dim != 0)
                return ag_error_set(err, AG_ERR_FORMAT, "tensor '%s': %lld rows do not split into heads of %d with %d rotated",
                                    t->name, (long long)len, o->head_dim, o->rot_halves);
        }
        if (fam->permute_qk && (ends_with(base, "q_proj") || ends_with(base, "k_proj"))) {
            const double n_head = ag_hf_num(c, "num_attention_heads", 1);
            o->permute_heads = (int)(ends_with(base, "q_proj") ? n_head : ag_hf_num(c, "num_key_value_heads", n_head));
            if (o->permute_heads <= 0 || ne1 % (2 * o->permute_heads) != 0)
                return ag_error_set(err, AG_ERR_FORMAT, "tensor '%s': %lld rows do not split into %d heads of pairs",
                                    t->name, (long long)ne1, o->permute_heads);
        }
    }
    if (expert >= o->n_src || (expert >= 0 && (o->ne[0] != ne0 || o->ne[1] != ne1)))
        return ag_error_set(err, AG_ERR_FORMAT, "tensor '%s': expert %d does not fit %s (%d experts of [%lld, %lld])", t->name,
                            expert, gguf, o->n_src, (long long)o->ne[1], (long long)o->ne[0]);
    o->src[expert >= 0 ? expert : 0] = t;
    if (ne0 > p->max_ne0) p->max_ne0 = ne0;
    return AG_OK;
}

static out_tensor *new_generated(ag_conv_plan *p, const char *name, int n, ag_error *err) {
    out_tensor *o = new_out(p, name, 0, err);
    if (!o) return NULL;
    if (!(o->gen = malloc((size_t)n * sizeof(float)))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
    o->n_dims = 1;
    o->ne[0] = n;
    o->ne[1] = o->ne[2] = 1;
    o->type = AG_TYPE_F32;
    return o;
}

/* LongRoPE (phi3): short_factor / long_factor -> rope_factors_short/long.weight (n_rot/2 each). */
static ag_status add_longrope_factors(ag_conv_plan *p, const ag_hf_config *c, const cJSON *rs, ag_error *err) {
    const double n_embd = ag_hf_num(c, "hidden_size", 0), n_head = ag_hf_num(c, "num_attention_heads", 1);
    const cJSON *rp = ag_hf_get(c, "rope_parameters"), *prf = cJSON_IsObject(rp) ? cJSON_GetObjectItemCaseSensitive(rp, "partial_rotary_factor") : NULL;
    const int n = (int)(ag_hf_num(c, "head_dim", n_embd / n_head) * (cJSON_IsNumber(prf) ? prf->valuedouble : ag_hf_num(c, "partial_rotary_factor", 1.0))) / 2;
    const char *keys[] = {"long_factor", "short_factor"}, *names[] = {"rope_factors_long.weight", "rope_factors_short.weight"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(rs, keys[i]);
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
            return ag_error_set(err, AG_ERR_FORMAT, "config.json: rope scaling '%s' must be a list of %d numbers", keys[i], n);
        out_tensor *o = new_generated(p, names[i], n, err);
        if (!o) return err ? err->code : AG_ERR_NOMEM;
        int j = 0;
        for (const cJSON *it = a->child; it; it = it->next, j++) {
            if (!cJSON_IsNumber(it) || !(it->valuedouble > 0))
                return ag_error_set(err, AG_ERR_FORMAT, "config.json: rope scaling '%s'[%d] is not a positive number", keys[i], j);
            o->gen[j] = (float)it->valuedouble;
        }
    }
    return AG_OK;
}

/* Rope scaling tensors: Llama 3's per-frequency divisors (rope_freqs), as the GGUF convention
 * stores them, and LongRoPE's factors. */
static ag_status add_rope_tensors(ag_conv_plan *p, const ag_hf_config *c, ag_error *err) {
    const cJSON *rs = ag_hf_rope_scaling(c), *t = rs ? cJSON_GetObjectItemCaseSensitive(rs, "rope_type") : NULL;
    if (!cJSON_IsString(t)) t = rs ? cJSON_GetObjectItemCaseSensitive(rs, "type") : NULL;
    if (cJSON_IsString(t) && (strcmp(t->valuestring, "longrope") == 0 || strcmp(t->valuestring, "su") == 0))
        return add_longrope_factors(p, c, rs, err);
    if (!cJSON_IsString(t) || strcmp(t->valuestring, "llama3") != 0) return AG_OK;
#define NUM(k, d) (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(rs, k)) ? cJSON_GetObjectItemCaseSensitive(rs, k)->valuedouble : (d))
    const double factor = NUM("factor", 8.0), lo = NUM("low_freq_factor", 1.0), hi = NUM("high_freq_factor", 4.0);
    const double old_ctx = NUM("original_max_position_embeddings", 8192.0);
#undef NUM
    const double n_embd = ag_hf_num(c, "hidden_size", 0), n_head = ag_hf_num(c, "num_attention_heads", 1);
    const int dim = (int)ag_hf_num(c, "head_dim", n_embd / n_head);
    const double base = ag_hf_rope_theta(c, NULL, 10000.0);
    out_tensor *o = new_generated(p, "rope_freqs.weight", dim / 2, err);
    if (!o) return err ? err->code : AG_ERR_NOMEM;
    for (int i = 0; i < dim / 2; i++) {
        const double freq = pow(base, -2.0 * i / dim), wavelen = 2 * M_PI / freq;
        double f = factor;
        if (wavelen < old_ctx / hi) f = 1.0;
        else if (wavelen <= old_ctx / lo) {
            const double smooth = (old_ctx / wavelen - lo) / (hi - lo);
            f = 1.0 / ((1 - smooth) / factor + smooth);
        }
        o->gen[i] = (float)f;
    }
    return AG_OK;
}

ag_conv_plan *ag_conv_plan_new(const ag_conv_family *fam, const ag_hf_config *c, const ag_st_set *st,
                               ag_type type, ag_error *err) {
    ag_conv_plan *p = calloc(1, sizeof *p);
    ag_status rc = p ? AG_OK : ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; !rc && i < ag_st_count(st); i++) {
        const ag_st_tensor *t = ag_st_at(st, i);
        if (!ag_conv_ignored(fam, t->name)) rc = add_source(p, fam, c, t, type, err);
    }
    for (int i = 0; !rc && i < p->n; i++)
        for (int e = 0; e < p->t[i].n_src && !rc; e++)
            if (!p->t[i].src[e]) rc = ag_error_set(err, AG_ERR_FORMAT, "%s: expert %d is missing from the checkpoint", p->t[i].name, e);
    if (!rc && !find_out(p, "token_embd.weight"))
        rc = ag_error_set(err, AG_ERR_FORMAT, "the checkpoint has no token embedding (model.embed_tokens.weight)");
    if (!rc) rc = add_rope_tensors(p, c, err);
    if (!rc && !(p->row = malloc((size_t)(p->max_ne0 > 0 ? p->max_ne0 : 1) * sizeof(float))))
        rc = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    if (rc) {
        ag_conv_plan_free(p);
        return NULL;
    }
    return p;
}

void ag_conv_plan_free(ag_conv_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->t[i].src);
        free(p->t[i].gen);
    }
    free(p->t);
    free(p->row);
    free(p);
}

int64_t ag_conv_plan_n_vocab(const ag_conv_plan *p) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, "token_embd.weight") == 0) return p->t[i].ne[1];
    return 0;
}

/* GLM-4.1V: index k of a head's rotary part in halves order <- interleaved index. */
static int64_t halves_source(const out_tensor *o, int64_t i) {
    const int64_t h = i / o->head_dim, k = i % o->head_dim, half = o->rot_halves / 2;
    if (k >= o->rot_halves) return i;
    return h * o->head_dim + (k < half ? 2 * k : 2 * (k - half) + 1);
}

/* Source row of output row r of a tensor with rows_per rows per source (per expert). */
static int64_t source_row(const out_tensor *o, int64_t r) {
    if (o->rot_halves > 0 && o->n_dims == 2) return halves_source(o, r);
    if (o->permute_heads <= 0) return r;
    const int64_t hd = o->ne[1] / o->permute_heads, h = r / hd, k = r % hd;
    return h * hd + (k % 2) * (hd / 2) + k / 2; /* new[2i + j] = old[j * hd/2 + i] */
}

static ag_status fill(void *ctx, int64_t index, void *buf, size_t nbytes, ag_error *err) {
    ag_conv_plan *p = ctx;
    if (index < 0 || index >= p->n) return ag_error_set(err, AG_ERR_INVALID_ARG, "bad tensor index %lld", (long long)index);
    const out_tensor *o = &p->t[index];
    const size_t row_bytes = ag_type_row_size(o->type, o->ne[0]);
    if (row_bytes * (size_t)(o->ne[1] * o->ne[2]) != nbytes)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "%s: %zu bytes asked, %zu expected", o->name, nbytes,
                            row_bytes * (size_t)(o->ne[1] * o->ne[2]));
    if (o->gen) {
        memcpy(buf, o->gen, nbytes);
        return AG_OK;
    }
    const ag_type_traits *tr = ag_type_traits_get(o->type);
    for (int64_t e = 0; e < o->ne[2]; e++) {
        const ag_st_tensor *src = o->src[e];
        for (int64_t r = 0; r < o->ne[1]; r++) {
            const int64_t sr = source_row(o, r);
            for (int64_t i = 0; i < o->ne[0]; i++) {
                const int64_t si = o->rot_halves > 0 && o->n_dims == 1 ? halves_source(o, i) : i; /* a Q/K bias */
                p->row[i] = ag_st_get_f32(src, sr * o->ne[0] + si) + (o->plus_one ? 1.0f : 0.0f);
            }
            uint8_t *dst = (uint8_t *)buf + (size_t)(e * o->ne[1] + r) * row_bytes;
            if (o->type == AG_TYPE_F32) memcpy(dst, p->row, row_bytes);
            else tr->from_float(p->row, dst, o->ne[0]);
        }
    }
    return AG_OK;
}

ag_status ag_conv_plan_add(ag_conv_plan *p, ag_gguf_writer *w, ag_error *err) {
    for (int i = 0; i < p->n; i++) {
        const out_tensor *o = &p->t[i];
        ag_status st = ag_gguf_add_tensor_deferred(w, o->name, o->type, o->n_dims, o->ne);
        if (st) return ag_error_set(err, st, "cannot add tensor %s", o->name);
    }
    ag_gguf_writer_set_filler(w, fill, p);
    return AG_OK;
}
