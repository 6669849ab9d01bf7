/*
 * pretok.c - regular-expression word splitting with PCRE2 (see pretok.h).
 *
 * Patterns are compiled in UTF mode with Unicode properties and, where the library supports it,
 * JIT-compiled (then matched with pcre2_jit_match, which skips the per-call checks). Each piece
 * of the previous pass is matched as its own subject, so no pattern sees beyond it. Subjects are
 * valid UTF-8 (checked once per text; invalid bytes are replaced in a copy), so matching runs with
 * PCRE2_NO_UTF_CHECK. A match that fails for a resource limit rather than a mismatch leaves the
 * rest of that piece as one piece; when the JIT runs out of its default stack, the call gets a
 * larger one of its own and retries.
 */
#include "tokenizer/pretok.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/utf8_scan.h"

#define JIT_STACK_START (64 * 1024)
#define JIT_STACK_MAX (16 * 1024 * 1024)

struct ag_pretok {
    int n;
    pcre2_code **codes; /* [n] */
    bool *jit;          /* [n] JIT-compiled */
};

/* ---------------------------------------------------------------- building */

void ag_pretok_free(ag_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->codes[i]);
    free(p->codes);
    free(p->jit);
    free(p);
}

ag_pretok *ag_pretok_new(const char *const *patterns, ag_error *err) {
    int n = 0;
    while (patterns && patterns[n]) n++;
    if (n == 0) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "pre-tokenizer: no patterns");
        return NULL;
    }
    ag_pretok *p = calloc(1, sizeof *p);
    if (p) {
        p->codes = calloc((size_t)n, sizeof *p->codes);
        p->jit = calloc((size_t)n, sizeof *p->jit);
    }
    if (!p || !p->codes || !p->jit) {
        ag_error_set(err, AG_ERR_NOMEM, "pre-tokenizer: out of memory");
        ag_pretok_free(p);
        return NULL;
    }
    const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY;
    for (int i = 0; i < n; i++, p->n++) {
        int code;
        PCRE2_SIZE at;
        p->codes[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED, options, &code, &at, NULL);
        if (!p->codes[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            ag_error_set(err, code == PCRE2_ERROR_HEAPLIMIT || code == PCRE2_ERROR_NOMEMORY ? AG_ERR_NOMEM
                                                                                             : AG_ERR_INVALID_ARG,
                         "pre-tokenizer pattern %d: %s at offset %zu", i, (const char *)msg, (size_t)at);
            ag_pretok_free(p);
            return NULL;
        }
        p->jit[i] = pcre2_jit_compile(p->codes[i], PCRE2_JIT_COMPLETE) == 0;
    }
    return p;
}

/* ---------------------------------------------------------------- scratch */

void ag_pretok_scratch_free(ag_pretok_scratch *s) {
    free(s->ends);
    free(s->tmp);
    free(s->clean);
    free(s->orig);
    pcre2_match_data_free(s->match_data);
    pcre2_match_context_free(s->match_ctx);
    pcre2_jit_stack_free(s->jit_stack);
    *s = (ag_pretok_scratch){0};
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static bool push_end(size_t **list, size_t *n, size_t *cap, size_t end) {
    if (*n == *cap && !grow((void **)list, cap, *n + 1, sizeof **list)) return false;
    (*list)[(*n)++] = end;
    return true;
}

/* A private JIT stack (and the match context that hands it to PCRE2), for deep backtracking. */
static bool add_jit_stack(ag_pretok_scratch *s) {
    s->match_ctx = pcre2_match_context_create(NULL);
    s->jit_stack = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, NULL);
    if (!s->match_ctx || !s->jit_stack) return false;
    pcre2_jit_stack_assign(s->match_ctx, NULL, s->jit_stack);
    return true;
}

/* ---------------------------------------------------------------- matching */

typedef enum { FOUND, NONE, OUT_OF_MEMORY } find_result;

