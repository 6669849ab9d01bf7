/*
 * kb.h - the public API of the knowledge base and of document summarization (src/kb/).
 *
 * Documents (txt, md, html, pdf, docx) are parsed into UTF-8 text with structure (headings,
 * paragraphs, pages), cut into overlapping chunks sized in tokens of the embedding model, and
 * stored in one SQLite file (WAL): documents, chunks, an FTS5 index for BM25 (CJK as bigrams) and
 * the chunks' vectors. A question is answered by BM25, by dense search (exact, or an HNSW graph
 * for larger collections) or by both fused with reciprocal rank.
 *
 * Every object is an opaque handle owned by the caller (`*_open`/`*_new` pairs with `*_close`/
 * `*_free`); strings the library returns are malloc'd and freed by the caller with free() unless
 * said otherwise. Errors come back as ag_status + ag_error; nothing here exits the process, and
 * there is no global state (one ag_kb belongs to one thread at a time).
 */
#ifndef AUTOGLM_KB_H
#define AUTOGLM_KB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- parsed documents */

typedef enum { AG_DOC_TXT = 0, AG_DOC_MD, AG_DOC_HTML, AG_DOC_PDF, AG_DOC_DOCX, AG_DOC_UNKNOWN } ag_doc_kind;

/* The kind a file name's extension says (.txt .text .md .markdown .htm .html .pdf .docx). */
ag_doc_kind ag_doc_kind_from_path(const char *path);

typedef struct {
    size_t start, end;  /* byte offsets of the block in ag_doc.text, [start, end) */
    int page;           /* 1-based page (PDF), 0 when the format has none */
    int heading_level;  /* 1..6 for a heading, 0 for a paragraph */
} ag_doc_block;

/* A parsed document: cleaned UTF-8 text, blocks separated by "\n\n" in it. */
typedef struct {
    char *text;
    size_t len;
    ag_doc_block *blocks;
    int n_blocks;
    int n_pages; /* PDF: pages, else 1 */
} ag_doc;

/* Parses a file by its extension (text files: encoding detected - UTF-8, UTF-16 with BOM, else
 * GBK/GB18030). A corrupt PDF or DOCX gives AG_ERR_FORMAT naming the file and the problem. */
ag_status ag_doc_parse_file(const char *path, ag_doc *out, ag_error *err);
/* The same over bytes in memory (what the fuzz target calls). */
ag_status ag_doc_parse_buffer(ag_doc_kind kind, const void *data, size_t len, ag_doc *out, ag_error *err);
void ag_doc_free(ag_doc *doc);

/* Text bytes of unknown encoding -> malloc'd UTF-8 (BOM removed); *enc (may be NULL) receives
 * "utf-8", "utf-16le", "utf-16be" or "gb18030". NULL with err when no decoding works. */
char *ag_text_to_utf8(const void *data, size_t len, size_t *out_len, const char **enc, ag_error *err);

/* ---------------------------------------------------------------- sentences and chunks */

typedef struct {
    size_t start, end; /* byte offsets, [start, end) */
} ag_span_t;

/* Sentence boundaries of UTF-8 text: ends at . ! ? (English, not after common abbreviations or
 * between digits), 。！？；and line breaks between paragraphs. Returns the count, fills up to cap. */
int ag_split_sentences(const char *text, size_t len, ag_span_t *out, int cap);

typedef struct {
    size_t start, end;   /* byte offsets in the document's text */
    int page;            /* page of the chunk's start (0: none) */
    char *heading;       /* the heading path ("Intro > Setup"), malloc'd, may be "" */
    int n_tokens;        /* tokens as the counter measured them */
} ag_chunk;

/* Counts the tokens of text; NULL counter = an estimate (words + CJK characters). */
typedef int (*ag_token_counter)(void *ctx, const char *text, size_t len);

typedef struct {
    int max_tokens; /* per chunk (default 256) */
    int overlap;    /* tokens of the previous chunk repeated at the start of the next (default 32) */
    ag_token_counter count;
    void *count_ctx;
} ag_chunk_params;

/* Cuts a parsed document along its structure: headings start chunks, paragraphs are kept whole
 * when they fit, long ones are cut at sentences (then at words/characters). *out is malloc'd
 * (ag_chunks_free). Returns the number of chunks or -1 when out of memory. */
int ag_chunk_doc(const ag_doc *doc, const ag_chunk_params *params, ag_chunk **out);
void ag_chunks_free(ag_chunk *chunks, int n);

/* ---------------------------------------------------------------- knowledge base */

typedef struct ag_kb ag_kb;

/* Where bases live: $AUTOGLM_KB, else ~/.autoglm/kb (malloc'd; NULL when neither is set). */
char *ag_kb_root(void);
/* Letters, digits, '-', '_', '.', not starting with '.', at most 128. */
bool ag_kb_valid_name(const char *name);
/* The folder of a base: ROOT/NAME, or ROOT/@TENANT/NAME for a tenant (tenant NULL or "": none);
 * created (mode 0700) when create. NULL for an invalid name or tenant (or when it cannot be made).
 * The database is DIR/kb.sqlite. */
