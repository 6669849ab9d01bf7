/*
 * sched_job.c - jobs: creation from a prompt or texts to embed, the text the worker publishes,
 * how the HTTP thread waits for it (watching its client's socket) and ends a job (see sched.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "autoglm/vision.h"
#include "server/sched_impl.h"

int64_t sched_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------- jobs */

static job *job_alloc(int kind, int priority) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    j->priority = priority == PRIO_BATCH ? PRIO_BATCH : PRIO_INTERACTIVE;
    pthread_cond_init(&j->cond, NULL);
    atomic_init(&j->cancelled, false);
    gen_options_default(&j->opts);
    j->t0 = sched_now_ns();
    return j;
}

static void job_free(job *j) {
    if (!j) return;
    pthread_cond_destroy(&j->cond);
    free(j->prompt);
    for (int i = 0; i < j->n_images; i++) ag_image_patches_free(&j->images[i]);
    free(j->images);
    free(j->image_at);
    free(j->image_len);
    free(j->image_key);
    gen_options_free(&j->opts);
    for (int i = 0; i < j->n_emb; i++) free(j->etok[i]);
    free(j->etok);
    free(j->en);
    free(j->out);
    free(j->all);
    free(j->emb);
    for (int i = 0; i < j->n_docs; i++) free(j->docs[i]);
    free(j->docs);
    free(j->query);
    free(j->scores);
    free(j);
}

job *job_new_generate(const ag_token *prompt, int n_prompt, gen_options *opts, int priority) {
    job *j = n_prompt > 0 ? job_alloc(JOB_GENERATE, priority) : NULL;
    if (!j) return NULL;
    j->prompt = malloc((size_t)n_prompt * sizeof *prompt);
    j->cap_all = n_prompt + 256;
    j->all = malloc((size_t)j->cap_all * sizeof *j->all);
    if (!j->prompt || !j->all) {
        job_free(j);
        return NULL;
    }
    memcpy(j->prompt, prompt, (size_t)n_prompt * sizeof *prompt);
    memcpy(j->all, prompt, (size_t)n_prompt * sizeof *prompt);
    j->n_prompt = j->n_all = n_prompt;
    j->opts = *opts; /* takes the stop strings and the format */
    opts->n_stop = 0;
    opts->format = NULL;
    j->stats.prompt_n = n_prompt;
    return j;
}

bool job_set_images(job *j, ag_image_patches *patches, int n, ag_token img) {
    j->image_at = malloc(((size_t)n + 1) * sizeof *j->image_at);
    j->image_len = malloc(((size_t)n + 1) * sizeof *j->image_len);
    if (!j->image_at || !j->image_len) {
        for (int i = 0; i < n; i++) ag_image_patches_free(&patches[i]);
        free(patches);
        return false;
    }
    j->images = patches;
    j->n_images = n;
    int k = 0;
    for (int i = 0; i < j->n_prompt && k < n;) {
        if (j->prompt[i] != img) {
            i++;
            continue;
        }
        int e = i;
        while (e < j->n_prompt && j->prompt[e] == img) e++;
        j->image_at[k] = i;
        j->image_len[k++] = e - i;
        i = e;
    }
    j->n_images = k; /* vision_expand made one run per image */
    for (; k < n; k++) ag_image_patches_free(&patches[k]);
    /* the images' keys: a slot that holds the same images keeps their cache rows (NULL: it does not);
       the patches remember them, so the encoder does not hash the pixels again */
    if ((j->image_key = malloc(((size_t)j->n_images + 1) * sizeof *j->image_key))) {
        for (int i = 0; i < j->n_images && j->image_key; i++) {
            if (ag_vision_remember_key(&j->images[i])) { /* the encoder takes it from there: one hash */
                memcpy(j->image_key[i], j->images[i].key, 32);
            } else {
                free(j->image_key);
                j->image_key = NULL;
            }
        }
    }
    return true;
}

job *job_new_embed(ag_token *const *tokens, const int *n_tokens, int n, int priority) {
    job *j = job_alloc(JOB_EMBED, priority);
    if (!j) return NULL;
    j->etok = calloc((size_t)(n ? n : 1), sizeof *j->etok);
    j->en = calloc((size_t)(n ? n : 1), sizeof *j->en);
    bool ok = j->etok && j->en;
    for (int i = 0; ok && i < n; i++) {
        if (n_tokens[i] <= 0 || !(j->etok[i] = malloc((size_t)n_tokens[i] * sizeof **j->etok))) ok = false;
        else memcpy(j->etok[i], tokens[i], (size_t)n_tokens[i] * sizeof **j->etok);
        j->en[i] = n_tokens[i];
        j->n_emb = i + 1;
        j->stats.prompt_n += n_tokens[i];
    }
    if (!ok) {
        job_free(j);
        return NULL;
    }
    return j;
}

