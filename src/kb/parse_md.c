/*
 * parse_md.c - Markdown to blocks: ATX (#) and setext (=== / ---) headings, paragraphs ended by
 * blank lines, list items and table rows as their own blocks, fenced code kept as text, YAML
 * front matter dropped. Inline markup is reduced to its text: emphasis markers and backticks
 * removed, [text](url) and ![alt](url) give text/alt, <tags> dropped, entities decoded.
 */
#include <string.h>

#include "kb/parse.h"

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

/* A line of only '=' or only '-' (setext underline), 3+ of them, spaces around allowed. */
static int setext_level(const char *s, size_t n) {
    size_t i = 0, count = 0;
    while (i < n && s[i] == ' ') i++;
    char c = i < n ? s[i] : 0;
    if (c != '=' && c != '-') return 0;
    for (; i < n; i++) {
        if (s[i] == c) count++;
        else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    }
    return count >= 3 ? (c == '=' ? 1 : 2) : 0;
}

/* Inline text: markup reduced to what a reader sees. */
static void inline_text(kb_doc_builder *d, const char *s, size_t n) {
    kb_buf tmp = {0};
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && strchr("\\`*_{}[]()#+-.!|<>", s[i + 1])) {
            kb_buf_putc(&tmp, s[++i]);
        } else if (c == '*' || c == '`' || c == '~') {
            /* emphasis, code and strike-through markers */
        } else if (c == '_' && (i == 0 || i + 1 == n || s[i - 1] == ' ' || s[i + 1] == ' ' || s[i - 1] == '_' || s[i + 1] == '_')) {
            /* _emphasis_ (an underscore inside a word stays) */
        } else if (c == '!' && i + 1 < n && s[i + 1] == '[') {
            /* image: its alt text follows as a link text */
        } else if (c == ']' && i + 1 < n && s[i + 1] == '(') {
            size_t j = i + 2; /* skip "(url)" */
            while (j < n && s[j] != ')') j++;
            i = j < n ? j : i;
        } else if (c == '[' || c == ']') {
        } else if (c == '<') {
            size_t j = i + 1; /* an inline tag or autolink: autolinks keep their text */
            while (j < n && s[j] != '>' && s[j] != ' ' && s[j] != '<') j++;
            if (j < n && s[j] == '>' && j > i + 1) {
                if (memchr(s + i + 1, ':', j - i - 1) || memchr(s + i + 1, '@', j - i - 1)) kb_buf_append(&tmp, s + i + 1, j - i - 1);
                i = j;
            } else if (j < n && s[j] == ' ' && i + 1 < n && ((s[i + 1] >= 'a' && s[i + 1] <= 'z') || s[i + 1] == '/')) {
                while (j < n && s[j] != '>') j++; /* <tag attr=...> */
                if (j < n) i = j;
                else kb_buf_putc(&tmp, c);
            } else kb_buf_putc(&tmp, c);
        } else if (c == '&') {
            size_t used = kb_decode_entity(s + i, n - i, &tmp);
            if (used) i += used - 1;
            else kb_buf_putc(&tmp, c);
        } else kb_buf_putc(&tmp, c);
    }
    if (tmp.data) kb_doc_text(d, tmp.data, tmp.len);
    kb_buf_free(&tmp);
    d->pending_space = true;
}

/* Length of a list marker ("- ", "* ", "+ ", "12. ", "3) ") at s, or 0. */
static size_t list_marker(const char *s, size_t n) {
    if (n >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && s[1] == ' ') return 2;
    size_t i = 0;
    while (i < n && i < 9 && s[i] >= '0' && s[i] <= '9') i++;
    if (i > 0 && i + 1 < n && (s[i] == '.' || s[i] == ')') && s[i + 1] == ' ') return i + 2;
    return 0;
}

void kb_parse_markdown(kb_doc_builder *d, const char *s, size_t n) {
    size_t i = 0;
    bool in_fence = false;
    char fence = 0;
    /* YAML front matter: "---" on the first line up to the next "---" */
    if (n >= 4 && memcmp(s, "---", 3) == 0 && (s[3] == '\n' || s[3] == '\r')) {
        const char *end = NULL;
        for (size_t j = 4; j + 3 <= n; j++)
            if (s[j - 1] == '\n' && memcmp(s + j, "---", 3) == 0) {
                end = s + j;
                break;
            }
        if (end) {
            i = (size_t)(end - s) + 3;
            while (i < n && s[i] != '\n') i++;
        }
    }
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        const char *line = s + i;
        size_t len = e - i;
        size_t next = e + 1 <= n ? e + 1 : n;
        if (len && line[len - 1] == '\r') len--;
        size_t ind = 0;
        while (ind < len && ind < 4 && line[ind] == ' ') ind++;
        const char *t = line + ind;
        size_t tl = len - ind;
        if (tl >= 3 && (memcmp(t, "```", 3) == 0 || memcmp(t, "~~~", 3) == 0) && (!in_fence || t[0] == fence)) {
            kb_doc_end_block(d, 0);
            in_fence = !in_fence;
            fence = t[0];
        } else if (in_fence) {
            kb_doc_text(d, line, len);
            d->pending_space = true;
        } else if (is_blank(line, len)) {
            kb_doc_end_block(d, 0);
        } else if (tl && t[0] == '#') {
            size_t h = 0;
            while (h < tl && t[h] == '#') h++;
            if (h <= 6 && (h == tl || t[h] == ' ' || t[h] == '\t')) {
                kb_doc_end_block(d, 0);
                size_t z = tl; /* closing #s */
                while (z > h && (t[z - 1] == '#' || t[z - 1] == ' ')) z--;
                inline_text(d, t + h, z > h ? z - h : 0);
                kb_doc_end_block(d, (int)h);
            } else inline_text(d, t, tl);
        } else {
            /* a setext heading: this line underlined by the next */
            size_t e2 = next;
            while (e2 < n && s[e2] != '\n') e2++;
            int lvl = next < n && d->text.len == d->block_start ? setext_level(s + next, e2 - next) : 0;
            if (lvl) {
                inline_text(d, t, tl);
                kb_doc_end_block(d, lvl);
                next = e2 + 1 <= n ? e2 + 1 : n;
            } else if (setext_level(t, tl) == 2 && d->text.len == d->block_start) {
                /* a thematic break "---" */
            } else {
                size_t lm = list_marker(t, tl);
                if (tl && t[0] == '>') { /* block quote: strip the markers */
                    size_t q = 0;
                    while (q < tl && (t[q] == '>' || t[q] == ' ')) q++;
                    inline_text(d, t + q, tl - q);
                } else if (lm) {
                    kb_doc_end_block(d, 0);
                    inline_text(d, t + lm, tl - lm);
                } else if (tl && t[0] == '|') { /* table row: cells as words; separator rows dropped */
                    bool sep = true;
                    for (size_t q = 0; q < tl; q++)
                        if (!strchr("|-: \t", t[q])) sep = false;
                    if (!sep) {
                        kb_doc_end_block(d, 0);
                        kb_buf row = {0};
                        for (size_t q = 0; q < tl; q++) kb_buf_putc(&row, t[q] == '|' ? ' ' : t[q]);
                        if (row.data) inline_text(d, row.data, row.len);
                        kb_buf_free(&row);
                        kb_doc_end_block(d, 0);
                    }
                } else inline_text(d, t, tl);
            }
        }
        i = next;
        if (e >= n) break;
    }
    kb_doc_end_block(d, 0);
}
