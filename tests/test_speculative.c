/*
 * test_speculative.c - speculative decoding (autoglm/speculative.h) gives exactly the tokens of
 * decoding with the target alone: stories260K as target and as its own draft, and a synthetic
 * tiny target (2 layers) with a draft made of its first layer (same seed, --layers 1; gen_synthetic,
 * next to the test programs' folder), for several prompts and draft_max 1..8, greedy and sampled
 * with a fixed seed; a feed after a truncated session continues correctly; a draft with another
 * vocabulary is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "autoglm/speculative.h"
#include "test.h"
#include "test_models.h"

enum { N_GEN = 48 };


static ag_sampler *sampler(const ag_model *m, float temperature) {
    ag_sampler_params p = ag_sampler_default_params();
    p.temperature = temperature;
    p.seed = 42;
    if (temperature == 0) p.repeat_penalty = 1.0f;
    return ag_sampler_new(&p, ag_model_n_vocab(m), 512);
}

/* Decoding with the target alone: n tokens after the prompt. */
static int plain(const ag_model *m, const ag_token *prompt, int np, float temp, ag_token *out, int n) {
    ag_error err = {0};
    ag_session_params sp = {.n_ctx = 512};
    ag_session *s = ag_session_new(m, &sp, &err);
    ag_sampler *smp = sampler(m, temp);
    int k = 0;
    if (s && smp && ag_session_eval(s, prompt, np, false, &err) == AG_OK)
        for (; k < n; k++) {
            out[k] = ag_sampler_sample(smp, ag_session_logits(s, -1));
            ag_sampler_accept(smp, out[k]);
            if (k + 1 < n && ag_session_eval(s, &out[k], 1, false, &err) != AG_OK) break;
        }
    ag_sampler_free(smp);
    ag_session_free(s);
    return k;
}

/* The same with a draft; the acceptance rate in *rate. */
static int speculative(const ag_model *m, const ag_model *dm, int draft_max, const ag_token *prompt, int np, float temp,
                       ag_token *out, int n, double *rate) {
    ag_error err = {0};
    ag_session_params sp = {.n_ctx = 512};
    ag_session *s = ag_session_new(m, &sp, &err), *ds = ag_session_new(dm, &sp, &err);
    ag_sampler *smp = sampler(m, temp);
    ag_speculative *spec = s && ds ? ag_speculative_new(m, s, dm, ds, draft_max, &err) : NULL;
    CHECK_MSG(spec != NULL, "%s", err.msg);
    int k = 0;
    if (spec && smp && ag_speculative_feed(spec, prompt, np, &err) == AG_OK)
        for (int first = 1; k < n; first = 0) { /* the first step after a feed may give one more */
            int got = ag_speculative_step(spec, smp, out + k, n - k, &err);
            CHECK_MSG(got >= 1 && got <= draft_max + 1 + first, "step returned %d: %s", got, err.msg);
            if (got < 1) break;
            k += got;
        }
    long long drafted = 0, accepted = 0;
    if (spec) ag_speculative_stats(spec, &drafted, &accepted);
    *rate = drafted ? (double)accepted / (double)drafted : 0;
    ag_speculative_free(spec);
    ag_sampler_free(smp);
    ag_session_free(s);
    ag_session_free(ds);
    return k;
}

static const char *prompts[] = {"Once upon a time", "The cat sat on the mat.", "Lily and Tom went to the park", "A"};

/* Every prompt and draft_max 1..8 give the target's own tokens. */
static void check_same(const ag_model *m, const ag_model *dm, float temp, const char *label) {
    for (size_t p = 0; p < sizeof prompts / sizeof prompts[0]; p++) {
        ag_token prompt[64], want[N_GEN], got[N_GEN];
        int np = ag_tokenize(m, prompts[p], strlen(prompts[p]), prompt, 64, true, false);
        CHECK(np > 0);
        int nw = plain(m, prompt, np, temp, want, N_GEN);
        CHECK(nw == N_GEN);
        for (int dmax = 1; dmax <= 8; dmax++) {
            double rate = 0;
            int ng = speculative(m, dm, dmax, prompt, np, temp, got, N_GEN, &rate);
            CHECK_MSG(ng == N_GEN && memcmp(want, got, sizeof want) == 0, "%s, prompt %zu, draft_max %d: tokens differ",
                      label, p, dmax);
            if (p == 0) fprintf(stderr, "  %s draft_max %d: acceptance %.0f%%\n", label, dmax, 100 * rate);
        }
    }
}

