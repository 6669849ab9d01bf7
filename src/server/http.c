/*
 * http.c - the HTTP side of `autoglm serve` on libmicrohttpd: one thread per connection (a
 * handler may block while its request is generated), request bodies gathered up to a limit
 * (413 past it), the routing table, and the reply helpers of http.h.
 */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

#include "base/file.h"

typedef struct {
    const char *method; /* NULL: any of GET/HEAD */
    const char *path;
    route_fn fn;
    ag_role min_role; /* with API keys on: the least role that may use it */
} route;

#define ROLE_PUBLIC ((ag_role)-1) /* no key needed: liveness and version only */

static const route ROUTES[] = {
    {"GET", "/", route_web_root, ROLE_PUBLIC}, /* the page for browsers, "Ollama is running" otherwise */
    {"GET", "/app.js", route_web_asset, ROLE_PUBLIC},
    {"GET", "/worker.js", route_web_asset, ROLE_PUBLIC},
    {"GET", "/style.css", route_web_asset, ROLE_PUBLIC},
    {"GET", "/api/power", route_power_get, AG_ROLE_READER},
    {"POST", "/api/power", route_power_set, AG_ROLE_ADMIN},
    {"GET", "/api/stats", route_stats, AG_ROLE_READER},
    {"GET", "/api/version", route_version, ROLE_PUBLIC},
    {"GET", "/api/tags", route_tags, AG_ROLE_READER},
    {"POST", "/api/show", route_show, AG_ROLE_READER},
    {"GET", "/api/ps", route_ps, AG_ROLE_READER},
    {"DELETE", "/api/delete", route_delete, AG_ROLE_ADMIN},
    {"POST", "/api/copy", route_copy, AG_ROLE_ADMIN},
    {"POST", "/api/generate", route_generate, AG_ROLE_USER},
    {"POST", "/api/chat", route_chat, AG_ROLE_USER},
    {"POST", "/api/embed", route_embed, AG_ROLE_USER},
    {"POST", "/api/embeddings", route_embeddings, AG_ROLE_USER},
    {"POST", "/v1/chat/completions", route_oai_chat, AG_ROLE_USER},
    {"POST", "/v1/completions", route_oai_completions, AG_ROLE_USER},
    {"POST", "/v1/embeddings", route_oai_embeddings, AG_ROLE_USER},
    {"POST", "/api/rerank", route_rerank, AG_ROLE_USER},
    {"POST", "/v1/rerank", route_oai_rerank, AG_ROLE_USER},
    {"GET", "/v1/models", route_oai_models, AG_ROLE_READER},
    {"GET", "/health", route_health, ROLE_PUBLIC},
    {"GET", "/metrics", route_metrics, AG_ROLE_ADMIN},
    {"POST", "/api/create", route_create, AG_ROLE_ADMIN},
    {"POST", "/api/pull", route_pull, AG_ROLE_ADMIN},
    {"GET", "/api/kb", route_kb_list, AG_ROLE_READER},
    {"POST", "/api/kb/create", route_kb_create, AG_ROLE_USER},
    {"POST", "/api/kb/add", route_kb_add, AG_ROLE_USER},
    {"POST", "/api/kb/remove", route_kb_remove, AG_ROLE_USER},
    {"POST", "/api/kb/query", route_kb_query, AG_ROLE_READER},
    {"POST", "/api/kb/ask", route_kb_ask, AG_ROLE_USER},
    {"POST", "/api/summarize", route_summarize, AG_ROLE_USER},
};

/* ---------------------------------------------------------------- replies */

static enum MHD_Result queue(http_req *rq, unsigned status, struct MHD_Response *resp, const char *type) {
    if (!resp) return MHD_NO;
    if (type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 503) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    metrics_request(rq->srv->metrics, rq->route ? rq->route : "other", status);
    guard_audit(rq->srv->guard, &rq->guard, rq->method, rq->path, status, (double)(sched_now_ns() - rq->t0) / 1e6);
    enum MHD_Result r = MHD_queue_response(rq->conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

enum MHD_Result http_reply_text(http_req *rq, unsigned status, const char *type, const char *text) {
    char *copy = strdup(text);
    if (!copy) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(copy), copy, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(copy);
    return queue(rq, status, resp, type);
}

enum MHD_Result http_reply_json(http_req *rq, unsigned status, cJSON *json) {
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) return http_reply_text(rq, 500, "application/json; charset=utf-8", "{\"error\":\"out of memory\"}");
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(text);
    return queue(rq, status, resp, "application/json; charset=utf-8");
}

enum MHD_Result http_reply_static(http_req *rq, const char *type, const void *data, size_t len,
                                  const char *const *headers) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    for (int i = 0; resp && headers && headers[i]; i += 2) MHD_add_response_header(resp, headers[i], headers[i + 1]);
    return queue(rq, 200, resp, type);
}

