/*
 * quant_k_ref.c - the scalar reference kernels of the K-quant types (Q2_K, Q3_K, Q4_K, Q5_K,
 * Q6_K weights; Q8_K activations) and their trait table. Block layouts are in quant_k_impl.h.
 *
 * The quantizers follow the GGUF reference quantizers (the ones used without an importance
 * matrix) step for step, so that they write the same bytes: per group a search for the
 * scale (and min) with the least weighted error, then the group scales themselves quantized
 * to 4, 6 or 8 bits against the block's largest one, then the codes recomputed with the
 * rounded scales. Float operations are done in the reference's order; rounding to integers is
 * round-half-to-even (nearest_int). Where the reference converts a huge or NaN float to an
 * integer (only with inf/NaN input), the result here is garbage in range, never undefined.
 *
 * The dot products take exact integer sums per block and one float multiply-add per block
 * (two with mins), accumulated in float in block order.
 */
#include <math.h>
#include <string.h>

#include "tensor/quant_k_impl.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define H2F(h) ag_fp16_to_fp32(h)
#define F2H(f) ag_fp32_to_fp16(f)

#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 leaves the integer in the
 * low mantissa bits. Other input gives a bounded wrong value rather than undefined behaviour. */
static inline int nearest_int(float v) {
    const float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* ---------------------------------------------------------------- scale searches */

/* Symmetric codes L in 0..2*nmax-1 (stored + nmax) for n values, weighted by x^2 (rmse_type
 * 1, the only kind used here): the scale from the largest magnitude, then 18 nearby trial
 * scales, keeping the one with the least weighted error. Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *restrict x, int8_t *restrict L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l; // weighted sum of x*l and of l^2
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) { // error decreases as sumlx^2/suml2 grows
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric codes for Q3_K: start from the largest magnitude, then up to 5 passes moving single
 * codes while the x^2-weighted fit improves. L in 0..2*nmax-1 (stored + nmax). */
static float make_q3_quants(int n, int nmax, const float *restrict x, int8_t *restrict L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i]; // the sums without element i
            if (slx > 0.0f) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                const int new_l = imax(-nmax, imin(nmax - 1, nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* Asymmetric codes L in 0..nmax with x ~ scale*L - the_min (the_min >= 0): the range's own
 * scale, then nstep+1 trial scales (nmax + rmin + rdelta*is) / (max - min), each refined by a
 * weighted least-squares fit of scale and min; keeps the least weighted error (|diff| when
 * use_mad, else diff^2). Laux: scratch of n. Returns the scale. */
static float make_qkx2_quants(int n, int nmax, const float *restrict x, const float *restrict weights,
                              uint8_t *restrict L, float *restrict the_min, uint8_t *restrict Laux, float rmin,
                              float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l; // normal equations of min ||w(s*l + m - x)||
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0.0f;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Packs 2-bit codes of 256 elements: element 128h + 32s + l -> bits 2s of qs[32h + l]. */
static void pack_2bit(const uint8_t *restrict L, uint8_t *restrict qs) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *e = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(e[0] | e[32] << 2 | e[64] << 4 | e[96] << 6);
        }
}

/* Q4_K/Q5_K: 8 (scale, min) pairs quantized to 6 bits against the largest of each and packed
 * (layout in quant_k_impl.h); writes d and dmin. */
static void pack_k4_scales(const float scales[8], const float mins[8], float max_scale, float max_min,
                           uint8_t out[12], uint16_t *d, uint16_t *dmin) {
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int g = 0; g < 8; g++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[g]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[g]);
        if (ls > 63) ls = 63;
        if (lm > 63) lm = 63;
        if (g < 4) {
            out[g] = ls;
            out[g + 4] = lm;
        } else {
            out[g + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            out[g - 4] |= (uint8_t)((ls >> 4) << 6);
            out[g] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d = F2H(max_scale / 63.0f);
    *dmin = F2H(max_min / 63.0f);
}

/* Q4_K/Q5_K group search: codes 0..nmax for 8 groups of 32, weights av|x| + |x|. */
static void search_k4_groups(const float *restrict x, int nmax, float rmin, int nstep, uint8_t *restrict L,
                             float scales[8], float mins[8], float *max_scale, float *max_min) {
    uint8_t Laux[32];
    float weights[32];
    *max_scale = *max_min = 0.0f;
    for (int g = 0; g < 8; g++) {
        const float *xg = x + 32 * g;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++) sum_x2 += xg[l] * xg[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xg[l]);
        scales[g] = make_qkx2_quants(32, nmax, xg, weights, L + 32 * g, &mins[g], Laux, rmin, 0.1f, nstep, false);
        if (scales[g] > *max_scale) *max_scale = scales[g];
        if (mins[g] > *max_min) *max_min = mins[g];
    }
}

/* Q4_K/Q5_K: codes again with the rounded 6-bit scales and mins (groups of scale 0 keep the
 * search's codes). */
static void requant_k4(const float *restrict x, const uint8_t scales[12], uint16_t d16, uint16_t dmin16, int nmax,
                       uint8_t *restrict L) {
    uint8_t sc[8], m[8];
    ag_k4_scales(scales, sc, m);
    for (int g = 0; g < 8; g++) {
        const float d = H2F(d16) * (float)sc[g];
        if (d == 0.0f) continue;
        const float dm = H2F(dmin16) * (float)m[g];
        for (int l = 0; l < 32; l++) L[32 * g + l] = (uint8_t)imax(0, imin(nmax, nearest_int((x[32 * g + l] + dm) / d)));
    }
}

/* ---------------------------------------------------------------- Q2_K */

void ag_ref_from_float_q2_k(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q2_k *y = vy;
    for (int64_t b = 0; b < n / AG_QK_K; b++, x += AG_QK_K) {
        uint8_t L[AG_QK_K], Laux[16];
        float weights[16], mins[16], scales[16];
        float max_scale = 0.0f, max_min = 0.0f;
        for (int g = 0; g < 16; g++) { // per group of 16: x ~ scale*L - min, L in 0..3, weights |x|
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * g + l]);
            scales[g] = make_qkx2_quants(16, 3, x + 16 * g, weights, L + 16 * g, &mins[g], Laux, -0.5f, 0.1f, 15, true);
            if (scales[g] > max_scale) max_scale = scales[g];
            if (mins[g] > max_min) max_min = mins[g];
        }
        if (max_scale > 0.0f) { // 4-bit scales: sc = round(15 * scale / max_scale)
            const float iscale = 15.0f / max_scale;
            for (int g = 0; g < 16; g++) y[b].scales[g] = (uint8_t)nearest_int(iscale * scales[g]);
            y[b].d = F2H(max_scale / 15.0f);
        } else {
            memset(y[b].scales, 0, sizeof y[b].scales);
            y[b].d = F2H(0.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = 15.0f / max_min;
            for (int g = 0; g < 16; g++) y[b].scales[g] |= (uint8_t)((unsigned)nearest_int(iscale * mins[g]) << 4);
            y[b].dmin = F2H(max_min / 15.0f);
        } else {
            y[b].dmin = F2H(0.0f);
        }
        for (int g = 0; g < 16; g++) { // codes again with the rounded scales
            const float d = H2F(y[b].d) * (float)(y[b].scales[g] & 15);
            if (d == 0.0f) continue;
            const float dm = H2F(y[b].dmin) * (float)(y[b].scales[g] >> 4);
            for (int l = 0; l < 16; l++) L[16 * g + l] = (uint8_t)imax(0, imin(3, nearest_int((x[16 * g + l] + dm) / d)));
        }
        pack_2bit(L, y[b].qs);
    }
}

void ag_ref_to_float_q2_k(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q2_k *x = vx;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const float d = H2F(x[b].d), dmin = H2F(x[b].dmin);
        for (int e = 0; e < AG_QK_K; e++, y++) { // y = d*sc * q - dmin*m
            const int h = e / 128, s = (e % 128) / 32, l = e % 32, g = e / 16;
            const int q = (x[b].qs[32 * h + l] >> (2 * s)) & 3;
            const float dl = d * (float)(x[b].scales[g] & 15), ml = dmin * (float)(x[b].scales[g] >> 4);
            *y = dl * (float)q - ml;
        }
    }
}

