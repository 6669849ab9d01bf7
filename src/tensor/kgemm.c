/*
 * kgemm.c - tile matrix products of K-quant weights against many tokens' Q8_K activations
 * (prefill), AVX-512 VNNI (see kgemm.h).
 *
 * A tile of up to AG_KGEMM_ROWS weight rows is first decoded into per-thread scratch, once
 * (per row and block an ag_kdec of kgemm_x86.h: codes, i16 scales, offsets, mins, d_w). Then,
 * for every 4 rows of the tile and every 2 tokens (8 accumulators), per block:
 *   p[r,t]   = sum_k VPDPWSSD(VPMADDUBSW(u_rk, act_tk), scales_rk) (+ off_r . bsums_t)
 *   acc[r,t] += float(p) * (d_w,r * d_a,t)  -  mf_r * (d_a,t * bsums_t)
 * so each weight block is decoded once per tile, and the 4 decoded rows (448 bytes a block)
 * stay in L1/L2 while all the tokens' activations (292 bytes a block) stream past them:
 * with tokens outer the decoded tile streamed from L2 instead, and pp was slower (and slower
 * still with the scales stored spread per lane: the kernel is bound by cache traffic).
 */
#include "tensor/kgemm.h"

#include "tensor/quant_k_impl.h"

#define DEC_BLOCK 448 /* sizeof(ag_kdec) */

static size_t dec_row_bytes(int64_t n) { return (size_t)(n / AG_QK_K) * DEC_BLOCK; }

size_t ag_kgemm_tile_scratch_bytes(int64_t n) { return (size_t)AG_KGEMM_ROWS * dec_row_bytes(n) + 64; }

#if defined(__x86_64__)
#include "tensor/kgemm_x86.h"

_Static_assert(sizeof(ag_kdec) == DEC_BLOCK, "decoded block size");

/* 4 decoded rows (drb bytes apart) x 2 tokens a[0..1]: out[t][r] */
AG_AVX512 static inline void kmicro_4x2(ag_type t, int64_t n, const ag_kdec *dec, size_t drb,
                                        const ag_block_q8_k *const a[2], float out[2][4]) {
    __m512i idx[4];
    for (int k = 0; k < 4; k++) idx[k] = kidx(t, k);
    const ag_kact_extra *e[2] = {ag_kact_extras(a[0], n), ag_kact_extras(a[1], n)};
    __m512 acc[4][2];
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const size_t rstride = drb / sizeof(ag_kdec);
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        ag_kact act[2];
        kact(t, &a[0][b], &e[0][b], &act[0], 0);
        kact(t, &a[1][b], &e[1][b], &act[1], 0);
        __m512i p[4][2];
        for (int r = 0; r < 4; r++) p[r][0] = p[r][1] = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++) {
            const __m512i a0 = kact_load(t, &a[0][b], &e[0][b], k), a1 = kact_load(t, &a[1][b], &e[1][b], k);
            for (int r = 0; r < 4; r++) {
                const ag_kdec *d = &dec[(size_t)r * rstride + (size_t)b];
                const __m512i u = _mm512_load_si512(&d->u[k]);
                const __m512i s = _mm512_permutexvar_epi16(idx[k], _mm512_castsi256_si512(_mm256_load_si256(&d->sc)));
                p[r][0] = _mm512_dpwssd_epi32(p[r][0], _mm512_maddubs_epi16(u, a0), s);
                p[r][1] = _mm512_dpwssd_epi32(p[r][1], _mm512_maddubs_epi16(u, a1), s);
            }
        }
        for (int r = 0; r < 4; r++) {
            const ag_kdec *d = &dec[(size_t)r * rstride + (size_t)b];
            for (int j = 0; j < 2; j++) {
                __m512i q = p[r][j];
                if (khas_off(t)) q = _mm512_dpwssd_epi32(q, _mm512_zextsi256_si512(_mm256_load_si256(&d->off)), act[j].bsums);
                acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(d->d * act[j].d), acc[r][j]);
                if (khas_min(t)) acc[r][j] = _mm512_fnmadd_ps(_mm512_load_ps(&d->mf), act[j].bsf, acc[r][j]);
            }
        }
    }
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 2; j++) out[j][r] = _mm512_reduce_add_ps(acc[r][j]);
}

