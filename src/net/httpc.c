/*
 * httpc.c - the HTTP/1.1 client of httpc.h: URL split (http[s]://host[:port]/path, [v6] hosts),
 * getaddrinfo + connect with timeouts, TLS for https (OpenSSL: the system's trusted CAs, or
 * $SSL_CERT_FILE as OpenSSL reads it; peer and host name verified, SNI), the request, the status
 * line and headers, and the body by Content-Length, chunked transfer coding, or until close.
 */
#include "net/httpc.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

typedef struct {
    char host[256], port[8], path[2048];
    bool tls;
} url_parts;

static int split_url(const char *url, url_parts *u, char *err, size_t cap) {
    u->tls = strncasecmp(url, "https://", 8) == 0;
    if (!u->tls && strncasecmp(url, "http://", 7) != 0) return fail(err, cap, "not an http:// or https:// URL: %s", url);
    const char *h = url + (u->tls ? 8 : 7), *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    snprintf(u->path, sizeof u->path, "%s", slash ? slash : "/");
    snprintf(u->port, sizeof u->port, u->tls ? "443" : "80");
    const char *colon = NULL;
    if (hl && h[0] == '[') {
        const char *close = memchr(h, ']', hl);
        if (!close) return fail(err, cap, "malformed host in %s", url);
        if (close + 1 < h + hl && close[1] == ':') colon = close + 1;
        if ((size_t)(close - h - 1) >= sizeof u->host) return fail(err, cap, "host too long");
        memcpy(u->host, h + 1, (size_t)(close - h - 1));
        u->host[close - h - 1] = '\0';
    } else {
        colon = memchr(h, ':', hl);
        size_t n = colon ? (size_t)(colon - h) : hl;
        if (n == 0 || n >= sizeof u->host) return fail(err, cap, "malformed host in %s", url);
        memcpy(u->host, h, n);
        u->host[n] = '\0';
    }
    if (colon) {
        size_t n = (size_t)(h + hl - colon - 1);
        if (n == 0 || n >= sizeof u->port) return fail(err, cap, "malformed port in %s", url);
        memcpy(u->port, colon + 1, n);
        u->port[n] = '\0';
    }
    return 0;
}

static int dial(const url_parts *u, int timeout_s, char *err, size_t cap) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc) return fail(err, cap, "cannot resolve %s: %s", u->host, gai_strerror(rc));
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {.tv_sec = timeout_s};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return fail(err, cap, "cannot connect to %s:%s: %s", u->host, u->port, strerror(errno));
    return fd;
}

/* ---------------------------------------------------------------- the connection: plain or TLS */

typedef struct {
    int fd;
    SSL_CTX *ctx; /* https only */
    SSL *ssl;
} conn;

static void conn_close(conn *c) {
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1, c->ssl = NULL, c->ctx = NULL;
}

/* The TLS handshake over c->fd: certificates against the default trust store, host name checked. */
static int tls_start(conn *c, const char *host, char *err, size_t cap) {
    if (!(c->ctx = SSL_CTX_new(TLS_client_method())) || !(c->ssl = SSL_new(c->ctx)))
        return fail(err, cap, "cannot set up TLS: out of memory");
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(c->ctx);
    SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    SSL_set_tlsext_host_name(c->ssl, host);
    SSL_set1_host(c->ssl, host);
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
        const long vr = SSL_get_verify_result(c->ssl);
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        if (vr != X509_V_OK)
            return fail(err, cap, "TLS to %s: certificate not trusted: %s", host, X509_verify_cert_error_string(vr));
        return fail(err, cap, "TLS handshake with %s failed: %s", host, e);
    }
    return 0;
}

