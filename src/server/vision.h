/*
 * vision.h - whether a model takes images (server and `autoglm run --image`): it needs a vision
 * projector (store_manifest.projector, the mmproj GGUF) and the vision encoder that runs it.
 */
#ifndef AG_SERVER_VISION_H
#define AG_SERVER_VISION_H

#include <stddef.h>

#include "store/store.h"

/* 0 when model `name` (its manifest man, may be NULL) can take images; otherwise the HTTP status
 * with a message: 400 "model NAME does not support images" without a projector, 501 while this
 * build has no vision encoder to run one. */
int vision_check(const store_manifest *man, const char *name, char *err, size_t cap);

#endif
