/*
 * xml_scan.c - the pull scanner of xml_scan.h: comments, processing instructions and DOCTYPE
 * are skipped, CDATA is text, entities in text are decoded (kb_decode_entity).
 */
#include "kb/xml_scan.h"

#include <string.h>

#include "kb/parse.h"

void xml_init(xml_scanner *x, const char *s, size_t n) { *x = (xml_scanner){.s = s, .n = n}; }
void xml_free(xml_scanner *x) { kb_buf_free(&x->text); }

static size_t skip_past(const xml_scanner *x, size_t from, const char *end) {
    size_t l = strlen(end);
    if (from > x->n) return x->n;
    const char *p = memmem(x->s + from, x->n - from, end, l);
    return p ? (size_t)(p - x->s) + l : x->n;
}

xml_event xml_next(xml_scanner *x) {
    for (;;) {
        if (x->pos >= x->n) return XML_END;
        const char *s = x->s;
        size_t i = x->pos;
        if (s[i] != '<') { /* text up to the next tag */
            size_t j = i;
            while (j < x->n && s[j] != '<') j++;
            x->text.len = 0;
            size_t last = i;
            for (size_t k = i; k < j; k++)
                if (s[k] == '&') {
                    kb_buf_append(&x->text, s + last, k - last);
                    size_t used = kb_decode_entity(s + k, j - k, &x->text);
                    if (!used) kb_buf_putc(&x->text, '&'), used = 1;
                    k += used - 1;
                    last = k + 1;
                }
            kb_buf_append(&x->text, s + last, j - last);
            x->pos = j;
            return XML_TEXT;
        }
        if (x->n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
            x->pos = skip_past(x, i + 4, "-->");
            continue;
        }
        if (x->n - i >= 9 && memcmp(s + i, "<![CDATA[", 9) == 0) {
            const char *e = memmem(s + i + 9, x->n - i - 9, "]]>", 3);
            size_t end = e ? (size_t)(e - s) : x->n;
            x->text.len = 0;
            kb_buf_append(&x->text, s + i + 9, end - i - 9);
            x->pos = e ? end + 3 : x->n;
            return XML_TEXT;
        }
        if (x->n - i >= 2 && (s[i + 1] == '?' || s[i + 1] == '!')) {
            x->pos = skip_past(x, i + 2, ">");
            continue;
        }
        bool closing = x->n - i >= 2 && s[i + 1] == '/';
        size_t j = i + 1 + closing;
        x->name = s + j;
        while (j < x->n && s[j] != '>' && s[j] != '/' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r') j++;
        x->name_len = (size_t)(s + j - x->name);
        x->attrs = s + j;
        char q = 0; /* to the '>' outside quotes */
        while (j < x->n && (q || s[j] != '>')) {
            if (q && s[j] == q) q = 0;
            else if (!q && (s[j] == '"' || s[j] == '\'')) q = s[j];
            j++;
        }
        if (j >= x->n) {
            x->pos = x->n;
            return XML_END;
        }
        bool empty = j > i && s[j - 1] == '/';
        x->attrs_len = (size_t)(s + j - x->attrs) - empty;
        x->pos = j + 1;
        if (x->name_len == 0) continue;
        return closing ? XML_CLOSE : empty ? XML_EMPTY : XML_OPEN;
    }
}

bool xml_is(const xml_scanner *x, const char *name) {
    size_t l = strlen(name);
    return x->name_len == l && memcmp(x->name, name, l) == 0;
}

const char *xml_attr(const xml_scanner *x, const char *name, size_t *len) {
    size_t l = strlen(name);
    const char *a = x->attrs, *end = x->attrs + x->attrs_len;
    while (a < end) {
        while (a < end && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')) a++;
        const char *an = a;
        while (a < end && *a != '=' && *a != ' ' && *a != '\t' && *a != '\n' && *a != '\r') a++;
        size_t al = (size_t)(a - an);
        while (a < end && *a != '=' && *a != '"' && *a != '\'') a++;
        if (a < end && *a == '=') a++;
        while (a < end && *a != '"' && *a != '\'') a++;
        if (a >= end) return NULL;
        char q = *a++;
        const char *v = a;
        while (a < end && *a != q) a++;
        if (al == l && memcmp(an, name, l) == 0) {
            *len = (size_t)(a - v);
            return v;
        }
        if (a < end) a++;
    }
    return NULL;
}
