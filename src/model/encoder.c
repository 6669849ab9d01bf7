/*
 * encoder.c - the bidirectional encoder (bert) and sentence embeddings: ag_embed_tokens.
 *
 * For each sequence of n tokens (all positions see each other; no KV cache):
 *   x = tok_embd[id] + pos_embd[p] + tok_types[0] ; x = layernorm(x) * embd_norm + b
 *   per layer:
 *     q, k, v = x @ wq, wk, wv + biases
 *     a = softmax(q . K^T * attn_scale) . V          per head, over all n positions
 *     x = layernorm(x + (a @ wo + bo)) * attn_output_norm + b
 *     x = layernorm(x + gelu(x @ ffn_up + b) @ ffn_down + b) * layer_output_norm + b
 *   embedding = pool(x) (mean, CLS = x[0], or last), L2-normalized on request
 * Buffers are allocated per call (embedding is not on the decode path).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cpu/ops_arch.h"
#include "model/arch.h"
#include "model/forward_arch.h"

typedef struct {
    float *x, *q, *k, *v, *a, *o, *h, *att; /* (n, e) x5, (n, ff), (n) */
    ag_matmul_scratch mm;
} enc_buf;

static void buf_free(enc_buf *b) {
    free(b->x), free(b->q), free(b->k), free(b->v), free(b->a), free(b->o), free(b->h), free(b->att);
    ag_matmul_scratch_free(&b->mm);
}

static bool buf_init(enc_buf *b, const ag_model *m, int n, int n_threads) {
    const size_t e = (size_t)m->hp.n_embd, ff = (size_t)m->hp.n_ff, nn = (size_t)n;
    memset(b, 0, sizeof *b);
    b->x = malloc(nn * e * 4), b->q = malloc(nn * e * 4), b->k = malloc(nn * e * 4), b->v = malloc(nn * e * 4);
    b->a = malloc(nn * e * 4), b->o = malloc(nn * e * 4), b->h = malloc(nn * ff * 4), b->att = malloc(nn * 4);
    size_t xq = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const ag_layer *l = &m->layers[il];
        const ag_weight *w[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_up, &l->ffn_down};
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            size_t r = ag_matmul_scratch_row(w[i]->type, w[i]->ne[0]);
            if (r > xq) xq = r;
        }
    }
    const bool mm_ok = ag_matmul_scratch_init(&b->mm, (int64_t)(e > ff ? e : ff), xq, n, n_threads);
    return b->x && b->q && b->k && b->v && b->a && b->o && b->h && b->att && mm_ok;
}

static void linear(ag_threadpool *pool, const ag_weight *w, const ag_weight *bias, const float *x, float *y, int n,
                   const ag_matmul_scratch *mm) {
    ag_fwd_matmul(pool, w, x, y, n, mm);
    if (bias->data) ag_add_bias(y, bias->data, n, (int)w->ne[1]);
}

/* Full (bidirectional) attention of n tokens: b->q, k, v -> b->a. */
static void attention(const ag_hparams *hp, enc_buf *b, int n) {
    const int hd = hp->head_dim, e = hp->n_head * hd, e_kv = hp->n_head_kv * hd, group = hp->n_head / hp->n_head_kv;
    for (int t = 0; t < n; t++)
        for (int h = 0; h < hp->n_head; h++) {
            const float *q = b->q + (size_t)t * e + (size_t)h * hd;
            for (int p = 0; p < n; p++) {
                const float *k = b->k + (size_t)p * e_kv + (size_t)(h / group) * hd;
                float s = 0;
                for (int d = 0; d < hd; d++) s += q[d] * k[d];
                b->att[p] = s * hp->attn_scale;
            }
            ag_softmax(b->att, n);
            float *out = b->a + (size_t)t * e + (size_t)h * hd;
            memset(out, 0, (size_t)hd * sizeof(float));
            for (int p = 0; p < n; p++) {
                const float *v = b->v + (size_t)p * e_kv + (size_t)(h / group) * hd;
                for (int d = 0; d < hd; d++) out[d] += b->att[p] * v[d];
            }
        }
}

/* x = layernorm(x + y) * w + b, row by row. */
static void add_norm(float *x, const float *y, const ag_weight *w, const ag_weight *bias, int n, int e, float eps) {
    for (int t = 0; t < n; t++) {
        float *r = x + (size_t)t * e;
        for (int i = 0; i < e; i++) r[i] += y[(size_t)t * e + i];
        ag_layernorm(r, r, w->data, bias->data, e, eps);
    }
}

