/*
 * test_glm4v.c - GLM-4.1V (AutoGLM-Phone-9B's architecture) against the reference library: the
 * tiny random-weight Glm4vForConditionalGeneration of tests/data/glm4v (tests/reference/
 * make_glm4v_fixture.py; expected outputs from transformers) is converted with ag_convert (what
 * `autoglm convert DIR OUT --type f32 --mmproj OUT-mmproj` runs) into a glm4 GGUF and a projector
 * GGUF, and for the fixed image (patch grid 1x6x8) and prompt:
 *   the vision encoder's merger output matches the reference within 1e-3 relative (max |diff| /
 *   max |ref|), the M-RoPE position ids equal get_rope_index's, the logits of every prompt
 *   position and of 8 greedy decode steps (positions continuing after the image) match within
 *   1e-3 relative, and the greedy tokens are the reference's.
 * Also: image tokens count against the context, bad grids / placeholder counts are refused, and
 * F16 / Q8_0 conversions stay close (1e-2 / 1e-1 relative; measured 2.2e-3 / 4.2e-2).
 */
#include <cJSON.h>
#include <stdint.h>
#include <unistd.h>

#include "autoglm/autoglm.h"
#include "autoglm/vision.h"
#include "gguf/gguf.h"
#include "model/mrope.h"
#include "model/vision_impl.h"
#include "test.h"

#define REL_TOL 1e-3

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    if (len) *len = (size_t)n;
    fclose(f);
    return buf;
}

static const char *tmp_dir(void) {
    const char *t = getenv("AUTOGLM_TEST_TMP");
    return t && *t ? t : "/tmp";
}

static double rel_diff(const float *a, const float *ref, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - ref[i]);
        if (d > md || d != d) md = d != d ? INFINITY : d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return mr > 0 ? md / mr : md;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

typedef struct {
    cJSON *exp;
    float *vision, *logits;
    size_t vision_n, logits_n;
    ag_model *m;
    ag_vision *v;
    ag_image_patches img;
    char lm_path[1024], mm_path[1024];
} fixture;

static fixture F;

static bool setup(void) {
    if (F.m) return true;
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/data/glm4v", AG_TEST_SOURCE_DIR);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    char *js = read_all(path, NULL);
    F.exp = js ? cJSON_Parse(js) : NULL;
    free(js);
    snprintf(path, sizeof path, "%s/vision.f32", dir);
    F.vision = (float *)read_all(path, &F.vision_n);
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    F.logits = (float *)read_all(path, &F.logits_n);
    CHECK(F.exp && F.vision && F.logits);
    if (!F.exp || !F.vision || !F.logits) return false;
    F.vision_n /= sizeof(float), F.logits_n /= sizeof(float);
    snprintf(F.lm_path, sizeof F.lm_path, "%s/glm4v-f32.gguf", tmp_dir());
    snprintf(F.mm_path, sizeof F.mm_path, "%s/glm4v-mmproj-f32.gguf", tmp_dir());
    ag_convert_params cp = {.type = "f32", .mmproj = F.mm_path};
    ag_error err = {0};
    ag_status st = ag_convert(dir, F.lm_path, &cp, &err);
    CHECK_MSG(st == AG_OK, "convert: %s", err.msg);
    if (st) return false;
    ag_model_params mp = {.n_threads = 2, .device = "cpu"}; /* the CPU against transformers (the GPU: test_cuda) */
    F.m = ag_model_load(F.lm_path, &mp, &err);
    CHECK_MSG(F.m != NULL, "load: %s", err.msg);
    if (!F.m) return false;
    F.v = ag_vision_load(F.mm_path, F.m, &err);
    CHECK_MSG(F.v != NULL, "load projector: %s", err.msg);
    if (!F.v) return false;
    /* the fixture's pixel_values: row i, column j = ((i*1176 + j)*7919 mod 1009) / 504.5 - 1 */
    const cJSON *g = cJSON_GetObjectItem(F.exp, "grid_thw");
    F.img.grid_t = cJSON_GetArrayItem(g, 0)->valueint, F.img.grid_h = cJSON_GetArrayItem(g, 1)->valueint;
    F.img.grid_w = cJSON_GetArrayItem(g, 2)->valueint;
    F.img.patch_dim = cJSON_GetObjectItem(F.exp, "patch_dim")->valueint;
    const int64_t rows = (int64_t)F.img.grid_t * F.img.grid_h * F.img.grid_w;
    F.img.pixels = malloc((size_t)rows * F.img.patch_dim * sizeof(float));
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < F.img.patch_dim; j++)
            F.img.pixels[i * F.img.patch_dim + j] = (float)((double)((i * F.img.patch_dim + j) * 7919 % 1009) / 504.5 - 1.0);
    return true;
}

