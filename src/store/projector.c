/*
 * projector.c - vision projector files ("mmproj" GGUFs, general.architecture "clip") as the store
 * sees them: telling one from a language model (the second FROM of a Modelfile), and their
 * metadata as JSON (`autoglm show`, /api/show's "projector_info"), read without loading a model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf/gguf.h"
#include "store/store.h"

bool store_is_projector(const char *path) {
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    ag_error e = {0};
    ag_gguf_file *f = ag_gguf_open(path, &e);
    ag_gguf_str arch;
    const bool clip = f && ag_gguf_get_str(f, "general.architecture", &arch, &e) == AG_OK && ag_gguf_str_eq(arch, "clip");
    ag_gguf_close(f);
    return clip;
}

/* One GGUF value as JSON; arrays of more than max_items items (max_items >= 0) become null. */
static cJSON *value_json(const ag_gguf_value *v, int max_items) {
    switch (v->type) {
    case AG_GGUF_STRING: {
        char *t = strndup(v->s.data, (size_t)v->s.len);
        cJSON *o = cJSON_CreateString(t ? t : "");
        free(t);
        return o;
    }
    case AG_GGUF_BOOL: return cJSON_CreateBool(v->u != 0);
    case AG_GGUF_FLOAT32:
    case AG_GGUF_FLOAT64: return cJSON_CreateNumber(v->f);
    case AG_GGUF_INT8:
    case AG_GGUF_INT16:
    case AG_GGUF_INT32:
    case AG_GGUF_INT64: return cJSON_CreateNumber((double)v->i);
    case AG_GGUF_ARRAY: {
        if (max_items >= 0 && v->arr.count > (uint64_t)max_items) return cJSON_CreateNull();
        cJSON *a = cJSON_CreateArray();
        for (uint64_t i = 0; a && i < v->arr.count; i++)
            cJSON_AddItemToArray(a, v->arr.items ? value_json(&v->arr.items[i], max_items) : cJSON_CreateNumber(ag_gguf_arr_f64(v, i)));
        return a;
    }
    default: return cJSON_CreateNumber((double)v->u);
    }
}

cJSON *store_projector_info(const char *path, int max_items, cJSON **tensors, uint64_t *n_params, char *err, size_t cap) {
    ag_error e = {0};
    ag_gguf_file *f = ag_gguf_open(path, &e);
    if (!f) {
        snprintf(err, cap, "%s", e.msg);
        return NULL;
    }
    cJSON *meta = cJSON_CreateObject();
    for (int64_t i = 0; meta && i < ag_gguf_kv_count(f); i++) {
        const ag_gguf_kv *kv = ag_gguf_kv_at(f, i);
        char *key = strndup(kv->key.data, (size_t)kv->key.len);
        if (key) cJSON_AddItemToObject(meta, key, value_json(&kv->value, max_items));
        free(key);
    }
    uint64_t params = 0;
    cJSON *tens = tensors ? cJSON_CreateArray() : NULL;
    for (int64_t i = 0; i < ag_gguf_tensor_count(f); i++) {
        const ag_gguf_tensor *t = ag_gguf_tensor_at(f, i);
        uint64_t ne = 1;
        cJSON *shape = tens ? cJSON_CreateArray() : NULL;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            ne *= (uint64_t)t->ne[d];
            if (shape) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
        }
        params += ne;
        if (!tens) continue;
        cJSON *to = cJSON_CreateObject();
        char *name = strndup(t->name.data, (size_t)t->name.len);
        cJSON_AddStringToObject(to, "name", name ? name : "");
        free(name);
        cJSON_AddStringToObject(to, "type", ag_type_name(t->type));
        cJSON_AddItemToObject(to, "shape", shape);
        cJSON_AddItemToArray(tens, to);
    }
    if (tensors) *tensors = tens;
    if (n_params) *n_params = params;
    ag_gguf_close(f);
    return meta;
}
