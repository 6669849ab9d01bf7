/*
 * convert_vocab_spm.c - SentencePiece-style vocabularies for the GGUF "llama" tokenizer (pieces
 * spelled with U+2581 for spaces, scores that order the merges, <0xXX> byte tokens):
 *   tokenizer.model   the SentencePiece protobuf (spm_model.c): pieces, scores and types as they are;
 *                     BPE models only (unigram needs a different tokenizer)
 *   tokenizer.json    model "BPE" without a ByteLevel step (Llama 2, Mistral, Gemma: byte_fallback):
 *                     the vocabulary as it is; a piece made by merge r scores -r (earlier merges
 *                     win, as in the reference's ranks), every other piece -(n_merges + id), below
 *                     them all, so that no pair merges into it; "<0xXX>" pieces are BYTE tokens
 * add_space_prefix: the normalizer's dummy prefix (tokenizer.model), or a Prepend("▁") normalizer /
 * a Metaspace pre-tokenizer whose prepend_scheme is not "never" (tokenizer.json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "convert/convert_impl.h"
#include "convert/spm_model.h"

enum { TT_NORMAL = 1, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

void ag_conv_spm_vocab_free(ag_conv_spm_vocab *v) {
    for (int64_t i = 0; v->tokens && i < v->n; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->scores);
    free(v->types);
    memset(v, 0, sizeof *v);
}

static ag_status alloc_vocab(ag_conv_spm_vocab *v, int64_t n, ag_error *err) {
    v->n = n;
    v->tokens = calloc((size_t)n, sizeof *v->tokens);
    v->scores = calloc((size_t)n, sizeof *v->scores);
    v->types = calloc((size_t)n, sizeof *v->types);
    v->bos = v->eos = v->unk = v->pad = -1;
    return v->tokens && v->scores && v->types ? AG_OK : ag_error_set(err, AG_ERR_NOMEM, "out of memory");
}

/* Unfilled ids (the model has more embedding rows than pieces) become "[PADn]" (UNUSED). */
static ag_status pad_rest(ag_conv_spm_vocab *v, ag_error *err) {
    for (int64_t i = 0; i < v->n; i++) {
        if (v->tokens[i]) continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
        if (!(v->tokens[i] = strdup(pad))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        v->types[i] = TT_UNUSED;
    }
    return AG_OK;
}

ag_status ag_conv_spm_from_model(const char *path, int64_t n_vocab, ag_conv_spm_vocab *v, ag_error *err) {
    size_t len = 0;
    char *buf = ag_read_file(path, (size_t)1 << 30, &len, err);
    if (!buf) return err ? err->code : AG_ERR_IO;
    ag_spm_model m;
    ag_status st = ag_spm_model_read(buf, len, &m, err);
    free(buf);
    if (st) return st;
    if (m.model_type != 2)
        st = ag_error_set(err, AG_ERR_UNSUPPORTED, "%s: a SentencePiece %s model is not supported yet (BPE is)", path,
                          m.model_type == 1 ? "unigram" : "word/char");
    else if (n_vocab > 0 && m.n_pieces > n_vocab)
        st = ag_error_set(err, AG_ERR_FORMAT, "%s has %lld pieces but the model has only %lld embedding rows", path,
                          (long long)m.n_pieces, (long long)n_vocab);
    if (!st) st = alloc_vocab(v, n_vocab > 0 ? n_vocab : m.n_pieces, err);
    for (int64_t i = 0; !st && i < m.n_pieces; i++) {
        v->tokens[i] = m.pieces[i].piece;
        m.pieces[i].piece = NULL;
        v->scores[i] = m.pieces[i].score;
        v->types[i] = m.pieces[i].type >= 1 && m.pieces[i].type <= 6 ? m.pieces[i].type : TT_NORMAL;
    }
    if (!st) {
        v->add_space_prefix = m.add_dummy_prefix;
        v->bos = m.bos_id, v->eos = m.eos_id, v->unk = m.unk_id, v->pad = m.pad_id;
        st = pad_rest(v, err);
    }
    ag_spm_model_free(&m);
    return st;
}

/* ---------------------------------------------------------------- tokenizer.json */

typedef struct {
    const char **keys;
    int64_t *ids;
    size_t cap;
} str_map; /* open addressing, FNV-1a */

static uint64_t hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int64_t map_find(const str_map *m, const char *s, size_t n) {
    for (size_t i = hash(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return -1;
        if (strlen(m->keys[i]) == n && memcmp(m->keys[i], s, n) == 0) return m->ids[i];
    }
}

static void map_put(str_map *m, const char *s, int64_t id) {
    size_t i = hash(s, strlen(s)) & (m->cap - 1);
    while (m->keys[i]) i = (i + 1) & (m->cap - 1);
    m->keys[i] = s;
    m->ids[i] = id;
}

static const char *type_of(const cJSON *o) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) ? t->valuestring : "";
}

