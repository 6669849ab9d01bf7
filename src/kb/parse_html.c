/*
 * parse_html.c - HTML to blocks with a small tag scanner (no DOM): text between tags, entities
 * decoded; block elements (p, div, li, h1-h6, tr, ...) end blocks and h1-h6 make headings; the
 * content of script, style, head and the like is dropped, and so is boilerplate: nav, header,
 * footer, aside, form, and elements whose id/class/role says navigation, menu, footer, sidebar,
 * cookie banner or breadcrumbs. Malformed markup never fails: what cannot be a tag is text.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kb/parse.h"

typedef struct {
    char name[16];
    bool closing, self_closing, boilerplate; /* boilerplate: id/class/role marks it */
} tag_info;

static bool name_in(const char *name, const char *const *list) {
    for (; *list; list++)
        if (strcmp(name, *list) == 0) return true;
    return false;
}

static const char *const RAW_TEXT[] = {"script", "style", "textarea", "title", NULL};
static const char *const DROPPED[] = {"head", "noscript", "template", "svg", "nav", "footer", "header", "aside",
                                      "form", "iframe", "select", "button", "object", "menu", "canvas", NULL};
static const char *const BLOCKS[] = {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "section",
                                     "article", "main", "blockquote", "pre", "figure", "figcaption", "address",
                                     "hr", "body", "html", "caption", "thead", "tbody", "details", "summary", NULL};
static const char *const VOID_TAGS[] = {"br", "img", "hr", "input", "meta", "link", "area", "base", "col",
                                        "embed", "source", "track", "wbr", "param", NULL};

/* Whether an attribute value names boilerplate (as a word of a class list or an id). */
static bool boilerplate_value(const char *v, size_t n) {
    static const char *const WORDS[] = {"nav", "navbar", "navigation", "menu", "footer", "sidebar", "breadcrumb",
                                        "breadcrumbs", "cookie", "cookies", "cookie-banner", "advert", "ads",
                                        "banner", "site-header", "site-footer", "toc-sidebar", "skip-link", NULL};
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
        size_t s = i;
        while (i < n && v[i] != ' ' && v[i] != '\t') i++;
        for (const char *const *w = WORDS; *w; w++)
            if (strlen(*w) == i - s && strncasecmp(*w, v + s, i - s) == 0) return true;
    }
    return false;
}

/* Parses the tag at s[0] == '<'; returns its length (through '>') or 0 when it is not a tag. */
static size_t scan_tag(const char *s, size_t n, tag_info *t) {
    *t = (tag_info){0};
    size_t i = 1;
    if (i < n && s[i] == '/') t->closing = true, i++;
    if (i >= n || !isalpha((unsigned char)s[i])) return 0;
    size_t k = 0;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == ':')) {
        if (k + 1 < sizeof t->name) t->name[k++] = (char)tolower((unsigned char)s[i]);
        i++;
    }
    t->name[k] = '\0';
    while (i < n && s[i] != '>') { /* attributes */
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '>') {
            t->self_closing = true;
            i++;
            continue;
        }
        if (isspace((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t an = i;
        while (i < n && !isspace((unsigned char)s[i]) && s[i] != '=' && s[i] != '>') i++;
        size_t al = i - an;
        const char *v = NULL;
        size_t vl = 0;
        while (i < n && isspace((unsigned char)s[i])) i++;
        if (i < n && s[i] == '=') {
            i++;
            while (i < n && isspace((unsigned char)s[i])) i++;
            if (i < n && (s[i] == '"' || s[i] == '\'')) {
                char q = s[i++];
                v = s + i;
                while (i < n && s[i] != q) i++;
                vl = (size_t)(s + i - v);
                if (i < n) i++;
            } else {
                v = s + i;
                while (i < n && !isspace((unsigned char)s[i]) && s[i] != '>') i++;
                vl = (size_t)(s + i - v);
            }
        }
        if (v && ((al == 2 && strncasecmp(s + an, "id", 2) == 0) || (al == 5 && strncasecmp(s + an, "class", 5) == 0) ||
                  (al == 4 && strncasecmp(s + an, "role", 4) == 0)))
            if (boilerplate_value(v, vl)) t->boilerplate = true;
    }
    if (i >= n) return 0;
    return i + 1;
}

/* Index of the first case-insensitive match of "</name" at or after s, or n. */
static size_t find_close(const char *s, size_t n, const char *name) {
    size_t l = strlen(name);
    for (size_t i = 0; i + l + 2 <= n; i++)
        if (s[i] == '<' && s[i + 1] == '/' && strncasecmp(s + i + 2, name, l) == 0) return i;
    return n;
}

static void text_run(kb_doc_builder *d, const char *s, size_t n) {
    kb_buf tmp = {0};
    size_t last = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '&') {
            kb_buf_append(&tmp, s + last, i - last);
            size_t used = kb_decode_entity(s + i, n - i, &tmp);
            if (used) i += used - 1, last = i + 1;
            else kb_buf_putc(&tmp, '&'), last = i + 1;
        }
    kb_buf_append(&tmp, s + last, n - last);
    if (tmp.data) kb_doc_text(d, tmp.data, tmp.len);
    kb_buf_free(&tmp);
}

