/* proc_parse: pure parsers for Linux's /proc and sysfs files. */
#include "node/proc_parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The line starting at p ends at the returned pointer ('\n' or '\0'). */
static const char *line_end(const char *p)
{
    const char *e = strchr(p, '\n');
    return e ? e : p + strlen(p);
}

static const char *next_line(const char *p)
{
    const char *e = line_end(p);
    return *e ? e + 1 : e;
}

/* Reads an unsigned decimal after optional blanks; advances *p. 0 or -EINVAL. */
static int read_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s >= end || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *stop;
    unsigned long long v = strtoull(s, &stop, 10);
    if (errno || stop > end)
        return -EINVAL;
    *out = v;
    *p = stop;
    return 0;
}

int proc_stat_parse(const char *text, struct cpu_times *out)
{
    for (const char *p = text; *p; p = next_line(p)) {
        if (strncmp(p, "cpu ", 4) != 0)
            continue;
        const char *end = line_end(p);
        const char *s = p + 4;
        uint64_t v[8] = {0};
        int n = 0;
        while (n < 8 && read_u64(&s, end, &v[n]) == 0)
            n++;
        if (n < 4) /* user nice system idle exist on every kernel */
            return -EINVAL;
        *out = (struct cpu_times){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
        return 0;
    }
    return -EINVAL;
}

static uint64_t cpu_idle(const struct cpu_times *t)
{
    return t->idle + t->iowait;
}

static uint64_t cpu_total(const struct cpu_times *t)
{
    return t->user + t->nice + t->system + t->idle + t->iowait + t->irq + t->softirq + t->steal;
}

double cpu_busy_pct(const struct cpu_times *prev, const struct cpu_times *cur)
{
    uint64_t t0 = cpu_total(prev), t1 = cpu_total(cur);
    uint64_t i0 = cpu_idle(prev), i1 = cpu_idle(cur);
    if (t1 <= t0 || i1 < i0)
        return -1;
    double total = (double)(t1 - t0), idle = (double)(i1 - i0);
    double pct = 100.0 * (total - idle) / total;
    return pct < 0 ? 0 : pct > 100 ? 100 : pct;
}

/* "Key:   123 kB" lines. */
static bool meminfo_field(const char *line, const char *end, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);
    if ((size_t)(end - line) <= klen || strncmp(line, key, klen) != 0 || line[klen] != ':')
        return false;
    const char *s = line + klen + 1;
    return read_u64(&s, end, out) == 0;
}

int proc_meminfo_parse(const char *text, struct meminfo *out)
{
    *out = (struct meminfo){0};
    bool has_total = false;
    for (const char *p = text; *p; p = next_line(p)) {
        const char *e = line_end(p);
        if (meminfo_field(p, e, "MemTotal", &out->total_kb))
            has_total = true;
        else if (meminfo_field(p, e, "MemAvailable", &out->available_kb))
            out->has_available = true;
        else if (meminfo_field(p, e, "MemFree", &out->free_kb) ||
                 meminfo_field(p, e, "Buffers", &out->buffers_kb) ||
                 meminfo_field(p, e, "Cached", &out->cached_kb) ||
                 meminfo_field(p, e, "SReclaimable", &out->sreclaimable_kb) ||
                 meminfo_field(p, e, "Shmem", &out->shmem_kb))
            continue;
    }
    return has_total && out->total_kb > 0 ? 0 : -EINVAL;
}

uint64_t meminfo_available_kb(const struct meminfo *m)
{
    uint64_t a;
    if (m->has_available) {
        a = m->available_kb;
    } else {
        /* Shared memory sits in Cached but cannot be dropped. */
        uint64_t cache = m->cached_kb > m->shmem_kb ? m->cached_kb - m->shmem_kb : 0;
        a = m->free_kb + m->buffers_kb + cache + m->sreclaimable_kb;
    }
    return a > m->total_kb ? m->total_kb : a;
}

