/*
 * encoder.c - the bidirectional encoders (bert, nomic-bert) and sentence embeddings: ag_embed_tokens.
 *
 * For each sequence of n tokens (all positions see each other; no KV cache):
 *   x = tok_embd[id] + pos_embd[p] + tok_types[type[p]] ; x = layernorm(x) * embd_norm + b
 *                               (type 0 everywhere for embeddings; a reranker's pair has 0 then 1)
 *                               (nomic-bert: no pos_embd; q and k are rotated instead)
 *   per layer:
 *     q, k, v = x @ wq, wk, wv + biases      or  [q; k; v] = x @ wqkv  (nomic-bert)
 *     q, k = rope_halves(q, k, p)             (nomic-bert)
 *     a = softmax(q . K^T * attn_scale) . V          per head, over all n positions
 *     x = layernorm(x + (a @ wo + bo)) * attn_output_norm + b
 *     x = layernorm(x + ffn(x)) * layer_output_norm + b
 *         ffn = gelu(x @ ffn_up + b) @ ffn_down + b        (bert)
 *             = (silu(x @ ffn_gate) * (x @ ffn_up)) @ ffn_down  (nomic-bert: SwiGLU)
 *   embedding = pool(x) (mean, CLS = x[0], or last), L2-normalized on request
 *   rank (pooling 4, cross-encoders): score = cls_out . tanh(cls . x[0] + cls_b) + cls_out_b
 *                               (without a cls tensor: cls_out . x[0] + cls_out_b)
 * ag_embed_tokens and ag_rerank_tokens (autoglm/rerank.h) are the two entry points.
 * Buffers are allocated per call (embedding is not on the decode path).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/rerank.h"
#include "base/error.h"
#include "cpu/ops.h"
#include "cpu/ops_arch.h"
#include "model/arch.h"
#include "model/forward_arch.h"

typedef struct {
    float *x, *q, *k, *v, *a, *o, *h, *g, *att; /* (n, e) x5, (n, max(ff, q+2kv)), (n, ff), (n) */
    ag_matmul_scratch mm;
} enc_buf;

static void buf_free(enc_buf *b) {
    free(b->x), free(b->q), free(b->k), free(b->v), free(b->a), free(b->o), free(b->h), free(b->g), free(b->att);
    ag_matmul_scratch_free(&b->mm);
}

static bool buf_init(enc_buf *b, const ag_model *m, int n, int n_threads) {
    const size_t e = (size_t)m->hp.n_embd, ff = (size_t)m->hp.n_ff, nn = (size_t)n, qkv = 3 * e;
    memset(b, 0, sizeof *b);
    b->x = malloc(nn * e * 4), b->q = malloc(nn * e * 4), b->k = malloc(nn * e * 4), b->v = malloc(nn * e * 4);
    b->a = malloc(nn * e * 4), b->o = malloc(nn * e * 4), b->h = malloc(nn * (ff > qkv ? ff : qkv) * 4);
    b->g = malloc(nn * ff * 4), b->att = malloc(nn * 4);
    size_t xq = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const ag_layer *l = &m->layers[il];
        const ag_weight *w[] = {&l->wq, &l->wk, &l->wv, &l->wqkv, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down};
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            size_t r = ag_matmul_scratch_row(w[i]->type, w[i]->ne[0]);
            if (r > xq) xq = r;
        }
    }
    const bool mm_ok = ag_matmul_scratch_init(&b->mm, (int64_t)(e > ff ? e : ff), xq, n, n_threads);
    return b->x && b->q && b->k && b->v && b->a && b->o && b->h && b->g && b->att && mm_ok;
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

/* q, k, v of n tokens: separate products or one fused product split per token; nomic-bert then
 * rotates q and k by position (halves, as the reference's non-interleaved rotary). */
