/*
 * api.h - requests of the Ollama and OpenAI APIs, parsed from their JSON bodies into one
 * api_request (what the scheduler needs), with the checks that make a 400 answer: malformed
 * JSON, missing fields, values of the wrong type. Pure functions over a buffer (the fuzz target
 * fuzz/fuzz_server_request.c drives them).
 */
#ifndef AG_SERVER_API_H
#define AG_SERVER_API_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"
#include "autoglm/image.h"

#define API_MAX_IMAGES 32                                 /* images in one request */
#define API_MAX_IMAGE_PIXELS ((int64_t)64 * 1024 * 1024) /* decoded pixels of one request, all images */

typedef enum {
    API_GENERATE,    /* POST /api/generate */
    API_CHAT,        /* POST /api/chat */
    API_EMBED,       /* POST /api/embed (input: string or array) */
    API_EMBEDDINGS,  /* POST /api/embeddings (prompt: string; legacy) */
    API_OAI_CHAT,    /* POST /v1/chat/completions */
    API_OAI_COMPLETION, /* POST /v1/completions */
    API_OAI_EMBED,   /* POST /v1/embeddings */
} api_kind;

enum { PRIO_INTERACTIVE = 0, PRIO_BATCH = 1, PRIO_COUNT = 2 };

typedef struct {
    api_kind kind;
    char *model;         /* as the client wrote it */
    char *prompt;        /* generate / completions; "" when absent */
    char *system;        /* generate: replaces the model's SYSTEM; NULL = the model's */
    char *tmpl;          /* generate: replaces the chat template; NULL = the model's */
    bool raw;            /* generate: the prompt goes to the model as it is */
    bool stream;
    bool include_usage;  /* OpenAI stream_options.include_usage */
    cJSON *messages;     /* chat: [{"role", "content", "tool_calls"?, "tool_call_id"?, "name"?}] normalized
                            (content parts joined, tool call arguments as objects) */
    cJSON *tools;        /* chat: function definitions for the template, or NULL (api_tools.c) */
    bool tools_off;      /* OpenAI tool_choice "none": tools are not shown and answers not parsed */
    ag_token *context;   /* generate: tokens of a previous answer's "context" */
    int n_context;
    cJSON *options;      /* Ollama options (OpenAI fields mapped to them); object, may be empty */
    bool truncate;       /* "truncate": true: a prompt longer than the context keeps its newest tokens */
    int priority;        /* PRIO_INTERACTIVE (generation) or PRIO_BATCH (embeddings), "priority" overrides */
    char **inputs;       /* embeddings: texts */
    int n_inputs;
    bool emb_base64;     /* OpenAI embeddings: "encoding_format": "base64" (float32 little-endian) */
    char *format;        /* constrained output: NULL none, "" any JSON (format "json", json_object), else a
                            JSON schema (format {...}, response_format json_schema), checked at parse */
    int64_t keep_alive_ns; /* keep_alive: how long the model stays loaded after this request; < 0 forever,
                              0 unload now; INT64_MIN when absent (the server's setting) */
    ag_image *images;      /* (n_images) decoded RGB, in request order: generate's "images", then each chat
                              message's; a chat message's normalized copy lists its own as "images": [index] */
    int n_images;
    int64_t image_pixels;  /* width * height summed over images (at most API_MAX_IMAGE_PIXELS) */
} api_request;

/* Parses body[0..len). Returns 0, or the HTTP status of the failure (400) with a message. */
int api_parse(api_kind kind, const char *body, size_t len, api_request *rq, char *err, size_t cap);
void api_request_free(api_request *rq);

/* api_tools.c: "tools" / "tool_choice" of a chat body into rq; a message's tool fields (in) into
 * its normalized copy (out). 0 or 400 with a message. */
int api_parse_tools(const cJSON *body, api_request *rq, char *err, size_t cap);
int api_message_tools(const cJSON *in, cJSON *out, char *err, size_t cap);

/* api_images.c: Ollama's "images" array (base64 strings) and OpenAI's image_url content part
 * ({"image_url": {"url": "data:image/png;base64,..."}}), decoded into rq->images; the index of each
 * new image is appended to indices (when not NULL). where ("message 2, ") prefixes the messages.
 * 0 or 400 with a message naming the image. */
int api_parse_images(const cJSON *arr, api_request *rq, cJSON *indices, const char *where, char *err, size_t cap);
int api_parse_image_part(const cJSON *part, api_request *rq, cJSON *indices, const char *where, char *err,
                         size_t cap);
/* Standard base64 (padding optional) of s[0..n) into out (room for n / 4 * 3 + 3 bytes): the byte
 * count, or SIZE_MAX with *bad_at the offset of the first character that is not base64. */
size_t api_base64_decode(const char *s, size_t n, unsigned char *out, size_t *bad_at);

/* keep_alive as Ollama takes it: a number of seconds, or a duration string ("5m", "1h30m", "10s",
 * "500ms", "-1", "0"); negative = forever. Returns false on a malformed value. */
bool api_parse_keep_alive(const cJSON *v, int64_t *ns);

/* Parses {"model": "..."} or {"name": "..."} (show, delete) into a malloc'd name; NULL with a
 * message when absent or malformed. */
char *api_parse_model_name(const char *body, size_t len, const char *key2, char *err, size_t cap);

#endif
