/*
 * forward.c - the decoder forward pass (llama family: RMSNorm, RoPE, grouped-query attention
 * over the KV cache, SwiGLU feed-forward), its KV cache and scratch buffers.
 *
 * Per layer, for the n tokens of the batch at once:
 *   xb = rmsnorm(x) * attn_norm
 *   q, k, v = xb @ wq, wk, wv ; rope(q, k) ; k, v -> cache[pos0 ..]
 *   xb = softmax(q . K^T / sqrt(head_dim), causal) . V     per head (kv head = head / group)
 *   x += xb @ wo
 *   xb = rmsnorm(x) * ffn_norm
 *   x += (silu(xb @ gate) * (xb @ up)) @ down
 * then logits = rmsnorm(x) * output_norm @ output.
 * Matrix products are batched over the tokens so each weight row is read once per batch.
 */
#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cpu/ops.h"
#include "cpu/vec.h"
#include "tensor/quant.h"

/* ---------------------------------------------------------------- KV cache and scratch */

ag_status ag_kv_cache_init(ag_kv_cache *kv, const ag_model *m, int n_ctx, ag_type type, ag_error *err) {
    memset(kv, 0, sizeof *kv);
    const ag_hparams *hp = &m->hp;
    kv->n_ctx = n_ctx;
    kv->type = type;
    kv->row_bytes = ag_type_row_size(type, (int64_t)hp->n_head_kv * hp->head_dim);
    size_t total = (size_t)hp->n_layer * (size_t)n_ctx * kv->row_bytes;
    kv->k = calloc(1, total);
    kv->v = calloc(1, total);
    if (!kv->k || !kv->v) {
        ag_kv_cache_free(kv);
        return ag_error_set(err, AG_ERR_NOMEM, "cannot allocate the KV cache (%zu MiB for %d tokens)",
                            2 * total >> 20, n_ctx);
    }
    return AG_OK;
}

void ag_kv_cache_free(ag_kv_cache *kv) {
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Largest activation-conversion buffer any of the model's matrix products needs per token. */
static size_t xq_row_bytes(const ag_model *m) {
    const ag_layer *l;
    size_t best = ag_matmul_scratch_row(m->output.type, m->output.ne[0]);
    for (int il = 0; il < m->hp.n_layer; il++) {
        l = &m->layers[il];
        const ag_weight *lw[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down};
        for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++)
            best = max_sz(best, ag_matmul_scratch_row(lw[i]->type, lw[i]->ne[0]));
    }
    return best;
}

ag_status ag_fwd_scratch_init(ag_fwd_scratch *s, const ag_model *m, int n_batch, int n_ctx,
                              int n_threads, ag_error *err) {
    memset(s, 0, sizeof *s);
    const ag_hparams *hp = &m->hp;
    const size_t nb = (size_t)n_batch;
    const size_t q_dim = (size_t)hp->n_head * hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    s->n_batch = n_batch;
    s->n_threads = n_threads;
    s->x = malloc(nb * hp->n_embd * sizeof(float));
    s->xb = malloc(nb * max_sz(hp->n_embd, q_dim) * sizeof(float));
    s->q = malloc(nb * q_dim * sizeof(float));
    s->k = malloc(nb * kv_dim * sizeof(float));
    s->v = malloc(nb * kv_dim * sizeof(float));
    s->hb = malloc(nb * max_sz(hp->n_ff, hp->n_embd) * sizeof(float));
    s->hb2 = malloc(nb * hp->n_ff * sizeof(float));
    s->scores = malloc((size_t)n_threads * n_ctx * sizeof(float));
    s->qh = malloc((size_t)n_threads * hp->head_dim * sizeof(float));
    const int64_t max_n = (int64_t)max_sz(max_sz(hp->n_embd, q_dim), hp->n_ff);
    const bool mm_ok = ag_matmul_scratch_init(&s->mm, max_n, xq_row_bytes(m), n_batch, n_threads);
    if (!s->x || !s->xb || !s->q || !s->k || !s->v || !s->hb || !s->hb2 || !s->scores || !s->qh || !mm_ok) {
        ag_fwd_scratch_free(s);
        return ag_error_set(err, AG_ERR_NOMEM, "cannot allocate scratch buffers for a batch of %d", n_batch);
    }
    return AG_OK;
}

