/*
 * utf8_scan.h - reading one code point at a time, strictly, for the tokenizers that work on
 * characters (the pre-tokenizer's clean-up of invalid input, WordPiece).
 *
 * Strict means what PCRE2 and base/utf8.h accept: no overlong forms, no surrogates, nothing above
 * U+10FFFF, no truncated sequences. Callers treat a byte where no valid sequence starts as one
 * replacement character (U+FFFD), as the reference implementation does for each invalid byte.
 */
#ifndef AG_TOKENIZER_UTF8_SCAN_H
#define AG_TOKENIZER_UTF8_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define AG_UTF8_REPLACEMENT 0xFFFDu

/* The length (1..4) of the valid sequence at s[0..avail) and its code point in *cp, or 0 when no
 * valid sequence starts there (*cp = U+FFFD then). avail must be at least 1. */
static inline size_t ag_utf8_decode(const uint8_t *s, size_t avail, uint32_t *cp) {
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1Fu, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, v = c & 0x0Fu, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, v = c & 0x07u, min = 0x10000;
    else goto bad;
    if (n > avail) goto bad;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) goto bad;
        v = v << 6 | (s[k] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) goto bad;
    *cp = v;
    return n;
bad:
    *cp = AG_UTF8_REPLACEMENT;
    return 0;
}

/* Writes cp (<= U+10FFFF, not a surrogate) as UTF-8; returns its length. */
static inline size_t ag_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif
