/*
 * convert_vocab.c - tokenizer.json + tokenizer_config.json -> the GGUF `tokenizer.*` keys.
 *
 *   byte-level BPE (GPT-2 style; model "BPE" with a ByteLevel pre-tokenizer or decoder)
 *       -> tokenizer.ggml.model "gpt2", tokens (the byte-level spellings), merges "a b", pre
 *   WordPiece (BERT) -> "bert"; tokens in the GGUF spelling: "##x" -> "x", a word-initial "x"
 *       -> "\u2581x", bracketed specials kept
 * Added tokens become CONTROL (special) or USER_DEFINED; the list is padded with "[PADn]"
 * (UNUSED) up to the model's embedding rows. Special ids come from tokenizer_config.json's
 * token strings, else config.json's *_token_id. The chat template comes from
 * tokenizer_config.json, chat_template.jinja or chat_template.json.
 *   SentencePiece-style (tokenizer.model, or BPE without ByteLevel: Llama 2, Mistral, Gemma)
 *       -> "llama" with scores (convert_vocab_spm.c); tokenizer.model is preferred when present
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "convert/convert_impl.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5 };

typedef struct {
    char **tokens; /* n, owned */
    int32_t *types;
    int64_t n;
} token_list;

/* DIR/FILE read whole (NULL when absent or unreadable). */
static char *read_text(const char *dir, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return ag_read_file(path, (size_t)1 << 30, NULL, NULL);
}

static cJSON *read_json(const char *dir, const char *file) {
    char *text = read_text(dir, file);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static void list_free(token_list *l) {
    for (int64_t i = 0; l->tokens && i < l->n; i++) free(l->tokens[i]);
    free(l->tokens);
    free(l->types);
}

static const char *type_of(const cJSON *o) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) ? t->valuestring : "";
}

/* ByteLevel anywhere in the pre-tokenizer (alone or in a Sequence) or as the decoder. */
static bool has_byte_level(const cJSON *tok, bool *gpt2_split) {
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer");
    *gpt2_split = false;
    if (strcmp(type_of(pre), "ByteLevel") == 0) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(pre, "use_regex");
        *gpt2_split = !cJSON_IsBool(r) || cJSON_IsTrue(r);
        return true;
    }
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    for (const cJSON *it = cJSON_IsArray(seq) ? seq->child : NULL; it; it = it->next)
        if (strcmp(type_of(it), "ByteLevel") == 0) return true;
    return strcmp(type_of(cJSON_GetObjectItemCaseSensitive(tok, "decoder")), "ByteLevel") == 0;
}

/* The word-initial / continuation spelling GGUF uses for WordPiece pieces. */
static char *wordpiece_spelling(const char *t) {
    size_t n = strlen(t);
    char *s = malloc(n + 4);
    if (!s) return NULL;
    if (n >= 2 && t[0] == '[' && t[n - 1] == ']') memcpy(s, t, n + 1);
    else if (strncmp(t, "##", 2) == 0) memcpy(s, t + 2, n - 1);
    else {
        memcpy(s, "\xe2\x96\x81", 3);
        memcpy(s + 3, t, n + 1);
    }
    return s;
}