void ag_ref_vec_dot_q2_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q2_k *x = w;
    const ag_block_q8_k *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        int isum = 0, summs = 0;
        for (int g = 0; g < 16; g++) {
            int gs = 0;
            for (int j = 16 * g; j < 16 * g + 16; j++) // gs = sum q_w * q_a over group g
                gs += ((x[b].qs[32 * (j / 128) + j % 32] >> (2 * ((j % 128) / 32))) & 3) * y[b].qs[j];
            isum += (x[b].scales[g] & 15) * gs;
            summs += (x[b].scales[g] >> 4) * y[b].bsums[g]; // the mins: m * sum q_a
        }
        // s += d_a*d_w * isum - d_a*dmin_w * summs
        sumf += y[b].d * H2F(x[b].d) * (float)isum - y[b].d * H2F(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

/* ---------------------------------------------------------------- Q3_K */

void ag_ref_from_float_q3_k(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q3_k *y = vy;
    for (int64_t b = 0; b < n / AG_QK_K; b++, x += AG_QK_K) {
        int8_t L[AG_QK_K];
        float scales[16];
        float max_scale = 0.0f, amax = 0.0f;
        for (int g = 0; g < 16; g++) { // per group of 16: x ~ scale * (L - 4), L in 0..7
            scales[g] = make_q3_quants(16, 4, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > amax) {
                amax = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        memset(y[b].scales, 0, sizeof y[b].scales);
        if (max_scale != 0.0f) { // 6-bit signed scales: sc = round(-32 * scale / max_scale)
            const float iscale = -32.0f / max_scale;
            for (int g = 0; g < 16; g++) {
                const int l = imax(-32, imin(31, nearest_int(iscale * scales[g]))) + 32;
                if (g < 8) y[b].scales[g] = (uint8_t)(l & 15);
                else y[b].scales[g - 8] |= (uint8_t)((l & 15) << 4);
                y[b].scales[g % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (g / 4)));
            }
            y[b].d = F2H(1.0f / iscale);
        } else {
            y[b].d = F2H(0.0f);
        }
        int8_t sc[16];
        ag_k3_scales(y[b].scales, sc);
        for (int g = 0; g < 16; g++) { // codes again with the rounded scales
            const float d = H2F(y[b].d) * (float)sc[g];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (int8_t)(imax(-4, imin(3, nearest_int(x[16 * g + l] / d))) + 4);
        }
        memset(y[b].hmask, 0, sizeof y[b].hmask);
        uint8_t L2[AG_QK_K];
        for (int e = 0; e < AG_QK_K; e++) { // bit 2 -> hmask: element e at bit e/32 of hmask[e%32]
            int q = L[e];
            if (q > 3) {
                y[b].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
                q -= 4;
            }
            L2[e] = (uint8_t)q;
        }
        pack_2bit(L2, y[b].qs);
    }
}

/* Q3_K code of element e, -4..3 */
static inline int q3_code(const ag_block_q3_k *x, int e) {
    const int low = (x->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    return low - ((x->hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4);
}

void ag_ref_to_float_q3_k(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q3_k *x = vx;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const float d = H2F(x[b].d);
        int8_t sc[16];
        ag_k3_scales(x[b].scales, sc);
        for (int e = 0; e < AG_QK_K; e++, y++) *y = d * (float)sc[e / 16] * (float)q3_code(&x[b], e); // y = d*sc * q
    }
}

void ag_ref_vec_dot_q3_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q3_k *x = w;
    const ag_block_q8_k *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        int8_t sc[16];
        ag_k3_scales(x[b].scales, sc);
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            int gs = 0;
            for (int j = 16 * g; j < 16 * g + 16; j++) gs += q3_code(&x[b], j) * y[b].qs[j];
            isum += sc[g] * gs; // isum = sum_g sc_g * sum q_w*q_a
        }
        sumf += H2F(x[b].d) * y[b].d * (float)isum;
    }
    *s = sumf;
}

