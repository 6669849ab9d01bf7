/*
 * metrics.h - the server's counters for GET /metrics (Prometheus text format 0.0.4): requests by
 * route and status code, prompt and generated tokens, time-to-first-token and per-token latency
 * histograms; gauges (queue depth, slots in use, loaded models) are read from the scheduler when
 * the page is rendered. One metrics object per server, shared by its threads (own lock).
 */
#ifndef AG_SERVER_METRICS_H
#define AG_SERVER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct metrics metrics;

typedef struct {
    int models;          /* loaded */
    int queued;          /* requests waiting for a slot */
    int slots_active;    /* sequences being served */
    int slots_total;
    int64_t kv_tokens;   /* positions held in the slots' KV caches */
    int64_t prefix_reused; /* prompt positions taken from another slot or the prefix cache instead of recomputed */
    int64_t kv_blocks_used, kv_blocks_total; /* KV cache blocks of the models' pools (sched_prefix.c) */
    int kv_block_positions;  /* positions per block */
    int prefix_entries;      /* prefixes kept in the models' prefix caches */
    int power_mode;      /* ag_power_mode of the server */
    int64_t vram_bytes;  /* device memory of the loaded models (weights, KV caches, scratch) */
    bool gpu;            /* the GPU readings below are filled (NVML) */
    double gpu_power_w, gpu_power_limit_w; /* GPU 0; < 0: not reported */
    double gpu_memory_used;                /* bytes, all processes */
    int64_t model_loads; /* models loaded from disk since the server started */
} metrics_gauges;

/* One finished generation, for /api/stats (the dashboard) and the energy counters. */
typedef struct {
    double tokens_per_s;   /* generated tokens over the decode time */
    double ttft_s;         /* request arrival to first token */
    int64_t tokens;        /* generated */
    double joules;         /* CPU package energy during the request; < 0: unavailable */
} metrics_done;

typedef struct {
    uint64_t prompt_tokens, generated_tokens, ttft_n;
    double ttft_sum;
    double joules;          /* summed over requests with energy readings */
    uint64_t joules_tokens; /* generated tokens of those requests */
    bool has_last;
    metrics_done last;
} metrics_snapshot;

metrics *metrics_new(void);
void metrics_free(metrics *m);

/* route: a path of the routing table (or "other"); code: the HTTP status sent. */
void metrics_request(metrics *m, const char *route, unsigned code);
void metrics_tokens(metrics *m, int64_t prompt, int64_t generated);
void metrics_ttft(metrics *m, double seconds);
void metrics_token_latency(metrics *m, double seconds);

void metrics_finished(metrics *m, const metrics_done *d);
void metrics_snapshot_get(metrics *m, metrics_snapshot *out);

/* The exposition text (malloc'd), with the gauges given. */
char *metrics_render(metrics *m, const metrics_gauges *g);

#endif
