/*
 * textbuf.c - the growable buffer and the document builder (cleaning of whitespace, control
 * characters and invalid UTF-8 as text enters a block). See textbuf.h.
 */
#include "kb/textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* ---------------------------------------------------------------- buffer */

static bool reserve(kb_buf *b, size_t extra) {
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void kb_buf_append(kb_buf *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void kb_buf_puts(kb_buf *b, const char *s) { kb_buf_append(b, s, strlen(s)); }
void kb_buf_putc(kb_buf *b, char c) { kb_buf_append(b, &c, 1); }

void kb_buf_printf(kb_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        kb_buf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void kb_buf_free(kb_buf *b) {
    free(b->data);
    *b = (kb_buf){0};
}

char *kb_buf_take(kb_buf *b, size_t *len) {
    if (b->oom) {
        kb_buf_free(b);
        return NULL;
    }
    if (!b->data && !reserve(b, 0)) return NULL;
    if (!b->data) return NULL;
    char *p = b->data;
    if (len) *len = b->len;
    *b = (kb_buf){0};
    return p;
}

void kb_buf_put_cp(kb_buf *b, unsigned cp) {
    char u[4];
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) u[0] = (char)cp, kb_buf_append(b, u, 1);
    else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63));
        kb_buf_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 63)), u[2] = (char)(0x80 | (cp & 63));
        kb_buf_append(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 63));
        u[2] = (char)(0x80 | ((cp >> 6) & 63)), u[3] = (char)(0x80 | (cp & 63));
        kb_buf_append(b, u, 4);
    }
}

/* ---------------------------------------------------------------- document builder */

void kb_doc_init(kb_doc_builder *d) {
    *d = (kb_doc_builder){0};
    d->n_pages = 1;
}

/* Decodes one UTF-8 sequence at s (n bytes left): its code point and length, or cp = -1 for an
 * invalid byte (length 1). */
static int decode(const unsigned char *s, size_t n, long *cp) {
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || (size_t)len > n) return *cp = -1, 1;
    if (len == 1) return *cp = c, 1;
    long v = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return *cp = -1, 1;
        v = v << 6 | (s[i] & 63);
    }
    static const long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return *cp = -1, 1;
    *cp = v;
    return len;
}

static bool is_space_cp(long cp) {
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' || cp == 0xA0 ||
           cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F;
}

void kb_doc_text(kb_doc_builder *d, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        long cp;
        int l = decode(u + i, n - i, &cp);
        if (cp >= 0 && is_space_cp(cp)) d->pending_space = true;
        else if (cp == 0xFEFF || cp == 0x200B || cp == 0xAD) { /* BOM, zero-width space, soft hyphen */
        } else if (cp >= 0 && (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))) {
            /* control characters are dropped */
        } else {
            if (d->pending_space && d->text.len > d->block_start) kb_buf_putc(&d->text, ' ');
            d->pending_space = false;
            if (cp < 0) kb_buf_put_cp(&d->text, 0xFFFD);
            else kb_buf_append(&d->text, s + i, (size_t)l);
        }
        i += (size_t)l;
    }
}

void kb_doc_end_block(kb_doc_builder *d, int heading_level) {
    d->pending_space = false;
    if (d->text.len == d->block_start) return;
    if (d->n_blocks == d->cap_blocks) {
        int cap = d->cap_blocks ? 2 * d->cap_blocks : 32;
        ag_doc_block *p = realloc(d->blocks, (size_t)cap * sizeof *p);
        if (!p) {
            d->oom = true;
            return;
        }
        d->blocks = p;
        d->cap_blocks = cap;
    }
    d->blocks[d->n_blocks++] = (ag_doc_block){.start = d->block_start, .end = d->text.len, .page = d->page,
                                              .heading_level = heading_level};
    kb_buf_append(&d->text, "\n\n", 2);
    d->block_start = d->text.len;
}

void kb_doc_paragraphs(kb_doc_builder *d, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        size_t a = i, z = e; /* a blank line (only spaces) ends the paragraph */
        while (a < z && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r' || s[a] == '\f')) a++;
        if (a == z) kb_doc_end_block(d, 0);
        else kb_doc_text(d, s + i, e - i), d->pending_space = true;
        i = e + 1;
    }
    kb_doc_end_block(d, 0);
}

ag_status kb_doc_finish(kb_doc_builder *d, ag_doc *out, ag_error *err) {
    kb_doc_end_block(d, 0);
    if (d->text.len >= 2) d->text.len -= 2; /* no separator after the last block */
    if (d->text.data) d->text.data[d->text.len] = '\0';
    size_t len = 0;
    bool oom = d->oom || d->text.oom;
    char *text = kb_buf_take(&d->text, &len);
    if (oom || !text) {
        free(text);
        kb_doc_discard(d);
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    *out = (ag_doc){.text = text, .len = len, .blocks = d->blocks, .n_blocks = d->n_blocks,
                    .n_pages = d->n_pages > 0 ? d->n_pages : 1};
    *d = (kb_doc_builder){0};
    return AG_OK;
}

void kb_doc_discard(kb_doc_builder *d) {
    kb_buf_free(&d->text);
    free(d->blocks);
    *d = (kb_doc_builder){0};
}

void ag_doc_free(ag_doc *doc) {
    if (!doc) return;
    free(doc->text);
    free(doc->blocks);
    *doc = (ag_doc){0};
}
