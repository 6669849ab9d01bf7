/*
 * sched_prefix.c - a model's KV block pool and prefix cache (worker thread only, but for the
 * gauges): the slots of a model on the CPU draw their KV caches from one ag_kv_pool (blocks of
 * ag_kv_pool_block_positions() positions, refcounted), sized for every slot at the default
 * context, so that slots share a common prefix by reference (ag_session_copy_prefix) rather than
 * by copy. When a slot is about to lose what its cache holds (truncated for another prompt, or its
 * session replaced), the text part of it is kept as a prefix entry (ag_session_save_prefix: block
 * references, no copy); a later prompt that starts with it takes its blocks
 * (ag_session_load_prefix) and evaluates only the rest, even after the slot moved on. Entries are
 * bounded in number (2 per slot) and by the pool: when a session needs a block and none is
 * free, the pool's reclaim callback drops the least recently used entry. Only sessions of at
 * most the default context draw from the pool (which holds that for every slot), so the slots'
 * own blocks always fit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/sched_impl.h"

int sched_common_prefix(const ag_token *a, int na, const ag_token *b, int nb, ag_token image_token) {
    int k = 0;
    while (k < na && k < nb && a[k] == b[k] && a[k] != image_token) k++;
    return k;
}

static void entry_free(prefix_entry *e) {
    ag_kv_prefix_free(e->kv);
    free(e->tok);
}

/* Drops entry i (under mu: the gauges read the count). */
static void entry_drop(sched_model *m, int i) {
    entry_free(&m->prefixes[i]);
    pthread_mutex_lock(&m->mu);
    m->prefixes[i] = m->prefixes[--m->n_prefixes];
    pthread_mutex_unlock(&m->mu);
}

static int lru(const sched_model *m) {
    int best = -1;
    for (int i = 0; i < m->n_prefixes; i++)
        if (best < 0 || m->prefixes[i].used < m->prefixes[best].used) best = i;
    return best;
}

/* The pool's reclaim callback: a session needs a block and none is free. */
static bool reclaim(void *ctx) {
    sched_model *m = ctx;
    const int i = lru(m);
    if (i < 0) return false;
    entry_drop(m, i);
    return true;
}

void sched_prefix_pool(sched_model *m, const char *kv_type, ag_session_params *sp) {
    if (!m->kv_pool_tried) { /* the first generation: a pool for its KV type, on the CPU only */
        m->kv_pool_tried = true;
        if (ag_model_gpu_layers(m->model) == 0) {
            const int n_ctx = sched_model_ctx(m, 0), bp = ag_kv_pool_block_positions();
            const int n_blocks = m->n_slots * ((n_ctx + bp - 1) / bp);
            ag_error err = {0};
            ag_kv_pool *p = ag_kv_pool_new(m->model, kv_type, n_blocks, &err);
            if (p) {
                ag_kv_pool_set_reclaim(p, reclaim, m);
                snprintf(m->kv_pool_type, sizeof m->kv_pool_type, "%s", kv_type ? kv_type : "f16");
                pthread_mutex_lock(&m->mu);
                m->kv_pool = p;
                pthread_mutex_unlock(&m->mu);
            }
        }
    }
    /* a larger context than the pool was sized for gets its own contiguous cache, so that the
     * slots never run out of blocks (cached prefixes give theirs back on demand) */
    if (m->kv_pool && strcmp(kv_type ? kv_type : "f16", m->kv_pool_type) == 0 && sp->n_ctx <= sched_model_ctx(m, 0))
        sp->kv_pool = m->kv_pool;
}

void sched_prefix_keep(sched_model *m, slot *sl) {
    if (!m->kv_pool || !sl->s || ag_session_kv_blocks(sl->s) == 0) return; /* not a session of the pool */
    int n = sl->n_hist < ag_session_n_past(sl->s) ? sl->n_hist : ag_session_n_past(sl->s);
    n = sched_common_prefix(sl->hist, n, sl->hist, n, m->image_token); /* up to the first image token */
    if (n < PREFIX_MIN) return;
    for (int i = 0; i < m->n_prefixes; i++) {
        prefix_entry *e = &m->prefixes[i];
        const int c = sched_common_prefix(e->tok, e->n, sl->hist, n, m->image_token);
        if (c == n) { /* already kept (or a longer one) */
            e->used = ++m->prefix_clock;
            return;
        }
        if (c == e->n) { /* the new one holds it: replace */
            entry_drop(m, i);
            i--;
        }
    }
    if (m->n_prefixes >= 2 * m->n_slots) entry_drop(m, lru(m));
    if (m->n_prefixes == m->cap_prefixes) {
        const int cap = m->cap_prefixes ? 2 * m->cap_prefixes : 4;
        prefix_entry *p = realloc(m->prefixes, (size_t)cap * sizeof *p);
        if (!p) return;
        pthread_mutex_lock(&m->mu);
        m->prefixes = p;
        m->cap_prefixes = cap;
        pthread_mutex_unlock(&m->mu);
    }
    prefix_entry e = {.n = n, .used = ++m->prefix_clock};
    e.tok = malloc((size_t)n * sizeof *e.tok);
    if (!e.tok || !(e.kv = ag_session_save_prefix(sl->s, n, NULL))) {
        free(e.tok);
        return;
    }
    memcpy(e.tok, sl->hist, (size_t)n * sizeof *e.tok);
    pthread_mutex_lock(&m->mu);
    m->prefixes[m->n_prefixes++] = e;
    pthread_mutex_unlock(&m->mu);
}

int sched_prefix_find(const sched_model *m, const job *j, int *n) {
    int best = -1;
    *n = 0;
    for (int i = 0; i < m->n_prefixes; i++) {
        int c = sched_common_prefix(m->prefixes[i].tok, m->prefixes[i].n, j->prompt, j->n_prompt, m->image_token);
        if (c >= j->n_prompt) c = j->n_prompt - 1; /* the last prompt token is evaluated for its logits */
        if (c > *n) {
            best = i;
            *n = c;
        }
    }
    return best;
}

bool sched_prefix_take(sched_model *m, slot *sl, int e, int n) {
    if (ag_session_load_prefix(sl->s, m->prefixes[e].kv, n, NULL) != AG_OK) return false;
    m->prefixes[e].used = ++m->prefix_clock;
    return true;
}

void sched_prefix_free(sched_model *m) {
    for (int i = 0; i < m->n_prefixes; i++) entry_free(&m->prefixes[i]);
    free(m->prefixes);
    m->prefixes = NULL;
    m->n_prefixes = m->cap_prefixes = 0;
    ag_kv_pool_free(m->kv_pool);
    m->kv_pool = NULL;
}
