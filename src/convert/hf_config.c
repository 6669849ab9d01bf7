/*
 * hf_config.c - reading a Hugging Face config.json: typed getters with defaults, and the rope
 * fields, which transformers 5 moved into "rope_parameters" (per layer kind for Gemma 3) while
 * older checkpoints have "rope_theta", "rope_local_base_freq" and "rope_scaling".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "convert/convert_impl.h"

ag_status ag_hf_config_load(ag_hf_config *c, const char *dir, ag_error *err) {
    memset(c, 0, sizeof *c);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return ag_error_set(err, AG_ERR_IO, "cannot open %s (is %s a Hugging Face model directory?)", path, dir);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 && n < (64 << 20) ? malloc((size_t)n + 1) : NULL;
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!buf || got != (size_t)n) {
        free(buf);
        return ag_error_set(err, AG_ERR_IO, "cannot read %s", path);
    }
    buf[n] = '\0';
    c->root = cJSON_Parse(buf);
    free(buf);
    if (!cJSON_IsObject(c->root)) {
        cJSON_Delete(c->root);
        c->root = NULL;
        return ag_error_set(err, AG_ERR_FORMAT, "%s is not a JSON object", path);
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(c->root, "text_config");
    c->text = cJSON_IsObject(tc) && !cJSON_GetObjectItemCaseSensitive(c->root, "hidden_size") ? tc : c->root;
    return AG_OK;
}

void ag_hf_config_free(ag_hf_config *c) {
    cJSON_Delete(c->root);
    memset(c, 0, sizeof *c);
}

/* GPT-2-style spellings some configs use instead (nomic-bert), as transformers' attribute_map. */
static const char *const ALIASES[][2] = {
    {"hidden_size", "n_embd"}, {"num_hidden_layers", "n_layer"}, {"num_attention_heads", "n_head"},
    {"intermediate_size", "n_inner"}, {"max_position_embeddings", "n_positions"},
    {"layer_norm_eps", "layer_norm_epsilon"}, {"rope_theta", "rotary_emb_base"},
};

static const cJSON *get1(const ag_hf_config *c, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->text, key);
    if (!v && c->text != c->root) v = cJSON_GetObjectItemCaseSensitive(c->root, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

const cJSON *ag_hf_get(const ag_hf_config *c, const char *key) {
    const cJSON *v = get1(c, key);
    for (size_t i = 0; !v && i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (strcmp(key, ALIASES[i][0]) == 0) v = get1(c, ALIASES[i][1]);
    return v;
}

bool ag_hf_has(const ag_hf_config *c, const char *key) { return ag_hf_get(c, key) != NULL; }

double ag_hf_num(const ag_hf_config *c, const char *key, double dflt) {
    const cJSON *v = ag_hf_get(c, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0); /* eos_token_id: [a, b] */
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

bool ag_hf_bool(const ag_hf_config *c, const char *key, bool dflt) {
    const cJSON *v = ag_hf_get(c, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

const char *ag_hf_str(const ag_hf_config *c, const char *key) {
    const cJSON *v = ag_hf_get(c, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double obj_num(const cJSON *o, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

double ag_hf_rope_theta(const ag_hf_config *c, const char *layer_kind, double dflt) {
    const cJSON *rp = ag_hf_get(c, "rope_parameters");
    if (cJSON_IsObject(rp)) {
        const cJSON *kind = layer_kind ? cJSON_GetObjectItemCaseSensitive(rp, layer_kind) : NULL;
        if (cJSON_IsObject(kind)) return obj_num(kind, "rope_theta", dflt);
        const cJSON *full = cJSON_GetObjectItemCaseSensitive(rp, "full_attention");
        if (cJSON_IsObject(full) && !cJSON_GetObjectItemCaseSensitive(rp, "rope_theta")) return obj_num(full, "rope_theta", dflt);
        if (cJSON_GetObjectItemCaseSensitive(rp, "rope_theta")) return obj_num(rp, "rope_theta", dflt);
    }
    if (layer_kind && strcmp(layer_kind, "sliding_attention") == 0 && ag_hf_has(c, "rope_local_base_freq"))
        return ag_hf_num(c, "rope_local_base_freq", dflt);
    return ag_hf_num(c, "rope_theta", dflt);
}

const cJSON *ag_hf_rope_scaling(const ag_hf_config *c) {
    const cJSON *rs = ag_hf_get(c, "rope_scaling");
    if (!cJSON_IsObject(rs)) {
        rs = ag_hf_get(c, "rope_parameters");
        const cJSON *full = cJSON_GetObjectItemCaseSensitive(rs, "full_attention");
        if (cJSON_IsObject(full)) rs = full;
    }
    if (!cJSON_IsObject(rs)) return NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(t) || strcmp(t->valuestring, "default") == 0) return NULL;
    return rs;
}
