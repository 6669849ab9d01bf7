/*
 * mrope.h - multimodal rotary position embedding (M-RoPE, GLM-4.1V / Qwen2-VL style): each token
 * has a (time, height, width) position; rotated pair i of a head takes the position of its
 * section (sections: pairs per axis, summing to n_rot/2). Text tokens have three equal positions,
 * which is plain rotary. Also the positions the reference's get_rope_index gives an image's tokens.
 */
#ifndef AG_MODEL_MROPE_H
#define AG_MODEL_MROPE_H

#include <stdint.h>

/* Pairs (x[i], x[i + n_rot/2]) of each of the n_head heads (halves, as the files store GLM-4.1V's
 * Q/K) rotated by
 * pos[section(i)] * base^(-2i/n_rot), i < n_rot/2; x: (n_head, head_dim) in place. */
void ag_rope_multi(float *x, int n_head, int head_dim, int n_rot, const int32_t pos[3], const int sections[3], float base);

/* The (t, h, w) positions of the t * (h/merge) * (w/merge) tokens of an image of grid_t x grid_h x
 * grid_w patches, the first at st: pos[3*k + axis] = st + index along axis, tokens in (t, h, w)
 * order. Returns the largest position written. */
int ag_mrope_image_positions(int grid_t, int grid_h, int grid_w, int merge, int st, int32_t *pos);

/* The positions of a whole expanded prompt, as get_rope_index gives them: tokens[0..n) where each
 * run of image_token is image i (grids[i] = {t, h, w} patches, merge^2 patches per token); text
 * takes the next position on all three axes, an image its (t, h, w) positions from the next one,
 * and what follows continues from the largest + 1. pos: (n, 3); the first token's next position is
 * start. Returns the next position after the prompt, or -1 when the runs do not match the grids. */
int ag_mrope_prompt_positions(const int32_t *tokens, int n, int32_t image_token, const int (*grids)[3], int n_images,
                              int merge, int start, int32_t *pos);

#endif
