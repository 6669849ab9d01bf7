/*
 * vision.c - which models take images (vision.h). A model takes images when its manifest names a
 * vision projector (mmproj GGUF) and the engine has the vision encoder for it; the decoded images
 * themselves wait on api_request.images (api_images.c) for that encoder.
 */
#include <stdio.h>

#include "server/vision.h"

int vision_check(const store_manifest *man, const char *name, char *err, size_t cap) {
    if (!man || !man->projector) {
        snprintf(err, cap, "model %s does not support images", name);
        return 400;
    }
    snprintf(err, cap, "model %s has a vision projector (%s), but this build has no vision encoder to run it", name,
             man->projector);
    return 501;
}