enum MHD_Result http_reply_error(http_req *rq, unsigned status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject();
    if (rq->openai) {
        cJSON *e = cJSON_AddObjectToObject(j, "error");
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", status == 404 ? "not_found_error" : status >= 500 ? "api_error" : "invalid_request_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddNullToObject(e, "code");
    } else {
        cJSON_AddStringToObject(j, "error", msg);
    }
    return http_reply_json(rq, status, j);
}

enum MHD_Result http_reply_stream(http_req *rq, const char *type, MHD_ContentReaderCallback read,
                                  MHD_ContentReaderFreeCallback done, void *ctx) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read, ctx, done);
    if (!resp) {
        done(ctx);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return queue(rq, 200, resp, type);
}

/* ---------------------------------------------------------------- requests */

/* Under mutual TLS (--tls-client-ca): the client presented a certificate that verifies against
 * the configured CA. Always true without it. */
static bool client_cert_ok(const server *srv, struct MHD_Connection *conn) {
    if (!srv->cfg.tls_client_ca) return true;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session) return false;
    gnutls_session_t session = (gnutls_session_t)ci->tls_session;
    unsigned int n_certs = 0, status = 0;
    if (!gnutls_certificate_get_peers(session, &n_certs) || n_certs == 0) return false;
    return gnutls_certificate_verify_peers2(session, &status) == 0 && status == 0;
}

typedef struct {
    char *body;
    size_t len, cap;
    bool too_large;
} conn_state;

static enum MHD_Result dispatch(server *srv, struct MHD_Connection *conn, const char *method, const char *url,
                                const char *body, size_t len, bool too_large) {
    http_req rq = {.conn = conn, .srv = srv, .method = method, .path = url, .body = body ? body : "", .len = len,
                   .fd = -1, .t0 = sched_now_ns(), .openai = strncmp(url, "/v1/", 4) == 0, .route = "other"};
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
        if (strcmp(url, ROUTES[i].path) == 0) rq.route = ROUTES[i].path;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) rq.fd = ci->connect_fd;
    if (too_large)
        return http_reply_error(&rq, 413, "the request body is larger than %zu bytes", srv->cfg.max_body);
    bool path_known = false;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        if (strcmp(url, ROUTES[i].path) != 0) continue;
        path_known = true;
        bool head_ok = strcmp(ROUTES[i].method, "GET") == 0 && strcmp(method, "HEAD") == 0;
        if (strcmp(method, ROUTES[i].method) != 0 && !head_ok) continue;
        char err[512];
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        int status = client_cert_ok(srv, conn) ? 0 : 403;
        if (status) snprintf(err, sizeof err, "forbidden: a valid client certificate is required");
        else status = guard_check(srv->guard, auth, url, ROUTES[i].min_role, body, len, &rq.guard, err, sizeof err);
        enum MHD_Result r = status ? http_reply_error(&rq, (unsigned)status, "%s", err) : ROUTES[i].fn(&rq);
        guard_info_free(&rq.guard);
        return r;
    }
    if (path_known) return http_reply_error(&rq, 405, "method %s not allowed on %s", method, url);
    return http_reply_error(&rq, 404, "404 page not found: %s %s", method, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    server *srv = cls;
    conn_state *cs = *con_cls;
    if (!cs) { /* first call: headers only */
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        *con_cls = cs;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) cs->too_large = true;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (cs->too_large || cs->len + n > srv->cfg.max_body) {
            cs->too_large = true;
            return MHD_YES; /* read and dropped; answered 413 at the end */
        }
        if (cs->len + n + 1 > cs->cap) {
            size_t cap = cs->cap ? cs->cap : 4096;
            while (cap < cs->len + n + 1) cap *= 2;
            char *p = realloc(cs->body, cap);
            if (!p) return MHD_NO;
            cs->body = p;
            cs->cap = cap;
        }
        memcpy(cs->body + cs->len, upload, n);
        cs->len += n;
        cs->body[cs->len] = '\0';
        return MHD_YES;
    }
    return dispatch(srv, conn, method, url, cs->body, cs->len, cs->too_large);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)conn, (void)toe;
    conn_state *cs = *con_cls;
    if (cs) {
        free(cs->body);
        free(cs);
    }
    *con_cls = NULL;
}

/* ---------------------------------------------------------------- the daemon */

