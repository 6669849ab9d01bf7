/*
 * vocab.c - building the shared part of an ag_vocab from a description in memory, its accessors,
 * and turning a token back into bytes (ag_vocab_token_to_piece).
 *
 * Construction copies every piece into one blob and derives what tokenizing needs: the text -> id
 * map, the byte-fallback table, the end-of-generation flags and the ordered list of special
 * tokens. The rules follow the GGUF reference implementation (llama.cpp's llama-vocab.cpp) where
 * they decide token ids: empty pieces become "[EMPTY_<id>]", the last of duplicate pieces owns the
 * text, special tokens are matched longest first, and a model whose name contains "phi-3"/"phi3"
 * drops the whitespace after its special tokens (the reference keys this on general.name).
 * Reading the GGUF keys is in vocab_load.c, tokenizing in tokenize.c (partition.c, spm.c, bpe.c,
 * wpm.c); what only BPE or WordPiece vocabularies have is added by bpe_vocab.c and wpm_vocab.c.
 */
#include "tokenizer/vocab_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/bpe_merges.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pretok.h"

/* ---------------------------------------------------------------- description defaults */

ag_vocab_spm_desc ag_vocab_spm_default_desc(int32_t n_tokens) {
    ag_vocab_spm_desc d = {0};
    d.n_tokens = n_tokens;
    d.bos = n_tokens > 1 ? 1 : -1;
    d.eos = n_tokens > 2 ? 2 : -1;
    d.unk = n_tokens > 0 ? 0 : -1;
    d.pad = -1;
    d.eot = -1;
    d.add_bos = true;
    d.add_eos = false;
    d.add_space_prefix = true;
    return d;
}

/* ---------------------------------------------------------------- pieces */

static size_t desc_len(const ag_vocab_spm_desc *d, int32_t i) {
    return d->lens ? d->lens[i] : strlen(d->texts[i]);
}

static ag_status check_desc(const ag_vocab_spm_desc *d, ag_error *err) {
    if (!d || !d->texts) return ag_error_set(err, AG_ERR_INVALID_ARG, "vocabulary: no token texts");
    if (d->n_tokens <= 0) return ag_error_set(err, AG_ERR_FORMAT, "vocabulary: no tokens");
    if (d->n_tokens > AG_VOCAB_MAX_TOKENS)
        return ag_error_set(err, AG_ERR_FORMAT, "vocabulary: %d tokens (at most %d supported)",
                            (int)d->n_tokens, AG_VOCAB_MAX_TOKENS);
    for (int32_t i = 0; i < d->n_tokens; i++) {
        if (!d->texts[i]) return ag_error_set(err, AG_ERR_INVALID_ARG, "vocabulary: token %d has no text", (int)i);
        size_t len = desc_len(d, i);
        if (len > AG_VOCAB_MAX_PIECE)
            return ag_error_set(err, AG_ERR_FORMAT, "vocabulary: token %d is %zu bytes long (at most %d)",
                                (int)i, len, AG_VOCAB_MAX_PIECE);
    }
    const struct { const char *what; ag_token id; } ids[] = {
        {"bos", d->bos}, {"eos", d->eos}, {"unk", d->unk}, {"pad", d->pad}, {"eot", d->eot},
    };
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        if (ids[k].id < -1 || ids[k].id >= d->n_tokens)
            return ag_error_set(err, AG_ERR_FORMAT, "vocabulary: %s token id %d out of range (%d tokens)",
                                ids[k].what, (int)ids[k].id, (int)d->n_tokens);
    }
    return AG_OK;
}

static ag_token_type type_from_int(int32_t t) {
    return t >= AG_TOKEN_TYPE_NORMAL && t <= AG_TOKEN_TYPE_BYTE ? (ag_token_type)t : AG_TOKEN_TYPE_UNDEFINED;
}

