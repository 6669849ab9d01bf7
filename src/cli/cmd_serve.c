/*
 * cmd_serve.c - `autoglm serve`: the Ollama/OpenAI-compatible HTTP server (src/server/) over
 * the model store, until SIGINT or SIGTERM. AUTOGLM_HOST (like OLLAMA_HOST) or --host picks
 * the address, default 127.0.0.1:11434; port 0 takes any free port (the log line tells it).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "server/api.h"
#include "server/server.h"

static void usage(FILE *out) {
    fputs("usage: autoglm serve [options]\n"
          "  --host ADDR[:PORT]   address to listen on (default $AUTOGLM_HOST or 127.0.0.1:11434)\n"
          "  --parallel N         sequences served at once per model (default 4)\n"
          "  --max-queue N        requests waiting per model before 503 (default 64)\n"
          "  --max-body BYTES     largest request body before 413 (default 33554432)\n"
          "  --num-ctx N          context per sequence (default: the model's, at most 4096)\n"
          "  --threads N          threads per forward pass (default: physical cores)\n"
          "  --keep-alive DUR     idle time before a model unloads (default $AUTOGLM_KEEP_ALIVE or 5m; -1 never)\n"
          "  --mem-limit BYTES    memory the models may take (file + KV caches; default: what the system has)\n"
          "  --require-signed --trusted-keys DIR\n"
          "                       load only models with a valid signature (MODEL.sig) by a key in DIR\n",
          out);
}

int cmd_serve(int argc, char **argv) {
    enum { O_HOST = 1, O_PAR, O_QUEUE, O_BODY, O_CTX, O_THR, O_HELP, O_REQSIG, O_TRUST, O_KEEP, O_MEM };
    static const struct option longopts[] = {
        {"host", required_argument, 0, O_HOST},      {"parallel", required_argument, 0, O_PAR},
        {"max-queue", required_argument, 0, O_QUEUE}, {"max-body", required_argument, 0, O_BODY},
        {"num-ctx", required_argument, 0, O_CTX},    {"threads", required_argument, 0, O_THR},
        {"help", no_argument, 0, O_HELP},            {"require-signed", no_argument, 0, O_REQSIG},
        {"trusted-keys", required_argument, 0, O_TRUST}, {"keep-alive", required_argument, 0, O_KEEP},
        {"mem-limit", required_argument, 0, O_MEM},    {0, 0, 0, 0}};
    bool require_signed = false;
    server_config cfg = {.max_body = 32u << 20, .sched = {.n_parallel = 4, .max_queue = 64, .keep_alive_ns = 300000000000}};
    const char *host = getenv("AUTOGLM_HOST"), *keep = getenv("AUTOGLM_KEEP_ALIVE");
    long long v;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_HOST: host = optarg; break;
        case O_PAR: if (!cli_parse_int("--parallel", optarg, 1, 64, &v)) return CLI_EXIT_USAGE; cfg.sched.n_parallel = (int)v; break;
        case O_QUEUE: if (!cli_parse_int("--max-queue", optarg, 0, 1 << 20, &v)) return CLI_EXIT_USAGE; cfg.sched.max_queue = (int)v; break;
        case O_BODY: if (!cli_parse_int("--max-body", optarg, 1, 1LL << 34, &v)) return CLI_EXIT_USAGE; cfg.max_body = (size_t)v; break;
        case O_CTX: if (!cli_parse_int("--num-ctx", optarg, 1, 1 << 20, &v)) return CLI_EXIT_USAGE; cfg.sched.num_ctx = (int)v; break;
        case O_THR: if (!cli_parse_int("--threads", optarg, 1, 1024, &v)) return CLI_EXIT_USAGE; cfg.sched.n_threads = (int)v; break;
        case O_HELP: usage(stdout); return CLI_EXIT_OK;
        case O_REQSIG: require_signed = true; break;
        case O_TRUST: cfg.sched.trusted_keys = optarg; break;
        case O_KEEP: keep = optarg; break;
        case O_MEM: if (!cli_parse_int("--mem-limit", optarg, 1, 1LL << 50, &v)) return CLI_EXIT_USAGE; cfg.sched.mem_limit = (uint64_t)v; break;
        default:
            fprintf(stderr, "autoglm serve: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "autoglm serve: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (keep && *keep) {
        cJSON *kv = cJSON_CreateString(keep);
        bool ok = kv && api_parse_keep_alive(kv, &cfg.sched.keep_alive_ns);
        cJSON_Delete(kv);
        if (!ok) {
            fprintf(stderr, "autoglm serve: --keep-alive '%s' is not a duration (5m, 30s, 1h, -1)\n", keep);
            return CLI_EXIT_USAGE;
        }
    }
    if (require_signed && !cfg.sched.trusted_keys) {
        fprintf(stderr, "autoglm serve: --require-signed needs --trusted-keys DIR\n");
        return CLI_EXIT_USAGE;
    }
    if (!server_parse_host(host, cfg.host, sizeof cfg.host, &cfg.port)) {
        fprintf(stderr, "autoglm serve: cannot parse host '%s' (expected host:port)\n", host);
        return CLI_EXIT_USAGE;
    }
    char *root = cli_store_root();
    if (!root) return CLI_EXIT_FAIL;
    cfg.sched.store_root = root;
    /* the signals are taken by sigwait here; every thread started after inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    server *s = server_start(&cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "autoglm: %s\n", err);
        free(root);
        return CLI_EXIT_FAIL;
    }
    fprintf(stderr, "autoglm: listening on %s:%d (models in %s, %d parallel per model)\n", cfg.host, server_port(s), root,
            cfg.sched.n_parallel);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "autoglm: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    server_stop(s);
    free(root);
    return CLI_EXIT_OK;
}
