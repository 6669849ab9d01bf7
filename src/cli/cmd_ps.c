/*
 * cmd_ps.c - `autoglm ps`: the models the running server holds, from its GET /api/ps
 * (AUTOGLM_HOST or --host, like `ollama ps`): NAME, ID, SIZE, PROCESSOR (100% CPU, 100% GPU or
 * the CPU/GPU split of the layers), VRAM (its device memory: weights, KV caches, scratch), KV/TOKEN,
 * UNTIL; then the power mode and GPU 0's power draw, power limit and memory when the server reads them.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "net/httpc.h"
#include "server/server.h"

static void human_bytes(char *buf, size_t cap, double b) {
    if (b >= 1e9) snprintf(buf, cap, "%.1f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, cap, "%.1f MB", b / 1e6);
    else snprintf(buf, cap, "%.0f KB", b / 1e3);
}

int cmd_ps(int argc, char **argv) {
    const char *host_arg = getenv("AUTOGLM_HOST");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) host_arg = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) {
            puts("usage: autoglm ps [--host ADDR[:PORT]]   models loaded by the running server");
            return CLI_EXIT_OK;
        } else {
            fprintf(stderr, "autoglm ps: unexpected argument '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    char host[256], url[400], err[512];
    int port;
    if (!server_parse_host(host_arg, host, sizeof host, &port)) {
        fprintf(stderr, "autoglm ps: cannot parse host '%s'\n", host_arg);
        return CLI_EXIT_USAGE;
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof url, "http://%s%s%s:%d/api/ps", v6 ? "[" : "", strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host,
             v6 ? "]" : "", port);
    httpc_response r;
    char *body = NULL;
    size_t len = 0;
    if (httpc_fetch("GET", url, NULL, 0, 10, &r, &body, &len, err, sizeof err)) {
        fprintf(stderr, "autoglm: could not connect to the server (is `autoglm serve` running?): %s\n", err);
        return CLI_EXIT_FAIL;
    }
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
    if (r.status != 200 || !cJSON_IsArray(models)) {
        fprintf(stderr, "autoglm: unexpected answer from %s (HTTP %d)\n", url, r.status);
        cJSON_Delete(j);
        free(body);
        return CLI_EXIT_FAIL;
    }
    printf("%-32s %-14s %-10s %-16s %-10s %-16s %s\n", "NAME", "ID", "SIZE", "PROCESSOR", "VRAM", "KV/TOKEN", "UNTIL");
    const cJSON *m;
    cJSON_ArrayForEach(m, models) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name"), *dig = cJSON_GetObjectItemCaseSensitive(m, "digest"),
                    *size = cJSON_GetObjectItemCaseSensitive(m, "size"), *until = cJSON_GetObjectItemCaseSensitive(m, "expires_at");
        char id[13] = "", sz[32] = "";
        if (cJSON_IsString(dig)) snprintf(id, sizeof id, "%.12s", dig->valuestring);
        human_bytes(sz, sizeof sz, cJSON_IsNumber(size) ? size->valuedouble : 0);
        const cJSON *vram = cJSON_GetObjectItemCaseSensitive(m, "size_vram");
        const cJSON *gl = cJSON_GetObjectItemCaseSensitive(m, "gpu_layers"), *nl = cJSON_GetObjectItemCaseSensitive(m, "n_layer");
        const double vb = cJSON_IsNumber(vram) ? vram->valuedouble : 0;
        char vr[32] = "-", proc[32] = "100% CPU";
        if (vb > 0) human_bytes(vr, sizeof vr, vb);
        if (cJSON_IsNumber(gl) && cJSON_IsNumber(nl) && gl->valueint > 0 && nl->valueint > 0) {
            const int gpu_pct = (int)(100.0 * gl->valueint / nl->valueint + 0.5);
            if (gl->valueint >= nl->valueint) snprintf(proc, sizeof proc, "100%% GPU");
            else snprintf(proc, sizeof proc, "%d%%/%d%% CPU/GPU", 100 - gpu_pct, gpu_pct);
        } else if (vb > 0)
            snprintf(proc, sizeof proc, "100%% GPU");
        const char *u = cJSON_IsString(until) ? until->valuestring : "";
        const cJSON *kvb = cJSON_GetObjectItemCaseSensitive(m, "kv_bytes_per_token"), *kvt = cJSON_GetObjectItemCaseSensitive(m, "kv_type");
        char kv[40] = "";
        if (cJSON_IsNumber(kvb)) snprintf(kv, sizeof kv, "%.0f B %s", kvb->valuedouble, cJSON_IsString(kvt) ? kvt->valuestring : "");
        printf("%-32s %-14s %-10s %-16s %-10s %-16s %s\n", cJSON_IsString(name) ? name->valuestring : "?", id, sz, proc, vr, kv,
               strncmp(u, "2318", 4) == 0 ? "Forever" : u);
    }
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(j, "power_mode"), *gname = cJSON_GetObjectItemCaseSensitive(j, "gpu_name"),
                *pw = cJSON_GetObjectItemCaseSensitive(j, "gpu_power_w"), *lim = cJSON_GetObjectItemCaseSensitive(j, "gpu_power_limit_w"),
                *used = cJSON_GetObjectItemCaseSensitive(j, "gpu_memory_used_bytes"),
                *tot = cJSON_GetObjectItemCaseSensitive(j, "gpu_memory_total_bytes"),
                *note = cJSON_GetObjectItemCaseSensitive(j, "gpu_power_note");
    if (cJSON_IsString(mode)) printf("\npower mode: %s", mode->valuestring);
    if (cJSON_IsString(gname)) {
        printf("; GPU: %s", gname->valuestring);
        if (cJSON_IsNumber(pw)) printf(", %.0f W", pw->valuedouble);
        if (cJSON_IsNumber(lim)) printf(" (power limit %.0f W)", lim->valuedouble);
        if (cJSON_IsNumber(used) && cJSON_IsNumber(tot))
            printf(", memory %.1f of %.1f GiB", used->valuedouble / 1073741824.0, tot->valuedouble / 1073741824.0);
        if (cJSON_IsString(note) && strstr(note->valuestring, "not ")) printf("; %s", note->valuestring);
    }
    if (cJSON_IsString(mode)) printf("\n");
    cJSON_Delete(j);
    free(body);
    return CLI_EXIT_OK;
}
