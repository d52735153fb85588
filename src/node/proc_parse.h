/* proc_parse: pure parsers for the Linux files herd-node reads (/proc/stat, /proc/meminfo,
 * /proc/pressure/memory, /proc/cpuinfo, sysfs temperatures), and the classifications built on
 * them. No I/O here: callers read the files, so tests run on captured samples. */
#ifndef HERD_PROC_PARSE_H
#define HERD_PROC_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The aggregate "cpu " line of /proc/stat, in clock ticks. */
struct cpu_times {
    uint64_t user, nice, system, idle, iowait, irq, softirq, steal;
};

/* Parses the "cpu " line of /proc/stat. 0, or -EINVAL when it is missing or malformed. */
int proc_stat_parse(const char *text, struct cpu_times *out);

/* Busy share of the time between two samples, 0..100; -1 when no time passed (or the counters
 * went backwards, as after a CPU went offline). iowait counts as idle, steal as busy. */
double cpu_busy_pct(const struct cpu_times *prev, const struct cpu_times *cur);

/* What herd-node uses of /proc/meminfo, in kB. */
struct meminfo {
    uint64_t total_kb, free_kb, available_kb, buffers_kb, cached_kb, sreclaimable_kb, shmem_kb;
    bool has_available; /* MemAvailable exists (kernels >= 3.14) */
};

/* Parses /proc/meminfo. 0, or -EINVAL when MemTotal is missing. */
int proc_meminfo_parse(const char *text, struct meminfo *out);

/* Memory the machine could give a new program without swapping, in kB: MemAvailable, or an
 * estimate from free + buffers + reclaimable cache on kernels without it. */
uint64_t meminfo_available_kb(const struct meminfo *m);

/* /proc/pressure/memory (PSI): the share of time some / all runnable tasks were stalled
 * waiting for memory, averaged over 10 and 60 seconds, in percent. */
struct psi {
    double some_avg10, some_avg60, full_avg10, full_avg60;
};

/* Parses a PSI file. 0, or -EINVAL when the "some" line is missing. */
int proc_psi_parse(const char *text, struct psi *out);

enum mem_pressure { MEM_PRESSURE_NORMAL, MEM_PRESSURE_WARN, MEM_PRESSURE_CRITICAL };

/* Classifies memory pressure. With PSI (psi non-NULL), stalls decide: warn from 10 % "some"
 * or 2 % "full" over 10 s, critical from 40 % "some" or 10 % "full"; less than 2 % of memory
 * available is critical whatever PSI says, as the next allocation may meet the OOM killer.
 * Without PSI, the share of memory in use decides: warn from 85 %, critical from 95 %. */
enum mem_pressure mem_pressure_classify(const struct meminfo *m, const struct psi *psi);

/* "normal", "warn" or "critical". */
const char *mem_pressure_name(enum mem_pressure p);

/* What /proc/cpuinfo tells: the processor's model name (on ARM boards without one, the
 * board's "Model" line; "" when neither exists), logical processors, and physical cores (distinct
 * physical id / core id pairs; the logical count when the file has no topology). */
struct cpuinfo {
    char model[128];
    int logical;
    int physical;
};

/* Parses /proc/cpuinfo. 0, or -EINVAL when it lists no processor. */
int proc_cpuinfo_parse(const char *text, struct cpuinfo *out);

/* A temperature sensor: its driver or zone type ("coretemp", "k10temp", "x86_pkg_temp",
 * "acpitz") and its reading in degrees Celsius. */
struct temp_reading {
    char source[32];
    double celsius;
};

/* Parses a sysfs temperature file (millidegrees Celsius). 0, or -EINVAL. */
int sysfs_temp_parse(const char *text, double *celsius);

/* The reading that stands for the machine's temperature: the hottest CPU sensor (coretemp,
 * k10temp, zenpower, cpu_thermal, x86_pkg_temp), else the hottest of any. Readings outside
 * -40..150 degrees are ignored as broken sensors. NULL when none is usable. */
const struct temp_reading *temp_pick(const struct temp_reading *r, size_t n);

/* The thermal state for a temperature: "warning" from 85 degrees, else "nominal". */
const char *thermal_state(double celsius);

/* /proc/<pid>/stat: the command name (without its parentheses, which may hold spaces or
 * parentheses itself) and the user and system CPU time in clock ticks. 0 or -EINVAL. */
int proc_pid_stat_parse(const char *text, char *comm, size_t commlen, uint64_t *utime,
                        uint64_t *stime);

/* The value of key in a NUL-separated "KEY=value" block (/proc/<pid>/environ), or NULL.
 * Borrowed from buf. */
const char *environ_lookup(const char *buf, size_t len, const char *key);

#endif
