/*
 * model_chat.c - ag_chat_format: a conversation rendered into prompt text with the model's chat
 * template, or with its family's usual format when the file carries none.
 *
 * The context handed to the template is a JSON object (messages, add_generation_prompt,
 * bos_token, eos_token, plus whatever the caller adds); the interpreter lives in
 * tokenizer/chat_template.c. Fallback formats are small templates of our own, chosen by the
 * special tokens the vocabulary has (Llama 3 headers, ChatML, [INST]) and by architecture.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"

typedef struct {
    const char *name;
    const char *marker_token; /* chosen when the vocabulary has this token ... */
    const char *arch;         /* ... or the model has this architecture */
    const char *tmpl;
} fallback;

static const fallback FALLBACKS[] = {
    {"llama3", "<|start_header_id|>", NULL,
     "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
     "{{ m.content | trim }}<|eot_id|>{% endfor %}"
     "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"},
    {"chatml", "<|im_start|>", "qwen2",
     "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"},
    {"gemma", "<start_of_turn>", "gemma2",
     "{{ bos_token }}{% for m in messages %}{% set role = 'model' if m.role == 'assistant' else 'user' %}"
     "<start_of_turn>{{ role }}\n{{ m.content | trim }}<end_of_turn>\n{% endfor %}"
     "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"},
    {"phi3", "<|assistant|>", "phi3",
     "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"},
    {"mistral", "[INST]", NULL,
     "{{ bos_token }}{% set sys = messages[0].content + '\n\n' if messages[0].role == 'system' else '' %}"
     "{% for m in messages if m.role != 'system' %}{% if m.role == 'user' %}[INST] "
     "{{ sys if loop.first else '' }}{{ m.content }} [/INST]{% else %}{{ m.content }}{{ eos_token }}{% endif %}"
     "{% endfor %}"},
};

static const fallback *find_fallback(const ag_model *m) {
    for (size_t i = 0; i < sizeof FALLBACKS / sizeof FALLBACKS[0]; i++) {
        const fallback *f = &FALLBACKS[i];
        if (f->marker_token && ag_vocab_find(m->vocab, f->marker_token, strlen(f->marker_token)) >= 0) return f;
        if (f->arch && strcmp(m->arch, f->arch) == 0) return f;
    }
    return NULL;
}

static char *token_text(const ag_model *m, ag_token t) {
    size_t len = 0;
    const char *s = t >= 0 ? ag_vocab_token_text(m->vocab, t, &len) : NULL;
    return s ? strndup(s, len) : strdup("");
}

char *ag_chat_format_json(const ag_model *m, const char *context_json, const char **source, ag_error *err) {
    const fallback *fb = m->chat_template ? NULL : find_fallback(m);
    if (source) *source = m->chat_template ? "model" : fb ? fb->name : "none";
    if (!m->chat_template && !fb) {
        ag_error_set(err, AG_OK, "the model has no chat template");
        return NULL;
    }
    cJSON *ctx = cJSON_Parse(context_json);
    if (!cJSON_IsObject(ctx)) {
        cJSON_Delete(ctx);
        ag_error_set(err, AG_ERR_INVALID_ARG, "the chat context is not a JSON object");
        return NULL;
    }
    const struct { const char *key; ag_token id; } specials[] = {{"bos_token", ag_vocab_bos(m->vocab)},
                                                                  {"eos_token", ag_vocab_eos(m->vocab)}};
    for (size_t i = 0; i < 2; i++)
        if (!cJSON_GetObjectItemCaseSensitive(ctx, specials[i].key)) {
            char *text = token_text(m, specials[i].id);
            cJSON_AddStringToObject(ctx, specials[i].key, text ? text : "");
            free(text);
        }
    char *full = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);
    if (!full) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    const char *tmpl = m->chat_template ? m->chat_template : fb->tmpl;
    char *out = ag_chat_template_render(tmpl, strlen(tmpl), full, err);
    free(full);
    return out;
}

char *ag_chat_format(const ag_model *m, const ag_chat_message *msgs, int n, bool add_generation_prompt,
                     const char **source, ag_error *err) {
    cJSON *ctx = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(ctx, "messages");
    for (int i = 0; arr && i < n; i++) {
        cJSON *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", msgs[i].role ? msgs[i].role : "user");
        cJSON_AddStringToObject(msg, "content", msgs[i].content ? msgs[i].content : "");
        cJSON_AddItemToArray(arr, msg);
    }
    cJSON_AddBoolToObject(ctx, "add_generation_prompt", add_generation_prompt);
    char *json = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);
    if (!json) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char *out = ag_chat_format_json(m, json, source, err);
    free(json);
    return out;
}
