/*
 * jinja_filters.c - the filters (`value|name(args)`) of jinja2 3.1 that chat templates use, with
 * `tojson` as transformers overrides it (json.dumps, ensure_ascii=False by default).
 *
 * Like jinja2, map/select/reject/selectattr/rejectattr/unique/items return one-pass generators
 * (so `|list` is needed before `|length` or `|tojson`), and |safe / |escape produce Markup
 * strings, whose `+` escapes the plain operand. Filters jinja2 has that are not here (random,
 * groupby, urlize, wordwrap ...) make the template fail to load with AG_ERR_UNSUPPORTED.
 */
#include "tokenizer/jinja_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(fname, ...)                                          \
    static const char *const names_[] = {__VA_ARGS__};            \
    jv x[sizeof names_ / sizeof names_[0]];                       \
    jx_bind_args(st, fname, a, names_, (int)(sizeof names_ / sizeof names_[0]), x)

static jv soft_str(jx_state *st, jv v) {
    if (v.kind == JV_STR) return v;
    return jv_str_of(st, v);
}

static bool arg_true(jv v) {
    return v.kind != JV_MISSING && jv_truthy(v);
}

static int64_t arg_int(jx_state *st, jv v, int64_t dflt, const char *what) {
    if (v.kind == JV_MISSING) return dflt;
    if (v.kind == JV_INT) return v.i;
    if (v.kind == JV_BOOL) return v.b;
    jx_check_defined(st, v);
    jx_fail(st, "%s must be an integer, not %s", what, jv_type_name(v));
}

static jv gen_from(jx_state *st, jx_vec *vec) {
    return jx_vec_to_list(st, vec, JL_GEN);
}

jv jx_escape(jx_state *st, jv v) {
    if (v.kind == JV_STR && (v.flags & JV_FLAG_MARKUP)) return v;
    jv s = jv_str_of(st, v);
    jx_buf b = {0};
    size_t run = 0;
    for (size_t i = 0; i < s.s.n; i++) {
        const char *rep = NULL;
        switch (s.s.p[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '\'': rep = "&#39;"; break;
        case '"': rep = "&#34;"; break;
        default: continue;
        }
        jx_buf_put(st, &b, s.s.p + run, i - run);
        jx_buf_put(st, &b, rep, strlen(rep));
        run = i + 1;
    }
    jv out = run == 0 ? s : (jx_buf_put(st, &b, s.s.p + run, s.s.n - run), jv_str(b.p, b.n));
    out.flags = JV_FLAG_MARKUP;
    return out;
}

/* Looks up "a.b.0" on an item the way jinja2's make_attrgetter does (getitem per part). */
static jv attr_path(jx_state *st, jv item, jv attribute) {
    if (attribute.kind == JV_MISSING || attribute.kind == JV_NONE) return item;
    if (attribute.kind != JV_STR) return jx_getitem(st, item, attribute);
    const char *p = attribute.s.p, *end = p + attribute.s.n;
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *e = dot ? dot : end;
        bool digits = e > p;
        for (const char *q = p; q < e; q++) digits = digits && *q >= '0' && *q <= '9';
        jv key = digits ? jv_int(atoll(p)) : jv_str(p, (size_t)(e - p));
        item = jx_getitem(st, item, key);
        if (!dot) return item;
        p = dot + 1;
    }
}

static jv ignore_case(jx_state *st, jv v, bool case_sensitive) {
    return (!case_sensitive && v.kind == JV_STR) ? jx_str_lower(st, v) : v;
}

/* ------------------------------------------------------------------ strings */

static jv f_trim(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("trim", "chars");
    return jx_str_strip(st, soft_str(st, in), x[0], true, true);
}

static jv f_string(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("string", "");
    return soft_str(st, in);
}

static jv f_lower(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("lower", "");
    return jx_str_lower(st, soft_str(st, in));
}

static jv f_upper(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("upper", "");
    return jx_str_upper(st, soft_str(st, in));
}

static jv f_capitalize(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("capitalize", "");
    jv s = soft_str(st, in);
    jx_func f = {BI_STR_CAPITALIZE, s, "capitalize"};
    jx_args none = {0};
    return jx_call_builtin(st, &f, &none);
}

