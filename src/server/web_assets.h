/*
 * web_assets.h - the page's files (web/), turned into byte arrays at build time by
 * cmake/embed_assets.cmake into the build folder's web_assets.c.
 */
#ifndef AG_SERVER_WEB_ASSETS_H
#define AG_SERVER_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;          /* "/index.html", "/app.js", ... */
    const char *type;          /* Content-Type */
    const unsigned char *data; /* (len) */
    size_t len;
} web_asset;

extern const web_asset WEB_ASSETS[];
extern const size_t WEB_ASSETS_N;

#endif
