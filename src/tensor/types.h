/*
 * types.h - the table of GGUF element/block types: ids, names, block sizes, bytes per block.
 *
 * The numeric ids are the GGUF `ggml_type` values; a tensor row of n elements of type t takes
 * n / block_size(t) * type_size(t) bytes. Whether we can compute with a type is a separate
 * question answered by the kernels (tensor/quant.h); the reader accepts every type listed here.
 */
#ifndef AG_TENSOR_TYPES_H
#define AG_TENSOR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    AG_TYPE_F32 = 0,
    AG_TYPE_F16 = 1,
    AG_TYPE_Q4_0 = 2,
    AG_TYPE_Q4_1 = 3,
    AG_TYPE_Q5_0 = 6,
    AG_TYPE_Q5_1 = 7,
    AG_TYPE_Q8_0 = 8,
    AG_TYPE_Q8_1 = 9,
    AG_TYPE_Q2_K = 10,
    AG_TYPE_Q3_K = 11,
    AG_TYPE_Q4_K = 12,
    AG_TYPE_Q5_K = 13,
    AG_TYPE_Q6_K = 14,
    AG_TYPE_Q8_K = 15,
    AG_TYPE_IQ2_XXS = 16,
    AG_TYPE_IQ2_XS = 17,
    AG_TYPE_IQ3_XXS = 18,
    AG_TYPE_IQ1_S = 19,
    AG_TYPE_IQ4_NL = 20,
    AG_TYPE_IQ3_S = 21,
    AG_TYPE_IQ2_S = 22,
    AG_TYPE_IQ4_XS = 23,
    AG_TYPE_I8 = 24,
    AG_TYPE_I16 = 25,
    AG_TYPE_I32 = 26,
    AG_TYPE_I64 = 27,
    AG_TYPE_F64 = 28,
    AG_TYPE_IQ1_M = 29,
    AG_TYPE_BF16 = 30,
    AG_TYPE_TQ1_0 = 34,
    AG_TYPE_TQ2_0 = 35,
    AG_TYPE_MXFP4 = 39,
    AG_TYPE_COUNT = 40
} ag_type;

/* True for ids that name a type (not the removed/unused ids). */
bool ag_type_valid(uint32_t type);
const char *ag_type_name(ag_type type);      /* "Q4_0"; "?" for invalid ids */
int ag_type_from_name(const char *name);     /* case-insensitive; -1 if unknown */
int64_t ag_type_block_size(ag_type type);    /* elements per block */
size_t ag_type_size(ag_type type);           /* bytes per block */
bool ag_type_is_quantized(ag_type type);     /* block_size > 1 */

/* Bytes of a row of n elements; n must be a multiple of the block size. */
size_t ag_type_row_size(ag_type type, int64_t n);

#endif
