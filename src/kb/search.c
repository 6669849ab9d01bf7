/*
 * search.c - ag_kb_query: BM25 through FTS5, dense search over the chunk vectors (exact for
 * small collections, the HNSW graph from ann_threshold chunks on, persisted in the file and
 * rebuilt when the generation moved), hybrid by weighted reciprocal-rank fusion (score = sum
 * over the two rankings of w / (60 + rank); BM25's w is 1, the dense ranking's the base's fixed
 * weight or, by default, its agreement with BM25 beyond chance, in the sets and in the order:
 * see kb_auto_dense_weight), a small result cache in the handle and a cache of question embeddings
 * in the file. Also the prompt of `kb ask`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "kb/fts_text.h"
#include "kb/kb_impl.h"
#include "kb/textbuf.h"
#include "trust/digest.h"

#define RRF_K 60.0
#define QUERY_CACHE_MAX 512

int ag_kb_mode_from_name(const char *name) {
    if (!name) return -1;
    if (strcasecmp(name, "bm25") == 0) return AG_KB_BM25;
    if (strcasecmp(name, "dense") == 0) return AG_KB_DENSE;
    if (strcasecmp(name, "hybrid") == 0) return AG_KB_HYBRID;
    return -1;
}

typedef struct {
    int64_t id;
    double score;
} ranked;

/* ---------------------------------------------------------------- BM25 */

static int search_bm25(ag_kb *kb, const char *question, int k, ranked *out, ag_error *err) {
    char *q = kb_fts_query(question);
    if (!q) return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(kb->db, "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
                                   " ORDER BY bm25(chunks_fts) LIMIT ?", -1, &st, NULL) != SQLITE_OK) {
        free(q);
        kb_sql_error(kb, err, "bm25");
        return -1;
    }
    sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, k);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < k)
        out[n++] = (ranked){sqlite3_column_int64(st, 0), -sqlite3_column_double(st, 1)};
    sqlite3_finalize(st);
    free(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        kb_sql_error(kb, err, "bm25");
        return -1;
    }
    return n;
}

/* ---------------------------------------------------------------- dense */

static void drop_vectors(ag_kb *kb) {
    kb_hnsw_free(kb->hnsw);
    free(kb->vecs);
    free(kb->vec_ids);
    kb->hnsw = NULL;
    kb->vecs = NULL;
    kb->vec_ids = NULL;
    kb->n_vec = 0;
    kb->vec_generation = -1;
}

/* The HNSW graph: the stored one when it was built at this generation, else a new one (saved). */
static void load_or_build_graph(ag_kb *kb, int64_t gen) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(kb->db, "SELECT data FROM ann WHERE id = 1 AND generation = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, gen);
        if (sqlite3_step(st) == SQLITE_ROW)
            kb->hnsw = kb_hnsw_load(kb->vecs, kb->n_vec, kb->dim, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        sqlite3_finalize(st);
    }
    if (kb->hnsw) return;
    kb->hnsw = kb_hnsw_build(kb->vecs, kb->n_vec, kb->dim, 16, 100);
    size_t len = 0;
    void *data = kb->hnsw ? kb_hnsw_save(kb->hnsw, &len) : NULL;
    if (data && sqlite3_prepare_v2(kb->db, "INSERT OR REPLACE INTO ann(id, generation, data) VALUES (1, ?, ?)", -1, &st,
                                   NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, gen);
        sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
        sqlite3_step(st); /* a read-only or busy file only loses the cache */
        sqlite3_finalize(st);
    }
    free(data);
}

