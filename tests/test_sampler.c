/*
 * test_sampler.c - the samplers: greedy picks the argmax, top_k/top_p/min_p restrict the draw
 * to the expected set, the repeat penalty changes the choice, a seed makes draws repeatable,
 * and temperature shapes the distribution.
 */
#include "autoglm/autoglm.h"
#include "test.h"

static ag_sampler_params plain(void) {
    ag_sampler_params p = ag_sampler_default_params();
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.repeat_penalty = 1;
    p.seed = 42;
    return p;
}

static void test_greedy(void) {
    ag_sampler_params p = plain();
    p.temperature = 0;
    const float logits[5] = {0.1f, 2.0f, -1.0f, 1.9f, 2.0f};
    ag_sampler *s = ag_sampler_new(&p, 5, 16);
    CHECK(ag_sampler_sample(s, logits) == 1); /* ties: lowest id */
    ag_sampler_free(s);
}

static void test_repeat_penalty(void) {
    ag_sampler_params p = plain();
    p.temperature = 0;
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 4;
    const float logits[3] = {3.0f, 2.5f, -1.0f};
    ag_sampler *s = ag_sampler_new(&p, 3, 16);
    CHECK(ag_sampler_sample(s, logits) == 0);
    ag_sampler_accept(s, 0); /* 3.0 / 1.5 = 2.0 < 2.5 */
    CHECK(ag_sampler_sample(s, logits) == 1);
    for (int i = 0; i < 4; i++) ag_sampler_accept(s, 2); /* token 0 falls out of the window */
    CHECK(ag_sampler_sample(s, logits) == 0);
    ag_sampler_free(s);
}

static int draw_counts(ag_sampler_params p, const float *logits, int n, int draws, int *counts) {
    ag_sampler *s = ag_sampler_new(&p, n, 16);
    for (int i = 0; i < n; i++) counts[i] = 0;
    for (int i = 0; i < draws; i++) {
        ag_token t = ag_sampler_sample(s, logits);
        if (t < 0 || t >= n) return -1;
        counts[t]++;
    }
    ag_sampler_free(s);
    return 0;
}

static void test_top_k_top_p_min_p(void) {
    const float logits[6] = {5.0f, 4.0f, 3.0f, 2.0f, 1.0f, 0.0f};
    int c[6];
    ag_sampler_params p = plain();
    p.temperature = 1;
    p.top_k = 2;
    CHECK(draw_counts(p, logits, 6, 2000, c) == 0);
    CHECK(c[0] > 0 && c[1] > 0 && c[2] + c[3] + c[4] + c[5] == 0);
    /* probabilities at T=1: 0.636, 0.234, 0.086, ... ; top_p 0.8 keeps {0, 1} */
    p = plain();
    p.temperature = 1;
    p.top_p = 0.8f;
    CHECK(draw_counts(p, logits, 6, 2000, c) == 0);
    CHECK(c[0] > 0 && c[1] > 0 && c[2] + c[3] + c[4] + c[5] == 0);
    /* min_p 0.1: keep p >= 0.0636 -> {0, 1, 2} */
    p = plain();
    p.temperature = 1;
    p.min_p = 0.1f;
    CHECK(draw_counts(p, logits, 6, 4000, c) == 0);
    CHECK(c[2] > 0 && c[3] + c[4] + c[5] == 0);
    /* the frequencies follow the distribution: token 0 about 64% of draws */
    p = plain();
    p.temperature = 1;
    CHECK(draw_counts(p, logits, 6, 20000, c) == 0);
    CHECK_NEAR(c[0] / 20000.0, 0.636, 0.02);
    /* a low temperature concentrates the mass */
    p.temperature = 0.25f;
    CHECK(draw_counts(p, logits, 6, 2000, c) == 0);
    CHECK(c[0] > 1900);
}

static void test_seed_repeatable(void) {
    const float logits[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    ag_sampler_params p = plain();
    p.temperature = 1;
    ag_sampler *a = ag_sampler_new(&p, 4, 16), *b = ag_sampler_new(&p, 4, 16);
    int same = 0, seen[4] = {0};
    for (int i = 0; i < 200; i++) {
        ag_token x = ag_sampler_sample(a, logits), y = ag_sampler_sample(b, logits);
        same += x == y;
        seen[x] = 1;
    }
    CHECK(same == 200);
    CHECK(seen[0] && seen[1] && seen[2] && seen[3]);
    p.seed = 43;
    ag_sampler *c = ag_sampler_new(&p, 4, 16);
    ag_sampler_reset(a);
    int differ = 0;
    for (int i = 0; i < 200; i++) differ += ag_sampler_sample(a, logits) != ag_sampler_sample(c, logits);
    CHECK(differ > 50);
    ag_sampler_free(a);
    ag_sampler_free(b);
    ag_sampler_free(c);
}

TEST_MAIN(TEST(test_greedy), TEST(test_repeat_penalty), TEST(test_top_k_top_p_min_p), TEST(test_seed_repeatable))
