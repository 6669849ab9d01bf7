/*
 * redact_impl.h - what redact.c shares with redact_stream.c: scanning a buffer for spans (with
 * partial matching, to learn where a match may still be growing) and writing replacements.
 */
#ifndef AG_TRUST_REDACT_IMPL_H
#define AG_TRUST_REDACT_IMPL_H

#include <stdbool.h>

#include "autoglm/redact.h"

/* A span and where the match that found it starts (before the span when the pattern matched a
 * prefix such as "password=" that is not itself redacted). */
typedef struct {
    ag_span span;
    size_t match_start;
} ag_found;

typedef struct {
    ag_found *items;
    int n, cap;
} ag_span_list;

/* Finds the spans of text[0..len) that start at or after `from` (bytes before it are context for
 * look-behinds), sorted and without overlaps, into *out (reset first). With partial, *hold
 * receives the start of the earliest match that reached the end of the text and could still
 * grow (len when none). Returns false when out of memory. */
bool ag_redact_scan(const ag_redactor *r, const char *text, size_t len, size_t from, bool partial,
                    ag_span_list *out, size_t *hold);

/* Match data for each detector of r, made once and reused by every scan of a stream (instead
 * of one allocation per detector per scan). */
typedef struct ag_redact_scratch ag_redact_scratch;
ag_redact_scratch *ag_redact_scratch_new(const ag_redactor *r); /* NULL when out of memory */
void ag_redact_scratch_free(ag_redact_scratch *s);
/* ag_redact_scan with the scratch's match data (scratch NULL: allocated per call). */
bool ag_redact_scan_with(const ag_redactor *r, ag_redact_scratch *scratch, const char *text, size_t len, size_t from,
                         bool partial, ag_span_list *out, size_t *hold);

/* Appends text[start..end) to *buf with the spans inside it replaced. False when out of memory. */
typedef struct {
    char *data;
    size_t len, cap;
} ag_text_buf;
bool ag_redact_emit(const ag_redactor *r, const char *text, size_t start, size_t end, const ag_span_list *spans,
                    ag_text_buf *buf);
bool ag_text_buf_append(ag_text_buf *b, const char *s, size_t n);

#endif
