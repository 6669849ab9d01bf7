/*
 * ingest.c - ag_kb_add: files and folders into the knowledge base, incrementally.
 *
 * Per file: unchanged size and mtime -> nothing read; else the content's SHA-256 decides: the
 * same hash only refreshes mtime, a new one re-parses and re-chunks the document. A chunk whose
 * text (by hash) already has a vector in the base reuses it; only new texts are embedded. The
 * document's old rows, its new chunks, their FTS rows and vectors go in one transaction, so a
 * process killed at any point leaves each document either as it was or fully replaced, and the
 * next add carries on. Under each folder given, documents whose files are gone are removed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "kb/fts_text.h"
#include "kb/kb_impl.h"
#include "trust/digest.h"

typedef struct {
    char **v;
    int n, cap;
} str_list;

static bool list_push(str_list *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->v, (size_t)cap * sizeof *p);
        if (!p) return false;
        l->v = p;
        l->cap = cap;
    }
    return (l->v[l->n] = strdup(s)) ? (l->n++, true) : false;
}

static void list_free(str_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Supported files under dir (recursive, hidden entries skipped). */
static bool walk(const char *dir, str_list *out, int depth) {
    if (depth > 64) return true;
    DIR *d = opendir(dir);
    if (!d) return true;
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(l);
        if (!p) {
            ok = false;
            break;
        }
        snprintf(p, l, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) ok = walk(p, out, depth + 1);
            else if (S_ISREG(sb.st_mode) && ag_doc_kind_from_path(p) != AG_DOC_UNKNOWN) ok = list_push(out, p);
        }
        free(p);
    }
    closedir(d);
    return ok;
}

static char *read_all(const char *path, size_t *len, ag_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ag_error_set(err, AG_ERR_IO, "%s: %s", path, strerror(errno)), NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return ag_error_set(err, AG_ERR_IO, "%s: %s", path, strerror(errno)), NULL;
    }
    char *data = malloc((size_t)sb.st_size + 1);
    size_t got = data ? fread(data, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    if (!data || got != (size_t)sb.st_size) {
        free(data);
        return ag_error_set(err, AG_ERR_IO, "%s: cannot read", path), NULL;
    }
    data[got] = '\0';
    *len = got;
    return data;
}

static void report(const ag_kb_add_callbacks *cb, const char *path, const char *what, const ag_error *e) {
    if (cb && cb->on_file) cb->on_file(cb->ctx, path, what, e);
}

/* A stored vector for this chunk text, if any chunk has one (NULL otherwise). */
static bool reuse_vector(ag_kb *kb, sqlite3_stmt *find, const unsigned char *hash, float *out) {
    sqlite3_reset(find);
    sqlite3_bind_blob(find, 1, hash, 16, SQLITE_STATIC);
    bool ok = false;
    if (sqlite3_step(find) == SQLITE_ROW && sqlite3_column_bytes(find, 0) == kb->dim * (int)sizeof(float)) {
        memcpy(out, sqlite3_column_blob(find, 0), (size_t)kb->dim * sizeof(float));
        ok = true;
    }
    sqlite3_reset(find);
    return ok;
}

