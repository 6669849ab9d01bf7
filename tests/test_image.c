/*
 * test_image.c - image input (src/image): PNG/JPEG decoding against PIL's convert("RGB"), bad
 * images (truncated, corrupt, huge headers, random bytes, empty), PIL's bicubic resize, and the
 * GLM-4.1V processor against transformers' Glm4vImageProcessorPil outputs
 * (tests/data/image/expected, made by tests/reference/make_glm4v_preproc_fixture.py).
 */
#include <cJSON.h>
#include <stdint.h>
#include <time.h>

#include "autoglm/image.h"
#include "base/file.h"
#include "test.h"

#define IMAGE_DIR AG_TEST_SOURCE_DIR "/data/image"
#define EXPECTED_DIR IMAGE_DIR "/expected"
#define PHONE_W 1080
#define PHONE_H 2400

static uint8_t *read_all(const char *path, size_t *len) {
    ag_error err = {0};
    uint8_t *d = (uint8_t *)ag_read_file(path, 1u << 28, len, &err);
    CHECK_MSG(d != NULL, "%s", err.msg);
    return d;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* tests/reference/make_glm4v_preproc_fixture.py phone_pixel(), the same integer formula */
static void phone_pixel(int x, int y, uint8_t rgb[3]) {
    int r = (x * 255) / (PHONE_W - 1), g = (y * 255) / (PHONE_H - 1), b = ((x + y) * 3) & 255;
    if (y < 80) {
        r = 20, g = 24, b = 28;
        if (30 <= y && y < 50 && (x / 9) % 3 == 0 && x < 300) r = g = b = 230;
    } else if ((y / 60) % 4 == 1 && 40 <= x && x < 1040) {
        r = g = b = 250;
        int line = y % 60;
        if (18 <= line && line < 42 && ((x * 7 + (y / 60) * 13) / 11) % 5 != 0 && (x / 97) % 4 != 3)
            r = 30 + (x % 7), g = 30, b = 40 + (y % 5);
    }
    rgb[0] = (uint8_t)r, rgb[1] = (uint8_t)g, rgb[2] = (uint8_t)b;
}

static int max_byte_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

/* ---------------------------------------------------------------- decoding */

static void test_decode_png_cases(void) {
    /* PIL's Image.open(f).convert("RGB") of each file, as NAME.rgb */
    static const char *names[] = {"palette_trns_24x16.png", "rgb16_24x16.png", "rgba_interlaced_27x19.png",
                                  "grey_alpha_20x10.png", "small_rgb_40x30.png"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512], rgb_path[512];
        snprintf(path, sizeof path, "%s/%s", IMAGE_DIR, names[i]);
        snprintf(rgb_path, sizeof rgb_path, "%s/%s.rgb", IMAGE_DIR, names[i]);
        ag_image img;
        ag_error err = {0};
        CHECK_MSG(ag_image_load_file(path, &img, &err) == AG_OK, "%s: %s", names[i], err.msg);
        size_t len = 0;
        uint8_t *want = read_all(rgb_path, &len);
        CHECK_MSG(want && len == (size_t)img.width * img.height * 3, "%s: %d x %d", names[i], img.width, img.height);
        if (want && len == (size_t)img.width * img.height * 3)
            CHECK_MSG(max_byte_diff(img.rgb, want, len) == 0, "%s differs from PIL", names[i]);
        free(want);
        ag_image_free(&img);
    }
}