void ag_fwd_scratch_free(ag_fwd_scratch *s) {
    free(s->x);
    free(s->xb);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->hb);
    free(s->hb2);
    free(s->scores);
    free(s->qh);
    ag_matmul_scratch_free(&s->mm);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    const ag_hparams *hp;
    const ag_kv_cache *kv;
    ag_fwd_scratch *s;
    const uint8_t *k_layer, *v_layer; /* this layer's slice of the cache */
    int pos0;
    float scale;
} attn_job;

/* One (token, head): out = softmax(q . K[0..pos]^T * scale) . V[0..pos] */
static void attn_task(void *ctx, int64_t task, int thread) {
    const attn_job *j = ctx;
    const ag_hparams *hp = j->hp;
    const int hd = hp->head_dim, t = (int)(task / hp->n_head), h = (int)(task % hp->n_head);
    const int kvh = h / (hp->n_head / hp->n_head_kv), n_pos = j->pos0 + t + 1;
    const float *q = j->s->q + ((size_t)t * hp->n_head + h) * hd;
    float *out = j->s->xb + ((size_t)t * hp->n_head + h) * hd;
    float *att = j->s->scores + (size_t)thread * j->kv->n_ctx;
    const size_t head_off = ag_type_row_size(j->kv->type, (int64_t)kvh * hd);
    if (j->kv->type == AG_TYPE_F16) { /* the query is rounded to the cache type, as the reference does */
        float *qr = j->s->qh + (size_t)thread * hd;
        for (int d = 0; d < hd; d++) qr[d] = ag_fp16_to_fp32(ag_fp32_to_fp16(q[d]));
        ag_vec_dot_f16_rows(n_pos, att, j->k_layer + head_off, j->kv->row_bytes, qr, hd, j->scale);
        ag_softmax(att, n_pos);
        ag_vec_mad_f16_rows(n_pos, out, j->v_layer + head_off, j->kv->row_bytes, att, hd);
        return;
    }
    const ag_type_traits *tr = ag_type_traits_get(j->kv->type);
    for (int p = 0; p < n_pos; p++) {
        float sc;
        tr->vec_dot(hd, &sc, j->k_layer + (size_t)p * j->kv->row_bytes + head_off, q);
        att[p] = sc * j->scale;
    }
    ag_softmax(att, n_pos);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int p = 0; p < n_pos; p++) { /* F32 cache */
        const float *vf = (const float *)(j->v_layer + (size_t)p * j->kv->row_bytes + head_off);
        for (int d = 0; d < hd; d++) out[d] += att[p] * vf[d];
    }
}

/* ---------------------------------------------------------------- the pass */

static ag_matmul_weight mweight(const ag_weight *w) {
    return (ag_matmul_weight){w->data, w->type, w->row_bytes, w->ne[0], w->ne[1]};
}

static void matmul(ag_threadpool *pool, const ag_weight *w, const float *x, float *y, int n,
                   const ag_matmul_scratch *mm) {
    const ag_matmul_weight mw = mweight(w);
    ag_matmul(pool, &mw, x, y, n, mm);
}

static void store_kv(const ag_kv_cache *kv, uint8_t *dst_layer, const float *src, int n, int pos0,
                     int64_t kv_dim) {
    const ag_type_traits *tr = ag_type_traits_get(kv->type);
    for (int t = 0; t < n; t++) {
        uint8_t *dst = dst_layer + (size_t)(pos0 + t) * kv->row_bytes;
        if (kv->type == AG_TYPE_F32) memcpy(dst, src + t * kv_dim, (size_t)kv_dim * sizeof(float));
        else tr->from_float(src + t * kv_dim, dst, kv_dim);
    }
}

