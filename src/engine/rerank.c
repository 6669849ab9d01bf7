/*
 * rerank.c - ag_rerank: query + documents -> relevance scores with a cross-encoder (rerank.h).
 *
 * Builds each pair "[CLS] query [SEP] document [SEP]" from two ag_tokenize calls with the
 * vocabulary's specials ([CLS] q [SEP] and [CLS] d [SEP], the second without its [CLS]), token
 * types 0 for the first part and 1 for the second, then scores all pairs in one
 * ag_rerank_tokens call (model/encoder.c). Relies on the tokenizer adding [CLS]/[SEP] for bert.
 */
#include <stdlib.h>
#include <string.h>

#include "autoglm/rerank.h"
#include "base/error.h"
#include "model/model.h"

/* ids of text with specials into a new array; *n receives the count. */
static ag_token *tokenize(const ag_model *m, const char *text, int *n, ag_error *err) {
    const size_t len = strlen(text);
    int cap = (int)(len < 1u << 24 ? len : 1u << 24) + 8;
    ag_token *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
    *n = ag_tokenize(m, text, len, ids, cap, true, false);
    if (*n < 0) {
        free(ids);
        ag_error_set(err, AG_ERR_INVALID_ARG, "cannot tokenize the text");
        return NULL;
    }
    return ids;
}

/* One pair: q (nq, with its [CLS] .. [SEP]) then d's tokens after its first ([CLS]), cut to
 * fit max tokens keeping d's last ([SEP]). Types: 0 for q, 1 after. Returns the length. */
static int build_pair(const ag_token *q, int nq, const ag_token *d, int nd, int max, ag_token *ids, int *types,
                      bool *cut) {
    const int skip = nd > 1 ? 1 : 0, body = nd - skip;
    int keep = body, n = 0;
    *cut = nq + body > max;
    if (*cut) keep = max - nq > 1 ? max - nq : 1;
    for (int i = 0; i < nq && n < max - 1; i++) ids[n] = q[i], types[n++] = 0;
    for (int i = 0; i < keep - 1 && n < max - 1; i++) ids[n] = d[skip + i], types[n++] = 1;
    if (body > 0) ids[n] = d[nd - 1], types[n++] = 1;
    return n;
}

ag_status ag_rerank(const ag_model *m, const char *query, const char *const *docs, int n, float *scores,
                    int *n_truncated, ag_error *err) {
    return ag_rerank_threads(m, query, docs, n, scores, n_truncated, 0, err);
}

ag_status ag_rerank_threads(const ag_model *m, const char *query, const char *const *docs, int n, float *scores,
                            int *n_truncated, int n_threads, ag_error *err) {
    if (n_truncated) *n_truncated = 0;
    if (!ag_model_is_reranker(m))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "this model is not a reranker (a cross-encoder with a rank head)");
    if (!query || n < 0 || (n > 0 && (!docs || !scores))) return ag_error_set(err, AG_ERR_INVALID_ARG, "bad arguments");
    if (n == 0) return AG_OK;
    const int max = ag_model_n_ctx_train(m);
    int nq = 0;
    ag_token *q = tokenize(m, query, &nq, err);
    if (!q) return AG_ERR_INVALID_ARG;
    if (nq + 1 >= max) {
        free(q);
        return ag_error_set(err, AG_ERR_CONTEXT_FULL, "the query has %d tokens; the model takes %d per pair", nq, max);
    }
    ag_token **ids = calloc((size_t)n, sizeof *ids);
    int **types = calloc((size_t)n, sizeof *types), *lens = calloc((size_t)n, sizeof *lens);
    ag_status st = ids && types && lens ? AG_OK : ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int i = 0; st == AG_OK && i < n; i++) {
        int nd = 0;
        ag_token *d = tokenize(m, docs[i] ? docs[i] : "", &nd, err);
        ids[i] = malloc((size_t)max * sizeof **ids), types[i] = malloc((size_t)max * sizeof **types);
        if (!d || !ids[i] || !types[i]) st = d ? ag_error_set(err, AG_ERR_NOMEM, "out of memory") : AG_ERR_INVALID_ARG;
        else {
            bool cut;
            lens[i] = build_pair(q, nq, d, nd, max, ids[i], types[i], &cut);
            if (cut && n_truncated) (*n_truncated)++;
        }
        free(d);
    }
    if (st == AG_OK)
        st = ag_encoder_rank(m, (const ag_token *const *)ids, (const int *const *)types, lens, n, scores, n_threads, err);
    for (int i = 0; i < n && ids && types; i++) free(ids[i]), free(types[i]);
    free(ids), free(types), free(lens), free(q);
    return st;
}

void ag_rerank_order(const float *scores, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) { /* insertion sort: stable, n is small */
        const int v = order[i];
        int j = i;
        while (j > 0 && scores[order[j - 1]] < scores[v]) order[j] = order[j - 1], j--;
        order[j] = v;
    }
}