static void test_keys_and_preproc(void) {
    if (!setup()) return;
    const ag_image_preproc_params *pp = ag_vision_preproc(F.v);
    CHECK(pp->patch_size == 14 && pp->merge_size == 2 && pp->temporal_patch_size == 2);
    CHECK(pp->min_pixels == 12544 && pp->max_pixels == 47040000);
    CHECK_NEAR(pp->mean[0], 0.48145466, 1e-7);
    CHECK_NEAR(pp->std[2], 0.27577711, 1e-7);
    CHECK(ag_vision_n_tokens(F.v, 1, 6, 8) == 12);
    CHECK(ag_vision_n_tokens(F.v, 1, 5, 8) == 0);
    CHECK(ag_vision_image_token(F.v) == cJSON_GetObjectItem(F.exp, "image_token")->valueint);
}

static void test_vision_encoder(void) {
    if (!setup()) return;
    const int n_tok = cJSON_GetObjectItem(F.exp, "n_image_tokens")->valueint, e = ag_model_n_embd(F.m);
    CHECK((size_t)n_tok * e == F.vision_n);
    float *out = malloc((size_t)n_tok * e * sizeof(float));
    ag_error err = {0};
    CHECK_MSG(ag_vision_encode(F.v, &F.img, out, &err) == AG_OK, "%s", err.msg);
    const double rd = rel_diff(out, F.vision, F.vision_n);
    fprintf(stderr, "  vision merger output: max rel diff %.3g\n", rd);
    CHECK_MSG(rd < REL_TOL, "vision rel diff %g", rd);
    free(out);
}

/* The same patches again come from the projector's cache (the same bits, a hit counted); another
 * image is a miss; with the cache turned off nothing is kept; a remembered key is used as it is. */
static void test_encoding_cache(void) {
    if (!setup()) return;
    const size_t n = F.vision_n;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    ag_error err = {0};
    uint64_t h0, l0, h1, l1, h2, l2, h3, l3;
    ag_vision_set_cache_bytes(F.v, AG_VISION_CACHE_DEFAULT);
    ag_vision_cache_counts(F.v, &h0, &l0);
    CHECK(ag_vision_encode(F.v, &F.img, a, &err) == AG_OK && ag_vision_encode(F.v, &F.img, b, &err) == AG_OK);
    ag_vision_cache_counts(F.v, &h1, &l1);
    CHECK_MSG(h1 >= h0 + 1 && l1 == l0 + 2, "hits %llu -> %llu, lookups %llu -> %llu", (unsigned long long)h0,
              (unsigned long long)h1, (unsigned long long)l0, (unsigned long long)l1);
    CHECK_MSG(memcmp(a, b, n * sizeof(float)) == 0, "a cached encoding differs from the encoder's");
    ag_image_patches other = F.img; /* one pixel changed: another key */
    other.pixels = malloc((size_t)F.img.grid_t * F.img.grid_h * F.img.grid_w * F.img.patch_dim * sizeof(float));
    memcpy(other.pixels, F.img.pixels, (size_t)F.img.grid_t * F.img.grid_h * F.img.grid_w * F.img.patch_dim * sizeof(float));
    other.pixels[7] += 0.5f;
    CHECK(ag_vision_encode(F.v, &other, b, &err) == AG_OK);
    ag_vision_cache_counts(F.v, &h2, &l2);
    CHECK_MSG(h2 == h1 && memcmp(a, b, n * sizeof(float)) != 0, "another image answered from the cache");
    ag_vision_set_cache_bytes(F.v, 0);
    CHECK(ag_vision_encode(F.v, &F.img, b, &err) == AG_OK);
    ag_vision_cache_counts(F.v, &h3, &l3);
    CHECK_MSG(h3 == h2 && memcmp(a, b, n * sizeof(float)) == 0, "cache off: still a hit, or another encoding");
    ag_vision_set_cache_bytes(F.v, AG_VISION_CACHE_DEFAULT);
    /* a remembered key (ag_vision_remember_key, what the server does) is the computed one, and the
     * encoder takes it instead of hashing: a copy of the changed image that remembers the first
     * image's key is answered with the first image's encoding */
    unsigned char k_img[32], k_other[32];
    ag_image_patches keyed = other;
    CHECK(ag_vision_image_key(&F.img, k_img) && ag_vision_image_key(&other, k_other) && memcmp(k_img, k_other, 32) != 0);
    CHECK(ag_vision_remember_key(&keyed) && keyed.keyed && memcmp(keyed.key, k_other, 32) == 0);
    CHECK(ag_vision_encode(F.v, &F.img, a, &err) == AG_OK);
    memcpy(keyed.key, k_img, 32);
    CHECK(ag_vision_encode(F.v, &keyed, b, &err) == AG_OK);
    CHECK_MSG(memcmp(a, b, n * sizeof(float)) == 0, "the encoder hashed the pixels again instead of taking the key");
    free(other.pixels), free(a), free(b);
}

