/*
 * routes_kb.c - knowledge bases and summaries over HTTP, on include/autoglm/kb.h:
 *   GET  /api/kb                 the caller's bases                       (reader)
 *   POST /api/kb/create          {"name", "embed_model"?, "rerank_model"?, "dense_weight"?} (user)
 *   POST /api/kb/add             {"name", "files": [{"filename", "content" (base64)}]}  (user)
 *   POST /api/kb/remove          {"name", "path"}                         (user)
 *   POST /api/kb/query           {"name", "query", "k"?, "mode"?, "rerank"?, "dense_weight"?}  (reader)
 *   POST /api/kb/ask             {"name", "question", "model", "k"?, "rerank"?, "dense_weight"?}  (user)
 * "rerank": a reranker model for this query ("" = none); absent = the one stored at create.
 * "dense_weight": the hybrid fusion's weight of the dense ranking, a number from 0 to 1000 or
 * "auto"; absent = the base's setting (create: automatic).
 *   POST /api/summarize          {"text" | "filename"+"content", "model"?, "extractive"?, "max_length"?, "min_length"?}
 * With API keys on, a caller's bases are those of its key's tenant ($AUTOGLM_KB/@TENANT/NAME):
 * another tenant's base is simply not there (404). Uploaded files are kept in the base's folder
 * (files/, names reduced to their last component). A base is opened per request (an ag_kb
 * belongs to one thread). Answers and summaries go through the caller's redaction.
 * The answering model of /ask and /summarize, a reranker and the base's embedding model that are
 * models of the store run on the scheduler's loaded models (model_jobs.h: loaded once, kept as keep_alive says, in /api/ps); a
 * reranker or embedding model given by a path outside the store is loaded by the base's handle.
 */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoglm/kb.h"
#include "server/http.h"
#include "server/model_jobs.h"

#define KB_MAX_HITS 50

static const char *tenant_of(const http_req *rq) { return rq->guard.authed ? rq->guard.key.tenant : NULL; }

/* The base's folder for this caller (created when asked); NULL after replying with an error. */
static char *base_dir(http_req *rq, const char *name, bool create, enum MHD_Result *r) {
    char *root = ag_kb_root();
    char *dir = root && ag_kb_valid_name(name) ? ag_kb_dir(root, tenant_of(rq), name, create) : NULL;
    free(root);
    if (!dir) *r = http_reply_error(rq, 400, "invalid knowledge base name '%.100s' (letters, digits, '-', '_', '.')", name ? name : "");
    return dir;
}

/* The store's name of the model file at path (into name), so that the scheduler can hold it. */
static bool store_name_of(const char *root, const char *path, char *name, size_t cap) {
    store_manifest *all = NULL;
    int n = 0;
    st_error se = {0};
    bool found = false;
    if (root && store_list(root, &all, &n, &se) == ST_OK)
        for (int i = 0; i < n; i++) {
            if (!found && all[i].path && strcmp(all[i].path, path) == 0) {
                snprintf(name, cap, "%s", all[i].name);
                found = true;
            }
            store_manifest_free(&all[i]);
        }
    free(all);
    return found;
}

/* The base's embedding model lent from the scheduler (when it is a model of the store): acquired
 * at the handle's first need, released by lent_release after ag_kb_close. */
typedef struct {
    http_req *rq;
    char model[STORE_NAME_MAX];
    sched_model *sm;
    int priority;
} lent_embedder;

static const ag_model *lend_model(void *ctx, ag_error *err) {
    lent_embedder *c = ctx;
    char msg[512] = "";
    double load_s;
    const int status = c->sm ? 0 : sched_acquire(c->rq->srv->sched, c->model, &c->sm, &load_s, msg, sizeof msg);
    if (status == 0) return sched_model_model(c->sm);
    if (err) {
        err->code = status == 507 ? AG_ERR_NOMEM : AG_ERR_IO;
        snprintf(err->msg, sizeof err->msg, "embedding model '%.100s': %.380s", c->model, msg);
    }
    return NULL;
}

