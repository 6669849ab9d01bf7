/*
 * session_image.c - prompts with images in a session (include/autoglm/vision.h): the image
 * placeholder runs expanded to each image's tokens, the images encoded (model/vision_glm4v.c),
 * the positions of the reference's get_rope_index (text: consecutive; an image: (t, h, w) from
 * the next position, model/mrope.c; the text after it continues from its largest position + 1),
 * and the forward pass with image embeddings in place of the placeholders' rows (on the CPU, or on
 * the GPU for sessions of a model placed there: gpu/gpu_session.c reads the same scratch fields).
 *
 * The cache holds one row per token, images included, so image tokens count against the
 * context; the rotary position of text after an image is its cache position + pos_delta (kept
 * in the session for later evaluations and decode steps, with marks for truncation).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/vision.h"
#include "base/error.h"
#include "engine/session_impl.h"
#include "gpu/gpu.h"
#include "model/kv_blocks.h"
#include "model/mrope.h"

void ag_session_mm_truncate(ag_session *s, int n_keep) {
    while (s->n_mm_marks > 0 && s->mm_marks[s->n_mm_marks - 1][0] > n_keep) s->n_mm_marks--;
    s->pos_delta = s->n_mm_marks > 0 ? s->mm_marks[s->n_mm_marks - 1][1] : 0;
}

static ag_status add_mark(ag_session *s, int end, int delta, ag_error *err) {
    if (s->n_mm_marks == s->cap_mm_marks) {
        const int cap = s->cap_mm_marks ? 2 * s->cap_mm_marks : 8;
        int(*p)[2] = realloc(s->mm_marks, (size_t)cap * sizeof *p);
        if (!p) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        s->mm_marks = p;
        s->cap_mm_marks = cap;
    }
    s->mm_marks[s->n_mm_marks][0] = end;
    s->mm_marks[s->n_mm_marks][1] = delta;
    s->n_mm_marks++;
    s->pos_delta = delta;
    return AG_OK;
}

ag_status ag_session_mm_copy(ag_session *dst, const ag_session *src, int n, ag_error *err) {
    dst->n_mm_marks = 0;
    for (int i = 0; i < src->n_mm_marks && src->mm_marks[i][0] <= n; i++) {
        ag_status st = add_mark(dst, src->mm_marks[i][0], src->mm_marks[i][1], err);
        if (st) return st;
    }
    ag_session_mm_truncate(dst, n);
    return AG_OK;
}

/* The expanded prompt: tokens, the embedding row of each (NULL for text), rotary positions. */
typedef struct {
    ag_token *tokens;
    const float **rows;
    int32_t *pos;   /* (n, 3) */
    float *embd;    /* every image's rows */
    int n, n_image_tokens;
    int end_delta;  /* pos_delta after the prompt */
    int *image_end; /* (n_images) index past each image's run, for the marks */
} expanded;

static void expanded_free(expanded *e) {
    free(e->tokens);
    free(e->rows);
    free(e->pos);
    free(e->embd);
    free(e->image_end);
}

/* Counts the placeholder runs and the expanded length. */
static ag_status plan(ag_vision *v, const ag_token *tokens, int n, const ag_image_patches *images, int n_images, int *n_out,
                      int *n_img_tok, ag_error *err) {
    const ag_token img = ag_vision_image_token(v);
    int runs = 0;
    int64_t total = 0, img_tok = 0;
    for (int i = 0; i < n;) {
        if (tokens[i] != img) {
            total++, i++;
            continue;
        }
        int j = i;
        while (j < n && tokens[j] == img) j++;
        if (runs >= n_images)
            return ag_error_set(err, AG_ERR_INVALID_ARG, "the prompt has more image placeholders than the %d image(s) given", n_images);
        const ag_image_patches *p = &images[runs];
        const int k = ag_vision_n_tokens(v, p->grid_t, p->grid_h, p->grid_w);
        if (k <= 0)
            return ag_error_set(err, AG_ERR_INVALID_ARG, "image %d: invalid patch grid %dx%dx%d", runs, p->grid_t, p->grid_h, p->grid_w);
        if (j - i != 1 && j - i != k)
            return ag_error_set(err, AG_ERR_INVALID_ARG, "image %d: a run of %d placeholders (1 or %d expected)", runs, j - i, k);
        total += k, img_tok += k, runs++, i = j;
    }
    if (runs != n_images)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "%d image(s) given but the prompt has %d image placeholder(s)", n_images, runs);
    if (total > (1 << 30))
        return ag_error_set(err, AG_ERR_CONTEXT_FULL, "%lld tokens (%lld of them for %d image(s)) do not fit in any context",
                            (long long)total, (long long)img_tok, n_images);
    *n_out = (int)total;
    *n_img_tok = (int)img_tok;
    return AG_OK;
}

