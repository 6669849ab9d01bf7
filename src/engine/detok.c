/*
 * detok.c - ag_detok, the streaming detokenizer: token pieces are appended to a buffer and only
 * whole UTF-8 characters are handed out; an incomplete tail waits for the next token.
 */
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "model/model.h"

struct ag_detok {
    const ag_model *model;
    char *buf;     /* pending bytes, then the text returned by the last call */
    size_t len;    /* pending bytes */
    size_t cap;
    char *out;     /* last returned text (NUL-terminated) */
    size_t out_cap;
};

ag_detok *ag_detok_new(const ag_model *model) {
    ag_detok *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->model = model;
    return d;
}

void ag_detok_free(ag_detok *d) {
    if (!d) return;
    free(d->buf);
    free(d->out);
    free(d);
}

static bool reserve(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    char *q = realloc(*p, n);
    if (!q) return false;
    *p = q;
    *cap = n;
    return true;
}

/* Moves the first n pending bytes to `out` (NUL-terminated), replacing each byte that does
 * not belong to a valid UTF-8 sequence by U+FFFD. */
static const char *emit(ag_detok *d, size_t n, size_t *len) {
    *len = 0;
    if (!reserve(&d->out, &d->out_cap, 3 * n + 1)) return "";
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = ag_utf8_seq_len((unsigned char)d->buf[i]);
        if (k > 0 && i + (size_t)k <= n && ag_utf8_valid(d->buf + i, (size_t)k)) {
            memcpy(d->out + o, d->buf + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(d->out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    d->out[o] = '\0';
    if (d->len > n) memmove(d->buf, d->buf + n, d->len - n); /* buf is NULL while only empty pieces came */
    d->len -= n;
    *len = o;
    return d->out;
}

const char *ag_detok_push(ag_detok *d, ag_token token, size_t *len) {
    char piece[256];
    int n = ag_token_to_piece(d->model, token, piece, (int)sizeof piece, false);
    char *big = NULL;
    if (n < 0) { /* a piece longer than 256 bytes */
        big = malloc((size_t)-n);
        if (big) n = ag_token_to_piece(d->model, token, big, -n, false);
        if (n < 0) n = 0;
    }
    if (n > 0 && reserve(&d->buf, &d->cap, d->len + (size_t)n)) {
        memcpy(d->buf + d->len, big ? big : piece, (size_t)n);
        d->len += (size_t)n;
    }
    free(big);
    return emit(d, d->len - ag_utf8_incomplete_tail(d->buf, d->len), len);
}

const char *ag_detok_flush(ag_detok *d, size_t *len) { return emit(d, d->len, len); }
