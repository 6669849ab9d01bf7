/*
 * jinja_parse.c - tokens to syntax tree, a recursive-descent parser that follows jinja2's
 * grammar and operator precedence (lowest first):
 *   a if b else c  |  or  |  and  |  not  |  == != < <= > >= in, not in (chained)  |  + -  |  ~  |
 *   * / // %  |  **  |  unary - +  |  filters `|f`, tests `is t`  |  .attr [index] (call)
 *
 * Node layouts (fields of jx_node):
 *   S_TEXT value | S_OUTPUT a | S_IF a body orelse | S_FOR a=target b=iter c=filter body orelse
 *   S_SET a=target b=value | S_SETBLOCK a=target b=filter chain (input NULL) body
 *   S_MACRO name list=params (E_NAME, a=default) body op=MACRO_* | S_CALLBLOCK a=call list body
 *   S_FILTERBLOCK b=filter chain body | S_WITH list=S_SET body | S_SCOPE body
 *   E_NSREF name.attr | E_GETATTR a.name | E_GETITEM a[b] | E_SLICE a:b:c (each may be NULL)
 *   E_CALL a(list, kwargs, *c, **d) | E_FILTER a|name(list, kwargs) | E_TEST a is name(list)
 *   E_BIN a op b | E_CMP a (list: operands with op) | E_COND b if a else c | E_KWARG name=a
 *
 * Filters and tests are resolved here: a name we do not implement fails the whole template with
 * AG_ERR_UNSUPPORTED, as jinja2 fails at compile time for names it does not know. Tags jinja2
 * has but chat templates cannot use (extends, include, import, block ...) are unsupported too.
 */
#include "tokenizer/jinja_impl.h"

#include <string.h>

enum { MAX_PARSE_DEPTH = 200 };

typedef struct {
    jx_state *st;
    const jx_token *t;
    size_t n, i;
    int depth;
    int loop_depth;
} parser;

static const jx_token *cur(parser *p) {
    return &p->t[p->i];
}
static const jx_token *look(parser *p) {
    return &p->t[p->i + 1 < p->n ? p->i + 1 : p->n - 1];
}
static const jx_token *next(parser *p) {
    const jx_token *t = cur(p);
    if (p->i + 1 < p->n) p->i++;
    return t;
}
static bool is_name(const jx_token *t, const char *s) {
    return t->type == T_NAME && t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}
static bool skip_name(parser *p, const char *s) {
    if (!is_name(cur(p), s)) return false;
    next(p);
    return true;
}
static bool skip(parser *p, int type) {
    if (cur(p)->type != type) return false;
    next(p);
    return true;
}

static const char *describe(const jx_token *t, char *buf, size_t cap) {
    switch (t->type) {
    case T_EOF: return "end of template";
    case T_DATA: return "template data";
    case T_VAR_BEGIN: return "begin of print statement";
    case T_VAR_END: return "end of print statement";
    case T_BLOCK_BEGIN: return "begin of statement block";
    case T_BLOCK_END: return "end of statement block";
    case T_STRING: return "string";
    case T_INT: return "integer";
    case T_FLOAT: return "float";
    default: break;
    }
    size_t n = t->n < cap - 1 ? t->n : cap - 1;
    memcpy(buf, t->p, n);
    buf[n] = 0;
    return buf;
}

_Noreturn static void fail_at(parser *p, const jx_token *t, const char *what) {
    char buf[64];
    jx_fail_syntax(p->st, t->line, "%s, got '%s'", what, describe(t, buf, sizeof buf));
}

static const jx_token *expect(parser *p, int type, const char *what) {
    if (cur(p)->type != type) fail_at(p, cur(p), what);
    return next(p);
}

static jx_node *node(parser *p, int type, int line) {
    jx_node *n = jx_alloc(p->st, sizeof *n);
    n->type = (uint8_t)type;
    n->line = line;
    return n;
}

typedef struct {
    jx_node **v;
    int n, cap;
} nodevec;

static void nv_push(parser *p, nodevec *v, jx_node *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        v->v = jx_grow(p->st, v->v, (size_t)v->n * sizeof *v->v, (size_t)cap * sizeof *v->v);
        v->cap = cap;
    }
    v->v[v->n++] = x;
}
static jx_nodes nv_done(nodevec *v) {
    return (jx_nodes){v->v, v->n};
}

