/* sysinfo: what the operating system says about this machine, in one platform-neutral
 * sample. sysinfo_linux.c implements it from /proc and sysfs (and NVML for NVIDIA GPUs);
 * other platforms add their own file behind the same interface. Missing pieces are left
 * unset (has_* false), never invented. */
#ifndef HERD_SYSINFO_H
#define HERD_SYSINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "node/proc_parse.h"

#define SYS_GPUS_MAX 16

struct sys_gpu {
    char name[96];
    double vram_total_gb, vram_used_gb;
    double util_pct; /* < 0 when unknown */
    double temp_c;   /* < -100 when unknown */
};

struct sys_sample {
    char arch[80];  /* "x86_64", "arm64" */
    char chip[192]; /* CPU model, " + " and the first GPU's name when there is one */

    bool has_cpu;
    int cores_physical, cores_logical;
    double cpu_pct;        /* all processes; < 0 on the first sample (no delta yet) */
    double ollama_cpu_pct; /* Ollama's own processes; < 0 when unknown */

    bool has_memory;
    double mem_total_gb, mem_used_gb, mem_available_gb;
    enum mem_pressure pressure;
    const char *pressure_source; /* "psi" or "used" */

    bool has_disk;
    char disk_path[1024];
    double disk_total_gb, disk_used_gb, disk_available_gb;

    bool has_thermal;
    double temp_c;
    char temp_source[48];

    struct sys_gpu gpus[SYS_GPUS_MAX];
    int n_gpus;

    int ollama_num_parallel; /* OLLAMA_NUM_PARALLEL of the running Ollama server; 0 unknown */
};

struct sysinfo_opts {
    const char *models_dir;   /* the disk to report; NULL or "" = Ollama's model store */
    const char *nvml_library; /* dlopen name or path; NULL = "libnvidia-ml.so.1" */
    const char *root;         /* prefix for /proc and /sys paths (tests); NULL = "" */
};

struct sysinfo;

/* A collector. Takes a first CPU sample so the next collect has a delta. NULL on ENOMEM.
 * Strings in o are copied. */
struct sysinfo *sysinfo_new(const struct sysinfo_opts *o);

/* Fills out with what can be read now. Never fails as a whole: a part that cannot be read is
 * left unset. Reads small files only (procfs, sysfs), so it may run on the event loop. */
void sysinfo_collect(struct sysinfo *s, struct sys_sample *out);

/* Whether NVML was found (for the start-up log). */
bool sysinfo_has_nvml(const struct sysinfo *s);

/* Releases the collector (and unloads NVML). Accepts NULL. */
void sysinfo_free(struct sysinfo *s);

#endif