static ag_status embed_on_sched(void *ctx, const ag_token *const *tokens, const int *n_tokens, int n, float *out,
                                ag_error *err) {
    lent_embedder *c = ctx;
    char msg[512] = "";
    const int dim = ag_model_n_embd(sched_model_model(c->sm));
    const int status = model_job_embed(c->sm, tokens, n_tokens, n, c->priority, c->rq->fd, out, dim, msg, sizeof msg);
    if (status == 0) return AG_OK;
    if (err) {
        err->code = AG_ERR_IO;
        snprintf(err->msg, sizeof err->msg, "embedding model '%.100s': %.380s", c->model, msg);
    }
    return AG_ERR_IO;
}

/* Lends the base's embedding model from the scheduler when it is a model of the store (else the
 * handle loads it itself, as the CLI does). */
static void lend_embedder(http_req *rq, ag_kb *kb, lent_embedder *c, int priority) {
    *c = (lent_embedder){.rq = rq, .priority = priority};
    if (!kb || !*ag_kb_embed_model(kb) ||
        !store_name_of(rq->srv->cfg.sched.store_root, ag_kb_embed_model(kb), c->model, sizeof c->model))
        return;
    ag_kb_embedder_hooks h = {lend_model, embed_on_sched, c};
    ag_kb_set_embedder_hooks(kb, &h);
}

static void lent_release(lent_embedder *c) { sched_release(c->sm, KEEP_ALIVE_DEFAULT); }

/* Opens the caller's base NAME; NULL after replying 404 (absent) or 500. */
static ag_kb *open_base(http_req *rq, const char *name, enum MHD_Result *r) {
    char *dir = base_dir(rq, name, false, r);
    if (!dir) return NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/kb.sqlite", dir);
    free(dir);
    if (access(path, F_OK) != 0) {
        *r = http_reply_error(rq, 404, "knowledge base '%s' not found", name);
        return NULL;
    }
    ag_error err = {0};
    ag_kb *kb = ag_kb_open(path, &err);
    if (!kb) *r = http_reply_error(rq, 500, "%s", err.msg);
    return kb;
}

static cJSON *parse_body(http_req *rq, enum MHD_Result *r) {
    cJSON *root = cJSON_ParseWithLength(rq->body, rq->len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        *r = http_reply_error(rq, 400, "invalid JSON: expected an object");
        return NULL;
    }
    return root;
}

static const char *str_field(const cJSON *o, const char *key) { return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key)); }

/* "dense_weight": absent (false, *w untouched), "auto" (*w = -1) or 0..1000; replies 400 when
 * it is something else (*bad set). */
static bool dense_weight_field(http_req *rq, const cJSON *body, double *w, bool *bad, enum MHD_Result *r) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(body, "dense_weight");
    *bad = false;
    if (!j) return false;
    if (cJSON_IsString(j) && strcmp(j->valuestring, "auto") == 0) *w = -1.0;
    else if (cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble <= 1000) *w = j->valuedouble;
    else {
        *bad = true;
        *r = http_reply_error(rq, 400, "\"dense_weight\" must be \"auto\" or a number from 0 to 1000");
        return false;
    }
    return true;
}

/* A model of the store (or a path) for the knowledge base; NULL = none. Replies on failure. */
static bool resolve_model(http_req *rq, const char *name, char **path, enum MHD_Result *r) {
    *path = NULL;
    if (!name || !*name) return true;
    store_manifest man;
    st_error se = {0};
    if (store_resolve(rq->srv->cfg.sched.store_root, name, &man, &se)) {
        *r = http_reply_error(rq, 404, "model '%s' not found", name);
        return false;
    }
    *path = strdup(man.path);
    store_manifest_free(&man);
    return true;
}

