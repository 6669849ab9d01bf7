/*
 * gguf.h - reading and writing GGUF files (versions 2 and 3).
 *
 * Reading: ag_gguf_open maps the file (or ag_gguf_open_memory takes a caller's buffer) and
 * validates everything before anything is used: every length and offset lies inside the file,
 * no arithmetic overflows, every tensor type is known (tensor/types.h), every tensor's first
 * dimension is a multiple of its type's block size, tensor data is aligned (general.alignment,
 * default 32) and lies inside the data section, tensor names are unique. Strings and tensor data
 * point into the mapping (no copies): they live as long as the ag_gguf_file. Strings are NOT
 * NUL-terminated (use .len).
 *
 * Writing: an ag_gguf_writer collects key/values and tensors (data copied or borrowed) and writes
 * a version-3 file with the usual layout (header, kv, tensor infos, padding, aligned data).
 */
#ifndef AG_GGUF_H
#define AG_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"
#include "tensor/types.h"

#define AG_GGUF_MAGIC "GGUF"
#define AG_GGUF_DEFAULT_ALIGNMENT 32
#define AG_GGUF_MAX_DIMS 4

typedef enum {
    AG_GGUF_UINT8 = 0,
    AG_GGUF_INT8 = 1,
    AG_GGUF_UINT16 = 2,
    AG_GGUF_INT16 = 3,
    AG_GGUF_UINT32 = 4,
    AG_GGUF_INT32 = 5,
    AG_GGUF_FLOAT32 = 6,
    AG_GGUF_BOOL = 7,
    AG_GGUF_STRING = 8,
    AG_GGUF_ARRAY = 9,
    AG_GGUF_UINT64 = 10,
    AG_GGUF_INT64 = 11,
    AG_GGUF_FLOAT64 = 12,
    AG_GGUF_TYPE_COUNT
} ag_gguf_type;

typedef struct {
    const char *data; /* not NUL-terminated; points into the file */
    uint64_t len;
} ag_gguf_str;

typedef struct ag_gguf_value ag_gguf_value;
struct ag_gguf_value {
    ag_gguf_type type;
    union {
        uint64_t u;    /* UINT8/16/32/64, BOOL (0/1) */
        int64_t i;     /* INT8/16/32/64 */
        double f;      /* FLOAT32/64 */
        ag_gguf_str s; /* STRING */
        struct {
            ag_gguf_type elem_type;
            uint64_t count;
            const uint8_t *raw;   /* numeric/bool elements: count * size, little-endian, maybe unaligned */
            ag_gguf_value *items; /* STRING and ARRAY elements: count values (owned by the file) */
        } arr;
    };
};

typedef struct {
    ag_gguf_str key;
    ag_gguf_value value;
} ag_gguf_kv;

typedef struct {
    ag_gguf_str name;
    uint32_t n_dims;
    int64_t ne[AG_GGUF_MAX_DIMS]; /* elements per dimension, ne[0] fastest; unused dims are 1 */
    ag_type type;
    uint64_t offset;  /* relative to the start of the data section */
    const void *data; /* inside the mapping */
    uint64_t nbytes;
} ag_gguf_tensor;

typedef struct ag_gguf_file ag_gguf_file;

/* Opens and validates; on failure returns NULL with err->code AG_ERR_IO or AG_ERR_FORMAT and a
 * message that names the problem (the key or tensor, and the byte offset). */
ag_gguf_file *ag_gguf_open(const char *path, ag_error *err);
/* Same over a caller's buffer, which must outlive the result (used by tests and the fuzzer). */
ag_gguf_file *ag_gguf_open_memory(const void *buf, size_t len, ag_error *err);
void ag_gguf_close(ag_gguf_file *f);
/* A hint that bytes [p, p + n) of the file's data will not be read for a while (the model uses a
 * repacked copy): the whole pages in it leave this process's memory while they stay in the page
 * cache, and come back if touched. Nothing for files read into memory. */
void ag_gguf_release_pages(const ag_gguf_file *f, const void *p, size_t n);

uint32_t ag_gguf_version(const ag_gguf_file *f);
uint64_t ag_gguf_alignment(const ag_gguf_file *f);
uint64_t ag_gguf_file_size(const ag_gguf_file *f);
uint64_t ag_gguf_data_offset(const ag_gguf_file *f); /* start of the tensor data section */

int64_t ag_gguf_kv_count(const ag_gguf_file *f);
const ag_gguf_kv *ag_gguf_kv_at(const ag_gguf_file *f, int64_t i);
const ag_gguf_kv *ag_gguf_find_kv(const ag_gguf_file *f, const char *key); /* NULL if absent */

