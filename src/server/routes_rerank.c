/*
 * routes_rerank.c - reranking over HTTP (role user), on autoglm/rerank.h:
 *   POST /api/rerank and /v1/rerank
 *     {"model", "query", "documents": [string...], "top_n"?, "return_documents"?}
 *     -> {"model", "results": [{"index", "relevance_score", "document"?}]} best first
 * (the Jina / Cohere / llama.cpp form; "document" is {"text": ...} on /v1 and a string on /api,
 * present unless return_documents is false). The reranker is a model of the store, held by the
 * scheduler like every other model (model_jobs.h): loaded on the first request, kept as
 * keep_alive says, listed by /api/ps, scored on the power mode's threads.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/rerank.h"
#include "server/http.h"
#include "server/model_jobs.h"

#define RERANK_MAX_DOCS 1000

static const char *str_field(const cJSON *o, const char *key) {
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The documents array as strings (objects {"text": ...} accepted); n < 0 after replying. */
static const char **documents(http_req *rq, const cJSON *arr, int *n, enum MHD_Result *r) {
    *n = -1;
    const int count = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || count < 1 || count > RERANK_MAX_DOCS) {
        *r = http_reply_error(rq, 400, "\"documents\" must be an array of 1 to %d strings", RERANK_MAX_DOCS);
        return NULL;
    }
    const char **docs = calloc((size_t)count, sizeof *docs);
    int i = 0;
    for (const cJSON *d = arr->child; docs && d; d = d->next, i++) {
        docs[i] = cJSON_IsString(d) ? d->valuestring : str_field(d, "text");
        if (!docs[i]) {
            *r = http_reply_error(rq, 400, "documents[%d] must be a string", i);
            free(docs);
            return NULL;
        }
    }
    if (!docs) *r = http_reply_error(rq, 500, "out of memory");
    else *n = count;
    return docs;
}

static cJSON *results_json(const char *model, const char *const *docs, const float *scores, const int *order, int top,
                           bool with_docs, bool oai) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON *arr = cJSON_AddArrayToObject(o, "results");
    for (int k = 0; k < top; k++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddNumberToObject(it, "index", order[k]);
        cJSON_AddNumberToObject(it, "relevance_score", scores[order[k]]);
        if (with_docs && oai) cJSON_AddStringToObject(cJSON_AddObjectToObject(it, "document"), "text", docs[order[k]]);
        else if (with_docs) cJSON_AddStringToObject(it, "document", docs[order[k]]);
        cJSON_AddItemToArray(arr, it);
    }
    return o;
}

static enum MHD_Result rerank(http_req *rq, bool oai) {
    enum MHD_Result r = MHD_NO;
    cJSON *body = cJSON_ParseWithLength(rq->body, rq->len);
    const char *model = str_field(body, "model"), *query = str_field(body, "query");
    const cJSON *top_j = cJSON_GetObjectItemCaseSensitive(body, "top_n");
    if (!cJSON_IsObject(body)) r = http_reply_error(rq, 400, "invalid JSON: expected an object");
    else if (!model || !*model) r = http_reply_error(rq, 400, "\"model\" is required");
    else if (!query) r = http_reply_error(rq, 400, "\"query\" is required (a string)");
    else if (top_j && (!cJSON_IsNumber(top_j) || top_j->valuedouble < 1))
        r = http_reply_error(rq, 400, "\"top_n\" must be a positive integer");
    else {
        int n = 0;
        const char **docs = documents(rq, cJSON_GetObjectItemCaseSensitive(body, "documents"), &n, &r);
        float *scores = n > 0 ? calloc((size_t)n, sizeof *scores) : NULL;
        int *order = n > 0 ? calloc((size_t)n, sizeof *order) : NULL;
        char err[512] = "";
        if (n > 0 && (!scores || !order)) r = http_reply_error(rq, 500, "out of memory");
        else if (n > 0) {
            const int status = model_job_rerank(rq->srv->sched, model, query, docs, n, rq->fd, scores, err, sizeof err);
            if (status == 499) r = MHD_NO; /* the client went away */
            else if (status) r = http_reply_error(rq, (unsigned)status, "%s", err);
            else {
                ag_rerank_order(scores, n, order);
                const int top = top_j && top_j->valuedouble < n ? (int)top_j->valuedouble : n;
                const bool with_docs = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(body, "return_documents"));
                r = http_reply_json(rq, 200, results_json(model, docs, scores, order, top, with_docs, oai));
            }
        }
        free(scores), free(order), free(docs);
    }
    cJSON_Delete(body);
    return r;
}

enum MHD_Result route_rerank(http_req *rq) { return rerank(rq, false); }
enum MHD_Result route_oai_rerank(http_req *rq) { return rerank(rq, true); }
