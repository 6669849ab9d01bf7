/*
 * jinja_methods.c - what templates can call besides filters and macros: the globals of the
 * reference environment (raise_exception, strftime_now, namespace, range, dict) and methods of
 * builtin values (str.split, dict.items, list.index, loop.cycle ...), with Python's semantics
 * and, where a template can hit them, Python's error messages.
 *
 * Every attribute Python's str, dict and list have is known by name, so that `x.title` is a
 * method and not a missing key; the few not implemented fail with AG_ERR_UNSUPPORTED when called.
 * Mutating methods of lists and dicts are the sandbox's "unsafe" attributes.
 */
#include "tokenizer/jinja_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int id;
} method_def;

static const method_def STR_METHODS[] = {
    {"capitalize", BI_STR_CAPITALIZE}, {"casefold", BI_UNIMPLEMENTED}, {"center", BI_STR_CENTER},
    {"count", BI_STR_COUNT}, {"encode", BI_UNIMPLEMENTED}, {"endswith", BI_STR_ENDSWITH},
    {"expandtabs", BI_UNIMPLEMENTED}, {"find", BI_STR_FIND}, {"format", BI_STR_FORMAT},
    {"format_map", BI_UNIMPLEMENTED}, {"index", BI_STR_INDEX}, {"isalnum", BI_STR_ISALNUM},
    {"isalpha", BI_STR_ISALPHA}, {"isascii", BI_UNIMPLEMENTED}, {"isdecimal", BI_STR_ISDIGIT},
    {"isdigit", BI_STR_ISDIGIT}, {"isidentifier", BI_UNIMPLEMENTED}, {"islower", BI_STR_ISLOWER},
    {"isnumeric", BI_STR_ISDIGIT}, {"isprintable", BI_UNIMPLEMENTED}, {"isspace", BI_STR_ISSPACE},
    {"istitle", BI_UNIMPLEMENTED}, {"isupper", BI_STR_ISUPPER}, {"join", BI_STR_JOIN},
    {"ljust", BI_STR_LJUST}, {"lower", BI_STR_LOWER}, {"lstrip", BI_STR_LSTRIP},
    {"maketrans", BI_UNIMPLEMENTED}, {"partition", BI_STR_PARTITION}, {"removeprefix", BI_STR_REMOVEPREFIX},
    {"removesuffix", BI_STR_REMOVESUFFIX}, {"replace", BI_STR_REPLACE}, {"rfind", BI_STR_RFIND},
    {"rindex", BI_STR_RINDEX}, {"rjust", BI_STR_RJUST}, {"rpartition", BI_STR_RPARTITION},
    {"rsplit", BI_STR_RSPLIT}, {"rstrip", BI_STR_RSTRIP}, {"split", BI_STR_SPLIT},
    {"splitlines", BI_STR_SPLITLINES}, {"startswith", BI_STR_STARTSWITH}, {"strip", BI_STR_STRIP},
    {"swapcase", BI_STR_SWAPCASE}, {"title", BI_STR_TITLE}, {"translate", BI_UNIMPLEMENTED},
    {"upper", BI_STR_UPPER}, {"zfill", BI_STR_ZFILL},
};

static const method_def DICT_METHODS[] = {
    {"items", BI_DICT_ITEMS}, {"keys", BI_DICT_KEYS}, {"values", BI_DICT_VALUES}, {"get", BI_DICT_GET},
    {"copy", BI_DICT_COPY}, {"fromkeys", BI_UNIMPLEMENTED}, {"clear", BI_UNSAFE}, {"pop", BI_UNSAFE},
    {"popitem", BI_UNSAFE}, {"setdefault", BI_UNSAFE}, {"update", BI_UNSAFE},
};

static const method_def LIST_METHODS[] = {
    {"index", BI_LIST_INDEX}, {"count", BI_LIST_COUNT}, {"copy", BI_LIST_COPY}, {"append", BI_UNSAFE},
    {"extend", BI_UNSAFE}, {"insert", BI_UNSAFE}, {"remove", BI_UNSAFE}, {"reverse", BI_UNSAFE},
    {"sort", BI_UNSAFE}, {"pop", BI_UNIMPLEMENTED}, {"clear", BI_UNIMPLEMENTED},
};

static const method_def TUPLE_METHODS[] = {{"index", BI_LIST_INDEX}, {"count", BI_LIST_COUNT}};

static const method_def GLOBALS[] = {
    {"raise_exception", BI_RAISE_EXCEPTION}, {"strftime_now", BI_STRFTIME_NOW}, {"namespace", BI_NAMESPACE},
    {"range", BI_RANGE}, {"dict", BI_DICT}, {"lipsum", BI_UNIMPLEMENTED}, {"cycler", BI_UNIMPLEMENTED},
    {"joiner", BI_UNIMPLEMENTED},
};

static const method_def *find_method(const method_def *t, size_t count, const char *name, size_t n) {
    for (size_t i = 0; i < count; i++)
        if (strlen(t[i].name) == n && memcmp(t[i].name, name, n) == 0) return &t[i];
    return NULL;
}