static bool title_sep(uint32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || jx_py_isspace(c);
}

static jv f_title(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("title", "");
    /* jinja2 splits on runs of [-\s({\[<] and upper-cases the first character of each piece */
    jv s = soft_str(st, in);
    jx_buf b = {0};
    bool at_start = true;
    for (size_t i = 0; i < s.s.n;) {
        int len;
        uint32_t c = jx_utf8_decode(s.s.p + i, s.s.n - i, &len);
        uint32_t o;
        if (title_sep(c)) {
            o = c;
            at_start = true;
        } else {
            o = at_start ? jx_to_upper(c) : jx_to_lower(c);
            at_start = false;
        }
        char enc[4];
        jx_buf_put(st, &b, enc, (size_t)jx_utf8_encode(o, enc));
        i += (size_t)len;
    }
    return jv_str(b.p, b.n);
}

static jv f_replace(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("replace", "old", "new", "count");
    if (x[0].kind == JV_MISSING || x[1].kind == JV_MISSING) jx_fail(st, "replace() missing required arguments");
    int64_t count = (x[2].kind == JV_MISSING || x[2].kind == JV_NONE) ? -1 : arg_int(st, x[2], -1, "count");
    return jx_str_replace(st, jv_str_of(st, in), jv_str_of(st, x[0]), jv_str_of(st, x[1]), count);
}

static jv f_center(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("center", "width");
    jx_func f = {BI_STR_CENTER, soft_str(st, in), "center"};
    jv w = x[0].kind == JV_MISSING ? jv_int(80) : x[0];
    jx_args args = {.args = &w, .nargs = 1};
    return jx_call_builtin(st, &f, &args);
}

static jv f_indent(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("indent", "width", "first", "blank");
    jv s = soft_str(st, in);
    jv unit;
    if (x[0].kind == JV_STR) {
        unit = x[0];
    } else {
        int64_t w = arg_int(st, x[0], 4, "width");
        if (w > 4096) jx_fail(st, "indent width too large");
        char *sp = jx_alloc(st, w > 0 ? (size_t)w : 1);
        if (w > 0) memset(sp, ' ', (size_t)w);
        unit = jv_str(sp, w > 0 ? (size_t)w : 0);
    }
    bool first = arg_true(x[1]), blank = arg_true(x[2]);
    /* s + "\n", then str.splitlines() */
    jx_buf src = {0};
    jx_buf_put(st, &src, s.s.p, s.s.n);
    jx_buf_putc(st, &src, '\n');
    jx_func f = {BI_STR_SPLITLINES, jv_str(src.p, src.n), "splitlines"};
    jx_args none = {0};
    jv lines = jx_call_builtin(st, &f, &none);
    jx_buf b = {0};
    if (first) jx_buf_put(st, &b, unit.s.p, unit.s.n);
    for (size_t i = 0; i < lines.l->n; i++) {
        jv line = lines.l->v[i];
        if (i > 0) {
            jx_buf_putc(st, &b, '\n');
            if (blank || line.s.n) jx_buf_put(st, &b, unit.s.p, unit.s.n);
        }
        jx_buf_put(st, &b, line.s.p, line.s.n);
    }
    return jv_str(b.p, b.n);
}

static jv f_wordcount(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("wordcount", "");
    jv s = soft_str(st, in);
    int64_t words = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.s.n;) {
        int len;
        uint32_t c = jx_utf8_decode(s.s.p + i, s.s.n - i, &len);
        bool w = c == '_' || jx_is_alpha(c) || jx_is_digit(c);
        if (w && !in_word) words++;
        in_word = w;
        i += (size_t)len;
    }
    return jv_int(words);
}

static jv f_safe(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("safe", "");
    jv s = jv_str_of(st, in);
    s.flags = JV_FLAG_MARKUP;
    return s;
}

static jv f_escape(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("escape", "");
    return jx_escape(st, in);
}

static jv f_forceescape(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("forceescape", "");
    return jx_escape(st, jv_str_of(st, in));
}

