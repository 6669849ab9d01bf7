/*
 * session.c - ag_session: one sequence's KV cache, scratch and logits over a loaded model,
 * and ag_session_eval, which feeds tokens through the forward pass in batches of n_batch
 * (the cache contiguous, or in blocks of a pool given in ag_session_params: allocated as
 * positions are written, released by truncate/reset)
 * (the structure is in session_impl.h, shared with batch.c and session_share.c). For a model
 * placed on a GPU (gpu/gpu.h) the KV cache and scratch live on the device instead (with partial
 * offload: on the device for its layers, here for the rest).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "engine/session_impl.h"
#include "gpu/gpu.h"
#include "model/kv_blocks.h"

/* "f16" (or NULL), "f32", "q8_0", "q4_0" -> the cache element type; the block types need
 * head_dim to be a multiple of their 32-element block (each head's slice whole blocks). */
ag_status ag_session_kv_type_parse(const char *name, int head_dim, ag_type *type, ag_error *err) {
    static const struct { const char *name; ag_type type; } types[] = {
        {"f16", AG_TYPE_F16}, {"f32", AG_TYPE_F32}, {"q8_0", AG_TYPE_Q8_0}, {"q4_0", AG_TYPE_Q4_0}};
    if (!name || !*name) name = "f16";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(name, types[i].name) != 0) continue;
        *type = types[i].type;
        if ((*type == AG_TYPE_Q8_0 || *type == AG_TYPE_Q4_0) && head_dim % 32 != 0)
            return ag_error_set(err, AG_ERR_UNSUPPORTED,
                                "KV cache type %s needs a head size that is a multiple of 32 (this model's is %d): use f16 or f32",
                                name, head_dim);
        return AG_OK;
    }
    return ag_error_set(err, AG_ERR_INVALID_ARG, "unknown KV cache type '%s' (f16, f32, q8_0 or q4_0)", name);
}

size_t ag_model_kv_bytes_per_token(const ag_model *m, const char *kv_type) {
    ag_type t = AG_TYPE_F16;
    if (ag_session_kv_type_parse(kv_type, m->hp.head_dim, &t, NULL) != AG_OK) return 0;
    return 2 * (size_t)m->hp.n_layer * ag_type_row_size(t, (int64_t)m->hp.n_head_kv * m->hp.head_dim);
}

size_t ag_session_kv_bytes_per_token(const ag_session *s) {
    const ag_hparams *hp = &s->model->hp;
    const ag_type t = s->gpu ? ag_gpu_session_kv_type(s->gpu) : s->kv.type;
    return 2 * (size_t)hp->n_layer * ag_type_row_size(t, (int64_t)hp->n_head_kv * hp->head_dim); /* K and V */
}

