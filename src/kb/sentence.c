/*
 * sentence.c - ag_split_sentences: sentence boundaries in English and Chinese text. A sentence
 * ends at 。！？；… (and their fullwidth kin), at ! ? and at a '.' followed by a space or the
 * end - unless the word before is a common abbreviation or a single capital (an initial) - and
 * at line breaks. Closing quotes and brackets stay with the sentence they close.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "autoglm/kb.h"

static bool is_abbrev(const char *text, size_t dot) {
    static const char *const ABBR[] = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e",
                                       "fig", "no", "vol", "approx", "inc", "ltd", "co", "jan", "feb", "mar", "apr",
                                       "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "cf", "al", NULL};
    size_t s = dot;
    while (s > 0 && (isalpha((unsigned char)text[s - 1]) || (text[s - 1] == '.' && s >= 2 && isalpha((unsigned char)text[s - 2])))) s--;
    size_t l = dot - s;
    if (l == 0) return false;
    if (l == 1 && isupper((unsigned char)text[s])) return true; /* an initial: "J. Smith" */
    for (const char *const *a = ABBR; *a; a++)
        if (strlen(*a) == l && strncasecmp(*a, text + s, l) == 0) return true;
    return false;
}

/* Length of a closing quote/bracket at s (0 if none). */
static size_t closer(const char *s, size_t n) {
    static const char *const CL[] = {"\"", "'", ")", "]", "\xe2\x80\x9d", "\xe2\x80\x99", "\xef\xbc\x89",
                                     "\xe3\x80\x8d", "\xe3\x80\x8f", "\xe3\x80\x8b", NULL};
    for (const char *const *c = CL; *c; c++) {
        size_t l = strlen(*c);
        if (l <= n && memcmp(s, *c, l) == 0) return l;
    }
    return 0;
}

/* Length of a CJK sentence end at s: 。！？；… ！？ (fullwidth) ... or 0. */
static size_t cjk_end(const char *s, size_t n) {
    static const char *const E[] = {"\xe3\x80\x82", "\xef\xbc\x81", "\xef\xbc\x9f", "\xef\xbc\x9b", "\xe2\x80\xa6",
                                    "\xef\xbd\xa1", NULL};
    for (const char *const *e = E; *e; e++)
        if (3 <= n && memcmp(s, *e, 3) == 0) return 3;
    return 0;
}

int ag_split_sentences(const char *text, size_t len, ag_span_t *out, int cap) {
    int count = 0;
    size_t start = 0, i = 0;
#define EMIT(end_)                                                                                   \
    do {                                                                                             \
        size_t e_ = (end_), s_ = start;                                                              \
        while (s_ < e_ && isspace((unsigned char)text[s_])) s_++;                                    \
        size_t z_ = e_;                                                                              \
        while (z_ > s_ && isspace((unsigned char)text[z_ - 1])) z_--;                                \
        if (z_ > s_) {                                                                               \
            if (count < cap) out[count] = (ag_span_t){s_, z_};                                       \
            count++;                                                                                 \
        }                                                                                            \
        start = e_;                                                                                  \
    } while (0)
    while (i < len) {
        char c = text[i];
        size_t l;
        if (c == '\n') {
            EMIT(i);
            i++;
        } else if ((l = cjk_end(text + i, len - i)) > 0) {
            i += l;
            while (i < len && (l = cjk_end(text + i, len - i)) > 0) i += l; /* "！？" "……" */
            while (i < len && (l = closer(text + i, len - i)) > 0) i += l;
            EMIT(i);
        } else if (c == '!' || c == '?' || c == '.') {
            size_t j = i + 1;
            while (j < len && (text[j] == '!' || text[j] == '?' || text[j] == '.')) j++;
            size_t k = j;
            while (k < len && (l = closer(text + k, len - k)) > 0) k += l;
            bool boundary = k >= len || isspace((unsigned char)text[k]);
            if (boundary && c == '.' && j == i + 1 && is_abbrev(text, i)) boundary = false;
            if (boundary && c == '.' && i > 0 && isdigit((unsigned char)text[i - 1]) && k < len && k + 1 < len &&
                isdigit((unsigned char)text[k + 1]))
                boundary = false;
            i = k;
            if (boundary) EMIT(i);
        } else i++;
    }
    EMIT(len);
#undef EMIT
    return count;
}
