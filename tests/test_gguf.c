/*
 * test_gguf.c - the GGUF reader and writer: a round trip of every value type (nested arrays
 * and arrays of strings included) and of tensors; the real shared files; and one damaged file
 * per kind of corruption, each failing with AG_ERR_FORMAT and a message naming the problem.
 * Every prefix of a small valid file must fail cleanly (or parse), never crash.
 */
#include <stdio.h>

#include "gguf/gguf.h"
#include "test.h"

/* A small model-like file in memory: every value type and three tensors. */
static void *make_file(size_t *len) {
    ag_gguf_writer *w = ag_gguf_writer_new();
    static const float F[3] = {1.5f, -2.0f, 3.25f};
    static const int32_t I[4] = {-1, 0, 1, 2147483647};
    static const uint8_t B[2] = {1, 0};
    const char *strs[3] = {"a", "", "\xe4\xb8\xad"};
    CHECK(ag_gguf_set_str(w, "general.architecture", "llama") == AG_OK);
    CHECK(ag_gguf_set_u32(w, "llama.block_count", 7) == AG_OK);
    CHECK(ag_gguf_set_i32(w, "test.i32", -5) == AG_OK);
    CHECK(ag_gguf_set_u64(w, "test.u64", 1ull << 40) == AG_OK);
    CHECK(ag_gguf_set_f32(w, "test.f32", 0.125f) == AG_OK);
    CHECK(ag_gguf_set_bool(w, "test.bool", true) == AG_OK);
    CHECK(ag_gguf_set_arr_data(w, "test.arr_f32", AG_GGUF_FLOAT32, F, 3) == AG_OK);
    CHECK(ag_gguf_set_arr_data(w, "test.arr_i32", AG_GGUF_INT32, I, 4) == AG_OK);
    CHECK(ag_gguf_set_arr_data(w, "test.arr_bool", AG_GGUF_BOOL, B, 2) == AG_OK);
    CHECK(ag_gguf_set_arr_str(w, "test.arr_str", strs, 3) == AG_OK);
    CHECK(ag_gguf_set_u32(w, "test.replaced", 1) == AG_OK);
    CHECK(ag_gguf_set_u32(w, "test.replaced", 2) == AG_OK);
    float a[64], b[32 * 2];
    for (int i = 0; i < 64; i++) a[i] = (float)i;
    for (int i = 0; i < 64; i++) b[i] = (float)-i;
    int64_t ne_a[2] = {16, 4}, ne_b[1] = {64};
    CHECK(ag_gguf_add_tensor(w, "a.weight", AG_TYPE_F32, 2, ne_a, a, true) == AG_OK);
    CHECK(ag_gguf_add_tensor(w, "b.weight", AG_TYPE_F32, 1, ne_b, b, false) == AG_OK);
    CHECK(ag_gguf_add_tensor(w, "a.weight", AG_TYPE_F32, 1, ne_b, b, true) == AG_ERR_INVALID_ARG);
    int64_t ne_bad[1] = {33};
    CHECK(ag_gguf_add_tensor(w, "q", AG_TYPE_Q4_0, 1, ne_bad, b, true) == AG_ERR_INVALID_ARG);
    void *out = NULL;
    ag_error err;
    CHECK(ag_gguf_writer_write_memory(w, &out, len, &err) == AG_OK);
    ag_gguf_writer_free(w);
    return out;
}