ag_session *ag_session_new(const ag_model *m, const ag_session_params *params, ag_error *err) {
    ag_session_params p = params ? *params : (ag_session_params){0};
    if (m->vocab_only) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "the model was loaded for its vocabulary only");
        return NULL;
    }
    if (ag_model_is_embedding(m)) {
        ag_error_set(err, AG_ERR_UNSUPPORTED, "'%s' is an embedding model: use `autoglm embed` (ag_embed_tokens)", m->arch);
        return NULL;
    }
    if (p.n_ctx < 0 || p.n_batch < 0 || p.n_threads < 0) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "negative session parameter");
        return NULL;
    }
    if (p.n_ctx == 0) p.n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    if (p.n_ctx > (1 << 20)) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "num_ctx %d is too large", p.n_ctx);
        return NULL;
    }
    if (p.n_batch == 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_threads == 0) p.n_threads = m->n_threads;
    ag_type kv_type;
    if (p.kv_pool) { /* the blocks' type is the pool's */
        if (p.kv_pool->model != m) {
            ag_error_set(err, AG_ERR_INVALID_ARG, "the KV block pool belongs to another model");
            return NULL;
        }
        if (m->cuda) {
            ag_error_set(err, AG_ERR_UNSUPPORTED, "a KV block pool serves sessions on the CPU; this model runs on %s", m->device);
            return NULL;
        }
        if (p.kv_type && ag_session_kv_type_parse(p.kv_type, m->hp.head_dim, &kv_type, err)) return NULL;
        if (p.kv_type && kv_type != p.kv_pool->type) {
            ag_error_set(err, AG_ERR_INVALID_ARG, "KV cache type %s differs from the block pool's", p.kv_type);
            return NULL;
        }
        kv_type = p.kv_pool->type;
    } else if (ag_session_kv_type_parse(p.kv_type, m->hp.head_dim, &kv_type, err))
        return NULL;
    ag_session *s = calloc(1, sizeof *s);
    if (!s) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->model = m;
    s->n_ctx = p.n_ctx;
    s->n_batch = s->n_batch_max = p.n_batch;
    s->pool = ag_threadpool_new(p.n_threads);
    if (!s->pool) {
        ag_error_set(err, AG_ERR_NOMEM, "cannot start %d threads", p.n_threads);
        goto fail;
    }
    if (m->cuda) {
        if (!(s->gpu = ag_gpu_session_new(m, s->n_ctx, s->n_batch, kv_type, err))) goto fail;
        s->gpu_bytes = ag_gpu_session_bytes(s->gpu);
        atomic_fetch_add(&((ag_model *)m)->gpu_session_bytes, s->gpu_bytes); /* the model's device gauge */
    }
    /* the CPU's KV cache and scratch: all of it on the CPU, the layers after the GPU's with partial
     * offload (the cache is sized for every layer, but the GPU's rows are never touched, so
     * calloc's zero pages of them stay unmapped) */
    if ((!m->cuda || ag_gpu_partial(m)) &&
        ((p.kv_pool ? ag_kv_cache_init_blocks(&s->kv, p.kv_pool, s->n_ctx, err)
                    : ag_kv_cache_init(&s->kv, m, s->n_ctx, kv_type, err)) ||
         ag_fwd_scratch_init(&s->scratch, m, s->n_batch, s->n_ctx, ag_threadpool_n_threads(s->pool), err)))
        goto fail;
    s->n_logits_cap = 1;
    s->logits = malloc((size_t)m->hp.n_vocab * sizeof(float));
    if (!s->logits) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (s->gpu) s->logits_pinned = ag_gpu_pin(s->logits, (size_t)m->hp.n_vocab * sizeof(float));
    s->power = (ag_power_params){AG_POWER_PERFORMANCE, ag_threadpool_max_threads(s->pool), s->n_batch_max, 0.0};
    return s;
fail:
    ag_session_free(s);
    return NULL;
}

void ag_session_free(ag_session *s) {
    if (!s) return;
    if (s->gpu) atomic_fetch_sub(&((ag_model *)s->model)->gpu_session_bytes, s->gpu_bytes);
    ag_gpu_session_free(s->gpu);
    ag_kv_cache_free(&s->kv);
    ag_fwd_scratch_free(&s->scratch);
    ag_threadpool_free(s->pool);
    if (s->logits_pinned) ag_gpu_unpin(s->logits);
    if (s->batch_logits_pinned) ag_gpu_unpin(s->batch_logits);
    free(s->logits);
    free(s->batch_logits);
    free(s->mm_marks);
    free(s);
}

ag_status ag_session_reserve_logits(ag_session *s, int rows, ag_error *err) {
    if (rows <= s->n_logits_cap) return AG_OK;
    const size_t bytes = (size_t)rows * s->model->hp.n_vocab * sizeof(float);
    if (s->logits_pinned) ag_gpu_unpin(s->logits); /* realloc may move or free it */
    s->logits_pinned = false;
    float *p = realloc(s->logits, bytes);
    if (!p) return ag_error_set(err, AG_ERR_NOMEM, "cannot allocate logits for %d tokens", rows);
    s->logits = p;
    s->n_logits_cap = rows;
    if (s->gpu) s->logits_pinned = ag_gpu_pin(p, bytes);
    return AG_OK;
}

ag_status ag_session_set_power(ag_session *s, const ag_power_params *p, ag_error *err) {
    if (!p || (unsigned)p->mode > AG_POWER_POWERSAVE || p->n_threads < 0 || p->n_batch < 0 || !(p->max_tokens_per_s >= 0))
        return ag_error_set(err, AG_ERR_INVALID_ARG, "invalid power settings");
    const int max_thr = ag_threadpool_max_threads(s->pool);
    int thr = max_thr, batch = s->n_batch_max;
    if (p->mode == AG_POWER_BALANCED) thr = (max_thr + 1) / 2, batch = batch < 64 ? batch : 64;
    if (p->mode == AG_POWER_POWERSAVE) thr = 1, batch = batch < 16 ? batch : 16;
    if (p->n_threads) thr = p->n_threads < max_thr ? p->n_threads : max_thr;
    if (p->n_batch) batch = p->n_batch < s->n_batch_max ? p->n_batch : s->n_batch_max;
    ag_threadpool_set_active(s->pool, thr);
    s->n_batch = batch;
    s->power = (ag_power_params){p->mode, thr, batch, p->max_tokens_per_s};
    s->next_ok = 0;
    return AG_OK;
}

