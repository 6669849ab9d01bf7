/*
 * fuzz_mmproj.c - libFuzzer target for vision projector files (mmproj GGUFs, downloaded with a
 * vision-language model): the input is read as a GGUF and loaded as a GLM-4.1V projector for a
 * language model of the size its mm.model.fc says (64 without one); a refusal must say why, and a
 * projector that loads must encode a one-block image (grid 1 x merge x merge) without crashing.
 * Seed: mmproj/tiny of fuzz/make_seeds.py (written at test time, not kept in git).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "model/vision_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1 << 20)) return 0;
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open_memory(data, size, &err);
    if (!f) return 0;
    const ag_gguf_tensor *fc = ag_gguf_find_tensor(f, "mm.model.fc.weight");
    const int n_embd = fc && fc->ne[1] > 0 && fc->ne[1] < (1 << 16) ? (int)fc->ne[1] : 64;
    ag_vision *v = ag_vision_from_gguf(f, n_embd, 1, &err);
    if (!v) {
        if (!err.msg[0]) abort(); /* a refusal says why */
        return 0;
    }
    const int m = ag_vision_preproc(v)->merge_size;
    ag_image_patches img = {.grid_t = 1, .grid_h = m, .grid_w = m, .patch_dim = v->patch_dim, .pixels = NULL};
    const int n_tok = ag_vision_n_tokens(v, 1, m, m);
    img.pixels = calloc((size_t)m * m * v->patch_dim, sizeof(float));
    float *out = calloc((size_t)(n_tok > 0 ? n_tok : 1) * n_embd, sizeof(float));
    if (img.pixels && out && n_tok > 0) {
        for (size_t i = 0; i < (size_t)m * m * v->patch_dim; i++) img.pixels[i] = (float)(i % 7) / 3.0f - 1.0f;
        if (ag_vision_encode(v, &img, out, &err) != AG_OK && !err.msg[0]) abort();
    }
    free(img.pixels);
    free(out);
    ag_vision_free(v);
    return 0;
}
