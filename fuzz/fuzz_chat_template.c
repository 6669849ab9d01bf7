/*
 * fuzz_chat_template.c - libFuzzer target for the Jinja chat template interpreter
 * (src/tokenizer/chat_template.c, jinja_*.c).
 *
 * The input is the template text. It is rendered with one fixed context (a conversation with a
 * system prompt, tool calls, a tool answer, non-ASCII text, tools, bos/eos tokens and a fixed
 * _ag_now, so that strftime_now() is reproducible) under small limits, so that a hostile template
 * ends quickly. The target aborts when:
 *   - a render fails without an error code or message, or succeeds with an error set,
 *   - the output is longer than the output limit,
 *   - a second render of the same template gives another result (the interpreter keeps no state
 *     between calls, and the context fixes the time).
 * Crashes, leaks and undefined behaviour are the sanitizers' to report; a hang is libFuzzer's
 * -timeout. Nothing is kept between inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/chat_template.h"

static const char CONTEXT[] =
    "{\"messages\": ["
    "{\"role\": \"system\", \"content\": \"You are helpful.\"},"
    "{\"role\": \"user\", \"content\": \"Hi! Caf\\u00e9 \\u6771\\u4eac & \\\"q\\\" <b>'ok'</b>\"},"
    "{\"role\": \"assistant\", \"content\": \"<think>\\nhm\\n</think>\\n\\nHello.\", \"reasoning_content\": \"r\"},"
    "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\", \"id\": \"c1\","
    " \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}}]},"
    "{\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"{\\\"t\\\": 21.5}\"},"
    "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"and now?\"}, {\"type\": \"image\"}]}],"
    "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}},"
    " \"required\": [\"city\"]}}}],"
    "\"documents\": null, \"add_generation_prompt\": true, \"enable_thinking\": false,"
    "\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"n\": 7, \"f\": -0.5, \"big\": 12345678901234567890,"
    "\"_ag_now\": \"2026-01-02T03:04:05\"}";

static const ag_chat_template_limits LIMITS = {
    .max_output = 64 << 10,
    .max_memory = 16 << 20,
    .max_steps = 200000,
    .max_depth = 64,
};

static char *render(const uint8_t *data, size_t size, ag_error *err) {
    char *out = ag_chat_template_render_ex((const char *)data, size, CONTEXT, sizeof CONTEXT - 1, &LIMITS, err);
    if (out) {
        if (err->code != AG_OK) abort(); /* success with an error set */
        if (strlen(out) > LIMITS.max_output) abort();
    } else if (err->code == AG_OK || err->msg[0] == '\0') {
        abort(); /* failure without a reason */
    }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ag_error e1 = {0}, e2 = {0};
    char *a = render(data, size, &e1);
    char *b = render(data, size, &e2);
    if ((a == NULL) != (b == NULL)) abort();
    if (a && strcmp(a, b) != 0) abort();
    if (!a && (e1.code != e2.code || strcmp(e1.msg, e2.msg) != 0)) abort();
    free(a);
    free(b);
    return 0;
}