static void test_decode_jpeg_vs_pil(void) {
    /* PIL's decode on the machine that made the fixture (libjpeg-turbo, islow IDCT): equal here;
     * +-1 would be allowed for a different IDCT build */
    static const char *names[] = {"photo_160x120.jpg", "grey_prog_64x48.jpg", "cmyk_32x24.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512], rgb_path[512];
        snprintf(path, sizeof path, "%s/%s", IMAGE_DIR, names[i]);
        snprintf(rgb_path, sizeof rgb_path, "%s/%s.rgb", EXPECTED_DIR, names[i]);
        ag_image img;
        ag_error err = {0};
        CHECK_MSG(ag_image_load_file(path, &img, &err) == AG_OK, "%s: %s", names[i], err.msg);
        size_t len = 0;
        uint8_t *want = read_all(rgb_path, &len);
        CHECK_MSG(want && len == (size_t)img.width * img.height * 3, "%s: size", names[i]);
        if (want && len == (size_t)img.width * img.height * 3) {
            int d = max_byte_diff(img.rgb, want, len);
            fprintf(stderr, "  %s: max |ours - PIL| = %d\n", names[i], d);
            CHECK_MSG(d <= 1, "%s: %d", names[i], d);
        }
        free(want);
        ag_image_free(&img);
    }
}

static void expect_error(const uint8_t *bytes, size_t n, ag_status want, const char *needle, const char *what) {
    ag_image img = {1, 1, NULL};
    ag_error err = {0};
    ag_status st = ag_image_decode(bytes, n, &img, &err);
    CHECK_MSG(st == want, "%s: status %d (%s)", what, (int)st, err.msg);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, needle);
    CHECK(img.rgb == NULL && img.width == 0 && img.height == 0);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void test_decode_errors(void) {
    expect_error((const uint8_t *)"", 0, AG_ERR_INVALID_ARG, "empty", "empty");
    uint8_t noise[512];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
    noise[0] = 0x42;
    expect_error(noise, sizeof noise, AG_ERR_INVALID_ARG, "not a PNG or JPEG", "random bytes");
    expect_error((const uint8_t *)"GIF89a......", 12, AG_ERR_INVALID_ARG, "not a PNG or JPEG", "gif");

    size_t n = 0;
    uint8_t *png = read_all(IMAGE_DIR "/rgb_301x157.png", &n);
    uint8_t *jpg = NULL;
    size_t nj = 0;
    jpg = read_all(IMAGE_DIR "/photo_160x120.jpg", &nj);
    if (png && jpg) {
        /* truncations at many points: each an error, never a crash */
        for (size_t cut = 8; cut < n; cut += n / 37 + 1) {
            ag_image img;
            ag_error err = {0};
            CHECK_MSG(ag_image_decode(png, cut, &img, &err) != AG_OK, "PNG cut at %zu decoded", cut);
        }
        expect_error(png, n / 2, AG_ERR_FORMAT, "PNG", "truncated PNG");
        for (size_t cut = 3; cut < nj; cut += nj / 37 + 1) {
            ag_image img;
            ag_error err = {0};
            CHECK_MSG(ag_image_decode(jpg, cut, &img, &err) != AG_OK, "JPEG cut at %zu decoded", cut);
        }
        expect_error(jpg, nj / 2, AG_ERR_FORMAT, "JPEG", "truncated JPEG");

        /* a header claiming 20000 x 20000: refused before any allocation */
        uint8_t *big = malloc(n);
        memcpy(big, png, n);
        put_be32(big + 16, 20000);
        put_be32(big + 20, 20000);
        expect_error(big, n, AG_ERR_INVALID_ARG, "image is 20000 x 20000, larger than", "huge PNG header");
        put_be32(big + 16, 16000); /* within the side limit, over 64 Mpixel */
        put_be32(big + 20, 16000);
        expect_error(big, n, AG_ERR_INVALID_ARG, "larger than", "64 Mpixel PNG");
        put_be32(big + 16, 0); /* zero width */
        put_be32(big + 20, 157);
        expect_error(big, n, AG_ERR_FORMAT, "no pixels", "zero-width PNG");
        /* corrupt pixel data (CRC kept wrong): an error */
        memcpy(big, png, n);
        for (size_t i = 60; i < n - 20; i += 7) big[i] ^= 0x5a;
        {
            ag_image img;
            ag_error err = {0};
            CHECK(ag_image_decode(big, n, &img, &err) != AG_OK);
        }
        free(big);

        /* JPEG SOF with 30000 x 30000: find the SOF0 marker and patch its size */
        uint8_t *bj = malloc(nj);
        memcpy(bj, jpg, nj);
        bool patched = false;
        for (size_t i = 2; i + 9 < nj; i++)
            if (bj[i] == 0xff && (bj[i + 1] == 0xc0 || bj[i + 1] == 0xc2)) {
                bj[i + 5] = 30000 >> 8, bj[i + 6] = 30000 & 255, bj[i + 7] = 30000 >> 8, bj[i + 8] = 30000 & 255;
                patched = true;
                break;
            }
        CHECK(patched);
        expect_error(bj, nj, AG_ERR_INVALID_ARG, "image is 30000 x 30000, larger than", "huge JPEG header");
        /* garbage after the JPEG header */
        memcpy(bj, jpg, nj);
        for (size_t i = nj / 3; i < nj - 2; i++) bj[i] = (uint8_t)(i * 37);
        {
            ag_image img;
            ag_error err = {0};
            ag_status st = ag_image_decode(bj, nj, &img, &err);
            if (st == AG_OK) ag_image_free(&img); /* libjpeg may resync; no crash or leak is the point */
        }
        free(bj);
        /* a JPEG SOI followed by nothing useful */
        expect_error((const uint8_t *)"\xff\xd8\xff\xe0\x00\x10JFIF", 10, AG_ERR_FORMAT, "JPEG", "JPEG header only");
        /* smaller limits (as the fuzz target uses) */
        ag_image img;
        ag_error err = {0};
        CHECK(ag_image_decode_limited(png, n, 100, 1000000, &img, &err) == AG_ERR_INVALID_ARG);
        CHECK(strstr(err.msg, "301 x 157") != NULL);
    }
    free(png);
    free(jpg);
    ag_image img;
    ag_error err = {0};
    CHECK(ag_image_load_file(IMAGE_DIR "/no_such_file.png", &img, &err) == AG_ERR_IO);
}

