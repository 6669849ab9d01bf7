/*
 * forward_multi.c - the decoder forward pass for a batch whose rows belong to different
 * sequences (continuous batching in the server): the same steps as forward.c, with
 *   q, k, v = xb @ wq, wk, wv       all rows at once; row t rotated at pos[t]
 *   k, v -> kv[t] at pos[t]
 *   xb[t] = softmax(q[t] . K_t[0..pos[t]]^T * scale) . V_t     per (row, head), row t's cache
 * and every other product (wo, feed-forward, output) over all rows. Relies on the family steps
 * of forward_arch.h; keeps the sliding window, soft-capping, post-norms and embedding scale.
 */
#include "model/forward_multi.h"

#include <math.h>
#include <string.h>

#include "cpu/ops.h"
#include "cpu/ops_arch.h"
#include "cpu/vec.h"
#include "model/kv_blocks.h"
#include "model/kv_quant.h"
#include "model/forward_arch.h"
#include "tensor/quant.h"

/* ---------------------------------------------------------------- attention per row */

typedef struct {
    const ag_hparams *hp;
    ag_kv_cache *const *kv;
    const int *pos;
    ag_fwd_scratch *s;
    int il;
    int stride; /* floats of scores per thread */
    float scale, softcap;
    int n_swa;
} multi_attn_job;

/* One (row, head): out = softmax(q . K[0..pos]^T * scale) . V[0..pos] over the row's own cache,
 * read in runs of consecutive rows (model/kv_blocks.h; row after row, so either layout gives the
 * same bits). */
static void multi_attn_task(void *ctx, int64_t task, int thread) {
    const multi_attn_job *j = ctx;
    const ag_hparams *hp = j->hp;
    const int hd = hp->head_dim, t = (int)(task / hp->n_head), h = (int)(task % hp->n_head);
    const ag_kv_cache *kv = j->kv[t];
    const int kvh = h / (hp->n_head / hp->n_head_kv), n_pos = j->pos[t] + 1;
    const int p0 = j->n_swa > 0 && n_pos > j->n_swa ? n_pos - j->n_swa : 0;
    const float *q = j->s->q + ((size_t)t * hp->n_head + h) * hd;
    float *out = j->s->xb + ((size_t)t * hp->n_head + h) * hd;
    float *att = j->s->scores + (size_t)thread * j->stride;
    const size_t head_off = ag_type_row_size(kv->type, (int64_t)kvh * hd), rb = kv->row_bytes;
    if (ag_kv_type_quantized(kv->type)) {
        ag_kv_attend_quant_cache(kv, j->il, p0, n_pos - p0, head_off, q, hd, j->scale, j->softcap, att,
                                 j->s->qh + (size_t)thread * hd, out);
        return;
    }
    const ag_type_traits *tr = ag_type_traits_get(kv->type);
    const void *qc = q;
    if (kv->type != AG_TYPE_F32) { /* the query rounded to the cache type, as forward.c does */
        void *qbuf = j->s->qh + (size_t)thread * hd;
        tr->from_float(q, qbuf, hd);
        qc = qbuf;
    }
    uint8_t *k0, *v0;
    for (int p = p0, r; p < n_pos; p += r) {
        r = ag_kv_run(kv, j->il, p, n_pos - p, &k0, &v0);
        for (int i = 0; i < r; i++) {
            float sc;
            tr->vec_dot(hd, &sc, k0 + (size_t)i * rb + head_off, qc);
            att[p + i] = j->softcap > 0 ? j->softcap * tanhf(sc * j->scale / j->softcap) : sc * j->scale;
        }
    }
    ag_softmax(att + p0, n_pos - p0);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int p = p0, r; p < n_pos; p += r) {
        r = ag_kv_run(kv, j->il, p, n_pos - p, &k0, &v0);
        for (int i = 0; i < r; i++) {
            const uint8_t *vrow = v0 + (size_t)i * rb + head_off;
            if (kv->type == AG_TYPE_F32) {
                const float *vf = (const float *)vrow;
                for (int d = 0; d < hd; d++) out[d] += att[p + i] * vf[d];
            } else {
                ag_vec_mad_f16(hd, out, (const uint16_t *)vrow, att[p + i]);
            }
        }
    }
}