static ag_status load_vectors(ag_kb *kb, ag_error *err) {
    int64_t gen = kb_generation(kb);
    if (kb->vec_generation == gen) return AG_OK;
    drop_vectors(kb);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(kb->db, "SELECT count(*) FROM chunks WHERE vector IS NOT NULL", -1, &st, NULL) != SQLITE_OK)
        return kb_sql_error(kb, err, "vectors");
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    kb->vecs = malloc(((size_t)n + 1) * kb->dim * sizeof(float));
    kb->vec_ids = malloc(((size_t)n + 1) * sizeof(int64_t));
    if (!kb->vecs || !kb->vec_ids) {
        drop_vectors(kb);
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    if (sqlite3_prepare_v2(kb->db, "SELECT id, vector FROM chunks WHERE vector IS NOT NULL ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return kb_sql_error(kb, err, "vectors");
    int i = 0;
    while (i < n && sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != kb->dim * (int)sizeof(float)) continue;
        kb->vec_ids[i] = sqlite3_column_int64(st, 0);
        memcpy(kb->vecs + (size_t)i * kb->dim, sqlite3_column_blob(st, 1), (size_t)kb->dim * sizeof(float));
        i++;
    }
    sqlite3_finalize(st);
    kb->n_vec = i;
    kb->vec_generation = gen;
    return AG_OK;
}

/* The question's vector: from the file's cache, else embedded (and cached). */
static ag_status question_vector(ag_kb *kb, const char *question, float *q, ag_error *err) {
    unsigned char key[32];
    ag_sha256(question, strlen(question), key);
    sqlite3_stmt *st;
    bool found = false;
    if (sqlite3_prepare_v2(kb->db, "SELECT vector FROM query_cache WHERE key = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == kb->dim * (int)sizeof(float)) {
            memcpy(q, sqlite3_column_blob(st, 0), (size_t)kb->dim * sizeof(float));
            found = true;
        }
        sqlite3_finalize(st);
    }
    if (found) {
        if (sqlite3_prepare_v2(kb->db, "UPDATE query_cache SET used = (SELECT coalesce(max(used), 0) + 1 FROM query_cache)"
                                       " WHERE key = ?", -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
            sqlite3_step(st);
            sqlite3_finalize(st);
        }
        return AG_OK;
    }
    ag_status s = kb_need_embedder(kb, err);
    size_t len = strlen(question);
    if (s == AG_OK) s = kb_embedder_embed(&kb->emb, &question, &len, 1, q, err);
    if (s != AG_OK) return s;
    if (sqlite3_prepare_v2(kb->db, "INSERT OR REPLACE INTO query_cache(key, vector, used)"
                                   " VALUES (?, ?, (SELECT coalesce(max(used), 0) + 1 FROM query_cache))", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, q, kb->dim * (int)sizeof(float), SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
        char sql[160];
        snprintf(sql, sizeof sql, "DELETE FROM query_cache WHERE used <= (SELECT max(used) FROM query_cache) - %d", QUERY_CACHE_MAX);
        kb_exec(kb, sql, NULL);
    }
    return AG_OK;
}

static int cmp_ranked(const void *a, const void *b) {
    double x = ((const ranked *)a)->score, y = ((const ranked *)b)->score;
    if (x != y) return x < y ? 1 : -1;
    int64_t i = ((const ranked *)a)->id, j = ((const ranked *)b)->id;
    return (i > j) - (i < j);
}

static int search_dense(ag_kb *kb, const char *question, int k, ranked *out, ag_error *err) {
    if (!*kb->embed_path) {
        ag_error_set(err, AG_ERR_UNSUPPORTED, "the knowledge base has no embedding model (create it with --embed)");
        return -1;
    }
    if (load_vectors(kb, err) != AG_OK) return -1;
    float *q = malloc((size_t)kb->dim * sizeof *q);
    if (!q) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), -1;
    if (question_vector(kb, question, q, err) != AG_OK) {
        free(q);
        return -1;
    }
    int n = 0;
    bool ann = kb->ann_threshold > 0 && kb->n_vec >= kb->ann_threshold;
    if (ann && !kb->hnsw) load_or_build_graph(kb, kb->vec_generation);
    if (ann && kb->hnsw) {
        int *idx = malloc((size_t)k * sizeof *idx);
        float *sim = malloc((size_t)k * sizeof *sim);
        if (idx && sim) {
            n = kb_hnsw_search(kb->hnsw, q, k, k * 2 > 64 ? k * 2 : 64, idx, sim);
            for (int i = 0; i < n; i++) out[i] = (ranked){kb->vec_ids[idx[i]], sim[i]};
        }
        free(idx);
        free(sim);
    } else { /* exact: keep the k best in out, sorted (insertion) */
        for (int i = 0; i < kb->n_vec; i++) {
            const float *v = kb->vecs + (size_t)i * kb->dim;
            double s = 0;
            for (int j = 0; j < kb->dim; j++) s += (double)q[j] * v[j];
            if (n == k && s <= out[n - 1].score) continue;
            int p = n < k ? n++ : k - 1;
            while (p > 0 && out[p - 1].score < s) {
                out[p] = out[p - 1];
                p--;
            }
            out[p] = (ranked){kb->vec_ids[i], s};
        }
    }
    free(q);
    return n;
}

/* ---------------------------------------------------------------- fusion and hits */

/* How much to trust the dense ranking next to BM25 when the base does not fix it (automatic
 * weight): by two agreements with BM25, each counted only beyond chance, multiplied.
 *  - The sets: the top AGREE_DEPTH of both lists are compared. If the two rankings were
 *    unrelated (an embedding model that does not understand the text, such as a random-weight
 *    one), the number of chunks they share would follow the hypergeometric law (da of N chunks
 *    marked, db drawn): expected da * db / N. When sharing as many or more has a probability of
 *    AGREE_ALPHA or more under that law, the agreement is not evidence and the weight is 0
 *    (hybrid = BM25); otherwise this factor is the agreement beyond chance,
 *    (shared - expected) / (depth - expected), from 0 to 1.
 *  - The order: over the chunks both lists hold (their first ORDER_DEPTH), Kendall's tau
 *    between the BM25 scores and the cosines - (concordant - discordant pairs) / all pairs, 0
 *    for unrelated orders - taken when positive, else 0. Sharing the topic (the sets) is not
 *    evidence that the model orders chunks within it better than chance; an order that agrees
 *    with BM25's beyond chance is. A model that only shares words with the question (a random or
 *    a mean-pooled untrained one) passes the first test on some questions and then reorders
 *    BM25's near-tied top at random: docs/KB.md, "The fusion", has the numbers.
 * When BM25 found nothing (no word in common: a paraphrase), the dense ranking is all there is
 * and counts fully. AGREE_ALPHA is the conventional 1% significance level, not fitted to a test
 * set (docs/KB.md: the held-out check). */
#define AGREE_DEPTH 10
#define AGREE_ALPHA 0.01
#define ORDER_DEPTH 50

static double log_choose(double n, double k) { return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1); }

/* P(X >= shared) for X hypergeometric: n items, da marked, db drawn. */
static double p_shared_at_least(int shared, int da, int db, int64_t n) {
    double p = 0;
    const int hi = da < db ? da : db;
    for (int x = shared; x <= hi; x++)
        if (db - x <= n - da) p += exp(log_choose(da, x) + log_choose((double)(n - da), db - x) - log_choose((double)n, db));
    return p;
}

/* The sets' agreement beyond chance (0 when it is not significant), from 0 to 1. */
static double set_agreement(const int64_t *a, int na, const int64_t *b, int nb, int64_t n_chunks) {
    int da = na < AGREE_DEPTH ? na : AGREE_DEPTH, db = nb < AGREE_DEPTH ? nb : AGREE_DEPTH, shared = 0;
    for (int i = 0; i < da; i++)
        for (int j = 0; j < db; j++) shared += a[i] == b[j];
    const int depth = da < db ? da : db;
    if (depth == 0 || n_chunks < da || n_chunks < db) return 0.0;
    double chance = (double)da * db / (double)n_chunks;
    if (chance >= depth) return 1.0; /* everything is in both lists: nothing to tell */
    if (p_shared_at_least(shared, da, db, n_chunks) >= AGREE_ALPHA) return 0.0;
    double w = ((double)shared - chance) / ((double)depth - chance);
    return w < 0 ? 0 : w > 1 ? 1 : w;
}

/* Kendall's tau (tau-a; tied pairs count as neither) between the two lists' scores over the
 * chunks both hold, clamped to 0..1; 0 with fewer than two shared chunks. */
static double order_agreement(const int64_t *a, const double *sa, int na, const int64_t *b, const double *sb, int nb) {
    double x[ORDER_DEPTH], y[ORDER_DEPTH]; /* (m,) BM25 score and cosine of each shared chunk */
    int m = 0;
    if (na > ORDER_DEPTH) na = ORDER_DEPTH;
    if (nb > ORDER_DEPTH) nb = ORDER_DEPTH;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (a[i] == b[j]) {
                x[m] = sa[i], y[m] = sb[j], m++;
                break;
            }
    if (m < 2) return 0.0;
    long net = 0; /* concordant - discordant */
    for (int i = 0; i < m; i++)
        for (int j = i + 1; j < m; j++) {
            double u = (x[i] - x[j]) * (y[i] - y[j]);
            net += (u > 0) - (u < 0);
        }
    double tau = (double)net / ((double)m * (m - 1) / 2);
    return tau > 0 ? tau : 0;
}

double kb_auto_dense_weight(const int64_t *a, const double *sa, int na, const int64_t *b, const double *sb, int nb,
                            int64_t n_chunks) {
    if (na == 0) return 1.0;
    double w = set_agreement(a, na, b, nb, n_chunks);
    return w > 0 ? w * order_agreement(a, sa, na, b, sb, nb) : 0.0;
}

static double dense_weight(const ag_kb *kb, const ranked *a, int na, const ranked *b, int nb) {
    if (kb->dense_weight >= 0) return kb->dense_weight;
    int64_t ia[ORDER_DEPTH], ib[ORDER_DEPTH];
    double sa[ORDER_DEPTH], sb[ORDER_DEPTH];
    const int da = na < ORDER_DEPTH ? na : ORDER_DEPTH, db = nb < ORDER_DEPTH ? nb : ORDER_DEPTH;
    for (int i = 0; i < da; i++) ia[i] = a[i].id, sa[i] = a[i].score;
    for (int i = 0; i < db; i++) ib[i] = b[i].id, sb[i] = b[i].score;
    return kb_auto_dense_weight(ia, sa, da, ib, sb, db, kb->n_vec);
}

/* Reciprocal-rank fusion, the dense ranking weighted by w_dense. */
static int fuse(const ranked *a, int na, const ranked *b, int nb, double w_dense, ranked *out, int k) {
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        const ranked *l = pass ? b : a;
        int nl = pass ? nb : na;
        const double w = pass ? w_dense : 1.0;
        for (int r = 0; r < nl; r++) {
            double s = w / (RRF_K + r + 1);
            int j = 0;
            while (j < n && out[j].id != l[r].id) j++;
            if (j == n) out[n++] = (ranked){l[r].id, 0};
            out[j].score += s;
        }
    }
    qsort(out, (size_t)n, sizeof *out, cmp_ranked);
    return n < k ? n : k;
}