/* Text the caller may see: its redaction applied. malloc'd. */
static char *shown(const http_req *rq, const char *text) {
    const ag_redactor *red = guard_redactor(rq->srv->guard, rq->guard.role);
    return red ? ag_redact_text(red, text, strlen(text), NULL) : strdup(text);
}

enum MHD_Result route_kb_list(http_req *rq) {
    char *root = ag_kb_root();
    const char *tenant = tenant_of(rq);
    char dir[4200];
    if (root) {
        if (tenant && *tenant) snprintf(dir, sizeof dir, "%s/@%s", root, tenant);
        else snprintf(dir, sizeof dir, "%s", root);
    }
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "knowledge_bases");
    DIR *d = root ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char db[4600];
        if (!ag_kb_valid_name(e->d_name)) continue;
        snprintf(db, sizeof db, "%s/%s/kb.sqlite", dir, e->d_name);
        if (access(db, F_OK) == 0) cJSON_AddItemToArray(arr, cJSON_CreateString(e->d_name));
    }
    if (d) closedir(d);
    free(root);
    return http_reply_json(rq, 200, o);
}

enum MHD_Result route_kb_create(http_req *rq) {
    enum MHD_Result r = MHD_NO;
    cJSON *body = parse_body(rq, &r);
    if (!body) return r;
    char *model = NULL, *rerank = NULL, *dir = NULL;
    double w = -1.0;
    bool bad;
    const bool fixed = dense_weight_field(rq, body, &w, &bad, &r) && w >= 0;
    if (!bad && resolve_model(rq, str_field(body, "embed_model"), &model, &r) &&
        resolve_model(rq, str_field(body, "rerank_model"), &rerank, &r) && (dir = base_dir(rq, str_field(body, "name"), true, &r))) {
        char path[4200];
        snprintf(path, sizeof path, "%s/kb.sqlite", dir);
        ag_error err = {0};
        ag_kb_params p = {.embed_model = model, .rerank_model = rerank, .fixed_dense_weight = fixed, .dense_weight = fixed ? w : 0};
        if (ag_kb_create(path, &p, &err) != AG_OK)
            r = http_reply_error(rq, access(path, F_OK) == 0 ? 409 : 500, "%s", err.msg);
        else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "status", "created");
            r = http_reply_json(rq, 200, o);
        }
    }
    free(model);
    free(rerank);
    free(dir);
    cJSON_Delete(body);
    return r;
}

/* Standard base64 (with padding) -> bytes (malloc'd, *len); NULL when it is not base64. */
static unsigned char *b64_decode(const char *b64, size_t *len) {
    size_t n = strlen(b64);
    unsigned char *data = n % 4 == 0 ? malloc(n / 4 * 3 + 4) : NULL;
    int got = data ? EVP_DecodeBlock(data, (const unsigned char *)b64, (int)n) : -1;
    if (got < 0) {
        free(data);
        return NULL;
    }
    while (n > 0 && b64[n - 1] == '=') n--, got--; /* EVP_DecodeBlock counts the padding as zeros */
    *len = (size_t)got;
    return data;
}

/* Writes one uploaded file into DIR/files/; returns its path (malloc'd) or NULL with why. */
static char *save_upload(const char *dir, const cJSON *file, char *why, size_t cap) {
    const char *name = str_field(file, "filename"), *b64 = str_field(file, "content");
    if (!name || !b64) {
        snprintf(why, cap, "each file needs \"filename\" and \"content\" (base64)");
        return NULL;
    }
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (!*base || base[0] == '.' || strlen(base) > 200) {
        snprintf(why, cap, "bad file name '%.100s'", name);
        return NULL;
    }
    size_t len = 0;
    unsigned char *data = b64_decode(b64, &len);
    if (!data) {
        snprintf(why, cap, "'%.100s': content is not base64", base);
        return NULL;
    }
    char folder[4200], *path = malloc(4400);
    snprintf(folder, sizeof folder, "%s/files", dir);
    mkdir(folder, 0700);
    if (path) snprintf(path, 4400, "%s/%s", folder, base);
    FILE *f = path ? fopen(path, "wb") : NULL;
    bool ok = f && fwrite(data, 1, len, f) == len;
    if (f) ok = fclose(f) == 0 && ok;
    free(data);
    if (!ok) {
        snprintf(why, cap, "'%.100s': cannot store it", base);
        free(path);
        return NULL;
    }
    return path;
}

