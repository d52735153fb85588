/* sysinfo_linux: the machine's state from /proc, sysfs, statvfs and NVML. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/log.h"
#include "node/gpu_nvml.h"
#include "node/proc_parse.h"
#include "node/sysinfo.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define SMALL_FILE_MAX (64 * 1024)
#define CPUINFO_MAX (4 * 1024 * 1024)
#define OLLAMA_PIDS_MAX 64
#define TEMPS_MAX 64

struct sysinfo {
    char root[256];
    char models_dir[1024];
    struct nvml *nvml;
    struct cpuinfo cpu;
    bool has_cpuinfo;
    char arch[80];
    struct cpu_times prev;
    bool has_prev;
    uint64_t prev_ollama_ticks;
    bool has_prev_ollama;
    int ollama_num_parallel;
    int parallel_pid; /* the server process the value was read from */
};

/* Reads a whole file into a new NUL-terminated buffer of at most max bytes. NULL on error. */
static char *slurp(const char *path, size_t max, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (len == cap) {
            if (cap >= max)
                break;
            cap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (buf) {
        buf[len] = '\0';
        if (len_out)
            *len_out = len;
    }
    return buf;
}

static char *slurp_at(const struct sysinfo *s, const char *path, size_t max, size_t *len)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%s", s->root, path);
    return slurp(full, max, len);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where Ollama keeps models: $OLLAMA_MODELS, the user's store, the system service's store. */
static void find_models_dir(struct sysinfo *s, const char *given)
{
    if (given && *given) {
        snprintf(s->models_dir, sizeof s->models_dir, "%s", given);
        return;
    }
    const char *env = getenv("OLLAMA_MODELS");
    const char *home = getenv("HOME");
    char cand[1024];
    if (env && *env && is_dir(env)) {
        snprintf(s->models_dir, sizeof s->models_dir, "%s", env);
        return;
    }
    if (home) {
        snprintf(cand, sizeof cand, "%s/.ollama/models", home);
        if (is_dir(cand)) {
            snprintf(s->models_dir, sizeof s->models_dir, "%s", cand);
            return;
        }
    }
    static const char *const system_dirs[] = {"/usr/share/ollama/.ollama/models",
                                              "/var/lib/ollama/models", "/var/lib/ollama"};
    for (size_t i = 0; i < sizeof system_dirs / sizeof *system_dirs; i++) {
        if (is_dir(system_dirs[i])) {
            snprintf(s->models_dir, sizeof s->models_dir, "%s", system_dirs[i]);
            return;
        }
    }
    snprintf(s->models_dir, sizeof s->models_dir, "/");
}

static bool read_cpu_times(const struct sysinfo *s, struct cpu_times *t)
{
    char *text = slurp_at(s, "/proc/stat", SMALL_FILE_MAX * 16, NULL);
    bool ok = text && proc_stat_parse(text, t) == 0;
    free(text);
    return ok;
}

static bool pid_is_ollama_server(const struct sysinfo *s, const char *pid)
{
    char path[300];
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    char *cmd = slurp_at(s, path, 4096, &len);
    if (!cmd)
        return false;
    size_t first = strnlen(cmd, len);
    bool serve = first + 1 < len && strcmp(cmd + first + 1, "serve") == 0;
    free(cmd);
    return serve;
}

/* OLLAMA_NUM_PARALLEL from the environment of the running `ollama serve` (readable when
 * herd-node runs as the same user or as root). */
static void read_num_parallel(struct sysinfo *s, const char *pid)
{
    char path[300];
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%s/environ", pid);
    char *env = slurp_at(s, path, SMALL_FILE_MAX * 4, &len);
    s->ollama_num_parallel = 0;
    if (env) {
        const char *v = environ_lookup(env, len, "OLLAMA_NUM_PARALLEL");
        char *end;
        long n = v ? strtol(v, &end, 10) : 0;
        if (v && *end == '\0' && n >= 1 && n <= 1024)
            s->ollama_num_parallel = (int)n;
        free(env);
    }
}

/* CPU ticks used by Ollama's processes ("ollama" server and runners, "ollama_llama_server"
 * of older versions), summed. Processes that ended since the last sample make the sum
 * shrink; the caller treats that as zero. */
static bool ollama_ticks(struct sysinfo *s, uint64_t *out)
{
    char proc[300];
    snprintf(proc, sizeof proc, "%s/proc", s->root);
    DIR *d = opendir(proc);
    if (!d)
        return false;
    uint64_t sum = 0;
    int server_pid = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        char *text = slurp_at(s, path, 4096, NULL);
        char comm[64];
        uint64_t ut, st;
        if (text && proc_pid_stat_parse(text, comm, sizeof comm, &ut, &st) == 0 &&
            strncmp(comm, "ollama", 6) == 0) {
            sum += ut + st;
            if (!server_pid && strcmp(comm, "ollama") == 0 && pid_is_ollama_server(s, e->d_name)) {
                server_pid = (int)strtol(e->d_name, NULL, 10);
                if (server_pid != s->parallel_pid)
                    read_num_parallel(s, e->d_name);
            }
        }
        free(text);
    }
    closedir(d);
    if (!server_pid)
        s->ollama_num_parallel = 0;
    s->parallel_pid = server_pid;
    *out = sum;
    return true;
}

