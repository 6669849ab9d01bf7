/*
 * format.c - the wire formats of generation responses (see gen.h). Ollama: one JSON object per
 * line (application/x-ndjson), durations in nanoseconds, created_at in RFC 3339. OpenAI:
 * "data: {json}\n\n" events of chat.completion.chunk / text_completion objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/gen.h"

static bool is_openai(const gen_stream *g) { return g->kind == API_OAI_CHAT || g->kind == API_OAI_COMPLETION; }

static void created_at(cJSON *o) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
    cJSON_AddStringToObject(o, "created_at", buf);
}

static const char *finish_reason(const gen_stream *g, const job_stats *st) {
    if (g->calls) return "tool_calls";
    return st->done_reason && strcmp(st->done_reason, "length") == 0 ? "length" : "stop";
}

/* g->calls in the wire shape: Ollama {"function": {"name", "arguments": object}}; OpenAI
 * {"index"?, "id", "type": "function", "function": {"name", "arguments": JSON string}} */
static cJSON *wire_calls(const gen_stream *g, bool openai, bool chunk) {
    cJSON *arr = cJSON_CreateArray();
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, g->calls) {
        cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateObject();
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "arguments");
        cJSON_AddStringToObject(f, "name", cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring);
        if (openai) {
            char id[64], *a = cJSON_PrintUnformatted(args);
            snprintf(id, sizeof id, "call_%s_%d", g->id, i);
            if (chunk) cJSON_AddNumberToObject(o, "index", i);
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddStringToObject(o, "type", "function");
            cJSON_AddStringToObject(f, "arguments", a ? a : "{}");
            free(a);
        } else {
            cJSON_AddItemToObject(f, "arguments", cJSON_Duplicate(args, true));
        }
        cJSON_AddItemToObject(o, "function", f);
        cJSON_AddItemToArray(arr, o);
        i++;
    }
    return arr;
}

/* {"model", "created_at", "response" | "message"} of Ollama */
static cJSON *ollama_object(const gen_stream *g, const char *text) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", g->model);
    created_at(o);
    if (g->kind == API_CHAT) {
        cJSON *m = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", text);
        if (g->calls) cJSON_AddItemToObject(m, "tool_calls", wire_calls(g, false, false));
    } else {
        cJSON_AddStringToObject(o, "response", text);
    }
    return o;
}

/* The request's energy, read once at its end; fed to the metrics with its rate. */
static void energy_take(gen_stream *g) {
    if (g->energy_read) return;
    g->energy_read = true;
    const double j1 = g->joules0 >= 0 ? ag_energy_joules(g->energy) : -1;
    g->joules = g->joules0 >= 0 && j1 >= g->joules0 ? j1 - g->joules0 : -1; /* -1 - -1 is no reading */
    const double g1 = g->gpu_joules0 >= 0 ? ag_energy_gpu_joules(g->energy) : -1;
    g->gpu_joules = g->gpu_joules0 >= 0 && g1 >= g->gpu_joules0 ? g1 - g->gpu_joules0 : -1;
    const job_stats *st = job_get_stats(g->j);
    metrics_done d = {.tokens = st->eval_n, .joules = g->joules,
                      .tokens_per_s = st->eval_ns > 0 ? st->eval_n / ((double)st->eval_ns * 1e-9) : 0,
                      .ttft_s = (double)(st->total_ns - st->eval_ns) * 1e-9};
    if (st->eval_n > 0) metrics_finished(g->metrics, &d);
}

/* "energy_joules" and "joules_per_token" (per generated token; the prompt's energy included;
 * CPU packages and GPUs), and the GPUs' part alone (NVML) in "gpu_energy_joules" and
 * "gpu_joules_per_token": null when the machine gives no reading. */