char *ag_kb_dir(const char *root, const char *tenant, const char *name, bool create);

typedef struct {
    const char *embed_model; /* path of a GGUF model for the vectors; NULL = BM25 only */
    int chunk_tokens;        /* 0 = 256 (at most the model's context) */
    int chunk_overlap;       /* 0 = 32; -1 = none */
    const char *rerank_model; /* path of a reranker (cross-encoder) GGUF for queries; NULL = none */
    /* Hybrid fusion: weighted reciprocal rank, BM25's ranking with weight 1 and the dense one
     * with dense_weight when fixed_dense_weight (0 = BM25 order only, dense hits appended), else
     * automatic: the dense ranking's agreement with BM25 beyond chance in the top 10s (0 unless
     * significant at the 1% level) times that in the order of the chunks both hold (Kendall's
     * tau, 0 when not positive); 1 when BM25 finds nothing (docs/KB.md). */
    bool fixed_dense_weight;
    double dense_weight;
} ag_kb_params;

/* Creates the knowledge base file (fails if it exists). */
ag_status ag_kb_create(const char *db_path, const ag_kb_params *params, ag_error *err);
ag_kb *ag_kb_open(const char *db_path, ag_error *err);
void ag_kb_close(ag_kb *kb);
/* Threads for embedding (0 = the model's default); call before the first add/query. */
void ag_kb_set_threads(ag_kb *kb, int n_threads);
/* Collections with at least this many chunks use the HNSW graph for dense search (default
 * 2000; 0 = always exact). */
void ag_kb_set_ann_threshold(ag_kb *kb, int n_chunks);
/* The dense ranking's weight in this handle's hybrid queries: w >= 0 fixed, w < 0 automatic
 * (the base's setting is what ag_kb_open reads; this replaces it for the handle). */
void ag_kb_set_dense_weight(ag_kb *kb, double w);
/* The reranker for this handle's queries: a GGUF path, "" = none, NULL = the base's stored one
 * (the model is loaded at the next query). */
ag_status ag_kb_set_reranker(ag_kb *kb, const char *model_path, ag_error *err);

/* Scores n texts against a query with the reranker in use, for a caller that holds its models
 * elsewhere (a server's registry of loaded models): set with ag_kb_set_rerank_fn, it replaces
 * loading the reranker into the handle. */
typedef ag_status (*ag_kb_rerank_fn)(void *ctx, const char *query, const char *const *texts, int n, float *scores,
                                     ag_error *err);
/* fn NULL: the handle loads the reranker itself (the default). The function is used only while a
 * reranker is in use (ag_kb_reranker non-empty); the caller chooses it for that reranker. */
void ag_kb_set_rerank_fn(ag_kb *kb, ag_kb_rerank_fn fn, void *ctx);
/* The path of the reranker in use ("" none); valid until the next ag_kb_set_reranker. */
const char *ag_kb_reranker(const ag_kb *kb);

/* The embedding model held elsewhere (a server's registry of loaded models) instead of loaded
 * into the handle: model() lends it on first need (for its tokenizer and sizes; it must stay
 * valid until ag_kb_close) or returns NULL with err; embed() computes the unit vectors of n token
 * sequences (as ag_embed gives them) into out (n x dim). */
typedef struct {
    const ag_model *(*model)(void *ctx, ag_error *err);
    ag_status (*embed)(void *ctx, const ag_token *const *tokens, const int *n_tokens, int n, float *out, ag_error *err);
    void *ctx;
} ag_kb_embedder_hooks;
/* Call before the first add or query; NULL: the handle loads the model itself (the default). */
void ag_kb_set_embedder_hooks(ag_kb *kb, const ag_kb_embedder_hooks *hooks);
/* The path of the base's embedding model ("" for a BM25-only base). */
const char *ag_kb_embed_model(const ag_kb *kb);

typedef struct {
    int files_seen;      /* supported files found under the paths */
    int files_added;     /* new documents */
    int files_updated;   /* content changed: re-chunked */
    int files_unchanged; /* same content hash: nothing done */
    int files_removed;   /* gone from disk under a given folder: removed from the index */
    int files_failed;    /* parse errors (reported through the callback) */
    int chunks_added;    /* chunks written */
    int chunks_embedded; /* chunks whose vector was computed (others reused by text hash) */
    int pages;           /* pages parsed (non-PDF documents count as one) */
} ag_kb_add_stats;

typedef struct {
    /* called once per file: status AG_OK with what happened ("added", "updated", "unchanged"),
     * or the error of a file that could not be ingested (the others go on) */
    void (*on_file)(void *ctx, const char *path, const char *what, const ag_error *file_err);
    void *ctx;
} ag_kb_add_callbacks;

/* Adds files and folders (recursively; hidden entries skipped). Each document is written in one
 * transaction, so an interrupted add leaves a consistent base and the next add resumes. Fails
 * (without stopping at a bad file) only on database or model errors. */
