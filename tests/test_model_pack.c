/*
 * test_model_pack.c - the weights repacked at load (model/model_pack.c, tensor/repack.h) change
 * nothing but speed: tiny256 in Q4_0 and Q8_0 (rows of 256 and 768, so every matrix is packed),
 * loaded as packed and as stored in the file (keep_layout), give bit-identical logits for a prompt
 * read in one pass (tiles), single-token steps (gemv) and batched steps of 3 sessions (gemv_few).
 */
#include <string.h>

#include "autoglm/autoglm.h"
#include "model/model.h"
#include "tensor/repack.h"
#include "test.h"

enum { N_SEQ = 3, N_PROMPT = 12, N_STEPS = 4 };

static ag_model *load(const char *file, bool keep_layout) {
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/models/%s", ag_test_shared_dir(), file);
    ag_error err = {0};
    ag_model_params mp = {.n_threads = 2, .keep_layout = keep_layout, .device = "cpu"}; /* packing is the CPU's */
    ag_model *m = ag_model_load(path, &mp, &err);
    if (!m) fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
    return m;
}

/* Every logit the sessions produce, in order, into out (n_out floats written). */
static int run(ag_model *m, float *out, int cap) {
    const int nv = ag_model_n_vocab(m);
    ag_error err = {0};
    ag_session *ss[N_SEQ];
    int n_out = 0;
    for (int i = 0; i < N_SEQ; i++) {
        ag_session_params sp = {.n_ctx = 64};
        ss[i] = ag_session_new(m, &sp, &err);
        CHECK(ss[i]);
        if (!ss[i]) return 0;
        ag_token prompt[N_PROMPT];
        for (int k = 0; k < N_PROMPT; k++) prompt[k] = 1 + (k * 37 + i * 11) % (nv - 1);
        CHECK(ag_session_eval(ss[i], prompt, N_PROMPT - i, true, &err) == AG_OK);
        for (int k = 0; k < N_PROMPT - i && n_out + nv <= cap; k++, n_out += nv)
            memcpy(out + n_out, ag_session_logits(ss[i], k), (size_t)nv * sizeof(float));
    }
    for (int step = 0; step < N_STEPS; step++) {
        ag_token tok[N_SEQ];
        for (int i = 0; i < N_SEQ; i++) tok[i] = 1 + (step * 53 + i * 7) % (nv - 1);
        if (step % 2 == 0) { /* one session at a time */
            for (int i = 0; i < N_SEQ; i++) CHECK(ag_session_eval(ss[i], &tok[i], 1, false, &err) == AG_OK);
        } else {
            CHECK(ag_session_eval_batch(ss, tok, N_SEQ, &err) == AG_OK);
        }
        for (int i = 0; i < N_SEQ && n_out + nv <= cap; i++, n_out += nv)
            memcpy(out + n_out, ag_session_logits(ss[i], -1), (size_t)nv * sizeof(float));
    }
    for (int i = 0; i < N_SEQ; i++) ag_session_free(ss[i]);
    return n_out;
}

static void test_packed_same_logits(void) {
    const char *files[] = {"tiny256-q4_0.gguf", "tiny256-q8_0.gguf", "tiny256-q4_0.gguf"};
    for (int f = 0; f < 3; f++) {
        /* the third: packed in groups of one weight, each weight's file pages released after it */
        if (f == 2) setenv("AUTOGLM_PACK_GROUP", "1", 1);
        ag_model *packed = load(files[f], false), *plain = load(files[f], true);
        unsetenv("AUTOGLM_PACK_GROUP");
        CHECK(packed && plain);
        if (!packed || !plain) {
            ag_model_free(packed), ag_model_free(plain);
            continue;
        }
        const bool kernels = ag_repack_supported(packed->layers[0].wq.type, packed->layers[0].wq.ne[0]);
        CHECK_MSG(!plain->packed && !plain->layers[0].wq.packed, "%s: keep_layout still packed", files[f]);
        CHECK_MSG(!kernels || (packed->packed && packed->layers[1].ffn_down.packed && packed->output.packed),
                  "%s: the matrices were not packed", files[f]);
        const int cap = (N_SEQ * N_PROMPT + N_SEQ * N_STEPS) * ag_model_n_vocab(packed);
        float *a = malloc((size_t)cap * sizeof(float)), *b = malloc((size_t)cap * sizeof(float));
        const int na = run(packed, a, cap), nb = run(plain, b, cap);
        int differ = 0;
        for (int i = 0; i < na && i < nb; i++) differ += memcmp(&a[i], &b[i], sizeof(float)) != 0;
        CHECK_MSG(na == nb && na > 0 && differ == 0, "%s: %d of %d logits differ packed vs as stored", files[f], differ, na);
        free(a), free(b);
        ag_model_free(packed), ag_model_free(plain);
    }
}

TEST_MAIN(TEST(test_packed_same_logits))
