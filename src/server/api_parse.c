/*
 * api_parse.c - request bodies of the Ollama and OpenAI APIs into api_request (see api.h).
 * OpenAI's fields map to Ollama's options: max_tokens / max_completion_tokens -> num_predict,
 * temperature, top_p, seed, stop; frequency and presence penalties are accepted and ignored.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"
#include "store/options.h"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return 400;
}

void api_request_free(api_request *rq) {
    free(rq->model);
    free(rq->prompt);
    free(rq->system);
    free(rq->tmpl);
    cJSON_Delete(rq->messages);
    cJSON_Delete(rq->tools);
    free(rq->context);
    cJSON_Delete(rq->options);
    for (int i = 0; i < rq->n_inputs; i++) free(rq->inputs[i]);
    free(rq->inputs);
    free(rq->format);
    for (int i = 0; i < rq->n_images; i++) ag_image_free(&rq->images[i]);
    free(rq->images);
    memset(rq, 0, sizeof *rq);
}

/* An optional string field: absent/null leaves *out NULL; another type is an error. */
static int opt_string(const cJSON *obj, const char *key, char **out, char *err, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return fail(err, cap, "\"%s\" must be a string", key);
    *out = strdup(v->valuestring);
    return *out ? 0 : fail(err, cap, "out of memory");
}

static int opt_bool(const cJSON *obj, const char *key, bool *out, char *err, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return fail(err, cap, "\"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* "content": a string, null, or OpenAI's parts [{"type": "text", "text": "..."}] (texts joined;
 * {"type": "image_url"} parts decoded into rq->images, their indices appended to indices, and an
 * "[img-N]" tag where each stands among the texts: server/vision.h). */
static int message_content(const cJSON *v, api_request *rq, cJSON *indices, int msg_no, char **out, char *err,
                           size_t cap) {
    if (!v || cJSON_IsNull(v)) return (*out = strdup("")) ? 0 : fail(err, cap, "out of memory");
    if (cJSON_IsString(v)) return (*out = strdup(v->valuestring)) ? 0 : fail(err, cap, "out of memory");
    if (!cJSON_IsArray(v)) return fail(err, cap, "message content must be a string or an array of parts");
    size_t len = 0;
    const cJSON *p;
    int part_no = 0;
    const int first_image = rq->n_images;
    cJSON_ArrayForEach(p, v) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        part_no++;
        if (!cJSON_IsObject(p)) return fail(err, cap, "message content parts must be objects");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "image_url") == 0) {
            char where[96];
            snprintf(where, sizeof where, "message %d, content part %d (image_url)", msg_no, part_no);
            int rc = api_parse_image_part(p, rq, indices, where, err, cap);
            if (rc) return rc;
            len += 16;
        }
        if (cJSON_IsString(t)) len += strlen(t->valuestring);
    }
    char *s = malloc(len + 1);
    if (!s) return fail(err, cap, "out of memory");
    s[0] = '\0';
    int image = first_image;
    cJSON_ArrayForEach(p, v) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "image_url") == 0)
            sprintf(s + strlen(s), "[img-%d]", image++);
        else if (cJSON_IsString(t)) strcat(s, t->valuestring);
    }
    *out = s;
    return 0;
}

static int parse_messages(const cJSON *body, api_request *rq, char *err, size_t cap) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    if (!msgs || cJSON_IsNull(msgs)) {
        if (rq->kind == API_OAI_CHAT) return fail(err, cap, "\"messages\" is required");
        msgs = NULL; /* Ollama: no messages loads the model and answers done */
    } else if (!cJSON_IsArray(msgs)) {
        return fail(err, cap, "\"messages\" must be an array");
    }
    if (!(rq->messages = cJSON_CreateArray())) return fail(err, cap, "out of memory");
    const cJSON *m;
    int msg_no = 0;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        msg_no++;
        if (!cJSON_IsObject(m)) return fail(err, cap, "each message must be an object");
        if (!cJSON_IsString(role) || !*role->valuestring)
            return fail(err, cap, "each message needs a \"role\" string");
        cJSON *out = cJSON_CreateObject(), *indices = cJSON_CreateArray();
        if (!out || !indices || !cJSON_AddItemToArray(rq->messages, out)) {
            cJSON_Delete(out);
            cJSON_Delete(indices);
            return fail(err, cap, "out of memory");
        }
        char *content = NULL;
        int rc = message_content(cJSON_GetObjectItemCaseSensitive(m, "content"), rq, indices, msg_no, &content, err,
                                 cap);
        if (!rc) { /* Ollama: the message's "images" (base64) */
            char where[48];
            snprintf(where, sizeof where, "message %d, ", msg_no);
            rc = api_parse_images(cJSON_GetObjectItemCaseSensitive(m, "images"), rq, indices, where, err, cap);
        }
        if (rc) {
            free(content);
            cJSON_Delete(indices);
            return rc;
        }
        cJSON_AddStringToObject(out, "role", role->valuestring);
        cJSON_AddStringToObject(out, "content", content);
        free(content);
        if (cJSON_GetArraySize(indices) > 0) cJSON_AddItemToObject(out, "images", indices);
        else cJSON_Delete(indices);
        if ((rc = api_message_tools(m, out, err, cap))) return rc;
    }
    return 0;
}