job *job_new_rerank(const char *query, const char *const *docs, int n, int priority) {
    job *j = n > 0 ? job_alloc(JOB_RERANK, priority) : NULL;
    if (!j) return NULL;
    j->query = strdup(query);
    j->docs = calloc((size_t)n, sizeof *j->docs);
    j->scores = calloc((size_t)n, sizeof *j->scores);
    bool ok = j->query && j->docs && j->scores;
    for (int i = 0; ok && i < n; i++) {
        ok = (j->docs[i] = strdup(docs[i] ? docs[i] : "")) != NULL;
        j->n_docs = i + 1;
    }
    if (!ok) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* Under the model's mu. */
void job_publish_locked(job *j, const char *text, size_t len) {
    if (len == 0) return;
    if (j->out_len + len + 1 > j->out_cap) {
        size_t cap = j->out_cap ? j->out_cap : 256;
        while (cap < j->out_len + len + 1) cap *= 2;
        char *p = realloc(j->out, cap);
        if (!p) return; /* dropped text: out of memory */
        j->out = p;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, text, len);
    j->out_len += len;
    pthread_cond_broadcast(&j->cond);
}

/* Is the peer gone? A closed or reset socket, not merely readable data. */
static bool peer_gone(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

int job_wait(job *j, int fd, int timeout_ms, char **text, size_t *len, bool *done) {
    *text = NULL;
    *len = 0;
    *done = false;
    sched_model *m = j->model;
    int64_t deadline = sched_now_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&m->mu);
    while (j->out_len == j->out_taken && !j->done) {
        int64_t now = sched_now_ns();
        if (now >= deadline) break;
        int64_t slice = deadline - now < 50000000 ? deadline - now : 50000000; /* 50 ms */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += slice;
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&j->cond, &m->mu, &ts);
        if (fd >= 0 && j->out_len == j->out_taken && !j->done && peer_gone(fd)) {
            atomic_store(&j->cancelled, true);
            pthread_cond_signal(&m->work);
            pthread_mutex_unlock(&m->mu);
            return -1;
        }
    }
    if (j->out_len > j->out_taken) {
        size_t n = j->out_len - j->out_taken;
        char *t = malloc(n + 1);
        if (t) {
            memcpy(t, j->out + j->out_taken, n);
            t[n] = '\0';
            *text = t;
            *len = n;
            j->out_taken = j->out_len;
        }
    }
    *done = j->done && j->out_taken == j->out_len;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

const job_stats *job_get_stats(const job *j) { return &j->stats; }

const ag_token *job_tokens(const job *j, int *n) {
    *n = j->n_all;
    return j->all;
}

const float *job_embedding(const job *j, int i, int *n_embd) {
    *n_embd = j->n_embd;
    return j->emb && i >= 0 && i < j->emb_done ? j->emb + (size_t)i * j->n_embd : NULL;
}

const float *job_scores(const job *j, int *n) {
    *n = j->n_docs;
    return j->scores && j->n_docs > 0 && j->scored_done == j->n_docs ? j->scores : NULL;
}

void job_cancel(job *j) {
    atomic_store(&j->cancelled, true);
    if (j->model) {
        pthread_mutex_lock(&j->model->mu);
        pthread_cond_signal(&j->model->work);
        pthread_mutex_unlock(&j->model->mu);
    }
}

void job_finish(job *j) {
    if (!j) return;
    sched_model *m = j->model;
    if (m) {
        pthread_mutex_lock(&m->mu);
        if (j->queued) { /* still waiting: take it out of its queue */
            job **pp = &m->q_head[j->priority], *prev = NULL;
            while (*pp && *pp != j) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            if (*pp) {
                *pp = j->next;
                if (m->q_tail[j->priority] == j) m->q_tail[j->priority] = prev;
                m->n_queued--;
                if (j->priority == PRIO_INTERACTIVE) atomic_fetch_sub(&m->n_inter_queued, 1);
            }
            j->queued = false;
            j->released = true;
        }
        if (!j->released) {
            atomic_store(&j->cancelled, true);
            pthread_cond_signal(&m->work);
            while (!j->released) pthread_cond_wait(&j->cond, &m->mu);
        }
        pthread_mutex_unlock(&m->mu);
    }
    job_free(j);
}
