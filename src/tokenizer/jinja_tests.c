/*
 * jinja_tests.c - jinja2's tests (`value is name(args)`): defined, none, string, mapping,
 * iterable, sequence, number, even/odd, comparisons (eq, gt, ...) and the rest of jinja2 3.1's
 * list, with Python's notion of each type (an Undefined is iterable, a bool is a number ...).
 */
#include "tokenizer/jinja_impl.h"

#include <math.h>
#include <string.h>

static jv one_arg(jx_state *st, const char *name, const jx_args *a) {
    static const char *const names[] = {"other"};
    jv x[1];
    jx_bind_args(st, name, a, names, 1, x);
    if (x[0].kind == JV_MISSING) jx_fail(st, "%s() missing 1 required positional argument", name);
    return x[0];
}

static void no_args(jx_state *st, const char *name, const jx_args *a) {
    if (a->nargs || a->nkw) jx_fail(st, "test_%s() takes 1 positional argument but %d were given", name, 1 + a->nargs + a->nkw);
}

#define SIMPLE_TEST(fname, tname, expr)                       \
    static bool fname(jx_state *st, jv v, const jx_args *a) { \
        no_args(st, tname, a);                                \
        return (expr);                                        \
    }

SIMPLE_TEST(t_defined, "defined", v.kind != JV_UNDEF)
SIMPLE_TEST(t_undefined, "undefined", v.kind == JV_UNDEF)
SIMPLE_TEST(t_none, "none", v.kind == JV_NONE)
SIMPLE_TEST(t_boolean, "boolean", v.kind == JV_BOOL)
SIMPLE_TEST(t_false, "false", v.kind == JV_BOOL && !v.b)
SIMPLE_TEST(t_true, "true", v.kind == JV_BOOL && v.b)
SIMPLE_TEST(t_integer, "integer", v.kind == JV_INT)
SIMPLE_TEST(t_float, "float", v.kind == JV_FLOAT)
SIMPLE_TEST(t_number, "number", v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_BOOL)
SIMPLE_TEST(t_string, "string", v.kind == JV_STR)
SIMPLE_TEST(t_mapping, "mapping", v.kind == JV_DICT)
SIMPLE_TEST(t_iterable, "iterable", v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_STR || v.kind == JV_UNDEF || v.kind == JV_LOOP)
SIMPLE_TEST(t_sequence, "sequence", jv_is_seq(v) || v.kind == JV_STR || v.kind == JV_DICT || v.kind == JV_UNDEF)
SIMPLE_TEST(t_callable, "callable", v.kind == JV_MACRO || v.kind == JV_FUNC || v.kind == JV_UNDEF || v.kind == JV_LOOP)
SIMPLE_TEST(t_escaped, "escaped", v.kind == JV_STR && (v.flags & JV_FLAG_MARKUP))

static bool case_test(jx_state *st, jv v, bool want_upper) {
    jv s = jv_str_of(st, v);
    jx_func f = {want_upper ? BI_STR_ISUPPER : BI_STR_ISLOWER, s, want_upper ? "isupper" : "islower"};
    jx_args none = {0};
    return jv_truthy(jx_call_builtin(st, &f, &none));
}

static bool t_lower(jx_state *st, jv v, const jx_args *a) {
    no_args(st, "lower", a);
    return case_test(st, v, false);
}
static bool t_upper(jx_state *st, jv v, const jx_args *a) {
    no_args(st, "upper", a);
    return case_test(st, v, true);
}

static bool mod_equals(jx_state *st, jv v, jv m, int64_t want) {
    jv r = jx_binop(st, OP_MOD, v, m);
    return jv_eq(st, r, jv_int(want));
}

static bool t_odd(jx_state *st, jv v, const jx_args *a) {
    no_args(st, "odd", a);
    return mod_equals(st, v, jv_int(2), 1);
}
static bool t_even(jx_state *st, jv v, const jx_args *a) {
    no_args(st, "even", a);
    return mod_equals(st, v, jv_int(2), 0);
}
static bool t_divisibleby(jx_state *st, jv v, const jx_args *a) {
    return mod_equals(st, v, one_arg(st, "test_divisibleby", a), 0);
}

