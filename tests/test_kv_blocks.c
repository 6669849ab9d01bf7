/*
 * test_kv_blocks.c - the KV cache in refcounted blocks (ag_kv_pool, model/kv_blocks.c):
 *   - logits bit-identical with and without a pool (F16, F32, Q8_0, Q4_0 caches; stories260K and
 *     a synthetic tiny model with head size 64; the gemma2 fixture, whose sliding window makes the
 *     runs of the cache start at odd positions), prompts read in chunks that cross block
 *     boundaries, single decode steps and batched ones (ag_session_eval_batch)
 *   - two sessions sharing a prefix by reference, then diverging (copy on write of the partial
 *     last block), each give the logits of computing alone; a prefix kept apart
 *     (ag_session_save_prefix) serves a later session after its source is gone; truncation
 *     releases blocks; every refcount returns to zero (the pool is empty at the end)
 *   - speculative decoding (draft and target caches in blocks, rolled back across block ends)
 *     gives the target's own greedy tokens; the pools are empty afterwards
 *   - a full pool is a clear AG_ERR_NOMEM and nothing is committed; the reclaim callback frees a
 *     kept prefix so that the eval succeeds; a pool of another model or KV type is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "autoglm/autoglm.h"
#include "autoglm/speculative.h"
#include "test.h"
#define AG_TEST_DEVICE "cpu" /* the KV block pool serves CPU sessions */
#include "test_models.h"


/* A synthetic tiny model (head size 64: the block KV types apply). */
static ag_model *load_tiny_layers(int n_layer) {
    char name[64], args[128];
    snprintf(name, sizeof name, "kv_blocks_tiny%d.gguf", n_layer);
    snprintf(args, sizeof args, "--shape tiny --type f16 --seed 5 --layers %d", n_layer);
    return ag_test_load_synthetic(name, args);
}

/* The gemma2 fixture (tests/data/arch: sliding window of 8 on every other layer, so runs of the
 * cache start at odd positions), converted here. */
static ag_model *load_gemma2(void) {
    const char *tmp = getenv("AUTOGLM_TEST_TMP");
    char dir[1024], out[1024];
    snprintf(dir, sizeof dir, "%s/data/arch/gemma2", AG_TEST_SOURCE_DIR);
    snprintf(out, sizeof out, "%s/kv_blocks_gemma2.gguf", tmp ? tmp : ".");
    ag_convert_params cp = {.type = "f32"};
    ag_error err = {0};
    if (ag_convert(dir, out, &cp, &err) != AG_OK) {
        fprintf(stderr, "gemma2 fixture: %s\n", err.msg);
        return NULL;
    }
    return ag_test_load(out);
}

static ag_model *load_tiny(void) { return load_tiny_layers(2); }

static ag_token argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* A prompt of n tokens (ids spread over the vocabulary, deterministic). */
static void make_prompt(ag_token *t, int n, int n_vocab, int salt) {
    for (int i = 0; i < n; i++) t[i] = (ag_token)(1 + (i * 37 + salt * 11) % (n_vocab - 1));
}

static bool same_logits(const ag_session *a, const ag_session *b, int nv) {
    const float *x = ag_session_logits(a, -1), *y = ag_session_logits(b, -1);
    return x && y && memcmp(x, y, (size_t)nv * sizeof(float)) == 0;
}

/* ---------------------------------------------------------------- identical logits */

