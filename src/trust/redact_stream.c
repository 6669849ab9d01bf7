/*
 * redact_stream.c - redaction of text that arrives in pieces (model output, token by token).
 *
 * The stream keeps the text not yet released. After each piece it scans that text with partial
 * matching: a match that reaches the end of what has arrived could still grow or change, so the
 * text from the start of the earliest such match (or of a span that reaches into it) is held
 * back; everything before is final and is released with its spans replaced. A few released bytes
 * stay as context for the patterns' look-behinds. A held region never exceeds MAX_HOLD bytes: past
 * that the oldest part is released as it is (a secret longer than that is cut). The detectors'
 * PCRE2 match data are made once per stream (ag_redact_scratch).
 */
#include <stdlib.h>
#include <string.h>

#include "trust/redact_impl.h"

#define CONTEXT_BYTES 16
#define MAX_HOLD 20000

struct ag_redact_stream {
    const ag_redactor *r;
    ag_text_buf pending; /* [0, context) released context, then text not yet released */
    size_t context;
    ag_text_buf out;
    ag_span_list spans;
    ag_redact_scratch *scratch; /* match data reused by every scan (NULL: per scan) */
};

ag_redact_stream *ag_redact_stream_new(const ag_redactor *r) {
    ag_redact_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->r = r;
        s->scratch = ag_redact_scratch_new(r); /* out of memory: scans allocate their own */
    }
    return s;
}

void ag_redact_stream_free(ag_redact_stream *s) {
    if (!s) return;
    free(s->pending.data);
    free(s->out.data);
    free(s->spans.items);
    ag_redact_scratch_free(s->scratch);
    free(s);
}

/* Releases pending text up to `upto` (redacted into s->out) and keeps a little context. */
static void release(ag_redact_stream *s, size_t upto) {
    size_t keep_from = upto > CONTEXT_BYTES ? upto - CONTEXT_BYTES : 0;
    memmove(s->pending.data, s->pending.data + keep_from, s->pending.len - keep_from);
    s->pending.len -= keep_from;
    s->pending.data[s->pending.len] = '\0';
    s->context = upto - keep_from;
}

static const char *process(ag_redact_stream *s, bool final, size_t *out_len) {
    s->out.len = 0;
    if (!ag_text_buf_append(&s->out, "", 0)) return NULL;
    const char *text = s->pending.data ? s->pending.data : "";
    size_t len = s->pending.len, hold = len;
    if (!ag_redact_scan_with(s->r, s->scratch, text, len, s->context, !final, &s->spans, &hold)) return NULL;
    if (!final) {
        for (int i = 0; i < s->spans.n; i++) { /* a span reaching into the held text is not final */
            const ag_found *f = &s->spans.items[i];
            if (f->span.end > hold && f->match_start < hold) hold = f->match_start;
        }
        if (len - hold > MAX_HOLD) hold = len - MAX_HOLD;
        if (hold < s->context) hold = s->context;
    }
    if (!ag_redact_emit(s->r, text, s->context, hold, &s->spans, &s->out)) return NULL;
    if (hold > s->context) release(s, hold);
    *out_len = s->out.len;
    return s->out.data;
}

const char *ag_redact_stream_push(ag_redact_stream *s, const char *text, size_t len, size_t *out_len) {
    *out_len = 0;
    if (!ag_text_buf_append(&s->pending, text, len)) return NULL;
    return process(s, false, out_len);
}

const char *ag_redact_stream_finish(ag_redact_stream *s, size_t *out_len) {
    *out_len = 0;
    return process(s, true, out_len);
}
