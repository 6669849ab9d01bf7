/*
 * utf8.c - UTF-8 helpers (see utf8.h).
 */
#include "base/utf8.h"

#include <stdint.h>

int ag_utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

size_t ag_utf8_incomplete_tail(const char *buf, size_t len) {
    /* Walk back over at most 3 continuation bytes to the lead byte. */
    size_t back = 0;
    while (back < len && back < 4) {
        unsigned char c = (unsigned char)buf[len - 1 - back];
        if ((c & 0xC0) != 0x80) {
            int need = ag_utf8_seq_len(c);
            if (need > 0 && (size_t)need > back + 1) return back + 1;
            return 0;
        }
        back++;
    }
    return 0;
}

bool ag_utf8_valid(const char *buf, size_t len) {
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        int n = ag_utf8_seq_len(s[i]);
        if (n == 0 || i + (size_t)n > len) return false;
        uint32_t cp = n == 1 ? s[i] : (uint32_t)(s[i] & (0x7F >> n));
        for (int k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += (size_t)n;
    }
    return true;
}