/* printf-style formatting: %s %r %d %i %f %e %g %x %o %c %% with flags, width and precision */
static jv percent_format(jx_state *st, jv fmt, jv args) {
    size_t nargs = 1, used = 0;
    const jv *av = &args;
    if (args.kind == JV_LIST && args.l->kind == JL_TUPLE) {
        nargs = args.l->n;
        av = args.l->v;
    }
    jx_buf b = {0};
    const char *p = fmt.s.p, *end = p + fmt.s.n;
    while (p < end) {
        if (*p != '%') {
            jx_buf_putc(st, &b, *p++);
            continue;
        }
        const char *spec = p++;
        while (p < end && strchr("-+ #0", *p)) p++;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p < end && *p == '.') {
            p++;
            while (p < end && *p >= '0' && *p <= '9') p++;
        }
        if (p >= end) jx_fail(st, "incomplete format");
        char conv = *p++;
        if (conv == '%') {
            jx_buf_putc(st, &b, '%');
            continue;
        }
        if (used >= nargs) jx_fail(st, "not enough arguments for format string");
        jv v = av[used++];
        char cfmt[32];
        size_t flen = (size_t)(p - spec - 1);
        if (flen > 20) jx_fail_unsupported(st, st->line, "unsupported format specification");
        memcpy(cfmt, spec, flen);
        cfmt[flen] = 0;
        if (conv == 's' || conv == 'r') {
            jx_buf t = {0};
            if (conv == 's') jv_to_str(st, &t, v);
            else jv_repr(st, &t, v);
            if (flen > 1) jx_fail_unsupported(st, st->line, "unsupported width or precision with %%%c", conv);
            jx_buf_put(st, &b, t.p, t.n);
        } else if (strchr("dixXoc", conv)) {
            if (!jv_is_num(v)) jx_fail(st, "%%%c format: a real number is required, not %s", conv, jv_type_name(v));
            long long iv = v.kind == JV_FLOAT ? (long long)v.f : v.kind == JV_BOOL ? v.b : v.i;
            if (conv == 'i') conv = 'd';
            strcat(cfmt, "ll");
            size_t k = strlen(cfmt);
            cfmt[k] = conv;
            cfmt[k + 1] = 0;
            jx_buf_printf(st, &b, cfmt, iv);
        } else if (strchr("eEfFgG", conv)) {
            if (!jv_is_num(v)) jx_fail(st, "must be real number, not %s", jv_type_name(v));
            double dv = v.kind == JV_FLOAT ? v.f : v.kind == JV_BOOL ? v.b : (double)v.i;
            size_t k = strlen(cfmt);
            cfmt[k] = conv;
            cfmt[k + 1] = 0;
            jx_buf_printf(st, &b, cfmt, dv);
        } else {
            jx_fail_unsupported(st, st->line, "unsupported format character '%c'", conv);
        }
    }
    if (used < nargs && args.kind == JV_LIST && args.l->kind == JL_TUPLE)
        jx_fail(st, "not all arguments converted during string formatting");
    return jv_str(b.p, b.n);
}

static jv f_format(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    if (a->nargs && a->nkw) jx_fail(st, "can't handle positional and keyword arguments at the same time");
    if (a->nkw) jx_fail_unsupported(st, st->line, "unsupported keyword arguments in |format");
    jv t = jv_list_new(st, (size_t)a->nargs, JL_TUPLE);
    for (int i = 0; i < a->nargs; i++) t.l->v[i] = a->args[i];
    return percent_format(st, soft_str(st, in), t);
}

/* ------------------------------------------------------------------ numbers */

