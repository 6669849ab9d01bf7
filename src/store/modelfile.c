/*
 * modelfile.c - the Modelfile of `autoglm create`: FROM, PARAMETER, SYSTEM, TEMPLATE lines, and
 * the typed parameter values the store and the API share (num_ctx ... stop).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store.h"

typedef enum { P_INT, P_FLOAT, P_STRINGS, P_BOOL, P_STRING } param_type;

static const struct {
    const char *key;
    param_type type;
} PARAMS[] = {
    {"num_ctx", P_INT},          {"num_predict", P_INT},       {"top_k", P_INT},
    {"repeat_last_n", P_INT},    {"seed", P_INT},              {"num_keep", P_INT},
    {"num_batch", P_INT},        {"num_thread", P_INT},        {"num_gpu", P_INT},
    {"mirostat", P_INT},         {"temperature", P_FLOAT},     {"top_p", P_FLOAT},
    {"min_p", P_FLOAT},          {"repeat_penalty", P_FLOAT},  {"presence_penalty", P_FLOAT},
    {"frequency_penalty", P_FLOAT}, {"typical_p", P_FLOAT},    {"mirostat_tau", P_FLOAT},
    {"mirostat_eta", P_FLOAT},   {"tfs_z", P_FLOAT},           {"stop", P_STRINGS},
    {"penalize_newline", P_BOOL}, {"use_mmap", P_BOOL},
    {"kv_type", P_STRING}, /* ours: the model's KV cache type (f16, f32, q8_0, q4_0), over the server's */
};

st_status store_param_value(const char *key, const char *value, cJSON **out, st_error *err) {
    for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++) {
        if (strcmp(PARAMS[i].key, key) != 0) continue;
        char *end = NULL;
        errno = 0;
        switch (PARAMS[i].type) {
        case P_INT: {
            long long v = strtoll(value, &end, 10);
            if (!*value || *end || errno || llabs(v) > (1LL << 53))
                return st_fail(err, ST_INVALID, "parameter %s: '%s' is not an integer", key, value);
            *out = cJSON_CreateNumber((double)v);
            break;
        }
        case P_FLOAT: {
            double v = strtod(value, &end);
            if (!*value || *end || errno || !isfinite(v))
                return st_fail(err, ST_INVALID, "parameter %s: '%s' is not a number", key, value);
            *out = cJSON_CreateNumber(v);
            break;
        }
        case P_BOOL:
            if (strcmp(value, "true") && strcmp(value, "false"))
                return st_fail(err, ST_INVALID, "parameter %s: '%s' is not true or false", key, value);
            *out = cJSON_CreateBool(strcmp(value, "true") == 0);
            break;
        case P_STRINGS:
        case P_STRING:
            *out = cJSON_CreateString(value);
            break;
        }
        return *out ? ST_OK : st_fail(err, ST_NOMEM, "out of memory");
    }
    return st_fail(err, ST_INVALID, "unknown parameter '%s'", key);
}

char *store_params_text(const cJSON *params) {
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[0] = '\0';
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        const cJSON *items = cJSON_IsArray(p) ? p->child : p;
        for (const cJSON *v = items; v; v = cJSON_IsArray(p) ? v->next : NULL) {
            char val[64];
            char *txt = NULL;
            if (cJSON_IsString(v)) txt = cJSON_PrintUnformatted(v); /* quoted and escaped */
            else if (cJSON_IsBool(v)) snprintf(val, sizeof val, "%s", cJSON_IsTrue(v) ? "true" : "false");
            else if (cJSON_IsNumber(v)) snprintf(val, sizeof val, "%.9g", v->valuedouble);
            else continue;
            const char *t = txt ? txt : val;
            size_t need = len + strlen(p->string) + strlen(t) + 3;
            if (need > cap) {
                while (need > cap) cap *= 2;
                char *q = realloc(out, cap);
                if (!q) {
                    free(txt);
                    free(out);
                    return NULL;
                }
                out = q;
            }
            len += (size_t)sprintf(out + len, "%s %s\n", p->string, t);
            free(txt);
        }
    }
    return out;
}

/* ---------------------------------------------------------------- parsing */

typedef struct {
    const char *p, *end;
    int line;
} cursor;

