/*
 * routes_power.c - the desktop's controls and gauges:
 *   GET  /api/power   {"mode", "n_threads", "n_batch", "max_tokens_per_s", "gpu", "gpu_power_limit_w", ...} (reader)
 *   POST /api/power   {"mode": "performance|balanced|powersave", "max_tokens_per_s"?}   (admin)
 *   GET  /api/stats   counters, the latest generation's rate / TTFT / energy, memory     (reader)
 * The mode applies to every session before its next eval (sched_power.c) and sets the GPUs' power
 * limit where NVML allows it (gpu_power.c): "gpu" says the limit in effect or why none is set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/http.h"

static cJSON *power_json(server *srv) {
    ag_power_params p = sched_get_power(srv->sched);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", sched_power_name(p.mode));
    cJSON_AddNumberToObject(o, "n_threads", p.n_threads);
    if (p.n_batch) cJSON_AddNumberToObject(o, "n_batch", p.n_batch);
    else cJSON_AddStringToObject(o, "n_batch", "session");
    cJSON_AddNumberToObject(o, "max_tokens_per_s", p.max_tokens_per_s);
    ag_gpu_reading r;
    char note[512];
    const bool have = server_gpu_read(srv, &r, note, sizeof note);
    cJSON_AddStringToObject(o, "gpu", note);
    if (have && r.limit_w >= 0) cJSON_AddNumberToObject(o, "gpu_power_limit_w", r.limit_w);
    else cJSON_AddNullToObject(o, "gpu_power_limit_w");
    if (have && r.power_w >= 0) cJSON_AddNumberToObject(o, "gpu_power_w", r.power_w);
    return o;
}

enum MHD_Result route_power_get(http_req *rq) { return http_reply_json(rq, 200, power_json(rq->srv)); }

enum MHD_Result route_power_set(http_req *rq) {
    cJSON *body = cJSON_ParseWithLength(rq->body, rq->len);
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(body, "mode");
    const cJSON *cap = cJSON_GetObjectItemCaseSensitive(body, "max_tokens_per_s");
    int m = cJSON_IsString(mode) ? ag_power_mode_from_name(mode->valuestring) : -1;
    bool cap_ok = !cap || (cJSON_IsNumber(cap) && cap->valuedouble >= 0 && cap->valuedouble < 1e9);
    double cap_v = cap ? cap->valuedouble : 0;
    cJSON_Delete(body);
    if (m < 0 || !cap_ok)
        return http_reply_error(rq, 400, "want {\"mode\": \"performance|balanced|powersave\", \"max_tokens_per_s\": N >= 0}");
    sched_set_power(rq->srv->sched, (ag_power_mode)m, cap_v);
    server_gpu_apply_mode(rq->srv, (ag_power_mode)m);
    return http_reply_json(rq, 200, power_json(rq->srv));
}

/* Resident memory of the process (bytes), 0 when unknown. */
static double rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

static void add_or_null(cJSON *o, const char *key, bool have, double v) {
    if (have) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

enum MHD_Result route_stats(http_req *rq) {
    metrics_snapshot sn;
    metrics_gauges g;
    metrics_snapshot_get(rq->srv->metrics, &sn);
    sched_gauges(rq->srv->sched, &g);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "power", power_json(rq->srv));
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)sn.prompt_tokens);
    cJSON_AddNumberToObject(o, "generated_tokens", (double)sn.generated_tokens);
    add_or_null(o, "ttft_avg_s", sn.ttft_n > 0, sn.ttft_n ? sn.ttft_sum / (double)sn.ttft_n : 0);
    cJSON *last = cJSON_AddObjectToObject(o, "last");
    add_or_null(last, "tokens_per_s", sn.has_last, sn.last.tokens_per_s);
    add_or_null(last, "ttft_s", sn.has_last, sn.last.ttft_s);
    add_or_null(last, "tokens", sn.has_last, (double)sn.last.tokens);
    add_or_null(last, "energy_joules", sn.has_last && sn.last.joules >= 0, sn.last.joules);
    add_or_null(last, "joules_per_token", sn.has_last && sn.last.joules >= 0 && sn.last.tokens > 0,
                sn.last.tokens ? sn.last.joules / (double)sn.last.tokens : 0);
    cJSON *en = cJSON_AddObjectToObject(o, "energy");
    cJSON_AddStringToObject(en, "sources", ag_energy_sources(rq->srv->energy));
    cJSON_AddNumberToObject(en, "joules_total", sn.joules);
    add_or_null(en, "joules_per_token", sn.joules_tokens > 0, sn.joules_tokens ? sn.joules / (double)sn.joules_tokens : 0);
    cJSON *mem = cJSON_AddObjectToObject(o, "memory");
    cJSON_AddNumberToObject(mem, "rss_bytes", rss_bytes());
    cJSON_AddNumberToObject(mem, "kv_tokens", (double)g.kv_tokens);
    cJSON_AddNumberToObject(o, "models_loaded", g.models);
    cJSON_AddNumberToObject(o, "queued", g.queued);
    cJSON_AddNumberToObject(o, "slots_active", g.slots_active);
    cJSON_AddNumberToObject(o, "slots_total", g.slots_total);
    return http_reply_json(rq, 200, o);
}
