/*
 * sched.h - the scheduler: models loaded on demand, one worker thread per loaded model that
 * serves up to n_parallel sequences (slots) in turns: a prefill chunk per prompt, then one
 * forward step that decodes the next token of every generating slot at once
 * (ag_session_eval_batch: continuous batching; a new request joins at the next turn), and a
 * bounded queue per model with two priority classes (interactive before batch). A new request
 * copies the longest prefix of its prompt that any slot's cache holds (ag_session_copy_prefix),
 * up to its first image token (an image is evaluated whole in the job's prefill, never reused).
 *
 * A job is shared by the HTTP thread that made it and the worker: the worker publishes text
 * and final statistics under the model's lock; the HTTP thread reads them with job_wait and
 * ends the job with job_finish, which cancels it when it still runs (a client that went away)
 * and frees it once the worker has let go of it. A slot keeps the tokens its KV cache holds, so
 * a request that starts with the same tokens (a system prompt, a chat history) reuses them.
 */
#ifndef AG_SERVER_SCHED_H
#define AG_SERVER_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"
#include "autoglm/vision.h"
#include "server/metrics.h"
#include "store/options.h"
#include "store/store.h"

typedef struct {
    const char *store_root; /* the model store; names are resolved there */
    int n_parallel;         /* sequences per model */
    int max_queue;          /* waiting requests per model before 503 */
    int num_ctx;            /* default context per sequence; 0 = min(training context, 4096) */
    int n_threads;          /* threads per forward pass; 0 = physical cores */
    const char *trusted_keys; /* non-NULL: load only models signed by a key in this folder */
    int64_t keep_alive_ns;  /* how long an idle model stays loaded when a request does not say; < 0 forever */
    uint64_t mem_limit;     /* bytes models may take (file + KV caches); 0 = the system's available memory */
    metrics *metrics;       /* counters to feed, or NULL */
    ag_power_mode power;    /* the power mode sessions start in (sched_set_power changes it) */
    const char *kv_type;    /* KV cache type of every session: f16 (NULL), f32, q8_0, q4_0 */
    const char *device;     /* ag_model_params.device of the models (NULL: auto) */
    int n_gpu_layers;       /* ag_model_params.n_gpu_layers (0: all that fit) */
    int batch_every;        /* while interactive work runs, batch work still advances after this many
                               turns of interactive work alone (no starvation; 0: SCHED_BATCH_EVERY) */
    /* Tests: called by a model's worker at every yield point of its forward passes (between
     * layers), before it looks for interactive work; nested: inside a yield's own passes. */
    void (*yield_hook)(void *ctx, bool nested);
    void *yield_hook_ctx;
} sched_config;

#define SCHED_BATCH_EVERY 8
#define KEEP_ALIVE_DEFAULT INT64_MIN /* a request without keep_alive: the server's setting */

typedef struct sched sched;
typedef struct sched_model sched_model;
typedef struct job job;

sched *sched_new(const sched_config *cfg);
/* Stops the workers: running and waiting jobs end as cancelled, new requests get 503; models
 * stay allocated (HTTP threads may still hold jobs) until sched_free. */
void sched_stop(sched *s);
void sched_free(sched *s); /* stops (when not yet) and frees everything */

/* The loaded model of a name (loading it when needed). Returns 0, 404 (no such model), 507 (not
 * enough memory for the file and the KV caches of its slots) or 500, with a message. *load_s:
 * seconds spent loading (0 when it was loaded). Release with sched_release. */
int sched_acquire(sched *s, const char *name, sched_model **out, double *load_s, char *err, size_t cap);
/* Lets go of the model; once no request holds it, it stays loaded keep_alive_ns more (< 0:
 * until the server stops, 0: unloaded now, KEEP_ALIVE_DEFAULT: the server's setting). */
