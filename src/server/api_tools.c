/*
 * api_tools.c - the function-calling fields of chat requests (see api.h):
 *   "tools": [{"type": "function", "function": {"name", "description", "parameters"}}]
 *            (Ollama and OpenAI alike), passed to the chat template as its `tools`;
 *   "tool_choice" (OpenAI): "none" hides the tools; "auto", "required" and a named function
 *            render them (the model is not forced to call: no grammar over tool calls yet);
 *   messages: an assistant's "tool_calls" ([{"id"?, "type"?, "function": {"name", "arguments"}}],
 *            arguments as an object or, from OpenAI clients, a JSON string: both become an
 *            object, as templates expect), and a tool result's "tool_call_id" / "name".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return 400;
}

int api_parse_tools(const cJSON *body, api_request *rq, char *err, size_t cap) {
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(body, "tool_choice");
    if (choice && !cJSON_IsNull(choice)) {
        if (cJSON_IsString(choice)) {
            const char *c = choice->valuestring;
            if (strcmp(c, "none") && strcmp(c, "auto") && strcmp(c, "required"))
                return fail(err, cap, "\"tool_choice\" must be \"none\", \"auto\", \"required\" or a function");
            rq->tools_off = strcmp(c, "none") == 0;
        } else if (!cJSON_IsObject(choice)) {
            return fail(err, cap, "\"tool_choice\" must be a string or an object");
        }
    }
    if (!tools || cJSON_IsNull(tools)) return 0;
    if (!cJSON_IsArray(tools)) return fail(err, cap, "\"tools\" must be an array");
    const cJSON *t;
    int i = 0;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!cJSON_IsObject(t) || !cJSON_IsObject(fn) || !cJSON_IsString(name) || !*name->valuestring)
            return fail(err, cap, "tools[%d] must be {\"type\": \"function\", \"function\": {\"name\": ...}}", i);
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (params && !cJSON_IsNull(params) && !cJSON_IsObject(params))
            return fail(err, cap, "tools[%d].function.parameters must be an object", i);
        i++;
    }
    if (i == 0) return 0;
    if (!(rq->tools = cJSON_Duplicate(tools, true))) return fail(err, cap, "out of memory");
    cJSON *e;
    cJSON_ArrayForEach(e, rq->tools) if (!cJSON_GetObjectItemCaseSensitive(e, "type"))
        cJSON_AddStringToObject(e, "type", "function");
    return 0;
}

int api_message_tools(const cJSON *in, cJSON *out, char *err, size_t cap) {
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(in, "tool_calls");
    if (calls && !cJSON_IsNull(calls)) {
        if (!cJSON_IsArray(calls)) return fail(err, cap, "\"tool_calls\" must be an array");
        cJSON *arr = cJSON_AddArrayToObject(out, "tool_calls");
        const cJSON *c;
        cJSON_ArrayForEach(c, calls) {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
            if (!cJSON_IsString(name)) return fail(err, cap, "each tool call needs \"function\": {\"name\": ...}");
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
            cJSON *a = cJSON_IsString(args) ? cJSON_Parse(args->valuestring)
                       : cJSON_IsObject(args) ? cJSON_Duplicate(args, true) : cJSON_CreateObject();
            if (!cJSON_IsObject(a)) {
                cJSON_Delete(a);
                return fail(err, cap, "tool call arguments must be a JSON object (or a string holding one)");
            }
            cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateObject();
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
            if (cJSON_IsString(id)) cJSON_AddStringToObject(o, "id", id->valuestring);
            cJSON_AddStringToObject(o, "type", "function");
            cJSON_AddStringToObject(f, "name", name->valuestring);
            cJSON_AddItemToObject(f, "arguments", a);
            cJSON_AddItemToObject(o, "function", f);
            cJSON_AddItemToArray(arr, o);
        }
    }
    static const char *const keys[] = {"tool_call_id", "name"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, keys[k]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) return fail(err, cap, "\"%s\" must be a string", keys[k]);
        if (cJSON_IsString(v)) cJSON_AddStringToObject(out, keys[k], v->valuestring);
    }
    return 0;
}
