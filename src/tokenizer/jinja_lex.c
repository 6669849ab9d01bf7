/*
 * jinja_lex.c - the template lexer: text, {{ }}, {% %}, {# #} and the tokens inside tags.
 *
 * It follows jinja2's lexer with trim_blocks=True and lstrip_blocks=True:
 *  - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` all after it;
 *  - lstrip_blocks: spaces and tabs between the start of a line and a `{%` or `{#` are removed
 *    (not before `{{`), unless the tag is written `{%+`;
 *  - trim_blocks: one newline right after `%}` or `#}` is removed, unless written `+%}`;
 *  - `{% raw %}...{% endraw %}` is passed through as text;
 *  - the end of a tag is only recognized when (), [] and {} inside it are balanced.
 * The source arrives with newlines already normalized to "\n" and one trailing newline dropped
 * (chat_template.c does that, as jinja2 does). Strings are unescaped like Python's
 * unicode-escape codec, which jinja2 uses.
 */
#include "tokenizer/jinja_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jx_state *st;
    const char *s;
    size_t n;
    size_t pos;
    int line; /* line at pos */
    bool line_starting;
    jx_token *toks;
    size_t ntok, cap;
    char stack[256]; /* closing brackets expected inside the current tag */
    int depth;
} lexer;

static void advance(lexer *lx, size_t to) {
    for (size_t i = lx->pos; i < to; i++)
        if (lx->s[i] == '\n') lx->line++;
    lx->pos = to;
}

static jx_token *push(lexer *lx, int type, int line, const char *p, size_t n) {
    if (lx->ntok == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        lx->toks = jx_grow(lx->st, lx->toks, lx->ntok * sizeof *lx->toks, cap * sizeof *lx->toks);
        lx->cap = cap;
    }
    jx_token *t = &lx->toks[lx->ntok++];
    memset(t, 0, sizeof *t);
    t->type = (uint8_t)type;
    t->line = line;
    t->p = p;
    t->n = n;
    return t;
}

/* Length of the Python-whitespace character at p (0 if none). */
static int space_at(const char *p, size_t n) {
    if (n == 0) return 0;
    unsigned char c = (unsigned char)p[0];
    if (c < 0x80) return jx_py_isspace(c) ? 1 : 0;
    int len;
    uint32_t cp = jx_utf8_decode(p, n, &len);
    return jx_py_isspace(cp) ? len : 0;
}

/* Byte length of text[0..n) with trailing whitespace removed (str.rstrip()). */
static size_t rstrip_len(const char *p, size_t n) {
    while (n > 0) {
        size_t start = n - 1;
        while (start > 0 && ((unsigned char)p[start] & 0xC0) == 0x80) start--;
        if (space_at(p + start, n - start) != (int)(n - start)) break;
        n = start;
    }
    return n;
}

static size_t skip_spaces(const char *p, size_t n, size_t i) {
    int k;
    while (i < n && (k = space_at(p + i, n - i)) > 0) i += (size_t)k;
    return i;
}

/* Emits the text before a tag opener, applying `-` and lstrip_blocks. */
static void emit_text(lexer *lx, size_t start, size_t end, char sign, bool lstrip_allowed) {
    const char *text = lx->s + start;
    size_t n = end - start;
    if (sign == '-') {
        n = rstrip_len(text, n);
    } else if (sign != '+' && lstrip_allowed) {
        size_t l_pos = 0;
        for (size_t i = n; i > 0; i--)
            if (text[i - 1] == '\n') {
                l_pos = i;
                break;
            }
        if ((l_pos > 0 || lx->line_starting) && l_pos < n && skip_spaces(text, n, l_pos) == n) n = l_pos;
    }
    if (n > 0) push(lx, T_DATA, lx->line, text, n);
}

/* Is `name` (a keyword inside {% %}) at i, followed by optional spaces and the tag end? Returns
 * the position after the closer (with its whitespace control applied) or 0. */
static size_t match_raw_tag(lexer *lx, size_t i, const char *word, bool trim_newline) {
    const char *s = lx->s;
    size_t n = lx->n;
    i = skip_spaces(s, n, i);
    size_t wl = strlen(word);
    if (i + wl > n || memcmp(s + i, word, wl) != 0) return 0;
    i = skip_spaces(s, n, i + wl);
    if (i + 3 <= n && s[i] == '-' && s[i + 1] == '%' && s[i + 2] == '}') return skip_spaces(s, n, i + 3);
    if (trim_newline && i + 3 <= n && s[i] == '+' && s[i + 1] == '%' && s[i + 2] == '}') return i + 3;
    if (i + 2 <= n && s[i] == '%' && s[i + 1] == '}') {
        i += 2;
        if (trim_newline && i < n && s[i] == '\n') i++;
        return i;
    }
    return 0;
}

