/*
 * gpu_driver.h - the message for an NVIDIA driver older than this build's CUDA runtime: the
 * installed driver (its version from NVML when readable, and the CUDA version it supports) and
 * the driver the build needs (NVIDIA's minimums for each CUDA major version, Linux).
 */
#ifndef AG_GPU_GPU_DRIVER_H
#define AG_GPU_GPU_DRIVER_H

#include <stddef.h>

/* The oldest Linux driver branch that runs CUDA runtime `runtime` (1000 * major + 10 * minor)
 * through minor-version compatibility: 13.x 580, 12.x 525, 11.x 450; 0 when unknown. */
int ag_gpu_min_driver(int runtime);

/* "the NVIDIA driver 535.104.05 supports CUDA 12.2, this build needs CUDA 13.0: install driver
 * 580 or newer" (driver_version NULL or "": without the driver's own version). */
void ag_gpu_driver_message(char *buf, size_t cap, int driver_cuda, int runtime_cuda, const char *driver_version);

#endif