static jv f_int(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("int", "default", "base");
    jv dflt = x[0].kind == JV_MISSING ? jv_int(0) : x[0];
    int64_t base = arg_int(st, x[1], 10, "base");
    jx_check_defined(st, in);
    switch (in.kind) {
    case JV_INT: return in;
    case JV_BOOL: return jv_int(in.b);
    case JV_FLOAT:
        if (isnan(in.f) || isinf(in.f) || fabs(in.f) >= 9.2e18) return dflt;
        return jv_int((int64_t)in.f);
    case JV_STR: {
        char buf[128];
        jv s = jx_str_strip(st, in, (jv){.kind = JV_MISSING}, true, true);
        if (s.s.n == 0 || s.s.n >= sizeof buf) return dflt;
        size_t k = 0;
        for (size_t i = 0; i < s.s.n; i++)
            if (s.s.p[i] != '_') buf[k++] = s.s.p[i];
        buf[k] = 0;
        char *end;
        long long v = strtoll(buf, &end, (int)(base == 10 ? 10 : base));
        if (*end == 0 && end != buf) return jv_int(v);
        double d = strtod(buf, &end);
        if (*end == 0 && end != buf && !isnan(d) && !isinf(d) && fabs(d) < 9.2e18) return jv_int((int64_t)d);
        return dflt;
    }
    default: return dflt;
    }
}

static jv f_float(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("float", "default");
    jv dflt = x[0].kind == JV_MISSING ? jv_float(0.0) : x[0];
    jx_check_defined(st, in);
    if (in.kind == JV_FLOAT) return in;
    if (in.kind == JV_INT || in.kind == JV_BOOL) return jv_float(in.kind == JV_INT ? (double)in.i : in.b);
    if (in.kind == JV_STR) {
        char buf[128];
        jv s = jx_str_strip(st, in, (jv){.kind = JV_MISSING}, true, true);
        if (s.s.n == 0 || s.s.n >= sizeof buf) return dflt;
        memcpy(buf, s.s.p, s.s.n);
        buf[s.s.n] = 0;
        char *end;
        double d = strtod(buf, &end);
        if (*end == 0) return jv_float(d);
    }
    return dflt;
}

static jv f_abs(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("abs", "");
    if (in.kind == JV_FLOAT) return jv_float(fabs(in.f));
    if (in.kind == JV_INT) {
        if (in.i == INT64_MIN) jx_fail_unsupported(st, st->line, "unsupported integer beyond 64 bits");
        return jv_int(in.i < 0 ? -in.i : in.i);
    }
    if (in.kind == JV_BOOL) return jv_int(in.b);
    jx_fail(st, "bad operand type for abs(): '%s'", jv_type_name(in));
}

static jv f_round(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("round", "precision", "method");
    int64_t prec = arg_int(st, x[0], 0, "precision");
    jv method = x[1].kind == JV_MISSING ? jv_cstr("common") : x[1];
    jx_check_defined(st, in);
    if (!jv_is_num(in)) jx_fail(st, "type %s doesn't define __round__ method", jv_type_name(in));
    double v = in.kind == JV_FLOAT ? in.f : in.kind == JV_BOOL ? in.b : (double)in.i;
    if (prec < -300 || prec > 300) jx_fail_unsupported(st, st->line, "unsupported round precision");
    if (jv_str_eq(method, "common", 6)) {
        if (in.kind != JV_FLOAT && prec >= 0) return jv_int(in.kind == JV_BOOL ? in.b : in.i); /* round(int) is an int */
        char buf[400];
        if (prec >= 0) {
            snprintf(buf, sizeof buf, "%.*f", (int)prec, v);
            return jv_float(strtod(buf, NULL));
        }
        double p10 = pow(10.0, (double)-prec);
        return jv_float(nearbyint(v / p10) * p10);
    }
    double p10 = pow(10.0, (double)prec);
    if (jv_str_eq(method, "ceil", 4)) return jv_float(ceil(v * p10) / p10);
    if (jv_str_eq(method, "floor", 5)) return jv_float(floor(v * p10) / p10);
    jx_fail(st, "method must be common, ceil or floor");
}

/* ------------------------------------------------------------------ sequences */

static jv f_length(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("length", "");
    return jv_int((int64_t)jv_len(st, in));
}

static jv f_list(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("list", "");
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    jv out = jv_list_new(st, n, JL_LIST);
    if (n) memcpy(out.l->v, items, n * sizeof(jv));
    return out;
}

static jv f_first(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("first", "");
    if (in.kind == JV_LIST && in.l->kind == JL_GEN) {
        if (in.l->gen_err) jx_fail(st, "%s", in.l->gen_err);
        if (in.l->pos < in.l->n) return in.l->v[in.l->pos++];
        return jv_undef_hint(st, "No first item, sequence was empty.");
    }
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    return n ? items[0] : jv_undef_hint(st, "No first item, sequence was empty.");
}