static int parse_context(const cJSON *body, api_request *rq, char *err, size_t cap) {
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(body, "context");
    if (!ctx || cJSON_IsNull(ctx)) return 0;
    if (!cJSON_IsArray(ctx)) return fail(err, cap, "\"context\" must be an array of token ids");
    int n = cJSON_GetArraySize(ctx);
    if (n == 0) return 0;
    if (!(rq->context = malloc((size_t)n * sizeof *rq->context))) return fail(err, cap, "out of memory");
    const cJSON *t;
    cJSON_ArrayForEach(t, ctx) {
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble > 2147483647.0 ||
            t->valuedouble != floor(t->valuedouble))
            return fail(err, cap, "\"context\" must be an array of token ids");
        rq->context[rq->n_context++] = (ag_token)t->valuedouble;
    }
    return 0;
}

/* "input" (string or array of strings) or, for the legacy route, "prompt". */
static int parse_inputs(const cJSON *body, api_request *rq, char *err, size_t cap) {
    const char *key = rq->kind == API_EMBEDDINGS ? "prompt" : "input";
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(body, key);
    if (!in || cJSON_IsNull(in)) {
        if (rq->kind == API_OAI_EMBED) return fail(err, cap, "\"input\" is required");
        return 0; /* Ollama: loads the model, answers with no embeddings */
    }
    if (!cJSON_IsString(in) && !cJSON_IsArray(in)) return fail(err, cap, "\"%s\" must be a string or an array of strings", key);
    if (rq->kind == API_EMBEDDINGS && !cJSON_IsString(in)) return fail(err, cap, "\"prompt\" must be a string");
    int n = cJSON_IsArray(in) ? cJSON_GetArraySize(in) : 1;
    if (n > 4096) return fail(err, cap, "at most 4096 inputs");
    if (n && !(rq->inputs = calloc((size_t)n, sizeof *rq->inputs))) return fail(err, cap, "out of memory");
    const cJSON *items = cJSON_IsArray(in) ? in->child : in;
    for (const cJSON *s = items; s; s = cJSON_IsArray(in) ? s->next : NULL) {
        if (!cJSON_IsString(s)) return fail(err, cap, "\"%s\" must be a string or an array of strings", key);
        if (!(rq->inputs[rq->n_inputs] = strdup(s->valuestring))) return fail(err, cap, "out of memory");
        rq->n_inputs++;
    }
    return 0;
}

/* OpenAI sampling fields as Ollama options. */
static int map_openai(const cJSON *body, cJSON *opts, char *err, size_t cap) {
    static const struct { const char *from, *to; } MAP[] = {
        {"max_tokens", "num_predict"}, {"max_completion_tokens", "num_predict"}, {"temperature", "temperature"},
        {"top_p", "top_p"}, {"seed", "seed"}, {"stop", "stop"}};
    for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, MAP[i].from);
        if (!v || cJSON_IsNull(v)) continue;
        if (strcmp(MAP[i].to, "stop") != 0 && !cJSON_IsNumber(v)) return fail(err, cap, "\"%s\" must be a number", MAP[i].from);
        cJSON_DeleteItemFromObjectCaseSensitive(opts, MAP[i].to);
        cJSON_AddItemToObject(opts, MAP[i].to, cJSON_Duplicate(v, true));
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(body, "n");
    if (n && !cJSON_IsNull(n) && !(cJSON_IsNumber(n) && n->valuedouble == 1))
        return fail(err, cap, "only \"n\": 1 is supported");
    return 0;
}

/* Ollama's "format" ("json" or a schema object) and OpenAI's "response_format" ({"type": "text" |
 * "json_object" | "json_schema", "json_schema": {"schema": {...}}}) into rq->format. */
