/*
 * wpm_norm.c - the character rules of the WordPiece tokenizer (see wpm_norm.h), on utf8proc.
 *
 * ASCII is decided inline (most text); other code points go through utf8proc's decomposition,
 * category and lowercase tables.
 */
#include "tokenizer/wpm_norm.h"

#include <utf8proc.h>

/* The Unicode White_Space set, as the reference's \s. */
static bool is_space(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= '\t' && cp <= '\r');
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* CJK ideograph blocks, as BERT's tokenizer lists them (with its 0x2B920 instead of 0x2B820). */
static bool is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) ||
           (cp >= 0x2B920 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static ag_wpm_class classify_ascii(uint32_t c, bool lowercase, uint32_t *out) {
    if (is_space(c)) return AG_WPM_SPACE;
    if (c < 0x20 || c == 0x7F) return AG_WPM_SKIP;
    *out = lowercase && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
    bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    return alnum ? AG_WPM_JOIN : AG_WPM_ALONE; /* every other printable ASCII is \p{P} or \p{S} */
}

/* The first code point of cp's canonical decomposition (cp itself when it has none). */
static uint32_t nfd_first(uint32_t cp) {
    utf8proc_int32_t buf[8];
    int boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 8, UTF8PROC_DECOMPOSE, &boundclass);
    return n >= 1 ? (uint32_t)buf[0] : cp;
}

ag_wpm_class ag_wpm_classify(uint32_t cp, bool lowercase, bool strip_accents, uint32_t *out) {
    if (strip_accents && cp >= 0x80) cp = nfd_first(cp);
    if (cp < 0x80) return classify_ascii(cp, lowercase, out);
    if (is_space(cp)) return AG_WPM_SPACE;
    if (cp == 0xFFFD) return AG_WPM_SKIP;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
        return AG_WPM_SKIP;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        if (strip_accents) return AG_WPM_SKIP;
        break;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
        *out = lowercase ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp) : cp;
        return AG_WPM_ALONE;
    default:
        break;
    }
    *out = lowercase ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp) : cp;
    return is_cjk(cp) ? AG_WPM_ALONE : AG_WPM_JOIN;
}