static void enter(parser *p) {
    if (++p->depth > MAX_PARSE_DEPTH)
        jx_fail_unsupported(p->st, cur(p)->line, "unsupported nesting deeper than %d levels", MAX_PARSE_DEPTH);
}
static void leave(parser *p) {
    p->depth--;
}

static jx_node *parse_expression(parser *p, bool with_condexpr);
static jx_node *parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end, bool explicit_parens);
static jx_node *parse_primary(parser *p);
static jx_node *parse_postfix(parser *p, jx_node *n);
static jx_node *parse_filter(parser *p, jx_node *n, bool start_inline);
static jx_nodes subparse(parser *p, const char *const *end_tokens);

/* ------------------------------------------------------------------ expressions */

static jx_node *parse_or(parser *p);

static jx_node *parse_condexpr(parser *p) {
    int line = cur(p)->line;
    jx_node *e1 = parse_or(p);
    while (skip_name(p, "if")) {
        jx_node *c = node(p, E_COND, line);
        c->b = e1;
        c->a = parse_or(p);
        if (skip_name(p, "else")) {
            enter(p);
            c->c = parse_condexpr(p);
            leave(p);
        }
        e1 = c;
        line = cur(p)->line;
    }
    return e1;
}

static jx_node *parse_not(parser *p);
static jx_node *parse_and(parser *p) {
    int line = cur(p)->line;
    jx_node *l = parse_not(p);
    while (skip_name(p, "and")) {
        jx_node *n = node(p, E_AND, line);
        n->a = l;
        n->b = parse_not(p);
        l = n;
    }
    return l;
}

static jx_node *parse_or(parser *p) {
    int line = cur(p)->line;
    jx_node *l = parse_and(p);
    while (skip_name(p, "or")) {
        jx_node *n = node(p, E_OR, line);
        n->a = l;
        n->b = parse_and(p);
        l = n;
    }
    return l;
}

static jx_node *parse_compare(parser *p);
static jx_node *parse_not(parser *p) {
    if (is_name(cur(p), "not")) {
        int line = next(p)->line;
        jx_node *n = node(p, E_NOT, line);
        enter(p);
        n->a = parse_not(p);
        leave(p);
        return n;
    }
    return parse_compare(p);
}

static jx_node *parse_math1(parser *p);
static jx_node *parse_compare(parser *p) {
    int line = cur(p)->line;
    jx_node *e = parse_math1(p);
    nodevec ops = {0};
    for (;;) {
        int t = cur(p)->type, op;
        if (t == T_EQ) op = OP_EQ;
        else if (t == T_NE) op = OP_NE;
        else if (t == T_LT) op = OP_LT;
        else if (t == T_LTEQ) op = OP_LE;
        else if (t == T_GT) op = OP_GT;
        else if (t == T_GTEQ) op = OP_GE;
        else if (is_name(cur(p), "in")) op = OP_IN;
        else if (is_name(cur(p), "not") && is_name(look(p), "in")) {
            next(p);
            op = OP_NOTIN;
        } else break;
        next(p);
        jx_node *operand = parse_math1(p);
        jx_node *wrap = node(p, E_KWARG, operand->line); /* holder: op + operand */
        wrap->op = (uint8_t)op;
        wrap->a = operand;
        nv_push(p, &ops, wrap);
    }
    if (!ops.n) return e;
    jx_node *n = node(p, E_CMP, line);
    n->a = e;
    n->list = nv_done(&ops);
    return n;
}

static jx_node *parse_concat(parser *p);
static jx_node *parse_math1(parser *p) {
    int line = cur(p)->line;
    jx_node *l = parse_concat(p);
    while (cur(p)->type == T_ADD || cur(p)->type == T_SUB) {
        int op = next(p)->type == T_ADD ? OP_ADD : OP_SUB;
        jx_node *n = node(p, E_BIN, line);
        n->op = (uint8_t)op;
        n->a = l;
        n->b = parse_concat(p);
        l = n;
        line = cur(p)->line;
    }
    return l;
}

static jx_node *parse_math2(parser *p);
static jx_node *parse_concat(parser *p) {
    int line = cur(p)->line;
    jx_node *first = parse_math2(p);
    if (cur(p)->type != T_TILDE) return first;
    nodevec args = {0};
    nv_push(p, &args, first);
    while (skip(p, T_TILDE)) nv_push(p, &args, parse_math2(p));
    jx_node *n = node(p, E_CONCAT, line);
    n->list = nv_done(&args);
    return n;
}

