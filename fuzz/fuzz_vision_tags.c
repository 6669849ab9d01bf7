/*
 * fuzz_vision_tags.c - libFuzzer target for the image tags of prompts (server/vision.c): a message's
 * text gets the tags of its images (vision_tag_content: "[img-N]" kept, "[img]" replaced, or a
 * prefix), then the rendered prompt's tags become image markers (vision_place_images). The first
 * byte is the number of images (0..32); the rest is the text. Aborts when the result is
 * inconsistent: an image without a marker reported as success, a marker count that is not the
 * number of images, an order that is not a permutation. No state is kept between inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/vision.h"

static size_t count(const char *s, const char *what) {
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int n_images = data[0] % 33;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    int ids[32];
    for (int i = 0; i < n_images; i++) ids[i] = i;
    char *tagged = vision_tag_content(text, ids, n_images);
    if (!tagged) abort(); /* only out of memory */
    int order[32], status = -1;
    char err[256];
    const size_t before = count(tagged, VISION_IMAGE_TEXT);
    char *placed = vision_place_images(tagged, n_images, order, err, sizeof err, &status);
    if (placed) { /* every image tagged by vision_tag_content has its marker */
        if (status != 0 || count(placed, VISION_IMAGE_TEXT) != before + (size_t)n_images) abort();
        uint64_t seen = 0;
        for (int k = 0; k < n_images; k++) {
            if (order[k] < 0 || order[k] >= n_images || (seen >> order[k] & 1)) abort();
            seen |= 1ull << order[k];
        }
    } else if (status != 500) {
        abort(); /* tagged text always places every image */
    }
    free(placed);
    free(tagged);
    free(text);
    return 0;
}