#define FIND(table, name, n) find_method(table, sizeof table / sizeof table[0], name, n)

int jx_global_id(const char *name, size_t n) {
    const method_def *m = FIND(GLOBALS, name, n);
    return m ? m->id : -1;
}

jv jx_builtin_attr(jx_state *st, jv obj, const char *name, size_t n) {
    const method_def *m = NULL;
    if (obj.kind == JV_STR) m = FIND(STR_METHODS, name, n);
    else if (obj.kind == JV_DICT) m = FIND(DICT_METHODS, name, n);
    else if (obj.kind == JV_LIST && obj.l->kind == JL_LIST) m = FIND(LIST_METHODS, name, n);
    else if (obj.kind == JV_LIST && obj.l->kind == JL_TUPLE) m = FIND(TUPLE_METHODS, name, n);
    if (!m) return (jv){.kind = JV_MISSING};
    return jv_func(st, m->id, obj, m->name);
}

/* ------------------------------------------------------------------ string helpers */

static jv need_str(jx_state *st, jv v, const char *what) {
    if (v.kind == JV_UNDEF) jx_fail_undefined(st, v);
    if (v.kind != JV_STR) jx_fail(st, "%s must be str, not %s", what, jv_type_name(v));
    return v;
}

static bool in_chars(uint32_t c, jv chars) {
    if (chars.kind != JV_STR) return jx_py_isspace(c);
    for (size_t i = 0; i < chars.s.n;) {
        int len;
        uint32_t d = jx_utf8_decode(chars.s.p + i, chars.s.n - i, &len);
        if (d == c) return true;
        i += (size_t)len;
    }
    return false;
}

jv jx_str_strip(jx_state *st, jv s, jv chars, bool left, bool right) {
    if (chars.kind != JV_NONE && chars.kind != JV_MISSING) need_str(st, chars, "strip arg");
    size_t a = 0, b = s.s.n;
    while (left && a < b) {
        int len;
        uint32_t c = jx_utf8_decode(s.s.p + a, b - a, &len);
        if (!in_chars(c, chars)) break;
        a += (size_t)len;
    }
    while (right && b > a) {
        size_t start = b - 1;
        while (start > a && ((unsigned char)s.s.p[start] & 0xC0) == 0x80) start--;
        int len;
        uint32_t c = jx_utf8_decode(s.s.p + start, b - start, &len);
        if (!in_chars(c, chars)) break;
        b = start;
    }
    return jv_str(s.s.p + a, b - a);
}

static jv map_case(jx_state *st, jv s, int mode) {
    /* mode: 0 lower, 1 upper, 2 swapcase, 3 title, 4 capitalize */
    jx_buf b = {0};
    bool prev_cased = false;
    size_t k = 0;
    for (size_t i = 0; i < s.s.n; k++) {
        int len;
        uint32_t c = jx_utf8_decode(s.s.p + i, s.s.n - i, &len);
        uint32_t o = c;
        bool cased = jx_is_cased_upper(c) || jx_is_cased_lower(c);
        switch (mode) {
        case 0: o = jx_to_lower(c); break;
        case 1: o = jx_to_upper(c); break;
        case 2: o = jx_is_cased_upper(c) ? jx_to_lower(c) : jx_to_upper(c); break;
        case 3: o = prev_cased ? jx_to_lower(c) : jx_to_upper(c); break;
        default: o = k == 0 ? jx_to_upper(c) : jx_to_lower(c); break;
        }
        prev_cased = cased;
        char enc[4];
        if (o == c) jx_buf_put(st, &b, s.s.p + i, (size_t)len);
        else jx_buf_put(st, &b, enc, (size_t)jx_utf8_encode(o, enc));
        i += (size_t)len;
    }
    return jv_str(b.p, b.n);
}

jv jx_str_lower(jx_state *st, jv s) {
    return map_case(st, s, 0);
}
jv jx_str_upper(jx_state *st, jv s) {
    return map_case(st, s, 1);
}

static const char *find_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

static const char *rfind_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

jv jx_str_replace(jx_state *st, jv s, jv old, jv rep, int64_t count) {
    jx_buf b = {0};
    if (count < 0) count = INT64_MAX;
    if (old.s.n == 0) {
        /* Python inserts `rep` before every character and at the end */
        size_t i = 0;
        int64_t done = 0;
        while (done < count) {
            jx_buf_put(st, &b, rep.s.p, rep.s.n);
            done++;
            if (i >= s.s.n) break;
            int len;
            jx_utf8_decode(s.s.p + i, s.s.n - i, &len);
            jx_buf_put(st, &b, s.s.p + i, (size_t)len);
            i += (size_t)len;
        }
        jx_buf_put(st, &b, s.s.p + i, s.s.n - i);
        return jv_str(b.p, b.n);
    }
    const char *p = s.s.p, *end = s.s.p + s.s.n;
    int64_t done = 0;
    while (done < count) {
        const char *hit = find_bytes(p, (size_t)(end - p), old.s.p, old.s.n);
        if (!hit) break;
        jx_buf_put(st, &b, p, (size_t)(hit - p));
        jx_buf_put(st, &b, rep.s.p, rep.s.n);
        p = hit + old.s.n;
        done++;
    }
    if (done == 0) return s;
    jx_buf_put(st, &b, p, (size_t)(end - p));
    jx_charge(st, s.s.n / 64);
    return jv_str(b.p, b.n);
}