/* k, v rows (n, kv_dim) -> each row's cache at its position (made writable by the caller). */
static void store_rows(ag_kv_cache *const *kv, const int *pos, int il, const float *k, const float *v, int n,
                       int64_t kv_dim) {
    for (int t = 0; t < n; t++) {
        ag_kv_cache *c = kv[t];
        uint8_t *dk, *dv;
        ag_kv_run(c, il, pos[t], 1, &dk, &dv);
        if (c->type == AG_TYPE_F32) {
            memcpy(dk, k + t * kv_dim, (size_t)kv_dim * sizeof(float));
            memcpy(dv, v + t * kv_dim, (size_t)kv_dim * sizeof(float));
        } else {
            const ag_type_traits *tr = ag_type_traits_get(c->type);
            tr->from_float(k + t * kv_dim, dk, kv_dim);
            tr->from_float(v + t * kv_dim, dv, kv_dim);
        }
    }
}

/* ---------------------------------------------------------------- the pass */

void ag_forward_multi(const ag_model *m, ag_kv_cache *const *kv, const int *pos, ag_fwd_scratch *s,
                      int scores_stride, ag_threadpool *pool, const ag_token *tokens, int n, float *logits) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd, hd = hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hd;
    for (int t = 0; t < n; t++)
        ag_weight_row_to_float(m->tok_embd.data, m->tok_embd.type, m->tok_embd.row_bytes, tokens[t], e,
                               s->x + (size_t)t * e);
    if (hp->arch->embd_scale)
        for (size_t i = 0; i < (size_t)n * e; i++) s->x[i] *= sqrtf((float)e);
    uint64_t ctx_sum = 0; /* positions attended over all rows (to decide on threads) */
    for (int t = 0; t < n; t++) ctx_sum += (uint64_t)pos[t] + 1;
    s->aborted = false;
    for (int il = 0; il < hp->n_layer; il++) {
        if (ag_fwd_should_abort(s)) return; /* the caller commits nothing */
        const ag_layer *l = &m->layers[il];
        /* attention */
        for (int t = 0; t < n; t++)
            ag_rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, l->attn_norm.data, e, hp->norm_eps);
        ag_fwd_qkv_at(m, l, il, s, pool, n, 0, pos);
        store_rows(kv, pos, il, s->k, s->v, n, kv_dim);
        multi_attn_job job = {hp, kv, pos, s, il, scores_stride, hp->attn_scale, hp->attn_softcap,
                              ag_arch_layer_swa(hp, il) ? hp->n_swa : 0};
        const uint64_t attn_bytes = ctx_sum * hp->n_head * hd * 4;
        ag_threadpool_run(ag_parallel_worth_it(attn_bytes) ? pool : NULL, multi_attn_task, &job,
                          (int64_t)n * hp->n_head);
        ag_fwd_matmul(pool, &l->wo, s->xb, s->hb, n, &s->mm);
        if (l->bo.data) ag_add_bias(s->hb, l->bo.data, n, e);
        ag_fwd_post_norm(m, &l->attn_post_norm, s->hb, n);
        for (size_t i = 0; i < (size_t)n * e; i++) s->x[i] += s->hb[i];
        /* feed-forward */
        for (int t = 0; t < n; t++)
            ag_rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, l->ffn_norm.data, e, hp->norm_eps);
        ag_fwd_ffn(m, l, s, pool, n);
        ag_fwd_post_norm(m, &l->ffn_post_norm, s->xb, n);
        for (size_t i = 0; i < (size_t)n * e; i++) s->x[i] += s->xb[i];
    }
    for (int t = 0; t < n; t++)
        ag_rmsnorm(s->xb + (size_t)t * e, s->x + (size_t)t * e, m->output_norm.data, e, hp->norm_eps);
    ag_fwd_matmul(pool, &m->output, s->xb, logits, n, &s->mm);
    if (hp->final_softcap > 0) ag_softcap(logits, n * hp->n_vocab, hp->final_softcap);
}