/* The first match of pattern k in subj[0..len) at or after pos: [*ms, *me). */
static find_result find(const ag_pretok *p, int k, ag_pretok_scratch *s, const char *subj, size_t len, size_t pos,
                        size_t *ms, size_t *me) {
    pcre2_match_data *md = s->match_data;
    for (;;) {
        int rc = p->jit[k] ? pcre2_jit_match(p->codes[k], (PCRE2_SPTR)subj, len, pos, 0, md, s->match_ctx)
                           : pcre2_match(p->codes[k], (PCRE2_SPTR)subj, len, pos, PCRE2_NO_UTF_CHECK, md,
                                         s->match_ctx);
        if (rc >= 0) {
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            *ms = ov[0];
            *me = ov[1];
            return FOUND;
        }
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !s->jit_stack) {
            if (!add_jit_stack(s)) return OUT_OF_MEMORY;
            continue;
        }
        return NONE; /* no match, or a resource limit: the rest stays one piece */
    }
}

static size_t char_len(const char *s, size_t avail) {
    uint32_t cp;
    size_t n = ag_utf8_decode((const uint8_t *)s, avail, &cp);
    return n ? n : 1;
}

/* Cuts piece [start, end) of subj with pattern k, appending the new piece ends to s->tmp. */
static bool cut_piece(const ag_pretok *p, int k, ag_pretok_scratch *s, const char *subj, size_t start, size_t end,
                      size_t *n_out) {
    const char *piece = subj + start;
    size_t len = end - start, pos = 0, last = 0;
    while (pos < len) {
        size_t ms, me;
        find_result r = find(p, k, s, piece, len, pos, &ms, &me);
        if (r == OUT_OF_MEMORY) return false;
        if (r == NONE) break;
        if (me == ms) { /* an empty match splits nothing: look again one character further */
            pos = ms + char_len(piece + ms, len - ms);
            continue;
        }
        if (ms > last && !push_end(&s->tmp, n_out, &s->tmp_cap, start + ms)) return false;
        if (!push_end(&s->tmp, n_out, &s->tmp_cap, start + me)) return false;
        last = pos = me;
    }
    return last == len || push_end(&s->tmp, n_out, &s->tmp_cap, end);
}

/* One pass: every piece of s->ends is cut by pattern k; the result replaces s->ends. */
static bool pass(const ag_pretok *p, int k, ag_pretok_scratch *s, const char *subj) {
    size_t n_out = 0, start = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!cut_piece(p, k, s, subj, start, s->ends[i], &n_out)) return false;
        start = s->ends[i];
    }
    size_t *t = s->ends, tc = s->cap;
    s->ends = s->tmp, s->cap = s->tmp_cap, s->n = n_out;
    s->tmp = t, s->tmp_cap = tc;
    return true;
}

/* ---------------------------------------------------------------- invalid UTF-8 */

/* s->clean = text with every byte that starts no valid sequence replaced by U+FFFD;
 * s->orig[j] = the original offset of clean offset j (for j at character starts, and the end). */
static bool clean_text(ag_pretok_scratch *s, const char *text, size_t len, size_t *clean_len) {
    if (len > SIZE_MAX / 3 - 1) return false;
    if (!grow((void **)&s->clean, &s->clean_cap, 3 * len, 1) ||
        !grow((void **)&s->orig, &s->orig_cap, 3 * len + 1, sizeof *s->orig))
        return false;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = ag_utf8_decode((const uint8_t *)text + i, len - i, &cp);
        if (n) {
            memcpy(s->clean + o, text + i, n);
        } else {
            memcpy(s->clean + o, "\xEF\xBF\xBD", 3);
        }
        size_t w = n ? n : 3;
        for (size_t k = 0; k < w; k++) s->orig[o + k] = i;
        o += w;
        i += n ? n : 1;
    }
    s->orig[o] = len;
    *clean_len = o;
    return true;
}

/* ---------------------------------------------------------------- ag_pretok_split */

bool ag_pretok_split(const ag_pretok *p, ag_pretok_scratch *s, const char *text, size_t len) {
    s->n = 0;
    if (len == 0) return true;
    if (!s->match_data && !(s->match_data = pcre2_match_data_create(1, NULL))) return false;
    const char *subj = text;
    size_t subj_len = len;
    bool cleaned = !ag_utf8_valid(text, len);
    if (cleaned) {
        if (!clean_text(s, text, len, &subj_len)) return false;
        subj = s->clean;
    }
    if (!push_end(&s->ends, &s->n, &s->cap, subj_len)) return false;
    for (int k = 0; k < p->n; k++)
        if (!pass(p, k, s, subj)) return false;
    if (cleaned)
        for (size_t i = 0; i < s->n; i++) s->ends[i] = s->orig[s->ends[i]];
    return true;
}
