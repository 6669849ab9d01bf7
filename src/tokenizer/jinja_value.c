/*
 * jinja_value.c - values as Python sees them: constructors, type names (for error messages that
 * match Python's), truthiness, ==, ordering, hashing, len(), str() and repr(), iteration, and the
 * ordered dict behind dicts and namespaces.
 */
#include "tokenizer/jinja_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const jv JV_UNDEF_VALUE = {.kind = JV_UNDEF};

jv jv_none(void) {
    return (jv){.kind = JV_NONE};
}
jv jv_bool(bool b) {
    return (jv){.kind = JV_BOOL, .b = b};
}
jv jv_int(int64_t i) {
    return (jv){.kind = JV_INT, .i = i};
}
jv jv_float(double f) {
    return (jv){.kind = JV_FLOAT, .f = f};
}
jv jv_str(const char *p, size_t n) {
    jv v = {.kind = JV_STR};
    v.s.p = n ? p : "";
    v.s.n = n;
    return v;
}
jv jv_cstr(const char *s) {
    return jv_str(s, strlen(s));
}
jv jv_str_copy(jx_state *st, const char *p, size_t n) {
    return jv_str(jx_strdup(st, p, n), n);
}

jv jv_list_new(jx_state *st, size_t n, uint8_t kind) {
    jx_list *l = jx_alloc(st, sizeof *l);
    if (n > (SIZE_MAX / 2) / sizeof(jv)) jx_fail(st, "list too large");
    l->v = n ? jx_alloc(st, n * sizeof(jv)) : NULL;
    l->n = n;
    l->kind = kind;
    return (jv){.kind = JV_LIST, .l = l};
}

jv jv_dict_new(jx_state *st) {
    return (jv){.kind = JV_DICT, .d = jx_alloc(st, sizeof(jx_dict))};
}

jv jv_undef_name(jx_state *st, const char *name, size_t len) {
    jx_undef *u = jx_alloc(st, sizeof *u);
    u->name = jv_str(name, len);
    return (jv){.kind = JV_UNDEF, .u = u};
}

jv jv_undef_attr(jx_state *st, jv obj, jv name) {
    jx_undef *u = jx_alloc(st, sizeof *u);
    u->obj_type = jv_object_type_repr(obj);
    u->name = name;
    return (jv){.kind = JV_UNDEF, .u = u};
}

jv jv_undef_hint(jx_state *st, const char *hint) {
    jx_undef *u = jx_alloc(st, sizeof *u);
    u->hint = hint;
    return (jv){.kind = JV_UNDEF, .u = u};
}

jv jv_func(jx_state *st, int id, jv self, const char *name) {
    jx_func *f = jx_alloc(st, sizeof *f);
    f->id = id;
    f->self = self;
    f->name = name;
    return (jv){.kind = JV_FUNC, .fn = f};
}

/* ------------------------------------------------------------------ type names */

static const char *list_type_name(uint8_t kind) {
    switch (kind) {
    case JL_TUPLE: return "tuple";
    case JL_GEN: return "generator";
    case JL_ITEMS: return "dict_items";
    case JL_KEYS: return "dict_keys";
    case JL_VALUES: return "dict_values";
    default: return "list";
    }
}