static void lex_raw(lexer *lx) {
    /* content up to {% endraw %}, with the usual whitespace control before that tag */
    const char *s = lx->s;
    for (size_t i = lx->pos; i + 1 < lx->n; i++) {
        if (s[i] != '{' || s[i + 1] != '%') continue;
        size_t j = i + 2;
        char sign = 0;
        if (j < lx->n && (s[j] == '-' || s[j] == '+')) sign = s[j++];
        size_t end = match_raw_tag(lx, j, "endraw", true);
        if (!end) continue;
        emit_text(lx, lx->pos, i, sign, true);
        lx->line_starting = s[end - 1] == '\n';
        advance(lx, end);
        return;
    }
    jx_fail_syntax(lx->st, lx->line, "missing end of raw directive");
}

static void unescape_string(lexer *lx, jx_token *t, const char *p, size_t n) {
    jx_state *st = lx->st;
    char *out = jx_alloc(st, n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] != '\\' || i + 1 >= n) {
            out[o++] = p[i++];
            continue;
        }
        char c = p[i + 1];
        i += 2;
        uint32_t cp;
        int digits = 0;
        switch (c) {
        case '\n': continue;
        case '\\': out[o++] = '\\'; continue;
        case '\'': out[o++] = '\''; continue;
        case '"': out[o++] = '"'; continue;
        case 'a': out[o++] = '\a'; continue;
        case 'b': out[o++] = '\b'; continue;
        case 'f': out[o++] = '\f'; continue;
        case 'n': out[o++] = '\n'; continue;
        case 'r': out[o++] = '\r'; continue;
        case 't': out[o++] = '\t'; continue;
        case 'v': out[o++] = '\v'; continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        case 'N': jx_fail_unsupported(st, t->line, "unsupported string escape '\\N{...}'");
        default:
            if (c >= '0' && c <= '7') {
                cp = (uint32_t)(c - '0');
                for (int k = 0; k < 2 && i < n && p[i] >= '0' && p[i] <= '7'; k++) cp = cp * 8 + (uint32_t)(p[i++] - '0');
                o += (size_t)jx_utf8_encode(cp, out + o);
                continue;
            }
            out[o++] = '\\';
            if ((unsigned char)c >= 0x80) {
                /* Python's backslashreplace + unicode-escape turns "\é" into the text "\xe9" */
                int len;
                cp = jx_utf8_decode(p + i - 1, n - (i - 1), &len);
                i = i - 1 + (size_t)len;
                char hex[16];
                int k = cp < 0x100 ? snprintf(hex, sizeof hex, "x%02x", cp)
                        : cp < 0x10000 ? snprintf(hex, sizeof hex, "u%04x", cp)
                                       : snprintf(hex, sizeof hex, "U%08x", cp);
                memcpy(out + o, hex, (size_t)k);
                o += (size_t)k;
            } else {
                out[o++] = c;
            }
            continue;
        }
        cp = 0;
        for (int k = 0; k < digits; k++) {
            char h = i < n ? p[i] : 0;
            int v = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
            if (v < 0) jx_fail_syntax(st, t->line, "truncated \\%c escape in a string", c);
            cp = cp * 16 + (uint32_t)v;
            i++;
        }
        if (cp > 0x10FFFF) jx_fail_syntax(st, t->line, "illegal Unicode character in a string");
        if (cp >= 0xD800 && cp <= 0xDFFF) jx_fail_unsupported(st, t->line, "unsupported surrogate escape in a string");
        o += (size_t)jx_utf8_encode(cp, out + o);
    }
    t->value = jv_str(out, o);
}