void kb_parse_html(kb_doc_builder *d, const char *s, size_t n) {
    char skip[16] = ""; /* the dropped element we are inside, and its nesting */
    int skip_depth = 0, heading = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] != '<') {
            size_t j = i;
            while (j < n && s[j] != '<') j++;
            if (!skip_depth) text_run(d, s + i, j - i);
            i = j;
            continue;
        }
        if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
            const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
            i = e ? (size_t)(e - s) + 3 : n;
            continue;
        }
        if (n - i >= 9 && memcmp(s + i, "<![CDATA[", 9) == 0) {
            const char *e = memmem(s + i + 9, n - i - 9, "]]>", 3);
            size_t end = e ? (size_t)(e - s) : n;
            if (!skip_depth) kb_doc_text(d, s + i + 9, end - i - 9);
            i = e ? end + 3 : n;
            continue;
        }
        if (n - i >= 2 && (s[i + 1] == '!' || s[i + 1] == '?')) {
            const char *e = memchr(s + i, '>', n - i);
            i = e ? (size_t)(e - s) + 1 : n;
            continue;
        }
        tag_info t;
        size_t tl = scan_tag(s + i, n - i, &t);
        if (!tl) { /* a lone '<' is text */
            if (!skip_depth) kb_doc_text(d, "<", 1);
            i++;
            continue;
        }
        i += tl;
        bool is_void = name_in(t.name, VOID_TAGS) || t.self_closing;
        if (!t.closing && name_in(t.name, RAW_TEXT)) { /* content up to the closing tag is not markup */
            size_t e = find_close(s + i, n - i, t.name);
            i += e;
            continue;
        }
        if (skip_depth) {
            if (strcmp(t.name, skip) == 0 && !is_void) skip_depth += t.closing ? -1 : 1;
            continue;
        }
        if (!t.closing && !is_void && (name_in(t.name, DROPPED) || t.boilerplate)) {
            snprintf(skip, sizeof skip, "%s", t.name);
            skip_depth = 1;
            continue;
        }
        int h = t.name[0] == 'h' && t.name[1] >= '1' && t.name[1] <= '6' && !t.name[2] ? t.name[1] - '0' : 0;
        if (h) {
            kb_doc_end_block(d, t.closing ? heading : 0);
            heading = t.closing ? 0 : h;
        } else if (name_in(t.name, BLOCKS)) {
            kb_doc_end_block(d, heading);
            heading = 0;
        } else if (strcmp(t.name, "br") == 0 || strcmp(t.name, "td") == 0 || strcmp(t.name, "th") == 0) {
            d->pending_space = true;
        }
    }
    kb_doc_end_block(d, heading);
}