const char *jv_type_name(jv v) {
    switch ((jv_kind)v.kind) {
    case JV_MISSING: return "missing";
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return (v.flags & JV_FLAG_MARKUP) ? "Markup" : "str";
    case JV_LIST: return list_type_name(v.l->kind);
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_MACRO: return "Macro";
    case JV_FUNC: return v.fn->self.kind == JV_MISSING ? "function" : "builtin_function_or_method";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

const char *jv_object_type_repr(jv v) {
    switch ((jv_kind)v.kind) {
    case JV_NONE: return "None";
    case JV_UNDEF: return "jinja2.runtime.Undefined object";
    case JV_BOOL: return "bool object";
    case JV_INT: return "int object";
    case JV_FLOAT: return "float object";
    case JV_STR: return (v.flags & JV_FLAG_MARKUP) ? "markupsafe.Markup object" : "str object";
    case JV_LIST:
        switch (v.l->kind) {
        case JL_TUPLE: return "tuple object";
        case JL_GEN: return "generator object";
        case JL_ITEMS: return "dict_items object";
        case JL_KEYS: return "dict_keys object";
        case JL_VALUES: return "dict_values object";
        default: return "list object";
        }
    case JV_DICT: return "dict object";
    case JV_NS: return "jinja2.utils.Namespace object";
    case JV_MACRO: return "jinja2.runtime.Macro object";
    case JV_FUNC: return v.fn->self.kind == JV_MISSING ? "function object" : "builtin_function_or_method object";
    case JV_LOOP: return "jinja2.runtime.LoopContext object";
    case JV_MISSING: break;
    }
    return "object";
}

_Noreturn void jx_fail_undefined(jx_state *st, jv v) {
    const jx_undef *u = v.u;
    if (!u) jx_fail(st, "undefined value");
    if (u->hint) jx_fail(st, "%s", u->hint);
    jx_buf name = {0};
    jv_repr(st, &name, u->name);
    if (!u->obj_type) jx_fail(st, "%.*s is undefined", (int)name.n, name.p);
    if (u->name.kind != JV_STR) jx_fail(st, "%s has no element %.*s", u->obj_type, (int)name.n, name.p);
    jx_fail(st, "'%s' has no attribute %.*s", u->obj_type, (int)name.n, name.p);
}

void jx_check_defined(jx_state *st, jv v) {
    if (v.kind == JV_UNDEF) jx_fail_undefined(st, v);
}

/* ------------------------------------------------------------------ truth, equality, order */

bool jv_truthy(jv v) {
    switch ((jv_kind)v.kind) {
    case JV_MISSING:
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0.0;
    case JV_STR: return v.s.n > 0;
    case JV_LIST: return v.l->kind == JL_GEN ? true : v.l->n > 0;
    case JV_DICT: return v.d->n > 0;
    case JV_LOOP: return v.loop->n > 0;
    case JV_NS:
    case JV_MACRO:
    case JV_FUNC: return true;
    }
    return true;
}

static double num_as_double(jv v) {
    return v.kind == JV_FLOAT ? v.f : v.kind == JV_BOOL ? (double)v.b : (double)v.i;
}
static int64_t num_as_int(jv v) {
    return v.kind == JV_BOOL ? (int64_t)v.b : v.i;
}

/* Compares two numbers exactly as Python does (ints and floats without rounding surprises). */
static int num_cmp(jv a, jv b, bool *unordered) {
    *unordered = false;
    if (a.kind != JV_FLOAT && b.kind != JV_FLOAT) {
        int64_t x = num_as_int(a), y = num_as_int(b);
        return (x > y) - (x < y);
    }
    double x = num_as_double(a), y = num_as_double(b);
    if (isnan(x) || isnan(y)) {
        *unordered = true;
        return 0;
    }
    if (a.kind != JV_FLOAT || b.kind != JV_FLOAT) {
        /* int against float: compare as integers when the float is integral and in range */
        jv fi = a.kind == JV_FLOAT ? a : b, ii = a.kind == JV_FLOAT ? b : a;
        if (fi.f >= -9.2e18 && fi.f <= 9.2e18 && fi.f == floor(fi.f)) {
            int64_t f = (int64_t)fi.f, i = num_as_int(ii);
            int c = (i > f) - (i < f);
            return a.kind == JV_FLOAT ? -c : c;
        }
    }
    return (x > y) - (x < y);
}

bool jv_eq(jx_state *st, jv a, jv b) {
    if (a.kind == JV_UNDEF || b.kind == JV_UNDEF) return a.kind == b.kind;
    if (jv_is_num(a) && jv_is_num(b)) {
        bool unordered;
        int c = num_cmp(a, b, &unordered);
        return !unordered && c == 0;
    }
    if (a.kind != b.kind) return false;
    switch ((jv_kind)a.kind) {
    case JV_NONE: return true;
    case JV_STR: return a.s.n == b.s.n && (a.s.n == 0 || memcmp(a.s.p, b.s.p, a.s.n) == 0);
    case JV_LIST:
        if (a.l == b.l) return true;
        if (a.l->kind != b.l->kind || a.l->kind == JL_GEN) return false;
        if (a.l->n != b.l->n) return false;
        jx_charge(st, 1);
        for (size_t i = 0; i < a.l->n; i++)
            if (!jv_eq(st, a.l->v[i], b.l->v[i])) return false;
        return true;
    case JV_DICT:
        if (a.d == b.d) return true;
        if (a.d->n != b.d->n) return false;
        jx_charge(st, 1);
        for (size_t i = 0; i < a.d->n; i++) {
            jv *other = jx_dict_get(st, b.d, a.d->keys[i]);
            if (!other || !jv_eq(st, a.d->vals[i], *other)) return false;
        }
        return true;
    case JV_NS: return a.d == b.d;
    case JV_MACRO: return a.m == b.m;
    case JV_FUNC: return a.fn == b.fn;
    case JV_LOOP: return a.loop == b.loop;
    default: return false;
    }
}

int jv_cmp(jx_state *st, jv a, jv b, const char *opname) {
    if (a.kind == JV_UNDEF) jx_fail_undefined(st, a);
    if (b.kind == JV_UNDEF) jx_fail_undefined(st, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        bool unordered;
        return num_cmp(a, b, &unordered);
    }
    if (a.kind == JV_STR && b.kind == JV_STR) {
        size_t n = a.s.n < b.s.n ? a.s.n : b.s.n;
        int c = n ? memcmp(a.s.p, b.s.p, n) : 0;
        if (c) return c < 0 ? -1 : 1;
        return (a.s.n > b.s.n) - (a.s.n < b.s.n);
    }
    if (jv_is_seq(a) && jv_is_seq(b) && a.l->kind == b.l->kind) {
        size_t n = a.l->n < b.l->n ? a.l->n : b.l->n;
        for (size_t i = 0; i < n; i++)
            if (!jv_eq(st, a.l->v[i], b.l->v[i])) return jv_cmp(st, a.l->v[i], b.l->v[i], opname);
        return (a.l->n > b.l->n) - (a.l->n < b.l->n);
    }
    jx_fail(st, "'%s' not supported between instances of '%s' and '%s'", opname, jv_type_name(a), jv_type_name(b));
}

static uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

uint64_t jv_hash(jx_state *st, jv v) {
    switch ((jv_kind)v.kind) {
    case JV_STR: {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < v.s.n; i++) {
            h ^= (uint8_t)v.s.p[i];
            h *= 0x100000001b3ull;
        }
        return mix64(h);
    }
    case JV_BOOL:
    case JV_INT: return mix64((uint64_t)num_as_int(v));
    case JV_FLOAT:
        if (v.f >= -9.2e18 && v.f <= 9.2e18 && v.f == floor(v.f)) return mix64((uint64_t)(int64_t)v.f);
        {
            uint64_t bits;
            memcpy(&bits, &v.f, sizeof bits);
            return mix64(bits ^ 0x5bd1e995ull);
        }
    case JV_NONE: return 0x9e3779b97f4a7c15ull;
    case JV_UNDEF: return 0x7f4a7c159e3779b9ull;
    case JV_LIST:
        if (v.l->kind == JL_TUPLE) {
            uint64_t h = 0x345678;
            for (size_t i = 0; i < v.l->n; i++) h = mix64(h ^ jv_hash(st, v.l->v[i]));
            return h;
        }
        if (v.l->kind == JL_GEN) return mix64((uint64_t)(uintptr_t)v.l);
        break;
    case JV_NS:
    case JV_MACRO:
    case JV_FUNC:
    case JV_LOOP: return mix64((uint64_t)(uintptr_t)v.d);
    default: break;
    }
    jx_fail(st, "unhashable type: '%s'", jv_type_name(v));
}

size_t jv_len(jx_state *st, jv v) {
    switch ((jv_kind)v.kind) {
    case JV_UNDEF: return 0;
    case JV_STR: return jx_utf8_count(v.s.p, v.s.n);
    case JV_LIST:
        if (v.l->kind != JL_GEN) return v.l->n;
        break;
    case JV_DICT: return v.d->n;
    case JV_LOOP: return v.loop->n;
    default: break;
    }
    jx_fail(st, "object of type '%s' has no len()", jv_type_name(v));
}

/* ------------------------------------------------------------------ str() and repr() */

void jx_fmt_float(double f, char out[40]) {
    if (isnan(f)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(out, f < 0 ? "-inf" : "inf");
        return;
    }
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf: [-]d[.ddd]e[+-]XX */
    const char *p = buf;
    char *o = out;
    if (*p == '-') *o++ = *p++;
    char digits[24];
    int nd = 0;
    while (*p && *p != 'e') {
        if (*p != '.') digits[nd++] = *p;
        p++;
    }
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = exp + 1;
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        } else if (decpt >= nd) {
            for (int i = 0; i < nd; i++) *o++ = digits[i];
            for (int i = nd; i < decpt; i++) *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            for (int i = 0; i < decpt; i++) *o++ = digits[i];
            *o++ = '.';
            for (int i = decpt; i < nd; i++) *o++ = digits[i];
        }
        *o = 0;
        return;
    }
    *o++ = digits[0];
    if (nd > 1) {
        *o++ = '.';
        for (int i = 1; i < nd; i++) *o++ = digits[i];
    }
    int e = exp < 0 ? -exp : exp; /* |exp| <= 324 for doubles */
    *o++ = 'e';
    *o++ = exp < 0 ? '-' : '+';
    if (e >= 100) *o++ = (char)('0' + e / 100);
    *o++ = (char)('0' + e / 10 % 10);
    *o++ = (char)('0' + e % 10);
    *o = 0;
}