static bool is_name_start(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
static bool is_name_char(unsigned char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}
static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Digits with single underscores between them, as in (\d+_)*\d+ ; returns the end or i. */
static size_t scan_digits(const char *s, size_t n, size_t i) {
    if (i >= n || !is_digit(s[i])) return i;
    size_t j = i;
    while (j < n && is_digit(s[j])) {
        j++;
        if (j + 1 < n && s[j] == '_' && is_digit(s[j + 1])) j++;
    }
    return j;
}

static size_t scan_float(const char *s, size_t n, size_t i) {
    if (i > 0 && s[i - 1] == '.') return 0;
    size_t j = scan_digits(s, n, i);
    if (j == i) return 0;
    size_t frac_end = 0;
    if (j < n && s[j] == '.') {
        size_t k = scan_digits(s, n, j + 1);
        if (k > j + 1) frac_end = k;
    }
    size_t after = frac_end ? frac_end : j;
    if (after < n && (s[after] == 'e' || s[after] == 'E')) {
        size_t k = after + 1;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        size_t e = scan_digits(s, n, k);
        if (e > k) return e;
    }
    return frac_end;
}

static size_t scan_int(const char *s, size_t n, size_t i, int *base) {
    *base = 10;
    if (s[i] == '0' && i + 1 < n && strchr("bBoOxX", s[i + 1]) && s[i + 1]) {
        char k = (char)(s[i + 1] | 0x20);
        *base = k == 'b' ? 2 : k == 'o' ? 8 : 16;
        size_t j = i + 2;
        size_t start = j;
        for (;;) {
            size_t q = j;
            if (q < n && s[q] == '_') q++;
            char c = q < n ? (char)(s[q] | 0x20) : 0;
            bool ok = *base == 2 ? (c == '0' || c == '1') : *base == 8 ? (c >= '0' && c <= '7')
                                                                     : (is_digit(c) || (c >= 'a' && c <= 'f'));
            if (!ok) break;
            j = q + 1;
        }
        if (j > start) return j;
        *base = 10;
        return i + 1; /* just the 0 */
    }
    if (s[i] == '0') {
        size_t j = i + 1;
        while (j < n && (s[j] == '0' || (s[j] == '_' && j + 1 < n && s[j + 1] == '0'))) j++;
        return j;
    }
    return scan_digits(s, n, i);
}

static void lex_number_value(lexer *lx, jx_token *t, bool is_float, int base) {
    char buf[128];
    size_t k = 0;
    for (size_t i = 0; i < t->n && k + 1 < sizeof buf; i++)
        if (t->p[i] != '_') buf[k++] = t->p[i];
    buf[k] = 0;
    if (k + 1 >= sizeof buf) jx_fail_unsupported(lx->st, t->line, "unsupported number literal (too long)");
    errno = 0;
    if (is_float) {
        t->value = jv_float(strtod(buf, NULL));
        return;
    }
    const char *digits = base == 10 ? buf : buf + 2;
    long long v = strtoll(digits, NULL, base);
    if (errno == ERANGE) jx_fail_unsupported(lx->st, t->line, "unsupported integer literal beyond 64 bits");
    t->value = jv_int(v);
}

static const struct {
    const char *op;
    int type;
} OPERATORS[] = {
    {"//", T_FLOORDIV}, {"**", T_POW}, {"==", T_EQ}, {"!=", T_NE}, {">=", T_GTEQ}, {"<=", T_LTEQ},
    {"+", T_ADD}, {"-", T_SUB}, {"/", T_DIV}, {"*", T_MUL}, {"%", T_MOD}, {"~", T_TILDE},
    {"[", T_LBRACKET}, {"]", T_RBRACKET}, {"(", T_LPAREN}, {")", T_RPAREN}, {"{", T_LBRACE},
    {"}", T_RBRACE}, {">", T_GT}, {"<", T_LT}, {"=", T_ASSIGN}, {".", T_DOT}, {":", T_COLON},
    {"|", T_PIPE}, {",", T_COMMA}, {";", T_SEMICOLON},
};

/* Tokens inside {{ }} or {% %} up to and including the closer. */
static void lex_tag(lexer *lx, bool block) {
    const char *s = lx->s;
    size_t n = lx->n;
    lx->depth = 0;
    for (;;) {
        size_t i = lx->pos;
        if (i >= n) jx_fail_syntax(lx->st, lx->line, "unexpected end of template, the tag is not closed");
        /* the closer, only with balanced brackets */
        if (lx->depth == 0) {
            char close = block ? '%' : '}';
            if (s[i] == '-' && i + 2 < n && s[i + 1] == close && s[i + 2] == '}') {
                push(lx, block ? T_BLOCK_END : T_VAR_END, lx->line, s + i, 3);
                size_t end = skip_spaces(s, n, i + 3);
                lx->line_starting = end > i + 3 && s[end - 1] == '\n';
                advance(lx, end);
                return;
            }
            if (block && s[i] == '+' && i + 2 < n && s[i + 1] == '%' && s[i + 2] == '}') {
                push(lx, T_BLOCK_END, lx->line, s + i, 3);
                lx->line_starting = false;
                advance(lx, i + 3);
                return;
            }
            if (s[i] == close && i + 1 < n && s[i + 1] == '}') {
                push(lx, block ? T_BLOCK_END : T_VAR_END, lx->line, s + i, 2);
                size_t end = i + 2;
                if (block && end < n && s[end] == '\n') end++;
                lx->line_starting = s[end - 1] == '\n';
                advance(lx, end);
                return;
            }
        }
        int sp = space_at(s + i, n - i);
        if (sp > 0) {
            advance(lx, skip_spaces(s, n, i));
            continue;
        }
        char c = s[i];
        size_t end;
        int base;
        if ((end = scan_float(s, n, i)) > i) {
            jx_token *t = push(lx, T_FLOAT, lx->line, s + i, end - i);
            lex_number_value(lx, t, true, 10);
            advance(lx, end);
            continue;
        }
        if (is_digit(c)) {
            end = scan_int(s, n, i, &base);
            jx_token *t = push(lx, T_INT, lx->line, s + i, end - i);
            lex_number_value(lx, t, false, base);
            advance(lx, end);
            continue;
        }
        if (is_name_start((unsigned char)c)) {
            end = i + 1;
            while (end < n && is_name_char((unsigned char)s[end])) end++;
            if ((unsigned char)c >= 0x80) {
                int len;
                uint32_t cp = jx_utf8_decode(s + i, n - i, &len);
                if (!jx_is_alpha(cp)) jx_fail_syntax(lx->st, lx->line, "unexpected character in a tag");
            }
            push(lx, T_NAME, lx->line, s + i, end - i);
            advance(lx, end);
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != c) j += (s[j] == '\\' && j + 1 < n) ? 2 : 1;
            if (j >= n) jx_fail_syntax(lx->st, lx->line, "unterminated string");
            jx_token *t = push(lx, T_STRING, lx->line, s + i, j + 1 - i);
            unescape_string(lx, t, s + i + 1, j - i - 1);
            advance(lx, j + 1);
            continue;
        }
        int type = -1;
        size_t oplen = 0;
        for (size_t k = 0; k < sizeof OPERATORS / sizeof OPERATORS[0]; k++) {
            size_t l = strlen(OPERATORS[k].op);
            if (i + l <= n && memcmp(s + i, OPERATORS[k].op, l) == 0) {
                type = OPERATORS[k].type;
                oplen = l;
                break;
            }
        }
        if (type < 0) jx_fail_syntax(lx->st, lx->line, "unexpected char '%c'", c);
        if (type == T_LPAREN || type == T_LBRACKET || type == T_LBRACE) {
            if (lx->depth >= (int)sizeof lx->stack)
                jx_fail_unsupported(lx->st, lx->line, "unsupported bracket nesting deeper than %d", (int)sizeof lx->stack);
            lx->stack[lx->depth++] = type == T_LPAREN ? ')' : type == T_LBRACKET ? ']' : '}';
        } else if (type == T_RPAREN || type == T_RBRACKET || type == T_RBRACE) {
            if (lx->depth == 0) jx_fail_syntax(lx->st, lx->line, "unexpected '%c'", c);
            char want = lx->stack[--lx->depth];
            if (want != c) jx_fail_syntax(lx->st, lx->line, "unexpected '%c', expected '%c'", c, want);
        }
        push(lx, type, lx->line, s + i, oplen);
        advance(lx, i + oplen);
    }
}

