/*
 * vocab_load.c - ag_vocab_load: a vocabulary from the `tokenizer.*` keys of an open GGUF file.
 *
 * Reads (through the gguf reader API, gguf/gguf.h) and checks the keys, then hands pointers into
 * the file to ag_vocab_new_spm / _bpe / _wpm, which copy everything: the result does not depend on
 * the file staying open.
 *   tokenizer.ggml.model          string, required: "llama" (SentencePiece-style), "gpt2"
 *                                 (byte-level BPE) or "bert" (WordPiece); any other value is
 *                                 AG_ERR_UNSUPPORTED
 *   tokenizer.ggml.tokens         array of strings, required, not empty
 *   tokenizer.ggml.scores         array of f32 (f64 accepted), optional, one per token
 *   tokenizer.ggml.token_type     array of integers, optional, one per token
 *   tokenizer.ggml.{bos,eos,unknown,padding,eot}_token_id
 *                                 integers, optional; defaults per family (llama: bos 1, eos 2,
 *                                 unk 0; gpt2: bos = eos = 11; bert: bos 101, unk 100). The value -1
 *                                 (or 0xFFFFFFFF) means "none"; other values outside the
 *                                 vocabulary are an error, except for padding, which is then
 *                                 ignored (many converted files carry a padding id one past the
 *                                 end, which the reference implementation also ignores)
 *   tokenizer.ggml.add_bos_token  bool; default true for llama and bert, for gpt2 only with the
 *                                 pre-tokenizers that ask for it (llama-bpe, tekken, chameleon)
 *   tokenizer.ggml.add_eos_token  bool, default false
 *   tokenizer.ggml.add_space_prefix bool, default true for llama, false otherwise
 *   general.name                  string, optional (Phi-3 special-token rules key on it)
 * gpt2 only:
 *   tokenizer.ggml.merges         array of strings "left right", required
 *   tokenizer.ggml.pre            string, optional: the pre-tokenizer (pre_types.c); missing or
 *                                 unknown means the default split plus ag_vocab_pre_warning
 * bert only:
 *   tokenizer.ggml.seperator_token_id (sic, the GGUF spelling) integer, default 102
 *   tokenizer.ggml.cls_token_id   integer: BOS when bos_token_id is absent
 *   tokenizer.ggml.add_sep_token  bool, default true
 *   tokenizer.ggml.normalizer.lowercase      bool, default true
 *   tokenizer.ggml.normalizer.strip_accents  bool, default = lowercase
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/vocab.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"
#define KEY_PRE "tokenizer.ggml.pre"

/* Temporary arrays that point into the file or are freed after construction. */
typedef struct {
    const char **texts;
    size_t *lens;
    float *scores;
    int32_t *types;
    char *name;
    char *pre;
    const char **merges;
    size_t *merge_lens;
} load_buffers;

static void buffers_free(load_buffers *b) {
    free(b->texts);
    free(b->lens);
    free(b->scores);
    free(b->types);
    free(b->name);
    free(b->pre);
    free(b->merges);
    free(b->merge_lens);
}

/* What is read, for each family; base points at the shared part of the one in use. */
typedef struct {
    ag_vocab_kind kind;
    ag_vocab_spm_desc spm;
    ag_vocab_bpe_desc bpe;
    ag_vocab_wpm_desc wpm;
    ag_vocab_spm_desc *base;
} load_desc;

static ag_status nomem(ag_error *err) {
    return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
}

/* ---------------------------------------------------------------- keys */

static ag_status read_model(const ag_gguf_file *f, ag_vocab_kind *kind, ag_error *err) {
    const ag_gguf_kv *kv = ag_gguf_find_kv(f, KEY_MODEL);
    if (!kv) return ag_error_set(err, AG_ERR_FORMAT, "missing key '" KEY_MODEL "'");
    if (kv->value.type != AG_GGUF_STRING)
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_MODEL "' must be a string, not %s",
                            ag_gguf_type_name(kv->value.type));
    ag_gguf_str s = kv->value.s;
    static const struct {
        const char *name;
        ag_vocab_kind kind;
    } families[] = {{"llama", AG_VOCAB_SPM}, {"gpt2", AG_VOCAB_BPE}, {"bert", AG_VOCAB_WPM}};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (ag_gguf_str_eq(s, families[i].name)) {
            *kind = families[i].kind;
            return AG_OK;
        }
    }
    int shown = s.len > 64 ? 64 : (int)s.len;
    return ag_error_set(err, AG_ERR_UNSUPPORTED, "tokenizer model '%.*s' not supported yet", shown, s.data);
}

