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
#include "autoglm/access.h"
#include "server/server.h"

static void usage(FILE *out) {
    fputs("usage: autoglm serve [options]\n"
          "  --host ADDR[:PORT]   address to listen on (default $AUTOGLM_HOST or 127.0.0.1:11434)\n"
          "  --parallel N         sequences served at once per model (default 4)\n"
          "  --max-queue N        requests waiting per model before 503 (default 64)\n"
          "  --max-body BYTES     largest request body before 413 (default 33554432)\n"
          "  --num-ctx N          context per sequence (default: the model's, at most 4096)\n"
          "  --threads N          threads per forward pass (default: physical cores)\n"
          "  --kv-type T          KV cache type: f16 (default), f32, q8_0, q4_0 (CPU; default $AUTOGLM_KV_CACHE_TYPE)\n"
          "  --power MODE         performance|balanced|powersave (threads, batch, the GPU power limit where NVML\n"
          "                       allows; switch later: POST /api/power)\n"
          "  --device cpu|cuda[:N]  where models run (default $AUTOGLM_DEVICE, else the GPU when usable)\n"
          "  --gpu-layers N       the first N layers of each model on the GPU, the rest on the CPU; 0 = CPU only\n"
          "  --keep-alive DUR     idle time before a model unloads (default $AUTOGLM_KEEP_ALIVE or 5m; -1 never)\n"
          "  --mem-limit BYTES    memory the models may take (file + KV caches; default: what the system has)\n"
          "  --require-signed --trusted-keys DIR\n"
          "                       load only models with a valid signature (MODEL.sig) by a key in DIR\n"
          "trust (docs/SECURITY.md):\n"
          "  --auth               require API keys from the keyring ($AUTOGLM_KEYS or ~/.autoglm/keys.json)\n"
          "  --keys FILE          require API keys from this keyring (autoglm keys add ...)\n"
          "  --insecure           allow a non-loopback address without API keys\n"
          "  --policy FILE        policy rules (allowed models/endpoints, denied topics, max tokens)\n"
          "  --audit-log FILE     hash-chained audit log (autoglm audit verify FILE); --audit-prompts logs prompts\n"
          "  --redact MODE        mask|hash|off: sensitive data in replies (all roles)\n"
          "  --redact-role ROLE=MODE  the same for one role (reader, user, admin)\n"
          "  --redact-words FILE  more words to redact (one per line)\n"
          "  --tls-cert PEM --tls-key PEM   HTTPS only (TLS 1.2/1.3)\n"
          "  --tls-client-ca PEM  require client certificates signed by this CA (mutual TLS)\n"
          "  --max-per-ip N       connections from one address (default 64)\n"
          "  --upstream URL       send chat requests that ask for it (\"upstream\": true) or that a policy rule's\n"
          "                       route_upstream matches to this OpenAI-compatible API, redacted first\n"
          "  --upstream-key-env VAR  its API key's environment variable (default AUTOGLM_UPSTREAM_KEY)\n"
          "  --upstream-model NAME   the model to ask for there (default: the request's)\n",
          out);
}

/* "mask|hash|off" for every role, or "ROLE=MODE" for one. */
static bool parse_redact(const char *arg, bool per_role, int redact[3]) {
    const char *mode = arg;
    int role = -1;
    if (per_role) {
        const char *eq = strchr(arg, '=');
        char name[16];
        if (eq && (size_t)(eq - arg) < sizeof name) {
            memcpy(name, arg, (size_t)(eq - arg));
            name[eq - arg] = '\0';
            role = ag_role_from_name(name);
        }
        if (role < 0) {
            fprintf(stderr, "autoglm serve: --redact-role wants ROLE=MODE (reader, user, admin), not '%s'\n", arg);
            return false;
        }
        mode = eq + 1;
    }
    int m = strcmp(mode, "mask") == 0 ? AG_REDACT_MASK : strcmp(mode, "hash") == 0 ? AG_REDACT_HASH
            : strcmp(mode, "off") == 0 ? -1 : -2;
    if (m == -2) {
        fprintf(stderr, "autoglm serve: redaction mode must be mask, hash or off, not '%s'\n", mode);
        return false;
    }
    for (int r = 0; r < 3; r++)
        if (role < 0 || r == role) redact[r] = m;
    return true;
}

