/*
 * membw.c - ag_measure_read_bandwidth: how fast this machine streams memory into the cores,
 * the bound that decode speed is judged against (bytes of weights per token / bandwidth).
 * Each thread sums its slice with the widest loads available (AVX-512, AVX2, or scalar).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoglm/autoglm.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static uint64_t sum_avx512(const uint8_t *p, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(p + i + 64)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(p + i + 128)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(p + i + 192)));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    return (uint64_t)_mm512_reduce_add_epi64(a0);
}

__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
    }
    a0 = _mm256_add_epi64(a0, a1);
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, a0);
    return out[0] + out[1] + out[2] + out[3];
}
#endif

static uint64_t sum_scalar(const uint8_t *p, size_t n) {
    const uint64_t *q = (const uint64_t *)p;
    uint64_t s = 0;
    for (size_t i = 0; i < n / 8; i++) s += q[i];
    return s;
}

typedef struct {
    const uint8_t *p;
    size_t n;
    uint64_t sum;
} slice;

static void *read_slice(void *arg) {
    slice *s = arg;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) s->sum = sum_avx512(s->p, s->n);
    else if (__builtin_cpu_supports("avx2")) s->sum = sum_avx2(s->p, s->n);
    else
#endif
        s->sum = sum_scalar(s->p, s->n);
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double ag_measure_read_bandwidth(size_t bytes, int n_threads, int reps) {
    if (n_threads < 1 || n_threads > 256 || reps < 1 || bytes < (size_t)n_threads * 4096) return 0;
    bytes = bytes / ((size_t)n_threads * 256) * ((size_t)n_threads * 256);
    uint8_t *buf = aligned_alloc(64, bytes);
    if (!buf) return 0;
    memset(buf, 1, bytes); /* touch every page */
    slice s[256];
    pthread_t th[256];
    double best = 0;
    volatile uint64_t sink = 0;
    for (int r = 0; r < reps; r++) {
        const size_t per = bytes / (size_t)n_threads;
        double t0 = now();
        for (int i = 0; i < n_threads; i++) {
            s[i] = (slice){buf + (size_t)i * per, per, 0};
            if (i > 0 && pthread_create(&th[i], NULL, read_slice, &s[i]) != 0) read_slice(&s[i]), th[i] = 0;
        }
        read_slice(&s[0]);
        for (int i = 1; i < n_threads; i++)
            if (th[i]) pthread_join(th[i], NULL);
        double dt = now() - t0;
        for (int i = 0; i < n_threads; i++) sink += s[i].sum;
        if (dt > 0 && bytes / dt > best) best = bytes / dt;
    }
    (void)sink;
    free(buf);
    return best;
}
