/*
 * quant_ref.c - the scalar reference kernels (the ground truth every SIMD kernel is tested
 * against) and the reference trait table, for F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
 * and Q8_1. Block layouts are in quant_impl.h.
 *
 * The quantizers reproduce the GGUF reference quantizers bit for bit on finite input: same
 * scale formula, same float operations in the same order, same truncation. Where that
 * reference converts an out-of-range float to an integer (undefined behaviour, reachable
 * only with inf/NaN input) we clamp instead.
 *
 * The dot products take integer sums inside a block and one float multiply-add per block;
 * they accumulate in float, in element order.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "tensor/quant_impl.h"
#include "tensor/quant_k_impl.h"

/* Keep a*b+c as two roundings even when built for a CPU with FMA, so the bytes the quantizers
 * write do not depend on the build flags. (GCC does not contract in ISO C mode.) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define H2F(h) ag_fp16_to_fp32(h)
#define F2H(f) ag_fp32_to_fp16(f)

/* The reference's MIN(hi, (int8_t)v) for every v it can reach (v > -1), without undefined
 * float->int conversions for the v it cannot (NaN, huge): truncation toward zero into 0..hi. */
static inline int code_trunc(float v, int hi) {
    if (!(v >= 1.0f)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}

/* roundf(v) as an int8 (half away from zero); finite input never leaves -127..127. */
static inline int8_t q8_round(float v) {
    const float r = roundf(v);
    if (!(r == r)) return 0;
    if (r > 127.0f) return 127;
    if (r < -127.0f) return -127;
    return (int8_t)r;
}

/* ---- F32 */

void ag_ref_to_float_f32(const void *restrict x, float *restrict y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

void ag_ref_from_float_f32(const float *restrict x, void *restrict y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

void ag_ref_vec_dot_f32(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const float *x = w, *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n; i++) sumf += x[i] * y[i]; // s = sum_i w[i]*a[i]
    *s = sumf;
}

/* ---- F16 */

void ag_ref_to_float_f16(const void *restrict x, float *restrict y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = H2F(h[i]);
}

void ag_ref_from_float_f16(const float *restrict x, void *restrict y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = F2H(x[i]);
}

void ag_ref_vec_dot_f16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const uint16_t *x = w, *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n; i++) sumf += H2F(x[i]) * H2F(y[i]); // s = sum_i f32(w[i])*f32(a[i])
    *s = sumf;
}

/* ---- BF16 */

void ag_ref_to_float_bf16(const void *restrict x, float *restrict y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = ag_bf16_to_fp32(h[i]);
}

void ag_ref_from_float_bf16(const float *restrict x, void *restrict y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = ag_fp32_to_bf16(x[i]);
}

void ag_ref_vec_dot_bf16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const uint16_t *x = w, *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sumf += ag_bf16_to_fp32(x[i]) * ag_bf16_to_fp32(y[i]); // s = sum_i f32(w[i])*f32(a[i])
    *s = sumf;
}

/* ---- Q4_0 */

