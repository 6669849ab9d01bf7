/*
 * test_batch.c - ag_session_eval_batch (continuous batching) and ag_session_copy_prefix on
 * stories260K: 8 sequences of different prompt lengths decoded greedily one step at a time, all
 * in one batched step, give the same tokens (and near-equal logits) as each decoded alone;
 * sequences leave the batch at different steps; sessions of different context lengths mix; a
 * prefix copied from another session gives the logits of recomputing it; bad batches are refused;
 * an eval (single or batched) stopped by the abort check commits nothing, and evaluating the same
 * tokens again gives bit-identical logits to a session that was never aborted.
 */
#include "autoglm/autoglm.h"
#include "test.h"

enum { N_SEQ = 8, MAX_GEN = 40 };

static ag_model *load(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", ag_test_shared_dir());
    ag_error err = {0};
    ag_model_params mp = {.n_threads = 2};
    ag_model *m = ag_model_load(path, &mp, &err);
    if (!m) fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
    return m;
}

static ag_token argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static const char *texts[N_SEQ] = {
    "Once",
    "Once upon a time, there was a little girl named Lily.",
    "The cat sat on the mat.",
    "Tom and Sue went to the park to play with a big red ball. They ran and ran",
    "One day",
    "A bird",
    "Lily liked to draw. She drew a sun, a tree and a house with a blue door. Her mom said",
    "The dog was happy because",
};

static int prompt_of(const ag_model *m, int i, ag_token *out, int cap) {
    return ag_tokenize(m, texts[i], strlen(texts[i]), out, cap, true, false);
}

