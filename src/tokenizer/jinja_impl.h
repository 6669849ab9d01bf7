/*
 * jinja_impl.h - internals shared by the files of the Jinja-subset interpreter that renders chat
 * templates (src/tokenizer/jinja_*.c, chat_template.c). Nothing outside src/tokenizer includes it.
 *
 * One render owns one jx_state. Everything a render allocates (tokens, syntax tree, values,
 * output) comes from the state's arena and is released at once when the render ends, so values
 * are plain structs that share memory freely and nothing is reference counted. Lists and dicts are
 * immutable once built (the reference runs jinja2's ImmutableSandboxedEnvironment); the only
 * mutable objects are namespace() attributes, generator positions and loop state.
 *
 * Errors unwind with longjmp to jx_protected() (see jinja_arena.c), which the API entry point
 * calls; since every allocation belongs to the arena, unwinding leaks nothing. The semantics
 * mirror Python jinja2 3.1 configured as transformers' apply_chat_template configures it.
 */
#ifndef AG_TOKENIZER_JINJA_IMPL_H
#define AG_TOKENIZER_JINJA_IMPL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "autoglm/autoglm.h"
#include "base/error.h"

typedef struct jx_state jx_state;
typedef struct jx_node jx_node;
typedef struct jx_scope jx_scope;

/* ------------------------------------------------------------------ values */

typedef enum {
    JV_MISSING, /* internal: an argument that was not passed; never reaches a template */
    JV_UNDEF,   /* jinja2's default Undefined */
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,  /* list, tuple, generator or dict view: see jx_list.kind */
    JV_DICT,
    JV_NS,    /* namespace(): a dict of attributes that templates may assign */
    JV_MACRO,
    JV_FUNC,  /* a builtin callable: global function or bound method */
    JV_LOOP,  /* the `loop` variable of a for loop */
} jv_kind;

enum { JV_FLAG_MARKUP = 1 }; /* a string made by |safe or |escape (markupsafe.Markup) */

typedef struct jv {
    uint8_t kind;
    uint8_t flags;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s; /* UTF-8, not NUL-terminated, never modified */
        struct jx_list *l;
        struct jx_dict *d;
        struct jx_undef *u;
        struct jx_macro *m;
        struct jx_func *fn;
        struct jx_loop *loop;
    };
} jv;

typedef enum {
    JL_LIST,
    JL_TUPLE,
    JL_GEN,    /* one-pass iterator (what map/select/... return): items before pos are consumed */
    JL_ITEMS,  /* dict.items() */
    JL_KEYS,   /* dict.keys() */
    JL_VALUES, /* dict.values() */
} jl_kind;

typedef struct jx_list {
    jv *v;
    size_t n;
    size_t pos;          /* JL_GEN: next item */
    uint8_t kind;        /* jl_kind */
    const char *gen_err; /* JL_GEN: raise this TypeError when iterated (lazy filter errors) */
} jx_list;

typedef struct jx_dict {
    jv *keys, *vals;
    size_t n, cap;
    uint32_t *idx; /* open-addressing index of n entries + 1, built once n grows past a few */
    size_t idx_cap;
} jx_dict;

typedef struct jx_undef {
    const char *hint;     /* fixed message, or NULL */
    const char *obj_type; /* object_type_repr of the object that lacked the name, or NULL */
    jv name;              /* the missing name or key */
    bool security;        /* an unsafe attribute (SecurityError) */
} jx_undef;

typedef struct jx_macro {
    const jx_node *def; /* S_MACRO or S_CALLBLOCK node */
    jx_scope *closure;  /* scope the macro was defined in */
} jx_macro;

typedef struct jx_func {
    int id;   /* jx_builtin */
    jv self;  /* bound object of a method */
    const char *name;
} jx_func;

typedef struct jx_loop {
    const jv *items;
    size_t n, i;
    jv changed_last;
    bool changed_seen;
} jx_loop;

/* ------------------------------------------------------------------ syntax tree */