/* ---------------------------------------------------------------- preprocessing */

static void test_target_size(void) {
    ag_image_preproc_params p;
    ag_image_preproc_params_glm4v_default(&p);
    struct {
        int h, w, want_h, want_w;
    } cases[] = {
        {2400, 1080, 2408, 1092}, /* a phone screenshot: rounded to multiples of 28 */
        {70, 308, 56, 308},       /* 70 / 28 = 2.5 rounds to even (Python's round) */
        {30, 40, 84, 112},        /* under min_pixels: scaled up */
        {1, 1, 84, 84},           /* tiny: first scaled to 28, then up to the budget */
        {4000, 6000, 1792, 2688}, /* over max_pixels: scaled down (floor) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int h = 0, w = 0;
        ag_error err = {0};
        CHECK(ag_image_glm4v_target_size(cases[i].h, cases[i].w, &p, &h, &w, &err) == AG_OK);
        CHECK_MSG(h == cases[i].want_h && w == cases[i].want_w, "%d x %d -> %d x %d", cases[i].h, cases[i].w, h, w);
    }
    int h, w;
    ag_error err = {0};
    CHECK(ag_image_glm4v_target_size(10, 2100, &p, &h, &w, &err) == AG_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "aspect ratio") != NULL);
    CHECK(ag_image_glm4v_target_size(28, 5600, &p, &h, &w, &err) == AG_OK); /* exactly 200 */
    ag_image_preproc_params bad = p;
    bad.patch_size = 0;
    CHECK(ag_image_glm4v_target_size(100, 100, &bad, &h, &w, &err) == AG_ERR_INVALID_ARG);
}

/* Compares patches with one fixture entry; returns the max |diff| over the stored rows. */
static double compare_fixture(const ag_image_patches *pt, const cJSON *e, const char *name) {
    const cJSON *thw = cJSON_GetObjectItem(e, "grid_thw");
    CHECK_MSG(cJSON_GetArraySize(thw) == 3 && cJSON_GetArrayItem(thw, 0)->valueint == pt->grid_t &&
                  cJSON_GetArrayItem(thw, 1)->valueint == pt->grid_h &&
                  cJSON_GetArrayItem(thw, 2)->valueint == pt->grid_w,
              "%s: grid %d %d %d", name, pt->grid_t, pt->grid_h, pt->grid_w);
    int n_rows = cJSON_GetObjectItem(e, "n_rows")->valueint, dim = cJSON_GetObjectItem(e, "patch_dim")->valueint;
    CHECK(dim == pt->patch_dim && n_rows == pt->grid_t * pt->grid_h * pt->grid_w);
    if (dim != pt->patch_dim || n_rows != pt->grid_t * pt->grid_h * pt->grid_w) return INFINITY;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", EXPECTED_DIR, cJSON_GetObjectItem(e, "rows_file")->valuestring);
    size_t len = 0;
    float *rows = (float *)read_all(path, &len);
    const cJSON *row_ids = cJSON_GetObjectItem(e, "rows");
    int n_sample = cJSON_GetArraySize(row_ids);
    CHECK(rows && len == (size_t)n_sample * dim * sizeof(float));
    double maxd = 0;
    for (int i = 0; rows && i < n_sample; i++) {
        int r = cJSON_GetArrayItem(row_ids, i)->valueint;
        CHECK(r >= 0 && r < n_rows);
        for (int j = 0; j < dim; j++) {
            double d = fabs((double)pt->pixels[(size_t)r * dim + j] - rows[(size_t)i * dim + j]);
            if (d > maxd) maxd = d;
        }
    }
    free(rows);
    snprintf(path, sizeof path, "%s/%s", EXPECTED_DIR, cJSON_GetObjectItem(e, "colsum_file")->valuestring);
    double *colsum = (double *)read_all(path, &len);
    CHECK(colsum && len == (size_t)dim * sizeof(double));
    double max_colsum_d = 0;
    for (int j = 0; colsum && j < dim; j++) {
        double s = 0;
        for (int r = 0; r < n_rows; r++) s += pt->pixels[(size_t)r * dim + j];
        double d = fabs(s - colsum[j]);
        if (d > max_colsum_d) max_colsum_d = d;
    }
    free(colsum);
    /* a column sum of n_rows values each within 1e-5 */
    CHECK_MSG(max_colsum_d <= 1e-5 * n_rows, "%s: column sums differ by %g", name, max_colsum_d);
    CHECK_MSG(maxd <= 1e-5, "%s: max |diff| %g", name, maxd);
    fprintf(stderr, "  %-28s grid %d x %d x %d: max |diff| %g over %d rows, column sums %g\n", name, pt->grid_t,
            pt->grid_h, pt->grid_w, maxd, n_sample, max_colsum_d);
    return maxd;
}

static void test_preprocess_vs_processor(void) {
    size_t len = 0;
    char *json = (char *)read_all(EXPECTED_DIR "/glm4v_preproc.json", &len);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    CHECK(root != NULL);
    if (!root) return;
    const cJSON *images = cJSON_GetObjectItem(root, "images");
    int n_done = 0;
    for (const cJSON *e = images ? images->child : NULL; e; e = e->next) {
        const char *source = cJSON_GetObjectItem(e, "source")->valuestring;
        ag_image img = {0};
        ag_error err = {0};
        if (strcmp(source, "phone_1080x2400") == 0) {
            /* the committed PNG of the formula image; its decode must equal the formula */
            CHECK(ag_image_load_file(IMAGE_DIR "/phone_1080x2400.png", &img, &err) == AG_OK);
            int bad = 0;
            for (int y = 0; img.rgb && y < PHONE_H; y++)
                for (int x = 0; x < PHONE_W; x++) {
                    uint8_t px[3];
                    phone_pixel(x, y, px);
                    bad += memcmp(px, img.rgb + ((size_t)y * PHONE_W + x) * 3, 3) != 0;
                }
            CHECK_MSG(bad == 0, "phone image: %d pixels differ from the formula", bad);
        } else {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", IMAGE_DIR, source);
            CHECK_MSG(ag_image_load_file(path, &img, &err) == AG_OK, "%s", err.msg);
        }
        ag_image_preproc_params p;
        ag_image_preproc_params_glm4v_default(&p);
        const cJSON *size = cJSON_GetObjectItem(e, "size");
        if (size) {
            p.min_pixels = (int64_t)cJSON_GetObjectItem(size, "shortest_edge")->valuedouble;
            p.max_pixels = (int64_t)cJSON_GetObjectItem(size, "longest_edge")->valuedouble;
        }
        ag_image_patches pt;
        CHECK_MSG(ag_image_preprocess_glm4v(&img, &p, &pt, &err) == AG_OK, "%s: %s", e->string, err.msg);
        if (pt.pixels) compare_fixture(&pt, e, e->string);
        ag_image_patches_free(&pt);
        ag_image_free(&img);
        n_done++;
    }
    CHECK(n_done >= 9);
    cJSON_Delete(root);
}

static void test_resize_identity_and_errors(void) {
    uint8_t px[5 * 4 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 13);
    ag_image in = {5, 4, px}, out;
    ag_error err = {0};
    CHECK(ag_image_resize_bicubic(&in, 5, 4, &out, &err) == AG_OK);
    CHECK(out.rgb && memcmp(out.rgb, px, sizeof px) == 0);
    ag_image_free(&out);
    /* a constant image stays constant under any resize (weights sum to 1) */
    memset(px, 77, sizeof px);
    CHECK(ag_image_resize_bicubic(&in, 13, 2, &out, &err) == AG_OK);
    int bad = 0;
    for (int i = 0; out.rgb && i < 13 * 2 * 3; i++) bad += out.rgb[i] != 77;
    CHECK(bad == 0);
    ag_image_free(&out);
    CHECK(ag_image_resize_bicubic(&in, 0, 3, &out, &err) == AG_ERR_INVALID_ARG);
    ag_image_patches pt;
    CHECK(ag_image_preprocess_glm4v(NULL, NULL, &pt, &err) == AG_ERR_INVALID_ARG);
}

/* Not asserted: the time to decode and preprocess the 1080x2400 screenshot (docs/VISION.md). */
static void test_phone_timing(void) {
    size_t n = 0;
    uint8_t *png = read_all(IMAGE_DIR "/phone_1080x2400.png", &n);
    if (!png) return;
    ag_image_preproc_params p;
    ag_image_preproc_params_glm4v_default(&p);
    double best_dec = 1e9, best_pre = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        ag_image img;
        ag_image_patches pt;
        ag_error err = {0};
        double t0 = now_s();
        CHECK(ag_image_decode(png, n, &img, &err) == AG_OK);
        double t1 = now_s();
        CHECK(ag_image_preprocess_glm4v(&img, &p, &pt, &err) == AG_OK);
        double t2 = now_s();
        if (t1 - t0 < best_dec) best_dec = t1 - t0;
        if (t2 - t1 < best_pre) best_pre = t2 - t1;
        ag_image_patches_free(&pt);
        ag_image_free(&img);
    }
    fprintf(stderr, "  1080x2400 PNG (%zu bytes): decode %.1f ms, preprocess %.1f ms (best of 3)\n", n,
            best_dec * 1e3, best_pre * 1e3);
    free(png);
}

int main(void) {
    static const ag_test_case cases[] = {
        {"decode_png_cases", test_decode_png_cases},
        {"decode_jpeg_vs_pil", test_decode_jpeg_vs_pil},
        {"decode_errors", test_decode_errors},
        {"target_size", test_target_size},
        {"resize_identity_and_errors", test_resize_identity_and_errors},
        {"preprocess_vs_processor", test_preprocess_vs_processor},
        {"phone_timing", test_phone_timing},
    };
    return ag_test_run(cases, sizeof cases / sizeof *cases);
}
