/*
 * tool_calls.h - function calling: the tool calls a model wrote in its answer, in the formats
 * chat templates ask for, turned into the APIs' `tool_calls`:
 *   Hermes / Qwen 2.5+    <tool_call>{"name": ..., "arguments": {...}}</tool_call>   (any number)
 *   Mistral               [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]
 *   Llama 3.x             {"name": ..., "parameters": {...}}  (the whole answer; after an optional
 *                         <|python_tag|>; several joined by ';'), or a JSON array of them
 * Pure functions over strings (tests/test_tool_calls.c).
 */
#ifndef AG_SERVER_TOOL_CALLS_H
#define AG_SERVER_TOOL_CALLS_H

#include <cJSON.h>
#include <stdbool.h>

/* The calls in text: an array of {"name": string, "arguments": object} (arguments given as a
 * JSON string are parsed), or NULL when the text holds none. *content (may be NULL) receives
 * the text outside the calls, trimmed (malloc'd; "" when the answer is only calls). */
cJSON *tool_calls_parse(const char *text, char **content);

/* Whether a streamed answer that begins with text (leading whitespace skipped) may still turn
 * out to be a tool call, so that it must be held back rather than streamed as content. */
bool tool_calls_may_start(const char *text);

#endif
