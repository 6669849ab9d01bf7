/*
 * gen.c - generation and embedding requests of both APIs, start to end: parse, find the model,
 * build the prompt and options, queue a job, then stream its text (a reader callback that
 * blocks on the job) or wait for all of it. A client that goes away cancels its job.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/gen.h"
#include "server/http.h"
#include "server/prompt.h"
#include "server/tool_calls.h"
#include "server/vision.h"

static void gen_free(gen_stream *g) {
    if (!g) return;
    job_finish(g->j);
    sched_release(g->sm, g->keep_alive_ns);
    ag_redact_stream_free(g->redact);
    ag_policy_stream_free(g->policy);
    free(g->model);
    free(g->buf);
    free(g->held);
    cJSON_Delete(g->calls);
    free(g);
}

/* The trust layer on a piece of output (the whole text when final and not streamed): the output
 * policy judges the raw text so far; what the client gets is redacted for its role. Returns the
 * text to send (malloc'd; may be ""), NULL when out of memory. Sets g->refusal when refused. */
static char *guard_output(gen_stream *g, char *text, size_t tl, bool final) {
    if (guard_has_policy(g->gd) && /* the output is judged as a whole, as it grows (incrementally) */
        !guard_output_stream_push(g->policy, text, tl, g->refusal, sizeof g->refusal))
        return strdup("");
    if (!g->redact) return strndup(text, tl);
    size_t n1 = 0, n2 = 0;
    const char *a = ag_redact_stream_push(g->redact, text, tl, &n1);
    char *out = a ? strndup(a, n1) : NULL;
    if (out && final) {
        const char *b = ag_redact_stream_finish(g->redact, &n2);
        char *both = b ? malloc(n1 + n2 + 1) : NULL;
        if (both) {
            memcpy(both, out, n1);
            memcpy(both + n1, b, n2);
            both[n1 + n2] = '\0';
        }
        free(out);
        out = both;
    }
    return out;
}

static void on_stream_end(void *cls) { gen_free(cls); }

/* A streamed answer with tools: holds text back while it may still be a tool call. Returns
 * the formatted chunk(s) to send now (malloc'd; NULL when nothing, or out of memory: *oom). */
static char *tools_chunk(gen_stream *g, const char *text, bool done, bool *oom) {
    *oom = false;
    if (g->passthrough) return text ? fmt_chunk(g, text) : NULL;
    if (text) {
        const size_t tl = strlen(text);
        char *p = realloc(g->held, g->held_len + tl + 1);
        if (!p) return *oom = true, NULL;
        memcpy(p + g->held_len, text, tl + 1);
        g->held = p;
        g->held_len += tl;
    }
    if (!g->held) return NULL;
    if (!done && tool_calls_may_start(g->held)) return NULL;
    char *content = NULL;
    if (done && (g->calls = tool_calls_parse(g->held, &content))) {
        char *out = fmt_calls_chunk(g);
        free(content);
        return out ? out : (*oom = true, NULL);
    }
    g->passthrough = true; /* not a call: what was held goes out as text */
    char *out = fmt_chunk(g, g->held);
    if (!out) *oom = true;
    return out;
}