static jx_node *parse_pow(parser *p);
static jx_node *parse_math2(parser *p) {
    int line = cur(p)->line;
    jx_node *l = parse_pow(p);
    for (;;) {
        int t = cur(p)->type, op;
        if (t == T_MUL) op = OP_MUL;
        else if (t == T_DIV) op = OP_DIV;
        else if (t == T_FLOORDIV) op = OP_FLOORDIV;
        else if (t == T_MOD) op = OP_MOD;
        else break;
        next(p);
        jx_node *n = node(p, E_BIN, line);
        n->op = (uint8_t)op;
        n->a = l;
        n->b = parse_pow(p);
        l = n;
        line = cur(p)->line;
    }
    return l;
}

static jx_node *parse_unary(parser *p, bool with_filter);
static jx_node *parse_pow(parser *p) {
    int line = cur(p)->line;
    jx_node *l = parse_unary(p, true);
    while (skip(p, T_POW)) {
        jx_node *n = node(p, E_BIN, line);
        n->op = OP_POW;
        n->a = l;
        n->b = parse_unary(p, true);
        l = n;
        line = cur(p)->line;
    }
    return l;
}

static jx_node *parse_test(parser *p, jx_node *n);

static jx_node *parse_filter_expr(parser *p, jx_node *n);

static jx_node *parse_unary(parser *p, bool with_filter) {
    int t = cur(p)->type, line = cur(p)->line;
    jx_node *n;
    enter(p);
    if (t == T_SUB || t == T_ADD) {
        next(p);
        n = node(p, t == T_SUB ? E_NEG : E_POS, line);
        n->a = parse_unary(p, false);
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filter_expr(p, n);
    leave(p);
    return n;
}

static jx_node *parse_list(parser *p) {
    int line = expect(p, T_LBRACKET, "expected '['")->line;
    nodevec items = {0};
    while (cur(p)->type != T_RBRACKET) {
        if (items.n) expect(p, T_COMMA, "expected ','");
        if (cur(p)->type == T_RBRACKET) break;
        nv_push(p, &items, parse_expression(p, true));
    }
    expect(p, T_RBRACKET, "expected ']'");
    jx_node *n = node(p, E_LIST, line);
    n->list = nv_done(&items);
    return n;
}

static jx_node *parse_dict(parser *p) {
    int line = expect(p, T_LBRACE, "expected '{'")->line;
    nodevec items = {0};
    while (cur(p)->type != T_RBRACE) {
        if (items.n) expect(p, T_COMMA, "expected ','");
        if (cur(p)->type == T_RBRACE) break;
        nv_push(p, &items, parse_expression(p, true));
        expect(p, T_COLON, "expected ':'");
        nv_push(p, &items, parse_expression(p, true));
    }
    expect(p, T_RBRACE, "expected '}'");
    jx_node *n = node(p, E_DICT, line);
    n->list = nv_done(&items);
    return n;
}

static jx_node *parse_primary(parser *p) {
    const jx_token *t = cur(p);
    jx_node *n;
    if (t->type == T_NAME) {
        next(p);
        n = node(p, E_CONST, t->line);
        if (is_name(t, "true") || is_name(t, "True")) n->value = jv_bool(true);
        else if (is_name(t, "false") || is_name(t, "False")) n->value = jv_bool(false);
        else if (is_name(t, "none") || is_name(t, "None")) n->value = jv_none();
        else {
            n->type = E_NAME;
            n->name = t->p;
            n->name_len = t->n;
        }
        return n;
    }
    if (t->type == T_STRING) {
        next(p);
        n = node(p, E_CONST, t->line);
        n->value = t->value;
        if (cur(p)->type == T_STRING) {
            jx_buf b = {0};
            jx_buf_put(p->st, &b, t->value.s.p, t->value.s.n);
            while (cur(p)->type == T_STRING) {
                const jx_token *s = next(p);
                jx_buf_put(p->st, &b, s->value.s.p, s->value.s.n);
            }
            n->value = jv_str(b.p, b.n);
        }
        return n;
    }
    if (t->type == T_INT || t->type == T_FLOAT) {
        next(p);
        n = node(p, E_CONST, t->line);
        n->value = t->value;
        return n;
    }
    if (t->type == T_LPAREN) {
        next(p);
        n = parse_tuple(p, false, true, NULL, true);
        expect(p, T_RPAREN, "expected ')'");
        return n;
    }
    if (t->type == T_LBRACKET) return parse_list(p);
    if (t->type == T_LBRACE) return parse_dict(p);
    fail_at(p, t, "unexpected token in an expression");
}

static bool is_tuple_end(parser *p, const char *extra_end) {
    int t = cur(p)->type;
    if (t == T_VAR_END || t == T_BLOCK_END || t == T_RPAREN) return true;
    return extra_end && is_name(cur(p), extra_end);
}

static jx_node *parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end, bool explicit_parens) {
    int line = cur(p)->line;
    nodevec args = {0};
    bool is_tuple = false;
    enter(p);
    for (;;) {
        if (args.n) expect(p, T_COMMA, "expected ','");
        if (is_tuple_end(p, extra_end)) break;
        nv_push(p, &args, simplified ? parse_primary(p) : parse_expression(p, with_condexpr));
        if (cur(p)->type == T_COMMA) is_tuple = true;
        else break;
    }
    leave(p);
    if (!is_tuple) {
        if (args.n) return args.v[0];
        if (!explicit_parens) fail_at(p, cur(p), "expected an expression");
    }
    jx_node *n = node(p, E_TUPLE, line);
    n->list = nv_done(&args);
    return n;
}

