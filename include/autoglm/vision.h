/*
 * vision.h - vision-language models (GLM-4.1V / AutoGLM-Phone-9B): the vision projector file
 * ("mmproj" GGUF, written by `autoglm convert --mmproj`) loaded for a language model, images
 * encoded into the language model's embedding space, and prompts with images evaluated in a
 * session with multimodal rotary positions (docs/VISION.md).
 *
 * A prompt holds, where the chat template puts an image, <|begin_of_image|> <|image|>
 * <|end_of_image|>; the single <|image|> placeholder stands for the image's
 * grid_t*grid_h*grid_w/merge^2 tokens (ag_vision_n_tokens), which count against the context.
 *
 * Ownership: ag_vision_load returns a projector the caller frees with ag_vision_free, after the
 * sessions that use it are done with it; it refers to the language model, which must outlive it.
 * An ag_vision is not thread-safe (one encode at a time).
 */
#ifndef AUTOGLM_VISION_H
#define AUTOGLM_VISION_H

#include "autoglm/autoglm.h"
#include "autoglm/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_vision ag_vision;

/* Loads a projector file for the language model lm (their embedding sizes must agree; lm's
 * vocabulary must have the image tokens). n_threads as lm's. */
ag_vision *ag_vision_load(const char *mmproj_path, const ag_model *lm, ag_error *err);
void ag_vision_free(ag_vision *v);

/* The image processor's settings the projector was made with. */
const ag_image_preproc_params *ag_vision_preproc(const ag_vision *v);
/* Language-model tokens an image of this patch grid becomes (0 for an invalid grid). */
int ag_vision_n_tokens(const ag_vision *v, int grid_t, int grid_h, int grid_w);
/* The <|image|> placeholder token of the language model. */
ag_token ag_vision_image_token(const ag_vision *v);

/* Encodes one image's patches: out receives ag_vision_n_tokens rows of the language model's
 * embedding size (ag_model_n_embd), in the order the image tokens take. The encodings of recent
 * images are kept (an image sent again - the same patches - is copied, not encoded again), up to
 * AG_VISION_CACHE_DEFAULT bytes unless ag_vision_set_cache_bytes says otherwise. */
ag_status ag_vision_encode(ag_vision *v, const ag_image_patches *img, float *out, ag_error *err);

#define AG_VISION_CACHE_DEFAULT ((size_t)256 << 20)
/* The bytes of encodings the projector keeps (0: none; entries beyond go, oldest use first). */
void ag_vision_set_cache_bytes(ag_vision *v, size_t max_bytes);
/* The key the encoding cache files an image under: SHA-256 of its patch grid and pixels (two images
 * with the same key are the same image). False when hashing failed. */
bool ag_vision_image_key(const ag_image_patches *img, unsigned char key[32]);
/* Computes the key once and keeps it in img (keyed, key), where ag_vision_encode and
 * ag_vision_image_key then take it: for a caller that needs the key too (the server matches
 * cached images by it). The pixels must not change afterwards. False when hashing failed. */
bool ag_vision_remember_key(ag_image_patches *img);
/* Encodings answered from the cache, and encodings asked for, since the projector was loaded. */
void ag_vision_cache_counts(const ag_vision *v, uint64_t *hits, uint64_t *lookups);

/* Evaluates tokens[0..n) in the session, where the i-th run of <|image|> tokens is image i
 * (images[0..n_images)): a run of one placeholder is expanded to the image's tokens, a run of
 * exactly that many is taken as it is. Images are encoded first; text tokens get ordinary
 * positions and image tokens (t, h, w) positions, as the reference's get_rope_index, and later
 * evaluations (ag_session_eval, single-token decoding) continue after them. all_logits as
 * ag_session_eval (rows of the expanded sequence). *n_eval (may be NULL) receives the number of
 * positions used. AG_ERR_CONTEXT_FULL when the expanded prompt does not fit. */
ag_status ag_session_eval_images(ag_session *s, ag_vision *v, const ag_token *tokens, int n, const ag_image_patches *images,
                                 int n_images, bool all_logits, int *n_eval, ag_error *err);

/* The same from text (tokenized with special tokens parsed, nothing added): the rendered chat
 * prompt with <|begin_of_image|><|image|><|end_of_image|> per image. */
ag_status ag_session_eval_prompt_images(ag_session *s, ag_vision *v, const char *text, const ag_image_patches *images,
                                        int n_images, bool all_logits, int *n_eval, ag_error *err);

#ifdef __cplusplus
}
#endif

#endif