static ssize_t on_stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    gen_stream *g = cls;
    while (g->off == g->len) {
        if (g->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        free(g->buf);
        g->buf = NULL;
        g->len = g->off = 0;
        char *text;
        size_t tl;
        bool done;
        if (job_wait(g->j, g->fd, 1000, &text, &tl, &done) < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
        if ((text || done) && (guard_has_policy(g->gd) || g->redact)) {
            char *shown = guard_output(g, text ? text : "", text ? tl : 0, done);
            free(text);
            text = shown;
            if (g->refusal[0]) done = true; /* stop here; fmt_end says why */
        }
        bool oom = false;
        char *chunk = g->tools ? tools_chunk(g, text, done, &oom) : text && *text ? fmt_chunk(g, text) : NULL;
        char *end = done && !oom ? fmt_end(g) : NULL;
        free(text);
        if (oom) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (done) g->ended = true;
        size_t lc = chunk ? strlen(chunk) : 0, le = end ? strlen(end) : 0;
        if (lc + le) {
            g->buf = malloc(lc + le + 1);
            if (!g->buf) {
                free(chunk);
                free(end);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            memcpy(g->buf, chunk ? chunk : "", lc);
            memcpy(g->buf + lc, end ? end : "", le);
            g->len = lc + le;
        }
        free(chunk);
        free(end);
    }
    size_t n = g->len - g->off < max ? g->len - g->off : max;
    memcpy(buf, g->buf + g->off, n);
    g->off += n;
    return (ssize_t)n;
}

/* Waits for the whole job; NULL text when the client went away. */
static char *wait_all(gen_stream *g, bool *gone) {
    size_t len = 0;
    char *all = calloc(1, 1);
    *gone = false;
    for (bool done = false; !done && all;) {
        char *text;
        size_t tl;
        if (job_wait(g->j, g->fd, 1000, &text, &tl, &done) < 0) {
            *gone = true;
            break;
        }
        if (!text) continue;
        char *p = realloc(all, len + tl + 1);
        if (p) {
            memcpy(p + len, text, tl + 1);
            len += tl;
        }
        all = p;
        free(text);
    }
    if (*gone) {
        free(all);
        return NULL;
    }
    return all;
}

/* Ollama's answer to a request without a prompt or messages: the model is loaded, done. */
static enum MHD_Result reply_loaded(http_req *rq, const api_request *req, double load_s) {
    const bool unload = req->keep_alive_ns == 0; /* Ollama's way to unload a model */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", req->model);
    cJSON_AddStringToObject(o, "created_at", "");
    if (req->kind == API_CHAT) {
        cJSON *m = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", "");
    } else {
        cJSON_AddStringToObject(o, "response", "");
    }
    cJSON_AddStringToObject(o, "done_reason", unload ? "unload" : "load");
    cJSON_AddBoolToObject(o, "done", true);
    cJSON_AddNumberToObject(o, "load_duration", load_s * 1e9);
    return http_reply_json(rq, 200, o);
}

/* An embedding as OpenAI's base64: the float32 values' little-endian bytes. */
static cJSON *base64_floats(const float *e, int n) {
    unsigned char *raw = malloc((size_t)n * 4), *b64 = malloc(((size_t)n * 4 + 2) / 3 * 4 + 1);
    cJSON *out = NULL;
    if (raw && b64) {
        for (int i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &e[i], 4);
            for (int k = 0; k < 4; k++) raw[4 * i + k] = (unsigned char)(u >> (8 * k));
        }
        EVP_EncodeBlock(b64, raw, n * 4);
        out = cJSON_CreateString((const char *)b64);
    }
    free(raw);
    free(b64);
    return out ? out : cJSON_CreateArray();
}

static enum MHD_Result embed_reply(http_req *rq, gen_stream *g, const api_request *req) {
    bool gone;
    char *t = wait_all(g, &gone);
    free(t);
    if (gone) return MHD_NO;
    const job_stats *st = job_get_stats(g->j);
    if (st->error[0]) return http_reply_error(rq, 500, "%s", st->error);
    cJSON *o = cJSON_CreateObject();
    int n_embd;
    if (req->kind == API_OAI_EMBED) {
        cJSON_AddStringToObject(o, "object", "list");
        cJSON *data = cJSON_AddArrayToObject(o, "data");
        for (int i = 0; i < req->n_inputs; i++) {
            const float *e = job_embedding(g->j, i, &n_embd);
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "object", "embedding");
            cJSON_AddItemToObject(d, "embedding", !e ? cJSON_CreateArray()
                                                  : req->emb_base64 ? base64_floats(e, n_embd)
                                                                    : cJSON_CreateFloatArray(e, n_embd));
            cJSON_AddNumberToObject(d, "index", i);
            cJSON_AddItemToArray(data, d);
        }
        cJSON_AddStringToObject(o, "model", req->model);
        cJSON *u = cJSON_AddObjectToObject(o, "usage");
        cJSON_AddNumberToObject(u, "prompt_tokens", st->prompt_n);
        cJSON_AddNumberToObject(u, "total_tokens", st->prompt_n);
    } else if (req->kind == API_EMBEDDINGS) {
        const float *e = job_embedding(g->j, 0, &n_embd);
        cJSON_AddItemToObject(o, "embedding", e ? cJSON_CreateFloatArray(e, n_embd) : cJSON_CreateArray());
    } else {
        cJSON_AddStringToObject(o, "model", req->model);
        cJSON *arr = cJSON_AddArrayToObject(o, "embeddings");
        for (int i = 0; i < req->n_inputs; i++) {
            const float *e = job_embedding(g->j, i, &n_embd);
            cJSON_AddItemToArray(arr, e ? cJSON_CreateFloatArray(e, n_embd) : cJSON_CreateArray());
        }
        cJSON_AddNumberToObject(o, "total_duration", (double)(sched_now_ns() - g->t0));
        cJSON_AddNumberToObject(o, "load_duration", (double)(int64_t)(g->load_s * 1e9));
        cJSON_AddNumberToObject(o, "prompt_eval_count", st->prompt_n);
    }
    return http_reply_json(rq, 200, o);
}