static void test_round_trip(void) {
    size_t len;
    void *buf = make_file(&len);
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open_memory(buf, len, &err);
    CHECK_MSG(f != NULL, "%s", err.msg);
    if (!f) return;
    CHECK(ag_gguf_version(f) == 3);
    CHECK(ag_gguf_kv_count(f) == 11);
    uint32_t u = 0;
    int64_t i64 = 0;
    float x = 0;
    bool bv = false;
    ag_gguf_str s;
    CHECK(ag_gguf_get_u32(f, "llama.block_count", &u, &err) == AG_OK && u == 7);
    CHECK(ag_gguf_get_i64(f, "test.i32", &i64, &err) == AG_OK && i64 == -5);
    CHECK(ag_gguf_get_i64(f, "test.u64", &i64, &err) == AG_OK && i64 == 1ll << 40);
    CHECK(ag_gguf_get_f32(f, "test.f32", &x, &err) == AG_OK && x == 0.125f);
    CHECK(ag_gguf_get_bool(f, "test.bool", &bv, &err) == AG_OK && bv);
    CHECK(ag_gguf_get_str(f, "general.architecture", &s, &err) == AG_OK && ag_gguf_str_eq(s, "llama"));
    CHECK(ag_gguf_get_u32(f, "test.replaced", &u, &err) == AG_OK && u == 2);
    /* wrong type and range errors name the key */
    CHECK(ag_gguf_get_u32(f, "test.i32", &u, &err) == AG_ERR_FORMAT && strstr(err.msg, "test.i32"));
    CHECK(ag_gguf_get_u32(f, "test.u64", &u, &err) == AG_ERR_FORMAT && strstr(err.msg, "out of range"));
    CHECK(ag_gguf_get_str(f, "test.f32", &s, &err) == AG_ERR_FORMAT && strstr(err.msg, "expected string"));
    CHECK(ag_gguf_get_u32(f, "nope", &u, &err) == AG_ERR_FORMAT && strstr(err.msg, "missing key 'nope'"));
    const ag_gguf_value *arr;
    CHECK(ag_gguf_get_arr(f, "test.arr_f32", AG_GGUF_FLOAT32, &arr, &err) == AG_OK);
    CHECK(arr->arr.count == 3 && ag_gguf_arr_f64(arr, 2) == 3.25);
    CHECK(ag_gguf_get_arr(f, "test.arr_i32", AG_GGUF_INT32, &arr, &err) == AG_OK);
    CHECK(ag_gguf_arr_i64(arr, 0) == -1 && ag_gguf_arr_i64(arr, 3) == 2147483647);
    CHECK(ag_gguf_get_arr(f, "test.arr_bool", AG_GGUF_BOOL, &arr, &err) == AG_OK && ag_gguf_arr_i64(arr, 0) == 1);
    CHECK(ag_gguf_get_arr(f, "test.arr_str", AG_GGUF_STRING, &arr, &err) == AG_OK);
    CHECK(arr->arr.count == 3 && ag_gguf_str_eq(arr->arr.items[2].s, "\xe4\xb8\xad") && arr->arr.items[1].s.len == 0);
    CHECK(ag_gguf_get_arr(f, "test.arr_str", AG_GGUF_INT32, &arr, &err) == AG_ERR_FORMAT);
    CHECK(ag_gguf_tensor_count(f) == 2);
    const ag_gguf_tensor *t = ag_gguf_find_tensor(f, "a.weight");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 16 && t->ne[1] == 4 && t->nbytes == 256);
    CHECK(t && ((const float *)t->data)[63] == 63.0f);
    t = ag_gguf_find_tensor(f, "b.weight");
    CHECK(t && ((const float *)t->data)[5] == -5.0f && ((const uint8_t *)t->data - (const uint8_t *)buf) % 32 == 0);
    CHECK(ag_gguf_find_tensor(f, "c.weight") == NULL);
    /* copying every key/value into a new writer gives the same metadata bytes */
    ag_gguf_writer *w = ag_gguf_writer_new();
    CHECK(ag_gguf_copy_kv(w, f) == AG_OK);
    void *copy = NULL;
    size_t copy_len = 0;
    CHECK(ag_gguf_writer_write_memory(w, &copy, &copy_len, &err) == AG_OK);
    ag_gguf_file *g = copy ? ag_gguf_open_memory(copy, copy_len, &err) : NULL;
    CHECK(g && ag_gguf_kv_count(g) == 11 && ag_gguf_tensor_count(g) == 0);
    CHECK(g && ag_gguf_get_arr(g, "test.arr_str", AG_GGUF_STRING, &arr, &err) == AG_OK && arr->arr.count == 3);
    ag_gguf_close(g);
    ag_gguf_writer_free(w);
    free(copy);
    ag_gguf_close(f);
    free(buf);
}