static bool is_loopback(const char *host) {
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

int cmd_serve(int argc, char **argv) {
    enum { O_HOST = 1, O_PAR, O_QUEUE, O_BODY, O_CTX, O_THR, O_HELP, O_REQSIG, O_TRUST, O_KEEP, O_MEM, O_AUTH, O_KEYS,
           O_INSECURE, O_POLICY, O_AUDIT, O_AUDIT_PROMPTS, O_REDACT, O_REDACT_ROLE, O_CERT, O_KEY, O_CA, O_PERIP, O_WORDS,
           O_UP, O_UP_KEY, O_UP_MODEL, O_POWER, O_KVT, O_DEV, O_NGL };
    static const struct option longopts[] = {
        {"host", required_argument, 0, O_HOST},      {"parallel", required_argument, 0, O_PAR},
        {"max-queue", required_argument, 0, O_QUEUE}, {"max-body", required_argument, 0, O_BODY},
        {"num-ctx", required_argument, 0, O_CTX},    {"threads", required_argument, 0, O_THR},
        {"kv-type", required_argument, 0, O_KVT},
        {"help", no_argument, 0, O_HELP},            {"require-signed", no_argument, 0, O_REQSIG},
        {"trusted-keys", required_argument, 0, O_TRUST}, {"keep-alive", required_argument, 0, O_KEEP},
        {"mem-limit", required_argument, 0, O_MEM},    {"auth", no_argument, 0, O_AUTH},
        {"keys", required_argument, 0, O_KEYS},        {"insecure", no_argument, 0, O_INSECURE},
        {"policy", required_argument, 0, O_POLICY},    {"audit-log", required_argument, 0, O_AUDIT},
        {"audit-prompts", no_argument, 0, O_AUDIT_PROMPTS}, {"redact", required_argument, 0, O_REDACT},
        {"redact-role", required_argument, 0, O_REDACT_ROLE}, {"tls-cert", required_argument, 0, O_CERT},
        {"tls-key", required_argument, 0, O_KEY},      {"tls-client-ca", required_argument, 0, O_CA},
        {"max-per-ip", required_argument, 0, O_PERIP}, {"redact-words", required_argument, 0, O_WORDS},
        {"upstream", required_argument, 0, O_UP},      {"upstream-key-env", required_argument, 0, O_UP_KEY},
        {"upstream-model", required_argument, 0, O_UP_MODEL}, {"power", required_argument, 0, O_POWER},
        {"device", required_argument, 0, O_DEV},       {"gpu-layers", required_argument, 0, O_NGL},
        {0, 0, 0, 0}};
    bool insecure = false, auth_default = false;
    char *default_keys = NULL;
    bool require_signed = false;
    server_config cfg = {.max_body = 32u << 20, .sched = {.n_parallel = 4, .max_queue = 64, .keep_alive_ns = 300000000000},
                         .guard = {.redact = {-1, -1, -1}}};
    cfg.sched.kv_type = getenv("AUTOGLM_KV_CACHE_TYPE");
    cli_device_opts dev = CLI_DEVICE_OPTS_INIT;
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
        case O_POWER:
            if (ag_power_mode_from_name(optarg) < 0) {
                fprintf(stderr, "autoglm serve: --power must be performance, balanced or powersave, not '%s'\n", optarg);
                return CLI_EXIT_USAGE;
            }
            cfg.sched.power = (ag_power_mode)ag_power_mode_from_name(optarg);
            break;
        case O_KVT: cfg.sched.kv_type = optarg; break;
        case O_DEV:
        case O_NGL: { /* the same checks as run and bench */
            char *fv[3] = {NULL, (char *)(c == O_DEV ? "--device" : "--gpu-layers"), optarg};
            int fi = 1;
            if (cli_device_flag(3, fv, &fi, &dev) < 0) return CLI_EXIT_USAGE;
            break;
        }
        case O_THR: if (!cli_parse_int("--threads", optarg, 1, 1024, &v)) return CLI_EXIT_USAGE; cfg.sched.n_threads = (int)v; break;
        case O_HELP: usage(stdout); return CLI_EXIT_OK;
        case O_REQSIG: require_signed = true; break;
        case O_TRUST: cfg.sched.trusted_keys = optarg; break;
        case O_KEEP: keep = optarg; break;
        case O_MEM: if (!cli_parse_int("--mem-limit", optarg, 1, 1LL << 50, &v)) return CLI_EXIT_USAGE; cfg.sched.mem_limit = (uint64_t)v; break;
        case O_AUTH: auth_default = true; break;
        case O_KEYS: cfg.guard.keys_path = optarg; break;
        case O_INSECURE: insecure = true; break;
        case O_POLICY: cfg.guard.policy_path = optarg; break;
        case O_AUDIT: cfg.guard.audit_path = optarg; break;
        case O_AUDIT_PROMPTS: cfg.guard.audit_prompts = true; break;
        case O_REDACT:
        case O_REDACT_ROLE:
            if (!parse_redact(optarg, c == O_REDACT_ROLE, cfg.guard.redact)) return CLI_EXIT_USAGE;
            break;
        case O_WORDS: cfg.guard.redact_words_path = optarg; break;
        case O_UP: cfg.upstream_url = optarg; break;
        case O_UP_KEY: cfg.upstream_key_env = optarg; break;
        case O_UP_MODEL: cfg.upstream_model = optarg; break;
        case O_CERT: cfg.tls_cert = optarg; break;
        case O_KEY: cfg.tls_key = optarg; break;
        case O_CA: cfg.tls_client_ca = optarg; break;
        case O_PERIP: if (!cli_parse_int("--max-per-ip", optarg, 1, 100000, &v)) return CLI_EXIT_USAGE; cfg.max_per_ip = (int)v; break;
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
    ag_model_params dmp = {0};
    cli_device_apply(&dev, &dmp);
    cli_device_for_kv(&dmp, cfg.sched.kv_type); /* the server's default KV type: f32 is the CPU's */
    cfg.sched.device = dmp.device ? dmp.device : getenv("AUTOGLM_DEVICE");
    cfg.sched.n_gpu_layers = dmp.n_gpu_layers;
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
    if (cfg.upstream_url && strncmp(cfg.upstream_url, "http://", 7) != 0 && strncmp(cfg.upstream_url, "https://", 8) != 0) {
        fprintf(stderr, "autoglm serve: --upstream wants an http:// or https:// URL, not '%s'\n", cfg.upstream_url);
        return CLI_EXIT_USAGE;
    }
    if (auth_default && !cfg.guard.keys_path) {
        if (!(default_keys = ag_keyring_default_path())) {
            fprintf(stderr, "autoglm serve: --auth: no keyring path (set AUTOGLM_KEYS or HOME)\n");
            return CLI_EXIT_USAGE;
        }
        cfg.guard.keys_path = default_keys;
    }
    if (!cfg.guard.keys_path && !insecure && !is_loopback(cfg.host)) {
        fprintf(stderr, "autoglm serve: refusing to listen on %s without API keys: anyone who reaches it could use it.\n"
                        "Create keys (autoglm keys add --role user --tenant NAME) and pass --auth, or pass --insecure.\n",
                cfg.host);
        free(default_keys);
        return CLI_EXIT_USAGE;
    }
    char *root = cli_store_root();
    if (!root) {
        free(default_keys);
        return CLI_EXIT_FAIL;
    }
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
        free(default_keys);
        return CLI_EXIT_FAIL;
    }
    fprintf(stderr, "autoglm: listening on %s:%d (%s, models in %s, %d parallel per model%s)\n", cfg.host, server_port(s),
            server_tls(s) ? "https" : "http", root, cfg.sched.n_parallel,
            cfg.guard.keys_path ? ", API keys required" : "");
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "autoglm: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    server_stop(s);
    free(root);
    free(default_keys);
    return CLI_EXIT_OK;
}
