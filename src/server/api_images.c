/*
 * api_images.c - images in requests: Ollama's "images" (base64 strings) of /api/generate and of
 * /api/chat messages, OpenAI's {"type": "image_url", "image_url": {"url": "data:...;base64,..."}}
 * content parts. Each image is decoded and checked while the request is parsed (src/image), so a
 * bad one is a 400 that names it; the decoded pixels stay on the api_request (images, n_images)
 * for the generation code. Nothing is fetched: only data: URLs are accepted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return 400;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

size_t api_base64_decode(const char *s, size_t n, unsigned char *out, size_t *bad_at) {
    while (n > 0 && s[n - 1] == '=') n--; /* padding is optional */
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            *bad_at = i;
            return SIZE_MAX;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (n % 4 == 1) { /* one leftover character cannot encode a byte */
        *bad_at = n - 1;
        return SIZE_MAX;
    }
    return o;
}

/* Appends one decoded image to rq->images; returns 0 or 400 with "WHERE: why". */
static int add_image(api_request *rq, const char *b64, size_t n, const char *where, char *err, size_t cap) {
    if (rq->n_images >= API_MAX_IMAGES)
        return fail(err, cap, "%s: more than %d images in one request", where, API_MAX_IMAGES);
    if (n == 0) return fail(err, cap, "%s: the image is empty", where);
    unsigned char *bytes = malloc(n / 4 * 3 + 3);
    if (!bytes) return fail(err, cap, "out of memory");
    size_t bad_at = 0, len = api_base64_decode(b64, n, bytes, &bad_at);
    if (len == SIZE_MAX) {
        free(bytes);
        return fail(err, cap, "%s: not valid base64 (at character %zu)", where, bad_at);
    }
    ag_image *grown = realloc(rq->images, sizeof *grown * (size_t)(rq->n_images + 1));
    if (!grown) {
        free(bytes);
        return fail(err, cap, "out of memory");
    }
    rq->images = grown;
    ag_image img;
    ag_error e = {0};
    ag_status st = ag_image_decode(bytes, len, &img, &e);
    free(bytes);
    if (st == AG_ERR_NOMEM) return fail(err, cap, "out of memory");
    if (st != AG_OK) return fail(err, cap, "%s: %s", where, e.msg);
    int64_t pixels = (int64_t)img.width * img.height;
    if (rq->image_pixels + pixels > API_MAX_IMAGE_PIXELS) {
        ag_image_free(&img);
        return fail(err, cap, "%s: the images of this request have more than %lld pixels in all", where,
                    (long long)API_MAX_IMAGE_PIXELS);
    }
    rq->image_pixels += pixels;
    rq->images[rq->n_images++] = img;
    return 0;
}

int api_parse_images(const cJSON *arr, api_request *rq, cJSON *indices, const char *where, char *err, size_t cap) {
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr)) return fail(err, cap, "%s\"images\" must be an array of base64 strings", where);
    const cJSON *v;
    int k = 0;
    cJSON_ArrayForEach(v, arr) {
        char at[96];
        snprintf(at, sizeof at, "%simage %d", where, ++k);
        if (!cJSON_IsString(v)) return fail(err, cap, "%s: must be a base64 string", at);
        int rc = add_image(rq, v->valuestring, strlen(v->valuestring), at, err, cap);
        if (rc) return rc;
        if (indices && !cJSON_AddItemToArray(indices, cJSON_CreateNumber(rq->n_images - 1)))
            return fail(err, cap, "out of memory");
    }
    return 0;
}

int api_parse_image_part(const cJSON *part, api_request *rq, cJSON *indices, const char *where, char *err,
                         size_t cap) {
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
    const cJSON *url = cJSON_IsObject(iu) ? cJSON_GetObjectItemCaseSensitive(iu, "url") : iu;
    if (!cJSON_IsString(url)) return fail(err, cap, "%s: \"image_url\" needs a \"url\" string", where);
    const char *u = url->valuestring;
    if (strncmp(u, "data:", 5) != 0)
        return fail(err, cap, "%s: only data: URLs are accepted; nothing is fetched", where);
    const char *comma = strchr(u, ',');
    if (!comma || comma - u < 12 || strncmp(comma - 7, ";base64", 7) != 0)
        return fail(err, cap, "%s: the data: URL must be base64 (data:image/png;base64,...)", where);
    int rc = add_image(rq, comma + 1, strlen(comma + 1), where, err, cap);
    if (rc) return rc;
    if (indices && !cJSON_AddItemToArray(indices, cJSON_CreateNumber(rq->n_images - 1)))
        return fail(err, cap, "out of memory");
    return 0;
}
