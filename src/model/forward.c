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
 * Families differ only through the options of model/arch.h, applied by forward_arch.c (QKV
 * variants, rotary kind, feed-forward variants, experts) and here (sliding window, soft-capping,
 * post-norms, embedding scale).
 * Matrix products are batched over the tokens so each weight row is read once per batch.
 * Multimodal prompts (engine/session_image.c) replace some input rows by image embeddings and give
 * (t, h, w) rotary positions through the scratch (forward.h).
 */
#include "model/forward.h"

#include "model/forward_arch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cpu/ops.h"
#include "cpu/ops_arch.h"
#include "cpu/vec.h"
#include "model/kv_blocks.h"
#include "model/kv_quant.h"
#include "tensor/quant.h"

/* ---------------------------------------------------------------- scratch */

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Largest activation-conversion buffer any of the model's matrix products needs per token. */
static size_t xq_row_bytes(const ag_model *m) {
    const ag_layer *l;
    size_t best = ag_matmul_scratch_row(m->output.type, m->output.ne[0]);
    for (int il = 0; il < m->hp.n_layer; il++) {
        l = &m->layers[il];
        const ag_weight *lw[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down, &l->wqkv,
                                 &l->ffn_gate_inp, &l->ffn_gate_exps, &l->ffn_up_exps, &l->ffn_down_exps};
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
    s->vacc = malloc((size_t)n_threads * 2 * hp->head_dim * sizeof(float));
    s->arch = malloc(nb * ag_fwd_arch_floats(m) * sizeof(float));
    s->rope_ff = ag_fwd_rope_factors(m, n_ctx);
    const int64_t max_n = (int64_t)max_sz(max_sz(hp->n_embd, q_dim), hp->n_ff);
    const bool mm_ok = ag_matmul_scratch_init(&s->mm, max_n, xq_row_bytes(m), n_batch, n_threads);
    if (!s->x || !s->xb || !s->q || !s->k || !s->v || !s->hb || !s->hb2 || !s->scores || !s->qh || !s->vacc || !s->arch || !mm_ok) {
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
    free(s->vacc);
    free(s->arch);
    ag_matmul_scratch_free(&s->mm);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    const ag_hparams *hp;
    const ag_kv_cache *kv;
    ag_fwd_scratch *s;
    int il;        /* the layer */
    int pos0;
    float scale;
    float softcap; /* > 0: scores = softcap * tanh(scores / softcap) */
    int n_swa;     /* > 0: only the last n_swa positions are seen */
} attn_job;

/* One (token, head): out = softmax(q . K[p0..pos]^T * scale) . V[p0..pos], the cache read in runs
 * of consecutive rows (ag_kv_run: the whole range when contiguous, a block at a time otherwise);
 * each step sums row after row (V through ag_vec_mad_f16_rows_acc's carried partial sums), so both
 * layouts give the same bits. */
static void attn_task(void *ctx, int64_t task, int thread) {
    const attn_job *j = ctx;
    const ag_hparams *hp = j->hp;
    const ag_kv_cache *kv = j->kv;
    const int hd = hp->head_dim, t = (int)(task / hp->n_head), h = (int)(task % hp->n_head);
    const int kvh = h / (hp->n_head / hp->n_head_kv), n_pos = j->pos0 + t + 1;
    const int p0 = j->n_swa > 0 && n_pos > j->n_swa ? n_pos - j->n_swa : 0; /* sliding window */
    const float *q = j->s->q + ((size_t)t * hp->n_head + h) * hd;
    float *out = j->s->xb + ((size_t)t * hp->n_head + h) * hd;
    float *att = j->s->scores + (size_t)thread * kv->n_ctx;
    const size_t head_off = ag_type_row_size(kv->type, (int64_t)kvh * hd), rb = kv->row_bytes;
    const int n_seen = n_pos - p0;
    uint8_t *k0, *v0;
    if (kv->type == AG_TYPE_F16) { /* the query is rounded to the cache type, as the reference does */
        float *qr = j->s->qh + (size_t)thread * hd;
        for (int d = 0; d < hd; d++) qr[d] = ag_fp16_to_fp32(ag_fp32_to_fp16(q[d]));
        for (int p = p0, r; p < n_pos; p += r) {
            r = ag_kv_run(kv, j->il, p, n_pos - p, &k0, &v0);
            ag_vec_dot_f16_rows(r, att + (p - p0), k0 + head_off, rb, qr, hd, j->scale);
        }
        if (j->softcap > 0)
            for (int p = 0; p < n_seen; p++) att[p] = j->softcap * tanhf(att[p] / j->softcap);
        ag_softmax(att, n_seen);
        if (ag_kv_run(kv, j->il, p0, n_seen, &k0, &v0) == n_seen) { /* one run: the sums in registers */
            ag_vec_mad_f16_rows(n_seen, out, v0 + head_off, rb, att, hd);
            return;
        }
        float *acc = j->s->vacc + (size_t)thread * 2 * hd;
        memset(acc, 0, 2 * (size_t)hd * sizeof(float));
        for (int p = p0, r; p < n_pos; p += r) {
            r = ag_kv_run(kv, j->il, p, n_pos - p, &k0, &v0);
            ag_vec_mad_f16_rows_acc(r, acc, v0 + head_off, rb, att + (p - p0), hd, (p - p0) & 1);
        }
        ag_vec_mad_f16_rows_end(out, acc, hd);
        return;
    }
    if (ag_kv_type_quantized(kv->type)) {
        ag_kv_attend_quant_cache(kv, j->il, p0, n_seen, head_off, q, hd, j->scale, j->softcap, att,
                           j->s->qh + (size_t)thread * hd, out);
        return;
    }
    const ag_type_traits *tr = ag_type_traits_get(kv->type);
    for (int p = p0, r; p < n_pos; p += r) { /* F32 cache */
        r = ag_kv_run(kv, j->il, p, n_pos - p, &k0, &v0);
        for (int i = 0; i < r; i++) {
            float sc;
            tr->vec_dot(hd, &sc, k0 + (size_t)i * rb + head_off, q);
            att[p - p0 + i] = j->softcap > 0 ? j->softcap * tanhf(sc * j->scale / j->softcap) : sc * j->scale;
        }
    }
    ag_softmax(att, n_seen);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int p = p0, r; p < n_pos; p += r) {
        r = ag_kv_run(kv, j->il, p, n_pos - p, &k0, &v0);
        for (int i = 0; i < r; i++) {
            const float *vf = (const float *)(v0 + (size_t)i * rb + head_off), a = att[p - p0 + i];
            for (int d = 0; d < hd; d++) out[d] += a * vf[d];
        }
    }
}

/* ---------------------------------------------------------------- the pass */

/* k, v rows (n, kv_dim) of layer il -> the cache at positions pos0.. (made writable by the caller:
 * ag_kv_cache_prepare). */
static void store_kv(const ag_kv_cache *kv, int il, const float *k, const float *v, int n, int pos0, int64_t kv_dim) {
    const ag_type_traits *tr = ag_type_traits_get(kv->type);
    for (int t = 0; t < n; t++) {
        uint8_t *dk, *dv;
        ag_kv_run(kv, il, pos0 + t, 1, &dk, &dv);
        if (kv->type == AG_TYPE_F32) {
            memcpy(dk, k + t * kv_dim, (size_t)kv_dim * sizeof(float));
            memcpy(dv, v + t * kv_dim, (size_t)kv_dim * sizeof(float));
        } else {
            tr->from_float(k + t * kv_dim, dk, kv_dim);
            tr->from_float(v + t * kv_dim, dv, kv_dim);
        }
    }
}

static void attention_block(const ag_model *m, const ag_layer *l, int il, ag_kv_cache *kv,
                            ag_fwd_scratch *s, ag_threadpool *pool, int n, int pos0) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd, hd = hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hd;
    for (int t = 0; t < n; t++)
        ag_rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, l->attn_norm.data, e, hp->norm_eps);
    ag_fwd_qkv(m, l, il, s, pool, n, pos0); /* xb -> q, k, v (biases, Q/K norms, rotary) */
    store_kv(kv, il, s->k, s->v, n, pos0, kv_dim);
    attn_job job = {hp, kv, s, il, pos0, hp->attn_scale, hp->attn_softcap,
                    ag_arch_layer_swa(hp, il) ? hp->n_swa : 0};
    const uint64_t attn_bytes = (uint64_t)n * hp->n_head * (pos0 + n) * hd * 4; /* K and V reads */
    ag_threadpool_run(ag_parallel_worth_it(attn_bytes) ? pool : NULL, attn_task, &job, (int64_t)n * hp->n_head);
    ag_fwd_matmul(pool, &l->wo, s->xb, s->hb, n, &s->mm); /* hb as (n, e) temporary */
    if (l->bo.data) ag_add_bias(s->hb, l->bo.data, n, e);
    ag_fwd_post_norm(m, &l->attn_post_norm, s->hb, n);
    for (size_t i = 0; i < (size_t)n * e; i++) s->x[i] += s->hb[i];
}

