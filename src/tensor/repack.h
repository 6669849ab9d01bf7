/*
 * repack.h - weight rows rearranged for the CPU's integer kernels (tensor/gemm.h).
 *
 * A Q4_0 or Q8_0 row of n elements (n a multiple of 128) keeps its size but is stored as n/128
 * groups of 4 blocks, each group 4 * block-size bytes:
 *   uint16 d[4]          the 4 blocks' f16 scales
 *   Q8_0: uint8 lo[64]   byte 16k+j = q_j of block k XOR 0x80 (j < 16), hi[64] the same for q_16+j
 *   Q4_0: uint8 qs[64]   byte 16k+j = qs[j] of block k (elements j and 16+j in its nibbles)
 * which is qact.h's lo/hi activation layout: a kernel reads a group's codes with one or two
 * 64-byte loads and its scales with one 8-byte load, instead of gathering 4 blocks of 18 or 34
 * bytes. Values are unchanged: products over packed rows equal those over the file's rows bit for
 * bit (tests/test_gemm.c).
 */
#ifndef AG_TENSOR_REPACK_H
#define AG_TENSOR_REPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

#define AG_REPACK_MAX_BLOCK 34 /* bytes of the largest block that can be packed (Q8_0) */

/* True when rows of this type and length can be packed and the kernels that read them exist. */
bool ag_repack_supported(ag_type type, int64_t n);
/* n_rows rows of n elements (row_bytes = ag_type_row_size apart, both sides) from src into dst. */
void ag_repack_rows(ag_type type, int64_t n, const void *src, void *dst, int64_t n_rows);
/* Block b of a packed row, as the file stores it, written to out (ag_type_size bytes); returns out. */
const uint8_t *ag_repack_unpack_block(ag_type type, const void *packed_row, int64_t b, uint8_t *out);

#endif
