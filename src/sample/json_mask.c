/*
 * json_mask.c - ag_json_constraint: JSON mode and JSON-schema constrained sampling over a
 * model's tokens. Each token's bytes are taken once (ag_token_to_piece); at each step a token
 * keeps its logit only when its bytes continue the output as a prefix of a valid document
 * (sample/json_constraint.c), and end-of-generation tokens only once the document is complete.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/autoglm.h"
#include "base/error.h"
#include "sample/json_constraint.h"

struct ag_json_constraint {
    const ag_model *model;
    jc_schema *schema;   /* NULL: any JSON */
    jc_state st, tmp;
    int n_vocab;
    char *bytes;         /* all pieces, back to back */
    int *off;            /* (n_vocab + 1) piece t is bytes[off[t] .. off[t+1]) */
    unsigned char *eog;  /* (n_vocab) end-of-generation tokens */
};

ag_status ag_json_schema_check(const char *schema, ag_error *err) {
    if (!schema || !*schema) return AG_OK;
    char msg[256];
    jc_schema *s = jc_schema_compile(schema, strlen(schema), msg, sizeof msg);
    if (!s) return ag_error_set(err, AG_ERR_INVALID_ARG, "%s", msg);
    jc_schema_free(s);
    return AG_OK;
}

void ag_json_constraint_free(ag_json_constraint *c) {
    if (!c) return;
    jc_schema_free(c->schema);
    free(c->bytes);
    free(c->off);
    free(c->eog);
    free(c);
}

ag_json_constraint *ag_json_constraint_new(const ag_model *m, const char *schema, ag_error *err) {
    ag_json_constraint *c = calloc(1, sizeof *c);
    if (!c) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->model = m;
    c->n_vocab = ag_model_n_vocab(m);
    if (schema && *schema) {
        char msg[256];
        if (!(c->schema = jc_schema_compile(schema, strlen(schema), msg, sizeof msg))) {
            ag_error_set(err, AG_ERR_INVALID_ARG, "%s", msg);
            ag_json_constraint_free(c);
            return NULL;
        }
    }
    c->off = malloc(((size_t)c->n_vocab + 1) * sizeof *c->off);
    c->eog = malloc((size_t)c->n_vocab);
    size_t cap = (size_t)c->n_vocab * 8 + 64, len = 0;
    c->bytes = malloc(cap);
    if (!c->off || !c->eog || !c->bytes) goto nomem;
    for (int t = 0; t < c->n_vocab; t++) {
        c->off[t] = (int)len;
        c->eog[t] = ag_token_is_eog(m, t);
        char buf[256];
        int n = ag_token_to_piece(m, t, buf, sizeof buf, false);
        if (n < 0 || c->eog[t]) n = 0; /* a piece longer than 256 bytes is never allowed */
        if (len + (size_t)n > cap) {
            while (len + (size_t)n > cap) cap *= 2;
            char *p = realloc(c->bytes, cap);
            if (!p) goto nomem;
            c->bytes = p;
        }
        memcpy(c->bytes + len, buf, (size_t)n);
        len += (size_t)n;
    }
    c->off[c->n_vocab] = (int)len;
    jc_init(&c->st, c->schema ? jc_schema_root(c->schema) : NULL);
    return c;
nomem:
    ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    ag_json_constraint_free(c);
    return NULL;
}

void ag_json_constraint_apply(ag_json_constraint *c, float *logits) {
    const bool complete = jc_complete(&c->st);
    int allowed = 0;
    for (int t = 0; t < c->n_vocab; t++) {
        bool ok;
        const int n = c->off[t + 1] - c->off[t];
        if (c->eog[t]) ok = complete;
        else if (n == 0) ok = false; /* control tokens without text */
        else {
            jc_copy(&c->tmp, &c->st);
            ok = jc_feed(&c->tmp, c->bytes + c->off[t], (size_t)n);
        }
        if (!ok) logits[t] = -INFINITY;
        allowed += ok;
    }
    if (!allowed) /* cannot happen with byte tokens; end rather than sample nothing */
        for (int t = 0; t < c->n_vocab; t++)
            if (c->eog[t]) logits[t] = 0;
}

bool ag_json_constraint_accept(ag_json_constraint *c, ag_token t) {
    if (t < 0 || t >= c->n_vocab) return false;
    if (c->eog[t]) return jc_complete(&c->st);
    return jc_feed(&c->st, c->bytes + c->off[t], (size_t)(c->off[t + 1] - c->off[t]));
}

bool ag_json_constraint_complete(const ag_json_constraint *c) { return jc_complete(&c->st); }
bool ag_json_constraint_finished(const ag_json_constraint *c) { return c->st.depth == 0; }

void ag_json_constraint_reset(ag_json_constraint *c) { jc_init(&c->st, c->schema ? jc_schema_root(c->schema) : NULL); }
