/*
 * bench_vision_ttft.c - the time to first token of a prompt with one image on the GPU
 * (docs/PERFORMANCE.md, "Vision on the GPU"): decode the image file, the GLM-4.1V image processor,
 * the vision tower on the GPU (cuda_vision.cu), then the prefill of the image's tokens plus
 * N_TEXT text tokens on the GPU and the first token (argmax). REPS rounds; the first one includes
 * the cuBLAS / kernel warm-up.
 *
 * Each round times the stages apart (encode, then a prefill of ordinary token ids in the image
 * rows' place: the same work) and, when the language model's vocabulary has GLM-4.1V's <|image|>
 * token (bench/gen_synthetic --arch glm4), the real path as well: ag_session_eval_images (the
 * tower, the image rows in the prompt's embeddings, M-RoPE positions) on a fresh session. A
 * projector of any size works with a language model of its output width (bench/gen_mmproj.py,
 * bench/gen_synthetic --shape glm4-9b [--arch glm4]).
 *
 * usage: bench_vision_ttft LM.gguf MMPROJ.gguf IMAGE [N_TEXT=24] [REPS=3] [N_BATCH=4096]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "autoglm/autoglm.h"
#include "autoglm/image.h"
#include "cuda/cuda_vision.h"
#include "gguf/gguf.h"
#include "model/vision_impl.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_vision_ttft LM.gguf MMPROJ.gguf IMAGE [N_TEXT=24] [REPS=3] [N_BATCH=4096]\n");
        return 2;
    }
    const int n_text = argc > 4 ? atoi(argv[4]) : 24, reps = argc > 5 ? atoi(argv[5]) : 3, n_batch = argc > 6 ? atoi(argv[6]) : 4096;
    ag_error err = {0};
    double t0 = now_s();
    ag_model_params mp = {.n_threads = 0, .device = "cuda"};
    ag_model *m = ag_model_load(argv[1], &mp, &err);
    if (!m) {
        fprintf(stderr, "bench_vision_ttft: %s\n", err.msg);
        return 1;
    }
    const double t_lm = now_s() - t0;
    t0 = now_s();
    ag_gguf_file *f = ag_gguf_open(argv[2], &err);
    ag_vision *v = f ? ag_vision_from_gguf(f, ag_model_n_embd(m), 4, &err) : NULL;
    if (!v || ag_vision_gpu_attach(v, 0, false, 0, &err) != AG_OK) {
        fprintf(stderr, "bench_vision_ttft: projector: %s\n", err.msg);
        return 1;
    }
    const double t_vis = now_s() - t0;
    printf("model on %s: load %.2f s; projector (width %d, %d blocks, %s) load + upload %.2f s, %.0f MiB on the device\n",
           ag_model_device(m), t_lm, v->d, v->n_layer, v->blk[0].qkv.type == AG_TYPE_F16 ? "F16" : "F32", t_vis,
           (double)ag_cuda_vision_weight_bytes(v->gpu) / 1048576.0);
    const int nv = ag_model_n_vocab(m);
    ag_token image_tok[4];
    const bool real = ag_tokenize(m, "<|image|>", 9, image_tok, 4, false, true) == 1;
    if (real) v->image_token = image_tok[0]; /* what ag_vision_load sets (the tower is attached by hand here) */
    for (int r = 0; r < reps; r++) {
        const double a = now_s();
        ag_image img;
        if (ag_image_load_file(argv[3], &img, &err) != AG_OK) {
            fprintf(stderr, "bench_vision_ttft: %s\n", err.msg);
            return 1;
        }
        const double b = now_s();
        ag_image_patches pt;
        if (ag_image_preprocess_glm4v(&img, ag_vision_preproc(v), &pt, &err) != AG_OK) {
            fprintf(stderr, "bench_vision_ttft: %s\n", err.msg);
            return 1;
        }
        const double c = now_s();
        const int n_img = ag_vision_n_tokens(v, pt.grid_t, pt.grid_h, pt.grid_w);
        float *emb = malloc((size_t)n_img * v->out * sizeof(float));
        if (!emb || ag_vision_encode(v, &pt, emb, &err) != AG_OK) {
            fprintf(stderr, "bench_vision_ttft: encode: %s\n", err.msg);
            return 1;
        }
        const double d = now_s();
        const int n = n_img + n_text;
        ag_session_params sp = {.n_ctx = n + 64, .n_batch = n_batch};
        ag_session *s = ag_session_new(m, &sp, &err);
        ag_token *toks = malloc((size_t)n * sizeof *toks);
        if (!s || !toks) {
            fprintf(stderr, "bench_vision_ttft: session: %s\n", err.msg);
            return 1;
        }
        for (int i = 0; i < n; i++) toks[i] = (ag_token)(3 + (i * 7919 + r) % (nv - 3));
        const double e = now_s();
        if (ag_session_eval(s, toks, n, false, &err) != AG_OK) {
            fprintf(stderr, "bench_vision_ttft: prefill: %s\n", err.msg);
            return 1;
        }
        const float *l = ag_session_logits(s, -1);
        ag_token best = 0;
        for (int i = 1; i < nv; i++)
            if (l[i] > l[best]) best = i;
        const double g = now_s();
        if (ag_session_eval(s, &best, 1, false, &err) != AG_OK) {
            fprintf(stderr, "bench_vision_ttft: decode: %s\n", err.msg);
            return 1;
        }
        const double h = now_s();
        printf("round %d: image %dx%d -> grid %dx%dx%d (%d patches, %d image tokens + %d text)\n", r, img.width, img.height, pt.grid_t,
               pt.grid_h, pt.grid_w, pt.grid_t * pt.grid_h * pt.grid_w, n_img, n_text);
        printf("  decode %.1f ms, preprocess %.1f ms, vision encode (GPU) %.1f ms, session %.1f ms, prefill %d tokens + first token %.1f ms"
               " (%.0f tok/s); TTFT %.1f ms (without the session's allocation %.1f ms); next token %.1f ms\n",
               1e3 * (b - a), 1e3 * (c - b), 1e3 * (d - c), 1e3 * (e - d), n, 1e3 * (g - e), n / (g - e), 1e3 * (g - a),
               1e3 * (g - a - (e - d)), 1e3 * (h - g));
        printf("  vision scratch %.0f MiB\n", (double)ag_cuda_vision_scratch_bytes(v->gpu) / 1048576.0);
        if (real) { /* text, the image's placeholder run, text: as a chat prompt with one image */
            ag_session_free(s);
            s = ag_session_new(m, &sp, &err);
            for (int i = n_text / 2; i < n_text / 2 + n_img; i++) toks[i] = image_tok[0];
            const double e2 = now_s();
            int n_eval = 0;
            if (!s || ag_session_eval_images(s, v, toks, n, &pt, 1, false, &n_eval, &err) != AG_OK) {
                fprintf(stderr, "bench_vision_ttft: eval with the image: %s\n", err.msg);
                return 1;
            }
            const float *l2 = ag_session_logits(s, -1);
            ag_token b2 = 0;
            for (int i = 1; i < nv; i++)
                if (l2[i] > l2[b2]) b2 = i;
            const double g2 = now_s();
            printf("  with the image through the session (ag_session_eval_images: encode + prefill of %d positions, "
                   "M-RoPE): %.1f ms; TTFT %.1f ms\n",
                   n_eval, 1e3 * (g2 - e2), 1e3 * ((b - a) + (c - b) + (g2 - e2)));
        }
        fflush(stdout);
        ag_session_free(s);
        free(toks);
        free(emb);
        ag_image_patches_free(&pt);
        ag_image_free(&img);
    }
    ag_vision_free(v);
    ag_model_free(m);
    return 0;
}
