/*
 * redact.c - the redactor: its detectors (a PCRE2 pattern per format, then a validator), the
 * caller's words and patterns, scanning a text for spans (choosing among overlapping candidates)
 * and writing the text with the spans replaced.
 *
 * Built-in patterns match bytes (no UTF mode), so invalid UTF-8 is harmless and multi-byte
 * characters count as non-word characters around numbers ("电话13812345678" is found). The
 * caller's patterns are compiled in UTF mode with PCRE2_MATCH_INVALID_UTF.
 * Every pattern is JIT-compiled for complete and for hard-partial matching; the partial mode
 * tells the stream how much text a match may still need (redact_stream.c).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/error.h"
#include "trust/redact_check.h"
#include "trust/redact_impl.h"

typedef bool (*span_check_fn)(const char *s, size_t len);

typedef struct {
    ag_span_kind kind;
    const char *pattern;
    int group;            /* capture group that is the span (0: the whole match) */
    span_check_fn check;  /* NULL: the pattern suffices */
} detector_def;

/* In priority order: where candidates cover the same bytes, the first listed wins. */
static const detector_def DETECTORS[] = {
    {AG_SPAN_SECRET,
     "-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----[\\s\\S]{1,16384}?-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----", 0, NULL},
    {AG_SPAN_SECRET,
     "(?<![A-Za-z0-9_-])(?:sk-(?:proj-|ant-(?:api[0-9]{2}-)?)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}"
     "|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[abposr]-[A-Za-z0-9-]{10,}"
     "|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,})(?![A-Za-z0-9_-])",
     0, NULL},
    {AG_SPAN_SECRET,
     "(?i)(?<![A-Za-z0-9_])(?:api[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token"
     "|password|passwd|pwd|\xe5\xaf\x86\xe7\xa0\x81)[\"']?[ \\t]{0,3}(?::|=|\xef\xbc\x9a)[ \\t]{0,3}[\"']?"
     "([^\\s\"',;<>{}$*\xef\xbc\x8c\xe3\x80\x82][^\\s\"',;\xef\xbc\x8c\xe3\x80\x82]{5,199})",
     1, NULL},
    {AG_SPAN_SECRET, "(?i)(?<![A-Za-z0-9_])bearer[ \\t]+([A-Za-z0-9._~+/-]{16,}=*)", 1, NULL},
    {AG_SPAN_CN_ID, "(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])", 0, ag_check_cn_id},
    {AG_SPAN_BANK_CARD,
     "(?<![0-9A-Za-z.-])(?:[0-9]{4}(?:[ -][0-9]{4}){2,3}(?:[ -]?[0-9]{1,3})?|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}"
     "|[0-9]{13,19})(?![0-9A-Za-z]|[.-][0-9])",
     0, ag_check_bank_card},
    {AG_SPAN_PHONE, "(?<![0-9A-Za-z+.-])(?:(?:\\+|00)?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9A-Za-z]|[.-][0-9])",
     0, ag_check_cn_mobile},
    {AG_SPAN_PHONE,
     "(?<![0-9A-Za-z+])\\+[1-9][0-9]{0,2}[ .-]?(?:\\([0-9]{1,4}\\)[ .-]?)?[0-9]{1,5}(?:[ .-]?[0-9]{2,5}){1,5}"
     "(?![0-9A-Za-z]|[.-][0-9])",
     0, ag_check_intl_phone},
    {AG_SPAN_PHONE,
     "(?<![0-9A-Za-z+.-])(?:\\([2-9][0-9]{2}\\) ?|[2-9][0-9]{2}[.-])[2-9][0-9]{2}[.-][0-9]{4}(?![0-9A-Za-z]|[.-][0-9])",
     0, NULL},
    {AG_SPAN_PHONE, "(?<![0-9A-Za-z+.-])0[1-9][0-9]{1,2}-[2-9][0-9]{6,7}(?![0-9A-Za-z]|[.-][0-9])", 0, NULL},
    {AG_SPAN_EMAIL,
     "(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+"
     "[A-Za-z]{2,24}(?![A-Za-z0-9-])",
     0, NULL},
    {AG_SPAN_IPV6,
     "(?<![0-9A-Za-z:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?:(?<=:)(?:[0-9]{1,3}\\.){3}[0-9]{1,3})?"
     "(?![0-9A-Za-z:]|\\.[0-9])",
     0, ag_check_ipv6},
    {AG_SPAN_IPV4,
     "(?<![0-9A-Za-z.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
     "(?![0-9A-Za-z]|\\.[0-9])",
     0, NULL},
};
#define N_DETECTORS ((int)(sizeof DETECTORS / sizeof DETECTORS[0]))