/* The value of the hex digits after "<0x" (as the reference reads it: strtol, base 16). */
static uint8_t byte_piece_value(const char *s, size_t len) {
    unsigned v = 0;
    for (size_t i = 3; i < len && isxdigit((unsigned char)s[i]); i++) {
        int c = tolower((unsigned char)s[i]);
        v = (v << 4 | (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10)) & 0xFFu;
    }
    return (uint8_t)v;
}

/* Copies every piece into v->blob and fills v->tokens. */
static ag_status copy_pieces(ag_vocab *v, const ag_vocab_spm_desc *d, ag_error *err) {
    char empty[32];
    size_t total = 0;
    for (int32_t i = 0; i < d->n_tokens; i++) {
        size_t len = desc_len(d, i);
        total += (len ? len : (size_t)snprintf(empty, sizeof empty, "[EMPTY_%d]", (int)i)) + 1;
    }
    if (total > UINT32_MAX) return ag_error_set(err, AG_ERR_FORMAT, "vocabulary: pieces too large in total");
    v->blob = malloc(total);
    if (!v->blob) return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
    size_t off = 0;
    for (int32_t i = 0; i < d->n_tokens; i++) {
        size_t len = desc_len(d, i);
        const char *src = d->texts[i];
        if (len == 0) {
            len = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%d]", (int)i);
            src = empty;
        }
        memcpy(v->blob + off, src, len);
        v->blob[off + len] = '\0';
        ag_vocab_token *t = &v->tokens[i];
        t->off = (uint32_t)off;
        t->len = (uint32_t)len;
        t->score = d->scores ? d->scores[i] : 0.0f;
        t->type = (uint8_t)(d->types ? type_from_int(d->types[i]) : AG_TOKEN_TYPE_NORMAL);
        t->byte = t->type == AG_TOKEN_TYPE_BYTE ? byte_piece_value(src, len) : 0;
        if (len > v->max_piece_len) v->max_piece_len = (uint32_t)len;
        off += len + 1;
    }
    return AG_OK;
}

static ag_status build_map(ag_vocab *v, ag_error *err) {
    if (!ag_piece_map_init(&v->map, v->blob, (uint32_t)v->n_tokens))
        return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
    for (int32_t i = 0; i < v->n_tokens; i++) ag_piece_map_put(&v->map, v->tokens[i].off, v->tokens[i].len, i);
    return AG_OK;
}

static ag_token find_cstr(const ag_vocab *v, const char *s) {
    return ag_piece_map_get(&v->map, s, strlen(s));
}

/* ---------------------------------------------------------------- derived tables */

static void build_byte_fallback(ag_vocab *v) {
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        ag_token id = find_cstr(v, hex);
        if (id < 0) {
            char one = (char)b;
            id = ag_piece_map_get(&v->map, &one, 1);
        }
        v->byte_token[b] = id >= 0 ? id : v->unk;
    }
}

static bool is_control(const ag_vocab *v, ag_token t) {
    return t >= 0 && v->tokens[t].type == AG_TOKEN_TYPE_CONTROL;
}

/* End of generation: eos, eot, and control tokens that end a turn in common chat formats. */
static void mark_eog(ag_vocab *v) {
    static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>"};
    static const char *const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>"};
    for (size_t k = 0; v->eot < 0 && k < sizeof eot_texts / sizeof eot_texts[0]; k++) {
        ag_token t = find_cstr(v, eot_texts[k]);
        if (is_control(v, t)) v->eot = t;
    }
    for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++) {
        ag_token t = find_cstr(v, eog_texts[k]);
        if (is_control(v, t)) v->tokens[t].flags |= AG_TOKF_EOG;
    }
    if (v->eos >= 0) v->tokens[v->eos].flags |= AG_TOKF_EOG;
    if (v->eot >= 0) v->tokens[v->eot].flags |= AG_TOKF_EOG;
}

typedef struct {
    uint32_t len;
    ag_token id;
} special_key;

