/*
 * jinja_eval.c - evaluation of the syntax tree: statements write to the current output buffer,
 * expressions produce values.
 *
 * Scoping follows jinja2: the template body has one scope (on top of the context variables);
 * every for-loop iteration, macro call, `with` and call block gets a fresh child scope, so a
 * `set` inside them is gone afterwards (namespace() attributes are how templates carry state
 * out); `if` opens no scope. Macros see the scope they were defined in, looked up when called.
 *
 * Attribute and item access follow jinja2's sandbox: `a.b` tries Python's attribute first (dict
 * methods, str methods ...) and then the key; `a['b']` the other way round; mutating methods of
 * lists and dicts are "unsafe" and fail when called; anything missing is an Undefined that
 * remembers what was missing, for the error message when it is used.
 */
#include "tokenizer/jinja_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { CTRL_NONE, CTRL_BREAK, CTRL_CONTINUE };
enum { MAX_MACRO_DEPTH = 100 };

/* ------------------------------------------------------------------ scopes */

jx_scope *jx_scope_new(jx_state *st, jx_scope *parent) {
    jx_scope *sc = jx_alloc(st, sizeof *sc);
    sc->parent = parent;
    return sc;
}

void jx_scope_set(jx_state *st, jx_scope *sc, const char *name, size_t len, jv v) {
    for (size_t i = 0; i < sc->n; i++)
        if (sc->vars[i].len == len && memcmp(sc->vars[i].name, name, len) == 0) {
            sc->vars[i].v = v;
            return;
        }
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 4;
        sc->vars = jx_grow(st, sc->vars, sc->n * sizeof *sc->vars, cap * sizeof *sc->vars);
        sc->cap = cap;
    }
    sc->vars[sc->n++] = (jx_var){name, len, v};
}

static const jv *scope_find(jx_scope *sc, const char *name, size_t len) {
    for (; sc; sc = sc->parent)
        for (size_t i = 0; i < sc->n; i++)
            if (sc->vars[i].len == len && memcmp(sc->vars[i].name, name, len) == 0) return &sc->vars[i].v;
    return NULL;
}

jv jx_lookup(jx_state *st, jx_scope *sc, const char *name, size_t len) {
    const jv *v = scope_find(sc, name, len);
    if (v) return *v;
    int id = jx_global_id(name, len);
    if (id >= 0) return jv_func(st, id, (jv){.kind = JV_MISSING}, jx_strdup(st, name, len));
    return jv_undef_name(st, name, len);
}

/* ------------------------------------------------------------------ operators */

static bool is_intlike(jv v) {
    return v.kind == JV_INT || v.kind == JV_BOOL;
}
static int64_t as_int(jv v) {
    return v.kind == JV_BOOL ? (int64_t)v.b : v.i;
}
static double as_double(jv v) {
    return v.kind == JV_FLOAT ? v.f : (double)as_int(v);
}

_Noreturn static void fail_operands(jx_state *st, const char *op, jv a, jv b) {
    jx_fail(st, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a), jv_type_name(b));
}

_Noreturn static void fail_overflow(jx_state *st) {
    jx_fail_unsupported(st, st->line, "unsupported integer beyond 64 bits");
}

static jv concat_lists(jx_state *st, jv a, jv b) {
    size_t n = a.l->n + b.l->n;
    jv out = jv_list_new(st, n, a.l->kind);
    if (a.l->n) memcpy(out.l->v, a.l->v, a.l->n * sizeof(jv));
    if (b.l->n) memcpy(out.l->v + a.l->n, b.l->v, b.l->n * sizeof(jv));
    jx_charge(st, n / 16);
    return out;
}

static jv concat_str(jx_state *st, const char *p, size_t n, const char *q, size_t m, uint8_t flags) {
    jx_buf b = {0};
    jx_buf_put(st, &b, p, n);
    jx_buf_put(st, &b, q, m);
    jv v = jv_str(b.p, b.n);
    v.flags = flags;
    return v;
}

static jv repeat(jx_state *st, jv seq, int64_t times) {
    if (times <= 0) return seq.kind == JV_STR ? jv_str("", 0) : jv_list_new(st, 0, seq.l->kind);
    size_t unit = seq.kind == JV_STR ? seq.s.n : seq.l->n;
    if (unit && (uint64_t)times > st->lim.max_output / unit) jx_fail(st, "repetition result larger than %zu", st->lim.max_output);
    if (seq.kind == JV_STR) {
        jx_buf b = {0};
        for (int64_t i = 0; i < times; i++) jx_buf_put(st, &b, seq.s.p, seq.s.n);
        return jv_str(b.p, b.n);
    }
    jv out = jv_list_new(st, unit * (size_t)times, seq.l->kind);
    for (int64_t i = 0; i < times; i++)
        if (unit) memcpy(out.l->v + (size_t)i * unit, seq.l->v, unit * sizeof(jv));
    return out;
}