/* ---------------------------------------------------------------- Q4_K */

void ag_ref_from_float_q4_k(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q4_k *y = vy;
    for (int64_t b = 0; b < n / AG_QK_K; b++, x += AG_QK_K) {
        uint8_t L[AG_QK_K];
        float scales[8], mins[8], max_scale, max_min;
        search_k4_groups(x, 15, -1.0f, 20, L, scales, mins, &max_scale, &max_min);
        pack_k4_scales(scales, mins, max_scale, max_min, y[b].scales, &y[b].d, &y[b].dmin);
        requant_k4(x, y[b].scales, y[b].d, y[b].dmin, 15, L);
        for (int p = 0; p < 4; p++) // element 64p + 32t + l -> nibble t of qs[32p + l]
            for (int l = 0; l < 32; l++) y[b].qs[32 * p + l] = (uint8_t)(L[64 * p + l] | L[64 * p + 32 + l] << 4);
    }
}

void ag_ref_to_float_q4_k(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q4_k *x = vx;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const float d = H2F(x[b].d), dmin = H2F(x[b].dmin);
        uint8_t sc[8], m[8];
        ag_k4_scales(x[b].scales, sc, m);
        for (int e = 0; e < AG_QK_K; e++, y++) { // y = d*sc * q - dmin*m
            const int g = e / 32, q = (x[b].qs[32 * (e / 64) + e % 32] >> (4 * (g % 2))) & 15;
            *y = d * (float)sc[g] * (float)q - dmin * (float)m[g];
        }
    }
}