static bool t_sameas(jx_state *st, jv v, const jx_args *a) {
    jv o = one_arg(st, "test_sameas", a);
    if (v.kind != o.kind) return false;
    switch (v.kind) {
    case JV_NONE: return true;
    case JV_BOOL: return v.b == o.b;
    case JV_INT: return v.i == o.i && v.i >= -5 && v.i <= 256; /* CPython caches small ints */
    case JV_FLOAT: return false;
    case JV_STR: return v.s.p == o.s.p && v.s.n == o.s.n;
    case JV_UNDEF: return v.u == o.u;
    default: return v.l == o.l;
    }
}

static bool t_in(jx_state *st, jv v, const jx_args *a) {
    return jx_contains(st, one_arg(st, "test_in", a), v);
}

static bool t_eq(jx_state *st, jv v, const jx_args *a) {
    return jv_eq(st, v, one_arg(st, "eq", a));
}
static bool t_ne(jx_state *st, jv v, const jx_args *a) {
    return !jv_eq(st, v, one_arg(st, "ne", a));
}

static bool ordered(jx_state *st, jv v, jv o, const char *op) {
    if (jv_is_num(v) && jv_is_num(o) && ((v.kind == JV_FLOAT && isnan(v.f)) || (o.kind == JV_FLOAT && isnan(o.f))))
        return false;
    int c = jv_cmp(st, v, o, op);
    if (op[0] == '<') return op[1] ? c <= 0 : c < 0;
    return op[1] ? c >= 0 : c > 0;
}

static bool t_lt(jx_state *st, jv v, const jx_args *a) {
    return ordered(st, v, one_arg(st, "lt", a), "<");
}
static bool t_le(jx_state *st, jv v, const jx_args *a) {
    return ordered(st, v, one_arg(st, "le", a), "<=");
}
static bool t_gt(jx_state *st, jv v, const jx_args *a) {
    return ordered(st, v, one_arg(st, "gt", a), ">");
}
static bool t_ge(jx_state *st, jv v, const jx_args *a) {
    return ordered(st, v, one_arg(st, "ge", a), ">=");
}

static bool t_filter(jx_state *st, jv v, const jx_args *a) {
    no_args(st, "filter", a);
    return v.kind == JV_STR && jx_find_filter(v.s.p, v.s.n) != NULL;
}
static bool t_test(jx_state *st, jv v, const jx_args *a) {
    no_args(st, "test", a);
    return v.kind == JV_STR && jx_find_test(v.s.p, v.s.n) != NULL;
}

static const jx_test_def TESTS[] = {
    {"odd", t_odd}, {"even", t_even}, {"divisibleby", t_divisibleby}, {"defined", t_defined},
    {"undefined", t_undefined}, {"filter", t_filter}, {"test", t_test}, {"none", t_none},
    {"boolean", t_boolean}, {"false", t_false}, {"true", t_true}, {"integer", t_integer},
    {"float", t_float}, {"lower", t_lower}, {"upper", t_upper}, {"string", t_string},
    {"mapping", t_mapping}, {"number", t_number}, {"sequence", t_sequence}, {"iterable", t_iterable},
    {"callable", t_callable}, {"sameas", t_sameas}, {"escaped", t_escaped}, {"in", t_in},
    {"==", t_eq}, {"eq", t_eq}, {"equalto", t_eq}, {"!=", t_ne}, {"ne", t_ne}, {">", t_gt},
    {"gt", t_gt}, {"greaterthan", t_gt}, {"ge", t_ge}, {">=", t_ge}, {"<", t_lt}, {"lt", t_lt},
    {"lessthan", t_lt}, {"<=", t_le}, {"le", t_le},
};

const jx_test_def *jx_find_test(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++)
        if (strlen(TESTS[i].name) == n && memcmp(TESTS[i].name, name, n) == 0) return &TESTS[i];
    return NULL;
}

bool jx_apply_test(jx_state *st, const jx_test_def *t, jv in, const jx_args *a) {
    jx_charge(st, 1);
    return t->fn(st, in, a);
}