static jv f_last(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("last", "");
    if (in.kind == JV_LIST && in.l->kind != JL_LIST && in.l->kind != JL_TUPLE && in.l->kind != JL_KEYS &&
        in.l->kind != JL_ITEMS && in.l->kind != JL_VALUES)
        jx_fail(st, "'%s' object is not reversible", jv_type_name(in));
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    return n ? items[n - 1] : jv_undef_hint(st, "No last item, sequence was empty.");
}

static jv f_join(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("join", "d", "attribute");
    jv sep = x[0].kind == JV_MISSING ? jv_str("", 0) : jv_str_of(st, x[0]);
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    jx_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i) jx_buf_put(st, &b, sep.s.p, sep.s.n);
        jv_to_str(st, &b, attr_path(st, items[i], x[1]));
    }
    return jv_str(b.p, b.n);
}

static jv f_reverse(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("reverse", "");
    if (in.kind == JV_STR) {
        size_t n;
        const jv *chars = jv_iterate(st, in, &n);
        jx_buf b = {0};
        for (size_t i = n; i-- > 0;) jx_buf_put(st, &b, chars[i].s.p, chars[i].s.n);
        return jv_str(b.p, b.n);
    }
    bool reversible = in.kind == JV_DICT || in.kind == JV_UNDEF || jv_is_seq(in) ||
                      (in.kind == JV_LIST && in.l->kind != JL_GEN);
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    jv out = jv_list_new(st, n, reversible ? JL_GEN : JL_LIST);
    for (size_t i = 0; i < n; i++) out.l->v[i] = items[n - 1 - i];
    return out;
}

static jv f_items(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("items", "");
    if (in.kind == JV_UNDEF) return jv_list_new(st, 0, JL_GEN);
    if (in.kind != JV_DICT) {
        jv g = jv_list_new(st, 0, JL_GEN);
        g.l->gen_err = "Can only get item pairs from a mapping.";
        return g;
    }
    jv out = jv_list_new(st, in.d->n, JL_GEN);
    for (size_t i = 0; i < in.d->n; i++) {
        jv t = jv_list_new(st, 2, JL_TUPLE);
        t.l->v[0] = in.d->keys[i];
        t.l->v[1] = in.d->vals[i];
        out.l->v[i] = t;
    }
    return out;
}

/* Stable merge sort of items by keys (jv_cmp order). */
static void sort_by(jx_state *st, jv *items, jv *keys, size_t n, bool reverse) {
    if (n < 2) return;
    jv *ti = jx_alloc(st, n * sizeof *ti), *tk = jx_alloc(st, n * sizeof *tk);
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int c = jv_cmp(st, keys[j], keys[i], "<");
                bool take_right = reverse ? c > 0 : c < 0;
                if (take_right) {
                    ti[k] = items[j];
                    tk[k++] = keys[j++];
                } else {
                    ti[k] = items[i];
                    tk[k++] = keys[i++];
                }
            }
            while (i < mid) {
                ti[k] = items[i];
                tk[k++] = keys[i++];
            }
            while (j < hi) {
                ti[k] = items[j];
                tk[k++] = keys[j++];
            }
        }
        memcpy(items, ti, n * sizeof *ti);
        memcpy(keys, tk, n * sizeof *tk);
        jx_charge(st, n / 8);
    }
}

/* The sort key of one item for |sort and |unique: attribute path(s), case folded. */
static jv sort_key(jx_state *st, jv item, jv attribute, bool case_sensitive) {
    if (attribute.kind == JV_STR && memchr(attribute.s.p, ',', attribute.s.n)) {
        jx_vec parts = {0};
        const char *p = attribute.s.p, *end = p + attribute.s.n;
        for (;;) {
            const char *c = memchr(p, ',', (size_t)(end - p));
            const char *e = c ? c : end;
            jx_vec_push(st, &parts, ignore_case(st, attr_path(st, item, jv_str(p, (size_t)(e - p))), case_sensitive));
            if (!c) break;
            p = c + 1;
        }
        return jx_vec_to_list(st, &parts, JL_LIST);
    }
    return ignore_case(st, attr_path(st, item, attribute), case_sensitive);
}