static jx_node *parse_expression(parser *p, bool with_condexpr) {
    return with_condexpr ? parse_condexpr(p) : parse_or(p);
}

static jx_node *parse_subscribed(parser *p) {
    int line = cur(p)->line;
    jx_node *parts[3] = {NULL, NULL, NULL};
    if (cur(p)->type == T_COLON) {
        next(p);
    } else {
        jx_node *e = parse_expression(p, true);
        if (cur(p)->type != T_COLON) return e;
        next(p);
        parts[0] = e;
    }
    if (cur(p)->type != T_COLON && cur(p)->type != T_RBRACKET && cur(p)->type != T_COMMA)
        parts[1] = parse_expression(p, true);
    if (cur(p)->type == T_COLON) {
        next(p);
        if (cur(p)->type != T_RBRACKET && cur(p)->type != T_COMMA) parts[2] = parse_expression(p, true);
    }
    jx_node *n = node(p, E_SLICE, line);
    n->a = parts[0];
    n->b = parts[1];
    n->c = parts[2];
    return n;
}

static jx_node *parse_subscript(parser *p, jx_node *obj) {
    const jx_token *t = next(p);
    if (t->type == T_DOT) {
        const jx_token *a = next(p);
        if (a->type == T_NAME) {
            jx_node *n = node(p, E_GETATTR, t->line);
            n->a = obj;
            n->name = a->p;
            n->name_len = a->n;
            return n;
        }
        if (a->type != T_INT) fail_at(p, a, "expected name or number after '.'");
        jx_node *k = node(p, E_CONST, a->line);
        k->value = a->value;
        jx_node *n = node(p, E_GETITEM, t->line);
        n->a = obj;
        n->b = k;
        return n;
    }
    /* '[' */
    nodevec args = {0};
    while (cur(p)->type != T_RBRACKET) {
        if (args.n) expect(p, T_COMMA, "expected ','");
        nv_push(p, &args, parse_subscribed(p));
    }
    expect(p, T_RBRACKET, "expected ']'");
    if (args.n == 0) jx_fail_syntax(p->st, t->line, "expected a subscript expression");
    jx_node *n = node(p, E_GETITEM, t->line);
    n->a = obj;
    if (args.n == 1) {
        n->b = args.v[0];
    } else {
        jx_node *tup = node(p, E_TUPLE, t->line);
        tup->list = nv_done(&args);
        n->b = tup;
    }
    return n;
}

