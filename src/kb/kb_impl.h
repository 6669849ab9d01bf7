/*
 * kb_impl.h - what the knowledge base's files share: the ag_kb handle (the SQLite connection,
 * the embedding model loaded on first use, the vectors and HNSW graph loaded on first dense
 * search, the result cache), the embedder and the HNSW index.
 *
 * Schema (store.c): meta(key, value); documents(id, path UNIQUE, hash, mtime, size, pages,
 * n_chunks); chunks(id, doc_id, ord, text, heading, page, start, end, n_tokens, text_hash,
 * vector BLOB of dim floats); chunks_fts (FTS5, rowid = chunks.id); ann(id = 1, generation, data)
 * the persisted HNSW graph; query_cache(key, vector, used) embeddings of recent questions.
 * meta.generation increases with every change, so derived data (graph, caches) knows when it is
 * stale.
 */
#ifndef AG_KB_IMPL_H
#define AG_KB_IMPL_H

#include <sqlite3.h>

#include "autoglm/kb.h"

/* ---- embedder (embedder.c) */
typedef struct {
    const ag_model *model;
    bool owned;      /* loaded here (freed by kb_embedder_close), else lent through hooks */
    ag_kb_embedder_hooks hooks; /* lent: embeddings are computed by hooks.embed */
    int dim;
    int max_tokens; /* longest sequence the model takes (context, less specials) */
    int n_threads;
} kb_embedder;

ag_status kb_embedder_open(kb_embedder *e, const char *path, int n_threads, ag_error *err);
/* An embedder over a model lent through hooks (not freed by kb_embedder_close). */
void kb_embedder_lend(kb_embedder *e, const ag_model *model, const ag_kb_embedder_hooks *hooks);
void kb_embedder_close(kb_embedder *e);
/* ag_token_counter over the model's tokenizer (no special tokens). */
int kb_embedder_count(void *ctx, const char *text, size_t len);
/* Unit vectors of n texts into out (n x dim). */
ag_status kb_embedder_embed(kb_embedder *e, const char *const *texts, const size_t *lens, int n, float *out,
                            ag_error *err);

/* ---- HNSW over unit vectors, similarity = dot product (hnsw.c) */
typedef struct kb_hnsw kb_hnsw;
/* Builds the graph over n rows of vecs (n x dim, borrowed: must outlive the index). */
kb_hnsw *kb_hnsw_build(const float *vecs, int n, int dim, int m, int ef_construction);
/* Restores a graph saved by kb_hnsw_save over the same vectors; NULL when the data does not fit. */
kb_hnsw *kb_hnsw_load(const float *vecs, int n, int dim, const void *data, size_t len);
/* Serialized graph (malloc'd) -> *len. */
void *kb_hnsw_save(const kb_hnsw *h, size_t *len);
/* The k nearest rows of q: indices and similarities, best first; returns the count. */
int kb_hnsw_search(const kb_hnsw *h, const float *q, int k, int ef, int *idx, float *sim);
void kb_hnsw_free(kb_hnsw *h);

/* ---- the handle */
#define KB_RESULT_CACHE 16

typedef struct {
    char *question;
    int k;
    ag_kb_mode mode;
    int64_t generation;
    ag_kb_hit *hits;
    int n;
    uint64_t used;
} kb_cached_result;

struct ag_kb {
    sqlite3 *db;
    char *path;
    char *embed_path; /* "" when BM25 only */
    int chunk_tokens, chunk_overlap, dim;
    int n_threads;
    int ann_threshold;
    double dense_weight; /* hybrid fusion: the dense ranking's weight (BM25's is 1); < 0 automatic */
    kb_embedder emb; /* emb.model NULL until needed */
    ag_kb_embedder_hooks emb_hooks; /* model non-NULL: the embedding model is lent (ag_kb_set_embedder_hooks) */
    char *rerank_path; /* the reranker in use: the stored one, or ag_kb_set_reranker's; "" none */
    ag_model *reranker; /* NULL until needed (rerank.c) */
    ag_kb_rerank_fn rerank_fn; /* set: scores instead of the reranker (ag_kb_set_rerank_fn) */
    void *rerank_ctx;
    /* vectors for dense search, loaded at vec_generation */
    int64_t vec_generation;
    int n_vec;
    int64_t *vec_ids;  /* (n_vec) chunk ids */
    float *vecs;       /* (n_vec, dim) */
    kb_hnsw *hnsw;     /* NULL: exact search */
    kb_cached_result cache[KB_RESULT_CACHE];
    uint64_t cache_clock;
};

/* store.c */
ag_status kb_exec(ag_kb *kb, const char *sql, ag_error *err);
ag_status kb_sql_error(ag_kb *kb, ag_error *err, const char *what);
int64_t kb_generation(ag_kb *kb);
ag_status kb_bump_generation(ag_kb *kb, ag_error *err); /* inside the caller's transaction */
ag_status kb_need_embedder(ag_kb *kb, ag_error *err);
/* Deletes a document with its chunks and FTS rows (inside the caller's transaction). */
ag_status kb_delete_doc(ag_kb *kb, int64_t doc_id, ag_error *err);
void kb_cache_clear(ag_kb *kb);
/* search.c: the k best chunks by the mode alone (what ag_kb_query reranks, rerank.c). */
int kb_retrieve(ag_kb *kb, const char *question, int k, ag_kb_mode mode, ag_kb_hit **out, ag_error *err);
/* search.c: the automatic weight of the dense ranking from the two rankings' tops (a: BM25 chunk
 * ids and scores, b: dense ids and cosines, best first) among n_chunks: their agreement beyond
 * chance in the sets times that in the order (0 when either is at chance level; 1 when a is empty). */
double kb_auto_dense_weight(const int64_t *a, const double *sa, int na, const int64_t *b, const double *sb, int nb,
                            int64_t n_chunks);

#endif
