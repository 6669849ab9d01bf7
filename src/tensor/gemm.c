/*
 * gemm.c - tile matrix products for Q8_0 / Q4_0 weights against Q8_0 activations (see gemm.h),
 * with AVX-512 VNNI.
 *
 * Per tile of 4 weight rows, the rows are decoded once into unsigned bytes u (Q8_0: w + 128,
 * Q4_0: the 4-bit code 0..15) and expanded scales; then for every token and every pair of
 * blocks (64 elements, one zmm):
 *   c   = -(off * sum of each 4 activations)          once per token and pair, shared by rows
 *   p_r = vpdpbusd(c, u_r, a) = sum (u - off) * a      exact int32 per lane (off 128 or 8)
 *   acc_r += float(p_r) * (d_w * d_a)                  per lane, blocks' scales expanded
 * so each row's dot product is sum over lanes of acc_r, the same terms as vec_dot computes.
 */
#include "tensor/gemm.h"

#include <string.h>

#include "tensor/quant.h"
#include "tensor/quant_impl.h"

#define QK 32

static bool cpu_has_vnni512(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

bool ag_gemm_available(ag_type wtype, int64_t n) {
    return (wtype == AG_TYPE_Q8_0 || wtype == AG_TYPE_Q4_0) && n % (2 * QK) == 0 && cpu_has_vnni512();
}

/* Prepared activations of one token: int8 qs[n], then float d[n/32]; padded to 64 bytes. */
static size_t act_row_bytes(int64_t n) { return ((size_t)n + (size_t)(n / QK) * sizeof(float) + 63) & ~(size_t)63; }

size_t ag_gemm_act_bytes(int64_t n, int n_tok) { return act_row_bytes(n) * (size_t)n_tok + 64; }

/* Tile scratch: u8 u[4][n], float dx[4][n/32 * 8] (each block's d_w repeated 8 times). */
size_t ag_gemm_tile_scratch_bytes(int64_t n) {
    return (size_t)AG_GEMM_ROWS * ((size_t)n + (size_t)(n / QK) * 8 * sizeof(float)) + 64;
}

static void *align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

void ag_gemm_prep_act(int64_t n, const void *xq, size_t xq_row_bytes, int n_tok, void *act) {
    const int64_t nb = n / QK;
    uint8_t *out = align64(act);
    for (int t = 0; t < n_tok; t++) {
        const ag_block_q8_0 *x = (const ag_block_q8_0 *)((const uint8_t *)xq + (size_t)t * xq_row_bytes);
        int8_t *qs = (int8_t *)(out + (size_t)t * act_row_bytes(n));
        float *d = (float *)(qs + n);
        for (int64_t b = 0; b < nb; b++) {
            memcpy(qs + b * QK, x[b].qs, QK);
            d[b] = ag_fp16_to_fp32(x[b].d);
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AG_VNNI512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* Decodes up to 4 rows into u (unsigned codes) and dx (expanded scales); missing rows repeat
 * the last one so the kernel can always work on 4. Returns the offset to subtract (128 or 8). */
AG_VNNI512 static int prep_tile(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int n_rows,
                                uint8_t *u, float *dx) {
    const int64_t nb = n / QK;
    for (int r = 0; r < AG_GEMM_ROWS; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)(r < n_rows ? r : n_rows - 1) * w_row_bytes;
        uint8_t *ur = u + (size_t)r * n;
        float *dr = dx + (size_t)r * nb * 8;
        for (int64_t b = 0; b < nb; b++) {
            float d;
            if (wtype == AG_TYPE_Q8_0) {
                const ag_block_q8_0 *x = (const ag_block_q8_0 *)row + b;
                const __m256i q = _mm256_loadu_si256((const __m256i *)x->qs);
                _mm256_storeu_si256((__m256i *)(ur + b * QK), _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)));
                d = _cvtsh_ss(x->d);
            } else { /* Q4_0: elements 0..15 low nibbles, 16..31 high nibbles */
                const ag_block_q4_0 *x = (const ag_block_q4_0 *)row + b;
                const __m128i raw = _mm_loadu_si128((const __m128i *)x->qs);
                const __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0f));
                const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0f));
                _mm_storeu_si128((__m128i *)(ur + b * QK), lo);
                _mm_storeu_si128((__m128i *)(ur + b * QK + 16), hi);
                d = _cvtsh_ss(x->d);
            }
            _mm256_storeu_ps(dr + b * 8, _mm256_set1_ps(d));
        }
    }
    return wtype == AG_TYPE_Q8_0 ? 128 : 8;
}

AG_VNNI512 static void tile_vnni512(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int n_rows,
                                    const void *act, int n_tok, float *y, size_t y_stride, void *scratch) {
    const int64_t nb = n / QK;
    uint8_t *u = align64(scratch);
    float *dx = (float *)(u + (size_t)AG_GEMM_ROWS * n);
    const int off = prep_tile(wtype, n, w, w_row_bytes, n_rows, u, dx);
    const __m512i offv = _mm512_set1_epi8((char)off);
    const __m512i pair_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const uint8_t *acts = align64((void *)act);
    for (int t = 0; t < n_tok; t++) {
        const int8_t *a = (const int8_t *)(acts + (size_t)t * act_row_bytes(n));
        const float *da = (const float *)(a + n);
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int64_t b = 0; b < nb; b += 2) {
            const __m512i av = _mm512_loadu_si512((const void *)(a + b * QK));
            /* c = -(off * sum of 4 activations) per lane: the offset of u, removed exactly */
            const __m512i c = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), offv, av));
            const __m512 dap = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(_mm_castpd_ps(_mm_load_sd((const double *)(da + b)))));
#define ROW(r, acc)                                                                                              \
    do {                                                                                                         \
        const __m512i p = _mm512_dpbusd_epi32(c, _mm512_loadu_si512((const void *)(u + (size_t)(r) * n + b * QK)), av); \
        const __m512 s = _mm512_mul_ps(dap, _mm512_loadu_ps(dx + ((size_t)(r) * nb + b) * 8));                  \
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc);                                                  \
    } while (0)
            ROW(0, acc0);
            ROW(1, acc1);
            ROW(2, acc2);
            ROW(3, acc3);
#undef ROW
        }
        float *yt = y + (size_t)t * y_stride;
        const float sums[4] = {_mm512_reduce_add_ps(acc0), _mm512_reduce_add_ps(acc1), _mm512_reduce_add_ps(acc2),
                               _mm512_reduce_add_ps(acc3)};
        for (int r = 0; r < n_rows; r++) yt[r] = sums[r];
    }
}
#endif

void ag_gemm_tile(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int n_rows, const void *act,
                  int n_tok, float *y, size_t y_stride, void *scratch) {
#if defined(__x86_64__)
    tile_vnni512(wtype, n, w, w_row_bytes, n_rows, act, n_tok, y, y_stride, scratch);
#else
    (void)wtype, (void)n, (void)w, (void)w_row_bytes, (void)n_rows, (void)act, (void)n_tok, (void)y, (void)y_stride,
        (void)scratch;
#endif
}