static void parse_call_args(parser *p, jx_node *call) {
    const jx_token *open = expect(p, T_LPAREN, "expected '('");
    nodevec args = {0}, kwargs = {0};
    bool require_comma = false;
    while (cur(p)->type != T_RPAREN) {
        if (require_comma) {
            expect(p, T_COMMA, "expected ','");
            if (cur(p)->type == T_RPAREN) break;
        }
        if (cur(p)->type == T_MUL) {
            if (call->c || call->d) jx_fail_syntax(p->st, open->line, "invalid syntax for function call expression");
            next(p);
            call->c = parse_expression(p, true);
        } else if (cur(p)->type == T_POW) {
            if (call->d) jx_fail_syntax(p->st, open->line, "invalid syntax for function call expression");
            next(p);
            call->d = parse_expression(p, true);
        } else if (cur(p)->type == T_NAME && look(p)->type == T_ASSIGN) {
            if (call->d) jx_fail_syntax(p->st, open->line, "invalid syntax for function call expression");
            const jx_token *k = next(p);
            next(p);
            jx_node *kw = node(p, E_KWARG, k->line);
            kw->name = k->p;
            kw->name_len = k->n;
            kw->a = parse_expression(p, true);
            nv_push(p, &kwargs, kw);
        } else {
            if (call->c || call->d || kwargs.n)
                jx_fail_syntax(p->st, open->line, "invalid syntax for function call expression");
            nv_push(p, &args, parse_expression(p, true));
        }
        require_comma = true;
    }
    expect(p, T_RPAREN, "expected ')'");
    call->list = nv_done(&args);
    call->kwargs = nv_done(&kwargs);
}

static jx_node *parse_call(parser *p, jx_node *callee) {
    jx_node *n = node(p, E_CALL, cur(p)->line);
    n->a = callee;
    parse_call_args(p, n);
    return n;
}

static jx_node *parse_postfix(parser *p, jx_node *n) {
    for (;;) {
        int t = cur(p)->type;
        if (t == T_DOT || t == T_LBRACKET) n = parse_subscript(p, n);
        else if (t == T_LPAREN) n = parse_call(p, n);
        else return n;
    }
}

static jx_node *parse_filter_expr(parser *p, jx_node *n) {
    for (;;) {
        int t = cur(p)->type;
        if (t == T_PIPE) n = parse_filter(p, n, false);
        else if (is_name(cur(p), "is")) n = parse_test(p, n);
        else if (t == T_LPAREN) n = parse_call(p, n);
        else return n;
    }
}

/* A dotted name as filters and tests allow ("a.b"); returns it in the arena. */
static void parse_dotted(parser *p, const char **name, size_t *len, int *line) {
    const jx_token *t = expect(p, T_NAME, "expected a name");
    *line = t->line;
    if (cur(p)->type != T_DOT) {
        *name = t->p;
        *len = t->n;
        return;
    }
    jx_buf b = {0};
    jx_buf_put(p->st, &b, t->p, t->n);
    while (skip(p, T_DOT)) {
        const jx_token *s = expect(p, T_NAME, "expected a name");
        jx_buf_putc(p->st, &b, '.');
        jx_buf_put(p->st, &b, s->p, s->n);
    }
    *name = b.p;
    *len = b.n;
}

static jx_node *parse_filter(parser *p, jx_node *n, bool start_inline) {
    while (cur(p)->type == T_PIPE || start_inline) {
        if (!start_inline) next(p);
        start_inline = false;
        jx_node *f = node(p, E_FILTER, cur(p)->line);
        parse_dotted(p, &f->name, &f->name_len, &f->line);
        f->filter = jx_find_filter(f->name, f->name_len);
        if (!f->filter) jx_fail_unsupported(p->st, f->line, "unsupported filter '%.*s'", (int)f->name_len, f->name);
        f->a = n;
        if (cur(p)->type == T_LPAREN) parse_call_args(p, f);
        if (f->c || f->d) jx_fail_unsupported(p->st, f->line, "unsupported *args or **kwargs in a filter call");
        n = f;
    }
    return n;
}

