/*
 * vec_q.c - out = sum_p w[p] * dequant(V row p) over Q8_0 / Q4_0 rows (see vec_q.h): the scalar
 * references, AVX2 (8 lanes) and AVX-512 (16 lanes) versions. The SIMD ones go block by block
 * (32 outputs held in registers, loaded from out and stored back) and over all rows inside,
 * scaling each block by w[p] * d. Every variant adds to out (one sum per output, row after row),
 * so rows given in runs (a KV cache in blocks) sum to the same bits as one call over all of them.
 */
#include "cpu/vec_q.h"

#include <stdint.h>
#include <string.h>

#define QK 32
#define Q8_BYTES 34 /* f16 d | i8 qs[32] */
#define Q4_BYTES 18 /* f16 d | u8 qs[16] */

static inline float block_scale(const uint8_t *b) {
    uint16_t h;
    memcpy(&h, b, 2);
    return ag_fp16_to_fp32(h);
}

/* ---------------------------------------------------------------- scalar references */

static void mad_q8_0_ref(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    for (int p = 0; p < n_rows; p++) {
        const uint8_t *row = (const uint8_t *)rows + (size_t)p * stride;
        for (int b = 0; b < hd / QK; b++) {
            const uint8_t *blk = row + (size_t)b * Q8_BYTES;
            const float s = w[p] * block_scale(blk); // out += w_p * d * q
            const int8_t *qs = (const int8_t *)(blk + 2);
            for (int j = 0; j < QK; j++) out[b * QK + j] += s * (float)qs[j];
        }
    }
}

static void mad_q4_0_ref(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    for (int p = 0; p < n_rows; p++) {
        const uint8_t *row = (const uint8_t *)rows + (size_t)p * stride;
        for (int b = 0; b < hd / QK; b++) {
            const uint8_t *blk = row + (size_t)b * Q4_BYTES;
            const float s = w[p] * block_scale(blk); // out += w_p * d * (nibble - 8)
            for (int j = 0; j < QK / 2; j++) {
                out[b * QK + j] += s * (float)((blk[2 + j] & 0x0f) - 8);
                out[b * QK + j + QK / 2] += s * (float)((blk[2 + j] >> 4) - 8);
            }
        }
    }
}

/* ---------------------------------------------------------------- x86 */

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_T __attribute__((target("avx2,fma,f16c")))
#define AVX512_T __attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma")))

AVX2_T static void mad_q8_0_avx2(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    for (int b = 0; b < hd / QK; b++) {
        float *o = out + b * QK;
        __m256 a0 = _mm256_loadu_ps(o), a1 = _mm256_loadu_ps(o + 8), a2 = _mm256_loadu_ps(o + 16), a3 = _mm256_loadu_ps(o + 24);
        for (int p = 0; p < n_rows; p++) {
            const uint8_t *blk = (const uint8_t *)rows + (size_t)p * stride + (size_t)b * Q8_BYTES;
            const __m256 s = _mm256_set1_ps(w[p] * _cvtsh_ss(*(const uint16_t *)blk));
            const __m128i q0 = _mm_loadu_si128((const __m128i *)(blk + 2));
            const __m128i q1 = _mm_loadu_si128((const __m128i *)(blk + 18));
            a0 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q0)), a0);
            a1 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q0, 8))), a1);
            a2 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q1)), a2);
            a3 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q1, 8))), a3);
        }
        _mm256_storeu_ps(o, a0), _mm256_storeu_ps(o + 8, a1), _mm256_storeu_ps(o + 16, a2), _mm256_storeu_ps(o + 24, a3);
    }
}