static int parse_format(const cJSON *body, api_request *rq, char *err, size_t cap) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "format"), *schema = NULL;
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(body, "response_format");
    bool any = false;
    if (f && !cJSON_IsNull(f) && !(cJSON_IsString(f) && !*f->valuestring)) {
        if (cJSON_IsString(f) && strcmp(f->valuestring, "json") == 0) any = true;
        else if (cJSON_IsObject(f)) schema = f;
        else return fail(err, cap, "\"format\" must be \"json\" or a JSON schema object");
    }
    if (rf && !cJSON_IsNull(rf)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsObject(rf) || !cJSON_IsString(t))
            return fail(err, cap, "\"response_format\" must be an object with a \"type\"");
        if (strcmp(t->valuestring, "json_object") == 0) any = true;
        else if (strcmp(t->valuestring, "json_schema") == 0) {
            const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
            schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
            if (!cJSON_IsObject(schema)) return fail(err, cap, "\"response_format\".json_schema.schema must be an object");
        } else if (strcmp(t->valuestring, "text") != 0) {
            return fail(err, cap, "\"response_format\" type must be text, json_object or json_schema");
        }
    }
    if (schema) {
        if (!(rq->format = cJSON_PrintUnformatted(schema))) return fail(err, cap, "out of memory");
        ag_error e = {0};
        if (ag_json_schema_check(rq->format, &e)) return fail(err, cap, "format: %s", e.msg);
    } else if (any && !(rq->format = strdup(""))) {
        return fail(err, cap, "out of memory");
    }
    return 0;
}

bool api_parse_keep_alive(const cJSON *v, int64_t *ns) {
    if (cJSON_IsNumber(v)) {
        double sec = v->valuedouble;
        if (sec != sec) return false;
        *ns = sec < 0 ? -1 : sec > 1e9 ? INT64_MAX / 2 : (int64_t)(sec * 1e9);
        return true;
    }
    if (!cJSON_IsString(v)) return false;
    const char *p = v->valuestring;
    bool neg = *p == '-';
    if (neg) p++;
    if (!*p) return false;
    double total = 0;
    while (*p) { /* number then unit, repeated: 1h30m, 2.5s, 300ms; a bare number is seconds */
        char *end;
        double x = strtod(p, &end);
        if (end == p || x < 0 || x != x) return false;
        p = end;
        double unit = 1;
        if (strncmp(p, "ms", 2) == 0) unit = 1e-3, p += 2;
        else if (strncmp(p, "us", 2) == 0) unit = 1e-6, p += 2;
        else if (strncmp(p, "ns", 2) == 0) unit = 1e-9, p += 2;
        else if (*p == 'h') unit = 3600, p++;
        else if (*p == 'm') unit = 60, p++;
        else if (*p == 's') p++;
        else if (*p) return false;
        total += x * unit;
    }
    *ns = neg && total > 0 ? -1 : total > 1e9 ? INT64_MAX / 2 : (int64_t)(total * 1e9);
    return true;
}