typedef struct {
    cJSON *files;
} add_report;

static void on_file(void *ctx, const char *path, const char *what, const ag_error *file_err) {
    add_report *rep = ctx;
    cJSON *o = cJSON_CreateObject();
    const char *base = strrchr(path, '/');
    cJSON_AddStringToObject(o, "file", base ? base + 1 : path);
    if (file_err && file_err->code) cJSON_AddStringToObject(o, "error", file_err->msg);
    else cJSON_AddStringToObject(o, "status", what);
    cJSON_AddItemToArray(rep->files, o);
}

enum MHD_Result route_kb_add(http_req *rq) {
    enum MHD_Result r = MHD_NO;
    cJSON *body = parse_body(rq, &r);
    if (!body) return r;
    const char *name = str_field(body, "name");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(body, "files");
    ag_kb *kb = NULL;
    char *dir = NULL;
    lent_embedder lent = {0};
    if (!cJSON_IsArray(files) || cJSON_GetArraySize(files) == 0) r = http_reply_error(rq, 400, "\"files\" must be a non-empty list");
    else if ((kb = open_base(rq, name, &r)) && (dir = base_dir(rq, name, false, &r))) {
        lend_embedder(rq, kb, &lent, PRIO_BATCH);
        int n = cJSON_GetArraySize(files), k = 0;
        char **paths = calloc((size_t)n, sizeof *paths), why[256] = "";
        const cJSON *f;
        cJSON_ArrayForEach(f, files) {
            if (!paths || !(paths[k] = save_upload(dir, f, why, sizeof why))) break;
            k++;
        }
        if (k < n) r = http_reply_error(rq, 400, "%s", why[0] ? why : "out of memory");
        else {
            add_report rep = {cJSON_CreateArray()};
            ag_kb_add_callbacks cb = {on_file, &rep};
            ag_kb_add_stats st = {0};
            ag_error err = {0};
            if (ag_kb_add(kb, (const char *const *)paths, n, &cb, &st, &err) != AG_OK) {
                cJSON_Delete(rep.files);
                r = http_reply_error(rq, 500, "%s", err.msg);
            } else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "files", rep.files);
                cJSON_AddNumberToObject(o, "chunks_added", st.chunks_added);
                cJSON_AddNumberToObject(o, "chunks_embedded", st.chunks_embedded);
                cJSON_AddNumberToObject(o, "files_failed", st.files_failed);
                r = http_reply_json(rq, 200, o);
            }
        }
        for (int i = 0; paths && i < k; i++) free(paths[i]);
        free(paths);
    }
    free(dir);
    ag_kb_close(kb);
    lent_release(&lent);
    cJSON_Delete(body);
    return r;
}

enum MHD_Result route_kb_remove(http_req *rq) {
    enum MHD_Result r = MHD_NO;
    cJSON *body = parse_body(rq, &r);
    if (!body) return r;
    ag_kb *kb = open_base(rq, str_field(body, "name"), &r);
    const char *file = str_field(body, "path");
    if (kb && !file) r = http_reply_error(rq, 400, "\"path\" is required");
    else if (kb) {
        char *dir = base_dir(rq, str_field(body, "name"), false, &r), full[4600];
        const char *base = strrchr(file, '/');
        snprintf(full, sizeof full, "%s/files/%s", dir ? dir : "", base ? base + 1 : file);
        int n = 0;
        ag_error err = {0};
        if (dir && ag_kb_remove(kb, full, &n, &err) != AG_OK) r = http_reply_error(rq, 500, "%s", err.msg);
        else if (dir) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "removed", n);
            r = http_reply_json(rq, n ? 200 : 404, o);
        }
        free(dir);
    }
    ag_kb_close(kb);
    cJSON_Delete(body);
    return r;
}