static jx_node *parse_test(parser *p, jx_node *n) {
    const jx_token *is = next(p);
    bool negated = skip_name(p, "not");
    jx_node *t = node(p, E_TEST, is->line);
    int line;
    parse_dotted(p, &t->name, &t->name_len, &line);
    t->test = jx_find_test(t->name, t->name_len);
    if (!t->test) jx_fail_unsupported(p->st, line, "unsupported test '%.*s'", (int)t->name_len, t->name);
    t->a = n;
    int ct = cur(p)->type;
    if (ct == T_LPAREN) {
        parse_call_args(p, t);
        if (t->c || t->d) jx_fail_unsupported(p->st, line, "unsupported *args or **kwargs in a test");
    } else if ((ct == T_NAME || ct == T_STRING || ct == T_INT || ct == T_FLOAT || ct == T_LBRACKET || ct == T_LBRACE) &&
               !is_name(cur(p), "else") && !is_name(cur(p), "or") && !is_name(cur(p), "and")) {
        if (is_name(cur(p), "is")) jx_fail_syntax(p->st, cur(p)->line, "you cannot chain multiple tests with is");
        jx_node *arg = parse_postfix(p, parse_primary(p));
        jx_node **v = jx_alloc(p->st, sizeof *v);
        v[0] = arg;
        t->list = (jx_nodes){v, 1};
    }
    if (!negated) return t;
    jx_node *nn = node(p, E_NOT, is->line);
    nn->a = t;
    return nn;
}

/* ------------------------------------------------------------------ statements */

static bool can_assign(const jx_node *n) {
    if (n->type == E_NAME) return true;
    if (n->type != E_TUPLE) return false;
    for (int i = 0; i < n->list.n; i++)
        if (!can_assign(n->list.v[i])) return false;
    return true;
}

static jx_node *parse_assign_target(parser *p, bool with_namespace, const char *extra_end) {
    if (with_namespace && cur(p)->type == T_NAME && look(p)->type == T_DOT) {
        const jx_token *ns = next(p);
        next(p);
        const jx_token *attr = expect(p, T_NAME, "expected an attribute name");
        jx_node *n = node(p, E_NSREF, ns->line);
        n->name = ns->p;
        n->name_len = ns->n;
        n->attr = attr->p;
        n->attr_len = attr->n;
        return n;
    }
    int line = cur(p)->line;
    jx_node *t = parse_tuple(p, true, true, extra_end, false);
    if (!can_assign(t)) jx_fail_syntax(p->st, line, "can't assign to this target");
    return t;
}

/* Parses the statements of a block body up to one of end_tokens (left as the current token). */
static jx_nodes parse_statements(parser *p, const char *const *end_tokens, bool drop_needle) {
    skip(p, T_COLON);
    expect(p, T_BLOCK_END, "expected end of statement block");
    jx_nodes body = subparse(p, end_tokens);
    if (cur(p)->type == T_EOF) {
        char want[128] = "";
        for (int i = 0; end_tokens[i]; i++) {
            if (i) strncat(want, " or ", sizeof want - strlen(want) - 1);
            strncat(want, end_tokens[i], sizeof want - strlen(want) - 1);
        }
        jx_fail_syntax(p->st, cur(p)->line, "unexpected end of template, expected '%s'", want);
    }
    if (drop_needle) next(p);
    return body;
}

static void parse_signature(parser *p, jx_node *n) {
    expect(p, T_LPAREN, "expected '('");
    nodevec params = {0};
    bool defaults = false;
    while (cur(p)->type != T_RPAREN) {
        if (params.n) expect(p, T_COMMA, "expected ','");
        const jx_token *t = expect(p, T_NAME, "expected a parameter name");
        jx_node *prm = node(p, E_NAME, t->line);
        prm->name = t->p;
        prm->name_len = t->n;
        if (skip(p, T_ASSIGN)) {
            prm->a = parse_expression(p, true);
            defaults = true;
        } else if (defaults) {
            jx_fail_syntax(p->st, t->line, "non-default argument follows default argument");
        }
        nv_push(p, &params, prm);
    }
    expect(p, T_RPAREN, "expected ')'");
    n->list = nv_done(&params);
}

/* Which of caller/varargs/kwargs a macro body refers to. */
static int special_names(const jx_node *n) {
    if (!n) return 0;
    int f = 0;
    if (n->type == E_NAME) {
        if (n->name_len == 6 && memcmp(n->name, "caller", 6) == 0) f |= MACRO_CALLER;
        if (n->name_len == 7 && memcmp(n->name, "varargs", 7) == 0) f |= MACRO_VARARGS;
        if (n->name_len == 6 && memcmp(n->name, "kwargs", 6) == 0) f |= MACRO_KWARGS;
    }
    f |= special_names(n->a) | special_names(n->b) | special_names(n->c) | special_names(n->d);
    const jx_nodes *lists[] = {&n->list, &n->kwargs, &n->body, &n->orelse};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < lists[k]->n; i++) f |= special_names(lists[k]->v[i]);
    return f;
}