static double py_fmod(double x, double y, double *floordiv) {
    double mod = fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0.0) {
        if ((y < 0) != (mod < 0)) {
            mod += y;
            div -= 1.0;
        }
    } else {
        mod = copysign(0.0, y);
    }
    if (floordiv) {
        if (div != 0.0) {
            double fd = floor(div);
            if (div - fd > 0.5) fd += 1.0;
            *floordiv = fd;
        } else {
            *floordiv = copysign(0.0, x / y);
        }
    }
    return mod;
}

static const char *op_symbol(int op) {
    static const char *const sym[] = {"+", "-", "*", "/", "//", "%", "** or pow()"};
    return op <= OP_POW ? sym[op] : "?";
}

jv jx_binop(jx_state *st, int op, jv a, jv b) {
    jx_check_defined(st, a);
    jx_check_defined(st, b);
    bool nums = jv_is_num(a) && jv_is_num(b);
    bool ints = is_intlike(a) && is_intlike(b);
    int64_t r;
    switch (op) {
    case OP_ADD:
        if (ints) {
            if (__builtin_add_overflow(as_int(a), as_int(b), &r)) fail_overflow(st);
            return jv_int(r);
        }
        if (nums) return jv_float(as_double(a) + as_double(b));
        if (a.kind == JV_STR && b.kind == JV_STR) {
            if ((a.flags | b.flags) & JV_FLAG_MARKUP) {
                /* markupsafe: the plain side is escaped, the result is Markup */
                jv x = (a.flags & JV_FLAG_MARKUP) ? a : jx_escape(st, a);
                jv y = (b.flags & JV_FLAG_MARKUP) ? b : jx_escape(st, b);
                return concat_str(st, x.s.p, x.s.n, y.s.p, y.s.n, JV_FLAG_MARKUP);
            }
            return concat_str(st, a.s.p, a.s.n, b.s.p, b.s.n, 0);
        }
        if (a.kind == JV_STR && !(a.flags & JV_FLAG_MARKUP))
            jx_fail(st, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
        if (jv_is_seq(a)) {
            if (b.kind == JV_LIST && b.l->kind == a.l->kind) return concat_lists(st, a, b);
            jx_fail(st, "can only concatenate %s (not \"%s\") to %s", jv_type_name(a), jv_type_name(b), jv_type_name(a));
        }
        fail_operands(st, "+", a, b);
    case OP_SUB:
        if (ints) {
            if (__builtin_sub_overflow(as_int(a), as_int(b), &r)) fail_overflow(st);
            return jv_int(r);
        }
        if (nums) return jv_float(as_double(a) - as_double(b));
        fail_operands(st, "-", a, b);
    case OP_MUL:
        if (ints) {
            if (__builtin_mul_overflow(as_int(a), as_int(b), &r)) fail_overflow(st);
            return jv_int(r);
        }
        if (nums) return jv_float(as_double(a) * as_double(b));
        if ((a.kind == JV_STR || jv_is_seq(a)) && is_intlike(b)) return repeat(st, a, as_int(b));
        if ((b.kind == JV_STR || jv_is_seq(b)) && is_intlike(a)) return repeat(st, b, as_int(a));
        if (a.kind == JV_STR || jv_is_seq(a)) jx_fail(st, "can't multiply sequence by non-int of type '%s'", jv_type_name(b));
        if (b.kind == JV_STR || jv_is_seq(b)) jx_fail(st, "can't multiply sequence by non-int of type '%s'", jv_type_name(a));
        fail_operands(st, "*", a, b);
    case OP_DIV:
        if (!nums) fail_operands(st, "/", a, b);
        if (as_double(b) == 0.0) jx_fail(st, ints ? "division by zero" : "float division by zero");
        return jv_float(as_double(a) / as_double(b));
    case OP_FLOORDIV:
    case OP_MOD:
        if (a.kind == JV_STR && op == OP_MOD)
            jx_fail_unsupported(st, st->line, "unsupported printf-style string formatting with '%%'");
        if (!nums) fail_operands(st, op_symbol(op), a, b);
        if (ints) {
            int64_t x = as_int(a), y = as_int(b);
            if (y == 0) jx_fail(st, op == OP_MOD ? "integer modulo by zero" : "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                if (op == OP_MOD) return jv_int(0);
                fail_overflow(st);
            }
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q -= 1;
                m += y;
            }
            return jv_int(op == OP_MOD ? m : q);
        } else {
            double x = as_double(a), y = as_double(b), fd;
            if (y == 0.0) jx_fail(st, op == OP_MOD ? "float modulo" : "float floor division by zero");
            double m = py_fmod(x, y, &fd);
            return jv_float(op == OP_MOD ? m : fd);
        }
    case OP_POW:
        if (!nums) fail_operands(st, "** or pow()", a, b);
        if (ints && as_int(b) >= 0) {
            int64_t base = as_int(a), e = as_int(b), acc = 1;
            while (e > 0) {
                if (e & 1)
                    if (__builtin_mul_overflow(acc, base, &acc)) fail_overflow(st);
                e >>= 1;
                if (e && __builtin_mul_overflow(base, base, &base)) fail_overflow(st);
            }
            return jv_int(acc);
        }
        if (as_double(a) == 0.0 && as_double(b) < 0) jx_fail(st, "0.0 cannot be raised to a negative power");
        return jv_float(pow(as_double(a), as_double(b)));
    default: break;
    }
    jx_fail(st, "bad operator");
}