static void lex_comment(lexer *lx) {
    const char *s = lx->s;
    size_t n = lx->n;
    size_t body = lx->pos;
    for (size_t q = body; q + 1 < n; q++) {
        if (s[q] != '#' || s[q + 1] != '}') continue;
        size_t end = q + 2;
        if (q > body && s[q - 1] == '-') {
            end = skip_spaces(s, n, end);
        } else if (q > body && s[q - 1] == '+') {
            /* keep the newline */
        } else if (end < n && s[end] == '\n') {
            end++;
        }
        lx->line_starting = s[end - 1] == '\n';
        advance(lx, end);
        return;
    }
    jx_fail_syntax(lx->st, lx->line, "missing end of comment tag");
}

jx_token *jx_lex(jx_state *st, size_t *ntok) {
    lexer lx = {.st = st, .s = st->src, .n = st->src_len, .line = 1, .line_starting = true};
    const char *s = lx.s;
    size_t n = lx.n;
    while (lx.pos < n) {
        /* the next tag opener */
        size_t i = lx.pos;
        char kind = 0;
        while (i + 1 < n) {
            if (s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#')) {
                kind = s[i + 1];
                break;
            }
            i++;
        }
        if (!kind) {
            push(&lx, T_DATA, lx.line, s + lx.pos, n - lx.pos);
            advance(&lx, n);
            break;
        }
        size_t j = i + 2;
        char sign = 0;
        if (j < n && (s[j] == '-' || s[j] == '+')) sign = s[j++];
        if (kind == '%') {
            size_t raw_end = match_raw_tag(&lx, j, "raw", false);
            if (raw_end) {
                emit_text(&lx, lx.pos, i, sign, true);
                lx.line_starting = s[raw_end - 1] == '\n';
                advance(&lx, raw_end);
                lex_raw(&lx);
                continue;
            }
        }
        emit_text(&lx, lx.pos, i, sign, kind != '{');
        lx.line_starting = false;
        advance(&lx, j);
        if (kind == '#') {
            lex_comment(&lx);
        } else {
            push(&lx, kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN, lx.line, s + i, j - i);
            lex_tag(&lx, kind == '%');
        }
    }
    push(&lx, T_EOF, lx.line, s + n, 0);
    *ntok = lx.ntok;
    return lx.toks;
}
