/*
 * mrope.c - multimodal rotary position embedding and the positions of an image's tokens
 * (see mrope.h). The reference (transformers' apply_multimodal_rotary_pos_emb for GLM-4.1V)
 * builds cos/sin of inv_freq[i] * position for each axis, keeps section i's axis for pair i and
 * rotates interleaved pairs of the first n_rot dimensions; the GGUF files (llama.cpp's converter
 * and ours) reorder those dimensions of each Q/K head to halves, so pair i is (x[i], x[i + n_rot/2]).
 */
#include "model/mrope.h"

#include <math.h>
#include <stddef.h>

void ag_rope_multi(float *x, int n_head, int head_dim, int n_rot, const int32_t pos[3], const int sections[3], float base) {
    float cs[2 * 512];
    const int n_pairs = n_rot / 2 < 512 ? n_rot / 2 : 512;
    for (int i = 0, axis = 0, left = sections[0]; i < n_pairs; i++) {
        while (left == 0 && axis < 2) left = sections[++axis];
        left--;
        const float inv_freq = 1.0f / powf(base, (float)(2 * i) / (float)n_rot);
        const float theta = (float)pos[axis] * inv_freq;
        cs[2 * i] = cosf(theta);
        cs[2 * i + 1] = sinf(theta);
    }
    for (int h = 0; h < n_head; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < n_pairs; i++) {
            const float a = v[i], b = v[i + n_rot / 2], c = cs[2 * i], s = cs[2 * i + 1];
            v[i] = a * c - b * s;
            v[i + n_rot / 2] = b * c + a * s;
        }
    }
}

int ag_mrope_image_positions(int grid_t, int grid_h, int grid_w, int merge, int st, int32_t *pos) {
    const int gh = grid_h / merge, gw = grid_w / merge;
    int k = 0, max = st;
    for (int t = 0; t < grid_t; t++)
        for (int h = 0; h < gh; h++)
            for (int w = 0; w < gw; w++, k++) {
                pos[3 * k] = st + t;
                pos[3 * k + 1] = st + h;
                pos[3 * k + 2] = st + w;
                if (st + t > max) max = st + t;
                if (st + h > max) max = st + h;
                if (st + w > max) max = st + w;
            }
    return max;
}

int ag_mrope_prompt_positions(const int32_t *tokens, int n, int32_t image_token, const int (*grids)[3], int n_images,
                              int merge, int start, int32_t *pos) {
    int next = start, image = 0;
    for (int i = 0; i < n;) {
        if (tokens[i] != image_token) {
            pos[3 * i] = pos[3 * i + 1] = pos[3 * i + 2] = next++;
            i++;
            continue;
        }
        if (image >= n_images || merge <= 0) return -1;
        const int *g = grids[image++];
        const int k = g[0] * (g[1] / merge) * (g[2] / merge);
        int j = i;
        while (j < n && tokens[j] == image_token) j++;
        if (j - i != k) return -1;
        next = ag_mrope_image_positions(g[0], g[1], g[2], merge, next, pos + 3 * i) + 1;
        i = j;
    }
    return image == n_images ? next : -1;
}
