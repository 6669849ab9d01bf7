/*
 * file.c - reading a whole file into memory, and building "path.suffix" names.
 */
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

char *ag_read_file(const char *path, size_t max_bytes, size_t *len, ag_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ag_error_set(err, AG_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n > max_bytes) {
            fclose(f);
            free(buf);
            ag_error_set(err, AG_ERR_IO, "%s: larger than %zu bytes", path, max_bytes);
            return NULL;
        }
        if (cap - n - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        ag_error_set(err, buf ? AG_ERR_IO : AG_ERR_NOMEM, "%s: %s", path, buf ? "read error" : "out of memory");
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *ag_path_with_suffix(const char *path, const char *suffix) {
    size_t a = strlen(path), b = strlen(suffix);
    char *p = malloc(a + b + 1);
    if (p) {
        memcpy(p, path, a);
        memcpy(p + a, suffix, b + 1);
    }
    return p;
}
