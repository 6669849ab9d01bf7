/*
 * model_jobs.c - a greedy answer and rerank scores as jobs on the scheduler's loaded models
 * (see model_jobs.h): the request is built as /api/chat builds it (prompt.c), queued, and
 * waited for while the client's socket is watched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/rerank.h"
#include "server/model_jobs.h"
#include "server/prompt.h"

/* Waits until the job is done, collecting its text (malloc'd into *text when text is not NULL).
 * Returns 0, 499 when the client went away, 500 when out of memory. */
static int wait_done(job *j, int fd, char **text) {
    size_t len = 0;
    char *all = text ? calloc(1, 1) : NULL;
    if (text && !all) return 500;
    for (bool done = false; !done;) {
        char *t;
        size_t tl;
        if (job_wait(j, fd, 1000, &t, &tl, &done) < 0) {
            free(all);
            return 499;
        }
        if (t && all) {
            char *p = realloc(all, len + tl + 1);
            if (p) memcpy(p + len, t, tl + 1), len += tl;
            else free(all);
            all = p;
        }
        free(t);
        if (text && !all) return 500;
    }
    if (text) *text = all;
    return 0;
}

int model_job_answer(sched_model *sm, const char *user_text, int max_tokens, int fd, char **answer, char *err,
                     size_t cap) {
    *answer = NULL;
    const ag_model *m = sched_model_model(sm);
    const store_manifest *man = sched_model_manifest(sm);
    api_request req = {.kind = API_CHAT, .keep_alive_ns = KEEP_ALIVE_DEFAULT};
    req.messages = cJSON_CreateArray();
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", "user");
    cJSON_AddStringToObject(msg, "content", user_text);
    cJSON_AddItemToArray(req.messages, msg);
    req.options = cJSON_CreateObject(); /* greedy, so the same sources give the same answer */
    cJSON_AddNumberToObject(req.options, "temperature", 0);
    cJSON_AddNumberToObject(req.options, "repeat_penalty", 1);
    cJSON_AddNumberToObject(req.options, "seed", 0);
    cJSON_AddNumberToObject(req.options, "num_predict", max_tokens);
    gen_options opts;
    ag_token *toks = NULL;
    int n = 0, status = prompt_options(&req, man, &opts, err, cap);
    if (!status && !(status = prompt_tokens(&req, m, man, NULL, &toks, &n, err, cap))) { /* no images */
        const int n_ctx = sched_model_ctx(sm, opts.num_ctx);
        job *j = NULL;
        if (n + 1 >= n_ctx) status = 413, snprintf(err, cap, "the prompt is %d tokens, the context %d", n, n_ctx);
        else if (!(j = job_new_generate(toks, n, &opts, PRIO_INTERACTIVE))) status = 500, snprintf(err, cap, "out of memory");
        else if (sched_submit(sm, j) != 0) status = 503, snprintf(err, cap, "server busy, please try again");
        else if ((status = wait_done(j, fd, answer)) != 0) snprintf(err, cap, status == 499 ? "the client went away" : "out of memory");
        else if (job_get_stats(j)->error[0]) status = 500, snprintf(err, cap, "%s", job_get_stats(j)->error);
        if (status && *answer) free(*answer), *answer = NULL;
        job_finish(j);
    }
    gen_options_free(&opts);
    free(toks);
    cJSON_Delete(req.messages);
    cJSON_Delete(req.options);
    return status;
}

int model_job_embed(sched_model *sm, const ag_token *const *tokens, const int *n_tokens, int n, int priority, int fd,
                    float *out, int dim, char *err, size_t cap) {
    if (n <= 0) return 0;
    job *j = job_new_embed((ag_token *const *)tokens, n_tokens, n, priority); /* the tokens are copied */
    int status = 0;
    if (!j) status = 500, snprintf(err, cap, "out of memory");
    else if (sched_submit(sm, j) != 0) status = 503, snprintf(err, cap, "server busy, please try again");
    else if ((status = wait_done(j, fd, NULL)) != 0) snprintf(err, cap, "the client went away");
    else if (job_get_stats(j)->error[0]) status = 500, snprintf(err, cap, "%s", job_get_stats(j)->error);
    for (int i = 0; status == 0 && i < n; i++) {
        int n_embd = 0;
        const float *e = job_embedding(j, i, &n_embd);
        if (!e || n_embd != dim) status = 500, snprintf(err, cap, "the embedding model gave no vector of %d values", dim);
        else memcpy(out + (size_t)i * dim, e, (size_t)dim * sizeof *out);
    }
    job_finish(j);
    return status;
}

int model_job_rerank(sched *s, const char *model, const char *query, const char *const *docs, int n, int fd,
                     float *scores, char *err, size_t cap) {
    sched_model *sm = NULL;
    double load_s;
    int status = sched_acquire(s, model, &sm, &load_s, err, cap);
    if (status) return status;
    job *j = NULL;
    if (!ag_model_is_reranker(sched_model_model(sm)))
        status = 400, snprintf(err, cap, "model '%s' is not a reranker (a cross-encoder with a rank head)", model);
    else if (n <= 0) status = 0;
    else if (!(j = job_new_rerank(query, docs, n, PRIO_INTERACTIVE))) status = 500, snprintf(err, cap, "out of memory");
    else if (sched_submit(sm, j) != 0) status = 503, snprintf(err, cap, "server busy, please try again");
    else if ((status = wait_done(j, fd, NULL)) != 0) snprintf(err, cap, "the client went away");
    else if (job_get_stats(j)->error[0]) {
        const int code = job_get_stats(j)->error_code;
        status = code == AG_ERR_CONTEXT_FULL || code == AG_ERR_INVALID_ARG ? 400 : 500;
        snprintf(err, cap, "%s", job_get_stats(j)->error);
    } else {
        int got;
        const float *sc = job_scores(j, &got);
        if (sc && got == n) memcpy(scores, sc, (size_t)n * sizeof *scores);
        else status = 500, snprintf(err, cap, "the reranker gave no scores");
    }
    job_finish(j);
    sched_release(sm, KEEP_ALIVE_DEFAULT);
    return status;
}
