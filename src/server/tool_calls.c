/*
 * tool_calls.c - tool calls in a model's answer (see tool_calls.h). Each format is tried on the
 * text in turn; a call whose JSON does not parse or has no "name" string makes the whole answer
 * plain content (nothing half-parsed reaches a client).
 */
#include "server/tool_calls.h"

#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    return s;
}

static char *trimmed(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

/* {"name", "arguments" | "parameters"} -> a new {"name", "arguments": object}; NULL if not a call. */
static cJSON *one_call(const cJSON *o) {
    if (!cJSON_IsObject(o)) return NULL;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(o, "function"); /* {"function": {...}} as some emit */
    if (cJSON_IsObject(fn)) o = fn;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!cJSON_IsString(name) || !*name->valuestring) return NULL;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(o, "arguments");
    if (!args) args = cJSON_GetObjectItemCaseSensitive(o, "parameters");
    cJSON *a = NULL;
    if (cJSON_IsString(args)) a = cJSON_Parse(args->valuestring); /* arguments as a JSON string */
    else if (cJSON_IsObject(args)) a = cJSON_Duplicate(args, true);
    else if (!args || cJSON_IsNull(args)) a = cJSON_CreateObject();
    if (!cJSON_IsObject(a)) {
        cJSON_Delete(a);
        return NULL;
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", name->valuestring);
    cJSON_AddItemToObject(c, "arguments", a);
    return c;
}

/* Appends the calls of v (an object or an array of objects) to calls; false if any is not one. */
static bool add_calls(cJSON *calls, const cJSON *v) {
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) == 0) return false;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) if (!add_calls(calls, e)) return false;
        return true;
    }
    cJSON *c = one_call(v);
    if (!c) return false;
    cJSON_AddItemToArray(calls, c);
    return true;
}

/* <tool_call>{json}</tool_call> ... anywhere in the text */
static cJSON *hermes(const char *text, char **content) {
    static const char open[] = "<tool_call>", close[] = "</tool_call>";
    if (!strstr(text, open)) return NULL;
    cJSON *calls = cJSON_CreateArray();
    size_t cap = strlen(text) + 1, len = 0;
    char *rest = malloc(cap);
    const char *p = text;
    bool ok = calls && rest;
    while (ok) {
        const char *a = strstr(p, open);
        if (!a) break;
        memcpy(rest + len, p, (size_t)(a - p));
        len += (size_t)(a - p);
        a += sizeof open - 1;
        const char *b = strstr(a, close); /* an unclosed last call runs to the end (stopped by EOS) */
        const size_t n = b ? (size_t)(b - a) : strlen(a);
        cJSON *v = cJSON_ParseWithLength(a, n);
        ok = v && add_calls(calls, v);
        cJSON_Delete(v);
        p = b ? b + sizeof close - 1 : a + n;
    }
    if (ok) {
        strcpy(rest + len, p);
        if (content) *content = trimmed(rest, strlen(rest));
    }
    free(rest);
    if (!ok) cJSON_Delete(calls);
    return ok ? calls : NULL;
}

/* [TOOL_CALLS][...] (Mistral): the content is what came before */
static cJSON *mistral(const char *text, char **content) {
    static const char tag[] = "[TOOL_CALLS]";
    const char *a = strstr(text, tag);
    if (!a) return NULL;
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithOpts(a + sizeof tag - 1, &end, false);
    cJSON *calls = cJSON_CreateArray();
    const bool ok = v && calls && add_calls(calls, v);
    cJSON_Delete(v);
    if (!ok) {
        cJSON_Delete(calls);
        return NULL;
    }
    if (content) *content = trimmed(text, (size_t)(a - text));
    return calls;
}

/* The whole answer as JSON calls (Llama 3.x): an object, an array, or objects joined by ';' */
static cJSON *bare_json(const char *text, char **content) {
    const char *p = skip_ws(text);
    if (strncmp(p, "<|python_tag|>", 14) == 0) p = skip_ws(p + 14);
    if (*p != '{' && *p != '[') return NULL;
    cJSON *calls = cJSON_CreateArray();
    bool ok = calls != NULL;
    while (ok && *p) {
        const char *end = NULL;
        cJSON *v = cJSON_ParseWithOpts(p, &end, false);
        ok = v && add_calls(calls, v);
        cJSON_Delete(v);
        if (!ok) break;
        p = skip_ws(end);
        if (*p == ';') p = skip_ws(p + 1);
        else if (*p) ok = false; /* text after the JSON: not a call */
    }
    if (!ok) {
        cJSON_Delete(calls);
        return NULL;
    }
    if (content) *content = strdup("");
    return calls;
}

cJSON *tool_calls_parse(const char *text, char **content) {
    if (content) *content = NULL;
    if (!text) return NULL;
    cJSON *c = hermes(text, content);
    if (!c) c = mistral(text, content);
    if (!c) c = bare_json(text, content);
    if (c && content && !*content) { /* out of memory for the content: report no calls */
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

bool tool_calls_may_start(const char *text) {
    static const char *const starts[] = {"<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "{", "["};
    const char *p = skip_ws(text);
    const size_t n = strlen(p);
    if (n == 0) return true;
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        const size_t k = strlen(starts[i]);
        if (strncmp(p, starts[i], n < k ? n : k) == 0) return true;
    }
    return false;
}