/* "avg10=1.23" in a PSI line. */
static double psi_value(const char *line, const char *end, const char *key)
{
    size_t klen = strlen(key);
    for (const char *s = line; s + klen < end; s++) {
        if (strncmp(s, key, klen) == 0 && s[klen] == '=' && (s == line || s[-1] == ' ')) {
            char *stop;
            double v = strtod(s + klen + 1, &stop);
            return stop > s + klen + 1 && isfinite(v) ? v : NAN;
        }
    }
    return NAN;
}

int proc_psi_parse(const char *text, struct psi *out)
{
    *out = (struct psi){0};
    bool some = false;
    for (const char *p = text; *p; p = next_line(p)) {
        const char *e = line_end(p);
        bool is_some = strncmp(p, "some ", 5) == 0, is_full = strncmp(p, "full ", 5) == 0;
        if (!is_some && !is_full)
            continue;
        double a10 = psi_value(p, e, "avg10"), a60 = psi_value(p, e, "avg60");
        if (isnan(a10) || isnan(a60))
            return -EINVAL;
        if (is_some) {
            out->some_avg10 = a10;
            out->some_avg60 = a60;
            some = true;
        } else {
            out->full_avg10 = a10;
            out->full_avg60 = a60;
        }
    }
    return some ? 0 : -EINVAL;
}

enum mem_pressure mem_pressure_classify(const struct meminfo *m, const struct psi *psi)
{
    double total = (double)m->total_kb;
    double avail = (double)meminfo_available_kb(m);
    double used_pct = total > 0 ? 100.0 * (total - avail) / total : 0;
    if (psi) {
        if (used_pct >= 98.0 || psi->some_avg10 >= 40.0 || psi->full_avg10 >= 10.0)
            return MEM_PRESSURE_CRITICAL;
        if (psi->some_avg10 >= 10.0 || psi->full_avg10 >= 2.0)
            return MEM_PRESSURE_WARN;
        return MEM_PRESSURE_NORMAL;
    }
    if (used_pct >= 95.0)
        return MEM_PRESSURE_CRITICAL;
    if (used_pct >= 85.0)
        return MEM_PRESSURE_WARN;
    return MEM_PRESSURE_NORMAL;
}

const char *mem_pressure_name(enum mem_pressure p)
{
    switch (p) {
    case MEM_PRESSURE_WARN:
        return "warn";
    case MEM_PRESSURE_CRITICAL:
        return "critical";
    default:
        return "normal";
    }
}

/* The value of a "key\t: value" cpuinfo line, or NULL. */
static const char *cpuinfo_value(const char *line, const char *end, const char *key)
{
    size_t klen = strlen(key);
    if ((size_t)(end - line) < klen || strncmp(line, key, klen) != 0)
        return NULL;
    const char *s = line + klen;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s >= end || *s != ':')
        return NULL;
    s++;
    while (s < end && *s == ' ')
        s++;
    return s;
}

#define CORE_PAIRS_MAX 4096