static ag_status expand(ag_session *s, ag_vision *v, const ag_token *tokens, int n, const ag_image_patches *images, int n_images,
                        expanded *e, ag_error *err) {
    const ag_token img = ag_vision_image_token(v);
    const int e_dim = s->model->hp.n_embd, merge = ag_vision_preproc(v)->merge_size;
    e->tokens = malloc((size_t)e->n * sizeof *e->tokens);
    e->rows = calloc((size_t)e->n, sizeof *e->rows);
    e->pos = malloc((size_t)e->n * 3 * sizeof *e->pos);
    e->embd = malloc(((size_t)e->n_image_tokens + 1) * e_dim * sizeof *e->embd);
    e->image_end = malloc(((size_t)n_images + 1) * sizeof *e->image_end);
    if (!e->tokens || !e->rows || !e->pos || !e->embd || !e->image_end) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    int(*grids)[3] = malloc(((size_t)n_images + 1) * sizeof *grids);
    if (!grids) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    int o = 0, image = 0;
    float *row = e->embd;
    for (int i = 0; i < n;) {
        if (tokens[i] != img) {
            e->tokens[o++] = tokens[i++];
            continue;
        }
        while (i < n && tokens[i] == img) i++;
        const ag_image_patches *p = &images[image];
        const int k = ag_vision_n_tokens(v, p->grid_t, p->grid_h, p->grid_w);
        ag_status st = ag_vision_encode(v, p, row, err);
        if (st) {
            free(grids);
            return st;
        }
        for (int j = 0; j < k; j++, o++, row += e_dim) {
            e->tokens[o] = img;
            e->rows[o] = row;
        }
        grids[image][0] = p->grid_t, grids[image][1] = p->grid_h, grids[image][2] = p->grid_w;
        e->image_end[image++] = o;
    }
    const int next = ag_mrope_prompt_positions(e->tokens, e->n, img, (const int(*)[3])grids, n_images, merge,
                                               s->n_past + s->pos_delta, e->pos);
    free(grids);
    if (next < 0) return ag_error_set(err, AG_ERR_INVALID_ARG, "the image placeholders do not match the images");
    e->end_delta = next - (s->n_past + e->n);
    return AG_OK;
}