static void test_every_prefix_fails_cleanly(void) {
    size_t len;
    uint8_t *buf = make_file(&len);
    int parsed = 0;
    for (size_t cut = 0; cut < len; cut++) {
        ag_error err = {0};
        ag_gguf_file *f = ag_gguf_open_memory(buf, cut, &err);
        if (f) parsed++;
        else CHECK_MSG(err.code == AG_ERR_FORMAT && err.msg[0], "prefix %zu: code %d", cut, err.code);
        ag_gguf_close(f);
    }
    CHECK(parsed == 0); /* the last tensor's data ends at the end of the file */
    free(buf);
}

/* Opens buf after `edit` and expects failure with msg in the message. */
static void expect_error(const uint8_t *buf, size_t len, const char *msg) {
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open_memory(buf, len, &err);
    CHECK_MSG(f == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, msg), "wanted '%s', got '%s'", msg, err.msg);
    ag_gguf_close(f);
}

static size_t find(const uint8_t *buf, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0) return i;
    return 0;
}

static void test_corruptions(void) {
    size_t len;
    uint8_t *good = make_file(&len), *buf = malloc(len + 64);
    uint64_t big = 1ull << 60;
    uint32_t u32;
#define RESET() memcpy(buf, good, len)
    RESET(); buf[3] = 'X'; expect_error(buf, len, "magic");
    RESET(); u32 = 9; memcpy(buf + 4, &u32, 4); expect_error(buf, len, "version 9");
    RESET(); u32 = 1; memcpy(buf + 4, &u32, 4); expect_error(buf, len, "version 1");
    RESET(); memcpy(buf + 8, &big, 8); expect_error(buf, len, "tensors");       /* absurd tensor count */
    RESET(); memcpy(buf + 16, &big, 8); expect_error(buf, len, "key/values");   /* absurd key count */
    /* the string length of the first key */
    RESET(); memcpy(buf + 24, &big, 8); expect_error(buf, len, "string length");
    /* a tensor's info: name, n_dims, ne..., type, offset */
    size_t ti = find(good, len, "b.weight") + 8; /* after the name: n_dims */
    RESET(); u32 = 5; memcpy(buf + ti, &u32, 4); expect_error(buf, len, "dimensions");
    RESET(); memcpy(buf + ti + 4, &big, 8); expect_error(buf, len, "b.weight");               /* absurd ne[0] */
    uint64_t zero = 0;
    RESET(); memcpy(buf + ti + 4, &zero, 8); expect_error(buf, len, "dimension 0");
    RESET(); u32 = 77; memcpy(buf + ti + 12, &u32, 4); expect_error(buf, len, "unknown type 77");
    RESET(); u32 = AG_TYPE_Q4_K; memcpy(buf + ti + 12, &u32, 4); expect_error(buf, len, "block size");
    uint64_t off = 3;
    RESET(); memcpy(buf + ti + 16, &off, 8); expect_error(buf, len, "not aligned");
    off = 1ull << 40;
    RESET(); memcpy(buf + ti + 16, &off, 8); expect_error(buf, len, "past end of file");
    /* duplicate tensor name: rename b.weight to a.weight */
    RESET(); buf[ti - 8] = 'a'; expect_error(buf, len, "duplicate tensor name 'a.weight'");
    /* duplicate key: rename test.i32 to test.u64-like clash */
    size_t k = find(good, len, "test.i32");
    RESET(); memcpy(buf + k, "test.f32", 8);
    size_t k2 = find(good, len, "test.f32");
    CHECK(k2 > k); /* the later one clashes */
    expect_error(buf, len, "duplicate key 'test.f32'");
    /* unknown value type of the first key */
    size_t t0 = 24 + 8 + strlen("general.architecture");
    RESET(); u32 = 99; memcpy(buf + t0, &u32, 4); expect_error(buf, len, "unknown value type 99");
    /* absurd array count */
    size_t a = find(good, len, "test.arr_f32") + strlen("test.arr_f32") + 4 + 4; /* type ARRAY, elem type */
    RESET(); memcpy(buf + a, &big, 8); expect_error(buf, len, "array of");
    expect_error(good, 7, "truncated");
#undef RESET
    free(buf);
    free(good);
}