/* s += d_a*d_w * sum_g sc_g * (sum q_w*q_a) - d_a*dmin_w * sum_g m_g * (sum q_a), groups of 32 */
void ag_ref_vec_dot_q4_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_k *x = w;
    const ag_block_q8_k *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        uint8_t sc[8], m[8];
        ag_k4_scales(x[b].scales, sc, m);
        int isum = 0, summs = 0;
        for (int g = 0; g < 8; g++) {
            int gs = 0;
            for (int j = 32 * g; j < 32 * g + 32; j++)
                gs += ((x[b].qs[32 * (j / 64) + j % 32] >> (4 * (g % 2))) & 15) * y[b].qs[j];
            isum += sc[g] * gs;
            summs += m[g] * (y[b].bsums[2 * g] + y[b].bsums[2 * g + 1]);
        }
        sumf += y[b].d * H2F(x[b].d) * (float)isum - y[b].d * H2F(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

/* ---------------------------------------------------------------- Q5_K */

void ag_ref_from_float_q5_k(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q5_k *y = vy;
    for (int64_t b = 0; b < n / AG_QK_K; b++, x += AG_QK_K) {
        uint8_t L[AG_QK_K];
        float scales[8], mins[8], max_scale, max_min;
        search_k4_groups(x, 31, -0.5f, 15, L, scales, mins, &max_scale, &max_min);
        pack_k4_scales(scales, mins, max_scale, max_min, y[b].scales, &y[b].d, &y[b].dmin);
        requant_k4(x, y[b].scales, y[b].d, y[b].dmin, 31, L);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int p = 0; p < 4; p++) // element 64p + 32t + l -> nibble t of qs[32p + l], bit 2p+t of qh[l]
            for (int l = 0; l < 32; l++) {
                const int q0 = L[64 * p + l], q1 = L[64 * p + 32 + l];
                y[b].qh[l] |= (uint8_t)((q0 >> 4) << (2 * p) | (q1 >> 4) << (2 * p + 1));
                y[b].qs[32 * p + l] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            }
    }
}

static inline int q5_code(const ag_block_q5_k *x, int e) {
    const int g = e / 32;
    return ((x->qs[32 * (e / 64) + e % 32] >> (4 * (g % 2))) & 15) | ((x->qh[e % 32] >> g) & 1) << 4;
}

void ag_ref_to_float_q5_k(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q5_k *x = vx;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const float d = H2F(x[b].d), dmin = H2F(x[b].dmin);
        uint8_t sc[8], m[8];
        ag_k4_scales(x[b].scales, sc, m);
        for (int e = 0; e < AG_QK_K; e++, y++) // y = d*sc * q - dmin*m
            *y = d * (float)sc[e / 32] * (float)q5_code(&x[b], e) - dmin * (float)m[e / 32];
    }
}

void ag_ref_vec_dot_q5_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_k *x = w;
    const ag_block_q8_k *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        uint8_t sc[8], m[8];
        ag_k4_scales(x[b].scales, sc, m);
        int isum = 0, summs = 0;
        for (int g = 0; g < 8; g++) {
            int gs = 0;
            for (int j = 32 * g; j < 32 * g + 32; j++) gs += q5_code(&x[b], j) * y[b].qs[j];
            isum += sc[g] * gs;
            summs += m[g] * (y[b].bsums[2 * g] + y[b].bsums[2 * g + 1]);
        }
        sumf += y[b].d * H2F(x[b].d) * (float)isum - y[b].d * H2F(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

/* ---------------------------------------------------------------- Q6_K */

void ag_ref_from_float_q6_k(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q6_k *y = vy;
    for (int64_t b = 0; b < n / AG_QK_K; b++, x += AG_QK_K) {
        int8_t L[AG_QK_K];
        float scales[16];
        float max_scale = 0.0f, max_abs_scale = 0.0f;
        for (int g = 0; g < 16; g++) { // per group of 16: x ~ scale * (L - 32), L in 0..63
            scales[g] = make_qx_quants(16, 32, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -128.0f / max_scale; // 8-bit scales: sc = round(-128 * scale / max_scale)
        y[b].d = F2H(1.0f / iscale);
        for (int g = 0; g < 16; g++) y[b].scales[g] = (int8_t)imax(-128, imin(127, nearest_int(iscale * scales[g])));
        for (int g = 0; g < 16; g++) { // codes again with the rounded scales
            const float d = H2F(y[b].d) * (float)y[b].scales[g];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * g + l] / d))) + 32);
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const int8_t *e = L + 128 * h + l; // elements l, l+32, l+64, l+96 of half h
                y[b].ql[64 * h + l] = (uint8_t)((e[0] & 15) | (e[64] & 15) << 4);
                y[b].ql[64 * h + 32 + l] = (uint8_t)((e[32] & 15) | (e[96] & 15) << 4);
                y[b].qh[32 * h + l] = (uint8_t)((e[0] >> 4) | (e[32] >> 4) << 2 | (e[64] >> 4) << 4 | (e[96] >> 4) << 6);
            }
    }
}