/* The hits as JSON sources [{n, source, page, heading, score, text}] (text redacted for the caller). */
static cJSON *sources_json(const http_req *rq, const ag_kb_hit *hits, int n) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        const char *base = strrchr(hits[i].path, '/');
        char *text = shown(rq, hits[i].text);
        cJSON_AddNumberToObject(o, "n", i + 1);
        cJSON_AddStringToObject(o, "source", base ? base + 1 : hits[i].path);
        cJSON_AddNumberToObject(o, "page", hits[i].page);
        cJSON_AddStringToObject(o, "heading", hits[i].heading ? hits[i].heading : "");
        cJSON_AddNumberToObject(o, "score", hits[i].score);
        cJSON_AddStringToObject(o, "text", text ? text : "");
        free(text);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

typedef struct {
    http_req *rq;
    char model[STORE_NAME_MAX];
} kb_rerank_ctx;

/* ag_kb_rerank_fn: the base's reranker as a job on the scheduler's loaded model. */
static ag_status rerank_on_sched(void *ctx, const char *query, const char *const *texts, int n, float *scores, ag_error *err) {
    kb_rerank_ctx *c = ctx;
    char msg[512] = "";
    const int status = model_job_rerank(c->rq->srv->sched, c->model, query, texts, n, c->rq->fd, scores, msg, sizeof msg);
    if (status == 0) return AG_OK;
    const ag_status code = status == 400 ? AG_ERR_INVALID_ARG : status == 507 ? AG_ERR_NOMEM : AG_ERR_IO;
    if (err) {
        err->code = code;
        snprintf(err->msg, sizeof err->msg, "reranker '%.100s': %.380s", c->model, msg);
    }
    return code;
}

/* Runs the query of a /query or /ask body; returns the hit count or -1 after replying. */
static int query_body(http_req *rq, ag_kb *kb, const cJSON *body, const char *question, ag_kb_hit **hits, enum MHD_Result *r) {
    const cJSON *jk = cJSON_GetObjectItemCaseSensitive(body, "k");
    const char *mode_name = str_field(body, "mode");
    int k = cJSON_IsNumber(jk) ? (int)jk->valuedouble : 5;
    int mode = mode_name ? ag_kb_mode_from_name(mode_name) : AG_KB_HYBRID;
    if (!question || !*question || k < 1 || k > KB_MAX_HITS || mode < 0) {
        *r = http_reply_error(rq, 400, "need a question, k in 1..%d and mode bm25|dense|hybrid", KB_MAX_HITS);
        return -1;
    }
    double w;
    bool bad;
    if (dense_weight_field(rq, body, &w, &bad, r)) ag_kb_set_dense_weight(kb, w);
    if (bad) return -1;
    const char *rerank_name = str_field(body, "rerank");
    char *rerank = NULL;
    if (rerank_name && !resolve_model(rq, rerank_name, &rerank, r)) return -1;
    ag_error err = {0};
    if (rerank_name && ag_kb_set_reranker(kb, rerank ? rerank : "", &err) != AG_OK) {
        free(rerank);
        *r = http_reply_error(rq, 500, "%s", err.msg);
        return -1;
    }
    free(rerank);
    kb_rerank_ctx rc = {.rq = rq};
    if (*ag_kb_reranker(kb) && store_name_of(rq->srv->cfg.sched.store_root, ag_kb_reranker(kb), rc.model, sizeof rc.model))
        ag_kb_set_rerank_fn(kb, rerank_on_sched, &rc);
    int n = ag_kb_query(kb, question, k, (ag_kb_mode)mode, hits, &err);
    ag_kb_set_rerank_fn(kb, NULL, NULL); /* rc lives on this stack */
    if (n < 0) *r = http_reply_error(rq, 500, "%s", err.msg);
    return n;
}

