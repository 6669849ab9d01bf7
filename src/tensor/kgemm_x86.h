/*
 * kgemm_x86.h - private to src/tensor: one K-quant block (Q2_K..Q6_K) decoded into the common
 * form of kgemm.h, in AVX-512 registers, for the decode and tile kernels (kgemv.c, kgemm.c).
 * Include only under defined(__x86_64__).
 *
 * u[k] holds 64 codes (unsigned bytes) that pair with the activation vector act_k of the Q8_K
 * block: its bytes 64k..64k+63 for Q2_K, Q3_K, Q6_K (elements in order); for Q4_K and Q5_K,
 * whose 64 packed bytes hold groups g and g + 2, the two 32-byte runs of those groups
 * (kact_load). The 16-bit lane i of chunk k's products (2 elements) takes the scale of group
 * KIDX[type][k][i], picked from sc (i16 per group) by VPERMW.
 */
#ifndef AG_TENSOR_KGEMM_X86_H
#define AG_TENSOR_KGEMM_X86_H

#include <immintrin.h>

#include "tensor/kgemm.h"
#include "tensor/quant_k_impl.h"

#define AG_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

typedef struct {
    __m512i u[4]; /* codes of the 4 chunks */
    __m256i sc;   /* i16 scale per group (16 groups of 16, or 8 of 32) */
    __m256i off;  /* i16 per group of 16: -offset * scale (Q3_K, Q6_K), else 0 */
    __m512 mf;    /* f32 per group of 16: dmin * min (Q2_K, Q4_K, Q5_K), else 0 */
    float d;      /* d_w */
    float pad[15];
} ag_kdec; /* 448 bytes */

/* bytes per block, a constant once inlined */
static inline size_t kbytes(ag_type t) {
    return t == AG_TYPE_Q2_K ? sizeof(ag_block_q2_k)
           : t == AG_TYPE_Q3_K ? sizeof(ag_block_q3_k)
           : t == AG_TYPE_Q4_K ? sizeof(ag_block_q4_k)
           : t == AG_TYPE_Q5_K ? sizeof(ag_block_q5_k)
                               : sizeof(ag_block_q6_k);
}

static inline bool kperm(ag_type t) { return t == AG_TYPE_Q4_K || t == AG_TYPE_Q5_K; }
static inline bool khas_off(ag_type t) { return t == AG_TYPE_Q3_K || t == AG_TYPE_Q6_K; }
static inline bool khas_min(ag_type t) { return t == AG_TYPE_Q2_K || t == AG_TYPE_Q4_K || t == AG_TYPE_Q5_K; }

/* 16-bit lane -> group, per chunk: groups of 16 (4 per chunk), or of 32 (Q4_K/Q5_K: g, g + 2) */
AG_AVX512 static inline __m512i kidx(ag_type t, int k) {
    if (kperm(t)) {
        const int g0 = k + 2 * (k / 2); /* 0, 1, 4, 5 */
        return _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16((short)g0), _mm512_set1_epi16((short)(g0 + 2)));
    }
    const __m512i i = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
                                       0, 0, 0, 0, 0);
    return _mm512_add_epi16(i, _mm512_set1_epi16((short)(4 * k)));
}

AG_AVX512 static inline __m512i kjoin(const void *lo, const void *hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo)),
                              _mm256_loadu_si256((const __m256i *)hi), 1);
}

/* act_k of a Q8_K block's codes q (256 bytes) in Q4_K/Q5_K's order (what ag_kact_extra keeps) */
AG_AVX512 static inline __m512i kact_perm(const int8_t *q, int k) {
    const int8_t *p = q + 128 * (k / 2) + 32 * (k % 2);
    return kjoin(p, p + 64);
}

/* act_k of block y of a prepared row (e: its extra) */
AG_AVX512 static inline __m512i kact_load(ag_type t, const ag_block_q8_k *y, const ag_kact_extra *e, int k) {
    return _mm512_loadu_si512(kperm(t) ? e->qp + 64 * k : y->qs + 64 * k);
}

/* Q2_K/Q3_K low 2-bit codes of half h: elements 128h + 0..63 and 128h + 64..127 */
AG_AVX512 static inline void kcodes2(const uint8_t *qs, __m512i *u01, __m512i *u23) {
    const __m256i raw = _mm256_loadu_si256((const __m256i *)qs);
    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(raw), _mm256_srli_epi16(raw, 2), 1);
    *u01 = _mm512_and_si512(v, _mm512_set1_epi8(3));
    *u23 = _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(3));
}

/* 16 mins (one per group of 16; Q4_K/Q5_K: each of 8 twice) times dmin */
AG_AVX512 static inline __m512 kmins(__m128i m16, float dmin) {
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(m16)), _mm512_set1_ps(dmin));
}