static const ag_gguf_value *find_array(const ag_gguf_file *f, const char *key, bool required, ag_status *st,
                                       ag_error *err) {
    *st = AG_OK;
    const ag_gguf_kv *kv = ag_gguf_find_kv(f, key);
    if (!kv) {
        if (required) *st = ag_error_set(err, AG_ERR_FORMAT, "missing key '%s'", key);
        return NULL;
    }
    if (kv->value.type != AG_GGUF_ARRAY) {
        *st = ag_error_set(err, AG_ERR_FORMAT, "key '%s' must be an array, not %s", key,
                           ag_gguf_type_name(kv->value.type));
        return NULL;
    }
    return &kv->value;
}

static ag_status read_tokens(const ag_gguf_file *f, load_buffers *b, int32_t *n_out, ag_error *err) {
    ag_status st;
    const ag_gguf_value *arr = find_array(f, KEY_TOKENS, true, &st, err);
    if (!arr) return st;
    if (arr->arr.elem_type != AG_GGUF_STRING)
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_TOKENS "' must be an array of strings, not of %s",
                            ag_gguf_type_name(arr->arr.elem_type));
    uint64_t n = arr->arr.count;
    if (n == 0) return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_TOKENS "' is empty");
    if (n > AG_VOCAB_MAX_TOKENS)
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_TOKENS "' has %" PRIu64 " tokens (at most %d supported)",
                            n, AG_VOCAB_MAX_TOKENS);
    b->texts = malloc(n * sizeof *b->texts);
    b->lens = malloc(n * sizeof *b->lens);
    if (!b->texts || !b->lens) return nomem(err);
    for (uint64_t i = 0; i < n; i++) {
        const ag_gguf_value *item = &arr->arr.items[i];
        if (item->s.len > AG_VOCAB_MAX_PIECE)
            return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_TOKENS "': token %" PRIu64 " is %" PRIu64
                                " bytes long (at most %d)", i, item->s.len, AG_VOCAB_MAX_PIECE);
        b->texts[i] = item->s.len ? item->s.data : "";
        b->lens[i] = (size_t)item->s.len;
    }
    *n_out = (int32_t)n;
    return AG_OK;
}

static ag_status check_count(const ag_gguf_value *arr, const char *key, int32_t n, ag_error *err) {
    if (arr->arr.count == (uint64_t)n) return AG_OK;
    return ag_error_set(err, AG_ERR_FORMAT, "key '%s' has %" PRIu64 " entries but there are %d tokens", key,
                        arr->arr.count, (int)n);
}

static ag_status read_scores(const ag_gguf_file *f, load_buffers *b, int32_t n, ag_error *err) {
    ag_status st;
    const ag_gguf_value *arr = find_array(f, KEY_SCORES, false, &st, err);
    if (!arr) return st;
    ag_gguf_type et = arr->arr.elem_type;
    if (et != AG_GGUF_FLOAT32 && et != AG_GGUF_FLOAT64)
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_SCORES "' must be an array of f32, not of %s",
                            ag_gguf_type_name(et));
    if ((st = check_count(arr, KEY_SCORES, n, err)) != AG_OK) return st;
    b->scores = malloc((size_t)n * sizeof *b->scores);
    if (!b->scores) return nomem(err);
    for (int32_t i = 0; i < n; i++) b->scores[i] = (float)ag_gguf_arr_f64(arr, (uint64_t)i);
    return AG_OK;
}

static bool is_integer_type(ag_gguf_type t) {
    switch (t) {
    case AG_GGUF_UINT8: case AG_GGUF_INT8: case AG_GGUF_UINT16: case AG_GGUF_INT16:
    case AG_GGUF_UINT32: case AG_GGUF_INT32: case AG_GGUF_UINT64: case AG_GGUF_INT64: return true;
    default: return false;
    }
}

static ag_status read_types(const ag_gguf_file *f, load_buffers *b, int32_t n, ag_error *err) {
    ag_status st;
    const ag_gguf_value *arr = find_array(f, KEY_TYPES, false, &st, err);
    if (!arr) return st;
    if (!is_integer_type(arr->arr.elem_type))
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_TYPES "' must be an array of i32, not of %s",
                            ag_gguf_type_name(arr->arr.elem_type));
    if ((st = check_count(arr, KEY_TYPES, n, err)) != AG_OK) return st;
    b->types = malloc((size_t)n * sizeof *b->types);
    if (!b->types) return nomem(err);
    for (int32_t i = 0; i < n; i++) {
        int64_t t = ag_gguf_arr_i64(arr, (uint64_t)i);
        b->types[i] = t >= 0 && t <= AG_TOKEN_TYPE_BYTE ? (int32_t)t : AG_TOKEN_TYPE_UNDEFINED;
    }
    return AG_OK;
}