static void repr_str(jx_state *st, jx_buf *b, const char *p, size_t n) {
    bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    jx_buf_putc(st, b, q);
    for (size_t i = 0; i < n;) {
        int len = 1;
        uint32_t c = (unsigned char)p[i];
        if (c >= 0x80) c = jx_utf8_decode(p + i, n - i, &len);
        char esc[16];
        if (c == (uint32_t)q || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            jx_buf_put(st, b, esc, 2);
        } else if (c == '\t') {
            jx_buf_put(st, b, "\\t", 2);
        } else if (c == '\n') {
            jx_buf_put(st, b, "\\n", 2);
        } else if (c == '\r') {
            jx_buf_put(st, b, "\\r", 2);
        } else if (c < 0x20 || c == 0x7F) {
            jx_buf_printf(st, b, "\\x%02x", c);
        } else if (c < 0x7F || jx_py_isprintable(c)) {
            jx_buf_put(st, b, p + i, (size_t)len);
        } else if (c <= 0xFF) {
            jx_buf_printf(st, b, "\\x%02x", c);
        } else if (c <= 0xFFFF) {
            jx_buf_printf(st, b, "\\u%04x", c);
        } else {
            jx_buf_printf(st, b, "\\U%08x", c);
        }
        i += (size_t)len;
    }
    jx_buf_putc(st, b, q);
}

