/*
 * http.h - what the route handlers share with http.c: the request (method, path, body, the
 * client's socket), the server's state, and replies (JSON, errors in the Ollama or the OpenAI
 * shape, streams fed by a callback).
 */
#ifndef AG_SERVER_HTTP_H
#define AG_SERVER_HTTP_H

#include <cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sys/types.h>

#include "server/api.h"
#include "server/guard.h"
#include "server/server.h"

struct server {
    server_config cfg;
    sched *sched;
    metrics *metrics;   /* counters for /metrics (owned) */
    guard *guard;       /* keys, policy, redaction, audit (owned; may be NULL) */
    ag_energy *energy;  /* CPU package and GPU energy meter (owned; NULL: unavailable) */
    ag_gpu_monitor *gpu; /* NVIDIA GPUs' power and limits (owned; NULL: no NVML) - gpu_power.c */
    pthread_mutex_t gpu_mu;
    char gpu_note[512];  /* the GPU power limit in effect, or why none is set */
    bool gpu_refusal_told; /* a refused limit was reported on stderr (once) */
    bool gpu_opened;     /* server_gpu_open ran (gpu_mu exists) */
    char *tls_cert, *tls_key, *tls_ca; /* PEM text (owned), NULL without TLS */
    struct MHD_Daemon *daemon;
    int port;
};

typedef struct {
    struct MHD_Connection *conn;
    server *srv;
    const char *method, *path;
    const char *body;
    size_t len;
    int fd;          /* the client's socket (watched for a disconnect), -1 unknown */
    int64_t t0;      /* when the request arrived (ns, sched_now_ns) */
    bool openai;     /* errors in OpenAI's shape */
    const char *route; /* the routing table's path ("other" when none), for the metrics */
    guard_info guard;  /* who asked and what the policy allows (guard_check) */
} http_req;

typedef enum MHD_Result (*route_fn)(http_req *rq);

/* Replies; each queues a response and returns MHD's result. The JSON is consumed. */
enum MHD_Result http_reply_json(http_req *rq, unsigned status, cJSON *json);
enum MHD_Result http_reply_text(http_req *rq, unsigned status, const char *type, const char *text);
/* Bytes that live as long as the program (the embedded page); headers: name, value pairs, NULL-ended. */
enum MHD_Result http_reply_static(http_req *rq, const char *type, const void *data, size_t len,
                                  const char *const *headers);
/* {"error": "..."} (Ollama) or {"error": {"message": ..., "type": ...}} (OpenAI routes). */
enum MHD_Result http_reply_error(http_req *rq, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A streamed reply: read(ctx, buf, max) gives the next bytes (MHD's reader protocol), done(ctx)
 * runs when the response ends, normally or not. */
enum MHD_Result http_reply_stream(http_req *rq, const char *type, MHD_ContentReaderCallback read,
                                  MHD_ContentReaderFreeCallback done, void *ctx);

/* The routes (routes_ollama.c, routes_openai.c). */
enum MHD_Result route_root(http_req *rq);
enum MHD_Result route_version(http_req *rq);
enum MHD_Result route_tags(http_req *rq);
enum MHD_Result route_show(http_req *rq);
enum MHD_Result route_ps(http_req *rq);
enum MHD_Result route_delete(http_req *rq);
enum MHD_Result route_copy(http_req *rq);
enum MHD_Result route_generate(http_req *rq);
enum MHD_Result route_chat(http_req *rq);
enum MHD_Result route_embed(http_req *rq);
enum MHD_Result route_embeddings(http_req *rq);
enum MHD_Result route_oai_chat(http_req *rq);
enum MHD_Result route_oai_completions(http_req *rq);
enum MHD_Result route_oai_embeddings(http_req *rq);
enum MHD_Result route_rerank(http_req *rq);     /* routes_rerank.c */
enum MHD_Result route_oai_rerank(http_req *rq);
enum MHD_Result route_oai_models(http_req *rq);
enum MHD_Result route_health(http_req *rq);  /* routes_admin.c */
enum MHD_Result route_metrics(http_req *rq);
enum MHD_Result route_create(http_req *rq);
enum MHD_Result route_pull(http_req *rq);

/* routes_kb.c: knowledge bases (per tenant) and summaries. */
enum MHD_Result route_kb_list(http_req *rq);
enum MHD_Result route_kb_create(http_req *rq);
enum MHD_Result route_kb_add(http_req *rq);
enum MHD_Result route_kb_remove(http_req *rq);
enum MHD_Result route_kb_query(http_req *rq);
enum MHD_Result route_kb_ask(http_req *rq);
enum MHD_Result route_summarize(http_req *rq);

/* routes_web.c: the page (embedded web/ assets); routes_power.c: power mode and live statistics. */
enum MHD_Result route_web_root(http_req *rq);
enum MHD_Result route_web_asset(http_req *rq);
enum MHD_Result route_power_get(http_req *rq);
/* gpu_power.c: the power mode's GPU power limit and the GPUs' readings. */
void server_gpu_open(server *s);
void server_gpu_close(server *s);
void server_gpu_apply_mode(server *s, ag_power_mode mode);
bool server_gpu_read(server *s, ag_gpu_reading *r, char *note, size_t cap); /* GPU 0; note: the limit's state */
void server_gpu_fields(server *s, cJSON *o); /* "gpu_name", "gpu_power_w", "gpu_power_limit_w", ... (null: none) */
enum MHD_Result route_power_set(http_req *rq);
enum MHD_Result route_stats(http_req *rq);

/* router.c: whether a chat request goes to the upstream API, and sending it there. */
bool router_wants(const http_req *rq);
enum MHD_Result router_handle(http_req *rq);

/* gen.c: a generation or embedding request of any kind, start to end. */
enum MHD_Result gen_handle(http_req *rq, api_kind kind);

#endif
