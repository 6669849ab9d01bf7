/*
 * arch.c - the table of model families (see arch.h), their extra GGUF keys and their layer
 * tensors (the GGUF convention's names: blk.N.attn_qkv, blk.N.attn_q.bias, blk.N.attn_q_norm,
 * blk.N.post_attention_norm, blk.N.ffn_gate_exps, ...).
 *
 * Encoders: bert (learned positions, GELU) and nomic-bert (fused QKV, rotary over halves, SwiGLU).
 * Rotary kind: GGUF llama files were converted with Q/K rows reordered for interleaved pairs
 * (NORM); qwen2/qwen3/gemma/phi3 keep the Hugging Face order and rotate halves (NEOX); GLM-4
 * rotates interleaved pairs of its first n_rot dimensions in the original model already (NORM).
 */
#include "model/arch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "tensor/quant.h"

static const ag_arch ARCHS[] = {
    /* name        rope          activation        embd_scale swa_period encoder */
    {"llama", AG_ROPE_NORM, AG_ACT_SILU, false, 0, false},
    {"mistral", AG_ROPE_NORM, AG_ACT_SILU, false, 0, false},
    {"qwen2", AG_ROPE_NEOX, AG_ACT_SILU, false, 0, false},
    {"qwen3", AG_ROPE_NEOX, AG_ACT_SILU, false, 0, false},
    {"qwen3moe", AG_ROPE_NEOX, AG_ACT_SILU, false, 0, false},
    {"phi3", AG_ROPE_NEOX, AG_ACT_SILU, false, 0, false},
    {"glm4", AG_ROPE_NORM, AG_ACT_SILU, false, 0, false},
    {"gemma2", AG_ROPE_NEOX, AG_ACT_GELU_TANH, true, 2, false},
    {"gemma3", AG_ROPE_NEOX, AG_ACT_GELU_TANH, true, 6, false},
    {"bert", AG_ROPE_NONE, AG_ACT_GELU_ERF, false, 0, true},
    {"nomic-bert", AG_ROPE_NEOX, AG_ACT_SILU, false, 0, true},
};

const ag_arch *ag_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(ARCHS[i].name, name) == 0) return &ARCHS[i];
    return NULL;
}

/* ---------------------------------------------------------------- keys */

static bool has(const ag_gguf_file *f, const char *arch, const char *suffix, char *key, size_t cap) {
    snprintf(key, cap, "%s.%s", arch, suffix);
    return ag_gguf_find_kv(f, key) != NULL;
}

static ag_status opt_f32(const ag_gguf_file *f, const char *arch, const char *suffix, float *out, ag_error *err) {
    char key[128];
    return has(f, arch, suffix, key, sizeof key) ? ag_gguf_get_f32(f, key, out, err) : AG_OK;
}

static ag_status opt_int(const ag_gguf_file *f, const char *arch, const char *suffix, int *out, ag_error *err) {
    char key[128];
    uint32_t v;
    if (!has(f, arch, suffix, key, sizeof key)) return AG_OK;
    ag_status st = ag_gguf_get_u32(f, key, &v, err);
    if (!st && v > (1u << 30)) return ag_error_set(err, AG_ERR_FORMAT, "%s=%u is out of range", key, v);
    if (!st) *out = (int)v;
    return st;
}

/* attention.sliding_window_pattern: a period (gemma3) or one bool per layer (qwen2's layers from
 * max_window_layers on). */
static ag_status read_swa_layers(const ag_gguf_file *f, const char *arch, ag_hparams *hp, ag_error *err) {
    char key[128];
    if (!has(f, arch, "attention.sliding_window_pattern", key, sizeof key)) return AG_OK;
    const ag_gguf_value *v = &ag_gguf_find_kv(f, key)->value;
    if (v->type != AG_GGUF_ARRAY) return opt_int(f, arch, "attention.sliding_window_pattern", &hp->swa_period, err);
    if (v->arr.elem_type != AG_GGUF_BOOL || v->arr.count != (uint64_t)hp->n_layer || hp->n_layer > 1024)
        return ag_error_set(err, AG_ERR_FORMAT, "%s must be a period or %d booleans", key, hp->n_layer);
    hp->swa_explicit = true;
    memset(hp->swa_layers, 0, sizeof hp->swa_layers);
    for (int il = 0; il < hp->n_layer; il++)
        if (ag_gguf_arr_i64(v, (uint64_t)il)) hp->swa_layers[il / 64] |= (uint64_t)1 << (il % 64);
    return AG_OK;
}

