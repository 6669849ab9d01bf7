/*
 * store.c - the knowledge base file: creating it (schema, settings in meta), opening and
 * closing the handle, the generation counter, deleting documents, statistics with a digest of
 * the whole index, and the list of documents. SQLite runs in WAL mode with synchronous=NORMAL:
 * a committed document survives a killed process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoglm/rerank.h"
#include "base/error.h"
#include "kb/kb_impl.h"
#include "kb/textbuf.h"
#include "trust/digest.h"
#include <openssl/evp.h>

#define KB_SCHEMA_VERSION 1

static const char *SCHEMA =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
    "CREATE TABLE documents(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, hash TEXT NOT NULL,"
    " mtime INTEGER NOT NULL, size INTEGER NOT NULL, pages INTEGER NOT NULL, n_chunks INTEGER NOT NULL);"
    "CREATE TABLE chunks(id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL, ord INTEGER NOT NULL, text TEXT NOT NULL,"
    " heading TEXT NOT NULL, page INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,"
    " n_tokens INTEGER NOT NULL, text_hash BLOB NOT NULL, vector BLOB);"
    "CREATE INDEX chunks_doc ON chunks(doc_id, ord);"
    "CREATE INDEX chunks_hash ON chunks(text_hash);"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(body, tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE TABLE ann(id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE TABLE query_cache(key BLOB PRIMARY KEY, vector BLOB NOT NULL, used INTEGER NOT NULL);";

ag_status kb_sql_error(ag_kb *kb, ag_error *err, const char *what) {
    return ag_error_set(err, AG_ERR_IO, "%s: %s (%s)", kb->path, what, sqlite3_errmsg(kb->db));
}

ag_status kb_exec(ag_kb *kb, const char *sql, ag_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(kb->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ag_status st = ag_error_set(err, AG_ERR_IO, "%s: %s", kb->path, msg ? msg : "SQL error");
        sqlite3_free(msg);
        return st;
    }
    return AG_OK;
}

static ag_status meta_set(ag_kb *kb, const char *key, const char *text, int64_t num, ag_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(kb->db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", -1, &st, NULL) != SQLITE_OK)
        return kb_sql_error(kb, err, "meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (text) sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    else sqlite3_bind_int64(st, 2, num);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? AG_OK : kb_sql_error(kb, err, "meta");
}

/* The value of a meta key as text (malloc'd) or number; NULL / fallback when absent. */
static char *meta_text(ag_kb *kb, const char *key) {
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_prepare_v2(kb->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static int64_t meta_int(ag_kb *kb, const char *key, int64_t fallback) {
    char *t = meta_text(kb, key);
    int64_t v = t ? strtoll(t, NULL, 10) : fallback;
    free(t);
    return v;
}

int64_t kb_generation(ag_kb *kb) { return meta_int(kb, "generation", 0); }

ag_status kb_bump_generation(ag_kb *kb, ag_error *err) {
    return kb_exec(kb, "UPDATE meta SET value = value + 1 WHERE key = 'generation'", err);
}

static ag_status open_db(const char *path, int flags, ag_kb **out, ag_error *err) {
    ag_kb *kb = calloc(1, sizeof *kb);
    if (!kb || !(kb->path = strdup(path))) {
        free(kb);
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    kb->ann_threshold = 2000;
    if (sqlite3_open_v2(path, &kb->db, flags, NULL) != SQLITE_OK) {
        ag_status st = ag_error_set(err, AG_ERR_IO, "%s: cannot open (%s)", path, kb->db ? sqlite3_errmsg(kb->db) : "out of memory");
        ag_kb_close(kb);
        return st;
    }
    sqlite3_busy_timeout(kb->db, 10000);
    ag_status st = kb_exec(kb, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;", err);
    if (st != AG_OK) {
        ag_kb_close(kb);
        return st;
    }
    *out = kb;
    return AG_OK;
}

ag_status ag_kb_create(const char *db_path, const ag_kb_params *params, ag_error *err) {
    if (access(db_path, F_OK) == 0) return ag_error_set(err, AG_ERR_INVALID_ARG, "%s already exists", db_path);
    ag_kb_params p = params ? *params : (ag_kb_params){0};
    if (p.fixed_dense_weight && !(p.dense_weight >= 0 && p.dense_weight <= 1000))
        return ag_error_set(err, AG_ERR_INVALID_ARG, "the dense weight must be from 0 to 1000 (or automatic)");
    int dim = 0;
    if (p.embed_model) { /* check that the model loads, and learn its vector size */
        kb_embedder e;
        ag_status st = kb_embedder_open(&e, p.embed_model, 1, err);
        if (st != AG_OK) return st;
        dim = e.dim;
        if (p.chunk_tokens <= 0 || p.chunk_tokens > e.max_tokens * 9 / 10) {
            int want = p.chunk_tokens > 0 ? p.chunk_tokens : 256;
            p.chunk_tokens = want < e.max_tokens * 9 / 10 ? want : e.max_tokens * 9 / 10;
        }
        kb_embedder_close(&e);
    }
    if (p.rerank_model && *p.rerank_model) { /* check that it loads and is a reranker */
        ag_model *rm = ag_model_load(p.rerank_model, &(ag_model_params){.n_threads = 1, .device = "cpu", .keep_layout = true}, err);
        const bool ok = rm && ag_model_is_reranker(rm);
        ag_model_free(rm);
        if (!ok) return rm ? ag_error_set(err, AG_ERR_UNSUPPORTED, "%s is not a reranker", p.rerank_model) : AG_ERR_IO;
    }
    if (p.chunk_tokens <= 0) p.chunk_tokens = 256;
    if (p.chunk_overlap == 0) p.chunk_overlap = p.chunk_tokens / 8 < 32 ? p.chunk_tokens / 8 : 32;
    if (p.chunk_overlap < 0) p.chunk_overlap = 0;
    ag_kb *kb = NULL;
    ag_status st = open_db(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &kb, err);
    if (st != AG_OK) return st;
    st = kb_exec(kb, "BEGIN", err);
    if (st == AG_OK) st = kb_exec(kb, SCHEMA, err);
    if (st == AG_OK) st = meta_set(kb, "schema_version", NULL, KB_SCHEMA_VERSION, err);
    if (st == AG_OK) st = meta_set(kb, "embed_model", p.embed_model ? p.embed_model : "", 0, err);
    if (st == AG_OK) st = meta_set(kb, "rerank_model", p.rerank_model ? p.rerank_model : "", 0, err);
    if (st == AG_OK) st = meta_set(kb, "dim", NULL, dim, err);
    if (st == AG_OK) st = meta_set(kb, "chunk_tokens", NULL, p.chunk_tokens, err);
    if (st == AG_OK) st = meta_set(kb, "chunk_overlap", NULL, p.chunk_overlap, err);
    if (st == AG_OK) st = meta_set(kb, "generation", NULL, 0, err);
    if (st == AG_OK && p.fixed_dense_weight) { /* absent: automatic */
        char w[40];
        snprintf(w, sizeof w, "%.17g", p.dense_weight);
        st = meta_set(kb, "dense_weight", w, 0, err);
    }
    if (st == AG_OK) st = kb_exec(kb, "COMMIT", err);
    ag_kb_close(kb);
    if (st != AG_OK) unlink(db_path);
    return st;
}

ag_kb *ag_kb_open(const char *db_path, ag_error *err) {
    if (access(db_path, F_OK) != 0) {
        ag_error_set(err, AG_ERR_IO, "%s: no such knowledge base", db_path);
        return NULL;
    }
    ag_kb *kb = NULL;
    if (open_db(db_path, SQLITE_OPEN_READWRITE, &kb, err) != AG_OK) return NULL;
    if (meta_int(kb, "schema_version", -1) != KB_SCHEMA_VERSION) {
        ag_error_set(err, AG_ERR_FORMAT, "%s: not a knowledge base of this version", db_path);
        ag_kb_close(kb);
        return NULL;
    }
    kb->embed_path = meta_text(kb, "embed_model");
    if (!kb->embed_path) kb->embed_path = strdup("");
    kb->rerank_path = meta_text(kb, "rerank_model"); /* absent in bases made before reranking: none */
    if (!kb->rerank_path) kb->rerank_path = strdup("");
    kb->dim = (int)meta_int(kb, "dim", 0);
    kb->chunk_tokens = (int)meta_int(kb, "chunk_tokens", 256);
    kb->chunk_overlap = (int)meta_int(kb, "chunk_overlap", 32);
    char *w = meta_text(kb, "dense_weight");
    kb->dense_weight = w && *w ? strtod(w, NULL) : -1.0;
    free(w);
    kb->vec_generation = -1;
    return kb;
}

void ag_kb_set_threads(ag_kb *kb, int n_threads) { kb->n_threads = n_threads; }
void ag_kb_set_ann_threshold(ag_kb *kb, int n_chunks) { kb->ann_threshold = n_chunks; }
void ag_kb_set_dense_weight(ag_kb *kb, double w) {
    if (w != w || w < 0) w = -1.0; /* NaN or negative: automatic */
    if (w == kb->dense_weight) return;
    kb->dense_weight = w;
    kb_cache_clear(kb); /* cached hybrid results were fused with the old weight */
}

void ag_kb_set_embedder_hooks(ag_kb *kb, const ag_kb_embedder_hooks *hooks) {
    kb_embedder_close(&kb->emb); /* the next need takes the model the new way */
    kb->emb_hooks = hooks ? *hooks : (ag_kb_embedder_hooks){0};
}

const char *ag_kb_embed_model(const ag_kb *kb) { return kb->embed_path ? kb->embed_path : ""; }

ag_status kb_need_embedder(ag_kb *kb, ag_error *err) {
    if (kb->emb.model) return AG_OK;
    if (!kb->embed_path || !*kb->embed_path)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "the knowledge base has no embedding model (create it with --embed)");
    ag_status st = AG_OK;
    if (kb->emb_hooks.model) { /* lent by the caller */
        const ag_model *m = kb->emb_hooks.model(kb->emb_hooks.ctx, err);
        if (!m) return err && err->code ? err->code : AG_ERR_IO;
        kb_embedder_lend(&kb->emb, m, &kb->emb_hooks);
    } else {
        st = kb_embedder_open(&kb->emb, kb->embed_path, kb->n_threads, err);
    }
    if (st == AG_OK && kb->emb.dim != kb->dim) {
        kb_embedder_close(&kb->emb);
        return ag_error_set(err, AG_ERR_FORMAT, "%s: vectors of %d values, the knowledge base holds %d", kb->embed_path,
                            kb->emb.dim, kb->dim);
    }
    return st;
}

void kb_cache_clear(ag_kb *kb) {
    for (int i = 0; i < KB_RESULT_CACHE; i++) {
        free(kb->cache[i].question);
        ag_kb_hits_free(kb->cache[i].hits, kb->cache[i].n);
        kb->cache[i] = (kb_cached_result){0};
    }
}

void ag_kb_close(ag_kb *kb) {
    if (!kb) return;
    kb_cache_clear(kb);
    kb_hnsw_free(kb->hnsw);
    free(kb->vecs);
    free(kb->vec_ids);
    kb_embedder_close(&kb->emb);
    ag_model_free(kb->reranker);
    free(kb->rerank_path);
    if (kb->db) sqlite3_close(kb->db);
    free(kb->embed_path);
    free(kb->path);
    free(kb);
}

ag_status kb_delete_doc(ag_kb *kb, int64_t doc_id, ag_error *err) {
    static const char *const SQL[] = {
        "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?1)",
        "DELETE FROM chunks WHERE doc_id = ?1",
        "DELETE FROM documents WHERE id = ?1",
    };
    for (size_t i = 0; i < sizeof SQL / sizeof SQL[0]; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(kb->db, SQL[i], -1, &st, NULL) != SQLITE_OK) return kb_sql_error(kb, err, "delete");
        sqlite3_bind_int64(st, 1, doc_id);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) return kb_sql_error(kb, err, "delete");
    }
    return AG_OK;
}

ag_status ag_kb_remove(ag_kb *kb, const char *path, int *n_removed, ag_error *err) {
    int removed = 0;
    char *abs = realpath(path, NULL); /* the file may be gone: then the path made absolute */
    if (!abs && path[0] != '/') {
        char cwd[4096];
        size_t l = strlen(path) + sizeof cwd + 2;
        if (getcwd(cwd, sizeof cwd) && (abs = malloc(l))) snprintf(abs, l, "%s/%s", cwd, path);
    }
    const char *p = abs ? abs : path;
    size_t pl = strlen(p);
    while (pl > 1 && p[pl - 1] == '/') pl--;
    sqlite3_stmt *sel;
    ag_status st = AG_OK;
    if (sqlite3_prepare_v2(kb->db, "SELECT id FROM documents WHERE path = ?1 OR (substr(path, 1, ?3) = ?2 || '/')",
                           -1, &sel, NULL) != SQLITE_OK) {
        free(abs);
        return kb_sql_error(kb, err, "remove");
    }
    sqlite3_bind_text(sel, 1, p, (int)pl, SQLITE_TRANSIENT);
    sqlite3_bind_text(sel, 2, p, (int)pl, SQLITE_TRANSIENT);
    sqlite3_bind_int(sel, 3, (int)pl + 1);
    int64_t *ids = NULL;
    int n = 0, cap = 0;
    while (sqlite3_step(sel) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *q = realloc(ids, (size_t)cap * sizeof *q);
            if (!q) break;
            ids = q;
        }
        ids[n++] = sqlite3_column_int64(sel, 0);
    }
    sqlite3_finalize(sel);
    for (int i = 0; i < n && st == AG_OK; i++) {
        st = kb_exec(kb, "BEGIN IMMEDIATE", err);
        if (st == AG_OK) st = kb_delete_doc(kb, ids[i], err);
        if (st == AG_OK) st = kb_bump_generation(kb, err);
        if (st == AG_OK) st = kb_exec(kb, "COMMIT", err);
        else kb_exec(kb, "ROLLBACK", NULL);
        if (st == AG_OK) removed++;
    }
    free(ids);
    free(abs);
    if (n_removed) *n_removed = removed;
    return st;
}

