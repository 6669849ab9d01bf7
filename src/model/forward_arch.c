/*
 * forward_arch.c - the family-dependent steps of the decoder forward pass (see forward_arch.h).
 *
 *   q, k, v = xb @ wq, wk, wv  (+ bq, bk, bv)        or   [q; k; v] = xb @ wqkv   (phi3)
 *   q, k = rmsnorm_per_head(q, k) * attn_q_norm, attn_k_norm          (qwen3, gemma3)
 *   q, k = rope(q, k)   interleaved pairs (llama, glm4) or halves (qwen, gemma, phi3), with the
 *                       context's divisors (rope_freqs, longrope, yarn) and attn factor; GLM-4.1V's
 *                       multimodal rotary (model/mrope.c) when the scratch gives (t, h, w) positions
 *   ffn:  act(xb @ gate) * (xb @ up) @ down     act = silu or gelu_tanh (gemma)
 *         [gate; up] = xb @ ffn_up (2*n_ff rows; phi3, glm4)
 */
#include "model/forward_arch.h"

#include <string.h>

#include "cpu/ops_arch.h"
#include "model/mrope.h"

static ag_matmul_weight mweight(const ag_weight *w) {
    return (ag_matmul_weight){w->data, w->type, w->row_bytes, w->ne[0], w->ne[1], w->packed};
}

void ag_fwd_matmul(ag_threadpool *pool, const ag_weight *w, const float *x, float *y, int n, const ag_matmul_scratch *mm) {
    const ag_matmul_weight mw = mweight(w);
    ag_matmul(pool, &mw, x, y, n, mm);
}