static char *dup_col(sqlite3_stmt *st, int c) {
    const char *t = (const char *)sqlite3_column_text(st, c);
    return strdup(t ? t : "");
}

void ag_kb_hits_free(ag_kb_hit *hits, int n) {
    for (int i = 0; hits && i < n; i++) {
        free(hits[i].path);
        free(hits[i].heading);
        free(hits[i].text);
    }
    free(hits);
}

static int load_hits(ag_kb *kb, const ranked *r, int n, ag_kb_hit **out, ag_error *err) {
    ag_kb_hit *h = calloc((size_t)n + 1, sizeof *h);
    sqlite3_stmt *st;
    if (!h) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), -1;
    if (sqlite3_prepare_v2(kb->db, "SELECT d.path, c.heading, c.text, c.page, c.start, c.end FROM chunks c"
                                   " JOIN documents d ON d.id = c.doc_id WHERE c.id = ?", -1, &st, NULL) != SQLITE_OK) {
        free(h);
        kb_sql_error(kb, err, "hits");
        return -1;
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, r[i].id);
        if (sqlite3_step(st) != SQLITE_ROW) continue;
        h[m] = (ag_kb_hit){.chunk_id = r[i].id, .path = dup_col(st, 0), .heading = dup_col(st, 1), .text = dup_col(st, 2),
                           .page = sqlite3_column_int(st, 3), .start = (size_t)sqlite3_column_int64(st, 4),
                           .end = (size_t)sqlite3_column_int64(st, 5), .score = r[i].score};
        m++;
    }
    sqlite3_finalize(st);
    *out = h;
    return m;
}