static int send_all(conn *c, const char *p, size_t n) {
    while (n) {
        ssize_t w;
        if (c->ssl) {
            size_t done = 0;
            w = SSL_write_ex(c->ssl, p, n, &done) == 1 ? (ssize_t)done : -1;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
        }
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Bytes received (0 at the end of the stream), or -1. */
static ssize_t conn_recv(conn *c, char *buf, size_t cap) {
    if (!c->ssl) {
        for (;;) {
            ssize_t n = recv(c->fd, buf, cap, 0);
            if (n < 0 && errno == EINTR) continue;
            return n;
        }
    }
    size_t got = 0;
    if (SSL_read_ex(c->ssl, buf, cap, &got) == 1) return (ssize_t)got;
    const int e = SSL_get_error(c->ssl, 0);
    return e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0) ? 0 : -1;
}

/* A buffered reader over the connection. */
typedef struct {
    conn *c;
    char buf[65536];
    size_t off, len;
    bool eof;
} reader;

static int fill(reader *r) {
    if (r->off < r->len) return 0;
    r->off = r->len = 0;
    ssize_t n = conn_recv(r->c, r->buf, sizeof r->buf);
    if (n < 0) return -1;
    if (n == 0) r->eof = true;
    r->len = (size_t)n;
    return 0;
}

/* One line without its CRLF into line (cap); -1 on error or EOF before the newline. */
static int read_line(reader *r, char *line, size_t cap) {
    size_t n = 0;
    for (;;) {
        if (fill(r) || (r->off == r->len && r->eof)) return -1;
        char c = r->buf[r->off++];
        if (c == '\n') break;
        if (n + 1 < cap) line[n++] = c;
    }
    if (n && line[n - 1] == '\r') n--;
    line[n] = '\0';
    return 0;
}

/* Up to `want` body bytes (-1: until EOF) to the sink. */
static int pipe_body(reader *r, int64_t want, httpc_sink sink, void *ctx, char *err, size_t cap) {
    while (want != 0) {
        if (fill(r)) return fail(err, cap, "connection error while reading the body: %s", strerror(errno));
        if (r->off == r->len) {
            if (want < 0) return 0;
            return fail(err, cap, "the connection closed %lld bytes before the end of the body", (long long)want);
        }
        size_t n = r->len - r->off;
        if (want > 0 && (int64_t)n > want) n = (size_t)want;
        if (sink && sink(ctx, r->buf + r->off, n)) return fail(err, cap, "aborted");
        r->off += n;
        if (want > 0) want -= (int64_t)n;
    }
    return 0;
}

static int one_request(const char *method, const char *url, const char *const *headers, const char *body,
                       size_t body_len, int timeout_s, httpc_response *resp, char *location, size_t loc_cap,
                       httpc_sink sink, void *ctx, char *err, size_t cap) {
    url_parts u;
    if (split_url(url, &u, err, cap)) return -1;
    conn c = {dial(&u, timeout_s, err, cap), NULL, NULL};
    if (c.fd < 0) return -1;
    if (u.tls && tls_start(&c, u.host, err, cap)) {
        conn_close(&c);
        return -1;
    }
    size_t hcap = 4096 + strlen(u.path);
    for (int i = 0; headers && headers[i]; i++) hcap += strlen(headers[i]) + 2;
    char *head = malloc(hcap);
    if (!head) {
        conn_close(&c);
        return fail(err, cap, "out of memory");
    }
    bool v6 = strchr(u.host, ':') != NULL;
    size_t hn = (size_t)snprintf(head, hcap, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: autoglm/" "0.1\r\n"
                                             "Accept: */*\r\nConnection: close\r\n", method, u.path, v6 ? "[" : "", u.host,
                                 v6 ? "]" : "", u.port);
    for (int i = 0; headers && headers[i]; i++) hn += (size_t)snprintf(head + hn, hcap - hn, "%s\r\n", headers[i]);
    if (body) hn += (size_t)snprintf(head + hn, hcap - hn, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    hn += (size_t)snprintf(head + hn, hcap - hn, "\r\n");
    int rc = send_all(&c, head, hn) || (body && send_all(&c, body, body_len));
    free(head);
    if (rc) {
        conn_close(&c);
        return fail(err, cap, "cannot send the request to %s: %s", u.host, strerror(errno));
    }
    reader *r = malloc(sizeof *r);
    if (!r) {
        conn_close(&c);
        return fail(err, cap, "out of memory");
    }
    r->c = &c;
    r->off = r->len = 0;
    r->eof = false;
    char line[8192];
    resp->status = 0;
    resp->content_length = resp->range_start = resp->range_total = -1;
    location[0] = '\0';
    bool chunked = false;
    rc = -1;
    if (read_line(r, line, sizeof line) || sscanf(line, "HTTP/%*d.%*d %d", &resp->status) != 1) {
        fail(err, cap, "no HTTP response from %s:%s", u.host, u.port);
        goto done;
    }
    for (;;) {
        if (read_line(r, line, sizeof line)) {
            fail(err, cap, "the response headers of %s ended early", u.host);
            goto done;
        }
        if (!line[0]) break;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        if (strcasecmp(line, "Content-Length") == 0) resp->content_length = strtoll(v, NULL, 10);
        else if (strcasecmp(line, "Transfer-Encoding") == 0 && strcasestr(v, "chunked")) chunked = true;
        else if (strcasecmp(line, "Location") == 0) snprintf(location, loc_cap, "%s", v);
        else if (strcasecmp(line, "Content-Range") == 0) { /* bytes a-b/total or bytes * / total */
            long long a = -1, b = -1, total = -1;
            if (sscanf(v, "bytes %lld-%lld/%lld", &a, &b, &total) >= 1) resp->range_start = a;
            else sscanf(v, "bytes */%lld", &total);
            resp->range_total = total;
        }
    }
    snprintf(resp->url, sizeof resp->url, "%s", url);
    const bool redirect = resp->status >= 300 && resp->status < 400 && location[0];
    const bool no_body = strcmp(method, "HEAD") == 0 || resp->status == 204 || resp->status == 304 || redirect;
    if (no_body) rc = 0;
    else if (chunked) {
        for (;;) {
            if (read_line(r, line, sizeof line)) {
                fail(err, cap, "a chunked body of %s ended early", u.host);
                goto done;
            }
            long long n = strtoll(line, NULL, 16);
            if (n < 0) {
                fail(err, cap, "malformed chunk size");
                goto done;
            }
            if (n == 0) break;
            if (pipe_body(r, n, sink, ctx, err, cap) || read_line(r, line, sizeof line)) goto done;
        }
        rc = 0;
    } else {
        rc = pipe_body(r, resp->content_length, sink, ctx, err, cap);
    }
done:
    free(r);
    conn_close(&c);
    return rc;
}

int httpc_request(const char *method, const char *url, const char *const *headers, const char *body, size_t body_len,
                  int timeout_s, httpc_response *resp, httpc_sink sink, void *ctx, char *err, size_t cap) {
    char cur[2048], loc[2048];
    snprintf(cur, sizeof cur, "%s", url);
    for (int hop = 0; hop < 6; hop++) {
        if (one_request(method, cur, headers, body, body_len, timeout_s, resp, loc, sizeof loc, sink, ctx, err, cap))
            return -1;
        if (!(resp->status >= 300 && resp->status < 400 && loc[0])) return 0;
        if (loc[0] == '/') { /* same host */
            url_parts u;
            split_url(cur, &u, err, cap);
            bool v6 = strchr(u.host, ':') != NULL;
            const int w = snprintf(cur, sizeof cur, "%s://%s%s%s:%s%s", u.tls ? "https" : "http", v6 ? "[" : "",
                                   u.host, v6 ? "]" : "", u.port, loc);
            if (w < 0 || (size_t)w >= sizeof cur) {
                snprintf(err, cap, "redirect to a URL longer than %zu bytes", sizeof cur - 1);
                return -1;
            }
        } else {
            snprintf(cur, sizeof cur, "%s", loc);
        }
    }
    return fail(err, cap, "too many redirects from %s", url);
}

typedef struct {
    char *buf;
    size_t len, cap;
} membuf;

static int to_mem(void *ctx, const char *data, size_t n) {
    membuf *m = ctx;
    if (m->len + n + 1 > m->cap) {
        size_t c = m->cap ? m->cap * 2 : 4096;
        while (c < m->len + n + 1) c *= 2;
        char *p = realloc(m->buf, c);
        if (!p) return -1;
        m->buf = p;
        m->cap = c;
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
    m->buf[m->len] = '\0';
    return 0;
}

int httpc_fetch(const char *method, const char *url, const char *body, size_t body_len, int timeout_s,
                httpc_response *resp, char **out, size_t *len, char *err, size_t cap) {
    membuf m = {0};
    if (httpc_request(method, url, NULL, body, body_len, timeout_s, resp, to_mem, &m, err, cap)) {
        free(m.buf);
        return -1;
    }
    if (!m.buf && !(m.buf = calloc(1, 1))) return fail(err, cap, "out of memory");
    *out = m.buf;
    *len = m.len;
    return 0;
}