enum MHD_Result route_kb_query(http_req *rq) {
    enum MHD_Result r = MHD_NO;
    cJSON *body = parse_body(rq, &r);
    if (!body) return r;
    ag_kb *kb = open_base(rq, str_field(body, "name"), &r);
    lent_embedder lent;
    lend_embedder(rq, kb, &lent, PRIO_INTERACTIVE);
    ag_kb_hit *hits = NULL;
    int n = kb ? query_body(rq, kb, body, str_field(body, "query"), &hits, &r) : -1;
    if (n >= 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "results", sources_json(rq, hits, n));
        r = http_reply_json(rq, 200, o);
        ag_kb_hits_free(hits, n);
    }
    ag_kb_close(kb);
    lent_release(&lent);
    cJSON_Delete(body);
    return r;
}

/* The model's answer from the first `used` sources, the lowest-ranked dropped while the prompt
 * does not fit its context. Returns 0 or an HTTP status (499: the client went away). */
static int answer_from(http_req *rq, sched_model *sm, const char *question, const ag_kb_hit *hits, int n, char **answer,
                       char *err, size_t cap) {
    const int limit = rq->guard.max_tokens; /* the policy's limit */
    const int max_tokens = limit > 0 && limit < 256 ? limit : 256;
    int status = 500;
    for (int used = n; used >= 0; used--) { /* no hits: the question alone (the model says it has no source) */
        char *prompt = ag_kb_ask_prompt(question, hits, used);
        status = prompt ? model_job_answer(sm, prompt, max_tokens, rq->fd, answer, err, cap) : 500;
        if (!prompt) snprintf(err, cap, "out of memory");
        free(prompt);
        if (status != 413) break;
    }
    return status == 413 ? 400 : status; /* not even the question fits */
}

enum MHD_Result route_kb_ask(http_req *rq) {
    enum MHD_Result r = MHD_NO;
    cJSON *body = parse_body(rq, &r);
    if (!body) return r;
    const char *question = str_field(body, "question"), *model = str_field(body, "model");
    ag_kb *kb = NULL;
    lent_embedder lent = {0};
    ag_kb_hit *hits = NULL;
    int n = -1;
    if (!model || !*model) r = http_reply_error(rq, 400, "\"model\" is required");
    else if ((kb = open_base(rq, str_field(body, "name"), &r))) {
        lend_embedder(rq, kb, &lent, PRIO_INTERACTIVE);
        n = query_body(rq, kb, body, question, &hits, &r);
    }
    sched_model *sm = NULL;
    char err[512] = "";
    double load_s;
    int status = n >= 0 ? sched_acquire(rq->srv->sched, model, &sm, &load_s, err, sizeof err) : -1;
    if (status > 0) r = http_reply_error(rq, (unsigned)status, "%s", err);
    else if (status == 0) {
        char *answer = NULL;
        status = answer_from(rq, sm, question, hits, n, &answer, err, sizeof err);
        char *visible = answer ? shown(rq, answer) : NULL;
        char why[256];
        if (status == 499) r = MHD_NO; /* the client went away */
        else if (status) r = http_reply_error(rq, (unsigned)status, "%s", err);
        else if (!visible) r = http_reply_error(rq, 500, "out of memory");
        else if (!guard_output_ok(rq->srv->guard, &rq->guard, answer, why, sizeof why)) r = http_reply_error(rq, 403, "%s", why);
        else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "answer", visible);
            cJSON_AddItemToObject(o, "sources", sources_json(rq, hits, n));
            r = http_reply_json(rq, 200, o);
        }
        free(visible);
        free(answer);
        sched_release(sm, KEEP_ALIVE_DEFAULT);
    }
    if (n >= 0) ag_kb_hits_free(hits, n);
    ag_kb_close(kb);
    lent_release(&lent);
    cJSON_Delete(body);
    return r;
}

