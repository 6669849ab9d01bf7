/*
 * vision.h - images in prompts, for the server and `autoglm run --image` (vision.c): whether a
 * model takes images (a vision projector in its manifest), where each image goes in the prompt
 * ("[img-N]" tags, as Ollama's, turned into GLM-4.1V's image markers after the chat template),
 * and the prompt tokens with each image's placeholder expanded to the image's tokens.
 */
#ifndef AG_SERVER_VISION_H
#define AG_SERVER_VISION_H

#include <stddef.h>

#include "autoglm/image.h"
#include "autoglm/vision.h"
#include "store/store.h"

/* What a single image becomes in the rendered prompt (GLM-4.1V's chat template writes it so). */
#define VISION_IMAGE_TEXT "<|begin_of_image|><|image|><|end_of_image|>"

/* 0 when model `name` (its manifest man, may be NULL) can take images; otherwise 400 with
 * "model NAME does not support images" (no vision projector). */
int vision_check(const store_manifest *man, const char *name, char *err, size_t cap);

/* A message's text with a tag for each of its images (indices into the request's images), as
 * Ollama places them: a "[img-N]" already in the text stays; else the first "[img]" becomes
 * "[img-N]"; else "[img-N]" is put before the text. malloc'd; NULL when out of memory. */
char *vision_tag_content(const char *content, const int *indices, int n);

/* The rendered prompt with the first "[img-N]" of each image N (0 <= N < n_images) replaced by
 * VISION_IMAGE_TEXT; order[k] receives the image of the k-th one. malloc'd; NULL with a 400
 * message when an image has no tag (the template dropped it), or out of memory. */
char *vision_place_images(const char *text, int n_images, int *order, char *err, size_t cap, int *status);

/* The images images[order[k]] preprocessed with the projector's settings into patches[k]
 * (*patches: a malloc'd array of n_images; free with vision_patches_free). 0, or 400 (an image
 * the processor refuses) / 500 with a message. */
int vision_preprocess(ag_vision *v, const ag_image *images, const int *order, int n_images, ag_image_patches **patches,
                      char *err, size_t cap);
/* tokens[0..n) with the k-th <|image|> placeholder expanded to the tokens of image k (patches p):
 * *out (malloc'd) of *n_out tokens, *n_image_tokens of them image tokens. 0, or 400 when the
 * placeholders do not match the images, 500. */
int vision_expand(ag_vision *v, const ag_image_patches *p, int n_images, const ag_token *tokens, int n, ag_token **out,
                  int *n_out, int *n_image_tokens, char *err, size_t cap);
void vision_patches_free(ag_image_patches *p, int n);

#endif