static void repr_items(jx_state *st, jx_buf *b, const jv *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) jx_buf_put(st, b, ", ", 2);
        jv_repr(st, b, v[i]);
    }
}

static void repr_dict(jx_state *st, jx_buf *b, const jx_dict *d) {
    jx_buf_putc(st, b, '{');
    for (size_t i = 0; i < d->n; i++) {
        if (i) jx_buf_put(st, b, ", ", 2);
        jv_repr(st, b, d->keys[i]);
        jx_buf_put(st, b, ": ", 2);
        jv_repr(st, b, d->vals[i]);
    }
    jx_buf_putc(st, b, '}');
}

void jv_to_str(jx_state *st, jx_buf *b, jv v) {
    char tmp[48];
    switch ((jv_kind)v.kind) {
    case JV_MISSING:
    case JV_UNDEF: return;
    case JV_NONE: jx_buf_put(st, b, "None", 4); return;
    case JV_BOOL: v.b ? jx_buf_put(st, b, "True", 4) : jx_buf_put(st, b, "False", 5); return;
    case JV_INT: jx_buf_printf(st, b, "%lld", (long long)v.i); return;
    case JV_FLOAT:
        jx_fmt_float(v.f, tmp);
        jx_buf_put(st, b, tmp, strlen(tmp));
        return;
    case JV_STR: jx_buf_put(st, b, v.s.p, v.s.n); return;
    case JV_LIST:
        switch (v.l->kind) {
        case JL_TUPLE:
            jx_buf_putc(st, b, '(');
            repr_items(st, b, v.l->v, v.l->n);
            if (v.l->n == 1) jx_buf_putc(st, b, ',');
            jx_buf_putc(st, b, ')');
            return;
        case JL_GEN: jx_buf_put(st, b, "<generator object>", 18); return;
        case JL_ITEMS:
        case JL_KEYS:
        case JL_VALUES:
            jx_buf_printf(st, b, "%s([", list_type_name(v.l->kind));
            repr_items(st, b, v.l->v, v.l->n);
            jx_buf_put(st, b, "])", 2);
            return;
        default:
            jx_buf_putc(st, b, '[');
            repr_items(st, b, v.l->v, v.l->n);
            jx_buf_putc(st, b, ']');
            return;
        }
    case JV_DICT: repr_dict(st, b, v.d); return;
    case JV_NS:
        jx_buf_put(st, b, "<Namespace ", 11);
        repr_dict(st, b, v.d);
        jx_buf_putc(st, b, '>');
        return;
    case JV_MACRO:
        jx_buf_printf(st, b, "<Macro '%.*s'>", (int)v.m->def->name_len, v.m->def->name);
        return;
    case JV_FUNC:
        if (v.fn->self.kind == JV_MISSING) jx_buf_printf(st, b, "<function %s>", v.fn->name);
        else jx_buf_printf(st, b, "<built-in method %s of %s>", v.fn->name, jv_object_type_repr(v.fn->self));
        return;
    case JV_LOOP: jx_buf_printf(st, b, "<LoopContext %zu/%zu>", v.loop->i + 1, v.loop->n); return;
    }
}

