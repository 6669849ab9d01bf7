/*
 * gguf_read.c - the GGUF reader (see gguf.h): maps the file, parses the header, key/values and
 * tensor infos with a bounds-checked cursor, and validates every tensor before anything uses it.
 *
 * Every read goes through `cursor_*`, which fails (with the offset) instead of reading past the
 * end; every count is checked against the bytes left before anything is allocated for it, so a
 * corrupt file costs at most a few allocations proportional to its own size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "gguf/gguf.h"

#define MAX_ARRAY_DEPTH 8

struct ag_gguf_file {
    const uint8_t *base; /* the whole file */
    size_t size;
    bool mapped;         /* base is our mmap (munmap on close) */
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    ag_gguf_kv *kv;
    int64_t n_tensors;
    ag_gguf_tensor *tensors;
    int64_t *tensor_index; /* open-addressing hash of tensor names -> index; size index_cap */
    uint64_t index_cap;
    /* element arrays of STRING/ARRAY arrays, freed on close */
    ag_gguf_value **owned;
    size_t n_owned, owned_cap;
};

/* ---------------------------------------------------------------- cursor */

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    ag_error *err;
    const char *what; /* what is being read, for messages */
} cursor;

static ag_status truncated(cursor *c, size_t need) {
    return ag_error_set(c->err, AG_ERR_FORMAT,
                        "truncated file: %s at offset %zu needs %zu bytes, only %zu left", c->what,
                        c->pos, need, c->size - c->pos);
}

static ag_status cursor_bytes(cursor *c, size_t n, const uint8_t **out) {
    if (n > c->size - c->pos) return truncated(c, n);
    *out = c->p + c->pos;
    c->pos += n;
    return AG_OK;
}

static ag_status cursor_u32(cursor *c, uint32_t *v) {
    const uint8_t *b = NULL;
    ag_status st = cursor_bytes(c, 4, &b);
    if (!st) memcpy(v, b, 4);
    return st;
}

static ag_status cursor_u64(cursor *c, uint64_t *v) {
    const uint8_t *b = NULL;
    ag_status st = cursor_bytes(c, 8, &b);
    if (!st) memcpy(v, b, 8);
    return st;
}

static ag_status cursor_str(cursor *c, ag_gguf_str *s) {
    uint64_t len;
    const uint8_t *b = NULL;
    ag_status st = cursor_u64(c, &len);
    if (st) return st;
    if (len > c->size - c->pos)
        return ag_error_set(c->err, AG_ERR_FORMAT,
                            "truncated file: %s at offset %zu: string length %llu past end of file",
                            c->what, c->pos - 8, (unsigned long long)len);
    if ((st = cursor_bytes(c, (size_t)len, &b))) return st;
    s->data = (const char *)b;
    s->len = len;
    return AG_OK;
}

/* ---------------------------------------------------------------- values */