/* Writes the document and its chunks in one transaction (replacing old_id when > 0). */
static ag_status write_doc(ag_kb *kb, int64_t old_id, const char *path, const char *hash, const struct stat *sb,
                           const ag_doc *doc, const ag_chunk *ch, int n, const unsigned char (*th)[16],
                           const float *vecs, ag_error *err) {
    ag_status st = kb_exec(kb, "BEGIN IMMEDIATE", err);
    if (st != AG_OK) return st;
    sqlite3_stmt *ins_doc = NULL, *ins_chunk = NULL, *ins_fts = NULL;
    if (old_id > 0) st = kb_delete_doc(kb, old_id, err);
    if (st == AG_OK &&
        (sqlite3_prepare_v2(kb->db, "INSERT INTO documents(path, hash, mtime, size, pages, n_chunks) VALUES (?,?,?,?,?,?)",
                            -1, &ins_doc, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(kb->db,
                            "INSERT INTO chunks(doc_id, ord, text, heading, page, start, end, n_tokens, text_hash, vector)"
                            " VALUES (?,?,?,?,?,?,?,?,?,?)", -1, &ins_chunk, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(kb->db, "INSERT INTO chunks_fts(rowid, body) VALUES (?, ?)", -1, &ins_fts, NULL) != SQLITE_OK))
        st = kb_sql_error(kb, err, "insert");
    if (st == AG_OK) {
        sqlite3_bind_text(ins_doc, 1, path, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins_doc, 2, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins_doc, 3, (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec);
        sqlite3_bind_int64(ins_doc, 4, (int64_t)sb->st_size);
        sqlite3_bind_int(ins_doc, 5, doc->n_pages);
        sqlite3_bind_int(ins_doc, 6, n);
        if (sqlite3_step(ins_doc) != SQLITE_DONE) st = kb_sql_error(kb, err, "insert document");
    }
    int64_t doc_id = sqlite3_last_insert_rowid(kb->db);
    for (int i = 0; i < n && st == AG_OK; i++) {
        sqlite3_reset(ins_chunk);
        sqlite3_bind_int64(ins_chunk, 1, doc_id);
        sqlite3_bind_int(ins_chunk, 2, i);
        sqlite3_bind_text(ins_chunk, 3, doc->text + ch[i].start, (int)(ch[i].end - ch[i].start), SQLITE_STATIC);
        sqlite3_bind_text(ins_chunk, 4, ch[i].heading, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins_chunk, 5, ch[i].page);
        sqlite3_bind_int64(ins_chunk, 6, (int64_t)ch[i].start);
        sqlite3_bind_int64(ins_chunk, 7, (int64_t)ch[i].end);
        sqlite3_bind_int(ins_chunk, 8, ch[i].n_tokens);
        sqlite3_bind_blob(ins_chunk, 9, th[i], 16, SQLITE_STATIC);
        if (vecs) sqlite3_bind_blob(ins_chunk, 10, vecs + (size_t)i * kb->dim, kb->dim * (int)sizeof(float), SQLITE_STATIC);
        else sqlite3_bind_null(ins_chunk, 10);
        if (sqlite3_step(ins_chunk) != SQLITE_DONE) {
            st = kb_sql_error(kb, err, "insert chunk");
            break;
        }
        /* the FTS body: the heading path too, so that a section's title finds its chunks */
        size_t hl = strlen(ch[i].heading), tl = ch[i].end - ch[i].start;
        char *joined = malloc(hl + tl + 2);
        char *body = NULL;
        if (joined) {
            memcpy(joined, ch[i].heading, hl);
            joined[hl] = '\n';
            memcpy(joined + hl + 1, doc->text + ch[i].start, tl);
            joined[hl + 1 + tl] = '\0';
            body = kb_fts_document(joined, hl + 1 + tl);
        }
        free(joined);
        if (!body) {
            st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
            break;
        }
        sqlite3_reset(ins_fts);
        sqlite3_bind_int64(ins_fts, 1, sqlite3_last_insert_rowid(kb->db));
        sqlite3_bind_text(ins_fts, 2, body, -1, SQLITE_TRANSIENT);
        free(body);
        if (sqlite3_step(ins_fts) != SQLITE_DONE) st = kb_sql_error(kb, err, "insert fts");
    }
    sqlite3_finalize(ins_doc);
    sqlite3_finalize(ins_chunk);
    sqlite3_finalize(ins_fts);
    if (st == AG_OK) st = kb_bump_generation(kb, err);
    if (st == AG_OK) st = kb_exec(kb, "COMMIT", err);
    else kb_exec(kb, "ROLLBACK", NULL);
    return st;
}

/* Ingests one file. Returns AG_OK also for a file that failed to parse (file_err set, *failed). */
static ag_status add_file(ag_kb *kb, const char *path, const ag_kb_add_callbacks *cb, ag_kb_add_stats *s,
                          sqlite3_stmt *find_doc, sqlite3_stmt *find_vec, ag_error *err) {
    ag_error fe = {0};
    struct stat sb;
    if (stat(path, &sb) != 0) {
        ag_error_set(&fe, AG_ERR_IO, "%s: %s", path, strerror(errno));
        s->files_failed++;
        report(cb, path, "failed", &fe);
        return AG_OK;
    }
    s->files_seen++;
    int64_t old_id = 0, old_mtime = -1, old_size = -1;
    char old_hash[65] = "";
    sqlite3_reset(find_doc);
    sqlite3_bind_text(find_doc, 1, path, -1, SQLITE_STATIC);
    if (sqlite3_step(find_doc) == SQLITE_ROW) {
        old_id = sqlite3_column_int64(find_doc, 0);
        snprintf(old_hash, sizeof old_hash, "%s", (const char *)sqlite3_column_text(find_doc, 1));
        old_mtime = sqlite3_column_int64(find_doc, 2);
        old_size = sqlite3_column_int64(find_doc, 3);
    }
    sqlite3_reset(find_doc);
    int64_t mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    if (old_id && mtime == old_mtime && (int64_t)sb.st_size == old_size) {
        s->files_unchanged++;
        report(cb, path, "unchanged", NULL);
        return AG_OK;
    }
    size_t len = 0;
    char *data = read_all(path, &len, &fe);
    if (!data) {
        s->files_failed++;
        report(cb, path, "failed", &fe);
        return AG_OK;
    }
    unsigned char h[32];
    char hex[65];
    ag_sha256(data, len, h);
    ag_hex_encode(h, 32, hex);
    if (old_id && strcmp(hex, old_hash) == 0) { /* touched, same content */
        free(data);
        sqlite3_stmt *up;
        if (sqlite3_prepare_v2(kb->db, "UPDATE documents SET mtime = ?, size = ? WHERE id = ?", -1, &up, NULL) != SQLITE_OK)
            return kb_sql_error(kb, err, "update");
        sqlite3_bind_int64(up, 1, mtime);
        sqlite3_bind_int64(up, 2, (int64_t)sb.st_size);
        sqlite3_bind_int64(up, 3, old_id);
        int rc = sqlite3_step(up);
        sqlite3_finalize(up);
        if (rc != SQLITE_DONE) return kb_sql_error(kb, err, "update");
        s->files_unchanged++;
        report(cb, path, "unchanged", NULL);
        return AG_OK;
    }
    ag_doc doc;
    ag_status pst = ag_doc_parse_buffer(ag_doc_kind_from_path(path), data, len, &doc, &fe);
    free(data);
    if (pst != AG_OK) {
        ag_error_prefix(&fe, "%s", path);
        s->files_failed++;
        report(cb, path, "failed", &fe);
        return AG_OK;
    }
    ag_chunk_params cp = {.max_tokens = kb->chunk_tokens, .overlap = kb->chunk_overlap};
    if (kb->emb.model) cp.count = kb_embedder_count, cp.count_ctx = &kb->emb;
    ag_chunk *ch = NULL;
    int n = ag_chunk_doc(&doc, &cp, &ch);
    ag_status st = n < 0 ? ag_error_set(err, AG_ERR_NOMEM, "out of memory") : AG_OK;
    unsigned char (*th)[16] = n > 0 ? malloc((size_t)n * sizeof *th) : NULL;
    float *vecs = kb->emb.model && n > 0 ? malloc((size_t)n * kb->dim * sizeof(float)) : NULL;
    const char **todo_text = n > 0 ? malloc((size_t)n * sizeof *todo_text) : NULL;
    size_t *todo_len = n > 0 ? malloc((size_t)n * sizeof *todo_len) : NULL;
    int *todo_idx = n > 0 ? malloc((size_t)n * sizeof *todo_idx) : NULL;
    if (n > 0 && (!th || (kb->emb.model && !vecs) || !todo_text || !todo_len || !todo_idx))
        st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    int n_todo = 0;
    for (int i = 0; st == AG_OK && i < n; i++) {
        unsigned char full[32];
        ag_sha256(doc.text + ch[i].start, ch[i].end - ch[i].start, full);
        memcpy(th[i], full, 16);
        if (vecs && !reuse_vector(kb, find_vec, th[i], vecs + (size_t)i * kb->dim)) {
            todo_text[n_todo] = doc.text + ch[i].start;
            todo_len[n_todo] = ch[i].end - ch[i].start;
            todo_idx[n_todo++] = i;
        }
    }
    if (st == AG_OK && n_todo > 0) {
        float *tmp = malloc((size_t)n_todo * kb->dim * sizeof(float));
        if (!tmp) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        else if ((st = kb_embedder_embed(&kb->emb, todo_text, todo_len, n_todo, tmp, err)) == AG_OK)
            for (int j = 0; j < n_todo; j++)
                memcpy(vecs + (size_t)todo_idx[j] * kb->dim, tmp + (size_t)j * kb->dim, (size_t)kb->dim * sizeof(float));
        free(tmp);
        if (st != AG_OK) ag_error_prefix(err, "%s", path);
    }
    if (st == AG_OK) st = write_doc(kb, old_id, path, hex, &sb, &doc, ch, n, (const unsigned char (*)[16])th, vecs, err);
    if (st == AG_OK) {
        if (old_id) s->files_updated++;
        else s->files_added++;
        s->chunks_added += n;
        s->chunks_embedded += n_todo;
        s->pages += doc.n_pages;
        report(cb, path, old_id ? "updated" : "added", NULL);
    }
    free(th);
    free(vecs);
    free(todo_text);
    free(todo_len);
    free(todo_idx);
    ag_chunks_free(ch, n > 0 ? n : 0);
    ag_doc_free(&doc);
    return st;
}

/* Removes documents under folder whose files are not in seen (sorted). */
static ag_status prune(ag_kb *kb, const char *folder, const str_list *seen, const ag_kb_add_callbacks *cb,
                       ag_kb_add_stats *s, ag_error *err) {
    size_t fl = strlen(folder);
    sqlite3_stmt *sel;
    if (sqlite3_prepare_v2(kb->db, "SELECT id, path FROM documents WHERE substr(path, 1, ?2) = ?1 || '/' ORDER BY path",
                           -1, &sel, NULL) != SQLITE_OK)
        return kb_sql_error(kb, err, "prune");
    sqlite3_bind_text(sel, 1, folder, (int)fl, SQLITE_STATIC);
    sqlite3_bind_int(sel, 2, (int)fl + 1);
    str_list gone = {0};
    int64_t *ids = NULL;
    int cap = 0;
    while (sqlite3_step(sel) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(sel, 1);
        if (bsearch(&p, seen->v, (size_t)seen->n, sizeof *seen->v, cmp_str)) continue;
        if (gone.n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *q = realloc(ids, (size_t)cap * sizeof *q);
            if (!q) break;
            ids = q;
        }
        ids[gone.n] = sqlite3_column_int64(sel, 0);
        if (!list_push(&gone, p)) break;
    }
    sqlite3_finalize(sel);
    ag_status st = AG_OK;
    for (int i = 0; i < gone.n && st == AG_OK; i++) {
        st = kb_exec(kb, "BEGIN IMMEDIATE", err);
        if (st == AG_OK) st = kb_delete_doc(kb, ids[i], err);
        if (st == AG_OK) st = kb_bump_generation(kb, err);
        if (st == AG_OK) st = kb_exec(kb, "COMMIT", err);
        else kb_exec(kb, "ROLLBACK", NULL);
        if (st == AG_OK) {
            s->files_removed++;
            report(cb, gone.v[i], "removed", NULL);
        }
    }
    free(ids);
    list_free(&gone);
    return st;
}

ag_status ag_kb_add(ag_kb *kb, const char *const *paths, int n_paths, const ag_kb_add_callbacks *cb,
                    ag_kb_add_stats *stats, ag_error *err) {
    ag_kb_add_stats local = {0};
    ag_kb_add_stats *s = stats ? stats : &local;
    *s = (ag_kb_add_stats){0};
    ag_status st = AG_OK;
    if (*kb->embed_path && (st = kb_need_embedder(kb, err)) != AG_OK) return st;
    sqlite3_stmt *find_doc = NULL, *find_vec = NULL;
    if (sqlite3_prepare_v2(kb->db, "SELECT id, hash, mtime, size FROM documents WHERE path = ?", -1, &find_doc, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(kb->db, "SELECT vector FROM chunks WHERE text_hash = ? AND vector IS NOT NULL LIMIT 1", -1,
                           &find_vec, NULL) != SQLITE_OK) {
        st = kb_sql_error(kb, err, "prepare");
    }
    for (int p = 0; p < n_paths && st == AG_OK; p++) {
        char *abs = realpath(paths[p], NULL);
        struct stat sb;
        if (!abs || stat(abs, &sb) != 0) {
            int removed = 0; /* gone from disk: whatever the base holds there leaves it */
            st = ag_kb_remove(kb, paths[p], &removed, err);
            if (st == AG_OK && removed) {
                s->files_removed += removed;
                report(cb, paths[p], "removed", NULL);
            } else if (st == AG_OK) {
                ag_error fe = {0};
                ag_error_set(&fe, AG_ERR_IO, "%s: %s", paths[p], strerror(ENOENT));
                s->files_failed++;
                report(cb, paths[p], "failed", &fe);
            }
            free(abs);
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            str_list files = {0};
            if (!walk(abs, &files, 0)) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
            if (files.n) qsort(files.v, (size_t)files.n, sizeof *files.v, cmp_str);
            for (int i = 0; i < files.n && st == AG_OK; i++) st = add_file(kb, files.v[i], cb, s, find_doc, find_vec, err);
            if (st == AG_OK) st = prune(kb, abs, &files, cb, s, err);
            list_free(&files);
        } else if (ag_doc_kind_from_path(abs) == AG_DOC_UNKNOWN) {
            ag_error fe = {0};
            ag_error_set(&fe, AG_ERR_UNSUPPORTED, "%s: unsupported file type (txt, md, html, pdf, docx)", paths[p]);
            s->files_failed++;
            report(cb, abs, "failed", &fe);
        } else st = add_file(kb, abs, cb, s, find_doc, find_vec, err);
        free(abs);
    }
    sqlite3_finalize(find_doc);
    sqlite3_finalize(find_vec);
    kb_cache_clear(kb);
    return st;
}