static const char *const END_FOR[] = {"endfor", "else", NULL};
static const char *const END_FOR_ONLY[] = {"endfor", NULL};
static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_IF_ONLY[] = {"endif", NULL};
static const char *const END_SET[] = {"endset", NULL};
static const char *const END_MACRO[] = {"endmacro", NULL};
static const char *const END_CALL[] = {"endcall", NULL};
static const char *const END_FILTER[] = {"endfilter", NULL};
static const char *const END_WITH[] = {"endwith", NULL};
static const char *const END_GENERATION[] = {"endgeneration", NULL};

static jx_node *parse_for(parser *p) {
    int line = next(p)->line;
    jx_node *n = node(p, S_FOR, line);
    n->a = parse_assign_target(p, false, "in");
    if (!skip_name(p, "in")) fail_at(p, cur(p), "expected 'in'");
    n->b = parse_tuple(p, false, false, "recursive", false);
    if (skip_name(p, "if")) n->c = parse_expression(p, true);
    if (is_name(cur(p), "recursive")) jx_fail_unsupported(p->st, line, "unsupported recursive for loop");
    p->loop_depth++;
    n->body = parse_statements(p, END_FOR, false);
    p->loop_depth--;
    if (is_name(next(p), "else")) n->orelse = parse_statements(p, END_FOR_ONLY, true);
    return n;
}

static jx_node *parse_if(parser *p) {
    int line = next(p)->line;
    jx_node *root = node(p, S_IF, line), *n = root;
    for (;;) {
        n->a = parse_tuple(p, false, false, NULL, false);
        n->body = parse_statements(p, END_IF, false);
        const jx_token *t = next(p);
        if (is_name(t, "elif")) {
            jx_node *e = node(p, S_IF, t->line);
            jx_node **v = jx_alloc(p->st, sizeof *v);
            v[0] = e;
            n->orelse = (jx_nodes){v, 1};
            n = e;
            continue;
        }
        if (is_name(t, "else")) n->orelse = parse_statements(p, END_IF_ONLY, true);
        return root;
    }
}

static jx_node *parse_set(parser *p) {
    int line = next(p)->line;
    jx_node *target = parse_assign_target(p, true, NULL);
    if (skip(p, T_ASSIGN)) {
        jx_node *n = node(p, S_SET, line);
        n->a = target;
        n->b = parse_tuple(p, false, true, NULL, false);
        return n;
    }
    jx_node *n = node(p, S_SETBLOCK, line);
    n->a = target;
    n->b = parse_filter(p, NULL, false);
    n->body = parse_statements(p, END_SET, true);
    return n;
}

static jx_node *parse_macro(parser *p) {
    int line = next(p)->line;
    const jx_token *name = expect(p, T_NAME, "expected a macro name");
    jx_node *n = node(p, S_MACRO, line);
    n->name = name->p;
    n->name_len = name->n;
    parse_signature(p, n);
    int saved = p->loop_depth;
    p->loop_depth = 0;
    n->body = parse_statements(p, END_MACRO, true);
    p->loop_depth = saved;
    for (int i = 0; i < n->body.n; i++) n->op |= (uint8_t)special_names(n->body.v[i]);
    return n;
}

static jx_node *parse_call_block(parser *p) {
    int line = next(p)->line;
    jx_node *n = node(p, S_CALLBLOCK, line);
    if (cur(p)->type == T_LPAREN) parse_signature(p, n);
    n->a = parse_expression(p, true);
    if (n->a->type != E_CALL) jx_fail_syntax(p->st, line, "expected a call after 'call'");
    n->name = "caller";
    n->name_len = 6;
    int saved = p->loop_depth;
    p->loop_depth = 0;
    n->body = parse_statements(p, END_CALL, true);
    p->loop_depth = saved;
    for (int i = 0; i < n->body.n; i++) n->op |= (uint8_t)special_names(n->body.v[i]);
    return n;
}

static jx_node *parse_filter_block(parser *p) {
    int line = next(p)->line;
    jx_node *n = node(p, S_FILTERBLOCK, line);
    n->b = parse_filter(p, NULL, true);
    n->body = parse_statements(p, END_FILTER, true);
    return n;
}