ag_status ag_kb_add(ag_kb *kb, const char *const *paths, int n_paths, const ag_kb_add_callbacks *cb,
                    ag_kb_add_stats *stats, ag_error *err);
/* Removes a document, or every document under a folder; *n_removed receives how many. */
ag_status ag_kb_remove(ag_kb *kb, const char *path, int *n_removed, ag_error *err);

typedef struct {
    int64_t documents, chunks, vectors, tokens, bytes_text;
    int dim;                 /* vector size, 0 without a model */
    char embed_model[1024];  /* "" without */
    char rerank_model[1024]; /* the reranker in use, "" without */
    int chunk_tokens, chunk_overlap;
    double dense_weight;     /* hybrid fusion weight of the dense ranking; < 0 automatic */
    char digest[65];         /* SHA-256 over documents, chunks and vectors, in path order */
} ag_kb_info;

ag_status ag_kb_stats(ag_kb *kb, ag_kb_info *info, ag_error *err);

/* Calls fn for each document in path order: path, content hash (hex), chunk count. */
typedef void (*ag_kb_doc_fn)(void *ctx, const char *path, const char *hash, int n_chunks);
ag_status ag_kb_list_docs(ag_kb *kb, ag_kb_doc_fn fn, void *ctx, ag_error *err);

typedef enum { AG_KB_BM25 = 0, AG_KB_DENSE, AG_KB_HYBRID } ag_kb_mode;
/* "bm25" / "dense" / "hybrid" -> mode; -1 if unknown. */
int ag_kb_mode_from_name(const char *name);

typedef struct {
    int64_t chunk_id;
    char *path;    /* source document */
    char *heading; /* heading path, may be "" */
    char *text;    /* the chunk's text */
    int page;
    size_t start, end; /* byte offsets in the parsed document */
    double score;  /* BM25: -bm25 (higher is better); dense: cosine; hybrid: RRF sum */
} ag_kb_hit;

/* The k best chunks for the question. hybrid without vectors falls back to bm25. Results are
 * cached (by mode, k and the text) until the next add/remove. *out is malloc'd
 * (ag_kb_hits_free); returns the count or -1 with err.
 * With a reranker (stored at create, or ag_kb_set_reranker): max(4k, 20) candidates are
 * retrieved by the mode, scored against the question by the cross-encoder, and the k best kept
 * (score = the reranker's relevance score). */
int ag_kb_query(ag_kb *kb, const char *question, int k, ag_kb_mode mode, ag_kb_hit **out, ag_error *err);
void ag_kb_hits_free(ag_kb_hit *hits, int n);

/* The prompt for answering from retrieved chunks: numbered sources [1]..[n] then the question,
 * with the instruction to cite them. malloc'd. */
char *ag_kb_ask_prompt(const char *question, const ag_kb_hit *hits, int n);

/* ---------------------------------------------------------------- generation and summaries */

typedef struct {
    int max_tokens; /* generated tokens (default 256) */
    int n_ctx;      /* 0 = min(model's training context, 4096) */
    int n_threads;  /* 0 = the model's */
    /* streamed text (whole UTF-8 characters); may be NULL */
    void (*on_text)(void *ctx, const char *text, size_t len);
    void *ctx;
} ag_generate_params;

/* One user message through the model's chat template (the text as it is when the model has
 * none), greedy decoding. Returns the generated text (malloc'd) or NULL with err. */
char *ag_generate_greedy(ag_model *model, const char *user_text, const ag_generate_params *params, ag_error *err);

typedef struct {
    int max_length; /* summary length in characters (CJK) / words (other); 0 = about a fifth of the text, 60..200 */
    int min_length; /* 0 = none */
} ag_summary_params;

/* Extractive summary: sentences scored by TF-IDF (words; CJK bigrams) and position, near-
 * duplicates dropped, the best kept in document order until max_length. malloc'd. */
char *ag_summarize_extractive(const char *text, size_t len, const ag_summary_params *params, ag_error *err);

/* Model summary: map-reduce over chunks that fit the context (each summarized, then the
 * summaries summarized), greedy; sentences de-duplicated. malloc'd. */
char *ag_summarize_model(ag_model *model, const char *text, size_t len, const ag_summary_params *params,
                         int n_threads, ag_error *err);

/* Generation for ag_summarize_model_with: the greedy answer (malloc'd) to one user message, at
 * most max_tokens tokens; NULL with err. */
typedef char *(*ag_generate_fn)(void *ctx, const char *user_text, int max_tokens, ag_error *err);
/* ag_summarize_model with the answers made by gen (a server runs them on its loaded models);
 * model gives the tokenizer (parts are sized in its tokens) and n_ctx the context each answer
 * has (0 = min(training context, 4096)). */
char *ag_summarize_model_with(const ag_model *model, int n_ctx, ag_generate_fn gen, void *gen_ctx, const char *text,
                              size_t len, const ag_summary_params *params, ag_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AUTOGLM_KB_H */