static jv split_ws(jx_state *st, jv s, int64_t maxsplit, bool from_right) {
    jx_vec out = {0};
    const char *p = s.s.p;
    size_t n = s.s.n;
    if (!from_right) {
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            int len;
            while (i < n && jx_py_isspace(jx_utf8_decode(p + i, n - i, &len))) i += (size_t)len;
            if (i >= n) break;
            if (maxsplit >= 0 && splits >= maxsplit) {
                size_t e = n;
                jx_vec_push(st, &out, jv_str(p + i, e - i));
                break;
            }
            size_t start = i;
            while (i < n && !jx_py_isspace(jx_utf8_decode(p + i, n - i, &len))) i += (size_t)len;
            jx_vec_push(st, &out, jv_str(p + start, i - start));
            splits++;
        }
        return jx_vec_to_list(st, &out, JL_LIST);
    }
    /* rsplit: collect from the right, then reverse */
    size_t e = n;
    int64_t splits = 0;
    for (;;) {
        while (e > 0) {
            size_t st0 = e - 1;
            while (st0 > 0 && ((unsigned char)p[st0] & 0xC0) == 0x80) st0--;
            int len;
            if (!jx_py_isspace(jx_utf8_decode(p + st0, e - st0, &len))) break;
            e = st0;
        }
        if (e == 0) break;
        if (maxsplit >= 0 && splits >= maxsplit) {
            jx_vec_push(st, &out, jv_str(p, e));
            break;
        }
        size_t b = e;
        while (b > 0) {
            size_t st0 = b - 1;
            while (st0 > 0 && ((unsigned char)p[st0] & 0xC0) == 0x80) st0--;
            int len;
            if (jx_py_isspace(jx_utf8_decode(p + st0, b - st0, &len))) break;
            b = st0;
        }
        jx_vec_push(st, &out, jv_str(p + b, e - b));
        e = b;
        splits++;
    }
    for (size_t i = 0; i < out.n / 2; i++) {
        jv t = out.v[i];
        out.v[i] = out.v[out.n - 1 - i];
        out.v[out.n - 1 - i] = t;
    }
    return jx_vec_to_list(st, &out, JL_LIST);
}

static jv split_sep(jx_state *st, jv s, jv sep, int64_t maxsplit, bool from_right) {
    if (sep.s.n == 0) jx_fail(st, "empty separator");
    jx_vec out = {0};
    const char *p = s.s.p;
    size_t n = s.s.n;
    int64_t splits = 0;
    if (!from_right) {
        size_t i = 0;
        while (maxsplit < 0 || splits < maxsplit) {
            const char *hit = find_bytes(p + i, n - i, sep.s.p, sep.s.n);
            if (!hit) break;
            jx_vec_push(st, &out, jv_str(p + i, (size_t)(hit - (p + i))));
            i = (size_t)(hit - p) + sep.s.n;
            splits++;
        }
        jx_vec_push(st, &out, jv_str(p + i, n - i));
        jx_charge(st, n / 64);
        return jx_vec_to_list(st, &out, JL_LIST);
    }
    size_t e = n;
    while (maxsplit < 0 || splits < maxsplit) {
        const char *hit = rfind_bytes(p, e, sep.s.p, sep.s.n);
        if (!hit) break;
        size_t at = (size_t)(hit - p);
        jx_vec_push(st, &out, jv_str(p + at + sep.s.n, e - at - sep.s.n));
        e = at;
        splits++;
    }
    jx_vec_push(st, &out, jv_str(p, e));
    for (size_t i = 0; i < out.n / 2; i++) {
        jv t = out.v[i];
        out.v[i] = out.v[out.n - 1 - i];
        out.v[out.n - 1 - i] = t;
    }
    return jx_vec_to_list(st, &out, JL_LIST);
}

static int64_t int_arg(jx_state *st, jv v, int64_t dflt) {
    if (v.kind == JV_MISSING || v.kind == JV_NONE) return dflt;
    if (v.kind == JV_INT) return v.i;
    if (v.kind == JV_BOOL) return v.b;
    if (v.kind == JV_UNDEF) jx_fail_undefined(st, v);
    jx_fail(st, "'%s' object cannot be interpreted as an integer", jv_type_name(v));
}

/* Code point range [*a, *b) of s[start:end] with slice clamping. */
static void sub_range(jx_state *st, jv s, jv start, jv end, size_t *a, size_t *b) {
    int64_t len = (int64_t)jx_utf8_count(s.s.p, s.s.n);
    int64_t x = int_arg(st, start, 0), y = int_arg(st, end, len);
    if (x < 0) x = x + len < 0 ? 0 : x + len;
    if (y < 0) y = y + len < 0 ? 0 : y + len;
    if (x > len) x = len;
    if (y > len) y = len;
    if (y < x) y = x;
    *a = jx_utf8_offset(s.s.p, s.s.n, (size_t)x);
    *b = jx_utf8_offset(s.s.p, s.s.n, (size_t)y);
}