static jx_node *parse_with(parser *p) {
    int line = next(p)->line;
    jx_node *n = node(p, S_WITH, line);
    nodevec sets = {0};
    while (cur(p)->type != T_BLOCK_END) {
        if (sets.n) expect(p, T_COMMA, "expected ','");
        jx_node *s = node(p, S_SET, cur(p)->line);
        s->a = parse_assign_target(p, false, NULL);
        expect(p, T_ASSIGN, "expected '='");
        s->b = parse_expression(p, true);
        nv_push(p, &sets, s);
    }
    n->list = nv_done(&sets);
    n->body = parse_statements(p, END_WITH, true);
    return n;
}

static void parse_statement(parser *p, nodevec *out) {
    const jx_token *t = cur(p);
    if (t->type != T_NAME) fail_at(p, t, "expected a tag name");
    enter(p);
    if (is_name(t, "for")) nv_push(p, out, parse_for(p));
    else if (is_name(t, "if")) nv_push(p, out, parse_if(p));
    else if (is_name(t, "set")) nv_push(p, out, parse_set(p));
    else if (is_name(t, "macro")) nv_push(p, out, parse_macro(p));
    else if (is_name(t, "call")) nv_push(p, out, parse_call_block(p));
    else if (is_name(t, "filter")) nv_push(p, out, parse_filter_block(p));
    else if (is_name(t, "with")) nv_push(p, out, parse_with(p));
    else if (is_name(t, "print")) {
        next(p);
        for (int k = 0; cur(p)->type != T_BLOCK_END; k++) {
            if (k) expect(p, T_COMMA, "expected ','");
            jx_node *o = node(p, S_OUTPUT, cur(p)->line);
            o->a = parse_expression(p, true);
            nv_push(p, out, o);
        }
    } else if (is_name(t, "break") || is_name(t, "continue")) {
        next(p);
        if (p->loop_depth == 0)
            jx_fail_syntax(p->st, t->line, "'%.*s' outside of a loop", (int)t->n, t->p);
        nv_push(p, out, node(p, is_name(t, "break") ? S_BREAK : S_CONTINUE, t->line));
    } else if (is_name(t, "generation")) {
        /* transformers' AssistantTracker tag: renders its body */
        next(p);
        jx_node *n = node(p, S_SCOPE, t->line);
        n->body = parse_statements(p, END_GENERATION, true);
        nv_push(p, out, n);
    } else if (is_name(t, "block") || is_name(t, "extends") || is_name(t, "include") || is_name(t, "import") ||
               is_name(t, "from") || is_name(t, "autoescape")) {
        jx_fail_unsupported(p->st, t->line, "unsupported tag '%.*s'", (int)t->n, t->p);
    } else {
        jx_fail_syntax(p->st, t->line, "encountered unknown tag '%.*s'", (int)t->n, t->p);
    }
    leave(p);
}

static bool is_end_token(const jx_token *t, const char *const *end_tokens) {
    if (!end_tokens) return false;
    for (int i = 0; end_tokens[i]; i++)
        if (is_name(t, end_tokens[i])) return true;
    return false;
}

static jx_nodes subparse(parser *p, const char *const *end_tokens) {
    nodevec body = {0};
    for (;;) {
        const jx_token *t = cur(p);
        if (t->type == T_EOF) break;
        if (t->type == T_DATA) {
            jx_node *n = node(p, S_TEXT, t->line);
            n->value = jv_str(t->p, t->n);
            nv_push(p, &body, n);
            next(p);
        } else if (t->type == T_VAR_BEGIN) {
            next(p);
            jx_node *n = node(p, S_OUTPUT, t->line);
            n->a = parse_tuple(p, false, true, NULL, false);
            nv_push(p, &body, n);
            expect(p, T_VAR_END, "expected end of print statement");
        } else if (t->type == T_BLOCK_BEGIN) {
            next(p);
            if (is_end_token(cur(p), end_tokens)) return nv_done(&body);
            parse_statement(p, &body);
            expect(p, T_BLOCK_END, "expected end of statement block");
        } else {
            fail_at(p, t, "unexpected token");
        }
    }
    return nv_done(&body);
}

jx_nodes jx_parse(jx_state *st, const jx_token *toks, size_t ntok) {
    parser p = {.st = st, .t = toks, .n = ntok};
    jx_nodes body = subparse(&p, NULL);
    if (cur(&p)->type != T_EOF) fail_at(&p, cur(&p), "unexpected token");
    return body;
}
