/*
 * image_resize.c - PIL's Image.resize(size, Image.BICUBIC) for 8-bit RGB, bit for bit
 * (Pillow's libImaging/Resample.c is the reference for the arithmetic; the code here is ours).
 *
 * Separable: a horizontal pass into an 8-bit intermediate image holding only the source rows the
 * vertical pass reads, then a vertical pass. Per output coordinate i of a pass (in_size -> out_size):
 *   scale = in_size / out_size, fscale = max(scale, 1)     (antialiasing: the kernel widens by fscale)
 *   support = 2 * fscale, center = (i + 0.5) * scale
 *   taps x in [int(center - support + 0.5), int(center + support + 0.5)) clipped to the image,
 *   w(x) = cubic((x - center + 0.5) / fscale) with a = -0.5, normalized to sum 1,
 *   then in fixed point: k = round-half-away(w * 2^22) as int32.
 *   out = clip8((2^21 + sum k * in) >> 22)  (int32 accumulation, arithmetic shift, clamp 0..255)
 * A pass whose size does not change is skipped, as Pillow does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/image.h"
#include "base/error.h"

#define RESAMPLE_PRECISION_BITS 22 /* 32 - 8 - 2, Pillow's PRECISION_BITS for 8-bit images */
#define BICUBIC_SUPPORT 2.0

typedef struct {
    int ksize;    /* taps per output coordinate (stride of coeffs) */
    int *first;   /* (out_size) first source coordinate */
    int *count;   /* (out_size) taps used */
    int32_t *k;   /* (out_size, ksize) fixed-point weights */
} resample_taps;

static double bicubic_weight(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static void taps_free(resample_taps *t) {
    free(t->first);
    free(t->count);
    free(t->k);
}

static ag_status taps_compute(int in_size, int out_size, resample_taps *t, ag_error *err) {
    memset(t, 0, sizeof *t);
    double scale = (double)in_size / out_size;
    double fscale = scale < 1.0 ? 1.0 : scale;
    double support = BICUBIC_SUPPORT * fscale, inv_fscale = 1.0 / fscale;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->first = malloc(sizeof(int) * out_size);
    t->count = malloc(sizeof(int) * out_size);
    t->k = calloc((size_t)out_size * t->ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * t->ksize);
    if (!t->first || !t->count || !t->k || !w) {
        free(w);
        taps_free(t);
        return ag_error_set(err, AG_ERR_NOMEM, "resize: out of memory");
    }
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        double sum = 0.0;
        for (int x = 0; x < n; x++) {
            w[x] = bicubic_weight((x + lo - center + 0.5) * inv_fscale);
            sum += w[x];
        }
        int32_t *k = t->k + (size_t)i * t->ksize;
        for (int x = 0; x < n; x++) {
            double v = sum != 0.0 ? w[x] / sum : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << RESAMPLE_PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << RESAMPLE_PRECISION_BITS));
        }
        t->first[i] = lo;
        t->count[i] = n;
    }
    free(w);
    return AG_OK;
}

static inline uint8_t clip8_fixed(int32_t acc) {
    int32_t v = acc >> RESAMPLE_PRECISION_BITS; /* arithmetic shift, as Pillow */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* src (sw x rows, RGB) -> dst (dw x rows): each row filtered along x. */
static void resample_horizontal(const uint8_t *src, int sw, uint8_t *dst, int dw, int rows, const resample_taps *t) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *s = src + (size_t)y * sw * 3;
        uint8_t *d = dst + (size_t)y * dw * 3;
        for (int x = 0; x < dw; x++) {
            const int32_t *k = t->k + (size_t)x * t->ksize;
            const uint8_t *p = s + (size_t)t->first[x] * 3;
            int32_t a0 = 1 << (RESAMPLE_PRECISION_BITS - 1), a1 = a0, a2 = a0;
            for (int j = 0; j < t->count[x]; j++) {
                a0 += p[3 * j] * k[j];
                a1 += p[3 * j + 1] * k[j];
                a2 += p[3 * j + 2] * k[j];
            }
            d[3 * x] = clip8_fixed(a0);
            d[3 * x + 1] = clip8_fixed(a1);
            d[3 * x + 2] = clip8_fixed(a2);
        }
    }
}

