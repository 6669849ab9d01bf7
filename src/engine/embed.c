/*
 * embed.c - ag_embed: a text embedding. Encoder models (bert) go to ag_embed_tokens (encoder.c);
 * from a decoder model it is the mean over the tokens of the final hidden state (after the
 * output norm), L2-normalized.
 *
 * It runs its own forward passes with a KV cache and scratch sized for the tokens (no session
 * is touched) and reads the residual stream that ag_forward leaves in scratch.x: the rows
 * (n, n_embd) after the last layer, before the output norm (model/forward.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "cpu/ops.h"
#include "model/forward.h"

ag_status ag_embed(const ag_model *m, const ag_token *tokens, int n, float *out, int n_threads, ag_error *err) {
    const ag_hparams *hp = &m->hp;
    const int e = hp->n_embd;
    if (n <= 0) return ag_error_set(err, AG_ERR_INVALID_ARG, "no tokens to embed");
    if (ag_model_is_embedding(m)) /* an encoder (bert): its own pooling, as the file says */
        return ag_encoder_embed(m, &tokens, &n, 1, out, true, n_threads, err);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return ag_error_set(err, AG_ERR_INVALID_ARG, "token id %d out of range [0, %d)", tokens[i], hp->n_vocab);
    const int n_batch = n < 512 ? n : 512;
    ag_kv_cache kv = {0};
    ag_fwd_scratch sc = {0};
    ag_threadpool *pool = ag_threadpool_new(n_threads > 0 ? n_threads : m->n_threads);
    float *logits = malloc((size_t)hp->n_vocab * sizeof(float));
    float *row = malloc((size_t)e * sizeof(float));
    double *sum = calloc((size_t)e, sizeof(double));
    ag_status st = AG_OK;
    if (!pool || !logits || !row || !sum) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    else if (!(st = ag_kv_cache_init(&kv, m, n, AG_TYPE_F16, err)))
        st = ag_fwd_scratch_init(&sc, m, n_batch, n, ag_threadpool_n_threads(pool), err);
    for (int done = 0; st == AG_OK && done < n;) {
        const int chunk = n - done < n_batch ? n - done : n_batch;
        ag_forward(m, &kv, &sc, pool, tokens + done, chunk, done, logits, false);
        for (int t = 0; t < chunk; t++) { /* y = rmsnorm(x_t) * output_norm; sum += y */
            ag_rmsnorm(row, sc.x + (size_t)t * e, m->output_norm.data, e, hp->norm_eps);
            for (int i = 0; i < e; i++) sum[i] += row[i];
        }
        done += chunk;
    }
    if (st == AG_OK) { /* mean, then unit length (the mean's 1/n cancels in the normalization) */
        double norm = 0;
        for (int i = 0; i < e; i++) norm += sum[i] * sum[i];
        norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
        for (int i = 0; i < e; i++) out[i] = (float)(sum[i] * norm);
    }
    ag_fwd_scratch_free(&sc);
    ag_kv_cache_free(&kv);
    ag_threadpool_free(pool);
    free(logits);
    free(row);
    free(sum);
    return st;
}
