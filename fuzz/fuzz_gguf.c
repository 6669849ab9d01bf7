/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader: any bytes are opened from memory; when
 * they parse, every key/value (nested arrays included) and every tensor is walked and the first
 * and last byte of each tensor's data is read, so a validation gap shows up as an ASan report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static volatile uint64_t sink;

/* the bits of x: converting a double outside uint64_t's range would be undefined */
static uint64_t f64_bits(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static void walk_value(const ag_gguf_value *v) {
    switch (v->type) {
    case AG_GGUF_STRING:
        if (v->s.len) sink += (uint8_t)v->s.data[0] + (uint8_t)v->s.data[v->s.len - 1];
        break;
    case AG_GGUF_ARRAY:
        for (uint64_t i = 0; i < v->arr.count; i++) {
            if (v->arr.items) walk_value(&v->arr.items[i]);
            else sink += (uint64_t)ag_gguf_arr_i64(v, i) + f64_bits(ag_gguf_arr_f64(v, i));
        }
        break;
    default: sink += v->u; break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ag_error err;
    ag_gguf_file *f = ag_gguf_open_memory(data, size, &err);
    if (!f) return 0;
    for (int64_t i = 0; i < ag_gguf_kv_count(f); i++) walk_value(&ag_gguf_kv_at(f, i)->value);
    for (int64_t i = 0; i < ag_gguf_tensor_count(f); i++) {
        const ag_gguf_tensor *t = ag_gguf_tensor_at(f, i);
        const uint8_t *p = t->data;
        if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
        if (ag_gguf_find_tensor(f, "token_embd.weight")) sink++;
    }
    uint32_t u;
    float x;
    ag_gguf_str s;
    ag_gguf_get_u32(f, "general.alignment", &u, &err);
    ag_gguf_get_f32(f, "llama.rope.freq_base", &x, &err);
    ag_gguf_get_str(f, "general.architecture", &s, &err);
    ag_gguf_close(f);
    return 0;
}
