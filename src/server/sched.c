/*
 * sched.c - models loaded on demand, their queues, and the worker thread of each model that
 * serves its slots in turns: a prefill chunk per prompt (an image in one piece, through the
 * model's vision projector), one batched decode step for all, and the yield point through which
 * interactive work runs inside a paused batch pass (see sched.h and, for the shared structures,
 * locks and priorities, sched_impl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "autoglm/rerank.h"
#include "base/error.h"
#include "server/sched_impl.h"

enum { PREFILL_CHUNK = 128 }; /* prompt tokens per turn, so long prompts do not stall the others */
enum { MIN_BORROW = 4 };     /* positions worth taking from another slot or the prefix cache rather than recomputing */

sched *sched_new(const sched_config *cfg) {
    sched *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = *cfg;
    if (s->cfg.n_parallel < 1) s->cfg.n_parallel = 1;
    if (s->cfg.max_queue < 0) s->cfg.max_queue = 0;
    sched_set_power(s, s->cfg.power, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->reap, NULL);
    s->reaper_started = pthread_create(&s->reaper, NULL, sched_reaper_main, s) == 0;
    return s;
}

static void slot_clear(slot *sl) {
    ag_sampler_free(sl->smp);
    ag_detok_free(sl->dt);
    ag_json_constraint_free(sl->jc);
    sl->jc = NULL;
    sl->smp = NULL;
    sl->dt = NULL;
    sl->job = NULL;
    sl->held_len = 0;
    sl->pending = -1;
    sl->fresh = false;
    sl->decoding = false;
    sl->t_prefill0 = 0;
}

static void model_free(sched_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_slots; i++) {
        slot_clear(&m->slots[i]);
        ag_session_free(m->slots[i].s);
        free(m->slots[i].hist);
        free(m->slots[i].img_at);
        free(m->slots[i].img_len);
        free(m->slots[i].img_key);
        free(m->slots[i].held);
        free(m->slots[i].masked);
    }
    free(m->slots);
    sched_prefix_free(m); /* after the sessions drawing from the pool */
    ag_vision_free(m->vision); /* before the model it refers to */
    ag_model_free(m->model);
    store_manifest_free(&m->man);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->work);
    free(m);
}

void sched_stop(sched *s) {
    pthread_mutex_lock(&s->mu);
    s->stopped = true;
    pthread_cond_broadcast(&s->reap);
    if (s->reaper_started && !s->reaper_joined) { /* the reaper takes s->mu: let it end first */
        s->reaper_joined = true;
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->reaper, NULL);
        pthread_mutex_lock(&s->mu);
    }
    for (sched_model *m = s->models; m; m = m->next) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->work);
        pthread_mutex_unlock(&m->mu);
    }
    for (sched_model *m = s->models; m; m = m->next)
        if (!m->joined) {
            pthread_join(m->worker, NULL);
            m->joined = true;
        }
    pthread_mutex_unlock(&s->mu);
}

void sched_free(sched *s) {
    if (!s) return;
    sched_stop(s);
    for (sched_model *m = s->models, *next; m; m = next) {
        next = m->next;
        model_free(m);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->reap);
    free(s);
}

void sched_model_unload(sched_model *m) {
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_signal(&m->work);
    pthread_mutex_unlock(&m->mu);
    if (!m->joined) pthread_join(m->worker, NULL);
    m->joined = true;
    model_free(m);
}

const ag_model *sched_model_model(const sched_model *m) { return m->model; }
ag_vision *sched_model_vision(const sched_model *m) { return m->vision; }

const store_manifest *sched_model_manifest(const sched_model *m) { return &m->man; }

void sched_release(sched_model *m, int64_t keep_alive_ns) {
    if (!m) return;
    sched *s = m->owner;
    pthread_mutex_lock(&s->mu);
    if (keep_alive_ns != KEEP_ALIVE_DEFAULT) m->keep_alive_ns = keep_alive_ns;
    if (--m->refs == 0) {
        m->expires_ns = m->keep_alive_ns < 0 ? INT64_MAX : sched_now_ns() + m->keep_alive_ns;
        pthread_cond_broadcast(&s->reap);
    }
    pthread_mutex_unlock(&s->mu);
}