typedef enum {
    /* statements */
    S_TEXT, S_OUTPUT, S_IF, S_FOR, S_SET, S_SETBLOCK, S_MACRO, S_CALLBLOCK, S_FILTERBLOCK,
    S_BREAK, S_CONTINUE, S_WITH, S_SCOPE,
    /* expressions */
    E_CONST, E_NAME, E_NSREF, E_LIST, E_TUPLE, E_DICT, E_GETATTR, E_GETITEM, E_SLICE, E_CALL,
    E_FILTER, E_TEST, E_NOT, E_NEG, E_POS, E_BIN, E_CONCAT, E_AND, E_OR, E_CMP, E_COND, E_KWARG,
} jx_ntype;

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
} jx_op;

enum { MACRO_CALLER = 1, MACRO_VARARGS = 2, MACRO_KWARGS = 4 }; /* S_MACRO flags */

typedef struct {
    jx_node **v;
    int n;
} jx_nodes;

typedef struct jx_filter_def jx_filter_def;
typedef struct jx_test_def jx_test_def;

struct jx_node {
    uint8_t type; /* jx_ntype */
    uint8_t op;   /* jx_op for E_BIN and E_CMP operands; flags for S_MACRO */
    int line;
    jv value;         /* E_CONST, S_TEXT */
    const char *name; /* E_NAME, E_GETATTR attr, filter/test/macro name, E_KWARG key, E_NSREF ns */
    size_t name_len;
    const char *attr; /* E_NSREF attribute */
    size_t attr_len;
    jx_node *a, *b, *c, *d; /* operands; see jinja_parse.c for each type's layout */
    jx_nodes list;          /* items, positional args, compare operands, macro parameters */
    jx_nodes kwargs;        /* E_KWARG nodes */
    jx_nodes body, orelse;
    const jx_filter_def *filter;
    const jx_test_def *test;
};

/* ------------------------------------------------------------------ lexer tokens */

typedef enum {
    T_EOF, T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END,
    T_NAME, T_STRING, T_INT, T_FLOAT,
    /* operators */
    T_ADD, T_SUB, T_DIV, T_FLOORDIV, T_MUL, T_MOD, T_POW, T_TILDE, T_LBRACKET, T_RBRACKET,
    T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_EQ, T_NE, T_GT, T_GTEQ, T_LT, T_LTEQ, T_ASSIGN,
    T_DOT, T_COLON, T_PIPE, T_COMMA, T_SEMICOLON,
} jx_ttype;

typedef struct {
    uint8_t type;
    int line;
    const char *p; /* T_NAME text, T_DATA text (after whitespace control) */
    size_t n;
    jv value; /* T_STRING (unescaped), T_INT, T_FLOAT */
} jx_token;

/* ------------------------------------------------------------------ calls to builtins */

/* Arguments of a filter, test, method or global function call. */
typedef struct {
    jv *args;
    int nargs;
    const char **kwnames;
    const size_t *kwlens;
    jv *kwvals;
    int nkw;
} jx_args;

typedef jv (*jx_filter_fn)(jx_state *st, jx_scope *sc, jv in, const jx_args *a);
typedef bool (*jx_test_fn)(jx_state *st, jv in, const jx_args *a);

struct jx_filter_def {
    const char *name;
    jx_filter_fn fn;
};
struct jx_test_def {
    const char *name;
    jx_test_fn fn;
};