typedef struct {
    http_req *rq;
    sched_model *sm;
    int status; /* the first failure's HTTP status (499: the client went away) */
} summary_gen;

/* ag_generate_fn: one part's summary as a job on the loaded model. */
static char *generate_on_sched(void *ctx, const char *user_text, int max_tokens, ag_error *err) {
    summary_gen *g = ctx;
    char *answer = NULL, msg[512] = "";
    const int status = model_job_answer(g->sm, user_text, max_tokens, g->rq->fd, &answer, msg, sizeof msg);
    if (status == 0) return answer;
    if (!g->status) g->status = status;
    if (err) {
        err->code = status == 413 ? AG_ERR_CONTEXT_FULL : AG_ERR_IO;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    return NULL;
}

enum MHD_Result route_summarize(http_req *rq) {
    enum MHD_Result r = MHD_NO;
    cJSON *body = parse_body(rq, &r);
    if (!body) return r;
    const char *text = str_field(body, "text"), *fname = str_field(body, "filename"), *content = str_field(body, "content");
    const cJSON *jmax = cJSON_GetObjectItemCaseSensitive(body, "max_length");
    const cJSON *jmin = cJSON_GetObjectItemCaseSensitive(body, "min_length");
    const bool extractive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "extractive")) || !str_field(body, "model");
    ag_summary_params sp = {.max_length = cJSON_IsNumber(jmax) ? (int)jmax->valuedouble : 0,
                            .min_length = cJSON_IsNumber(jmin) ? (int)jmin->valuedouble : 0};
    ag_doc doc = {0};
    char *owned = NULL;
    ag_error err = {0};
    if (!text && fname && content) { /* a document: parsed as its extension says */
        size_t len = 0;
        unsigned char *data = b64_decode(content, &len);
        if (data && ag_doc_parse_buffer(ag_doc_kind_from_path(fname), data, len, &doc, &err) == AG_OK)
            text = owned = strdup(doc.text ? doc.text : "");
        else if (!err.msg[0]) snprintf(err.msg, sizeof err.msg, "content is not base64");
        free(data);
    }
    if (!text) r = http_reply_error(rq, 400, "%s", err.msg[0] ? err.msg : "need \"text\", or \"filename\" and \"content\" (base64)");
    else if (sp.max_length < 0 || sp.min_length < 0) r = http_reply_error(rq, 400, "max_length and min_length must not be negative");
    else {
        const char *model = str_field(body, "model");
        summary_gen g = {.rq = rq};
        char msg[512] = "";
        double load_s;
        const int acquired = extractive ? 0
                             : !*model  ? (snprintf(msg, sizeof msg, "\"model\" is required"), 400)
                                        : sched_acquire(rq->srv->sched, model, &g.sm, &load_s, msg, sizeof msg);
        if (acquired) r = http_reply_error(rq, (unsigned)acquired, "%s", msg);
        char *summary = acquired ? NULL
                        : extractive
                            ? ag_summarize_extractive(text, strlen(text), &sp, &err)
                            : ag_summarize_model_with(sched_model_model(g.sm), sched_model_ctx(g.sm, 0), generate_on_sched, &g,
                                                      text, strlen(text), &sp, &err);
        if (summary) {
            char *visible = shown(rq, summary);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "summary", visible ? visible : "");
            cJSON_AddStringToObject(o, "method", extractive ? "extractive" : "model");
            r = http_reply_json(rq, 200, o);
            free(visible);
        } else if (g.status == 499) {
            r = MHD_NO; /* the client went away */
        } else if (!acquired) {
            r = http_reply_error(rq, g.status == 413 ? 400 : g.status ? (unsigned)g.status : 500, "%s", err.msg);
        }
        free(summary);
        sched_release(g.sm, KEEP_ALIVE_DEFAULT);
    }
    ag_doc_free(&doc);
    free(owned);
    cJSON_Delete(body);
    return r;
}