void ag_ref_from_float_q4_0(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q4_0 *y = vy;
    for (int64_t b = 0; b < n / AG_QK; b++, x += AG_QK) {
        float amax = 0.0f, max = 0.0f; /* max: the element of largest magnitude, signed */
        for (int j = 0; j < AG_QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8; // d = max/-8, so max itself maps to q = 0
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = F2H(d);
        for (int j = 0; j < AG_QK / 2; j++) { // q = min(15, trunc(x/d + 8.5))
            const int q0 = code_trunc(x[j] * id + 8.5f, 15);
            const int q1 = code_trunc(x[j + AG_QK / 2] * id + 8.5f, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void ag_ref_to_float_q4_0(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q4_0 *x = vx;
    for (int64_t b = 0; b < n / AG_QK; b++, y += AG_QK) {
        const float d = H2F(x[b].d);
        for (int j = 0; j < AG_QK / 2; j++) { // y = (q - 8) * d
            y[j] = (float)((x[b].qs[j] & 0x0f) - 8) * d;
            y[j + AG_QK / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void ag_ref_vec_dot_q4_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_0 *x = w;
    const ag_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < AG_QK / 2; j++) // sumi = sum_j (q_w[j]-8) * q_a[j]
            sumi += ((x[b].qs[j] & 0x0f) - 8) * y[b].qs[j] + ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + AG_QK / 2];
        sumf += (float)sumi * (H2F(x[b].d) * H2F(y[b].d)); // s += sumi * d_w*d_a
    }
    *s = sumf;
}

/* ---- Q4_1 */

void ag_ref_from_float_q4_1(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q4_1 *y = vy;
    for (int64_t b = 0; b < n / AG_QK; b++, x += AG_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < AG_QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15; // d = (max-min)/15, m = min
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = F2H(d);
        y[b].m = F2H(min);
        for (int j = 0; j < AG_QK / 2; j++) { // q = min(15, trunc((x-min)/d + 0.5))
            const int q0 = code_trunc((x[j] - min) * id + 0.5f, 15);
            const int q1 = code_trunc((x[j + AG_QK / 2] - min) * id + 0.5f, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void ag_ref_to_float_q4_1(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q4_1 *x = vx;
    for (int64_t b = 0; b < n / AG_QK; b++, y += AG_QK) {
        const float d = H2F(x[b].d), m = H2F(x[b].m);
        for (int j = 0; j < AG_QK / 2; j++) { // y = q*d + m
            y[j] = (float)(x[b].qs[j] & 0x0f) * d + m;
            y[j + AG_QK / 2] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

void ag_ref_vec_dot_q4_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_1 *x = w;
    const ag_block_q8_1 *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < AG_QK / 2; j++) // sumi = sum_j q_w[j] * q_a[j]
            sumi += (x[b].qs[j] & 0x0f) * y[b].qs[j] + (x[b].qs[j] >> 4) * y[b].qs[j + AG_QK / 2];
        // s += d_w*d_a*sumi + m_w*s_a   (s_a = d_a*sum_j q_a[j])
        sumf += (H2F(x[b].d) * H2F(y[b].d)) * (float)sumi + H2F(x[b].m) * H2F(y[b].s);
    }
    *s = sumf;
}

/* ---- Q5_0 */

static inline uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void store_qh(uint8_t qh[4], uint32_t v) {
    for (int i = 0; i < 4; i++) qh[i] = (uint8_t)(v >> (8 * i));
}

void ag_ref_from_float_q5_0(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q5_0 *y = vy;
    for (int64_t b = 0; b < n / AG_QK; b++, x += AG_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < AG_QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16; // d = max/-16
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = F2H(d);
        uint32_t qh = 0;
        for (int j = 0; j < AG_QK / 2; j++) { // q = min(31, trunc(x/d + 16.5))
            const int q0 = code_trunc(x[j] * id + 16.5f, 31);
            const int q1 = code_trunc(x[j + AG_QK / 2] * id + 16.5f, 31);
            y[b].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + AG_QK / 2);
        }
        store_qh(y[b].qh, qh);
    }
}

void ag_ref_to_float_q5_0(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q5_0 *x = vx;
    for (int64_t b = 0; b < n / AG_QK; b++, y += AG_QK) {
        const float d = H2F(x[b].d);
        const uint32_t qh = load_qh(x[b].qh);
        for (int j = 0; j < AG_QK / 2; j++) { // y = (q - 16) * d
            const int q0 = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            const int q1 = (x[b].qs[j] >> 4) | (int)((qh >> (j + AG_QK / 2)) & 1u) << 4;
            y[j] = (float)(q0 - 16) * d;
            y[j + AG_QK / 2] = (float)(q1 - 16) * d;
        }
    }
}

void ag_ref_vec_dot_q5_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_0 *x = w;
    const ag_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK; b++) {
        const uint32_t qh = load_qh(x[b].qh);
        int sumi = 0;
        for (int j = 0; j < AG_QK / 2; j++) { // sumi = sum_j (q_w[j]-16) * q_a[j]
            const int q0 = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            const int q1 = (x[b].qs[j] >> 4) | (int)((qh >> (j + AG_QK / 2)) & 1u) << 4;
            sumi += (q0 - 16) * y[b].qs[j] + (q1 - 16) * y[b].qs[j + AG_QK / 2];
        }
        sumf += (float)sumi * (H2F(x[b].d) * H2F(y[b].d)); // s += sumi * d_w*d_a
    }
    *s = sumf;
}

/* ---- Q5_1 */

void ag_ref_from_float_q5_1(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q5_1 *y = vy;
    for (int64_t b = 0; b < n / AG_QK; b++, x += AG_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < AG_QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31; // d = (max-min)/31, m = min
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = F2H(d);
        y[b].m = F2H(min);
        uint32_t qh = 0;
        for (int j = 0; j < AG_QK / 2; j++) { // q = min(31, trunc((x-min)/d + 0.5))
            const int q0 = code_trunc((x[j] - min) * id + 0.5f, 31);
            const int q1 = code_trunc((x[j + AG_QK / 2] - min) * id + 0.5f, 31);
            y[b].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + AG_QK / 2);
        }
        store_qh(y[b].qh, qh);
    }
}

void ag_ref_to_float_q5_1(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q5_1 *x = vx;
    for (int64_t b = 0; b < n / AG_QK; b++, y += AG_QK) {
        const float d = H2F(x[b].d), m = H2F(x[b].m);
        const uint32_t qh = load_qh(x[b].qh);
        for (int j = 0; j < AG_QK / 2; j++) { // y = q*d + m
            const int q0 = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            const int q1 = (x[b].qs[j] >> 4) | (int)((qh >> (j + AG_QK / 2)) & 1u) << 4;
            y[j] = (float)q0 * d + m;
            y[j + AG_QK / 2] = (float)q1 * d + m;
        }
    }
}

void ag_ref_vec_dot_q5_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_1 *x = w;
    const ag_block_q8_1 *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK; b++) {
        const uint32_t qh = load_qh(x[b].qh);
        int sumi = 0;
        for (int j = 0; j < AG_QK / 2; j++) { // sumi = sum_j q_w[j] * q_a[j]
            const int q0 = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            const int q1 = (x[b].qs[j] >> 4) | (int)((qh >> (j + AG_QK / 2)) & 1u) << 4;
            sumi += q0 * y[b].qs[j] + q1 * y[b].qs[j + AG_QK / 2];
        }
        // s += d_w*d_a*sumi + m_w*s_a
        sumf += (H2F(x[b].d) * H2F(y[b].d)) * (float)sumi + H2F(x[b].m) * H2F(y[b].s);
    }
    *s = sumf;
}

/* ---- Q8_0 */

void ag_ref_from_float_q8_0(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / AG_QK; b++, x += AG_QK) {
        float amax = 0.0f;
        for (int j = 0; j < AG_QK; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
        const float d = amax / 127; // d = amax/127, q = round(x/d)
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = F2H(d);
        for (int j = 0; j < AG_QK; j++) y[b].qs[j] = q8_round(x[j] * id);
    }
}

void ag_ref_to_float_q8_0(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q8_0 *x = vx;
    for (int64_t b = 0; b < n / AG_QK; b++, y += AG_QK) {
        const float d = H2F(x[b].d);
        for (int j = 0; j < AG_QK; j++) y[j] = (float)x[b].qs[j] * d; // y = q*d
    }
}

void ag_ref_vec_dot_q8_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q8_0 *x = w;
    const ag_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < AG_QK; j++) sumi += x[b].qs[j] * y[b].qs[j]; // sumi = sum_j q_w[j]*q_a[j]
        sumf += (float)sumi * (H2F(x[b].d) * H2F(y[b].d));             // s += sumi * d_w*d_a
    }
    *s = sumf;
}

