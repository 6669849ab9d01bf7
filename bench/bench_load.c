/*
 * bench_load.c - load test of a running `autoglm serve` in C (no interpreter between the clock and
 * the socket): plain sockets, one thread per client, streaming /api/generate.
 *   1. single stream: generated tokens/s of one client (best of 3);
 *   2. concurrency: C clients at once (each 2 requests): errors (must be 0) and aggregate tokens/s;
 *      and, from the server's own eval_duration, the time per token a sequence saw (the batched
 *      step's cost) against the single stream's, to tell the step's cost from the server's gaps;
 *   3. priorities: interactive time to first token over R sequential requests, idle, then while B
 *      clients keep sending "priority": "batch" requests; p50/p99 and their ratios.
 * Each line ends with the machine's load average (1, 5, 15 min) when it was measured: on a shared
 * machine, compare ratios within one run and only at a low load.
 * usage: bench_load --port P [--model m] [--clients 32] [--tokens 64] [--ttft-requests 30]
 *                   [--batch-clients 16] [--parallel 8]
 * Start the server first, e.g. `autoglm serve --host 127.0.0.1:11500 --parallel 8 --max-queue 256`.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int g_port = 11434, g_tokens = 64, g_parallel = 8; /* g_parallel: the server's --parallel */
static const char *g_model = "m";
static const char *const PROMPTS[] = {"Once upon a time", "The little dog", "Lily and Ben went", "One day a bird",
                                      "The sun was hot and"};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    double ttft, wall, eval_s; /* eval_s: the server's eval_duration */
    int tokens;
    bool ok;
} result;

/* One streaming generation; the raw response is scanned for the first non-empty "response" and
 * the final "eval_count" (chunk-size lines between pieces do not matter to that). */
static result generate(const char *prompt, int tokens, bool batch, int seed) {
    result r = {0};
    char body[512], req[1024];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"prompt\":\"%s\",\"raw\":true,\"stream\":true,%s\"options\":{\"num_predict\":%d,"
             "\"temperature\":0.8,\"seed\":%d}}",
             g_model, prompt, batch ? "\"priority\":\"batch\"," : "", tokens, seed);
    int n = snprintf(req, sizeof req,
                     "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     strlen(body), body);
    const double t0 = now_s();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || write(fd, req, (size_t)n) != n) {
        fprintf(stderr, "bench_load: cannot connect or send to port %d\n", g_port);
        if (fd >= 0) close(fd);
        return r;
    }
    size_t cap = 1 << 16, len = 0, scanned = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while (buf && (got = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        buf[len] = '\0';
        if (r.ttft == 0) {
            const char *p = strstr(buf + (scanned > 16 ? scanned - 16 : 0), "\"response\":\"");
            if (p && p[12] && p[12] != '"') r.ttft = now_s() - t0;
        }
        scanned = len;
        if (cap - len < 4096) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) break;
            buf = grown;
        }
    }
    close(fd);
    r.wall = now_s() - t0;
    const char *ec = buf ? strstr(buf, "\"eval_count\":") : NULL;
    r.ok = buf && strncmp(buf, "HTTP/1.1 200", 12) == 0 && ec && !strstr(buf, "\"error\"");
    if (ec) r.tokens = atoi(ec + 13);
    const char *ed = buf ? strstr(buf, "\"eval_duration\":") : NULL;
    if (ed) r.eval_s = atof(ed + 16) * 1e-9;
    if (!r.ok) { /* what went wrong: the status line and the end of what came */
        const char *eol = buf ? strstr(buf, "\r\n") : NULL;
        fprintf(stderr, "bench_load: request failed after %.2f s: %.*s ... %s\n", r.wall, eol ? (int)(eol - buf) : 0,
                buf ? buf : "", buf ? buf + (len > 200 ? len - 200 : 0) : "(no answer)");
    }
    free(buf);
    return r;
}

typedef struct {
    int id, n_requests, tokens, errors;
    double per_token_s; /* sum over its requests of eval_duration / eval_count */
    int n_timed;
} client;

static void *client_main(void *arg) {
    client *c = arg;
    for (int k = 0; k < c->n_requests; k++) {
        result r = generate(PROMPTS[(c->id + k) % 5], g_tokens, false, c->id * 100 + k);
        if (!r.ok) c->errors++;
        c->tokens += r.tokens;
        if (r.ok && r.tokens > 1) {
            c->per_token_s += r.eval_s / r.tokens;
            c->n_timed++;
        }
    }
    return NULL;
}

static atomic_bool g_stop;
static atomic_int g_batch_done;

static void *batch_main(void *arg) {
    int id = (int)(intptr_t)arg, k = 0;
    while (!atomic_load(&g_stop)) {
        generate(PROMPTS[(id + k) % 5], g_tokens, true, 1000 + id * 100 + k);
        k++;
        atomic_fetch_add(&g_batch_done, 1);
    }
    return NULL;
}

