/*
 * test_kv_quant.c - the quantized KV cache: every variant of ag_vec_mad_q_rows against its
 * scalar reference (Q8_0 and Q4_0 rows, several head sizes and row counts; rows given in runs
 * sum to the same bits as in one call), the quantized
 * attention against attention over the dequantized rows, and the session's type checks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/vec_q.h"
#include "model/kv_quant.h"
#include "tensor/quant.h"
#include "test.h"

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void test_mad_rows_match_reference(void) {
    const ag_type types[] = {AG_TYPE_Q8_0, AG_TYPE_Q4_0};
    const int hds[] = {32, 64, 128, 256}, nps[] = {1, 2, 7, 33};
    unsigned seed = 7;
    for (int ti = 0; ti < 2; ti++)
        for (int hi = 0; hi < 4; hi++)
            for (int ni = 0; ni < 4; ni++) {
                const int hd = hds[hi], np = nps[ni];
                const size_t rb = ag_type_row_size(types[ti], hd), stride = rb + 18; /* rows apart, as heads are */
                uint8_t *rows = calloc((size_t)np, stride);
                float x[256], w[64], ref[256], got[256];
                for (int p = 0; p < np; p++) {
                    for (int d = 0; d < hd; d++) x[d] = frand(&seed) * 3.0f;
                    ag_type_traits_ref(types[ti])->from_float(x, rows + (size_t)p * stride, hd);
                    w[p] = fabsf(frand(&seed));
                }
                for (int d = 0; d < hd; d++) ref[d] = 0.0f; /* the kernels add to out */
                ag_vec_mad_q_rows_isa(types[ti], AG_ISA_REF)(np, ref, rows, stride, w, hd);
                for (int isa = AG_ISA_REF; isa < AG_ISA_COUNT; isa++) {
                    ag_vec_mad_q_rows_fn f = ag_vec_mad_q_rows_isa(types[ti], (ag_isa)isa);
                    if (!f) continue;
                    for (int d = 0; d < hd; d++) got[d] = 0.0f;
                    f(np, got, rows, stride, w, hd);
                    for (int d = 0; d < hd; d++) CHECK(fabsf(got[d] - ref[d]) <= 1e-4f * (1.0f + fabsf(ref[d])));
                    /* rows in runs (a KV cache in blocks): the same bits as one call */
                    float split[256];
                    for (int d = 0; d < hd; d++) split[d] = 0.0f;
                    for (int p = 0; p < np;) {
                        const int run = np - p < 3 ? np - p : 3;
                        f(run, split, rows + (size_t)p * stride, stride, w + p, hd);
                        p += run;
                    }
                    CHECK(memcmp(split, got, (size_t)hd * sizeof(float)) == 0);
                }
                for (int d = 0; d < hd; d++) got[d] = NAN;
                ag_vec_mad_q_rows(types[ti], np, got, rows, stride, w, hd);
                for (int d = 0; d < hd; d++) CHECK(fabsf(got[d] - ref[d]) <= 1e-4f * (1.0f + fabsf(ref[d])));
                free(rows);
            }
    CHECK(ag_vec_mad_q_rows_isa(AG_TYPE_F16, AG_ISA_REF) == NULL);
}

/* Quantized attention against plain float attention over the dequantized K and V. */
static void test_attention_matches_dequantized(void) {
    enum { HD = 64, NP = 20 };
    const ag_type types[] = {AG_TYPE_Q8_0, AG_TYPE_Q4_0};
    unsigned seed = 3;
    for (int ti = 0; ti < 2; ti++) {
        const size_t rb = ag_type_row_size(types[ti], HD);
        uint8_t k[NP * 72], v[NP * 72];
        float kf[NP][HD], vf[NP][HD], q[HD], x[HD], att[NP], out[HD], qbuf[HD];
        for (int p = 0; p < NP; p++) {
            for (int d = 0; d < HD; d++) x[d] = frand(&seed);
            ag_type_traits_ref(types[ti])->from_float(x, k + p * rb, HD);
            ag_type_traits_ref(types[ti])->to_float(k + p * rb, kf[p], HD);
            for (int d = 0; d < HD; d++) x[d] = frand(&seed);
            ag_type_traits_ref(types[ti])->from_float(x, v + p * rb, HD);
            ag_type_traits_ref(types[ti])->to_float(v + p * rb, vf[p], HD);
        }
        for (int d = 0; d < HD; d++) q[d] = frand(&seed) * 2.0f;
        ag_kv_attend_quant(types[ti], NP, k, v, rb, q, HD, 0.125f, 0.0f, att, qbuf, out);
        float sc[NP], mx = -1e30f, sum = 0.0f;
        for (int p = 0; p < NP; p++) {
            sc[p] = 0.0f;
            for (int d = 0; d < HD; d++) sc[p] += q[d] * kf[p][d];
            sc[p] *= 0.125f;
            mx = sc[p] > mx ? sc[p] : mx;
        }
        for (int p = 0; p < NP; p++) sum += sc[p] = expf(sc[p] - mx);
        for (int d = 0; d < HD; d++) {
            float o = 0.0f;
            for (int p = 0; p < NP; p++) o += sc[p] / sum * vf[p][d];
            CHECK(fabsf(o - out[d]) < 0.02f); /* the query's own Q8_0 rounding */
        }
    }
}

TEST_MAIN(TEST(test_mad_rows_match_reference), TEST(test_attention_matches_dequantized))