AG_AVX512 static inline void ktile(ag_type t, int64_t n, const uint8_t *w, size_t w_row_bytes, int n_rows,
                                   const uint8_t *act, size_t arb, int n_tok, float *y, size_t y_stride,
                                   void *scratch) {
    const size_t drb = dec_row_bytes(n), bs = kbytes(t);
    ag_kdec *dec = (ag_kdec *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const int rows4 = (n_rows + 3) & ~3;
    for (int r = 0; r < rows4; r++) { /* missing rows of the last 4 repeat the last row */
        const uint8_t *wr = w + (size_t)(r < n_rows ? r : n_rows - 1) * w_row_bytes;
        ag_kdec *o = (ag_kdec *)((uint8_t *)dec + (size_t)r * drb);
        for (int64_t b = 0; b < n / AG_QK_K; b++) kdecode(t, wr + (size_t)b * bs, &o[b]);
    }
    for (int r0 = 0; r0 < n_rows; r0 += 4) { /* 4 decoded rows stay in L1/L2 across the tokens */
        const int nr = n_rows - r0 < 4 ? n_rows - r0 : 4;
        for (int t0 = 0; t0 < n_tok; t0 += 2) {
            const int nt = n_tok - t0 < 2 ? n_tok - t0 : 2;
            const ag_block_q8_k *a[2];
            for (int k = 0; k < 2; k++) a[k] = (const ag_block_q8_k *)(act + (size_t)(t0 + (k < nt ? k : 0)) * arb);
            float out[2][4];
            kmicro_4x2(t, n, (const ag_kdec *)((uint8_t *)dec + (size_t)r0 * drb), drb, a, out);
            for (int k = 0; k < nt; k++)
                for (int r = 0; r < nr; r++) y[(size_t)(t0 + k) * y_stride + r0 + r] = out[k][r];
        }
    }
}

#define KTILE_FN(name, T)                                                                                       \
    AG_AVX512 static void name(int64_t n, const void *w, size_t wrb, int n_rows, const void *act, size_t arb, \
                               int n_tok, float *y, size_t ys, void *scratch) {                                 \
        ktile(T, n, w, wrb, n_rows, act, arb, n_tok, y, ys, scratch);                                          \
    }
KTILE_FN(ktile_q2_k, AG_TYPE_Q2_K)
KTILE_FN(ktile_q3_k, AG_TYPE_Q3_K)
KTILE_FN(ktile_q4_k, AG_TYPE_Q4_K)
KTILE_FN(ktile_q5_k, AG_TYPE_Q5_K)
KTILE_FN(ktile_q6_k, AG_TYPE_Q6_K)
#undef KTILE_FN
#endif

void ag_kgemm_tile(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int n_rows, const void *a,
                   size_t a_row_bytes, int n_tok, float *y, size_t y_stride, void *scratch) {
#if defined(__x86_64__)
    if (ag_kgemm_available(wtype, n)) switch (wtype) {
        case AG_TYPE_Q2_K: ktile_q2_k(n, w, w_row_bytes, n_rows, a, a_row_bytes, n_tok, y, y_stride, scratch); return;
        case AG_TYPE_Q3_K: ktile_q3_k(n, w, w_row_bytes, n_rows, a, a_row_bytes, n_tok, y, y_stride, scratch); return;
        case AG_TYPE_Q4_K: ktile_q4_k(n, w, w_row_bytes, n_rows, a, a_row_bytes, n_tok, y, y_stride, scratch); return;
        case AG_TYPE_Q5_K: ktile_q5_k(n, w, w_row_bytes, n_rows, a, a_row_bytes, n_tok, y, y_stride, scratch); return;
        case AG_TYPE_Q6_K: ktile_q6_k(n, w, w_row_bytes, n_rows, a, a_row_bytes, n_tok, y, y_stride, scratch); return;
        default: break;
        }
#endif
    (void)scratch; /* without the kernels: one gemv per token */
    for (int t = 0; t < n_tok; t++) {
        float tmp[AG_KGEMM_ROWS];
        ag_kgemv(wtype, n, w, w_row_bytes, n_rows, (const uint8_t *)a + (size_t)t * a_row_bytes, tmp);
        for (int r = 0; r < n_rows; r++) y[(size_t)t * y_stride + r] = tmp[r];
    }
}