static void check_identical(ag_model *m, const char *kv_type) {
    const int nv = ag_model_n_vocab(m);
    ag_error err = {0};
    ag_kv_pool *pool = ag_kv_pool_new(m, kv_type, 64, &err);
    CHECK_MSG(pool, "%s: %s", kv_type, err.msg);
    if (!pool) return;
    ag_session_params cp = {.n_ctx = 256, .n_batch = 24, .n_threads = 2, .kv_type = kv_type};
    ag_session_params bp = cp;
    bp.kv_pool = pool;
    ag_session *c[2], *b[2];
    for (int i = 0; i < 2; i++) {
        c[i] = ag_session_new(m, &cp, &err);
        b[i] = ag_session_new(m, &bp, &err);
        CHECK_MSG(c[i] && b[i], "%s", err.msg);
    }
    ag_token prompt[80];
    for (int i = 0; i < 2; i++) { /* 70 and 45 tokens in chunks of 24: chunks cross block ends */
        const int np = i ? 45 : 70;
        make_prompt(prompt, np, nv, i);
        CHECK(ag_session_eval(c[i], prompt, np, false, &err) == AG_OK);
        CHECK(ag_session_eval(b[i], prompt, np, false, &err) == AG_OK);
        CHECK_MSG(same_logits(c[i], b[i], nv), "%s: prompt %d", kv_type, i);
    }
    for (int k = 0; k < 30; k++) { /* decode: single steps, then batched ones */
        ag_token t[2] = {argmax(ag_session_logits(c[0], -1), nv), argmax(ag_session_logits(c[1], -1), nv)};
        if (k < 10) {
            for (int i = 0; i < 2; i++) {
                CHECK(ag_session_eval(c[i], &t[i], 1, false, &err) == AG_OK);
                CHECK(ag_session_eval(b[i], &t[i], 1, false, &err) == AG_OK);
            }
        } else {
            CHECK(ag_session_eval_batch(c, t, 2, &err) == AG_OK);
            CHECK_MSG(ag_session_eval_batch(b, t, 2, &err) == AG_OK, "%s", err.msg);
        }
        for (int i = 0; i < 2; i++) CHECK_MSG(same_logits(c[i], b[i], nv), "%s: step %d, sequence %d", kv_type, k, i);
    }
    CHECK(ag_session_kv_blocks(b[0]) == (70 + 30 + 31) / 32 && ag_session_kv_blocks(c[0]) == 0);
    for (int i = 0; i < 2; i++) {
        ag_session_free(c[i]);
        ag_session_free(b[i]);
    }
    CHECK(ag_kv_pool_n_used(pool) == 0);
    ag_kv_pool_free(pool);
}

static void test_identical_logits(void) {
    ag_model *s = ag_test_load_stories(), *t = load_tiny(), *g = load_gemma2();
    CHECK(s && t && g);
    if (g) { /* sliding window: runs of the cache from odd positions */
        check_identical(g, "f16");
        check_identical(g, "f32");
    }
    ag_model_free(g);
    if (s) {
        check_identical(s, "f16");
        check_identical(s, "f32");
    }
    if (t) {
        const char *types[] = {"f16", "f32", "q8_0", "q4_0"};
        for (int i = 0; i < 4; i++) check_identical(t, types[i]);
    }
    ag_model_free(s);
    ag_model_free(t);
}

/* ---------------------------------------------------------------- sharing */

/* Logits after evaluating a[0..n) alone, in a contiguous session, in one pass of n_batch chunks. */
static void alone(ag_model *m, const ag_token *a, int n1, const ag_token *more, int n2, float *out) {
    ag_error err = {0};
    ag_session_params sp = {.n_ctx = 256, .n_batch = 24, .n_threads = 2};
    ag_session *s = ag_session_new(m, &sp, &err);
    CHECK(ag_session_eval(s, a, n1, false, &err) == AG_OK);
    CHECK(ag_session_eval(s, more, n2, false, &err) == AG_OK);
    memcpy(out, ag_session_logits(s, -1), (size_t)ag_model_n_vocab(m) * sizeof(float));
    ag_session_free(s);
}