static void test_stories_self_draft(void) {
    ag_model *m = ag_test_load_stories(), *dm = ag_test_load_stories();
    CHECK(m && dm);
    if (m && dm) {
        check_same(m, dm, 0.0f, "stories260K greedy");
        check_same(m, dm, 0.8f, "stories260K sampled");
        /* the same model as its own draft: every greedy proposal is accepted */
        ag_token prompt[64], got[N_GEN];
        int np = ag_tokenize(m, prompts[0], strlen(prompts[0]), prompt, 64, true, false);
        double rate = 0;
        speculative(m, dm, 4, prompt, np, 0.0f, got, N_GEN, &rate);
        CHECK_NEAR(rate, 1.0, 1e-9);
    }
    ag_model_free(m);
    ag_model_free(dm);
}

static void test_synthetic_other_draft(void) {
    ag_model *m = ag_test_load_synthetic("spec_target.gguf", "--shape tiny --seed 1 --type f32");
    ag_model *dm = ag_test_load_synthetic("spec_draft.gguf", "--shape tiny --seed 1 --layers 1 --type f32");
    CHECK(m && dm);
    if (m && dm) {
        check_same(m, dm, 0.0f, "synthetic greedy");
        check_same(m, dm, 0.8f, "synthetic sampled");
    }
    ag_model_free(m);
    ag_model_free(dm);
}

/* A second prompt after truncating the target to a common prefix continues like a fresh run. */
static void test_feed_after_truncate(void) {
    ag_model *m = ag_test_load_stories();
    CHECK(m != NULL);
    if (!m) return;
    ag_error err = {0};
    ag_session_params sp = {.n_ctx = 512};
    ag_session *s = ag_session_new(m, &sp, &err), *ds = ag_session_new(m, &sp, &err);
    ag_sampler *smp = sampler(m, 0);
    ag_speculative *spec = ag_speculative_new(m, s, m, ds, 5, &err);
    ag_token a[64], b[64], out[N_GEN], want[16];
    int na = ag_tokenize(m, prompts[1], strlen(prompts[1]), a, 64, true, false);
    int nb = ag_tokenize(m, prompts[2], strlen(prompts[2]), b, 64, true, false);
    CHECK(spec && ag_speculative_feed(spec, a, na, &err) == AG_OK);
    CHECK(ag_speculative_step(spec, smp, out, 16, &err) >= 1);
    ag_session_truncate(s, 1); /* keep BOS, then the other prompt */
    CHECK(ag_speculative_feed(spec, b + 1, nb - 1, &err) == AG_OK);
    int k = 0;
    while (k < 16) {
        int got = ag_speculative_step(spec, smp, out + k, 16 - k, &err);
        if (got < 1) break;
        k += got;
    }
    CHECK(k == 16 && plain(m, b, nb, 0, want, 16) == 16 && memcmp(out, want, sizeof want) == 0);
    ag_speculative_free(spec);
    ag_sampler_free(smp);
    ag_session_free(s);
    ag_session_free(ds);
    ag_model_free(m);
}

static void test_other_vocab_refused(void) {
    ag_model *m = ag_test_load_stories();
    ag_model *other = ag_test_load_synthetic("spec_vocab600.gguf", "--shape tiny --vocab 600 --type f32");
    ag_model *same_size = ag_test_load_synthetic("spec_vocab512.gguf", "--shape tiny --layers 1 --type f32");
    CHECK(m && other && same_size);
    if (m && other && same_size) {
        ag_error err = {0};
        CHECK(ag_speculative_check_vocab(m, other, &err) == AG_ERR_INVALID_ARG && strstr(err.msg, "vocabulary"));
        CHECK(ag_speculative_check_vocab(m, same_size, &err) == AG_ERR_INVALID_ARG && strstr(err.msg, "at token"));
        CHECK(ag_speculative_check_vocab(m, m, &err) == AG_OK);
        ag_session_params sp = {.n_ctx = 64};
        ag_session *s = ag_session_new(m, &sp, &err), *ds = ag_session_new(other, &sp, &err);
        CHECK(ag_speculative_new(m, s, other, ds, 4, &err) == NULL && err.code == AG_ERR_INVALID_ARG);
        CHECK(ag_speculative_new(m, s, m, s, 0, &err) == NULL);
        ag_session_free(s);
        ag_session_free(ds);
    }
    ag_model_free(m);
    ag_model_free(other);
    ag_model_free(same_size);
}

TEST_MAIN(TEST(test_stories_self_draft), TEST(test_synthetic_other_draft), TEST(test_feed_after_truncate),
          TEST(test_other_vocab_refused))
