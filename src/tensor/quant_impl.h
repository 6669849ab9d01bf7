/*
 * quant_impl.h - private to src/tensor: the GGUF block structs shared by the reference and the
 * SIMD kernels, the reference kernels themselves (so SIMD tables can reuse the ones they do
 * not specialize), and the per-ISA trait tables.
 *
 * Block layouts (little-endian, packed; f16 = IEEE binary16 bits, 32 elements per block):
 *   Q4_0  18 B: f16 d | u8 qs[16]                 x[j] = (q[j] - 8) * d
 *   Q4_1  20 B: f16 d | f16 m | u8 qs[16]         x[j] = q[j] * d + m
 *   Q5_0  22 B: f16 d | u8 qh[4] | u8 qs[16]      x[j] = (q[j] - 16) * d
 *   Q5_1  24 B: f16 d | f16 m | u8 qh[4] | u8 qs[16]   x[j] = q[j] * d + m
 *   Q8_0  34 B: f16 d | i8 qs[32]                 x[j] = qs[j] * d
 *   Q8_1  36 B: f16 d | f16 s | i8 qs[32]         x[j] = qs[j] * d,  s = d * sum(qs)
 * 4-bit codes: element j (0..15) is the low nibble of qs[j], element j+16 the high nibble.
 * 5-bit codes: the low 4 bits as above; bit 4 of element j (0..31) is bit j of qh read as a
 * little-endian u32.
 */
#ifndef AG_TENSOR_QUANT_IMPL_H
#define AG_TENSOR_QUANT_IMPL_H

#include "tensor/quant.h"

#define AG_QK 32 /* elements per block of every type here */

typedef struct {
    uint16_t d;             /* 0: scale (f16) */
    uint8_t qs[AG_QK / 2];  /* 2: nibbles */
} ag_block_q4_0;            /* 18 bytes */

typedef struct {
    uint16_t d;             /* 0: scale (f16) */
    uint16_t m;             /* 2: minimum (f16) */
    uint8_t qs[AG_QK / 2];  /* 4: nibbles */
} ag_block_q4_1;            /* 20 bytes */

typedef struct {
    uint16_t d;             /* 0: scale (f16) */
    uint8_t qh[4];          /* 2: 5th bits, u32 little-endian */
    uint8_t qs[AG_QK / 2];  /* 6: low nibbles */
} ag_block_q5_0;            /* 22 bytes */

typedef struct {
    uint16_t d;             /* 0: scale (f16) */
    uint16_t m;             /* 2: minimum (f16) */
    uint8_t qh[4];          /* 4: 5th bits, u32 little-endian */
    uint8_t qs[AG_QK / 2];  /* 8: low nibbles */
} ag_block_q5_1;            /* 24 bytes */

typedef struct {
    uint16_t d;             /* 0: scale (f16) */
    int8_t qs[AG_QK];       /* 2: quants */
} ag_block_q8_0;            /* 34 bytes */

typedef struct {
    uint16_t d;             /* 0: scale (f16) */
    uint16_t s;             /* 2: d * sum(qs) (f16) */
    int8_t qs[AG_QK];       /* 4: quants */
} ag_block_q8_1;            /* 36 bytes */

_Static_assert(sizeof(ag_block_q4_0) == 18, "Q4_0 block is 18 bytes");
_Static_assert(sizeof(ag_block_q4_1) == 20, "Q4_1 block is 20 bytes");
_Static_assert(sizeof(ag_block_q5_0) == 22, "Q5_0 block is 22 bytes");
_Static_assert(sizeof(ag_block_q5_1) == 24, "Q5_1 block is 24 bytes");
_Static_assert(sizeof(ag_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(ag_block_q8_1) == 36, "Q8_1 block is 36 bytes");

/* Reference kernels (quant_ref.c). */
#define AG_DECLARE_REF(T)                                                               \
    void ag_ref_to_float_##T(const void *restrict x, float *restrict y, int64_t n);     \
    void ag_ref_from_float_##T(const float *restrict x, void *restrict y, int64_t n);
AG_DECLARE_REF(f32)
AG_DECLARE_REF(f16)
AG_DECLARE_REF(bf16)
AG_DECLARE_REF(q4_0)
AG_DECLARE_REF(q4_1)
AG_DECLARE_REF(q5_0)
AG_DECLARE_REF(q5_1)
AG_DECLARE_REF(q8_0)
AG_DECLARE_REF(q8_1)
#undef AG_DECLARE_REF

void ag_ref_vec_dot_f32(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_f16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_bf16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q4_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q4_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q5_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q5_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q8_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);

/* Per-ISA tables: the entry for type, or NULL when that file has no kernels for this build
 * (not x86). They do not check the CPU; quant.c does. */
const ag_type_traits *ag_traits_avx2(ag_type type);
const ag_type_traits *ag_traits_avx512(ag_type type);

#endif