static int parse_body(const cJSON *body, api_request *rq, char *err, size_t cap) {
    int rc;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (!cJSON_IsString(model) || !*model->valuestring) return fail(err, cap, "\"model\" is required");
    if (!(rq->model = strdup(model->valuestring))) return fail(err, cap, "out of memory");
    const bool openai = rq->kind >= API_OAI_CHAT;
    const bool embed = rq->kind == API_EMBED || rq->kind == API_EMBEDDINGS || rq->kind == API_OAI_EMBED;
    rq->stream = !openai && !embed; /* Ollama streams by default, OpenAI does not */
    rq->priority = embed ? PRIO_BATCH : PRIO_INTERACTIVE;
    if ((rc = opt_bool(body, "stream", &rq->stream, err, cap))) return rc;
    if (embed) rq->stream = false;
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(body, "truncate");
    if (tr && !cJSON_IsBool(tr) && !cJSON_IsNull(tr)) return fail(err, cap, "\"truncate\" must be true or false");
    rq->truncate = cJSON_IsTrue(tr);
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(body, "priority");
    if (cJSON_IsString(pr) && strcmp(pr->valuestring, "interactive") == 0) rq->priority = PRIO_INTERACTIVE;
    else if (cJSON_IsString(pr) && strcmp(pr->valuestring, "batch") == 0) rq->priority = PRIO_BATCH;
    else if (pr && !cJSON_IsNull(pr)) return fail(err, cap, "\"priority\" must be \"interactive\" or \"batch\"");
    const cJSON *ka = cJSON_GetObjectItemCaseSensitive(body, "keep_alive");
    rq->keep_alive_ns = INT64_MIN;
    if (ka && !cJSON_IsNull(ka) && !api_parse_keep_alive(ka, &rq->keep_alive_ns))
        return fail(err, cap, "\"keep_alive\" must be a number of seconds or a duration such as \"5m\"");
    /* options: Ollama's object, or OpenAI's fields */
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(body, "options");
    if (opts && !cJSON_IsNull(opts) && !cJSON_IsObject(opts)) return fail(err, cap, "\"options\" must be an object");
    rq->options = cJSON_IsObject(opts) ? cJSON_Duplicate(opts, true) : cJSON_CreateObject();
    if (!rq->options) return fail(err, cap, "out of memory");
    if (openai && (rc = map_openai(body, rq->options, err, cap))) return rc;
    if (!embed && (rc = parse_format(body, rq, err, cap))) return rc;
    if (rq->kind == API_OAI_EMBED) {
        const cJSON *ef = cJSON_GetObjectItemCaseSensitive(body, "encoding_format");
        if (cJSON_IsString(ef) && strcmp(ef->valuestring, "base64") == 0) rq->emb_base64 = true;
        else if (ef && !cJSON_IsNull(ef) && !(cJSON_IsString(ef) && strcmp(ef->valuestring, "float") == 0))
            return fail(err, cap, "\"encoding_format\" must be \"float\" or \"base64\"");
    }
    { /* check the options' types now, so that a bad value is a 400 before any work */
        gen_options g;
        gen_options_default(&g);
        st_error e = {0};
        st_status st = gen_options_apply(&g, rq->options, &e);
        gen_options_free(&g);
        if (st) return fail(err, cap, "%s", e.msg);
    }
    switch (rq->kind) {
    case API_GENERATE:
    case API_OAI_COMPLETION:
        if ((rc = opt_string(body, "prompt", &rq->prompt, err, cap))) return rc;
        if (!rq->prompt && !(rq->prompt = strdup(""))) return fail(err, cap, "out of memory");
        if (rq->kind == API_OAI_COMPLETION) {
            rq->raw = true; /* completions continue the text as it is */
            break;
        }
        if ((rc = opt_string(body, "system", &rq->system, err, cap)) ||
            (rc = opt_string(body, "template", &rq->tmpl, err, cap)) || (rc = opt_bool(body, "raw", &rq->raw, err, cap)) ||
            (rc = parse_context(body, rq, err, cap)) ||
            (rc = api_parse_images(cJSON_GetObjectItemCaseSensitive(body, "images"), rq, NULL, "", err, cap)))
            return rc;
        break;
    case API_CHAT:
    case API_OAI_CHAT:
        if ((rc = parse_messages(body, rq, err, cap)) || (rc = api_parse_tools(body, rq, err, cap))) return rc;
        break;
    case API_EMBED:
    case API_EMBEDDINGS:
    case API_OAI_EMBED:
        if ((rc = parse_inputs(body, rq, err, cap))) return rc;
        break;
    }
    if (openai) {
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
        if (so && !cJSON_IsNull(so) && (rc = opt_bool(so, "include_usage", &rq->include_usage, err, cap))) return rc;
    }
    return 0;
}

int api_parse(api_kind kind, const char *body, size_t len, api_request *rq, char *err, size_t cap) {
    memset(rq, 0, sizeof *rq);
    rq->kind = kind;
    cJSON *j = cJSON_ParseWithLength(body, len);
    int rc;
    if (!j) rc = fail(err, cap, len ? "invalid JSON in the request body" : "the request body is empty");
    else if (!cJSON_IsObject(j)) rc = fail(err, cap, "the request body must be a JSON object");
    else rc = parse_body(j, rq, err, cap);
    cJSON_Delete(j);
    if (rc) api_request_free(rq);
    return rc;
}

char *api_parse_model_name(const char *body, size_t len, const char *key2, char *err, size_t cap) {
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsString(v) && key2) v = cJSON_GetObjectItemCaseSensitive(j, key2);
    char *name = NULL;
    if (!j) fail(err, cap, len ? "invalid JSON in the request body" : "the request body is empty");
    else if (!cJSON_IsString(v) || !*v->valuestring) fail(err, cap, "\"model\" is required");
    else if (!(name = strdup(v->valuestring))) fail(err, cap, "out of memory");
    cJSON_Delete(j);
    return name;
}