typedef enum {
    /* globals */
    BI_RAISE_EXCEPTION, BI_STRFTIME_NOW, BI_NAMESPACE, BI_RANGE, BI_DICT,
    /* methods that exist in Python but are not implemented, and unsafe (mutating) methods */
    BI_UNIMPLEMENTED, BI_UNSAFE,
    /* str methods */
    BI_STR_STRIP, BI_STR_LSTRIP, BI_STR_RSTRIP, BI_STR_SPLIT, BI_STR_RSPLIT, BI_STR_STARTSWITH,
    BI_STR_ENDSWITH, BI_STR_UPPER, BI_STR_LOWER, BI_STR_TITLE, BI_STR_CAPITALIZE, BI_STR_SWAPCASE,
    BI_STR_REPLACE, BI_STR_FIND, BI_STR_RFIND, BI_STR_INDEX, BI_STR_RINDEX, BI_STR_COUNT,
    BI_STR_JOIN, BI_STR_FORMAT, BI_STR_ISDIGIT, BI_STR_ISALPHA, BI_STR_ISALNUM, BI_STR_ISSPACE,
    BI_STR_ISUPPER, BI_STR_ISLOWER, BI_STR_REMOVEPREFIX, BI_STR_REMOVESUFFIX, BI_STR_SPLITLINES,
    BI_STR_CENTER, BI_STR_LJUST, BI_STR_RJUST, BI_STR_ZFILL, BI_STR_PARTITION, BI_STR_RPARTITION,
    /* dict methods */
    BI_DICT_ITEMS, BI_DICT_KEYS, BI_DICT_VALUES, BI_DICT_GET, BI_DICT_COPY,
    /* list methods */
    BI_LIST_INDEX, BI_LIST_COUNT, BI_LIST_COPY,
    /* loop methods */
    BI_LOOP_CYCLE, BI_LOOP_CHANGED,
} jx_builtin;

/* ------------------------------------------------------------------ scopes */

typedef struct {
    const char *name;
    size_t len;
    jv v;
} jx_var;

struct jx_scope {
    jx_scope *parent;
    jx_var *vars;
    size_t n, cap;
};

/* ------------------------------------------------------------------ render state */

typedef struct {
    char *p;
    size_t n, cap;
} jx_buf;

typedef struct jx_block jx_block;

typedef struct {
    size_t max_output;    /* bytes of rendered text */
    size_t max_memory;    /* bytes the arena may hold */
    uint64_t max_steps;   /* work units (nodes evaluated, loop iterations, bytes copied / 64) */
    int max_depth;        /* nesting of evaluation (expressions, statements, macro calls) */
} jx_limits;

struct jx_state {
    jmp_buf *jmp;
    ag_error *err;
    jx_limits lim;
    /* arena */
    jx_block *blocks;
    size_t mem_used;
    /* source after newline normalization */
    const char *src;
    size_t src_len;
    /* evaluation */
    int line;   /* line of the node being evaluated, for messages */
    int depth;
    int macro_depth;
    uint64_t steps;
    jx_buf *out;
    jx_scope *globals_scope; /* the context variables; globals are resolved after it */
    bool have_now;
    int64_t now_epoch_days;
    int now_h, now_m, now_s;
};

/* ------------------------------------------------------------------ jinja_arena.c */

/* Runs fn(st, arg) with st->jmp set; returns false when it failed (st->err filled). */
bool jx_protected(jx_state *st, void (*fn)(jx_state *, void *), void *arg);
void jx_state_release(jx_state *st);

void *jx_alloc(jx_state *st, size_t n);  /* zeroed; fails the render past max_memory */
void *jx_grow(jx_state *st, void *old, size_t old_bytes, size_t new_bytes);
char *jx_strdup(jx_state *st, const char *p, size_t n);
void jx_charge(jx_state *st, uint64_t units); /* fails the render past max_steps */

void jx_buf_put(jx_state *st, jx_buf *b, const char *p, size_t n);
void jx_buf_putc(jx_state *st, jx_buf *b, char c);
void jx_buf_printf(jx_state *st, jx_buf *b, const char *fmt, ...) AG_PRINTF(3, 4);

_Noreturn void jx_fail_syntax(jx_state *st, int line, const char *fmt, ...) AG_PRINTF(3, 4);
_Noreturn void jx_fail_unsupported(jx_state *st, int line, const char *fmt, ...) AG_PRINTF(3, 4);
_Noreturn void jx_fail(jx_state *st, const char *fmt, ...) AG_PRINTF(2, 3); /* runtime error */
_Noreturn void jx_fail_raise(jx_state *st, const char *msg, size_t n);   /* raise_exception() */
_Noreturn void jx_fail_nomem(jx_state *st);

/* ------------------------------------------------------------------ jinja_unicode.c */

