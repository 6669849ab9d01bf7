/*
 * sched_impl.h - the structures the scheduler's files share (sched.c: models, queues and the
 * worker; sched_job.c: jobs and how the HTTP thread waits on them). Not for other files.
 *
 * Locks: sched.mu guards the list of loaded models and their reference counts; each model's mu
 * guards its queues, its slots' job pointers and everything a job shares with its HTTP thread
 * (out, done, released, stats). The worker never holds mu during a forward pass.
 *
 * Priorities (strict): while an interactive generation holds a slot, the worker's turns advance
 * interactive generations only; batch work waits. Work that arrives during a batch-class forward
 * pass does not wait for its end: every slot session yields between layers
 * (ag_session_set_yield: sched_yield_point), and when an interactive job is queued the worker,
 * still inside the paused pass, admits it and runs interactive turns until no interactive
 * generation is left (prefill, first token, its whole decode, in steps of their own), then the
 * batch pass goes on from the next layer with its state intact. During an interactive pass a
 * yield only admits new interactive jobs and reads their prompts up to the first token (kept in
 * `pending` for the next decode step). One thread of control: a yield runs passes of sessions
 * that are not in the pass in flight, one at a time, and does not yield again itself.
 */
#ifndef AG_SERVER_SCHED_IMPL_H
#define AG_SERVER_SCHED_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "autoglm/vision.h"
#include "server/api.h"
#include "server/sched.h"

enum { JOB_GENERATE, JOB_EMBED, JOB_RERANK };
/* The pass in flight: none (no yield), interactive (a yield admits and prefills new interactive
 * jobs), batch-class (a yield runs interactive work to completion). */
enum { YIELD_NONE, YIELD_ADMIT, YIELD_RUN };

struct job {
    int kind, priority;
    sched_model *model;          /* set by sched_submit */
    /* input */
    ag_token *prompt;            /* (n_prompt) */
    int n_prompt;
    ag_image_patches *images;    /* (n_images) the prompt's images, in the order of their token runs */
    int n_images;
    int *image_at;               /* (n_images) where each image's run of image tokens starts in prompt */
    int *image_len;              /* (n_images) its length */
    unsigned char (*image_key)[32]; /* (n_images) ag_vision_image_key of each, or NULL (not keyed) */
    gen_options opts;
    ag_token **etok;             /* embeddings: (n_emb) token arrays */
    int *en, n_emb;
    char *query;                 /* rerank: the query and (n_docs) documents, copied */
    char **docs;
    int n_docs;
    /* shared with the HTTP thread, under model->mu */
    pthread_cond_t cond;
    char *out;                   /* published text; the HTTP thread takes it from out_taken */
    size_t out_len, out_cap, out_taken;
    bool queued, done, released;
    atomic_bool cancelled;
    job *next;                   /* queue link */
    job_stats stats;
    /* written by the worker, read by the HTTP thread after done */
    ag_token *all;               /* prompt + generated tokens */
    int n_all, cap_all;
    float *emb;                  /* (n_emb, n_embd) */
    int n_embd, emb_done;
    float *scores;               /* rerank: (n_docs) relevance scores, the first scored_done set */
    int scored_done;
    int64_t t0;
};

typedef struct {
    ag_session *s;
    char kv_type[8];             /* the session's KV cache type ("" = the server's) */
    ag_token *hist;              /* tokens the session's cache holds */
    int n_hist, cap_hist;
    int *img_at, *img_len;       /* the image runs in hist with their keys (job->image_key): a later */
    unsigned char (*img_key)[32]; /* prompt with the same images at the same places keeps them */
    int n_img, cap_img;
    job *job;                    /* NULL: free */
    ag_sampler *smp;
    ag_detok *dt;
    ag_json_constraint *jc;      /* format json / a schema: masks the logits before sampling */
    float *masked;               /* (n_vocab) the logits as masked */
    int pos;                     /* next prompt token to evaluate */
    ag_token pending;            /* sampled and published during a yield: evaluate it in the next decode step (-1 none) */
    bool fresh;                  /* its job was admitted and not yet started (start_generate) */
    int produced;
    bool decoding;               /* the last eval's logits are ready to sample */
    char *held;                  /* generated text held back: it may start a stop string */
    size_t held_len, held_cap;
    int64_t t_prefill0, t_decode0;
    int64_t t_last;              /* when the last token was sampled (latency metric) */
} slot;

/* A prompt prefix kept after its request (sched_prefix.c): block references in the model's pool. */
typedef struct {
    ag_kv_prefix *kv;
    ag_token *tok;               /* (n) the tokens it holds */
    int n;
    int64_t used;                /* m->prefix_clock when last kept or taken (LRU) */
} prefix_entry;

