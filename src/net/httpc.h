/*
 * httpc.h - a small HTTP/1.1 client over plain sockets or TLS (https://, OpenSSL's libssl,
 * certificates verified): one request per connection, redirects followed, the body
 * (Content-Length, chunked, or until close) handed to a callback piece by piece. Used by
 * `autoglm pull` (downloads with Range resume, Hugging Face listings) and `autoglm ps`.
 */
#ifndef AG_NET_HTTPC_H
#define AG_NET_HTTPC_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int status;              /* final status code (after redirects) */
    int64_t content_length;  /* -1 when not given */
    int64_t range_start;     /* 206: first byte of Content-Range; else -1 */
    int64_t range_total;     /* 206/416: total of Content-Range ("*" or absent: -1) */
    char url[2048];          /* the URL that answered (after redirects) */
} httpc_response;

/* Called with each piece of the body; return non-zero to abort (httpc_request then fails). */
typedef int (*httpc_sink)(void *ctx, const char *data, size_t n);

/* Sends method url with the extra header lines (each "Name: value", NULL-terminated list, may be
 * NULL) and the body (may be NULL), follows up to 5 redirects, and streams the final body to
 * sink (NULL: discarded). timeout_s bounds each wait for data. Returns 0, or -1 with a message
 * (connection, TLS or certificate, malformed response, sink abort). */
int httpc_request(const char *method, const char *url, const char *const *headers, const char *body, size_t body_len,
                  int timeout_s, httpc_response *resp, httpc_sink sink, void *ctx, char *err, size_t cap);

/* Convenience: the whole body into a malloc'd, NUL-terminated buffer (*out, *len). */
int httpc_fetch(const char *method, const char *url, const char *body, size_t body_len, int timeout_s,
                httpc_response *resp, char **out, size_t *len, char *err, size_t cap);

#endif
