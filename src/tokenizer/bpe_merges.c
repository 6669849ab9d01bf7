/*
 * bpe_merges.c - building the merge table of a byte-level BPE vocabulary (see bpe_merges.h).
 *
 * Every merge "L R" interns three strings (L, R and L+R): the token id when the vocabulary has the
 * piece, else an extra id kept in a small map of its own. Extra texts live in a growing blob; the
 * map stores offsets into it, so its blob pointer is refreshed after each growth.
 */
#include "tokenizer/bpe_merges.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/byte_unicode.h"

/* A merge entry longer than this cannot join two pieces of the vocabulary's maximum length. */
#define MAX_MERGE_LEN (2 * AG_VOCAB_MAX_PIECE + 1)

static ag_status nomem(ag_error *err) {
    return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
}

void ag_bpe_merges_free(ag_bpe_merges *m) {
    if (!m) return;
    free(m->pairs);
    free(m->extra_blob);
    ag_piece_map_free(&m->extra_map);
    free(m);
}

int32_t ag_bpe_merges_count(const ag_bpe_merges *m) { return m->n_merges; }

/* ---------------------------------------------------------------- symbols */

static bool extra_append(ag_bpe_merges *m, const char *s, size_t n, uint32_t *off) {
    if (m->extra_len + n + 1 > UINT32_MAX) return false;
    if (m->extra_len + n + 1 > m->extra_cap) {
        size_t cap = m->extra_cap ? 2 * m->extra_cap : 4096;
        while (cap < m->extra_len + n + 1) cap *= 2;
        char *b = realloc(m->extra_blob, cap);
        if (!b) return false;
        m->extra_blob = b;
        m->extra_cap = cap;
        m->extra_map.blob = b; /* the map keeps offsets: only its base moves */
    }
    memcpy(m->extra_blob + m->extra_len, s, n);
    m->extra_blob[m->extra_len + n] = '\0';
    *off = (uint32_t)m->extra_len;
    m->extra_len += n + 1;
    return true;
}

/* The symbol id of s[0..n): its token id, or an extra id (created when new). -1 when out of memory. */
static int32_t intern(ag_bpe_merges *m, const ag_vocab *v, const char *s, size_t n) {
    int32_t id = ag_piece_map_get(&v->map, s, n);
    if (id >= 0) return id;
    id = ag_piece_map_get(&m->extra_map, s, n);
    if (id >= 0) return id;
    uint32_t off;
    if (!extra_append(m, s, n, &off)) return -1;
    id = v->n_tokens + m->n_extra++;
    ag_piece_map_put(&m->extra_map, off, (uint32_t)n, id);
    return id;
}

static bool init_bytes(ag_bpe_merges *m, const ag_vocab *v) {
    for (int b = 0; b < 256; b++) {
        char ch[2];
        size_t n = ag_bpe_byte_utf8((uint8_t)b, ch);
        m->byte_symbol[b] = intern(m, v, ch, n);
        if (m->byte_symbol[b] < 0) return false;
        for (size_t k = 0; k < 2; k++)
            m->byte_fallback[b][k] = k < n ? ag_piece_map_get(&v->map, &ch[k], 1) : -1;
    }
    return true;
}

/* ---------------------------------------------------------------- pairs */

/* Inserts (left, right) -> (rank, result) unless the pair is already there (first rank wins). */
static void pair_put(ag_bpe_merges *m, int32_t left, int32_t right, int32_t rank, int32_t result) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = ag_bpe_pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        ag_bpe_pair_slot *s = &m->pairs[i];
        if (s->rank >= 0 && s->key == key) return;
        if (s->rank < 0) {
            *s = (ag_bpe_pair_slot){.key = key, .rank = rank, .result = result};
            return;
        }
    }
}

static size_t merge_len(const char *const *merges, const size_t *lens, int32_t i) {
    return lens ? lens[i] : strlen(merges[i]);
}

/* Splits merge i at the first space after its first byte; AG_ERR_FORMAT when malformed. */
static ag_status split_merge(const char *s, size_t n, int32_t i, size_t *space, ag_error *err) {
    int shown = n > 64 ? 64 : (int)n;
    if (n > MAX_MERGE_LEN)
        return ag_error_set(err, AG_ERR_FORMAT, "tokenizer.ggml.merges: entry %d is %zu bytes long (at most %d)",
                            (int)i, n, MAX_MERGE_LEN);
    const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
    if (!sp || (size_t)(sp - s) + 1 == n)
        return ag_error_set(err, AG_ERR_FORMAT,
                            "tokenizer.ggml.merges: entry %d ('%.*s') is not two pieces separated by a space",
                            (int)i, shown, s);
    *space = (size_t)(sp - s);
    return AG_OK;
}