static jv f_sort(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("sort", "reverse", "case_sensitive", "attribute");
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    jv out = jv_list_new(st, n, JL_LIST);
    jv *keys = n ? jx_alloc(st, n * sizeof *keys) : NULL;
    for (size_t i = 0; i < n; i++) {
        out.l->v[i] = items[i];
        keys[i] = sort_key(st, items[i], x[2], arg_true(x[1]));
    }
    sort_by(st, out.l->v, keys, n, arg_true(x[0]));
    return out;
}

static jv f_dictsort(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("dictsort", "case_sensitive", "by", "reverse");
    jx_check_defined(st, in);
    if (in.kind != JV_DICT) jx_fail(st, "'%s' object has no attribute 'items'", jv_type_name(in));
    int pos = 0;
    if (x[1].kind != JV_MISSING) {
        if (jv_str_eq(x[1], "value", 5)) pos = 1;
        else if (!jv_str_eq(x[1], "key", 3)) jx_fail(st, "You can only sort by either \"key\" or \"value\"");
    }
    size_t n = in.d->n;
    jv out = jv_list_new(st, n, JL_LIST);
    jv *keys = n ? jx_alloc(st, n * sizeof *keys) : NULL;
    for (size_t i = 0; i < n; i++) {
        jv t = jv_list_new(st, 2, JL_TUPLE);
        t.l->v[0] = in.d->keys[i];
        t.l->v[1] = in.d->vals[i];
        out.l->v[i] = t;
        keys[i] = ignore_case(st, pos ? in.d->vals[i] : in.d->keys[i], arg_true(x[0]));
    }
    sort_by(st, out.l->v, keys, n, arg_true(x[2]));
    return out;
}

static jv f_unique(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("unique", "case_sensitive", "attribute");
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    jx_vec out = {0};
    jv seen = jv_dict_new(st);
    for (size_t i = 0; i < n; i++) {
        jv key = ignore_case(st, attr_path(st, items[i], x[1]), arg_true(x[0]));
        if (jx_dict_get(st, seen.d, key)) continue;
        jx_dict_set(st, seen.d, key, jv_none());
        jx_vec_push(st, &out, items[i]);
    }
    return gen_from(st, &out);
}

static jv min_max(jx_state *st, jv in, const jx_args *a, bool want_max) {
    ARGS(want_max ? "max" : "min", "case_sensitive", "attribute");
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    if (n == 0) return jv_undef_hint(st, "No aggregated item, sequence was empty.");
    size_t best = 0;
    jv best_key = ignore_case(st, attr_path(st, items[0], x[1]), arg_true(x[0]));
    for (size_t i = 1; i < n; i++) {
        jv k = ignore_case(st, attr_path(st, items[i], x[1]), arg_true(x[0]));
        int c = jv_cmp(st, k, best_key, want_max ? ">" : "<");
        if (want_max ? c > 0 : c < 0) {
            best = i;
            best_key = k;
        }
    }
    return items[best];
}

static jv f_min(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    return min_max(st, in, a, false);
}
static jv f_max(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    return min_max(st, in, a, true);
}

static jv f_sum(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("sum", "attribute", "start");
    jv acc = x[1].kind == JV_MISSING ? jv_int(0) : x[1];
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    for (size_t i = 0; i < n; i++) {
        jv v = attr_path(st, items[i], x[0]);
        if (v.kind == JV_STR) jx_fail(st, "unsupported operand type(s) for +: '%s' and 'str'", jv_type_name(acc));
        acc = jx_binop(st, OP_ADD, acc, v);
    }
    return acc;
}

static jv f_batch(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("batch", "linecount", "fill_with");
    int64_t count = arg_int(st, x[0], 0, "linecount");
    if (x[0].kind == JV_MISSING) jx_fail(st, "batch() missing required argument 'linecount'");
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    jx_vec out = {0};
    if (count <= 0 && n) jx_fail(st, "batch size must be positive");
    for (size_t i = 0; i < n; i += (size_t)count) {
        size_t k = n - i < (size_t)count ? n - i : (size_t)count;
        bool fill = k < (size_t)count && x[1].kind != JV_MISSING && x[1].kind != JV_NONE;
        jv row = jv_list_new(st, fill ? (size_t)count : k, JL_LIST);
        for (size_t j = 0; j < row.l->n; j++) row.l->v[j] = j < k ? items[i + j] : x[1];
        jx_vec_push(st, &out, row);
    }
    return gen_from(st, &out);
}