static void ffn_block(const ag_model *m, const ag_layer *l, ag_fwd_scratch *s, ag_threadpool *pool, int n) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd;
    for (int t = 0; t < n; t++)
        ag_rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, l->ffn_norm.data, e, hp->norm_eps);
    ag_fwd_ffn(m, l, s, pool, n); /* xb -> xb: gated SiLU/GELU, fused gate-up, or experts */
    ag_fwd_post_norm(m, &l->ffn_post_norm, s->xb, n);
    for (size_t i = 0; i < (size_t)n * e; i++) s->x[i] += s->xb[i];
}

void ag_forward(const ag_model *m, ag_kv_cache *kv, ag_fwd_scratch *s, ag_threadpool *pool,
                const ag_token *tokens, int n, int pos0, float *logits, bool all_logits) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd;
    for (int t = 0; t < n; t++) {
        if (s->embd_rows && s->embd_rows[t]) memcpy(s->x + (size_t)t * e, s->embd_rows[t], (size_t)e * sizeof(float));
        else ag_weight_row_to_float(m->tok_embd.data, m->tok_embd.type, m->tok_embd.row_bytes, tokens[t], e, s->x + (size_t)t * e);
    }
    if (hp->arch->embd_scale) /* gemma: embeddings * sqrt(n_embd), rounded like the reference's */
        for (size_t i = 0; i < (size_t)n * e; i++) s->x[i] *= sqrtf((float)e);
    ag_forward_layers(m, kv, s, pool, 0, n, pos0, logits, all_logits);
}

void ag_forward_layers(const ag_model *m, ag_kv_cache *kv, ag_fwd_scratch *s, ag_threadpool *pool, int il0, int n,
                       int pos0, float *logits, bool all_logits) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd;
    s->aborted = false;
    for (int il = il0; il < hp->n_layer; il++) {
        if (ag_fwd_should_abort(s)) return;
        attention_block(m, &m->layers[il], il, kv, s, pool, n, pos0);
        ffn_block(m, &m->layers[il], s, pool, n);
    }
    const int first = all_logits ? 0 : n - 1, n_out = n - first;
    for (int t = first; t < n; t++)
        ag_rmsnorm(s->xb + (size_t)(t - first) * e, s->x + (size_t)t * e, m->output_norm.data, e,
                   hp->norm_eps);
    ag_fwd_matmul(pool, &m->output, s->xb, logits, n_out, &s->mm);
    if (hp->final_softcap > 0) ag_softcap(logits, n_out * hp->n_vocab, hp->final_softcap);
}
