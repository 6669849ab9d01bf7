/*
 * jinja_json.c - JSON in and out.
 *
 * In: the render context, parsed with cJSON and converted to values. cJSON keeps every number as
 * a double, while Python's json tells 1 from 1.0 (they print differently), so a small scan of the
 * text first records, in document order, which number tokens are integers; the tree's depth-first
 * order is the same order. Duplicate keys keep the first position and the last value, as a Python
 * dict built from json does.
 *
 * Out: the `tojson` filter as transformers defines it, json.dumps(x, ensure_ascii=False,
 * indent=..., separators=..., sort_keys=...), with Python's formatting of floats and escapes.
 */
#include "tokenizer/jinja_impl.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jx_state *st;
    const char *text;
    size_t len;
    /* number tokens in document order */
    size_t *starts;
    uint8_t *is_int;
    size_t count, next;
} json_in;

static void scan_numbers(json_in *in) {
    size_t cap = 0;
    const char *s = in->text;
    for (size_t i = 0; i < in->len;) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < in->len && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            bool integral = true;
            while (i < in->len && (strchr("0123456789+-eE.", s[i]) != NULL) && s[i]) {
                if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') integral = false;
                i++;
            }
            if (in->count == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                in->starts = jx_grow(in->st, in->starts, cap * sizeof *in->starts, ncap * sizeof *in->starts);
                in->is_int = jx_grow(in->st, in->is_int, cap, ncap);
                cap = ncap;
            }
            in->starts[in->count] = start;
            in->is_int[in->count] = integral;
            in->count++;
            continue;
        }
        i++;
    }
}

static jv convert(json_in *in, const cJSON *item) {
    jx_state *st = in->st;
    jx_charge(st, 1);
    if (cJSON_IsNull(item)) return jv_none();
    if (cJSON_IsBool(item)) return jv_bool(cJSON_IsTrue(item));
    if (cJSON_IsString(item)) {
        const char *s = item->valuestring ? item->valuestring : "";
        return jv_str_copy(st, s, strlen(s));
    }
    if (cJSON_IsNumber(item)) {
        size_t k = in->next++;
        if (k < in->count && in->is_int[k]) {
            errno = 0;
            long long v = strtoll(in->text + in->starts[k], NULL, 10);
            if (errno != ERANGE) return jv_int(v);
        }
        return jv_float(item->valuedouble);
    }
    if (cJSON_IsArray(item)) {
        jx_vec vec = {0};
        for (const cJSON *c = item->child; c; c = c->next) jx_vec_push(st, &vec, convert(in, c));
        return jx_vec_to_list(st, &vec, JL_LIST);
    }
    if (cJSON_IsObject(item)) {
        jv d = jv_dict_new(st);
        for (const cJSON *c = item->child; c; c = c->next) {
            const char *k = c->string ? c->string : "";
            jv val = convert(in, c);
            jx_dict_set(st, d.d, jv_str_copy(st, k, strlen(k)), val);
        }
        return d;
    }
    return jv_none();
}

jv jx_json_convert(jx_state *st, const void *root, const char *text, size_t len) {
    json_in in = {.st = st, .text = text, .len = len};
    scan_numbers(&in);
    return convert(&in, (const cJSON *)root);
}

/* ------------------------------------------------------------------ json.dumps */

static void dump_string(jx_state *st, jx_buf *b, const char *p, size_t n, bool ensure_ascii) {
    jx_buf_putc(st, b, '"');
    size_t run = 0; /* start of bytes copied as they are */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        const char *esc = NULL;
        char tmp[16];
        int len = 1;
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        } else if (c >= 0x80 && ensure_ascii) {
            uint32_t cp = jx_utf8_decode(p + i, n - i, &len);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            }
            esc = tmp;
        }
        if (esc) {
            jx_buf_put(st, b, p + run, i - run);
            jx_buf_put(st, b, esc, strlen(esc));
            i += (size_t)len;
            run = i;
        } else {
            i++;
        }
    }
    jx_buf_put(st, b, p + run, n - run);
    jx_buf_putc(st, b, '"');
}

static void dump_float(jx_state *st, jx_buf *b, double f) {
    if (isnan(f)) jx_buf_put(st, b, "NaN", 3);
    else if (isinf(f)) f > 0 ? jx_buf_put(st, b, "Infinity", 8) : jx_buf_put(st, b, "-Infinity", 9);
    else {
        char tmp[40];
        jx_fmt_float(f, tmp);
        jx_buf_put(st, b, tmp, strlen(tmp));
    }
}

static void newline_indent(jx_state *st, jx_buf *b, const jx_json_opts *o, int level) {
    jx_buf_putc(st, b, '\n');
    for (int i = 0; i < level; i++) jx_buf_put(st, b, o->indent, o->indent_len);
}

