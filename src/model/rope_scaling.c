/*
 * rope_scaling.c - long-context rotary scaling read from the GGUF keys, and yarn's frequencies.
 *
 * Every kind ends up as per-frequency divisors (theta_i = pos * base^(-2i/n_rot) / ff[i]) plus one
 * factor on the rotated dimensions of q and k (cos and sin are multiplied by it):
 *   linear    pos / factor                                  (rope_scale, no divisors)
 *   llama3    the file's rope_freqs.weight
 *   longrope  rope_factors_long.weight when the session's context exceeds original_context_length,
 *             else rope_factors_short.weight; attn_factor as stored (phi3)
 *   yarn      ff[i] = 1 / ((1 - e_i) / factor + e_i), e_i = 1 - ramp(i) between the dimensions that
 *             turn beta_fast and beta_slow times over original_context_length;
 *             factor on q, k = attn_factor * (1 + 0.1 ln factor)  (ggml's yarn mscale convention)
 * The reference library computes yarn the same way (floor/ceil of the correction range).
 */
#include <math.h>
#include <stdio.h>

#include "base/error.h"
#include "model/arch.h"

static bool key(const ag_gguf_file *f, const char *arch, const char *suffix, char *out, size_t cap) {
    snprintf(out, cap, "%s.rope.scaling.%s", arch, suffix);
    return ag_gguf_find_kv(f, out) != NULL;
}

static ag_status opt_f32(const ag_gguf_file *f, const char *arch, const char *suffix, float *out, ag_error *err) {
    char k[128];
    return key(f, arch, suffix, k, sizeof k) ? ag_gguf_get_f32(f, k, out, err) : AG_OK;
}

ag_status ag_rope_read_scaling(const ag_gguf_file *f, const char *arch, ag_hparams *hp, ag_error *err) {
    char k[128];
    ag_status st;
    float factor = 1.0f, attn = 1.0f;
    hp->rope_attn_factor = 1.0f;
    hp->n_ctx_orig = hp->n_ctx_train;
    hp->yarn_beta_fast = 32.0f;
    hp->yarn_beta_slow = 1.0f;
    if (key(f, arch, "original_context_length", k, sizeof k)) {
        uint32_t v;
        if ((st = ag_gguf_get_u32(f, k, &v, err))) return st;
        if (v == 0 || v > (1u << 30)) return ag_error_set(err, AG_ERR_FORMAT, "%s=%u is out of range", k, v);
        hp->n_ctx_orig = (int)v;
    }
    if ((st = opt_f32(f, arch, "factor", &factor, err)) || (st = opt_f32(f, arch, "attn_factor", &attn, err)) ||
        (st = opt_f32(f, arch, "yarn_beta_fast", &hp->yarn_beta_fast, err)) ||
        (st = opt_f32(f, arch, "yarn_beta_slow", &hp->yarn_beta_slow, err)))
        return st;
    if (!(attn > 0)) return ag_error_set(err, AG_ERR_FORMAT, "%s.rope.scaling.attn_factor=%g is not positive", arch, attn);
    hp->rope_attn_factor = attn;
    if (!key(f, arch, "type", k, sizeof k)) return AG_OK;
    ag_gguf_str t;
    if ((st = ag_gguf_get_str(f, k, &t, err))) return st;
    if (ag_gguf_str_eq(t, "linear")) {
        if (factor > 0) hp->rope_scale = factor;
    } else if (ag_gguf_str_eq(t, "yarn")) {
        if (!(factor >= 1.0f) || !(hp->yarn_beta_fast > 0) || !(hp->yarn_beta_slow > 0))
            return ag_error_set(err, AG_ERR_FORMAT, "%s.rope.scaling: yarn factor %g, beta_fast %g, beta_slow %g are invalid",
                                arch, factor, hp->yarn_beta_fast, hp->yarn_beta_slow);
        hp->yarn_factor = factor;
        if (factor > 1.0f) hp->rope_attn_factor *= 1.0f + 0.1f * logf(factor);
    } else if (!ag_gguf_str_eq(t, "none") && !ag_gguf_str_eq(t, "longrope")) {
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "%s '%.*s' is not supported yet", k, (int)t.len, t.data);
    }
    return AG_OK;
}

/* The dimension (of n) that turns n_rot times over ctx positions. */
static double correction_dim(double n_rot, int n, double base, double ctx) {
    return n * log(ctx / (n_rot * 2 * M_PI)) / (2 * log(base));
}

void ag_rope_yarn_factors(const ag_hparams *hp, float *out) {
    const int n = hp->n_rot;
    double lo = floor(correction_dim(hp->yarn_beta_fast, n, hp->rope_base, hp->n_ctx_orig));
    double hi = ceil(correction_dim(hp->yarn_beta_slow, n, hp->rope_base, hp->n_ctx_orig));
    lo = lo < 0 ? 0 : lo;
    hi = hi > n - 1 ? n - 1 : hi;
    if (lo == hi) hi += 0.001;
    for (int i = 0; i < n / 2; i++) {
        double ramp = (i - lo) / (hi - lo);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        const double e = 1.0 - ramp; /* 1: extrapolate (keep the frequency), 0: interpolate (divide by factor) */
        out[i] = (float)(1.0 / ((1.0 - e) / hp->yarn_factor + e));
    }
}
