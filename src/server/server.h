/*
 * server.h - `autoglm serve`: an HTTP server (libmicrohttpd, a thread per connection) that
 * speaks the Ollama API (/api/...) and the OpenAI API (/v1/...) over the model store, with the
 * scheduler (sched.h) running the models.
 *
 * Inside: http.c (the daemon, request bodies and limits, routing, replies), routes_ollama.c,
 * routes_openai.c (the endpoints), gen.c (generation and embedding requests shared by both
 * APIs), format.c (NDJSON / SSE chunks and final objects), prompt.c (prompt tokens and options
 * of a request).
 */
#ifndef AG_SERVER_SERVER_H
#define AG_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/guard.h"
#include "server/sched.h"

typedef struct {
    char host[256];   /* address to bind ("127.0.0.1", "0.0.0.0", "::1") */
    int port;         /* 0: any free port (server_port tells which) */
    size_t max_body;  /* bytes of a request body before 413 */
    int max_connections;
    int max_per_ip;   /* connections from one address (slow clients stay bounded); 0: 64 */
    int idle_timeout; /* seconds a connection may stay silent; 0: 30 */
    const char *tls_cert, *tls_key; /* PEM files: HTTPS only (TLS 1.2/1.3) */
    const char *tls_client_ca;      /* PEM: require client certificates signed by it (mutual TLS) */
    guard_config guard;             /* keys, policy, redaction, audit */
    const char *upstream_url;       /* router: an OpenAI-compatible API (router.c); NULL = off */
    const char *upstream_key_env;   /* environment variable with its key (default AUTOGLM_UPSTREAM_KEY) */
    const char *upstream_model;     /* model name to ask upstream; NULL = the request's */
    sched_config sched;
} server_config;

/* Parses AUTOGLM_HOST-style text: "host", "host:port", ":port", "http://host:port", "[::1]:port".
 * Default port 11434. Returns false on malformed text. */
bool server_parse_host(const char *text, char *host, size_t cap, int *port);

typedef struct server server;

/* Starts listening (threads of its own); NULL with a message on failure. */
server *server_start(const server_config *cfg, char *err, size_t cap);
int server_port(const server *s);
bool server_tls(const server *s);
void server_stop(server *s); /* closes the socket, ends running requests, frees everything */

#endif