static void test_batch_equals_single(void) {
    ag_model *m = load();
    CHECK(m);
    if (!m) return;
    const int nv = ag_model_n_vocab(m);
    ag_token ref[N_SEQ][MAX_GEN], got[N_SEQ][MAX_GEN], prompt[128];
    int n_gen[N_SEQ];
    ag_error err = {0};
    for (int i = 0; i < N_SEQ; i++) { /* alone */
        n_gen[i] = 16 + 3 * i; /* sequences leave the batch at different steps */
        ag_session_params sp = {.n_ctx = 256};
        ag_session *s = ag_session_new(m, &sp, &err);
        int n = prompt_of(m, i, prompt, 128);
        CHECK(n > 0 && ag_session_eval(s, prompt, n, false, &err) == AG_OK);
        for (int k = 0; k < n_gen[i]; k++) {
            ref[i][k] = argmax(ag_session_logits(s, -1), nv);
            CHECK(ag_session_eval(s, &ref[i][k], 1, false, &err) == AG_OK);
        }
        ag_session_free(s);
    }
    ag_session *ss[N_SEQ];
    for (int i = 0; i < N_SEQ; i++) { /* together; one session has a smaller context */
        ag_session_params sp = {.n_ctx = i == 3 ? 128 : 256};
        ss[i] = ag_session_new(m, &sp, &err);
        int n = prompt_of(m, i, prompt, 128);
        CHECK(ag_session_eval(ss[i], prompt, n, false, &err) == AG_OK);
    }
    double max_diff = 0;
    for (int k = 0; k < MAX_GEN; k++) {
        ag_session *act[N_SEQ];
        ag_token tok[N_SEQ];
        int n_act = 0;
        for (int i = 0; i < N_SEQ; i++) {
            if (k >= n_gen[i]) continue;
            got[i][k] = argmax(ag_session_logits(ss[i], -1), nv);
            act[n_act] = ss[i];
            tok[n_act++] = got[i][k];
        }
        if (!n_act) break;
        CHECK_MSG(ag_session_eval_batch(act, tok, n_act, &err) == AG_OK, "%s", err.msg);
    }
    for (int i = 0; i < N_SEQ; i++) {
        int same = 0;
        while (same < n_gen[i] && ref[i][same] == got[i][same]) same++;
        CHECK_MSG(same == n_gen[i], "sequence %d differs at token %d of %d", i, same, n_gen[i]);
    }
    /* the logits of one more step, batched vs alone, for the first two sequences */
    ag_session *two[2] = {ss[0], ss[1]};
    ag_token t2[2] = {1, 2};
    float *a0 = malloc((size_t)nv * sizeof(float));
    CHECK(ag_session_eval_batch(two, t2, 2, &err) == AG_OK);
    memcpy(a0, ag_session_logits(ss[0], -1), (size_t)nv * sizeof(float));
    ag_session_truncate(ss[0], ag_session_n_past(ss[0]) - 1);
    CHECK(ag_session_eval(ss[0], &t2[0], 1, false, &err) == AG_OK);
    const float *b0 = ag_session_logits(ss[0], -1);
    for (int v = 0; v < nv; v++) {
        double d = fabs((double)a0[v] - b0[v]);
        if (d > max_diff) max_diff = d;
    }
    CHECK_MSG(max_diff < 1e-3, "logits differ by %g", max_diff);
    free(a0);
    /* refused: a session twice, a full context */
    ag_session *dup[2] = {ss[0], ss[0]};
    CHECK(ag_session_eval_batch(dup, t2, 2, &err) == AG_ERR_INVALID_ARG);
    ag_session_params small = {.n_ctx = 8};
    ag_session *full = ag_session_new(m, &small, &err);
    ag_token eight[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(ag_session_eval(full, eight, 8, false, &err) == AG_OK);
    ag_session *with_full[2] = {ss[1], full};
    int before = ag_session_n_past(ss[1]);
    CHECK(ag_session_eval_batch(with_full, t2, 2, &err) == AG_ERR_CONTEXT_FULL);
    CHECK(ag_session_n_past(ss[1]) == before);
    ag_session_free(full);
    for (int i = 0; i < N_SEQ; i++) ag_session_free(ss[i]);
    ag_model_free(m);
}

static void test_copy_prefix(void) {
    ag_model *m = load();
    CHECK(m);
    if (!m) return;
    const int nv = ag_model_n_vocab(m);
    ag_error err = {0};
    ag_token a[128], b[128];
    const char *sys = "Once upon a time, there was a little girl named Lily. She liked to play.";
    int np = ag_tokenize(m, sys, strlen(sys), a, 128, true, false);
    memcpy(b, a, (size_t)np * sizeof *a);
    int na = np + ag_tokenize(m, " The sun", 8, a + np, 128 - np, false, false);
    int nb = np + ag_tokenize(m, " A dog came", 11, b + np, 128 - np, false, false);
    ag_session_params sp = {.n_ctx = 256};
    ag_session *sa = ag_session_new(m, &sp, &err), *sb = ag_session_new(m, &sp, &err), *sc = ag_session_new(m, &sp, &err);
    CHECK(ag_session_eval(sa, a, na, false, &err) == AG_OK);
    CHECK(ag_session_copy_prefix(sb, sa, np, &err) == AG_OK);
    CHECK(ag_session_n_past(sb) == np);
    CHECK(ag_session_eval(sb, b + np, nb - np, false, &err) == AG_OK);
    CHECK(ag_session_eval(sc, b, nb, false, &err) == AG_OK);
    const float *lb = ag_session_logits(sb, -1), *lc = ag_session_logits(sc, -1);
    double md = 0;
    for (int v = 0; v < nv; v++) md = fmax(md, fabs((double)lb[v] - lc[v]));
    CHECK_MSG(md < 1e-3, "copied prefix: logits differ by %g", md);
    CHECK(ag_session_copy_prefix(sb, sa, na + 1, &err) == AG_ERR_INVALID_ARG);
    CHECK(ag_session_copy_prefix(sb, sb, 1, &err) == AG_ERR_INVALID_ARG);
    ag_session_free(sa);
    ag_session_free(sb);
    ag_session_free(sc);
    ag_model_free(m);
}

/* Aborts once the check has been asked `after` times (counted in *calls). */
typedef struct {
    int calls, after;
} abort_after;

static bool abort_cb(void *ctx) {
    abort_after *a = ctx;
    return ++a->calls > a->after;
}

static void test_abort(void) {
    ag_model *m = load();
    CHECK(m);
    if (!m) return;
    const int nv = ag_model_n_vocab(m);
    ag_error err = {0};
    ag_token t[128];
    const char *text = "Once upon a time, there was a little girl named Lily. She liked to play.";
    const int n = ag_tokenize(m, text, strlen(text), t, 128, true, false), half = n / 2;
    ag_session_params sp = {.n_ctx = 256};
    ag_session *ref = ag_session_new(m, &sp, &err), *s = ag_session_new(m, &sp, &err);
    ag_session *ref2 = ag_session_new(m, &sp, &err), *s2 = ag_session_new(m, &sp, &err);
    CHECK(ref && s && ref2 && s2);
    CHECK(ag_session_eval(ref, t, n, false, &err) == AG_OK);
    CHECK(ag_session_eval(s, t, half, false, &err) == AG_OK);
    for (int after = 0; after < 3; after++) { /* before the first layer, after one, after two */
        abort_after a = {0, after};
        ag_session_set_abort(s, abort_cb, &a);
        CHECK(ag_session_eval(s, t + half, n - half, false, &err) == AG_ERR_ABORTED);
        CHECK(ag_session_n_past(s) == half);
        CHECK(ag_session_logits(s, -1) == NULL);
    }
    ag_session_set_abort(s, NULL, NULL);
    CHECK(ag_session_eval(s, t + half, n - half, false, &err) == AG_OK);
    CHECK(ag_session_n_past(s) == n);
    CHECK(memcmp(ag_session_logits(s, -1), ag_session_logits(ref, -1), (size_t)nv * sizeof(float)) == 0);
    /* a batched step: the lead (largest context) checks; nothing moves when it stops */
    CHECK(ag_session_eval(ref2, t, half, false, &err) == AG_OK);
    CHECK(ag_session_eval(s2, t, half, false, &err) == AG_OK);
    ag_session *ss[2] = {s, s2}, *rr[2] = {ref, ref2};
    ag_token next[2] = {t[1], t[2]};
    abort_after a = {0, 1};
    ag_session_set_abort(s, abort_cb, &a);
    ag_session_set_abort(s2, abort_cb, &a);
    CHECK(ag_session_eval_batch(ss, next, 2, &err) == AG_ERR_ABORTED);
    CHECK(ag_session_n_past(s) == n && ag_session_n_past(s2) == half);
    ag_session_set_abort(s, NULL, NULL);
    ag_session_set_abort(s2, NULL, NULL);
    CHECK(ag_session_eval_batch(ss, next, 2, &err) == AG_OK);
    CHECK(ag_session_eval_batch(rr, next, 2, &err) == AG_OK);
    for (int i = 0; i < 2; i++)
        CHECK(memcmp(ag_session_logits(ss[i], -1), ag_session_logits(rr[i], -1), (size_t)nv * sizeof(float)) == 0);
    ag_session_free(ref);
    ag_session_free(s);
    ag_session_free(ref2);
    ag_session_free(s2);
    ag_model_free(m);
}

TEST_MAIN(TEST(test_batch_equals_single), TEST(test_copy_prefix), TEST(test_abort))