static jv f_default(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("default", "default_value", "boolean");
    jv dflt = x[0].kind == JV_MISSING ? jv_str("", 0) : x[0];
    if (in.kind == JV_UNDEF || (arg_true(x[1]) && !jv_truthy(in))) return dflt;
    return in;
}

static jv f_attr(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("attr", "name");
    if (x[0].kind != JV_STR) jx_fail(st, "attribute name must be string");
    jx_check_defined(st, in);
    if (in.kind == JV_NS) {
        jv *v = jx_dict_get_str(st, in.d, x[0].s.p, x[0].s.n);
        return v ? *v : jv_undef_attr(st, in, x[0]);
    }
    if (in.kind == JV_DICT || in.kind == JV_STR || in.kind == JV_LIST) {
        jv m = jx_builtin_attr(st, in, x[0].s.p, x[0].s.n);
        if (m.kind != JV_MISSING) return jx_getattr(st, in, x[0].s.p, x[0].s.n);
    }
    return jv_undef_attr(st, in, x[0]);
}

/* ------------------------------------------------------------------ map / select */

static jv f_map(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    jx_vec out = {0};
    if (!jv_truthy(in)) return gen_from(st, &out);
    jv attribute = {.kind = JV_MISSING}, dflt = {.kind = JV_MISSING};
    const jx_filter_def *f = NULL;
    jx_args rest = {0};
    if (a->nargs == 0) {
        for (int k = 0; k < a->nkw; k++) {
            if (a->kwlens[k] == 9 && memcmp(a->kwnames[k], "attribute", 9) == 0) attribute = a->kwvals[k];
            else if (a->kwlens[k] == 7 && memcmp(a->kwnames[k], "default", 7) == 0) dflt = a->kwvals[k];
            else jx_fail(st, "Unexpected keyword argument '%.*s'", (int)a->kwlens[k], a->kwnames[k]);
        }
        if (attribute.kind == JV_MISSING) jx_fail(st, "map requires a filter argument");
    } else {
        jv name = a->args[0];
        if (name.kind != JV_STR) jx_fail(st, "map requires a filter name");
        f = jx_find_filter(name.s.p, name.s.n);
        if (!f) jx_fail_unsupported(st, st->line, "unsupported filter '%.*s'", (int)name.s.n, name.s.p);
        rest = *a;
        rest.args = a->args + 1;
        rest.nargs = a->nargs - 1;
    }
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    for (size_t i = 0; i < n; i++) {
        jv v;
        if (f) {
            v = jx_apply_filter(st, sc, f, items[i], &rest);
        } else {
            v = attr_path(st, items[i], attribute);
            if (v.kind == JV_UNDEF && dflt.kind != JV_MISSING && dflt.kind != JV_NONE) v = dflt;
        }
        jx_vec_push(st, &out, v);
    }
    return gen_from(st, &out);
}

static jv select_or_reject(jx_state *st, jv in, const jx_args *a, bool select, bool by_attr) {
    jx_vec out = {0};
    if (!jv_truthy(in)) return gen_from(st, &out);
    int off = 0;
    jv attribute = {.kind = JV_MISSING};
    if (by_attr) {
        if (a->nargs < 1) jx_fail(st, "Missing parameter for attribute name");
        attribute = a->args[0];
        off = 1;
    }
    const jx_test_def *t = NULL;
    jx_args rest = {0};
    if (a->nargs > off) {
        jv name = a->args[off];
        if (name.kind != JV_STR) jx_fail(st, "test name must be a string");
        t = jx_find_test(name.s.p, name.s.n);
        if (!t) jx_fail_unsupported(st, st->line, "unsupported test '%.*s'", (int)name.s.n, name.s.p);
        rest = *a;
        rest.args = a->args + off + 1;
        rest.nargs = a->nargs - off - 1;
    }
    size_t n;
    const jv *items = jv_iterate(st, in, &n);
    for (size_t i = 0; i < n; i++) {
        jv v = by_attr ? attr_path(st, items[i], attribute) : items[i];
        bool ok = t ? jx_apply_test(st, t, v, &rest) : jv_truthy(v);
        if (ok == select) jx_vec_push(st, &out, items[i]);
    }
    return gen_from(st, &out);
}

