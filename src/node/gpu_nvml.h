/* gpu_nvml: NVIDIA GPUs through NVML, loaded at run time with dlopen so that herd-node needs
 * no NVIDIA package to build or run. Without the library there are simply no GPUs. */
#ifndef HERD_GPU_NVML_H
#define HERD_GPU_NVML_H

#include "node/sysinfo.h"

struct nvml;

/* Loads and initialises NVML from library (a soname or a path). NULL when it is absent or
 * fails to initialise (no driver); the reason is logged at debug level. */
struct nvml *nvml_open(const char *library);

/* Fills up to max GPUs; returns how many. */
int nvml_collect(struct nvml *n, struct sys_gpu *out, int max);

/* Shuts NVML down and unloads it. Accepts NULL. */
void nvml_close(struct nvml *n);

#endif
