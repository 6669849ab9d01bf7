/*
 * routes_admin.c - the server's own routes and the store-changing ones: GET /health,
 * GET /metrics (Prometheus text), POST /api/create (a Modelfile in "modelfile", or Ollama's
 * newer fields "from", "system", "template", "parameters") and POST /api/pull (an http:// URL
 * of a GGUF file; NDJSON status lines as Ollama sends them, or one object with stream false).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "store/pull.h"

enum MHD_Result route_health(http_req *rq) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    return http_reply_json(rq, 200, o);
}

enum MHD_Result route_metrics(http_req *rq) {
    metrics_gauges g;
    sched_gauges(rq->srv->sched, &g);
    ag_gpu_reading gr;
    if ((g.gpu = server_gpu_read(rq->srv, &gr, NULL, 0))) {
        g.gpu_power_w = gr.power_w;
        g.gpu_power_limit_w = gr.limit_w;
        g.gpu_memory_used = (double)gr.mem_used;
    }
    char *text = metrics_render(rq->srv->metrics, &g);
    if (!text) return http_reply_error(rq, 500, "out of memory");
    enum MHD_Result r = http_reply_text(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
    return r;
}

/* "stream" (default true) of a body. */
static bool wants_stream(const cJSON *body) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "stream");
    return !cJSON_IsFalse(s);
}

/* The final answer of create/pull: {"status": ...} lines (NDJSON) or the last object alone. */
static enum MHD_Result reply_statuses(http_req *rq, cJSON *lines, bool stream) {
    if (!stream) {
        cJSON *last = cJSON_DetachItemFromArray(lines, cJSON_GetArraySize(lines) - 1);
        cJSON_Delete(lines);
        return http_reply_json(rq, 200, last);
    }
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    const cJSON *l;
    cJSON_ArrayForEach(l, lines) {
        char *t = cJSON_PrintUnformatted(l);
        size_t n = t ? strlen(t) : 0;
        if (buf && len + n + 2 > cap) {
            while (len + n + 2 > cap) cap *= 2;
            char *p = realloc(buf, cap);
            if (!p) free(buf);
            buf = p;
        }
        if (buf && t) {
            memcpy(buf + len, t, n);
            len += n;
            buf[len++] = '\n';
        }
        free(t);
    }
    cJSON_Delete(lines);
    if (!buf) return http_reply_error(rq, 500, "out of memory");
    buf[len] = '\0';
    enum MHD_Result r = http_reply_text(rq, 200, "application/x-ndjson", buf);
    free(buf);
    return r;
}

static void add_status(cJSON *lines, const char *status) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddItemToArray(lines, o);
}

/* Ollama's "parameters" object into typed PARAMETER values (each checked as the Modelfile's). */
static st_status params_from_json(const cJSON *in, cJSON **out, st_error *err) {
    *out = cJSON_CreateObject();
    const cJSON *p;
    cJSON_ArrayForEach(p, in) {
        const cJSON *vals = cJSON_IsArray(p) ? p : NULL;
        int n = vals ? cJSON_GetArraySize(vals) : 1;
        for (int i = 0; i < n; i++) {
            const cJSON *v = vals ? cJSON_GetArrayItem(vals, i) : p;
            char num[64];
            const char *text = cJSON_IsString(v) ? v->valuestring : NULL;
            if (cJSON_IsNumber(v)) snprintf(num, sizeof num, "%.17g", v->valuedouble), text = num;
            else if (cJSON_IsBool(v)) text = cJSON_IsTrue(v) ? "true" : "false";
            if (!text) return st_fail(err, ST_INVALID, "parameter '%s' must be a string, number or boolean", p->string);
            cJSON *conv = NULL;
            st_status st = store_param_value(p->string, text, &conv, err);
            if (st) return st;
            if (strcmp(p->string, "stop") == 0) {
                cJSON *arr = cJSON_GetObjectItemCaseSensitive(*out, "stop");
                if (!arr) arr = cJSON_AddArrayToObject(*out, "stop");
                if (cJSON_IsArray(conv)) {
                    cJSON *c;
                    cJSON_ArrayForEach(c, conv) cJSON_AddItemToArray(arr, cJSON_Duplicate(c, true));
                    cJSON_Delete(conv);
                } else {
                    cJSON_AddItemToArray(arr, conv);
                }
            } else {
                cJSON_DeleteItemFromObjectCaseSensitive(*out, p->string);
                cJSON_AddItemToObject(*out, p->string, conv);
            }
        }
    }
    return ST_OK;
}