static int cmp_special(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool is_special_type(uint8_t type) {
    return type == AG_TOKEN_TYPE_CONTROL || type == AG_TOKEN_TYPE_USER_DEFINED || type == AG_TOKEN_TYPE_UNKNOWN;
}

/* v->special: special tokens, longest text first (ties by id). */
static ag_status collect_special(ag_vocab *v, ag_error *err) {
    int32_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) n += is_special_type(v->tokens[i].type);
    v->n_special = n;
    if (n == 0) return AG_OK;
    special_key *keys = malloc((size_t)n * sizeof *keys);
    v->special = malloc((size_t)n * sizeof *v->special);
    if (!keys || !v->special) {
        free(keys);
        return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
    }
    for (int32_t i = 0, j = 0; i < v->n_tokens; i++)
        if (is_special_type(v->tokens[i].type)) keys[j++] = (special_key){v->tokens[i].len, i};
    qsort(keys, (size_t)n, sizeof *keys, cmp_special);
    for (int32_t j = 0; j < n; j++) v->special[j] = keys[j].id;
    free(keys);
    return AG_OK;
}

/* Buckets of special-token indices by first two bytes (pieces of length >= 2) or by their only
 * byte: CSR arrays, counting sort, so that each bucket keeps the matching order. */
static ag_status build_special_buckets(ag_vocab *v, ag_error *err) {
    if (v->n_special == 0) return AG_OK;
    v->bucket2 = calloc(65537, sizeof *v->bucket2);
    v->bucket2_items = malloc((size_t)v->n_special * sizeof *v->bucket2_items);
    v->bucket1_items = malloc((size_t)v->n_special * sizeof *v->bucket1_items);
    if (!v->bucket2 || !v->bucket2_items || !v->bucket1_items)
        return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
    for (int32_t j = 0; j < v->n_special; j++) {
        const ag_vocab_token *t = &v->tokens[v->special[j]];
        const uint8_t *s = (const uint8_t *)v->blob + t->off;
        if (t->len >= 2) v->bucket2[(s[0] << 8 | s[1]) + 1]++;
        else v->bucket1[s[0] + 1]++;
    }
    for (int k = 0; k < 65536; k++) v->bucket2[k + 1] += v->bucket2[k];
    for (int k = 0; k < 256; k++) v->bucket1[k + 1] += v->bucket1[k];
    uint32_t *fill2 = malloc(65536 * sizeof *fill2), fill1[256];
    if (!fill2) return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
    memcpy(fill2, v->bucket2, 65536 * sizeof *fill2);
    memcpy(fill1, v->bucket1, sizeof fill1);
    for (int32_t j = 0; j < v->n_special; j++) {
        const ag_vocab_token *t = &v->tokens[v->special[j]];
        const uint8_t *s = (const uint8_t *)v->blob + t->off;
        if (t->len >= 2) v->bucket2_items[fill2[s[0] << 8 | s[1]]++] = j;
        else v->bucket1_items[fill1[s[0]]++] = j;
    }
    free(fill2);
    return AG_OK;
}

static bool name_contains(const char *name, const char *needle) {
    size_t n = strlen(name), m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && tolower((unsigned char)name[i + k]) == needle[k]) k++;
        if (k == m) return true;
    }
    return false;
}

static void set_strip(ag_vocab *v, const char *text, uint8_t flag, bool on) {
    ag_token t = find_cstr(v, text);
    if (t < 0) return;
    if (on) v->tokens[t].flags |= flag;
    else v->tokens[t].flags &= (uint8_t)~flag;
}

