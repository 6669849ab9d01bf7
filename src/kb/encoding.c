/*
 * encoding.c - ag_text_to_utf8: the encoding of a text file. A BOM decides (UTF-8, UTF-16LE/BE);
 * without one, valid UTF-8 is taken as it is; otherwise UTF-16 is guessed from many NUL bytes in
 * even or odd positions; what is left is read as GB18030 (a superset of GBK and GB2312) with
 * glibc's iconv.
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/kb.h"
#include "base/error.h"
#include "base/utf8.h"

/* Converts with iconv; NULL when the input is not valid in that encoding. */
static char *convert(const char *from, const char *in, size_t len, size_t *out_len) {
    iconv_t cd = iconv_open("UTF-8", from);
    if (cd == (iconv_t)-1) return NULL;
    size_t cap = len * 2 + 16, left_out = cap;
    char *out = malloc(cap + 1), *op = out;
    char *ip = (char *)in;
    size_t left_in = len;
    bool ok = out != NULL;
    while (ok && left_in > 0) {
        if (iconv(cd, &ip, &left_in, &op, &left_out) != (size_t)-1) break;
        if (errno == E2BIG) {
            size_t used = (size_t)(op - out);
            cap *= 2;
            char *p = realloc(out, cap + 1);
            if (!p) ok = false;
            else out = p, op = out + used, left_out = cap - used;
        } else ok = false; /* EILSEQ / EINVAL: not this encoding */
    }
    iconv_close(cd);
    if (!ok) {
        free(out);
        return NULL;
    }
    *out_len = (size_t)(op - out);
    out[*out_len] = '\0';
    return out;
}

static char *copy(const char *s, size_t n, size_t *out_len) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    *out_len = n;
    return p;
}

char *ag_text_to_utf8(const void *data, size_t len, size_t *out_len, const char **enc, ag_error *err) {
    const unsigned char *u = data;
    const char *s = data;
    size_t dummy;
    if (!out_len) out_len = &dummy;
    const char *e = "utf-8";
    char *r = NULL;
    if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) r = copy(s + 3, len - 3, out_len);
    else if (len >= 2 && u[0] == 0xFF && u[1] == 0xFE) e = "utf-16le", r = convert("UTF-16LE", s + 2, len - 2, out_len);
    else if (len >= 2 && u[0] == 0xFE && u[1] == 0xFF) e = "utf-16be", r = convert("UTF-16BE", s + 2, len - 2, out_len);
    else if (ag_utf8_valid(s, len) && !memchr(s, 0, len)) r = copy(s, len, out_len);
    else {
        size_t zeros[2] = {0, 0}; /* NUL bytes at even / odd offsets */
        for (size_t i = 0; i < len; i++)
            if (!u[i]) zeros[i & 1]++;
        if (len >= 4 && zeros[1] > len / 8 && zeros[0] < zeros[1] / 4) e = "utf-16le", r = convert("UTF-16LE", s, len, out_len);
        else if (len >= 4 && zeros[0] > len / 8 && zeros[1] < zeros[0] / 4) e = "utf-16be", r = convert("UTF-16BE", s, len, out_len);
        else e = "gb18030", r = convert("GB18030", s, len, out_len);
    }
    if (!r) {
        ag_error_set(err, AG_ERR_FORMAT, "cannot decode the text as %s", e);
        return NULL;
    }
    if (enc) *enc = e;
    return r;
}
