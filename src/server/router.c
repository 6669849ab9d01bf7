/*
 * router.c - the guarded cloud router (`serve --upstream URL`): an OpenAI chat request that asks
 * for it (`"upstream": true` in the body) or that a policy rule's route_upstream matches is sent
 * to the upstream OpenAI-compatible API instead of a local model, with every message's text
 * redacted first (mask mode, all detectors) and the key taken from an environment variable. The
 * upstream answer goes back as it came (a streamed request gets it as one SSE chunk and
 * [DONE]). Every such request is marked in the audit record. Off unless --upstream is given.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/redact.h"
#include "net/httpc.h"
#include "server/http.h"

static cJSON *array_or_null(cJSON *x) { return cJSON_IsArray(x) ? x : NULL; }

bool router_wants(const http_req *rq) {
    if (!rq->srv->cfg.upstream_url) return false;
    if (rq->guard.upstream) return true;
    cJSON *root = cJSON_ParseWithLength(rq->body, rq->len);
    bool asked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "upstream"));
    cJSON_Delete(root);
    return asked;
}

/* Redacts a string item in place. */
static bool redact_item(const ag_redactor *red, cJSON *item) {
    if (!cJSON_IsString(item)) return true;
    char *clean = ag_redact_text(red, item->valuestring, strlen(item->valuestring), NULL);
    if (!clean) return false;
    bool ok = cJSON_SetValuestring(item, clean) != NULL;
    free(clean);
    return ok;
}

/* The body for upstream: our extension removed, every message content (string or text parts)
 * redacted, the model replaced when --upstream-model says so, no streaming. */
static char *upstream_body(const http_req *rq, const ag_redactor *red, bool *stream) {
    cJSON *root = cJSON_ParseWithLength(rq->body, rq->len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    *stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    cJSON_DeleteItemFromObjectCaseSensitive(root, "upstream");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "stream");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "stream_options");
    cJSON_AddFalseToObject(root, "stream");
    if (rq->srv->cfg.upstream_model) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
        cJSON_AddStringToObject(root, "model", rq->srv->cfg.upstream_model);
    }
    bool ok = true;
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages"), *m;
    cJSON_ArrayForEach(m, array_or_null(msgs)) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content"), *part;
        ok &= redact_item(red, content);
        cJSON_ArrayForEach(part, array_or_null(content)) ok &= redact_item(red, cJSON_GetObjectItemCaseSensitive(part, "text"));
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

typedef struct {
    char *data;
    size_t len;
} grow_buf;

static int collect(void *ctx, const char *data, size_t n) {
    grow_buf *b = ctx;
    if (b->len + n > (64u << 20)) return 1; /* an answer that large is not a chat reply */
    char *p = realloc(b->data, b->len + n + 1);
    if (!p) return 1;
    memcpy(p + b->len, data, n);
    b->data = p;
    b->len += n;
    p[b->len] = '\0';
    return 0;
}

/* A whole upstream answer as an SSE stream: one chunk (message -> delta), then [DONE]. */
static char *as_sse(const char *json, size_t len) {
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON *object = cJSON_GetObjectItemCaseSensitive(o, "object"), *choices = cJSON_GetObjectItemCaseSensitive(o, "choices"), *c;
    if (cJSON_IsString(object)) cJSON_SetValuestring(object, "chat.completion.chunk");
    cJSON_ArrayForEach(c, array_or_null(choices)) {
        cJSON *msg = cJSON_DetachItemFromObjectCaseSensitive(c, "message");
        if (msg) cJSON_AddItemToObject(c, "delta", msg);
    }
    char *chunk = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t n = chunk ? strlen(chunk) + 32 : 0;
    char *sse = chunk ? malloc(n) : NULL;
    if (sse) snprintf(sse, n, "data: %s\n\ndata: [DONE]\n\n", chunk);
    free(chunk);
    return sse;
}

enum MHD_Result router_handle(http_req *rq) {
    const server_config *cfg = &rq->srv->cfg;
    ag_error e = {0};
    ag_redactor *red = ag_redactor_new(NULL, &e);
    bool stream = false;
    char *body = red ? upstream_body(rq, red, &stream) : NULL;
    ag_redactor_free(red);
    if (!body) return http_reply_error(rq, 400, "invalid JSON for the upstream request");
    char url[2300], auth[600] = "";
    snprintf(url, sizeof url, "%s/v1/chat/completions", cfg->upstream_url);
    const char *key = getenv(cfg->upstream_key_env ? cfg->upstream_key_env : "AUTOGLM_UPSTREAM_KEY");
    if (key && *key) snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    const char *headers[] = {"Content-Type: application/json", auth[0] ? auth : NULL, NULL};
    httpc_response resp;
    grow_buf out = {0};
    char err[256];
    rq->guard.upstream = true; /* the audit record says so */
    int rc = httpc_request("POST", url, headers, body, strlen(body), 120, &resp, collect, &out, err, sizeof err);
    free(body);
    enum MHD_Result r;
    if (rc != 0) r = http_reply_error(rq, 502, "upstream %s: %s", cfg->upstream_url, err);
    else if (resp.status == 200 && stream) {
        char *sse = as_sse(out.data ? out.data : "", out.len);
        r = sse ? http_reply_text(rq, 200, "text/event-stream", sse) : http_reply_error(rq, 502, "upstream: not JSON");
        free(sse);
    } else {
        r = http_reply_text(rq, (unsigned)resp.status, "application/json; charset=utf-8", out.data ? out.data : "");
    }
    free(out.data);
    return r;
}
