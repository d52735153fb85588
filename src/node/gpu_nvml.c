/* gpu_nvml: the few NVML calls herd-node needs, resolved with dlsym. The types below are
 * NVML's stable ABI (nvml.h), restated so no NVIDIA header is needed to build. */
#include "node/gpu_nvml.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef int nvml_return;
typedef struct nvml_device_st *nvml_device;
struct nvml_memory {
    unsigned long long total, free, used;
};
struct nvml_utilization {
    unsigned int gpu, memory;
};
#define NVML_SUCCESS 0
#define NVML_TEMPERATURE_GPU 0

struct nvml {
    void *lib;
    nvml_return (*shutdown)(void);
    nvml_return (*count)(unsigned int *);
    nvml_return (*handle)(unsigned int, nvml_device *);
    nvml_return (*name)(nvml_device, char *, unsigned int);
    nvml_return (*memory)(nvml_device, struct nvml_memory *);
    nvml_return (*utilization)(nvml_device, struct nvml_utilization *);
    nvml_return (*temperature)(nvml_device, int, unsigned int *);
};

/* dlsym into a function pointer without the object-to-function cast warning. */
static int resolve(void *lib, const char *sym, void *fnptr)
{
    void *p = dlsym(lib, sym);
    if (!p)
        return -1;
    memcpy(fnptr, &p, sizeof p);
    return 0;
}

struct nvml *nvml_open(const char *library)
{
    const char *name = library && *library ? library : "libnvidia-ml.so.1";
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        LOG_DEBUG("no NVIDIA GPU library (%s): %s", name, dlerror());
        return NULL;
    }
    struct nvml *n = calloc(1, sizeof *n);
    nvml_return (*init)(void) = NULL;
    if (!n || resolve(lib, "nvmlInit_v2", &init) || resolve(lib, "nvmlShutdown", &n->shutdown) ||
        resolve(lib, "nvmlDeviceGetCount_v2", &n->count) ||
        resolve(lib, "nvmlDeviceGetHandleByIndex_v2", &n->handle) ||
        resolve(lib, "nvmlDeviceGetName", &n->name) ||
        resolve(lib, "nvmlDeviceGetMemoryInfo", &n->memory)) {
        LOG_WARN("%s lacks the NVML functions herd-node needs; GPUs are not reported", name);
        free(n);
        dlclose(lib);
        return NULL;
    }
    /* Optional: older drivers or some boards lack these. */
    if (resolve(lib, "nvmlDeviceGetUtilizationRates", &n->utilization))
        n->utilization = NULL;
    if (resolve(lib, "nvmlDeviceGetTemperature", &n->temperature))
        n->temperature = NULL;
    nvml_return rc = init();
    if (rc != NVML_SUCCESS) {
        LOG_INFO("NVML did not start (error %d): no NVIDIA driver? GPUs are not reported", rc);
        free(n);
        dlclose(lib);
        return NULL;
    }
    n->lib = lib;
    return n;
}

int nvml_collect(struct nvml *n, struct sys_gpu *out, int max)
{
    unsigned int count = 0;
    if (!n || n->count(&count) != NVML_SUCCESS)
        return 0;
    int got = 0;
    for (unsigned int i = 0; i < count && got < max; i++) {
        nvml_device d;
        if (n->handle(i, &d) != NVML_SUCCESS)
            continue;
        struct sys_gpu *g = &out[got];
        memset(g, 0, sizeof *g);
        g->util_pct = -1;
        g->temp_c = -273;
        if (n->name(d, g->name, sizeof g->name) != NVML_SUCCESS)
            snprintf(g->name, sizeof g->name, "NVIDIA GPU %u", i);
        g->name[sizeof g->name - 1] = '\0';
        struct nvml_memory mem;
        if (n->memory(d, &mem) == NVML_SUCCESS) {
            g->vram_total_gb = (double)mem.total / (1024.0 * 1024 * 1024);
            g->vram_used_gb = (double)mem.used / (1024.0 * 1024 * 1024);
        }
        struct nvml_utilization u;
        if (n->utilization && n->utilization(d, &u) == NVML_SUCCESS)
            g->util_pct = u.gpu;
        unsigned int t;
        if (n->temperature && n->temperature(d, NVML_TEMPERATURE_GPU, &t) == NVML_SUCCESS)
            g->temp_c = t;
        got++;
    }
    return got;
}

void nvml_close(struct nvml *n)
{
    if (!n)
        return;
    n->shutdown();
    dlclose(n->lib);
    free(n);
}