/* rope.dimension_sections: [t, h, w, (0)] rotated pairs per position axis of multimodal rotary. */
static ag_status read_mrope(const ag_gguf_file *f, const char *arch, ag_hparams *hp, ag_error *err) {
    char key[128];
    if (!has(f, arch, "rope.dimension_sections", key, sizeof key)) return AG_OK;
    const ag_gguf_value *v = &ag_gguf_find_kv(f, key)->value;
    if (v->type != AG_GGUF_ARRAY || v->arr.count < 3 || v->arr.count > 4)
        return ag_error_set(err, AG_ERR_FORMAT, "%s must be an array of 3 or 4 integers", key);
    int sum = 0;
    for (int i = 0; i < 3; i++) {
        const int64_t s = ag_gguf_arr_i64(v, (uint64_t)i);
        if (s < 0 || s > 4096) return ag_error_set(err, AG_ERR_FORMAT, "%s[%d]=%lld is out of range", key, i, (long long)s);
        hp->mrope_sections[i] = (int)s;
        sum += (int)s;
    }
    if (v->arr.count == 4 && ag_gguf_arr_i64(v, 3) != 0)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "%s: a fourth (non-zero) section is not supported", key);
    if (sum != hp->n_rot / 2)
        return ag_error_set(err, AG_ERR_FORMAT, "%s sums to %d rotated pairs, but rope.dimension_count is %d", key, sum, hp->n_rot);
    hp->mrope = true;
    return AG_OK;
}

ag_status ag_arch_read_hparams(const ag_gguf_file *f, const ag_arch *a, ag_hparams *hp, ag_error *err) {
    const char *n = a->name;
    char key[128];
    ag_status st;
    hp->arch = a;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->swa_period = a->swa_period;
    hp->rope_base_swa = strcmp(n, "gemma3") == 0 ? 10000.0f : 0.0f;
    hp->n_ff_exp = hp->n_ff;
    hp->expert_norm = true;
    hp->pooling = a->encoder ? 1 : 0;
    if ((st = opt_f32(f, n, "attention.scale", &hp->attn_scale, err)) ||
        (st = opt_f32(f, n, "attn_logit_softcapping", &hp->attn_softcap, err)) ||
        (st = opt_f32(f, n, "final_logit_softcapping", &hp->final_softcap, err)) ||
        (st = opt_int(f, n, "attention.sliding_window", &hp->n_swa, err)) ||
        (st = opt_f32(f, n, "rope.freq_base_swa", &hp->rope_base_swa, err)) ||
        (st = opt_int(f, n, "expert_count", &hp->n_expert, err)) ||
        (st = opt_int(f, n, "expert_used_count", &hp->n_expert_used, err)) ||
        (st = opt_int(f, n, "expert_feed_forward_length", &hp->n_ff_exp, err)) ||
        (st = opt_int(f, n, "pooling_type", &hp->pooling, err)) ||
        (st = opt_f32(f, n, "attention.layer_norm_epsilon", &hp->norm_eps, err)))
        return st;
    if (has(f, n, "expert_weights_norm", key, sizeof key) && (st = ag_gguf_get_bool(f, key, &hp->expert_norm, err))) return st;
    if ((st = ag_rope_read_scaling(f, n, hp, err)) || (st = read_swa_layers(f, n, hp, err)) || (st = read_mrope(f, n, hp, err)))
        return st;
    if (hp->n_expert < 0 || hp->n_expert > 1024 || (hp->n_expert > 0 && (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)))
        return ag_error_set(err, AG_ERR_FORMAT, "%s.expert_count=%d / expert_used_count=%d are inconsistent", n, hp->n_expert,
                            hp->n_expert_used);
    if (a->encoder && (hp->pooling < 1 || hp->pooling > 4))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "%s.pooling_type=%d is not supported (1 mean, 2 CLS, 3 last, 4 rank)", n,
                            hp->pooling);
    if (!(hp->attn_scale > 0) || hp->attn_softcap < 0 || hp->final_softcap < 0 || hp->n_swa < 0)
        return ag_error_set(err, AG_ERR_FORMAT, "bad attention.scale, softcapping or sliding_window value");
    return AG_OK;
}

/* ---------------------------------------------------------------- tensors */

/* A 3-D tensor of n_expert matrices (ne0 -> ne1); bound as one weight of ne1 rows per expert. */
static ag_status bind_experts(const ag_gguf_file *f, ag_weight *w, const char *name, int64_t ne0, int64_t ne1,
                              int n_expert, ag_error *err) {
    const ag_gguf_tensor *t = ag_gguf_find_tensor(f, name);
    memset(w, 0, sizeof *w);
    if (!t) return ag_error_set(err, AG_ERR_FORMAT, "missing tensor '%s'", name);
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != n_expert || t->ne[3] != 1)
        return ag_error_set(err, AG_ERR_FORMAT, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %d]", name,
                            (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                            (long long)ne0, (long long)ne1, n_expert);
    const ag_type_traits *tr = ag_type_traits_get(t->type);
    if (!tr || !tr->vec_dot || !tr->to_float)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s' has type %s, not supported yet", name, ag_type_name(t->type));
    w->data = t->data;
    w->type = t->type;
    w->ne[0] = ne0;
    w->ne[1] = ne1;
    w->row_bytes = ag_type_row_size(t->type, ne0);
    return AG_OK;
}