static void dump_value(jx_state *st, jx_buf *b, jv v, const jx_json_opts *o, int level);

/* A dict key as json.dumps writes it (str, or int/float/bool/None converted). */
static void dump_key(jx_state *st, jx_buf *b, jv k, const jx_json_opts *o) {
    char tmp[48];
    switch (k.kind) {
    case JV_STR: dump_string(st, b, k.s.p, k.s.n, o->ensure_ascii); return;
    case JV_BOOL: jx_buf_put(st, b, k.b ? "\"true\"" : "\"false\"", k.b ? 6 : 7); return;
    case JV_NONE: jx_buf_put(st, b, "\"null\"", 6); return;
    case JV_INT: jx_buf_printf(st, b, "\"%lld\"", (long long)k.i); return;
    case JV_FLOAT:
        jx_buf_putc(st, b, '"');
        if (isnan(k.f)) jx_buf_put(st, b, "NaN", 3);
        else if (isinf(k.f)) k.f > 0 ? jx_buf_put(st, b, "Infinity", 8) : jx_buf_put(st, b, "-Infinity", 9);
        else {
            jx_fmt_float(k.f, tmp);
            jx_buf_put(st, b, tmp, strlen(tmp));
        }
        jx_buf_putc(st, b, '"');
        return;
    default: jx_fail(st, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    }
}

static int cmp_keys(jx_state *st, jv a, jv b) {
    return jv_cmp(st, a, b, "<");
}

static void dump_dict(jx_state *st, jx_buf *b, const jx_dict *d, const jx_json_opts *o, int level) {
    if (d->n == 0) {
        jx_buf_put(st, b, "{}", 2);
        return;
    }
    size_t *order = jx_alloc(st, d->n * sizeof *order);
    for (size_t i = 0; i < d->n; i++) order[i] = i;
    if (o->sort_keys) {
        /* insertion sort keeps it stable and needs no comparator context */
        for (size_t i = 1; i < d->n; i++) {
            size_t x = order[i], j = i;
            while (j > 0 && cmp_keys(st, d->keys[order[j - 1]], d->keys[x]) > 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = x;
        }
        jx_charge(st, d->n * d->n / 8);
    }
    jx_buf_putc(st, b, '{');
    for (size_t i = 0; i < d->n; i++) {
        if (i) jx_buf_put(st, b, o->item_sep, o->item_sep_len);
        if (o->has_indent) newline_indent(st, b, o, level + 1);
        dump_key(st, b, d->keys[order[i]], o);
        jx_buf_put(st, b, o->key_sep, o->key_sep_len);
        dump_value(st, b, d->vals[order[i]], o, level + 1);
    }
    if (o->has_indent) newline_indent(st, b, o, level);
    jx_buf_putc(st, b, '}');
}

static void dump_value(jx_state *st, jx_buf *b, jv v, const jx_json_opts *o, int level) {
    if (level > st->lim.max_depth) jx_fail(st, "maximum recursion depth exceeded while encoding a JSON object");
    jx_charge(st, 1);
    switch ((jv_kind)v.kind) {
    case JV_NONE: jx_buf_put(st, b, "null", 4); return;
    case JV_BOOL: v.b ? jx_buf_put(st, b, "true", 4) : jx_buf_put(st, b, "false", 5); return;
    case JV_INT: jx_buf_printf(st, b, "%lld", (long long)v.i); return;
    case JV_FLOAT: dump_float(st, b, v.f); return;
    case JV_STR: dump_string(st, b, v.s.p, v.s.n, o->ensure_ascii); return;
    case JV_DICT: dump_dict(st, b, v.d, o, level); return;
    case JV_LIST:
        if (v.l->kind == JL_LIST || v.l->kind == JL_TUPLE) {
            if (v.l->n == 0) {
                jx_buf_put(st, b, "[]", 2);
                return;
            }
            jx_buf_putc(st, b, '[');
            for (size_t i = 0; i < v.l->n; i++) {
                if (i) jx_buf_put(st, b, o->item_sep, o->item_sep_len);
                if (o->has_indent) newline_indent(st, b, o, level + 1);
                dump_value(st, b, v.l->v[i], o, level + 1);
            }
            if (o->has_indent) newline_indent(st, b, o, level);
            jx_buf_putc(st, b, ']');
            return;
        }
        break;
    default: break;
    }
    jx_fail(st, "Object of type %s is not JSON serializable", jv_type_name(v));
}

void jx_json_dump(jx_state *st, jx_buf *b, jv v, const jx_json_opts *o) {
    dump_value(st, b, v, o, 0);
}