void sched_release(sched_model *m, int64_t keep_alive_ns);
/* Gauges for /metrics. */
void sched_gauges(sched *s, metrics_gauges *g);
const ag_model *sched_model_model(const sched_model *m);
/* The context a session of m gets for a request asking num_ctx (0: the server's default). */
int sched_model_ctx(const sched_model *m, int num_ctx);
const store_manifest *sched_model_manifest(const sched_model *m);
/* The model's vision projector (its manifest's "projector"), or NULL. The HTTP threads may use it
 * for the image processor's settings and token counts only; the worker encodes. */
ag_vision *sched_model_vision(const sched_model *m);

/* Power mode of every session (sched_power.c): applied by each model's worker before the next
 * eval of a slot. max_tokens_per_s > 0 caps each sequence's eval rate. The thread and batch
 * numbers of the returned params are what the mode resolves to for a full-size session. */
void sched_set_power(sched *s, ag_power_mode mode, double max_tokens_per_s);
ag_power_params sched_get_power(const sched *s);
const char *sched_power_name(ag_power_mode mode);

/* Loaded models, for /api/ps: calls fn for each while holding the scheduler's lock; expires_unix
 * is when it unloads (unix seconds; 0 = never). */
const char *sched_kv_type(const sched *s); /* the configured KV cache type (never NULL) */
void sched_foreach(sched *s, void (*fn)(void *ctx, const store_manifest *man, const ag_model *model, int active,
                                        int64_t expires_unix),
                   void *ctx);

/* ---------------------------------------------------------------- jobs */

typedef struct {
    int prompt_n;          /* tokens of the prompt */
    int prompt_eval_n;     /* of which evaluated (the rest came from a slot's cache) */
    int eval_n;            /* tokens generated */
    int64_t prompt_eval_ns, eval_ns, total_ns; /* total: from job_new to the end */
    const char *done_reason; /* "stop", "length"; NULL while running */
    char error[256];       /* non-empty when the engine failed */
    int error_code;        /* its ag_status when known (rerank jobs), else 0 */
} job_stats;

/* A generation of prompt (owned by the caller until job_new copies it) with opts (the job takes
 * ownership of its stop strings). */
job *job_new_generate(const ag_token *prompt, int n_prompt, gen_options *opts, int priority);
/* Gives a generation its prompt's images (the job takes patches, an array of n from malloc, and
 * frees it): the k-th run of image tokens img in the prompt is image k; the runs must be the
 * images' token counts (vision.h: vision_expand). Each image is evaluated in one piece of the
 * prefill; a cached prefix is never reused past an image token (the same tokens may be another
 * image). false when out of memory (the patches are freed). */
bool job_set_images(job *j, ag_image_patches *patches, int n, ag_token img);
/* Embeddings of n texts (already tokenized): token arrays are copied. */
job *job_new_embed(ag_token *const *tokens, const int *n_tokens, int n, int priority);

/* Scores n documents against a query (a reranker's job; query and documents are copied). */
job *job_new_rerank(const char *query, const char *const *docs, int n, int priority);

/* Queues the job on the model: 0, or 503 when the queue is full (or the server stops). */
int sched_submit(sched_model *m, job *j);

/* Waits until the job has new text or is done, or until timeout_ms passes, then takes the new
 * text (malloc'd into *text, NULL when none) and tells whether it is done. When fd >= 0 the
 * socket is watched: a peer that closed it cancels the job and returns -1. */
int job_wait(job *j, int fd, int timeout_ms, char **text, size_t *len, bool *done);
/* After done: statistics, all tokens (prompt + generated, for "context") and embeddings. */
const job_stats *job_get_stats(const job *j);
const ag_token *job_tokens(const job *j, int *n);
const float *job_embedding(const job *j, int i, int *n_embd); /* NULL when missing */
const float *job_scores(const job *j, int *n); /* rerank scores; NULL unless all were scored */
/* Asks the worker to stop the job (as a client that went away); returns at once. */
void job_cancel(job *j);
/* Cancels the job if it still runs, waits for the worker to let go and frees it. */
void job_finish(job *j);

int64_t sched_now_ns(void);

#endif