static void energy_fields(gen_stream *g, cJSON *o) {
    energy_take(g);
    const job_stats *st = job_get_stats(g->j);
    if (g->gpu_joules < 0) {
        cJSON_AddNullToObject(o, "gpu_energy_joules");
        cJSON_AddNullToObject(o, "gpu_joules_per_token");
    } else {
        cJSON_AddNumberToObject(o, "gpu_energy_joules", g->gpu_joules);
        if (st->eval_n > 0) cJSON_AddNumberToObject(o, "gpu_joules_per_token", g->gpu_joules / st->eval_n);
        else cJSON_AddNullToObject(o, "gpu_joules_per_token");
    }
    if (g->joules < 0) {
        cJSON_AddNullToObject(o, "energy_joules");
        cJSON_AddNullToObject(o, "joules_per_token");
        return;
    }
    cJSON_AddNumberToObject(o, "energy_joules", g->joules);
    if (st->eval_n > 0) cJSON_AddNumberToObject(o, "joules_per_token", g->joules / st->eval_n);
    else cJSON_AddNullToObject(o, "joules_per_token");
}

/* Prompt tokens taken from a cache (another slot's, the prefix cache) rather than evaluated. */
static int cached_tokens(const job_stats *st) {
    return st->prompt_eval_n < st->prompt_n ? st->prompt_n - st->prompt_eval_n : 0;
}

static void ollama_stats(gen_stream *g, cJSON *o) {
    const job_stats *st = job_get_stats(g->j);
    cJSON_AddStringToObject(o, "done_reason", st->done_reason ? st->done_reason : "stop");
    cJSON_AddBoolToObject(o, "done", true);
    if (g->kind == API_GENERATE) {
        int n;
        const ag_token *t = job_tokens(g->j, &n);
        cJSON *ctx = cJSON_AddArrayToObject(o, "context");
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(ctx, cJSON_CreateNumber(t[i]));
    }
    cJSON_AddNumberToObject(o, "total_duration", (double)(sched_now_ns() - g->t0));
    cJSON_AddNumberToObject(o, "load_duration", (double)(int64_t)(g->load_s * 1e9));
    cJSON_AddNumberToObject(o, "prompt_eval_count", st->prompt_n);
    if (cached_tokens(st) > 0) /* Ollama's field: prompt tokens read from the cache (omitted when none) */
        cJSON_AddNumberToObject(o, "prompt_eval_cached_count", cached_tokens(st));
    cJSON_AddNumberToObject(o, "prompt_eval_duration", (double)st->prompt_eval_ns);
    cJSON_AddNumberToObject(o, "eval_count", st->eval_n);
    cJSON_AddNumberToObject(o, "eval_duration", (double)st->eval_ns);
    if (g->truncated > 0) cJSON_AddNumberToObject(o, "truncated", g->truncated); /* ours: prompt tokens dropped */
    energy_fields(g, o);
}

static cJSON *openai_object(const gen_stream *g, bool chunk) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", g->id);
    cJSON_AddStringToObject(o, "object", g->kind == API_OAI_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                                                 : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)g->created);
    cJSON_AddStringToObject(o, "model", g->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "fp_autoglm");
    return o;
}

static cJSON *usage(gen_stream *g) {
    const job_stats *st = job_get_stats(g->j);
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", st->prompt_n);
    if (g->truncated > 0) cJSON_AddNumberToObject(u, "truncated", g->truncated);
    cJSON_AddNumberToObject(u, "completion_tokens", st->eval_n);
    cJSON_AddNumberToObject(u, "total_tokens", st->prompt_n + st->eval_n);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "prompt_tokens_details"), "cached_tokens", cached_tokens(st));
    energy_fields(g, u);
    return u;
}

