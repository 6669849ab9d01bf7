/*
 * energy.c - energy used by the machine's processors: CPU packages from Linux powercap (RAPL:
 * /sys/class/powercap/intel-rapl:N, which AMD processors expose too) and NVIDIA GPUs through
 * NVML (base/nvml.c), summed. The meter sums the top-level package zones' energy_uj counters
 * and follows their wrap-around (max_energy_range_uj), so it must be read at least once per
 * wrap period (tens of minutes at full power). AUTOGLM_POWERCAP_ROOT replaces the sysfs folder
 * (tests use a fake one); AUTOGLM_NO_NVML=1 leaves the GPUs out. The GPUs' share is kept apart
 * too (ag_energy_gpu_joules), for the per-request "gpu_energy_joules" of GPU work.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/autoglm.h"
#include "base/nvml.h"

#define MAX_ZONES 16

struct ag_energy {
    int n;
    char path[MAX_ZONES][512];     /* .../energy_uj */
    unsigned long long range[MAX_ZONES], last[MAX_ZONES];
    double total_uj;
    double gpu_uj;                 /* the GPUs' part of total_uj */
    ag_nvml *gpu;                  /* NULL: no NVIDIA GPU energy */
    unsigned long long gpu_last_mj;
    pthread_mutex_t mu;            /* reads may come from several threads (the server's requests) */
};

static bool read_ull(const char *path, unsigned long long *v) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fscanf(f, "%llu", v) == 1;
    fclose(f);
    return ok;
}

/* "intel-rapl:N" (a package), not "intel-rapl:N:M" (a sub-zone of it). */
static bool package_zone(const char *name) {
    const char *p = "intel-rapl:";
    if (strncmp(name, p, strlen(p)) != 0) return false;
    const char *d = name + strlen(p);
    if (!*d) return false;
    for (; *d; d++)
        if (*d < '0' || *d > '9') return false;
    return true;
}

static ag_energy *open_cpu(ag_energy *e);
static void open_gpu(ag_energy *e);

ag_energy *ag_energy_open(void) {
    ag_energy *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e = open_cpu(e);
    if (e) open_gpu(e);
    if (e && e->n == 0 && !e->gpu) {
        free(e);
        e = NULL;
    }
    if (e) pthread_mutex_init(&e->mu, NULL);
    return e;
}

/* The CPU package zones (none is fine: the GPU may still report). */
static ag_energy *open_cpu(ag_energy *e) {
    const char *root = getenv("AUTOGLM_POWERCAP_ROOT");
    if (!root || !*root) root = "/sys/class/powercap";
    DIR *dir = opendir(root);
    if (!dir) return e;
    struct dirent *de;
    while (e && (de = readdir(dir)) != NULL && e->n < MAX_ZONES) {
        if (!package_zone(de->d_name)) continue;
        char range_path[512];
        int k = e->n;
        if ((size_t)snprintf(e->path[k], sizeof e->path[k], "%s/%s/energy_uj", root, de->d_name) >= sizeof e->path[k] ||
            (size_t)snprintf(range_path, sizeof range_path, "%s/%s/max_energy_range_uj", root, de->d_name) >= sizeof range_path)
            continue;
        if (!read_ull(e->path[k], &e->last[k])) continue; /* unreadable (permissions): skip the zone */
        if (!read_ull(range_path, &e->range[k])) e->range[k] = 0;
        e->n++;
    }
    closedir(dir);
    return e;
}

static void open_gpu(ag_energy *e) {
    const char *off = getenv("AUTOGLM_NO_NVML");
    if (off && *off && *off != '0') return;
    e->gpu = ag_nvml_open();
    if (e->gpu && !ag_nvml_energy_mj(e->gpu, &e->gpu_last_mj)) {
        ag_nvml_close(e->gpu);
        e->gpu = NULL;
    }
}

const char *ag_energy_sources(const ag_energy *e) {
    if (!e) return "unavailable";
    return e->n && e->gpu ? "CPU packages + GPUs" : e->gpu ? "GPUs" : "CPU packages";
}

static double read_locked(ag_energy *e) {
    if (e->gpu) {
        unsigned long long now;
        if (!ag_nvml_energy_mj(e->gpu, &now)) return -1;
        e->total_uj += (double)(now - e->gpu_last_mj) * 1000.0;
        e->gpu_uj += (double)(now - e->gpu_last_mj) * 1000.0;
        e->gpu_last_mj = now;
    }
    for (int k = 0; k < e->n; k++) {
        unsigned long long now;
        if (!read_ull(e->path[k], &now)) return -1;
        unsigned long long delta = now >= e->last[k] ? now - e->last[k] : e->range[k] - e->last[k] + now; /* wrapped */
        e->total_uj += (double)delta;
        e->last[k] = now;
    }
    return e->total_uj / 1e6;
}

double ag_energy_joules(ag_energy *e) {
    if (!e) return -1;
    pthread_mutex_lock(&e->mu);
    double j = read_locked(e);
    pthread_mutex_unlock(&e->mu);
    return j;
}

double ag_energy_gpu_joules(ag_energy *e) {
    if (!e || !e->gpu) return -1;
    pthread_mutex_lock(&e->mu);
    double j = read_locked(e) < 0 ? -1 : e->gpu_uj / 1e6;
    pthread_mutex_unlock(&e->mu);
    return j;
}

void ag_energy_close(ag_energy *e) {
    if (!e) return;
    ag_nvml_close(e->gpu);
    pthread_mutex_destroy(&e->mu);
    free(e);
}