typedef struct {
    pcre2_code *code;
    ag_span_kind kind;
    int group;
    span_check_fn check;
} detector;

struct ag_redactor {
    detector *detectors;
    int n_detectors;
    ag_redact_mode mode;
    char *salt;
};

const char *ag_span_kind_name(ag_span_kind kind) {
    static const char *const names[AG_SPAN_KIND_COUNT] = {"email", "phone", "cn_id", "bank_card",
                                                          "ipv4",  "ipv6",  "secret", "custom"};
    return (unsigned)kind < AG_SPAN_KIND_COUNT ? names[kind] : "?";
}

static ag_status add_detector(ag_redactor *r, ag_span_kind kind, const char *pattern, int group,
                              span_check_fn check, bool utf, ag_error *err) {
    int code;
    PCRE2_SIZE at;
    uint32_t options = utf ? PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF : 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return ag_error_set(err, AG_ERR_INVALID_ARG, "redaction pattern '%.80s': %s at offset %zu", pattern,
                            (const char *)msg, (size_t)at);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD); /* the interpreter when JIT is absent */
    r->detectors[r->n_detectors++] = (detector){re, kind, group, check};
    return AG_OK;
}

/* A pattern matching any of the words as whole words (ASCII word boundaries at ASCII ends). */
static char *words_pattern(const char *const *words, int n) {
    size_t cap = 16;
    for (int i = 0; i < n; i++) cap += 2 * strlen(words[i]) + 48;
    char *p = malloc(cap), *o = p;
    if (!p) return NULL;
    o += sprintf(o, "(?i)(?:");
    int used = 0;
    for (int i = 0; i < n; i++) {
        const unsigned char *w = (const unsigned char *)words[i];
        size_t len = strlen(words[i]);
        if (len == 0) continue;
        if (used++) *o++ = '|';
        bool ascii_start = w[0] < 0x80 && (w[0] == '_' || (w[0] >= '0' && w[0] <= '9') || ((w[0] | 32) >= 'a' && (w[0] | 32) <= 'z'));
        unsigned char last = w[len - 1];
        bool ascii_end = last < 0x80 && (last == '_' || (last >= '0' && last <= '9') || ((last | 32) >= 'a' && (last | 32) <= 'z'));
        if (ascii_start) o += sprintf(o, "(?<![A-Za-z0-9_])");
        for (size_t k = 0; k < len; k++) {
            unsigned char c = w[k];
            bool plain = c >= 0x80 || c == ' ' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
            if (!plain) *o++ = '\\';
            *o++ = (char)c;
        }
        if (ascii_end) o += sprintf(o, "(?![A-Za-z0-9_])");
    }
    if (!used) {
        free(p);
        return NULL;
    }
    sprintf(o, ")");
    return p;
}

