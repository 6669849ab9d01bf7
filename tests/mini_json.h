/*
 * mini_json.h - just enough JSON reading for the reference files (one object per line):
 * the value of a top-level key as a string (escapes decoded), a number, or an array of ints.
 * Test-only; the product's JSON goes through a real library.
 */
#ifndef AG_TEST_MINI_JSON_H
#define AG_TEST_MINI_JSON_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Points just past `"key":` and following spaces, or NULL. */
static inline const char *mj_find(const char *line, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = strchr(line, '"'); p; p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, key, kl) == 0 && p[kl + 1] == '"') {
            const char *q = p + kl + 2;
            while (*q == ' ') q++;
            if (*q != ':') continue;
            q++;
            while (*q == ' ') q++;
            return q;
        }
    }
    return NULL;
}

static inline void mj_put_utf8(char **o, unsigned cp) {
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) *u++ = (unsigned char)cp;
    else if (cp < 0x800) { *u++ = (unsigned char)(0xC0 | cp >> 6); *u++ = (unsigned char)(0x80 | (cp & 63)); }
    else if (cp < 0x10000) { *u++ = (unsigned char)(0xE0 | cp >> 12); *u++ = (unsigned char)(0x80 | ((cp >> 6) & 63)); *u++ = (unsigned char)(0x80 | (cp & 63)); }
    else { *u++ = (unsigned char)(0xF0 | cp >> 18); *u++ = (unsigned char)(0x80 | ((cp >> 12) & 63)); *u++ = (unsigned char)(0x80 | ((cp >> 6) & 63)); *u++ = (unsigned char)(0x80 | (cp & 63)); }
    *o = (char *)u;
}

/* Decoded string value (malloc'd), or NULL. */
static inline char *mj_string(const char *line, const char *key) {
    const char *p = mj_find(line, key);
    if (!p || *p != '"') return NULL;
    char *out = malloc(strlen(p) * 2 + 1), *o = out;
    for (p++; *p && *p != '"'; p++) {
        if (*p != '\\') { *o++ = *p; continue; }
        p++;
        switch (*p) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
            unsigned cp = (unsigned)strtoul((char[]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
                unsigned lo = (unsigned)strtoul((char[]){p[3], p[4], p[5], p[6], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            mj_put_utf8(&o, cp);
            break;
        }
        default: *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static inline double mj_number(const char *line, const char *key, double fallback) {
    const char *p = mj_find(line, key);
    return p ? strtod(p, NULL) : fallback;
}

/* Array of ints into out (cap); returns count or -1. */
static inline int mj_int_array(const char *line, const char *key, int *out, int cap) {
    const char *p = mj_find(line, key);
    if (!p || *p != '[') return -1;
    int n = 0;
    for (p++;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ']') return n;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || n >= cap) return -1;
        out[n++] = (int)v;
        p = end;
    }
}

#endif
