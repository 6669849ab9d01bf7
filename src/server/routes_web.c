/*
 * routes_web.c - the desktop page of `autoglm serve`: GET / answers browsers (an Accept header
 * that names text/html) with web/index.html and everyone else (Ollama clients, curl) with
 * "Ollama is running"; /app.js, /worker.js and /style.css are the page's other files. All are
 * embedded in the binary (web_assets.h) and sent with a Content-Security-Policy that allows
 * nothing from elsewhere: no CDN, no inline script, works offline.
 */
#include <string.h>

#include "server/http.h"
#include "server/web_assets.h"

static const char CSP[] = "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'";

static enum MHD_Result send_asset(http_req *rq, const char *path) {
    for (size_t i = 0; i < WEB_ASSETS_N; i++) {
        const web_asset *a = &WEB_ASSETS[i];
        if (strcmp(a->path, path) != 0) continue;
        const char *const headers[] = {"Content-Security-Policy", CSP, "X-Content-Type-Options", "nosniff",
                                       "Referrer-Policy", "no-referrer", "Cache-Control", "no-cache", NULL};
        return http_reply_static(rq, a->type, a->data, a->len, headers);
    }
    return http_reply_error(rq, 404, "404 page not found: %s", path);
}

enum MHD_Result route_web_root(http_req *rq) {
    const char *accept = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    if (accept && strstr(accept, "text/html")) return send_asset(rq, "/index.html");
    return route_root(rq);
}

enum MHD_Result route_web_asset(http_req *rq) { return send_asset(rq, rq->path); }