/* ---- Q8_1 (activation type for Q4_1/Q5_1; no dot product of its own) */

void ag_ref_from_float_q8_1(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / AG_QK; b++, x += AG_QK) {
        float amax = 0.0f;
        for (int j = 0; j < AG_QK; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
        const float d = amax / 127; // d = amax/127, q = round(x/d), s = d*sum(q)
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = F2H(d);
        int sum = 0;
        for (int j = 0; j < AG_QK; j++) {
            y[b].qs[j] = q8_round(x[j] * id);
            sum += y[b].qs[j];
        }
        y[b].s = F2H((float)sum * d);
    }
}

void ag_ref_to_float_q8_1(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q8_1 *x = vx;
    for (int64_t b = 0; b < n / AG_QK; b++, y += AG_QK) {
        const float d = H2F(x[b].d);
        for (int j = 0; j < AG_QK; j++) y[j] = (float)x[b].qs[j] * d; // y = q*d
    }
}

/* ---- the reference table */

#define ENTRY(T, VT, DOT) {ag_ref_to_float_##T, ag_ref_from_float_##T, VT, DOT}

static const ag_type_traits REF[AG_TYPE_COUNT] = {
    [AG_TYPE_F32] = ENTRY(f32, AG_TYPE_F32, ag_ref_vec_dot_f32),
    [AG_TYPE_F16] = ENTRY(f16, AG_TYPE_F16, ag_ref_vec_dot_f16),
    [AG_TYPE_BF16] = ENTRY(bf16, AG_TYPE_BF16, ag_ref_vec_dot_bf16),
    [AG_TYPE_Q4_0] = ENTRY(q4_0, AG_TYPE_Q8_0, ag_ref_vec_dot_q4_0_q8_0),
    [AG_TYPE_Q4_1] = ENTRY(q4_1, AG_TYPE_Q8_1, ag_ref_vec_dot_q4_1_q8_1),
    [AG_TYPE_Q5_0] = ENTRY(q5_0, AG_TYPE_Q8_0, ag_ref_vec_dot_q5_0_q8_0),
    [AG_TYPE_Q5_1] = ENTRY(q5_1, AG_TYPE_Q8_1, ag_ref_vec_dot_q5_1_q8_1),
    [AG_TYPE_Q8_0] = ENTRY(q8_0, AG_TYPE_Q8_0, ag_ref_vec_dot_q8_0_q8_0),
    [AG_TYPE_Q8_1] = ENTRY(q8_1, AG_TYPE_Q8_1, NULL),
    /* every other id: all NULL (vec_dot_type reads F32 and means nothing) */
};

static const ag_type_traits NONE = {NULL, NULL, AG_TYPE_F32, NULL};

const ag_type_traits *ag_type_traits_ref(ag_type type) {
    if ((uint32_t)type >= (uint32_t)AG_TYPE_COUNT) return &NONE;
    if (ag_traits_k_ref(type)) return ag_traits_k_ref(type); /* K-quants: quant_k_ref.c */
    return &REF[type];
}