static bool affix_match(jx_state *st, jv s, jv affix, jv start, jv end, bool prefix, const char *fname) {
    size_t a, b;
    sub_range(st, s, start, end, &a, &b);
    size_t count = affix.kind == JV_LIST && affix.l->kind == JL_TUPLE ? affix.l->n : 1;
    if (!(affix.kind == JV_STR || (affix.kind == JV_LIST && affix.l->kind == JL_TUPLE)))
        jx_fail(st, "%s first arg must be str or a tuple of str, not %s", fname, jv_type_name(affix));
    for (size_t i = 0; i < count; i++) {
        jv x = affix.kind == JV_STR ? affix : affix.l->v[i];
        if (x.kind != JV_STR) jx_fail(st, "tuple for %s must only contain str, not %s", fname, jv_type_name(x));
        if (x.s.n > b - a) continue;
        const char *at = prefix ? s.s.p + a : s.s.p + b - x.s.n;
        if (x.s.n == 0 || memcmp(at, x.s.p, x.s.n) == 0) return true;
    }
    return false;
}

static int64_t find_sub(jx_state *st, jv s, jv sub, jv start, jv end, bool from_right) {
    need_str(st, sub, "must be str");
    size_t a, b;
    sub_range(st, s, start, end, &a, &b);
    const char *hit = from_right ? rfind_bytes(s.s.p + a, b - a, sub.s.p, sub.s.n) : find_bytes(s.s.p + a, b - a, sub.s.p, sub.s.n);
    if (!hit) return -1;
    return (int64_t)jx_utf8_count(s.s.p, (size_t)(hit - s.s.p));
}

static jv pad(jx_state *st, jv s, jv width, jv fill, int mode) {
    /* mode: 0 center, 1 ljust, 2 rjust, 3 zfill */
    int64_t w = int_arg(st, width, 0);
    const char *fp = " ";
    size_t fn = 1;
    if (mode == 3) fp = "0";
    if (fill.kind != JV_MISSING) {
        need_str(st, fill, "fill character");
        if (jx_utf8_count(fill.s.p, fill.s.n) != 1) jx_fail(st, "The fill character must be exactly one character long");
        fp = fill.s.p;
        fn = fill.s.n;
    }
    int64_t len = (int64_t)jx_utf8_count(s.s.p, s.s.n);
    if (w <= len) return s;
    if (w > (int64_t)st->lim.max_output) jx_fail(st, "padding wider than %zu", st->lim.max_output);
    int64_t total = w - len, left;
    if (mode == 0) left = total / 2 + (total & w & 1);
    else if (mode == 1) left = 0;
    else left = total;
    jx_buf b = {0};
    size_t body = 0;
    if (mode == 3 && s.s.n && (s.s.p[0] == '+' || s.s.p[0] == '-')) {
        jx_buf_putc(st, &b, s.s.p[0]);
        body = 1;
    }
    for (int64_t i = 0; i < left; i++) jx_buf_put(st, &b, fp, fn);
    jx_buf_put(st, &b, s.s.p + body, s.s.n - body);
    for (int64_t i = 0; i < total - left; i++) jx_buf_put(st, &b, fp, fn);
    return jv_str(b.p, b.n);
}

static bool all_chars(jv s, int what) {
    if (s.s.n == 0) return false;
    bool any_cased = false;
    for (size_t i = 0; i < s.s.n;) {
        int len;
        uint32_t c = jx_utf8_decode(s.s.p + i, s.s.n - i, &len);
        i += (size_t)len;
        switch (what) {
        case 0: if (!jx_is_digit(c)) return false; break;
        case 1: if (!jx_is_alpha(c)) return false; break;
        case 2: if (!jx_is_alpha(c) && !jx_is_digit(c)) return false; break;
        case 3: if (!jx_py_isspace(c)) return false; break;
        case 4:
            if (jx_is_cased_lower(c)) return false;
            if (jx_is_cased_upper(c)) any_cased = true;
            break;
        default:
            if (jx_is_cased_upper(c)) return false;
            if (jx_is_cased_lower(c)) any_cased = true;
            break;
        }
    }
    return what < 4 ? true : any_cased;
}

