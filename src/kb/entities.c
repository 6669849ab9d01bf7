/*
 * entities.c - HTML/XML character references: numeric (&#38; &#x26;) and the named entities
 * that occur in ordinary text (the XML five, spaces, dashes, quotes, common symbols).
 */
#include <string.h>

#include "kb/parse.h"

static const struct {
    const char *name;
    unsigned cp;
} NAMED[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
    {"ensp", 0x2002}, {"emsp", 0x2003}, {"thinsp", 0x2009}, {"shy", 0xAD}, {"ndash", 0x2013},
    {"mdash", 0x2014}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"sbquo", 0x201A}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"bdquo", 0x201E}, {"hellip", 0x2026}, {"middot", 0xB7}, {"bull", 0x2022},
    {"laquo", 0xAB}, {"raquo", 0xBB}, {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122},
    {"deg", 0xB0}, {"plusmn", 0xB1}, {"times", 0xD7}, {"divide", 0xF7}, {"para", 0xB6},
    {"sect", 0xA7}, {"euro", 0x20AC}, {"pound", 0xA3}, {"yen", 0xA5}, {"cent", 0xA2},
    {"micro", 0xB5}, {"frac12", 0xBD}, {"frac14", 0xBC}, {"frac34", 0xBE}, {"larr", 0x2190},
    {"rarr", 0x2192}, {"uarr", 0x2191}, {"darr", 0x2193}, {"le", 0x2264}, {"ge", 0x2265},
    {"ne", 0x2260}, {"eacute", 0xE9}, {"egrave", 0xE8}, {"agrave", 0xE0}, {"aacute", 0xE1},
    {"uuml", 0xFC}, {"ouml", 0xF6}, {"auml", 0xE4}, {"szlig", 0xDF}, {"ccedil", 0xE7},
    {"ntilde", 0xF1}, {"zwj", 0x200D}, {"zwnj", 0x200C},
};

size_t kb_decode_entity(const char *s, size_t n, kb_buf *out) {
    if (n < 3 || s[0] != '&') return 0;
    size_t i = 1;
    if (s[1] == '#') {
        unsigned long v = 0;
        bool hex = n > 2 && (s[2] == 'x' || s[2] == 'X');
        i = hex ? 3 : 2;
        size_t digits = 0;
        for (; i < n && digits < 8; i++, digits++) {
            char c = s[i];
            int d = c >= '0' && c <= '9' ? c - '0'
                    : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) break;
            v = v * (hex ? 16 : 10) + (unsigned long)d;
        }
        if (!digits) return 0;
        if (i < n && s[i] == ';') i++;
        kb_buf_put_cp(out, v == 0 || v > 0x10FFFF ? 0xFFFD : (unsigned)v);
        return i;
    }
    while (i < n && i < 10 && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) i++;
    if (i == 1) return 0;
    for (size_t k = 0; k < sizeof NAMED / sizeof NAMED[0]; k++)
        if (strlen(NAMED[k].name) == i - 1 && memcmp(NAMED[k].name, s + 1, i - 1) == 0) {
            kb_buf_put_cp(out, NAMED[k].cp);
            return i < n && s[i] == ';' ? i + 1 : i;
        }
    return 0;
}