static ag_kb_hit *copy_hits(const ag_kb_hit *h, int n) {
    ag_kb_hit *c = calloc((size_t)n + 1, sizeof *c);
    for (int i = 0; c && i < n; i++) {
        c[i] = h[i];
        c[i].path = strdup(h[i].path);
        c[i].heading = strdup(h[i].heading);
        c[i].text = strdup(h[i].text);
    }
    return c;
}

int kb_retrieve(ag_kb *kb, const char *question, int k, ag_kb_mode mode, ag_kb_hit **out, ag_error *err) {
    *out = NULL;
    if (k <= 0) k = 5;
    if (k > 1000) k = 1000;
    if (mode == AG_KB_HYBRID && !*kb->embed_path) mode = AG_KB_BM25;
    int64_t gen = kb_generation(kb);
    for (int i = 0; i < KB_RESULT_CACHE; i++) {
        kb_cached_result *c = &kb->cache[i];
        if (c->question && c->generation == gen && c->k == k && c->mode == mode && strcmp(c->question, question) == 0) {
            c->used = ++kb->cache_clock;
            *out = copy_hits(c->hits, c->n);
            return *out ? c->n : (ag_error_set(err, AG_ERR_NOMEM, "out of memory"), -1);
        }
    }
    int depth = mode == AG_KB_HYBRID ? (k * 4 > 50 ? k * 4 : 50) : k;
    ranked *a = malloc((size_t)depth * sizeof *a), *b = malloc((size_t)depth * sizeof *b);
    ranked *f = malloc((size_t)depth * 2 * sizeof *f);
    int n = -1;
    if (!a || !b || !f) ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    else if (mode == AG_KB_BM25) n = search_bm25(kb, question, depth, a, err);
    else if (mode == AG_KB_DENSE) n = search_dense(kb, question, depth, a, err);
    else {
        int na = search_bm25(kb, question, depth, a, err);
        int nb = na < 0 ? -1 : search_dense(kb, question, depth, b, err);
        if (nb >= 0) {
            n = fuse(a, na, b, nb, dense_weight(kb, a, na, b, nb), f, k);
            memcpy(a, f, (size_t)n * sizeof *a);
        }
    }
    if (n > k) n = k;
    ag_kb_hit *hits = NULL;
    if (n >= 0) n = load_hits(kb, a, n, &hits, err);
    free(a);
    free(b);
    free(f);
    if (n < 0) return -1;
    int slot = 0; /* the least recently used entry */
    for (int i = 1; i < KB_RESULT_CACHE; i++)
        if (kb->cache[i].used < kb->cache[slot].used) slot = i;
    kb_cached_result *c = &kb->cache[slot];
    free(c->question);
    ag_kb_hits_free(c->hits, c->n);
    *c = (kb_cached_result){.question = strdup(question), .k = k, .mode = mode, .generation = gen,
                            .hits = copy_hits(hits, n), .n = n, .used = ++kb->cache_clock};
    if (!c->question || !c->hits) {
        free(c->question);
        ag_kb_hits_free(c->hits, c->n);
        *c = (kb_cached_result){0};
    }
    *out = hits;
    return n;
}

char *ag_kb_ask_prompt(const char *question, const ag_kb_hit *hits, int n) {
    kb_buf b = {0};
    kb_buf_puts(&b, "Answer the question using only the numbered sources below. Cite the sources you use as [1], [2]."
                    " If the sources do not contain the answer, say so.\n\nSources:\n");
    for (int i = 0; i < n; i++) {
        const char *name = strrchr(hits[i].path, '/');
        kb_buf_printf(&b, "[%d] (%s%s%s) %s\n", i + 1, name ? name + 1 : hits[i].path, *hits[i].heading ? ", " : "",
                      hits[i].heading, hits[i].text);
    }
    kb_buf_printf(&b, "\nQuestion: %s\nAnswer:", question);
    return kb_buf_take(&b, NULL);
}
