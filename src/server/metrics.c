/*
 * metrics.c - counters and histograms of the server (see metrics.h), rendered in Prometheus
 * text format:
 *   autoglm_requests_total{route,code}   counter
 *   autoglm_prompt_tokens_total, autoglm_generated_tokens_total
 *   autoglm_time_to_first_token_seconds  histogram (request arrival -> first token sampled)
 *   autoglm_token_latency_seconds        histogram (between two tokens of one sequence)
 *   autoglm_energy_joules_total, autoglm_energy_tokens_total  CPU package energy of generations
 *                                        (where RAPL is readable) and their generated tokens
 *   gauges: loaded models, queue depth, KV slots in use / total, KV positions held, power mode,
 *   device memory of the models, GPU 0's power draw, power limit and memory (NVML);
 *   autoglm_model_loads_total (from the scheduler: models read from disk)
 */
#include "server/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SERIES = 128, N_BUCKETS = 14 };

static const double BUCKETS[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

typedef struct {
    uint64_t counts[N_BUCKETS + 1]; /* last: +Inf */
    double sum;
    uint64_t n;
} histogram;

typedef struct {
    char route[48];
    unsigned code;
    uint64_t n;
} series;

struct metrics {
    pthread_mutex_t mu;
    series req[MAX_SERIES];
    int n_req;
    uint64_t tok_in, tok_out;
    histogram ttft, tpot;
    double joules;            /* energy of generations that had a reading */
    uint64_t joules_tokens;   /* their generated tokens */
    bool has_last;
    metrics_done last;        /* the latest finished generation */
};

metrics *metrics_new(void) {
    metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->mu, NULL);
    return m;
}

void metrics_free(metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_request(metrics *m, const char *route, unsigned code) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n_req && (m->req[i].code != code || strcmp(m->req[i].route, route) != 0)) i++;
    if (i == m->n_req && m->n_req < MAX_SERIES) {
        snprintf(m->req[i].route, sizeof m->req[i].route, "%s", route);
        m->req[i].code = code;
        m->n_req++;
    }
    if (i < m->n_req) m->req[i].n++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_tokens(metrics *m, int64_t prompt, int64_t generated) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->tok_in += (uint64_t)(prompt > 0 ? prompt : 0);
    m->tok_out += (uint64_t)(generated > 0 ? generated : 0);
    pthread_mutex_unlock(&m->mu);
}

static void observe(metrics *m, histogram *h, double v) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    int b = 0;
    while (b < N_BUCKETS && v > BUCKETS[b]) b++;
    h->counts[b]++;
    h->sum += v;
    h->n++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_ttft(metrics *m, double s) { if (m) observe(m, &m->ttft, s); }
void metrics_token_latency(metrics *m, double s) { if (m) observe(m, &m->tpot, s); }

void metrics_finished(metrics *m, const metrics_done *d) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    if (d->joules >= 0) {
        m->joules += d->joules;
        m->joules_tokens += (uint64_t)d->tokens;
    }
    m->last = *d;
    m->has_last = true;
    pthread_mutex_unlock(&m->mu);
}

void metrics_snapshot_get(metrics *m, metrics_snapshot *o) {
    pthread_mutex_lock(&m->mu);
    *o = (metrics_snapshot){.prompt_tokens = m->tok_in, .generated_tokens = m->tok_out, .ttft_n = m->ttft.n,
                            .ttft_sum = m->ttft.sum, .joules = m->joules, .joules_tokens = m->joules_tokens,
                            .has_last = m->has_last, .last = m->last};
    pthread_mutex_unlock(&m->mu);
}

/* ---------------------------------------------------------------- rendering */

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *p = realloc(t->buf, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->buf = p;
        t->cap = cap;
    }
}

static void put_histogram(text *t, const char *name, const char *help, const histogram *h) {
    put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int b = 0; b < N_BUCKETS; b++) {
        cum += h->counts[b];
        put(t, "%s_bucket{le=\"%g\"} %llu\n", name, BUCKETS[b], (unsigned long long)cum);
    }
    cum += h->counts[N_BUCKETS];
    put(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name, (unsigned long long)cum, name, h->sum, name,
        (unsigned long long)h->n);
}