/* src (w x any rows, RGB; row 0 = source row `row0`) -> dst (w x dh): each column filtered along y.
 * acc (w * 3) holds one output row's sums, so that the taps run over whole rows (integer sums: the
 * order does not change the result). */
static void resample_vertical(const uint8_t *src, int row0, int w, uint8_t *dst, int dh, const resample_taps *t,
                              int32_t *acc) {
    size_t stride = (size_t)w * 3;
    for (int y = 0; y < dh; y++) {
        const int32_t *k = t->k + (size_t)y * t->ksize;
        const uint8_t *s = src + (size_t)(t->first[y] - row0) * stride;
        for (size_t c = 0; c < stride; c++) acc[c] = 1 << (RESAMPLE_PRECISION_BITS - 1);
        for (int j = 0; j < t->count[y]; j++) {
            const uint8_t *row = s + (size_t)j * stride;
            const int32_t kj = k[j];
            for (size_t c = 0; c < stride; c++) acc[c] += row[c] * kj;
        }
        uint8_t *d = dst + (size_t)y * stride;
        for (size_t c = 0; c < stride; c++) d[c] = clip8_fixed(acc[c]);
    }
}

ag_status ag_image_resize_bicubic(const ag_image *in, int out_width, int out_height, ag_image *out, ag_error *err) {
    memset(out, 0, sizeof *out);
    if (!in || !in->rgb || in->width <= 0 || in->height <= 0 || out_width <= 0 || out_height <= 0 ||
        out_width > AG_IMAGE_MAX_SIDE * 4 || out_height > AG_IMAGE_MAX_SIDE * 4)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "resize: bad sizes (%d x %d -> %d x %d)", in ? in->width : 0,
                            in ? in->height : 0, out_width, out_height);
    resample_taps th = {0}, tv = {0};
    ag_status st = taps_compute(in->width, out_width, &th, err);
    if (st == AG_OK) st = taps_compute(in->height, out_height, &tv, err);
    if (st != AG_OK) {
        taps_free(&th);
        return st;
    }
    bool need_h = out_width != in->width, need_v = out_height != in->height;
    /* the source rows the vertical pass reads: [row0, row1) */
    int row0 = need_v ? tv.first[0] : 0;
    int row1 = need_v ? tv.first[out_height - 1] + tv.count[out_height - 1] : in->height;
    uint8_t *tmp = NULL;
    const uint8_t *vsrc = in->rgb;
    int vrow0 = 0;
    out->rgb = malloc((size_t)out_width * out_height * 3);
    if (!out->rgb) st = ag_error_set(err, AG_ERR_NOMEM, "resize: out of memory");
    if (st == AG_OK && need_h) {
        tmp = malloc((size_t)out_width * (row1 - row0) * 3);
        if (!tmp) {
            st = ag_error_set(err, AG_ERR_NOMEM, "resize: out of memory");
        } else {
            resample_horizontal(in->rgb + (size_t)row0 * in->width * 3, in->width, need_v ? tmp : out->rgb, out_width,
                                need_v ? row1 - row0 : in->height, &th);
            vsrc = tmp;
            vrow0 = row0;
        }
    }
    if (st == AG_OK && need_v) {
        int32_t *acc = malloc(sizeof(int32_t) * (size_t)out_width * 3);
        if (!acc) st = ag_error_set(err, AG_ERR_NOMEM, "resize: out of memory");
        else resample_vertical(vsrc, vrow0, out_width, out->rgb, out_height, &tv, acc);
        free(acc);
    }
    if (st == AG_OK && !need_h && !need_v) memcpy(out->rgb, in->rgb, (size_t)out_width * out_height * 3);
    free(tmp);
    taps_free(&th);
    taps_free(&tv);
    if (st != AG_OK) {
        free(out->rgb);
        out->rgb = NULL;
        return st;
    }
    out->width = out_width;
    out->height = out_height;
    return AG_OK;
}
