/*
 * bench_batch.c - time of one batched decode step (ag_session_eval_batch) over n sessions, for
 * n = 1, 2, 4, 8, ...: the cost continuous batching pays per step, and the speed-up it gives
 * over n single steps (docs/PERFORMANCE.md, "Server").
 * Each n: the best of 3 rounds of K steps. --kv-pool 1: the sessions' caches in blocks of one
 * ag_kv_pool (as the server's slots have them) instead of contiguous. --keep-layout: the weights
 * as the file stores them (no repacking at load), for comparisons.
 * usage: bench_batch MODEL.gguf [--max N] [--ctx POS] [--steps K] [--threads T] [--kv-pool 0|1] [--keep-layout]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoglm/autoglm.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_batch MODEL.gguf [--max N] [--ctx POS] [--steps K] [--threads T] [--kv-pool 0|1] [--keep-layout]\n");
        return 2;
    }
    int max_n = 8, ctx = 32, steps = 8, threads = 0, use_pool = 0;
    bool keep_layout = false;
    for (int i = 2; i < argc; i += 2) {
        if (!strcmp(argv[i], "--keep-layout")) {
            keep_layout = true;
            i--;
            continue;
        }
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "--max")) max_n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ctx")) ctx = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--kv-pool")) use_pool = atoi(argv[i + 1]);
    }
    if (max_n < 1 || max_n > 64 || ctx < 1 || steps < 1) return 2;
    ag_error err = {0};
    ag_model_params mp = {.n_threads = threads, .keep_layout = keep_layout};
    ag_model *m = ag_model_load(argv[1], &mp, &err);
    if (!m) {
        fprintf(stderr, "bench_batch: %s\n", err.msg);
        return 1;
    }
    ag_session *ss[64] = {0};
    ag_kv_pool *pool = NULL;
    ag_token tok[64], *prompt = calloc((size_t)ctx, sizeof *prompt);
    int rc = 1;
    if (!prompt) goto out;
    for (int i = 0; i < ctx; i++) prompt[i] = 1 + i % 100;
    ag_session_params sp = {.n_ctx = ctx + steps * 2 + 8, .n_threads = threads};
    if (use_pool) { /* room for every session's whole context */
        const int bp = ag_kv_pool_block_positions();
        if (!(pool = ag_kv_pool_new(m, NULL, max_n * ((sp.n_ctx + bp - 1) / bp), &err))) {
            fprintf(stderr, "bench_batch: %s\n", err.msg);
            goto out;
        }
        sp.kv_pool = pool;
    }
    for (int i = 0; i < max_n; i++) {
        if (!(ss[i] = ag_session_new(m, &sp, &err)) || ag_session_eval(ss[i], prompt, ctx, false, &err)) {
            fprintf(stderr, "bench_batch: %s\n", err.msg);
            goto out;
        }
        tok[i] = 2 + i;
    }
    double t1 = 0;
    printf("%-4s %12s %12s %10s\n", "n", "ms/step", "ms/seq", "speed-up");
    for (int n = 1; n <= max_n; n *= 2) {
        for (int i = 0; i < n; i++) ag_session_truncate(ss[i], ctx);
        if (ag_session_eval_batch(ss, tok, n, &err)) goto fail; /* warm-up */
        double ms = 1e30; /* the best of 3 rounds: other processes on the machine add noise */
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < n; i++) ag_session_truncate(ss[i], ctx);
            const double t0 = now_s();
            for (int k = 0; k < steps; k++)
                if (ag_session_eval_batch(ss, tok, n, &err)) goto fail;
            const double r = (now_s() - t0) * 1e3 / steps;
            ms = r < ms ? r : ms;
        }
        if (n == 1) t1 = ms;
        printf("%-4d %12.1f %12.1f %9.2fx\n", n, ms, ms / n, t1 * n / ms);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "bench_batch: %s\n", err.msg);
out:
    for (int i = 0; i < max_n; i++) ag_session_free(ss[i]);
    ag_kv_pool_free(pool);
    free(prompt);
    ag_model_free(m);
    return rc;
}
