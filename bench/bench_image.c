/*
 * bench_image.c - time of image input (docs/PERFORMANCE.md, "Image input"): decoding each file
 * and the GLM-4.1V preprocessing of it, best of N runs, one thread.
 * usage: build/bench_image FILE... [--runs N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoglm/image.h"
#include "base/file.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
            continue;
        }
        size_t n = 0;
        ag_error err = {0};
        char *bytes = ag_read_file(argv[i], (size_t)1 << 28, &n, &err);
        if (!bytes) {
            fprintf(stderr, "bench_image: %s\n", err.msg);
            return 1;
        }
        ag_image_preproc_params p;
        ag_image_preproc_params_glm4v_default(&p);
        double best_dec = 1e9, best_pre = 1e9;
        int w = 0, h = 0, gh = 0, gw = 0;
        for (int r = 0; r < runs; r++) {
            ag_image img;
            ag_image_patches pt;
            double t0 = now_s();
            if (ag_image_decode(bytes, n, &img, &err) != AG_OK) {
                fprintf(stderr, "bench_image: %s: %s\n", argv[i], err.msg);
                return 1;
            }
            double t1 = now_s();
            if (ag_image_preprocess_glm4v(&img, &p, &pt, &err) != AG_OK) {
                fprintf(stderr, "bench_image: %s: %s\n", argv[i], err.msg);
                return 1;
            }
            double t2 = now_s();
            best_dec = t1 - t0 < best_dec ? t1 - t0 : best_dec;
            best_pre = t2 - t1 < best_pre ? t2 - t1 : best_pre;
            w = img.width, h = img.height, gh = pt.grid_h, gw = pt.grid_w;
            ag_image_patches_free(&pt);
            ag_image_free(&img);
        }
        printf("%s: %zu bytes, %d x %d -> %d x %d patches: decode %.1f ms, preprocess %.1f ms, total %.1f ms\n",
               argv[i], n, w, h, gw, gh, best_dec * 1e3, best_pre * 1e3, (best_dec + best_pre) * 1e3);
        free(bytes);
    }
    return 0;
}