/* An optional token id: absent keeps *id; -1 / 0xFFFFFFFF mean none; out of range is an error
 * when strict, else ignored. */
static ag_status read_id(const ag_gguf_file *f, const char *key, int32_t n, bool strict, ag_token *id,
                         ag_error *err) {
    if (!ag_gguf_find_kv(f, key)) return AG_OK;
    int64_t x;
    ag_status st = ag_gguf_get_i64(f, key, &x, err);
    if (st != AG_OK) return st;
    if (x == -1 || x == (int64_t)UINT32_MAX) {
        *id = -1;
    } else if (x >= 0 && x < n) {
        *id = (ag_token)x;
    } else if (strict) {
        return ag_error_set(err, AG_ERR_FORMAT, "key '%s' = %" PRId64 " is not a token id (%d tokens)", key, x, (int)n);
    }
    return AG_OK;
}

static ag_status read_ids(const ag_gguf_file *f, ag_vocab_spm_desc *d, ag_error *err) {
    ag_status st;
    if ((st = read_id(f, "tokenizer.ggml.bos_token_id", d->n_tokens, true, &d->bos, err)) != AG_OK) return st;
    if ((st = read_id(f, "tokenizer.ggml.eos_token_id", d->n_tokens, true, &d->eos, err)) != AG_OK) return st;
    if ((st = read_id(f, "tokenizer.ggml.unknown_token_id", d->n_tokens, true, &d->unk, err)) != AG_OK) return st;
    if ((st = read_id(f, "tokenizer.ggml.eot_token_id", d->n_tokens, true, &d->eot, err)) != AG_OK) return st;
    return read_id(f, "tokenizer.ggml.padding_token_id", d->n_tokens, false, &d->pad, err);
}

static ag_status read_flag(const ag_gguf_file *f, const char *key, bool *out, ag_error *err) {
    if (!ag_gguf_find_kv(f, key)) return AG_OK;
    return ag_gguf_get_bool(f, key, out, err);
}

static ag_status read_flags(const ag_gguf_file *f, ag_vocab_spm_desc *d, ag_error *err) {
    ag_status st;
    if ((st = read_flag(f, "tokenizer.ggml.add_bos_token", &d->add_bos, err)) != AG_OK) return st;
    if ((st = read_flag(f, "tokenizer.ggml.add_eos_token", &d->add_eos, err)) != AG_OK) return st;
    return read_flag(f, "tokenizer.ggml.add_space_prefix", &d->add_space_prefix, err);
}

static ag_status read_name(const ag_gguf_file *f, load_buffers *b, ag_error *err) {
    const ag_gguf_kv *kv = ag_gguf_find_kv(f, "general.name");
    if (!kv || kv->value.type != AG_GGUF_STRING) return AG_OK;
    b->name = malloc(kv->value.s.len + 1);
    if (!b->name) return nomem(err);
    memcpy(b->name, kv->value.s.data, kv->value.s.len);
    b->name[kv->value.s.len] = '\0';
    return AG_OK;
}

/* ---------------------------------------------------------------- gpt2 keys */

/* tokenizer.ggml.pre as a C string in b->pre, or NULL when absent. */
static ag_status read_pre(const ag_gguf_file *f, load_buffers *b, ag_error *err) {
    const ag_gguf_kv *kv = ag_gguf_find_kv(f, KEY_PRE);
    if (!kv) return AG_OK;
    if (kv->value.type != AG_GGUF_STRING)
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_PRE "' must be a string, not %s",
                            ag_gguf_type_name(kv->value.type));
    ag_gguf_str s = kv->value.s;
    if (s.len > 256 || (s.len && memchr(s.data, '\0', s.len)))
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_PRE "' is not a pre-tokenizer name");
    b->pre = malloc(s.len + 1);
    if (!b->pre) return nomem(err);
    if (s.len) memcpy(b->pre, s.data, s.len);
    b->pre[s.len] = '\0';
    return AG_OK;
}