static size_t scalar_size(ag_gguf_type t) {
    switch (t) {
    case AG_GGUF_UINT8: case AG_GGUF_INT8: case AG_GGUF_BOOL: return 1;
    case AG_GGUF_UINT16: case AG_GGUF_INT16: return 2;
    case AG_GGUF_UINT32: case AG_GGUF_INT32: case AG_GGUF_FLOAT32: return 4;
    case AG_GGUF_UINT64: case AG_GGUF_INT64: case AG_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* Decodes one scalar of type t from raw little-endian bytes into v. */
static void decode_scalar(ag_gguf_type t, const uint8_t *b, ag_gguf_value *v) {
    v->type = t;
    switch (t) {
    case AG_GGUF_UINT8: v->u = b[0]; break;
    case AG_GGUF_BOOL: v->u = b[0] != 0; break;
    case AG_GGUF_INT8: v->i = (int8_t)b[0]; break;
    case AG_GGUF_UINT16: { uint16_t x; memcpy(&x, b, 2); v->u = x; break; }
    case AG_GGUF_INT16: { int16_t x; memcpy(&x, b, 2); v->i = x; break; }
    case AG_GGUF_UINT32: { uint32_t x; memcpy(&x, b, 4); v->u = x; break; }
    case AG_GGUF_INT32: { int32_t x; memcpy(&x, b, 4); v->i = x; break; }
    case AG_GGUF_UINT64: { uint64_t x; memcpy(&x, b, 8); v->u = x; break; }
    case AG_GGUF_INT64: { int64_t x; memcpy(&x, b, 8); v->i = x; break; }
    case AG_GGUF_FLOAT32: { float x; memcpy(&x, b, 4); v->f = x; break; }
    case AG_GGUF_FLOAT64: { double x; memcpy(&x, b, 8); v->f = x; break; }
    default: break;
    }
}

static ag_status keep_owned(ag_gguf_file *f, ag_gguf_value *items, ag_error *err) {
    if (f->n_owned == f->owned_cap) {
        size_t cap = f->owned_cap ? 2 * f->owned_cap : 16;
        ag_gguf_value **p = realloc(f->owned, cap * sizeof *p);
        if (!p) {
            free(items);
            return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        }
        f->owned = p;
        f->owned_cap = cap;
    }
    f->owned[f->n_owned++] = items;
    return AG_OK;
}

static ag_status read_value(ag_gguf_file *f, cursor *c, uint32_t type, ag_gguf_value *v, int depth);

static ag_status read_array(ag_gguf_file *f, cursor *c, ag_gguf_value *v, int depth) {
    uint32_t et;
    uint64_t n;
    ag_status st;
    if (depth >= MAX_ARRAY_DEPTH)
        return ag_error_set(c->err, AG_ERR_FORMAT, "%s at offset %zu: arrays nested deeper than %d",
                            c->what, c->pos, MAX_ARRAY_DEPTH);
    if ((st = cursor_u32(c, &et)) || (st = cursor_u64(c, &n))) return st;
    if (et >= AG_GGUF_TYPE_COUNT)
        return ag_error_set(c->err, AG_ERR_FORMAT, "%s at offset %zu: unknown array element type %u",
                            c->what, c->pos - 12, et);
    v->type = AG_GGUF_ARRAY;
    v->arr.elem_type = (ag_gguf_type)et;
    v->arr.count = n;
    v->arr.raw = NULL;
    v->arr.items = NULL;
    size_t es = scalar_size((ag_gguf_type)et);
    /* every element takes at least 1 byte (scalars: es, strings: 8, arrays: 12) */
    size_t min_elem = es ? es : et == AG_GGUF_STRING ? 8 : 12;
    if (n > (c->size - c->pos) / min_elem)
        return ag_error_set(c->err, AG_ERR_FORMAT,
                            "truncated file: %s at offset %zu: array of %llu elements past end of file",
                            c->what, c->pos - 12, (unsigned long long)n);
    if (es) {
        const uint8_t *b = NULL;
        if ((st = cursor_bytes(c, (size_t)n * es, &b))) return st;
        v->arr.raw = b;
        return AG_OK;
    }
    ag_gguf_value *items = calloc(n ? (size_t)n : 1, sizeof *items);
    if (!items) return ag_error_set(c->err, AG_ERR_NOMEM, "out of memory for an array of %llu", (unsigned long long)n);
    if ((st = keep_owned(f, items, c->err))) return st;
    v->arr.items = items;
    for (uint64_t i = 0; i < n; i++)
        if ((st = read_value(f, c, et, &items[i], depth + 1))) return st;
    return AG_OK;
}

static ag_status read_value(ag_gguf_file *f, cursor *c, uint32_t type, ag_gguf_value *v, int depth) {
    if (type == AG_GGUF_STRING) {
        v->type = AG_GGUF_STRING;
        return cursor_str(c, &v->s);
    }
    if (type == AG_GGUF_ARRAY) return read_array(f, c, v, depth);
    size_t es = type < AG_GGUF_TYPE_COUNT ? scalar_size((ag_gguf_type)type) : 0;
    if (!es)
        return ag_error_set(c->err, AG_ERR_FORMAT, "%s at offset %zu: unknown value type %u", c->what,
                            c->pos, type);
    const uint8_t *b = NULL;
    ag_status st = cursor_bytes(c, es, &b);
    if (!st) decode_scalar((ag_gguf_type)type, b, v);
    return st;
}

/* ---------------------------------------------------------------- header, kv, tensors */

static ag_status read_kvs(ag_gguf_file *f, cursor *c, uint64_t n_kv) {
    char what[64];
    c->what = what;
    if (n_kv > (c->size - c->pos) / 13) /* key length (8) + >= 1 byte + type (4) */
        return ag_error_set(c->err, AG_ERR_FORMAT,
                            "truncated file: header claims %llu key/values, more than the file can hold",
                            (unsigned long long)n_kv);
    f->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *f->kv);
    if (!f->kv) return ag_error_set(c->err, AG_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n_kv; i++) {
        snprintf(what, sizeof what, "key #%llu", (unsigned long long)i);
        ag_gguf_kv *kv = &f->kv[i];
        uint32_t type;
        ag_status st;
        if ((st = cursor_str(c, &kv->key))) return st;
        f->n_kv = (int64_t)i + 1; /* what is filled so far, for cleanup */
        if ((st = cursor_u32(c, &type))) return st;
        snprintf(what, sizeof what, "key '%.*s'", (int)(kv->key.len < 40 ? kv->key.len : 40), kv->key.data);
        if ((st = read_value(f, c, type, &kv->value, 0))) return st;
        for (uint64_t j = 0; j < i; j++)
            if (f->kv[j].key.len == kv->key.len && memcmp(f->kv[j].key.data, kv->key.data, kv->key.len) == 0)
                return ag_error_set(c->err, AG_ERR_FORMAT, "duplicate key '%.*s'", (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.data);
    }
    f->n_kv = (int64_t)n_kv;
    return AG_OK;
}

static uint64_t hash_name(const char *s, uint64_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static ag_status index_tensor(ag_gguf_file *f, int64_t i, ag_error *err) {
    const ag_gguf_str name = f->tensors[i].name;
    uint64_t slot = hash_name(name.data, name.len) & (f->index_cap - 1);
    while (f->tensor_index[slot] >= 0) {
        const ag_gguf_str other = f->tensors[f->tensor_index[slot]].name;
        if (other.len == name.len && memcmp(other.data, name.data, name.len) == 0)
            return ag_error_set(err, AG_ERR_FORMAT, "duplicate tensor name '%.*s'", (int)(name.len > 200 ? 200 : name.len), name.data);
        slot = (slot + 1) & (f->index_cap - 1);
    }
    f->tensor_index[slot] = i;
    return AG_OK;
}

#define TNAME(t) (int)((t)->name.len > 200 ? 200 : (t)->name.len), (t)->name.data

static ag_status read_tensor_info(cursor *c, ag_gguf_tensor *t) {
    uint32_t type;
    ag_status st;
    if ((st = cursor_str(c, &t->name)) || (st = cursor_u32(c, &t->n_dims))) return st;
    if (t->n_dims == 0 || t->n_dims > AG_GGUF_MAX_DIMS)
        return ag_error_set(c->err, AG_ERR_FORMAT, "tensor '%.*s': %u dimensions (1 to %d allowed)",
                            TNAME(t), t->n_dims, AG_GGUF_MAX_DIMS);
    for (int d = 0; d < AG_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        if ((st = cursor_u64(c, &ne))) return st;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return ag_error_set(c->err, AG_ERR_FORMAT, "tensor '%.*s': dimension %u is %llu",
                                TNAME(t), d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    if ((st = cursor_u32(c, &type)) || (st = cursor_u64(c, &t->offset))) return st;
    if (!ag_type_valid(type))
        return ag_error_set(c->err, AG_ERR_FORMAT, "tensor '%.*s': unknown type %u", TNAME(t), type);
    t->type = (ag_type)type;
    return AG_OK;
}

/* Size, alignment and bounds of one tensor's data. */
static ag_status check_tensor(ag_gguf_file *f, ag_gguf_tensor *t, ag_error *err) {
    const int64_t bs = ag_type_block_size(t->type);
    if (t->ne[0] % bs != 0)
        return ag_error_set(err, AG_ERR_FORMAT, "tensor '%.*s': ne[0]=%lld not a multiple of block size %lld for %s",
                            TNAME(t), (long long)t->ne[0], (long long)bs, ag_type_name(t->type));
    uint64_t nbytes = (uint64_t)(t->ne[0] / bs), rows = 1;
    bool overflow = __builtin_mul_overflow(nbytes, (uint64_t)ag_type_size(t->type), &nbytes);
    for (int d = 1; d < AG_GGUF_MAX_DIMS; d++) overflow |= __builtin_mul_overflow(rows, (uint64_t)t->ne[d], &rows);
    overflow |= __builtin_mul_overflow(nbytes, rows, &nbytes);
    if (overflow || nbytes > f->size)
        return ag_error_set(err, AG_ERR_FORMAT, "tensor '%.*s': absurd dimensions [%lld, %lld, %lld, %lld] (%s)",
                            TNAME(t), (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                            (long long)t->ne[3], overflow ? "size overflows" : "larger than the file");
    if (t->offset % f->alignment != 0)
        return ag_error_set(err, AG_ERR_FORMAT, "tensor '%.*s': offset %llu not aligned to %llu", TNAME(t),
                            (unsigned long long)t->offset, (unsigned long long)f->alignment);
    uint64_t start, end;
    if (__builtin_add_overflow(f->data_offset, t->offset, &start) || __builtin_add_overflow(start, nbytes, &end) ||
        end > f->size)
        return ag_error_set(err, AG_ERR_FORMAT,
                            "tensor '%.*s': data [%llu, %llu) extends past end of file (size %zu)", TNAME(t),
                            (unsigned long long)(f->data_offset + t->offset),
                            (unsigned long long)(f->data_offset + t->offset + nbytes), f->size);
    t->nbytes = nbytes;
    t->data = f->base + start;
    return AG_OK;
}

static ag_status read_tensors(ag_gguf_file *f, cursor *c, uint64_t n) {
    c->what = "tensor info";
    if (n > (c->size - c->pos) / 24) /* name length (8) + >=1 byte ... : at least 24 bytes each */
        return ag_error_set(c->err, AG_ERR_FORMAT,
                            "truncated file: header claims %llu tensors, more than the file can hold",
                            (unsigned long long)n);
    f->tensors = calloc(n ? (size_t)n : 1, sizeof *f->tensors);
    f->index_cap = 16;
    while (f->index_cap < 2 * n) f->index_cap *= 2;
    f->tensor_index = malloc(f->index_cap * sizeof *f->tensor_index);
    if (!f->tensors || !f->tensor_index) return ag_error_set(c->err, AG_ERR_NOMEM, "out of memory");
    memset(f->tensor_index, 0xff, f->index_cap * sizeof *f->tensor_index); /* all -1 */
    for (uint64_t i = 0; i < n; i++) {
        ag_status st = read_tensor_info(c, &f->tensors[i]);
        if (st) return st;
        f->n_tensors = (int64_t)i + 1;
        if ((st = index_tensor(f, (int64_t)i, c->err))) return st;
    }
    return AG_OK;
}

static ag_status read_alignment(ag_gguf_file *f, ag_error *err) {
    f->alignment = AG_GGUF_DEFAULT_ALIGNMENT;
    const ag_gguf_kv *kv = ag_gguf_find_kv(f, "general.alignment");
    if (!kv) return AG_OK;
    if (kv->value.type != AG_GGUF_UINT32 && kv->value.type != AG_GGUF_UINT64)
        return ag_error_set(err, AG_ERR_FORMAT, "key 'general.alignment' has type %s, expected u32",
                            ag_gguf_type_name(kv->value.type));
    uint64_t a = kv->value.u;
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30))
        return ag_error_set(err, AG_ERR_FORMAT, "general.alignment %llu is not a power of two", (unsigned long long)a);
    f->alignment = a;
    return AG_OK;
}

static ag_status parse(ag_gguf_file *f, ag_error *err) {
    cursor c = {f->base, f->size, 0, err, "header"};
    const uint8_t *magic = NULL;
    uint64_t n_tensors, n_kv;
    ag_status st;
    if ((st = cursor_bytes(&c, 4, &magic))) return st;
    if (memcmp(magic, AG_GGUF_MAGIC, 4) != 0) {
        char shown[5];
        for (int i = 0; i < 4; i++) shown[i] = magic[i] >= 0x20 && magic[i] < 0x7f ? (char)magic[i] : '?';
        shown[4] = '\0';
        return ag_error_set(err, AG_ERR_FORMAT, "bad magic '%s' (not a GGUF file)", shown);
    }
    if ((st = cursor_u32(&c, &f->version))) return st;
    if (f->version == 1)
        return ag_error_set(err, AG_ERR_FORMAT, "GGUF version 1 is not supported (convert the file again)");
    if (f->version != 2 && f->version != 3)
        return ag_error_set(err, AG_ERR_FORMAT, "unsupported GGUF version %u", f->version);
    if ((st = cursor_u64(&c, &n_tensors)) || (st = cursor_u64(&c, &n_kv))) return st;
    if ((st = read_kvs(f, &c, n_kv)) || (st = read_alignment(f, err)) || (st = read_tensors(f, &c, n_tensors)))
        return st;
    uint64_t data = (c.pos + f->alignment - 1) / f->alignment * f->alignment;
    f->data_offset = data;
    for (int64_t i = 0; i < f->n_tensors; i++)
        if ((st = check_tensor(f, &f->tensors[i], err))) return st;
    return AG_OK;
}

/* ---------------------------------------------------------------- open / close */

static ag_gguf_file *open_buffer(const void *buf, size_t len, bool mapped, ag_error *err) {
    ag_gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        if (mapped) munmap((void *)buf, len);
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->base = buf;
    f->size = len;
    f->mapped = mapped;
    if (parse(f, err) != AG_OK) {
        ag_gguf_close(f);
        return NULL;
    }
    return f;
}

ag_gguf_file *ag_gguf_open_memory(const void *buf, size_t len, ag_error *err) {
    return open_buffer(buf, len, false, err);
}

ag_gguf_file *ag_gguf_open(const char *path, ag_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ag_error_set(err, AG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ag_error_set(err, AG_ERR_IO, "'%s' is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (sb.st_size < 8) {
        close(fd);
        ag_error_set(err, AG_ERR_FORMAT, "truncated file: '%s' is %lld bytes, too small for a GGUF header",
                     path, (long long)sb.st_size);
        return NULL;
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        ag_error_set(err, AG_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
        return NULL;
    }
    return open_buffer(p, (size_t)sb.st_size, true, err);
}

void ag_gguf_close(ag_gguf_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_owned; i++) free(f->owned[i]);
    free(f->owned);
    free(f->kv);
    free(f->tensors);
    free(f->tensor_index);
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f);
}

void ag_gguf_release_pages(const ag_gguf_file *f, const void *p, size_t n) {
    if (!f->mapped || n == 0) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + n) & ~(page - 1);
    if ((const uint8_t *)a < f->base || b <= a || (const uint8_t *)b > f->base + f->size) return;
    madvise((void *)a, b - a, MADV_DONTNEED); /* a shared read-only file mapping: pages come back on touch */
}

/* ---------------------------------------------------------------- queries */

uint32_t ag_gguf_version(const ag_gguf_file *f) { return f->version; }
uint64_t ag_gguf_alignment(const ag_gguf_file *f) { return f->alignment; }
uint64_t ag_gguf_file_size(const ag_gguf_file *f) { return f->size; }
uint64_t ag_gguf_data_offset(const ag_gguf_file *f) { return f->data_offset; }
int64_t ag_gguf_kv_count(const ag_gguf_file *f) { return f->n_kv; }
int64_t ag_gguf_tensor_count(const ag_gguf_file *f) { return f->n_tensors; }

const ag_gguf_kv *ag_gguf_kv_at(const ag_gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_kv ? &f->kv[i] : NULL;
}

const ag_gguf_tensor *ag_gguf_tensor_at(const ag_gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

bool ag_gguf_str_eq(ag_gguf_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && memcmp(s.data, cstr, n) == 0;
}

const ag_gguf_kv *ag_gguf_find_kv(const ag_gguf_file *f, const char *key) {
    for (int64_t i = 0; i < f->n_kv; i++)
        if (ag_gguf_str_eq(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const ag_gguf_tensor *ag_gguf_find_tensor(const ag_gguf_file *f, const char *name) {
    if (!f->tensor_index) return NULL;
    const size_t n = strlen(name);
    uint64_t slot = hash_name(name, n) & (f->index_cap - 1);
    for (int64_t i; (i = f->tensor_index[slot]) >= 0; slot = (slot + 1) & (f->index_cap - 1))
        if (ag_gguf_str_eq(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}
