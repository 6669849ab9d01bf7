/*
 * test_cuda.c - the CUDA backend against the CPU: the same greedy tokens on float models (F32
 * stories260K, the llama/mistral/qwen2/qwen3 fixtures converted to F32, the tiny F16 model) and
 * logits within a tolerance on BF16 and every quantized type of the tiny reference models, through the
 * three paths of the GPU forward pass (a prompt batch on cuBLAS, a 5-token batch on the
 * matrix-vector kernels, single-token decode replayed from a CUDA graph), and batched decode steps
 * of several sessions at different positions (ag_session_eval_batch: one device pass for all
 * rows, each with its own cache) against the same steps on the CPU.
 *
 * Without a GPU (or in a build without CUDA) it checks that an explicit `cuda` device is refused
 * with a clear error, that `cpu` and the default still load, and skips the rest (passing).
 */
#include <unistd.h>

#include "autoglm/autoglm.h"
#include "test.h"

#define N_PROMPT 20
#define N_BATCH2 5
#define N_GEN 16

static const char *tmp_dir(void) {
    const char *t = getenv("AUTOGLM_TEST_TMP");
    return t && *t ? t : "/tmp";
}

static ag_model *load(const char *path, const char *device, ag_error *err) {
    ag_model_params mp = {.n_threads = 2, .device = device};
    return ag_model_load(path, &mp, err);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* rms(a - b) / rms(b) */
static double rel_rms(const float *a, const float *b, int n) {
    double d = 0, r = 0;
    for (int i = 0; i < n; i++) {
        d += (double)(a[i] - b[i]) * (a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

typedef struct {
    ag_token toks[N_GEN];
    float *logits; /* (3 + N_GEN, n_vocab): after the prompt, after the batch of 5, each decode step */
} run_out;

/* prompt (N_PROMPT tokens), a batch of N_BATCH2, then N_GEN greedy tokens (forced: feed those
 * tokens instead of the model's own choice, so that both devices see the same inputs); -1 on failure */
static int run(ag_model *m, run_out *o, const ag_token *forced) {
    const int nv = ag_model_n_vocab(m);
    ag_session_params sp = {.n_ctx = 128, .n_batch = 32};
    ag_error err = {0};
    ag_session *s = ag_session_new(m, &sp, &err);
    if (!s) {
        fprintf(stderr, "  session: %s\n", err.msg);
        return -1;
    }
    o->logits = malloc((size_t)(2 + N_GEN) * nv * sizeof(float));
    ag_token prompt[N_PROMPT + N_BATCH2];
    for (int i = 0; i < N_PROMPT + N_BATCH2; i++) prompt[i] = (ag_token)((i * 37 + 11) % nv);
    int rc = -1;
    if (ag_session_eval(s, prompt, N_PROMPT, false, &err)) goto done;
    memcpy(o->logits, ag_session_logits(s, -1), (size_t)nv * sizeof(float));
    if (ag_session_eval(s, prompt + N_PROMPT, N_BATCH2, false, &err)) goto done;
    memcpy(o->logits + nv, ag_session_logits(s, -1), (size_t)nv * sizeof(float));
    for (int g = 0; g < N_GEN; g++) {
        const float *l = ag_session_logits(s, -1);
        o->toks[g] = argmax(l, nv);
        if (ag_session_eval(s, forced ? &forced[g] : &o->toks[g], 1, false, &err)) goto done;
        if (g + 2 < 2 + N_GEN) memcpy(o->logits + (size_t)(g + 2) * nv, ag_session_logits(s, -1), (size_t)nv * sizeof(float));
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "  eval: %s\n", err.msg);
    ag_session_free(s);
    return rc;
}

/* Runs the model on both devices; same_tokens: the greedy tokens must match exactly. */
static void compare(const char *path, bool same_tokens, double tol) {
    ag_error err = {0};
    ag_model *cpu = load(path, "cpu", &err);
    CHECK_MSG(cpu != NULL, "%s: %s", path, err.msg);
    ag_model *gpu = load(path, "cuda", &err);
    CHECK_MSG(gpu != NULL, "%s: %s", path, err.msg);
    if (!cpu || !gpu) goto done;
    CHECK(strncmp(ag_model_device(gpu), "cuda:0", 6) == 0);
    run_out a = {0}, b = {0};
    const int nv = ag_model_n_vocab(cpu);
    /* same_tokens: free-running greedy on both; else the GPU follows the CPU's tokens */
    if (run(cpu, &a, NULL) == 0 && run(gpu, &b, same_tokens ? NULL : a.toks) == 0) {
        double worst = 0;
        for (int i = 0; i < 2 + N_GEN; i++) {
            const double e = rel_rms(b.logits + (size_t)i * nv, a.logits + (size_t)i * nv, nv);
            worst = e > worst ? e : worst;
        }
        int same = 0, agree = 0;
        while (same < N_GEN && a.toks[same] == b.toks[same]) same++;
        for (int g = 0; g < N_GEN; g++) agree += a.toks[g] == b.toks[g];
        fprintf(stderr, "  %-40s rel. rms logits error %.2e (prompt %.2e, batch %.2e), greedy tokens equal: %d/%d (argmax agrees %d/%d)\n",
                strrchr(path, '/') ? strrchr(path, '/') + 1 : path, worst, rel_rms(b.logits, a.logits, nv),
                rel_rms(b.logits + nv, a.logits + nv, nv), same, N_GEN, agree, N_GEN);
        CHECK_MSG(worst <= tol, "%s: logits differ by %.3g (tolerance %.3g)", path, worst, tol);
        if (same_tokens) CHECK_MSG(same == N_GEN, "%s: greedy tokens differ from token %d", path, same);
        else CHECK_MSG(agree >= N_GEN * 3 / 4, "%s: the most likely token differs in %d of %d steps", path, N_GEN - agree, N_GEN);
    } else
        CHECK_MSG(0, "%s: evaluation failed", path);
    free(a.logits);
    free(b.logits);
done:
    ag_model_free(cpu);
    ag_model_free(gpu);
}

static void test_float_models(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", ag_test_shared_dir());
    compare(path, true, 1e-3);
    snprintf(path, sizeof path, "%s/reference/models/tiny256-f16.gguf", ag_test_shared_dir());
    compare(path, true, 2e-2);
    /* BF16 weights: the CPU rounds the activations to BF16 too, the GPU (F16 weights) does not */
    snprintf(path, sizeof path, "%s/reference/models/tiny256-bf16.gguf", ag_test_shared_dir());
    compare(path, false, 5e-2);
}

static void test_families_f32(void) {
    static const char *const FAMILIES[] = {"llama", "mistral", "qwen2", "qwen3"};
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) {
        char dir[1024], out[1024];
        const char *data = getenv("AUTOGLM_TEST_DATA"); /* the fixtures elsewhere (a copy on the GPU machine) */
        if (data && *data) snprintf(dir, sizeof dir, "%s/arch/%s", data, FAMILIES[i]);
        else snprintf(dir, sizeof dir, "%s/data/arch/%s", AG_TEST_SOURCE_DIR, FAMILIES[i]);
        snprintf(out, sizeof out, "%s/cuda-%s-f32.gguf", tmp_dir(), FAMILIES[i]);
        ag_convert_params cp = {.type = "f32"};
        ag_error err = {0};
        if (ag_convert(dir, out, &cp, &err) != AG_OK) {
            CHECK_MSG(0, "%s: convert: %s", FAMILIES[i], err.msg);
            continue;
        }
        compare(out, true, 1e-3);
        unlink(out);
    }
}

static void test_quantized_models(void) {
    static const char *const TYPES[] = {"q4_0", "q8_0", "q4_k_m", "q6_k", "q4_1", "q5_0", "q5_1",
                                        "q2_k", "q3_k_m", "q5_k_m"};
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/reference/models/tiny256-%s.gguf", ag_test_shared_dir(), TYPES[i]);
        compare(path, false, 0.08);
    }
}

#define N_SEQ_MAX 11
#define N_STEP 4

/* n_seq sessions with prompts of different lengths, then N_STEP batched steps of forced tokens;
 * out: (N_STEP, n_seq, n_vocab) logits. -1 on failure. */
static int run_batched(ag_model *m, int n_seq, float *out) {
    const int nv = ag_model_n_vocab(m);
    ag_session *ss[N_SEQ_MAX] = {0};
    ag_session_params sp = {.n_ctx = 64, .n_batch = 16};
    ag_error err = {0};
    int rc = -1;
    for (int i = 0; i < n_seq; i++) {
        ag_token prompt[3 + N_SEQ_MAX];
        for (int j = 0; j < 3 + i; j++) prompt[j] = (ag_token)((i * 7 + j * 13 + 5) % nv);
        if (!(ss[i] = ag_session_new(m, &sp, &err)) || ag_session_eval(ss[i], prompt, 3 + i, false, &err)) goto done;
    }
    for (int k = 0; k < N_STEP; k++) {
        ag_token tok[N_SEQ_MAX];
        for (int i = 0; i < n_seq; i++) tok[i] = (ag_token)((i * 11 + k * 17 + 3) % nv);
        if (ag_session_eval_batch(ss, tok, n_seq, &err)) goto done;
        for (int i = 0; i < n_seq; i++) {
            CHECK(ag_session_n_past(ss[i]) == 3 + i + k + 1);
            memcpy(out + ((size_t)k * n_seq + i) * nv, ag_session_logits(ss[i], -1), (size_t)nv * sizeof(float));
        }
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "  batched: %s\n", err.msg);
    for (int i = 0; i < n_seq; i++) ag_session_free(ss[i]);
    return rc;
}

/* Batched steps of n_seq sessions on both devices: logits within tol, and with same_argmax the
 * most likely token of every row and step equal. */
static void compare_batched(const char *path, int n_seq, double tol, bool same_argmax) {
    ag_error err = {0};
    ag_model *cpu = load(path, "cpu", &err), *gpu = cpu ? load(path, "cuda", &err) : NULL;
    CHECK_MSG(cpu && gpu, "%s: %s", path, err.msg);
    if (cpu && gpu) {
        const int nv = ag_model_n_vocab(cpu);
        float *a = malloc((size_t)N_STEP * n_seq * nv * sizeof(float)), *b = malloc((size_t)N_STEP * n_seq * nv * sizeof(float));
        if (a && b && run_batched(cpu, n_seq, a) == 0 && run_batched(gpu, n_seq, b) == 0) {
            double worst = 0;
            int agree = 0;
            for (int r = 0; r < N_STEP * n_seq; r++) {
                const double e = rel_rms(b + (size_t)r * nv, a + (size_t)r * nv, nv);
                worst = e > worst ? e : worst;
                agree += argmax(a + (size_t)r * nv, nv) == argmax(b + (size_t)r * nv, nv);
            }
            fprintf(stderr, "  %-40s batched steps of %2d sessions: rel. rms logits error %.2e, argmax agrees %d/%d\n",
                    strrchr(path, '/') ? strrchr(path, '/') + 1 : path, n_seq, worst, agree, N_STEP * n_seq);
            CHECK_MSG(worst <= tol, "%s: batched logits differ by %.3g (tolerance %.3g)", path, worst, tol);
            if (same_argmax) CHECK_MSG(agree == N_STEP * n_seq, "%s: batched argmax differs", path);
        } else
            CHECK_MSG(0, "%s: batched evaluation failed", path);
        free(a);
        free(b);
    }
    ag_model_free(cpu);
    ag_model_free(gpu);
}

static void test_batched(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", ag_test_shared_dir());
    compare_batched(path, 3, 1e-3, true);
    compare_batched(path, N_SEQ_MAX, 1e-3, true);
    snprintf(path, sizeof path, "%s/reference/models/tiny256-q8_0.gguf", ag_test_shared_dir());
    compare_batched(path, 3, 0.08, false);
    compare_batched(path, N_SEQ_MAX, 0.08, false);
    snprintf(path, sizeof path, "%s/reference/models/tiny256-q4_k_m.gguf", ag_test_shared_dir());
    compare_batched(path, N_SEQ_MAX, 0.08, false);
}

/* The CUDA device of a loaded model, or NULL (then the reason is printed). */
static bool have_gpu(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", ag_test_shared_dir());
    ag_error err = {0};
    ag_model *m = load(path, "cuda", &err);
    if (!m) {
        fprintf(stderr, "SKIP: no GPU: %s\n", err.msg);
        CHECK(err.code == AG_ERR_UNSUPPORTED);
        CHECK(strstr(err.msg, "CUDA") != NULL);
        /* the CPU and the default (auto: falls back to the CPU) still work */
        ag_model *c = load(path, "cpu", &err), *d = load(path, NULL, &err);
        CHECK(c && strcmp(ag_model_device(c), "cpu") == 0);
        CHECK(d && strcmp(ag_model_device(d), "cpu") == 0);
        ag_model_free(c);
        ag_model_free(d);
        ag_model *bad = load(path, "tpu", &err);
        CHECK(!bad && err.code == AG_ERR_INVALID_ARG);
        return false;
    }
    fprintf(stderr, "GPU: %s\n", ag_model_device(m));
    ag_model_free(m);
    return true;
}

static void test_cuda(void) {
    if (!have_gpu()) return;
    test_float_models();
    test_families_f32();
    test_quantized_models();
    test_batched();
}

int main(void) {
    const ag_test_case cases[] = {{"cuda_vs_cpu", test_cuda}};
    return ag_test_run(cases, 1);
}