static ag_status build_tokens(const cJSON *tok, bool wordpiece, int64_t n_vocab, token_list *l, ag_error *err) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tok, "model"), "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    if (!cJSON_IsObject(vocab)) return ag_error_set(err, AG_ERR_FORMAT, "tokenizer.json: model.vocab is not an object");
    int64_t max_id = -1;
    for (const cJSON *it = vocab->child; it; it = it->next)
        if (cJSON_IsNumber(it) && it->valuedouble > max_id) max_id = (int64_t)it->valuedouble;
    for (const cJSON *it = cJSON_IsArray(added) ? added->child : NULL; it; it = it->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (cJSON_IsNumber(id) && id->valuedouble > max_id) max_id = (int64_t)id->valuedouble;
    }
    if (max_id >= n_vocab && n_vocab > 0)
        return ag_error_set(err, AG_ERR_FORMAT, "tokenizer.json has token id %lld but the model has only %lld embedding rows",
                            (long long)max_id, (long long)n_vocab);
    l->n = n_vocab > 0 ? n_vocab : max_id + 1;
    l->tokens = calloc((size_t)l->n, sizeof *l->tokens);
    l->types = calloc((size_t)l->n, sizeof *l->types);
    if (!l->tokens || !l->types) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (const cJSON *it = vocab->child; it; it = it->next) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0) continue;
        int64_t id = (int64_t)it->valuedouble;
        free(l->tokens[id]);
        l->tokens[id] = wordpiece ? wordpiece_spelling(it->string) : strdup(it->string);
        l->types[id] = TT_NORMAL;
        if (!l->tokens[id]) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    for (const cJSON *it = cJSON_IsArray(added) ? added->child : NULL; it; it = it->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id"), *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(c) || id->valuedouble < 0) continue;
        int64_t i = (int64_t)id->valuedouble;
        free(l->tokens[i]);
        if (!(l->tokens[i] = strdup(c->valuestring))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        l->types[i] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special")) ? TT_CONTROL : TT_USER;
    }
    for (int64_t i = 0; i < l->n; i++) {
        if (l->tokens[i]) continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
        if (!(l->tokens[i] = strdup(pad))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        l->types[i] = TT_UNUSED;
    }
    return AG_OK;
}

static ag_status write_merges(ag_gguf_writer *w, const cJSON *tok, ag_error *err) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tok, "model"), "merges");
    int n = cJSON_GetArraySize(merges);
    char **m = calloc((size_t)n + 1, sizeof *m);
    ag_status st = m ? AG_OK : ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    int i = 0;
    for (const cJSON *it = cJSON_IsArray(merges) ? merges->child : NULL; it && !st; it = it->next, i++) {
        if (cJSON_IsString(it)) m[i] = strdup(it->valuestring);
        else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) && cJSON_IsString(it->child->next)) {
            size_t a = strlen(it->child->valuestring), b = strlen(it->child->next->valuestring);
            if ((m[i] = malloc(a + b + 2))) {
                memcpy(m[i], it->child->valuestring, a);
                m[i][a] = ' ';
                memcpy(m[i] + a + 1, it->child->next->valuestring, b + 1);
            }
        } else st = ag_error_set(err, AG_ERR_FORMAT, "tokenizer.json: merge %d is neither \"a b\" nor [a, b]", i);
        if (!st && !m[i]) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    if (!st && (st = ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)m, (uint64_t)n)))
        ag_error_set(err, st, "out of memory");
    for (int j = 0; m && j < n; j++) free(m[j]);
    free(m);
    return st;
}

/* The id of a special token named in tokenizer_config.json (string or {"content": ...}). */
static int64_t special_id(const cJSON *tcfg, const char *key, const token_list *l) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(tcfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) return -1;
    for (int64_t i = 0; i < l->n; i++)
        if (strcmp(l->tokens[i], v->valuestring) == 0) return i;
    return -1;
}

static ag_status put_id(ag_gguf_writer *w, const char *key, int64_t id, const ag_hf_config *c, const char *cfg_key) {
    if (id < 0 && cfg_key) id = (int64_t)ag_hf_num(c, cfg_key, -1);
    return id >= 0 ? ag_gguf_set_u32(w, key, (uint32_t)id) : AG_OK;
}