/* Phi-3: whitespace after its special tokens is dropped, except after <unk>, <s>, <|endoftext|>. */
static void apply_name_rules(ag_vocab *v, const char *name) {
    if (!name || !(name_contains(name, "phi-3") || name_contains(name, "phi3"))) return;
    for (int32_t j = 0; j < v->n_special; j++) v->tokens[v->special[j]].flags |= AG_TOKF_RSTRIP;
    set_strip(v, "</s>", AG_TOKF_RSTRIP, true);
    set_strip(v, "<unk>", AG_TOKF_RSTRIP, false);
    set_strip(v, "<s>", AG_TOKF_RSTRIP, false);
    set_strip(v, "<|endoftext|>", AG_TOKF_RSTRIP, false);
}

/* ---------------------------------------------------------------- construction */

ag_vocab *ag_vocab_build(const ag_vocab_spm_desc *d, ag_vocab_kind kind, ag_error *err) {
    if (check_desc(d, err) != AG_OK) return NULL;
    ag_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
        return NULL;
    }
    v->kind = kind;
    v->sep = -1;
    v->n_tokens = d->n_tokens;
    v->bos = d->bos;
    v->eos = d->eos;
    v->unk = d->unk;
    v->pad = d->pad;
    v->eot = d->eot;
    v->add_bos = d->add_bos;
    v->add_eos = d->add_eos;
    v->add_space_prefix = d->add_space_prefix;
    v->tokens = calloc((size_t)d->n_tokens, sizeof *v->tokens);
    if (!v->tokens) {
        ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
        ag_vocab_free(v);
        return NULL;
    }
    if (copy_pieces(v, d, err) != AG_OK || build_map(v, err) != AG_OK ||
        collect_special(v, err) != AG_OK || build_special_buckets(v, err) != AG_OK) {
        ag_vocab_free(v);
        return NULL;
    }
    build_byte_fallback(v);
    mark_eog(v);
    apply_name_rules(v, d->name);
    return v;
}

/* True when every piece has its U+2581s (as bytes, wherever they fall) only in a leading run. */
static bool spm_words_split(const ag_vocab *v) {
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const char *p = ag_vocab_piece(v, i);
        size_t n = v->tokens[i].len, k = 0;
        while (n - k >= 3 && memcmp(p + k, "\xE2\x96\x81", 3) == 0) k += 3;
        if (memmem(p + k, n - k, "\xE2\x96\x81", 3)) return false;
    }
    return true;
}

ag_vocab *ag_vocab_new_spm(const ag_vocab_spm_desc *d, ag_error *err) {
    ag_vocab *v = ag_vocab_build(d, AG_VOCAB_SPM, err);
    if (v) v->spm_words_split = spm_words_split(v);
    return v;
}

void ag_vocab_free(ag_vocab *v) {
    if (!v) return;
    ag_piece_map_free(&v->map);
    free(v->tokens);
    free(v->blob);
    free(v->special);
    free(v->bucket2);
    free(v->bucket2_items);
    free(v->bucket1_items);
    ag_bpe_merges_free(v->merges);
    ag_pretok_free(v->pretok);
    free(v->pre);
    free(v->pre_warning);
    free(v);
}

/* ---------------------------------------------------------------- accessors */

static bool valid_id(const ag_vocab *v, ag_token t) {
    return v && t >= 0 && t < v->n_tokens;
}

ag_vocab_kind ag_vocab_get_kind(const ag_vocab *v) { return v->kind; }

const char *ag_vocab_kind_name(const ag_vocab *v) {
    switch (v->kind) {
    case AG_VOCAB_SPM: return "llama";
    case AG_VOCAB_BPE: return "gpt2";
    case AG_VOCAB_WPM: return "bert";
    }
    return "unknown";
}

