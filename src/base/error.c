/*
 * error.c - status names and the formatting of ag_error messages.
 */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ag_status_name(ag_status code) {
    switch (code) {
    case AG_OK: return "ok";
    case AG_ERR_IO: return "I/O error";
    case AG_ERR_FORMAT: return "invalid file";
    case AG_ERR_UNSUPPORTED: return "unsupported";
    case AG_ERR_NOMEM: return "out of memory";
    case AG_ERR_INVALID_ARG: return "invalid argument";
    case AG_ERR_CONTEXT_FULL: return "context full";
    case AG_ERR_UNTRUSTED: return "untrusted";
    case AG_ERR_ABORTED: return "aborted";
    }
    return "unknown error";
}

ag_status ag_error_set(ag_error *err, ag_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void ag_error_prefix(ag_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix);
    if (plen + 2 >= sizeof err->msg) return;
    size_t keep = strnlen(err->msg, sizeof err->msg - 1);
    if (keep > sizeof err->msg - 1 - plen - 2) keep = sizeof err->msg - 1 - plen - 2;
    memmove(err->msg + plen + 2, err->msg, keep);
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
    err->msg[plen + 2 + keep] = '\0';
}