static jv unary(jx_state *st, int type, jv v) {
    jx_check_defined(st, v);
    if (v.kind == JV_FLOAT) return jv_float(type == E_NEG ? -v.f : v.f);
    if (is_intlike(v)) {
        int64_t i = as_int(v);
        if (type == E_NEG && i == INT64_MIN) fail_overflow(st);
        return jv_int(type == E_NEG ? -i : i);
    }
    jx_fail(st, "bad operand type for unary %c: '%s'", type == E_NEG ? '-' : '+', jv_type_name(v));
}

static const char *memfind(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

bool jx_contains(jx_state *st, jv c, jv item) {
    switch ((jv_kind)c.kind) {
    case JV_UNDEF: return false;
    case JV_STR:
        if (item.kind == JV_UNDEF) jx_fail(st, "'in <string>' requires string as left operand, not Undefined");
        if (item.kind != JV_STR) jx_fail(st, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        jx_charge(st, c.s.n / 64);
        return memfind(c.s.p, c.s.n, item.s.p, item.s.n) != NULL;
    case JV_DICT:
        jv_hash(st, item);
        return jx_dict_find(st, c.d, item) >= 0;
    case JV_LIST:
        if (c.l->kind == JL_GEN) {
            while (c.l->pos < c.l->n)
                if (jv_eq(st, c.l->v[c.l->pos++], item)) return true;
            return false;
        }
        jx_charge(st, c.l->n / 16);
        for (size_t i = 0; i < c.l->n; i++)
            if (jv_eq(st, c.l->v[i], item)) return true;
        return false;
    default: break;
    }
    jx_fail(st, "argument of type '%s' is not iterable", jv_type_name(c));
}

static bool compare(jx_state *st, int op, jv a, jv b) {
    switch (op) {
    case OP_EQ: return jv_eq(st, a, b);
    case OP_NE: return !jv_eq(st, a, b);
    case OP_IN: return jx_contains(st, b, a);
    case OP_NOTIN: return !jx_contains(st, b, a);
    default: break;
    }
    static const char *const names[] = {"<", "<=", ">", ">="};
    const char *name = names[op - OP_LT];
    if (jv_is_num(a) && jv_is_num(b) && ((a.kind == JV_FLOAT && isnan(a.f)) || (b.kind == JV_FLOAT && isnan(b.f))))
        return false;
    int c = jv_cmp(st, a, b, name);
    switch (op) {
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
    }
}

/* ------------------------------------------------------------------ access */

static bool is_dunder(const char *name, size_t n) {
    return n >= 2 && name[0] == '_' && name[1] == '_';
}

static jv unsafe_attr(jx_state *st, jv obj, const char *name, size_t n) {
    char *hint = jx_alloc(st, n + 96);
    snprintf(hint, n + 96, "access to attribute '%.*s' of '%s' object is unsafe.", (int)n, name, jv_type_name(obj));
    jv u = jv_undef_hint(st, hint);
    u.u->security = true;
    return u;
}

static jv loop_attr(jx_state *st, jv loopv, const char *name, size_t n) {
    const jx_loop *l = loopv.loop;
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("index")) return jv_int((int64_t)l->i + 1);
    if (IS("index0")) return jv_int((int64_t)l->i);
    if (IS("revindex")) return jv_int((int64_t)(l->n - l->i));
    if (IS("revindex0")) return jv_int((int64_t)(l->n - l->i - 1));
    if (IS("first")) return jv_bool(l->i == 0);
    if (IS("last")) return jv_bool(l->i + 1 == l->n);
    if (IS("length")) return jv_int((int64_t)l->n);
    if (IS("depth")) return jv_int(1);
    if (IS("depth0")) return jv_int(0);
    if (IS("previtem")) return l->i > 0 ? l->items[l->i - 1] : jv_undef_hint(st, "there is no previous item");
    if (IS("nextitem")) return l->i + 1 < l->n ? l->items[l->i + 1] : jv_undef_hint(st, "there is no next item");
    if (IS("cycle")) return jv_func(st, BI_LOOP_CYCLE, loopv, "cycle");
    if (IS("changed")) return jv_func(st, BI_LOOP_CHANGED, loopv, "changed");
#undef IS
    return jv_undef_attr(st, loopv, jv_str_copy(st, name, n));
}

/* Python attribute lookup of a builtin value, without falling back to items. */
static jv attr_only(jx_state *st, jv obj, const char *name, size_t n, bool *found) {
    *found = true;
    if (is_dunder(name, n)) return unsafe_attr(st, obj, name, n);
    if (obj.kind == JV_NS) {
        jv *v = jx_dict_get_str(st, obj.d, name, n);
        if (v) return *v;
    } else if (obj.kind == JV_LOOP) {
        jv v = loop_attr(st, obj, name, n);
        if (v.kind != JV_UNDEF || v.u->hint) return v;
    } else if (obj.kind == JV_MACRO && n == 4 && memcmp(name, "name", 4) == 0) {
        return jv_str(obj.m->def->name, obj.m->def->name_len);
    } else {
        jv m = jx_builtin_attr(st, obj, name, n);
        if (m.kind == JV_FUNC && m.fn->id == BI_UNSAFE) return unsafe_attr(st, obj, name, n);
        if (m.kind != JV_MISSING) return m;
    }
    *found = false;
    return (jv){.kind = JV_MISSING};
}

/* obj[key] without the attribute fallback; JV_MISSING when Python would raise. */
static jv item_only(jx_state *st, jv obj, jv key) {
    switch ((jv_kind)obj.kind) {
    case JV_DICT: {
        if (key.kind == JV_LIST && key.l->kind != JL_TUPLE && key.l->kind != JL_GEN) break; /* unhashable */
        if (key.kind == JV_DICT || key.kind == JV_MISSING) break;
        jv *v = key.kind == JV_STR ? jx_dict_get_str(st, obj.d, key.s.p, key.s.n) : jx_dict_get(st, obj.d, key);
        if (v) return *v;
        break;
    }
    case JV_LIST:
        if ((obj.l->kind == JL_LIST || obj.l->kind == JL_TUPLE) && is_intlike(key)) {
            int64_t i = as_int(key), n = (int64_t)obj.l->n;
            if (i < 0) i += n;
            if (i >= 0 && i < n) return obj.l->v[i];
        }
        break;
    case JV_STR:
        if (is_intlike(key)) {
            int64_t i = as_int(key), n = (int64_t)jx_utf8_count(obj.s.p, obj.s.n);
            if (i < 0) i += n;
            if (i >= 0 && i < n) {
                size_t off = jx_utf8_offset(obj.s.p, obj.s.n, (size_t)i);
                size_t end = jx_utf8_offset(obj.s.p + off, obj.s.n - off, 1) + off;
                return jv_str(obj.s.p + off, end - off);
            }
        }
        break;
    default: break;
    }
    return (jv){.kind = JV_MISSING};
}

jv jx_getattr(jx_state *st, jv obj, const char *name, size_t n) {
    if (obj.kind == JV_UNDEF) jx_fail_undefined(st, obj);
    bool found;
    jv v = attr_only(st, obj, name, n, &found);
    if (found) return v;
    v = item_only(st, obj, jv_str(name, n));
    if (v.kind != JV_MISSING) return v;
    return jv_undef_attr(st, obj, jv_str_copy(st, name, n));
}

jv jx_getitem(jx_state *st, jv obj, jv key) {
    if (obj.kind == JV_UNDEF) jx_fail_undefined(st, obj);
    jv v = item_only(st, obj, key);
    if (v.kind != JV_MISSING) return v;
    if (key.kind == JV_STR) {
        bool found;
        v = attr_only(st, obj, key.s.p, key.s.n, &found);
        if (found) return v;
    }
    return jv_undef_attr(st, obj, key);
}

static bool slice_index(jx_state *st, jv v, int64_t *out) {
    if (v.kind == JV_NONE || v.kind == JV_MISSING) return false;
    if (!is_intlike(v)) jx_fail(st, "slice indices must be integers or None or have an __index__ method");
    *out = as_int(v);
    return true;
}

jv jx_slice(jx_state *st, jv obj, jv start, jv stop, jv step) {
    if (obj.kind == JV_UNDEF) jx_fail_undefined(st, obj);
    if (!(obj.kind == JV_STR || jv_is_seq(obj))) return jv_undef_hint(st, "object is not subscriptable with a slice");
    int64_t s = 0, e = 0, k = 1;
    bool has_s = slice_index(st, start, &s), has_e = slice_index(st, stop, &e);
    if (slice_index(st, step, &k) && k == 0) jx_fail(st, "slice step cannot be zero");
    int64_t len = obj.kind == JV_STR ? (int64_t)jx_utf8_count(obj.s.p, obj.s.n) : (int64_t)obj.l->n;
    int64_t lower = k > 0 ? 0 : -1, upper = k > 0 ? len : len - 1;
    if (!has_s) s = k < 0 ? upper : lower;
    else if (s < 0) {
        s += len;
        if (s < lower) s = lower;
    } else if (s > upper) s = upper;
    if (!has_e) e = k < 0 ? lower : upper;
    else if (e < 0) {
        e += len;
        if (e < lower) e = lower;
    } else if (e > upper) e = upper;
    int64_t count = 0;
    if (k > 0 && e > s) count = (e - s - 1) / k + 1;
    if (k < 0 && s > e) count = (s - e - 1) / (-k) + 1;
    jx_charge(st, (uint64_t)count / 16);
    if (obj.kind == JV_STR) {
        if (k == 1) {
            size_t a = jx_utf8_offset(obj.s.p, obj.s.n, (size_t)s);
            size_t b = jx_utf8_offset(obj.s.p + a, obj.s.n - a, (size_t)count) + a;
            return jv_str(obj.s.p + a, b - a);
        }
        size_t n;
        const jv *chars = jv_iterate(st, obj, &n);
        jx_buf b = {0};
        for (int64_t i = 0, j = s; i < count; i++, j += k) jx_buf_put(st, &b, chars[j].s.p, chars[j].s.n);
        return jv_str(b.p, b.n);
    }
    jv out = jv_list_new(st, (size_t)count, obj.l->kind);
    for (int64_t i = 0, j = s; i < count; i++, j += k) out.l->v[i] = obj.l->v[j];
    return out;
}

/* ------------------------------------------------------------------ calls */

static int exec_body(jx_state *st, jx_scope *sc, jx_nodes body);

static jv capture(jx_state *st, jx_scope *sc, jx_nodes body, int *ctrl) {
    jx_buf buf = {0};
    jx_buf *saved = st->out;
    st->out = &buf;
    int c = exec_body(st, sc, body);
    st->out = saved;
    if (ctrl) *ctrl = c;
    return jv_str(buf.p, buf.n);
}

static jv call_macro(jx_state *st, const jx_macro *m, const jx_args *a) {
    const jx_node *def = m->def;
    const char *name = def->name;
    int nlen = (int)def->name_len;
    if (st->macro_depth >= MAX_MACRO_DEPTH) jx_fail(st, "maximum recursion depth exceeded in macro '%.*s'", nlen, name);
    jx_scope *sc = jx_scope_new(st, m->closure);
    int nparams = def->list.n;
    bool *used = a->nkw ? jx_alloc(st, (size_t)a->nkw * sizeof *used) : NULL;
    jv caller = {.kind = JV_MISSING};
    for (int i = 0; i < nparams; i++) {
        const jx_node *prm = def->list.v[i];
        jv v = {.kind = JV_MISSING};
        if (i < a->nargs) {
            v = a->args[i];
        } else {
            for (int k = 0; k < a->nkw; k++)
                if (!used[k] && a->kwlens[k] == prm->name_len && memcmp(a->kwnames[k], prm->name, prm->name_len) == 0) {
                    v = a->kwvals[k];
                    used[k] = true;
                    break;
                }
        }
        if (v.kind == JV_MISSING) {
            if (prm->a) {
                v = jx_eval(st, sc, prm->a);
            } else {
                char *hint = jx_alloc(st, prm->name_len + 48);
                snprintf(hint, prm->name_len + 48, "parameter '%.*s' was not provided", (int)prm->name_len, prm->name);
                v = jv_undef_hint(st, hint);
            }
        }
        jx_scope_set(st, sc, prm->name, prm->name_len, v);
    }
    if (def->op & MACRO_CALLER) {
        for (int k = 0; k < a->nkw; k++)
            if (!used[k] && a->kwlens[k] == 6 && memcmp(a->kwnames[k], "caller", 6) == 0) {
                caller = a->kwvals[k];
                used[k] = true;
            }
        if (caller.kind == JV_MISSING) caller = jv_undef_hint(st, "No caller defined");
        jx_scope_set(st, sc, "caller", 6, caller);
    }
    if (def->op & MACRO_KWARGS) {
        jv kw = jv_dict_new(st);
        for (int k = 0; k < a->nkw; k++)
            if (!used[k]) jx_dict_set(st, kw.d, jv_str(a->kwnames[k], a->kwlens[k]), a->kwvals[k]);
        jx_scope_set(st, sc, "kwargs", 6, kw);
    } else {
        for (int k = 0; k < a->nkw; k++)
            if (!used[k]) {
                if (a->kwlens[k] == 6 && memcmp(a->kwnames[k], "caller", 6) == 0)
                    jx_fail(st, "macro '%.*s' was invoked with two values for the special caller argument", nlen, name);
                jx_fail(st, "macro '%.*s' takes no keyword argument '%.*s'", nlen, name, (int)a->kwlens[k], a->kwnames[k]);
            }
    }
    if (def->op & MACRO_VARARGS) {
        int extra = a->nargs > nparams ? a->nargs - nparams : 0;
        jv va = jv_list_new(st, (size_t)extra, JL_TUPLE);
        for (int k = 0; k < extra; k++) va.l->v[k] = a->args[nparams + k];
        jx_scope_set(st, sc, "varargs", 7, va);
    } else if (a->nargs > nparams) {
        jx_fail(st, "macro '%.*s' takes not more than %d argument(s)", nlen, name, nparams);
    }
    st->macro_depth++;
    jv out = capture(st, sc, def->body, NULL);
    st->macro_depth--;
    return out;
}

jv jx_call_value(jx_state *st, jx_scope *sc, jv callee, const jx_args *a) {
    (void)sc;
    jx_charge(st, 1);
    switch (callee.kind) {
    case JV_UNDEF: jx_fail_undefined(st, callee);
    case JV_MACRO: return call_macro(st, callee.m, a);
    case JV_FUNC: return jx_call_builtin(st, callee.fn, a);
    default: break;
    }
    jx_fail(st, "'%s' object is not callable", jv_type_name(callee));
}

/* Evaluates the arguments of a call, filter or test node into a. */
static void eval_args(jx_state *st, jx_scope *sc, const jx_node *n, jx_args *a, int extra_kw) {
    jx_vec args = {0};
    for (int i = 0; i < n->list.n; i++) jx_vec_push(st, &args, jx_eval(st, sc, n->list.v[i]));
    if (n->c) {
        size_t k;
        const jv *items = jv_iterate(st, jx_eval(st, sc, n->c), &k);
        for (size_t i = 0; i < k; i++) jx_vec_push(st, &args, items[i]);
    }
    const jx_dict *dyn = NULL;
    if (n->d) {
        jv d = jx_eval(st, sc, n->d);
        if (d.kind != JV_DICT) jx_fail(st, "argument after ** must be a mapping, not %s", jv_type_name(d));
        dyn = d.d;
    }
    int nkw = n->kwargs.n + (dyn ? (int)dyn->n : 0) + extra_kw;
    a->args = args.v;
    a->nargs = (int)args.n;
    a->nkw = 0;
    if (nkw) {
        a->kwnames = jx_alloc(st, (size_t)nkw * sizeof *a->kwnames);
        a->kwlens = jx_alloc(st, (size_t)nkw * sizeof *a->kwlens);
        a->kwvals = jx_alloc(st, (size_t)nkw * sizeof *a->kwvals);
    }
    size_t *lens = (size_t *)a->kwlens;
    for (int i = 0; i < n->kwargs.n; i++) {
        const jx_node *kw = n->kwargs.v[i];
        a->kwnames[a->nkw] = kw->name;
        lens[a->nkw] = kw->name_len;
        a->kwvals[a->nkw++] = jx_eval(st, sc, kw->a);
    }
    for (size_t i = 0; dyn && i < dyn->n; i++) {
        if (dyn->keys[i].kind != JV_STR) jx_fail(st, "keywords must be strings");
        a->kwnames[a->nkw] = dyn->keys[i].s.p;
        lens[a->nkw] = dyn->keys[i].s.n;
        a->kwvals[a->nkw++] = dyn->vals[i];
    }
}

static jv eval_call(jx_state *st, jx_scope *sc, const jx_node *n, jv *caller) {
    jv callee = jx_eval(st, sc, n->a);
    jx_args a = {0};
    eval_args(st, sc, n, &a, caller ? 1 : 0);
    if (caller) {
        a.kwnames[a.nkw] = "caller";
        ((size_t *)a.kwlens)[a.nkw] = 6;
        a.kwvals[a.nkw++] = *caller;
    }
    st->line = n->line;
    return jx_call_value(st, sc, callee, &a);
}

/* Applies a filter node to its input; `block_input` replaces a missing input (filter blocks). */
static jv eval_filter(jx_state *st, jx_scope *sc, const jx_node *n, const jv *block_input) {
    jv in;
    if (n->a) in = n->a->type == E_FILTER && block_input ? eval_filter(st, sc, n->a, block_input) : jx_eval(st, sc, n->a);
    else in = block_input ? *block_input : JV_UNDEF_VALUE;
    jx_args a = {0};
    eval_args(st, sc, n, &a, 0);
    st->line = n->line;
    return jx_apply_filter(st, sc, n->filter, in, &a);
}

/* ------------------------------------------------------------------ expressions */

static jv eval_list(jx_state *st, jx_scope *sc, const jx_node *n, uint8_t kind) {
    jv out = jv_list_new(st, (size_t)n->list.n, kind);
    for (int i = 0; i < n->list.n; i++) out.l->v[i] = jx_eval(st, sc, n->list.v[i]);
    return out;
}

jv jx_eval(jx_state *st, jx_scope *sc, const jx_node *n) {
    if (++st->depth > st->lim.max_depth) jx_fail(st, "template nesting deeper than %d", st->lim.max_depth);
    jx_charge(st, 1);
    st->line = n->line;
    jv v;
    switch ((jx_ntype)n->type) {
    case E_CONST: v = n->value; break;
    case E_NAME: v = jx_lookup(st, sc, n->name, n->name_len); break;
    case E_LIST: v = eval_list(st, sc, n, JL_LIST); break;
    case E_TUPLE: v = eval_list(st, sc, n, JL_TUPLE); break;
    case E_DICT:
        v = jv_dict_new(st);
        for (int i = 0; i + 1 < n->list.n; i += 2) {
            jv k = jx_eval(st, sc, n->list.v[i]);
            jv val = jx_eval(st, sc, n->list.v[i + 1]);
            jx_dict_set(st, v.d, k, val);
        }
        break;
    case E_GETATTR: v = jx_getattr(st, jx_eval(st, sc, n->a), n->name, n->name_len); break;
    case E_GETITEM: {
        jv obj = jx_eval(st, sc, n->a);
        if (n->b->type == E_SLICE) {
            const jx_node *s = n->b;
            jv none = jv_none();
            jv a = s->a ? jx_eval(st, sc, s->a) : none;
            jv b = s->b ? jx_eval(st, sc, s->b) : none;
            jv c = s->c ? jx_eval(st, sc, s->c) : none;
            v = jx_slice(st, obj, a, b, c);
        } else {
            v = jx_getitem(st, obj, jx_eval(st, sc, n->b));
        }
        break;
    }
    case E_SLICE: jx_fail(st, "a slice outside of a subscript");
    case E_CALL: v = eval_call(st, sc, n, NULL); break;
    case E_FILTER: v = eval_filter(st, sc, n, NULL); break;
    case E_TEST: {
        jv in = jx_eval(st, sc, n->a);
        jx_args a = {0};
        eval_args(st, sc, n, &a, 0);
        st->line = n->line;
        v = jv_bool(jx_apply_test(st, n->test, in, &a));
        break;
    }
    case E_NOT: v = jv_bool(!jv_truthy(jx_eval(st, sc, n->a))); break;
    case E_NEG:
    case E_POS: v = unary(st, n->type, jx_eval(st, sc, n->a)); break;
    case E_BIN: {
        jv a = jx_eval(st, sc, n->a);
        jv b = jx_eval(st, sc, n->b);
        st->line = n->line;
        v = jx_binop(st, n->op, a, b);
        break;
    }
    case E_CONCAT: {
        jx_buf b = {0};
        for (int i = 0; i < n->list.n; i++) jv_to_str(st, &b, jx_eval(st, sc, n->list.v[i]));
        v = jv_str(b.p, b.n);
        break;
    }
    case E_AND:
        v = jx_eval(st, sc, n->a);
        if (jv_truthy(v)) v = jx_eval(st, sc, n->b);
        break;
    case E_OR:
        v = jx_eval(st, sc, n->a);
        if (!jv_truthy(v)) v = jx_eval(st, sc, n->b);
        break;
    case E_CMP: {
        jv left = jx_eval(st, sc, n->a);
        v = jv_bool(true);
        for (int i = 0; i < n->list.n; i++) {
            const jx_node *o = n->list.v[i];
            jv right = jx_eval(st, sc, o->a);
            st->line = o->line;
            if (!compare(st, o->op, left, right)) {
                v = jv_bool(false);
                break;
            }
            left = right;
        }
        break;
    }
    case E_COND:
        if (jv_truthy(jx_eval(st, sc, n->a))) {
            v = jx_eval(st, sc, n->b);
        } else if (n->c) {
            v = jx_eval(st, sc, n->c);
        } else {
            char *hint = jx_alloc(st, 128);
            snprintf(hint, 128, "the inline if-expression on line %d evaluated to false and no else section was defined.", n->line);
            v = jv_undef_hint(st, hint);
        }
        break;
    default: jx_fail(st, "cannot evaluate this expression");
    }
    st->depth--;
    return v;
}

/* ------------------------------------------------------------------ statements */

static void assign(jx_state *st, jx_scope *sc, const jx_node *target, jv v) {
    if (target->type == E_NAME) {
        jx_scope_set(st, sc, target->name, target->name_len, v);
        return;
    }
    if (target->type == E_NSREF) {
        const jv *ns = scope_find(sc, target->name, target->name_len);
        if (!ns || ns->kind != JV_NS) jx_fail(st, "cannot assign attribute on non-namespace object");
        jx_dict_set(st, ns->d, jv_str(target->attr, target->attr_len), v);
        return;
    }
    /* tuple unpacking */
    size_t n;
    const jv *items = jv_iterate(st, v, &n);
    size_t want = (size_t)target->list.n;
    if (n < want) jx_fail(st, "not enough values to unpack (expected %zu, got %zu)", want, n);
    if (n > want) jx_fail(st, "too many values to unpack (expected %zu)", want);
    for (size_t i = 0; i < want; i++) assign(st, sc, target->list.v[i], items[i]);
}

static int exec_for(jx_state *st, jx_scope *sc, const jx_node *n) {
    jv iter = jx_eval(st, sc, n->b);
    size_t count;
    const jv *items = jv_iterate(st, iter, &count);
    if (n->c) {
        jx_vec kept = {0};
        for (size_t i = 0; i < count; i++) {
            jx_scope *tmp = jx_scope_new(st, sc);
            assign(st, tmp, n->a, items[i]);
            if (jv_truthy(jx_eval(st, tmp, n->c))) jx_vec_push(st, &kept, items[i]);
        }
        items = kept.v;
        count = kept.n;
    }
    if (count == 0) {
        if (n->orelse.n) exec_body(st, jx_scope_new(st, sc), n->orelse);
        return CTRL_NONE;
    }
    jx_loop *loop = jx_alloc(st, sizeof *loop);
    loop->items = items;
    loop->n = count;
    jv loopv = {.kind = JV_LOOP, .loop = loop};
    for (size_t i = 0; i < count; i++) {
        jx_charge(st, 1);
        loop->i = i;
        jx_scope *it = jx_scope_new(st, sc);
        assign(st, it, n->a, items[i]);
        jx_scope_set(st, it, "loop", 4, loopv);
        if (exec_body(st, it, n->body) == CTRL_BREAK) break;
    }
    return CTRL_NONE;
}

static int exec_stmt(jx_state *st, jx_scope *sc, const jx_node *n) {
    st->line = n->line;
    jx_charge(st, 1);
    switch ((jx_ntype)n->type) {
    case S_TEXT: jx_buf_put(st, st->out, n->value.s.p, n->value.s.n); return CTRL_NONE;
    case S_OUTPUT: {
        jv v = jx_eval(st, sc, n->a);
        if (v.kind == JV_STR) jx_buf_put(st, st->out, v.s.p, v.s.n);
        else jv_to_str(st, st->out, v);
        return CTRL_NONE;
    }
    case S_IF: return exec_body(st, sc, jv_truthy(jx_eval(st, sc, n->a)) ? n->body : n->orelse);
    case S_FOR: return exec_for(st, sc, n);
    case S_SET: assign(st, sc, n->a, jx_eval(st, sc, n->b)); return CTRL_NONE;
    case S_SETBLOCK: {
        int ctrl;
        jv v = capture(st, sc, n->body, &ctrl);
        if (ctrl != CTRL_NONE) return ctrl;
        if (n->b) v = eval_filter(st, sc, n->b, &v);
        assign(st, sc, n->a, v);
        return CTRL_NONE;
    }
    case S_MACRO: {
        jx_macro *m = jx_alloc(st, sizeof *m);
        m->def = n;
        m->closure = sc;
        jx_scope_set(st, sc, n->name, n->name_len, (jv){.kind = JV_MACRO, .m = m});
        return CTRL_NONE;
    }
    case S_CALLBLOCK: {
        jx_macro *m = jx_alloc(st, sizeof *m);
        m->def = n;
        m->closure = sc;
        jv caller = {.kind = JV_MACRO, .m = m};
        jv v = eval_call(st, sc, n->a, &caller);
        jv_to_str(st, st->out, v);
        return CTRL_NONE;
    }
    case S_FILTERBLOCK: {
        int ctrl;
        jv text = capture(st, sc, n->body, &ctrl);
        if (ctrl != CTRL_NONE) return ctrl;
        jv_to_str(st, st->out, eval_filter(st, sc, n->b, &text));
        return CTRL_NONE;
    }
    case S_WITH: {
        jx_scope *inner = jx_scope_new(st, sc);
        for (int i = 0; i < n->list.n; i++) assign(st, inner, n->list.v[i]->a, jx_eval(st, sc, n->list.v[i]->b));
        return exec_body(st, inner, n->body);
    }
    case S_SCOPE: return exec_body(st, jx_scope_new(st, sc), n->body);
    case S_BREAK: return CTRL_BREAK;
    case S_CONTINUE: return CTRL_CONTINUE;
    default: break;
    }
    jx_fail(st, "cannot execute this statement");
}

static int exec_body(jx_state *st, jx_scope *sc, jx_nodes body) {
    if (++st->depth > st->lim.max_depth) jx_fail(st, "template nesting deeper than %d", st->lim.max_depth);
    int ctrl = CTRL_NONE;
    for (int i = 0; i < body.n && ctrl == CTRL_NONE; i++) ctrl = exec_stmt(st, sc, body.v[i]);
    st->depth--;
    return ctrl;
}

void jx_render(jx_state *st, jx_scope *sc, jx_nodes body) {
    exec_body(st, sc, body);
}
