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

#endif