void sched_gauges(sched *s, metrics_gauges *g) {
    memset(g, 0, sizeof *g);
    g->power_mode = (int)sched_get_power(s).mode;
    pthread_mutex_lock(&s->mu);
    g->model_loads = s->loads;
    g->kv_block_positions = ag_kv_pool_block_positions();
    for (sched_model *m = s->models; m; m = m->next) {
        g->models++;
        g->vram_bytes += (int64_t)ag_model_gpu_bytes(m->model);
        pthread_mutex_lock(&m->mu);
        g->queued += m->n_queued;
        g->slots_total += m->n_slots;
        for (int i = 0; i < m->n_slots; i++) {
            g->slots_active += m->slots[i].job != NULL;
            g->kv_tokens += m->slots[i].n_hist;
        }
        g->prefix_reused += m->prefix_borrowed;
        if (m->kv_pool) {
            g->kv_blocks_used += ag_kv_pool_n_used(m->kv_pool);
            g->kv_blocks_total += ag_kv_pool_n_blocks(m->kv_pool);
        }
        g->prefix_entries += m->n_prefixes;
        pthread_mutex_unlock(&m->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

const char *sched_kv_type(const sched *s) { return s->cfg.kv_type ? s->cfg.kv_type : "f16"; }

void sched_foreach(sched *s, void (*fn)(void *ctx, const store_manifest *man, const ag_model *model, int active,
                                        int64_t expires_unix),
                   void *ctx) {
    pthread_mutex_lock(&s->mu);
    const int64_t now = sched_now_ns(), unix_now = (int64_t)time(NULL);
    for (sched_model *m = s->models; m; m = m->next) {
        pthread_mutex_lock(&m->mu);
        int active = m->n_queued;
        for (int i = 0; i < m->n_slots; i++) active += m->slots[i].job != NULL;
        pthread_mutex_unlock(&m->mu);
        int64_t exp = 0; /* never */
        if (m->refs > 0 && m->keep_alive_ns >= 0) exp = unix_now + m->keep_alive_ns / 1000000000;
        else if (m->refs == 0 && m->expires_ns != INT64_MAX) exp = unix_now + (m->expires_ns - now) / 1000000000;
        fn(ctx, &m->man, m->model, active, exp);
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- the worker */

static bool hist_push(slot *sl, const ag_token *t, int n) {
    if (sl->n_hist + n > sl->cap_hist) {
        int cap = sl->cap_hist ? sl->cap_hist : 256;
        while (cap < sl->n_hist + n) cap *= 2;
        ag_token *p = realloc(sl->hist, (size_t)cap * sizeof *p);
        if (!p) return false;
        sl->hist = p;
        sl->cap_hist = cap;
    }
    memcpy(sl->hist + sl->n_hist, t, (size_t)n * sizeof *t);
    sl->n_hist += n;
    return true;
}

/* hist keeps its first n tokens; image runs not wholly inside them go. */
static void hist_truncate(slot *sl, int n) {
    sl->n_hist = n;
    while (sl->n_img > 0 && sl->img_at[sl->n_img - 1] + sl->img_len[sl->n_img - 1] > n) sl->n_img--;
}

/* Notes that hist[at .. at + len) is the image with this key (false: out of memory, nothing kept). */
static bool hist_image(slot *sl, int at, int len, const unsigned char key[32]) {
    if (sl->n_img == sl->cap_img) {
        const int cap = sl->cap_img ? 2 * sl->cap_img : 4;
        int *a = realloc(sl->img_at, (size_t)cap * sizeof *a);
        if (a) sl->img_at = a;
        int *l = a ? realloc(sl->img_len, (size_t)cap * sizeof *l) : NULL;
        if (l) sl->img_len = l;
        unsigned char(*k)[32] = l ? realloc(sl->img_key, (size_t)cap * sizeof *k) : NULL;
        if (!k) return false;
        sl->img_key = k;
        sl->cap_img = cap;
    }
    sl->img_at[sl->n_img] = at;
    sl->img_len[sl->n_img] = len;
    memcpy(sl->img_key[sl->n_img++], key, 32);
    return true;
}

int sched_model_ctx(const sched_model *m, int num_ctx) {
    if (num_ctx > 0) return num_ctx;
    if (m->owner->cfg.num_ctx > 0) return m->owner->cfg.num_ctx;
    int train = ag_model_n_ctx_train(m->model);
    return train < 4096 ? train : 4096;
}

/* Ends the slot's job: publishes what is held back (unless a stop string ended it), the
 * statistics, and lets go of the job. */
static void finish(sched_model *m, slot *sl, const char *reason, bool flush, const char *error) {
    job *j = sl->job;
    size_t rest_len = 0;
    const char *rest = flush && sl->dt ? ag_detok_flush(sl->dt, &rest_len) : NULL;
    int64_t now = sched_now_ns();
    pthread_mutex_lock(&m->mu);
    if (flush) {
        job_publish_locked(j, sl->held, sl->held_len);
        if (rest) job_publish_locked(j, rest, rest_len);
    }
    if (j->kind == JOB_GENERATE) metrics_tokens(m->owner->cfg.metrics, j->stats.prompt_n, j->stats.eval_n);
    if (sl->decoding) j->stats.eval_ns = now - sl->t_decode0;
    else if (sl->t_prefill0) j->stats.prompt_eval_ns = now - sl->t_prefill0;
    j->stats.total_ns = now - j->t0;
    j->stats.done_reason = reason;
    if (error) snprintf(j->stats.error, sizeof j->stats.error, "%s", error);
    j->done = true;
    j->released = true;
    pthread_cond_broadcast(&j->cond);
    slot_clear(sl);
    pthread_mutex_unlock(&m->mu);
}

/* Appends text to the held-back buffer, then publishes all of it that cannot begin a stop
 * string; returns true when a stop string was found (the text from it on is dropped). */
static bool emit(sched_model *m, slot *sl, const char *text, size_t len) {
    job *j = sl->job;
    if (sl->held_len + len + 1 > sl->held_cap) {
        size_t cap = sl->held_cap ? sl->held_cap : 256;
        while (cap < sl->held_len + len + 64) cap *= 2;
        char *p = realloc(sl->held, cap);
        if (!p) return false;
        sl->held = p;
        sl->held_cap = cap;
    }
    memcpy(sl->held + sl->held_len, text, len);
    sl->held_len += len;
    sl->held[sl->held_len] = '\0';
    size_t cut = sl->held_len; /* publish held[0..cut) */
    bool stopped = false;
    for (int i = 0; i < j->opts.n_stop; i++) {
        const char *hit = memmem(sl->held, sl->held_len, j->opts.stop[i], strlen(j->opts.stop[i]));
        if (hit && (size_t)(hit - sl->held) < cut) {
            cut = (size_t)(hit - sl->held);
            stopped = true;
        }
    }
    if (!stopped) /* hold back the longest tail that is a prefix of a stop string */
        for (int i = 0; i < j->opts.n_stop; i++) {
            size_t sl_len = strlen(j->opts.stop[i]);
            for (size_t k = sl_len - 1; k > 0; k--)
                if (k <= sl->held_len && memcmp(sl->held + sl->held_len - k, j->opts.stop[i], k) == 0) {
                    if (sl->held_len - k < cut) cut = sl->held_len - k;
                    break;
                }
        }
    pthread_mutex_lock(&m->mu);
    job_publish_locked(j, sl->held, cut);
    pthread_mutex_unlock(&m->mu);
    memmove(sl->held, sl->held + cut, sl->held_len - cut);
    sl->held_len -= cut;
    if (stopped) sl->held_len = 0;
    return stopped;
}

static void step_embed(sched_model *m, slot *sl) {
    job *j = sl->job;
    if (!j->emb) {
        j->n_embd = ag_model_n_embd(m->model);
        j->emb = malloc((size_t)(j->n_emb ? j->n_emb : 1) * j->n_embd * sizeof *j->emb);
        if (!j->emb) {
            finish(m, sl, "stop", false, "out of memory");
            return;
        }
        sl->t_prefill0 = sched_now_ns();
    }
    if (j->emb_done < j->n_emb) { /* one text per turn */
        ag_error err = {0};
        int i = j->emb_done;
        if (ag_embed(m->model, j->etok[i], j->en[i], j->emb + (size_t)i * j->n_embd, sched_power_threads(m->owner), &err)) {
            finish(m, sl, "stop", false, err.msg);
            return;
        }
        j->stats.prompt_eval_n += j->en[i];
        j->emb_done++;
    }
    if (j->emb_done == j->n_emb) finish(m, sl, "stop", false, NULL);
}

/* A rerank job: RERANK_CHUNK documents per turn, on the power mode's threads. */
enum { RERANK_CHUNK = 8 };
static void step_rerank(sched_model *m, slot *sl) {
    job *j = sl->job;
    if (!sl->t_prefill0) sl->t_prefill0 = sched_now_ns();
    const int i = j->scored_done, nb = j->n_docs - i < RERANK_CHUNK ? j->n_docs - i : RERANK_CHUNK;
    ag_error err = {0};
    const ag_status st = ag_rerank_threads(m->model, j->query, (const char *const *)j->docs + i, nb, j->scores + i, NULL,
                                           sched_power_threads(m->owner), &err);
    if (st != AG_OK) {
        j->stats.error_code = (int)st; /* read by the HTTP thread once done (set under mu by finish) */
        finish(m, sl, "stop", false, err.msg[0] ? err.msg : "rerank failed");
        return;
    }
    j->scored_done += nb;
    if (j->scored_done == j->n_docs) finish(m, sl, "stop", false, NULL);
}

/* Advances a generation by one turn: a chunk of the prompt, then (once the prompt is in) the
 * sampling of the next token. Returns the token the slot wants evaluated in this turn's batched
 * decode step, or -1 (prefill not done, or the job ended). */
static ag_token step_generate(sched_model *m, slot *sl) {
    job *j = sl->job;
    ag_error err = {0};
    if (sl->pending >= 0) return sl->pending; /* sampled during a yield: evaluate it now */
    if (!sl->decoding) { /* a chunk of the prompt */
        int chunk = j->n_prompt - sl->pos < PREFILL_CHUNK ? j->n_prompt - sl->pos : PREFILL_CHUNK;
        int image = -1; /* an image is evaluated whole, in its own piece; text stops before it */
        for (int k = 0; k < j->n_images && image < 0; k++) {
            if (j->image_at[k] == sl->pos) image = k, chunk = j->image_len[k];
            else if (j->image_at[k] > sl->pos && j->image_at[k] < sl->pos + chunk) chunk = j->image_at[k] - sl->pos;
        }
        const int mode = m->yield_mode;
        if (!m->in_yield) m->yield_mode = j->priority == PRIO_BATCH ? YIELD_RUN : YIELD_ADMIT;
        ag_status st = image < 0 ? ag_session_eval(sl->s, j->prompt + sl->pos, chunk, false, &err)
                       : !m->vision ? ag_error_set(&err, AG_ERR_UNSUPPORTED, "the model has no vision projector")
                                    : ag_session_eval_images(sl->s, m->vision, j->prompt + sl->pos, chunk, &j->images[image], 1,
                                                             false, NULL, &err);
        m->yield_mode = mode;
        if (st || !hist_push(sl, j->prompt + sl->pos, chunk) ||
            (image >= 0 && j->image_key && !hist_image(sl, sl->pos, chunk, j->image_key[image]))) {
            finish(m, sl, "stop", false, err.msg[0] ? err.msg : "out of memory");
            return -1;
        }
        sl->pos += chunk;
        j->stats.prompt_eval_n += chunk;
        if (sl->pos < j->n_prompt) return -1;
        sl->decoding = true; /* the prompt is in: sample its first token in this same turn */
        sl->t_decode0 = sched_now_ns();
        pthread_mutex_lock(&m->mu);
        j->stats.prompt_eval_ns = sl->t_decode0 - sl->t_prefill0;
        pthread_mutex_unlock(&m->mu);
    }
    const float *logits = ag_session_logits(sl->s, -1);
    if (sl->jc) { /* constrained output: only tokens that continue a valid document */
        memcpy(sl->masked, logits, (size_t)ag_model_n_vocab(m->model) * sizeof *sl->masked);
        ag_json_constraint_apply(sl->jc, sl->masked);
        logits = sl->masked;
    }
    ag_token tok = ag_sampler_sample(sl->smp, logits);
    if (sl->jc) ag_json_constraint_accept(sl->jc, tok);
    if (ag_token_is_eog(m->model, tok)) {
        finish(m, sl, "stop", true, NULL);
        return -1;
    }
    ag_sampler_accept(sl->smp, tok);
    const int64_t now = sched_now_ns();
    if (sl->produced == 0) metrics_ttft(m->owner->cfg.metrics, (double)(now - j->t0) * 1e-9);
    else metrics_token_latency(m->owner->cfg.metrics, (double)(now - sl->t_last) * 1e-9);
    sl->t_last = now;
    sl->produced++;
    j->stats.eval_n++;
    if (j->n_all == j->cap_all) {
        ag_token *p = realloc(j->all, (size_t)j->cap_all * 2 * sizeof *p);
        if (p) {
            j->all = p;
            j->cap_all *= 2;
        }
    }
    if (j->n_all < j->cap_all) j->all[j->n_all++] = tok;
    size_t len;
    const char *text = ag_detok_push(sl->dt, tok, &len);
    if (emit(m, sl, text, len)) {
        finish(m, sl, "stop", false, NULL);
        return -1;
    }
    if (sl->jc && ag_json_constraint_finished(sl->jc)) { /* the document is whole: nothing may follow */
        finish(m, sl, "stop", true, NULL);
        return -1;
    }
    if ((j->opts.num_predict >= 0 && sl->produced >= j->opts.num_predict) ||
        ag_session_n_past(sl->s) >= ag_session_n_ctx(sl->s)) {
        finish(m, sl, "length", true, NULL);
        return -1;
    }
    return tok;
}

/* One decode step for every slot that sampled a token this turn (ag_session_eval_batch: the
 * weights are read once for all of them). */
static void decode_batch(sched_model *m, slot **sl, const ag_token *tok, int n) {
    if (n == 0) return;
    ag_session *ss[64];
    bool batch_only = true;
    for (int i = 0; i < n; i++) {
        ss[i] = sl[i]->s;
        batch_only = batch_only && sl[i]->job->priority == PRIO_BATCH;
    }
    ag_error err = {0};
    const int mode = m->yield_mode;
    if (!m->in_yield) m->yield_mode = batch_only ? YIELD_RUN : YIELD_ADMIT;
    const ag_status st = ag_session_eval_batch(ss, tok, n, &err);
    m->yield_mode = mode;
    for (int i = 0; i < n; i++) {
        if (st || !hist_push(sl[i], &tok[i], 1)) finish(m, sl[i], "stop", true, err.msg[0] ? err.msg : "out of memory");
        else sl[i]->pending = -1;
    }
}

/* The tokens a slot's cache holds that the job's prompt starts with, up to the first image token:
 * the same image tokens may stand for another image, so image prompts are not reused from
 * there on (the text before the first image is). */
static int shared_prefix(const sched_model *m, const slot *sl, const job *j) {
    return sched_common_prefix(sl->hist, sl->n_hist, j->prompt, j->n_prompt, m->image_token);
}

/* The prefix of the job's prompt this slot's own cache holds, through images too: an image run
 * counts when the slot evaluated the same image (its key) at the same place with the same
 * length (another slot's cache or a kept prefix stops at the first image: shared_prefix). */
static int own_prefix(const sched_model *m, const slot *sl, const job *j) {
    int k = 0, a = 0, b = 0; /* a: the slot's next image run, b: the job's */
    for (;;) {
        k += sched_common_prefix(sl->hist + k, sl->n_hist - k, j->prompt + k, j->n_prompt - k, m->image_token);
        if (k >= sl->n_hist || k >= j->n_prompt || sl->hist[k] != j->prompt[k] || !j->image_key) return k;
        while (a < sl->n_img && sl->img_at[a] < k) a++;
        while (b < j->n_images && j->image_at[b] < k) b++;
        if (a == sl->n_img || b == j->n_images || sl->img_at[a] != k || j->image_at[b] != k ||
            sl->img_len[a] != j->image_len[b] || memcmp(sl->img_key[a], j->image_key[b], 32) != 0)
            return k;
        k += j->image_len[b]; /* the same image: its rows are in this cache */
    }
}

/* Prefix sharing across requests: when another slot's cache, or a prefix kept after an earlier
 * request (sched_prefix.c), holds a longer prefix of this job's prompt than this slot's own (a
 * common system prompt, the history of a chat that moved to another slot), this slot takes it
 * instead of recomputing it: by reference to the same KV blocks when the sessions share the
 * model's block pool, else as a copy of the rows. Returns the positions this slot now holds. */
static int borrow_prefix(sched_model *m, int si, int keep) {
    slot *sl = &m->slots[si];
    const job *j = sl->job;
    int best = -1, best_n = keep;
    for (int i = 0; i < m->n_slots; i++) {
        const slot *o = &m->slots[i];
        if (i == si || !o->s) continue;
        int n = shared_prefix(m, o, j);
        if (n > ag_session_n_past(o->s)) n = ag_session_n_past(o->s);
        if (n >= j->n_prompt) n = j->n_prompt - 1;
        if (n > best_n) {
            best = i;
            best_n = n;
        }
    }
    int entry_n = 0;
    const int entry = sched_prefix_find(m, j, &entry_n);
    const bool from_entry = entry >= 0 && entry_n > best_n; /* the prefix cache holds more */
    if (from_entry) best_n = entry_n;
    if ((!from_entry && best < 0) || best_n - keep < MIN_BORROW) return keep;
    ag_error err = {0};
    const ag_token *src = from_entry ? m->prefixes[entry].tok : m->slots[best].hist;
    if (from_entry ? !sched_prefix_take(m, sl, entry, best_n)
                   : ag_session_copy_prefix(sl->s, m->slots[best].s, best_n, &err) != AG_OK) {
        /* another pool or KV type, a context too small, a full pool: recompute */
        ag_session_truncate(sl->s, keep);
        if (ag_session_n_past(sl->s) < keep) keep = ag_session_n_past(sl->s);
        hist_truncate(sl, keep);
        return keep;
    }
    hist_truncate(sl, 0);
    if (!hist_push(sl, src, best_n)) {
        ag_session_truncate(sl->s, 0);
        return 0;
    }
    m->prefix_borrowed += best_n;
    return best_n;
}

/* Sets a generation up in its slot (outside the lock): the session (recreated when the job
 * wants another context length), the cached prefix it can keep, sampler and detokenizer. */
static void start_generate(sched_model *m, int si) {
    slot *sl = &m->slots[si];
    job *j = sl->job;
    int n_ctx = sched_model_ctx(m, j->opts.num_ctx);
    ag_error err = {0};
    if (sl->s && (ag_session_n_ctx(sl->s) != n_ctx || strcmp(sl->kv_type, j->opts.kv_type) != 0)) {
        sched_prefix_keep(m, sl); /* what the session held stays in the prefix cache */
        ag_session_free(sl->s);
        sl->s = NULL;
        hist_truncate(sl, 0);
    }
    if (!sl->s) {
        ag_session_params sp = {.n_ctx = n_ctx, .n_threads = j->opts.num_thread ? j->opts.num_thread : m->owner->cfg.n_threads,
                                .kv_type = j->opts.kv_type[0] ? j->opts.kv_type : m->owner->cfg.kv_type}; /* the model's PARAMETER over the server's */
        sched_prefix_pool(m, sp.kv_type, &sp); /* blocks of the model's pool when of its KV type */
        sl->s = ag_session_new(m->model, &sp, &err);
        snprintf(sl->kv_type, sizeof sl->kv_type, "%s", j->opts.kv_type);
        hist_truncate(sl, 0);
        if (sl->s) ag_session_set_yield(sl->s, sched_yield_point, m);
    }
    if (!sl->s) {
        finish(m, sl, "stop", false, err.msg);
        return;
    }
    if (j->n_prompt >= ag_session_n_ctx(sl->s)) {
        char msg[128];
        snprintf(msg, sizeof msg, "the prompt is %d tokens, the context %d", j->n_prompt, ag_session_n_ctx(sl->s));
        finish(m, sl, "stop", false, msg);
        return;
    }
    int keep = own_prefix(m, sl, j);
    if (keep == j->n_prompt) keep--; /* evaluate at least one token for the logits */
    for (int k = 0; k < j->n_images; k++) /* never from inside an image: it is evaluated whole */
        if (j->image_at[k] < keep && keep < j->image_at[k] + j->image_len[k]) keep = j->image_at[k];
    if (keep < sl->n_hist) sched_prefix_keep(m, sl); /* what the slot loses stays in the prefix cache */
    ag_session_truncate(sl->s, keep);
    hist_truncate(sl, keep);
    keep = borrow_prefix(m, si, keep);
    sl->pos = keep;
    sl->pending = -1;
    sl->produced = 0;
    sl->decoding = false;
    sl->held_len = 0;
    ag_sampler_params sp = gen_options_sampler(&j->opts);
    sl->smp = ag_sampler_new(&sp, ag_model_n_vocab(m->model), ag_session_n_ctx(sl->s));
    sl->dt = ag_detok_new(m->model);
    if (j->opts.format) {
        if (!sl->masked) sl->masked = malloc((size_t)ag_model_n_vocab(m->model) * sizeof *sl->masked);
        if (!(sl->jc = ag_json_constraint_new(m->model, j->opts.format, &err)) || !sl->masked) {
            finish(m, sl, "stop", false, err.msg[0] ? err.msg : "out of memory");
            return;
        }
    }
    if (!sl->smp || !sl->dt) {
        finish(m, sl, "stop", false, "out of memory");
        return;
    }
    for (int i = 0; i < j->n_prompt; i++) ag_sampler_accept(sl->smp, j->prompt[i]);
    sl->t_prefill0 = sched_now_ns();
}

static job *pop_locked(sched_model *m, int prio) {
    job *j = m->q_head[prio];
    if (!j) return NULL;
    m->q_head[prio] = j->next;
    if (!m->q_head[prio]) m->q_tail[prio] = NULL;
    j->next = NULL;
    j->queued = false;
    m->n_queued--;
    if (prio == PRIO_INTERACTIVE) atomic_fetch_sub(&m->n_inter_queued, 1);
    return j;
}

/* Moves waiting jobs of the classes below max_prio into free slots, interactive first; batch
 * jobs leave one slot free for interactive work when there is more than one. Picks the free
 * slot whose cache shares the longest prefix with the prompt; marks it fresh (to be started).
 * Returns the slots that got a job (bit mask over 64). Under mu. */
static uint64_t admit_locked(sched_model *m, int max_prio) {
    uint64_t started = 0;
    int n_batch = 0, n_free = 0;
    for (int i = 0; i < m->n_slots; i++) {
        if (!m->slots[i].job) n_free++;
        else if (m->slots[i].job->priority == PRIO_BATCH) n_batch++;
    }
    for (int prio = 0; prio < max_prio && n_free > 0; prio++) {
        while (n_free > 0 && m->q_head[prio]) {
            if (prio == PRIO_BATCH && m->n_slots > 1 && n_batch >= m->n_slots - 1) break;
            job *j = pop_locked(m, prio);
            int best = -1, best_keep = -1;
            for (int i = 0; i < m->n_slots; i++) {
                const slot *sl = &m->slots[i];
                if (sl->job) continue;
                int keep = 0;
                if (j->kind == JOB_GENERATE) keep = own_prefix(m, sl, j);
                if (keep > best_keep) {
                    best = i;
                    best_keep = keep;
                }
            }
            m->slots[best].job = j;
            m->slots[best].fresh = true;
            started |= 1ull << best;
            n_free--;
            n_batch += prio == PRIO_BATCH;
        }
    }
    return started;
}

static bool is_inter_generate(const slot *sl) {
    return sl->job && sl->job->priority == PRIO_INTERACTIVE && sl->job->kind == JOB_GENERATE;
}

/* Aging: after cfg.batch_every turns of interactive work alone, batch work in a slot gets a turn
 * (strict priority would starve it under a steady stream of interactive requests) - but never
 * before every interactive generation has its first token, so that time to first token does not
 * pay for it. */
static bool batch_turn_due(const sched_model *m) {
    const int every = m->owner->cfg.batch_every > 0 ? m->owner->cfg.batch_every : SCHED_BATCH_EVERY;
    if (m->inter_turns < every) return false;
    bool batch = false;
    for (int i = 0; i < m->n_slots; i++) {
        const slot *sl = &m->slots[i];
        if (is_inter_generate(sl) && (sl->fresh || sl->produced == 0)) return false;
        batch = batch || (sl->job && sl->job->priority == PRIO_BATCH);
    }
    return batch;
}

/* Starts a fresh slot's job; false when it ended there (an error). */
static bool start_slot(sched_model *m, int i) {
    slot *sl = &m->slots[i];
    if (sl->fresh) {
        sl->fresh = false;
        if (sl->job->kind == JOB_GENERATE) start_generate(m, i);
    }
    return sl->job != NULL;
}

/* One turn: each slot of the turn's class advances once (interactive generations only when
 * inter_only, else everything; interactive first), then one batched decode step for the slots
 * that sampled a token. Cancelled jobs end. Returns the rows of the decode step. */
static int run_turn(sched_model *m, bool inter_only) {
    slot *dec[64];
    ag_token dec_tok[64];
    int n_dec = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < m->n_slots; i++) {
            slot *sl = &m->slots[i];
            if (!sl->job || (sl->job->priority == PRIO_BATCH) != (pass == 1)) continue;
            /* in a yield, the slots of the paused pass are left alone (batch work, their
             * cancellation included, waits for the worker's own turns) */
            if (atomic_load(&sl->job->cancelled) && (!m->in_yield || is_inter_generate(sl))) {
                finish(m, sl, "cancel", false, NULL);
                continue;
            }
            if (inter_only && !is_inter_generate(sl)) continue;
            if (!start_slot(m, i)) continue;
            if (sl->s) sched_power_slot(m, sl);
            if (sl->job->kind == JOB_EMBED) {
                step_embed(m, sl);
                continue;
            }
            if (sl->job->kind == JOB_RERANK) {
                step_rerank(m, sl);
                continue;
            }
            ag_token tok = step_generate(m, sl);
            if (tok >= 0) {
                dec[n_dec] = sl;
                dec_tok[n_dec++] = tok;
            }
        }
    decode_batch(m, dec, dec_tok, n_dec); /* the decoding slots, all in one forward step */
    return n_dec;
}

/* The yield point of every slot session's forward passes (between layers). When an interactive
 * job waits: during a batch-class pass, admit it and run interactive turns until no interactive
 * generation is left; during an interactive pass, admit it and read its prompt up to its first
 * token (streamed now, evaluated in the next decode step). Then the paused pass goes on. */
void sched_yield_point(void *ctx) {
    sched_model *m = ctx;
    const sched_config *cfg = &m->owner->cfg;
    if (cfg->yield_hook) cfg->yield_hook(cfg->yield_hook_ctx, m->in_yield);
    if (m->in_yield || m->yield_mode == YIELD_NONE ||
        atomic_load_explicit(&m->n_inter_queued, memory_order_relaxed) == 0)
        return;
    const int mode = m->yield_mode;
    m->in_yield = true;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        const uint64_t started = m->stop ? 0 : admit_locked(m, PRIO_BATCH); /* interactive jobs only */
        bool any = false;
        for (int i = 0; i < m->n_slots && !m->stop; i++) any = any || is_inter_generate(&m->slots[i]);
        pthread_mutex_unlock(&m->mu);
        if (mode == YIELD_RUN) {
            if (!any || batch_turn_due(m)) break; /* the paused batch pass goes on (aging) */
            run_turn(m, true);
            m->inter_turns++;
            continue;
        }
        for (int i = 0; i < m->n_slots; i++) { /* YIELD_ADMIT: the new jobs' prompts */
            slot *sl = &m->slots[i];
            if (!(started >> i & 1) || !is_inter_generate(sl)) continue;
            if (atomic_load(&sl->job->cancelled)) {
                finish(m, sl, "cancel", false, NULL);
                continue;
            }
            if (!start_slot(m, i)) continue;
            sched_power_slot(m, sl);
            ag_token tok = -1;
            while (sl->job && !sl->decoding && !atomic_load(&sl->job->cancelled)) tok = step_generate(m, sl);
            if (tok >= 0) sl->pending = tok; /* the prompt's last chunk sampled the first token */
        }
        break;
    }
    m->in_yield = false;
    m->yield_mode = mode;
}

static void *worker_main(void *arg) {
    sched_model *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        admit_locked(m, PRIO_COUNT);
        int active = 0;
        bool inter = false; /* priority: batch work waits while an interactive generation runs (aging aside) */
        for (int i = 0; i < m->n_slots; i++) {
            active += m->slots[i].job != NULL;
            inter = inter || is_inter_generate(&m->slots[i]);
        }
        if (!active) {
            pthread_cond_wait(&m->work, &m->mu);
            continue;
        }
        if (inter && batch_turn_due(m)) inter = false;
        pthread_mutex_unlock(&m->mu);
        const int64_t turn0 = sched_now_ns();
        const int n_dec = run_turn(m, inter);
        m->inter_turns = inter ? m->inter_turns + 1 : 0;
        sched_power_pace(m, turn0, n_dec); /* a token-rate cap of the power mode */
        pthread_mutex_lock(&m->mu);
    }
    /* stopping: running jobs end as cancelled, waiting ones too */
    for (int i = 0; i < m->n_slots; i++)
        if (m->slots[i].job) {
            job *j = m->slots[i].job;
            j->stats.done_reason = "cancel";
            j->done = j->released = true;
            pthread_cond_broadcast(&j->cond);
            slot_clear(&m->slots[i]);
        }
    for (int prio = 0; prio < PRIO_COUNT; prio++)
        for (job *j; (j = pop_locked(m, prio));) {
            j->stats.done_reason = "cancel";
            j->done = j->released = true;
            pthread_cond_broadcast(&j->cond);
        }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int sched_submit(sched_model *m, job *j) {
    pthread_mutex_lock(&m->mu);
    int free_slots = 0;
    for (int i = 0; i < m->n_slots; i++) free_slots += m->slots[i].job == NULL;
    if (m->stop || (m->n_queued >= m->owner->cfg.max_queue && free_slots <= m->n_queued)) {
        pthread_mutex_unlock(&m->mu);
        return 503;
    }
    j->model = m;
    j->queued = true;
    if (m->q_tail[j->priority]) m->q_tail[j->priority]->next = j;
    else m->q_head[j->priority] = j;
    m->q_tail[j->priority] = j;
    m->n_queued++;
    if (j->priority == PRIO_INTERACTIVE) atomic_fetch_add(&m->n_inter_queued, 1);
    pthread_cond_signal(&m->work);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/* ---------------------------------------------------------------- loading */

int sched_acquire(sched *s, const char *name, sched_model **out, double *load_s, char *err, size_t cap) {
    *out = NULL;
    *load_s = 0;
    store_manifest man;
    st_error se = {0};
    char norm[STORE_NAME_MAX];
    if (store_parse_name(name, norm, &se) != ST_OK) {
        snprintf(err, cap, "model '%s' not found", name);
        return 404;
    }
    pthread_mutex_lock(&s->mu);
    if (s->stopped) {
        pthread_mutex_unlock(&s->mu);
        snprintf(err, cap, "the server is shutting down");
        return 503;
    }
    for (sched_model *m = s->models; m; m = m->next)
        if (strcmp(m->man.name, norm) == 0) {
            m->refs++;
            *out = m;
            pthread_mutex_unlock(&s->mu);
            return 0;
        }
    int64_t t0 = sched_now_ns();
    st_status st = s->cfg.store_root ? store_read(s->cfg.store_root, norm, &man, &se) : ST_NOT_FOUND;
    if (st) {
        pthread_mutex_unlock(&s->mu);
        if (st == ST_NOT_FOUND || st == ST_INVALID) snprintf(err, cap, "model '%s' not found", name);
        else snprintf(err, cap, "%s", se.msg);
        return st == ST_NOT_FOUND || st == ST_INVALID ? 404 : 500;
    }
    sched_model *m = calloc(1, sizeof *m);
    ag_error ae = {0};
    ag_model_params mp = {.n_threads = s->cfg.n_threads, .trusted_keys = s->cfg.trusted_keys, .device = s->cfg.device,
                          .n_gpu_layers = s->cfg.n_gpu_layers};
    int n_slots = s->cfg.n_parallel < 64 ? s->cfg.n_parallel : 64;
    if (m) {
        m->owner = s;
        m->man = man;
        pthread_mutex_init(&m->mu, NULL);
        pthread_cond_init(&m->work, NULL);
        m->slots = calloc((size_t)n_slots, sizeof *m->slots);
        m->n_slots = n_slots;
        m->model = m->slots ? ag_model_load(man.path, &mp, &ae) : NULL;
        m->image_token = -1;
        if (m->model && man.projector) { /* images: the projector comes and goes with the model */
            m->vision = ag_vision_load(man.projector, m->model, &ae);
            if (!m->vision) {
                char msg[sizeof ae.msg];
                snprintf(msg, sizeof msg, "%s", ae.msg);
                snprintf(ae.msg, sizeof ae.msg, "vision projector %.200s: %.280s", man.projector, msg);
                ag_model_free(m->model);
                m->model = NULL;
            } else {
                m->image_token = ag_vision_image_token(m->vision);
            }
        }
    } else {
        store_manifest_free(&man);
    }
    if (m && m->model) { /* the memory check: the file and the KV caches of every slot (their CPU layers) */
        const int n_ctx = s->cfg.num_ctx > 0 ? s->cfg.num_ctx
                          : ag_model_n_ctx_train(m->model) < 4096 ? ag_model_n_ctx_train(m->model) : 4096;
        /* encoders (embed, rerank) have no KV cache; the layers on a GPU keep theirs in device memory
         * (checked against the device when the model was placed) */
        const int n_layer = ag_model_n_layer(m->model), on_gpu = ag_model_gpu_layers(m->model);
        const uint64_t kv = ag_model_is_embedding(m->model) || n_layer <= 0 ? 0
                            : (uint64_t)n_slots * (uint64_t)n_ctx *
                                  (uint64_t)ag_model_kv_bytes_per_token(m->model, s->cfg.kv_type) /* K and V */
                                  / (uint64_t)n_layer * (uint64_t)(n_layer - on_gpu);
        struct stat pst;
        m->mem_need = man.size + kv + (man.projector && stat(man.projector, &pst) == 0 ? (uint64_t)pst.st_size : 0);
        const uint64_t avail = sched_mem_available(s);
        if (m->mem_need > avail) {
            snprintf(err, cap, "model requires more system memory (%.2f GiB: %.2f file + %.2f KV cache for %d x %d tokens) "
                     "than is available (%.2f GiB)", (double)m->mem_need / (1 << 30), (double)man.size / (1 << 30),
                     (double)kv / (1 << 30), n_slots, n_ctx, (double)avail / (1 << 30));
            model_free(m);
            pthread_mutex_unlock(&s->mu);
            return 507;
        }
    }
    if (!m || !m->model || pthread_create(&m->worker, NULL, worker_main, m) != 0) {
        snprintf(err, cap, "cannot load model '%s': %s", norm, m && !m->model ? ae.msg : "out of memory");
        model_free(m);
        pthread_mutex_unlock(&s->mu);
        return 500;
    }
    if (ag_model_device_note(m->model)) fprintf(stderr, "autoglm serve: %s: %s\n", norm, ag_model_device_note(m->model));
    m->refs = 1;
    m->keep_alive_ns = s->cfg.keep_alive_ns;
    m->next = s->models;
    s->models = m;
    s->loads++;
    pthread_mutex_unlock(&s->mu);
    *load_s = (double)(sched_now_ns() - t0) * 1e-9;
    *out = m;
    return 0;
}