void jv_repr(jx_state *st, jx_buf *b, jv v) {
    if (v.kind == JV_STR) {
        if (v.flags & JV_FLAG_MARKUP) jx_buf_put(st, b, "Markup(", 7);
        repr_str(st, b, v.s.p, v.s.n);
        if (v.flags & JV_FLAG_MARKUP) jx_buf_putc(st, b, ')');
        return;
    }
    if (v.kind == JV_UNDEF) {
        jx_buf_put(st, b, "Undefined", 9);
        return;
    }
    jv_to_str(st, b, v);
}

jv jv_str_of(jx_state *st, jv v) {
    if (v.kind == JV_STR) {
        v.flags = 0;
        return v;
    }
    jx_buf b = {0};
    jv_to_str(st, &b, v);
    return jv_str(b.p, b.n);
}

/* ------------------------------------------------------------------ iteration */

const jv *jv_iterate(jx_state *st, jv v, size_t *n) {
    switch ((jv_kind)v.kind) {
    case JV_UNDEF:
        *n = 0;
        return NULL;
    case JV_LIST:
        if (v.l->kind == JL_GEN) {
            if (v.l->gen_err) jx_fail(st, "%s", v.l->gen_err);
            size_t pos = v.l->pos;
            v.l->pos = v.l->n;
            *n = v.l->n - pos;
            return *n ? v.l->v + pos : NULL; /* an empty generator may have no array at all */
        }
        *n = v.l->n;
        return v.l->v;
    case JV_DICT:
        *n = v.d->n;
        return v.d->keys;
    case JV_STR: {
        size_t count = jx_utf8_count(v.s.p, v.s.n);
        jv *out = count ? jx_alloc(st, count * sizeof *out) : NULL;
        size_t k = 0;
        for (size_t i = 0; i < v.s.n && k < count;) {
            int len = 1;
            if ((unsigned char)v.s.p[i] >= 0x80) jx_utf8_decode(v.s.p + i, v.s.n - i, &len);
            out[k++] = jv_str(v.s.p + i, (size_t)len);
            i += (size_t)len;
        }
        jx_charge(st, count / 16);
        *n = k;
        return out;
    }
    default: break;
    }
    jx_fail(st, "'%s' object is not iterable", jv_type_name(v));
}