/* Products of the same input with two or three matrices: the input is converted once. */
static void fwd_matmul_multi(ag_threadpool *pool, const ag_weight *const *w, float *const *y, int n_w, const float *x,
                             int n, const ag_matmul_scratch *mm) {
    ag_matmul_weight mw[3];
    const ag_matmul_weight *pw[3];
    for (int i = 0; i < n_w; i++) {
        mw[i] = mweight(w[i]);
        pw[i] = &mw[i];
    }
    ag_matmul_multi(pool, pw, y, n_w, x, n, mm);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

size_t ag_fwd_arch_floats(const ag_model *m) {
    const ag_hparams *hp = &m->hp;
    const size_t q = (size_t)hp->n_head * hp->head_dim, kv = (size_t)hp->n_head_kv * hp->head_dim;
    size_t need = max_sz(q + 2 * kv, 2 * (size_t)hp->n_ff);
    if (hp->n_expert > 0) /* router logits, selection, gathered input, gate, up, expert output, rows */
        need = max_sz(need, (size_t)hp->n_expert + 2 * (size_t)hp->n_expert_used + 2 * (size_t)hp->n_embd +
                                2 * (size_t)hp->n_ff_exp + 1);
    return need;
}

static void per_head_norm(float *x, const ag_weight *w, int n_rows_heads, int hd, float eps) {
    for (int h = 0; h < n_rows_heads; h++) ag_rmsnorm(x + (size_t)h * hd, x + (size_t)h * hd, w->data, hd, eps);
}

void ag_fwd_qkv(const ag_model *m, const ag_layer *l, int il, ag_fwd_scratch *s, ag_threadpool *pool, int n, int pos0) {
    ag_fwd_qkv_at(m, l, il, s, pool, n, pos0, NULL);
}

void ag_fwd_qkv_at(const ag_model *m, const ag_layer *l, int il, ag_fwd_scratch *s, ag_threadpool *pool, int n, int pos0,
                   const int *pos) {
    const ag_hparams *hp = &m->hp;
    const int hd = hp->head_dim, q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    if (l->wqkv.data) {
        const int all = q_dim + 2 * kv_dim;
        ag_fwd_matmul(pool, &l->wqkv, s->xb, s->arch, n, &s->mm);
        for (int t = 0; t < n; t++) {
            const float *r = s->arch + (size_t)t * all;
            memcpy(s->q + (size_t)t * q_dim, r, (size_t)q_dim * sizeof(float));
            memcpy(s->k + (size_t)t * kv_dim, r + q_dim, (size_t)kv_dim * sizeof(float));
            memcpy(s->v + (size_t)t * kv_dim, r + q_dim + kv_dim, (size_t)kv_dim * sizeof(float));
        }
    } else {
        const ag_weight *w[3] = {&l->wq, &l->wk, &l->wv};
        float *const y[3] = {s->q, s->k, s->v};
        fwd_matmul_multi(pool, w, y, 3, s->xb, n, &s->mm);
    }
    if (l->bq.data) ag_add_bias(s->q, l->bq.data, n, q_dim);
    if (l->bk.data) ag_add_bias(s->k, l->bk.data, n, kv_dim);
    if (l->bv.data) ag_add_bias(s->v, l->bv.data, n, kv_dim);
    if (l->attn_q_norm.data) per_head_norm(s->q, &l->attn_q_norm, n * hp->n_head, hd, hp->norm_eps);
    if (l->attn_k_norm.data) per_head_norm(s->k, &l->attn_k_norm, n * hp->n_head_kv, hd, hp->norm_eps);
    const bool swa_base = hp->rope_base_swa > 0 && ag_arch_layer_swa(hp, il);
    const float base = swa_base ? hp->rope_base_swa : hp->rope_base, scale = swa_base ? 1.0f : hp->rope_scale;
    const float *ff = swa_base ? NULL : s->rope_ff;
    const float mscale = swa_base ? 1.0f : hp->rope_attn_factor;
    void (*rope)(float *, int, int, int, float, float, const float *) = ag_rope_halves(hp) ? ag_rope_neox : ag_rope;
    for (int t = 0; t < n; t++) {
        if (hp->mrope && s->mrope_pos) { /* multimodal: (t, h, w) positions by section */
            ag_rope_multi(s->q + (size_t)t * q_dim, hp->n_head, hd, hp->n_rot, s->mrope_pos + 3 * t, hp->mrope_sections, base);
            ag_rope_multi(s->k + (size_t)t * kv_dim, hp->n_head_kv, hd, hp->n_rot, s->mrope_pos + 3 * t, hp->mrope_sections, base);
            continue;
        }
        const int pt = pos ? pos[t] + (s->rope_delta_rows ? s->rope_delta_rows[t] : 0) : pos0 + t + s->rope_delta;
        const float p = (float)pt / scale;
        rope(s->q + (size_t)t * q_dim, hp->n_head, hd, hp->n_rot, p, base, ff);
        rope(s->k + (size_t)t * kv_dim, hp->n_head_kv, hd, hp->n_rot, p, base, ff);
    }
    if (mscale != 1.0f) { /* cos and sin scaled: the rotated dimensions of every head */
        for (int h = 0; h < n * hp->n_head; h++)
            for (int d = 0; d < hp->n_rot; d++) s->q[(size_t)h * hd + d] *= mscale;
        for (int h = 0; h < n * hp->n_head_kv; h++)
            for (int d = 0; d < hp->n_rot; d++) s->k[(size_t)h * hd + d] *= mscale;
    }
}

const float *ag_fwd_rope_factors(const ag_model *m, int n_ctx) {
    if (m->rope_long.data && n_ctx > m->hp.n_ctx_orig) return m->rope_long.data;
    if (m->rope_short.data) return m->rope_short.data;
    return m->rope_yarn ? m->rope_yarn : m->rope_freqs.data;
}

void ag_fwd_ffn(const ag_model *m, const ag_layer *l, ag_fwd_scratch *s, ag_threadpool *pool, int n) {
    const ag_hparams *hp = &m->hp;
    const int f = hp->n_ff;
    if (hp->n_expert > 0) {
        ag_fwd_moe(m, l, s, pool, n);
        return;
    }
    if (l->ffn_gate.data) {
        const ag_weight *w[2] = {&l->ffn_gate, &l->ffn_up};
        float *const y[2] = {s->hb, s->hb2};
        fwd_matmul_multi(pool, w, y, 2, s->xb, n, &s->mm);
    } else { /* [gate; up] in one product */
        ag_fwd_matmul(pool, &l->ffn_up, s->xb, s->arch, n, &s->mm);
        for (int t = 0; t < n; t++) {
            memcpy(s->hb + (size_t)t * f, s->arch + (size_t)t * 2 * f, (size_t)f * sizeof(float));
            memcpy(s->hb2 + (size_t)t * f, s->arch + (size_t)t * 2 * f + f, (size_t)f * sizeof(float));
        }
    }
    for (int t = 0; t < n; t++) {
        if (hp->arch->act == AG_ACT_GELU_TANH) ag_gelu_tanh_mul(s->hb + (size_t)t * f, s->hb2 + (size_t)t * f, f);
        else ag_silu_mul(s->hb + (size_t)t * f, s->hb2 + (size_t)t * f, f);
    }
    ag_fwd_matmul(pool, &l->ffn_down, s->hb, s->xb, n, &s->mm);
}

void ag_fwd_post_norm(const ag_model *m, const ag_weight *w, float *y, int n) {
    if (!w->data) return;
    const int e = m->hp.n_embd;
    for (int t = 0; t < n; t++) ag_rmsnorm(y + (size_t)t * e, y + (size_t)t * e, w->data, e, m->hp.norm_eps);
}
