/*
 * gemm_ref.c - the scalar reference of the integer matrix kernels (gemm.h): one weight row
 * against one prepared activation row, block by block as the vec_dot references do it, and
 * the CPU check shared by the SIMD kernels.
 */
#include <pthread.h>
#include <string.h>

#include "tensor/gemm.h"
#include "tensor/qact.h"
#include "tensor/quant_impl.h"
#include "tensor/repack.h"

/* activation element j (0..31) of block b */
static int act_q(const ag_qact_group *g, int64_t b, int j) {
    const ag_qact_group *gr = &g[b / 4];
    return (j < 16 ? gr->lo : gr->hi)[16 * (b % 4) + j % 16];
}

float ag_gemm_dot_ref(ag_type wtype, bool packed, int64_t n, const void *wrow, const void *act) {
    const ag_qact_group *g = act;
    const float *sa = ag_qact_s(act, n);
    const uint8_t *w = wrow;
    const size_t bs = ag_type_size(wtype);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK; b++) {
        uint8_t block[AG_REPACK_MAX_BLOCK];
        const uint8_t *x = w + (size_t)b * bs;
        if (packed) x = ag_repack_unpack_block(wtype, w, b, block);
        const bool has_m = wtype == AG_TYPE_Q4_1 || wtype == AG_TYPE_Q5_1;
        uint16_t dh, mh = 0;
        memcpy(&dh, x, 2);
        int sumi = 0;
        if (wtype == AG_TYPE_Q8_0) {
            for (int j = 0; j < AG_QK; j++) sumi += (int8_t)x[2 + j] * act_q(g, b, j);
        } else {
            const bool five = wtype == AG_TYPE_Q5_0 || wtype == AG_TYPE_Q5_1;
            const int off = wtype == AG_TYPE_Q4_0 ? 8 : wtype == AG_TYPE_Q5_0 ? 16 : 0;
            if (has_m) memcpy(&mh, x + 2, 2);
            const uint8_t *qh = x + (has_m ? 4 : 2), *qs = qh + (five ? 4 : 0);
            uint32_t h = 0;
            if (five) h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
            for (int j = 0; j < AG_QK; j++) { // sumi = sum_j (u_j - off) * q_a[j]
                int u = j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4;
                if (five) u |= (int)((h >> j) & 1) << 4;
                sumi += (u - off) * act_q(g, b, j);
            }
        }
        // s += d_w*d_a*sumi (+ m_w*s_a)
        const float dd = ag_fp16_to_fp32(dh) * g[b / 4].d[4 * (b % 4)];
        sumf += has_m ? dd * (float)sumi + ag_fp16_to_fp32(mh) * sa[b] : (float)sumi * dd;
    }
    return sumf;
}

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static bool cpu_ok; /* written once, under cpu_once */

static void check_cpu(void) { cpu_ok = ag_isa_supported(AG_ISA_AVX512); }

bool ag_gemm_cpu_ok(void) {
    pthread_once(&cpu_once, check_cpu);
    return cpu_ok;
}

bool ag_gemm_available(ag_type wtype, int64_t n) {
    const bool type_ok = wtype == AG_TYPE_Q8_0 || wtype == AG_TYPE_Q4_0 || wtype == AG_TYPE_Q4_1 ||
                         wtype == AG_TYPE_Q5_0 || wtype == AG_TYPE_Q5_1;
    return type_ok && ag_qact_ok(n) && ag_gemm_cpu_ok();
}
