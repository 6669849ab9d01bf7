/*
 * embedder.c - chunk and question vectors from a GGUF model through the engine's public API:
 * an embedding (encoder) model pools as its file says (ag_embed_tokens, in batches); a decoder
 * gives the mean of its final hidden states (ag_embed). Sequences longer than the model's
 * context are cut. Token counts for chunk sizing come from the same tokenizer. A model lent
 * through ag_kb_embedder_hooks (a server's loaded model) is tokenized here and embedded by the
 * hooks (the same ag_embed computation, run elsewhere).
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kb/kb_impl.h"

#define EMBED_BATCH 16

/* Sizes of the model's vectors and sequences. */
static void embedder_sizes(kb_embedder *e) {
    e->dim = ag_model_n_embd(e->model);
    int ctx = ag_model_n_ctx_train(e->model);
    if (ctx <= 0 || ctx > 8192) ctx = 8192;
    if (!ag_model_is_embedding(e->model) && ctx > 2048) ctx = 2048; /* a decoder's cost grows with n^2 */
    e->max_tokens = ctx - 2;
}

ag_status kb_embedder_open(kb_embedder *e, const char *path, int n_threads, ag_error *err) {
    *e = (kb_embedder){0};
    ag_model_params mp = {.n_threads = n_threads};
    ag_model *m = ag_model_load(path, &mp, err);
    if (!m) {
        ag_error_prefix(err, "embedding model %s", path);
        return err ? err->code : AG_ERR_IO;
    }
    e->model = m;
    e->owned = true;
    embedder_sizes(e);
    e->n_threads = n_threads;
    return AG_OK;
}

void kb_embedder_lend(kb_embedder *e, const ag_model *model, const ag_kb_embedder_hooks *hooks) {
    *e = (kb_embedder){.model = model, .hooks = *hooks};
    embedder_sizes(e);
}

void kb_embedder_close(kb_embedder *e) {
    if (e->owned) ag_model_free((ag_model *)e->model); /* loaded by kb_embedder_open */
    *e = (kb_embedder){0};
}

int kb_embedder_count(void *ctx, const char *text, size_t len) {
    kb_embedder *e = ctx;
    ag_token small[256];
    int n = ag_tokenize(e->model, text, len, small, 256, false, false);
    if (n >= 0 || n == INT32_MIN) return n < 0 ? (int)(len / 3) : n;
    ag_token *big = malloc((size_t)(-n) * sizeof *big);
    if (!big) return -n;
    int m = ag_tokenize(e->model, text, len, big, -n, false, false);
    free(big);
    return m < 0 ? -n : m;
}

/* Tokens of one text with the model's specials, cut to max_tokens. */
static ag_token *tokens_of(const kb_embedder *e, const char *text, size_t len, int *n_out, ag_error *err) {
    int cap = (int)len + 8;
    ag_token *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
    int n = ag_tokenize(e->model, text, len, ids, cap, true, false);
    if (n < 0 && n != INT32_MIN) {
        cap = -n;
        ag_token *p = realloc(ids, (size_t)cap * sizeof *p);
        if (!p) return free(ids), ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
        ids = p;
        n = ag_tokenize(e->model, text, len, ids, cap, true, false);
    }
    if (n < 0) {
        free(ids);
        ag_error_set(err, AG_ERR_FORMAT, "the text cannot be tokenized");
        return NULL;
    }
    if (n == 0) { /* an empty text: embed the BOS (or token 0) so that every chunk has a vector */
        ids[0] = ag_token_bos(e->model) >= 0 ? ag_token_bos(e->model) : 0;
        n = 1;
    }
    if (n > e->max_tokens) {
        if (ag_model_is_embedding(e->model) && ag_token_eos(e->model) >= 0) ids[e->max_tokens - 1] = ids[n - 1]; /* keep [SEP] */
        n = e->max_tokens;
    }
    *n_out = n;
    return ids;
}

ag_status kb_embedder_embed(kb_embedder *e, const char *const *texts, const size_t *lens, int n, float *out,
                            ag_error *err) {
    for (int s = 0; s < n; s += EMBED_BATCH) {
        int nb = n - s < EMBED_BATCH ? n - s : EMBED_BATCH;
        ag_token *ids[EMBED_BATCH] = {0};
        int cnt[EMBED_BATCH] = {0};
        ag_status st = AG_OK;
        for (int i = 0; i < nb && st == AG_OK; i++)
            if (!(ids[i] = tokens_of(e, texts[s + i], lens[s + i], &cnt[i], err))) st = err ? err->code : AG_ERR_NOMEM;
        if (st == AG_OK) {
            if (!e->owned) /* lent: the hooks compute what ag_embed computes */
                st = e->hooks.embed(e->hooks.ctx, (const ag_token *const *)ids, cnt, nb, out + (size_t)s * e->dim, err);
            else if (ag_model_is_embedding(e->model))
                st = ag_embed_tokens(e->model, (const ag_token *const *)ids, cnt, nb, out + (size_t)s * e->dim, true, err);
            else
                for (int i = 0; i < nb && st == AG_OK; i++)
                    st = ag_embed(e->model, ids[i], cnt[i], out + (size_t)(s + i) * e->dim, e->n_threads, err);
        }
        for (int i = 0; i < nb; i++) free(ids[i]);
        if (st != AG_OK) return st;
    }
    return AG_OK;
}