static void qkv(const ag_model *m, const ag_layer *l, enc_buf *b, ag_threadpool *pool, int n) {
    const ag_hparams *hp = &m->hp;
    const int hd = hp->head_dim, qd = hp->n_head * hd, kvd = hp->n_head_kv * hd;
    if (!l->wqkv.data) {
        linear(pool, &l->wq, &l->bq, b->x, b->q, n, &b->mm);
        linear(pool, &l->wk, &l->bk, b->x, b->k, n, &b->mm);
        linear(pool, &l->wv, &l->bv, b->x, b->v, n, &b->mm);
    } else {
        ag_fwd_matmul(pool, &l->wqkv, b->x, b->h, n, &b->mm);
        for (int t = 0; t < n; t++) {
            const float *r = b->h + (size_t)t * (qd + 2 * kvd);
            memcpy(b->q + (size_t)t * qd, r, (size_t)qd * sizeof(float));
            memcpy(b->k + (size_t)t * kvd, r + qd, (size_t)kvd * sizeof(float));
            memcpy(b->v + (size_t)t * kvd, r + qd + kvd, (size_t)kvd * sizeof(float));
        }
    }
    if (hp->arch->rope != AG_ROPE_NEOX) return;
    for (int t = 0; t < n; t++) {
        ag_rope_neox(b->q + (size_t)t * qd, hp->n_head, hd, hp->n_rot, (float)t, hp->rope_base, NULL);
        ag_rope_neox(b->k + (size_t)t * kvd, hp->n_head_kv, hd, hp->n_rot, (float)t, hp->rope_base, NULL);
    }
}

static void ffn(const ag_model *m, const ag_layer *l, enc_buf *b, ag_threadpool *pool, int n) {
    const int ff = m->hp.n_ff;
    if (l->ffn_gate.data) { /* SwiGLU */
        ag_fwd_matmul(pool, &l->ffn_gate, b->x, b->h, n, &b->mm);
        linear(pool, &l->ffn_up, &l->ffn_up_b, b->x, b->g, n, &b->mm);
        ag_silu_mul(b->h, b->g, n * ff);
    } else {
        linear(pool, &l->ffn_up, &l->ffn_up_b, b->x, b->h, n, &b->mm);
        ag_gelu_erf(b->h, n * ff);
    }
    linear(pool, &l->ffn_down, &l->ffn_down_b, b->h, b->o, n, &b->mm);
}

/* y (rows) = W (rows, e) @ x (e,) + bias, row by row through the weight's to_float (the head is
 * applied to one vector: a scalar loop is all it needs). tmp holds one row (e floats). */
static void head_linear(const ag_weight *w, const ag_weight *bias, const float *x, float *y, float *tmp) {
    const int e = (int)w->ne[0];
    for (int64_t r = 0; r < w->ne[1]; r++) {
        ag_weight_row_to_float(w->data, w->type, w->row_bytes, (int)r, e, tmp);
        double s = bias->data ? ((const float *)bias->data)[r] : 0.0;
        for (int i = 0; i < e; i++) s += (double)tmp[i] * x[i];
        y[r] = (float)s;
    }
}

