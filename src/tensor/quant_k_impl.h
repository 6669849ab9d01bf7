/*
 * quant_k_impl.h - private to src/tensor: the GGUF "K-quant" super-block structs (256
 * elements per block), the reference K kernels (quant_k_ref.c) and the per-ISA K trait tables
 * (quant_k_avx2.c, quant_k_avx512.c). quant.c and quant_ref.c consult these tables before the
 * legacy ones.
 *
 * Block layouts (little-endian, packed; f16 = IEEE binary16 bits; 256 elements per block):
 *   Q2_K  84 B: u8 scales[16] | u8 qs[64] | f16 d | f16 dmin
 *         16 groups of 16; scales[g] = sc | m << 4 (4 bits each)
 *         x = d*sc * q - dmin*m,  q 2 bits
 *   Q3_K 110 B: u8 hmask[32] | u8 qs[64] | u8 scales[12] | f16 d
 *         16 groups of 16; 6-bit signed scales (stored + 32)
 *         x = d*(sc - 32) * (q - 4),  q = 2 low bits | high bit << 2
 *   Q4_K 144 B: f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
 *         8 groups of 32; 6-bit sc and m per group (packed as below)
 *         x = d*sc * q - dmin*m,  q 4 bits
 *   Q5_K 176 B: f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
 *         as Q4_K with a 5th bit
 *   Q6_K 210 B: u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d
 *         16 groups of 16; x = d*sc * (q - 32),  q = 4 low bits | 2 high bits << 4
 *   Q8_K 292 B: f32 d | i8 qs[256] | i16 bsums[16]
 *         x = d * qs;  bsums[g] = sum of qs over group g of 16 (activations only)
 *
 * Where the codes sit. In Q2_K, Q3_K and Q6_K the block is two halves of 128; in half h,
 * element 128h + 32s + l (s = 0..3, l = 0..31) takes
 *   Q2_K/Q3_K low bits:  bits 2s..2s+1 of qs[32h + l]
 *   Q3_K high bit:       bit 4h+s of hmask[l]               (element e: bit e/32 of hmask[e%32])
 *   Q6_K low 4 bits:     nibble s/2 (low, high) of ql[64h + 32(s%2) + l]
 *   Q6_K high 2 bits:    bits 2s..2s+1 of qh[32h + l]
 * In Q4_K and Q5_K the block is four pairs of groups of 32; element 64p + 32t + l (t = 0, 1):
 *   low 4 bits:          nibble t of qs[32p + l]
 *   Q5_K 5th bit:        bit 2p+t of qh[l]
 * Q4_K/Q5_K 6-bit (sc, m) of group g (0..7) in scales[12]:
 *   g < 4:  sc = scales[g] & 63,                           m = scales[g+4] & 63
 *   g >= 4: sc = scales[g+4] & 15 | (scales[g-4] >> 6) << 4, m = scales[g+4] >> 4 | (scales[g] >> 6) << 4
 * Q3_K 6-bit scale of group g (0..15) in scales[12]:
 *   low 4 bits: g < 8 ? scales[g] & 15 : scales[g-8] >> 4;  high 2 bits: scales[8 + g%4] >> 2(g/4)
 */
#ifndef AG_TENSOR_QUANT_K_IMPL_H
#define AG_TENSOR_QUANT_K_IMPL_H

#include "tensor/quant.h"

#define AG_QK_K 256 /* elements per K block */

typedef struct {
    uint8_t scales[16];  /* 0: sc | m << 4 per group of 16 */
    uint8_t qs[64];      /* 16: 2-bit codes */
    uint16_t d;          /* 80: scale of the scales (f16) */
    uint16_t dmin;       /* 82: scale of the mins (f16) */
} ag_block_q2_k;         /* 84 bytes */

typedef struct {
    uint8_t hmask[32];   /* 0: high bits */
    uint8_t qs[64];      /* 32: low 2 bits */
    uint8_t scales[12];  /* 96: 16 x 6-bit scales */
    uint16_t d;          /* 108: super-block scale (f16) */
} ag_block_q3_k;         /* 110 bytes */

typedef struct {
    uint16_t d;          /* 0: scale of the scales (f16) */
    uint16_t dmin;       /* 2: scale of the mins (f16) */
    uint8_t scales[12];  /* 4: 8 x (6-bit scale, 6-bit min) */
    uint8_t qs[128];     /* 16: 4-bit codes */
} ag_block_q4_k;         /* 144 bytes */

typedef struct {
    uint16_t d;          /* 0 */
    uint16_t dmin;       /* 2 */
    uint8_t scales[12];  /* 4 */
    uint8_t qh[32];      /* 16: 5th bits */
    uint8_t qs[128];     /* 48: low 4 bits */
} ag_block_q5_k;         /* 176 bytes */

typedef struct {
    uint8_t ql[128];     /* 0: low 4 bits */
    uint8_t qh[64];      /* 128: high 2 bits */
    int8_t scales[16];   /* 192: 8-bit scales per group of 16 */
    uint16_t d;          /* 208: super-block scale (f16) */
} ag_block_q6_k;         /* 210 bytes */