int64_t ag_gguf_tensor_count(const ag_gguf_file *f);
const ag_gguf_tensor *ag_gguf_tensor_at(const ag_gguf_file *f, int64_t i);
const ag_gguf_tensor *ag_gguf_find_tensor(const ag_gguf_file *f, const char *name);

const char *ag_gguf_type_name(ag_gguf_type t); /* "u32", "string", "array" ... */
bool ag_gguf_str_eq(ag_gguf_str s, const char *cstr);

/* Typed getters. Integer getters accept any integer type (and bool) whose value fits; float
 * getters accept FLOAT32/FLOAT64 and integers. Return AG_OK, or AG_ERR_FORMAT when the key is
 * absent (message "missing key 'k'") or has the wrong type/range (message names key and type). */
ag_status ag_gguf_get_u32(const ag_gguf_file *f, const char *key, uint32_t *out, ag_error *err);
ag_status ag_gguf_get_i64(const ag_gguf_file *f, const char *key, int64_t *out, ag_error *err);
ag_status ag_gguf_get_f32(const ag_gguf_file *f, const char *key, float *out, ag_error *err);
ag_status ag_gguf_get_bool(const ag_gguf_file *f, const char *key, bool *out, ag_error *err);
ag_status ag_gguf_get_str(const ag_gguf_file *f, const char *key, ag_gguf_str *out, ag_error *err);
/* The array value of key whose elements have elem_type; AG_ERR_FORMAT otherwise. */
ag_status ag_gguf_get_arr(const ag_gguf_file *f, const char *key, ag_gguf_type elem_type,
                          const ag_gguf_value **out, ag_error *err);

/* Element i of a numeric array value (no bounds check beyond i < count -> 0). */
double ag_gguf_arr_f64(const ag_gguf_value *arr, uint64_t i);
int64_t ag_gguf_arr_i64(const ag_gguf_value *arr, uint64_t i);

/* ---------------------------------------------------------------- writer */

typedef struct ag_gguf_writer ag_gguf_writer;

ag_gguf_writer *ag_gguf_writer_new(void);
void ag_gguf_writer_free(ag_gguf_writer *w);

/* Key/values in insertion order; setting an existing key replaces its value. */
ag_status ag_gguf_set_u32(ag_gguf_writer *w, const char *key, uint32_t v);
ag_status ag_gguf_set_i32(ag_gguf_writer *w, const char *key, int32_t v);
ag_status ag_gguf_set_u64(ag_gguf_writer *w, const char *key, uint64_t v);
ag_status ag_gguf_set_f32(ag_gguf_writer *w, const char *key, float v);
ag_status ag_gguf_set_bool(ag_gguf_writer *w, const char *key, bool v);
ag_status ag_gguf_set_str(ag_gguf_writer *w, const char *key, const char *v);
/* Array of numbers/bools: n elements of elem_type, raw little-endian bytes copied. */
ag_status ag_gguf_set_arr_data(ag_gguf_writer *w, const char *key, ag_gguf_type elem_type,
                               const void *data, uint64_t n);
ag_status ag_gguf_set_arr_str(ag_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Copies every key/value of f (used by quantize/convert). */
ag_status ag_gguf_copy_kv(ag_gguf_writer *w, const ag_gguf_file *f);

/* Adds a tensor; data (ag_type_row_size(type, ne[0]) * ne[1]*ne[2]*ne[3] bytes) is copied when
 * copy is true, else borrowed until ag_gguf_writer_write returns. */
ag_status ag_gguf_add_tensor(ag_gguf_writer *w, const char *name, ag_type type, uint32_t n_dims,
                             const int64_t *ne, const void *data, bool copy);

/* A tensor whose data is produced while writing: `fill` is called once per deferred tensor, in
 * order, with a buffer of the tensor's size to fill (so a converter never holds all outputs in
 * memory). Deferred tensors need ag_gguf_writer_write (not the memory variant). */
typedef ag_status (*ag_gguf_fill_fn)(void *ctx, int64_t tensor_index, void *buf, size_t nbytes, ag_error *err);
ag_status ag_gguf_add_tensor_deferred(ag_gguf_writer *w, const char *name, ag_type type, uint32_t n_dims,
                                      const int64_t *ne);
void ag_gguf_writer_set_filler(ag_gguf_writer *w, ag_gguf_fill_fn fill, void *ctx);

void ag_gguf_writer_set_alignment(ag_gguf_writer *w, uint32_t alignment);
/* Writes to path (through a temporary file renamed into place) or to memory. */
ag_status ag_gguf_writer_write(ag_gguf_writer *w, const char *path, ag_error *err);
ag_status ag_gguf_writer_write_memory(ag_gguf_writer *w, void **out, size_t *out_len, ag_error *err);

#endif