static ag_status read_merges(const ag_gguf_file *f, load_buffers *b, ag_vocab_bpe_desc *d, ag_error *err) {
    ag_status st;
    const ag_gguf_value *arr = find_array(f, KEY_MERGES, true, &st, err);
    if (!arr) return st;
    if (arr->arr.elem_type != AG_GGUF_STRING)
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_MERGES "' must be an array of strings, not of %s",
                            ag_gguf_type_name(arr->arr.elem_type));
    uint64_t n = arr->arr.count;
    if (n == 0) return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_MERGES "' is empty");
    if (n > AG_VOCAB_MAX_TOKENS)
        return ag_error_set(err, AG_ERR_FORMAT, "key '" KEY_MERGES "' has %" PRIu64 " entries (at most %d supported)",
                            n, AG_VOCAB_MAX_TOKENS);
    b->merges = malloc(n * sizeof *b->merges);
    b->merge_lens = malloc(n * sizeof *b->merge_lens);
    if (!b->merges || !b->merge_lens) return nomem(err);
    for (uint64_t i = 0; i < n; i++) {
        const ag_gguf_value *item = &arr->arr.items[i];
        b->merges[i] = item->s.len ? item->s.data : "";
        b->merge_lens[i] = (size_t)item->s.len;
    }
    d->merges = b->merges;
    d->merge_lens = b->merge_lens;
    d->n_merges = (int32_t)n;
    return AG_OK;
}

/* ---------------------------------------------------------------- bert keys */

static ag_status read_wpm_keys(const ag_gguf_file *f, ag_vocab_wpm_desc *d, ag_error *err) {
    ag_status st;
    int32_t n = d->base.n_tokens;
    if ((st = read_id(f, "tokenizer.ggml.seperator_token_id", n, true, &d->sep, err)) != AG_OK) return st;
    if (!ag_gguf_find_kv(f, "tokenizer.ggml.bos_token_id") &&
        (st = read_id(f, "tokenizer.ggml.cls_token_id", n, true, &d->base.bos, err)) != AG_OK)
        return st;
    if ((st = read_flag(f, "tokenizer.ggml.add_sep_token", &d->add_sep, err)) != AG_OK) return st;
    if ((st = read_flag(f, "tokenizer.ggml.normalizer.lowercase", &d->lowercase, err)) != AG_OK) return st;
    d->strip_accents = d->lowercase;
    return read_flag(f, "tokenizer.ggml.normalizer.strip_accents", &d->strip_accents, err);
}

/* ---------------------------------------------------------------- ag_vocab_load */

/* The family's defaults, then what only that family reads before the shared keys. */
static ag_status read_family(const ag_gguf_file *f, load_buffers *b, int32_t n, load_desc *d, ag_error *err) {
    ag_status st;
    switch (d->kind) {
    case AG_VOCAB_SPM:
        d->spm = ag_vocab_spm_default_desc(n);
        d->base = &d->spm;
        return AG_OK;
    case AG_VOCAB_BPE:
        if ((st = read_pre(f, b, err)) != AG_OK) return st;
        d->bpe = ag_vocab_bpe_default_desc(n, b->pre);
        d->base = &d->bpe.base;
        return read_merges(f, b, &d->bpe, err);
    case AG_VOCAB_WPM:
        d->wpm = ag_vocab_wpm_default_desc(n);
        d->base = &d->wpm.base;
        return AG_OK;
    }
    return ag_error_set(err, AG_ERR_UNSUPPORTED, "tokenizer family %d not supported", (int)d->kind);
}

static ag_status read_desc(const ag_gguf_file *f, load_buffers *b, load_desc *d, ag_error *err) {
    ag_status st;
    int32_t n = 0;
    if ((st = read_model(f, &d->kind, err)) != AG_OK) return st;
    if ((st = read_tokens(f, b, &n, err)) != AG_OK) return st;
    if ((st = read_family(f, b, n, d, err)) != AG_OK) return st;
    ag_vocab_spm_desc *base = d->base;
    base->texts = b->texts;
    base->lens = b->lens;
    if ((st = read_scores(f, b, n, err)) != AG_OK) return st;
    if ((st = read_types(f, b, n, err)) != AG_OK) return st;
    base->scores = b->scores;
    base->types = b->types;
    if ((st = read_ids(f, base, err)) != AG_OK) return st;
    if ((st = read_flags(f, base, err)) != AG_OK) return st;
    if ((st = read_name(f, b, err)) != AG_OK) return st;
    base->name = b->name;
    if (d->kind == AG_VOCAB_WPM) return read_wpm_keys(f, &d->wpm, err);
    return AG_OK;
}

ag_vocab *ag_vocab_load(const ag_gguf_file *f, ag_error *err) {
    if (!f) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "vocabulary: no file");
        return NULL;
    }
    load_buffers b = {0};
    load_desc d = {0};
    ag_vocab *v = NULL;
    if (read_desc(f, &b, &d, err) == AG_OK) {
        switch (d.kind) {
        case AG_VOCAB_SPM: v = ag_vocab_new_spm(&d.spm, err); break;
        case AG_VOCAB_BPE: v = ag_vocab_new_bpe(&d.bpe, err); break;
        case AG_VOCAB_WPM: v = ag_vocab_new_wpm(&d.wpm, err); break;
        }
    }
    buffers_free(&b);
    return v;
}