static void collect_cpu(struct sysinfo *s, struct sys_sample *out)
{
    struct cpu_times now;
    out->cpu_pct = -1;
    out->ollama_cpu_pct = -1;
    if (!read_cpu_times(s, &now))
        return;
    out->has_cpu = s->has_cpuinfo;
    out->cores_physical = s->cpu.physical;
    out->cores_logical = s->cpu.logical;
    uint64_t oll = 0;
    bool has_oll = ollama_ticks(s, &oll);
    if (s->has_prev) {
        out->cpu_pct = cpu_busy_pct(&s->prev, &now);
        uint64_t t0 = s->prev.user + s->prev.nice + s->prev.system + s->prev.idle + s->prev.iowait +
                      s->prev.irq + s->prev.softirq + s->prev.steal;
        uint64_t t1 = now.user + now.nice + now.system + now.idle + now.iowait + now.irq +
                      now.softirq + now.steal;
        if (has_oll && s->has_prev_ollama && t1 > t0) {
            double d = oll > s->prev_ollama_ticks ? (double)(oll - s->prev_ollama_ticks) : 0;
            double pct = 100.0 * d / (double)(t1 - t0);
            out->ollama_cpu_pct = pct > out->cpu_pct && out->cpu_pct >= 0 ? out->cpu_pct : pct;
        }
    }
    s->prev = now;
    s->has_prev = true;
    s->prev_ollama_ticks = oll;
    s->has_prev_ollama = has_oll;
    out->ollama_num_parallel = s->ollama_num_parallel;
    if (!out->has_cpu) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        out->cores_logical = out->cores_physical = n > 0 ? (int)n : 1;
        out->has_cpu = true;
    }
}

static void collect_memory(struct sysinfo *s, struct sys_sample *out)
{
    char *text = slurp_at(s, "/proc/meminfo", SMALL_FILE_MAX, NULL);
    struct meminfo m;
    if (!text || proc_meminfo_parse(text, &m) != 0) {
        free(text);
        return;
    }
    free(text);
    struct psi psi;
    char *p = slurp_at(s, "/proc/pressure/memory", 4096, NULL);
    bool has_psi = p && proc_psi_parse(p, &psi) == 0;
    free(p);
    uint64_t avail = meminfo_available_kb(&m);
    out->has_memory = true;
    out->mem_total_gb = (double)m.total_kb * 1024 / GIB;
    out->mem_available_gb = (double)avail * 1024 / GIB;
    out->mem_used_gb = out->mem_total_gb - out->mem_available_gb;
    out->pressure = mem_pressure_classify(&m, has_psi ? &psi : NULL);
    out->pressure_source = has_psi ? "psi" : "used";
}

static void collect_disk(struct sysinfo *s, struct sys_sample *out)
{
    struct statvfs v;
    if (statvfs(s->models_dir, &v) != 0)
        return;
    double unit = (double)v.f_frsize;
    out->has_disk = true;
    snprintf(out->disk_path, sizeof out->disk_path, "%s", s->models_dir);
    out->disk_total_gb = (double)v.f_blocks * unit / GIB;
    out->disk_available_gb = (double)v.f_bavail * unit / GIB;
    out->disk_used_gb = (double)(v.f_blocks - v.f_bfree) * unit / GIB;
}