static void skip_blank(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

/* The value after an instruction: """multi-line""", "quoted" (with \" and \\), or the rest of
 * the line trimmed. Leaves the cursor after the value's line. */
static char *read_value(cursor *c, st_error *err) {
    skip_blank(c);
    char *out = NULL;
    if (c->end - c->p >= 3 && memcmp(c->p, "\"\"\"", 3) == 0) {
        const char *s = c->p + 3, *q = s;
        while (q + 3 <= c->end && memcmp(q, "\"\"\"", 3) != 0) q++;
        if (q + 3 > c->end) {
            st_fail(err, ST_INVALID, "line %d: unterminated \"\"\"", c->line);
            return NULL;
        }
        for (const char *t = s; t < q; t++) c->line += *t == '\n';
        out = strndup(s, (size_t)(q - s));
        c->p = q + 3;
    } else if (c->p < c->end && *c->p == '"') {
        const char *s = c->p + 1;
        out = malloc((size_t)(c->end - s) + 1);
        if (!out) return NULL;
        size_t n = 0;
        const char *q = s;
        for (; q < c->end && *q != '"' && *q != '\n'; q++) {
            if (*q == '\\' && q + 1 < c->end && (q[1] == '"' || q[1] == '\\')) q++;
            out[n++] = *q;
        }
        if (q >= c->end || *q != '"') {
            free(out);
            st_fail(err, ST_INVALID, "line %d: unterminated quote", c->line);
            return NULL;
        }
        out[n] = '\0';
        c->p = q + 1;
    } else {
        const char *s = c->p, *q = s;
        while (q < c->end && *q != '\n') q++;
        const char *e = q;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        out = strndup(s, (size_t)(e - s));
        c->p = q;
        return out;
    }
    /* nothing but blanks may follow a quoted value on its line */
    skip_blank(c);
    if (c->p < c->end && *c->p != '\n' && *c->p != '\r') {
        free(out);
        st_fail(err, ST_INVALID, "line %d: text after the closing quote", c->line);
        return NULL;
    }
    return out;
}

static st_status set_string(char **slot, char *value) {
    free(*slot);
    *slot = value;
    return ST_OK;
}

static st_status add_param(modelfile *mf, cursor *c, st_error *err) {
    skip_blank(c);
    const char *k = c->p;
    while (c->p < c->end && !isspace((unsigned char)*c->p)) c->p++;
    char key[64];
    size_t kl = (size_t)(c->p - k);
    if (kl == 0 || kl >= sizeof key) return st_fail(err, ST_INVALID, "line %d: PARAMETER needs a name and a value", c->line);
    for (size_t i = 0; i < kl; i++) key[i] = (char)tolower((unsigned char)k[i]);
    key[kl] = '\0';
    int line = c->line;
    char *value = read_value(c, err);
    if (!value) return err && err->code ? err->code : ST_NOMEM;
    cJSON *v = NULL;
    st_status st = *value ? store_param_value(key, value, &v, err)
                          : st_fail(err, ST_INVALID, "line %d: PARAMETER %s has no value", line, key);
    free(value);
    if (st) {
        if (err && strncmp(err->msg, "line", 4) != 0) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            snprintf(err->msg, sizeof err->msg, "line %d: %.480s", line, msg);
        }
        return st;
    }
    if (!mf->params && !(mf->params = cJSON_CreateObject())) {
        cJSON_Delete(v);
        return st_fail(err, ST_NOMEM, "out of memory");
    }
    if (cJSON_IsString(v)) { /* stop: repeated lines collect into an array */
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(mf->params, key);
        if (!arr) arr = cJSON_AddArrayToObject(mf->params, key);
        cJSON_AddItemToArray(arr, v);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(mf->params, key);
        cJSON_AddItemToObject(mf->params, key, v);
    }
    return ST_OK;
}

st_status modelfile_parse(const char *text, size_t len, modelfile *mf, st_error *err) {
    memset(mf, 0, sizeof *mf);
    cursor c = {text, text + len, 1};
    st_status st = ST_OK;
    while (st == ST_OK && c.p < c.end) {
        skip_blank(&c);
        if (c.p >= c.end) break;
        if (*c.p == '\n' || *c.p == '\r' || *c.p == '#') {
            while (c.p < c.end && *c.p != '\n') c.p++;
        } else {
            const char *w = c.p;
            while (c.p < c.end && isalpha((unsigned char)*c.p)) c.p++;
            size_t wl = (size_t)(c.p - w);
            char **slot = NULL;
            if (wl == 4 && strncasecmp(w, "FROM", 4) == 0) {
                slot = !mf->from ? &mf->from : &mf->from2;
                if (mf->from2) {
                    st = st_fail(err, ST_INVALID, "line %d: at most two FROM lines (a model and its vision projector)", c.line);
                    break;
                }
            }
            else if (wl == 6 && strncasecmp(w, "SYSTEM", 6) == 0) slot = &mf->system;
            else if (wl == 8 && strncasecmp(w, "TEMPLATE", 8) == 0) slot = &mf->tmpl;
            else if (wl == 9 && strncasecmp(w, "PARAMETER", 9) == 0) {
                st = add_param(mf, &c, err);
                continue;
            } else {
                st = st_fail(err, ST_INVALID, "line %d: unknown instruction '%.*s' (FROM, PARAMETER, SYSTEM, TEMPLATE)",
                             c.line, (int)(wl ? wl : 1), w);
                break;
            }
            if (c.p < c.end && !isspace((unsigned char)*c.p)) {
                st = st_fail(err, ST_INVALID, "line %d: unknown instruction", c.line);
                break;
            }
            int line = c.line;
            char *v = read_value(&c, err);
            if (!v) st = err && err->code ? err->code : ST_NOMEM;
            else if ((slot == &mf->from || slot == &mf->from2) && !*v) {
                free(v);
                st = st_fail(err, ST_INVALID, "line %d: FROM needs a model name or a file", line);
            } else set_string(slot, v);
        }
        if (c.p < c.end && *c.p == '\n') {
            c.p++;
            c.line++;
        }
    }
    if (st == ST_OK && !mf->from) st = st_fail(err, ST_INVALID, "the Modelfile has no FROM line");
    if (st != ST_OK) modelfile_free(mf);
    return st;
}

void modelfile_free(modelfile *mf) {
    free(mf->from);
    free(mf->from2);
    free(mf->system);
    free(mf->tmpl);
    cJSON_Delete(mf->params);
    memset(mf, 0, sizeof *mf);
}