ag_status ag_session_eval_images(ag_session *s, ag_vision *v, const ag_token *tokens, int n, const ag_image_patches *images,
                                 int n_images, bool all_logits, int *n_eval, ag_error *err) {
    if (n_eval) *n_eval = 0;
    if (!s || !v || !tokens || n <= 0 || n_images < 0 || (n_images > 0 && !images))
        return ag_error_set(err, AG_ERR_INVALID_ARG, "no tokens to evaluate");
    expanded e = {0};
    ag_status st = plan(v, tokens, n, images, n_images, &e.n, &e.n_image_tokens, err);
    if (st) return st;
    if (n_images == 0) { /* text only */
        st = ag_session_eval(s, tokens, n, all_logits, err);
        if (!st && n_eval) *n_eval = n;
        return st;
    }
    if (!s->model->hp.mrope)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "the model has no multimodal rotary sections (rope.dimension_sections): not a GLM-4.1V text model");
    if (e.n > s->n_ctx - s->n_past)
        return ag_error_set(err, AG_ERR_CONTEXT_FULL, "%d tokens (%d of them for %d image(s)) do not fit in the context: %d of %d positions used",
                            e.n, e.n_image_tokens, n_images, s->n_past, s->n_ctx);
    const int n_vocab = s->model->hp.n_vocab;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab) return ag_error_set(err, AG_ERR_INVALID_ARG, "token id %d out of range [0, %d)", tokens[i], n_vocab);
    if ((st = expand(s, v, tokens, n, images, n_images, &e, err)) || (st = ag_session_reserve_logits(s, all_logits ? e.n : 1, err))) {
        expanded_free(&e);
        return st;
    }
    const int start = s->n_past;
    for (int done = 0; done < e.n;) {
        const int chunk = e.n - done < s->n_batch ? e.n - done : s->n_batch;
        float *out = all_logits ? s->logits + (size_t)done * n_vocab : s->logits;
        if ((st = ag_kv_cache_prepare(&s->kv, s->n_past, chunk, err))) { /* blocks: the pool is full */
            s->n_logits = 0;
            s->n_past = start;
            ag_session_mm_truncate(s, s->n_past);
            expanded_free(&e);
            return st;
        }
        s->scratch.embd_rows = e.rows + done;
        s->scratch.mrope_pos = e.pos + 3 * (size_t)done;
        if (s->gpu) { /* the same rows and positions through the device (gpu/gpu_session.c) */
            ag_gpu_cpu_part cpu = {&s->kv, &s->scratch, s->pool};
            st = ag_gpu_forward(s->gpu, s->model, &cpu, e.tokens + done, chunk, s->n_past, out, all_logits, err);
        } else
            ag_forward(s->model, &s->kv, &s->scratch, s->pool, e.tokens + done, chunk, s->n_past, out, all_logits);
        s->scratch.embd_rows = NULL;
        s->scratch.mrope_pos = NULL;
        if (st) { /* a device error: the prompt is dropped as when aborted */
            s->n_logits = 0;
            s->n_past = start;
            ag_session_mm_truncate(s, s->n_past);
            expanded_free(&e);
            return st;
        }
        if (s->scratch.aborted) { /* the whole prompt is dropped: its positions need the images' marks */
            s->n_logits = 0;
            s->n_past = start;
            ag_session_mm_truncate(s, s->n_past);
            expanded_free(&e);
            return ag_error_set(err, AG_ERR_ABORTED, "aborted at position %d", s->n_past);
        }
        s->n_past += chunk;
        done += chunk;
    }
    /* one mark per image: from its end on, cache position + delta is the next position (the text
     * after it, or the next image's start) */
    for (int i = 0; i < n_images && !st; i++) {
        const int end_idx = e.image_end[i];
        const int next_pos = end_idx < e.n ? e.pos[3 * end_idx] : e.end_delta + start + e.n;
        st = add_mark(s, start + end_idx, next_pos - (start + end_idx), err);
    }
    s->n_logits = all_logits ? e.n : 1;
    if (n_eval) *n_eval = e.n;
    expanded_free(&e);
    return st;
}

ag_status ag_session_eval_prompt_images(ag_session *s, ag_vision *v, const char *text, const ag_image_patches *images,
                                        int n_images, bool all_logits, int *n_eval, ag_error *err) {
    if (!s || !text) return ag_error_set(err, AG_ERR_INVALID_ARG, "no prompt");
    const size_t len = strlen(text);
    const int cap = len + 16 < (1u << 30) ? (int)len + 16 : 1 << 30;
    ag_token *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    const int n = ag_tokenize(s->model, text, len, ids, cap, false, true);
    ag_status st = n <= 0 ? ag_error_set(err, AG_ERR_INVALID_ARG, "the prompt has no tokens")
                          : ag_session_eval_images(s, v, ids, n, images, n_images, all_logits, n_eval, err);
    free(ids);
    return st;
}