static void test_positions(void) {
    if (!setup()) return;
    const cJSON *toks = cJSON_GetObjectItem(F.exp, "tokens"), *pos = cJSON_GetObjectItem(F.exp, "position_ids");
    const int n = cJSON_GetArraySize(toks);
    int32_t *ids = malloc((size_t)n * sizeof *ids), *p = malloc((size_t)n * 3 * sizeof *p);
    for (int i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(toks, i)->valueint;
    const int grid[1][3] = {{F.img.grid_t, F.img.grid_h, F.img.grid_w}};
    const int next = ag_mrope_prompt_positions(ids, n, ag_vision_image_token(F.v), grid, 1, 2, 0, p);
    int bad = 0;
    for (int axis = 0; axis < 3; axis++)
        for (int i = 0; i < n; i++) bad += p[3 * i + axis] != cJSON_GetArrayItem(cJSON_GetArrayItem(pos, axis), i)->valueint;
    CHECK_MSG(bad == 0, "%d position ids differ from get_rope_index's", bad);
    CHECK(next == p[3 * (n - 1)] + 1);
    CHECK(ag_mrope_prompt_positions(ids, n, ag_vision_image_token(F.v), grid, 0, 2, 0, p) == -1); /* no grid for the run */
    free(ids);
    free(p);
}

/* The prompt text around the image: tokenizing it gives the reference's ids. */
static char *prompt_text(void) {
    const char *a = cJSON_GetObjectItem(F.exp, "text_before")->valuestring, *b = cJSON_GetObjectItem(F.exp, "text_after")->valuestring;
    char *t = malloc(strlen(a) + strlen(b) + 16);
    sprintf(t, "%s<|image|>%s", a, b);
    return t;
}

static void test_prompt_logits_and_greedy(void) {
    if (!setup()) return;
    const int n_vocab = cJSON_GetObjectItem(F.exp, "n_vocab")->valueint, n_prompt = cJSON_GetArraySize(cJSON_GetObjectItem(F.exp, "tokens"));
    const cJSON *greedy = cJSON_GetObjectItem(F.exp, "greedy");
    const int n_gen = cJSON_GetArraySize(greedy);
    CHECK(ag_model_n_vocab(F.m) == n_vocab);
    CHECK(F.logits_n == (size_t)(n_prompt + n_gen) * n_vocab);
    char *text = prompt_text();
    ag_token ids[128];
    const int n = ag_tokenize(F.m, text, strlen(text), ids, 128, false, true);
    const cJSON *toks = cJSON_GetObjectItem(F.exp, "tokens");
    const int n_img = cJSON_GetObjectItem(F.exp, "n_image_tokens")->valueint;
    CHECK(n == n_prompt - n_img + 1);
    for (int i = 0, j = 0; i < n && j < n_prompt; i++) { /* ours has one placeholder for the run */
        CHECK(ids[i] == cJSON_GetArrayItem(toks, j)->valueint);
        j += ids[i] == ag_vision_image_token(F.v) ? n_img : 1;
    }
    for (int n_batch = 0; n_batch <= 7; n_batch += 7) { /* one pass, and chunks of 7 that split the image */
        ag_session_params sp = {.n_ctx = 64, .n_batch = n_batch, .kv_type = "f32"};
        ag_error err = {0};
        ag_session *s = ag_session_new(F.m, &sp, &err);
        CHECK_MSG(s != NULL, "%s", err.msg);
        if (!s) break;
        int n_eval = 0;
        ag_status st = ag_session_eval_prompt_images(s, F.v, text, &F.img, 1, true, &n_eval, &err);
        CHECK_MSG(st == AG_OK, "%s", err.msg);
        CHECK(n_eval == n_prompt && ag_session_n_past(s) == n_prompt);
        double worst = 0;
        for (int i = 0; !st && i < n_prompt; i++) {
            const double rd = rel_diff(ag_session_logits(s, i), F.logits + (size_t)i * n_vocab, (size_t)n_vocab);
            if (rd > worst) worst = rd;
        }
        fprintf(stderr, "  n_batch %d: prompt logits (%d positions): max rel diff %.3g\n", n_batch, n_prompt, worst);
        CHECK_MSG(worst < REL_TOL, "prompt logits rel diff %g", worst);
        /* greedy decoding through the cache: positions continue after the image */
        double worst_dec = 0;
        int same = 0;
        for (int k = 0; !st && k < n_gen; k++) {
            const int next = argmax(ag_session_logits(s, -1), n_vocab);
            same += next == cJSON_GetArrayItem(greedy, k)->valueint;
            ag_token t = (ag_token)cJSON_GetArrayItem(greedy, k)->valueint; /* follow the reference's sequence */
            if ((st = ag_session_eval(s, &t, 1, false, &err))) break;
            const double rd = rel_diff(ag_session_logits(s, -1), F.logits + (size_t)(n_prompt + k) * n_vocab, (size_t)n_vocab);
            if (rd > worst_dec) worst_dec = rd;
        }
        fprintf(stderr, "  n_batch %d: %d/%d greedy tokens equal; decode logits max rel diff %.3g\n", n_batch, same, n_gen, worst_dec);
        CHECK(same == n_gen);
        CHECK_MSG(worst_dec < REL_TOL, "decode logits rel diff %g", worst_dec);
        /* truncating to the prompt and decoding again gives the same first token's logits */
        ag_session_truncate(s, n_prompt);
        ag_token t0 = (ag_token)cJSON_GetArrayItem(greedy, 0)->valueint;
        CHECK(ag_session_eval(s, &t0, 1, false, &err) == AG_OK);
        CHECK(rel_diff(ag_session_logits(s, -1), F.logits + (size_t)n_prompt * n_vocab, (size_t)n_vocab) < REL_TOL);
        ag_session_free(s);
    }
    free(text);
}

/* The prompt in two calls (its first tokens as plain text, then the rest with the image) and an
 * image given as its already expanded run: the same logits as the reference. Two images in one
 * prompt: positions continue after each. */
static void test_split_prompt_and_two_images(void) {
    if (!setup()) return;
    const cJSON *toks = cJSON_GetObjectItem(F.exp, "tokens");
    const int n = cJSON_GetArraySize(toks), n_vocab = ag_model_n_vocab(F.m);
    ag_token ids[64];
    for (int i = 0; i < n && i < 64; i++) ids[i] = cJSON_GetArrayItem(toks, i)->valueint;
    ag_session_params sp = {.n_ctx = 96, .kv_type = "f32"};
    ag_error err = {0};
    ag_session *s = ag_session_new(F.m, &sp, &err);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(ag_session_eval(s, ids, 3, false, &err) == AG_OK);
    int n_eval = 0;
    CHECK_MSG(ag_session_eval_images(s, F.v, ids + 3, n - 3, &F.img, 1, false, &n_eval, &err) == AG_OK, "%s", err.msg);
    CHECK(n_eval == n - 3);
    CHECK(rel_diff(ag_session_logits(s, -1), F.logits + (size_t)(n - 1) * n_vocab, (size_t)n_vocab) < REL_TOL);
    /* two images in one prompt: the positions of get_rope_index, then the prompt evaluated after the first */
    const int grid[2][3] = {{1, 6, 8}, {1, 4, 2}};
    ag_token two[8] = {7, ag_vision_image_token(F.v), 8, ag_vision_image_token(F.v), ag_vision_image_token(F.v), 9};
    int32_t pos[3 * 24];
    ag_token expanded[24];
    int k = 0;
    expanded[k++] = 7;
    for (int i = 0; i < 12; i++) expanded[k++] = two[1];
    expanded[k++] = 8;
    for (int i = 0; i < 2; i++) expanded[k++] = two[1];
    expanded[k++] = 9;
    const int next = ag_mrope_prompt_positions(expanded, k, two[1], grid, 2, 2, 10, pos);
    /* 7 at 10; image 1 from 11 (h 11..13, w 11..14); 8 at 15; image 2 from 16 (h 16..17, w 16); 9 at 18 */
    CHECK(pos[0] == 10 && pos[3 * 1] == 11 && pos[3 * 12 + 1] == 13 && pos[3 * 12 + 2] == 14 && pos[3 * 13] == 15);
    CHECK(pos[3 * 14] == 16 && pos[3 * 15 + 1] == 17 && pos[3 * 15 + 2] == 16 && pos[3 * 16] == 18 && next == 19);
    ag_image_patches second = F.img;
    second.grid_h = 4, second.grid_w = 2;
    const ag_image_patches imgs[2] = {F.img, second};
    const int before = ag_session_n_past(s);
    CHECK_MSG(ag_session_eval_images(s, F.v, two, 6, imgs, 2, false, &n_eval, &err) == AG_OK, "%s", err.msg);
    CHECK(n_eval == 17 && ag_session_n_past(s) == before + 17);
    CHECK(ag_session_eval_images(s, F.v, two, 6, imgs, 1, false, &n_eval, &err) == AG_ERR_INVALID_ARG); /* 2 runs, 1 image */
    ag_session_free(s);
}

static void test_context_and_errors(void) {
    if (!setup()) return;
    char *text = prompt_text();
    ag_session_params sp = {.n_ctx = 24};
    ag_error err = {0};
    ag_session *s = ag_session_new(F.m, &sp, &err);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(ag_session_eval_prompt_images(s, F.v, text, &F.img, 1, false, NULL, &err) == AG_ERR_CONTEXT_FULL);
    CHECK_MSG(strstr(err.msg, "32 tokens (12 of them for 1 image(s))") && strstr(err.msg, "0 of 24"), "%s", err.msg);
    CHECK(ag_session_n_past(s) == 0);
    CHECK(ag_session_eval_prompt_images(s, F.v, text, &F.img, 0, false, NULL, &err) == AG_ERR_INVALID_ARG); /* no image */
    ag_image_patches bad = F.img;
    bad.grid_h = 5;
    CHECK(ag_session_eval_prompt_images(s, F.v, text, &bad, 1, false, NULL, &err) == AG_ERR_INVALID_ARG);
    bad = F.img;
    bad.patch_dim = 100;
    float out[64 * 12];
    CHECK(ag_vision_encode(F.v, &bad, out, &err) == AG_ERR_INVALID_ARG);
    ag_session_free(s);
    free(text);
}

/* F16 and Q8_0 conversions (matrices; the projector's convolution kernels F16): close to the
 * reference, bounds loose enough for rounding of random weights. */
static void test_reduced_precision(void) {
    if (!setup()) return;
    const char *types[2] = {"f16", "q8_0"};
    const double tol[2] = {1e-2, 1e-1};
    const int n_vocab = ag_model_n_vocab(F.m), n_prompt = cJSON_GetArraySize(cJSON_GetObjectItem(F.exp, "tokens"));
    char *text = prompt_text();
    for (int k = 0; k < 2; k++) {
        char dir[1024], lm[1100], mm[1100];
        snprintf(dir, sizeof dir, "%s/data/glm4v", AG_TEST_SOURCE_DIR);
        snprintf(lm, sizeof lm, "%s/glm4v-%s.gguf", tmp_dir(), types[k]);
        snprintf(mm, sizeof mm, "%s/glm4v-mmproj-%s.gguf", tmp_dir(), types[k]);
        ag_convert_params cp = {.type = types[k], .mmproj = mm};
        ag_error err = {0};
        CHECK_MSG(ag_convert(dir, lm, &cp, &err) == AG_OK, "%s: %s", types[k], err.msg);
        ag_model_params mp = {.n_threads = 2, .device = "cpu"};
        ag_model *m = ag_model_load(lm, &mp, &err);
        ag_vision *v = m ? ag_vision_load(mm, m, &err) : NULL;
        ag_session_params sp = {.n_ctx = 64, .kv_type = "f32"};
        ag_session *s = v ? ag_session_new(m, &sp, &err) : NULL;
        CHECK_MSG(s != NULL, "%s: %s", types[k], err.msg);
        if (s) {
            float *out = malloc(F.vision_n * sizeof(float));
            CHECK(ag_vision_encode(v, &F.img, out, &err) == AG_OK);
            const double rv = rel_diff(out, F.vision, F.vision_n);
            free(out);
            CHECK(ag_session_eval_prompt_images(s, v, text, &F.img, 1, true, NULL, &err) == AG_OK);
            double rl = 0;
            for (int i = 0; i < n_prompt; i++) {
                const double r = rel_diff(ag_session_logits(s, i), F.logits + (size_t)i * n_vocab, (size_t)n_vocab);
                if (r > rl) rl = r;
            }
            fprintf(stderr, "  %s: merger output rel diff %.3g, prompt logits rel diff %.3g\n", types[k], rv, rl);
            CHECK(rv < tol[k] && rl < tol[k]);
        }
        ag_session_free(s);
        ag_vision_free(v);
        ag_model_free(m);
        unlink(lm);
        unlink(mm);
    }
    free(text);
}

/* The fuzzer's seed (fuzz/make_seeds.py, written into the build: a tiny projector) loads and encodes; every
 * truncation of it and a few damaged sizes are refused with a message, never a crash. */
static void test_damaged_projectors(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/mmproj/tiny", AG_TEST_FUZZ_SEEDS);
    size_t len = 0;
    char *buf = read_all(path, &len);
    CHECK(buf != NULL);
    if (!buf) return;
    ag_error err = {0};
    ag_vision *v = ag_vision_from_gguf(ag_gguf_open_memory(buf, len, &err), 8, 1, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    if (v) {
        float pix[4 * 24], out[8];
        for (int i = 0; i < 4 * 24; i++) pix[i] = (float)(i % 5) - 2.0f;
        ag_image_patches img = {.grid_t = 1, .grid_h = 2, .grid_w = 2, .patch_dim = 24, .pixels = pix};
        CHECK(ag_vision_encode(v, &img, out, &err) == AG_OK);
        CHECK(out[0] == out[0]);
        ag_vision_free(v);
    }
    CHECK(ag_vision_from_gguf(ag_gguf_open_memory(buf, len, &err), 16, 1, &err) == NULL); /* another model's size */
    CHECK(strstr(err.msg, "outputs 8 values") != NULL);
    int refused = 0, tried = 0;
    for (size_t cut = 16; cut < len; cut += 97, tried++) {
        err = (ag_error){0};
        ag_gguf_file *f = ag_gguf_open_memory(buf, cut, &err);
        ag_vision *t = f ? ag_vision_from_gguf(f, 8, 1, &err) : NULL;
        refused += t == NULL && err.msg[0];
        ag_vision_free(t);
    }
    CHECK(refused == tried);
    free(buf);
}

static void teardown(void) {
    ag_vision_free(F.v);
    ag_model_free(F.m);
    free(F.img.pixels);
    free(F.vision);
    free(F.logits);
    cJSON_Delete(F.exp);
    unlink(F.lm_path);
    unlink(F.mm_path);
}

int main(void) {
    const ag_test_case cases[] = {
        {"projector keys and preprocessing settings", test_keys_and_preproc},
        {"vision encoder output vs transformers", test_vision_encoder},
        {"an image encoded again comes from the cache", test_encoding_cache},
        {"M-RoPE position ids vs get_rope_index", test_positions},
        {"prompt logits, decode logits and greedy tokens vs transformers", test_prompt_logits_and_greedy},
        {"prompt split over two calls, two images in one prompt", test_split_prompt_and_two_images},
        {"image tokens count against the context; bad input refused", test_context_and_errors},
        {"f16 and q8_0 conversions stay close", test_reduced_precision},
        {"damaged projector files are refused", test_damaged_projectors},
    };
    const int rc = ag_test_run(cases, (int)(sizeof cases / sizeof cases[0]));
    teardown();
    return rc;
}