/* ------------------------------------------------------------------ dicts */

enum { DICT_INDEX_FROM = 8 };

static void dict_reindex(jx_state *st, jx_dict *d, size_t cap) {
    d->idx = jx_alloc(st, cap * sizeof *d->idx);
    d->idx_cap = cap;
    for (size_t i = 0; i < d->n; i++) {
        size_t slot = (size_t)jv_hash(st, d->keys[i]) & (cap - 1);
        while (d->idx[slot]) slot = (slot + 1) & (cap - 1);
        d->idx[slot] = (uint32_t)(i + 1);
    }
}

ptrdiff_t jx_dict_find(jx_state *st, const jx_dict *d, jv key) {
    if (!d->idx) {
        for (size_t i = 0; i < d->n; i++)
            if (jv_eq(st, d->keys[i], key)) return (ptrdiff_t)i;
        return -1;
    }
    size_t slot = (size_t)jv_hash(st, key) & (d->idx_cap - 1);
    while (d->idx[slot]) {
        size_t i = d->idx[slot] - 1;
        if (jv_eq(st, d->keys[i], key)) return (ptrdiff_t)i;
        slot = (slot + 1) & (d->idx_cap - 1);
    }
    return -1;
}

jv *jx_dict_get(jx_state *st, const jx_dict *d, jv key) {
    ptrdiff_t i = jx_dict_find(st, d, key);
    return i < 0 ? NULL : &d->vals[i];
}

jv *jx_dict_get_str(jx_state *st, const jx_dict *d, const char *k, size_t n) {
    if (!d->idx) {
        for (size_t i = 0; i < d->n; i++)
            if (jv_str_eq(d->keys[i], k, n)) return &d->vals[i];
        return NULL;
    }
    return jx_dict_get(st, d, jv_str(k, n));
}

void jx_dict_set(jx_state *st, jx_dict *d, jv key, jv val) {
    uint64_t h = jv_hash(st, key); /* also rejects unhashable keys */
    (void)h;
    ptrdiff_t i = jx_dict_find(st, d, key);
    if (i >= 0) {
        d->vals[i] = val;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        if (cap > UINT32_MAX / 4) jx_fail(st, "dict too large");
        d->keys = jx_grow(st, d->keys, d->n * sizeof(jv), cap * sizeof(jv));
        d->vals = jx_grow(st, d->vals, d->n * sizeof(jv), cap * sizeof(jv));
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
    if (d->n >= DICT_INDEX_FROM) {
        if (!d->idx || d->n * 2 > d->idx_cap) {
            size_t cap = 16;
            while (cap < d->n * 4) cap *= 2;
            dict_reindex(st, d, cap);
        } else {
            size_t slot = (size_t)jv_hash(st, key) & (d->idx_cap - 1);
            while (d->idx[slot]) slot = (slot + 1) & (d->idx_cap - 1);
            d->idx[slot] = (uint32_t)d->n;
        }
    }
}

/* ------------------------------------------------------------------ list builder */

void jx_vec_push(jx_state *st, jx_vec *vec, jv v) {
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 8;
        if (cap > (SIZE_MAX / 4) / sizeof(jv)) jx_fail(st, "list too large");
        vec->v = jx_grow(st, vec->v, vec->n * sizeof(jv), cap * sizeof(jv));
        vec->cap = cap;
    }
    vec->v[vec->n++] = v;
}

jv jx_vec_to_list(jx_state *st, jx_vec *vec, uint8_t kind) {
    jx_list *l = jx_alloc(st, sizeof *l);
    l->v = vec->v;
    l->n = vec->n;
    l->kind = kind;
    return (jv){.kind = JV_LIST, .l = l};
}