static void test_nested_arrays(void) {
    /* hand-built: one key whose value is array[array[u8]] = [[1, 2], [3]] */
    uint8_t buf[256];
    size_t n = 0;
#define PUT(v, sz) do { uint64_t tmp_ = (uint64_t)(v); memcpy(buf + n, &tmp_, sz); n += sz; } while (0)
    memcpy(buf, "GGUF", 4); n = 4;
    PUT(3, 4); PUT(0, 8); PUT(1, 8);
    PUT(4, 8); memcpy(buf + n, "nest", 4); n += 4;
    PUT(AG_GGUF_ARRAY, 4); PUT(AG_GGUF_ARRAY, 4); PUT(2, 8);
    PUT(AG_GGUF_UINT8, 4); PUT(2, 8); PUT(1, 1); PUT(2, 1);
    PUT(AG_GGUF_UINT8, 4); PUT(1, 8); PUT(3, 1);
#undef PUT
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open_memory(buf, n, &err);
    CHECK_MSG(f != NULL, "%s", err.msg);
    if (!f) return;
    const ag_gguf_value *v = &ag_gguf_find_kv(f, "nest")->value;
    CHECK(v->type == AG_GGUF_ARRAY && v->arr.count == 2 && v->arr.items);
    CHECK(v->arr.items[0].arr.count == 2 && ag_gguf_arr_i64(&v->arr.items[0], 1) == 2);
    CHECK(v->arr.items[1].arr.count == 1 && ag_gguf_arr_i64(&v->arr.items[1], 0) == 3);
    ag_gguf_close(f);
    /* nesting deeper than the limit is refused */
    uint8_t deep[1024];
    memcpy(deep, buf, 24);
    n = 24;
    uint64_t klen = 4;
    memcpy(deep + n, &klen, 8); n += 8;
    memcpy(deep + n, "deep", 4); n += 4;
    uint32_t arr_t = AG_GGUF_ARRAY;
    memcpy(deep + n, &arr_t, 4); n += 4;
    for (int d = 0; d < 40; d++) {
        uint64_t one = 1;
        memcpy(deep + n, &arr_t, 4); n += 4;
        memcpy(deep + n, &one, 8); n += 8;
    }
    expect_error(deep, n, "nested");
}

static void test_shared_files(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", ag_test_shared_dir());
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open(path, &err);
    CHECK_MSG(f != NULL, "%s: %s", path, err.msg);
    if (f) {
        uint32_t n = 0;
        ag_gguf_str arch;
        CHECK(ag_gguf_version(f) == 3 && ag_gguf_tensor_count(f) == 48);
        CHECK(ag_gguf_get_u32(f, "llama.embedding_length", &n, &err) == AG_OK && n == 64);
        CHECK(ag_gguf_get_str(f, "general.architecture", &arch, &err) == AG_OK && ag_gguf_str_eq(arch, "llama"));
        const ag_gguf_tensor *t = ag_gguf_find_tensor(f, "token_embd.weight");
        CHECK(t && t->ne[0] == 64 && t->ne[1] == 512 && t->type == AG_TYPE_F32);
        ag_gguf_close(f);
    }
    const char *names[] = {"tiny256-q4_0.gguf", "tiny256-q4_k_m.gguf", "tiny256-bf16.gguf"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/reference/models/%s", ag_test_shared_dir(), names[i]);
        f = ag_gguf_open(path, &err);
        CHECK_MSG(f != NULL, "%s: %s", path, err.msg);
        ag_gguf_close(f);
    }
    f = ag_gguf_open("/nonexistent/x.gguf", &err);
    CHECK(f == NULL && err.code == AG_ERR_IO && strstr(err.msg, "cannot open"));
}

TEST_MAIN(TEST(test_round_trip), TEST(test_every_prefix_fails_cleanly), TEST(test_corruptions),
          TEST(test_nested_arrays), TEST(test_shared_files))