/* choices[0] of an OpenAI object: delta/message/text, finish_reason */
static void openai_choice(const gen_stream *g, cJSON *o, const char *text, const char *finish, bool chunk) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (g->kind == API_OAI_CHAT) {
        cJSON *m = cJSON_AddObjectToObject(c, chunk ? "delta" : "message");
        if (!chunk || !g->sent_first) cJSON_AddStringToObject(m, "role", "assistant");
        if (g->calls && !(chunk && finish)) { /* the calls: in the message, or in one chunk before the end */
            if (text && *text) cJSON_AddStringToObject(m, "content", text);
            else if (!chunk) cJSON_AddNullToObject(m, "content");
            cJSON_AddItemToObject(m, "tool_calls", wire_calls(g, true, chunk));
        } else if (text) {
            cJSON_AddStringToObject(m, "content", text);
        }
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
        cJSON_AddNullToObject(c, "logprobs");
    }
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
}

/* Serializes and frees o: "json\n" or "data: json\n\n". */
static char *wire(const gen_stream *g, cJSON *o) {
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json) return NULL;
    size_t n = strlen(json) + 16;
    char *out = malloc(n);
    if (out) snprintf(out, n, is_openai(g) ? "data: %s\n\n" : "%s\n", json);
    free(json);
    return out;
}

char *fmt_chunk(gen_stream *g, const char *text) {
    if (!is_openai(g)) {
        cJSON *o = ollama_object(g, text);
        cJSON_AddBoolToObject(o, "done", false);
        return wire(g, o);
    }
    cJSON *o = openai_object(g, true);
    openai_choice(g, o, text, NULL, true);
    g->sent_first = true;
    return wire(g, o);
}

char *fmt_calls_chunk(gen_stream *g) {
    if (!is_openai(g)) {
        cJSON *o = ollama_object(g, "");
        cJSON_AddBoolToObject(o, "done", false);
        return wire(g, o);
    }
    cJSON *o = openai_object(g, true);
    openai_choice(g, o, NULL, NULL, true);
    g->sent_first = true;
    return wire(g, o);
}

static char *concat(char *a, char *b) {
    if (!a || !b) {
        free(a);
        free(b);
        return NULL;
    }
    size_t la = strlen(a);
    char *p = realloc(a, la + strlen(b) + 1);
    if (!p) {
        free(a);
        free(b);
        return NULL;
    }
    strcpy(p + la, b);
    free(b);
    return p;
}

char *fmt_end(gen_stream *g) {
    const job_stats *st = job_get_stats(g->j);
    if (st->error[0] || g->refusal[0]) { /* the engine failed mid-way, or the output policy refused */
        const char *msg = g->refusal[0] ? g->refusal : st->error;
        cJSON *o = cJSON_CreateObject();
        if (is_openai(g)) {
            cJSON *e = cJSON_AddObjectToObject(o, "error");
            cJSON_AddStringToObject(e, "message", msg);
            cJSON_AddStringToObject(e, "type", g->refusal[0] ? "policy_error" : "api_error");
        } else {
            cJSON_AddStringToObject(o, "error", msg);
        }
        return wire(g, o);
    }
    energy_take(g); /* the metrics get it even when the reply has no usage object */
    if (!is_openai(g)) {
        cJSON *o = ollama_object(g, "");
        ollama_stats(g, o);
        return wire(g, o);
    }
    cJSON *o = openai_object(g, true);
    openai_choice(g, o, g->kind == API_OAI_CHAT ? NULL : "", finish_reason(g, st), true);
    char *out = wire(g, o);
    if (g->include_usage) {
        cJSON *u = openai_object(g, true);
        cJSON_AddArrayToObject(u, "choices");
        cJSON_AddItemToObject(u, "usage", usage(g));
        out = concat(out, wire(g, u));
    }
    return concat(out, strdup("data: [DONE]\n\n"));
}

cJSON *fmt_full(gen_stream *g, const char *text) {
    const job_stats *st = job_get_stats(g->j);
    if (!is_openai(g)) {
        cJSON *o = ollama_object(g, text);
        ollama_stats(g, o);
        return o;
    }
    cJSON *o = openai_object(g, false);
    openai_choice(g, o, text, finish_reason(g, st), false);
    cJSON_AddItemToObject(o, "usage", usage(g));
    return o;
}
