/*
 * gpu_monitor.c - the public NVIDIA GPU monitor (autoglm.h: ag_gpu_monitor): power draw, memory
 * and power limits per GPU over base/nvml.c, and the power modes' GPU limits. Setting a limit is
 * all or nothing across the GPUs (a refusal on one puts the others back); the monitor remembers
 * which limits it changed and puts their defaults back when it closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/autoglm.h"
#include "base/error.h"
#include "base/nvml.h"

#define MAX_GPUS 16

struct ag_gpu_monitor {
    ag_nvml *nvml;
    bool changed[MAX_GPUS]; /* this monitor set the GPU's limit (so closing restores its default) */
    bool keep_limits;       /* AUTOGLM_GPU_POWER_LIMIT=keep at open: the power modes leave the limits alone */
};

ag_gpu_monitor *ag_gpu_monitor_open(void) {
    const char *off = getenv("AUTOGLM_NO_NVML");
    if (off && *off && *off != '0') return NULL;
    ag_nvml *n = ag_nvml_open();
    if (!n) return NULL;
    ag_gpu_monitor *g = calloc(1, sizeof *g);
    if (!g) {
        ag_nvml_close(n);
        return NULL;
    }
    const char *keep = getenv("AUTOGLM_GPU_POWER_LIMIT"); /* a shared or administered GPU */
    g->keep_limits = keep && strcmp(keep, "keep") == 0;
    g->nvml = n;
    return g;
}

int ag_gpu_monitor_count(const ag_gpu_monitor *g) {
    const int n = g ? ag_nvml_count(g->nvml) : 0;
    return n < MAX_GPUS ? n : MAX_GPUS;
}

bool ag_gpu_monitor_read(ag_gpu_monitor *g, int i, ag_gpu_reading *r) {
    if (!g || !r || i < 0 || i >= ag_gpu_monitor_count(g)) return false;
    *r = (ag_gpu_reading){.power_w = -1, .limit_w = -1, .default_limit_w = -1, .min_limit_w = -1, .max_limit_w = -1};
    if (!ag_nvml_name(g->nvml, i, r->name, sizeof r->name)) snprintf(r->name, sizeof r->name, "GPU %d", i);
    unsigned mw, now, def, lo, hi;
    if (ag_nvml_power_mw(g->nvml, i, &mw)) r->power_w = mw / 1000.0;
    if (ag_nvml_power_limits(g->nvml, i, &now, &def, &lo, &hi)) {
        r->limit_w = now / 1000.0;
        r->default_limit_w = def / 1000.0;
        r->min_limit_w = lo / 1000.0;
        r->max_limit_w = hi / 1000.0;
    }
    unsigned long long used, total;
    if (ag_nvml_memory(g->nvml, i, &used, &total)) {
        r->mem_used = used;
        r->mem_total = total;
    }
    return true;
}

double ag_gpu_power_limit_for_mode(ag_power_mode mode, double default_w, double min_w, double max_w) {
    const double share = mode == AG_POWER_POWERSAVE ? 0.5 : mode == AG_POWER_BALANCED ? 0.75 : 1.0;
    double w = default_w * share;
    if (w < min_w) w = min_w;
    if (max_w > 0 && w > max_w) w = max_w;
    return w;
}

/* Sets GPU i to mw; on failure fills err with NVML's reason. */
static ag_status set_one(ag_gpu_monitor *g, int i, unsigned mw, ag_error *err) {
    const int rc = ag_nvml_set_power_limit(g->nvml, i, mw);
    if (rc == 0) return AG_OK;
    const char *what = rc == NVML_NO_PERMISSION ? "not permitted" : rc == NVML_NOT_SUPPORTED ? "not supported" : "refused";
    return ag_error_set(err, AG_ERR_UNSUPPORTED, "GPU power limit: %s (%s: %s)", what,
                        rc == NVML_NO_PERMISSION ? "needs root" : "NVML", ag_nvml_error_string(g->nvml, rc));
}

ag_status ag_gpu_monitor_set_power_mode(ag_gpu_monitor *g, ag_power_mode mode, double *limit_w, ag_error *err) {
    if (!g) return ag_error_set(err, AG_ERR_UNSUPPORTED, "GPU power limit: no NVIDIA GPU (NVML not present)");
    if (g->keep_limits) {
        unsigned now, def, lo, hi;
        if (limit_w && ag_gpu_monitor_count(g) > 0 && ag_nvml_power_limits(g->nvml, 0, &now, &def, &lo, &hi))
            *limit_w = now / 1000.0;
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "GPU power limit: kept as it is (AUTOGLM_GPU_POWER_LIMIT=keep)");
    }
    const int n = ag_gpu_monitor_count(g);
    unsigned was[MAX_GPUS];
    for (int i = 0; i < n; i++) {
        unsigned now, def, lo, hi;
        if (!ag_nvml_power_limits(g->nvml, i, &now, &def, &lo, &hi))
            return ag_error_set(err, AG_ERR_UNSUPPORTED, "GPU power limit: not supported (NVML reports no limits of GPU %d)", i);
        was[i] = now;
        if (mode == AG_POWER_PERFORMANCE && !g->changed[i]) continue; /* not ours: an administrator's limit stays */
        const unsigned want = (unsigned)ag_gpu_power_limit_for_mode(mode, def, lo, hi);
        if (want == now) continue;
        const ag_status st = set_one(g, i, want, err);
        if (st) {
            for (int k = 0; k < i; k++) ag_nvml_set_power_limit(g->nvml, k, was[k]); /* all or nothing */
            return st;
        }
        g->changed[i] = want != def;
    }
    unsigned now, def, lo, hi;
    if (limit_w && n > 0 && ag_nvml_power_limits(g->nvml, 0, &now, &def, &lo, &hi)) *limit_w = now / 1000.0;
    return AG_OK;
}

ag_status ag_gpu_monitor_can_set(ag_gpu_monitor *g, ag_error *err) {
    if (!g) return ag_error_set(err, AG_ERR_UNSUPPORTED, "GPU power limit: no NVIDIA GPU (NVML not present)");
    if (g->keep_limits) return ag_error_set(err, AG_ERR_UNSUPPORTED, "GPU power limit: kept as it is (AUTOGLM_GPU_POWER_LIMIT=keep)");
    unsigned now, def, lo, hi;
    if (!ag_nvml_power_limits(g->nvml, 0, &now, &def, &lo, &hi))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "GPU power limit: not supported (NVML reports no limits)");
    return set_one(g, 0, now, err); /* the same value: a question, not a change */
}

void ag_gpu_monitor_close(ag_gpu_monitor *g) {
    if (!g) return;
    for (int i = 0; i < ag_gpu_monitor_count(g); i++) {
        unsigned now, def, lo, hi;
        if (g->changed[i] && ag_nvml_power_limits(g->nvml, i, &now, &def, &lo, &hi) && now != def)
            ag_nvml_set_power_limit(g->nvml, i, def);
    }
    ag_nvml_close(g->nvml);
    free(g);
}
