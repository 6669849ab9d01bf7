/*
 * fp16.c - scalar conversions between binary32 and the two 16-bit float formats
 * (IEEE binary16 "F16" and bfloat16 "BF16"). Owned here: the exact bit-level rounding rules
 * every kernel and the quantizers rely on. Pure integer code: results do not depend on the
 * FPU rounding mode or on the instruction set the file is compiled for.
 *
 *   binary16: s eeeee mmmmmmmmmm        (bias 15; e=0 subnormal, e=31 inf/NaN)
 *   bfloat16: s eeeeeeee mmmmmmm        (the top 16 bits of a binary32)
 *   binary32: s eeeeeeee mmm...m (23)   (bias 127)
 */
#include <string.h>

#include "tensor/quant.h"

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float ag_fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0x1f) /* inf; NaN keeps its payload and is made quiet, as VCVTPH2PS does */
        return f32_from_bits(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
    if (e != 0) return f32_from_bits(sign | ((e + 112u) << 23) | (m << 13)); /* 112 = 127 - 15 */
    if (m == 0) return f32_from_bits(sign);                                  /* +-0 */
    /* subnormal: m * 2^-24; normalize so the leading 1 sits at bit 10 */
    uint32_t exp32 = 113; /* exponent field of 2^-14, the scale of a subnormal's bit 10 */
    while (!(m & 0x400u)) {
        m <<= 1;
        exp32--;
    }
    return f32_from_bits(sign | (exp32 << 23) | ((m & 0x3ffu) << 13));
}

uint16_t ag_fp32_to_fp16(float f) {
    const uint32_t u = f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: keep the top payload bits, force the quiet bit */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x47800000u) return (uint16_t)(sign | 0x7c00u); /* >= 65536 or inf: inf */
    if (a >= 0x38800000u) {                                   /* normal half range: >= 2^-14 */
        /* round to nearest even on the 13 dropped bits; a carry into the exponent is right,
         * and a result of 0x7c00 is the correct overflow to inf (65520 and above) */
        const uint32_t r = a + 0x0fffu + ((a >> 13) & 1u);
        return (uint16_t)(sign | ((r >> 13) - (112u << 10)));
    }
    /* subnormal half (or zero): value = round(|f| / 2^-24) */
    const uint32_t e = a >> 23;
    if (e < 102) return sign; /* |f| < 2^-25: rounds to 0 (2^-25 itself is a tie to even 0) */
    const uint32_t m = (a & 0x7fffffu) | 0x800000u; /* |f| = m * 2^(e-150) */
    const uint32_t shift = 126 - e;                 /* |f| / 2^-24 = m >> shift, 14..24 */
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) q++; /* may carry into 0x400: smallest normal */
    return (uint16_t)(sign | q);
}

float ag_bf16_to_fp32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t ag_fp32_to_bf16(float f) {
    const uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    /* round to nearest even on the low 16 bits; overflow rounds to inf as it should */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
