/*
 * json_constraint.c - the JSON schema subset compiled into nodes, and the byte-level pushdown
 * automaton of json_constraint.h.
 *
 * Frames: VALUE (whitespace, then the first byte picks the kind, in place), OBJECT, ARRAY,
 * STRING (escapes, \uXXXX, UTF-8 checked; a key string matches the schema's unseen property
 * names), NUMBER (JSON's grammar; integer: no fraction or exponent), LITERAL (true/false/null),
 * ENUM (the value's bytes match one of the enum's serialized values). A number or an enum value
 * has no closing byte: when a byte cannot extend it and it is complete, it ends and the byte goes
 * to the frame below. With a schema, objects take only their listed properties (each once) and
 * close only when the required ones are present.
 */
#include "sample/json_constraint.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_OBJECT = 1, T_ARRAY = 2, T_STRING = 4, T_NUMBER = 8, T_INTEGER = 16, T_BOOL = 32, T_NULL = 64, T_ANY = 127 };

struct jc_node {
    int types;                  /* T_* bits */
    int n_props;                /* properties: the object takes only these (when > 0) */
    char *prop_name[JC_MAX_PROPS];
    jc_node *prop[JC_MAX_PROPS];
    uint32_t required;          /* bits over prop */
    bool closed;                /* properties given: no other keys */
    jc_node *items;             /* array items (NULL: any) */
    int min_items, max_items;   /* max -1: no limit */
    int min_len, max_len;       /* string characters */
    int n_enum;
    char *enum_text[JC_MAX_PROPS]; /* serialized values (cJSON unformatted) */
    jc_node *next;              /* all nodes of a schema, for freeing */
};

struct jc_schema {
    jc_node *root, *all;
};

/* ---------------------------------------------------------------- schema */

static jc_node *new_node(jc_schema *s) {
    jc_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->types = T_ANY;
    n->max_items = n->max_len = -1;
    n->next = s->all;
    s->all = n;
    return n;
}

static int type_bit(const char *t) {
    static const char *names[] = {"object", "array", "string", "number", "integer", "boolean", "null"};
    for (int i = 0; i < 7; i++)
        if (strcmp(t, names[i]) == 0) return 1 << i;
    return 0;
}

static bool get_count(const cJSON *o, const char *key, int *out, char *err, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9) {
        snprintf(err, cap, "schema: \"%s\" must be a non-negative integer", key);
        return false;
    }
    *out = (int)v->valuedouble;
    return true;
}

