/*
 * redact.h - finding and replacing sensitive data in text (public API of the trust layer's filter).
 *
 * A redactor finds spans of: e-mail addresses, phone numbers (mainland China mobile and
 * "0AA-NNNNNNNN" landline, international "+CC ..." numbers, North American "(NXX) NXX-XXXX"), mainland China resident ID numbers (18
 * characters, birth date and checksum verified), bank card numbers (13-19 digits, issuer prefix and
 * Luhn verified, grouped or not), IPv4 and IPv6 addresses, secrets (API keys of the common
 * providers, private key blocks, JSON web tokens, `password=...`-style assignments, bearer
 * tokens), and the caller's own words and regular expressions. Text is UTF-8; invalid bytes are
 * tolerated (they never belong to a span).
 *
 * The same filter works on a stream (model output token by token): it holds back only the text a
 * match could still need - the start of a possible match that touches the end of what has
 * arrived - and releases everything before it, so the streamed result equals the result on the
 * whole text.
 *
 * A redactor is immutable once made and may be shared by threads; a stream belongs to one thread.
 */
#ifndef AUTOGLM_REDACT_H
#define AUTOGLM_REDACT_H

#include <stddef.h>

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AG_SPAN_EMAIL = 0,
    AG_SPAN_PHONE,
    AG_SPAN_CN_ID,
    AG_SPAN_BANK_CARD,
    AG_SPAN_IPV4,
    AG_SPAN_IPV6,
    AG_SPAN_SECRET,
    AG_SPAN_CUSTOM,
    AG_SPAN_KIND_COUNT
} ag_span_kind;

/* "email", "phone", "cn_id", "bank_card", "ipv4", "ipv6", "secret", "custom" */
const char *ag_span_kind_name(ag_span_kind kind);

typedef struct {
    ag_span_kind kind;
    size_t start, end; /* byte offsets, [start, end) */
} ag_span;

typedef enum {
    AG_REDACT_MASK = 0, /* "[PHONE]", "[EMAIL]", ... */
    AG_REDACT_HASH,     /* "[PHONE:1a2b3c4d]": the first 8 hex digits of SHA-256(salt || text) */
} ag_redact_mode;

typedef struct {
    unsigned kinds_off;         /* bit (1u << kind) set: that detector is off */
    const char *const *words;   /* custom words, matched case-insensitively (ASCII) as whole words; may be NULL */
    int n_words;
    const char *const *patterns; /* custom PCRE2 patterns (UTF-8); may be NULL */
    int n_patterns;
    ag_redact_mode mode;
    const char *salt;           /* for AG_REDACT_HASH; NULL = none */
} ag_redact_config;

typedef struct ag_redactor ag_redactor;

/* NULL config: every detector, mask mode. Fails (AG_ERR_INVALID_ARG) on a custom pattern that does
 * not compile, naming it and the position. */
ag_redactor *ag_redactor_new(const ag_redact_config *config, ag_error *err);
void ag_redactor_free(ag_redactor *r);

/* The sensitive spans of text[0..len), sorted, not overlapping. Writes up to cap spans and returns
 * how many there are (call again with a larger buffer when that is more than cap), or -1 when out
 * of memory. */
int ag_redact_find(const ag_redactor *r, const char *text, size_t len, ag_span *spans, int cap);

/* The text with each span replaced as the mode says; malloc'd, NUL-terminated (*out_len its
 * length); NULL when out of memory. */
char *ag_redact_text(const ag_redactor *r, const char *text, size_t len, size_t *out_len);

/* ---- streaming */
typedef struct ag_redact_stream ag_redact_stream;
ag_redact_stream *ag_redact_stream_new(const ag_redactor *r);
void ag_redact_stream_free(ag_redact_stream *s);
/* Adds text; returns the redacted text that is now final (may be ""), valid until the next call
 * on s; *out_len its length. NULL when out of memory. */
const char *ag_redact_stream_push(ag_redact_stream *s, const char *text, size_t len, size_t *out_len);
/* The end of the stream: returns the rest, redacted. */
const char *ag_redact_stream_finish(ag_redact_stream *s, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
