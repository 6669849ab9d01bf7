/*
 * cmd_bench.c - `autoglm bench MODEL [-p 512] [-n 128] [-d 0] [-r 5] [--threads N] [--batch-size N] [--power MODE]
 * [--max-tps T] [--json]` and `autoglm bench --membw`; --device cpu|cuda[:N] / --gpu-layers N choose where
 * it runs (with --membw: the GPU's memory bandwidth).
 *
 * Like the reference's bench tool: pp = one batch of p prompt tokens from an empty cache,
 * tg = n tokens generated one at a time from an empty cache; with -d D (--n-depth) both start from a
 * cache already holding D tokens (filled before the clock starts, "tg128 @ d4096"), which is where
 * the attention's share of a step shows; each repeated r times after one
 * warm-up run, reported as tokens/s mean ± stddev. Also: peak RSS, the bytes of weights one
 * decode step reads, the effective bandwidth of decode (bytes × tg tokens/s) and the machine's
 * measured read bandwidth next to it. With --draft DRAFT [--draft-max N]: greedy generation of n
 * tokens without and with speculative decoding (cli_draft.c), the speed-up and acceptance rate.
 * On a GPU: the layers there (--gpu-layers), the device memory the model and session hold, and
 * from NVML the GPU's energy per token (total energy counter around the runs, at least 2 s of them) and
 * mean power draw;
 * --power MODE also sets the GPU power limit of the mode where NVML allows (put back at the end).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_draft.h"

#define ENERGY_MIN_S 2.0 /* shortest window energy per token is measured over */

typedef struct {
    double mean, stddev;
} stat;

static stat summarize(const double *v, int n) {
    stat s = {0, 0};
    for (int i = 0; i < n; i++) s.mean += v[i];
    s.mean /= n;
    for (int i = 0; i < n && n > 1; i++) s.stddev += (v[i] - s.mean) * (v[i] - s.mean);
    s.stddev = n > 1 ? sqrt(s.stddev / (n - 1)) : 0;
    return s;
}

/* One measured run: returns tokens/s or -1. The cache first gets `depth` tokens (toks[0 ..]), in
 * batches of n_batch, before the clock starts; the measured tokens follow them. */
static double run_once(ag_session *s, const ag_token *toks, int depth, int n_batch, int pp, int tg) {
    ag_error err = {0};
    ag_session_reset(s);
    for (int i = 0; i < depth; i += n_batch) {
        const int n = depth - i < n_batch ? depth - i : n_batch;
        if (ag_session_eval(s, toks + i, n, false, &err)) {
            fprintf(stderr, "autoglm bench: %s\n", err.msg);
            return -1;
        }
    }
    toks += depth;
    double t0 = cli_now();
    if (pp > 0 && ag_session_eval(s, toks, pp, false, &err)) {
        fprintf(stderr, "autoglm bench: %s\n", err.msg);
        return -1;
    }
    for (int i = 0; i < tg; i++)
        if (ag_session_eval(s, &toks[i], 1, false, &err)) {
            fprintf(stderr, "autoglm bench: %s\n", err.msg);
            return -1;
        }
    double dt = cli_now() - t0;
    return (pp + tg) / dt;
}

static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    long v = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f)) sscanf(line, "VmHWM: %ld", &v);
    if (f) fclose(f);
    return v;
}

/* The CUDA device index of a device string "cuda:N ..." / "cuda", or -1. */
static int cuda_index(const char *dev) {
    if (!dev || strncmp(dev, "cuda", 4) != 0) return -1;
    return dev[4] == ':' ? atoi(dev + 5) : 0;
}

/* Device-memory read bandwidth of cuda:dev (2 GiB, best of 5) in bytes/s; 0 with a message. */
static double gpu_bandwidth(int dev) {
    ag_error err = {0};
    const double bw = ag_measure_gpu_bandwidth(dev, (size_t)2 << 30, 5, &err);
    if (bw <= 0) fprintf(stderr, "autoglm bench: cannot measure the GPU bandwidth: %s\n", err.msg);
    return bw;
}

static int bench_membw(int threads) {
    const size_t bytes = (size_t)1 << 30;
    double one = ag_measure_read_bandwidth(bytes, 1, 7);
    double all = ag_measure_read_bandwidth(bytes, threads, 7);
    if (one <= 0 || all <= 0) {
        fprintf(stderr, "autoglm bench: cannot measure the memory bandwidth (out of memory?)\n");
        return CLI_EXIT_FAIL;
    }
    printf("memory read bandwidth (1 GiB, best of 7): %.1f GB/s with 1 thread, %.1f GB/s with %d threads\n",
           one / 1e9, all / 1e9, threads);
    return CLI_EXIT_OK;
}

