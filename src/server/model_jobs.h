/*
 * model_jobs.h - one-shot work for routes other than generate/chat/embed, run as jobs on the
 * scheduler's loaded models (sched.h), so that the knowledge base's answers and the rerankers
 * share the one registry of loaded models with /api/generate: loaded once, kept as keep_alive
 * says, counted by the memory check, listed by /api/ps, run on the power mode's threads.
 * Statuses are HTTP codes (0 = done) with a message in err.
 */
#ifndef AG_SERVER_MODEL_JOBS_H
#define AG_SERVER_MODEL_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "server/sched.h"

/* The greedy answer (malloc'd into *answer) of the loaded model sm to one user message, through
 * its chat template and SYSTEM as /api/chat would build them, at most max_tokens tokens. fd: the
 * client's socket (a client that goes away cancels the job), -1 none. Returns 0; 413 when the
 * prompt does not fit the model's context (the caller may shorten it); 499 when the client went
 * away; else 4xx/5xx. */
int model_job_answer(sched_model *sm, const char *user_text, int max_tokens, int fd, char **answer, char *err,
                     size_t cap);

/* Unit vectors (n x dim, into out) of n token sequences from the loaded model sm, as ag_embed
 * computes them (an embed job, priority PRIO_INTERACTIVE or PRIO_BATCH). Returns 0, 499 (the
 * client went away), 503 or 500. */
int model_job_embed(sched_model *sm, const ag_token *const *tokens, const int *n_tokens, int n, int priority, int fd,
                    float *out, int dim, char *err, size_t cap);

/* Relevance scores of n documents against query from the reranker named model (a store name),
 * acquired from the scheduler and released with the server's keep_alive. Returns 0, 400 (not a
 * reranker, or a query too long), 404, 499 (the client went away), 503, 507 or 500. */
int model_job_rerank(sched *s, const char *model, const char *query, const char *const *docs, int n, int fd,
                     float *scores, char *err, size_t cap);

#endif
