/*
 * convert_hparams.c - config.json -> the GGUF hyper-parameter keys of the family
 * (`{arch}.embedding_length`, `{arch}.attention.head_count_kv`, `{arch}.rope.freq_base`, ...).
 *
 * Keys follow the GGUF convention; where it has no key for something our engine needs (the
 * sliding window of Mistral files, written as llama.attention.sliding_window), the extra key is
 * harmless to other readers, which ignore keys they do not know.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "convert/convert_impl.h"

typedef struct {
    ag_gguf_writer *w;
    const char *arch;
    ag_status st;
} kw;

static void put_u32(kw *k, const char *suffix, double v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", k->arch, suffix);
    if (!k->st) k->st = ag_gguf_set_u32(k->w, key, (uint32_t)v);
}

static void put_f32(kw *k, const char *suffix, double v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", k->arch, suffix);
    if (!k->st) k->st = ag_gguf_set_f32(k->w, key, (float)v);
}

static void put_bool(kw *k, const char *suffix, bool v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", k->arch, suffix);
    if (!k->st) k->st = ag_gguf_set_bool(k->w, key, v);
}

static double partial_rotary(const ag_hf_config *c) {
    const cJSON *rp = ag_hf_get(c, "rope_parameters");
    const cJSON *v = cJSON_IsObject(rp) ? cJSON_GetObjectItemCaseSensitive(rp, "partial_rotary_factor") : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : ag_hf_num(c, "partial_rotary_factor", 1.0);
}

static double rs_num(const cJSON *rs, const char *name, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rs, name);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void put_str(kw *k, const char *suffix, const char *v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", k->arch, suffix);
    if (!k->st) k->st = ag_gguf_set_str(k->w, key, v);
}

/* Rope scaling: linear; llama3 (the rope_freqs tensor); longrope (rope_factors_long/short tensors,
 * convert_tensors.c, and the attention factor); yarn (its parameters; the engine computes the
 * frequencies). The attention factors are the reference library's defaults unless given. */
static ag_status rope_scaling(kw *k, const ag_hf_config *c, ag_error *err) {
    const cJSON *rs = ag_hf_rope_scaling(c);
    if (!rs) return AG_OK;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    const char *type = t->valuestring;
    const double max_pos = ag_hf_num(c, "max_position_embeddings", 2048);
    const double orig = rs_num(rs, "original_max_position_embeddings", ag_hf_num(c, "original_max_position_embeddings", max_pos));
    if (strcmp(type, "linear") == 0 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(rs, "factor"))) {
        put_str(k, "rope.scaling.type", "linear");
        put_f32(k, "rope.scaling.factor", rs_num(rs, "factor", 1));
        return AG_OK;
    }
    if (strcmp(type, "llama3") == 0) return AG_OK; /* rope_freqs.weight, convert_tensors.c */
    if (!(orig >= 1))
        return ag_error_set(err, AG_ERR_FORMAT, "config.json: rope scaling '%s' without a valid original_max_position_embeddings", type);
    if (strcmp(type, "longrope") == 0 || strcmp(type, "su") == 0) {
        const double factor = rs_num(rs, "factor", max_pos / orig);
        const double af = rs_num(rs, "attention_factor", factor <= 1 ? 1.0 : sqrt(1 + log(factor) / log(orig)));
        put_str(k, "rope.scaling.type", "longrope");
        put_u32(k, "rope.scaling.original_context_length", orig);
        put_f32(k, "rope.scaling.attn_factor", af);
        return AG_OK;
    }
    if (strcmp(type, "yarn") == 0) {
        const double factor = rs_num(rs, "factor", max_pos / orig);
        const double ms = rs_num(rs, "mscale", 0), ms_all = rs_num(rs, "mscale_all_dim", 0);
        const double def = factor <= 1 ? 1.0 : 0.1 * log(factor) + 1.0;
        double af = ms > 0 && ms_all > 0 && factor > 1 ? (0.1 * ms * log(factor) + 1) / (0.1 * ms_all * log(factor) + 1) : def;
        af = rs_num(rs, "attention_factor", af);
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rs, "truncate")))
            return ag_error_set(err, AG_ERR_UNSUPPORTED, "config.json: yarn with \"truncate\": false is not supported yet");
        put_str(k, "rope.scaling.type", "yarn");
        put_f32(k, "rope.scaling.factor", factor);
        put_u32(k, "rope.scaling.original_context_length", orig);
        put_f32(k, "rope.scaling.attn_factor", af / def); /* the engine multiplies by 1 + 0.1 ln factor */
        put_f32(k, "rope.scaling.yarn_beta_fast", rs_num(rs, "beta_fast", 32));
        put_f32(k, "rope.scaling.yarn_beta_slow", rs_num(rs, "beta_slow", 1));
        return AG_OK;
    }
    return ag_error_set(err, AG_ERR_UNSUPPORTED, "config.json: rope scaling type '%s' is not supported yet", type);
}

