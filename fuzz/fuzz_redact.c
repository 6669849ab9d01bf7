/*
 * fuzz_redact.c - libFuzzer target for the redaction filter: arbitrary bytes are redacted whole
 * and as a stream cut into pieces chosen by the input; neither may crash, spans must be sorted,
 * non-overlapping and inside the text, and (below the stream's hold limit) both results agree.
 * The first byte picks the mode and the piece sizes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 8192) return 0;
    uint8_t ctl = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    static ag_redactor *redactors[2];
    if (!redactors[0]) {
        const char *words[] = {"secret plan", "机密"};
        const char *patterns[] = {"[A-Z]{3}-[0-9]{4}"};
        redactors[0] = ag_redactor_new(NULL, NULL);
        redactors[1] = ag_redactor_new(&(ag_redact_config){.mode = AG_REDACT_HASH, .words = words, .n_words = 2,
                                                           .patterns = patterns, .n_patterns = 1},
                                       NULL);
        if (!redactors[0] || !redactors[1]) abort();
    }
    const ag_redactor *r = redactors[ctl & 1];

    ag_span spans[64];
    int n = ag_redact_find(r, text, len, spans, 64);
    if (n < 0) abort();
    for (int i = 0; i < n && i < 64; i++)
        if (spans[i].start >= spans[i].end || spans[i].end > len || (i && spans[i].start < spans[i - 1].end)) abort();

    size_t whole_len = 0;
    char *whole = ag_redact_text(r, text, len, &whole_len);
    if (!whole) abort();
    ag_redact_stream *s = ag_redact_stream_new(r);
    char *streamed = malloc(whole_len + 1);
    size_t got = 0, out_len = 0, step = 1 + (ctl >> 1) % 9;
    const char *piece;
    for (size_t at = 0; at < len; at += step) {
        size_t k = step < len - at ? step : len - at;
        piece = ag_redact_stream_push(s, text + at, k, &out_len);
        if (!piece) abort();
        if (got + out_len > whole_len) abort();
        memcpy(streamed + got, piece, out_len);
        got += out_len;
    }
    piece = ag_redact_stream_finish(s, &out_len);
    if (!piece || got + out_len != whole_len) abort();
    memcpy(streamed + got, piece, out_len);
    if (memcmp(streamed, whole, whole_len) != 0) abort();
    ag_redact_stream_free(s);
    free(streamed);
    free(whole);
    return 0;
}
