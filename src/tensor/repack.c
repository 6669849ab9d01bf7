/*
 * repack.c - rearranging Q4_0 / Q8_0 rows into the packed layout of repack.h and reading a
 * block back. Plain byte moves: this runs once per weight at model load.
 */
#include "tensor/repack.h"

#include <string.h>

#include "tensor/gemm.h"
#include "tensor/qact.h"

bool ag_repack_supported(ag_type type, int64_t n) {
    return (type == AG_TYPE_Q4_0 || type == AG_TYPE_Q8_0) && ag_gemm_available(type, n);
}

static void pack_group(ag_type type, const uint8_t *src, uint8_t *dst) {
    const size_t bs = ag_type_size(type);
    for (int k = 0; k < 4; k++) {
        const uint8_t *blk = src + (size_t)k * bs;
        memcpy(dst + 2 * k, blk, 2);
        if (type == AG_TYPE_Q8_0) {
            for (int j = 0; j < 16; j++) {
                dst[8 + 16 * k + j] = blk[2 + j] ^ 0x80;
                dst[72 + 16 * k + j] = blk[18 + j] ^ 0x80;
            }
        } else {
            memcpy(dst + 8 + 16 * k, blk + 2, 16);
        }
    }
}

void ag_repack_rows(ag_type type, int64_t n, const void *src, void *dst, int64_t n_rows) {
    const size_t group = 4 * ag_type_size(type), rb = ag_type_row_size(type, n);
    const int64_t ng = n / AG_QACT_GROUP;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t i = 0; i < ng; i++)
            pack_group(type, (const uint8_t *)src + (size_t)r * rb + (size_t)i * group,
                       (uint8_t *)dst + (size_t)r * rb + (size_t)i * group);
}

const uint8_t *ag_repack_unpack_block(ag_type type, const void *packed_row, int64_t b, uint8_t *out) {
    const uint8_t *g = (const uint8_t *)packed_row + (size_t)(b / 4) * 4 * ag_type_size(type);
    const int k = (int)(b % 4);
    memcpy(out, g + 2 * k, 2);
    if (type == AG_TYPE_Q8_0) {
        for (int j = 0; j < 16; j++) {
            out[2 + j] = g[8 + 16 * k + j] ^ 0x80;
            out[18 + j] = g[72 + 16 * k + j] ^ 0x80;
        }
    } else {
        memcpy(out + 2, g + 8 + 16 * k, 16);
    }
    return out;
}
