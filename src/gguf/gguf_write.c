/*
 * gguf_write.c - the GGUF writer (see gguf.h): key/values and tensors collected in memory,
 * then serialized as version 3 (header, key/values, tensor infos, padding, aligned data) into a
 * growable buffer, written to a temporary file and renamed into place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "gguf/gguf.h"

typedef struct {
    char *key;
    ag_gguf_type type;     /* scalar, STRING or ARRAY */
    ag_gguf_type elem;     /* for arrays */
    uint64_t count;        /* array elements */
    uint8_t *bytes;        /* serialized value payload (after the type field) */
    size_t n_bytes;
} wkv;

typedef struct {
    char *name;
    ag_type type;
    uint32_t n_dims;
    int64_t ne[AG_GGUF_MAX_DIMS];
    const void *data;
    void *owned; /* copy of data when copied */
    size_t nbytes;
} wtensor;

struct ag_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
    ag_gguf_fill_fn fill; /* producer of deferred tensors' data */
    void *fill_ctx;
};

/* ---------------------------------------------------------------- growable byte buffer */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} buf_t;

static void put(buf_t *b, const void *src, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u32(buf_t *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf_t *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf_t *b, const char *s) {
    size_t n = strlen(s);
    put_u64(b, n);
    put(b, s, n);
}

/* ---------------------------------------------------------------- building */

ag_gguf_writer *ag_gguf_writer_new(void) {
    ag_gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = AG_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void ag_gguf_writer_free(ag_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].bytes);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

void ag_gguf_writer_set_alignment(ag_gguf_writer *w, uint32_t alignment) {
    if (alignment && (alignment & (alignment - 1)) == 0) w->alignment = alignment;
}

/* Stores (replacing an existing key) a value whose payload is `payload`. Takes ownership. */
static ag_status set_kv(ag_gguf_writer *w, const char *key, ag_gguf_type type, ag_gguf_type elem,
                        uint64_t count, buf_t payload) {
    if (payload.failed) {
        free(payload.p);
        return AG_ERR_NOMEM;
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].bytes);
            w->kv[i] = (wkv){w->kv[i].key, type, elem, count, payload.p, payload.len};
            return AG_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *p = realloc(w->kv, cap * sizeof *p);
        if (!p) {
            free(payload.p);
            return AG_ERR_NOMEM;
        }
        w->kv = p;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(payload.p);
        return AG_ERR_NOMEM;
    }
    w->kv[w->n_kv++] = (wkv){k, type, elem, count, payload.p, payload.len};
    return AG_OK;
}

static ag_status set_scalar(ag_gguf_writer *w, const char *key, ag_gguf_type type, const void *v, size_t n) {
    buf_t b = {0};
    put(&b, v, n);
    return set_kv(w, key, type, type, 0, b);
}

ag_status ag_gguf_set_u32(ag_gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, AG_GGUF_UINT32, &v, 4); }
ag_status ag_gguf_set_i32(ag_gguf_writer *w, const char *key, int32_t v) { return set_scalar(w, key, AG_GGUF_INT32, &v, 4); }
ag_status ag_gguf_set_u64(ag_gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, AG_GGUF_UINT64, &v, 8); }
ag_status ag_gguf_set_f32(ag_gguf_writer *w, const char *key, float v) { return set_scalar(w, key, AG_GGUF_FLOAT32, &v, 4); }
ag_status ag_gguf_set_bool(ag_gguf_writer *w, const char *key, bool v) {
    uint8_t x = v;
    return set_scalar(w, key, AG_GGUF_BOOL, &x, 1);
}

ag_status ag_gguf_set_str(ag_gguf_writer *w, const char *key, const char *v) {
    buf_t b = {0};
    put_str(&b, v);
    return set_kv(w, key, AG_GGUF_STRING, AG_GGUF_STRING, 0, b);
}