static jc_node *compile(jc_schema *s, const cJSON *o, int depth, char *err, size_t cap) {
    if (depth > JC_MAX_DEPTH) {
        snprintf(err, cap, "schema: nested deeper than %d", JC_MAX_DEPTH);
        return NULL;
    }
    if (cJSON_IsTrue(o) || (cJSON_IsObject(o) && !o->child)) return NULL; /* any value: a NULL node */
    if (!cJSON_IsObject(o)) {
        snprintf(err, cap, "schema: a schema must be an object");
        return NULL;
    }
    static const char *unsupported[] = {"anyOf", "oneOf", "allOf", "not", "$ref", "if", "pattern", "patternProperties",
                                        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                                        "prefixItems", "uniqueItems", "dependentRequired", "minProperties", "maxProperties"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        if (cJSON_GetObjectItemCaseSensitive(o, unsupported[i])) {
            snprintf(err, cap, "schema keyword \"%s\" is not supported (supported: type, properties, required, "
                               "additionalProperties, items, minItems, maxItems, minLength, maxLength, enum, const)",
                     unsupported[i]);
            return NULL;
        }
    jc_node *n = new_node(s);
    if (!n) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type"), *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(o, "items"), *en = cJSON_GetObjectItemCaseSensitive(o, "enum");
    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(o, "const");
    if (cJSON_IsString(type)) {
        if (!(n->types = type_bit(type->valuestring))) goto bad_type;
    } else if (cJSON_IsArray(type)) {
        n->types = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, type) {
            int b = cJSON_IsString(t) ? type_bit(t->valuestring) : 0;
            if (!b) goto bad_type;
            n->types |= b;
        }
    } else if (type) {
        goto bad_type;
    } else if (props) {
        n->types = T_OBJECT;
    } else if (items) {
        n->types = T_ARRAY;
    }
    if (n->types & T_NUMBER) n->types |= T_INTEGER;
    if (props) {
        if (!cJSON_IsObject(props)) {
            snprintf(err, cap, "schema: \"properties\" must be an object");
            return NULL;
        }
        const cJSON *p;
        cJSON_ArrayForEach(p, props) {
            if (n->n_props == JC_MAX_PROPS) {
                snprintf(err, cap, "schema: more than %d properties in one object", JC_MAX_PROPS);
                return NULL;
            }
            if (!*p->string || strpbrk(p->string, "\"\\") || strlen(p->string) > 256) {
                snprintf(err, cap, "schema: property name \"%s\" is not supported (empty, quotes or backslashes)", p->string);
                return NULL;
            }
            err[0] = '\0';
            jc_node *c = compile(s, p, depth + 1, err, cap);
            if (!c && err[0]) return NULL;
            n->prop[n->n_props] = c;
            if (!(n->prop_name[n->n_props++] = strdup(p->string))) {
                snprintf(err, cap, "out of memory");
                return NULL;
            }
        }
        n->closed = n->n_props > 0;
    }
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(o, "required");
    if (req) {
        const cJSON *r;
        if (!cJSON_IsArray(req)) goto bad_required;
        cJSON_ArrayForEach(r, req) {
            int k = 0;
            while (cJSON_IsString(r) && k < n->n_props && strcmp(n->prop_name[k], r->valuestring) != 0) k++;
            if (!cJSON_IsString(r) || k == n->n_props) goto bad_required;
            n->required |= 1u << k;
        }
    }
    if (items) {
        err[0] = '\0';
        n->items = compile(s, items, depth + 1, err, cap);
        if (!n->items && err[0]) return NULL;
    }
    if (!get_count(o, "minItems", &n->min_items, err, cap) || !get_count(o, "maxItems", &n->max_items, err, cap) ||
        !get_count(o, "minLength", &n->min_len, err, cap) || !get_count(o, "maxLength", &n->max_len, err, cap))
        return NULL;
    if ((n->max_items >= 0 && n->max_items < n->min_items) || (n->max_len >= 0 && n->max_len < n->min_len)) {
        snprintf(err, cap, "schema: a maximum below its minimum");
        return NULL;
    }
    if (cst || en) {
        if (en && (!cJSON_IsArray(en) || !cJSON_GetArraySize(en) || cJSON_GetArraySize(en) > JC_MAX_PROPS)) {
            snprintf(err, cap, "schema: \"enum\" must be an array of 1 to %d values", JC_MAX_PROPS);
            return NULL;
        }
        const cJSON *v = cst ? cst : en->child;
        for (; v; v = cst ? NULL : v->next) {
            if (!(n->enum_text[n->n_enum++] = cJSON_PrintUnformatted(v))) {
                snprintf(err, cap, "out of memory");
                return NULL;
            }
        }
    }
    return n;
bad_type:
    snprintf(err, cap, "schema: \"type\" must be one of object, array, string, number, integer, boolean, null");
    return NULL;
bad_required:
    snprintf(err, cap, "schema: \"required\" must list names of \"properties\"");
    return NULL;
}

void jc_schema_free(jc_schema *s) {
    if (!s) return;
    for (jc_node *n = s->all, *next; n; n = next) {
        next = n->next;
        for (int i = 0; i < n->n_props; i++) free(n->prop_name[i]);
        for (int i = 0; i < n->n_enum; i++) cJSON_free(n->enum_text[i]);
        free(n);
    }
    free(s);
}

jc_schema *jc_schema_compile(const char *json, size_t len, char *err, size_t cap) {
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (!o) {
        snprintf(err, cap, "the schema is not valid JSON");
        return NULL;
    }
    jc_schema *s = calloc(1, sizeof *s);
    err[0] = '\0';
    if (s) s->root = compile(s, o, 0, err, cap);
    cJSON_Delete(o);
    if (!s || err[0]) {
        if (!s) snprintf(err, cap, "out of memory");
        jc_schema_free(s);
        return NULL;
    }
    return s;
}

const jc_node *jc_schema_root(const jc_schema *s) { return s->root; }

/* ---------------------------------------------------------------- the automaton */

enum { FR_VALUE, FR_OBJECT, FR_ARRAY, FR_STRING, FR_NUMBER, FR_LITERAL, FR_ENUM };
enum { O_START, O_KEY, O_COLON, O_AFTER_VALUE };         /* object: '{' seen; after ','; before ':'; after a value */
enum { A_START, A_AFTER };                               /* array: '[' seen; after a value */
enum { S_CHAR, S_ESC, S_U1, S_U2, S_U3, S_U4 };          /* string */
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP }; /* number */
enum { L_TRUE, L_FALSE, L_NULL };