/* Decodes the code point at p[0..n) (n >= 1); *len gets its byte length (1 for invalid bytes). */
uint32_t jx_utf8_decode(const char *p, size_t n, int *len);
int jx_utf8_encode(uint32_t cp, char out[4]);
size_t jx_utf8_count(const char *p, size_t n);           /* code points */
size_t jx_utf8_offset(const char *p, size_t n, size_t k); /* byte offset of code point k (<= n) */
bool jx_py_isspace(uint32_t cp);
bool jx_py_isprintable(uint32_t cp);
uint32_t jx_to_upper(uint32_t cp);
uint32_t jx_to_lower(uint32_t cp);
bool jx_is_cased_upper(uint32_t cp);
bool jx_is_cased_lower(uint32_t cp);
bool jx_is_alpha(uint32_t cp);
bool jx_is_digit(uint32_t cp);

/* ------------------------------------------------------------------ jinja_value.c */

extern const jv JV_UNDEF_VALUE; /* plain undefined without a name */
jv jv_none(void);
jv jv_bool(bool b);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_str(const char *p, size_t n);                  /* refers to p, does not copy */
jv jv_cstr(const char *s);                           /* refers to a static string */
jv jv_str_copy(jx_state *st, const char *p, size_t n);
jv jv_list_new(jx_state *st, size_t n, uint8_t kind); /* n zeroed items */
jv jv_dict_new(jx_state *st);
jv jv_undef_name(jx_state *st, const char *name, size_t len);          /* 'name' is undefined */
jv jv_undef_attr(jx_state *st, jv obj, jv name);                      /* obj has no attribute */
jv jv_undef_hint(jx_state *st, const char *hint);
jv jv_func(jx_state *st, int id, jv self, const char *name);

static inline bool jv_is(jv v, jv_kind k) { return v.kind == k; }
static inline bool jv_is_seq(jv v) { return v.kind == JV_LIST && (v.l->kind == JL_LIST || v.l->kind == JL_TUPLE); }
static inline bool jv_is_num(jv v) { return v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_BOOL; }
static inline bool jv_str_eq(jv v, const char *s, size_t n) { return v.kind == JV_STR && v.s.n == n && (n == 0 || memcmp(v.s.p, s, n) == 0); }

const char *jv_type_name(jv v);        /* Python type(x).__name__ */
const char *jv_object_type_repr(jv v); /* jinja2's object_type_repr */
_Noreturn void jx_fail_undefined(jx_state *st, jv u);
void jx_check_defined(jx_state *st, jv v); /* fails when v is undefined (for operations on it) */

bool jv_truthy(jv v);
bool jv_eq(jx_state *st, jv a, jv b);
int jv_cmp(jx_state *st, jv a, jv b, const char *opname); /* <0, 0, >0; fails on unorderable */
uint64_t jv_hash(jx_state *st, jv v);                      /* fails on unhashable values */
size_t jv_len(jx_state *st, jv v);                         /* fails when there is no len() */

/* Python str() / repr() into b. */
void jv_to_str(jx_state *st, jx_buf *b, jv v);
void jv_repr(jx_state *st, jx_buf *b, jv v);
jv jv_str_of(jx_state *st, jv v); /* str(v) as a value (strings returned as they are) */
void jx_fmt_float(double f, char out[40]);

/* Iteration: the items of v as an array (strings: one string per code point, dicts: keys).
 * Consumes generators. Undefined gives nothing; non-iterables fail with Python's TypeError. */
const jv *jv_iterate(jx_state *st, jv v, size_t *n);

/* dicts */
ptrdiff_t jx_dict_find(jx_state *st, const jx_dict *d, jv key);
jv *jx_dict_get(jx_state *st, const jx_dict *d, jv key); /* NULL when absent */
jv *jx_dict_get_str(jx_state *st, const jx_dict *d, const char *k, size_t n);
void jx_dict_set(jx_state *st, jx_dict *d, jv key, jv val);

/* list builder */
typedef struct {
    jv *v;
    size_t n, cap;
} jx_vec;
void jx_vec_push(jx_state *st, jx_vec *vec, jv v);
jv jx_vec_to_list(jx_state *st, jx_vec *vec, uint8_t kind);

