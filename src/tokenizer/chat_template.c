/*
 * chat_template.c - the chat template API (chat_template.h): checks the inputs, parses the
 * context JSON with cJSON, normalizes the template's newlines as jinja2 does, and runs lexer,
 * parser and evaluator under one render state whose arena is freed before returning.
 */
#include "tokenizer/chat_template.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "tokenizer/jinja_impl.h"

enum {
    DEFAULT_MAX_OUTPUT = 16 << 20,
    DEFAULT_MAX_MEMORY = 256 << 20,
    DEFAULT_MAX_DEPTH = 1000,
};
#define DEFAULT_MAX_STEPS 50000000ull

typedef struct {
    const char *tmpl;
    size_t tmpl_len;
    const cJSON *context;
    const char *json;
    size_t json_len;
    char *result; /* malloc'd on success */
} render_job;

/* jinja2 turns \r\n and \r into \n and drops one trailing newline (keep_trailing_newline=False). */
static void normalize_source(jx_state *st, const char *p, size_t n) {
    char *out = jx_alloc(st, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r') {
            out[o++] = '\n';
            if (i + 1 < n && p[i + 1] == '\n') i++;
        } else {
            out[o++] = p[i];
        }
    }
    if (o > 0 && out[o - 1] == '\n') o--;
    st->src = out;
    st->src_len = o;
}

static void render_main(jx_state *st, void *arg) {
    render_job *job = arg;
    jv ctx = jx_json_convert(st, job->context, job->json, job->json_len);
    jx_scope *globals = jx_scope_new(st, NULL);
    for (size_t i = 0; i < ctx.d->n; i++) {
        jv k = ctx.d->keys[i];
        jx_scope_set(st, globals, k.s.p, k.s.n, ctx.d->vals[i]);
    }
    jv *now = jx_dict_get_str(st, ctx.d, "_ag_now", 7);
    if (now && (now->kind != JV_STR || !jx_parse_now(st, now->s.p, now->s.n)))
        jx_fail(st, "context key _ag_now must be \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SS\"");
    st->globals_scope = globals;

    normalize_source(st, job->tmpl, job->tmpl_len);
    size_t ntok;
    jx_token *toks = jx_lex(st, &ntok);
    jx_nodes body = jx_parse(st, toks, ntok);

    jx_buf out = {0};
    st->out = &out;
    st->line = 1;
    jx_render(st, jx_scope_new(st, globals), body);

    job->result = malloc(out.n + 1);
    if (!job->result) jx_fail_nomem(st);
    if (out.n) memcpy(job->result, out.p, out.n);
    job->result[out.n] = '\0';
}

static bool only_space(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' && p[i] != '\0') return false;
    return true;
}

char *ag_chat_template_render_ex(const char *tmpl, size_t tmpl_len, const char *context_json, size_t context_len,
                                 const ag_chat_template_limits *limits, ag_error *err) {
    ag_error local;
    if (!err) err = &local;
    err->code = AG_OK;
    err->msg[0] = '\0';
    if (!tmpl && tmpl_len) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "chat template: no template text");
        return NULL;
    }
    if (!context_json) context_json = "{}", context_len = 2;
    if (!ag_utf8_valid(tmpl ? tmpl : "", tmpl_len)) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "chat template: the template is not valid UTF-8");
        return NULL;
    }
    if (!ag_utf8_valid(context_json, context_len)) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "chat template: the context is not valid UTF-8");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(context_json, context_len, &end, 0);
    if (!root) {
        size_t at = end && end >= context_json ? (size_t)(end - context_json) : 0;
        ag_error_set(err, AG_ERR_INVALID_ARG, "chat template: the context is not valid JSON (near byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(root) || (end && !only_space(end, context_len - (size_t)(end - context_json)))) {
        cJSON_Delete(root);
        ag_error_set(err, AG_ERR_INVALID_ARG, "chat template: the context must be one JSON object");
        return NULL;
    }

    jx_state st = {.err = err};
    st.lim.max_output = limits && limits->max_output ? limits->max_output : DEFAULT_MAX_OUTPUT;
    st.lim.max_memory = limits && limits->max_memory ? limits->max_memory : DEFAULT_MAX_MEMORY;
    st.lim.max_steps = limits && limits->max_steps ? limits->max_steps : DEFAULT_MAX_STEPS;
    st.lim.max_depth = limits && limits->max_depth > 0 ? limits->max_depth : DEFAULT_MAX_DEPTH;

    render_job job = {.tmpl = tmpl ? tmpl : "", .tmpl_len = tmpl_len, .context = root, .json = context_json, .json_len = context_len};
    bool ok = jx_protected(&st, render_main, &job);
    jx_state_release(&st);
    cJSON_Delete(root);
    if (!ok) {
        free(job.result);
        return NULL;
    }
    return job.result;
}

char *ag_chat_template_render(const char *tmpl, size_t tmpl_len, const char *context_json, ag_error *err) {
    return ag_chat_template_render_ex(tmpl, tmpl_len, context_json, context_json ? strlen(context_json) : 0, NULL, err);
}