static void test_share_then_diverge(void) {
    ag_model *m = ag_test_load_stories();
    CHECK(m);
    if (!m) return;
    const int nv = ag_model_n_vocab(m), NP = 45; /* the shared prompt ends inside its second block */
    ag_error err = {0};
    ag_kv_pool *pool = ag_kv_pool_new(m, NULL, 32, &err);
    ag_session_params sp = {.n_ctx = 256, .n_batch = 24, .n_threads = 2, .kv_pool = pool};
    ag_session *a = ag_session_new(m, &sp, &err), *b = ag_session_new(m, &sp, &err);
    CHECK(a && b);
    ag_token sys[64], xa[20], xb[20];
    make_prompt(sys, NP, nv, 3);
    make_prompt(xa, 20, nv, 4);
    make_prompt(xb, 20, nv, 5);
    float *ref_a = malloc((size_t)nv * sizeof(float)), *ref_b = malloc((size_t)nv * sizeof(float));
    alone(m, sys, NP, xa, 20, ref_a);
    alone(m, sys, NP, xb, 20, ref_b);
    CHECK(ag_session_eval(a, sys, NP, false, &err) == AG_OK);
    CHECK(ag_kv_pool_n_used(pool) == 2);
    CHECK(ag_session_copy_prefix(b, a, NP, &err) == AG_OK); /* by reference: no new block */
    CHECK(ag_kv_pool_n_used(pool) == 2 && ag_session_kv_blocks(b) == 2 && ag_session_n_past(b) == NP);
    CHECK(ag_session_eval(b, xb, 20, false, &err) == AG_OK); /* copies the partial block, adds one */
    CHECK(ag_kv_pool_n_used(pool) == 4);
    CHECK(ag_session_eval(a, xa, 20, false, &err) == AG_OK); /* its partial block is its own again */
    CHECK(ag_kv_pool_n_used(pool) == 5);
    CHECK(memcmp(ag_session_logits(a, -1), ref_a, (size_t)nv * sizeof(float)) == 0);
    CHECK(memcmp(ag_session_logits(b, -1), ref_b, (size_t)nv * sizeof(float)) == 0);
    /* a prefix kept apart outlives its session */
    ag_kv_prefix *p = ag_session_save_prefix(a, NP, &err);
    CHECK(p && ag_kv_prefix_n_past(p) == NP);
    ag_session_free(a);
    CHECK(ag_kv_pool_n_used(pool) == 4); /* a's third block went back; the first two are p's and b's */
    ag_session *c = ag_session_new(m, &sp, &err);
    CHECK(ag_session_load_prefix(c, p, NP, &err) == AG_OK && ag_session_n_past(c) == NP);
    CHECK(ag_session_eval(c, xb, 20, false, &err) == AG_OK);
    CHECK(memcmp(ag_session_logits(c, -1), ref_b, (size_t)nv * sizeof(float)) == 0);
    /* a shorter part of the prefix, then truncation releasing blocks */
    CHECK(ag_session_load_prefix(c, p, 33, &err) == AG_OK && ag_session_kv_blocks(c) == 2);
    ag_session_truncate(c, 32);
    CHECK(ag_session_kv_blocks(c) == 1);
    ag_session_reset(c);
    CHECK(ag_session_kv_blocks(c) == 0);
    CHECK(ag_session_load_prefix(c, p, NP + 1, &err) == AG_ERR_INVALID_ARG);
    /* sharing into a contiguous session copies */
    ag_session_params cp = {.n_ctx = 256, .n_batch = 24, .n_threads = 2};
    ag_session *d = ag_session_new(m, &cp, &err);
    CHECK(ag_session_copy_prefix(d, b, NP, &err) == AG_OK);
    CHECK(ag_session_eval(d, xb, 20, false, &err) == AG_OK);
    CHECK(memcmp(ag_session_logits(d, -1), ref_b, (size_t)nv * sizeof(float)) == 0);
    ag_session_free(d);
    ag_session_free(b);
    ag_session_free(c);
    CHECK(ag_kv_pool_n_used(pool) == 2); /* p alone */
    ag_kv_prefix_free(p);
    CHECK(ag_kv_pool_n_used(pool) == 0);
    ag_kv_pool_free(pool);
    free(ref_a);
    free(ref_b);
    ag_model_free(m);
}

/* ---------------------------------------------------------------- a full pool */

static bool drop_prefix(void *ctx) {
    ag_kv_prefix **p = ctx;
    if (!*p) return false;
    ag_kv_prefix_free(*p);
    *p = NULL;
    return true;
}

static void test_exhaustion(void) {
    ag_model *m = ag_test_load_stories(), *t = load_tiny();
    CHECK(m && t);
    if (!m || !t) return;
    const int nv = ag_model_n_vocab(m);
    ag_error err = {0};
    ag_kv_pool *pool = ag_kv_pool_new(m, "f16", 2, &err);
    ag_session_params sp = {.n_ctx = 256, .n_threads = 2, .kv_pool = pool};
    ag_session *s = ag_session_new(m, &sp, &err);
    ag_token prompt[100];
    make_prompt(prompt, 100, nv, 7);
    CHECK(ag_session_eval(s, prompt, 70, false, &err) == AG_ERR_NOMEM);
    CHECK_MSG(strstr(err.msg, "KV block pool is full") != NULL, "%s", err.msg);
    CHECK(ag_session_n_past(s) == 0);
    ag_session_reset(s);
    CHECK(ag_kv_pool_n_used(pool) == 0);
    /* a kept prefix holds one block; the reclaim callback lets it go when a session needs it */
    CHECK(ag_session_eval(s, prompt, 40, false, &err) == AG_OK);
    ag_kv_prefix *kept = ag_session_save_prefix(s, 32, &err);
    ag_session_truncate(s, 0);
    CHECK(ag_kv_pool_n_used(pool) == 1);
    CHECK(ag_session_eval(s, prompt + 50, 50, false, &err) == AG_ERR_NOMEM); /* 2 blocks, 1 free */
    ag_session_reset(s);
    ag_kv_pool_set_reclaim(pool, drop_prefix, &kept);
    CHECK_MSG(ag_session_eval(s, prompt + 50, 50, false, &err) == AG_OK, "%s", err.msg);
    CHECK(kept == NULL && ag_kv_pool_n_used(pool) == 2);
    /* refused: another KV type than the pool's, another model's pool, a pool of no blocks */
    ag_session_params bad = sp;
    bad.kv_type = "f32";
    CHECK(ag_session_new(m, &bad, &err) == NULL && err.code == AG_ERR_INVALID_ARG);
    CHECK(ag_session_new(t, &sp, &err) == NULL && err.code == AG_ERR_INVALID_ARG);
    CHECK(ag_kv_pool_new(m, "f16", 0, &err) == NULL);
    CHECK(ag_kv_pool_new(m, "q8_0", 4, &err) == NULL); /* stories260K's heads are 8 wide */
    /* a prefix of a contiguous session cannot be kept apart */
    ag_session_params cp = {.n_ctx = 64, .n_threads = 2};
    ag_session *c = ag_session_new(m, &cp, &err);
    CHECK(ag_session_eval(c, prompt, 10, false, &err) == AG_OK);
    CHECK(ag_session_save_prefix(c, 10, &err) == NULL && err.code == AG_ERR_UNSUPPORTED);
    ag_session_free(c);
    ag_session_free(s);
    CHECK(ag_kv_pool_n_used(pool) == 0);
    ag_kv_pool_free(pool);
    ag_model_free(m);
    ag_model_free(t);
}