/* Q6_K code of element e, -32..31 */
static inline int q6_code(const ag_block_q6_k *x, int e) {
    const int h = e / 128, s = (e % 128) / 32, l = e % 32;
    const int lo = (x->ql[64 * h + 32 * (s % 2) + l] >> (4 * (s / 2))) & 15;
    const int hi = (x->qh[32 * h + l] >> (2 * s)) & 3;
    return (lo | hi << 4) - 32;
}

void ag_ref_to_float_q6_k(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q6_k *x = vx;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const float d = H2F(x[b].d);
        for (int e = 0; e < AG_QK_K; e++, y++) *y = d * (float)x[b].scales[e / 16] * (float)q6_code(&x[b], e); // y = d*sc * q
    }
}

void ag_ref_vec_dot_q6_k_q8_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q6_k *x = w;
    const ag_block_q8_k *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            int gs = 0;
            for (int j = 16 * g; j < 16 * g + 16; j++) gs += q6_code(&x[b], j) * y[b].qs[j];
            isum += x[b].scales[g] * gs; // isum = sum_g sc_g * sum q_w*q_a
        }
        sumf += H2F(x[b].d) * y[b].d * (float)isum;
    }
    *s = sumf;
}

/* ---------------------------------------------------------------- Q8_K (activations) */

void ag_ref_from_float_q8_k(const float *restrict x, void *restrict vy, int64_t n) {
    ag_block_q8_k *y = vy;
    for (int64_t b = 0; b < n / AG_QK_K; b++, x += AG_QK_K) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < AG_QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / max; // q = round(-127 * x / max), the largest maps to -127
        for (int j = 0; j < AG_QK_K; j++) y[b].qs[j] = (int8_t)imax(-128, imin(127, nearest_int(iscale * x[j])));
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[b].qs[16 * g + l];
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

void ag_ref_to_float_q8_k(const void *restrict vx, float *restrict y, int64_t n) {
    const ag_block_q8_k *x = vx;
    for (int64_t b = 0; b < n / AG_QK_K; b++, y += AG_QK_K)
        for (int j = 0; j < AG_QK_K; j++) y[j] = x[b].d * (float)x[b].qs[j]; // y = d*q
}

/* ---------------------------------------------------------------- the table */

#define ENTRY(T, DOT) {ag_ref_to_float_##T, ag_ref_from_float_##T, AG_TYPE_Q8_K, DOT}

static const ag_type_traits REF_K[] = {
    [AG_TYPE_Q2_K - AG_TYPE_Q2_K] = ENTRY(q2_k, ag_ref_vec_dot_q2_k_q8_k),
    [AG_TYPE_Q3_K - AG_TYPE_Q2_K] = ENTRY(q3_k, ag_ref_vec_dot_q3_k_q8_k),
    [AG_TYPE_Q4_K - AG_TYPE_Q2_K] = ENTRY(q4_k, ag_ref_vec_dot_q4_k_q8_k),
    [AG_TYPE_Q5_K - AG_TYPE_Q2_K] = ENTRY(q5_k, ag_ref_vec_dot_q5_k_q8_k),
    [AG_TYPE_Q6_K - AG_TYPE_Q2_K] = ENTRY(q6_k, ag_ref_vec_dot_q6_k_q8_k),
    [AG_TYPE_Q8_K - AG_TYPE_Q2_K] = ENTRY(q8_k, NULL),
};

const ag_type_traits *ag_traits_k_ref(ag_type type) {
    if (type < AG_TYPE_Q2_K || type > AG_TYPE_Q8_K) return NULL;
    return &REF_K[type - AG_TYPE_Q2_K];
}