static jv f_select(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    return select_or_reject(st, in, a, true, false);
}
static jv f_reject(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    return select_or_reject(st, in, a, false, false);
}
static jv f_selectattr(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    return select_or_reject(st, in, a, true, true);
}
static jv f_rejectattr(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    return select_or_reject(st, in, a, false, true);
}

/* ------------------------------------------------------------------ tojson */

static jv f_tojson(jx_state *st, jx_scope *sc, jv in, const jx_args *a) {
    (void)sc;
    ARGS("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
    jx_json_opts o = {.ensure_ascii = arg_true(x[0]), .sort_keys = arg_true(x[3])};
    jv indent = x[1];
    if (indent.kind != JV_MISSING && indent.kind != JV_NONE) {
        o.has_indent = true;
        if (indent.kind == JV_STR) {
            o.indent = indent.s.p;
            o.indent_len = indent.s.n;
        } else {
            int64_t w = arg_int(st, indent, 0, "indent");
            if (w > 256) jx_fail_unsupported(st, st->line, "unsupported JSON indent wider than 256");
            if (w < 0) w = 0;
            char *sp = jx_alloc(st, (size_t)w + 1);
            memset(sp, ' ', (size_t)w);
            o.indent = sp;
            o.indent_len = (size_t)w;
        }
    }
    jv seps = x[2];
    if (seps.kind != JV_MISSING && seps.kind != JV_NONE) {
        size_t n;
        const jv *s = jv_iterate(st, seps, &n);
        if (n != 2) jx_fail(st, "not enough values to unpack (expected 2, got %zu)", n);
        if (s[0].kind != JV_STR || s[1].kind != JV_STR) jx_fail(st, "separators must be strings");
        o.item_sep = s[0].s.p;
        o.item_sep_len = s[0].s.n;
        o.key_sep = s[1].s.p;
        o.key_sep_len = s[1].s.n;
    } else {
        o.item_sep = o.has_indent ? "," : ", ";
        o.item_sep_len = o.has_indent ? 1 : 2;
        o.key_sep = ": ";
        o.key_sep_len = 2;
    }
    jx_buf b = {0};
    jx_json_dump(st, &b, in, &o);
    return jv_str(b.p, b.n);
}

/* ------------------------------------------------------------------ table */

static const jx_filter_def FILTERS[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize},
    {"center", f_center}, {"count", f_length}, {"d", f_default}, {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", f_first},
    {"float", f_float}, {"forceescape", f_forceescape}, {"format", f_format}, {"indent", f_indent},
    {"int", f_int}, {"items", f_items}, {"join", f_join}, {"last", f_last}, {"length", f_length},
    {"list", f_list}, {"lower", f_lower}, {"map", f_map}, {"max", f_max}, {"min", f_min},
    {"reject", f_reject}, {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
    {"round", f_round}, {"safe", f_safe}, {"select", f_select}, {"selectattr", f_selectattr},
    {"sort", f_sort}, {"string", f_string}, {"sum", f_sum}, {"title", f_title}, {"tojson", f_tojson},
    {"trim", f_trim}, {"unique", f_unique}, {"upper", f_upper}, {"wordcount", f_wordcount},
};

const jx_filter_def *jx_find_filter(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof FILTERS[0]; i++)
        if (strlen(FILTERS[i].name) == n && memcmp(FILTERS[i].name, name, n) == 0) return &FILTERS[i];
    return NULL;
}

jv jx_apply_filter(jx_state *st, jx_scope *sc, const jx_filter_def *f, jv in, const jx_args *a) {
    jx_charge(st, 1);
    return f->fn(st, sc, in, a);
}