/* ---------------------------------------------------------------- speculative decoding */

/* The tiny target and its one-layer draft (partly accepted: the caches are rolled back, across
 * block ends) with caches in blocks give the target's own greedy tokens. */
static void test_speculative_rollback(void) {
    ag_model *t = load_tiny(), *d = load_tiny_layers(1);
    CHECK(t && d);
    if (!t || !d) return;
    enum { N = 90 };
    const int nv = ag_model_n_vocab(t);
    ag_error err = {0};
    ag_token prompt[20], want[N], got[N + 16];
    make_prompt(prompt, 20, nv, 9);
    ag_session_params cp = {.n_ctx = 160, .n_threads = 2};
    ag_session *plain = ag_session_new(t, &cp, &err);
    CHECK(ag_session_eval(plain, prompt, 20, false, &err) == AG_OK);
    for (int k = 0; k < N; k++) {
        want[k] = argmax(ag_session_logits(plain, -1), nv);
        CHECK(ag_session_eval(plain, &want[k], 1, false, &err) == AG_OK);
    }
    ag_session_free(plain);
    ag_kv_pool *tp = ag_kv_pool_new(t, NULL, 8, &err), *dp = ag_kv_pool_new(d, NULL, 8, &err);
    ag_session_params tsp = {.n_ctx = 160, .n_threads = 2, .kv_pool = tp}, dsp = {.n_ctx = 160, .n_threads = 2, .kv_pool = dp};
    ag_session *ts = ag_session_new(t, &tsp, &err), *ds = ag_session_new(d, &dsp, &err);
    ag_sampler_params smp_p = ag_sampler_default_params();
    smp_p.temperature = 0;
    smp_p.repeat_penalty = 1.0f;
    ag_sampler *smp = ag_sampler_new(&smp_p, nv, 160);
    ag_speculative *sp = ag_speculative_new(t, ts, d, ds, 6, &err);
    CHECK_MSG(sp && ag_speculative_feed(sp, prompt, 20, &err) == AG_OK, "%s", err.msg);
    int k = 0;
    while (sp && k < N) {
        const int n = ag_speculative_step(sp, smp, got + k, N + 16 - k, &err);
        CHECK_MSG(n >= 1, "%s", err.msg);
        if (n < 1) break;
        k += n;
    }
    CHECK(k >= N && memcmp(got, want, sizeof want) == 0);
    long long drafted = 0, accepted = 0;
    if (sp) ag_speculative_stats(sp, &drafted, &accepted);
    CHECK(drafted > accepted); /* some proposals were rolled back */
    ag_speculative_free(sp);
    ag_sampler_free(smp);
    ag_session_free(ts);
    ag_session_free(ds);
    CHECK(ag_kv_pool_n_used(tp) == 0 && ag_kv_pool_n_used(dp) == 0);
    ag_kv_pool_free(tp);
    ag_kv_pool_free(dp);
    ag_model_free(t);
    ag_model_free(d);
}

TEST_MAIN(TEST(test_identical_logits), TEST(test_share_then_diverge), TEST(test_exhaustion), TEST(test_speculative_rollback))
