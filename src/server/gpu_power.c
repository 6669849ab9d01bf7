/*
 * gpu_power.c - the server's NVIDIA GPUs (ag_gpu_monitor, NVML): the power mode's GPU power limit,
 * set when the mode changes (balanced 75%, powersave 50% of the default), the default put back
 * when the mode returns to performance and when the server stops; readings (power draw, limit,
 * memory) for /api/ps, /api/power and /metrics. Setting a limit needs root and the driver may
 * refuse it: the refusal is printed once on stderr and kept as a note; it never fails anything.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server/http.h"

void server_gpu_open(server *s) {
    pthread_mutex_init(&s->gpu_mu, NULL);
    s->gpu = ag_gpu_monitor_open();
    ag_error err = {0};
    if (!s->gpu) snprintf(s->gpu_note, sizeof s->gpu_note, "NVML not present: GPU power limits are not set");
    else if (ag_gpu_monitor_can_set(s->gpu, &err) != AG_OK) snprintf(s->gpu_note, sizeof s->gpu_note, "%s", err.msg);
    else snprintf(s->gpu_note, sizeof s->gpu_note, "GPU power limit: as the system set it (the power modes may change it)");
    if (s->cfg.sched.power != AG_POWER_PERFORMANCE) server_gpu_apply_mode(s, s->cfg.sched.power);
}

void server_gpu_close(server *s) {
    ag_gpu_monitor_close(s->gpu); /* puts back the defaults it changed */
    s->gpu = NULL;
    pthread_mutex_destroy(&s->gpu_mu);
}

void server_gpu_apply_mode(server *s, ag_power_mode mode) {
    if (!s->gpu) return;
    pthread_mutex_lock(&s->gpu_mu);
    ag_error err = {0};
    double w = -1;
    if (ag_gpu_monitor_set_power_mode(s->gpu, mode, &w, &err) == AG_OK) {
        if (w >= 0) snprintf(s->gpu_note, sizeof s->gpu_note, "GPU power limit %.0f W", w);
    } else {
        snprintf(s->gpu_note, sizeof s->gpu_note, "%s", err.msg);
        if (!s->gpu_refusal_told) fprintf(stderr, "autoglm serve: %s; the power mode applies to threads and batches only\n", err.msg);
        s->gpu_refusal_told = true;
    }
    pthread_mutex_unlock(&s->gpu_mu);
}

bool server_gpu_read(server *s, ag_gpu_reading *r, char *note, size_t cap) {
    if (!s->gpu) { /* the note never changes then */
        if (note && cap) snprintf(note, cap, "%s", s->gpu_note);
        return false;
    }
    pthread_mutex_lock(&s->gpu_mu);
    const bool ok = ag_gpu_monitor_read(s->gpu, 0, r);
    if (note && cap) snprintf(note, cap, "%s", s->gpu_note);
    pthread_mutex_unlock(&s->gpu_mu);
    return ok;
}

static void num_or_null(cJSON *o, const char *key, double v) {
    if (v >= 0) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

void server_gpu_fields(server *s, cJSON *o) {
    ag_gpu_reading r;
    char note[512];
    const bool have = server_gpu_read(s, &r, note, sizeof note);
    cJSON_AddStringToObject(o, "gpu_power_note", note);
    if (!have) {
        cJSON_AddNullToObject(o, "gpu_power_w");
        cJSON_AddNullToObject(o, "gpu_power_limit_w");
        return;
    }
    cJSON_AddStringToObject(o, "gpu_name", r.name);
    num_or_null(o, "gpu_power_w", r.power_w);
    num_or_null(o, "gpu_power_limit_w", r.limit_w);
    num_or_null(o, "gpu_default_power_limit_w", r.default_limit_w);
    if (r.mem_total) {
        cJSON_AddNumberToObject(o, "gpu_memory_used_bytes", (double)r.mem_used);
        cJSON_AddNumberToObject(o, "gpu_memory_total_bytes", (double)r.mem_total);
    }
}
