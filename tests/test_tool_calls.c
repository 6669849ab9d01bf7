/*
 * test_tool_calls.c - the tool-call parser of the server (src/server/tool_calls.c), table-driven:
 * Hermes/Qwen <tool_call> blocks (one, several, with text around, arguments as a JSON string,
 * unclosed at the end), Mistral [TOOL_CALLS] arrays, Llama 3.x bare JSON (parameters, python_tag,
 * ';'-joined, arrays), and answers that are not calls (plain text, JSON that is no call, broken
 * JSON); and which streamed beginnings must be held back.
 */
#include "server/tool_calls.h"
#include "test.h"

typedef struct {
    const char *text;
    int n_calls;          /* -1: not calls */
    const char *name0;    /* first call's name */
    const char *args0;    /* first call's arguments, printed unformatted */
    const char *content;  /* text outside the calls */
} case_t;

static const case_t CASES[] = {
    {"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", 1, "get_weather",
     "{\"city\":\"Paris\"}", ""},
    {"Let me check.\n<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"b\",\"arguments\":{\"x\":1}}</tool_call>",
     2, "a", "{}", "Let me check."},
    {"<tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"q\\\": \\\"v\\\"}\"}</tool_call>", 1, "f", "{\"q\":\"v\"}", ""},
    {"<tool_call>{\"name\":\"f\",\"arguments\":{\"k\":true}}", 1, "f", "{\"k\":true}", ""},
    {"<tool_call>{\"name\":\"f\",\"arguments\":{\"k\":</tool_call>", -1, NULL, NULL, NULL},
    {"[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}, {\"name\": \"neg\", \"arguments\": {\"a\": 3}}]", 2,
     "add", "{\"a\":1,\"b\":2}", ""},
    {"{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}", 1, "get_time", "{\"tz\":\"UTC\"}", ""},
    {"<|python_tag|>{\"name\": \"s\", \"parameters\": {}}; {\"name\": \"t\", \"parameters\": {\"n\": 2}}", 2, "s", "{}", ""},
    {"  [{\"name\": \"x\", \"arguments\": {\"y\": [1, 2]}}]  ", 1, "x", "{\"y\":[1,2]}", ""},
    {"{\"type\": \"function\", \"function\": {\"name\": \"w\", \"arguments\": {}}}", 1, "w", "{}", ""},
    {"The weather in Paris is sunny.", -1, NULL, NULL, NULL},
    {"{\"answer\": 42}", -1, NULL, NULL, NULL},
    {"{\"name\": \"f\", \"parameters\": {}} and more text", -1, NULL, NULL, NULL},
    {"{\"name\": \"f\", \"parameters\": [1]}", -1, NULL, NULL, NULL},
    {"", -1, NULL, NULL, NULL},
};

static void test_parse(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const case_t *c = &CASES[i];
        char *content = NULL;
        cJSON *calls = tool_calls_parse(c->text, &content);
        if (c->n_calls < 0) {
            CHECK_MSG(!calls, "case %zu: calls found in %s", i, c->text);
        } else {
            CHECK_MSG(calls && cJSON_GetArraySize(calls) == c->n_calls, "case %zu: %d calls", i, calls ? cJSON_GetArraySize(calls) : -1);
            const cJSON *c0 = cJSON_GetArrayItem(calls, 0);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(c0, "name");
            CHECK_MSG(cJSON_IsString(name) && strcmp(name->valuestring, c->name0) == 0, "case %zu: name", i);
            char *args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c0, "arguments"));
            CHECK_MSG(args && strcmp(args, c->args0) == 0, "case %zu: arguments %s", i, args ? args : "(null)");
            free(args);
            CHECK_MSG(content && strcmp(content, c->content) == 0, "case %zu: content '%s'", i, content ? content : "(null)");
        }
        cJSON_Delete(calls);
        free(content);
    }
}

static void test_may_start(void) {
    CHECK(tool_calls_may_start(""));
    CHECK(tool_calls_may_start("  \n"));
    CHECK(tool_calls_may_start("<tool"));
    CHECK(tool_calls_may_start("<tool_call>{\"na"));
    CHECK(tool_calls_may_start("[TOOL"));
    CHECK(tool_calls_may_start("{\"name\""));
    CHECK(!tool_calls_may_start("Hello"));
    CHECK(!tool_calls_may_start("<b>"));
    CHECK(!tool_calls_may_start(" The"));
}

TEST_MAIN(TEST(test_parse), TEST(test_may_start))