/* Multimodal rotary (GLM-4.1V): rope_parameters / rope_scaling "mrope_section" [t, h, w] (pairs of
 * rotated dimensions per position axis) -> {arch}.rope.dimension_sections, four int32 as llama.cpp
 * writes them (the fourth 0). */
static void mrope_sections(kw *k, const ag_hf_config *c) {
    const char *where[] = {"rope_parameters", "rope_scaling"};
    for (int i = 0; i < 2; i++) {
        const cJSON *o = ag_hf_get(c, where[i]);
        const cJSON *a = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "mrope_section") : NULL;
        if (!cJSON_IsArray(a)) continue;
        int32_t s[4] = {0, 0, 0, 0};
        int j = 0;
        for (const cJSON *it = a->child; it && j < 4; it = it->next, j++) s[j] = cJSON_IsNumber(it) ? (int32_t)it->valueint : 0;
        char key[128];
        snprintf(key, sizeof key, "%s.rope.dimension_sections", k->arch);
        if (!k->st) k->st = ag_gguf_set_arr_data(k->w, key, AG_GGUF_INT32, s, 4);
        return;
    }
}

/* Qwen2: sliding window on the layers from max_window_layers on, when use_sliding_window. */
static void qwen2_swa(kw *k, const ag_hf_config *c) {
    if (!ag_hf_bool(c, "use_sliding_window", false) || !cJSON_IsNumber(ag_hf_get(c, "sliding_window"))) return;
    const int n_layer = (int)ag_hf_num(c, "num_hidden_layers", 0), first = (int)ag_hf_num(c, "max_window_layers", n_layer);
    uint8_t slides[1024];
    if (n_layer <= 0 || n_layer > 1024 || first >= n_layer) return;
    for (int il = 0; il < n_layer; il++) slides[il] = il >= first;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", k->arch);
    put_u32(k, "attention.sliding_window", ag_hf_num(c, "sliding_window", 0));
    if (!k->st) k->st = ag_gguf_set_arr_data(k->w, key, AG_GGUF_BOOL, slides, (uint64_t)n_layer);
}

/* Gemma 3: the period of its sliding/global layer pattern (every Nth layer global). */
static int gemma3_pattern(const ag_hf_config *c) {
    const cJSON *lt = ag_hf_get(c, "layer_types");
    int i = 0;
    for (const cJSON *it = cJSON_IsArray(lt) ? lt->child : NULL; it; it = it->next, i++)
        if (cJSON_IsString(it) && strcmp(it->valuestring, "full_attention") == 0) return i + 1;
    double p = ag_hf_num(c, "sliding_window_pattern", ag_hf_num(c, "_sliding_window_pattern", 6));
    return p >= 1 ? (int)p : 6;
}

/* nomic-bert variants the engine does not compute are refused by name. */
static ag_status nomic_options(const ag_hf_config *c, ag_error *err) {
    const char *act = ag_hf_str(c, "activation_function");
    if (ag_hf_num(c, "rotary_emb_fraction", 1.0) != 1.0 || ag_hf_bool(c, "rotary_emb_interleaved", false) ||
        ag_hf_bool(c, "prenorm", false) || ag_hf_bool(c, "causal", false) || (act && strcmp(act, "swiglu") != 0) ||
        ag_hf_has(c, "rotary_scaling_factor"))
        return ag_error_set(err, AG_ERR_UNSUPPORTED,
                            "config.json: this NomicBert variant is not supported yet (needs rotary_emb_fraction 1, "
                            "non-interleaved rotary without scaling, post-norm, non-causal, swiglu)");
    return AG_OK;
}

