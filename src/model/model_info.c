/*
 * model_info.c - the public read-only accessors of a model: hyper-parameters, metadata rendered
 * as JSON text, tensor names/types/shapes, and the vocabulary wrappers of autoglm.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"

const char *ag_model_arch(const ag_model *m) { return m->arch; }
int64_t ag_model_n_params(const ag_model *m) { return m->n_params; }
uint64_t ag_model_size_bytes(const ag_model *m) { return m->n_bytes; }
int ag_model_n_ctx_train(const ag_model *m) { return m->hp.n_ctx_train; }
int ag_model_n_embd(const ag_model *m) { return m->hp.n_embd; }
int ag_model_n_layer(const ag_model *m) { return m->hp.n_layer; }
int ag_model_n_head(const ag_model *m) { return m->hp.n_head; }
int ag_model_n_head_kv(const ag_model *m) { return m->hp.n_head_kv; }
int ag_model_n_vocab(const ag_model *m) { return m->hp.n_vocab; }
uint32_t ag_model_gguf_version(const ag_model *m) { return ag_gguf_version(m->gguf); }

const char *ag_model_name(const ag_model *m) { return m->name; }
const char *ag_model_chat_template(const ag_model *m) { return m->chat_template; }
const char *ag_model_device(const ag_model *m) { return m->device[0] ? m->device : "cpu"; }

int ag_model_meta_count(const ag_model *m) { return (int)ag_gguf_kv_count(m->gguf); }

const char *ag_model_meta_key(const ag_model *m, int i) {
    return i >= 0 && i < ag_model_meta_count(m) ? m->meta_keys[i] : NULL;
}

const char *ag_model_meta_type(const ag_model *m, int i) {
    static const char *const ARRAY_NAMES[AG_GGUF_TYPE_COUNT] = {
        "array[u8]", "array[i8]", "array[u16]", "array[i16]", "array[u32]", "array[i32]",
        "array[f32]", "array[bool]", "array[string]", "array[array]", "array[u64]",
        "array[i64]", "array[f64]"};
    if (i < 0 || i >= ag_model_meta_count(m)) return NULL;
    const ag_gguf_value *v = &ag_gguf_kv_at(m->gguf, i)->value;
    if (v->type == AG_GGUF_ARRAY) return ARRAY_NAMES[v->arr.elem_type];
    return ag_gguf_type_name(v->type);
}

/* ---------------------------------------------------------------- JSON rendering */

typedef struct {
    char *buf;
    size_t cap;
    size_t len; /* may exceed cap: the length the whole text needs */
} text_out;

static void out_raw(text_out *o, const char *s, size_t n) {
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void out_fmt(text_out *o, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) out_raw(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void out_json_string(text_out *o, const char *s, uint64_t n) {
    out_raw(o, "\"", 1);
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': out_raw(o, "\\\"", 2); break;
        case '\\': out_raw(o, "\\\\", 2); break;
        case '\n': out_raw(o, "\\n", 2); break;
        case '\r': out_raw(o, "\\r", 2); break;
        case '\t': out_raw(o, "\\t", 2); break;
        default:
            if (c < 0x20) out_fmt(o, "\\u%04x", c);
            else out_raw(o, (const char *)&s[i], 1);
        }
    }
    out_raw(o, "\"", 1);
}

static void out_value(text_out *o, const ag_gguf_value *v, int max_items);

static void out_scalar_elem(text_out *o, const ag_gguf_value *arr, uint64_t i) {
    switch (arr->arr.elem_type) {
    case AG_GGUF_FLOAT32:
    case AG_GGUF_FLOAT64: out_fmt(o, "%.9g", ag_gguf_arr_f64(arr, i)); break;
    case AG_GGUF_BOOL: out_fmt(o, "%s", ag_gguf_arr_i64(arr, i) ? "true" : "false"); break;
    case AG_GGUF_UINT64: out_fmt(o, "%llu", (unsigned long long)ag_gguf_arr_i64(arr, i)); break;
    default: out_fmt(o, "%lld", (long long)ag_gguf_arr_i64(arr, i)); break;
    }
}