AG_AVX512 static inline void kdecode(ag_type t, const uint8_t *blk, ag_kdec *o) {
    const __m512i m4 = _mm512_set1_epi8(15);
    if (t == AG_TYPE_Q4_K || t == AG_TYPE_Q5_K) {
        const ag_block_q4_k *x = (const void *)blk; /* d, dmin, scales at the same place in Q5_K */
        uint64_t sc, m;
        ag_k4_scales_u64(x->scales, &sc, &m);
        const __m128i m8 = _mm_cvtsi64_si128((long long)m);
        o->sc = _mm256_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc));
        o->off = _mm256_setzero_si256();
        o->mf = kmins(_mm_unpacklo_epi8(m8, m8), _cvtsh_ss(x->dmin));
        o->d = _cvtsh_ss(x->d);
        const uint8_t *qs = t == AG_TYPE_Q4_K ? x->qs : ((const ag_block_q5_k *)(const void *)blk)->qs;
        for (int c = 0; c < 2; c++) {
            const __m512i raw = _mm512_loadu_si512(qs + 64 * c);
            o->u[2 * c] = _mm512_and_si512(raw, m4);
            o->u[2 * c + 1] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
        }
        if (t == AG_TYPE_Q5_K) {
            const ag_block_q5_k *x5 = (const void *)blk;
            const __m256i qh = _mm256_loadu_si256((const __m256i *)x5->qh);
            const __m512i qhv = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            const __m512i sixteen = _mm512_set1_epi8(16);
            for (int c = 0; c < 2; c++) {
                __m512i *lo = &o->u[2 * c], *hi = &o->u[2 * c + 1];
                *lo = _mm512_mask_add_epi8(*lo, _mm512_test_epi8_mask(qhv, _mm512_set1_epi8((char)(1 << (4 * c)))), *lo, sixteen);
                *hi = _mm512_mask_add_epi8(*hi, _mm512_test_epi8_mask(qhv, _mm512_set1_epi8((char)(2 << (4 * c)))), *hi, sixteen);
            }
        }
    } else if (t == AG_TYPE_Q6_K) {
        const ag_block_q6_k *x = (const void *)blk;
        const __m512i m2 = _mm512_set1_epi8(3);
        o->sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
        o->off = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(o->sc, 5));
        o->mf = _mm512_setzero_ps();
        o->d = _cvtsh_ss(x->d);
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(x->ql + 64 * h);
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            const __m512i qhv = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            o->u[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(qhv, m2), 4));
            o->u[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                              _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qhv, 4), m2), 4));
        }
    } else if (t == AG_TYPE_Q3_K) {
        const ag_block_q3_k *x = (const void *)blk;
        uint64_t lo, hi;
        ag_k3_scales_u64(x->scales, &lo, &hi);
        const __m128i sc8 = _mm_sub_epi8(_mm_set_epi64x((long long)hi, (long long)lo), _mm_set1_epi8(32));
        o->sc = _mm256_cvtepi8_epi16(sc8);
        o->off = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(o->sc, 2));
        o->mf = _mm512_setzero_ps();
        o->d = _cvtsh_ss(x->d);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x->hmask);
        const __m512i hmv = _mm512_inserti64x4(_mm512_castsi256_si512(hm), _mm256_srli_epi16(hm, 1), 1);
        const __m512i four = _mm512_set1_epi8(4);
        for (int h = 0; h < 2; h++) {
            __m512i u01, u23;
            kcodes2(x->qs + 32 * h, &u01, &u23);
            o->u[2 * h] = _mm512_mask_add_epi8(u01, _mm512_test_epi8_mask(hmv, _mm512_set1_epi8((char)(1 << (4 * h)))), u01, four);
            o->u[2 * h + 1] = _mm512_mask_add_epi8(u23, _mm512_test_epi8_mask(hmv, _mm512_set1_epi8((char)(4 << (4 * h)))), u23, four);
        }
    } else { /* Q2_K */
        const ag_block_q2_k *x = (const void *)blk;
        const __m128i scb = _mm_loadu_si128((const __m128i *)x->scales);
        o->sc = _mm256_cvtepu8_epi16(_mm_and_si128(scb, _mm_set1_epi8(15)));
        o->off = _mm256_setzero_si256();
        o->mf = kmins(_mm_and_si128(_mm_srli_epi16(scb, 4), _mm_set1_epi8(15)), _cvtsh_ss(x->dmin));
        o->d = _cvtsh_ss(x->d);
        for (int h = 0; h < 2; h++) kcodes2(x->qs + 32 * h, &o->u[2 * h], &o->u[2 * h + 1]);
    }
}

/* The activation side of one Q8_K block for a token. */
typedef struct {
    __m512i a[4];   /* act_k */
    __m512i bsums;  /* i16 bsums in the low 256 bits, zero above */
    __m512 bsf;     /* d_a * bsums as f32 */
    float d;        /* d_a */
} ag_kact;

AG_AVX512 static inline void kact(ag_type t, const ag_block_q8_k *y, const ag_kact_extra *e, ag_kact *o, int with_a) {
    if (with_a)
        for (int k = 0; k < 4; k++) o->a[k] = kact_load(t, y, e, k);
    o->bsums = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)y->bsums));
    o->d = y->d;
    o->bsf = khas_min(t) ? _mm512_loadu_ps(e->bsf) : _mm512_setzero_ps();
}

/* integer part of one block: sum_k sum u*a*sc (+ sum_g off_g * bsums_g), 16 i32 lanes */
AG_AVX512 static inline __m512i kblock_int(ag_type t, const __m512i u[4], __m256i sc, __m256i off, const __m512i a[4],
                                           __m512i bsums, const __m512i idx[4]) {
    __m512i acc = _mm512_setzero_si512();
    const __m512i sc512 = _mm512_castsi256_si512(sc);
    for (int k = 0; k < 4; k++)
        acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(u[k], a[k]), _mm512_permutexvar_epi16(idx[k], sc512));
    if (khas_off(t)) acc = _mm512_dpwssd_epi32(acc, _mm512_zextsi256_si512(off), bsums);
    return acc;
}

#endif
