/*
 * safetensors.h - reading Hugging Face safetensors checkpoints: one file, or the shards named by
 * model.safetensors.index.json, mapped read-only; tensors are found by name and point into the
 * mappings (no copies).
 *
 * A file is: u64 little-endian header length N, N bytes of JSON
 * {"NAME": {"dtype": "F16", "shape": [rows, cols], "data_offsets": [begin, end]}, "__metadata__": {...}},
 * then the data, offsets relative to its start. Every offset, shape and dtype is checked when the
 * file is opened: a tensor's bytes are exactly its elements times the dtype's size and lie inside
 * the file.
 */
#ifndef AG_CONVERT_SAFETENSORS_H
#define AG_CONVERT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"

typedef enum { AG_ST_F32, AG_ST_F16, AG_ST_BF16, AG_ST_F64, AG_ST_I64, AG_ST_I32, AG_ST_OTHER } ag_st_dtype;

typedef struct {
    char *name;          /* owned */
    ag_st_dtype dtype;
    int n_dims;
    int64_t shape[5];    /* outermost first, as PyTorch writes it: [rows, cols]; up to 5 (Conv3d kernels) */
    const uint8_t *data; /* inside a mapping */
    size_t nbytes;
    int file;            /* which shard */
} ag_st_tensor;

typedef struct ag_st_set ag_st_set;

/* Opens DIR/model.safetensors.index.json's shards, or else every DIR/ *.safetensors.
 * Returns NULL with err (naming the file) when none is found or one is malformed. */
ag_st_set *ag_st_open_dir(const char *dir, ag_error *err);
void ag_st_close(ag_st_set *s);

int64_t ag_st_count(const ag_st_set *s);
const ag_st_tensor *ag_st_at(const ag_st_set *s, int64_t i);
const ag_st_tensor *ag_st_find(const ag_st_set *s, const char *name); /* NULL if absent */

const char *ag_st_dtype_name(ag_st_dtype t);
/* Element i of a tensor as a float (F32, F16, BF16, F64; 0 for others). */
float ag_st_get_f32(const ag_st_tensor *t, int64_t i);
int64_t ag_st_numel(const ag_st_tensor *t);

#endif