bool server_parse_host(const char *text, char *host, size_t cap, int *port) {
    *port = 11434;
    snprintf(host, cap, "127.0.0.1");
    if (!text || !*text) return true;
    if (strncmp(text, "http://", 7) == 0) text += 7;
    size_t n = strlen(text);
    if (n && text[n - 1] == '/') n--;
    const char *port_at = NULL;
    size_t hlen = n;
    if (text[0] == '[') { /* [v6]:port */
        const char *close = memchr(text, ']', n);
        if (!close) return false;
        hlen = (size_t)(close - text - 1);
        if (hlen >= cap) return false;
        memcpy(host, text + 1, hlen);
        host[hlen] = '\0';
        if ((size_t)(close - text + 1) < n) {
            if (close[1] != ':') return false;
            port_at = close + 2;
        }
    } else {
        const char *colon = memchr(text, ':', n);
        if (colon) {
            hlen = (size_t)(colon - text);
            port_at = colon + 1;
        }
        if (hlen >= cap) return false;
        if (hlen) {
            memcpy(host, text, hlen);
            host[hlen] = '\0';
        }
    }
    if (port_at) {
        char *end;
        long p = strtol(port_at, &end, 10);
        if (end == port_at || end != text + n || p < 0 || p > 65535) return false;
        *port = (int)p;
    }
    return true;
}

/* Reads the PEM files named in the configuration (held for the daemon's lifetime). */
static bool tls_load(server *s, char *err, size_t cap) {
    const char *paths[3] = {s->cfg.tls_cert, s->cfg.tls_key, s->cfg.tls_client_ca};
    char **dst[3] = {&s->tls_cert, &s->tls_key, &s->tls_ca};
    if (!paths[0] != !paths[1]) {
        snprintf(err, cap, "--tls-cert and --tls-key go together");
        return false;
    }
    if (paths[2] && !paths[0]) {
        snprintf(err, cap, "--tls-client-ca needs --tls-cert and --tls-key");
        return false;
    }
    if (paths[0] && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        snprintf(err, cap, "this libmicrohttpd was built without TLS");
        return false;
    }
    for (int i = 0; i < 3; i++) {
        if (!paths[i]) continue;
        ag_error e = {0};
        if (!(*dst[i] = ag_read_file(paths[i], 1u << 20, NULL, &e))) {
            snprintf(err, cap, "TLS: %s", e.msg);
            return false;
        }
    }
    return true;
}

/* Frees what server_start made, in reverse (any of it may be missing). */
static void server_free_parts(server *s) {
    sched_free(s->sched); /* running requests end (cancelled) and reply */
    metrics_free(s->metrics);
    ag_energy_close(s->energy);
    if (s->gpu_opened) server_gpu_close(s); /* the default GPU power limits back */
    guard_free(s->guard);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->tls_ca);
    free(s);
}

server *server_start(const server_config *cfg, char *err, size_t cap) {
    server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (!s->cfg.max_body) s->cfg.max_body = 32u << 20;
    if (!s->cfg.max_connections) s->cfg.max_connections = 256;
    struct sockaddr_storage addr = {0};
    socklen_t alen;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    const char *host = strcmp(s->cfg.host, "localhost") == 0 ? "127.0.0.1" : s->cfg.host;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->cfg.port);
        alen = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->cfg.port);
        alen = sizeof *a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, cap, "cannot use host '%s' (a numeric IPv4 or IPv6 address, or localhost)", s->cfg.host);
        free(s);
        return NULL;
    }
    (void)alen;
    if (!s->cfg.max_per_ip) s->cfg.max_per_ip = 64;
    if (!s->cfg.idle_timeout) s->cfg.idle_timeout = 30;
    if (!tls_load(s, err, cap) || !(s->guard = guard_new(&s->cfg.guard, err, cap))) {
        server_free_parts(s);
        return NULL;
    }
    s->metrics = metrics_new();
    s->energy = ag_energy_open(); /* one meter for every request (opening NVML costs) */
    s->cfg.sched.metrics = s->metrics;
    server_gpu_open(s); /* the power mode's GPU power limit (NVML), when allowed */
    s->gpu_opened = true;
    if (!s->metrics || !(s->sched = sched_new(&s->cfg.sched))) {
        snprintf(err, cap, "out of memory");
        server_free_parts(s);
        return NULL;
    }
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {s->tls_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, s->tls_ca},
        {MHD_OPTION_END, 0, NULL},
    };
    if (s->tls_cert) flags |= MHD_USE_TLS;
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->cfg.max_per_ip,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.idle_timeout,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, /* headers beyond: 431 */
                                 MHD_OPTION_ARRAY, s->tls_cert ? tls : tls + 4,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, cap, "cannot listen on %s:%d (in use?%s)", s->cfg.host, s->cfg.port,
                 s->tls_cert ? " or the TLS certificate/key are not valid" : "");
        server_free_parts(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    return s;
}

int server_port(const server *s) { return s->port; }

bool server_tls(const server *s) { return s->tls_cert != NULL; }

void server_stop(server *s) {
    if (!s) return;
    MHD_quiesce_daemon(s->daemon); /* no new connections */
    sched_stop(s->sched);          /* running requests end (cancelled) and reply */
    MHD_stop_daemon(s->daemon);    /* waits for the connection threads */
    server_free_parts(s);
}
