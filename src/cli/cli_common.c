/*
 * cli_common.c - helpers shared by the commands (see cli.h).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"

bool cli_parse_int(const char *flag, const char *text, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno) {
        fprintf(stderr, "autoglm: %s: '%s' is not an integer\n", flag, text ? text : "");
        return false;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "autoglm: %s: %lld is out of range [%lld, %lld]\n", flag, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *flag, const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = text ? strtod(text, &end) : 0;
    if (!text || !*text || *end || errno || isnan(v)) {
        fprintf(stderr, "autoglm: %s: '%s' is not a number\n", flag, text ? text : "");
        return false;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "autoglm: %s: %g is out of range [%g, %g]\n", flag, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "autoglm: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    bool failed = !buf || ferror(f);
    if (f != stdin) fclose(f);
    if (failed) {
        fprintf(stderr, "autoglm: cannot read '%s'\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

ag_model *cli_load_model(const char *path, int n_threads) {
    ag_model_params mp = {.n_threads = n_threads};
    return cli_load_model_ex(path, &mp);
}

int cli_device_flag(int argc, char **argv, int *i, cli_device_opts *d) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--device") == 0) {
        if (!v || (strcmp(v, "cpu") != 0 && strcmp(v, "auto") != 0 && strncmp(v, "cuda", 4) != 0)) {
            fprintf(stderr, "autoglm: --device: '%s' is not cpu, cuda or cuda:N\n", v ? v : "");
            return -1;
        }
        d->device = v;
    } else if (strcmp(a, "--gpu-layers") == 0 || strcmp(a, "-ngl") == 0) {
        if (!cli_parse_int(a, v, 0, 1 << 20, &d->gpu_layers)) return -1;
    } else
        return 0;
    (*i)++;
    return 1;
}

void cli_device_apply(const cli_device_opts *d, ag_model_params *mp) {
    mp->device = d->device;
    if (d->gpu_layers == 0) mp->n_gpu_layers = AG_GPU_LAYERS_NONE;
    else if (d->gpu_layers > 0) mp->n_gpu_layers = (int)(d->gpu_layers > 1 << 20 ? 1 << 20 : d->gpu_layers);
}

void cli_device_for_kv(ag_model_params *mp, const char *kv_type) {
    const char *dev = mp->device ? mp->device : getenv("AUTOGLM_DEVICE");
    if (!kv_type || strcasecmp(kv_type, "f32") != 0 || (dev && *dev && strcasecmp(dev, "auto") != 0)) return;
    mp->device = "cpu"; /* an explicit --device cuda keeps the GPU's error */
    fprintf(stderr, "autoglm: note: an f32 KV cache runs on the CPU (the GPU keeps f16, q8_0 or q4_0)\n");
}

ag_model *cli_load_model_ex(const char *path, const ag_model_params *params) {
    ag_error err = {0};
    ag_model_params mp = *params;
    if (!mp.device) mp.device = getenv("AUTOGLM_DEVICE");
    ag_model *m = ag_model_load(path, &mp, &err);
    if (!m) fprintf(stderr, "autoglm: cannot load model: %s\n", err.msg);
    else if (ag_vocab_warning(m)) fprintf(stderr, "autoglm: warning: %s\n", ag_vocab_warning(m));
    if (m && ag_model_device_note(m)) fprintf(stderr, "autoglm: note: %s\n", ag_model_device_note(m));
    return m;
}

ag_token *cli_tokenize(const ag_model *m, const char *text, size_t len, bool add_special,
                       bool parse_special, int *n_out) {
    int cap = (int)(len < INT_MAX / 2 - 16 ? len + 16 : INT_MAX / 2);
    ag_token *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return NULL;
    int n = ag_tokenize(m, text, len, ids, cap, add_special, parse_special);
    if (n < 0 && n != INT32_MIN) { /* -(needed) */
        cap = -n;
        ag_token *p = realloc(ids, (size_t)cap * sizeof *ids);
        if (!p) {
            free(ids);
            return NULL;
        }
        ids = p;
        n = ag_tokenize(m, text, len, ids, cap, add_special, parse_special);
    }
    if (n < 0) {
        fprintf(stderr, "autoglm: tokenization failed\n");
        free(ids);
        return NULL;
    }
    *n_out = n;
    return ids;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cli_parse_power_flag(int argc, char **argv, int *i, cli_power_opts *o) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--batch-size") == 0 || strcmp(a, "-b") == 0) {
        if (!cli_parse_int("--batch-size", v, 1, 1 << 16, &o->batch)) return -1;
    } else if (strcmp(a, "--power") == 0) {
        if (!v || ag_power_mode_from_name(v) < 0) {
            fprintf(stderr, "autoglm: --power: '%s' is not performance, balanced or powersave\n", v ? v : "");
            return -1;
        }
        o->power = v;
    } else if (strcmp(a, "--max-tps") == 0) {
        if (!cli_parse_float("--max-tps", v, 0, 1e9, &o->max_tps)) return -1;
    } else {
        return 0;
    }
    (*i)++;
    return 1;
}

bool cli_apply_power(ag_session *s, const cli_power_opts *o) {
    if (!o->power && o->max_tps == 0) return true; /* --batch-size alone sized the session */
    ag_power_params p = {o->power ? (ag_power_mode)ag_power_mode_from_name(o->power) : AG_POWER_PERFORMANCE, 0,
                         (int)o->batch, o->max_tps};
    ag_error err = {0};
    if (ag_session_set_power(s, &p, &err) != AG_OK) {
        fprintf(stderr, "autoglm: %s\n", err.msg);
        return false;
    }
    return true;
}

/* Finds "--name VALUE" among argv[from..]; the rest must be one positional. Returns false on a usage error. */
bool cli_parse_named(int argc, char **argv, const char *const *names, const char **values, int n_names,
                       const char **positional, const char *usage) {
    *positional = NULL;
    for (int i = 1; i < argc; i++) {
        int k = -1;
        for (int j = 0; j < n_names; j++)
            if (strcmp(argv[i], names[j]) == 0) k = j;
        if (k >= 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "autoglm: %s needs a value\n%s", argv[i], usage);
                return false;
            }
            values[k] = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "autoglm: unknown option '%s'\n%s", argv[i], usage);
            return false;
        } else if (*positional) {
            fprintf(stderr, "autoglm: unexpected argument '%s'\n%s", argv[i], usage);
            return false;
        } else {
            *positional = argv[i];
        }
    }
    if (!*positional) fputs(usage, stderr);
    return *positional != NULL;
}