static int64_t count(ag_kb *kb, const char *sql) {
    sqlite3_stmt *st;
    int64_t v = 0;
    if (sqlite3_prepare_v2(kb->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

ag_status ag_kb_stats(ag_kb *kb, ag_kb_info *info, ag_error *err) {
    *info = (ag_kb_info){0};
    info->documents = count(kb, "SELECT count(*) FROM documents");
    info->chunks = count(kb, "SELECT count(*) FROM chunks");
    info->vectors = count(kb, "SELECT count(*) FROM chunks WHERE vector IS NOT NULL");
    info->tokens = count(kb, "SELECT coalesce(sum(n_tokens), 0) FROM chunks");
    info->bytes_text = count(kb, "SELECT coalesce(sum(length(CAST(text AS BLOB))), 0) FROM chunks");
    info->dim = kb->dim;
    snprintf(info->embed_model, sizeof info->embed_model, "%s", kb->embed_path ? kb->embed_path : "");
    snprintf(info->rerank_model, sizeof info->rerank_model, "%s", kb->rerank_path ? kb->rerank_path : "");
    info->chunk_tokens = kb->chunk_tokens;
    info->chunk_overlap = kb->chunk_overlap;
    info->dense_weight = kb->dense_weight;
    /* the digest: everything that retrieval sees, independent of row ids and timestamps */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(kb->db,
                           "SELECT d.path, d.hash, c.ord, c.text, c.heading, c.page, c.start, c.end, c.vector,"
                           " (SELECT body FROM chunks_fts WHERE rowid = c.id)"
                           " FROM documents d JOIN chunks c ON c.doc_id = d.id ORDER BY d.path, c.ord",
                           -1, &st, NULL) != SQLITE_OK)
        return kb_sql_error(kb, err, "stats");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        sqlite3_finalize(st);
        EVP_MD_CTX_free(md);
        return ag_error_set(err, AG_ERR_NOMEM, "sha256");
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        for (int c = 0; c < 10; c++) {
            const void *b = sqlite3_column_blob(st, c);
            int64_t l = sqlite3_column_bytes(st, c);
            EVP_DigestUpdate(md, &l, sizeof l);
            if (b && l) EVP_DigestUpdate(md, b, (size_t)l);
        }
    sqlite3_finalize(st);
    unsigned char h[32];
    unsigned int hl = 0;
    EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    ag_hex_encode(h, 32, info->digest);
    return AG_OK;
}

ag_status ag_kb_list_docs(ag_kb *kb, ag_kb_doc_fn fn, void *ctx, ag_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(kb->db, "SELECT path, hash, n_chunks FROM documents ORDER BY path", -1, &st, NULL) != SQLITE_OK)
        return kb_sql_error(kb, err, "list");
    while (sqlite3_step(st) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1), sqlite3_column_int(st, 2));
    sqlite3_finalize(st);
    return AG_OK;
}
