/*
 * prompt.c - a request's prompt tokens and options (see prompt.h). A chat goes through the
 * model's template (the store's TEMPLATE first, then the file's, then its family's format);
 * a model with none gets the messages' text joined by newlines. /api/generate wraps its prompt
 * as one user message unless raw; its "context" tokens come first. Images: each message's get
 * "[img-N]" tags (vision.c), which become the image markers after the template.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/prompt.h"
#include "server/vision.h"

ag_token *prompt_tokenize(const ag_model *m, const char *text, bool add_special, bool parse_special, int *n) {
    size_t len = strlen(text);
    int cap = len < INT_MAX / 2 - 16 ? (int)len + 16 : INT_MAX / 2;
    ag_token *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return NULL;
    int got = ag_tokenize(m, text, len, ids, cap, add_special, parse_special);
    if (got < 0 && got != INT32_MIN) {
        cap = -got;
        ag_token *p = realloc(ids, (size_t)cap * sizeof *ids);
        if (!p) {
            free(ids);
            return NULL;
        }
        ids = p;
        got = ag_tokenize(m, text, len, ids, cap, add_special, parse_special);
    }
    if (got < 0) {
        free(ids);
        return NULL;
    }
    *n = got;
    return ids;
}

int prompt_options(const api_request *rq, const store_manifest *man, gen_options *o, char *err, size_t cap) {
    gen_options_default(o);
    st_error e = {0};
    st_status st = gen_options_apply(o, man->params, &e);
    char kv_type[sizeof o->kv_type]; /* the model's (PARAMETER kv_type) or the server's, never a request's */
    memcpy(kv_type, o->kv_type, sizeof kv_type);
    if (st || gen_options_apply(o, rq->options, &e)) {
        snprintf(err, cap, "%s", e.msg);
        gen_options_free(o);
        return 400;
    }
    memcpy(o->kv_type, kv_type, sizeof kv_type);
    return 0;
}

/* A copy of message m whose content carries the tags of its images ("images": [index, ...]). */
static cJSON *tagged_message(const cJSON *m) {
    cJSON *c = cJSON_Duplicate(m, true);
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(m, "images");
    const int n = cJSON_GetArraySize(idx);
    if (!c || n == 0) return c;
    int ids[API_MAX_IMAGES], k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, idx) if (k < API_MAX_IMAGES) ids[k++] = v->valueint;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    char *t = vision_tag_content(cJSON_IsString(content) ? content->valuestring : "", ids, k);
    cJSON_DeleteItemFromObjectCaseSensitive(c, "images");
    if (t) cJSON_ReplaceItemInObjectCaseSensitive(c, "content", cJSON_CreateString(t));
    free(t);
    return c;
}

/* The prompt of /api/generate with its images' tags (all of the request's images). */
static char *tagged_prompt(const api_request *rq) {
    int ids[API_MAX_IMAGES];
    for (int i = 0; i < rq->n_images && i < API_MAX_IMAGES; i++) ids[i] = i;
    return vision_tag_content(rq->prompt ? rq->prompt : "", ids, rq->messages ? 0 : rq->n_images);
}

/* The messages as the template sees them: the system message (the request's for generate, or
 * the model's when the conversation has none) first. */
static cJSON *conversation(const api_request *rq, const store_manifest *man) {
    cJSON *msgs = cJSON_CreateArray();
    const char *system = rq->system ? rq->system : man->system;
    bool has_system = false;
    const cJSON *m;
    cJSON_ArrayForEach(m, rq->messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        has_system |= cJSON_IsString(role) && strcmp(role->valuestring, "system") == 0;
    }
    if (system && *system && !has_system) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "role", "system");
        cJSON_AddStringToObject(s, "content", system);
        cJSON_AddItemToArray(msgs, s);
    }
    if (rq->messages) {
        cJSON_ArrayForEach(m, rq->messages) cJSON_AddItemToArray(msgs, tagged_message(m));
    } else {
        cJSON *u = cJSON_CreateObject();
        char *t = tagged_prompt(rq);
        cJSON_AddStringToObject(u, "role", "user");
        cJSON_AddStringToObject(u, "content", t ? t : "");
        free(t);
        cJSON_AddItemToArray(msgs, u);
    }
    return msgs;
}