/* "load 0.42 0.30 0.25" from /proc/loadavg ("load ?" where there is none). */
static const char *load_avg(char *buf, size_t cap) {
    double l1, l5, l15;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3) snprintf(buf, cap, "load %.2f %.2f %.2f", l1, l5, l15);
    else snprintf(buf, cap, "load ?");
    if (f) fclose(f);
    return buf;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void ttft_series(int n, double *p50, double *p99) {
    double *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++) {
        result r = generate(PROMPTS[i % 5], 4, false, 7000 + i);
        v[i] = r.ok && r.ttft > 0 ? r.ttft : 1e9;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *p50 = v[n / 2];
    *p99 = v[(int)(0.99 * (n - 1) + 0.5)];
    free(v);
}

int main(int argc, char **argv) {
    int clients = 32, ttft_n = 30, batch_clients = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) g_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--model") == 0) g_model = argv[i + 1];
        else if (strcmp(argv[i], "--clients") == 0) clients = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tokens") == 0) g_tokens = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--ttft-requests") == 0) ttft_n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch-clients") == 0) batch_clients = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--parallel") == 0) g_parallel = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_load: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (clients < 1 || clients > 1024 || ttft_n < 2 || batch_clients < 0 || batch_clients > 256 || g_tokens < 1 ||
        g_parallel < 1) {
        fprintf(stderr, "bench_load: bad numbers\n");
        return 2;
    }
    double single = 0, single_tok_s = 1e9; /* best single-stream eval time per token */
    for (int k = 0; k < 3; k++) {
        result r = generate(PROMPTS[0], g_tokens, false, k);
        if (!r.ok) {
            fprintf(stderr, "bench_load: the server on port %d did not answer with model '%s'\n", g_port, g_model);
            return 1;
        }
        if (r.tokens / r.wall > single) single = r.tokens / r.wall;
        if (r.tokens > 1 && r.eval_s / r.tokens < single_tok_s) single_tok_s = r.eval_s / r.tokens;
    }
    char la[64];
    printf("single stream: %.1f tok/s (best of 3, %d tokens) [%s]\n", single, g_tokens, load_avg(la, sizeof la));

    client *cs = calloc((size_t)clients, sizeof *cs);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    const double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        cs[i] = (client){.id = i, .n_requests = 2};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    int errors = 0, tokens = 0, n_timed = 0;
    double per_token = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        errors += cs[i].errors;
        tokens += cs[i].tokens;
        per_token += cs[i].per_token_s;
        n_timed += cs[i].n_timed;
    }
    const double wall = now_s() - t0;
    printf("%d clients x 2 requests: %d errors, %d tokens in %.2f s = %.1f tok/s aggregate = %.2fx a single stream [%s]\n",
           clients, errors, tokens, wall, tokens / wall, tokens / wall / single, load_avg(la, sizeof la));

    if (n_timed > 0) { /* the step as each sequence saw it, from the server's eval_duration */
        const double step = per_token / n_timed;
        printf("time per token: single stream %.1f ms, each of the concurrent sequences %.1f ms (%.2fx): at %d rows per "
               "step the server's eval time alone allows %.2fx\n",
               single_tok_s * 1e3, step * 1e3, step / single_tok_s, g_parallel, g_parallel * single_tok_s / step);
    }
    double idle50, idle99, load50, load99;
    ttft_series(ttft_n, &idle50, &idle99);
    char la_idle[64];
    load_avg(la_idle, sizeof la_idle);
    pthread_t *bt = calloc((size_t)(batch_clients ? batch_clients : 1), sizeof *bt);
    for (int i = 0; i < batch_clients; i++) pthread_create(&bt[i], NULL, batch_main, (void *)(intptr_t)i);
    sleep(2); /* the batch work fills the slots */
    ttft_series(ttft_n, &load50, &load99);
    atomic_store(&g_stop, true);
    for (int i = 0; i < batch_clients; i++) pthread_join(bt[i], NULL);
    printf("interactive TTFT idle: p50 %.1f ms, p99 %.1f ms (%d requests) [%s]\n", idle50 * 1e3, idle99 * 1e3, ttft_n,
           la_idle);
    printf("interactive TTFT with %d batch clients: p50 %.1f ms, p99 %.1f ms = %.2fx idle p99, p50 %.2fx idle p50 "
           "(%d batch requests done) [%s]\n",
           batch_clients, load50 * 1e3, load99 * 1e3, load99 / idle99, load50 / idle50, atomic_load(&g_batch_done),
           load_avg(la, sizeof la));
    free(cs);
    free(th);
    free(bt);
    return errors ? 1 : 0;
}
