/*
 * bench_quant.c - speed of each vec_dot variant (ref, AVX2, AVX-512) on one thread: a
 * rows x n matrix-vector product done row by row, reported as rows/s and weight GB/s.
 *
 * Not part of the CMake build (no bench target yet); build and run by hand:
 *   cmake --build build && cc -O2 -std=c17 -Isrc -Iinclude bench/bench_quant.c \
 *       build/libautoglm.a -lm -o build/bench_quant && ./build/bench_quant [n] [rows]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tensor/quant.h"

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC); /* C11; fine for 0.3 s intervals */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const int64_t n = argc > 1 ? atoll(argv[1]) : 4096;
    const int64_t rows = argc > 2 ? atoll(argv[2]) : 4096;
    if (n <= 0 || n % 32 || rows <= 0) {
        fprintf(stderr, "usage: bench_quant [n (multiple of 32; of 256 for the K types)] [rows]\n");
        return 2;
    }
    const ag_type types[] = {AG_TYPE_F32,  AG_TYPE_F16,  AG_TYPE_BF16, AG_TYPE_Q8_0, AG_TYPE_Q5_1,
                             AG_TYPE_Q5_0, AG_TYPE_Q4_1, AG_TYPE_Q4_0, AG_TYPE_Q6_K, AG_TYPE_Q5_K,
                             AG_TYPE_Q4_K, AG_TYPE_Q3_K, AG_TYPE_Q2_K};
    float *x = malloc((size_t)(n * rows) * sizeof(float)), *a = malloc((size_t)n * sizeof(float));
    if (!x || !a) return 1;
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int64_t i = 0; i < n * rows; i++) { /* uniform in [-1, 1) is enough for speed */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((double)(s >> 11) * 0x1p-52 - 1.0);
    }
    for (int64_t i = 0; i < n; i++) a[i] = x[i] * 0.5f;
    printf("%-5s %-7s %12s %10s\n", "type", "isa", "rows/s", "GB/s");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        if (n % ag_type_block_size(types[t])) continue; /* K types: rows of 256 */
        const ag_type_traits *ref = ag_type_traits_ref(types[t]);
        const size_t row_bytes = ag_type_row_size(types[t], n);
        char *w = malloc(row_bytes * (size_t)rows), *aq = malloc(ag_type_row_size(ref->vec_dot_type, n));
        float *out = malloc((size_t)rows * sizeof(float));
        if (!w || !aq || !out) return 1;
        for (int64_t r = 0; r < rows; r++) ref->from_float(x + r * n, w + (size_t)r * row_bytes, n);
        ag_type_traits_ref(ref->vec_dot_type)->from_float(a, aq, n);
        for (int isa = 0; isa < AG_ISA_COUNT; isa++) {
            const ag_type_traits *tr = ag_type_traits_isa(types[t], (ag_isa)isa);
            if (!tr) continue;
            int reps = 0;
            const double t0 = now_s();
            double t1 = t0;
            do { /* at least 0.3 s */
                for (int64_t r = 0; r < rows; r++) tr->vec_dot(n, &out[r], w + (size_t)r * row_bytes, aq);
                reps++;
                t1 = now_s();
            } while (t1 - t0 < 0.3);
            const double per = (t1 - t0) / reps;
            printf("%-5s %-7s %12.0f %10.2f\n", ag_type_name(types[t]), ag_isa_name((ag_isa)isa), (double)rows / per,
                   (double)row_bytes * (double)rows / per * 1e-9);
        }
        free(w);
        free(aq);
        free(out);
    }
    free(x);
    free(a);
    return 0;
}
