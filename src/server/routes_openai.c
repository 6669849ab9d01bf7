/*
 * routes_openai.c - the OpenAI API: /v1/chat/completions, /v1/completions, /v1/embeddings
 * (handed to gen.c) and /v1/models over the model store.
 */
#include <stdlib.h>

#include "server/http.h"

enum MHD_Result route_oai_chat(http_req *rq) {
    return router_wants(rq) ? router_handle(rq) : gen_handle(rq, API_OAI_CHAT);
}
enum MHD_Result route_oai_completions(http_req *rq) { return gen_handle(rq, API_OAI_COMPLETION); }
enum MHD_Result route_oai_embeddings(http_req *rq) { return gen_handle(rq, API_OAI_EMBED); }

enum MHD_Result route_oai_models(http_req *rq) {
    store_manifest *ms = NULL;
    int n = 0;
    st_error err = {0};
    if (rq->srv->cfg.sched.store_root && store_list(rq->srv->cfg.sched.store_root, &ms, &n, &err))
        return http_reply_error(rq, 500, "%s", err.msg);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", ms[i].name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)ms[i].modified);
        cJSON_AddStringToObject(m, "owned_by", "library");
        cJSON_AddItemToArray(data, m);
        store_manifest_free(&ms[i]);
    }
    free(ms);
    return http_reply_json(rq, 200, o);
}
