/*
 * rerank.h - cross-encoder reranking: a query and documents in, one relevance score per document.
 *
 * A reranker is an encoder (bert) GGUF with pooling_type 4 (rank) and a classification head
 * (cls.output, optionally preceded by the pooler's dense + tanh as cls), as `autoglm convert`
 * writes BertForSequenceClassification checkpoints and llama.cpp writes bge-reranker-style models.
 * Each pair is scored as "[CLS] query [SEP] document [SEP]" with token types 0 (query part) and
 * 1 (document part); the score is the head's raw logit (higher = more relevant).
 */
#ifndef AUTOGLM_RERANK_H
#define AUTOGLM_RERANK_H

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* True for an encoder model with a rank head. */
bool ag_model_is_reranker(const ag_model *model);

/* Scores n_seq token sequences (tokens[i], types[i]: n_tokens[i] ids and their token types; types
 * NULL = all 0) into scores[i]. */
ag_status ag_rerank_tokens(const ag_model *model, const ag_token *const *tokens, const int *const *types,
                           const int *n_tokens, int n_seq, float *scores, ag_error *err);

/* Scores each of n documents against the query into scores[i] (the raw logit). A pair longer
 * than the model's context keeps the whole query and the document's first tokens (the final
 * separator kept); *n_truncated (when not NULL) receives how many pairs were cut so. */
ag_status ag_rerank(const ag_model *model, const char *query, const char *const *docs, int n, float *scores,
                    int *n_truncated, ag_error *err);

/* ag_rerank on n_threads threads (0 = the model's setting), as a server's power mode asks. */
ag_status ag_rerank_threads(const ag_model *model, const char *query, const char *const *docs, int n, float *scores,
                            int *n_truncated, int n_threads, ag_error *err);

/* order[0..n) = the indices 0..n-1 sorted by descending score (ties: lower index first). */
void ag_rerank_order(const float *scores, int n, int *order);

#ifdef __cplusplus
}
#endif

#endif