int proc_cpuinfo_parse(const char *text, struct cpuinfo *out)
{
    *out = (struct cpuinfo){0};
    static const long none = -1;
    long phys = none, core = none;
    /* (physical id, core id) pairs seen, to count physical cores. */
    long *pairs = malloc(2 * CORE_PAIRS_MAX * sizeof *pairs);
    int n_pairs = 0;
    bool topology = true;
    char board[sizeof out->model] = ""; /* "Model" of ARM boards without a "model name" */
    for (const char *p = text;; p = next_line(p)) {
        const char *e = line_end(p);
        const char *v;
        bool block_end = (p == e); /* a blank line ends one processor's block */
        if ((v = cpuinfo_value(p, e, "processor")) != NULL) {
            out->logical++;
        } else if ((v = cpuinfo_value(p, e, "model name")) != NULL && !out->model[0]) {
            size_t n =
                (size_t)(e - v) < sizeof out->model ? (size_t)(e - v) : sizeof out->model - 1;
            memcpy(out->model, v, n);
            out->model[n] = '\0';
            while (n && isspace((unsigned char)out->model[n - 1]))
                out->model[--n] = '\0';
        } else if ((v = cpuinfo_value(p, e, "Model")) != NULL && !board[0]) {
            snprintf(board, sizeof board, "%.*s", (int)(e - v), v);
        } else if ((v = cpuinfo_value(p, e, "physical id")) != NULL) {
            phys = strtol(v, NULL, 10);
        } else if ((v = cpuinfo_value(p, e, "core id")) != NULL) {
            core = strtol(v, NULL, 10);
        }
        if (block_end || !*e) {
            if (phys != none && core != none && pairs) {
                bool seen = false;
                for (int i = 0; i < n_pairs && !seen; i++)
                    seen = pairs[2 * i] == phys && pairs[2 * i + 1] == core;
                if (!seen && n_pairs < CORE_PAIRS_MAX) {
                    pairs[2 * n_pairs] = phys;
                    pairs[2 * n_pairs + 1] = core;
                    n_pairs++;
                }
            } else if (block_end && (phys != none || core != none)) {
                topology = false;
            }
            phys = core = none;
        }
        if (!*e)
            break;
    }
    free(pairs);
    if (!out->model[0])
        memcpy(out->model, board, sizeof board);
    if (out->logical == 0)
        return -EINVAL;
    out->physical = topology && n_pairs > 0 ? n_pairs : out->logical;
    if (out->physical > out->logical) /* a garbled file: never more cores than processors */
        out->physical = out->logical;
    return 0;
}

int sysfs_temp_parse(const char *text, double *celsius)
{
    char *stop;
    errno = 0;
    long v = strtol(text, &stop, 10);
    if (errno || stop == text)
        return -EINVAL;
    while (*stop == '\n' || *stop == ' ')
        stop++;
    if (*stop)
        return -EINVAL;
    *celsius = (double)v / 1000.0;
    return 0;
}

static bool cpu_sensor(const char *source)
{
    static const char *const cpu[] = {"coretemp",    "k10temp",      "zenpower",
                                      "cpu_thermal", "x86_pkg_temp", "cpu-thermal"};
    for (size_t i = 0; i < sizeof cpu / sizeof *cpu; i++)
        if (strcmp(source, cpu[i]) == 0)
            return true;
    return false;
}

const struct temp_reading *temp_pick(const struct temp_reading *r, size_t n)
{
    const struct temp_reading *best_cpu = NULL, *best_any = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(r[i].celsius > -40.0 && r[i].celsius < 150.0))
            continue;
        if (!best_any || r[i].celsius > best_any->celsius)
            best_any = &r[i];
        if (cpu_sensor(r[i].source) && (!best_cpu || r[i].celsius > best_cpu->celsius))
            best_cpu = &r[i];
    }
    return best_cpu ? best_cpu : best_any;
}

const char *thermal_state(double celsius)
{
    return celsius >= 85.0 ? "warning" : "nominal";
}

int proc_pid_stat_parse(const char *text, char *comm, size_t commlen, uint64_t *utime,
                        uint64_t *stime)
{
    const char *open = strchr(text, '(');
    const char *close = strrchr(text, ')');
    if (!open || !close || close < open || commlen == 0)
        return -EINVAL;
    size_t n = (size_t)(close - open - 1);
    if (n >= commlen)
        n = commlen - 1;
    memcpy(comm, open + 1, n);
    comm[n] = '\0';
    /* After the name: state, then fields 4..13, then utime (14) and stime (15). */
    const char *s = close + 1;
    const char *end = s + strlen(s);
    for (int field = 3; field <= 13; field++) {
        while (s < end && *s == ' ')
            s++;
        if (s >= end)
            return -EINVAL;
        while (s < end && *s != ' ')
            s++;
    }
    if (read_u64(&s, end, utime) || read_u64(&s, end, stime))
        return -EINVAL;
    return 0;
}

const char *environ_lookup(const char *buf, size_t len, const char *key)
{
    size_t klen = strlen(key);
    const char *end = buf + len;
    for (const char *p = buf; p < end;) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        size_t n = z ? (size_t)(z - p) : (size_t)(end - p);
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
            return z ? p + klen + 1 : NULL; /* an unterminated last entry is cut off */
        p += n + 1;
    }
    return NULL;
}
