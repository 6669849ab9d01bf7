/*
 * routes_ollama.c - the Ollama API's model routes: GET/HEAD /, /api/version, /api/tags,
 * /api/show, /api/ps, /api/delete, /api/copy, and the generation routes handed to gen.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http.h"

enum MHD_Result route_root(http_req *rq) { return http_reply_text(rq, 200, "text/plain; charset=utf-8", "Ollama is running"); }

enum MHD_Result route_version(http_req *rq) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", AUTOGLM_VERSION);
    return http_reply_json(rq, 200, o);
}

static void rfc3339(char *buf, size_t cap, int64_t t) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *details(const store_manifest *m) {
    cJSON *d = cJSON_CreateObject();
    char ps[32];
    store_human_count(ps, sizeof ps, (double)m->n_params);
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", "gguf");
    cJSON_AddStringToObject(d, "family", m->family);
    cJSON *fam = cJSON_AddArrayToObject(d, "families");
    cJSON_AddItemToArray(fam, cJSON_CreateString(m->family));
    cJSON_AddStringToObject(d, "parameter_size", ps);
    cJSON_AddStringToObject(d, "quantization_level", m->quant);
    return d;
}

/* name, model, modified_at, size, digest, details: the common part of /api/tags and /api/ps */
static cJSON *model_entry(const store_manifest *m) {
    cJSON *o = cJSON_CreateObject();
    char when[40];
    rfc3339(when, sizeof when, m->modified);
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "model", m->name);
    cJSON_AddStringToObject(o, "modified_at", when);
    cJSON_AddNumberToObject(o, "size", (double)m->size);
    cJSON_AddStringToObject(o, "digest", m->sha256);
    cJSON_AddItemToObject(o, "details", details(m));
    return o;
}

enum MHD_Result route_tags(http_req *rq) {
    store_manifest *ms = NULL;
    int n = 0;
    st_error err = {0};
    if (rq->srv->cfg.sched.store_root && store_list(rq->srv->cfg.sched.store_root, &ms, &n, &err))
        return http_reply_error(rq, 500, "%s", err.msg);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "models");
    for (int i = 0; i < n; i++) {
        cJSON_AddItemToArray(arr, model_entry(&ms[i]));
        store_manifest_free(&ms[i]);
    }
    free(ms);
    return http_reply_json(rq, 200, o);
}

typedef struct {
    cJSON *arr;
    const char *kv_type;
} ps_ctx;

static void ps_one(void *ctx, const store_manifest *man, const ag_model *model, int active, int64_t expires_unix) {
    (void)active;
    const ps_ctx *pc = ctx;
    cJSON *o = model_entry(man);
    char when[40] = "2318-01-01T00:00:00Z"; /* never: kept until the server stops */
    if (expires_unix > 0) rfc3339(when, sizeof when, expires_unix);
    cJSON_AddStringToObject(o, "expires_at", when);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "size", cJSON_CreateNumber((double)ag_model_size_bytes(model)));
    cJSON_AddNumberToObject(o, "size_vram", (double)ag_model_gpu_bytes(model)); /* weights + KV caches + scratch */
    cJSON_AddStringToObject(o, "device", ag_model_device(model)); /* ours: where it runs, its layers on the GPU */
    cJSON_AddNumberToObject(o, "gpu_layers", ag_model_gpu_layers(model));
    cJSON_AddNumberToObject(o, "n_layer", ag_model_n_layer(model));
    cJSON_AddStringToObject(o, "kv_type", pc->kv_type); /* ours: the KV cache and its bytes per token */
    cJSON_AddNumberToObject(o, "kv_bytes_per_token", (double)ag_model_kv_bytes_per_token(model, pc->kv_type));
    cJSON_AddItemToArray(pc->arr, o);
}

enum MHD_Result route_ps(http_req *rq) {
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "models");
    ps_ctx pc = {arr, sched_kv_type(rq->srv->sched)};
    sched_foreach(rq->srv->sched, ps_one, &pc);
    cJSON_AddStringToObject(o, "power_mode", sched_power_name(sched_get_power(rq->srv->sched).mode)); /* ours */
    server_gpu_fields(rq->srv, o); /* ours: the GPU's power draw, power limit and memory (null: no NVML) */
    return http_reply_json(rq, 200, o);
}

/* Metadata as JSON values; arrays (the vocabulary) only with verbose, else null. */
static cJSON *model_info(const ag_model *m, bool verbose) {
    cJSON *info = cJSON_CreateObject();
    for (int i = 0; i < ag_model_meta_count(m); i++) {
        const char *key = ag_model_meta_key(m, i);
        cJSON *v = NULL;
        if (verbose || strncmp(ag_model_meta_type(m, i), "array", 5) != 0) {
            int need = ag_model_meta_json(m, i, NULL, 0, -1);
            char *buf = need >= 0 ? malloc((size_t)need + 1) : NULL;
            if (buf) {
                ag_model_meta_json(m, i, buf, (size_t)need + 1, -1);
                v = cJSON_Parse(buf);
            }
            free(buf);
        }
        cJSON_AddItemToObject(info, key, v ? v : cJSON_CreateNull());
    }
    return info;
}