static size_t elem_size(ag_gguf_type t) {
    static const size_t SIZES[AG_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return (unsigned)t < AG_GGUF_TYPE_COUNT ? SIZES[t] : 0;
}

ag_status ag_gguf_set_arr_data(ag_gguf_writer *w, const char *key, ag_gguf_type elem_type,
                               const void *data, uint64_t n) {
    const size_t es = elem_size(elem_type);
    if (!es || n > SIZE_MAX / es) return AG_ERR_INVALID_ARG;
    buf_t b = {0};
    put_u32(&b, elem_type);
    put_u64(&b, n);
    put(&b, data, (size_t)n * es);
    return set_kv(w, key, AG_GGUF_ARRAY, elem_type, n, b);
}

ag_status ag_gguf_set_arr_str(ag_gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    buf_t b = {0};
    put_u32(&b, AG_GGUF_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) put_str(&b, v[i]);
    return set_kv(w, key, AG_GGUF_ARRAY, AG_GGUF_STRING, n, b);
}

/* Serializes a value read from a file (any type, nested arrays included). */
static void put_value(buf_t *b, const ag_gguf_value *v) {
    switch (v->type) {
    case AG_GGUF_STRING:
        put_u64(b, v->s.len);
        put(b, v->s.data, (size_t)v->s.len);
        return;
    case AG_GGUF_ARRAY:
        put_u32(b, v->arr.elem_type);
        put_u64(b, v->arr.count);
        if (v->arr.raw) put(b, v->arr.raw, (size_t)v->arr.count * elem_size(v->arr.elem_type));
        else
            for (uint64_t i = 0; i < v->arr.count; i++) put_value(b, &v->arr.items[i]);
        return;
    case AG_GGUF_FLOAT32: {
        float f = (float)v->f;
        put(b, &f, 4);
        return;
    }
    case AG_GGUF_FLOAT64: put(b, &v->f, 8); return;
    default: { /* integers and bool: the low bytes of u/i (little-endian) */
        uint64_t u = v->u;
        put(b, &u, elem_size(v->type));
        return;
    }
    }
}

ag_status ag_gguf_copy_kv(ag_gguf_writer *w, const ag_gguf_file *f) {
    for (int64_t i = 0; i < ag_gguf_kv_count(f); i++) {
        const ag_gguf_kv *kv = ag_gguf_kv_at(f, i);
        char *key = strndup(kv->key.data, kv->key.len);
        if (!key) return AG_ERR_NOMEM;
        buf_t b = {0};
        put_value(&b, &kv->value);
        ag_status st = set_kv(w, key, kv->value.type, kv->value.type == AG_GGUF_ARRAY ? kv->value.arr.elem_type : kv->value.type,
                              kv->value.type == AG_GGUF_ARRAY ? kv->value.arr.count : 0, b);
        free(key);
        if (st) return st;
    }
    return AG_OK;
}

void ag_gguf_writer_set_filler(ag_gguf_writer *w, ag_gguf_fill_fn fill, void *ctx) {
    w->fill = fill;
    w->fill_ctx = ctx;
}

ag_status ag_gguf_add_tensor_deferred(ag_gguf_writer *w, const char *name, ag_type type, uint32_t n_dims,
                                      const int64_t *ne) {
    return ag_gguf_add_tensor(w, name, type, n_dims, ne, NULL, false);
}

ag_status ag_gguf_add_tensor(ag_gguf_writer *w, const char *name, ag_type type, uint32_t n_dims,
                             const int64_t *ne, const void *data, bool copy) {
    if (!ag_type_valid(type) || n_dims == 0 || n_dims > AG_GGUF_MAX_DIMS || ne[0] % ag_type_block_size(type))
        return AG_ERR_INVALID_ARG;
    wtensor t = {.type = type, .n_dims = n_dims, .data = data};
    for (int d = 0; d < AG_GGUF_MAX_DIMS; d++) t.ne[d] = d < (int)n_dims ? ne[d] : 1;
    t.nbytes = ag_type_row_size(type, t.ne[0]) * (size_t)(t.ne[1] * t.ne[2] * t.ne[3]);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return AG_ERR_INVALID_ARG;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return AG_ERR_NOMEM;
        w->t = p;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (!t.name) return AG_ERR_NOMEM;
    if (copy && data) {
        t.owned = malloc(t.nbytes ? t.nbytes : 1);
        if (!t.owned) {
            free(t.name);
            return AG_ERR_NOMEM;
        }
        memcpy(t.owned, data, t.nbytes);
        t.data = t.owned;
    }
    w->t[w->n_t++] = t;
    return AG_OK;
}

/* ---------------------------------------------------------------- output */

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Everything before the tensor data: header, key/values, tensor infos, padding. */
static void put_meta(const ag_gguf_writer *w, buf_t *b) {
    put(b, AG_GGUF_MAGIC, 4);
    put_u32(b, 3);
    put_u64(b, w->n_t);
    put_u64(b, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(b, w->kv[i].key);
        put_u32(b, w->kv[i].type);
        put(b, w->kv[i].bytes, w->kv[i].n_bytes);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(b, t->name);
        put_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(b, (uint64_t)t->ne[d]);
        put_u32(b, t->type);
        put_u64(b, offset);
        offset = align_up(offset + t->nbytes, w->alignment);
    }
    static const uint8_t zeros[64] = {0};
    while (b->len % w->alignment) put(b, zeros, 1);
}

static uint64_t data_size(const ag_gguf_writer *w) {
    uint64_t n = 0;
    for (size_t i = 0; i < w->n_t; i++) n = align_up(n + w->t[i].nbytes, w->alignment);
    return n;
}

ag_status ag_gguf_writer_write_memory(ag_gguf_writer *w, void **out, size_t *out_len, ag_error *err) {
    for (size_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data) return ag_error_set(err, AG_ERR_INVALID_ARG, "tensor '%s' is deferred: write to a file", w->t[i].name);
    buf_t b = {0};
    put_meta(w, &b);
    static const uint8_t zeros[64] = {0};
    for (size_t i = 0; i < w->n_t; i++) {
        put(&b, w->t[i].data, w->t[i].nbytes);
        while (b.len % w->alignment) put(&b, zeros, 1);
    }
    if (b.failed) {
        free(b.p);
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory while writing GGUF");
    }
    *out = b.p;
    *out_len = b.len;
    return AG_OK;
}

ag_status ag_gguf_writer_write(ag_gguf_writer *w, const char *path, ag_error *err) {
    char *tmp = malloc(strlen(path) + 16);
    if (!tmp) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    sprintf(tmp, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ag_error_set(err, AG_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return AG_ERR_IO;
    }
    buf_t meta = {0};
    put_meta(w, &meta);
    bool ok = !meta.failed && fwrite(meta.p, 1, meta.len, f) == meta.len;
    static const uint8_t zeros[64] = {0};
    uint64_t written = 0;
    void *scratch = NULL; /* one deferred tensor's bytes at a time */
    size_t scratch_cap = 0;
    ag_status fill_st = AG_OK;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const void *data = w->t[i].data;
        if (!data) {
            if (w->t[i].nbytes > scratch_cap) {
                free(scratch);
                scratch_cap = w->t[i].nbytes;
                scratch = malloc(scratch_cap);
            }
            if (!scratch || !w->fill) {
                fill_st = ag_error_set(err, scratch ? AG_ERR_INVALID_ARG : AG_ERR_NOMEM,
                                       "no data for tensor '%s'", w->t[i].name);
                ok = false;
                break;
            }
            if ((fill_st = w->fill(w->fill_ctx, (int64_t)i, scratch, w->t[i].nbytes, err)) != AG_OK) {
                ok = false;
                break;
            }
            data = scratch;
        }
        ok = fwrite(data, 1, w->t[i].nbytes, f) == w->t[i].nbytes;
        written += w->t[i].nbytes;
        size_t pad = (size_t)(align_up(written, w->alignment) - written);
        ok = ok && fwrite(zeros, 1, pad, f) == pad;
        written += pad;
    }
    ok = ok && written == data_size(w);
    ok = (fclose(f) == 0) && ok;
    free(meta.p);
    free(scratch);
    if (fill_st != AG_OK) { /* the filler's message stands */
        unlink(tmp);
        free(tmp);
        return fill_st;
    }
    if (!ok || rename(tmp, path) != 0) {
        ag_error_set(err, AG_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return AG_ERR_IO;
    }
    free(tmp);
    return AG_OK;
}
