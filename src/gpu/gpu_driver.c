/*
 * gpu_driver.c - the "driver too old" message (gpu_driver.h): which driver is installed, which
 * CUDA it supports, and which driver this build needs.
 */
#include "gpu/gpu_driver.h"

#include <stdbool.h>
#include <stdio.h>

int ag_gpu_min_driver(int runtime) {
    const int major = runtime / 1000;
    return major >= 13 ? 580 : major == 12 ? 525 : major == 11 ? 450 : 0;
}

void ag_gpu_driver_message(char *buf, size_t cap, int driver_cuda, int runtime_cuda, const char *driver_version) {
    char need[48] = "a newer driver";
    const int min = ag_gpu_min_driver(runtime_cuda);
    if (min) snprintf(need, sizeof need, "driver %d or newer", min);
    const bool named = driver_version && *driver_version;
    snprintf(buf, cap, "the NVIDIA driver%s%s supports CUDA %d.%d, this build needs CUDA %d.%d: install %s (or use --device cpu)",
             named ? " " : "", named ? driver_version : "", driver_cuda / 1000, driver_cuda % 1000 / 10, runtime_cuda / 1000,
             runtime_cuda % 1000 / 10, need);
}