/* str.format with the sandbox's formatter: {} {0} {name} {name.attr} {0[key]} !s !r, no spec. */
static jv str_format(jx_state *st, jv fmt, const jx_args *a) {
    jx_buf b = {0};
    const char *p = fmt.s.p, *end = p + fmt.s.n;
    int auto_idx = 0;
    while (p < end) {
        char c = *p;
        if (c == '}' ) {
            if (p + 1 < end && p[1] == '}') {
                jx_buf_putc(st, &b, '}');
                p += 2;
                continue;
            }
            jx_fail(st, "Single '}' encountered in format string");
        }
        if (c != '{') {
            jx_buf_putc(st, &b, c);
            p++;
            continue;
        }
        if (p + 1 < end && p[1] == '{') {
            jx_buf_putc(st, &b, '{');
            p += 2;
            continue;
        }
        const char *q = p + 1;
        while (q < end && *q != '}') q++;
        if (q >= end) jx_fail(st, "expected '}' before end of string");
        const char *field = p + 1, *fend = q;
        p = q + 1;
        char conv = 0;
        for (const char *x = field; x < fend; x++) {
            if (*x == ':') jx_fail_unsupported(st, st->line, "unsupported format spec in str.format");
            if (*x == '!' && x + 1 < fend) {
                conv = x[1];
                fend = x;
                break;
            }
        }
        /* first part: index or name */
        const char *r = field;
        while (r < fend && *r != '.' && *r != '[') r++;
        jv v;
        if (r == field) {
            if (auto_idx >= a->nargs) jx_fail(st, "Replacement index %d out of range for positional args tuple", auto_idx);
            v = a->args[auto_idx++];
        } else if (*field >= '0' && *field <= '9') {
            int idx = atoi(field);
            if (idx >= a->nargs) jx_fail(st, "Replacement index %d out of range for positional args tuple", idx);
            v = a->args[idx];
        } else {
            v = (jv){.kind = JV_MISSING};
            for (int k = 0; k < a->nkw; k++)
                if (a->kwlens[k] == (size_t)(r - field) && memcmp(a->kwnames[k], field, a->kwlens[k]) == 0) v = a->kwvals[k];
            if (v.kind == JV_MISSING) jx_fail(st, "'%.*s'", (int)(r - field), field);
        }
        while (r < fend) {
            if (*r == '.') {
                const char *s = ++r;
                while (r < fend && *r != '.' && *r != '[') r++;
                v = jx_getattr(st, v, s, (size_t)(r - s));
            } else {
                const char *s = ++r;
                while (r < fend && *r != ']') r++;
                jv key = jv_str(s, (size_t)(r - s));
                bool digits = r > s;
                for (const char *x = s; x < r; x++) digits = digits && *x >= '0' && *x <= '9';
                if (digits) key = jv_int(atoll(s));
                v = jx_getitem(st, v, key);
                if (r < fend) r++;
            }
        }
        if (conv == 'r' || conv == 'a') jv_repr(st, &b, v);
        else jv_to_str(st, &b, v);
    }
    return jv_str(b.p, b.n);
}

/* ------------------------------------------------------------------ globals */

static jv make_namespace(jx_state *st, const jx_args *a) {
    jv ns = jv_dict_new(st);
    ns.kind = JV_NS;
    if (a->nargs > 1) jx_fail(st, "namespace expected at most 1 argument, got %d", a->nargs);
    if (a->nargs == 1) {
        jv init = a->args[0];
        if (init.kind == JV_DICT || init.kind == JV_NS) {
            for (size_t i = 0; i < init.d->n; i++) jx_dict_set(st, ns.d, init.d->keys[i], init.d->vals[i]);
        } else {
            size_t n;
            const jv *items = jv_iterate(st, init, &n);
            for (size_t i = 0; i < n; i++) {
                size_t k;
                const jv *pair = jv_iterate(st, items[i], &k);
                if (k != 2) jx_fail(st, "dictionary update sequence element #%zu has length %zu; 2 is required", i, k);
                jx_dict_set(st, ns.d, pair[0], pair[1]);
            }
        }
    }
    for (int k = 0; k < a->nkw; k++) jx_dict_set(st, ns.d, jv_str(a->kwnames[k], a->kwlens[k]), a->kwvals[k]);
    return ns;
}