typedef struct {
    float d;             /* 0: scale */
    int8_t qs[256];      /* 4: quants */
    int16_t bsums[16];   /* 260: sums of qs per group of 16 */
} ag_block_q8_k;         /* 292 bytes */

_Static_assert(sizeof(ag_block_q2_k) == 84, "Q2_K block is 84 bytes");
_Static_assert(sizeof(ag_block_q3_k) == 110, "Q3_K block is 110 bytes");
_Static_assert(sizeof(ag_block_q4_k) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(ag_block_q5_k) == 176, "Q5_K block is 176 bytes");
_Static_assert(sizeof(ag_block_q6_k) == 210, "Q6_K block is 210 bytes");
_Static_assert(sizeof(ag_block_q8_k) == 292, "Q8_K block is 292 bytes");

/* Unpacked 6-bit scales of Q4_K/Q5_K: sc[g], m[g] for the 8 groups. */
static inline void ag_k4_scales(const uint8_t s[12], uint8_t sc[8], uint8_t m[8]) {
    for (int g = 0; g < 4; g++) {
        sc[g] = s[g] & 63;
        m[g] = s[g + 4] & 63;
        sc[g + 4] = (uint8_t)((s[g + 8] & 15) | (s[g] >> 6) << 4);
        m[g + 4] = (uint8_t)((s[g + 8] >> 4) | (s[g + 4] >> 6) << 4);
    }
}

/* Unpacked 6-bit scales of Q3_K, minus 32 (-32..31) for the 16 groups. */
static inline void ag_k3_scales(const uint8_t s[12], int8_t sc[16]) {
    for (int g = 0; g < 16; g++) {
        const int lo = g < 8 ? s[g] & 15 : s[g - 8] >> 4;
        const int hi = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
        sc[g] = (int8_t)((lo | hi << 4) - 32);
    }
}

/* The same two unpackings on 32-bit words, for SIMD kernels (no byte stores to reload):
 * byte g of the results is group g's value. Q4_K/Q5_K: *sc and *m, 8 groups each.
 * Q3_K: *lo (groups 0..7) and *hi (8..15) hold the scales + 32 (0..63). */
static inline uint32_t ag_k_word(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void ag_k4_scales_u64(const uint8_t s[12], uint64_t *sc, uint64_t *m) {
    const uint32_t w0 = ag_k_word(s), w1 = ag_k_word(s + 4), w2 = ag_k_word(s + 8);
    const uint32_t sc_lo = w0 & 0x3f3f3f3fu, m_lo = w1 & 0x3f3f3f3fu;
    const uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 6) & 0x03030303u) << 4;
    const uint32_t m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 6) & 0x03030303u) << 4;
    *sc = (uint64_t)sc_lo | (uint64_t)sc_hi << 32;
    *m = (uint64_t)m_lo | (uint64_t)m_hi << 32;
}

static inline void ag_k3_scales_u64(const uint8_t s[12], uint64_t *lo, uint64_t *hi) {
    const uint32_t w0 = ag_k_word(s), w1 = ag_k_word(s + 4), w2 = ag_k_word(s + 8);
    const uint32_t g0 = (w0 & 0x0f0f0f0fu) | (w2 & 0x03030303u) << 4;
    const uint32_t g4 = (w1 & 0x0f0f0f0fu) | ((w2 >> 2) & 0x03030303u) << 4;
    const uint32_t g8 = ((w0 >> 4) & 0x0f0f0f0fu) | ((w2 >> 4) & 0x03030303u) << 4;
    const uint32_t g12 = ((w1 >> 4) & 0x0f0f0f0fu) | ((w2 >> 6) & 0x03030303u) << 4;
    *lo = (uint64_t)g0 | (uint64_t)g4 << 32;
    *hi = (uint64_t)g8 | (uint64_t)g12 << 32;
}

/* Reference kernels (quant_k_ref.c). */
#define AG_DECLARE_REF_K(T)                                                             \
    void ag_ref_to_float_##T(const void *restrict x, float *restrict y, int64_t n);     \
    void ag_ref_from_float_##T(const float *restrict x, void *restrict y, int64_t n);
AG_DECLARE_REF_K(q2_k)
AG_DECLARE_REF_K(q3_k)
AG_DECLARE_REF_K(q4_k)
AG_DECLARE_REF_K(q5_k)
AG_DECLARE_REF_K(q6_k)
AG_DECLARE_REF_K(q8_k)
#undef AG_DECLARE_REF_K

void ag_ref_vec_dot_q2_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q3_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q4_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q5_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);
void ag_ref_vec_dot_q6_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a);

/* K trait tables: the entry for type, or NULL when type is not a K type (or, for the SIMD
 * tables, when this build has no such kernels). They do not check the CPU; quant.c does. */
const ag_type_traits *ag_traits_k_ref(ag_type type);
const ag_type_traits *ag_traits_k_avx2(ag_type type);
const ag_type_traits *ag_traits_k_avx512(ag_type type);

#endif