AVX2_T static void mad_q4_0_avx2(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    const __m128i lo_mask = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    for (int b = 0; b < hd / QK; b++) {
        float *o = out + b * QK;
        __m256 a0 = _mm256_loadu_ps(o), a1 = _mm256_loadu_ps(o + 8), a2 = _mm256_loadu_ps(o + 16), a3 = _mm256_loadu_ps(o + 24);
        for (int p = 0; p < n_rows; p++) {
            const uint8_t *blk = (const uint8_t *)rows + (size_t)p * stride + (size_t)b * Q4_BYTES;
            const __m256 s = _mm256_set1_ps(w[p] * _cvtsh_ss(*(const uint16_t *)blk));
            const __m128i raw = _mm_loadu_si128((const __m128i *)(blk + 2));
            const __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, lo_mask), eight);                   /* x[0..15] */
            const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), lo_mask), eight); /* x[16..31] */
            a0 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), a0);
            a1 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), a1);
            a2 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), a2);
            a3 = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), a3);
        }
        _mm256_storeu_ps(o, a0), _mm256_storeu_ps(o + 8, a1), _mm256_storeu_ps(o + 16, a2), _mm256_storeu_ps(o + 24, a3);
    }
}

AVX512_T static void mad_q8_0_avx512(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    for (int b = 0; b < hd / QK; b++) {
        __m512 a0 = _mm512_loadu_ps(out + b * QK), a1 = _mm512_loadu_ps(out + b * QK + 16);
        for (int p = 0; p < n_rows; p++) {
            const uint8_t *blk = (const uint8_t *)rows + (size_t)p * stride + (size_t)b * Q8_BYTES;
            const __m512 s = _mm512_set1_ps(w[p] * _cvtsh_ss(*(const uint16_t *)blk));
            const __m128i q0 = _mm_loadu_si128((const __m128i *)(blk + 2));
            const __m128i q1 = _mm_loadu_si128((const __m128i *)(blk + 18));
            a0 = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), a0);
            a1 = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), a1);
        }
        _mm512_storeu_ps(out + b * QK, a0);
        _mm512_storeu_ps(out + b * QK + 16, a1);
    }
}

AVX512_T static void mad_q4_0_avx512(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    const __m128i lo_mask = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    for (int b = 0; b < hd / QK; b++) {
        __m512 a0 = _mm512_loadu_ps(out + b * QK), a1 = _mm512_loadu_ps(out + b * QK + 16);
        for (int p = 0; p < n_rows; p++) {
            const uint8_t *blk = (const uint8_t *)rows + (size_t)p * stride + (size_t)b * Q4_BYTES;
            const __m512 s = _mm512_set1_ps(w[p] * _cvtsh_ss(*(const uint16_t *)blk));
            const __m128i raw = _mm_loadu_si128((const __m128i *)(blk + 2));
            const __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, lo_mask), eight);
            const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), lo_mask), eight);
            a0 = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), a0);
            a1 = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), a1);
        }
        _mm512_storeu_ps(out + b * QK, a0);
        _mm512_storeu_ps(out + b * QK + 16, a1);
    }
}
#endif

/* ---------------------------------------------------------------- dispatch */

ag_vec_mad_q_rows_fn ag_vec_mad_q_rows_isa(ag_type type, ag_isa isa) {
    if (type != AG_TYPE_Q8_0 && type != AG_TYPE_Q4_0) return NULL;
    const bool q8 = type == AG_TYPE_Q8_0;
    if (isa == AG_ISA_REF) return q8 ? mad_q8_0_ref : mad_q4_0_ref;
#if defined(__x86_64__)
    if (!ag_isa_supported(isa)) return NULL;
    if (isa == AG_ISA_AVX2) return q8 ? mad_q8_0_avx2 : mad_q4_0_avx2;
    if (isa == AG_ISA_AVX512) return q8 ? mad_q8_0_avx512 : mad_q4_0_avx512;
#endif
    return NULL;
}

void ag_vec_mad_q_rows(ag_type type, int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    for (int d = 0; d < hd; d++) out[d] = 0.0f;
    ag_vec_mad_q_rows_add(type, n_rows, out, rows, stride, w, hd);
}

void ag_vec_mad_q_rows_add(ag_type type, int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    for (int isa = AG_ISA_COUNT - 1; isa >= AG_ISA_REF; isa--) {
        const ag_vec_mad_q_rows_fn f = ag_vec_mad_q_rows_isa(type, (ag_isa)isa);
        if (f) {
            f(n_rows, out, rows, stride, w, hd);
            return;
        }
    }
}