/* ------------------------------------------------------------------ jinja_json.c */

/* Converts a cJSON tree parsed from text[0..len) into values, telling ints from floats by the
 * text as Python's json does. */
jv jx_json_convert(jx_state *st, const void *cjson_root, const char *text, size_t len);
/* json.dumps(v, ensure_ascii, indent, separators, sort_keys) into b. indent: NULL for none. */
typedef struct {
    bool ensure_ascii;
    bool sort_keys;
    bool has_indent;
    const char *indent; /* the indent unit */
    size_t indent_len;
    const char *item_sep, *key_sep;
    size_t item_sep_len, key_sep_len;
} jx_json_opts;
void jx_json_dump(jx_state *st, jx_buf *b, jv v, const jx_json_opts *o);

/* ------------------------------------------------------------------ jinja_lex.c / jinja_parse.c */

/* Tokenizes st->src with jinja2's rules for trim_blocks=True, lstrip_blocks=True. */
jx_token *jx_lex(jx_state *st, size_t *ntok);
/* Parses the template into a statement list. */
jx_nodes jx_parse(jx_state *st, const jx_token *toks, size_t ntok);

/* ------------------------------------------------------------------ jinja_eval.c */

jv jx_eval(jx_state *st, jx_scope *sc, const jx_node *n);
void jx_render(jx_state *st, jx_scope *sc, jx_nodes body);
jv jx_getattr(jx_state *st, jv obj, const char *name, size_t n);
jv jx_getitem(jx_state *st, jv obj, jv key);
jv jx_call_value(jx_state *st, jx_scope *sc, jv callee, const jx_args *a);
jv jx_binop(jx_state *st, int op, jv a, jv b);
bool jx_contains(jx_state *st, jv container, jv item);
jv jx_slice(jx_state *st, jv obj, jv start, jv stop, jv step);
jx_scope *jx_scope_new(jx_state *st, jx_scope *parent);
void jx_scope_set(jx_state *st, jx_scope *sc, const char *name, size_t len, jv v);
jv jx_lookup(jx_state *st, jx_scope *sc, const char *name, size_t len);

/* ------------------------------------------------------------------ jinja_filters.c / jinja_tests.c */

const jx_filter_def *jx_find_filter(const char *name, size_t n);
const jx_test_def *jx_find_test(const char *name, size_t n);
/* Binds positional and keyword arguments to `names` (JV_MISSING where not given); fails on
 * extra or unknown arguments with Python's message for `fname`. */
void jx_bind_args(jx_state *st, const char *fname, const jx_args *a, const char *const *names, int nnames, jv *out);
jv jx_apply_filter(jx_state *st, jx_scope *sc, const jx_filter_def *f, jv in, const jx_args *a);
bool jx_apply_test(jx_state *st, const jx_test_def *t, jv in, const jx_args *a);
jv jx_escape(jx_state *st, jv v); /* markupsafe.escape */

/* ------------------------------------------------------------------ jinja_methods.c */

/* The method or attribute `name` of a builtin value, or JV_MISSING when Python has none. */
jv jx_builtin_attr(jx_state *st, jv obj, const char *name, size_t n);
jv jx_call_builtin(jx_state *st, const jx_func *f, const jx_args *a);
int jx_global_id(const char *name, size_t n); /* BI_* of a global function, or -1 */
jv jx_str_strip(jx_state *st, jv s, jv chars, bool left, bool right);
jv jx_str_lower(jx_state *st, jv s);
jv jx_str_upper(jx_state *st, jv s);
jv jx_str_replace(jx_state *st, jv s, jv old, jv rep, int64_t count);

/* ------------------------------------------------------------------ jinja_strftime.c */

/* Formats the render's time (the context's `_ag_now`, else the local time) like strftime. */
jv jx_strftime_now(jx_state *st, jv fmt);
bool jx_parse_now(jx_state *st, const char *p, size_t n); /* "YYYY-MM-DD[THH:MM[:SS]]" */

#endif