static bool prepends_space(const cJSON *tok) {
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(tok, "normalizer"), *pre = cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(norm, "normalizers");
    for (const cJSON *it = cJSON_IsArray(list) ? list->child : norm; it; it = cJSON_IsArray(list) ? it->next : NULL)
        if (strcmp(type_of(it), "Prepend") == 0) return true;
    list = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    for (const cJSON *it = cJSON_IsArray(list) ? list->child : pre; it; it = cJSON_IsArray(list) ? it->next : NULL) {
        if (strcmp(type_of(it), "Metaspace") != 0) continue;
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(it, "prepend_scheme"), *aps = cJSON_GetObjectItemCaseSensitive(it, "add_prefix_space");
        return cJSON_IsString(ps) ? strcmp(ps->valuestring, "never") != 0 : !cJSON_IsFalse(aps);
    }
    return false;
}

static bool is_byte_piece(const char *s) {
    return strlen(s) == 6 && strncmp(s, "<0x", 3) == 0 && s[5] == '>' && strchr("0123456789ABCDEF", s[3]) &&
           strchr("0123456789ABCDEF", s[4]);
}

/* Merge r ("a b" or [a, b]) -> the rank of the piece a+b (first merge that makes it wins). */
static ag_status rank_merges(const cJSON *merges, const str_map *map, ag_conv_spm_vocab *v, int64_t *rank, ag_error *err) {
    int64_t r = 0;
    char buf[1024];
    for (const cJSON *it = cJSON_IsArray(merges) ? merges->child : NULL; it; it = it->next, r++) {
        const char *a, *b;
        if (cJSON_IsString(it)) {
            const char *sp = strchr(it->valuestring, ' ');
            if (!sp) return ag_error_set(err, AG_ERR_FORMAT, "tokenizer.json: merge %lld has no space", (long long)r);
            snprintf(buf, sizeof buf, "%.*s%s", (int)(sp - it->valuestring), it->valuestring, sp + 1);
        } else if (cJSON_IsArray(it) && cJSON_IsString(it->child) && it->child->next && cJSON_IsString(it->child->next)) {
            a = it->child->valuestring, b = it->child->next->valuestring;
            snprintf(buf, sizeof buf, "%s%s", a, b);
        } else return ag_error_set(err, AG_ERR_FORMAT, "tokenizer.json: merge %lld is neither \"a b\" nor [a, b]", (long long)r);
        const int64_t id = map_find(map, buf, strlen(buf));
        if (id >= 0 && rank[id] < 0) rank[id] = r;
    }
    (void)v;
    return AG_OK;
}

ag_status ag_conv_spm_from_json(const cJSON *tok, int64_t n_vocab, ag_conv_spm_vocab *v, ag_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tok, "model"), *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges"), *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    if (!cJSON_IsObject(vocab)) return ag_error_set(err, AG_ERR_FORMAT, "tokenizer.json: model.vocab is not an object");
    int64_t max_id = -1;
    for (const cJSON *it = vocab->child; it; it = it->next)
        if (cJSON_IsNumber(it) && it->valuedouble > max_id) max_id = (int64_t)it->valuedouble;
    for (const cJSON *it = cJSON_IsArray(added) ? added->child : NULL; it; it = it->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (cJSON_IsNumber(id) && id->valuedouble > max_id) max_id = (int64_t)id->valuedouble;
    }
    if (n_vocab > 0 && max_id >= n_vocab)
        return ag_error_set(err, AG_ERR_FORMAT, "tokenizer.json has token id %lld but the model has only %lld embedding rows",
                            (long long)max_id, (long long)n_vocab);
    ag_status st = alloc_vocab(v, n_vocab > 0 ? n_vocab : max_id + 1, err);
    str_map map = {0};
    map.cap = 16;
    while (map.cap < 2 * (size_t)v->n + 16) map.cap *= 2;
    map.keys = calloc(map.cap, sizeof *map.keys);
    map.ids = calloc(map.cap, sizeof *map.ids);
    int64_t *rank = malloc((size_t)(v->n + 1) * sizeof *rank);
    if (!st && (!map.keys || !map.ids || !rank)) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (const cJSON *it = vocab->child; !st && it; it = it->next) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0) continue;
        const int64_t id = (int64_t)it->valuedouble;
        if (v->tokens[id]) continue;
        if (!(v->tokens[id] = strdup(it->string))) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        else map_put(&map, v->tokens[id], id);
        v->types[id] = is_byte_piece(it->string) ? TT_BYTE : TT_NORMAL;
    }
    for (int64_t i = 0; !st && i < v->n; i++) rank[i] = -1;
    if (!st) st = rank_merges(merges, &map, v, rank, err);
    const int64_t n_merges = cJSON_GetArraySize(merges);
    for (int64_t i = 0; !st && i < v->n; i++) v->scores[i] = rank[i] >= 0 ? -(float)rank[i] : -(float)(n_merges + i);
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (!st && cJSON_IsString(unk)) v->unk = map_find(&map, unk->valuestring, strlen(unk->valuestring));
    for (const cJSON *it = cJSON_IsArray(added) ? added->child : NULL; !st && it; it = it->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id"), *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(c) || id->valuedouble < 0) continue;
        const int64_t i = (int64_t)id->valuedouble;
        free(v->tokens[i]);
        if (!(v->tokens[i] = strdup(c->valuestring))) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        v->types[i] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special")) ? TT_CONTROL : TT_USER;
    }
    if (!st) {
        v->add_space_prefix = prepends_space(tok);
        st = pad_rest(v, err);
    }
    free(map.keys);
    free(map.ids);
    free(rank);
    return st;
}
