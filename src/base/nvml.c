/*
 * nvml.c - NVIDIA GPU energy, power and memory through NVML, loaded at run time (dlopen of
 * libnvidia-ml.so.1, which comes with the driver): no build dependency, and on a machine
 * without the driver ag_nvml_open simply returns NULL. Energy is the sum over all GPUs of
 * nvmlDeviceGetTotalEnergyConsumption (millijoules since the driver loaded; Volta and newer).
 * Power limits: read (limit in effect, default, allowed range) and set; setting needs root and
 * may be refused by the driver, and the caller gets NVML's reason.
 */
#include "base/nvml.h"

#include <dlfcn.h>
#include <stdlib.h>

#define MAX_GPUS 16

typedef int nvml_return; /* nvmlReturn_t: 0 = success */
typedef void *nvml_device;
typedef struct {
    unsigned long long total, free, used;
} nvml_memory;

struct ag_nvml {
    void *lib;
    nvml_return (*shutdown)(void);
    nvml_return (*energy)(nvml_device, unsigned long long *);
    nvml_return (*power)(nvml_device, unsigned int *);
    nvml_return (*memory)(nvml_device, nvml_memory *);
    nvml_return (*limit)(nvml_device, unsigned *);
    nvml_return (*default_limit)(nvml_device, unsigned *);
    nvml_return (*constraints)(nvml_device, unsigned *, unsigned *);
    nvml_return (*set_limit)(nvml_device, unsigned);
    nvml_return (*name)(nvml_device, char *, unsigned);
    const char *(*error_string)(nvml_return);
    nvml_return (*driver_version)(char *, unsigned);
    nvml_device dev[MAX_GPUS];
    unsigned n;
};

ag_nvml *ag_nvml_open(void) {
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return NULL;
    ag_nvml *g = calloc(1, sizeof *g);
    nvml_return (*init)(void) = (nvml_return(*)(void))dlsym(lib, "nvmlInit_v2");
    nvml_return (*count)(unsigned *) = (nvml_return(*)(unsigned *))dlsym(lib, "nvmlDeviceGetCount_v2");
    nvml_return (*handle)(unsigned, nvml_device *) = (nvml_return(*)(unsigned, nvml_device *))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    if (g) {
        g->lib = lib;
        g->shutdown = (nvml_return(*)(void))dlsym(lib, "nvmlShutdown");
        g->energy = (nvml_return(*)(nvml_device, unsigned long long *))dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption");
        g->power = (nvml_return(*)(nvml_device, unsigned int *))dlsym(lib, "nvmlDeviceGetPowerUsage");
        g->memory = (nvml_return(*)(nvml_device, nvml_memory *))dlsym(lib, "nvmlDeviceGetMemoryInfo");
        g->limit = (nvml_return(*)(nvml_device, unsigned *))dlsym(lib, "nvmlDeviceGetPowerManagementLimit");
        g->default_limit = (nvml_return(*)(nvml_device, unsigned *))dlsym(lib, "nvmlDeviceGetPowerManagementDefaultLimit");
        g->constraints =
            (nvml_return(*)(nvml_device, unsigned *, unsigned *))dlsym(lib, "nvmlDeviceGetPowerManagementLimitConstraints");
        g->set_limit = (nvml_return(*)(nvml_device, unsigned))dlsym(lib, "nvmlDeviceSetPowerManagementLimit");
        g->name = (nvml_return(*)(nvml_device, char *, unsigned))dlsym(lib, "nvmlDeviceGetName");
        g->error_string = (const char *(*)(nvml_return))dlsym(lib, "nvmlErrorString");
        g->driver_version = (nvml_return(*)(char *, unsigned))dlsym(lib, "nvmlSystemGetDriverVersion");
    }
    unsigned n = 0;
    if (!g || !init || !count || !handle || !g->shutdown || init() != 0) {
        free(g);
        dlclose(lib);
        return NULL;
    }
    if (count(&n) != 0) n = 0;
    for (unsigned i = 0; i < n && g->n < MAX_GPUS; i++)
        if (handle(i, &g->dev[g->n]) == 0) g->n++;
    if (g->n == 0) {
        ag_nvml_close(g);
        return NULL;
    }
    return g;
}

void ag_nvml_close(ag_nvml *g) {
    if (!g) return;
    g->shutdown();
    dlclose(g->lib);
    free(g);
}

int ag_nvml_count(const ag_nvml *g) { return g ? (int)g->n : 0; }

bool ag_nvml_energy_mj(const ag_nvml *g, unsigned long long *mj) {
    if (!g || !g->energy) return false;
    unsigned long long sum = 0;
    for (unsigned i = 0; i < g->n; i++) {
        unsigned long long e;
        if (g->energy(g->dev[i], &e) != 0) return false;
        sum += e;
    }
    *mj = sum;
    return true;
}

bool ag_nvml_power_mw(const ag_nvml *g, int i, unsigned *mw) {
    return g && g->power && i >= 0 && (unsigned)i < g->n && g->power(g->dev[i], mw) == 0;
}

bool ag_nvml_memory(const ag_nvml *g, int i, unsigned long long *used, unsigned long long *total) {
    nvml_memory m;
    if (!g || !g->memory || i < 0 || (unsigned)i >= g->n || g->memory(g->dev[i], &m) != 0) return false;
    *used = m.used;
    *total = m.total;
    return true;
}

bool ag_nvml_driver_version(const ag_nvml *g, char *buf, unsigned cap) {
    return g && g->driver_version && g->driver_version(buf, cap) == 0;
}

static bool dev_ok(const ag_nvml *g, int i) { return g && i >= 0 && (unsigned)i < g->n; }

bool ag_nvml_name(const ag_nvml *g, int i, char *buf, unsigned cap) {
    return dev_ok(g, i) && g->name && g->name(g->dev[i], buf, cap) == 0;
}

bool ag_nvml_power_limits(const ag_nvml *g, int i, unsigned *now_mw, unsigned *default_mw, unsigned *min_mw,
                          unsigned *max_mw) {
    if (!dev_ok(g, i) || !g->limit || !g->default_limit || !g->constraints) return false;
    return g->limit(g->dev[i], now_mw) == 0 && g->default_limit(g->dev[i], default_mw) == 0 &&
           g->constraints(g->dev[i], min_mw, max_mw) == 0;
}

int ag_nvml_set_power_limit(const ag_nvml *g, int i, unsigned mw) {
    if (!dev_ok(g, i) || !g->set_limit) return NVML_NOT_SUPPORTED;
    return g->set_limit(g->dev[i], mw);
}

const char *ag_nvml_error_string(const ag_nvml *g, int code) {
    const char *s = g && g->error_string ? g->error_string(code) : NULL;
    return s ? s : "unknown NVML error";
}
