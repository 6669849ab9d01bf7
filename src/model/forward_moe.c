/*
 * forward_moe.c - the mixture-of-experts feed-forward (mixtral, qwen3moe):
 *   p = softmax(xb @ ffn_gate_inp)                     (n_expert) per token
 *   top-k experts by p, weights p_k (renormalized to sum 1 when expert_norm)
 *   y = sum_k p_k * (silu(xb @ gate_k) * (xb @ up_k)) @ down_k
 * Tokens are grouped by expert so that each expert's matrices are read once per batch.
 * Scratch: s->arch, laid out per batch as [logits n*E][ids n*K][weights n*K][x n*e][gate n*f]
 * [up n*f][expert output n*e][rows n]; the output is accumulated in s->hb (n*e).
 */
#include <math.h>
#include <string.h>

#include "model/forward_arch.h"

static ag_weight expert_view(const ag_weight *w, int e) {
    ag_weight v = *w;
    v.data = (const uint8_t *)w->data + (size_t)e * (size_t)w->ne[1] * w->row_bytes;
    return v;
}

/* Top-k of p (n values) into ids/wts, largest first (ties: lower index first, as torch.topk). */
static void top_k(const float *p, int n, int k, float *ids, float *wts) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            bool taken = false;
            for (int q = 0; q < j; q++) taken |= (int)ids[q] == i;
            if (!taken && (best < 0 || p[i] > p[best])) best = i;
        }
        ids[j] = (float)best;
        wts[j] = p[best];
    }
}

void ag_fwd_moe(const ag_model *m, const ag_layer *l, ag_fwd_scratch *s, ag_threadpool *pool, int n) {
    const ag_hparams *hp = &m->hp;
    const int E = hp->n_expert, K = hp->n_expert_used, e = hp->n_embd, f = hp->n_ff_exp;
    float *logits = s->arch, *ids = logits + (size_t)n * E, *wts = ids + (size_t)n * K;
    float *xg = wts + (size_t)n * K, *g = xg + (size_t)n * e, *u = g + (size_t)n * f;
    float *yg = u + (size_t)n * f, *rows = yg + (size_t)n * e, *out = s->hb;
    ag_fwd_matmul(pool, &l->ffn_gate_inp, s->xb, logits, n, &s->mm);
    for (int t = 0; t < n; t++) {
        float *p = logits + (size_t)t * E;
        ag_softmax(p, E);
        top_k(p, E, K, ids + (size_t)t * K, wts + (size_t)t * K);
        if (hp->expert_norm) {
            float sum = 0;
            for (int j = 0; j < K; j++) sum += wts[(size_t)t * K + j];
            for (int j = 0; j < K; j++) wts[(size_t)t * K + j] /= sum;
        }
    }
    memset(out, 0, (size_t)n * e * sizeof(float));
    for (int ex = 0; ex < E; ex++) {
        int cnt = 0;
        for (int t = 0; t < n; t++)
            for (int j = 0; j < K; j++)
                if ((int)ids[(size_t)t * K + j] == ex) {
                    memcpy(xg + (size_t)cnt * e, s->xb + (size_t)t * e, (size_t)e * sizeof(float));
                    rows[cnt++] = (float)(t * K + j);
                }
        if (!cnt) continue;
        const ag_weight wg = expert_view(&l->ffn_gate_exps, ex), wu = expert_view(&l->ffn_up_exps, ex),
                        wd = expert_view(&l->ffn_down_exps, ex);
        ag_fwd_matmul(pool, &wg, xg, g, cnt, &s->mm);
        ag_fwd_matmul(pool, &wu, xg, u, cnt, &s->mm);
        for (int c = 0; c < cnt; c++) ag_silu_mul(g + (size_t)c * f, u + (size_t)c * f, f);
        ag_fwd_matmul(pool, &wd, g, yg, cnt, &s->mm);
        for (int c = 0; c < cnt; c++) {
            const int r = (int)rows[c], t = r / K;
            const float w = wts[r];
            for (int i = 0; i < e; i++) out[(size_t)t * e + i] += w * yg[(size_t)c * e + i];
        }
    }
    memcpy(s->xb, out, (size_t)n * e * sizeof(float));
}
