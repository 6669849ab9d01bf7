/*
 * vision.c - images in prompts (vision.h): which models take them, the "[img-N]" tags that say
 * where each image goes (Ollama's convention; OpenAI's image_url parts are tagged where they
 * stand among the text parts), their replacement by GLM-4.1V's image markers once the chat
 * template has run, the image processor with the projector's settings, and the placeholder
 * expansion that makes image tokens count like any other prompt token.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/vision.h"

int vision_check(const store_manifest *man, const char *name, char *err, size_t cap) {
    if (man && man->projector) return 0;
    snprintf(err, cap, "model %s does not support images", name);
    return 400;
}

/* Appends n bytes to a growing string; false when out of memory. */
static bool put(char **s, size_t *len, size_t *cap, const char *p, size_t n) {
    if (n > SIZE_MAX / 4) return false;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *len + n + 1) c *= 2;
        char *q = realloc(*s, c);
        if (!q) return false;
        *s = q;
        *cap = c;
    }
    memcpy(*s + *len, p, n);
    *len += n;
    (*s)[*len] = '\0';
    return true;
}

char *vision_tag_content(const char *content, const int *indices, int n) {
    char *text = strdup(content ? content : "");
    for (int i = 0; text && i < n; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "[img-%d]", indices[i]);
        if (strstr(text, tag)) continue;
        const char *at = strstr(text, "[img]");
        size_t len = 0, cap = 0, cut = at ? (size_t)(at - text) : 0;
        char *out = NULL;
        bool ok = put(&out, &len, &cap, text, cut) && put(&out, &len, &cap, tag, strlen(tag)) &&
                  put(&out, &len, &cap, text + cut + (at ? 5 : 0), strlen(text + cut + (at ? 5 : 0)));
        free(text);
        text = ok ? out : (free(out), NULL);
    }
    return text;
}

/* "[img-N]" at p: N, and the tag's length in *len; -1 when p holds no such tag. */
static int tag_at(const char *p, size_t *len) {
    if (strncmp(p, "[img-", 5) != 0) return -1;
    const char *q = p + 5;
    long v = 0;
    if (*q < '0' || *q > '9') return -1;
    while (*q >= '0' && *q <= '9' && v < 100000) v = v * 10 + (*q++ - '0');
    if (*q != ']') return -1;
    *len = (size_t)(q + 1 - p);
    return (int)v;
}

char *vision_place_images(const char *text, int n_images, int *order, char *err, size_t cap, int *status) {
    bool *seen = calloc((size_t)n_images + 1, 1);
    char *out = NULL;
    size_t len = 0, ocap = 0;
    int k = 0;
    bool ok = seen != NULL && put(&out, &len, &ocap, "", 0);
    for (const char *p = text; ok && *p;) {
        const char *b = strchr(p, '[');
        if (!b) {
            ok = put(&out, &len, &ocap, p, strlen(p));
            break;
        }
        size_t tl = 0;
        const int id = tag_at(b, &tl);
        if (id < 0 || id >= n_images || seen[id]) { /* not one of ours: text */
            ok = put(&out, &len, &ocap, p, (size_t)(b - p) + 1);
            p = b + 1;
            continue;
        }
        ok = put(&out, &len, &ocap, p, (size_t)(b - p)) && put(&out, &len, &ocap, VISION_IMAGE_TEXT, strlen(VISION_IMAGE_TEXT));
        seen[id] = true;
        order[k++] = id;
        p = b + tl;
    }
    *status = 0;
    if (!ok) {
        snprintf(err, cap, "out of memory");
        *status = 500;
    }
    for (int i = 0; ok && i < n_images; i++)
        if (!seen[i]) {
            snprintf(err, cap, "image %d has no place in the prompt (the chat template dropped its message, or a raw prompt lost its [img-%d] tag)", i + 1, i);
            *status = 400;
            break;
        }
    free(seen);
    if (*status) {
        free(out);
        return NULL;
    }
    return out;
}

void vision_patches_free(ag_image_patches *p, int n) {
    for (int i = 0; p && i < n; i++) ag_image_patches_free(&p[i]);
    free(p);
}

int vision_preprocess(ag_vision *v, const ag_image *images, const int *order, int n_images, ag_image_patches **patches,
                      char *err, size_t cap) {
    *patches = NULL;
    ag_image_patches *p = calloc((size_t)n_images + 1, sizeof *p);
    if (!p) return snprintf(err, cap, "out of memory"), 500;
    for (int k = 0; k < n_images; k++) {
        ag_error e = {0};
        if (ag_image_preprocess_glm4v(&images[order[k]], ag_vision_preproc(v), &p[k], &e) != AG_OK) {
            vision_patches_free(p, k);
            snprintf(err, cap, "image %d: %s", order[k] + 1, e.msg);
            return e.code == AG_ERR_NOMEM ? 500 : 400;
        }
    }
    *patches = p;
    return 0;
}

int vision_expand(ag_vision *v, const ag_image_patches *p, int n_images, const ag_token *tokens, int n, ag_token **out,
                  int *n_out, int *n_image_tokens, char *err, size_t cap) {
    *out = NULL;
    *n_out = *n_image_tokens = 0;
    int64_t total = n;
    for (int k = 0; k < n_images; k++) total += ag_vision_n_tokens(v, p[k].grid_t, p[k].grid_h, p[k].grid_w) - 1;
    const ag_token img = ag_vision_image_token(v);
    ag_token *o = total < INT_MAX / 2 ? malloc((size_t)(total + 1) * sizeof *o) : NULL;
    if (!o) return snprintf(err, cap, "out of memory"), 500;
    int w = 0, k = 0, n_img = 0;
    for (int i = 0; i < n; i++) {
        if (tokens[i] != img) {
            o[w++] = tokens[i];
            continue;
        }
        if (k >= n_images) break; /* more placeholders than images: refused below */
        const int t = ag_vision_n_tokens(v, p[k].grid_t, p[k].grid_h, p[k].grid_w);
        for (int j = 0; j < t; j++) o[w++] = img;
        n_img += t;
        k++;
    }
    if (w != total || k != n_images) {
        free(o);
        snprintf(err, cap, "the prompt has %s image placeholders (<|image|>) than the %d image(s) given",
                 k < n_images ? "fewer" : "more", n_images);
        return 400;
    }
    *out = o;
    *n_out = w;
    *n_image_tokens = n_img;
    return 0;
}
