#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/jsonx.h"
#include "common/timeutil.h"

#define LOG_MSG_MAX 4096
#define LOG_PATH_MAX 4096

int log_threshold = LOG_LEVEL_INFO;

static struct {
    char program[64];
    enum log_level stderr_level;
    enum log_level file_level;
    char dir[LOG_PATH_MAX];
    char file_name[256];
    int retention;
    double (*clock)(void);
    int fd;
    long long day; /* UTC day the open file belongs to */
} g = {
    .program = "herd",
    .stderr_level = LOG_LEVEL_INFO,
    .file_level = LOG_LEVEL_OFF,
    .retention = 30,
    .fd = -1,
};

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

const char *log_level_name(enum log_level level)
{
    return (unsigned)level <= LOG_LEVEL_OFF ? level_names[level] : "?";
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {{"debug", LOG_LEVEL_DEBUG},  {"info", LOG_LEVEL_INFO},   {"warn", LOG_LEVEL_WARN},
                 {"warning", LOG_LEVEL_WARN}, {"error", LOG_LEVEL_ERROR}, {"off", LOG_LEVEL_OFF}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

static void update_threshold(void)
{
    enum log_level t = g.stderr_level;
    if (g.fd >= 0 && g.file_level < t)
        t = g.file_level;
    log_threshold = (int)t;
}

static double now(void)
{
    return g.clock ? g.clock() : time_wall();
}

static int cmp_names_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Deletes the oldest rotated files beyond the retention count. Rotated names end in an ISO
 * date, so their byte order is their age order. */
static void prune_rotated(void)
{
    DIR *d = opendir(g.dir);
    if (!d)
        return;
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s.", g.file_name);
    size_t plen = strlen(prefix);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **p = realloc(names, ncap * sizeof *p);
            if (!p)
                break;
            names = p;
            cap = ncap;
        }
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names_desc);
    for (size_t i = 0; i < n; i++) {
        if ((int)i >= g.retention) {
            char path[LOG_PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/%s", g.dir, names[i]);
            unlink(path);
        }
        free(names[i]);
    }
    free(names);
}

static void rotate_file(long long day)
{
    char from[LOG_PATH_MAX + 300], to[LOG_PATH_MAX + 320], date[16];
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    snprintf(from, sizeof from, "%s/%s", g.dir, g.file_name);
    snprintf(to, sizeof to, "%s/%s.%s", g.dir, g.file_name, date);
    rename(from, to);
    prune_rotated();
}

static int open_file(void)
{
    char path[LOG_PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s", g.dir, g.file_name);
    long long today = time_utc_day(now());
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > 0) {
        long long file_day = time_utc_day((double)st.st_mtime);
        if (file_day < today)
            rotate_file(file_day);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    g.fd = fd;
    g.day = today;
    return 0;
}

int log_open(const struct log_options *o)
{
    log_close();
    snprintf(g.program, sizeof g.program, "%s", o->program ? o->program : "herd");
    g.stderr_level = o->stderr_level;
    g.file_level = o->file_level;
    g.retention = o->retention > 0 ? o->retention : 1;
    g.clock = o->clock;
    int rc = 0;
    if (o->file_level != LOG_LEVEL_OFF && o->dir && o->file_name) {
        if (snprintf(g.dir, sizeof g.dir, "%s", o->dir) >= (int)sizeof g.dir ||
            snprintf(g.file_name, sizeof g.file_name, "%s", o->file_name) >=
                (int)sizeof g.file_name) {
            rc = -ENAMETOOLONG;
        } else {
            rc = fsutil_mkdir_p(g.dir);
            if (!rc)
                rc = open_file();
        }
    }
    update_threshold();
    return rc;
}

void log_close(void)
{
    if (g.fd >= 0)
        close(g.fd);
    g.fd = -1;
    update_threshold();
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void write_file(enum log_level level, double t, const char *msg)
{
    long long day = time_utc_day(t);
    if (day != g.day) {
        close(g.fd);
        g.fd = -1;
        rotate_file(g.day);
        if (open_file() != 0) {
            update_threshold();
            return;
        }
    }
    char ts[64];
    time_rfc3339_utc(t, ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", log_level_name(level),
                          "logger", g.program, "msg", msg);
    if (!o)
        return;
    char line[LOG_MSG_MAX * 2];
    size_t n = json_dumpb(o, line, sizeof line - 1, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (n == 0 || n > sizeof line - 1)
        return;
    line[n] = '\n';
    write_all(g.fd, line, n + 1);
}

void log_emit(enum log_level level, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof msg)
        memcpy(msg + sizeof msg - 4, "...", 4);
    /* jansson refuses invalid UTF-8; a message quoting a peer's bytes must still be logged. */
    jsonx_utf8_sanitize(msg);
    double t = now();
    if (level >= g.stderr_level) {
        char ts[64];
        time_t whole = (time_t)t;
        struct tm tm;
        localtime_r(&whole, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(stderr, "%s.%03d %-5s %s: %s\n", ts, (int)((t - (double)whole) * 1000),
                log_level_name(level), g.program, msg);
    }
    if (g.fd >= 0 && level >= g.file_level)
        write_file(level, t, msg);
}

int log_open_data_dir(const char *program, const char *data_dir, const char *file_level,
                      const char *console_level)
{
    enum log_level file, console;
    if (log_level_parse(file_level, &file) || log_level_parse(console_level, &console))
        return -EINVAL;
    char logs[4200], name[128];
    snprintf(logs, sizeof logs, "%s/logs", data_dir);
    snprintf(name, sizeof name, "%s.jsonl", program);
    int rc = fsutil_mkdir_p(data_dir);
    struct log_options lo = {.program = program,
                             .stderr_level = console,
                             .file_level = rc ? LOG_LEVEL_OFF : file,
                             .dir = logs,
                             .file_name = name,
                             .retention = 30};
    if (log_open(&lo) != 0 && rc == 0)
        LOG_WARN("cannot write the log file in %s; logging to stderr only", logs);
    return rc;
}