/* The job of an embedding request: each input tokenized (empty texts are an error). */
static int embed_job(const api_request *req, const ag_model *m, job **out, char *err, size_t cap) {
    int n = req->n_inputs;
    ag_token **toks = calloc((size_t)(n ? n : 1), sizeof *toks);
    int *lens = calloc((size_t)(n ? n : 1), sizeof *lens);
    int status = toks && lens ? 0 : 500;
    for (int i = 0; status == 0 && i < n; i++) {
        toks[i] = prompt_tokenize(m, req->inputs[i], true, false, &lens[i]);
        if (!toks[i]) status = 500;
        else if (lens[i] == 0) {
            snprintf(err, cap, "input %d is empty", i);
            status = 400;
        }
    }
    if (status == 0 && !(*out = job_new_embed(toks, lens, n, req->priority))) status = 500;
    if (status == 500) snprintf(err, cap, "out of memory");
    for (int i = 0; toks && i < n; i++) free(toks[i]);
    free(toks);
    free(lens);
    return status;
}

enum MHD_Result gen_handle(http_req *rq, api_kind kind) {
    char err[512] = "";
    api_request req;
    int status = api_parse(kind, rq->body, rq->len, &req, err, sizeof err);
    if (status) return http_reply_error(rq, (unsigned)status, "%s", err);
    gen_stream *g = calloc(1, sizeof *g);
    if (!g || !(g->model = strdup(req.model))) {
        free(g);
        api_request_free(&req);
        return http_reply_error(rq, 500, "out of memory");
    }
    g->kind = kind;
    g->t0 = rq->t0;
    g->fd = rq->fd;
    g->created = (int64_t)time(NULL);
    g->include_usage = req.include_usage;
    g->keep_alive_ns = req.keep_alive_ns;
    g->gd = rq->srv->guard;
    g->energy = rq->srv->energy; /* read again at the final stats (format.c) */
    g->metrics = rq->srv->metrics;
    g->who = rq->guard;
    g->who.prompt = NULL;
    g->policy = guard_output_stream_new(g->gd, &g->who); /* NULL without a policy */
    const ag_redactor *red = guard_redactor(g->gd, rq->guard.role);
    if (red && !(g->redact = ag_redact_stream_new(red))) {
        gen_free(g);
        api_request_free(&req);
        return http_reply_error(rq, 500, "out of memory");
    }
    g->tools = req.tools && !req.tools_off;
    snprintf(g->id, sizeof g->id, "%s-%lx%04x", kind == API_OAI_CHAT ? "chatcmpl" : "cmpl", (unsigned long)time(NULL),
             (unsigned)(sched_now_ns() & 0xffff));
    enum MHD_Result r;
    status = sched_acquire(rq->srv->sched, req.model, &g->sm, &g->load_s, err, sizeof err);
    g->joules0 = ag_energy_joules(g->energy); /* from here: a first request's model load is not counted */
    g->gpu_joules0 = ag_energy_gpu_joules(g->energy);
    const bool embed = kind == API_EMBED || kind == API_EMBEDDINGS || kind == API_OAI_EMBED;
    if (!status && req.n_images > 0)
        status = vision_check(sched_model_manifest(g->sm), req.model, err, sizeof err);
    if (status) {
        r = http_reply_error(rq, (unsigned)status, "%s", err);
        gen_free(g);
    } else if (!embed && !req.raw && req.kind != API_OAI_CHAT && req.kind != API_OAI_COMPLETION &&
               ((kind == API_GENERATE && !*req.prompt && !req.n_context && !req.n_images) || (kind == API_CHAT && !cJSON_GetArraySize(req.messages)))) {
        r = reply_loaded(rq, &req, g->load_s);
        gen_free(g);
    } else {
        const ag_model *m = sched_model_model(g->sm);
        const store_manifest *man = sched_model_manifest(g->sm);
        if (embed) {
            status = embed_job(&req, m, &g->j, err, sizeof err);
        } else {
            gen_options opts;
            ag_token *toks = NULL;
            int n = 0;
            status = prompt_options(&req, man, &opts, err, sizeof err);
            const int cap_tokens = rq->guard.max_tokens; /* the policy's limit */
            if (!status && cap_tokens > 0 && (opts.num_predict < 0 || opts.num_predict > cap_tokens)) opts.num_predict = cap_tokens;
            if (!status && req.format && !(opts.format = strdup(req.format))) status = 500, snprintf(err, sizeof err, "out of memory");
            int order[API_MAX_IMAGES], n_img_tok = 0, n_patches = req.n_images;
            const ag_vision *vis = sched_model_vision(g->sm);
            for (int i = 0; !status && vis && i < req.n_context; i++) /* the images are not in "context" */
                if (req.context[i] == ag_vision_image_token(vis))
                    status = 400, snprintf(err, sizeof err, "\"context\" holds image tokens: send the images again (the images of a previous answer are not kept)");
            ag_image_patches *patches = NULL;
            if (!status && !(status = prompt_tokens(&req, m, man, order, &toks, &n, err, sizeof err)) && req.n_images > 0) {
                ag_token *expanded = NULL; /* each image's placeholder becomes its tokens */
                ag_vision *v = sched_model_vision(g->sm);
                status = vision_preprocess(v, req.images, order, req.n_images, &patches, err, sizeof err);
                if (!status && !(status = vision_expand(v, patches, req.n_images, toks, n, &expanded, &n, &n_img_tok, err, sizeof err))) {
                    free(toks);
                    toks = expanded;
                }
            }
            if (!status) {
                const int n_ctx = sched_model_ctx(g->sm, opts.num_ctx);
                const ag_token img = n_img_tok ? ag_vision_image_token(sched_model_vision(g->sm)) : -1;
                char images[96] = "";
                if (n_img_tok) snprintf(images, sizeof images, " (%d of them for %d image(s))", n_img_tok, req.n_images);
                const int room = opts.num_predict > 0 && opts.num_predict < n_ctx / 2 ? opts.num_predict : n_ctx / 4;
                const int keep = n_ctx - (room > 1 ? room : 1), cut = n - keep;
                if (n == 0) status = 400, snprintf(err, sizeof err, "the prompt is empty");
                else if (n >= n_ctx && !req.truncate)
                    status = 400, snprintf(err, sizeof err, "the prompt is %d tokens%s, the context %d (set \"truncate\": true to keep its newest tokens, or raise num_ctx)", n, images, n_ctx);
                else if (n >= n_ctx && n_img_tok && toks[cut] == img && toks[cut - 1] == img) /* never inside an image */
                    status = 400, snprintf(err, sizeof err, "the prompt is %d tokens%s, the context %d, and keeping its newest %d tokens would cut an image (raise num_ctx)", n, images, n_ctx, keep);
                else if (n >= n_ctx) { /* keep the newest tokens, with room for the answer */
                    g->truncated = cut;
                    int dropped = 0; /* whole images before the cut go with it */
                    for (int i = 0; i < cut; i++) dropped += toks[i] == img && (i == 0 || toks[i - 1] != img);
                    if (dropped > 0) {
                        for (int k = 0; k < dropped; k++) ag_image_patches_free(&patches[k]);
                        memmove(patches, patches + dropped, (size_t)(n_patches - dropped) * sizeof *patches);
                        n_patches -= dropped;
                    }
                    memmove(toks, toks + cut, (size_t)keep * sizeof *toks);
                    n = keep;
                }
                if (status) { /* reported below */
                } else if (!(g->j = job_new_generate(toks, n, &opts, req.priority))) status = 500, snprintf(err, sizeof err, "out of memory");
                else if (n_img_tok) {
                    ag_image_patches *given = patches; /* the job owns them now, even when it fails */
                    patches = NULL;
                    if (!job_set_images(g->j, given, n_patches, img)) status = 500, snprintf(err, sizeof err, "out of memory");
                }
            }
            if (patches) vision_patches_free(patches, n_patches);
            gen_options_free(&opts); /* what the job did not take */
            free(toks);
        }
        if (!status && sched_submit(g->sm, g->j) != 0) {
            status = 503;
            snprintf(err, sizeof err, "server busy, please try again (the queue of '%s' is full)", req.model);
            job_finish(g->j);
            g->j = NULL;
        }
        if (!status) /* queued: nothing may be sent for longer than the idle timeout (MHD would then
                        close the connection); a client that goes away is seen by job_wait */
            MHD_set_connection_option(rq->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        if (status) {
            r = http_reply_error(rq, (unsigned)status, "%s", err);
            gen_free(g);
        } else if (embed) {
            r = embed_reply(rq, g, &req);
            gen_free(g);
        } else if (req.stream) {
            r = http_reply_stream(rq, kind >= API_OAI_CHAT ? "text/event-stream" : "application/x-ndjson",
                                  on_stream_read, on_stream_end, g);
        } else {
            bool gone;
            char *text = wait_all(g, &gone);
            if (gone) r = MHD_NO;
            else if (!text) r = http_reply_error(rq, 500, "out of memory");
            else if (job_get_stats(g->j)->error[0]) r = http_reply_error(rq, 500, "%s", job_get_stats(g->j)->error);
            else {
                char *shown = guard_has_policy(g->gd) || g->redact ? guard_output(g, text, strlen(text), true) : NULL;
                char *content = NULL;
                if (g->refusal[0]) r = http_reply_error(rq, 403, "%s", g->refusal);
                else {
                    if (g->tools) g->calls = tool_calls_parse(shown ? shown : text, &content);
                    r = http_reply_json(rq, 200, fmt_full(g, content ? content : shown ? shown : text));
                }
                free(content);
                free(shown);
            }
            free(text);
            gen_free(g);
        }
    }
    api_request_free(&req);
    return r;
}