static jv make_range(jx_state *st, const jx_args *a) {
    if (a->nkw) jx_fail(st, "range() takes no keyword arguments");
    if (a->nargs < 1 || a->nargs > 3) jx_fail(st, "range expected at least 1 argument, got %d", a->nargs);
    for (int i = 0; i < a->nargs; i++)
        if (!(a->args[i].kind == JV_INT || a->args[i].kind == JV_BOOL)) {
            jx_check_defined(st, a->args[i]);
            jx_fail(st, "'%s' object cannot be interpreted as an integer", jv_type_name(a->args[i]));
        }
    int64_t start = 0, stop, step = 1;
    if (a->nargs == 1) stop = int_arg(st, a->args[0], 0);
    else {
        start = int_arg(st, a->args[0], 0);
        stop = int_arg(st, a->args[1], 0);
        if (a->nargs == 3) step = int_arg(st, a->args[2], 1);
    }
    if (step == 0) jx_fail(st, "range() arg 3 must not be zero");
    long double count = 0;
    if (step > 0 && stop > start) count = ((long double)stop - start - 1) / step + 1;
    if (step < 0 && start > stop) count = ((long double)start - stop - 1) / -(long double)step + 1;
    if (count > 100000) jx_fail(st, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    size_t n = (size_t)count;
    jv out = jv_list_new(st, n, JL_LIST);
    for (size_t i = 0; i < n; i++) out.l->v[i] = jv_int(start + (int64_t)i * step);
    return out;
}

/* ------------------------------------------------------------------ dispatch */

void jx_bind_args(jx_state *st, const char *fname, const jx_args *a, const char *const *names, int nnames, jv *out) {
    for (int i = 0; i < nnames; i++) out[i] = (jv){.kind = JV_MISSING};
    if (a->nargs > nnames) jx_fail(st, "%s() takes at most %d argument%s (%d given)", fname, nnames, nnames == 1 ? "" : "s", a->nargs);
    for (int i = 0; i < a->nargs; i++) out[i] = a->args[i];
    for (int k = 0; k < a->nkw; k++) {
        int found = -1;
        for (int i = 0; i < nnames; i++)
            if (strlen(names[i]) == a->kwlens[k] && memcmp(names[i], a->kwnames[k], a->kwlens[k]) == 0) found = i;
        if (found < 0) jx_fail(st, "%s() got an unexpected keyword argument '%.*s'", fname, (int)a->kwlens[k], a->kwnames[k]);
        if (out[found].kind != JV_MISSING) jx_fail(st, "%s() got multiple values for argument '%s'", fname, names[found]);
        out[found] = a->kwvals[k];
    }
}

static void require(jx_state *st, const char *fname, jv v, const char *pname) {
    if (v.kind == JV_MISSING) jx_fail(st, "%s() missing required argument '%s'", fname, pname);
}

jv jx_call_builtin(jx_state *st, const jx_func *f, const jx_args *a) {
    jv self = f->self;
    jv x[4];
    static const char *const SPLIT[] = {"sep", "maxsplit"};
    static const char *const ONE[] = {"x"};
    static const char *const TWO[] = {"x", "y"};
    static const char *const THREE[] = {"x", "y", "z"};
    switch ((jx_builtin)f->id) {
    case BI_RAISE_EXCEPTION: {
        jx_bind_args(st, "raise_exception", a, ONE, 1, x);
        if (x[0].kind == JV_MISSING) jx_fail(st, "raise_exception() missing 1 required positional argument: 'message'");
        jv msg = jv_str_of(st, x[0]);
        jx_fail_raise(st, msg.s.p, msg.s.n);
    }
    case BI_STRFTIME_NOW:
        jx_bind_args(st, "strftime_now", a, ONE, 1, x);
        if (x[0].kind == JV_MISSING) jx_fail(st, "strftime_now() missing 1 required positional argument: 'format'");
        return jx_strftime_now(st, x[0]);
    case BI_NAMESPACE: return make_namespace(st, a);
    case BI_RANGE: return make_range(st, a);
    case BI_DICT: {
        jv d = make_namespace(st, a);
        d.kind = JV_DICT;
        return d;
    }
    case BI_UNIMPLEMENTED:
        if (self.kind == JV_MISSING) jx_fail_unsupported(st, st->line, "unsupported function '%s'", f->name);
        jx_fail_unsupported(st, st->line, "unsupported method '%s.%s'", jv_type_name(self), f->name);
    case BI_UNSAFE: jx_fail(st, "access to attribute '%s' of '%s' object is unsafe.", f->name, jv_type_name(self));
    default: break;
    }

    if (self.kind == JV_STR) {
        switch ((jx_builtin)f->id) {
        case BI_STR_STRIP:
        case BI_STR_LSTRIP:
        case BI_STR_RSTRIP:
            jx_bind_args(st, f->name, a, ONE, 1, x);
            return jx_str_strip(st, self, x[0], f->id != BI_STR_RSTRIP, f->id != BI_STR_LSTRIP);
        case BI_STR_SPLIT:
        case BI_STR_RSPLIT: {
            jx_bind_args(st, f->name, a, SPLIT, 2, x);
            int64_t maxsplit = int_arg(st, x[1], -1);
            bool right = f->id == BI_STR_RSPLIT;
            if (x[0].kind == JV_MISSING || x[0].kind == JV_NONE) return split_ws(st, self, maxsplit, right);
            return split_sep(st, self, need_str(st, x[0], "separator"), maxsplit, right);
        }
        case BI_STR_STARTSWITH:
        case BI_STR_ENDSWITH:
            jx_bind_args(st, f->name, a, THREE, 3, x);
            require(st, f->name, x[0], "prefix");
            jx_check_defined(st, x[0]);
            return jv_bool(affix_match(st, self, x[0], x[1], x[2], f->id == BI_STR_STARTSWITH, f->name));
        case BI_STR_UPPER: return map_case(st, self, 1);
        case BI_STR_LOWER: return map_case(st, self, 0);
        case BI_STR_SWAPCASE: return map_case(st, self, 2);
        case BI_STR_TITLE: return map_case(st, self, 3);
        case BI_STR_CAPITALIZE: return map_case(st, self, 4);
        case BI_STR_REPLACE:
            jx_bind_args(st, f->name, a, THREE, 3, x);
            require(st, f->name, x[0], "old");
            require(st, f->name, x[1], "new");
            need_str(st, x[0], "replace() argument 1");
            need_str(st, x[1], "replace() argument 2");
            return jx_str_replace(st, self, x[0], x[1], int_arg(st, x[2], -1));
        case BI_STR_FIND:
        case BI_STR_RFIND:
        case BI_STR_INDEX:
        case BI_STR_RINDEX: {
            jx_bind_args(st, f->name, a, THREE, 3, x);
            require(st, f->name, x[0], "sub");
            int64_t r = find_sub(st, self, x[0], x[1], x[2], f->id == BI_STR_RFIND || f->id == BI_STR_RINDEX);
            if (r < 0 && (f->id == BI_STR_INDEX || f->id == BI_STR_RINDEX)) jx_fail(st, "substring not found");
            return jv_int(r);
        }
        case BI_STR_COUNT: {
            jx_bind_args(st, f->name, a, THREE, 3, x);
            require(st, f->name, x[0], "sub");
            need_str(st, x[0], "must be str");
            size_t lo, hi;
            sub_range(st, self, x[1], x[2], &lo, &hi);
            if (x[0].s.n == 0) return jv_int((int64_t)jx_utf8_count(self.s.p + lo, hi - lo) + 1);
            int64_t c = 0;
            const char *p = self.s.p + lo, *e = self.s.p + hi;
            const char *h;
            while ((h = find_bytes(p, (size_t)(e - p), x[0].s.p, x[0].s.n))) {
                c++;
                p = h + x[0].s.n;
            }
            return jv_int(c);
        }
        case BI_STR_JOIN: {
            jx_bind_args(st, f->name, a, ONE, 1, x);
            require(st, f->name, x[0], "iterable");
            size_t n;
            const jv *items = jv_iterate(st, x[0], &n);
            jx_buf b = {0};
            for (size_t i = 0; i < n; i++) {
                if (items[i].kind != JV_STR) jx_fail(st, "sequence item %zu: expected str instance, %s found", i, jv_type_name(items[i]));
                if (i) jx_buf_put(st, &b, self.s.p, self.s.n);
                jx_buf_put(st, &b, items[i].s.p, items[i].s.n);
            }
            return jv_str(b.p, b.n);
        }
        case BI_STR_FORMAT: return str_format(st, self, a);
        case BI_STR_ISDIGIT: return jv_bool(all_chars(self, 0));
        case BI_STR_ISALPHA: return jv_bool(all_chars(self, 1));
        case BI_STR_ISALNUM: return jv_bool(all_chars(self, 2));
        case BI_STR_ISSPACE: return jv_bool(all_chars(self, 3));
        case BI_STR_ISUPPER: return jv_bool(all_chars(self, 4));
        case BI_STR_ISLOWER: return jv_bool(all_chars(self, 5));
        case BI_STR_REMOVEPREFIX:
        case BI_STR_REMOVESUFFIX: {
            jx_bind_args(st, f->name, a, ONE, 1, x);
            require(st, f->name, x[0], "affix");
            need_str(st, x[0], "argument");
            size_t k = x[0].s.n;
            if (k > self.s.n) return self;
            if (f->id == BI_STR_REMOVEPREFIX)
                return memcmp(self.s.p, x[0].s.p, k) == 0 ? jv_str(self.s.p + k, self.s.n - k) : self;
            return memcmp(self.s.p + self.s.n - k, x[0].s.p, k) == 0 ? jv_str(self.s.p, self.s.n - k) : self;
        }
        case BI_STR_SPLITLINES: {
            jx_bind_args(st, f->name, a, ONE, 1, x);
            bool keep = x[0].kind != JV_MISSING && jv_truthy(x[0]);
            jx_vec out = {0};
            size_t i = 0, start = 0;
            while (i < self.s.n) {
                int len;
                uint32_t c = jx_utf8_decode(self.s.p + i, self.s.n - i, &len);
                bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                           c == 0x85 || c == 0x2028 || c == 0x2029;
                if (!brk) {
                    i += (size_t)len;
                    continue;
                }
                size_t eol = i;
                i += (size_t)len;
                if (c == '\r' && i < self.s.n && self.s.p[i] == '\n') i++;
                jx_vec_push(st, &out, jv_str(self.s.p + start, (keep ? i : eol) - start));
                start = i;
            }
            if (start < self.s.n) jx_vec_push(st, &out, jv_str(self.s.p + start, self.s.n - start));
            return jx_vec_to_list(st, &out, JL_LIST);
        }
        case BI_STR_CENTER:
        case BI_STR_LJUST:
        case BI_STR_RJUST:
        case BI_STR_ZFILL:
            jx_bind_args(st, f->name, a, TWO, f->id == BI_STR_ZFILL ? 1 : 2, x);
            require(st, f->name, x[0], "width");
            return pad(st, self, x[0], f->id == BI_STR_ZFILL ? (jv){.kind = JV_MISSING} : x[1],
                       f->id == BI_STR_CENTER ? 0 : f->id == BI_STR_LJUST ? 1 : f->id == BI_STR_RJUST ? 2 : 3);
        case BI_STR_PARTITION:
        case BI_STR_RPARTITION: {
            jx_bind_args(st, f->name, a, ONE, 1, x);
            require(st, f->name, x[0], "sep");
            need_str(st, x[0], "separator");
            if (x[0].s.n == 0) jx_fail(st, "empty separator");
            const char *h = f->id == BI_STR_PARTITION ? find_bytes(self.s.p, self.s.n, x[0].s.p, x[0].s.n)
                                                      : rfind_bytes(self.s.p, self.s.n, x[0].s.p, x[0].s.n);
            jv out = jv_list_new(st, 3, JL_TUPLE);
            if (!h) {
                bool left = f->id == BI_STR_PARTITION;
                out.l->v[0] = left ? self : jv_str("", 0);
                out.l->v[1] = jv_str("", 0);
                out.l->v[2] = left ? jv_str("", 0) : self;
            } else {
                size_t at = (size_t)(h - self.s.p);
                out.l->v[0] = jv_str(self.s.p, at);
                out.l->v[1] = x[0];
                out.l->v[2] = jv_str(h + x[0].s.n, self.s.n - at - x[0].s.n);
            }
            return out;
        }
        default: break;
        }
    }

    if (self.kind == JV_DICT) {
        const jx_dict *d = self.d;
        switch ((jx_builtin)f->id) {
        case BI_DICT_ITEMS: {
            jx_bind_args(st, f->name, a, NULL, 0, x);
            jv out = jv_list_new(st, d->n, JL_ITEMS);
            for (size_t i = 0; i < d->n; i++) {
                jv t = jv_list_new(st, 2, JL_TUPLE);
                t.l->v[0] = d->keys[i];
                t.l->v[1] = d->vals[i];
                out.l->v[i] = t;
            }
            return out;
        }
        case BI_DICT_KEYS:
        case BI_DICT_VALUES: {
            jx_bind_args(st, f->name, a, NULL, 0, x);
            jv out = jv_list_new(st, d->n, f->id == BI_DICT_KEYS ? JL_KEYS : JL_VALUES);
            if (d->n) memcpy(out.l->v, f->id == BI_DICT_KEYS ? d->keys : d->vals, d->n * sizeof(jv));
            return out;
        }
        case BI_DICT_GET: {
            jx_bind_args(st, f->name, a, TWO, 2, x);
            require(st, f->name, x[0], "key");
            jv_hash(st, x[0]);
            jv *v = jx_dict_get(st, d, x[0]);
            if (v) return *v;
            return x[1].kind == JV_MISSING ? jv_none() : x[1];
        }
        case BI_DICT_COPY: {
            jx_bind_args(st, f->name, a, NULL, 0, x);
            jv out = jv_dict_new(st);
            for (size_t i = 0; i < d->n; i++) jx_dict_set(st, out.d, d->keys[i], d->vals[i]);
            return out;
        }
        default: break;
        }
    }

    if (self.kind == JV_LIST) {
        const jx_list *l = self.l;
        switch ((jx_builtin)f->id) {
        case BI_LIST_INDEX:
            jx_bind_args(st, f->name, a, ONE, 1, x);
            require(st, f->name, x[0], "value");
            for (size_t i = 0; i < l->n; i++)
                if (jv_eq(st, l->v[i], x[0])) return jv_int((int64_t)i);
            {
                jx_buf b = {0};
                jv_repr(st, &b, x[0]);
                if (l->kind == JL_TUPLE) jx_fail(st, "tuple.index(x): x not in tuple");
                jx_fail(st, "%.*s is not in list", (int)b.n, b.p);
            }
        case BI_LIST_COUNT: {
            jx_bind_args(st, f->name, a, ONE, 1, x);
            require(st, f->name, x[0], "value");
            int64_t c = 0;
            for (size_t i = 0; i < l->n; i++) c += jv_eq(st, l->v[i], x[0]);
            return jv_int(c);
        }
        case BI_LIST_COPY: {
            jx_bind_args(st, f->name, a, NULL, 0, x);
            jv out = jv_list_new(st, l->n, JL_LIST);
            if (l->n) memcpy(out.l->v, l->v, l->n * sizeof(jv));
            return out;
        }
        default: break;
        }
    }

    if (self.kind == JV_LOOP) {
        jx_loop *lp = self.loop;
        if (f->id == BI_LOOP_CYCLE) {
            if (a->nkw) jx_fail(st, "cycle() takes no keyword arguments");
            if (a->nargs == 0) jx_fail(st, "no items for cycling given");
            return a->args[lp->i % (size_t)a->nargs];
        }
        if (f->id == BI_LOOP_CHANGED) {
            jv t = jv_list_new(st, (size_t)a->nargs, JL_TUPLE);
            for (int i = 0; i < a->nargs; i++) t.l->v[i] = a->args[i];
            if (lp->changed_seen && jv_eq(st, lp->changed_last, t)) return jv_bool(false);
            lp->changed_seen = true;
            lp->changed_last = t;
            return jv_bool(true);
        }
    }
    jx_fail(st, "cannot call '%s' here", f->name);
}
