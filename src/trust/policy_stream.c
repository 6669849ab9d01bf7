/*
 * policy_stream.c - the output policy on streamed text: after each piece, the same decision as
 * ag_policy_check_output on the whole text so far, without judging the whole text again.
 *
 * The stream keeps the text (patterns see all of it: anchors, lookbehinds, \b) and, per deny
 * matcher of the rules that apply, the offset from which a match can still begin; earlier
 * starts were proven dead at an earlier piece. A keyword of k bytes can only newly match in the
 * last k - 1 bytes of the old text plus the new piece. A pattern is matched from its offset (one
 * match data per pattern, made once); when it does not match, a partial match
 * (PCRE2_PARTIAL_HARD) finds the leftmost start that more text could still complete - nothing
 * before it can - or, without one, the end of the text (kept back to the first byte of an
 * incomplete UTF-8 character at the end). So keyword rules cost time linear in the reply, and a
 * pattern rescans only a tail that may still become a match.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trust/policy_impl.h"

typedef struct {
    const matcher *m;
    const rule *r;
    size_t from;            /* no match of m begins before this offset */
    pcre2_match_data *md;   /* patterns: made once */
} watch;

struct ag_policy_stream {
    char *text;             /* everything pushed, NUL-terminated */
    size_t len, cap;
    watch *w;
    int n;
    ag_policy_decision decision; /* sticky once refused */
};

ag_policy_stream *ag_policy_stream_new(const ag_policy *p, ag_role role, const char *tenant) {
    ag_policy_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->decision.allowed = true;
    int total = 0;
    for (int i = 0; p && i < p->n; i++)
        if (policy_rule_applies(&p->rules[i], role, tenant)) total += p->rules[i].n_deny_output;
    s->w = calloc((size_t)(total ? total : 1), sizeof *s->w);
    s->text = malloc(1);
    if (!s->w || !s->text) {
        ag_policy_stream_free(s);
        return NULL;
    }
    s->text[0] = '\0';
    for (int i = 0; p && i < p->n; i++) { /* in rule order: the first rule that matches is the one named */
        const rule *r = &p->rules[i];
        if (!policy_rule_applies(r, role, tenant)) continue;
        for (int j = 0; j < r->n_deny_output; j++) {
            watch *w = &s->w[s->n++];
            *w = (watch){.m = &r->deny_output[j], .r = r};
            if (w->m->re && !(w->md = pcre2_match_data_create_from_pattern(w->m->re, NULL))) {
                ag_policy_stream_free(s);
                return NULL;
            }
        }
    }
    return s;
}

void ag_policy_stream_free(ag_policy_stream *s) {
    if (!s) return;
    for (int i = 0; s->w && i < s->n; i++) pcre2_match_data_free(s->w[i].md);
    free(s->w);
    free(s->text);
    free(s);
}

/* Where an incomplete UTF-8 character at the end of text[0..len) begins; len when none. */
static size_t incomplete_tail(const char *text, size_t len) {
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        const unsigned char c = (unsigned char)text[len - back];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? len - back : len;
    }
    return len;
}

/* Does the watched matcher match now? Advances w->from past starts that can no longer match. */
static bool watch_matches(watch *w, const char *text, size_t len) {
    if (w->m->keyword) {
        const size_t k = strlen(w->m->keyword);
        if (policy_contains_ci(text + w->from, w->m->keyword)) return true;
        if (len >= k && len - (k - 1) > w->from) w->from = len - (k - 1);
        return false;
    }
    int rc = pcre2_match(w->m->re, (PCRE2_SPTR)text, len, w->from, 0, w->md, NULL);
    if (rc >= 0) return true;
    if (rc != PCRE2_ERROR_NOMATCH) return false; /* as the whole-text check: an error is no match */
    size_t keep = len;
    rc = pcre2_match(w->m->re, (PCRE2_SPTR)text, len, w->from, PCRE2_PARTIAL_HARD, w->md, NULL);
    if (rc == PCRE2_ERROR_PARTIAL) keep = pcre2_get_ovector_pointer(w->md)[0];
    else if (rc != PCRE2_ERROR_NOMATCH) keep = w->from; /* unsure: keep everything */
    const size_t tail = incomplete_tail(text, len);
    if (tail < keep) keep = tail;
    if (keep > w->from) w->from = keep;
    return false;
}

ag_policy_decision ag_policy_stream_push(ag_policy_stream *s, const char *piece, size_t len) {
    if (!s->decision.allowed) return s->decision;
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + len + 1) cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t) { /* cannot judge what it cannot keep: refuse rather than let it through unjudged */
            s->decision.allowed = false;
            snprintf(s->decision.rule, sizeof s->decision.rule, "%s", "(out of memory)");
            snprintf(s->decision.reason, sizeof s->decision.reason, "%s", "out of memory while judging the output");
            return s->decision;
        }
        s->text = t;
        s->cap = cap;
    }
    memcpy(s->text + s->len, piece, len);
    s->len += len;
    s->text[s->len] = '\0';
    const size_t visible = strlen(s->text); /* as the whole-text check, which stops at a NUL */
    for (int i = 0; i < s->n; i++)
        if (watch_matches(&s->w[i], s->text, visible)) {
            s->decision.allowed = false;
            snprintf(s->decision.rule, sizeof s->decision.rule, "%s", s->w[i].r->name);
            snprintf(s->decision.reason, sizeof s->decision.reason, "%s", "the output matches a denied topic");
            break;
        }
    return s->decision;
}