static char *dup_string(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

enum MHD_Result route_create(http_req *rq) {
    cJSON *body = cJSON_ParseWithLength(rq->body, rq->len);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return http_reply_error(rq, 400, "invalid JSON in the request body");
    }
    const char *root = rq->srv->cfg.sched.store_root;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (!cJSON_IsString(name)) name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const cJSON *mft = cJSON_GetObjectItemCaseSensitive(body, "modelfile");
    store_manifest m = {0};
    modelfile mf = {0};
    st_error se = {0};
    st_status st = ST_OK;
    unsigned code = 400;
    if (!cJSON_IsString(name)) st = st_fail(&se, ST_INVALID, "\"model\" is required");
    else if (!root) st = st_fail(&se, ST_IO, "no model store");
    else if ((st = store_parse_name(name->valuestring, m.name, &se))) {
    } else if (cJSON_IsString(mft)) {
        st = modelfile_parse(mft->valuestring, strlen(mft->valuestring), &mf, &se);
    } else {
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(body, "parameters");
        mf.from = dup_string(body, "from");
        mf.system = dup_string(body, "system");
        mf.tmpl = dup_string(body, "template");
        if (!mf.from) st = st_fail(&se, ST_INVALID, "\"from\" (a model or a GGUF path) or \"modelfile\" is required");
        else if (params && !cJSON_IsObject(params)) st = st_fail(&se, ST_INVALID, "\"parameters\" must be an object");
        else if (params) st = params_from_json(params, &mf.params, &se);
    }
    if (!st) {
        code = 500;
        st = store_create(root, ".", &mf, &m, &se);
        if (st == ST_NOT_FOUND) code = 404;
        else if (st == ST_INVALID) code = 400;
    }
    modelfile_free(&mf);
    store_manifest_free(&m);
    enum MHD_Result r;
    if (st) {
        r = http_reply_error(rq, code, "%s", se.msg);
    } else {
        cJSON *lines = cJSON_CreateArray();
        add_status(lines, "using existing layer");
        add_status(lines, "writing manifest");
        add_status(lines, "success");
        r = reply_statuses(rq, lines, wants_stream(body));
    }
    cJSON_Delete(body);
    return r;
}

typedef struct {
    cJSON *lines;
    char digest[80];
} pull_log;

static void on_pull_progress(void *ctx, const char *status, uint64_t done, uint64_t total) {
    pull_log *l = ctx;
    cJSON *o = cJSON_CreateObject();
    if (strcmp(status, "downloading") == 0) {
        cJSON_AddStringToObject(o, "status", "pulling model");
        if (total) cJSON_AddNumberToObject(o, "total", (double)total);
        cJSON_AddNumberToObject(o, "completed", (double)done);
    } else {
        cJSON_AddStringToObject(o, "status", status);
    }
    cJSON_AddItemToArray(l->lines, o);
}

enum MHD_Result route_pull(http_req *rq) {
    cJSON *body = cJSON_ParseWithLength(rq->body, rq->len);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return http_reply_error(rq, 400, "invalid JSON in the request body");
    }
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (!cJSON_IsString(url)) url = cJSON_GetObjectItemCaseSensitive(body, "name");
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(body, "as"), *sha = cJSON_GetObjectItemCaseSensitive(body, "sha256");
    const char *root = rq->srv->cfg.sched.store_root;
    enum MHD_Result r;
    if (!cJSON_IsString(url)) {
        r = http_reply_error(rq, 400, "\"model\" is required (an http:// URL of a GGUF file)");
    } else if (!root) {
        r = http_reply_error(rq, 500, "no model store");
    } else {
        pull_log log = {cJSON_CreateArray(), ""};
        pull_params pp = {.sha256 = cJSON_IsString(sha) ? sha->valuestring : NULL, .progress = on_pull_progress, .ctx = &log,
                          .hf_endpoint = getenv("AUTOGLM_HF_ENDPOINT"),
                          .ms_endpoint = getenv("AUTOGLM_MODELSCOPE_ENDPOINT")};
        store_manifest m;
        st_error se = {0};
        add_status(log.lines, "pulling manifest");
        st_status st = store_pull(root, url->valuestring, cJSON_IsString(as) ? as->valuestring : NULL, &pp, &m, &se);
        if (st) {
            cJSON_Delete(log.lines);
            r = http_reply_error(rq, st == ST_NOT_FOUND ? 404 : st == ST_INVALID ? 400 : 500, "pull %s: %s",
                                 url->valuestring, se.msg);
        } else {
            store_manifest_free(&m);
            r = reply_statuses(rq, log.lines, wants_stream(body));
        }
    }
    cJSON_Delete(body);
    return r;
}