/* Adds the readings of /sys/class/thermal zones and hwmon chips. */
static size_t read_temps(const struct sysinfo *s, struct temp_reading *r, size_t max)
{
    size_t n = 0;
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/sys/class/thermal", s->root);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < max) {
        if (strncmp(e->d_name, "thermal_zone", 12) != 0)
            continue;
        snprintf(path, sizeof path, "/sys/class/thermal/%s/type", e->d_name);
        char *type = slurp_at(s, path, 256, NULL);
        snprintf(path, sizeof path, "/sys/class/thermal/%s/temp", e->d_name);
        char *temp = slurp_at(s, path, 256, NULL);
        if (type && temp && sysfs_temp_parse(temp, &r[n].celsius) == 0) {
            type[strcspn(type, "\n")] = '\0';
            snprintf(r[n].source, sizeof r[n].source, "%s", type);
            n++;
        }
        free(type);
        free(temp);
    }
    if (d)
        closedir(d);
    snprintf(dir, sizeof dir, "%s/sys/class/hwmon", s->root);
    d = opendir(dir);
    while (d && (e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/sys/class/hwmon/%s/name", e->d_name);
        char *name = slurp_at(s, path, 256, NULL);
        if (!name)
            continue;
        name[strcspn(name, "\n")] = '\0';
        for (int i = 1; i <= 32 && n < max; i++) {
            snprintf(path, sizeof path, "/sys/class/hwmon/%s/temp%d_input", e->d_name, i);
            char *temp = slurp_at(s, path, 256, NULL);
            if (temp && sysfs_temp_parse(temp, &r[n].celsius) == 0) {
                snprintf(r[n].source, sizeof r[n].source, "%s", name);
                n++;
            }
            free(temp);
        }
        free(name);
    }
    if (d)
        closedir(d);
    return n;
}

static void collect_thermal(struct sysinfo *s, struct sys_sample *out)
{
    struct temp_reading r[TEMPS_MAX];
    size_t n = read_temps(s, r, TEMPS_MAX);
    const struct temp_reading *t = temp_pick(r, n);
    if (!t)
        return;
    out->has_thermal = true;
    out->temp_c = t->celsius;
    snprintf(out->temp_source, sizeof out->temp_source, "%s", t->source);
}

struct sysinfo *sysinfo_new(const struct sysinfo_opts *o)
{
    struct sysinfo *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    snprintf(s->root, sizeof s->root, "%s", o && o->root ? o->root : "");
    find_models_dir(s, o ? o->models_dir : NULL);
    char *ci = slurp_at(s, "/proc/cpuinfo", CPUINFO_MAX, NULL);
    s->has_cpuinfo = ci && proc_cpuinfo_parse(ci, &s->cpu) == 0;
    free(ci);
    struct utsname u;
    const char *m = uname(&u) == 0 ? u.machine : "unknown";
    snprintf(s->arch, sizeof s->arch, "%s", strcmp(m, "aarch64") == 0 ? "arm64" : m);
    s->nvml = nvml_open(o ? o->nvml_library : NULL);
    struct sys_sample first;
    collect_cpu(s, &first); /* the first delta needs a previous sample */
    return s;
}

void sysinfo_collect(struct sysinfo *s, struct sys_sample *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->arch, sizeof out->arch, "%s", s->arch);
    collect_cpu(s, out);
    collect_memory(s, out);
    collect_disk(s, out);
    collect_thermal(s, out);
    out->n_gpus = nvml_collect(s->nvml, out->gpus, SYS_GPUS_MAX);
    const char *cpu = s->has_cpuinfo && s->cpu.model[0] ? s->cpu.model : "";
    if (out->n_gpus > 0)
        snprintf(out->chip, sizeof out->chip, "%.90s%s%.95s", cpu, *cpu ? " + " : "",
                 out->gpus[0].name);
    else
        snprintf(out->chip, sizeof out->chip, "%s", cpu);
}

bool sysinfo_has_nvml(const struct sysinfo *s)
{
    return s && s->nvml;
}

void sysinfo_free(struct sysinfo *s)
{
    if (!s)
        return;
    nvml_close(s->nvml);
    free(s);
}
