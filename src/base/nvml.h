/*
 * nvml.h - NVIDIA GPUs' energy, power and memory (NVML, loaded at run time; see nvml.c).
 */
#ifndef AG_BASE_NVML_H
#define AG_BASE_NVML_H

#include <stdbool.h>

typedef struct ag_nvml ag_nvml;

ag_nvml *ag_nvml_open(void); /* NULL: no driver or no GPU */
void ag_nvml_close(ag_nvml *g);
int ag_nvml_count(const ag_nvml *g);
/* Total energy of all GPUs since the driver loaded, in millijoules; false when not reported. */
bool ag_nvml_energy_mj(const ag_nvml *g, unsigned long long *mj);
bool ag_nvml_power_mw(const ag_nvml *g, int i, unsigned *mw);
bool ag_nvml_memory(const ag_nvml *g, int i, unsigned long long *used, unsigned long long *total);
bool ag_nvml_driver_version(const ag_nvml *g, char *buf, unsigned cap); /* "580.159.04" */
bool ag_nvml_name(const ag_nvml *g, int i, char *buf, unsigned cap);
/* Power limits of GPU i in milliwatts: in effect, default, and the range one may be set in. */
bool ag_nvml_power_limits(const ag_nvml *g, int i, unsigned *now_mw, unsigned *default_mw, unsigned *min_mw,
                          unsigned *max_mw);
/* nvmlDeviceSetPowerManagementLimit: 0 on success, else NVML's code (NVML_NO_PERMISSION: not root). */
int ag_nvml_set_power_limit(const ag_nvml *g, int i, unsigned mw);
const char *ag_nvml_error_string(const ag_nvml *g, int code);

#define NVML_NOT_SUPPORTED 3 /* nvmlReturn_t values the callers tell apart */
#define NVML_NO_PERMISSION 4

#endif