/* An upper bound on the extra symbols: merge parts and joins that are not pieces (with repeats).
 * Malformed entries are skipped here; add_merges reports them. */
static uint64_t count_extra(const ag_vocab *v, const char *const *merges, const size_t *lens, int32_t n,
                            char *joined) {
    uint64_t extra = 256;
    for (int32_t i = 0; i < n; i++) {
        const char *s = merges[i];
        size_t len = s ? merge_len(merges, lens, i) : 0, sp = 0;
        if (!s || split_merge(s, len, i, &sp, NULL) != AG_OK) continue;
        size_t rlen = len - sp - 1;
        memcpy(joined, s, sp);
        memcpy(joined + sp, s + sp + 1, rlen);
        extra += ag_piece_map_get(&v->map, s, sp) < 0;
        extra += ag_piece_map_get(&v->map, s + sp + 1, rlen) < 0;
        extra += ag_piece_map_get(&v->map, joined, sp + rlen) < 0;
    }
    return extra;
}

static ag_status add_merges(ag_bpe_merges *m, const ag_vocab *v, const char *const *merges, const size_t *lens,
                            int32_t n, ag_error *err) {
    char *joined = malloc(MAX_MERGE_LEN);
    if (!joined) return nomem(err);
    ag_status st = AG_OK;
    for (int32_t i = 0; i < n && st == AG_OK; i++) {
        const char *s = merges[i];
        if (!s) {
            st = ag_error_set(err, AG_ERR_INVALID_ARG, "tokenizer.ggml.merges: entry %d is missing", (int)i);
            break;
        }
        size_t len = merge_len(merges, lens, i), sp = 0;
        if ((st = split_merge(s, len, i, &sp, err)) != AG_OK) break;
        size_t rlen = len - sp - 1;
        memcpy(joined, s, sp);
        memcpy(joined + sp, s + sp + 1, rlen);
        int32_t left = intern(m, v, s, sp);
        int32_t right = intern(m, v, s + sp + 1, rlen);
        int32_t result = intern(m, v, joined, sp + rlen);
        if (left < 0 || right < 0 || result < 0) st = nomem(err);
        else pair_put(m, left, right, i, result);
    }
    free(joined);
    return st;
}

ag_bpe_merges *ag_bpe_merges_new(const ag_vocab *v, const char *const *merges, const size_t *lens, int32_t n,
                                 ag_error *err) {
    if (n <= 0 || !merges) {
        ag_error_set(err, AG_ERR_FORMAT, "tokenizer.ggml.merges: no merges");
        return NULL;
    }
    if (n > AG_VOCAB_MAX_TOKENS) {
        ag_error_set(err, AG_ERR_FORMAT, "tokenizer.ggml.merges: %d merges (at most %d supported)", (int)n,
                     AG_VOCAB_MAX_TOKENS);
        return NULL;
    }
    ag_bpe_merges *m = calloc(1, sizeof *m);
    if (!m) {
        nomem(err);
        return NULL;
    }
    m->n_merges = n;
    uint64_t cap = 16;
    while (cap < 2ull * (uint64_t)n) cap *= 2;
    m->mask = (uint32_t)(cap - 1);
    m->pairs = malloc(cap * sizeof *m->pairs);
    char *joined = malloc(MAX_MERGE_LEN);
    bool ok = m->pairs && joined &&
              ag_piece_map_init(&m->extra_map, NULL, (uint32_t)count_extra(v, merges, lens, n, joined));
    free(joined);
    if (!ok) {
        nomem(err);
        ag_bpe_merges_free(m);
        return NULL;
    }
    for (uint64_t i = 0; i < cap; i++) m->pairs[i].rank = -1;
    if (!init_bytes(m, v)) {
        nomem(err);
        ag_bpe_merges_free(m);
        return NULL;
    }
    if (add_merges(m, v, merges, lens, n, err) != AG_OK) {
        ag_bpe_merges_free(m);
        return NULL;
    }
    return m;
}