char *metrics_render(metrics *m, const metrics_gauges *g) {
    text t = {malloc(4096), 0, 4096, false};
    if (!t.buf) return NULL;
    t.buf[0] = '\0';
    pthread_mutex_lock(&m->mu);
    put(&t, "# HELP autoglm_requests_total HTTP requests answered, by route and status code.\n"
            "# TYPE autoglm_requests_total counter\n");
    for (int i = 0; i < m->n_req; i++)
        put(&t, "autoglm_requests_total{route=\"%s\",code=\"%u\"} %llu\n", m->req[i].route, m->req[i].code,
            (unsigned long long)m->req[i].n);
    put(&t, "# HELP autoglm_prompt_tokens_total Prompt tokens of finished generations.\n"
            "# TYPE autoglm_prompt_tokens_total counter\nautoglm_prompt_tokens_total %llu\n"
            "# HELP autoglm_generated_tokens_total Tokens generated.\n"
            "# TYPE autoglm_generated_tokens_total counter\nautoglm_generated_tokens_total %llu\n",
        (unsigned long long)m->tok_in, (unsigned long long)m->tok_out);
    put_histogram(&t, "autoglm_time_to_first_token_seconds", "From the request's arrival to its first generated token.",
                  &m->ttft);
    put_histogram(&t, "autoglm_token_latency_seconds", "Between two generated tokens of one sequence.", &m->tpot);
    put(&t, "# HELP autoglm_energy_joules_total CPU package energy (RAPL) during generations that could read it.\n"
            "# TYPE autoglm_energy_joules_total counter\nautoglm_energy_joules_total %.6f\n"
            "# HELP autoglm_energy_tokens_total Tokens generated by those generations.\n"
            "# TYPE autoglm_energy_tokens_total counter\nautoglm_energy_tokens_total %llu\n",
        m->joules, (unsigned long long)m->joules_tokens);
    pthread_mutex_unlock(&m->mu);
    static const char *const modes[3] = {"performance", "balanced", "powersave"};
    put(&t, "# HELP autoglm_power_mode The server's power mode (1 for the mode in effect).\n# TYPE autoglm_power_mode gauge\n");
    for (int i = 0; i < 3; i++) put(&t, "autoglm_power_mode{mode=\"%s\"} %d\n", modes[i], g->power_mode == i);
    put(&t, "# HELP autoglm_models_loaded Models in memory.\n# TYPE autoglm_models_loaded gauge\nautoglm_models_loaded %d\n"
            "# HELP autoglm_queue_depth Requests waiting for a slot.\n# TYPE autoglm_queue_depth gauge\nautoglm_queue_depth %d\n"
            "# HELP autoglm_kv_slots_in_use Sequences (KV cache slots) being served.\n"
            "# TYPE autoglm_kv_slots_in_use gauge\nautoglm_kv_slots_in_use %d\n"
            "# HELP autoglm_kv_slots_total KV cache slots of the loaded models.\n"
            "# TYPE autoglm_kv_slots_total gauge\nautoglm_kv_slots_total %d\n"
            "# HELP autoglm_kv_tokens Positions held in the slots' KV caches.\n"
            "# TYPE autoglm_kv_tokens gauge\nautoglm_kv_tokens %lld\n"
            "# HELP autoglm_model_loads_total Models loaded from disk (a model kept loaded is not counted again).\n"
            "# TYPE autoglm_model_loads_total counter\nautoglm_model_loads_total %lld\n"
            "# HELP autoglm_prefix_reused_tokens_total Prompt positions taken from another slot's cache or the prefix cache instead of recomputed.\n"
            "# TYPE autoglm_prefix_reused_tokens_total counter\nautoglm_prefix_reused_tokens_total %lld\n"
            "# HELP autoglm_kv_blocks_in_use KV cache blocks held (by slots and cached prefixes) in the loaded models' block pools.\n"
            "# TYPE autoglm_kv_blocks_in_use gauge\nautoglm_kv_blocks_in_use %lld\n"
            "# HELP autoglm_kv_blocks_total KV cache blocks of the loaded models' block pools.\n"
            "# TYPE autoglm_kv_blocks_total gauge\nautoglm_kv_blocks_total %lld\n"
            "# HELP autoglm_kv_block_positions Positions (tokens) per KV cache block.\n"
            "# TYPE autoglm_kv_block_positions gauge\nautoglm_kv_block_positions %d\n"
            "# HELP autoglm_prefix_cache_entries Prompt prefixes kept after their requests (evicted least recently used).\n"
            "# TYPE autoglm_prefix_cache_entries gauge\nautoglm_prefix_cache_entries %d\n",
        g->models, g->queued, g->slots_active, g->slots_total, (long long)g->kv_tokens, (long long)g->model_loads,
        (long long)g->prefix_reused, (long long)g->kv_blocks_used, (long long)g->kv_blocks_total, g->kv_block_positions,
        g->prefix_entries);
    put(&t, "# HELP autoglm_gpu_model_memory_bytes Device memory of the loaded models (weights, KV caches, scratch).\n"
            "# TYPE autoglm_gpu_model_memory_bytes gauge\nautoglm_gpu_model_memory_bytes %lld\n", (long long)g->vram_bytes);
    if (g->gpu) {
        if (g->gpu_power_w >= 0)
            put(&t, "# HELP autoglm_gpu_power_watts Power draw of GPU 0 (NVML).\n# TYPE autoglm_gpu_power_watts gauge\n"
                    "autoglm_gpu_power_watts %.3f\n", g->gpu_power_w);
        if (g->gpu_power_limit_w >= 0)
            put(&t, "# HELP autoglm_gpu_power_limit_watts Power limit of GPU 0 in effect (the power mode's where NVML allows).\n"
                    "# TYPE autoglm_gpu_power_limit_watts gauge\nautoglm_gpu_power_limit_watts %.3f\n", g->gpu_power_limit_w);
        put(&t, "# HELP autoglm_gpu_memory_used_bytes Memory used on GPU 0 by all processes (NVML).\n"
                "# TYPE autoglm_gpu_memory_used_bytes gauge\nautoglm_gpu_memory_used_bytes %.0f\n", g->gpu_memory_used);
    }
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