static ag_status write_chat_template(ag_gguf_writer *w, const cJSON *tcfg, const char *dir) {
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(tcfg, "chat_template");
    if (cJSON_IsString(ct)) return ag_gguf_set_str(w, "tokenizer.chat_template", ct->valuestring);
    for (const cJSON *it = cJSON_IsArray(ct) ? ct->child : NULL; it; it = it->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name"), *t = cJSON_GetObjectItemCaseSensitive(it, "template");
        if (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0 && cJSON_IsString(t))
            return ag_gguf_set_str(w, "tokenizer.chat_template", t->valuestring);
    }
    char *text = read_text(dir, "chat_template.jinja");
    if (text) {
        ag_status st = ag_gguf_set_str(w, "tokenizer.chat_template", text);
        free(text);
        return st;
    }
    cJSON *j = read_json(dir, "chat_template.json");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
    ag_status st = cJSON_IsString(t) ? ag_gguf_set_str(w, "tokenizer.chat_template", t->valuestring) : AG_OK;
    cJSON_Delete(j);
    return st;
}

/* SentencePiece-style: tok (BPE without ByteLevel) or, when tok is NULL, dir/tokenizer.model. */
static ag_status write_spm(ag_gguf_writer *w, const ag_hf_config *c, const char *dir, const cJSON *tok,
                           const cJSON *tcfg, int64_t n_vocab, ag_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    ag_conv_spm_vocab v = {0};
    ag_status st = tok ? ag_conv_spm_from_json(tok, n_vocab, &v, err) : ag_conv_spm_from_model(path, n_vocab, &v, err);
    if (!st) {
        token_list l = {v.tokens, v.types, v.n};
        const char *names[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        int64_t *ids[] = {&v.bos, &v.eos, &v.unk, &v.pad};
        for (int i = 0; i < 4; i++) {
            const int64_t id = special_id(tcfg, names[i], &l);
            if (id >= 0) *ids[i] = id;
        }
        if (v.unk >= 0 && v.unk < v.n && v.types[v.unk] == TT_NORMAL) v.types[v.unk] = TT_UNKNOWN;
        if ((st = ag_gguf_set_str(w, "tokenizer.ggml.model", "llama")) ||
            (st = ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, (uint64_t)v.n)) ||
            (st = ag_gguf_set_arr_data(w, "tokenizer.ggml.scores", AG_GGUF_FLOAT32, v.scores, (uint64_t)v.n)) ||
            (st = ag_gguf_set_arr_data(w, "tokenizer.ggml.token_type", AG_GGUF_INT32, v.types, (uint64_t)v.n)) ||
            (st = ag_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", v.add_space_prefix)) ||
            (st = put_id(w, "tokenizer.ggml.bos_token_id", v.bos, c, "bos_token_id")) ||
            (st = put_id(w, "tokenizer.ggml.eos_token_id", v.eos, c, "eos_token_id")) ||
            (st = put_id(w, "tokenizer.ggml.unknown_token_id", v.unk, c, NULL)) ||
            (st = put_id(w, "tokenizer.ggml.padding_token_id", v.pad, c, "pad_token_id")))
            ag_error_set(err, st, "out of memory");
    }
    ag_conv_spm_vocab_free(&v);
    return st;
}

static ag_status write_flags_and_template(ag_gguf_writer *w, const cJSON *tcfg, const char *dir, ag_error *err) {
    ag_status st = AG_OK;
    const char *flags[][2] = {{"add_bos_token", "tokenizer.ggml.add_bos_token"}, {"add_eos_token", "tokenizer.ggml.add_eos_token"}};
    for (size_t i = 0; !st && i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(tcfg, flags[i][0]);
        if (cJSON_IsBool(v) && (st = ag_gguf_set_bool(w, flags[i][1], cJSON_IsTrue(v)))) ag_error_set(err, st, "out of memory");
    }
    if (!st && (st = write_chat_template(w, tcfg, dir))) ag_error_set(err, st, "out of memory");
    return st;
}

static bool file_exists(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static ag_status write_all(ag_gguf_writer *w, const ag_conv_family *fam, const ag_hf_config *c, const char *dir,
                           const cJSON *tok, const cJSON *tcfg, int64_t n_vocab, ag_error *err) {
    const char *mtype = type_of(cJSON_GetObjectItemCaseSensitive(tok, "model"));
    bool gpt2_split = false;
    const bool wordpiece = strcmp(mtype, "WordPiece") == 0;
    const bool bpe = strcmp(mtype, "BPE") == 0 && has_byte_level(tok, &gpt2_split);
    if (strcmp(mtype, "BPE") == 0 && !bpe) { /* SentencePiece-style; its tokenizer.model is the original */
        ag_status st = write_spm(w, c, dir, file_exists(dir, "tokenizer.model") ? NULL : tok, tcfg, n_vocab, err);
        return st ? st : write_flags_and_template(w, tcfg, dir, err);
    }
    if (!wordpiece && !bpe)
        return ag_error_set(err, AG_ERR_UNSUPPORTED,
                            "tokenizer.json: a '%s' tokenizer is not supported yet (BPE and WordPiece are)", mtype);
    token_list l = {0};
    ag_status st = build_tokens(tok, wordpiece, n_vocab, &l, err);
    if (!st) {
        int64_t unk = special_id(tcfg, "unk_token", &l);
        if (unk >= 0) l.types[unk] = TT_UNKNOWN;
        if ((st = ag_gguf_set_str(w, "tokenizer.ggml.model", wordpiece ? "bert" : "gpt2")) ||
            (st = ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)l.tokens, (uint64_t)l.n)) ||
            (st = ag_gguf_set_arr_data(w, "tokenizer.ggml.token_type", AG_GGUF_INT32, l.types, (uint64_t)l.n)) ||
            (st = put_id(w, "tokenizer.ggml.unknown_token_id", unk, c, NULL)) ||
            (st = put_id(w, "tokenizer.ggml.padding_token_id", special_id(tcfg, "pad_token", &l), c, "pad_token_id")))
            ag_error_set(err, st, "out of memory");
    }
    if (!st && bpe) {
        if ((st = ag_gguf_set_str(w, "tokenizer.ggml.pre", gpt2_split ? "gpt-2" : fam->bpe_pre)) ||
            (st = put_id(w, "tokenizer.ggml.bos_token_id", special_id(tcfg, "bos_token", &l), c, "bos_token_id")) ||
            (st = put_id(w, "tokenizer.ggml.eos_token_id", special_id(tcfg, "eos_token", &l), c, "eos_token_id")))
            ag_error_set(err, st, "out of memory");
        else st = write_merges(w, tok, err);
    }
    if (!st && wordpiece) {
        if ((st = put_id(w, "tokenizer.ggml.cls_token_id", special_id(tcfg, "cls_token", &l), c, NULL)) ||
            (st = put_id(w, "tokenizer.ggml.seperator_token_id", special_id(tcfg, "sep_token", &l), c, NULL)) ||
            (st = put_id(w, "tokenizer.ggml.mask_token_id", special_id(tcfg, "mask_token", &l), c, NULL)))
            ag_error_set(err, st, "out of memory");
    }
    if (!st) st = write_flags_and_template(w, tcfg, dir, err);
    list_free(&l);
    return st;
}

ag_status ag_conv_write_vocab(ag_gguf_writer *w, const ag_conv_family *fam, const ag_hf_config *c,
                              const char *dir, int64_t n_vocab, ag_error *err) {
    cJSON *tok = read_json(dir, "tokenizer.json");
    cJSON *tcfg = read_json(dir, "tokenizer_config.json"); /* optional */
    ag_status st;
    if (cJSON_IsObject(tok)) st = write_all(w, fam, c, dir, tok, tcfg, n_vocab, err);
    else if (file_exists(dir, "tokenizer.model")) {
        st = write_spm(w, c, dir, NULL, tcfg, n_vocab, err);
        if (!st) st = write_flags_and_template(w, tcfg, dir, err);
    } else st = ag_error_set(err, AG_ERR_IO, "%s/tokenizer.json: missing or not JSON (and no tokenizer.model)", dir);
    cJSON_Delete(tok);
    cJSON_Delete(tcfg);
    return st;
}