typedef struct {
    ag_weight *w;
    const char *name; /* after "blk.N." */
    int64_t ne0, ne1; /* ne1 = 0: 1-D */
    bool required;
} want;

static ag_status bind_list(const ag_gguf_file *f, int il, const want *list, size_t n, ag_error *err) {
    for (size_t i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%d.%s", il, list[i].name);
        ag_status st = ag_bind_weight(f, list[i].w, name, list[i].ne0, list[i].ne1, list[i].required, err);
        if (st) return st;
    }
    return AG_OK;
}

static bool present(const ag_gguf_file *f, int il, const char *suffix) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);
    return ag_gguf_find_tensor(f, name) != NULL;
}

static ag_status bind_ffn(const ag_gguf_file *f, const ag_hparams *hp, int il, ag_layer *l, ag_error *err) {
    const int64_t e = hp->n_embd, ff = hp->n_ff;
    if (hp->n_expert > 0) {
        char name[96];
        const int64_t fe = hp->n_ff_exp;
        ag_status st;
        snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", il);
        if ((st = ag_bind_weight(f, &l->ffn_gate_inp, name, e, hp->n_expert, true, err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_gate_exps.weight", il);
        if ((st = bind_experts(f, &l->ffn_gate_exps, name, e, fe, hp->n_expert, err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_up_exps.weight", il);
        if ((st = bind_experts(f, &l->ffn_up_exps, name, e, fe, hp->n_expert, err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", il);
        return bind_experts(f, &l->ffn_down_exps, name, fe, e, hp->n_expert, err);
    }
    const bool encoder = hp->arch->encoder, gated = present(f, il, "ffn_gate.weight");
    const want w[] = {
        {&l->ffn_gate, "ffn_gate.weight", e, ff, gated},
        /* without a gate, a decoder's ffn_up holds [gate; up] (phi3, glm4) */
        {&l->ffn_up, "ffn_up.weight", e, gated || encoder ? ff : 2 * ff, true},
        {&l->ffn_down, "ffn_down.weight", ff, e, true},
        {&l->ffn_up_b, "ffn_up.bias", gated || encoder ? ff : 2 * ff, 0, false},
        {&l->ffn_down_b, "ffn_down.bias", e, 0, false},
    };
    return bind_list(f, il, w, sizeof w / sizeof w[0], err);
}

ag_status ag_arch_bind_layer(const ag_gguf_file *f, const ag_hparams *hp, int il, ag_layer *l, ag_error *err) {
    const int64_t e = hp->n_embd, hd = hp->head_dim, q = (int64_t)hp->n_head * hd, kv = (int64_t)hp->n_head_kv * hd;
    const bool fused = present(f, il, "attn_qkv.weight"), enc = hp->arch->encoder;
    const want w[] = {
        {&l->attn_norm, enc ? "attn_output_norm.weight" : "attn_norm.weight", e, 0, true},
        {&l->attn_norm_b, "attn_output_norm.bias", e, 0, enc},
        {&l->wqkv, "attn_qkv.weight", e, q + 2 * kv, fused},
        {&l->wq, "attn_q.weight", e, q, !fused},
        {&l->wk, "attn_k.weight", e, kv, !fused},
        {&l->wv, "attn_v.weight", e, kv, !fused},
        {&l->bq, "attn_q.bias", q, 0, false},
        {&l->bk, "attn_k.bias", kv, 0, false},
        {&l->bv, "attn_v.bias", kv, 0, false},
        {&l->wo, "attn_output.weight", q, e, true},
        {&l->bo, "attn_output.bias", e, 0, false},
        {&l->attn_q_norm, "attn_q_norm.weight", hd, 0, false},
        {&l->attn_k_norm, "attn_k_norm.weight", hd, 0, false},
        {&l->attn_post_norm, "post_attention_norm.weight", e, 0, false},
        {&l->ffn_norm, enc ? "layer_output_norm.weight" : "ffn_norm.weight", e, 0, true},
        {&l->ffn_norm_b, "layer_output_norm.bias", e, 0, enc},
        {&l->ffn_post_norm, "post_ffw_norm.weight", e, 0, false},
    };
    ag_status st = bind_list(f, il, w, sizeof w / sizeof w[0], err);
    return st ? st : bind_ffn(f, hp, il, l, err);
}
