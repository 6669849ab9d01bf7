/*
 * model_chat_custom.c - ag_chat_format_custom: a conversation rendered with a template the
 * caller supplies (a Modelfile's TEMPLATE) instead of the file's own, with bos_token and
 * eos_token filled in from the model's vocabulary as ag_chat_format_json does.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"

char *ag_chat_format_custom(const ag_model *m, const char *tmpl, const char *context_json, ag_error *err) {
    if (!tmpl) return ag_chat_format_json(m, context_json, NULL, err);
    cJSON *ctx = cJSON_Parse(context_json);
    if (!cJSON_IsObject(ctx)) {
        cJSON_Delete(ctx);
        ag_error_set(err, AG_ERR_INVALID_ARG, "the chat context is not a JSON object");
        return NULL;
    }
    const char *keys[2] = {"bos_token", "eos_token"};
    const ag_token ids[2] = {ag_vocab_bos(m->vocab), ag_vocab_eos(m->vocab)};
    for (int i = 0; i < 2; i++) {
        if (cJSON_GetObjectItemCaseSensitive(ctx, keys[i])) continue;
        size_t len = 0;
        const char *s = ids[i] >= 0 ? ag_vocab_token_text(m->vocab, ids[i], &len) : NULL;
        char *text = s ? strndup(s, len) : strdup("");
        cJSON_AddStringToObject(ctx, keys[i], text ? text : "");
        free(text);
    }
    char *full = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);
    if (!full) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char *out = ag_chat_template_render(tmpl, strlen(tmpl), full, err);
    free(full);
    return out;
}
