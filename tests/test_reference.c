/*
 * test_reference.c - the engine against the reference implementation's outputs in
 * $AUTOGLM_SHARED/reference/greedy.jsonl: the prompt tokenizes to the same ids (BOS included)
 * and greedy decoding (argmax, no penalties) produces exactly the same ids, stopping at an
 * end-of-generation token as the reference does.
 */
#include <stdio.h>

#include "autoglm/autoglm.h"
#include "mini_json.h"
#include "test.h"

#define MAX_IDS 4096

static void check_case(const char *line, const char *root) {
    char *model_rel = mj_string(line, "model"), *prompt = mj_string(line, "prompt");
    int want_prompt[MAX_IDS], want[MAX_IDS], got[MAX_IDS];
    int n_want_prompt = mj_int_array(line, "prompt_ids", want_prompt, MAX_IDS);
    int n_want = mj_int_array(line, "ids", want, MAX_IDS);
    int num_predict = (int)mj_number(line, "num_predict", 0);
    CHECK(model_rel && prompt && n_want_prompt > 0 && n_want >= 0);
    if (!model_rel || !prompt || n_want_prompt <= 0 || n_want < 0) goto out;
    char path[1024];
    /* model paths are relative to the shared folder's parent: "shared/models/x.gguf" */
    snprintf(path, sizeof path, "%s/%s", root, strncmp(model_rel, "shared/", 7) == 0 ? model_rel + 7 : model_rel);
    ag_error err = {0};
    ag_model_params mp = {.n_threads = 2};
    ag_model *m = ag_model_load(path, &mp, &err);
    CHECK_MSG(m != NULL, "%s: %s", path, err.msg);
    if (!m) goto out;
    int n_prompt = ag_tokenize(m, prompt, strlen(prompt), got, MAX_IDS, true, false);
    CHECK_MSG(n_prompt == n_want_prompt && memcmp(got, want_prompt, sizeof(int) * (size_t)n_prompt) == 0,
              "%s %s: prompt ids differ", path, prompt);
    ag_session_params sp = {.n_ctx = 512};
    ag_session *s = ag_session_new(m, &sp, &err);
    CHECK_MSG(s != NULL, "%s", err.msg);
    ag_sampler_params gp = ag_sampler_default_params();
    gp.temperature = 0;
    gp.repeat_penalty = 1;
    ag_sampler *smp = ag_sampler_new(&gp, ag_model_n_vocab(m), 512);
    int n_got = 0;
    if (s && ag_session_eval(s, want_prompt, n_want_prompt, false, &err) == AG_OK) {
        while (n_got < num_predict) {
            ag_token t = ag_sampler_sample(smp, ag_session_logits(s, -1));
            if (ag_token_is_eog(m, t)) break;
            got[n_got++] = t;
            if (ag_session_eval(s, &t, 1, false, &err) != AG_OK) break;
        }
    }
    int same = 0;
    while (same < n_got && same < n_want && got[same] == want[same]) same++;
    CHECK_MSG(n_got == n_want && same == n_want, "%s '%s': %d of %d ids identical (got %d ids; first difference at %d: %d vs %d)",
              path, prompt, same, n_want, n_got, same, same < n_got ? got[same] : -1, same < n_want ? want[same] : -1);
    fprintf(stderr, "  %s '%s': %d/%d ids identical\n", path + strlen(root) + 1, prompt, same, n_want);
    ag_sampler_free(smp);
    ag_session_free(s);
    ag_model_free(m);
out:
    free(model_rel);
    free(prompt);
}

static void test_greedy_matches_reference(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/greedy.jsonl", ag_test_shared_dir());
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    char line[1 << 16];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] != '{') continue;
        check_case(line, ag_test_shared_dir());
        cases++;
    }
    fclose(f);
    CHECK(cases >= 6);
}

TEST_MAIN(TEST(test_greedy_matches_reference))
