/*
 * types.c - the GGUF type table (see types.h). Block layouts are those of the GGUF format.
 */
#include "tensor/types.h"

#include <strings.h>

typedef struct {
    const char *name;
    int64_t block_size; /* elements per block; 0 marks an unused id */
    size_t type_size;   /* bytes per block */
} type_info;

static const type_info TYPES[AG_TYPE_COUNT] = {
    [AG_TYPE_F32] = {"F32", 1, 4},
    [AG_TYPE_F16] = {"F16", 1, 2},
    [AG_TYPE_Q4_0] = {"Q4_0", 32, 2 + 16},
    [AG_TYPE_Q4_1] = {"Q4_1", 32, 2 + 2 + 16},
    [AG_TYPE_Q5_0] = {"Q5_0", 32, 2 + 4 + 16},
    [AG_TYPE_Q5_1] = {"Q5_1", 32, 2 + 2 + 4 + 16},
    [AG_TYPE_Q8_0] = {"Q8_0", 32, 2 + 32},
    [AG_TYPE_Q8_1] = {"Q8_1", 32, 2 + 2 + 32},
    [AG_TYPE_Q2_K] = {"Q2_K", 256, 16 + 64 + 2 + 2},
    [AG_TYPE_Q3_K] = {"Q3_K", 256, 32 + 64 + 12 + 2},
    [AG_TYPE_Q4_K] = {"Q4_K", 256, 2 + 2 + 12 + 128},
    [AG_TYPE_Q5_K] = {"Q5_K", 256, 2 + 2 + 12 + 32 + 128},
    [AG_TYPE_Q6_K] = {"Q6_K", 256, 128 + 64 + 16 + 2},
    [AG_TYPE_Q8_K] = {"Q8_K", 256, 4 + 256 + 32},
    [AG_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 2 + 64},
    [AG_TYPE_IQ2_XS] = {"IQ2_XS", 256, 2 + 64 + 8},
    [AG_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 2 + 96},
    [AG_TYPE_IQ1_S] = {"IQ1_S", 256, 2 + 32 + 16},
    [AG_TYPE_IQ4_NL] = {"IQ4_NL", 32, 2 + 16},
    [AG_TYPE_IQ3_S] = {"IQ3_S", 256, 2 + 64 + 8 + 32 + 4},
    [AG_TYPE_IQ2_S] = {"IQ2_S", 256, 2 + 64 + 8 + 8},
    [AG_TYPE_IQ4_XS] = {"IQ4_XS", 256, 2 + 2 + 4 + 128},
    [AG_TYPE_I8] = {"I8", 1, 1},
    [AG_TYPE_I16] = {"I16", 1, 2},
    [AG_TYPE_I32] = {"I32", 1, 4},
    [AG_TYPE_I64] = {"I64", 1, 8},
    [AG_TYPE_F64] = {"F64", 1, 8},
    [AG_TYPE_IQ1_M] = {"IQ1_M", 256, 32 + 16 + 8},
    [AG_TYPE_BF16] = {"BF16", 1, 2},
    [AG_TYPE_TQ1_0] = {"TQ1_0", 256, 48 + 4 + 2},
    [AG_TYPE_TQ2_0] = {"TQ2_0", 256, 64 + 2},
    [AG_TYPE_MXFP4] = {"MXFP4", 32, 1 + 16},
};

bool ag_type_valid(uint32_t type) { return type < AG_TYPE_COUNT && TYPES[type].block_size > 0; }

const char *ag_type_name(ag_type type) { return ag_type_valid(type) ? TYPES[type].name : "?"; }

int ag_type_from_name(const char *name) {
    for (int t = 0; t < AG_TYPE_COUNT; t++)
        if (TYPES[t].block_size > 0 && strcasecmp(TYPES[t].name, name) == 0) return t;
    return -1;
}

int64_t ag_type_block_size(ag_type type) { return ag_type_valid(type) ? TYPES[type].block_size : 0; }

size_t ag_type_size(ag_type type) { return ag_type_valid(type) ? TYPES[type].type_size : 0; }

bool ag_type_is_quantized(ag_type type) { return ag_type_block_size(type) > 1; }

size_t ag_type_row_size(ag_type type, int64_t n) {
    return (size_t)(n / ag_type_block_size(type)) * ag_type_size(type);
}
