/*
 * byte_unicode.c - GPT-2's byte <-> character map (see byte_unicode.h) and decoding of pieces.
 *
 * The map is computed from its rule on each call (a few comparisons): bytes that are printable
 * Latin-1 stand for themselves, the others are numbered in order from U+0100.
 */
#include "tokenizer/byte_unicode.h"

#include <stdbool.h>
#include <string.h>

static bool stands_for_itself(uint32_t b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The others in increasing order: 0x00..0x20 (33 bytes), 0x7F..0xA0 (34), 0xAD (1). */
uint32_t ag_bpe_byte_to_cp(uint8_t b) {
    if (stands_for_itself(b)) return b;
    if (b <= 0x20) return 0x100u + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100u + 33 + (uint32_t)(b - 0x7F);
    return 0x100u + 67; /* 0xAD */
}

int ag_bpe_cp_to_byte(uint32_t cp) {
    if (cp <= 0xFF) return stands_for_itself(cp) ? (int)cp : -1;
    if (cp < 0x100 + 33) return (int)(cp - 0x100);
    if (cp < 0x100 + 67) return (int)(0x7F + (cp - 0x100 - 33));
    if (cp == 0x100 + 67) return 0xAD;
    return -1;
}

size_t ag_bpe_byte_utf8(uint8_t b, char out[2]) {
    uint32_t cp = ag_bpe_byte_to_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* The code point of the 1- or 2-byte sequence at s (every byte character is below U+0800), or
 * UINT32_MAX when s does not start one; *n gets its length. */
static uint32_t short_cp(const uint8_t *s, size_t avail, size_t *n) {
    if (s[0] < 0x80) {
        *n = 1;
        return s[0];
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF && avail >= 2 && (s[1] & 0xC0) == 0x80) {
        *n = 2;
        return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    }
    *n = 1;
    return UINT32_MAX;
}

/* Walks the piece once; writes when out is not NULL. Returns the decoded length. */
static size_t decode(const uint8_t *s, size_t len, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n;
        uint32_t cp = short_cp(s + i, len - i, &n);
        int b = cp == UINT32_MAX ? -1 : ag_bpe_cp_to_byte(cp);
        if (b >= 0) {
            if (out) out[o] = (char)b;
            o++;
        } else {
            if (out) memcpy(out + o, s + i, n);
            o += n;
        }
        i += n;
    }
    return o;
}

int ag_bpe_decode_piece(const char *piece, size_t len, char *buf, int cap) {
    size_t need = decode((const uint8_t *)piece, len, NULL);
    if (cap < 0 || !buf || (size_t)cap < need) return -(int)need;
    decode((const uint8_t *)piece, len, buf);
    return (int)need;
}