ag_redactor *ag_redactor_new(const ag_redact_config *config, ag_error *err) {
    ag_redact_config c = config ? *config : (ag_redact_config){0};
    ag_redactor *r = calloc(1, sizeof *r);
    if (r) r->detectors = calloc((size_t)(N_DETECTORS + 1 + (c.n_patterns > 0 ? c.n_patterns : 0)), sizeof *r->detectors);
    if (!r || !r->detectors || (c.salt && !(r->salt = strdup(c.salt)))) {
        ag_redactor_free(r);
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->mode = c.mode;
    ag_status st = AG_OK;
    for (int i = 0; i < N_DETECTORS && !st; i++)
        if (!(c.kinds_off & (1u << DETECTORS[i].kind)))
            st = add_detector(r, DETECTORS[i].kind, DETECTORS[i].pattern, DETECTORS[i].group, DETECTORS[i].check,
                              false, err);
    if (!st && c.n_words > 0 && c.words && !(c.kinds_off & (1u << AG_SPAN_CUSTOM))) {
        char *p = words_pattern(c.words, c.n_words);
        if (p) st = add_detector(r, AG_SPAN_CUSTOM, p, 0, NULL, true, err);
        free(p);
    }
    for (int i = 0; !st && i < c.n_patterns && c.patterns && !(c.kinds_off & (1u << AG_SPAN_CUSTOM)); i++)
        st = add_detector(r, AG_SPAN_CUSTOM, c.patterns[i], 0, NULL, true, err);
    if (st) {
        ag_redactor_free(r);
        return NULL;
    }
    return r;
}

void ag_redactor_free(ag_redactor *r) {
    if (!r) return;
    for (int i = 0; i < r->n_detectors; i++) pcre2_code_free(r->detectors[i].code);
    free(r->detectors);
    free(r->salt);
    free(r);
}

static bool found_push(ag_span_list *l, ag_found s) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        ag_found *p = realloc(l->items, (size_t)cap * sizeof *p);
        if (!p) return false;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return true;
}

/* A candidate span and the rank of the detector that found it (lower wins ties). */
typedef struct {
    ag_found found;
    int rank;
} candidate;

typedef struct {
    candidate *items;
    int n, cap;
} candidate_list;

static bool candidate_push(candidate_list *l, candidate c) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        candidate *p = realloc(l->items, (size_t)cap * sizeof *p);
        if (!p) return false;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = c;
    return true;
}

/* The start of the next character after pos (UTF-8 lead bytes; invalid bytes count as one). */
static size_t next_char(const char *text, size_t len, size_t pos) {
    pos++;
    while (pos < len && ((unsigned char)text[pos] & 0xC0) == 0x80) pos++;
    return pos;
}

/* All accepted matches of one detector; lowers *hold to the start of a partial match. */
static bool scan_detector(const detector *d, int rank, const char *text, size_t len, size_t from, bool partial,
                          pcre2_match_data *md, candidate_list *cands, size_t *hold) {
    size_t pos = from;
    while (pos <= len) {
        int rc = pcre2_match(d->code, (PCRE2_SPTR)text, len, pos, partial ? PCRE2_PARTIAL_HARD : 0, md, NULL);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (rc == PCRE2_ERROR_PARTIAL) {
            if (ov[0] < *hold) *hold = ov[0];
            return true;
        }
        if (rc < 0) return true; /* no match (or a matching limit: nothing more from this detector) */
        size_t start = ov[2 * d->group], end = ov[2 * d->group + 1];
        bool found = start != PCRE2_UNSET && end > start && (!d->check || d->check(text + start, end - start));
        if (found && !candidate_push(cands, (candidate){{{d->kind, start, end}, ov[0]}, rank})) return false;
        /* on from the next character, not past the match: a candidate that starts inside this one
         * (e.g. "86 138..." after an IPv6 address ending in ":86" - the phone without its country
         * code) is kept in case this one loses to another detector's span */
        pos = next_char(text, len, ov[0]);
    }
    return true;
}

static int candidate_order(const void *pa, const void *pb) {
    const ag_span *a = &((const candidate *)pa)->found.span, *b = &((const candidate *)pb)->found.span;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    if (a->end != b->end) return a->end > b->end ? -1 : 1; /* longer first */
    return ((const candidate *)pa)->rank - ((const candidate *)pb)->rank; /* then the detector listed first */
}

struct ag_redact_scratch {
    pcre2_match_data **md; /* one per detector */
    int n;
};

ag_redact_scratch *ag_redact_scratch_new(const ag_redactor *r) {
    ag_redact_scratch *s = calloc(1, sizeof *s);
    if (!s || !(s->md = calloc((size_t)(r->n_detectors ? r->n_detectors : 1), sizeof *s->md))) {
        free(s);
        return NULL;
    }
    for (s->n = 0; s->n < r->n_detectors; s->n++)
        if (!(s->md[s->n] = pcre2_match_data_create_from_pattern(r->detectors[s->n].code, NULL))) {
            ag_redact_scratch_free(s);
            return NULL;
        }
    return s;
}

void ag_redact_scratch_free(ag_redact_scratch *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) pcre2_match_data_free(s->md[i]);
    free(s->md);
    free(s);
}

bool ag_redact_scan(const ag_redactor *r, const char *text, size_t len, size_t from, bool partial,
                    ag_span_list *out, size_t *hold) {
    return ag_redact_scan_with(r, NULL, text, len, from, partial, out, hold);
}

bool ag_redact_scan_with(const ag_redactor *r, ag_redact_scratch *scratch, const char *text, size_t len, size_t from,
                         bool partial, ag_span_list *out, size_t *hold) {
    out->n = 0;
    size_t hold_at = len;
    candidate_list cands = {0};
    bool ok = true;
    for (int i = 0; i < r->n_detectors && ok; i++) {
        pcre2_match_data *md = scratch && i < scratch->n ? scratch->md[i]
                                                         : pcre2_match_data_create_from_pattern(r->detectors[i].code, NULL);
        ok = md && scan_detector(&r->detectors[i], i, text, len, from, partial, md, &cands, &hold_at);
        if (!scratch || i >= scratch->n) pcre2_match_data_free(md);
    }
    if (ok && cands.n > 1) qsort(cands.items, (size_t)cands.n, sizeof *cands.items, candidate_order);
    size_t covered = from;
    for (int i = 0; ok && i < cands.n; i++) {
        ag_found f = cands.items[i].found;
        if (f.span.start < covered) continue; /* overlaps one already chosen: a longer or earlier one */
        ok = found_push(out, f);
        covered = f.span.end;
    }
    free(cands.items);
    if (hold) *hold = hold_at;
    return ok;
}

int ag_redact_find(const ag_redactor *r, const char *text, size_t len, ag_span *spans, int cap) {
    ag_span_list l = {0};
    if (!ag_redact_scan(r, text, len, 0, false, &l, NULL)) {
        free(l.items);
        return -1;
    }
    for (int i = 0; i < l.n && i < cap; i++) spans[i] = l.items[i].span;
    int n = l.n;
    free(l.items);
    return n;
}

bool ag_text_buf_append(ag_text_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return false;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static bool append_replacement(const ag_redactor *r, const char *text, ag_span s, ag_text_buf *b) {
    char label[24];
    size_t n = 0;
    for (const char *k = ag_span_kind_name(s.kind); *k && n < sizeof label - 1; k++)
        label[n++] = (char)(*k >= 'a' && *k <= 'z' ? *k - 32 : *k);
    label[n] = '\0';
    char out[64];
    if (r->mode == AG_REDACT_HASH) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
                  (!r->salt || EVP_DigestUpdate(ctx, r->salt, strlen(r->salt))) &&
                  EVP_DigestUpdate(ctx, text + s.start, s.end - s.start) && EVP_DigestFinal_ex(ctx, digest, &dlen);
        EVP_MD_CTX_free(ctx);
        if (!ok) return false;
        snprintf(out, sizeof out, "[%s:%02x%02x%02x%02x]", label, digest[0], digest[1], digest[2], digest[3]);
    } else {
        snprintf(out, sizeof out, "[%s]", label);
    }
    return ag_text_buf_append(b, out, strlen(out));
}

bool ag_redact_emit(const ag_redactor *r, const char *text, size_t start, size_t end, const ag_span_list *spans,
                    ag_text_buf *b) {
    size_t at = start;
    for (int i = 0; i < spans->n; i++) {
        ag_span s = spans->items[i].span;
        if (s.start < at || s.end > end) continue;
        if (!ag_text_buf_append(b, text + at, s.start - at) || !append_replacement(r, text, s, b)) return false;
        at = s.end;
    }
    return ag_text_buf_append(b, text + at, end - at);
}

char *ag_redact_text(const ag_redactor *r, const char *text, size_t len, size_t *out_len) {
    ag_span_list l = {0};
    ag_text_buf b = {0};
    bool ok = ag_redact_scan(r, text, len, 0, false, &l, NULL) && ag_redact_emit(r, text, 0, len, &l, &b) &&
              ag_text_buf_append(&b, "", 0);
    free(l.items);
    if (!ok) {
        free(b.data);
        return NULL;
    }
    if (out_len) *out_len = b.len;
    return b.data;
}