struct sched_model {
    sched *owner;
    store_manifest man;
    ag_model *model;
    ag_vision *vision;           /* the manifest's projector, loaded and freed with the model; or NULL */
    ag_token image_token;        /* its <|image|> token (-1 without): cached prefixes stop there */
    int refs;                    /* under owner->mu */
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t work;
    job *q_head[PRIO_COUNT], *q_tail[PRIO_COUNT];
    int n_queued;
    atomic_int n_inter_queued;   /* interactive jobs waiting (the yield point reads it without mu) */
    int yield_mode;              /* what a yield of the pass in flight may do (YIELD_*; worker only) */
    int inter_turns;             /* turns in a row that only interactive work advanced (worker only) */
    bool in_yield;               /* the worker runs a yield's work (its passes do not yield again) */
    slot *slots;
    int n_slots;
    bool stop, joined;
    int64_t prefix_borrowed;     /* positions taken from another slot's cache or a prefix entry (worker only) */
    ag_kv_pool *kv_pool;         /* the slots' KV blocks (CPU models, from the first generation on; set under mu) */
    char kv_pool_type[8];        /* its KV type */
    bool kv_pool_tried;
    prefix_entry *prefixes;      /* the prefix cache (worker only; its count under mu for gauges) */
    int n_prefixes, cap_prefixes;
    int64_t prefix_clock;
    int64_t keep_alive_ns;       /* the last request's keep_alive (< 0 forever); under owner->mu */
    int64_t expires_ns;          /* sched_now_ns when it unloads (refs == 0); INT64_MAX never */
    uint64_t mem_need;           /* bytes counted against the memory check */
    sched_model *next;
};

struct sched {
    sched_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t reap;         /* wakes the reaper: a model released, the server stops */
    pthread_t reaper;            /* unloads models whose keep_alive has passed (sched_keep.c) */
    bool reaper_started, reaper_joined;
    sched_model *models;
    bool stopped;
    int64_t loads;               /* models loaded from disk (under mu), for /metrics */
    atomic_int power_mode;       /* ag_power_mode the slots' sessions should run in (sched_power.c) */
    atomic_llong power_cap_milli; /* token-rate cap, tokens per 1000 s; 0: none */
};

/* sched_prefix.c: the block pool and the prefix cache (worker thread) */
enum { PREFIX_MIN = 16 };        /* shorter prefixes are not kept apart */
/* Points sp at the model's block pool when the session's KV type is the pool's and its context
 * at most the default (creating the pool, sized for every slot at the default context, with the
 * first generation). */
void sched_prefix_pool(sched_model *m, const char *kv_type, ag_session_params *sp);
/* Keeps the text the slot's cache holds (up to its first image token) as a prefix entry before
 * the slot loses it (truncated for another prompt, or its session replaced). */
void sched_prefix_keep(sched_model *m, slot *sl);
/* The entry sharing the longest prefix with the job's prompt (-1: none); *n its length, capped
 * to leave the prompt's last token to evaluate. */
int sched_prefix_find(const sched_model *m, const job *j, int *n);
/* The slot's session takes entry e's first n positions; false when it cannot (another pool). */
bool sched_prefix_take(sched_model *m, slot *sl, int e, int n);
/* Frees the entries and the pool (the slots' sessions are freed before). */
void sched_prefix_free(sched_model *m);
/* Tokens a and b share at their start, stopping at image_token (another image may stand there). */
int sched_common_prefix(const ag_token *a, int na, const ag_token *b, int nb, ag_token image_token);

/* sched_keep.c */
void *sched_reaper_main(void *arg);
void sched_model_unload(sched_model *m); /* stops its worker and frees it; unlinked, refs 0 */
uint64_t sched_mem_available(const sched *s); /* bytes a new model may take */

void job_publish_locked(job *j, const char *text, size_t len);
/* The sessions' yield point between layers (ag_session_set_yield; ctx: the sched_model). */
void sched_yield_point(void *ctx);

/* sched_power.c: brings the slot's session to the server's power mode (worker thread, before
 * its eval). */
void sched_power_slot(sched_model *m, slot *sl);
/* Threads of an embedding or rerank pass (no session) in the current power mode. */
int sched_power_threads(const sched *s);
/* Under a token-rate cap: sleeps until a decode turn that began at turn0 (sched_now_ns) has
 * taken 1/cap seconds, so each sequence makes at most cap tokens per second. */
void sched_power_pace(sched_model *m, int64_t turn0, int n_dec);

#endif
