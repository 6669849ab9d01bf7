/*
 * gen.h - one generation request in flight (gen.c) and its wire formats (format.c): Ollama's
 * NDJSON lines and final object, OpenAI's SSE chunks, "data: [DONE]" and whole responses.
 */
#ifndef AG_SERVER_GEN_H
#define AG_SERVER_GEN_H

#include <cJSON.h>

#include "autoglm/redact.h"
#include "server/api.h"
#include "server/guard.h"
#include "server/sched.h"

typedef struct {
    api_kind kind;
    char *model;          /* the name as the client wrote it, echoed back */
    char id[48];          /* OpenAI: chatcmpl-... / cmpl-... */
    int64_t created;      /* unix seconds */
    int64_t t0;           /* request arrival, sched_now_ns */
    double load_s;
    int64_t keep_alive_ns;  /* the request's keep_alive, applied when it lets go of the model */
    bool include_usage;
    bool sent_first;      /* OpenAI chat: the first chunk carries the role */
    bool ended;
    /* tools: the answer is parsed for tool calls (server/tool_calls.h); streamed, its beginning is
     * held back while it may still be a call */
    bool tools;
    bool passthrough;     /* streamed: the answer is not a call, stream as it comes */
    char *held;           /* streamed: text held back so far */
    size_t held_len;
    cJSON *calls;         /* the calls found: [{"name", "arguments": object}], or NULL */
    job *j;
    sched_model *sm;
    int fd;
    char *buf;            /* formatted bytes not yet handed to the connection */
    size_t len, off;
    /* the trust layer (guard.h): the client's role and tenant, the redaction of what it receives,
     * the output policy (checked on the text generated so far) */
    const guard *gd;
    guard_info who;           /* role, key; no prompt (it is not kept past the request) */
    ag_redact_stream *redact; /* NULL: no redaction for this role */
    ag_policy_stream *policy; /* the output policy on the raw text so far; NULL without a policy */
    char refusal[256];        /* set when the output policy stopped the reply */
    ag_energy *energy;        /* the server's meter (CPU packages, GPUs); NULL: unavailable */
    double joules0;           /* its reading when the request began (< 0: none) */
    bool energy_read;         /* joules below taken (once, at the final stats) */
    double joules;            /* < 0: unavailable */
    double gpu_joules0;       /* the GPUs' share (NVML) at the start (< 0: none) */
    double gpu_joules;        /* the GPUs' joules of the request; < 0: unavailable */
    metrics *metrics;         /* the server's, fed with the request's rate and energy */
    int truncated;            /* prompt tokens dropped from its beginning ("truncate": true) */
} gen_stream;

/* One streamed piece of text, formatted (malloc'd). */
char *fmt_chunk(gen_stream *g, const char *text);
/* A streamed chunk carrying g->calls (Ollama message.tool_calls; OpenAI delta.tool_calls). */
char *fmt_calls_chunk(gen_stream *g);
/* The end of a stream: Ollama's final object with statistics (or {"error"}: the engine failed or
 * the output policy refused), OpenAI's last
 * chunk with finish_reason, the usage chunk when asked, and "data: [DONE]". */
char *fmt_end(gen_stream *g);
/* A whole (non-streamed) response with the full text (and g->calls, when found). */
cJSON *fmt_full(gen_stream *g, const char *text);

#endif