enum MHD_Result route_show(http_req *rq) {
    char err[256];
    char *name = api_parse_model_name(rq->body, rq->len, "name", err, sizeof err);
    if (!name) return http_reply_error(rq, 400, "%s", err);
    cJSON *body = cJSON_ParseWithLength(rq->body, rq->len);
    bool verbose = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "verbose"));
    cJSON_Delete(body);
    store_manifest man;
    st_error se = {0};
    const char *root = rq->srv->cfg.sched.store_root;
    st_status st = root ? store_read(root, name, &man, &se) : ST_NOT_FOUND;
    if (st) {
        enum MHD_Result r = st == ST_NOT_FOUND || st == ST_INVALID ? http_reply_error(rq, 404, "model '%s' not found", name)
                                                                   : http_reply_error(rq, 500, "%s", se.msg);
        free(name);
        return r;
    }
    free(name);
    ag_error ae = {0};
    ag_model_params mp = {.n_threads = 1, .device = "cpu", .keep_layout = true};
    ag_model *m = ag_model_load(man.path, &mp, &ae); /* mapped, cheap; metadata only */
    if (!m) {
        store_manifest_free(&man);
        return http_reply_error(rq, 500, "cannot load the model: %s", ae.msg);
    }
    cJSON *o = cJSON_CreateObject();
    char *params = man.params ? store_params_text(man.params) : NULL;
    size_t mf_cap = strlen(man.path) + (man.projector ? strlen(man.projector) + 8 : 0) + (params ? strlen(params) * 2 : 0) + (man.system ? strlen(man.system) : 0) +
                    (man.tmpl ? strlen(man.tmpl) : 0) + 256;
    char *mf = malloc(mf_cap);
    if (mf) { /* the Modelfile that would recreate it */
        size_t n = (size_t)snprintf(mf, mf_cap, "FROM %s\n", man.path);
        if (man.projector) n += (size_t)snprintf(mf + n, mf_cap - n, "FROM %s\n", man.projector);
        if (man.tmpl) n += (size_t)snprintf(mf + n, mf_cap - n, "TEMPLATE \"\"\"%s\"\"\"\n", man.tmpl);
        if (man.system) n += (size_t)snprintf(mf + n, mf_cap - n, "SYSTEM \"\"\"%s\"\"\"\n", man.system);
        for (char *line = params ? strtok(params, "\n") : NULL; line && n < mf_cap; line = strtok(NULL, "\n"))
            n += (size_t)snprintf(mf + n, mf_cap - n, "PARAMETER %s\n", line);
        cJSON_AddStringToObject(o, "modelfile", mf);
    }
    free(mf);
    free(params);
    params = man.params ? store_params_text(man.params) : NULL;
    if (params && *params) {
        params[strlen(params) - 1] = '\0';
        cJSON_AddStringToObject(o, "parameters", params);
    }
    free(params);
    const char *tmpl = man.tmpl ? man.tmpl : ag_model_chat_template(m);
    cJSON_AddStringToObject(o, "template", tmpl ? tmpl : "");
    if (man.system) cJSON_AddStringToObject(o, "system", man.system);
    cJSON_AddItemToObject(o, "details", details(&man));
    cJSON_AddItemToObject(o, "model_info", model_info(m, verbose));
    cJSON *proj = NULL;
    if (man.projector) { /* Ollama: the projector's metadata, and the "vision" capability */
        char perr[256];
        proj = store_projector_info(man.projector, verbose ? -1 : 16, NULL, NULL, perr, sizeof perr);
        if (proj) cJSON_AddItemToObject(o, "projector_info", proj);
    }
    cJSON *caps = cJSON_AddArrayToObject(o, "capabilities");
    cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
    cJSON_AddItemToArray(caps, cJSON_CreateString("embedding"));
    if (proj) cJSON_AddItemToArray(caps, cJSON_CreateString("vision"));
    char when[40];
    rfc3339(when, sizeof when, man.modified);
    cJSON_AddStringToObject(o, "modified_at", when);
    ag_model_free(m);
    store_manifest_free(&man);
    return http_reply_json(rq, 200, o);
}

enum MHD_Result route_delete(http_req *rq) {
    char err[256];
    char *name = api_parse_model_name(rq->body, rq->len, "name", err, sizeof err);
    if (!name) return http_reply_error(rq, 400, "%s", err);
    st_error se = {0};
    const char *root = rq->srv->cfg.sched.store_root;
    st_status st = root ? store_remove(root, name, &se) : ST_NOT_FOUND;
    enum MHD_Result r = st == ST_OK ? http_reply_text(rq, 200, "application/json", "")
                        : st == ST_NOT_FOUND || st == ST_INVALID ? http_reply_error(rq, 404, "model '%s' not found", name)
                                                                 : http_reply_error(rq, 500, "%s", se.msg);
    free(name);
    return r;
}

enum MHD_Result route_copy(http_req *rq) {
    cJSON *j = cJSON_ParseWithLength(rq->body, rq->len);
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source"), *dst = cJSON_GetObjectItemCaseSensitive(j, "destination");
    enum MHD_Result r;
    if (!j) r = http_reply_error(rq, 400, "invalid JSON in the request body");
    else if (!cJSON_IsString(src) || !cJSON_IsString(dst)) r = http_reply_error(rq, 400, "\"source\" and \"destination\" are required");
    else {
        st_error se = {0};
        const char *root = rq->srv->cfg.sched.store_root;
        st_status st = root ? store_copy(root, src->valuestring, dst->valuestring, &se) : ST_NOT_FOUND;
        r = st == ST_OK ? http_reply_text(rq, 200, "application/json", "")
            : st == ST_NOT_FOUND ? http_reply_error(rq, 404, "model '%s' not found", src->valuestring)
            : http_reply_error(rq, st == ST_INVALID ? 400 : 500, "%s", se.msg);
    }
    cJSON_Delete(j);
    return r;
}

enum MHD_Result route_generate(http_req *rq) { return gen_handle(rq, API_GENERATE); }
enum MHD_Result route_chat(http_req *rq) { return gen_handle(rq, API_CHAT); }
enum MHD_Result route_embed(http_req *rq) { return gen_handle(rq, API_EMBED); }
enum MHD_Result route_embeddings(http_req *rq) { return gen_handle(rq, API_EMBEDDINGS); }