static const char *const LITERALS[] = {"true", "false", "null"};

static bool is_ws(unsigned char b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
static bool is_digit(unsigned char b) { return b >= '0' && b <= '9'; }
static bool is_hex(unsigned char b) { return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'); }

void jc_init(jc_state *s, const jc_node *root) {
    s->depth = 1;
    s->ws = 0;
    s->started = false;
    memset(&s->fr[0], 0, sizeof s->fr[0]);
    s->fr[0].kind = FR_VALUE;
    s->fr[0].sc = root;
    s->fr[0].prop = -1;
}

void jc_copy(jc_state *dst, const jc_state *src) {
    dst->depth = src->depth;
    dst->ws = src->ws;
    dst->started = src->started;
    memcpy(dst->fr, src->fr, (size_t)src->depth * sizeof src->fr[0]);
}

static bool push_value(jc_state *s, const jc_node *sc) {
    if (s->depth == JC_MAX_DEPTH) return false;
    jc_frame *f = &s->fr[s->depth++];
    memset(f, 0, sizeof *f);
    f->kind = FR_VALUE;
    f->sc = sc;
    f->prop = -1;
    return true;
}

static uint32_t all_props(const jc_node *sc) { return sc->n_props >= 32 ? 0xffffffffu : (1u << sc->n_props) - 1; }

/* Can the object close? (required properties present) Can it take another key? */
static bool obj_can_close(const jc_frame *f) { return !f->sc || (f->mask & f->sc->required) == f->sc->required; }
static bool obj_can_continue(const jc_frame *f) {
    return !f->sc || !f->sc->closed || (f->mask & all_props(f->sc)) != all_props(f->sc);
}

static bool number_complete(const jc_frame *f) {
    return f->st == N_ZERO || f->st == N_INT || f->st == N_FRAC || f->st == N_EXP;
}

static bool enum_complete(const jc_frame *f) {
    for (int i = 0; i < f->sc->n_enum; i++)
        if (f->mask >> i & 1 && (int)strlen(f->sc->enum_text[i]) == f->count) return true;
    return false;
}

/* Starts a value of frame f (kind VALUE) with its first byte b. */
static bool start_value(jc_state *s, jc_frame *f, unsigned char b) {
    const jc_node *sc = f->sc;
    const int types = sc ? sc->types : T_ANY;
    (void)s;
    if (sc && sc->n_enum) { /* the value's bytes follow one of the serialized values */
        uint32_t m = 0;
        for (int i = 0; i < sc->n_enum; i++)
            if ((unsigned char)sc->enum_text[i][0] == b) m |= 1u << i;
        f->kind = FR_ENUM;
        f->mask = m;
        f->count = 1;
        return m != 0;
    }
    if (b == '{' && types & T_OBJECT) {
        f->kind = FR_OBJECT;
        f->st = O_START;
        f->mask = 0;
        return true;
    }
    if (b == '[' && types & T_ARRAY) {
        f->kind = FR_ARRAY;
        f->st = A_START;
        f->count = 0;
        return true;
    }
    if (b == '"' && types & T_STRING) {
        f->kind = FR_STRING;
        f->st = S_CHAR;
        f->count = 0;
        return true;
    }
    if ((b == '-' || is_digit(b)) && types & (T_NUMBER | T_INTEGER)) {
        f->kind = FR_NUMBER;
        f->st = b == '-' ? N_MINUS : b == '0' ? N_ZERO : N_INT;
        f->count = b == '-' ? 0 : 1;
        return true;
    }
    int lit = b == 't' ? L_TRUE : b == 'f' ? L_FALSE : b == 'n' ? L_NULL : -1;
    if (lit >= 0 && types & (lit == L_NULL ? T_NULL : T_BOOL)) {
        f->kind = FR_LITERAL;
        f->st = (uint8_t)lit;
        f->count = 1;
        return true;
    }
    return false;
}

/* The top frame's value is complete: pop it and tell the frame below. */
static void pop_value(jc_state *s) {
    s->depth--;
    if (s->depth == 0) return;
    jc_frame *p = &s->fr[s->depth - 1];
    if (p->kind == FR_OBJECT) p->st = O_AFTER_VALUE;
    else if (p->kind == FR_ARRAY) p->st = A_AFTER;
}

static bool within_max(const jc_frame *f) { return f->key || !f->sc || f->sc->max_len < 0 || f->count <= f->sc->max_len; }

static bool within_max_next(const jc_frame *f) {
    return f->key || !f->sc || f->sc->max_len < 0 || f->count < f->sc->max_len;
}

static bool feed_string(jc_state *s, jc_frame *f, unsigned char b) {
    switch (f->st) {
    case S_ESC:
        if (b == 'u') f->st = S_U1;
        else if (strchr("\"\\/bfnrt", b) && b) f->st = S_CHAR;
        else return false;
        if (f->st == S_CHAR) f->count++;
        return within_max(f);
    case S_U1:
    case S_U2:
    case S_U3:
    case S_U4:
        if (!is_hex(b)) return false;
        if (f->st == S_U4) {
            f->st = S_CHAR;
            f->count++;
            return within_max(f);
        } else {
            f->st++;
        }
        return true;
    default:
        break;
    }
    if (f->utf8) { /* a continuation byte of a multi-byte character */
        if ((b & 0xC0) != 0x80) return false;
        if (--f->utf8 == 0) f->count++;
    } else if (b == '"') {
        const jc_node *len_sc = f->key ? NULL : f->sc;
        if (len_sc && f->count < len_sc->min_len) return false;
        if (f->key) { /* the key names a property: which one */
            jc_frame *obj = &s->fr[s->depth - 2];
            obj->prop = -1;
            if (obj->sc && obj->sc->closed) {
                for (int i = 0; i < obj->sc->n_props; i++)
                    if (f->mask >> i & 1 && (int)strlen(obj->sc->prop_name[i]) == f->count) obj->prop = (int16_t)i;
                if (obj->prop < 0) return false;
                obj->mask |= 1u << obj->prop;
            }
            s->depth--;
            obj->st = O_COLON;
            return true;
        }
        pop_value(s);
        return true;
    } else if (b == '\\') {
        if (!within_max_next(f)) return false; /* an escape is one more character */
        f->st = S_ESC;
    } else if (b < 0x20) {
        return false;
    } else if (b < 0x80) {
        f->count++;
    } else if (!within_max_next(f)) {
        return false; /* no room for another character */
    } else if ((b & 0xE0) == 0xC0 && b >= 0xC2) {
        f->utf8 = 1;
    } else if ((b & 0xF0) == 0xE0) {
        f->utf8 = 2;
    } else if ((b & 0xF8) == 0xF0 && b <= 0xF4) {
        f->utf8 = 3;
    } else {
        return false;
    }
    if (f->key && b != '"') { /* a schema key: still a prefix of an unseen property name */
        const jc_frame *obj = &s->fr[s->depth - 2];
        if (obj->sc && obj->sc->closed) {
            if (b == '\\' || b >= 0x80) return false;
            uint32_t m = 0;
            for (int i = 0; i < obj->sc->n_props; i++)
                if (f->mask >> i & 1 && (int)strlen(obj->sc->prop_name[i]) >= f->count &&
                    (unsigned char)obj->sc->prop_name[i][f->count - 1] == b)
                    m |= 1u << i;
            f->mask = m;
            return m != 0;
        }
    }
    return within_max(f);
}

/* Feeds one byte to the number on top; *ended: it cannot take b and ended (b goes below). */
static bool feed_number(jc_frame *f, unsigned char b, bool *ended) {
    const bool integer = f->sc && !(f->sc->types & T_NUMBER);
    *ended = false;
    if (is_digit(b)) { /* past the cap, digits only where one is needed (so the number can still end) */
        if (f->count >= JC_MAX_DIGITS && (f->st == N_INT || f->st == N_FRAC || f->st == N_EXP)) return false;
        switch (f->st) {
        case N_MINUS: f->st = b == '0' ? N_ZERO : N_INT; break;
        case N_ZERO: return false; /* no leading zeros */
        case N_DOT: f->st = N_FRAC; break;
        case N_E: case N_ESIGN: f->st = N_EXP; break;
        default: break; /* N_INT, N_FRAC, N_EXP take digits */
        }
        f->count++;
        return true;
    }
    if (b == '.' && !integer && (f->st == N_ZERO || f->st == N_INT) && f->count < JC_MAX_DIGITS) {
        f->st = N_DOT;
        return true;
    }
    if ((b == 'e' || b == 'E') && !integer && (f->st == N_ZERO || f->st == N_INT || f->st == N_FRAC) &&
        f->count < JC_MAX_DIGITS) {
        f->st = N_E;
        return true;
    }
    if ((b == '+' || b == '-') && f->st == N_E) {
        f->st = N_ESIGN;
        return true;
    }
    if (!number_complete(f)) return false;
    *ended = true;
    return true;
}

static bool feed_byte(jc_state *s, unsigned char b) {
    for (;;) { /* loops only when a number or enum value ends and b goes to the frame below */
        if (s->depth == 0) return false; /* the document is complete: nothing more */
        jc_frame *f = &s->fr[s->depth - 1];
        const bool between = f->kind == FR_VALUE || f->kind == FR_OBJECT || f->kind == FR_ARRAY;
        if (between && is_ws(b)) return ++s->ws <= JC_MAX_WS;
        if (between) s->ws = 0;
        s->started = true;
        switch (f->kind) {
        case FR_VALUE: return start_value(s, f, b);
        case FR_OBJECT:
            if ((f->st == O_START || f->st == O_KEY) && b == '"') {
                if (f->st == O_KEY || obj_can_continue(f)) {
                    jc_frame *k = &s->fr[s->depth];
                    if (s->depth == JC_MAX_DEPTH) return false;
                    s->depth++;
                    memset(k, 0, sizeof *k);
                    k->kind = FR_STRING;
                    k->key = 1;
                    k->st = S_CHAR;
                    k->mask = f->sc && f->sc->closed ? all_props(f->sc) & ~f->mask : 0;
                    return !(f->sc && f->sc->closed) || k->mask != 0;
                }
                return false;
            }
            if (b == '}' && (f->st == O_START || f->st == O_AFTER_VALUE) && obj_can_close(f)) {
                pop_value(s);
                return true;
            }
            if (b == ':' && f->st == O_COLON) {
                const jc_node *vs = f->sc && f->prop >= 0 ? f->sc->prop[f->prop] : NULL;
                return push_value(s, vs);
            }
            if (b == ',' && f->st == O_AFTER_VALUE && obj_can_continue(f)) {
                f->st = O_KEY;
                return true;
            }
            return false;
        case FR_ARRAY: {
            const int max = f->sc ? f->sc->max_items : -1, min = f->sc ? f->sc->min_items : 0;
            if (b == ']' && f->count >= min) {
                pop_value(s);
                return true;
            }
            if (f->st == A_AFTER) {
                if (b != ',' || (max >= 0 && f->count >= max)) return false;
                f->count++; /* the next value must come: push it now (whitespace goes to it) */
                return push_value(s, f->sc ? f->sc->items : NULL);
            }
            /* A_START: the first item begins with b */
            if (max == 0) return false;
            f->count++;
            f->st = A_AFTER;
            if (!push_value(s, f->sc ? f->sc->items : NULL)) return false;
            continue;
        }
        case FR_STRING: return feed_string(s, f, b);
        case FR_NUMBER: {
            bool ended;
            if (!feed_number(f, b, &ended)) return false;
            if (!ended) return true;
            pop_value(s);
            continue;
        }
        case FR_LITERAL: {
            const char *lit = LITERALS[f->st];
            if ((unsigned char)lit[f->count] != b) return false;
            if (lit[++f->count] == '\0') pop_value(s);
            return true;
        }
        case FR_ENUM: {
            uint32_t m = 0;
            for (int i = 0; i < f->sc->n_enum; i++)
                if (f->mask >> i & 1 && (int)strlen(f->sc->enum_text[i]) > f->count &&
                    (unsigned char)f->sc->enum_text[i][f->count] == b)
                    m |= 1u << i;
            if (m) {
                f->mask = m;
                f->count++;
                return true;
            }
            if (!enum_complete(f)) return false;
            pop_value(s);
            continue;
        }
        default: return false;
        }
    }
}

bool jc_feed(jc_state *s, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!feed_byte(s, (unsigned char)bytes[i])) return false;
    return true;
}

bool jc_complete(const jc_state *s) {
    if (s->depth == 0) return true;
    if (s->depth != 1) return false;
    const jc_frame *f = &s->fr[0];
    if (f->kind == FR_NUMBER) return number_complete(f);
    if (f->kind == FR_ENUM) return enum_complete(f);
    return false;
}