int32_t ag_vocab_n_tokens(const ag_vocab *v) { return v->n_tokens; }
ag_token ag_vocab_bos(const ag_vocab *v) { return v->bos; }
ag_token ag_vocab_eos(const ag_vocab *v) { return v->eos; }
ag_token ag_vocab_eot(const ag_vocab *v) { return v->eot; }
ag_token ag_vocab_unk(const ag_vocab *v) { return v->unk; }
ag_token ag_vocab_pad(const ag_vocab *v) { return v->pad; }
bool ag_vocab_adds_bos(const ag_vocab *v) { return v->add_bos; }
bool ag_vocab_adds_eos(const ag_vocab *v) { return v->add_eos; }
bool ag_vocab_adds_space_prefix(const ag_vocab *v) { return v->add_space_prefix; }
ag_token ag_vocab_sep(const ag_vocab *v) { return v->sep; }
bool ag_vocab_adds_sep(const ag_vocab *v) { return v->add_sep; }
const char *ag_vocab_pre(const ag_vocab *v) { return v->pre; }
const char *ag_vocab_pre_warning(const ag_vocab *v) { return v->pre_warning; }
int32_t ag_vocab_n_merges(const ag_vocab *v) { return v->merges ? ag_bpe_merges_count(v->merges) : 0; }

bool ag_vocab_is_eog(const ag_vocab *v, ag_token t) {
    return valid_id(v, t) && (v->tokens[t].flags & AG_TOKF_EOG);
}

ag_token_type ag_vocab_token_type(const ag_vocab *v, ag_token t) {
    return valid_id(v, t) ? (ag_token_type)v->tokens[t].type : AG_TOKEN_TYPE_UNDEFINED;
}

const char *ag_vocab_token_text(const ag_vocab *v, ag_token t, size_t *len) {
    if (!valid_id(v, t)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->tokens[t].len;
    return ag_vocab_piece(v, t);
}

float ag_vocab_token_score(const ag_vocab *v, ag_token t) {
    return valid_id(v, t) ? v->tokens[t].score : 0.0f;
}

ag_token ag_vocab_find(const ag_vocab *v, const char *text, size_t len) {
    if (!v || (!text && len)) return -1;
    return ag_piece_map_get(&v->map, text ? text : "", len);
}

/* ---------------------------------------------------------------- token -> bytes */

static int copy_out(char *buf, int cap, const char *s, size_t n) {
    if ((size_t)cap < n) return -(int)n;
    if (n) memcpy(buf, s, n);
    return (int)n;
}

/* A normal piece with every U+2581 ("\xE2\x96\x81") written as ' '. */
static int copy_unescaped(char *buf, int cap, const char *s, size_t n) {
    size_t need = 0;
    for (size_t i = 0; i < n; need++) i += (i + 2 < n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) ? 3 : 1;
    if ((size_t)cap < need) return -(int)need;
    size_t o = 0;
    for (size_t i = 0; i < n; o++) {
        if (i + 2 < n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            buf[o] = ' ';
            i += 3;
        } else {
            buf[o] = s[i++];
        }
    }
    return (int)o;
}

int ag_vocab_token_to_piece(const ag_vocab *v, ag_token t, char *buf, int cap, bool special) {
    if (!valid_id(v, t)) return 0;
    if (cap < 0 || !buf) cap = 0;
    const ag_vocab_token *tk = &v->tokens[t];
    const char *s = ag_vocab_piece(v, t);
    switch ((ag_token_type)tk->type) {
    case AG_TOKEN_TYPE_CONTROL:
    case AG_TOKEN_TYPE_UNKNOWN: return special ? copy_out(buf, cap, s, tk->len) : 0;
    case AG_TOKEN_TYPE_USER_DEFINED: return copy_out(buf, cap, s, tk->len);
    case AG_TOKEN_TYPE_NORMAL:
        /* byte-level BPE pieces are spelled in GPT-2's byte characters; the others use U+2581 */
        if (v->kind == AG_VOCAB_BPE) return ag_bpe_decode_piece(s, tk->len, buf, cap);
        return copy_unescaped(buf, cap, s, tk->len);
    case AG_TOKEN_TYPE_BYTE: return copy_out(buf, cap, (const char *)&tk->byte, 1);
    case AG_TOKEN_TYPE_UNDEFINED:
    case AG_TOKEN_TYPE_UNUSED: return 0;
    }
    return 0;
}
