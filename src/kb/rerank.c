/*
 * rerank.c - ag_kb_query: retrieval (kb_retrieve, search.c) then, when the base has a reranker,
 * a second stage: max(4k, 20) candidates scored against the question by the cross-encoder
 * (ag_rerank, autoglm/rerank.h), best first, the k best kept with the reranker's scores.
 *
 * The reranker is the base's stored one (meta rerank_model, set at create) unless
 * ag_kb_set_reranker chose another (or none) for this handle; it is loaded on first use and
 * freed with the handle (ag_kb_close, store.c) - or, with ag_kb_set_rerank_fn, the caller's
 * function scores instead (a server runs it on its loaded models).
 */
#include <stdlib.h>
#include <string.h>

#include "autoglm/rerank.h"
#include "base/error.h"
#include "kb/kb_impl.h"

#define KB_RERANK_MIN_CANDIDATES 20

static char *meta_rerank(ag_kb *kb) {
    sqlite3_stmt *st;
    char *v = NULL;
    if (sqlite3_prepare_v2(kb->db, "SELECT value FROM meta WHERE key = 'rerank_model'", -1, &st, NULL) != SQLITE_OK)
        return strdup("");
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v ? v : strdup("");
}

ag_status ag_kb_set_reranker(ag_kb *kb, const char *model_path, ag_error *err) {
    char *p = model_path ? strdup(model_path) : meta_rerank(kb);
    if (!p) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    ag_model_free(kb->reranker);
    kb->reranker = NULL;
    free(kb->rerank_path);
    kb->rerank_path = p;
    return AG_OK;
}

void ag_kb_set_rerank_fn(ag_kb *kb, ag_kb_rerank_fn fn, void *ctx) {
    kb->rerank_fn = fn;
    kb->rerank_ctx = ctx;
}

const char *ag_kb_reranker(const ag_kb *kb) { return kb->rerank_path ? kb->rerank_path : ""; }

static ag_status need_reranker(ag_kb *kb, ag_error *err) {
    if (kb->reranker) return AG_OK;
    ag_model_params mp = {.n_threads = kb->n_threads};
    if (!(kb->reranker = ag_model_load(kb->rerank_path, &mp, err))) return AG_ERR_IO;
    if (ag_model_is_reranker(kb->reranker)) return AG_OK;
    ag_model_free(kb->reranker);
    kb->reranker = NULL;
    return ag_error_set(err, AG_ERR_UNSUPPORTED, "%s is not a reranker (a cross-encoder with a rank head)", kb->rerank_path);
}

int ag_kb_query(ag_kb *kb, const char *question, int k, ag_kb_mode mode, ag_kb_hit **out, ag_error *err) {
    if (!kb->rerank_path || !*kb->rerank_path) return kb_retrieve(kb, question, k, mode, out, err);
    *out = NULL;
    if (k <= 0) k = 5;
    if (k > 1000) k = 1000;
    if (!kb->rerank_fn && need_reranker(kb, err) != AG_OK) return -1;
    const int depth = k * 4 > KB_RERANK_MIN_CANDIDATES ? k * 4 : KB_RERANK_MIN_CANDIDATES;
    ag_kb_hit *cand = NULL;
    int n = kb_retrieve(kb, question, depth, mode, &cand, err);
    if (n <= 0) return n < 0 ? -1 : (*out = cand, 0);
    const char **texts = malloc((size_t)n * sizeof *texts);
    float *scores = malloc((size_t)n * sizeof *scores);
    int *order = malloc((size_t)n * sizeof *order);
    ag_kb_hit *hits = calloc((size_t)n, sizeof *hits);
    int kept = -1;
    if (!texts || !scores || !order || !hits) ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    else {
        for (int i = 0; i < n; i++) texts[i] = cand[i].text;
        const ag_status st = kb->rerank_fn ? kb->rerank_fn(kb->rerank_ctx, question, texts, n, scores, err)
                                           : ag_rerank(kb->reranker, question, texts, n, scores, NULL, err);
        if (st == AG_OK) {
            ag_rerank_order(scores, n, order);
            kept = n < k ? n : k;
            for (int i = 0; i < kept; i++) { /* move the kept hits; the rest are freed with cand */
                hits[i] = cand[order[i]];
                hits[i].score = scores[order[i]];
                cand[order[i]] = (ag_kb_hit){0};
            }
        }
    }
    ag_kb_hits_free(cand, n);
    free(texts), free(scores), free(order);
    if (kept < 0) {
        free(hits);
        return -1;
    }
    *out = hits;
    return kept;
}
