/*
 * vision_cache.h - the encodings of recent images, so that an image sent again (the same pixels:
 * a chat history that carries its earlier screenshots, a follow-up question about one) is not
 * encoded again. Keyed by SHA-256 of the patch grid and pixels; least recently used entries go
 * first past a byte limit. Thread-safe: one projector serves every session of a model.
 */
#ifndef AG_MODEL_VISION_CACHE_H
#define AG_MODEL_VISION_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/image.h"

typedef struct ag_vision_cache ag_vision_cache;

/* max_bytes: the rows kept at most (0: nothing is kept). NULL when out of memory. */
ag_vision_cache *ag_vision_cache_new(size_t max_bytes);
void ag_vision_cache_free(ag_vision_cache *c);
void ag_vision_cache_set_limit(ag_vision_cache *c, size_t max_bytes);

/* The key of an image's patches (false when hashing failed: then neither lookup nor insert). */
bool ag_vision_cache_key(const ag_image_patches *img, unsigned char key[32]);
/* Copies the n_floats of a cached encoding into out; false when absent. */
bool ag_vision_cache_get(ag_vision_cache *c, const unsigned char key[32], float *out, size_t n_floats);
/* Keeps a copy of an encoding (nothing when larger than the limit or out of memory). */
void ag_vision_cache_put(ag_vision_cache *c, const unsigned char key[32], const float *rows, size_t n_floats);
/* Lookups answered from the cache, and lookups in all, since the cache was made. */
void ag_vision_cache_stats(ag_vision_cache *c, uint64_t *hits, uint64_t *lookups);

#endif