static void out_value(text_out *o, const ag_gguf_value *v, int max_items) {
    switch (v->type) {
    case AG_GGUF_STRING: out_json_string(o, v->s.data, v->s.len); return;
    case AG_GGUF_BOOL: out_fmt(o, "%s", v->u ? "true" : "false"); return;
    case AG_GGUF_FLOAT32:
    case AG_GGUF_FLOAT64: out_fmt(o, "%.9g", v->f); return;
    case AG_GGUF_INT8:
    case AG_GGUF_INT16:
    case AG_GGUF_INT32:
    case AG_GGUF_INT64: out_fmt(o, "%lld", (long long)v->i); return;
    case AG_GGUF_ARRAY: {
        out_raw(o, "[", 1);
        uint64_t n = v->arr.count;
        uint64_t shown = max_items >= 0 && n > (uint64_t)max_items ? (uint64_t)max_items : n;
        for (uint64_t i = 0; i < shown; i++) {
            if (i) out_raw(o, ", ", 2);
            if (v->arr.items) out_value(o, &v->arr.items[i], max_items);
            else out_scalar_elem(o, v, i);
        }
        if (shown < n) out_fmt(o, "%s\"... (%llu more)\"", shown ? ", " : "", (unsigned long long)(n - shown));
        out_raw(o, "]", 1);
        return;
    }
    default: out_fmt(o, "%llu", (unsigned long long)v->u); return;
    }
}

int ag_model_meta_json(const ag_model *m, int i, char *buf, size_t cap, int max_items) {
    if (i < 0 || i >= ag_model_meta_count(m)) return -1;
    text_out o = {buf, cap, 0};
    out_value(&o, &ag_gguf_kv_at(m->gguf, i)->value, max_items);
    if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
    return (int)o.len;
}

/* ---------------------------------------------------------------- tensors */

int ag_model_tensor_count(const ag_model *m) { return (int)ag_gguf_tensor_count(m->gguf); }

const char *ag_model_tensor_name(const ag_model *m, int i) {
    return i >= 0 && i < ag_model_tensor_count(m) ? m->tensor_names[i] : NULL;
}

const char *ag_model_tensor_type(const ag_model *m, int i) {
    if (i < 0 || i >= ag_model_tensor_count(m)) return NULL;
    return ag_type_name(ag_gguf_tensor_at(m->gguf, i)->type);
}

uint64_t ag_model_tensor_size(const ag_model *m, int i) {
    return i >= 0 && i < ag_model_tensor_count(m) ? ag_gguf_tensor_at(m->gguf, i)->nbytes : 0;
}

uint64_t ag_model_decode_bytes(const ag_model *m) {
    const ag_gguf_tensor *emb = ag_gguf_find_tensor(m->gguf, "token_embd.weight");
    uint64_t total = m->n_bytes;
    if (emb && m->output.data != m->tok_embd.data) total -= emb->nbytes - m->tok_embd.row_bytes;
    return total;
}

int ag_model_tensor_shape(const ag_model *m, int i, int64_t shape[4]) {
    if (i < 0 || i >= ag_model_tensor_count(m)) return 0;
    const ag_gguf_tensor *t = ag_gguf_tensor_at(m->gguf, i);
    memcpy(shape, t->ne, sizeof t->ne);
    return (int)t->n_dims;
}

/* ---------------------------------------------------------------- vocabulary */

int ag_tokenize(const ag_model *m, const char *text, size_t len, ag_token *out, int cap,
                bool add_special, bool parse_special) {
    return ag_vocab_tokenize(m->vocab, text, len, out, cap, add_special, parse_special);
}

int ag_token_to_piece(const ag_model *m, ag_token t, char *buf, int cap, bool special) {
    return ag_vocab_token_to_piece(m->vocab, t, buf, cap, special);
}

ag_token ag_token_bos(const ag_model *m) { return ag_vocab_bos(m->vocab); }
ag_token ag_token_eos(const ag_model *m) { return ag_vocab_eos(m->vocab); }
bool ag_token_is_eog(const ag_model *m, ag_token t) { return ag_vocab_is_eog(m->vocab, t); }
bool ag_vocab_add_bos(const ag_model *m) { return ag_vocab_adds_bos(m->vocab); }
const char *ag_vocab_type(const ag_model *m) { return ag_vocab_kind_name(m->vocab); }
const char *ag_vocab_warning(const ag_model *m) { return ag_vocab_pre_warning(m->vocab); }
