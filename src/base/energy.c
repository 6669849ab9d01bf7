/*
 * energy.c - CPU package energy from Linux powercap (RAPL: /sys/class/powercap/intel-rapl:N,
 * which AMD processors expose too). The meter sums the top-level package zones' energy_uj
 * counters and follows their wrap-around (max_energy_range_uj), so it must be read at least once
 * per wrap period (tens of minutes at full power). AUTOGLM_POWERCAP_ROOT replaces the sysfs
 * folder (tests use a fake one).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/autoglm.h"

#define MAX_ZONES 16

struct ag_energy {
    int n;
    char path[MAX_ZONES][512];     /* .../energy_uj */
    unsigned long long range[MAX_ZONES], last[MAX_ZONES];
    double total_uj;
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

ag_energy *ag_energy_open(void) {
    const char *root = getenv("AUTOGLM_POWERCAP_ROOT");
    if (!root || !*root) root = "/sys/class/powercap";
    DIR *dir = opendir(root);
    if (!dir) return NULL;
    ag_energy *e = calloc(1, sizeof *e);
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
    if (e && e->n == 0) {
        free(e);
        e = NULL;
    }
    return e;
}

double ag_energy_joules(ag_energy *e) {
    if (!e) return -1;
    for (int k = 0; k < e->n; k++) {
        unsigned long long now;
        if (!read_ull(e->path[k], &now)) return -1;
        unsigned long long delta = now >= e->last[k] ? now - e->last[k] : e->range[k] - e->last[k] + now; /* wrapped */
        e->total_uj += (double)delta;
        e->last[k] = now;
    }
    return e->total_uj / 1e6;
}

void ag_energy_close(ag_energy *e) { free(e); }