/* The messages' text joined by newlines (a model without any chat format; no system message
 * for /api/generate, whose prompt is then the whole text). */
static char *plain_text(const api_request *rq, const cJSON *msgs) {
    if (!rq->messages) return tagged_prompt(rq);
    size_t len = 1;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) len += strlen(cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring) + 1;
    char *out = malloc(len);
    if (!out) return NULL;
    out[0] = '\0';
    cJSON_ArrayForEach(m, msgs) {
        if (out[0]) strcat(out, "\n");
        strcat(out, cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring);
    }
    return out;
}

int prompt_tokens(const api_request *rq, const ag_model *m, const store_manifest *man, int *order, ag_token **out,
                  int *n, char *err, size_t cap) {
    *out = NULL;
    *n = 0;
    char *text = NULL;
    bool templated = false;
    if (rq->raw) {
        text = tagged_prompt(rq);
    } else {
        cJSON *msgs = conversation(rq, man);
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddItemToObject(ctx, "messages", msgs);
        if (rq->tools && !rq->tools_off) cJSON_AddItemToObject(ctx, "tools", cJSON_Duplicate(rq->tools, true));
        cJSON_AddBoolToObject(ctx, "add_generation_prompt", true);
        char *json = cJSON_PrintUnformatted(ctx);
        ag_error ae = {0};
        const char *tmpl = rq->tmpl ? rq->tmpl : man->tmpl;
        text = json ? ag_chat_format_custom(m, tmpl, json, &ae) : NULL;
        free(json);
        if (text) templated = true;
        else if (json && ae.code == AG_OK) text = plain_text(rq, msgs); /* no template, no known format */
        else {
            cJSON_Delete(ctx);
            snprintf(err, cap, "chat template: %s", ae.msg[0] ? ae.msg : "out of memory");
            return ae.code == AG_ERR_NOMEM || !json ? 500 : 400;
        }
        cJSON_Delete(ctx);
    }
    if (!text) {
        snprintf(err, cap, "out of memory");
        return 500;
    }
    if (rq->n_images > 0) { /* the images' tags become the image markers */
        int status = 0;
        char *placed = vision_place_images(text, rq->n_images, order, err, cap, &status);
        free(text);
        if (!placed) return status;
        text = placed;
    }
    /* BOS: at the start only (not after a context), and not when the template wrote it */
    bool add_bos = rq->n_context == 0;
    if (add_bos && templated && ag_token_bos(m) >= 0) {
        char bos[64];
        int bl = ag_token_to_piece(m, ag_token_bos(m), bos, (int)sizeof bos, true);
        if (bl > 0 && strncmp(text, bos, (size_t)bl) == 0) add_bos = false;
    }
    int nt = 0;
    ag_token *ids = prompt_tokenize(m, text, add_bos, true, &nt);
    free(text);
    ag_token *all = ids ? malloc(((size_t)rq->n_context + (size_t)nt + 1) * sizeof *all) : NULL;
    if (!all) {
        free(ids);
        snprintf(err, cap, "cannot tokenize the prompt");
        return 500;
    }
    for (int i = 0; i < rq->n_context; i++) {
        if (rq->context[i] >= ag_model_n_vocab(m)) {
            free(ids);
            free(all);
            snprintf(err, cap, "\"context\" holds token %d, out of the vocabulary", rq->context[i]);
            return 400;
        }
        all[i] = rq->context[i];
    }
    memcpy(all + rq->n_context, ids, (size_t)nt * sizeof *ids);
    free(ids);
    *out = all;
    *n = rq->n_context + nt;
    return 0;
}
