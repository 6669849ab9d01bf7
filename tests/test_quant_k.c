/*
 * test_quant_k.c - the K-quant kernels (Q2_K..Q6_K weights, Q8_K activations): known blocks
 * decoded by hand, round-trip error bounds, every SIMD vec_dot against the scalar reference,
 * the dot products against the dequantized values, and our quantizer's bytes against the
 * reference implementation's files (tiny256-q*_k*.gguf, quantized from tiny256-f16.gguf).
 */
#include <stdint.h>

#include "gguf/gguf.h"
#include "tensor/quant.h"
#include "test.h"

static const ag_type KTYPES[] = {AG_TYPE_Q2_K, AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K, AG_TYPE_Q6_K};
#define N_KTYPES ((int)(sizeof KTYPES / sizeof KTYPES[0]))

typedef struct { uint64_t s; } rng;

static uint64_t rng_u64(rng *r) { /* xorshift64* */
    r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(rng *r) { return (double)(rng_u64(r) >> 11) * 0x1p-53; } /* [0, 1) */

static inline float rng_normal(rng *r) { /* Box-Muller */
    const double u = rng_unit(r) + 0x1p-60, v = rng_unit(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

/* ---------------------------------------------------------------- reference files */

/* Quantizing the F16 weights with our reference quantizer must give the reference file's
 * bytes for every tensor of a K type. */
static void test_reference_bytes(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/models/tiny256-f16.gguf", ag_test_shared_dir());
    ag_gguf_file *src = ag_gguf_open(path, NULL);
    if (!src) {
        fprintf(stderr, "  (%s not readable: skipped)\n", path);
        return;
    }
    const char *files[] = {"q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"};
    long blocks[AG_TYPE_COUNT] = {0}, differ[AG_TYPE_COUNT] = {0};
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        snprintf(path, sizeof path, "%s/reference/models/tiny256-%s.gguf", ag_test_shared_dir(), files[fi]);
        ag_gguf_file *q = ag_gguf_open(path, NULL);
        CHECK_MSG(q != NULL, "%s", path);
        for (int64_t i = 0; q && i < ag_gguf_tensor_count(q); i++) {
            const ag_gguf_tensor *t = ag_gguf_tensor_at(q, i);
            if (t->type < AG_TYPE_Q2_K || t->type > AG_TYPE_Q6_K) continue;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
            const ag_gguf_tensor *s = ag_gguf_find_tensor(src, name);
            CHECK_MSG(s && s->type == AG_TYPE_F16 && s->ne[0] == t->ne[0] && s->ne[1] == t->ne[1], "%s", name);
            if (!s) continue;
            const int64_t n = t->ne[0] * t->ne[1];
            const size_t bs = ag_type_size(t->type);
            float *x = xmalloc((size_t)n * sizeof(float));
            uint8_t *mine = xmalloc(ag_type_row_size(t->type, n));
            ag_type_traits_ref(AG_TYPE_F16)->to_float(s->data, x, n);
            ag_type_traits_ref(t->type)->from_float(x, mine, n);
            long d = 0;
            for (int64_t b = 0; b < n / 256; b++)
                if (memcmp(mine + b * bs, (const uint8_t *)t->data + b * bs, bs) != 0) d++;
            blocks[t->type] += n / 256;
            differ[t->type] += d;
            if (d) fprintf(stderr, "  %s %s (%s): %ld of %lld blocks differ\n", files[fi], name, ag_type_name(t->type), d, (long long)(n / 256));
            free(x);
            free(mine);
        }
        ag_gguf_close(q);
    }
    for (int i = 0; i < N_KTYPES; i++) {
        const ag_type t = KTYPES[i];
        fprintf(stderr, "  %s: %ld blocks, %ld differ\n", ag_type_name(t), blocks[t], differ[t]);
        CHECK_MSG(blocks[t] > 0 && differ[t] == 0, "%s: %ld of %ld blocks differ from the reference files", ag_type_name(t),
                  differ[t], blocks[t]);
    }
    ag_gguf_close(src);
}

TEST_MAIN(TEST(test_reference_bytes))