static void attention_block(const ag_model *m, const ag_layer *l, int il, ag_kv_cache *kv,
                            ag_fwd_scratch *s, ag_threadpool *pool, int n, int pos0) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd, hd = hp->head_dim;
    const int64_t q_dim = (int64_t)hp->n_head * hd, kv_dim = (int64_t)hp->n_head_kv * hd;
    const float *ff = m->rope_freqs.data;
    for (int t = 0; t < n; t++)
        ag_rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, l->attn_norm.data, e, hp->norm_eps);
    const ag_matmul_weight wq = mweight(&l->wq), wk = mweight(&l->wk), wv = mweight(&l->wv);
    const ag_matmul_weight *qkv[3] = {&wq, &wk, &wv};
    float *const qkv_out[3] = {s->q, s->k, s->v};
    ag_matmul_multi(pool, qkv, qkv_out, 3, s->xb, n, &s->mm); /* xb quantized once for the three */
    for (int t = 0; t < n; t++) {
        const float pos = (float)(pos0 + t) / hp->rope_scale;
        ag_rope(s->q + t * q_dim, hp->n_head, hd, hp->n_rot, pos, hp->rope_base, ff);
        ag_rope(s->k + t * kv_dim, hp->n_head_kv, hd, hp->n_rot, pos, hp->rope_base, ff);
    }
    const size_t layer_bytes = (size_t)kv->n_ctx * kv->row_bytes;
    uint8_t *k_layer = kv->k + (size_t)il * layer_bytes, *v_layer = kv->v + (size_t)il * layer_bytes;
    store_kv(kv, k_layer, s->k, n, pos0, kv_dim);
    store_kv(kv, v_layer, s->v, n, pos0, kv_dim);
    attn_job job = {hp, kv, s, k_layer, v_layer, pos0, 1.0f / sqrtf((float)hd)};
    const uint64_t attn_bytes = (uint64_t)n * hp->n_head * (pos0 + n) * hd * 4; /* K and V reads */
    ag_threadpool_run(ag_parallel_worth_it(attn_bytes) ? pool : NULL, attn_task, &job, (int64_t)n * hp->n_head);
    matmul(pool, &l->wo, s->xb, s->hb, n, &s->mm); /* hb as (n, e) temporary */
    for (size_t i = 0; i < (size_t)n * e; i++) s->x[i] += s->hb[i];
}

static void ffn_block(const ag_model *m, const ag_layer *l, ag_fwd_scratch *s, ag_threadpool *pool, int n) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd, f = hp->n_ff;
    for (int t = 0; t < n; t++)
        ag_rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, l->ffn_norm.data, e, hp->norm_eps);
    const ag_matmul_weight wg = mweight(&l->ffn_gate), wu = mweight(&l->ffn_up);
    const ag_matmul_weight *gu[2] = {&wg, &wu};
    float *const gu_out[2] = {s->hb, s->hb2};
    ag_matmul_multi(pool, gu, gu_out, 2, s->xb, n, &s->mm);
    for (int t = 0; t < n; t++) ag_silu_mul(s->hb + (size_t)t * f, s->hb2 + (size_t)t * f, f);
    matmul(pool, &l->ffn_down, s->hb, s->xb, n, &s->mm);
    for (size_t i = 0; i < (size_t)n * e; i++) s->x[i] += s->xb[i];
}

void ag_forward(const ag_model *m, ag_kv_cache *kv, ag_fwd_scratch *s, ag_threadpool *pool,
                const ag_token *tokens, int n, int pos0, float *logits, bool all_logits) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd;
    for (int t = 0; t < n; t++)
        ag_weight_row_to_float(m->tok_embd.data, m->tok_embd.type, m->tok_embd.row_bytes, tokens[t],
                               e, s->x + (size_t)t * e);
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(m, &m->layers[il], il, kv, s, pool, n, pos0);
        ffn_block(m, &m->layers[il], s, pool, n);
    }
    const int first = all_logits ? 0 : n - 1, n_out = n - first;
    for (int t = first; t < n; t++)
        ag_rmsnorm(s->xb + (size_t)(t - first) * e, s->x + (size_t)t * e, m->output_norm.data, e,
                   hp->norm_eps);
    matmul(pool, &m->output, s->xb, logits, n_out, &s->mm);
}