/* types: the token type of each position, or NULL for type 0 everywhere. */
static void encode(const ag_model *m, enc_buf *b, ag_threadpool *pool, const ag_token *tok, const int *types, int n,
                   float *out) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd;
    float *row = b->o;
    for (int t = 0; t < n; t++) {
        float *x = b->x + (size_t)t * e;
        ag_weight_row_to_float(m->tok_embd.data, m->tok_embd.type, m->tok_embd.row_bytes, tok[t], e, x);
        if (m->pos_embd.data) {
            ag_weight_row_to_float(m->pos_embd.data, m->pos_embd.type, m->pos_embd.row_bytes, t, e, row);
            for (int i = 0; i < e; i++) x[i] += row[i];
        }
        if (m->tok_types.data) {
            const int ty = types && types[t] < m->tok_types.ne[1] ? types[t] : 0;
            ag_weight_row_to_float(m->tok_types.data, m->tok_types.type, m->tok_types.row_bytes, ty, e, row);
            for (int i = 0; i < e; i++) x[i] += row[i];
        }
        ag_layernorm(x, x, m->embd_norm.data, m->embd_norm_b.data, e, hp->norm_eps);
    }
    for (int il = 0; il < hp->n_layer; il++) {
        const ag_layer *l = &m->layers[il];
        qkv(m, l, b, pool, n);
        attention(hp, b, n);
        linear(pool, &l->wo, &l->bo, b->a, b->o, n, &b->mm);
        add_norm(b->x, b->o, &l->attn_norm, &l->attn_norm_b, n, e, hp->norm_eps);
        ffn(m, l, b, pool, n);
        add_norm(b->x, b->o, &l->ffn_norm, &l->ffn_norm_b, n, e, hp->norm_eps);
    }
    memset(out, 0, (size_t)e * sizeof(float));
    if (hp->pooling == 4) { /* rank: out[0] = the head's first output on x[CLS] */
        float *x0 = b->x, *tmp = b->h, *p = b->q;
        if (m->cls.data) {
            head_linear(&m->cls, &m->cls_b, x0, p, tmp);
            for (int i = 0; i < e; i++) p[i] = tanhf(p[i]);
            x0 = p;
        }
        head_linear(&m->cls_out, &m->cls_out_b, x0, b->a, tmp);
        out[0] = b->a[0];
    } else if (hp->pooling == 1) {
        for (int t = 0; t < n; t++)
            for (int i = 0; i < e; i++) out[i] += b->x[(size_t)t * e + i] / (float)n;
    } else memcpy(out, b->x + (size_t)(hp->pooling == 2 ? 0 : n - 1) * e, (size_t)e * sizeof(float));
}

bool ag_model_is_embedding(const ag_model *m) { return m && m->hp.arch && m->hp.arch->encoder; }

bool ag_model_is_reranker(const ag_model *m) { return ag_model_is_embedding(m) && m->hp.pooling == 4; }

/* Runs n_seq sequences through the encoder; out receives n_embd floats per sequence (a ranker's
 * score in the first). */
static ag_status run_encoder(const ag_model *m, const ag_token *const *tokens, const int *const *types,
                             const int *n_tokens, int n_seq, float *out, bool normalize, int n_threads, ag_error *err) {
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
    ag_threadpool *pool = ag_threadpool_new(n_threads > 0 ? n_threads : m->n_threads);
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
        encode(m, &b, pool, tokens[i], types ? types[i] : NULL, n_tokens[i], o);
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

ag_status ag_embed_tokens(const ag_model *m, const ag_token *const *tokens, const int *n_tokens, int n_seq,
                          float *out, bool normalize, ag_error *err) {
    return ag_encoder_embed(m, tokens, n_tokens, n_seq, out, normalize, 0, err);
}

ag_status ag_encoder_embed(const ag_model *m, const ag_token *const *tokens, const int *n_tokens, int n_seq, float *out,
                           bool normalize, int n_threads, ag_error *err) {
    if (!ag_model_is_embedding(m))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "architecture '%s' is not an embedding (encoder) model",
                            m ? m->arch : "?");
    if (ag_model_is_reranker(m))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "this model is a reranker (a cross-encoder): it scores pairs, "
                                                     "use rerank instead of embed");
    return run_encoder(m, tokens, NULL, n_tokens, n_seq, out, normalize, n_threads, err);
}

ag_status ag_rerank_tokens(const ag_model *m, const ag_token *const *tokens, const int *const *types,
                           const int *n_tokens, int n_seq, float *scores, ag_error *err) {
    return ag_encoder_rank(m, tokens, types, n_tokens, n_seq, scores, 0, err);
}

ag_status ag_encoder_rank(const ag_model *m, const ag_token *const *tokens, const int *const *types, const int *n_tokens,
                          int n_seq, float *scores, int n_threads, ag_error *err) {
    if (!ag_model_is_reranker(m))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "model '%s' is not a reranker (an encoder with a rank head)",
                            m ? m->arch : "?");
    if (n_seq <= 0) return AG_OK;
    const size_t e = (size_t)m->hp.n_embd;
    float *out = malloc((size_t)n_seq * e * sizeof(float));
    if (!out) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    ag_status st = run_encoder(m, tokens, types, n_tokens, n_seq, out, false, n_threads, err);
    for (int i = 0; st == AG_OK && i < n_seq; i++) scores[i] = out[(size_t)i * e];
    free(out);
    return st;
}