int cmd_bench(int argc, char **argv) {
    long long pp = 512, tg = 128, depth = 0, reps = 5, threads = 0, draft_max = 8;
    const char *draft = NULL;
    bool json = false, membw = false;
    const char *kv_type = getenv("AUTOGLM_KV_CACHE_TYPE"); /* --kv-type */
    cli_power_opts po = {0, NULL, 0};
    int pr;
    bool keep_layout = false; /* the weights as the file stores them (no packing: for comparisons) */
    const char *model = NULL;
    cli_device_opts dev = CLI_DEVICE_OPTS_INIT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const int df = cli_device_flag(argc, argv, &i, &dev);
        if (df < 0) return CLI_EXIT_USAGE;
        if (df > 0) continue;
        if (strcmp(a, "-p") == 0 || strcmp(a, "--n-prompt") == 0) {
            if (!cli_parse_int(a, v, 0, 1 << 16, &pp)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-gen") == 0) {
            if (!cli_parse_int(a, v, 0, 1 << 16, &tg)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "-d") == 0 || strcmp(a, "--n-depth") == 0) {
            if (!cli_parse_int(a, v, 0, 1 << 20, &depth)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--repetitions") == 0) {
            if (!cli_parse_int(a, v, 1, 1000, &reps)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (!cli_parse_int(a, v, 1, 1024, &threads)) return CLI_EXIT_USAGE;
            i++;
        } else if ((pr = cli_parse_power_flag(argc, argv, &i, &po)) != 0) {
            if (pr < 0) return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--kv-type") == 0 && v) {
            kv_type = v;
            i++;
        } else if (strcmp(a, "--draft") == 0 && v) draft = argv[++i];
        else if (strcmp(a, "--draft-max") == 0) {
            if (!cli_parse_int(a, v, 1, 64, &draft_max)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--json") == 0) json = true;
        else if (strcmp(a, "--keep-layout") == 0) keep_layout = true;
        else if (strcmp(a, "--membw") == 0) membw = true;
        else if (a[0] == '-' || model) {
            fprintf(stderr, "autoglm bench: unexpected argument '%s'\n"
                            "usage: autoglm bench MODEL [-p 512] [-n 128] [-d 0] [-r 5] [--threads N] [--batch-size N] [--power MODE] [--max-tps T] [--kv-type T] [--device D] [--gpu-layers N] [--draft DRAFT [--draft-max 8]] [--keep-layout] [--json] | --membw [--device D]\n", a);
            return CLI_EXIT_USAGE;
        } else model = a;
    }
    if (membw && !model && cuda_index(dev.device) >= 0) {
        const double bw = gpu_bandwidth(cuda_index(dev.device));
        if (bw <= 0) return CLI_EXIT_FAIL;
        printf("GPU memory read bandwidth of cuda:%d (2 GiB, best of 5): %.1f GB/s\n", cuda_index(dev.device), bw / 1e9);
        return CLI_EXIT_OK;
    }
    if (membw && !model) return bench_membw(threads ? (int)threads : ag_default_threads());
    if (draft && depth > 0) {
        fprintf(stderr, "autoglm bench: -d (a filled cache) does not apply to --draft (generation from an empty cache)\n");
        return CLI_EXIT_USAGE;
    }
    if (!model || (pp == 0 && tg == 0)) {
        fprintf(stderr, "usage: autoglm bench MODEL [-p 512] [-n 128] [-d 0] [-r 5] [--threads N] [--batch-size N] [--power MODE] [--max-tps T] [--kv-type T] [--json] | --membw\n");
        return CLI_EXIT_USAGE;
    }
    ag_model_params mp = {.n_threads = (int)threads, .keep_layout = keep_layout};
    cli_device_apply(&dev, &mp);
    cli_device_for_kv(&mp, kv_type);
    ag_model *m = cli_load_model_ex(model, &mp);
    if (!m) return CLI_EXIT_FAIL;
    if (draft) {
        const int drc = cli_draft_bench(m, draft, (int)draft_max, tg > 0 ? (int)tg : 128, (int)reps, (int)threads);
        ag_model_free(m);
        return drc;
    }
    const int gpu = cuda_index(ag_model_device(m));
    ag_error err = {0};
    const int n_ctx = (int)depth + (int)(pp > tg ? pp : tg) + 8;
    /* batches: --batch-size, else the prompt's size, at least what fills the cache to the depth (up to 512) */
    const int fill = depth < 512 ? (int)depth : 512;
    int n_batch = po.batch ? (int)po.batch : pp > 0 ? (int)pp : 1;
    if (!po.batch && n_batch < fill) n_batch = fill;
    ag_session_params sp = {.n_ctx = n_ctx, .n_batch = n_batch, .n_threads = (int)threads, .kv_type = kv_type};
    ag_session *s = ag_session_new(m, &sp, &err);
    if (s && !json) printf("kv cache: %s, %zu bytes/token\n", kv_type ? kv_type : "f16", ag_session_kv_bytes_per_token(s));
    ag_token *toks = malloc((size_t)n_ctx * sizeof *toks);
    double *rate = malloc((size_t)reps * sizeof *rate);
    int rc = CLI_EXIT_FAIL;
    ag_energy *meter = ag_energy_open(); /* NULL: energy unavailable here */
    ag_gpu_monitor *mon = gpu >= 0 ? ag_gpu_monitor_open() : NULL; /* NVML: power, limit */
    double limit_w = -1;
    if (mon && po.power) { /* the mode's GPU power limit; a refusal is reported, not fatal */
        ag_error le = {0};
        if (ag_gpu_monitor_set_power_mode(mon, (ag_power_mode)ag_power_mode_from_name(po.power), &limit_w, &le))
            fprintf(stderr, "autoglm bench: %s\n", le.msg);
    }
    ag_gpu_reading gr;
    if (mon && ag_gpu_monitor_read(mon, 0, &gr)) limit_w = gr.limit_w;
    if (s && !cli_apply_power(s, &po)) goto done;
    if (!s || !toks || !rate) {
        fprintf(stderr, "autoglm bench: %s\n", s ? "out of memory" : err.msg);
        goto done;
    }
    for (int i = 0; i < n_ctx; i++) toks[i] = (ag_token)((i * 7919 + 13) % ag_model_n_vocab(m));
    const char *tests[2] = {"pp", "tg"};
    const long long sizes[2] = {pp, tg};
    stat results[2] = {{0, 0}, {0, 0}};
    double joules_per_token[2] = {-1, -1}; /* -1: the machine does not report energy */
    double gpu_jpt[2] = {-1, -1}, gpu_watts[2] = {-1, -1}; /* the GPUs' share (NVML) and mean draw */
    const uint64_t vram = ag_model_gpu_bytes(m); /* weights + this session */
    if (json) printf("[");
    int printed = 0;
    for (int k = 0; k < 2; k++) {
        if (sizes[k] == 0) continue;
        const int p = k == 0 ? (int)pp : 0, g = k == 1 ? (int)tg : 0;
        if (run_once(s, toks, (int)depth, n_batch, p, g) < 0) goto done; /* warm-up */
        const double j0 = ag_energy_joules(meter), g0 = ag_energy_gpu_joules(meter), t0 = cli_now();
        for (int r = 0; r < reps; r++)
            if ((rate[r] = run_once(s, toks, (int)depth, n_batch, p, g)) < 0) goto done;
        /* energy counters tick coarsely (NVML's about every 100 ms): more untimed runs until the
         * energy window is at least ENERGY_MIN_S long */
        int runs = (int)reps;
        while (meter && cli_now() - t0 < ENERGY_MIN_S) {
            if (run_once(s, toks, (int)depth, n_batch, p, g) < 0) goto done;
            runs++;
        }
        const double j1 = ag_energy_joules(meter), g1 = ag_energy_gpu_joules(meter), t1 = cli_now();
        if (j0 >= 0 && j1 >= j0) joules_per_token[k] = (j1 - j0) / ((double)runs * (double)sizes[k]);
        if (gpu >= 0 && g0 >= 0 && g1 >= g0) {
            gpu_jpt[k] = (g1 - g0) / ((double)runs * (double)sizes[k]);
            gpu_watts[k] = t1 > t0 ? (g1 - g0) / (t1 - t0) : -1;
        }
        results[k] = summarize(rate, (int)reps);
        char test[48]; /* "tg128", "tg128 @ d4096" */
        if (depth > 0) snprintf(test, sizeof test, "%s%lld @ d%lld", tests[k], sizes[k], depth);
        else snprintf(test, sizeof test, "%s%lld", tests[k], sizes[k]);
        const double decode_gb = ag_model_decode_bytes(m) / 1e9;
        if (json) {
            printf("%s{\"model\": \"%s\", \"size_bytes\": %llu, \"params\": %lld, \"threads\": %d, \"test\": \"%s\", "
                   "\"tokens_per_s\": %.3f, \"stddev\": %.3f, \"peak_rss_bytes\": %ld, \"device\": \"%s\"",
                   printed ? ", " : "", ag_model_name(m), (unsigned long long)ag_model_size_bytes(m),
                   (long long)ag_model_n_params(m), threads ? (int)threads : ag_default_threads(), test, results[k].mean, results[k].stddev,
                   peak_rss_kib() * 1024, ag_model_device(m));
            if (joules_per_token[k] >= 0) printf(", \"joules_per_token\": %.6f", joules_per_token[k]);
            else printf(", \"joules_per_token\": null");
            printf(", \"gpu_layers\": %d, \"n_layer\": %d, \"vram_bytes\": %llu", ag_model_gpu_layers(m), ag_model_n_layer(m),
                   (unsigned long long)vram);
            if (gpu_jpt[k] >= 0) printf(", \"gpu_joules_per_token\": %.6f", gpu_jpt[k]);
            else printf(", \"gpu_joules_per_token\": null");
            if (gpu_watts[k] >= 0) printf(", \"gpu_power_w\": %.1f", gpu_watts[k]);
            else printf(", \"gpu_power_w\": null");
            if (limit_w >= 0) printf(", \"gpu_power_limit_w\": %.1f", limit_w);
            else printf(", \"gpu_power_limit_w\": null");
            if (po.power) printf(", \"power_mode\": \"%s\"", po.power);
            if (k == 1) printf(", \"decode_bytes\": %llu, \"decode_bandwidth_gbs\": %.3f",
                               (unsigned long long)ag_model_decode_bytes(m), decode_gb * results[k].mean);
            printf("}");
        } else {
            if (!printed)
                printf("| model | size | params | threads | test | t/s | energy (%s) |%s\n"
                       "| --- | ---: | ---: | ---: | --- | ---: | ---: |%s\n",
                       ag_energy_sources(meter), gpu >= 0 ? " GPU energy (NVML) | GPU power |" : "",
                       gpu >= 0 ? " ---: | ---: |" : "");
            char energy[48] = "unavailable", genergy[48] = "unavailable", gwatts[32] = "unavailable";
            if (joules_per_token[k] >= 0) snprintf(energy, sizeof energy, "%.4f J/token", joules_per_token[k]);
            if (gpu_jpt[k] >= 0) snprintf(genergy, sizeof genergy, "%.4f J/token", gpu_jpt[k]);
            if (gpu_watts[k] >= 0) snprintf(gwatts, sizeof gwatts, "%.0f W", gpu_watts[k]);
            printf("| %s %s | %.2f MiB | %.2f M | %d | %s | %.2f ± %.2f | %s |", ag_model_arch(m), ag_model_name(m),
                   ag_model_size_bytes(m) / 1048576.0, ag_model_n_params(m) / 1e6,
                   threads ? (int)threads : ag_default_threads(), test, results[k].mean, results[k].stddev, energy);
            if (gpu >= 0) printf(" %s | %s |", genergy, gwatts);
            printf("\n");
        }
        printed++;
    }
    if (json) printf("]\n");
    else {
        printf("\ndevice: %s\n", ag_model_device(m));
        if (gpu >= 0) {
            printf("GPU memory of the model: %.1f MiB (weights, KV cache and scratch; %d of %d layers)", vram / 1048576.0,
                   ag_model_gpu_layers(m), ag_model_n_layer(m));
            if (limit_w >= 0) printf("; GPU power limit %.0f W", limit_w);
            printf("\n");
        }
        printf("peak RSS %.1f MiB; decode reads %.1f MiB of weights per token", peak_rss_kib() / 1024.0,
               ag_model_decode_bytes(m) / 1048576.0);
        if (tg > 0) {
            const double eff = ag_model_decode_bytes(m) * results[1].mean;
            const double bw = gpu >= 0 ? gpu_bandwidth(gpu)
                                       : ag_measure_read_bandwidth((size_t)1 << 30, threads ? (int)threads : ag_default_threads(), 5);
            printf(" -> effective decode bandwidth %.2f GB/s", eff / 1e9);
            if (bw > 0) printf(" = %.0f%% of the measured %.1f GB/s read bandwidth (bound: %.1f t/s)", 100 * eff / bw, bw / 1e9,
                               bw / ag_model_decode_bytes(m));
        }
        printf("\n");
    }
    rc = CLI_EXIT_OK;
done:
    ag_gpu_monitor_close(mon); /* the default power limit back */
    ag_energy_close(meter);
    free(toks);
    free(rate);
    ag_session_free(s);
    ag_model_free(m);
    return rc;
}