ag_status ag_conv_write_hparams(ag_gguf_writer *w, const ag_conv_family *fam, const ag_hf_config *c,
                                const char *name, ag_error *err) {
    kw k = {w, fam->gguf_arch, AG_OK};
    const char *need[] = {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!cJSON_IsNumber(ag_hf_get(c, need[i])))
            return ag_error_set(err, AG_ERR_FORMAT, "config.json: missing number '%s'", need[i]);
    const double n_embd = ag_hf_num(c, "hidden_size", 0), n_head = ag_hf_num(c, "num_attention_heads", 0);
    const double n_head_kv = ag_hf_num(c, "num_key_value_heads", n_head);
    const double head_dim = ag_hf_num(c, "head_dim", n_embd / n_head);
    if ((k.st = ag_gguf_set_str(w, "general.architecture", fam->gguf_arch)) ||
        (k.st = ag_gguf_set_str(w, "general.name", name)))
        return ag_error_set(err, k.st, "out of memory");
    put_u32(&k, "context_length", ag_hf_num(c, "max_position_embeddings", 2048));
    put_u32(&k, "embedding_length", n_embd);
    put_u32(&k, "block_count", ag_hf_num(c, "num_hidden_layers", 0));
    put_u32(&k, "feed_forward_length", ag_hf_num(c, "intermediate_size", 0));
    put_u32(&k, "attention.head_count", n_head);
    put_u32(&k, "attention.head_count_kv", n_head_kv);
    if (fam->encoder) {
        put_f32(&k, "attention.layer_norm_epsilon", ag_hf_num(c, "layer_norm_eps", 1e-12));
        put_bool(&k, "attention.causal", false);
        if (strcmp(fam->gguf_arch, "nomic-bert") == 0) {
            ag_status st = nomic_options(c, err);
            if (st) return st;
            put_f32(&k, "rope.freq_base", ag_hf_num(c, "rope_theta", 10000.0));
        }
        return k.st ? ag_error_set(err, k.st, "out of memory") : AG_OK;
    }
    put_f32(&k, "attention.layer_norm_rms_epsilon", ag_hf_num(c, "rms_norm_eps", 1e-6));
    put_f32(&k, "rope.freq_base", ag_hf_rope_theta(c, "full_attention", 10000.0));
    if (head_dim != n_embd / n_head) {
        put_u32(&k, "attention.key_length", head_dim);
        put_u32(&k, "attention.value_length", head_dim);
    }
    put_u32(&k, "rope.dimension_count", floor(head_dim * partial_rotary(c)));
    mrope_sections(&k, c);
    const bool swa = strcmp(fam->hf_arch, "MistralForCausalLM") == 0 || strncmp(fam->gguf_arch, "gemma", 5) == 0 ||
                     strcmp(fam->gguf_arch, "phi3") == 0;
    if (swa && cJSON_IsNumber(ag_hf_get(c, "sliding_window"))) put_u32(&k, "attention.sliding_window", ag_hf_num(c, "sliding_window", 0));
    if (ag_hf_has(c, "attn_logit_softcapping")) put_f32(&k, "attn_logit_softcapping", ag_hf_num(c, "attn_logit_softcapping", 0));
    if (ag_hf_has(c, "final_logit_softcapping")) put_f32(&k, "final_logit_softcapping", ag_hf_num(c, "final_logit_softcapping", 0));
    const double qpas = ag_hf_num(c, "query_pre_attn_scalar", head_dim);
    if (qpas != head_dim) put_f32(&k, "attention.scale", 1.0 / sqrt(qpas));
    if (strcmp(fam->gguf_arch, "qwen2") == 0) qwen2_swa(&k, c);
    if (strcmp(fam->gguf_arch, "gemma3") == 0) {
        put_f32(&k, "rope.freq_base_swa", ag_hf_rope_theta(c, "sliding_attention", 10000.0));
        put_u32(&k, "attention.sliding_window_pattern", gemma3_pattern(c));
    }
    const double n_expert = ag_hf_num(c, "num_local_experts", ag_hf_num(c, "num_experts", 0));
    if (n_expert > 0) {
        put_u32(&k, "expert_count", n_expert);
        put_u32(&k, "expert_used_count", ag_hf_num(c, "num_experts_per_tok", 2));
        if (ag_hf_has(c, "moe_intermediate_size")) put_u32(&k, "expert_feed_forward_length", ag_hf_num(c, "moe_intermediate_size", 0));
        if (ag_hf_has(c, "norm_topk_prob")) put_bool(&k, "expert_weights_norm", ag_hf_bool(c, "norm_topk_prob", true));
    }
    if (!k.st) {
        ag_status st = rope_scaling(&k, c, err);
        if (st) return st;
    }
    return k.st ? ag_error_set(err, k.st, "out of memory") : AG_OK;
}