ag_power_params ag_session_get_power(const ag_session *s) { return s->power; }

int ag_power_mode_from_name(const char *name) {
    const char *names[] = {"performance", "balanced", "powersave"};
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rate cap: a chunk of c tokens that started at t0 may be followed no earlier than
 * max(next_ok, t0) + c / cap; sleep until then. */
static void pace(ag_session *s, double t0, int c) {
    const double cap = s->power.max_tokens_per_s;
    if (cap <= 0) return;
    s->next_ok = (s->next_ok > t0 ? s->next_ok : t0) + c / cap;
    const double wait = s->next_ok - now_s();
    if (wait > 0) {
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}

ag_status ag_session_eval(ag_session *s, const ag_token *tokens, int n, bool all_logits, ag_error *err) {
    if (n <= 0) return ag_error_set(err, AG_ERR_INVALID_ARG, "no tokens to evaluate");
    if (n > s->n_ctx - s->n_past)
        return ag_error_set(err, AG_ERR_CONTEXT_FULL,
                            "%d tokens do not fit in the context: %d of %d positions used", n,
                            s->n_past, s->n_ctx);
    const int n_vocab = s->model->hp.n_vocab;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return ag_error_set(err, AG_ERR_INVALID_ARG, "token id %d out of range [0, %d)", tokens[i], n_vocab);
    ag_status st = ag_session_reserve_logits(s, all_logits ? n : 1, err);
    if (st) return st;
    for (int done = 0; done < n;) {
        const int chunk = n - done < s->n_batch ? n - done : s->n_batch;
        /* without all_logits each chunk writes its last token's logits; the final chunk's stay */
        float *out = all_logits ? s->logits + (size_t)done * n_vocab : s->logits;
        const double t0 = s->power.max_tokens_per_s > 0 ? now_s() : 0;
        if ((st = ag_kv_cache_prepare(&s->kv, s->n_past, chunk, err))) { /* blocks: the pool is full */
            s->n_logits = 0;
            return st;
        }
        s->scratch.rope_delta = s->pos_delta; /* text after images (session_image.c) */
        if (s->gpu) {
            /* the device runs a pass whole (a graph for decode): the yield and abort points are
               before it and, for the abort, after it (the pass is then dropped) */
            if (!ag_fwd_should_abort(&s->scratch)) {
                ag_gpu_cpu_part cpu = {&s->kv, &s->scratch, s->pool};
                if ((st = ag_gpu_forward(s->gpu, s->model, &cpu, tokens + done, chunk, s->n_past, out, all_logits, err)))
                    return st;
                if (!s->scratch.aborted) ag_fwd_abort_check(&s->scratch);
            }
        } else
            ag_forward(s->model, &s->kv, &s->scratch, s->pool, tokens + done, chunk, s->n_past, out, all_logits);
        if (s->scratch.aborted) { /* n_past stays: the chunk is recomputed when evaluated again */
            s->n_logits = 0;
            return ag_error_set(err, AG_ERR_ABORTED, "aborted at position %d", s->n_past);
        }
        pace(s, t0, chunk);
        s->n_past += chunk;
        done += chunk;
    }
    s->n_logits = all_logits ? n : 1;
    return AG_OK;
}

const float *ag_session_logits(const ag_session *s, int i) {
    if (i < 0) i = s->n_logits - 1;
    if (i < 0 || i >= s->n_logits) return NULL;
    return s->logits + (size_t)i * s->model->hp.n_vocab;
}

int ag_session_n_past(const ag_session *s) { return s->n_past; }
int ag_session_n_ctx(const ag_session *s) { return s->n_ctx; }
void ag_session_reset(ag_session *s) {
    s->n_past = 0;
    s->n_logits = 0;
    ag_session_mm_truncate(s, 0);
    ag_kv_cache_truncate(&s->kv, 0); /* blocks go back to the pool */
}

void ag_session_truncate(ag_session *s, int n_keep) {
    if (n_keep < 0) n_keep = 0;
    if (n_keep < s->n_past) s->n_past = n_keep;
    s->n_logits = 0;
    ag_session_mm_truncate(s, s->n_past);
    ag_kv_cache_truncate(&s->kv, s->n_past); /* blocks wholly past n_past go back to the pool */
}
