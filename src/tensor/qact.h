/*
 * qact.h - activations prepared for the 8-bit integer matrix kernels (tensor/gemm.h): one row
 * of n floats (n a multiple of 128) quantized once per matrix product the way Q8_0 / Q8_1 do it
 * (per 32 elements d = amax/127, q = round(x/d)), laid out for VPDPBUSD.
 *
 * Row layout: n/128 groups of 256 bytes (64-byte aligned), then float s[n/32]:
 *   int8  lo[64]     byte 16k+j = q of block k of the group, element j      (j < 16)
 *   int8  hi[64]     byte 16k+j = q of block k, element 16+j
 *   int32 nsum[16]   lane l: -(lo[4l..4l+3] + hi[4l..4l+3]) summed (removes a code offset)
 *   float d[16]      lane l: d of block l/4, rounded to f16 like a Q8_0 block's scale
 *   float s[n/32]    per block: f16(d * sum(q)), the Q8_1 block's s
 * Weights laid out the same way (lo / hi halves of 4 blocks) give each block's integer sum in
 * lanes 4k..4k+3 of two VPDPBUSD, all four blocks scaled by one multiply.
 *
 * ag_qact_quantize is the AVX-512 version when the CPU has it, bit-identical to the scalar
 * ag_qact_quantize_ref (tests compare them).
 */
#ifndef AG_TENSOR_QACT_H
#define AG_TENSOR_QACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_QACT_GROUP 128       /* elements per group */
#define AG_QACT_GROUP_BYTES 256 /* bytes per group */

typedef struct {
    int8_t lo[64];
    int8_t hi[64];
    int32_t nsum[16];
    float d[16];
} ag_qact_group;

_Static_assert(sizeof(ag_qact_group) == AG_QACT_GROUP_BYTES, "a group is 256 bytes");

static inline bool ag_qact_ok(int64_t n) { return n > 0 && n % AG_QACT_GROUP == 0; }
/* Bytes of one prepared row (a multiple of 64). */
size_t ag_qact_row_bytes(int64_t n);
/* The per-block s values of a prepared row. */
static inline const float *ag_qact_s(const void *row, int64_t n) {
    return (const float *)((const uint8_t *)row + (size_t)(n / AG_QACT_GROUP) * AG_QACT_GROUP_BYTES);
}

/* x (n floats) -> out (ag_qact_row_bytes(n) bytes, 64-byte aligned). */
void ag_qact_quantize_ref(const float *x, void *out, int64_t n);
void ag_qact_quantize(const float *x, void *out, int64_t n);

#endif
