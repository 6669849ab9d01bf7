/*
 * bench_vision.c - the vision encoder's speed on the CPU or the GPU (docs/PERFORMANCE.md, "Vision
 * encoder"): encodes a synthetic image (grid 1 x H x W patches) with a projector file, REPS
 * times, and prints the best time. gpu: the encoder on GPU 0 (matrices as the file has them),
 * gpu-f16: every matrix F16.
 * usage: bench_vision MMPROJ N_EMBD THREADS H W [REPS] [cpu|gpu|gpu-f16]   (a projector from bench/gen_mmproj.py)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "model/vision_impl.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench_vision MMPROJ N_EMBD THREADS H W [REPS]\n");
        return 2;
    }
    ag_error err = {0};
    const int n_embd = atoi(argv[2]), threads = atoi(argv[3]), gh = atoi(argv[4]), gw = atoi(argv[5]);
    const int reps = argc > 6 ? atoi(argv[6]) : 3;
    const char *where = argc > 7 ? argv[7] : "cpu";
    ag_gguf_file *f = ag_gguf_open(argv[1], &err);
    ag_vision *v = f ? ag_vision_from_gguf(f, n_embd, threads, &err) : NULL;
    const int n_tok = v ? ag_vision_n_tokens(v, 1, gh, gw) : 0;
    if (!v || n_tok <= 0) {
        fprintf(stderr, "bench_vision: %s\n", v ? "bad grid" : err.msg);
        ag_vision_free(v);
        return 1;
    }
    if (strncmp(where, "gpu", 3) == 0 && ag_vision_gpu_attach(v, 0, strcmp(where, "gpu-f16") == 0, 0, &err) != AG_OK) {
        fprintf(stderr, "bench_vision: %s\n", err.msg);
        ag_vision_free(v);
        return 1;
    }
    const size_t n_pix = (size_t)gh * gw * v->patch_dim;
    ag_image_patches img = {.grid_t = 1, .grid_h = gh, .grid_w = gw, .patch_dim = v->patch_dim, .pixels = malloc(n_pix * sizeof(float))};
    float *out = malloc((size_t)n_tok * n_embd * sizeof(float));
    if (!img.pixels || !out) return 1;
    for (size_t i = 0; i < n_pix; i++) img.pixels[i] = (float)(i % 13) / 6.0f - 1.0f;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_s();
        if (ag_vision_encode(v, &img, out, &err) != AG_OK) {
            fprintf(stderr, "bench_vision: %s\n", err.msg);
            return 1;
        }
        const double t = now_s() - t0;
        if (t < best) best = t;
    }
    printf("grid 1x%dx%d (%d patches, %d tokens), width %d, %d blocks, %s (%d threads): best of %d %.3f s\n", gh, gw, gh * gw, n_tok,
           v->d, v->n_layer, where, threads, reps, best);
    free(img.pixels);
    free(out);
    ag_vision_free(v);
    return 0;
}