static void encode(const ag_model *m, enc_buf *b, ag_threadpool *pool, const ag_token *tok, int n, float *out) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd, ff = hp->n_ff;
    float *row = b->o;
    for (int t = 0; t < n; t++) {
        float *x = b->x + (size_t)t * e;
        ag_weight_row_to_float(m->tok_embd.data, m->tok_embd.type, m->tok_embd.row_bytes, tok[t], e, x);
        ag_weight_row_to_float(m->pos_embd.data, m->pos_embd.type, m->pos_embd.row_bytes, t, e, row);
        for (int i = 0; i < e; i++) x[i] += row[i];
        if (m->tok_types.data) {
            ag_weight_row_to_float(m->tok_types.data, m->tok_types.type, m->tok_types.row_bytes, 0, e, row);
            for (int i = 0; i < e; i++) x[i] += row[i];
        }
        ag_layernorm(x, x, m->embd_norm.data, m->embd_norm_b.data, e, hp->norm_eps);
    }
    for (int il = 0; il < hp->n_layer; il++) {
        const ag_layer *l = &m->layers[il];
        linear(pool, &l->wq, &l->bq, b->x, b->q, n, &b->mm);
        linear(pool, &l->wk, &l->bk, b->x, b->k, n, &b->mm);
        linear(pool, &l->wv, &l->bv, b->x, b->v, n, &b->mm);
        attention(hp, b, n);
        linear(pool, &l->wo, &l->bo, b->a, b->o, n, &b->mm);
        add_norm(b->x, b->o, &l->attn_norm, &l->attn_norm_b, n, e, hp->norm_eps);
        linear(pool, &l->ffn_up, &l->ffn_up_b, b->x, b->h, n, &b->mm);
        ag_gelu_erf(b->h, n * ff);
        linear(pool, &l->ffn_down, &l->ffn_down_b, b->h, b->o, n, &b->mm);
        add_norm(b->x, b->o, &l->ffn_norm, &l->ffn_norm_b, n, e, hp->norm_eps);
    }
    memset(out, 0, (size_t)e * sizeof(float));
    if (hp->pooling == 1) {
        for (int t = 0; t < n; t++)
            for (int i = 0; i < e; i++) out[i] += b->x[(size_t)t * e + i] / (float)n;
    } else memcpy(out, b->x + (size_t)(hp->pooling == 2 ? 0 : n - 1) * e, (size_t)e * sizeof(float));
}

bool ag_model_is_embedding(const ag_model *m) { return m && m->hp.arch && m->hp.arch->encoder; }

ag_status ag_embed_tokens(const ag_model *m, const ag_token *const *tokens, const int *n_tokens, int n_seq,
                          float *out, bool normalize, ag_error *err) {
    if (!ag_model_is_embedding(m))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "architecture '%s' is not an embedding (encoder) model",
                            m ? m->arch : "?");
    int max_n = 1;
    for (int i = 0; i < n_seq; i++) {
        if (n_tokens[i] <= 0 || n_tokens[i] > m->hp.n_ctx_train)
            return ag_error_set(err, AG_ERR_CONTEXT_FULL, "sequence %d has %d tokens; the model takes 1 to %d", i,
                                n_tokens[i], m->hp.n_ctx_train);
        for (int t = 0; t < n_tokens[i]; t++)
            if (tokens[i][t] < 0 || tokens[i][t] >= m->hp.n_vocab)
                return ag_error_set(err, AG_ERR_INVALID_ARG, "token %d out of the vocabulary", tokens[i][t]);
        if (n_tokens[i] > max_n) max_n = n_tokens[i];
    }
    ag_threadpool *pool = ag_threadpool_new(m->n_threads);
    enc_buf b;
    const bool ok = buf_init(&b, m, max_n, pool ? ag_threadpool_n_threads(pool) : 1);
    if (!pool || !ok) {
        buf_free(&b);
        ag_threadpool_free(pool);
        return ag_error_set(err, AG_ERR_NOMEM, "cannot allocate encoder buffers for %d tokens", max_n);
    }
    const int e = m->hp.n_embd;
    for (int i = 0; i < n_seq; i++) {
        float *o = out + (size_t)i * e;
        encode(m, &b, pool, tokens[i], n_tokens[i], o);
        if (normalize) {
            double ss = 0;
            for (int d = 0; d < e; d++) ss += (double)o[d] * o[d];
            const float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
            for (int d = 0; d < e; d++) o[d] *= inv;
        }
    }
    buf_free(&b);
    ag_threadpool_free(pool);
    return AG_OK;
}
